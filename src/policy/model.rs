//! The strict policy.json model: requirement types and their parsing with c/image
//! v5.23.1's rules and error texts (`signature/policy_config.go`). `signedIdentity`
//! values are parsed in `identity.rs`, `sigstoreSigned` in `sigstore_config.rs`.

use super::identity::{ReferenceMatch, parse_reference_match, signed_identity};
use super::json::{
    JValue, REQ_TYPE, discover_type, exact_fields, go_bytes, go_string, go_string_list,
    paranoid_object, type_error, unexpected_type,
};
use super::sigstore_config::SigstoreSigned;

/// One policy requirement (an element of a requirement list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `{"type": "insecureAcceptAnything"}`
    InsecureAcceptAnything,
    /// `{"type": "reject"}`
    Reject,
    /// `{"type": "signedBy", ...}` (simple signing; not verified by skiff yet).
    SignedBy {
        key_type: KeyType,
        keys: KeySource,
        signed_identity: ReferenceMatch,
    },
    /// `{"type": "signedBaseLayer", "baseLayerIdentity": ...}`
    SignedBaseLayer { base_layer_identity: ReferenceMatch },
    /// `{"type": "sigstoreSigned", ...}` (see `sigstore_config`).
    SigstoreSigned(Box<SigstoreSigned>),
}

impl Requirement {
    /// The JSON `type` value of this requirement.
    pub fn type_name(&self) -> &'static str {
        match self {
            Requirement::InsecureAcceptAnything => "insecureAcceptAnything",
            Requirement::Reject => "reject",
            Requirement::SignedBy { .. } => "signedBy",
            Requirement::SignedBaseLayer { .. } => "signedBaseLayer",
            Requirement::SigstoreSigned(_) => "sigstoreSigned",
        }
    }
}

/// `signedBy` `keyType` values recognized by c/image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    GpgKeys,
    SignedByGpgKeys,
    X509Certificates,
    SignedByX509Cas,
}

impl KeyType {
    fn from_json(s: &str) -> Option<KeyType> {
        match s {
            "GPGKeys" => Some(KeyType::GpgKeys),
            "signedByGPGKeys" => Some(KeyType::SignedByGpgKeys),
            "X509Certificates" => Some(KeyType::X509Certificates),
            "signedByX509CAs" => Some(KeyType::SignedByX509Cas),
            _ => None,
        }
    }
}

/// Exactly one of `keyPath`, `keyPaths`, `keyData` of a `signedBy` requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Path(String),
    Paths(Vec<String>),
    /// Decoded from base64.
    Data(Vec<u8>),
}

/// `PolicyRequirements.UnmarshalJSON`: a non-empty array of requirements.
pub(crate) fn parse_requirements(v: &JValue) -> Result<Vec<Requirement>, String> {
    let items: &[JValue] = match v {
        JValue::Array(items) => items,
        JValue::Null => &[],
        other => return Err(type_error(other, "[]json.RawMessage")),
    };
    if items.is_empty() {
        return Err("List of verification policy requirements must not be empty".to_string());
    }
    items.iter().map(parse_requirement).collect()
}

/// In-order decoding of requirement fields: `type` is a string, others raw.
fn req_strings(key: &str, v: &JValue) -> Result<(), String> {
    match key {
        "type" => go_string(v, REQ_TYPE).map(drop),
        _ => Ok(()),
    }
}

/// `newPolicyRequirementFromJSON`.
fn parse_requirement(v: &JValue) -> Result<Requirement, String> {
    let t = discover_type(v, "prCommon", REQ_TYPE)?;
    match t.as_str() {
        "insecureAcceptAnything" | "reject" => {
            let [ty] = exact_fields(v, ["type"], req_strings)?;
            let ty = go_string(ty, REQ_TYPE)?.unwrap_or_default();
            match ty.as_str() {
                "insecureAcceptAnything" if t == ty => Ok(Requirement::InsecureAcceptAnything),
                "reject" if t == ty => Ok(Requirement::Reject),
                _ => Err(unexpected_type(&ty)),
            }
        }
        "signedBy" => parse_signed_by(v),
        "signedBaseLayer" => {
            let [ty, identity] = exact_fields(v, ["type", "baseLayerIdentity"], req_strings)?;
            let ty = go_string(ty, REQ_TYPE)?.unwrap_or_default();
            if ty != "signedBaseLayer" {
                return Err(unexpected_type(&ty));
            }
            Ok(Requirement::SignedBaseLayer {
                base_layer_identity: parse_reference_match(identity)?,
            })
        }
        "sigstoreSigned" => {
            super::sigstore_config::parse(v).map(|r| Requirement::SigstoreSigned(Box::new(r)))
        }
        other => Err(format!("Unknown policy requirement type \"{other}\"")),
    }
}

/// `prSignedBy.UnmarshalJSON` + `newPRSignedBy`.
fn parse_signed_by(v: &JValue) -> Result<Requirement, String> {
    let mut ty = String::new();
    let mut key_type = String::new();
    let (mut key_path, mut key_paths, mut key_data) = (None, None, None);
    let mut identity = None;
    paranoid_object(v, |key, value| {
        match key {
            "type" => ty = go_string(value, REQ_TYPE)?.unwrap_or_default(),
            "keyType" => {
                // sbKeyType.UnmarshalJSON validates while decoding.
                let s = go_string(value, "string")?.unwrap_or_default();
                if KeyType::from_json(&s).is_none() {
                    return Err(format!("Unrecognized keyType value \"{s}\""));
                }
                key_type = s;
            }
            "keyPath" => key_path = Some(go_string(value, "string")?.unwrap_or_default()),
            "keyPaths" => key_paths = Some(go_string_list(value)?),
            "keyData" => key_data = Some(go_bytes(value)?),
            "signedIdentity" => identity = Some(value),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if ty != "signedBy" {
        return Err(unexpected_type(&ty));
    }
    let signed_identity = signed_identity(identity)?;
    let keys = match (key_path, key_paths, key_data) {
        (Some(p), None, None) => (!p.is_empty()).then_some(KeySource::Path(p)),
        (None, Some(ps), None) => ps.map(KeySource::Paths),
        (None, None, Some(d)) => d.map(KeySource::Data),
        (None, None, None) => {
            return Err(
                "Exactly one of keyPath, keyPaths and keyData must be specified, none of them present"
                    .to_string(),
            );
        }
        _ => {
            return Err(
                "Exactly one of keyPath, keyPaths and keyData must be specified, more than one present"
                    .to_string(),
            );
        }
    };
    // newPRSignedBy: keyType validity first, then the key source.
    let Some(key_type) = KeyType::from_json(&key_type) else {
        return Err(format!("invalid keyType \"{key_type}\""));
    };
    let Some(keys) = keys else {
        return Err("exactly one of keyPath, keyPaths and keyData must be specified".to_string());
    };
    Ok(Requirement::SignedBy {
        key_type,
        keys,
        signed_identity,
    })
}
