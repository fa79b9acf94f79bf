//! An HTTP client for one registry: scheme detection (HTTPS first, plain HTTP only when
//! TLS verification is off), authentication, and retries of what is safe to retry (a
//! replayable request), spent from the operation's budget (`transport::retry`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use super::auth::{Challenge, Credentials, TokenCache, TokenResponse, parse_challenges};
use super::error::{RegistryError, describe_errors};
use crate::report::Reporter;
use crate::transport::retry::RetryBudget;

/// Token answers and error bodies are read into memory; this caps them.
const MAX_SMALL_BODY: usize = 1024 * 1024;

/// How to reach one registry.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host[:port]` as used in URLs.
    pub host: String,
    /// TLS verification off: accept any certificate, and fall back to plain HTTP.
    pub insecure: bool,
    pub ca_certs: Vec<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub credentials: Credentials,
    /// The User-Agent header (see [`user_agent`]).
    pub user_agent: String,
    pub report: Reporter,
}

/// A request that can be sent again (no streaming body).
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: reqwest::header::HeaderName, value: &str) -> Request {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    pub fn body(mut self, body: Bytes) -> Request {
        self.body = Some(body);
        self
    }
}

pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
    host: String,
    credentials: Credentials,
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<TokenCache>,
    /// The clear-text realm warning was given (`check_realm`).
    realm_warned: AtomicBool,
    report: Reporter,
    /// The `/v2/` answer said `X-Registry-Supports-Signatures: 1`.
    supports_signatures: bool,
}

/// skiff's User-Agent, after `--user-agent-prefix` and a space when one is given (as
/// skopeo puts the prefix before "skopeo/VERSION").
pub fn user_agent(prefix: Option<&str>) -> String {
    let own = format!("skiff/{}", env!("CARGO_PKG_VERSION"));
    match prefix.filter(|p| !p.is_empty()) {
        Some(p) => format!("{p} {own}"),
        None => own,
    }
}

impl RegistryClient {
    /// Builds the HTTP client and pings `/v2/` to learn the scheme and auth challenge.
    pub async fn connect(cfg: ClientConfig) -> Result<RegistryClient, RegistryError> {
        let http = build_http(&cfg)?;
        let mut client = RegistryClient {
            http,
            base: format!("https://{}", cfg.host),
            host: cfg.host.clone(),
            credentials: cfg.credentials.clone(),
            challenge: Mutex::new(None),
            tokens: Mutex::new(TokenCache::default()),
            realm_warned: AtomicBool::new(false),
            report: cfg.report.clone(),
            supports_signatures: false,
        };
        let https = client.ping().await;
        let result = match https {
            Err(e) if cfg.insecure => {
                client
                    .report
                    .debug(|| format!("ping https://{} failed ({e}), trying http", cfg.host));
                client.base = format!("http://{}", cfg.host);
                client.ping().await
            }
            other => other,
        };
        client.supports_signatures = result.map_err(|e| RegistryError::Ping {
            host: cfg.host.clone(),
            source: Box::new(e),
        })?;
        Ok(client)
    }

    /// Pings `/v2/`; returns whether the registry offers the signature extension API.
    async fn ping(&self) -> Result<bool, RegistryError> {
        let url = format!("{}/v2/", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| RegistryError::network("GET /v2/", e))?;
        self.report
            .debug(|| format!("GET {url} -> {}", resp.status()));
        let signatures = resp
            .headers()
            .get("X-Registry-Supports-Signatures")
            .is_some_and(|v| v.as_bytes() == b"1");
        match resp.status() {
            StatusCode::OK => Ok(signatures),
            StatusCode::UNAUTHORIZED => {
                let challenges = challenges_of(&resp);
                // Prefer Bearer when both are offered, as Docker does.
                let chosen = challenges
                    .iter()
                    .find(|c| matches!(c, Challenge::Bearer { .. }))
                    .or(challenges.first())
                    .cloned();
                if let Ok(mut slot) = self.challenge.lock() {
                    *slot = chosen;
                }
                Ok(signatures)
            }
            _ => Err(RegistryError::from_response("GET /v2/", resp).await),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn report(&self) -> &Reporter {
        &self.report
    }

    /// The HTTP client with this registry's TLS settings (lookaside stores are read with it,
    /// as containers/image does), without authentication.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Whether the registry offers the signature extension API.
    pub fn supports_signatures(&self) -> bool {
        self.supports_signatures
    }

    /// A URL under this registry (paths start with "/v2/"); absolute URLs pass through.
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// Sends a replayable request with authentication for `scopes`, retrying transient
    /// failures within the current operation's budget (`transport::retry`) and
    /// re-authenticating once if the registry refuses the token.
    pub async fn send(&self, req: &Request, scopes: &[String]) -> Result<Response, RegistryError> {
        self.send_within(req, scopes, &RetryBudget::current_or_new())
            .await
    }

    /// `send`, spending retries from `budget`.
    pub async fn send_within(
        &self,
        req: &Request,
        scopes: &[String],
        budget: &RetryBudget,
    ) -> Result<Response, RegistryError> {
        let mut reauthenticated = false;
        let context = format!("{} {}", req.method, req.url);
        let url = self.url(&req.url);
        let own = self.is_own(&url);
        loop {
            let auth = self.authorization_for(&url, own, scopes, budget).await?;
            let mut builder = self
                .http
                .request(req.method.clone(), &url)
                .headers(req.headers.clone());
            if let Some(a) = &auth {
                builder = builder.header(AUTHORIZATION, a);
            }
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            let sent = builder
                .send()
                .await
                .map_err(|e| RegistryError::network(&context, e));
            if let Ok(resp) = &sent {
                self.report
                    .debug(|| format!("{} {url} -> {}", req.method, resp.status()));
                if resp.status() == StatusCode::UNAUTHORIZED
                    && own
                    && !reauthenticated
                    && self.refresh_after_401(resp, scopes)
                {
                    reauthenticated = true;
                    continue;
                }
            }
            if self.again(budget, &context, &sent).await {
                continue;
            }
            return sent;
        }
    }

    /// Whether to send a request again after `sent` (waiting first): a connection error,
    /// a timeout or a retryable status, while `budget` lasts.
    async fn again(
        &self,
        budget: &RetryBudget,
        context: &str,
        sent: &Result<Response, RegistryError>,
    ) -> bool {
        match sent {
            Err(e) => {
                e.retryable()
                    && budget
                        .wait(&self.report, context, &e.to_string(), None)
                        .await
            }
            Ok(resp) => {
                let status = resp.status();
                is_retryable_status(status)
                    && budget
                        .wait(
                            &self.report,
                            context,
                            &format!("HTTP {status}"),
                            retry_after(resp),
                        )
                        .await
            }
        }
    }

    /// Sends a request whose body streams (a blob upload): one attempt, since the body
    /// cannot be replayed; the engine restarts the whole blob on a transient failure,
    /// within the same budget.
    pub async fn send_stream(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: reqwest::Body,
        scopes: &[String],
    ) -> Result<Response, RegistryError> {
        let full = self.url(url);
        let auth = self
            .authorization_for(
                &full,
                self.is_own(&full),
                scopes,
                &RetryBudget::current_or_new(),
            )
            .await?;
        let mut builder = self
            .http
            .request(method.clone(), &full)
            .headers(headers)
            .body(body);
        if let Some(a) = &auth {
            builder = builder.header(AUTHORIZATION, a);
        }
        let resp = builder
            .send()
            .await
            .map_err(|e| RegistryError::network(&format!("{method} {url}"), e))?;
        self.report
            .debug(|| format!("{method} {full} -> {}", resp.status()));
        Ok(resp)
    }

    /// Whether `url` is on this registry's own scheme, host and port. Credentials (Basic,
    /// or a Bearer token for this registry) go nowhere else: an upload `Location` may name
    /// any host, and reqwest drops them on a redirect to another origin the same way.
    fn is_own(&self, url: &str) -> bool {
        same_origin(&self.base, url)
    }

    /// The Authorization header for a request to `url`: none off the registry's origin.
    async fn authorization_for(
        &self,
        url: &str,
        own: bool,
        scopes: &[String],
        budget: &RetryBudget,
    ) -> Result<Option<String>, RegistryError> {
        if own {
            return self.authorization(scopes, budget).await;
        }
        self.report.debug(|| {
            format!(
                "{url} is not on {}: sending no credentials there",
                self.base
            )
        });
        Ok(None)
    }

    /// On a 401, decides whether a fresh token could help (and drops the cached one).
    fn refresh_after_401(&self, resp: &Response, scopes: &[String]) -> bool {
        let challenges = challenges_of(resp);
        let Some(bearer) = challenges
            .into_iter()
            .find(|c| matches!(c, Challenge::Bearer { .. }))
        else {
            return false;
        };
        if matches!(self.credentials, Credentials::BearerToken(_)) {
            return false;
        }
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.forget(&scopes.join(" "));
        }
        if let Ok(mut slot) = self.challenge.lock() {
            *slot = Some(bearer);
        }
        true
    }

    /// The Authorization header value for `scopes`, fetching a token if needed.
    async fn authorization(
        &self,
        scopes: &[String],
        budget: &RetryBudget,
    ) -> Result<Option<String>, RegistryError> {
        if let Credentials::BearerToken(t) = &self.credentials {
            return Ok(Some(format!("Bearer {t}")));
        }
        let challenge = self.challenge.lock().ok().and_then(|c| c.clone());
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credentials.basic_header()),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = scopes.join(" ");
                if let Some(t) = self
                    .tokens
                    .lock()
                    .ok()
                    .and_then(|c| c.get(&key).map(str::to_string))
                {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let (token, lifetime) = self
                    .fetch_token(&realm, service.as_deref(), scopes, budget)
                    .await?;
                if let Ok(mut cache) = self.tokens.lock() {
                    cache.insert(&key, token.clone(), lifetime);
                }
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Asks the realm for a token, retrying what other safe requests retry (a connection
    /// error, a timeout, 408/429/5xx) within `budget`.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        budget: &RetryBudget,
    ) -> Result<(String, Duration), RegistryError> {
        let url = url::Url::parse(realm).map_err(|e| {
            RegistryError::Auth(format!(
                "registry {} named an invalid token realm {realm:?}: {e}",
                self.host
            ))
        })?;
        self.check_realm(&url)?;
        let context = format!("requesting a token from {realm}");
        loop {
            let sent = self
                .token_request(&url, service, scopes)
                .send()
                .await
                .map_err(|e| RegistryError::network(&context, e));
            if let Ok(resp) = &sent {
                self.report
                    .debug(|| format!("token request to {realm} -> {}", resp.status()));
            }
            if self.again(budget, &context, &sent).await {
                continue;
            }
            return self.read_token(sent?, realm, url).await;
        }
    }

    /// Credentials for a realm over plain http: refused when the registry itself is reached
    /// over https (they would cross the network in clear text, a downgrade no registry
    /// needs); with a plain-http registry, whose own requests carry them in clear text
    /// anyway, a realm on another host is warned about once.
    fn check_realm(&self, realm: &url::Url) -> Result<(), RegistryError> {
        let secret = matches!(
            self.credentials,
            Credentials::Basic { .. } | Credentials::IdentityToken { .. }
        );
        if !secret || realm.scheme() != "http" {
            return Ok(());
        }
        let base = url::Url::parse(&self.base).ok();
        if base.as_ref().is_some_and(|b| b.scheme() == "https") {
            return Err(RegistryError::Auth(format!(
                "refusing to send the credentials for {} to the token realm {realm}: it is plain http, while the registry is reached over https",
                self.host
            )));
        }
        let same_host = base.as_ref().and_then(url::Url::host_str) == realm.host_str();
        if !same_host && !self.realm_warned.swap(true, Ordering::Relaxed) {
            self.report.warn(&format!(
                "sending the credentials for {} in clear text (plain http) to the token realm {realm}, on another host",
                self.host
            ));
        }
        Ok(())
    }

    /// The token request for `url`: an OAuth2 refresh-token POST for an identity token,
    /// else a GET with Basic credentials (if any).
    fn token_request(
        &self,
        url: &url::Url,
        service: Option<&str>,
        scopes: &[String],
    ) -> reqwest::RequestBuilder {
        let mut url = url.clone();
        match &self.credentials {
            Credentials::IdentityToken { token, .. } => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("refresh_token", token.clone()),
                    ("client_id", "skiff".to_string()),
                ];
                if let Some(s) = service {
                    form.push(("service", s.to_string()));
                }
                form.push(("scope", scopes.join(" ")));
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish();
                self.http
                    .post(url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(encoded)
            }
            other => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    for s in scopes {
                        q.append_pair("scope", s);
                    }
                }
                let mut b = self.http.get(url);
                if let Some(h) = other.basic_header() {
                    b = b.header(AUTHORIZATION, h);
                }
                b
            }
        }
    }

    /// The token in the realm's answer, or why there is none.
    async fn read_token(
        &self,
        resp: Response,
        realm: &str,
        mut url: url::Url,
    ) -> Result<(String, Duration), RegistryError> {
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            let status = resp.status().as_u16();
            return Err(RegistryError::Unauthorized {
                message: format!(
                    "authenticating to {}: the token server {realm} refused the credentials (HTTP {status}): invalid username/password?",
                    self.host,
                ),
                status,
            });
        }
        if !resp.status().is_success() {
            return Err(RegistryError::from_response(
                &format!("requesting a token from {realm}"),
                resp,
            )
            .await);
        }
        url.set_query(None);
        let body = read_small(resp, "token response").await?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            RegistryError::Protocol(format!("token server {url} sent invalid JSON: {e}"))
        })?;
        parsed
            .into_token()
            .ok_or_else(|| RegistryError::Protocol(format!("token server {url} sent no token")))
    }
}

/// HTTP/1.1 only (reqwest is built without HTTP/2): blobs move over parallel
/// connections, as skopeo moves them. Over one HTTP/2 connection a push to a TLS registry
/// took 15% longer here (0.50 s against 0.43 s), and HTTP/2's flow-control windows
/// would cap each blob at a few MB per round trip to a distant registry.
fn build_http(cfg: &ClientConfig) -> Result<reqwest::Client, RegistryError> {
    crate::transport::tls::install_tls_provider();
    let mut b = reqwest::Client::builder()
        .user_agent(cfg.user_agent.clone())
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(60));
    let tls = super::tls::client_config(&super::tls::TlsSettings {
        host: &cfg.host,
        ca_certs: &cfg.ca_certs,
        client_cert: cfg.client_cert.as_ref(),
        insecure: cfg.insecure,
    })?;
    b = b.tls_backend_preconfigured(tls);
    b.build()
        .map_err(|e| RegistryError::tls(format!("setting up TLS for {}", cfg.host), e))
}

/// Same scheme, host and port (a default port written out or not).
fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

fn challenges_of(resp: &Response) -> Vec<Challenge> {
    resp.headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect()
}

fn is_retryable_status(s: StatusCode) -> bool {
    super::error::is_retryable_status(s.as_u16())
}

/// `Retry-After` in seconds (the HTTP-date form is treated as "soon"); the budget caps it.
fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get(RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = v.trim().parse().unwrap_or(1);
    Some(Duration::from_secs(secs))
}

/// Reads a small response body, refusing more than a fixed cap: at once when the answer
/// announces more (`Content-Length`), else once more has arrived.
pub async fn read_small(resp: Response, what: &str) -> Result<Bytes, RegistryError> {
    use futures_util::StreamExt;
    let limit = MAX_SMALL_BODY.max(crate::manifest::MAX_MANIFEST_SIZE as usize);
    let too_large = |size: String| {
        RegistryError::Protocol(format!(
            "{what} is larger than the allowed limit ({size}, over {limit} bytes)"
        ))
    };
    if let Some(announced) = resp.content_length()
        && announced > limit as u64
    {
        return Err(too_large(format!("{announced} bytes announced")));
    }
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| RegistryError::network(&format!("reading {what}"), e))?;
        if out.len() + chunk.len() > limit {
            return Err(too_large(format!("{} bytes sent", out.len() + chunk.len())));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

// Reading the error body is HTTP work, so it lives with the client.
impl RegistryError {
    /// Turns an error response into a message, using the registry's error JSON if present.
    pub(super) async fn from_response(context: &str, resp: Response) -> RegistryError {
        let status = resp.status();
        let body = read_small(resp, "error response").await.unwrap_or_default();
        let (message, codes) = describe_errors(status, &body);
        RegistryError::Http {
            context: context.to_string(),
            status: status.as_u16(),
            message,
            codes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn credentials_stay_on_one_scheme_host_and_port() {
        let base = "https://r.example:5000";
        assert!(same_origin(
            base,
            "https://r.example:5000/v2/a/blobs/uploads/x?s=1"
        ));
        assert!(same_origin(base, "HTTPS://R.EXAMPLE:5000/v2/"));
        assert!(same_origin(
            "https://r.example",
            "https://r.example:443/v2/"
        ));
        assert!(!same_origin(base, "http://r.example:5000/v2/"), "downgrade");
        assert!(!same_origin(base, "https://r.example:5001/v2/"));
        assert!(!same_origin(base, "https://storage.example:5000/v2/"));
        assert!(!same_origin(
            base,
            "https://r.example:5000@evil.example/v2/"
        ));
        assert!(!same_origin(base, "/v2/relative"), "unresolved");
    }
}
