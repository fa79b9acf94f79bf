//! The one HTTP client setup for Fulcio, Rekor and OIDC issuers.

use super::error::SigstoreError;

/// The HTTP client for Fulcio, Rekor and OIDC issuers (rustls with ring, as registries):
/// one per process (skiff runs one tokio runtime, which its pooled connections live on), so
/// that signing every instance of a list reuses its connections.
pub(super) fn http_client() -> Result<reqwest::Client, SigstoreError> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    crate::transport::install_tls_provider();
    let client = reqwest::Client::builder()
        .user_agent(format!("skiff/{}", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| SigstoreError::Http(e.to_string()))?;
    Ok(CLIENT.get_or_init(|| client).clone())
}
