//! [`SigstoreError`], the error of making signatures and of talking to Fulcio, Rekor or an
//! OIDC issuer.

/// Setting up or using a signer, or talking to Fulcio, Rekor or an OIDC issuer. The
/// texts are containers/image's.
#[derive(Debug, thiserror::Error)]
pub enum SigstoreError {
    #[error("{0}")]
    Setup(String),
    #[error("creating signature: {0}")]
    Sign(String),
    #[error("{0}")]
    Fulcio(String),
    #[error("{0}")]
    Rekor(String),
    #[error("setting up an HTTP client: {0}")]
    Http(String),
}
