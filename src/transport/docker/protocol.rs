//! What every part of the registry client says the same way: the manifest types skiff
//! accepts, and the scopes it asks tokens for.

/// Every manifest type skiff understands, for the Accept header.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v1+prettyjws, application/vnd.docker.distribution.manifest.v1+json";

/// Scope strings for token requests.
pub(super) fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

pub(super) fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}
