//! Reading auth files (containers-auth.json(5) / Docker config.json / legacy
//! .dockercfg) and decoding their entries, without ever echoing secrets.

use std::path::Path;

use base64::Engine;
use serde_json::Value;

use super::credentials::Credentials;
use super::error::ConfigError;

#[derive(Default)]
pub(crate) struct AuthEntry {
    pub(crate) auth: String,
    pub(crate) identity_token: String,
}

#[derive(Default)]
pub(crate) struct ParsedAuthFile {
    /// Sorted by key (c/image iterates a Go map here, i.e. in random order).
    pub(crate) auths: Vec<(String, AuthEntry)>,
    pub(crate) cred_helpers: Vec<(String, String)>,
    /// Docker's `credsStore`: the helper for every registry without a credHelpers entry.
    pub(crate) creds_store: Option<String>,
}

/// Go's encoding/json matches object keys case-insensitively, preferring an exact match.
pub(crate) fn get_field<'a>(
    obj: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Option<&'a Value> {
    obj.get(name)
        .or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

fn json_error(path: &Path, e: &serde_json::Error) -> ConfigError {
    let message = if e.is_eof() {
        "unexpected end of JSON input".to_string()
    } else {
        format!("invalid JSON at line {} column {}", e.line(), e.column())
    };
    ConfigError::AuthFile {
        path: path.to_path_buf(),
        message,
    }
}

fn structure_error(path: &Path, what: String) -> ConfigError {
    ConfigError::AuthFile {
        path: path.to_path_buf(),
        message: format!("unexpected JSON structure: {what}"),
    }
}

fn string_field(
    path: &Path,
    obj: &serde_json::Map<String, Value>,
    name: &str,
    ctx: &str,
) -> Result<String, ConfigError> {
    match get_field(obj, name) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(structure_error(
            path,
            format!("{name:?} of {ctx} is not a string"),
        )),
    }
}

fn parse_auths(path: &Path, v: &Value, ctx: &str) -> Result<Vec<(String, AuthEntry)>, ConfigError> {
    let Value::Object(map) = v else {
        return Err(structure_error(path, format!("{ctx} is not an object")));
    };
    let mut out = Vec::new();
    for (k, entry) in map {
        let entry_ctx = format!("entry {k:?}");
        let parsed = match entry {
            Value::Null => AuthEntry::default(),
            Value::Object(obj) => AuthEntry {
                auth: string_field(path, obj, "auth", &entry_ctx)?,
                identity_token: string_field(path, obj, "identitytoken", &entry_ctx)?,
            },
            _ => {
                return Err(structure_error(
                    path,
                    format!("{entry_ctx} is not an object"),
                ));
            }
        };
        out.push((k.clone(), parsed));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Reads an auth file; `Ok(None)` if it does not exist.
pub(crate) fn read_auth_file(
    path: &Path,
    legacy: bool,
) -> Result<Option<ParsedAuthFile>, ConfigError> {
    let raw = match std::fs::read(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ConfigError::io(path, e)),
    };
    parse_auth_file(&raw, path, legacy).map(Some)
}

/// Parses the bytes of an auth file read from `path`.
pub(crate) fn parse_auth_file(
    raw: &[u8],
    path: &Path,
    legacy: bool,
) -> Result<ParsedAuthFile, ConfigError> {
    let value: Value = serde_json::from_slice(raw).map_err(|e| json_error(path, &e))?;
    let mut parsed = ParsedAuthFile::default();
    if value.is_null() {
        return Ok(parsed);
    }
    if legacy {
        parsed.auths = parse_auths(path, &value, "the file")?;
        return Ok(parsed);
    }
    let Value::Object(top) = &value else {
        return Err(structure_error(
            path,
            "the file is not a JSON object".into(),
        ));
    };
    if let Some(auths) = get_field(top, "auths") {
        parsed.auths = parse_auths(path, auths, "\"auths\"")?;
    }
    match get_field(top, "credsStore") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => parsed.creds_store = Some(s.clone()),
        Some(_) => {
            return Err(structure_error(
                path,
                "\"credsStore\" is not a string".into(),
            ));
        }
    }
    if let Some(helpers) = get_field(top, "credHelpers") {
        let Value::Object(map) = helpers else {
            return Err(structure_error(
                path,
                "\"credHelpers\" is not an object".into(),
            ));
        };
        for (k, v) in map {
            match v {
                Value::String(s) => parsed.cred_helpers.push((k.clone(), s.clone())),
                Value::Null => parsed.cred_helpers.push((k.clone(), String::new())),
                _ => {
                    return Err(structure_error(
                        path,
                        format!("credHelpers entry {k:?} is not a string"),
                    ));
                }
            }
        }
    }
    Ok(parsed)
}

/// Decodes an `auths` entry (c/image `decodeDockerAuth`). An entry without a
/// `user:password` pair (including identitytoken-only entries) yields `None`.
pub(crate) fn decode_entry(
    path: &Path,
    key: &str,
    entry: &AuthEntry,
) -> Result<Option<Credentials>, ConfigError> {
    let decode_err = |message: String| ConfigError::AuthDecode {
        path: path.to_path_buf(),
        key: key.to_string(),
        message,
    };
    // Go's StdEncoding: padding required, "\r"/"\n" ignored, lax trailing bits.
    let cleaned: String = entry
        .auth
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    );
    let decoded = engine.decode(cleaned.as_bytes()).map_err(|e| {
        // Never include the offending byte: it is part of a secret.
        decode_err(match e {
            base64::DecodeError::InvalidByte(off, _)
            | base64::DecodeError::InvalidLastSymbol(off, _) => {
                format!("illegal base64 data at input byte {off}")
            }
            base64::DecodeError::InvalidLength(len) => {
                format!("illegal base64 data: invalid length {len}")
            }
            base64::DecodeError::InvalidPadding => {
                "illegal base64 data: invalid padding".to_string()
            }
        })
    })?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| decode_err("decoded value is not valid UTF-8".into()))?;
    let Some((user, password)) = decoded.split_once(':') else {
        return Ok(None);
    };
    let password = password.trim_matches('\0');
    if !entry.identity_token.is_empty() {
        return Ok(Some(Credentials::IdentityToken {
            username: Some(user.to_string()).filter(|s| !s.is_empty()),
            password: Some(password.to_string()).filter(|s| !s.is_empty()),
            token: entry.identity_token.clone(),
        }));
    }
    if user.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials::Basic {
        username: user.to_string(),
        password: password.to_string(),
    }))
}
