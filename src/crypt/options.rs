//! What an encrypted layer carries besides its bytes, in ocicrypt's JSON forms: the
//! public options (cipher and HMAC, in `org.opencontainers.image.enc.pubopts`) and the
//! private options (key, nonce and plaintext digest) that each key wrapper encrypts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::error::CryptError;
use crate::digest::Digest;

/// Every annotation ocicrypt owns starts with this; decryption drops them all.
pub const ANNOTATION_PREFIX: &str = "org.opencontainers.image.enc.";
/// The public options' annotation.
pub const PUBOPTS: &str = "org.opencontainers.image.enc.pubopts";
/// The only layer cipher ocicrypt defines.
pub const CIPHER: &str = "AES_256_CTR_HMAC_SHA256";

/// A key wrapping scheme and its annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Jwe,
    Pkcs7,
    Pgp,
}

impl Scheme {
    /// In the order keys are tried when decrypting.
    pub const ALL: [Scheme; 3] = [Scheme::Jwe, Scheme::Pkcs7, Scheme::Pgp];

    pub fn annotation(self) -> &'static str {
        match self {
            Scheme::Jwe => "org.opencontainers.image.enc.keys.jwe",
            Scheme::Pkcs7 => "org.opencontainers.image.enc.keys.pkcs7",
            Scheme::Pgp => "org.opencontainers.image.enc.keys.pgp",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scheme::Jwe => "jwe",
            Scheme::Pkcs7 => "pkcs7",
            Scheme::Pgp => "pgp",
        }
    }
}

/// A layer's symmetric key and the initial counter block. Zeroed when dropped.
pub struct LayerKey {
    pub(super) symkey: [u8; 32],
    pub(super) nonce: [u8; 16],
}

impl LayerKey {
    /// A fresh random key and nonce (one per layer, as ocicrypt).
    pub fn generate() -> Result<LayerKey, CryptError> {
        let mut key = LayerKey {
            symkey: [0; 32],
            nonce: [0; 16],
        };
        use rand_core::RngCore as _;
        rand_core::OsRng
            .try_fill_bytes(&mut key.symkey)
            .and_then(|()| rand_core::OsRng.try_fill_bytes(&mut key.nonce))
            .map_err(|e| CryptError::Crypto(format!("generating a layer key: {e}")))?;
        Ok(key)
    }
}

impl Drop for LayerKey {
    fn drop(&mut self) {
        wipe(&mut self.symkey);
    }
}

impl std::fmt::Debug for LayerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LayerKey(..)")
    }
}

/// Overwrites secret bytes in a way the optimiser keeps.
pub(super) fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: a valid, aligned &mut u8.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

/// ocicrypt's private options: what a recipient needs to decrypt a layer.
#[derive(Debug)]
pub struct PrivateOptions {
    pub key: LayerKey,
    /// The digest of the plaintext blob (as stored after decryption).
    pub digest: Digest,
}

#[derive(serde::Deserialize)]
struct PrivateJson {
    symkey: String,
    digest: String,
    #[serde(default)]
    cipheroptions: std::collections::BTreeMap<String, String>,
}

impl PrivateOptions {
    /// The JSON Go's encoding/json writes for ocicrypt's PrivateLayerBlockCipherOptions.
    pub fn to_json(&self) -> Vec<u8> {
        format!(
            r#"{{"symkey":"{}","digest":"{}","cipheroptions":{{"nonce":"{}"}}}}"#,
            STANDARD.encode(self.key.symkey),
            self.digest,
            STANDARD.encode(self.key.nonce)
        )
        .into_bytes()
    }

    pub fn from_json(json: &[u8]) -> Result<PrivateOptions, CryptError> {
        let bad = |what: &str| CryptError::Options(format!("the wrapped key options {what}"));
        let p: PrivateJson =
            serde_json::from_slice(json).map_err(|e| bad(&format!("are not valid JSON: {e}")))?;
        let mut key = LayerKey {
            symkey: [0; 32],
            nonce: [0; 16],
        };
        let mut symkey = STANDARD
            .decode(&p.symkey)
            .map_err(|_| bad("have a symkey that is not base64"))?;
        if symkey.len() != 32 {
            wipe(&mut symkey);
            return Err(bad(&format!(
                "have an invalid key length of {} bytes; need 32 bytes",
                symkey.len()
            )));
        }
        key.symkey.copy_from_slice(&symkey);
        wipe(&mut symkey);
        let nonce = p
            .cipheroptions
            .get("nonce")
            .ok_or_else(|| bad("have no nonce"))?;
        let nonce = STANDARD
            .decode(nonce)
            .map_err(|_| bad("have a nonce that is not base64"))?;
        key.nonce = nonce
            .try_into()
            .map_err(|_| bad("have a nonce that is not 16 bytes long"))?;
        let digest = Digest::parse(&p.digest)
            .map_err(|e| bad(&format!("have an invalid digest {:?}: {e}", p.digest)))?;
        Ok(PrivateOptions { key, digest })
    }
}

/// ocicrypt's public options: the cipher and the HMAC of the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOptions {
    pub hmac: Vec<u8>,
}

#[derive(serde::Deserialize)]
struct PublicJson {
    #[serde(default)]
    cipher: String,
    #[serde(default)]
    hmac: Option<String>,
}

impl PublicOptions {
    /// The annotation value: base64 of the JSON Go writes.
    pub fn to_annotation(&self) -> String {
        let json = format!(
            r#"{{"cipher":"{CIPHER}","hmac":"{}","cipheroptions":{{}}}}"#,
            STANDARD.encode(&self.hmac)
        );
        STANDARD.encode(json)
    }

    /// Reads the `pubopts` annotation (`None`: the layer has none).
    pub fn from_annotation(value: Option<&str>) -> Result<PublicOptions, CryptError> {
        let bad = |what: String| CryptError::Options(format!("{PUBOPTS}: {what}"));
        // ocicrypt reads a missing annotation as empty options, which then name no cipher.
        let Some(value) = value else {
            return Err(bad("missing: no cipher type provided".into()));
        };
        let json = STANDARD
            .decode(value)
            .map_err(|_| bad("not base64".into()))?;
        let p: PublicJson =
            serde_json::from_slice(&json).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        match p.cipher.as_str() {
            "" => return Err(bad("no cipher type provided".into())),
            CIPHER => {}
            other => return Err(bad(format!("unsupported cipher type: {other}"))),
        }
        let hmac = match p.hmac.as_deref() {
            None | Some("") => {
                return Err(bad("HMAC is not provided for decryption process".into()));
            }
            Some(h) => STANDARD
                .decode(h)
                .map_err(|_| bad("the hmac is not base64".into()))?,
        };
        Ok(PublicOptions { hmac })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_options_round_trip_in_gos_form() {
        let opts = PrivateOptions {
            key: LayerKey {
                symkey: [7; 32],
                nonce: [9; 16],
            },
            digest: Digest::sha256_of(b"layer"),
        };
        let json = String::from_utf8(opts.to_json()).unwrap();
        assert!(
            json.starts_with(
                r#"{"symkey":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=","digest":"sha256:"#
            ),
            "{json}"
        );
        assert!(json.ends_with(r#""cipheroptions":{"nonce":"CQkJCQkJCQkJCQkJCQkJCQ=="}}"#));
        let back = PrivateOptions::from_json(json.as_bytes()).unwrap();
        assert_eq!(back.key.symkey, [7; 32]);
        assert_eq!(back.key.nonce, [9; 16]);
        assert_eq!(back.digest, opts.digest);
        // What skopeo wrote (decrypted from one of its layers).
        let skopeo = br#"{"symkey":"RNtKtUy8w1Dp1QnRoaHBDEJNPVoeqxQc0xGFYYG15QM=","digest":"sha256:6f40fcead2b0d4a77eff86619a1d2b9166affabc165dbad57ebdaaf809aa288d","cipheroptions":{"nonce":"fbny6jYsxgvZ9w7VW/ysFg=="}}"#;
        assert!(PrivateOptions::from_json(skopeo).is_ok());
        let short = br#"{"symkey":"AAAA","digest":"sha256:6f40fcead2b0d4a77eff86619a1d2b9166affabc165dbad57ebdaaf809aa288d","cipheroptions":{"nonce":"fbny6jYsxgvZ9w7VW/ysFg=="}}"#;
        assert!(
            PrivateOptions::from_json(short)
                .unwrap_err()
                .to_string()
                .contains("key length")
        );
    }

    #[test]
    fn public_options_match_skopeos_and_refuse_gaps() {
        // skopeo's annotation for a real layer.
        let skopeo = "eyJjaXBoZXIiOiJBRVNfMjU2X0NUUl9ITUFDX1NIQTI1NiIsImhtYWMiOiJXdU1adkFPY0VhTXpwbGNmZVRKdEJ6b3cxcFJNOE1wSXBUUDg2V3ZVSDJvPSIsImNpcGhlcm9wdGlvbnMiOnt9fQ==";
        let p = PublicOptions::from_annotation(Some(skopeo)).unwrap();
        assert_eq!(p.hmac.len(), 32);
        assert_eq!(p.to_annotation(), skopeo);
        let missing = PublicOptions::from_annotation(None).unwrap_err();
        assert!(missing.to_string().contains("no cipher type provided"));
        let no_hmac = STANDARD.encode(r#"{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":null}"#);
        assert!(
            PublicOptions::from_annotation(Some(&no_hmac))
                .unwrap_err()
                .to_string()
                .contains("HMAC is not provided")
        );
        let other = STANDARD.encode(r#"{"cipher":"AES_128_GCM","hmac":"AAAA"}"#);
        assert!(
            PublicOptions::from_annotation(Some(&other))
                .unwrap_err()
                .to_string()
                .contains("unsupported cipher type: AES_128_GCM")
        );
    }
}
