//! Key wrappers: the private options of a layer, encrypted for each recipient by one of
//! ocicrypt's schemes (JWE, PKCS7, OpenPGP) and stored base64-encoded in the scheme's
//! annotation (several wrapped blobs are comma-separated).

pub mod jwe;
pub mod pgp;
pub mod pkcs7;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::error::CryptError;
use super::keyfile::PrivateKey;
use super::keys::{DecryptionKeys, Recipients};
use super::options::Scheme;

/// Wraps `private` (the private options' JSON) for every recipient: one annotation per
/// scheme that has recipients.
pub fn wrap(recipients: &Recipients, private: &[u8]) -> Result<Vec<(String, String)>, CryptError> {
    let mut out = Vec::new();
    for scheme in Scheme::ALL {
        let blob = match scheme {
            Scheme::Jwe if !recipients.jwe.is_empty() => jwe::wrap(&recipients.jwe, private),
            Scheme::Pkcs7 if !recipients.pkcs7.is_empty() => {
                pkcs7::wrap(&recipients.pkcs7, private)
            }
            Scheme::Pgp if !recipients.pgp.is_empty() => pgp::wrap(&recipients.pgp, private),
            _ => continue,
        }
        .map_err(|message| CryptError::Wrap {
            scheme: scheme.name(),
            message,
        })?;
        out.push((scheme.annotation().to_string(), STANDARD.encode(blob)));
    }
    if out.is_empty() {
        return Err(CryptError::Key(
            "no wrapped keys produced by encryption".into(),
        ));
    }
    Ok(out)
}

/// The private options' JSON of a layer, from the first wrapped key one of `keys` opens.
pub fn unwrap<'a>(
    keys: &DecryptionKeys,
    annotation: impl Fn(&str) -> Option<&'a str>,
) -> Result<Vec<u8>, CryptError> {
    let private: Vec<&PrivateKey> = keys.private.iter().collect();
    let rsa_keys: Vec<_> = keys
        .private
        .iter()
        .filter_map(|k| match k {
            PrivateKey::Rsa(k) => Some(k.as_ref()),
            _ => None,
        })
        .collect();
    let pgp_keys: Vec<_> = keys.pgp.iter().collect();
    let mut present = Vec::new();
    let mut failures = Vec::new();
    for scheme in Scheme::ALL {
        let Some(value) = annotation(scheme.annotation()).filter(|v| !v.is_empty()) else {
            continue;
        };
        present.push(scheme.name());
        let usable = match scheme {
            Scheme::Jwe => !private.is_empty(),
            Scheme::Pkcs7 => !rsa_keys.is_empty(),
            Scheme::Pgp => !pgp_keys.is_empty(),
        };
        if !usable {
            continue;
        }
        for blob in value.split(',') {
            let blob = STANDARD.decode(blob).map_err(|_| {
                CryptError::Options(format!(
                    "{}: could not base64 decode the annotation",
                    scheme.annotation()
                ))
            })?;
            let opened = match scheme {
                Scheme::Jwe => jwe::unwrap(&private, &blob),
                Scheme::Pkcs7 => pkcs7::unwrap(&rsa_keys, &keys.certs, &blob),
                Scheme::Pgp => pgp::unwrap(&pgp_keys, &blob),
            };
            match opened {
                Ok(json) => return Ok(json),
                Err(e) => failures.push(e),
            }
        }
    }
    let given = describe(keys);
    if present.is_empty() {
        return Err(CryptError::NoKey(
            "missing private key needed for decryption: the layer has no wrapped keys \
             (no org.opencontainers.image.enc.keys.* annotation)"
                .into(),
        ));
    }
    if failures.is_empty() {
        return Err(CryptError::NoKey(format!(
            "missing private key needed for decryption: the layer's keys are wrapped with {}, \
             the keys given ({given}) cannot open those",
            present.join(", ")
        )));
    }
    Err(CryptError::NoKey(format!(
        "no suitable key unwrapper found or none of the private keys could be used for decryption \
         (tried {given} on its {} keys): {}",
        present.join(", "),
        failures.join("; ")
    )))
}

/// "2 private keys (RSA, EC), 1 OpenPGP secret key" for messages.
fn describe(keys: &DecryptionKeys) -> String {
    let mut parts = Vec::new();
    if !keys.private.is_empty() {
        let kinds: Vec<&str> = keys.private.iter().map(PrivateKey::kind).collect();
        parts.push(format!(
            "{} private key{} ({})",
            kinds.len(),
            if kinds.len() == 1 { "" } else { "s" },
            kinds.join(", ")
        ));
    }
    if !keys.certs.is_empty() {
        parts.push(format!("{} certificate(s)", keys.certs.len()));
    }
    if !keys.pgp.is_empty() {
        parts.push(format!("{} OpenPGP secret key file(s)", keys.pgp.len()));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}
