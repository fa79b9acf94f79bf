//! A minimal Docker Engine API client: where the daemon is (`unix://`, `tcp://` with TLS,
//! `http://`), which API version to speak (negotiated from `/_ping`, else `/version`), and
//! errors that say which daemon failed and how.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;

use super::error::DaemonError;
use crate::reference::DaemonRef;

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// The newest API version skiff asks for: it uses only `images/{name}/get` and
/// `images/load`, unchanged for years. A daemon that speaks less gets its own version.
const MAX_API: (u32, u32) = (1, 47);

/// Per-side daemon settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// `--src-daemon-host` / `--dest-daemon-host`; else $DOCKER_HOST; else the default socket.
    pub host: Option<String>,
    /// `--src-cert-dir` / `--dest-cert-dir`: ca.pem, cert.pem, key.pem (else $DOCKER_CERT_PATH).
    pub cert_dir: Option<PathBuf>,
    /// `--src-tls-verify` / `--dest-tls-verify` (default true).
    pub tls_verify: Option<bool>,
}

pub struct DaemonClient {
    http: reqwest::Client,
    /// `http://localhost` for sockets, `https://host:port` for TCP.
    base: String,
    /// `/v1.41` or empty when the daemon named no version.
    version: String,
    /// The host as the user gave it, for messages.
    pub host: String,
}

impl DaemonClient {
    pub async fn connect(opts: &DaemonOptions) -> Result<DaemonClient, DaemonError> {
        let host = opts
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let bad_host = |why: &str| DaemonError::Host {
            host: host.clone(),
            message: why.to_string(),
        };
        crate::transport::tls::install_tls_provider();
        let builder = reqwest::Client::builder()
            .user_agent(concat!("skiff/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30));
        let (builder, base) = if let Some(path) = host.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(bad_host("no socket path after unix://"));
            }
            (
                builder.unix_socket(PathBuf::from(path)),
                "http://localhost".to_string(),
            )
        } else if let Some(addr) = host.strip_prefix("http://") {
            (builder, format!("http://{}", addr.trim_end_matches('/')))
        } else if let Some(addr) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("https://"))
        {
            if addr.is_empty() {
                return Err(bad_host("no address after tcp://"));
            }
            let cert_dir = opts
                .cert_dir
                .clone()
                .or_else(|| std::env::var_os("DOCKER_CERT_PATH").map(PathBuf::from));
            let b = tls(builder, cert_dir.as_deref(), opts.tls_verify != Some(false))
                .map_err(|m| bad_host(&m))?;
            (b, format!("https://{}", addr.trim_end_matches('/')))
        } else {
            return Err(bad_host(
                "unsupported scheme (use unix://PATH, tcp://HOST:PORT or http://HOST:PORT)",
            ));
        };
        let http = builder
            .build()
            .map_err(|e| bad_host(&format!("setting up the client: {e}")))?;
        let mut client = DaemonClient {
            http,
            base,
            version: String::new(),
            host,
        };
        client.version = client.negotiate().await?;
        Ok(client)
    }

    /// The API version both sides speak, as a path prefix.
    async fn negotiate(&self) -> Result<String, DaemonError> {
        let ping = self
            .http
            .get(format!("{}/_ping", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let mut server = ping
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_version);
        if server.is_none() {
            // Old or unusual daemons: /version has it in the body.
            if let Ok(resp) = self.http.get(format!("{}/version", self.base)).send().await
                && resp.status().is_success()
                && let Ok(text) = resp.text().await
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                server = v
                    .get("ApiVersion")
                    .and_then(|v| v.as_str())
                    .and_then(parse_version);
            }
        }
        Ok(match server {
            Some(v) => {
                let (major, minor) = v.min(MAX_API);
                format!("/v{major}.{minor}")
            }
            None => String::new(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}{}", self.base, self.version, path)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn unreachable(&self, e: reqwest::Error) -> DaemonError {
        DaemonError::Unreachable {
            host: self.host.clone(),
            source: e,
        }
    }

    /// The daemon's error message for a failed response (`{"message": …}`).
    pub async fn error_of(&self, resp: reqwest::Response, what: &str) -> DaemonError {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| body.trim().to_string());
        if status == StatusCode::NOT_FOUND {
            DaemonError::NotFound {
                host: self.host.clone(),
                image: what.to_string(),
                message,
            }
        } else if status == StatusCode::BAD_REQUEST && message.contains("version") {
            DaemonError::Version {
                host: self.host.clone(),
                message,
            }
        } else {
            DaemonError::Api {
                host: self.host.clone(),
                status: status.as_u16(),
                message: format!("{what}: {message}"),
            }
        }
    }
}

/// "1.41" -> (1, 41)
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// TLS for `tcp://`: the CA, client certificate and key of `cert_dir` (Docker's names).
fn tls(
    mut b: reqwest::ClientBuilder,
    cert_dir: Option<&Path>,
    verify: bool,
) -> Result<reqwest::ClientBuilder, String> {
    if let Some(dir) = cert_dir {
        let ca = dir.join("ca.pem");
        if ca.exists() {
            let pem = std::fs::read(&ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("parsing {}: {e}", ca.display()))?;
            b = b.tls_certs_merge(certs);
        }
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        match (cert.exists(), key.exists()) {
            (true, true) => {
                let mut pem =
                    std::fs::read(&cert).map_err(|e| format!("reading {}: {e}", cert.display()))?;
                pem.push(b'\n');
                pem.extend(
                    std::fs::read(&key).map_err(|e| format!("reading {}: {e}", key.display()))?,
                );
                let id = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| format!("loading {}: {e}", cert.display()))?;
                b = b.identity(id);
            }
            (false, false) => {}
            _ => {
                return Err(format!(
                    "{} needs both cert.pem and key.pem for a client certificate",
                    dir.display()
                ));
            }
        }
    }
    if !verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    Ok(b)
}

/// The name the API knows the image by (as c/image passes it: familiar form, or the ID).
pub(super) fn api_name(r: &DaemonRef) -> String {
    match r {
        DaemonRef::Id(d) => d.to_string(),
        DaemonRef::Reference(r) => r.familiar(),
    }
}

/// Percent-encodes what may not appear raw in a path segment (`/` and `:` may: the API
/// routes `/images/{name:.*}/get`).
pub(super) fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(parse_version("1.41"), Some((1, 41)));
        assert!(parse_version("1.9").unwrap() < parse_version("1.41").unwrap());
        assert_eq!(parse_version("1.50").unwrap().min(MAX_API), MAX_API);
        assert_eq!(parse_version("x"), None);
    }
}
