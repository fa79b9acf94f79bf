//! What every part of the registry client says the same way: the manifest types skiff
//! accepts, the scopes it asks tokens for, where an upload continues.

use super::error::RegistryError;

/// Every manifest type skiff understands, for the Accept header.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v1+prettyjws, application/vnd.docker.distribution.manifest.v1+json";

/// Scope strings for token requests.
pub(super) fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

pub(super) fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

/// The upload `Location` of `resp`, resolved against the URL of the request it answers
/// (a relative one after a PATCH to another host stays on that host).
pub(super) fn upload_location(
    resp: &reqwest::Response,
    context: &str,
) -> Result<String, RegistryError> {
    let raw = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            RegistryError::Protocol(format!("{context}: the registry sent no upload Location"))
        })?;
    resp.url().join(raw).map(String::from).map_err(|e| {
        RegistryError::Protocol(format!("{context}: bad upload Location {raw:?}: {e}"))
    })
}
