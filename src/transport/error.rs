//! [`TransportError`], the error every transport returns: each transport's own error as
//! its typed cause, so callers decide by type (status, retryable) and print the cause's
//! words unchanged.

use std::io;

use super::daemon;

use super::docker;

use super::docker_archive;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The cause is written as Go writes OS errors ("no such file or directory"), so
    /// skopeo's sentences come out verbatim.
    #[error("{context}: {}", crate::reference::go_errno_text(source))]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The image itself is not there (a registry's MANIFEST_UNKNOWN, an `oci:` reference
    /// missing from index.json): skopeo's "image not found", exit status 2.
    #[error("{0}")]
    ImageNotFound(String),
    #[error("not supported yet: {0}")]
    NotSupportedYet(String),
    #[error("{0}")]
    Unsupported(String),
    /// A registry's answer, or a failure on the way to it (`docker://`), with its
    /// configuration (registries.conf, auth files, certs.d).
    #[error(transparent)]
    Registry(#[from] docker::RegistryError),
    /// The Docker Engine API (`docker-daemon:`).
    #[error(transparent)]
    Daemon(#[from] daemon::DaemonError),
    /// A docker archive (`docker-archive:`, and what a daemon sends).
    #[error(transparent)]
    Archive(#[from] docker_archive::ArchiveError),
    /// The destination refused the manifest's type (HTTP 400/415, MANIFEST_INVALID): the
    /// copy may try another format. The variant is the classification; the text is the
    /// destination's answer.
    #[error("{0}")]
    ManifestRefused(String),
}

impl TransportError {
    pub fn io(context: impl Into<String>, source: io::Error) -> TransportError {
        TransportError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether trying the same operation again may succeed (network trouble, 429, 5xx):
    /// the typed cause decides.
    pub fn is_retryable(&self) -> bool {
        match self {
            TransportError::Registry(e) => e.retryable(),
            TransportError::Daemon(e) => e.retryable(),
            TransportError::Archive(e) => e.retryable(),
            TransportError::Io { source, .. } => crate::pipeline::is_transient(source),
            _ => false,
        }
    }

    /// Whether the image itself is not there: skopeo's exit status 2 (a registry's
    /// MANIFEST_UNKNOWN, an `oci:` reference missing from its layout or archive).
    pub fn is_image_not_found(&self) -> bool {
        match self {
            TransportError::ImageNotFound(_) => true,
            TransportError::Registry(e) => e.is_manifest_unknown(),
            _ => false,
        }
    }

    /// The registry error behind this one, if a registry caused it.
    pub fn registry(&self) -> Option<&docker::RegistryError> {
        match self {
            TransportError::Registry(e) => Some(e),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, TransportError>;
