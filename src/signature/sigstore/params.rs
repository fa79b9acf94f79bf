//! containers-sigstore-signing-params.yaml(5): what `--sign-by-sigstore PARAM-FILE` signs
//! with (c/image `pkg/cli/sigstore/params`, decoded with known fields only).

use std::path::Path;

use serde::Deserialize;

/// The parameter file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SigningParams {
    /// Sign with this (encrypted) private key.
    #[serde(default)]
    pub private_key_file: String,
    /// Its passphrase (first line); without it, a prompt on a terminal.
    #[serde(default)]
    pub private_key_passphrase_file: String,
    /// Sign with a short-lived key and a certificate from Fulcio.
    #[serde(default)]
    pub fulcio: Option<FulcioParams>,
    /// Upload the signature to this Rekor server and include its SET.
    #[serde(default, rename = "rekorURL")]
    pub rekor_url: String,
}

/// The `fulcio` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FulcioParams {
    #[serde(default, rename = "fulcioURL")]
    pub fulcio_url: String,
    /// `staticToken`, `deviceGrant` or `interactive`.
    #[serde(default, rename = "oidcMode")]
    pub oidc_mode: String,
    #[serde(default, rename = "oidcIDToken")]
    pub oidc_id_token: String,
    #[serde(default, rename = "oidcIssuerURL")]
    pub oidc_issuer_url: String,
    #[serde(default, rename = "oidcClientID")]
    pub oidc_client_id: String,
    #[serde(default, rename = "oidcClientSecret")]
    pub oidc_client_secret: String,
}

impl SigningParams {
    /// `params.ParseFile`, with its error texts.
    pub fn load(path: &Path) -> Result<SigningParams, String> {
        let quoted = crate::policy::json::go_quote(&path.to_string_lossy());
        let bytes = std::fs::read(path).map_err(|e| format!("reading {quoted}: {e}"))?;
        SigningParams::parse(&bytes).map_err(|e| format!("parsing {quoted}: {e}"))
    }

    pub fn parse(bytes: &[u8]) -> Result<SigningParams, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            // yaml.v3 decodes an empty document as "nothing set".
            return Ok(SigningParams::default());
        }
        serde_norway::from_slice(bytes).map_err(|e| format!("yaml: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_fields() {
        let text = b"privateKeyFile: /k.private\nprivateKeyPassphraseFile: /pw\nrekorURL: https://rekor.example\nfulcio:\n  fulcioURL: https://fulcio.example\n  oidcMode: deviceGrant\n  oidcIssuerURL: https://oidc.example\n  oidcClientID: sigstore\n  oidcClientSecret: s\n";
        let p = SigningParams::parse(text).unwrap();
        assert_eq!(p.private_key_file, "/k.private");
        assert_eq!(p.private_key_passphrase_file, "/pw");
        assert_eq!(p.rekor_url, "https://rekor.example");
        let f = p.fulcio.unwrap();
        assert_eq!(f.oidc_mode, "deviceGrant");
        assert_eq!(f.oidc_client_secret, "s");
        assert_eq!(SigningParams::parse(b"").unwrap(), SigningParams::default());
    }

    #[test]
    fn refuses_unknown_fields() {
        let err = SigningParams::parse(b"privateKey: x\n").unwrap_err();
        assert!(err.contains("privateKey"), "{err}");
        let err = SigningParams::parse(b"fulcio:\n  url: x\n").unwrap_err();
        assert!(err.contains("url"), "{err}");
    }
}
