//! A minimal Docker registry token server (the `auth: token:` flow of CNCF distribution).
//!
//! `GET /token?service=S&scope=repository:NAME:pull,push&scope=...` (optionally with Basic auth,
//! plus `account=`) answers `{"token","access_token","expires_in","issued_at"}` with a JWT
//! signed RS256 by the issuer key from [`Certs`] (signature made by piping `header.payload` to
//! `openssl dgst -sha256 -sign issuer.key`). The JWT header carries `x5c` = [issuer cert DER],
//! which distribution verifies against `rootcertbundle` (= the issuer cert).
//!
//! `POST /token` with an OAuth2 form (`grant_type=password&username=&password=&scope=&service=`)
//! is accepted too. Every request is recorded ([`TokenServer::requests`]).
//!
//! Grants: authenticated (correct Basic credentials) → every action asked for; anonymous →
//! only `pull` when `anonymous_pull` is set, else nothing (an empty `access` list, so the
//! registry then answers 401 insufficient_scope); wrong credentials → 401.
//!
//! Faults: [`TokenServer::fail_next`] makes the next requests fail (an HTTP status, or a
//! connection reset before any answer), recorded with status 503/0.
//!
//! Note: distribution 2.8 accepts a JWT up to 60 s after its `exp` (leeway), and
//! containers/image treats any `expires_in` below 60 as 60. To test expiry, issue tokens with
//! a negative lifetime ([`TokenServer::set_lifetime`]) so `exp` is already > 60 s in the past.
#![allow(dead_code)]

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::certs::Certs;
use super::loopback::{Acceptor, read_head};

/// `auth.token.service` of registries that trust this server.
pub const SERVICE: &str = "skiff-registry";
/// `auth.token.issuer` of registries that trust this server (the JWT `iss`).
pub const ISSUER: &str = "skiff-issuer";

/// Configuration of a [`TokenServer`].
#[derive(Clone)]
pub struct TokenServerOpts {
    /// Credentials accepted via Basic auth (or the OAuth2 password grant).
    pub user: String,
    pub password: String,
    /// Grant `pull` to anonymous requests (no Authorization header).
    pub anonymous_pull: bool,
    /// JWT lifetime in seconds: `exp = now + lifetime` (may be negative).
    pub lifetime_secs: i64,
    /// `expires_in` reported in the JSON; `None` → `max(lifetime_secs, 0)`.
    pub expires_in: Option<i64>,
    /// PKI to use (its `issuer_key` / `issuer_cert`); `None` → generate a fresh one.
    pub certs: Option<Arc<Certs>>,
}

impl Default for TokenServerOpts {
    fn default() -> Self {
        TokenServerOpts {
            user: "user".into(),
            password: "pass".into(),
            anonymous_pull: false,
            lifetime_secs: 300,
            expires_in: None,
            certs: None,
        }
    }
}

/// How a request fails (see [`TokenServer::fail_next`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFault {
    /// Answer this status with a JSON error body.
    Status(u16),
    /// Read the request, then reset the connection (RST) without answering.
    Reset,
}

/// One request the token server answered.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub method: String,
    /// Path including the query string.
    pub target: String,
    pub service: Option<String>,
    /// `scope` parameters in order (`repository:skiff/hello:pull,push`, ...).
    pub scopes: Vec<String>,
    /// `account` parameter, if any.
    pub account: Option<String>,
    /// Credentials were supplied (Basic or OAuth2 form) ...
    pub had_credentials: bool,
    /// ... and were correct.
    pub authenticated: bool,
    /// The user name supplied, if any.
    pub user: Option<String>,
    /// HTTP status answered (200 or 401 / 404; a fault's status; 0 for a reset).
    pub status: u16,
    /// `access` granted in the token: (type, name, actions).
    pub granted: Vec<(String, String, Vec<String>)>,
}

struct State {
    opts: Mutex<TokenServerOpts>,
    certs: Arc<Certs>,
    x5c: String,
    requests: Mutex<Vec<TokenRequest>>,
    faults: Mutex<std::collections::VecDeque<TokenFault>>,
    counter: AtomicU64,
}

/// A running token server on `127.0.0.1:PORT`; stopped on drop.
pub struct TokenServer {
    state: Arc<State>,
    server: Acceptor,
}

impl TokenServer {
    /// Start on a free loopback port.
    pub fn start(opts: TokenServerOpts) -> TokenServer {
        let certs = opts
            .certs
            .clone()
            .unwrap_or_else(|| Arc::new(Certs::generate()));
        let x5c = certs.issuer_cert_der_base64();
        let state = Arc::new(State {
            opts: Mutex::new(opts),
            certs,
            x5c,
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(std::collections::VecDeque::new()),
            counter: AtomicU64::new(0),
        });
        let st = state.clone();
        let server = Acceptor::start("bind token server", move |conn| {
            let _ = handle(&st, conn);
        });
        TokenServer { state, server }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
    }

    /// The realm URL for the registry config / `WWW-Authenticate`: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.server.port())
    }

    /// The issuer certificate (the registry's `rootcertbundle`).
    pub fn issuer_cert(&self) -> &Path {
        &self.state.certs.issuer_cert
    }

    pub fn certs(&self) -> &Arc<Certs> {
        &self.state.certs
    }

    pub fn user(&self) -> String {
        self.state.opts.lock().unwrap().user.clone()
    }

    pub fn password(&self) -> String {
        self.state.opts.lock().unwrap().password.clone()
    }

    /// `user:password`, for `--creds` style flags.
    pub fn creds(&self) -> String {
        let o = self.state.opts.lock().unwrap();
        format!("{}:{}", o.user, o.password)
    }

    /// Change the lifetime (and reported `expires_in`) of tokens issued from now on.
    pub fn set_lifetime(&self, lifetime_secs: i64, expires_in: Option<i64>) {
        let mut o = self.state.opts.lock().unwrap();
        o.lifetime_secs = lifetime_secs;
        o.expires_in = expires_in;
    }

    pub fn set_anonymous_pull(&self, yes: bool) {
        self.state.opts.lock().unwrap().anonymous_pull = yes;
    }

    /// The next request fails with `fault` (calls queue up: one fault per request).
    pub fn fail_next(&self, fault: TokenFault) {
        self.state.faults.lock().unwrap().push_back(fault);
    }

    /// All requests so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Every `scope` asked for so far (flattened, in order).
    pub fn scopes_seen(&self) -> Vec<String> {
        self.requests().into_iter().flat_map(|r| r.scopes).collect()
    }

    pub fn clear_requests(&self) {
        self.state.requests.lock().unwrap().clear();
    }

    /// Mint a token directly (e.g. for a hand-made request): `access` = (type, name, actions).
    pub fn issue(&self, subject: &str, access: &[(String, String, Vec<String>)]) -> String {
        let lifetime = self.state.opts.lock().unwrap().lifetime_secs;
        mint(&self.state, subject, access, lifetime)
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn handle(st: &State, conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    let Some(head) = read_head(&mut r)? else {
        return Ok(());
    };
    let (method, target) = head.method_and_target();
    let header = |name: &str| head.get(name).map(str::to_string);
    let mut body = Vec::new();
    if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    }

    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut params = parse_form(query);
    let mut creds: Option<(String, String)> = header("authorization").and_then(|a| {
        let b64 = a
            .strip_prefix("Basic ")
            .or_else(|| a.strip_prefix("basic "))?;
        let dec = String::from_utf8(b64_decode(b64.trim())?).ok()?;
        let (u, p) = dec.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    });
    if method == "POST" {
        let form = parse_form(&String::from_utf8_lossy(&body));
        let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        if let (None, Some(u), Some(p)) = (&creds, get("username"), get("password")) {
            creds = Some((u, p));
        }
        for (k, v) in &form {
            if k == "scope" {
                for s in v.split(' ').filter(|s| !s.is_empty()) {
                    params.push(("scope".into(), s.to_string()));
                }
            } else if k == "service" {
                params.push((k.clone(), v.clone()));
            }
        }
    }
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone());
    let account = params
        .iter()
        .find(|(k, _)| k == "account")
        .map(|(_, v)| v.clone());

    let opts = st.opts.lock().unwrap().clone();
    let authenticated = creds
        .as_ref()
        .is_some_and(|(u, p)| *u == opts.user && *p == opts.password);
    let mut rec = TokenRequest {
        method: method.clone(),
        target: target.clone(),
        service,
        scopes: scopes.clone(),
        account,
        had_credentials: creds.is_some(),
        authenticated,
        user: creds.as_ref().map(|(u, _)| u.clone()),
        status: 200,
        granted: Vec::new(),
    };

    if let Some(fault) = st.faults.lock().unwrap().pop_front() {
        return answer_fault(st, rec, w, fault);
    }
    let (status, reason, json_body) = if path != "/token" || (method != "GET" && method != "POST") {
        (
            404,
            "Not Found",
            json!({"errors":[{"code":"NOT_FOUND","message":"no such endpoint"}]}),
        )
    } else if creds.is_some() && !authenticated {
        (
            401,
            "Unauthorized",
            json!({"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}),
        )
    } else {
        let mut granted = Vec::new();
        for s in &scopes {
            let Some((typ, rest)) = s.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            let asked: Vec<String> = actions.split(',').map(str::to_string).collect();
            let give: Vec<String> = if authenticated {
                asked
            } else if opts.anonymous_pull {
                asked.into_iter().filter(|a| a == "pull").collect()
            } else {
                Vec::new()
            };
            if !give.is_empty() {
                granted.push((typ.to_string(), name.to_string(), give));
            }
        }
        let subject = if authenticated {
            opts.user.clone()
        } else {
            String::new()
        };
        let token = mint(st, &subject, &granted, opts.lifetime_secs);
        rec.granted = granted;
        let issued_at = SystemTime::now();
        let secs = issued_at.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        (
            200,
            "OK",
            json!({
                "token": token,
                "access_token": token,
                "expires_in": opts.expires_in.unwrap_or(opts.lifetime_secs.max(0)),
                "issued_at": rfc3339(secs),
            }),
        )
    };
    rec.status = status;
    st.requests.lock().unwrap().push(rec);

    let body = serde_json::to_vec(&json_body).unwrap();
    let mut resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status == 401 {
        resp.push_str("WWW-Authenticate: Basic realm=\"skiff-token\"\r\n");
    }
    resp.push_str("\r\n");
    w.write_all(resp.as_bytes())?;
    w.write_all(&body)?;
    w.flush()?;
    let _ = w.shutdown(Shutdown::Both);
    Ok(())
}

/// Fails one request as `fault` asks, and records it.
fn answer_fault(
    st: &State,
    mut rec: TokenRequest,
    mut w: TcpStream,
    fault: TokenFault,
) -> std::io::Result<()> {
    match fault {
        TokenFault::Status(code) => {
            rec.status = code;
            st.requests.lock().unwrap().push(rec);
            let body =
                r#"{"errors":[{"code":"UNAVAILABLE","message":"injected by the token server"}]}"#;
            write!(
                w,
                "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            w.flush()?;
            let _ = w.shutdown(Shutdown::Both);
        }
        TokenFault::Reset => {
            rec.status = 0;
            st.requests.lock().unwrap().push(rec);
            // SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            use std::os::fd::AsRawFd;
            // SAFETY: a valid socket and a correctly sized option value.
            unsafe {
                libc::setsockopt(
                    w.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
            drop(w);
        }
    }
    Ok(())
}

fn mint(
    st: &State,
    subject: &str,
    access: &[(String, String, Vec<String>)],
    lifetime: i64,
) -> String {
    let now = now();
    let n = st.counter.fetch_add(1, Ordering::SeqCst);
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [st.x5c]});
    let access: Vec<Value> = access
        .iter()
        .map(|(t, n, a)| json!({"type": t, "name": n, "actions": a}))
        .collect();
    let claims = json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "exp": now + lifetime,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("skiff-{}-{n}", std::process::id()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).unwrap()),
        b64url(&serde_json::to_vec(&claims).unwrap())
    );
    let sig = rs256_sign(&st.certs.issuer_key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&sig))
}

/// RSASSA-PKCS1-v1_5 / SHA-256 signature of `data` with the PEM key at `key`, via openssl.
pub fn rs256_sign(key: &Path, data: &[u8]) -> Vec<u8> {
    let key: PathBuf = key.to_path_buf();
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl dgst (apt-get install -y openssl)");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl dgst -sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

// ---------------------------------------------------------------------------------------------
// Small encoders (no base64 crate in the dependency tree)
// ---------------------------------------------------------------------------------------------

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(data: &[u8], url: bool, pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                let mut c = B64[(n >> (18 - 6 * i) & 63) as usize];
                if url {
                    c = match c {
                        b'+' => b'-',
                        b'/' => b'_',
                        c => c,
                    };
                }
                out.push(c as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding.
pub fn b64_std(data: &[u8]) -> String {
    b64_encode(data, false, true)
}

/// base64url without padding (JWT).
pub fn b64url(data: &[u8]) -> String {
    b64_encode(data, true, false)
}

/// Decode standard or url-safe base64, padding optional.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decode (`+` → space) an application/x-www-form-urlencoded component.
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hexval(b[i + 1]), hexval(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse `a=1&b=2&b=3` into ordered (key, value) pairs.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (civil-from-days, proleptic Gregorian).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}
