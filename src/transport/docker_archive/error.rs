//! [`ArchiveError`], the error type of `docker-archive:` reading and writing.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive itself cannot be opened (containers/image's words).
    #[error("opening file {:?}: open {}: {}", archive.display().to_string(), archive.display(), crate::reference::go_errno_text(source))]
    Open {
        archive: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{action} archive {}: {}", archive.display(), crate::reference::go_errno_text(source))]
    Io {
        archive: PathBuf,
        action: String,
        #[source]
        source: io::Error,
    },
    #[error("archive {}: {message}", archive.display())]
    Invalid { archive: PathBuf, message: String },
    #[error("archive {}: {name:?} is not in the archive", archive.display())]
    Missing { archive: PathBuf, name: String },
    /// No image in the archive matches the name's `:NAME:TAG` or `:@N` (containers/image's
    /// sentence; the archive is in the image name).
    #[error("{message}")]
    Choose { archive: PathBuf, message: String },
    #[error("writing docker archive {}: {message}", target.display())]
    Write { target: PathBuf, message: String },
}

impl ArchiveError {
    pub fn io(archive: &Path, action: &str, source: io::Error) -> ArchiveError {
        ArchiveError::Io {
            archive: archive.to_path_buf(),
            action: action.to_string(),
            source,
        }
    }
}

impl ArchiveError {
    /// Whether reading again may succeed (an interrupted read of the archive).
    pub fn retryable(&self) -> bool {
        match self {
            ArchiveError::Io { source, .. } => crate::pipeline::is_transient(source),
            _ => false,
        }
    }
}

/// A write error for the archive at `target`.
pub(super) fn werr(target: &Path, message: impl Into<String>) -> ArchiveError {
    ArchiveError::Write {
        target: target.to_path_buf(),
        message: message.into(),
    }
}
