//! The one HTTP client setup for Fulcio, Rekor and OIDC issuers.

use super::error::SigstoreError;

/// The HTTP client for Fulcio, Rekor and OIDC issuers (rustls with ring, as registries).
pub(super) fn http_client() -> Result<reqwest::Client, SigstoreError> {
    crate::transport::install_tls_provider();
    reqwest::Client::builder()
        .user_agent(format!("skiff/{}", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| SigstoreError::Http(e.to_string()))
}
