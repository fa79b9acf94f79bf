//! The policy file: where it is ([`default_policy_path`]), reading and parsing it
//! ([`Policy::load`], [`Policy::parse`]) into a [`Policy`] of requirement lists.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::{PolicyError, go_io_cause};
use super::json;
use super::model::{self, Requirement};
use super::scope;

/// The system-wide policy file used when no user policy exists.
pub const SYSTEM_POLICY_PATH: &str = "/etc/containers/policy.json";

/// The per-user policy file, relative to the home directory.
pub const USER_POLICY_FILE: &str = ".config/containers/policy.json";

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
    pub(super) default: Vec<Requirement>,
    pub(super) transports: BTreeMap<String, TransportScopes>,
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
