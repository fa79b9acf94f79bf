//! [`TemplateError`], worded as Go's text/template words its errors.

/// The name skopeo gives its template, which Go puts in every error.
pub(super) const NAME: &str = "skopeo inspect";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template: {NAME}: {0}")]
    Parse(String),
    #[error("template: {NAME}: executing \"{NAME}\" at <{at}>: {message}")]
    Exec { at: String, message: String },
}

pub(super) fn parse_err(m: impl Into<String>) -> TemplateError {
    TemplateError::Parse(m.into())
}

pub(super) fn exec_err(at: &str, m: impl Into<String>) -> TemplateError {
    TemplateError::Exec {
        at: at.to_string(),
        message: m.into(),
    }
}
