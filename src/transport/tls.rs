//! The process-wide TLS crypto provider, installed before any HTTP client is built.

/// Makes ring rustls's process-wide crypto provider (once; later calls do nothing).
/// Every HTTP client is built after this.
pub(crate) fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if a provider is already installed, which is what we want anyway.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
