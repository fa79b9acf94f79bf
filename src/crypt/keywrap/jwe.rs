//! The `jwe` key wrapper: a JWE (RFC 7516) in JSON serialisation, as go-jose's
//! `FullSerialize` writes it for ocicrypt. Content: A256GCM under a random key. That key
//! is wrapped with RSA-OAEP (SHA-1) for RSA recipients and ECDH-ES+A256KW (RFC 7518
//! §4.6: an ephemeral key, Concat KDF, AES key wrap) for EC recipients.
//!
//! One recipient: flattened JSON, with `alg`, `enc` (and `epk`) protected. Several:
//! general JSON, `enc` protected, each recipient's `alg` and `epk` in its own header.
//! go-jose also writes a stray top-level `encrypted_key` (the first recipient's) next to
//! `recipients`; it is ignored when reading.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use elliptic_curve::sec1::{FromEncodedPoint, ModulusSize, ToEncodedPoint};
use elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize};
use rand_core::{OsRng, RngCore};
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::super::keyfile::{self, PrivateKey, PublicKey};

const ENC: &str = "A256GCM";

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// Wraps `payload` for every key, in one JWE.
pub fn wrap(keys: &[PublicKey], payload: &[u8]) -> Result<Vec<u8>, String> {
    let mut cek = [0u8; 32];
    let mut iv = [0u8; 12];
    OsRng.fill_bytes(&mut cek);
    OsRng.fill_bytes(&mut iv);
    let recipients = keys
        .iter()
        .map(|k| wrap_key(k, &cek))
        .collect::<Result<Vec<_>, _>>()?;
    let mut protected = Map::new();
    if let [(header, _)] = recipients.as_slice() {
        protected.extend(header.clone());
    }
    protected.insert("enc".into(), ENC.into());
    let protected = b64(Value::Object(protected).to_string().as_bytes());
    let sealed = aes_gcm::Aes256Gcm::new(&cek.into())
        .encrypt(
            &iv.into(),
            Payload {
                msg: payload,
                aad: protected.as_bytes(),
            },
        )
        .map_err(|_| "JWE Encrypt failed".to_string());
    super::super::options::wipe(&mut cek);
    let sealed = sealed?;
    let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
    let mut jwe = json!({"protected": protected});
    match recipients.as_slice() {
        [(_, key)] => jwe["encrypted_key"] = b64(key).into(),
        many => {
            jwe["recipients"] = many
                .iter()
                .map(|(header, key)| json!({"header": header, "encrypted_key": b64(key)}))
                .collect();
        }
    }
    jwe["iv"] = b64(&iv).into();
    jwe["ciphertext"] = b64(ciphertext).into();
    jwe["tag"] = b64(tag).into();
    Ok(jwe.to_string().into_bytes())
}

/// The recipient header and the wrapped content key for one public key.
fn wrap_key(key: &PublicKey, cek: &[u8]) -> Result<(Map<String, Value>, Vec<u8>), String> {
    match key {
        PublicKey::Rsa(k) => {
            let wrapped = k
                .encrypt(&mut OsRng, rsa::Oaep::new::<sha1::Sha1>(), cek)
                .map_err(|e| format!("JWE: RSA-OAEP: {e}"))?;
            let mut header = Map::new();
            header.insert("alg".into(), "RSA-OAEP".into());
            Ok((header, wrapped))
        }
        PublicKey::P256(k) => ecdh_wrap(k, "P-256", cek),
        PublicKey::P384(k) => ecdh_wrap(k, "P-384", cek),
        PublicKey::P521(k) => ecdh_wrap(k, "P-521", cek),
    }
}

const ECDH_KW: &str = "ECDH-ES+A256KW";

fn ecdh_wrap<C>(
    recipient: &elliptic_curve::PublicKey<C>,
    crv: &str,
    cek: &[u8],
) -> Result<(Map<String, Value>, Vec<u8>), String>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let ephemeral = elliptic_curve::ecdh::EphemeralSecret::<C>::random(&mut OsRng);
    let shared = ephemeral.diffie_hellman(recipient);
    let kek = concat_kdf(shared.raw_secret_bytes(), ECDH_KW, &[], &[], 32);
    let kek: [u8; 32] = kek.try_into().map_err(|_| "JWE: KDF length".to_string())?;
    let wrapped = aes_kw::KekAes256::from(kek)
        .wrap_vec(cek)
        .map_err(|e| format!("JWE: AES key wrap: {e}"))?;
    let point = ephemeral.public_key().to_encoded_point(false);
    let (x, y) = (point.x().ok_or("JWE: no x")?, point.y().ok_or("JWE: no y")?);
    let mut header = Map::new();
    header.insert("alg".into(), ECDH_KW.into());
    header.insert(
        "epk".into(),
        json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)}),
    );
    Ok((header, wrapped))
}

/// RFC 7518 §4.6.2's Concat KDF with SHA-256; PartyUInfo/PartyVInfo (`apu`, `apv`)
/// are empty when the header has none, as go-jose writes them.
fn concat_kdf(z: &[u8], algorithm: &str, apu: &[u8], apv: &[u8], len: usize) -> Vec<u8> {
    let mut other = Vec::new();
    for part in [algorithm.as_bytes(), apu, apv] {
        other.extend_from_slice(&(part.len() as u32).to_be_bytes());
        other.extend_from_slice(part);
    }
    other.extend_from_slice(&((len * 8) as u32).to_be_bytes());
    let mut out = Vec::new();
    let mut round: u32 = 1;
    while out.len() < len {
        let mut h = sha2::Sha256::new();
        h.update(round.to_be_bytes());
        h.update(z);
        h.update(&other);
        out.extend_from_slice(&h.finalize());
        round += 1;
    }
    out.truncate(len);
    out
}

/// A recipient of a parsed JWE: its merged header and wrapped key.
struct Recipient {
    header: Map<String, Value>,
    wrapped: Vec<u8>,
}

/// The payload of `jwe`, opened by the first key that fits one of its recipients.
pub fn unwrap(keys: &[&PrivateKey], jwe: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || "jose.ParseEncrypted failed".to_string();
    let top: Map<String, Value> = serde_json::from_slice(jwe).map_err(|_| bad())?;
    let text = |name: &str| top.get(name).and_then(Value::as_str);
    let protected = text("protected").unwrap_or_default();
    let protected_header: Map<String, Value> = match protected {
        "" => Map::new(),
        p => keyfile::b64url(p)
            .and_then(|j| serde_json::from_slice(&j).ok())
            .ok_or_else(bad)?,
    };
    let bytes = |name: &str| text(name).and_then(keyfile::b64url).ok_or_else(bad);
    let (iv, ciphertext, tag) = (bytes("iv")?, bytes("ciphertext")?, bytes("tag")?);
    let mut aad = protected.as_bytes().to_vec();
    if let Some(extra) = text("aad") {
        aad.push(b'.');
        aad.extend_from_slice(extra.as_bytes());
    }
    let mut shared = protected_header;
    if let Some(Value::Object(u)) = top.get("unprotected") {
        shared.extend(u.clone());
    }
    let listed: Vec<(Option<&Value>, Option<&str>)> = match top.get("recipients") {
        Some(Value::Array(rs)) => rs
            .iter()
            .map(|r| {
                (
                    r.get("header"),
                    r.get("encrypted_key").and_then(Value::as_str),
                )
            })
            .collect(),
        _ => vec![(top.get("header"), text("encrypted_key"))],
    };
    let mut recipients = Vec::new();
    for (header, wrapped) in listed {
        let mut merged = shared.clone();
        if let Some(Value::Object(h)) = header {
            merged.extend(h.clone());
        }
        let wrapped = wrapped
            .map_or(Some(Vec::new()), keyfile::b64url)
            .ok_or_else(bad)?;
        recipients.push(Recipient {
            header: merged,
            wrapped,
        });
    }
    let mut algorithms = Vec::new();
    for r in &recipients {
        let alg = r.header.get("alg").and_then(Value::as_str).unwrap_or("?");
        let enc = r.header.get("enc").and_then(Value::as_str).unwrap_or("?");
        for key in keys {
            let Some(mut cek) = unwrap_key(key, alg, enc, r) else {
                continue;
            };
            let opened = open_content(enc, &cek, &iv, &ciphertext, &tag, &aad);
            super::super::options::wipe(&mut cek);
            if let Some(payload) = opened {
                return Ok(payload);
            }
        }
        algorithms.push(alg.to_string());
    }
    Err(format!(
        "JWE: No suitable private key found for decryption (recipients: {})",
        if algorithms.is_empty() {
            "none".to_string()
        } else {
            algorithms.join(", ")
        }
    ))
}

/// The content key one recipient holds, if `key` opens it.
fn unwrap_key(key: &PrivateKey, alg: &str, enc: &str, r: &Recipient) -> Option<Vec<u8>> {
    match (key, alg) {
        (PrivateKey::Rsa(k), "RSA-OAEP") => {
            k.decrypt(rsa::Oaep::new::<sha1::Sha1>(), &r.wrapped).ok()
        }
        (PrivateKey::Rsa(_), _) => None,
        (ec, _) if alg.starts_with("ECDH-ES") => {
            let epk = r.header.get("epk")?;
            let coordinate = |n: &str| epk.get(n)?.as_str().and_then(keyfile::b64url);
            let crv = epk.get("crv")?.as_str()?;
            let point = keyfile::ec_point(crv, &coordinate("x")?, &coordinate("y")?)?;
            let z = match (ec, point) {
                (PrivateKey::P256(s), PublicKey::P256(p)) => ecdh(s, &p),
                (PrivateKey::P384(s), PublicKey::P384(p)) => ecdh(s, &p),
                (PrivateKey::P521(s), PublicKey::P521(p)) => ecdh(s, &p),
                _ => return None,
            };
            let (algorithm_id, len) = match alg {
                "ECDH-ES" => (enc, content_key_len(enc)?),
                "ECDH-ES+A128KW" => (alg, 16),
                "ECDH-ES+A192KW" => (alg, 24),
                "ECDH-ES+A256KW" => (alg, 32),
                _ => return None,
            };
            let party = |n: &str| match r.header.get(n).and_then(Value::as_str) {
                Some(v) => keyfile::b64url(v),
                None => Some(Vec::new()),
            };
            let kek = concat_kdf(&z, algorithm_id, &party("apu")?, &party("apv")?, len);
            match len {
                _ if alg == "ECDH-ES" => Some(kek),
                16 => aes_kw::KekAes128::try_from(kek.as_slice())
                    .ok()?
                    .unwrap_vec(&r.wrapped)
                    .ok(),
                24 => aes_kw::KekAes192::try_from(kek.as_slice())
                    .ok()?
                    .unwrap_vec(&r.wrapped)
                    .ok(),
                _ => aes_kw::KekAes256::try_from(kek.as_slice())
                    .ok()?
                    .unwrap_vec(&r.wrapped)
                    .ok(),
            }
        }
        _ => None,
    }
}

fn ecdh<C>(secret: &elliptic_curve::SecretKey<C>, public: &elliptic_curve::PublicKey<C>) -> Vec<u8>
where
    C: CurveArithmetic,
{
    elliptic_curve::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine())
        .raw_secret_bytes()
        .to_vec()
}

fn content_key_len(enc: &str) -> Option<usize> {
    match enc {
        "A128GCM" => Some(16),
        "A192GCM" => Some(24),
        "A256GCM" => Some(32),
        _ => None,
    }
}

/// Decrypts the content (AES-GCM, the tag checked).
fn open_content(
    enc: &str,
    cek: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Option<Vec<u8>> {
    if iv.len() != 12 || tag.len() != 16 || content_key_len(enc) != Some(cek.len()) {
        return None;
    }
    let mut sealed = ciphertext.to_vec();
    sealed.extend_from_slice(tag);
    let payload = Payload { msg: &sealed, aad };
    let nonce = aes_gcm::Nonce::from_slice(iv);
    match enc {
        "A128GCM" => aes_gcm::Aes128Gcm::new_from_slice(cek)
            .ok()?
            .decrypt(nonce, payload)
            .ok(),
        "A192GCM" => {
            aes_gcm::AesGcm::<aes::Aes192, aes_gcm::aead::consts::U12>::new_from_slice(cek)
                .ok()?
                .decrypt(nonce, payload)
                .ok()
        }
        _ => aes_gcm::Aes256Gcm::new_from_slice(cek)
            .ok()?
            .decrypt(nonce, payload)
            .ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa(i: usize) -> PrivateKey {
        PrivateKey::Rsa(Box::new(super::super::super::test_keys::rsa(i)))
    }
    fn ec() -> PrivateKey {
        PrivateKey::P256(p256::SecretKey::random(&mut OsRng))
    }
    fn public(k: &PrivateKey) -> PublicKey {
        match k {
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            PrivateKey::P256(k) => PublicKey::P256(k.public_key()),
            _ => unreachable!(),
        }
    }
    fn header(blob: &[u8]) -> Value {
        let v: Value = serde_json::from_slice(blob).unwrap();
        serde_json::from_slice(&keyfile::b64url(v["protected"].as_str().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn concat_kdf_matches_rfc_7518_appendix_c() {
        // RFC 7518 C: Z from the example ECDH, alg "A128GCM", apu "Alice", apv "Bob".
        let z = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
            110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let derived = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 16);
        assert_eq!(b64(&derived), "VqqN6vgjbSBcIijNcacQGg");
    }

    #[test]
    fn one_recipient_is_flattened_with_alg_and_epk_protected() {
        for k in [rsa(0), ec()] {
            let blob = wrap(&[public(&k)], b"opts").unwrap();
            let h = header(&blob);
            assert_eq!(h["enc"], "A256GCM");
            assert!(h["alg"] == "RSA-OAEP" || (h["alg"] == ECDH_KW && h["epk"]["crv"] == "P-256"));
            assert_eq!(unwrap(&[&k], &blob).unwrap(), b"opts");
        }
    }

    #[test]
    fn each_of_several_recipients_opens_it_and_others_do_not() {
        let (a, b, c) = (rsa(0), ec(), rsa(1));
        let blob = wrap(&[public(&a), public(&b)], b"opts").unwrap();
        let v: Value = serde_json::from_slice(&blob).unwrap();
        assert_eq!(v["recipients"].as_array().unwrap().len(), 2);
        assert_eq!(header(&blob), json!({"enc": "A256GCM"}));
        for k in [&a, &b] {
            assert_eq!(unwrap(&[k], &blob).unwrap(), b"opts");
        }
        let err = unwrap(&[&c], &blob).unwrap_err();
        assert!(err.contains("RSA-OAEP, ECDH-ES+A256KW"), "{err}");
        // go-jose's stray top-level key changes nothing.
        let mut v = v;
        v["encrypted_key"] = v["recipients"][0]["encrypted_key"].clone();
        assert_eq!(unwrap(&[&b], v.to_string().as_bytes()).unwrap(), b"opts");
    }
}
