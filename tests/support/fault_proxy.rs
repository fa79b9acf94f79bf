//! A loopback HTTP/1.1 reverse proxy (plain HTTP → plain HTTP) that injects faults.
//!
//! Every request is forwarded unchanged (including `Host`, so the registry's `Location` headers
//! point back at the proxy, and `Range`) over a fresh upstream connection; request and response
//! bodies are relayed with their framing (Content-Length, chunked, or until close). Client
//! connections are kept alive.
//!
//! Faults are matched in order against method + path (query excluded; `*` in the glob matches
//! any run of characters including `/`); each fires `times` times (default once):
//! * [`Fault::truncate_blob`]`(n)`: forward the response head and the first `n` body bytes
//!   of a `GET /v2/*/blobs/sha256:*` answered 200/206, then close the connection;
//! * [`Fault::too_many_requests`]: answer `429 Too Many Requests` + `Retry-After: 1` without
//!   forwarding;
//! * [`Fault::status`]`(code)`: answer `code` (500, 503, ...) without forwarding.
//!
//! Every request is recorded ([`FaultProxy::requests`]): method, target, `Range` and
//! `Authorization` headers, status answered, and which fault (if any) fired.
//!
//! Two rewrites let one proxy play a second host of a registry (a hostile one, or the
//! storage host an upload `Location` names): [`FaultProxy::rewrite_location`] edits the
//! `Location` of answers, and [`FaultProxy::authorize_upstream`] adds credentials of the
//! proxy's own to requests that carry none, as a storage host that trusts its upload URLs.
//!
//! [`FaultProxy::with_signature_api`] also plays OpenShift's registry signature extension:
//! `/v2/` answers carry `X-Registry-Supports-Signatures: 1`, and
//! `GET`/`PUT /extensions/v2/REPO/signatures/DIGEST` are answered from memory
//! ([`FaultProxy::extension_signatures`]).
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::loopback::{Acceptor, Head, read_head};

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Relay the response head and this many body bytes, then close the client connection.
    /// Only fires on responses with status 200 or 206.
    CloseAfterBodyBytes(u64),
    /// Answer this status (with an OCI-style JSON error body) instead of forwarding.
    Status { code: u16, retry_after: Option<u64> },
}

/// A fault rule.
#[derive(Clone, Debug)]
pub struct Fault {
    /// `None` = any method.
    pub method: Option<String>,
    /// Glob on the path (query excluded).
    pub path_glob: String,
    pub action: FaultAction,
    /// How many more times it fires.
    pub times: usize,
}

impl Fault {
    /// Close the connection after `after_bytes` bytes of a blob GET's body (once).
    pub fn truncate_blob(after_bytes: u64) -> Fault {
        Fault {
            method: Some("GET".into()),
            path_glob: "/v2/*/blobs/sha256:*".into(),
            action: FaultAction::CloseAfterBodyBytes(after_bytes),
            times: 1,
        }
    }
    /// `429 Too Many Requests` with `Retry-After: 1` on any request under `/v2/` (once);
    /// narrow it with [`Fault::on`].
    pub fn too_many_requests() -> Fault {
        Fault {
            method: None,
            path_glob: "/v2/*".into(),
            action: FaultAction::Status {
                code: 429,
                retry_after: Some(1),
            },
            times: 1,
        }
    }
    /// Answer `code` on any request under `/v2/` (once); narrow it with [`Fault::on`].
    pub fn status(code: u16) -> Fault {
        Fault {
            method: None,
            path_glob: "/v2/*".into(),
            action: FaultAction::Status {
                code,
                retry_after: None,
            },
            times: 1,
        }
    }
    /// Only for this method (`"*"` = any) and path glob.
    pub fn on(mut self, method: &str, path_glob: &str) -> Fault {
        self.method = if method == "*" {
            None
        } else {
            Some(method.to_string())
        };
        self.path_glob = path_glob.to_string();
        self
    }
    pub fn times(mut self, n: usize) -> Fault {
        self.times = n;
        self
    }
    /// Set (or, with `None`, drop) the `Retry-After` header of a status fault.
    pub fn retry_after(mut self, secs: Option<u64>) -> Fault {
        if let FaultAction::Status { retry_after, .. } = &mut self.action {
            *retry_after = secs;
        }
        self
    }
    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self.method.as_deref().is_none_or(|m| m == method)
            && glob_match(&self.path_glob, path)
    }
}

/// One request seen by the proxy.
#[derive(Clone, Debug)]
pub struct ProxiedRequest {
    pub method: String,
    /// Path + `?query` as sent.
    pub target: String,
    /// Path without the query.
    pub path: String,
    /// The `Range` request header, if any.
    pub range: Option<String>,
    /// The `Authorization` request header the client sent, if any.
    pub authorization: Option<String>,
    /// Status answered to the client (0 if the upstream could not be reached).
    pub status: u16,
    /// The fault that fired on this request, if any.
    pub fault: Option<FaultAction>,
}

struct State {
    upstream: String,
    faults: Mutex<Vec<Fault>>,
    /// `Location` answers starting with `.0` have it replaced by `.1`.
    location_rewrite: Mutex<Option<(String, String)>>,
    /// Sent upstream as `Authorization` when the client sent none.
    upstream_auth: Mutex<Option<String>>,
    log: Mutex<Vec<ProxiedRequest>>,
    /// The signature extension's store (path → the JSON signature objects PUT there).
    signature_api: Option<Mutex<Vec<(String, serde_json::Value)>>>,
}

/// A running proxy on `127.0.0.1:PORT`; stopped on drop.
pub struct FaultProxy {
    state: Arc<State>,
    server: Acceptor,
}

impl FaultProxy {
    /// Proxy to `upstream` (`"127.0.0.1:PORT"` of a plain-HTTP registry) with these faults.
    pub fn start(upstream: &str, faults: Vec<Fault>) -> FaultProxy {
        Self::start_inner(upstream, faults, false)
    }

    /// A proxy that also offers the registry signature extension API (see module docs).
    pub fn with_signature_api(upstream: &str) -> FaultProxy {
        Self::start_inner(upstream, Vec::new(), true)
    }

    fn start_inner(upstream: &str, faults: Vec<Fault>, signature_api: bool) -> FaultProxy {
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            faults: Mutex::new(faults),
            location_rewrite: Mutex::new(None),
            upstream_auth: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            signature_api: signature_api.then(|| Mutex::new(Vec::new())),
        });
        let st = state.clone();
        let server = Acceptor::start("bind fault proxy", move |conn| {
            let _ = serve_connection(&st, conn);
        });
        FaultProxy { state, server }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
    }
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }
    /// `docker://127.0.0.1:PORT/REPO_AND_TAG`
    pub fn docker_ref(&self, repo_and_tag: &str) -> String {
        format!("docker://{}/{repo_and_tag}", self.host())
    }
    /// Add a fault rule (appended: earlier rules win).
    pub fn add_fault(&self, f: Fault) {
        self.state.faults.lock().unwrap().push(f);
    }
    /// Answers' `Location` headers that start with `from` get `to` instead (`to` may be
    /// empty: a relative Location).
    pub fn rewrite_location(&self, from: &str, to: &str) {
        *self.state.location_rewrite.lock().unwrap() = Some((from.into(), to.into()));
    }
    /// Requests that carry no `Authorization` are forwarded with this one.
    pub fn authorize_upstream(&self, authorization: &str) {
        *self.state.upstream_auth.lock().unwrap() = Some(authorization.into());
    }
    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
    }
    /// Rules that have not fired their `times` yet.
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.state
            .faults
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f.times > 0)
            .cloned()
            .collect()
    }
    /// All requests so far, oldest first.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.state.log.lock().unwrap().clone()
    }
    pub fn clear_requests(&self) {
        self.state.log.lock().unwrap().clear();
    }
    /// Requests with this method (`"*"` = any) whose path matches `glob`.
    pub fn count(&self, method: &str, glob: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| (method == "*" || r.method == method) && glob_match(glob, &r.path))
            .count()
    }
    /// (path, Range header) of every request that carried one.
    pub fn ranges_seen(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .filter_map(|r| Some((r.path, r.range?)))
            .collect()
    }
    /// The signature objects stored through the extension API under `path`
    /// (`/extensions/v2/REPO/signatures/DIGEST`), in order.
    pub fn extension_signatures(&self, path: &str) -> Vec<serde_json::Value> {
        match &self.state.signature_api {
            Some(store) => store
                .lock()
                .unwrap()
                .iter()
                .filter(|(p, _)| p == path)
                .map(|(_, v)| v.clone())
                .collect(),
            None => Vec::new(),
        }
    }
    /// Requests on which a fault fired.
    pub fn faults_fired(&self) -> Vec<ProxiedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.fault.is_some())
            .collect()
    }
}

/// `*` matches any run of characters (including `/`); everything else literally.
pub fn glob_match(glob: &str, s: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

#[derive(Clone, Copy)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

fn framing(head: &Head, is_response: bool) -> Framing {
    if head.has_token("Transfer-Encoding", "chunked") {
        Framing::Chunked
    } else if let Some(n) = head.get("Content-Length").and_then(|v| v.parse().ok()) {
        Framing::Length(n)
    } else if is_response {
        Framing::UntilClose
    } else {
        Framing::None
    }
}

/// Relay a body, raw (chunked framing is copied as is). With `limit`, stop after that many
/// bytes have been written and return `Ok(true)` ("truncated").
fn relay_body(
    r: &mut impl BufRead,
    w: &mut impl Write,
    framing: Framing,
    limit: Option<u64>,
) -> io::Result<bool> {
    let mut written: u64 = 0;
    let put = |w: &mut dyn Write, buf: &[u8], written: &mut u64| -> io::Result<bool> {
        if let Some(l) = limit {
            let room = l.saturating_sub(*written) as usize;
            if buf.len() >= room {
                w.write_all(&buf[..room])?;
                *written += room as u64;
                return Ok(true);
            }
        }
        w.write_all(buf)?;
        *written += buf.len() as u64;
        Ok(false)
    };
    match framing {
        Framing::None | Framing::Length(0) => {}
        Framing::Length(mut n) => {
            let mut buf = vec![0u8; 64 * 1024];
            while n > 0 {
                let want = n.min(buf.len() as u64) as usize;
                let k = r.read(&mut buf[..want])?;
                if k == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short body"));
                }
                if put(w, &buf[..k], &mut written)? {
                    return Ok(true);
                }
                n -= k as u64;
            }
        }
        Framing::UntilClose => {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let k = r.read(&mut buf)?;
                if k == 0 {
                    break;
                }
                if put(w, &buf[..k], &mut written)? {
                    return Ok(true);
                }
            }
        }
        Framing::Chunked => loop {
            let mut size_line = String::new();
            if r.read_line(&mut size_line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "EOF in chunked body",
                ));
            }
            if put(w, size_line.as_bytes(), &mut written)? {
                return Ok(true);
            }
            let size =
                u64::from_str_radix(size_line.trim().split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers up to the empty line.
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l)? == 0 {
                        break;
                    }
                    if put(w, l.as_bytes(), &mut written)? {
                        return Ok(true);
                    }
                    if l == "\r\n" || l == "\n" {
                        break;
                    }
                }
                break;
            }
            let mut left = size + 2; // data + CRLF
            let mut buf = vec![0u8; 64 * 1024];
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                let k = r.read(&mut buf[..want])?;
                if k == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short chunk"));
                }
                if put(w, &buf[..k], &mut written)? {
                    return Ok(true);
                }
                left -= k as u64;
            }
        },
    }
    w.flush()?;
    Ok(false)
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
];

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected",
    }
}

fn serve_connection(st: &State, client: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut cr = BufReader::new(client.try_clone()?);
    let mut cw = client;
    loop {
        let Some(req) = read_head(&mut cr)? else {
            return Ok(());
        };
        let mut sl = req.start_line.split_whitespace();
        let method = sl.next().unwrap_or("").to_string();
        let target = sl.next().unwrap_or("").to_string();
        let version = sl.next().unwrap_or("HTTP/1.1").to_string();
        let path = target
            .split_once('?')
            .map_or(target.as_str(), |(p, _)| p)
            .to_string();
        let client_close = req.has_token("Connection", "close") || version == "HTTP/1.0";
        let req_framing = framing(&req, false);

        if req.has_token("Expect", "100-continue") {
            cw.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }

        // Pick a fault (and consume one firing).
        let fault = {
            let mut faults = st.faults.lock().unwrap();
            faults
                .iter_mut()
                .find(|f| f.matches(&method, &path))
                .map(|f| {
                    // Truncation is only charged when it actually fires (see below).
                    if !matches!(f.action, FaultAction::CloseAfterBodyBytes(_)) {
                        f.times -= 1;
                    }
                    f.action.clone()
                })
        };
        let mut rec = ProxiedRequest {
            method: method.clone(),
            target: target.clone(),
            path: path.clone(),
            range: req.get("Range").map(str::to_string),
            authorization: req.get("Authorization").map(str::to_string),
            status: 0,
            fault: None,
        };

        if let Some(store) = &st.signature_api
            && path.starts_with("/extensions/v2/")
        {
            let mut body = Vec::new();
            relay_body(&mut cr, &mut body, req_framing, None)?;
            let (code, answer) = signature_api(store, &method, &path, &body);
            rec.status = code;
            st.log.lock().unwrap().push(rec);
            let head = format!(
                "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                if code == 201 { "Created" } else { reason(code) },
                answer.len()
            );
            cw.write_all(head.as_bytes())?;
            cw.write_all(answer.as_bytes())?;
            cw.flush()?;
            if client_close {
                return Ok(());
            }
            continue;
        }

        if let Some(FaultAction::Status { code, retry_after }) = &fault {
            // Drain the request body, answer, keep the connection.
            relay_body(&mut cr, &mut io::sink(), req_framing, None)?;
            let err_code = match code {
                429 => "TOOMANYREQUESTS",
                503 => "UNAVAILABLE",
                _ => "UNKNOWN",
            };
            let body = format!(
                "{{\"errors\":[{{\"code\":\"{err_code}\",\"message\":\"injected by skiff fault proxy\",\"detail\":null}}]}}\n"
            );
            let mut head = format!(
                "HTTP/1.1 {code} {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nDocker-Distribution-Api-Version: registry/2.0\r\n",
                reason(*code),
                if method == "HEAD" { 0 } else { body.len() }
            );
            if let Some(s) = retry_after {
                head.push_str(&format!("Retry-After: {s}\r\n"));
            }
            if client_close {
                head.push_str("Connection: close\r\n");
            }
            head.push_str("\r\n");
            // Record before answering, so a client that exits at once is already counted.
            rec.status = *code;
            rec.fault = fault.clone();
            st.log.lock().unwrap().push(rec);
            cw.write_all(head.as_bytes())?;
            if method != "HEAD" {
                cw.write_all(body.as_bytes())?;
            }
            cw.flush()?;
            if client_close {
                return Ok(());
            }
            continue;
        }

        // Forward upstream over a fresh connection.
        let upstream = match TcpStream::connect(&st.upstream) {
            Ok(u) => u,
            Err(e) => {
                st.log.lock().unwrap().push(rec);
                let _ = cw.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return Err(e);
            }
        };
        upstream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut uw = io::BufWriter::new(upstream.try_clone()?);
        let mut ur = BufReader::new(upstream);
        let mut head = format!("{method} {target} HTTP/1.1\r\n");
        for (k, v) in &req.headers {
            let lk = k.to_ascii_lowercase();
            if HOP_BY_HOP.contains(&lk.as_str()) || lk == "expect" {
                continue;
            }
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if rec.authorization.is_none()
            && let Some(auth) = st.upstream_auth.lock().unwrap().as_ref()
        {
            head.push_str(&format!("Authorization: {auth}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        uw.write_all(head.as_bytes())?;
        relay_body(&mut cr, &mut uw, req_framing, None)?;
        uw.flush()?;

        let Some(resp) = read_head(&mut ur)? else {
            st.log.lock().unwrap().push(rec);
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upstream closed",
            ));
        };
        let status: u16 = resp
            .start_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        rec.status = status;
        let resp_framing = if method == "HEAD" || status == 204 || status == 304 || status < 200 {
            Framing::None
        } else {
            framing(&resp, true)
        };
        let close_after = client_close || matches!(resp_framing, Framing::UntilClose);

        // Truncation fires only on a successful body.
        let limit = match &fault {
            Some(FaultAction::CloseAfterBodyBytes(n)) if status == 200 || status == 206 => {
                let mut faults = st.faults.lock().unwrap();
                if let Some(f) = faults.iter_mut().find(|f| {
                    f.action == FaultAction::CloseAfterBodyBytes(*n) && f.matches(&method, &path)
                }) {
                    f.times -= 1;
                    rec.fault = fault.clone();
                    Some(*n)
                } else {
                    None
                }
            }
            _ => None,
        };

        let mut out = format!("{}\r\n", resp.start_line);
        for (k, v) in &resp.headers {
            if HOP_BY_HOP.contains(&k.to_ascii_lowercase().as_str()) {
                continue;
            }
            let rewrite = st.location_rewrite.lock().unwrap().clone();
            let v = match rewrite {
                Some((from, to)) if k.eq_ignore_ascii_case("location") && v.starts_with(&from) => {
                    format!("{to}{}", &v[from.len()..])
                }
                _ => v.clone(),
            };
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if close_after {
            out.push_str("Connection: close\r\n");
        }
        if st.signature_api.is_some() && path == "/v2/" {
            out.push_str("X-Registry-Supports-Signatures: 1\r\n");
        }
        out.push_str("\r\n");
        cw.write_all(out.as_bytes())?;
        st.log.lock().unwrap().push(rec);
        let truncated = relay_body(&mut ur, &mut cw, resp_framing, limit)?;
        cw.flush()?;
        if truncated {
            let _ = cw.shutdown(Shutdown::Both);
            return Ok(());
        }
        if close_after {
            let _ = cw.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// The signature extension: `GET` lists what was stored at the path, `PUT` stores one.
fn signature_api(
    store: &Mutex<Vec<(String, serde_json::Value)>>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, String) {
    let mut store = store.lock().unwrap();
    match method {
        "GET" => {
            let list: Vec<&serde_json::Value> = store
                .iter()
                .filter(|(p, _)| p == path)
                .map(|(_, v)| v)
                .collect();
            (200, serde_json::json!({ "signatures": list }).to_string())
        }
        "PUT" => match serde_json::from_slice(body) {
            Ok(v) => {
                store.push((path.to_string(), v));
                (201, String::new())
            }
            Err(_) => (400, String::new()),
        },
        _ => (404, String::new()),
    }
}
