//! containers-sigstore-signing-params.yaml(5): what `--sign-by-sigstore PARAM-FILE` signs
//! with (c/image `pkg/cli/sigstore/params`, decoded as yaml.v3 does with known fields
//! only: an unknown key is an error, scalars are read as their text).

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use crate::config::registries_d::scalar_text;

/// The parameter file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningParams {
    /// `privateKeyFile`: sign with this (encrypted) private key.
    pub private_key_file: String,
    /// `privateKeyPassphraseFile`: its passphrase (first line); without it, a prompt.
    pub private_key_passphrase_file: String,
    /// `fulcio`: sign with a short-lived key and a certificate from Fulcio.
    pub fulcio: Option<FulcioParams>,
    /// `rekorURL`: upload the signature to this Rekor server and include its SET.
    pub rekor_url: String,
}

/// The `fulcio` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FulcioParams {
    pub fulcio_url: String,
    /// `staticToken`, `deviceGrant` or `interactive`.
    pub oidc_mode: String,
    pub oidc_id_token: String,
    pub oidc_issuer_url: String,
    pub oidc_client_id: String,
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
        let text = std::str::from_utf8(bytes).map_err(|e| format!("yaml: {e}"))?;
        let docs = YamlLoader::load_from_str(text).map_err(|e| format!("yaml: {e}"))?;
        let mut out = SigningParams::default();
        // yaml.v3 decodes an empty document as "nothing set".
        let Some(doc) = docs.first().filter(|d| !matches!(d, Yaml::Null)) else {
            return Ok(out);
        };
        for (key, value) in mapping(doc, "params.SigningParameterFile")? {
            match key.as_str() {
                "privateKeyFile" => out.private_key_file = scalar(value, &key)?,
                "privateKeyPassphraseFile" => {
                    out.private_key_passphrase_file = scalar(value, &key)?
                }
                "rekorURL" => out.rekor_url = scalar(value, &key)?,
                "fulcio" => out.fulcio = fulcio(value)?,
                _ => return Err(unknown(&key, "params.SigningParameterFile")),
            }
        }
        Ok(out)
    }
}

fn fulcio(value: &Yaml) -> Result<Option<FulcioParams>, String> {
    if matches!(value, Yaml::Null) {
        return Ok(None);
    }
    let mut f = FulcioParams::default();
    for (key, value) in mapping(value, "params.SigningParameterFileFulcio")? {
        let slot = match key.as_str() {
            "fulcioURL" => &mut f.fulcio_url,
            "oidcMode" => &mut f.oidc_mode,
            "oidcIDToken" => &mut f.oidc_id_token,
            "oidcIssuerURL" => &mut f.oidc_issuer_url,
            "oidcClientID" => &mut f.oidc_client_id,
            "oidcClientSecret" => &mut f.oidc_client_secret,
            _ => return Err(unknown(&key, "params.SigningParameterFileFulcio")),
        };
        *slot = scalar(value, &key)?;
    }
    Ok(Some(f))
}

fn unknown(key: &str, go_type: &str) -> String {
    format!("yaml: unmarshal errors:\n  field {key} not found in type {go_type}")
}

/// The members of a mapping, keys as text.
fn mapping<'a>(v: &'a Yaml, go_type: &str) -> Result<Vec<(String, &'a Yaml)>, String> {
    let Yaml::Hash(h) = v else {
        return Err(format!(
            "yaml: unmarshal errors:\n  cannot unmarshal {} into {go_type}",
            kind(v)
        ));
    };
    h.iter()
        .map(|(k, v)| Ok((scalar_text(k).ok_or("yaml: a key is not a scalar")?, v)))
        .collect()
}

/// A scalar read into a Go string field; `null` leaves it empty.
fn scalar(v: &Yaml, key: &str) -> Result<String, String> {
    match v {
        Yaml::Null => Ok(String::new()),
        other => scalar_text(other).ok_or_else(|| {
            format!(
                "yaml: unmarshal errors:\n  cannot unmarshal {} into string (field {key})",
                kind(other)
            )
        }),
    }
}

fn kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Hash(_) => "!!map",
        Yaml::Array(_) => "!!seq",
        _ => "!!str",
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
