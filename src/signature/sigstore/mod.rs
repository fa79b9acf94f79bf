//! Sigstore signatures (cosign's simple-signing format), made and checked as
//! containers/image does, without the sigstore crate (which would bring aws-lc back):
//!
//! * `keys`: encrypted private keys (scrypt + NaCl secretbox over PKCS#8), public keys;
//! * `payload`: the signed JSON; `signer`: making signatures (key file, or Fulcio via
//!   `oidc`, optionally logged in `rekor`); `params`: the `--sign-by-sigstore` file;
//! * `verify`: accepting a signature under a `sigstoreSigned` trust root (`fulcio` and
//!   `cert` check certificates offline, `rekor` checks SETs, `jcs` canonicalizes JSON);
//! * `attachments`: the registry form (`sha256-<hex>.sig` tags).

pub mod attachments;
pub(crate) mod cert;
pub mod fulcio;
pub(crate) mod jcs;
pub mod keys;
pub mod oidc;
pub(crate) mod oids;
pub mod params;
pub mod payload;
pub(crate) mod pem;
pub mod rekor;
pub mod signer;
pub mod verify;

pub use keys::{KeyError, PrivateKey, PublicKey};
pub use signer::Signer;
pub use verify::{TrustRoot, verify};

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

/// The HTTP client for Fulcio, Rekor and OIDC issuers (rustls with ring, as registries).
fn http_client() -> Result<reqwest::Client, SigstoreError> {
    crate::transport::install_tls_provider();
    reqwest::Client::builder()
        .user_agent(format!("skiff/{}", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| SigstoreError::Http(e.to_string()))
}
