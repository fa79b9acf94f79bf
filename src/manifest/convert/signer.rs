//! The throwaway key that signs schema 1 output, as containers/image does: a fresh random
//! P-256 key per manifest (registries only check that a valid signature is present).

use std::time::SystemTime;

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Map, Value};
use sha2::Digest as _;

use super::api::Schema1Signer;

/// DER prefix of a P-256 SubjectPublicKeyInfo, before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

pub struct EphemeralSigner {
    key: EcdsaKeyPair,
}

impl EphemeralSigner {
    pub fn new() -> Result<EphemeralSigner, String> {
        let rng = SystemRandom::new();
        let fail = "generating a P-256 key failed";
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| fail.to_string())?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| fail.to_string())?;
        Ok(EphemeralSigner { key })
    }

    /// The JWK libtrust writes: crv, kid, kty, x, y.
    fn jwk(&self) -> Value {
        let point = self.key.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let mut jwk = Map::new();
        jwk.insert("crv".into(), Value::String("P-256".into()));
        jwk.insert("kid".into(), Value::String(key_id(point)));
        jwk.insert("kty".into(), Value::String("EC".into()));
        jwk.insert("x".into(), Value::String(b64(x)));
        jwk.insert("y".into(), Value::String(b64(y)));
        Value::Object(jwk)
    }
}

/// libtrust's key ID: base32 of the first 240 bits of SHA-256(SPKI DER), in groups of 4.
fn key_id(uncompressed_point: &[u8]) -> String {
    let mut h = sha2::Sha256::new();
    h.update(P256_SPKI_PREFIX);
    h.update(uncompressed_point);
    let digest = h.finalize();
    let encoded = base32(&digest[..30]);
    encoded
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// RFC 4648 base32 of a multiple of 5 bytes (no padding needed).
fn base32(data: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut n: u64 = 0;
        for i in 0..5 {
            n = (n << 8) | u64::from(*chunk.get(i).unwrap_or(&0));
        }
        for i in 0..8 {
            out.push(A[((n >> (35 - 5 * i)) & 31) as usize] as char);
        }
    }
    out
}

/// `time.Now().UTC().Format(time.RFC3339)`.
fn rfc3339_now() -> String {
    crate::gotime::utc_rfc3339(SystemTime::now())
}

impl Schema1Signer for EphemeralSigner {
    fn time(&self) -> String {
        rfc3339_now()
    }

    fn sign(&self, signing_input: &[u8]) -> Result<(Value, Vec<u8>), String> {
        let sig = self
            .key
            .sign(&SystemRandom::new(), signing_input)
            .map_err(|_| "ECDSA signing failed".to_string())?;
        Ok((self.jwk(), sig.as_ref().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    #[test]
    fn signatures_verify_and_key_ids_have_libtrusts_shape() {
        let s = EphemeralSigner::new().unwrap();
        let (jwk, sig) = s.sign(b"payload").unwrap();
        let point = s.key.public_key().as_ref().to_vec();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(b"payload", &sig)
            .unwrap();
        let kid = jwk["kid"].as_str().unwrap();
        assert_eq!(kid.len(), 12 * 4 + 11, "{kid}");
        assert_eq!(kid.split(':').count(), 12);
        assert_eq!(sig.len(), 64);
    }

    #[test]
    fn base32_and_time() {
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        let t = rfc3339_now();
        assert!(
            t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{t}"
        );
    }
}
