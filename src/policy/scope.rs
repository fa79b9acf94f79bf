//! Per-transport scope validation, mirroring each c/image v5.23.1 transport's
//! `ValidatePolicyConfigurationScope`, for the transports registered in
//! skopeo 1.9.3. Transports not listed here are unknown to skopeo
//! (`transports.Get` returns nil) and accept every scope unvalidated; this
//! includes `atomic` and `ostree`, which skopeo 1.9.3 does not register.
//!
//! c/image discards the validation error and reports the scope as
//! `Unknown key "<scope>"`; the reasons are kept here for documentation and
//! tests only.

use std::path::{Component, Path};

fn validate_digest(s: &str) -> Result<(), String> {
    crate::reference::docker::validate_digest(s)
        .map(|_| ())
        .map_err(str::to_string)
}

/// Validates a non-empty scope `scope` of transport `transport`.
pub(crate) fn validate_scope(transport: &str, scope: &str) -> Result<(), String> {
    match transport {
        // docker: "FIXME? We could be verifying ..." — accepts everything.
        "docker" => Ok(()),
        "dir" | "sif" => validate_abs_clean(
            scope,
            "Must be an absolute path",
            "non-canonical format, perhaps try",
        ),
        "oci" | "oci-archive" => validate_abs_clean(
            scope,
            "must be an absolute path",
            "non-canonical path format, perhaps try with path",
        ),
        "docker-archive" | "tarball" => Err(format!(
            "{transport}: does not support any scopes except the default \"\" one"
        )),
        "docker-daemon" => match validate_digest(scope) {
            Ok(()) => Err(format!(
                "docker-daemon: can not use algo:digest value {scope} as a namespace"
            )),
            Err(_) => Ok(()),
        },
        "containers-storage" => validate_storage_scope(scope),
        _ => Ok(()),
    }
}

/// Go's `filepath.Clean` for Unix paths.
pub(crate) fn go_clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// dir / sif / oci / oci-archive: absolute, not "/", already clean.
fn validate_abs_clean(scope: &str, not_abs: &str, non_canonical: &str) -> Result<(), String> {
    if !scope.starts_with('/') {
        return Err(format!("Invalid scope {scope}: {not_abs}"));
    }
    if scope == "/" {
        return Err("Invalid scope \"/\": Use the generic default scope \"\"".to_string());
    }
    let cleaned = go_clean(scope);
    if cleaned != scope {
        return Err(format!(
            "Invalid scope {scope}: Uses {non_canonical} {cleaned}"
        ));
    }
    Ok(())
}

fn is_abs(p: &str) -> bool {
    Path::new(p).components().next() == Some(Component::RootDir)
}

/// containers-storage: `[driver@/graph/root]name[:tag][@digest][@id]`.
fn validate_storage_scope(scope: &str) -> Result<(), String> {
    const INVALID: &str = "invalid reference";
    const NOT_ABS: &str = "path is not absolute";
    if !scope.starts_with('[') {
        return Err(INVALID.to_string());
    }
    let close = match scope.find(']') {
        Some(i) if i >= 1 => i,
        _ => return Err(INVALID.to_string()),
    };
    let store_spec = &scope[1..close];
    let rest = &scope[close + 1..];
    let info: Vec<&str> = store_spec.splitn(2, '@').collect();
    match info.as_slice() {
        [root] if !root.is_empty() => {
            if !is_abs(root) {
                return Err(NOT_ABS.to_string());
            }
        }
        [driver, root] if !driver.is_empty() && !root.is_empty() => {
            if !is_abs(root) {
                return Err(NOT_ABS.to_string());
            }
        }
        _ => return Err(INVALID.to_string()),
    }
    if rest.is_empty() {
        return Ok(());
    }
    let image_id = |id: &str| validate_digest(&format!("sha256:{id}"));
    let fields: Vec<&str> = rest.splitn(3, '@').collect();
    match fields.as_slice() {
        [_] => Ok(()),
        [_, id_or_digest] => match (image_id(id_or_digest), validate_digest(id_or_digest)) {
            (Err(id_err), Err(digest_err)) => Err(format!(
                "{id_or_digest} is neither a valid digest({digest_err}) nor a valid ID({id_err})"
            )),
            _ => Ok(()),
        },
        [_, digest, id] => {
            validate_digest(digest)?;
            image_id(id)
        }
        _ => Err("Internal error: unexpected number of fields".to_string()),
    }
}
