//! Keys for the unit tests, made once per test binary (RSA key generation is the slow
//! part of these tests).

use std::sync::OnceLock;

use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

/// The `i`-th of three RSA-2048 keys.
pub fn rsa(i: usize) -> RsaPrivateKey {
    static KEYS: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..3)
            .map(|_| RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap())
            .collect()
    })[i]
        .clone()
}

/// `key` as an encrypted PKCS#8 PEM (PBKDF2 with few rounds: scrypt, the crate's
/// default, takes seconds).
pub fn encrypted_pem(key: &RsaPrivateKey, password: &[u8]) -> String {
    let der = key.to_pkcs8_der().unwrap();
    let info = pkcs8::PrivateKeyInfo::try_from(der.as_bytes()).unwrap();
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(1000, b"salt1234", &[7; 16])
            .unwrap();
    let encrypted = info.encrypt_with_params(params, password).unwrap();
    encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .unwrap()
        .to_string()
}
