//! The strict policy.json model: requirement and identity-match types, and
//! their parsing with c/image v5.23.1's rules and error texts
//! (`signature/policy_config.go`).

use super::json::{JValue, exact_fields, go_base64, go_string, paranoid_object, type_error};
pub use super::sigstore_config::{BytesSource, FulcioConfig, PkiConfig, SigstoreSigned};
use crate::reference::DockerRef;
use crate::reference::docker::{has_domain_prefix, is_domain, is_name};

fn parse_normalized_named(s: &str) -> Result<DockerRef, String> {
    DockerRef::parse_normalized(s).map_err(|e| e.message().to_string())
}

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

/// A `signedIdentity` / `baseLayerIdentity` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceMatch {
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    ExactReference {
        docker_reference: String,
    },
    ExactRepository {
        docker_repository: String,
    },
    RemapIdentity {
        prefix: String,
        signed_prefix: String,
    },
}

pub(super) const REQ_TYPE: &str = "signature.prTypeIdentifier";
const PRM_TYPE: &str = "signature.prmTypeIdentifier";

/// The lenient first pass c/image uses to pick the implementation: Go's
/// `json.Unmarshal` into a one-field struct (case-insensitive key match, last
/// one wins, any kind mismatch is an error).
fn discover_type(v: &JValue, go_struct: &str, go_type: &str) -> Result<String, String> {
    let mut found = String::new();
    match v {
        JValue::Object(members) => {
            for (k, val) in members {
                if !k.eq_ignore_ascii_case("type") {
                    continue;
                }
                match val {
                    JValue::String(s) => found = s.clone(),
                    JValue::Null => {}
                    other => {
                        return Err(format!(
                            "json: cannot unmarshal {} into Go struct field {go_struct}.type of type {go_type}",
                            other.kind()
                        ));
                    }
                }
            }
        }
        JValue::Null => {}
        other => return Err(type_error(other, &format!("signature.{go_struct}"))),
    }
    Ok(found)
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

/// In-order decoding of identity-match fields: all are strings.
fn prm_strings(key: &str, v: &JValue) -> Result<(), String> {
    let go_type = if key == "type" { PRM_TYPE } else { "string" };
    go_string(v, go_type).map(drop)
}

pub(super) fn unexpected_type(t: &str) -> String {
    format!("Unexpected policy requirement type \"{t}\"")
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

/// A Go `[]byte` field: base64 text; `null` leaves it nil.
pub(super) fn go_bytes(v: &JValue) -> Result<Option<Vec<u8>>, String> {
    match v {
        JValue::Null => Ok(None),
        JValue::String(s) => go_base64(s).map(Some),
        other => Err(type_error(other, "[]uint8")),
    }
}

/// A Go `[]string` field; `null` leaves it nil.
pub(super) fn go_string_list(v: &JValue) -> Result<Option<Vec<String>>, String> {
    match v {
        JValue::Null => Ok(None),
        JValue::Array(items) => items
            .iter()
            .map(|i| go_string(i, "string").map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(type_error(other, "[]string")),
    }
}

/// Parses `signedIdentity`, defaulting to `matchRepoDigestOrExact` if absent.
pub(super) fn signed_identity(v: Option<&JValue>) -> Result<ReferenceMatch, String> {
    match v {
        None => Ok(ReferenceMatch::MatchRepoDigestOrExact),
        Some(v) => parse_reference_match(v),
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

/// `validateIdentityRemappingPrefix`.
fn validate_remap_prefix(s: &str) -> Result<(), String> {
    if is_domain(s) || (is_name(s) && has_domain_prefix(s)) {
        Ok(())
    } else {
        Err(format!("prefix \"{s}\" is not valid"))
    }
}

/// `newPolicyReferenceMatchFromJSON`.
pub(crate) fn parse_reference_match(v: &JValue) -> Result<ReferenceMatch, String> {
    let t = discover_type(v, "prmCommon", PRM_TYPE)?;
    let check_type = |ty: &JValue| -> Result<(), String> {
        let ty = go_string(ty, PRM_TYPE)?.unwrap_or_default();
        if ty == t {
            Ok(())
        } else {
            Err(unexpected_type(&ty))
        }
    };
    let str_field = |f: &JValue| go_string(f, "string").map(Option::unwrap_or_default);
    match t.as_str() {
        "matchExact" | "matchRepoDigestOrExact" | "matchRepository" => {
            let [ty] = exact_fields(v, ["type"], prm_strings)?;
            check_type(ty)?;
            Ok(match t.as_str() {
                "matchExact" => ReferenceMatch::MatchExact,
                "matchRepoDigestOrExact" => ReferenceMatch::MatchRepoDigestOrExact,
                _ => ReferenceMatch::MatchRepository,
            })
        }
        "exactReference" => {
            let [ty, r] = exact_fields(v, ["type", "dockerReference"], prm_strings)?;
            let r = str_field(r)?;
            check_type(ty)?;
            let named = parse_normalized_named(&r)
                .map_err(|e| format!("Invalid format of dockerReference {r}: {e}"))?;
            if named.is_name_only() {
                return Err(format!(
                    "dockerReference {r} contains neither a tag nor digest"
                ));
            }
            Ok(ReferenceMatch::ExactReference {
                docker_reference: r,
            })
        }
        "exactRepository" => {
            let [ty, r] = exact_fields(v, ["type", "dockerRepository"], prm_strings)?;
            let r = str_field(r)?;
            check_type(ty)?;
            parse_normalized_named(&r)
                .map_err(|e| format!("Invalid format of dockerRepository {r}: {e}"))?;
            Ok(ReferenceMatch::ExactRepository {
                docker_repository: r,
            })
        }
        "remapIdentity" => {
            let [ty, p, sp] = exact_fields(v, ["type", "prefix", "signedPrefix"], prm_strings)?;
            let (prefix, signed_prefix) = (str_field(p)?, str_field(sp)?);
            check_type(ty)?;
            validate_remap_prefix(&prefix)?;
            validate_remap_prefix(&signed_prefix)?;
            Ok(ReferenceMatch::RemapIdentity {
                prefix,
                signed_prefix,
            })
        }
        other => Err(format!("Unknown policy reference match type \"{other}\"")),
    }
}
