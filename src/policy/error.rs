//! [`PolicyError`], the module's one error type, and Go's rendering of OS errors in it.

use std::path::PathBuf;

use super::json;

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
