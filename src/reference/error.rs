//! [`ReferenceError`], the module's one error type, with c/image's text, and its coarse
//! [`ErrorKind`].

/// What went wrong, coarsely; the message has the detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No `transport:` prefix at all.
    MissingTransport,
    /// A prefix that is not a transport name.
    UnknownTransport,
    /// A transport skopeo knows but skiff does not implement (ostree).
    UnsupportedTransport,
    /// The transport-specific part is malformed (docker grammar, oci ref, index, …).
    InvalidReference,
    /// A `dir:`/`oci:`/`oci-archive:` path could not be resolved (missing parent, …).
    Path,
}

/// The single error type of this module. `Display` is c/image's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReferenceError {
    kind: ErrorKind,
    input: String,
    message: String,
}

impl ReferenceError {
    pub(crate) fn new(kind: ErrorKind, input: &str, message: String) -> ReferenceError {
        ReferenceError {
            kind,
            input: input.to_string(),
            message,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The string that failed to parse (the part handed to the failing parser).
    pub fn input(&self) -> &str {
        &self.input
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Re-attribute the error to a larger input (e.g. the whole image name).
    pub(crate) fn with_input(mut self, input: &str) -> ReferenceError {
        self.input = input.to_string();
        self
    }
}
