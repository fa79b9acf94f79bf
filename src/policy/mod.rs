//! Signature policy (containers-policy.json(5)), as skopeo 1.9.3 /
//! containers/image v5.23.1 implement it: locating, strictly parsing,
//! looking up and evaluating the trust policy that gates `copy`.
//!
//! * [`default_policy_path`] / [`Policy::load`] / [`Policy::parse`] — finding
//!   and parsing the file, with c/image's strictness and error texts.
//! * [`Policy::requirements_for`] — scope lookup (see `lookup.rs`).
//! * [`Policy::evaluate`] — the admission decision; only it constructs
//!   [`Admitted`] (see `eval.rs`).
//!
//! Every [`PolicyError`] displays as the complete message skopeo reports
//! (without logrus decoration), e.g.
//! `Error loading trust policy: open /nonexist: no such file or directory`.

mod eval;
mod identity;
pub(crate) mod json;
mod lookup;
mod model;
mod scope;
pub(crate) mod signed_by;
mod sigstore_config;
mod sigstore_signed;
mod syntax;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use eval::{Admitted, PolicyImage};
pub use model::{
    BytesSource, FulcioConfig, KeySource, KeyType, PkiConfig, ReferenceMatch, Requirement,
    SigstoreSigned,
};

/// The system-wide policy file used when no user policy exists.
pub const SYSTEM_POLICY_PATH: &str = "/etc/containers/policy.json";

/// The per-user policy file, relative to the home directory.
pub const USER_POLICY_FILE: &str = ".config/containers/policy.json";

/// Everything that can go wrong loading or applying the policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be opened or read (`op` is `open` or `read`).
    #[error("Error loading trust policy: {op} {}: {cause}", path.display())]
    Read {
        op: &'static str,
        path: PathBuf,
        cause: String,
    },
    /// The file is not a valid policy; `cause` is c/image's text.
    #[error("Error loading trust policy: invalid policy in {}: {cause}", json::go_quote(&path.to_string_lossy()))]
    Invalid { path: PathBuf, cause: String },
    /// A requirement rejected the image; `reason` is c/image's text.
    #[error("Source image rejected: {reason}")]
    Rejected { reason: String },
}

/// Go's rendering of an OS error: the lower-cased strerror text.
pub(crate) fn go_io_cause(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// The policy path skopeo 1.9.3 uses when `--policy` is not given:
/// `$HOME/.config/containers/policy.json` if it exists (stat succeeds),
/// else `/etc/containers/policy.json`.
pub fn default_policy_path(home: Option<&Path>) -> PathBuf {
    if let Some(home) = home {
        let user = home.join(USER_POLICY_FILE);
        if std::fs::metadata(&user).is_ok() {
            return user;
        }
    }
    PathBuf::from(SYSTEM_POLICY_PATH)
}

/// Scopes of one transport: scope (`""` = transport default) → requirements.
pub type TransportScopes = BTreeMap<String, Vec<Requirement>>;

/// A parsed, validated policy. Every requirement list is non-empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    default: Vec<Requirement>,
    transports: BTreeMap<String, TransportScopes>,
}

impl Policy {
    /// Reads and parses the policy at `path` (`NewPolicyFromFile`).
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let read_err = |op, e: std::io::Error| PolicyError::Read {
            op,
            path: path.to_path_buf(),
            cause: go_io_cause(&e),
        };
        let mut file = std::fs::File::open(path).map_err(|e| read_err("open", e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| read_err("read", e))?;
        Policy::parse(&bytes, path)
    }

    /// Parses policy JSON; `origin` names the source in error messages.
    pub fn parse(bytes: &[u8], origin: &Path) -> Result<Policy, PolicyError> {
        Policy::parse_inner(bytes).map_err(|cause| PolicyError::Invalid {
            path: origin.to_path_buf(),
            cause,
        })
    }

    /// The policy `--insecure-policy` stands for: accept everything.
    pub fn insecure_accept_anything() -> Policy {
        Policy {
            default: vec![Requirement::InsecureAcceptAnything],
            transports: BTreeMap::new(),
        }
    }

    /// The `default` requirements.
    pub fn default_requirements(&self) -> &[Requirement] {
        &self.default
    }

    /// The `transports` section: transport name → scopes.
    pub fn transports(&self) -> &BTreeMap<String, TransportScopes> {
        &self.transports
    }

    /// `Policy.UnmarshalJSON` and the nested strict decoders.
    fn parse_inner(bytes: &[u8]) -> Result<Policy, String> {
        let doc = json::parse_document(bytes)?;
        let mut default = None;
        let mut transports = BTreeMap::new();
        json::paranoid_object(&doc, |key, value| {
            match key {
                "default" => default = Some(model::parse_requirements(value)?),
                "transports" => transports = parse_transports(value)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let Some(default) = default else {
            return Err("Default policy is missing".to_string());
        };
        Ok(Policy {
            default,
            transports,
        })
    }
}

/// `policyTransportsMap.UnmarshalJSON`: any transport name is accepted;
/// scopes of transports skopeo knows are validated.
fn parse_transports(v: &json::JValue) -> Result<BTreeMap<String, TransportScopes>, String> {
    let mut out = BTreeMap::new();
    json::paranoid_object(v, |transport, scopes_json| {
        let mut scopes = TransportScopes::new();
        json::paranoid_object(scopes_json, |scope, reqs| {
            if !scope.is_empty() && scope::validate_scope(transport, scope).is_err() {
                // c/image drops the reason and reports an unknown key.
                return Ok(false);
            }
            scopes.insert(scope.to_string(), model::parse_requirements(reqs)?);
            Ok(true)
        })?;
        out.insert(transport.to_string(), scopes);
        Ok(true)
    })?;
    Ok(out)
}
