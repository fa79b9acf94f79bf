//! [`ManifestError`], the error of reading, parsing and converting manifests.

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported manifest: {0}")]
    Unsupported(String),
    #[error("invalid manifest: {0}")]
    Invalid(String),
    #[error("preparing updated manifest: {0}")]
    Update(String),
    /// A list has no instance for the wanted platform (containers/image's sentence first).
    #[error("{0}")]
    NoMatchingInstance(String),
}
