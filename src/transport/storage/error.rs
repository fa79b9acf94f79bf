//! [`StorageError`], the error type of `containers-storage:`, and how it maps onto the
//! transport's error kinds.

use std::io;

use super::apply;
use crate::transport::error::TransportError;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// storage.conf or the store's options.
    #[error("{0}")]
    Config(String),
    /// A record file or big-data item that cannot be read as containers/storage writes it.
    #[error("{0}")]
    Corrupt(String),
    /// containers/image's "does not resolve to an image ID" and friends.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("not supported yet: {0}")]
    NotSupportedYet(String),
    #[error("{context}: {source}")]
    Apply {
        context: String,
        #[source]
        source: apply::ApplyError,
    },
    /// From the transports' shared file helpers (temp files).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl StorageError {
    pub(super) fn io(context: impl Into<String>, source: io::Error) -> StorageError {
        StorageError::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

impl From<StorageError> for TransportError {
    fn from(e: StorageError) -> TransportError {
        match e {
            StorageError::Io { context, source } => TransportError::Io { context, source },
            StorageError::NotFound(m) => TransportError::NotFound(m),
            StorageError::NotSupportedYet(m) => TransportError::NotSupportedYet(m),
            StorageError::Transport(e) => e,
            StorageError::Apply { context, source } => match source {
                // The stream's own failure (a digest mismatch, a dropped connection) keeps
                // its kind, so the copy can tell whether a retry may help.
                apply::ApplyError::Tar(e) => TransportError::Io { context, source: e },
                other => TransportError::Invalid(format!("{context}: {other}")),
            },
            other => TransportError::Invalid(other.to_string()),
        }
    }
}
