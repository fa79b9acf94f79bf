//! Sigstore keys: public keys in PEM (`PUBLIC KEY`, PKIX; `RSA PUBLIC KEY`, PKCS#1) and
//! private keys encrypted as cosign does (go-securesystemslib's `encrypted` format: scrypt
//! derives a key from the passphrase, NaCl secretbox seals the PKCS#8 DER; PEM labels
//! `ENCRYPTED COSIGN PRIVATE KEY` or `ENCRYPTED SIGSTORE PRIVATE KEY`).
//!
//! Signing and verifying run on ring, which the TLS stack already links; P-384 keys sign
//! with the RustCrypto `p384` crate (layer encryption links it), because containers/image
//! signs SHA-256 digests with every curve and ring pairs P-384 only with SHA-384.

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self as rsig, KeyPair};
use serde::{Deserialize, Serialize};

use super::oids;
use super::pem;
use crate::der::{self, Reader};

/// The label c/image (and so skopeo's generate-sigstore-key) writes: older cosign releases
/// read only this one.
pub const COSIGN_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// The label newer cosign releases write.
pub const SIGSTORE_PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";

/// scrypt parameters go-securesystemslib accepts (legacy, standard, OWASP), as log2(N).
const ACCEPTED_SCRYPT: [(u64, u8); 3] = [(32768, 15), (65536, 16), (131072, 17)];
/// What skiff writes: N=32768, which every cosign release reads and which decrypts fastest.
const WRITTEN_LOG_N: u8 = 15;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("PEM decoding failed")]
    PemDecoding,
    #[error("unknown Public key PEM file type: {0}. Are you passing the correct public key?")]
    UnknownPublicKeyType(String),
    #[error("x509: {0}")]
    PublicKey(String),
    #[error("invalid pem block")]
    InvalidPrivatePem,
    #[error("unsupported pem type: {0}")]
    UnsupportedPrivatePemType(String),
    #[error("decrypt: {0}")]
    Decrypt(String),
    #[error("parsing private key: {0}")]
    Pkcs8(String),
    #[error("unsupported key type")]
    UnsupportedKeyType,
    #[error("creating signature: {0}")]
    Sign(String),
    #[error("random number generator failed")]
    Random,
}

/// A public key that can verify sigstore signatures (c/image accepts ECDSA, RSA and
/// Ed25519 keys; cosign makes ECDSA P-256 ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// The uncompressed curve point.
    EcdsaP256(Vec<u8>),
    EcdsaP384(Vec<u8>),
    /// The PKCS#1 RSAPublicKey DER.
    Rsa(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl PublicKey {
    /// cryptoutils' `UnmarshalPEMToPublicKey`: the first PEM block of `data`.
    pub fn from_pem(data: &[u8]) -> Result<PublicKey, KeyError> {
        let (block, _) = pem::decode(data).ok_or(KeyError::PemDecoding)?;
        match block.label.as_str() {
            "PUBLIC KEY" => PublicKey::from_spki(&block.bytes),
            "RSA PUBLIC KEY" => {
                check_rsa_public_key(&block.bytes)?;
                Ok(PublicKey::Rsa(block.bytes))
            }
            other => Err(KeyError::UnknownPublicKeyType(other.to_string())),
        }
    }

    /// Go's `x509.ParsePKIXPublicKey` for the key types above.
    pub fn from_spki(spki: &[u8]) -> Result<PublicKey, KeyError> {
        let bad = |_| KeyError::PublicKey("failed to parse public key".into());
        let mut outer = Reader::new(spki);
        let mut info = outer.nested(der::SEQUENCE).map_err(bad)?;
        outer.finish().map_err(bad)?;
        let mut alg = info.nested(der::SEQUENCE).map_err(bad)?;
        let key_bits = info.expect(der::BIT_STRING).map_err(bad)?.value;
        info.finish().map_err(bad)?;
        let oid = alg.expect(der::OID).map_err(bad)?.value;
        let key = match key_bits.split_first() {
            Some((0, key)) => key.to_vec(),
            _ => return Err(KeyError::PublicKey("invalid public key bit string".into())),
        };
        match oid {
            o if o == oids::EC_PUBLIC_KEY => {
                let curve = alg.expect(der::OID).map_err(bad)?.value;
                let (len, make): (usize, fn(Vec<u8>) -> PublicKey) = if curve == oids::P256 {
                    (65, PublicKey::EcdsaP256)
                } else if curve == oids::P384 {
                    (97, PublicKey::EcdsaP384)
                } else {
                    return Err(KeyError::PublicKey("unsupported elliptic curve".into()));
                };
                if key.len() != len || key[0] != 4 {
                    return Err(KeyError::PublicKey(
                        "failed to unmarshal elliptic curve point".into(),
                    ));
                }
                Ok(make(key))
            }
            o if o == oids::RSA => {
                check_rsa_public_key(&key)?;
                Ok(PublicKey::Rsa(key))
            }
            o if o == oids::ED25519 => {
                if key.len() != 32 {
                    return Err(KeyError::PublicKey("Ed25519 key has the wrong size".into()));
                }
                Ok(PublicKey::Ed25519(key))
            }
            _ => Err(KeyError::PublicKey("unknown public key algorithm".into())),
        }
    }

    /// Go's `x509.MarshalPKIXPublicKey`.
    pub fn to_spki(&self) -> Vec<u8> {
        let oid = |o: &[u8]| der::encode(der::OID, o);
        let (alg, key) = match self {
            PublicKey::EcdsaP256(k) => (
                der::cons(
                    der::SEQUENCE,
                    &[&oid(oids::EC_PUBLIC_KEY), &oid(oids::P256)],
                ),
                k,
            ),
            PublicKey::EcdsaP384(k) => (
                der::cons(
                    der::SEQUENCE,
                    &[&oid(oids::EC_PUBLIC_KEY), &oid(oids::P384)],
                ),
                k,
            ),
            PublicKey::Rsa(k) => (
                der::cons(der::SEQUENCE, &[&oid(oids::RSA), &[0x05, 0x00]]),
                k,
            ),
            PublicKey::Ed25519(k) => (der::cons(der::SEQUENCE, &[&oid(oids::ED25519)]), k),
        };
        let bits = der::encode(der::BIT_STRING, &[&[0u8][..], key].concat());
        der::cons(der::SEQUENCE, &[&alg, &bits])
    }

    /// cryptoutils' `MarshalPublicKeyToPEM`.
    pub fn to_pem(&self) -> Vec<u8> {
        pem::encode("PUBLIC KEY", &self.to_spki())
    }

    /// sigstore's verifiers with SHA-256 (`LoadVerifier(key, crypto.SHA256)`): ECDSA over
    /// the SHA-256 digest (ASN.1 signature), RSA PKCS#1 v1.5, Ed25519 over the message.
    /// The error text is the Go verifier's.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), String> {
        let (alg, key, failure): (&dyn rsig::VerificationAlgorithm, &[u8], &str) = match self {
            PublicKey::EcdsaP256(k) => (
                &rsig::ECDSA_P256_SHA256_ASN1,
                k,
                "invalid signature when validating ASN.1 encoded signature",
            ),
            PublicKey::EcdsaP384(k) => (
                &rsig::ECDSA_P384_SHA256_ASN1,
                k,
                "invalid signature when validating ASN.1 encoded signature",
            ),
            PublicKey::Rsa(k) => (
                &rsig::RSA_PKCS1_2048_8192_SHA256,
                k,
                "crypto/rsa: verification error",
            ),
            PublicKey::Ed25519(k) => (&rsig::ED25519, k, "failed to verify signature"),
        };
        rsig::UnparsedPublicKey::new(alg, key)
            .verify(message, signature)
            .map_err(|_| failure.to_string())
    }
}

/// An RSAPublicKey is a SEQUENCE of two INTEGERs.
fn check_rsa_public_key(der_bytes: &[u8]) -> Result<(), KeyError> {
    let mut r = Reader::new(der_bytes);
    let parsed = r.nested(der::SEQUENCE).and_then(|mut seq| {
        seq.expect(der::INTEGER)?;
        seq.expect(der::INTEGER)?;
        seq.finish()?;
        r.finish()
    });
    parsed.map_err(|_| KeyError::PublicKey("failed to parse RSA public key".into()))
}

/// A private key that signs sigstore payloads.
pub struct PrivateKey {
    pair: Pair,
    public: PublicKey,
}

enum Pair {
    EcdsaP256(rsig::EcdsaKeyPair),
    EcdsaP384(p384::ecdsa::SigningKey),
    Rsa(rsig::RsaKeyPair),
    Ed25519(rsig::Ed25519KeyPair),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("PrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Go's `x509.ParsePKCS8PrivateKey`, for the key types sigstore signs with.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<PrivateKey, KeyError> {
        let bad = |e: ring::error::KeyRejected| KeyError::Pkcs8(e.to_string());
        let (oid, curve) = pkcs8_algorithm(pkcs8)
            .map_err(|e| KeyError::Pkcs8(format!("x509: failed to parse private key ({e})")))?;
        let rng = SystemRandom::new();
        if oid == oids::EC_PUBLIC_KEY && curve.as_deref() == Some(oids::P256) {
            let pair =
                rsig::EcdsaKeyPair::from_pkcs8(&rsig::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
                    .map_err(bad)?;
            let public = PublicKey::EcdsaP256(pair.public_key().as_ref().to_vec());
            Ok(PrivateKey {
                pair: Pair::EcdsaP256(pair),
                public,
            })
        } else if oid == oids::EC_PUBLIC_KEY && curve.as_deref() == Some(oids::P384) {
            use p384::elliptic_curve::sec1::ToEncodedPoint;
            use p384::pkcs8::DecodePrivateKey;
            let secret = p384::SecretKey::from_pkcs8_der(pkcs8)
                .map_err(|e| KeyError::Pkcs8(format!("x509: failed to parse private key ({e})")))?;
            let public = secret.public_key().to_encoded_point(false);
            Ok(PrivateKey {
                public: PublicKey::EcdsaP384(public.as_bytes().to_vec()),
                pair: Pair::EcdsaP384(secret.into()),
            })
        } else if oid == oids::RSA {
            let pair = rsig::RsaKeyPair::from_pkcs8(pkcs8).map_err(bad)?;
            let public = PublicKey::Rsa(pair.public_key().as_ref().to_vec());
            Ok(PrivateKey {
                pair: Pair::Rsa(pair),
                public,
            })
        } else if oid == oids::ED25519 {
            let pair = rsig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(bad)?;
            let public = PublicKey::Ed25519(pair.public_key().as_ref().to_vec());
            Ok(PrivateKey {
                pair: Pair::Ed25519(pair),
                public,
            })
        } else {
            Err(KeyError::UnsupportedKeyType)
        }
    }

    /// A new ECDSA P-256 key (the only scheme cosign's spec requires everyone to support)
    /// and its PKCS#8 DER.
    pub fn generate_p256() -> Result<(PrivateKey, Vec<u8>), KeyError> {
        let rng = SystemRandom::new();
        let doc = rsig::EcdsaKeyPair::generate_pkcs8(&rsig::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| KeyError::Random)?;
        let key = PrivateKey::from_pkcs8(doc.as_ref())?;
        Ok((key, doc.as_ref().to_vec()))
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` as sigstore's SHA-256 signers do (ECDSA: ASN.1 DER).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        let failed = |_| KeyError::Sign("signing failed".into());
        match &self.pair {
            Pair::EcdsaP256(p) => p
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(failed),
            Pair::EcdsaP384(k) => {
                use p384::ecdsa::{Signature, signature::hazmat::PrehashSigner};
                use sha2::Digest;
                let digest = sha2::Sha256::digest(message);
                let sig: Signature = k
                    .sign_prehash(&digest)
                    .map_err(|e| KeyError::Sign(e.to_string()))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Pair::Rsa(p) => {
                let mut sig = vec![0u8; p.public().modulus_len()];
                p.sign(&rsig::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(failed)?;
                Ok(sig)
            }
            Pair::Ed25519(p) => Ok(p.sign(message).as_ref().to_vec()),
        }
    }
}

/// The algorithm OID (and the named curve, for EC keys) of a PKCS#8 PrivateKeyInfo.
fn pkcs8_algorithm(pkcs8: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), der::DerError> {
    let mut outer = Reader::new(pkcs8);
    let mut info = outer.nested(der::SEQUENCE)?;
    outer.finish()?;
    info.expect(der::INTEGER)?;
    let mut alg = info.nested(der::SEQUENCE)?;
    let oid = alg.expect(der::OID)?.value.to_vec();
    let curve = alg.optional(der::OID)?.map(|c| c.value.to_vec());
    Ok((oid, curve))
}

/// go-securesystemslib's `encrypted` JSON.
#[derive(Serialize, Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "crate::signature::base64_std")]
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    #[serde(with = "crate::signature::base64_std")]
    salt: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "crate::signature::base64_std")]
    nonce: Vec<u8>,
}

/// Reads an encrypted private key file's contents (c/image's `loadPrivateKey`).
pub fn decrypt_private_key(pem_data: &[u8], passphrase: &[u8]) -> Result<PrivateKey, KeyError> {
    let (block, _) = pem::decode(pem_data).ok_or(KeyError::InvalidPrivatePem)?;
    if block.label != COSIGN_PRIVATE_KEY_LABEL && block.label != SIGSTORE_PRIVATE_KEY_LABEL {
        return Err(KeyError::UnsupportedPrivatePemType(block.label));
    }
    let pkcs8 = open_sealed(&block.bytes, passphrase).map_err(KeyError::Decrypt)?;
    PrivateKey::from_pkcs8(&pkcs8)
}

/// `encrypted.Decrypt`.
fn open_sealed(json: &[u8], passphrase: &[u8]) -> Result<Vec<u8>, String> {
    let sealed: Sealed = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    if sealed.kdf.name != "scrypt" {
        return Err(format!("encrypted: unknown kdf name {:?}", sealed.kdf.name));
    }
    if sealed.cipher.name != "nacl/secretbox" {
        return Err(format!(
            "encrypted: unknown cipher name {:?}",
            sealed.cipher.name
        ));
    }
    let p = &sealed.kdf.params;
    let log_n = ACCEPTED_SCRYPT
        .iter()
        .find(|(n, _)| *n == p.n && p.r == 8 && p.p == 1)
        .map(|(_, log_n)| *log_n)
        .ok_or("unsupported scrypt parameters")?;
    let key = derive_key(passphrase, &sealed.kdf.salt, log_n)?;
    let nonce: [u8; 24] = sealed
        .cipher
        .nonce
        .as_slice()
        .try_into()
        .map_err(|_| "encrypted: incorrect nonce size")?;
    secretbox::open(&key, &nonce, &sealed.ciphertext)
        .ok_or_else(|| "encrypted: decryption failed".to_string())
}

fn derive_key(passphrase: &[u8], salt: &[u8], log_n: u8) -> Result<[u8; 32], String> {
    let params = scrypt::Params::new(log_n, 8, 1).map_err(|e| e.to_string())?;
    let mut key = [0u8; 32];
    scrypt::scrypt(passphrase, salt, &params, &mut key).map_err(|e| e.to_string())?;
    Ok(key)
}

/// Encrypts a PKCS#8 key for a key file (`encrypted.Encrypt` with N=32768), as PEM with
/// `label`.
pub fn encrypt_private_key(
    pkcs8: &[u8],
    passphrase: &[u8],
    label: &str,
) -> Result<Vec<u8>, KeyError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    rng.fill(&mut salt).map_err(|_| KeyError::Random)?;
    rng.fill(&mut nonce).map_err(|_| KeyError::Random)?;
    let key = derive_key(passphrase, &salt, WRITTEN_LOG_N).map_err(KeyError::Decrypt)?;
    let sealed = Sealed {
        kdf: Kdf {
            name: "scrypt".into(),
            params: ScryptParams {
                n: 1 << WRITTEN_LOG_N,
                r: 8,
                p: 1,
            },
            salt: salt.to_vec(),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: nonce.to_vec(),
        },
        ciphertext: secretbox::seal(&key, &nonce, pkcs8),
    };
    let json = serde_json::to_vec(&sealed).map_err(|e| KeyError::Sign(e.to_string()))?;
    Ok(pem::encode(label, &json))
}

/// NaCl's `crypto_secretbox` (XSalsa20-Poly1305): the first 32 bytes of the XSalsa20
/// stream key Poly1305, the rest encrypts; the box is tag ‖ ciphertext.
mod secretbox {
    use poly1305::Poly1305;
    use poly1305::universal_hash::KeyInit;
    use salsa20::XSalsa20;
    use salsa20::cipher::{KeyIvInit, StreamCipher};

    const TAG: usize = 16;

    fn start(key: &[u8; 32], nonce: &[u8; 24]) -> (XSalsa20, Poly1305) {
        let mut stream = XSalsa20::new(key.into(), nonce.into());
        let mut mac_key = [0u8; 32];
        stream.apply_keystream(&mut mac_key);
        let mac = Poly1305::new((&mac_key).into());
        (stream, mac)
    }

    pub fn seal(key: &[u8; 32], nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
        let (mut stream, mac) = start(key, nonce);
        let mut ciphertext = plaintext.to_vec();
        stream.apply_keystream(&mut ciphertext);
        let tag = mac.compute_unpadded(&ciphertext);
        [tag.as_slice(), &ciphertext].concat()
    }

    pub fn open(key: &[u8; 32], nonce: &[u8; 24], boxed: &[u8]) -> Option<Vec<u8>> {
        if boxed.len() < TAG {
            return None;
        }
        let (tag, ciphertext) = boxed.split_at(TAG);
        let (mut stream, mac) = start(key, nonce);
        let expected = mac.compute_unpadded(ciphertext);
        // Compared without an early exit: the tag must not leak through timing.
        let diff = expected
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return None;
        }
        let mut plaintext = ciphertext.to_vec();
        stream.apply_keystream(&mut plaintext);
        Some(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secretbox_matches_nacl_test_vector() {
        // The "firstkey"/"nonce" vector of NaCl's tests/secretbox.c (first 16 bytes of
        // plaintext and box, enough to pin the construction).
        let key: [u8; 32] =
            hex::decode("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
                .unwrap()
                .try_into()
                .unwrap();
        let nonce: [u8; 24] = hex::decode("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37")
            .unwrap()
            .try_into()
            .unwrap();
        let m = hex::decode(concat!(
            "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a",
            "1ac728d45e6c61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057",
            "e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040",
            "e082f937763848645e0705"
        ))
        .unwrap();
        let boxed = secretbox::seal(&key, &nonce, &m);
        assert_eq!(
            hex::encode(&boxed[..32]),
            "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce"
        );
        assert_eq!(secretbox::open(&key, &nonce, &boxed).unwrap(), m);
        let mut bad = boxed.clone();
        bad[40] ^= 1;
        assert!(secretbox::open(&key, &nonce, &bad).is_none());
    }

    #[test]
    fn encrypted_keys_round_trip_and_sign() {
        let (key, pkcs8) = PrivateKey::generate_p256().unwrap();
        let pem = encrypt_private_key(&pkcs8, b"pw", COSIGN_PRIVATE_KEY_LABEL).unwrap();
        assert!(pem.starts_with(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"));
        let back = decrypt_private_key(&pem, b"pw").unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let sig = back.sign(b"payload").unwrap();
        key.public_key().verify(b"payload", &sig).unwrap();
        assert_eq!(
            key.public_key().verify(b"other", &sig).unwrap_err(),
            "invalid signature when validating ASN.1 encoded signature"
        );
        let wrong = decrypt_private_key(&pem, b"nope").unwrap_err();
        assert_eq!(wrong.to_string(), "decrypt: encrypted: decryption failed");
    }

    #[test]
    fn public_keys_round_trip_through_pem() {
        let (key, _) = PrivateKey::generate_p256().unwrap();
        let pem = key.public_key().to_pem();
        assert!(pem.starts_with(b"-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(&PublicKey::from_pem(&pem).unwrap(), key.public_key());
        let other = pem::encode("PRIVATE KEY", b"x");
        assert_eq!(
            PublicKey::from_pem(&other).unwrap_err().to_string(),
            "unknown Public key PEM file type: PRIVATE KEY. Are you passing the correct public key?"
        );
        assert!(matches!(
            PublicKey::from_pem(b"nothing"),
            Err(KeyError::PemDecoding)
        ));
    }

    #[test]
    fn refuses_unknown_private_key_labels() {
        let pem = pem::encode("EC PRIVATE KEY", b"x");
        assert_eq!(
            decrypt_private_key(&pem, b"").unwrap_err().to_string(),
            "unsupported pem type: EC PRIVATE KEY"
        );
        assert_eq!(
            decrypt_private_key(b"none", b"").unwrap_err().to_string(),
            "invalid pem block"
        );
    }
}
