//! The `jwe` key wrapper: a JWE in JSON serialisation (go-jose's `FullSerialize`), content
//! encrypted with A256GCM, the content key wrapped with RSA-OAEP (SHA-1) for RSA keys and
//! ECDH-ES+A256KW for EC keys. One recipient: flattened JSON with `alg` and `enc`
//! protected; several: general JSON with `enc` protected and each `alg` in its
//! recipient's header.
//!
//! go-jose also writes a stray top-level `encrypted_key` (recipient 0's) next to
//! `recipients`, and josekit tries only the first recipient whose `alg` matches a key,
//! so a general JWE is split into one flattened JWE per recipient before decrypting.

use josekit::jwe::{self, JweDecrypter, JweEncrypter, JweHeader, JweHeaderSet};
use openssl::pkey::Id;
use serde_json::{Map, Value};

use super::super::keys::{JwePublicKey, PrivateKey, key_kind};

const ENC: &str = "A256GCM";

fn encrypter(key: &JwePublicKey) -> Result<Box<dyn JweEncrypter>, String> {
    let fail = |e: josekit::JoseError| format!("JWE: unusable public key: {e}");
    Ok(match key {
        JwePublicKey::Pem(k) => {
            let der = k.public_key_to_der().map_err(|e| e.to_string())?;
            match k.id() {
                Id::RSA => Box::new(jwe::RSA_OAEP.encrypter_from_der(&der).map_err(fail)?),
                Id::EC => Box::new(jwe::ECDH_ES_A256KW.encrypter_from_der(&der).map_err(fail)?),
                other => {
                    return Err(format!(
                        "JWE: {} keys are not supported (RSA and EC are)",
                        key_kind(other)
                    ));
                }
            }
        }
        JwePublicKey::Jwk(j) => match j.key_type() {
            "RSA" => Box::new(jwe::RSA_OAEP.encrypter_from_jwk(j).map_err(fail)?),
            "EC" => Box::new(jwe::ECDH_ES_A256KW.encrypter_from_jwk(j).map_err(fail)?),
            other => {
                return Err(format!(
                    "JWE: {other} JWKs are not supported (RSA and EC are)"
                ));
            }
        },
    })
}

/// Wraps `payload` for every key, in one JWE.
pub fn wrap(keys: &[JwePublicKey], payload: &[u8]) -> Result<Vec<u8>, String> {
    let encrypters = keys.iter().map(encrypter).collect::<Result<Vec<_>, _>>()?;
    let fail = |e: josekit::JoseError| format!("JWE Encrypt failed: {e}");
    let json = match encrypters.as_slice() {
        [one] => {
            let mut protected = JweHeaderSet::new();
            protected.set_algorithm(one.algorithm().name(), true);
            protected.set_content_encryption(ENC, true);
            jwe::serialize_flattened_json(payload, Some(&protected), None, None, one.as_ref())
                .map_err(fail)?
        }
        many => {
            let mut protected = JweHeaderSet::new();
            protected.set_content_encryption(ENC, true);
            let headers: Vec<JweHeader> = many
                .iter()
                .map(|e| {
                    let mut h = JweHeader::new();
                    h.set_algorithm(e.algorithm().name());
                    h
                })
                .collect();
            let recipients: Vec<(Option<&JweHeader>, &dyn JweEncrypter)> = headers
                .iter()
                .zip(many)
                .map(|(h, e)| (Some(h), e.as_ref()))
                .collect();
            jwe::serialize_general_json(payload, Some(&protected), &recipients, None)
                .map_err(fail)?
        }
    };
    Ok(json.into_bytes())
}

/// One flattened JWE per recipient of `jwe` (itself when already flattened).
fn per_recipient(jwe: &[u8]) -> Result<Vec<Map<String, Value>>, String> {
    let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(jwe) else {
        return Err("jose.ParseEncrypted failed".into());
    };
    let Some(recipients) = top.remove("recipients") else {
        return Ok(vec![top]);
    };
    let Value::Array(recipients) = recipients else {
        return Err("jose.ParseEncrypted failed: recipients is not a list".into());
    };
    // go-jose's stray copy of the first recipient's key.
    top.remove("encrypted_key");
    Ok(recipients
        .into_iter()
        .filter_map(|r| match r {
            Value::Object(r) => {
                let mut flat = top.clone();
                flat.extend(r);
                Some(flat)
            }
            _ => None,
        })
        .collect())
}

/// The `alg` a flattened JWE names (recipient header, else protected header).
fn algorithm(flat: &Map<String, Value>) -> Option<String> {
    if let Some(alg) = flat
        .get("header")
        .and_then(|h| h.get("alg"))
        .and_then(Value::as_str)
    {
        return Some(alg.to_string());
    }
    use base64::Engine as _;
    let protected = flat.get("protected")?.as_str()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(protected.trim_end_matches('='))
        .ok()?;
    let header: Value = serde_json::from_slice(&json).ok()?;
    header.get("alg")?.as_str().map(str::to_string)
}

fn decrypter(key: &PrivateKey, alg: &str) -> Option<Box<dyn JweDecrypter>> {
    let rsa = match alg {
        "RSA-OAEP" => Some(jwe::RSA_OAEP),
        "RSA-OAEP-256" => Some(jwe::RSA_OAEP_256),
        _ => None,
    };
    let ec = match alg {
        "ECDH-ES+A256KW" => Some(jwe::ECDH_ES_A256KW),
        "ECDH-ES+A192KW" => Some(jwe::ECDH_ES_A192KW),
        "ECDH-ES+A128KW" => Some(jwe::ECDH_ES_A128KW),
        "ECDH-ES" => Some(jwe::ECDH_ES),
        _ => None,
    };
    match key {
        PrivateKey::Pem(k) => {
            let der = k.private_key_to_pkcs8().ok()?;
            match (k.id(), rsa, ec) {
                (Id::RSA, Some(a), _) => Some(Box::new(a.decrypter_from_der(&der).ok()?)),
                (Id::EC | Id::X25519, _, Some(a)) => {
                    Some(Box::new(a.decrypter_from_der(&der).ok()?))
                }
                _ => None,
            }
        }
        PrivateKey::Jwk(j) => match (j.key_type(), rsa, ec) {
            ("RSA", Some(a), _) => Some(Box::new(a.decrypter_from_jwk(j).ok()?)),
            ("EC" | "OKP", _, Some(a)) => Some(Box::new(a.decrypter_from_jwk(j).ok()?)),
            _ => None,
        },
    }
}

/// The payload of `jwe`, opened by the first key that fits one of its recipients.
pub fn unwrap(keys: &[&PrivateKey], jwe: &[u8]) -> Result<Vec<u8>, String> {
    let mut algorithms = Vec::new();
    for flat in per_recipient(jwe)? {
        let Some(alg) = algorithm(&flat) else {
            continue;
        };
        let text = Value::Object(flat).to_string();
        for key in keys {
            if let Some(d) = decrypter(key, &alg)
                && let Ok((payload, _)) = jwe::deserialize_json(&text, d.as_ref())
            {
                return Ok(payload);
            }
        }
        algorithms.push(alg);
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

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;

    fn rsa() -> PKey<openssl::pkey::Private> {
        PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap()
    }
    fn ec() -> PKey<openssl::pkey::Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }
    fn public(k: &PKey<openssl::pkey::Private>) -> JwePublicKey {
        JwePublicKey::Pem(PKey::public_key_from_der(&k.public_key_to_der().unwrap()).unwrap())
    }

    #[test]
    fn one_recipient_is_flattened_with_alg_protected() {
        let k = rsa();
        let blob = wrap(&[public(&k)], b"opts").unwrap();
        let v: Value = serde_json::from_slice(&blob).unwrap();
        assert!(v.get("recipients").is_none());
        assert_eq!(
            algorithm(v.as_object().unwrap()).as_deref(),
            Some("RSA-OAEP")
        );
        let key = PrivateKey::Pem(k);
        assert_eq!(unwrap(&[&key], &blob).unwrap(), b"opts");
    }

    #[test]
    fn each_of_several_recipients_opens_it() {
        let (a, b, c) = (rsa(), ec(), rsa());
        let blob = wrap(&[public(&a), public(&b)], b"opts").unwrap();
        let v: Value = serde_json::from_slice(&blob).unwrap();
        assert_eq!(v["recipients"].as_array().unwrap().len(), 2);
        for k in [a, b] {
            assert_eq!(unwrap(&[&PrivateKey::Pem(k)], &blob).unwrap(), b"opts");
        }
        let err = unwrap(&[&PrivateKey::Pem(c)], &blob).unwrap_err();
        assert!(err.contains("RSA-OAEP, ECDH-ES+A256KW"), "{err}");
    }

    #[test]
    fn go_joses_stray_encrypted_key_and_second_recipient_are_handled() {
        let (a, b) = (rsa(), rsa());
        let blob = wrap(&[public(&a), public(&b)], b"opts").unwrap();
        let mut v: Value = serde_json::from_slice(&blob).unwrap();
        let first = v["recipients"][0]["encrypted_key"].clone();
        v["encrypted_key"] = first;
        let blob = serde_json::to_vec(&v).unwrap();
        // The second recipient's key: josekit alone would give up after the first.
        assert_eq!(unwrap(&[&PrivateKey::Pem(b)], &blob).unwrap(), b"opts");
    }
}
