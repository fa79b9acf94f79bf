//! [`CopyError`], the copy engine's one error type: each failure with the image, blob or
//! side it concerns, its cause typed.

use crate::digest::Digest;
use crate::image::ImageError;
use crate::manifest::ManifestError;
use crate::policy::PolicyError;
use crate::transport::TransportError;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("initializing source {image}: {source}")]
    OpenSource {
        image: String,
        #[source]
        source: TransportError,
    },
    #[error("initializing destination {image}: {source}")]
    OpenDestination {
        image: String,
        #[source]
        source: TransportError,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("reading blob {digest} from the source: {source}")]
    Source {
        digest: Digest,
        #[source]
        source: TransportError,
    },
    #[error("writing blob {digest} to the destination: {source}")]
    Destination {
        digest: Digest,
        #[source]
        source: TransportError,
    },
    #[error("copying blob {digest}: {source}")]
    Blob {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("decrypting layer {digest}: {source}")]
    Decrypt {
        digest: Digest,
        #[source]
        source: crate::crypt::CryptError,
    },
    #[error("encrypting blob {digest}: {source}")]
    Encrypt {
        digest: Digest,
        #[source]
        source: crate::crypt::CryptError,
    },
    #[error("writing manifest: {0}")]
    WriteManifest(#[source] TransportError),
    #[error("writing signatures: {0}")]
    WriteSignatures(#[source] TransportError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "Can not copy signatures to {image}: {reason} (use --remove-signatures to copy the image without them)"
    )]
    Signatures { image: String, reason: String },
    /// `--sign-by` with a destination that cannot store signatures.
    #[error("writing signatures: {0} (the new signature cannot be stored there)")]
    CannotSign(String),
    #[error("creating signature: {0}")]
    Sign(#[source] crate::signature::gpg::GpgError),
    #[error(transparent)]
    SigstoreSign(crate::signature::sigstore::SigstoreError),
    #[error("committing the destination image {image}: {source}")]
    Commit {
        image: String,
        #[source]
        source: TransportError,
    },
    #[error("{0}")]
    Refused(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CopyError {
    /// Whether copying again may succeed (network trouble, 429, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            CopyError::Source { source, .. }
            | CopyError::Destination { source, .. }
            | CopyError::OpenSource { source, .. }
            | CopyError::OpenDestination { source, .. }
            | CopyError::Commit { source, .. }
            | CopyError::WriteManifest(source)
            | CopyError::WriteSignatures(source) => source.is_retryable(),
            CopyError::Image(e) => e.is_retryable(),
            CopyError::Blob { source, .. } => crate::pipeline::is_transient(source),
            _ => false,
        }
    }

    pub(super) fn source(digest: &Digest, source: TransportError) -> CopyError {
        CopyError::Source {
            digest: digest.clone(),
            source,
        }
    }
    pub(super) fn dest(digest: &Digest, source: TransportError) -> CopyError {
        CopyError::Destination {
            digest: digest.clone(),
            source,
        }
    }
    pub(super) fn encrypt(
        layer: &crate::manifest::Descriptor,
        source: crate::crypt::CryptError,
    ) -> CopyError {
        CopyError::Encrypt {
            digest: layer.digest.clone(),
            source,
        }
    }
    pub(super) fn blob(digest: &Digest, source: std::io::Error) -> CopyError {
        CopyError::Blob {
            digest: digest.clone(),
            source,
        }
    }
}
