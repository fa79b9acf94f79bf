//! `containers-storage:[driver@graphroot+runroot:opts]NAME[@ID]` (c/image
//! `storage/storage_transport.go` and `storage_reference.go`).
//!
//! c/image opens the store while parsing, and resolves truncated image IDs (and bare
//! ID prefixes without a leading `@`) by looking them up in it. `parse` is the syntax
//! alone (a bare hex string is a name, as when the store has no matching image);
//! `parse_with_lookup` is given the store's IDs (transport::storage resolves names).

use std::path::{Path, PathBuf};

use super::docker::{DockerRef, parse_digest};
use super::error::ErrorKind;
use super::error::ReferenceError;
use super::name::ImageName;
use super::name::StorageRef;

/// c/storage defaults for root, used for policy identities when the user gave no store.
pub const DEFAULT_DRIVER: &str = "overlay";
pub const DEFAULT_GRAPH_ROOT: &str = "/var/lib/containers/storage";

fn invalid(input: &str, message: String) -> ReferenceError {
    ReferenceError::new(ErrorKind::InvalidReference, input, message)
}

fn invalid_reference(input: &str) -> ReferenceError {
    invalid(input, "invalid reference".to_string())
}

pub(super) fn parse(reference: &str) -> Result<ImageName, ReferenceError> {
    parse_with_lookup(reference, &|_| None).map(ImageName::ContainersStorage)
}

/// c/image `ParseReference`, with `lookup` answering "the full ID of the one image whose ID
/// starts with this", as the store does.
pub fn parse_with_lookup(
    reference: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<StorageRef, ReferenceError> {
    let mut out = StorageRef::default();
    let mut rest = reference;
    if let Some(after) = rest.strip_prefix('[') {
        let Some(close) = after.find(']') else {
            return Err(invalid_reference(reference));
        };
        parse_store_spec(&after[..close], &mut out).map_err(|e| e.with_input(reference))?;
        rest = &after[close + 1..];
    }
    parse_store_reference(rest, out, lookup)
}

/// `[driver@]graphroot[+runroot][:opt,opt]` (the part between the brackets).
fn parse_store_spec(spec: &str, out: &mut StorageRef) -> Result<(), ReferenceError> {
    let mut spec = spec;
    match spec.split_once('@') {
        None if spec.is_empty() => return Err(invalid_reference(spec)),
        None => {}
        Some((driver, root)) => {
            if driver.is_empty() || root.is_empty() {
                return Err(invalid_reference(spec));
            }
            out.driver = Some(driver.to_string());
            spec = root;
        }
    }
    if let Some((root, opts)) = spec.split_once(':') {
        out.options = opts.split(',').map(str::to_string).collect();
        spec = root;
    }
    let (graph_root, run_root) = spec.split_once('+').unwrap_or((spec, ""));
    for p in [graph_root, run_root] {
        if !p.is_empty() && !p.starts_with('/') {
            return Err(invalid(p, "path name is not absolute".to_string()));
        }
    }
    out.graph_root = (!graph_root.is_empty()).then(|| PathBuf::from(graph_root));
    out.run_root = (!run_root.is_empty()).then(|| PathBuf::from(run_root));
    Ok(())
}

/// The shortest image ID prefix c/image looks up.
const MINIMUM_TRUNCATED_ID_LENGTH: usize = 3;

/// c/image `ParseStoreReference`.
fn parse_store_reference(
    reference: &str,
    mut out: StorageRef,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<StorageRef, ReferenceError> {
    let mut r = reference;
    if r.is_empty() {
        return Err(invalid(
            r,
            format!("{r:?} is an empty reference: invalid reference"),
        ));
    }
    if let Some(after) = r.strip_prefix('[') {
        match after.find(']') {
            Some(close) => r = &after[close + 1..],
            None => {
                return Err(invalid(
                    r,
                    format!("store specifier in {r:?} did not end: invalid reference"),
                ));
            }
        }
    }
    if let Some(split) = r.rfind('@') {
        let possible_id = &r[split + 1..];
        if possible_id.is_empty() {
            return Err(invalid(
                r,
                format!("empty trailing digest or ID in {r:?}: invalid reference"),
            ));
        }
        if parse_digest(possible_id).is_err() {
            let full = if is_full_id(possible_id) {
                Some(possible_id.to_string())
            } else if possible_id.len() >= MINIMUM_TRUNCATED_ID_LENGTH {
                lookup(possible_id)
            } else {
                None
            };
            let Some(full) = full else {
                return Err(invalid(
                    possible_id,
                    format!(
                        "{possible_id:?} does not look like an image ID or digest: invalid reference"
                    ),
                ));
            };
            out.id = Some(full);
            r = &r[..split];
        }
    }
    // A bare string may be the prefix of an image's ID rather than a name.
    if out.id.is_none()
        && r.len() >= MINIMUM_TRUNCATED_ID_LENGTH
        && !r.contains(['@', ':'])
        && let Some(full) = lookup(r)
    {
        out.id = Some(full);
        r = "";
    }
    if !r.is_empty() {
        let named = DockerRef::parse_normalized(r)
            .map_err(|e| invalid(r, format!("parsing named reference {r:?}: {e}")))?
            .with_default_tag();
        out.reference = Some(named);
    }
    if out.reference.is_none() && out.id.is_none() {
        return Err(invalid_reference(reference));
    }
    Ok(out)
}

/// c/image `validateImageID`: `sha256:`+id must be a valid digest.
fn is_full_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn path_str(p: &Option<PathBuf>) -> String {
    p.as_deref()
        .map(Path::display)
        .map(|d| d.to_string())
        .unwrap_or_default()
}

impl StorageRef {
    /// The bracketed store specifier as the user gave it (empty if none). c/image
    /// prints the opened store's actual driver and roots here instead.
    pub fn store_spec(&self) -> String {
        if self.driver.is_none()
            && self.graph_root.is_none()
            && self.run_root.is_none()
            && self.options.is_empty()
        {
            return String::new();
        }
        let mut s = String::from("[");
        if let Some(d) = &self.driver {
            s.push_str(d);
            s.push('@');
        }
        s.push_str(&path_str(&self.graph_root));
        if self.run_root.is_some() {
            s.push('+');
            s.push_str(&path_str(&self.run_root));
        }
        if !self.options.is_empty() {
            s.push(':');
            s.push_str(&self.options.join(","));
        }
        s.push(']');
        s
    }

    fn name_and_id(&self) -> String {
        let mut s = self
            .reference
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        if let Some(id) = &self.id {
            s.push('@');
            s.push_str(id);
        }
        s
    }

    pub(super) fn string_within_transport(&self) -> String {
        format!("{}{}", self.store_spec(), self.name_and_id())
    }

    /// `[driver@graphroot]`, with c/storage's root defaults for missing parts.
    fn policy_store_spec(&self) -> String {
        let driver = self.driver.as_deref().unwrap_or(DEFAULT_DRIVER);
        let root = match &self.graph_root {
            Some(p) => p.display().to_string(),
            None => DEFAULT_GRAPH_ROOT.to_string(),
        };
        format!("[{driver}@{root}]")
    }

    pub(super) fn policy_identity(&self) -> String {
        format!("{}{}", self.policy_store_spec(), self.name_and_id())
    }

    pub(super) fn policy_namespaces(&self) -> Vec<String> {
        let store = self.policy_store_spec();
        let root = match &self.graph_root {
            Some(p) => p.display().to_string(),
            None => DEFAULT_GRAPH_ROOT.to_string(),
        };
        let mut res = Vec::new();
        if let Some(named) = &self.reference {
            if self.id.is_some() {
                res.push(format!("{store}{named}"));
            }
            if let (Some(tag), Some(_)) = (named.tag(), named.digest()) {
                res.push(format!("{store}{}:{tag}", named.name()));
            }
            let name = named.name();
            let mut components: Vec<&str> = name.split('/').collect();
            while !components.is_empty() {
                res.push(format!("{store}{}", components.join("/")));
                components.pop();
            }
        }
        res.push(store);
        res.push(format!("[{root}]"));
        res
    }
}
