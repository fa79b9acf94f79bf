//! `docker-archive:` — the tar files `docker save` writes and `docker load` reads: a
//! `manifest.json` listing each image's config file, tags and layer files (plain tars,
//! named `<id>/layer.tar`, `<digest>.tar` or `blobs/sha256/<digest>`), plus the legacy
//! `repositories` file.
//!
//! Reading indexes the tar once and serves files by offset (`tarindex`). Writing spools
//! blobs into a temp directory and builds the tar at commit (`writer`), beside the target
//! and renamed into place, or streamed when the target is not a regular file. The same
//! source and writer serve `docker-daemon:`, whose API speaks this format.

mod dest;
mod extend;
mod format;
mod source;
mod tarheaders;
pub(crate) mod tarindex;
pub(crate) use tarindex::TarIndex;
mod writer;

use std::io;
use std::path::{Path, PathBuf};

pub use dest::{ArchiveDestination, DestOptions, Sink};
pub use source::{ArchiveSource, list_tags};
// oci-archive writes its tar with the same kernel-copying entry writer.
pub(crate) use source::scan_source;
pub(crate) use writer::append_from;

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
