//! The fuzz entry for what an encrypted image brings from outside (built with the
//! `fuzzing` feature only): the layer annotations (public options, wrapped keys as JWE,
//! PKCS7 and OpenPGP), the private options JSON a wrapped key opens to, and key files.

use std::sync::OnceLock;

use super::keyfile::{self, PrivateKey};
use super::keywrap::{jwe, pgp, pkcs7};
use super::options::{PrivateOptions, PublicOptions};

/// Fixed keys: the wrapped-key parsers run up to where a key would be tried.
fn keys() -> &'static (PrivateKey, rsa::RsaPrivateKey) {
    static KEYS: OnceLock<(PrivateKey, rsa::RsaPrivateKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ec = p256::SecretKey::from_slice(&[7; 32]).expect("a valid P-256 scalar");
        let rsa = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024).expect("an RSA key");
        (PrivateKey::P256(ec), rsa)
    })
}

pub fn encryption(data: &[u8]) {
    let (ec, rsa) = keys();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PublicOptions::from_annotation(Some(text));
    }
    let _ = PrivateOptions::from_json(data);
    let _ = keyfile::pem_blocks(data);
    let _ = keyfile::public_key(data);
    let _ = keyfile::private_key(data, Some(b"pw"));
    let _ = keyfile::private_key(data, None);
    let _ = pkcs7::Certificate::parse(data);
    let _ = jwe::unwrap(&[ec], data);
    let _ = pkcs7::unwrap(&[rsa], &[], data);
    let _ = pgp::unwrap(&[], data);
}
