//! Key files as ocicrypt reads them: DER, PEM (several labels, OpenSSL's legacy encrypted
//! PEM and encrypted PKCS#8) and JWK, for RSA and NIST P-256/384/521 keys.

use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::Value;
use spki_traits::{DecodePrivateKey, DecodePublicKey};

use super::error::CryptError;

/// The key traits of RustCrypto's `pkcs8`/`spki` crates, by their job.
mod spki_traits {
    pub use pkcs8::DecodePrivateKey;
    pub use pkcs8::spki::DecodePublicKey;
}

/// A public key a layer key can be wrapped for.
#[derive(Clone)]
pub enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    P521(p521::PublicKey),
}

/// A private key that unwraps layer keys.
#[derive(Clone)]
pub enum PrivateKey {
    Rsa(Box<RsaPrivateKey>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
}

impl PrivateKey {
    /// "RSA", "EC P-256", … for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            PrivateKey::Rsa(_) => "RSA",
            PrivateKey::P256(_) => "EC P-256",
            PrivateKey::P384(_) => "EC P-384",
            PrivateKey::P521(_) => "EC P-521",
        }
    }
}

/// One PEM block: its label, its RFC 1421 headers and its decoded body.
pub struct Pem {
    pub label: String,
    headers: Vec<(String, String)>,
    pub der: Vec<u8>,
}

impl Pem {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every PEM block in `data` (text around and between them is ignored, as Go's pem does).
pub fn pem_blocks(data: &[u8]) -> Vec<Pem> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let (mut headers, mut body) = (Vec::new(), String::new());
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            match l.split_once(':') {
                Some((name, value)) if body.is_empty() => {
                    headers.push((name.trim().to_string(), value.trim().to_string()))
                }
                _ => body.push_str(l),
            }
        }
        if let (true, Ok(der)) = (
            closed,
            base64::engine::general_purpose::STANDARD.decode(body.as_bytes()),
        ) {
            out.push(Pem {
                label: label.to_string(),
                headers,
                der,
            });
        }
    }
    out
}

/// A public key: DER or PEM SubjectPublicKeyInfo, PKCS#1 RSA, or a public JWK.
pub fn public_key(data: &[u8]) -> Option<PublicKey> {
    if let Some(k) = public_der(data) {
        return Some(k);
    }
    for block in pem_blocks(data) {
        let key = match block.label.as_str() {
            "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(&block.der)
                .ok()
                .map(PublicKey::Rsa),
            _ => public_der(&block.der),
        };
        if key.is_some() {
            return key;
        }
    }
    match jwk(data)? {
        Jwk::Public(k) => Some(k),
        Jwk::Private(_) => None,
    }
}

fn public_der(der: &[u8]) -> Option<PublicKey> {
    if let Ok(k) = RsaPublicKey::from_public_key_der(der) {
        return Some(PublicKey::Rsa(k));
    }
    if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
        return Some(PublicKey::P256(k));
    }
    if let Ok(k) = p384::PublicKey::from_public_key_der(der) {
        return Some(PublicKey::P384(k));
    }
    p521::PublicKey::from_public_key_der(der)
        .ok()
        .map(PublicKey::P521)
}

/// A private key: DER or PEM (PKCS#8, PKCS#1, SEC1; encrypted with `password`), or a
/// private JWK. `Ok(None)`: not a private key. A missing or wrong password for an
/// encrypted key is an error, in ocicrypt's words.
pub fn private_key(data: &[u8], password: Option<&[u8]>) -> Result<Option<PrivateKey>, CryptError> {
    if let Some(k) = private_der(data) {
        return Ok(Some(k));
    }
    for block in pem_blocks(data) {
        let legacy = block
            .header("Proc-Type")
            .is_some_and(|v| v.contains("ENCRYPTED"));
        let encrypted = legacy || block.label == "ENCRYPTED PRIVATE KEY";
        if !encrypted {
            if let Some(k) = private_der(&block.der) {
                return Ok(Some(k));
            }
            continue;
        }
        let Some(password) = password else {
            return Err(CryptError::Key(
                "Missing password for encrypted private key".into(),
            ));
        };
        let wrong = || CryptError::Key("Wrong password: could not decrypt private key".into());
        let der = if legacy {
            decrypt_legacy_pem(&block, password).ok_or_else(wrong)?
        } else {
            pkcs8::EncryptedPrivateKeyInfo::try_from(block.der.as_slice())
                .and_then(|info| info.decrypt(password))
                .map_err(|_| wrong())?
                .as_bytes()
                .to_vec()
        };
        return private_der(&der).map(Some).ok_or_else(wrong);
    }
    Ok(match jwk(data) {
        Some(Jwk::Private(k)) => Some(k),
        _ => None,
    })
}

fn private_der(der: &[u8]) -> Option<PrivateKey> {
    if let Ok(k) =
        RsaPrivateKey::from_pkcs8_der(der).or_else(|_| RsaPrivateKey::from_pkcs1_der(der))
    {
        return Some(PrivateKey::Rsa(Box::new(k)));
    }
    if let Ok(k) =
        p256::SecretKey::from_pkcs8_der(der).or_else(|_| p256::SecretKey::from_sec1_der(der))
    {
        return Some(PrivateKey::P256(k));
    }
    if let Ok(k) =
        p384::SecretKey::from_pkcs8_der(der).or_else(|_| p384::SecretKey::from_sec1_der(der))
    {
        return Some(PrivateKey::P384(k));
    }
    p521::SecretKey::from_pkcs8_der(der)
        .or_else(|_| p521::SecretKey::from_sec1_der(der))
        .ok()
        .map(PrivateKey::P521)
}

/// OpenSSL's traditional encrypted PEM (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: ALG,IV`):
/// the key is EVP_BytesToKey(MD5, password, first 8 bytes of the IV), then CBC.
fn decrypt_legacy_pem(block: &Pem, password: &[u8]) -> Option<Vec<u8>> {
    use cbc::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
    use md5::Digest as _;
    let (alg, iv_hex) = block.header("DEK-Info")?.split_once(',')?;
    let iv = hex::decode(iv_hex.trim()).ok()?;
    let key_len = match alg.trim() {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        "DES-EDE3-CBC" => 24,
        _ => return None,
    };
    let salt = iv.get(..8)?;
    let mut key = Vec::new();
    let mut prev: Vec<u8> = Vec::new();
    while key.len() < key_len {
        let mut h = md5::Md5::new();
        h.update(&prev);
        h.update(password);
        h.update(salt);
        prev = h.finalize().to_vec();
        key.extend_from_slice(&prev);
    }
    key.truncate(key_len);
    let data = &block.der;
    match alg.trim() {
        "AES-128-CBC" => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .ok(),
        "AES-192-CBC" => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, &iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .ok(),
        "AES-256-CBC" => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .ok(),
        _ => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .ok(),
    }
}

enum Jwk {
    Public(PublicKey),
    Private(PrivateKey),
}

/// A JSON Web Key (RFC 7517): RSA, or EC on P-256/384/521.
fn jwk(data: &[u8]) -> Option<Jwk> {
    let v: Value = serde_json::from_slice(data).ok()?;
    let field = |name: &str| -> Option<Vec<u8>> { b64url(v.get(name)?.as_str()?) };
    let private = v.get("d").is_some();
    match v.get("kty")?.as_str()? {
        "RSA" => {
            let int = |name: &str| field(name).map(|b| BigUint::from_bytes_be(&b));
            let (n, e) = (int("n")?, int("e")?);
            if !private {
                return RsaPublicKey::new(n, e)
                    .ok()
                    .map(|k| Jwk::Public(PublicKey::Rsa(k)));
            }
            let primes = match (int("p"), int("q")) {
                (Some(p), Some(q)) => vec![p, q],
                _ => Vec::new(),
            };
            RsaPrivateKey::from_components(n, e, int("d")?, primes)
                .ok()
                .map(|k| Jwk::Private(PrivateKey::Rsa(Box::new(k))))
        }
        "EC" => {
            let crv = v.get("crv")?.as_str()?;
            if private {
                let d = field("d")?;
                return match crv {
                    "P-256" => p256::SecretKey::from_slice(&d).ok().map(PrivateKey::P256),
                    "P-384" => p384::SecretKey::from_slice(&d).ok().map(PrivateKey::P384),
                    "P-521" => p521::SecretKey::from_slice(&d).ok().map(PrivateKey::P521),
                    _ => None,
                }
                .map(Jwk::Private);
            }
            ec_point(crv, &field("x")?, &field("y")?).map(Jwk::Public)
        }
        _ => None,
    }
}

/// An uncompressed point on `crv` from its coordinates (JWK and JWE `epk` form).
pub fn ec_point(crv: &str, x: &[u8], y: &[u8]) -> Option<PublicKey> {
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    match crv {
        "P-256" => p256::PublicKey::from_sec1_bytes(&sec1)
            .ok()
            .map(PublicKey::P256),
        "P-384" => p384::PublicKey::from_sec1_bytes(&sec1)
            .ok()
            .map(PublicKey::P384),
        "P-521" => p521::PublicKey::from_sec1_bytes(&sec1)
            .ok()
            .map(PublicKey::P521),
        _ => None,
    }
}

/// Unpadded base64url (JOSE's encoding); padding is tolerated.
pub fn b64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    fn rsa_key() -> RsaPrivateKey {
        super::super::test_keys::rsa(0)
    }

    #[test]
    fn reads_pem_der_and_jwk_keys() {
        let k = rsa_key();
        let pem = k.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert!(matches!(
            private_key(pem.as_bytes(), None),
            Ok(Some(PrivateKey::Rsa(_)))
        ));
        let der = k.to_pkcs8_der().unwrap();
        assert!(matches!(
            private_key(der.as_bytes(), None),
            Ok(Some(PrivateKey::Rsa(_)))
        ));
        let public = k.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        assert!(matches!(
            public_key(public.as_bytes()),
            Some(PublicKey::Rsa(_))
        ));
        assert!(private_key(public.as_bytes(), None).unwrap().is_none());
        assert!(public_key(pem.as_bytes()).is_none());
        let ec = p256::SecretKey::random(&mut rand_core::OsRng);
        let sec1 = ec.to_sec1_pem(LineEnding::LF).unwrap();
        assert!(matches!(
            private_key(sec1.as_bytes(), None),
            Ok(Some(PrivateKey::P256(_)))
        ));
        let point = ec.public_key().to_sec1_bytes();
        let jwk = |d: Option<&[u8]>| {
            let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            let mut v = serde_json::json!({"kty": "EC", "crv": "P-256", "x": e(&point[1..33]), "y": e(&point[33..])});
            if let Some(d) = d {
                v["d"] = e(d).into();
            }
            v.to_string()
        };
        assert!(matches!(
            public_key(jwk(None).as_bytes()),
            Some(PublicKey::P256(_))
        ));
        let d = ec.to_bytes();
        assert!(matches!(
            private_key(jwk(Some(&d)).as_bytes(), None),
            Ok(Some(PrivateKey::P256(_)))
        ));
    }

    #[test]
    fn encrypted_keys_need_the_right_password() {
        let k = rsa_key();
        let pem = super::super::test_keys::encrypted_pem(&k, b"pw");
        let err = |pw: Option<&[u8]>| private_key(pem.as_bytes(), pw).err().unwrap().to_string();
        assert_eq!(err(None), "Missing password for encrypted private key");
        assert_eq!(
            err(Some(b"nope")),
            "Wrong password: could not decrypt private key"
        );
        assert!(matches!(
            private_key(pem.as_bytes(), Some(b"pw")),
            Ok(Some(PrivateKey::Rsa(_)))
        ));
    }
}
