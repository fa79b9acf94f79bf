//! `docker://`: images in a registry speaking the OCI distribution / Docker Registry v2 API.
//!
//! `client` talks HTTP (auth, retries), `source` reads manifests and blobs (with Range
//! resume), `destination` uploads (cross-repository mount, streaming or chunked PATCH) and
//! puts the manifest last, so a failed copy never publishes a tag.

mod api;
mod attachments;
mod auth;
mod client;
mod destination;
mod endpoint;
mod lookaside;
mod source;

use reqwest::{Response, StatusCode};
use serde::Deserialize;

pub use api::{AuthCheck, check_auth, credential_helpers, delete_image, list_tags};
pub use auth::Credentials;
pub use destination::DockerDestination;
pub use endpoint::RegistryOptions;
pub use source::DockerSource;

use super::TransportError;

/// Every manifest type skiff understands, for the Accept header.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v1+prettyjws, application/vnd.docker.distribution.manifest.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("pinging container registry {host}: {detail}")]
    Ping {
        host: String,
        detail: String,
        retryable: bool,
    },
    #[error("{context}: {message} (HTTP {status})")]
    Http {
        context: String,
        status: u16,
        message: String,
    },
    #[error("{context}: {detail}")]
    Network {
        context: String,
        detail: String,
        retryable: bool,
    },
    #[error("{0}")]
    Auth(String),
    /// The registry or its token server refused the credentials.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Config(String),
}

/// Whether `e` is rustls finding no TLS record where one was due: the server answered in
/// plain HTTP. (An io::Error hides its inner error from `source()`: look inside too.)
fn is_plain_http_answer(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut e = e;
    // hyper-util wraps rustls' error in two io::Errors.
    while let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        e = inner;
    }
    matches!(
        e.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
        ))
    )
}

/// The HTTP statuses worth asking again: timeout, rate limit, server-side trouble.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

impl RegistryError {
    pub fn retryable(&self) -> bool {
        match self {
            RegistryError::Ping { retryable, .. } | RegistryError::Network { retryable, .. } => {
                *retryable
            }
            RegistryError::Http { status, .. } => is_retryable_status(*status),
            _ => false,
        }
    }

    fn network(context: &str, e: reqwest::Error) -> RegistryError {
        // Name the innermost cause (e.g. "invalid peer certificate: UnknownIssuer").
        let mut detail = e.to_string();
        let mut plain_http = false;
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            plain_http |= is_plain_http_answer(s);
            source = s.source();
        }
        if plain_http {
            // skopeo's words for the usual mistake: TLS spoken to a plain-HTTP registry.
            detail.push_str(" (http: server gave HTTP response to HTTPS client)");
        }
        let retryable = (e.is_connect() || e.is_timeout() || e.is_body() || e.is_request())
            && !detail.contains("certificate")
            && !plain_http;
        RegistryError::Network {
            context: context.to_string(),
            detail,
            retryable,
        }
    }

    /// Turns an error response into a message, using the registry's error JSON if present.
    async fn from_response(context: &str, resp: Response) -> RegistryError {
        let status = resp.status();
        let body = client::read_small(resp, "error response")
            .await
            .unwrap_or_default();
        RegistryError::Http {
            context: context.to_string(),
            status: status.as_u16(),
            message: describe_errors(status, &body),
        }
    }
}

impl From<RegistryError> for TransportError {
    fn from(e: RegistryError) -> TransportError {
        TransportError::Remote {
            retryable: e.retryable(),
            message: e.to_string(),
        }
    }
}

/// `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}` -> "manifest unknown".
fn describe_errors(status: StatusCode, body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        detail: serde_json::Value,
    }
    let parsed: Option<Errors> = serde_json::from_slice(body).ok();
    let described: Vec<String> = parsed
        .map(|e| e.errors)
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let text = match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => {
                    format!("{}: {}", e.code.to_lowercase().replace('_', " "), e.message)
                }
                (false, true) => e.code.to_lowercase().replace('_', " "),
                _ => e.message,
            };
            // distribution puts the useful part in a string detail ("manifest schema v1 unsupported").
            match e.detail.as_str() {
                Some(d) if !d.is_empty() => format!("{text} ({d})"),
                _ => text,
            }
        })
        .collect();
    if !described.is_empty() {
        return described.join("; ");
    }
    match status {
        StatusCode::UNAUTHORIZED => "authentication required".into(),
        StatusCode::FORBIDDEN => "access denied".into(),
        StatusCode::NOT_FOUND => "not found".into(),
        s => s
            .canonical_reason()
            .unwrap_or("unexpected status")
            .to_lowercase(),
    }
}

/// Scope strings for token requests.
fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_registry_errors() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            describe_errors(StatusCode::NOT_FOUND, body),
            "manifest unknown: manifest unknown"
        );
        assert_eq!(
            describe_errors(StatusCode::UNAUTHORIZED, b""),
            "authentication required"
        );
        assert_eq!(
            describe_errors(StatusCode::BAD_GATEWAY, b"<html>"),
            "bad gateway"
        );
    }

    #[test]
    fn classifies_retries() {
        let e = RegistryError::Http {
            context: "x".into(),
            status: 429,
            message: String::new(),
        };
        assert!(e.retryable());
        let e = RegistryError::Http {
            context: "x".into(),
            status: 404,
            message: String::new(),
        };
        assert!(!e.retryable());
        assert!(!RegistryError::Auth("x".into()).retryable());
    }
}
