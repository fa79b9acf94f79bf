//! [`RegistryError`], what went wrong talking to a registry, with its cause typed (HTTP
//! status and error codes, reqwest, I/O, configuration); how Go would have worded network
//! failures, and which statuses are worth a retry.

use reqwest::StatusCode;
use serde::Deserialize;

use crate::config::ConfigError;

/// What went wrong talking to a registry. Each variant keeps its cause typed (the HTTP
/// status and the registry's error codes, the reqwest or I/O error, the configuration
/// error), so callers decide by type, never by searching the message.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("pinging container registry {host}: {source}")]
    Ping {
        host: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("{context}: {message} (HTTP {status})")]
    Http {
        context: String,
        status: u16,
        /// The registry's error entries, described (`describe_errors`).
        message: String,
        /// The entries' codes as sent (`MANIFEST_INVALID`, ...).
        codes: Vec<String>,
    },
    /// No answer: the connection, TLS handshake or body transfer failed. `detail` names
    /// the innermost cause; `source` is reqwest's error.
    #[error("{context}: {detail}")]
    Network {
        context: String,
        detail: String,
        retryable: bool,
        #[source]
        source: reqwest::Error,
    },
    #[error("{0}")]
    Auth(String),
    /// The registry's token server refused the credentials (HTTP 401 or 403).
    #[error("{message}")]
    Unauthorized { message: String, status: u16 },
    /// TLS material (CA, client certificate or key) that cannot be read or used.
    #[error("{context}: {source}")]
    Tls {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{0}")]
    Protocol(String),
    /// registries.conf, auth files, credential helpers or certs.d.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// HTTP 413 on a single-request upload: the blob is sent again in chunks.
    #[error(
        "{context}: the registry refused a single-request upload (HTTP 413); retrying in {} MiB chunks",
        chunk >> 20
    )]
    UploadTooLarge { context: String, chunk: usize },
    /// A lookaside signature store answered other than 200 or 404 (c/image's text).
    #[error(
        "reading signature from {url}: status {} ({})",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )]
    LookasideStatus { url: String, status: StatusCode },
    /// skopeo's `Failed to delete WHAT: BODY (STATUS)`.
    #[error("Failed to delete {what}: {body} ({status})")]
    DeleteFailed {
        what: String,
        body: String,
        status: StatusCode,
    },
}

/// The rustls error inside `e`, if it is one. (An io::Error hides its inner error from
/// `source()`: look inside too; hyper-util wraps rustls' error in two io::Errors.)
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut e = e;
    while let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        e = inner;
    }
    e.downcast_ref::<rustls::Error>()
}

/// Whether `e` is rustls finding no TLS record where one was due: the server answered in
/// plain HTTP.
fn is_plain_http_answer(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        rustls_error(e),
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
        ))
    )
}

/// Go's `Get "URL"` and `dial tcp HOST:PORT: connect: connection refused`, when that is
/// what happened (`context` starts with the request's method).
fn go_connection_refused(context: &str, e: &reqwest::Error) -> Option<(String, String)> {
    let mut source = std::error::Error::source(e);
    let mut refused = false;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        source = s.source();
    }
    let url = e.url()?;
    if !refused {
        return None;
    }
    let method = context.split(' ').next().unwrap_or("GET");
    let mut go_method = method.to_lowercase();
    if let Some(first) = go_method.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let port = url.port_or_known_default()?;
    let host = url.host_str()?;
    Some((
        format!("{go_method} \"{url}\""),
        format!("dial tcp {host}:{port}: connect: connection refused"),
    ))
}

/// Whether `e` is the peer's certificate failing verification: asking again cannot help.
fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        rustls_error(e),
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::InvalidCertRevocationList(_))
    )
}

/// The HTTP statuses worth asking again: timeout, rate limit, server-side trouble.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

impl RegistryError {
    /// The registry answered MANIFEST_UNKNOWN: the image (tag, digest or repository) is
    /// not there. skopeo exits 2 on it.
    pub fn is_manifest_unknown(&self) -> bool {
        matches!(self, RegistryError::Http { codes, .. } if codes.iter().any(|c| c == "MANIFEST_UNKNOWN"))
    }

    /// Whether the same request may succeed later (network trouble, 408, 429, 5xx), or,
    /// for a 413, succeed in chunks.
    pub fn retryable(&self) -> bool {
        match self {
            RegistryError::Ping { source, .. } => source.retryable(),
            RegistryError::Network { retryable, .. } => *retryable,
            RegistryError::Http { status, .. } => is_retryable_status(*status),
            RegistryError::DeleteFailed { status, .. }
            | RegistryError::LookasideStatus { status, .. } => is_retryable_status(status.as_u16()),
            RegistryError::UploadTooLarge { .. } => true,
            _ => false,
        }
    }

    /// The HTTP status the registry (or its token server) answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Ping { source, .. } => source.status(),
            RegistryError::Http { status, .. } | RegistryError::Unauthorized { status, .. } => {
                Some(*status)
            }
            RegistryError::DeleteFailed { status, .. }
            | RegistryError::LookasideStatus { status, .. } => Some(status.as_u16()),
            RegistryError::UploadTooLarge { .. } => Some(413),
            _ => None,
        }
    }

    /// Whether the registry's error answer carries `code` (`MANIFEST_INVALID`, ...).
    pub fn has_code(&self, code: &str) -> bool {
        match self {
            RegistryError::Http { codes, .. } => codes.iter().any(|c| c == code),
            _ => false,
        }
    }

    pub(super) fn network(context: &str, e: reqwest::Error) -> RegistryError {
        // Name the innermost cause (e.g. "invalid peer certificate: UnknownIssuer").
        let mut detail = e.to_string();
        let mut plain_http = false;
        let mut certificate = false;
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            plain_http |= is_plain_http_answer(s);
            certificate |= is_certificate_error(s);
            source = s.source();
        }
        if plain_http {
            // skopeo's words for the usual mistake: TLS spoken to a plain-HTTP registry.
            detail.push_str(" (http: server gave HTTP response to HTTPS client)");
        }
        let mut context = context.to_string();
        if let Some((request, dial)) = go_connection_refused(&context, &e) {
            // Go's sentence (scripts grep it), then what the client saw.
            detail = format!("{dial} ({detail})");
            context = request;
        }
        let retryable = (e.is_connect() || e.is_timeout() || e.is_body() || e.is_request())
            && !certificate
            && !plain_http;
        RegistryError::Network {
            context,
            detail,
            retryable,
            source: e,
        }
    }

    pub(super) fn tls(
        context: String,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> RegistryError {
        RegistryError::Tls {
            context,
            source: source.into(),
        }
    }
}

/// `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}` -> "manifest
/// unknown: manifest unknown", with the codes (`MANIFEST_UNKNOWN`).
pub(super) fn describe_errors(status: StatusCode, body: &[u8]) -> (String, Vec<String>) {
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
    let entries = parsed.map(|e| e.errors).unwrap_or_default();
    let codes = entries
        .iter()
        .filter(|e| !e.code.is_empty())
        .map(|e| e.code.clone())
        .collect();
    let described: Vec<String> = entries
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
        return (described.join("; "), codes);
    }
    let text = match status {
        StatusCode::UNAUTHORIZED => "authentication required".into(),
        StatusCode::FORBIDDEN => "access denied".into(),
        StatusCode::NOT_FOUND => "not found".into(),
        s => s
            .canonical_reason()
            .unwrap_or("unexpected status")
            .to_lowercase(),
    };
    (text, codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::error::TransportError;

    #[test]
    fn describes_registry_errors() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            describe_errors(StatusCode::NOT_FOUND, body),
            (
                "manifest unknown: manifest unknown".to_string(),
                vec!["MANIFEST_UNKNOWN".to_string()]
            )
        );
        assert_eq!(
            describe_errors(StatusCode::UNAUTHORIZED, b"").0,
            "authentication required"
        );
        assert_eq!(
            describe_errors(StatusCode::BAD_GATEWAY, b"<html>"),
            ("bad gateway".to_string(), vec![])
        );
    }

    #[test]
    fn classifies_retries() {
        let e = RegistryError::Http {
            context: "x".into(),
            status: 429,
            message: String::new(),
            codes: vec![],
        };
        assert!(e.retryable());
        let e = RegistryError::Http {
            context: "x".into(),
            status: 404,
            message: String::new(),
            codes: vec![],
        };
        assert!(!e.retryable());
        assert!(!RegistryError::Auth("x".into()).retryable());
    }

    fn http(status: u16, codes: &[&str]) -> RegistryError {
        RegistryError::Http {
            context: "GET /v2/a/tags/list".into(),
            status,
            message: "denied".into(),
            codes: codes.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// The messages are what they were as strings; the causes stay typed.
    #[test]
    fn causes_keep_their_type_and_words() {
        let ping = RegistryError::Ping {
            host: "r.io".into(),
            source: Box::new(http(403, &["DENIED"])),
        };
        assert_eq!(
            ping.to_string(),
            "pinging container registry r.io: GET /v2/a/tags/list: denied (HTTP 403)"
        );
        assert_eq!(ping.status(), Some(403));
        let inner = std::error::Error::source(&ping).unwrap();
        assert_eq!(inner.to_string(), "GET /v2/a/tags/list: denied (HTTP 403)");
        let refused = RegistryError::Unauthorized {
            message: "the token server refused (HTTP 401)".into(),
            status: 401,
        };
        assert_eq!(refused.status(), Some(401));
        assert!(!refused.retryable());

        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let tls = RegistryError::tls("reading CA certificate /x".into(), io);
        assert_eq!(tls.to_string(), "reading CA certificate /x: gone");
        let source = std::error::Error::source(&tls).unwrap();
        assert!(source.downcast_ref::<std::io::Error>().is_some());

        let deleted = RegistryError::DeleteFailed {
            what: "r.io/a:v1".into(),
            body: "{}".into(),
            status: StatusCode::SERVICE_UNAVAILABLE,
        };
        assert_eq!(
            deleted.to_string(),
            "Failed to delete r.io/a:v1: {} (503 Service Unavailable)"
        );
        assert!(deleted.retryable());

        let large = RegistryError::UploadTooLarge {
            context: "uploading a blob to r.io/a".into(),
            chunk: 8 << 20,
        };
        assert_eq!(
            large.to_string(),
            "uploading a blob to r.io/a: the registry refused a single-request upload (HTTP 413); retrying in 8 MiB chunks"
        );
        assert!(large.retryable());

        assert!(http(400, &["MANIFEST_INVALID"]).has_code("MANIFEST_INVALID"));
        assert!(!http(400, &["BLOB_UNKNOWN"]).has_code("MANIFEST_INVALID"));
    }

    #[test]
    fn transport_errors_delegate_to_the_cause() {
        let e = TransportError::from(http(503, &[]));
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "GET /v2/a/tags/list: denied (HTTP 503)");
        assert_eq!(e.registry().and_then(RegistryError::status), Some(503));
        let e = TransportError::from(http(404, &[]));
        assert!(!e.is_retryable());
        let config = TransportError::from(RegistryError::Config(ConfigError::Blocked {
            prefix: "r.io".into(),
            config: "/etc/containers/registries.conf".into(),
        }));
        assert_eq!(
            config.to_string(),
            "registry r.io is blocked in /etc/containers/registries.conf"
        );
        assert!(!config.is_retryable());
    }
}
