//! A real registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) on a free
//! loopback port, its storage, config and logs under a `TempDir`, killed (by PID) and waited
//! on drop.
//!
//! ```ignore
//! let reg = Registry::start(RegistryOpts::plain());
//! let reg = Registry::start(RegistryOpts::tls());                    // CA: reg.ca_cert()
//! let reg = Registry::start(RegistryOpts::htpasswd("user", "pass"));  // realm "skiff-test"
//! let ts  = TokenServer::start(TokenServerOpts::default());
//! let reg = Registry::start(RegistryOpts::token(&ts));
//! ```
//!
//! Logs: the HTTP access log (combined log format, one line per request, written by
//! distribution to stdout) goes to `access.log`; the application log (logrus text, level
//! info) to `registry.log`. [`Registry::access_log`] first makes a sentinel request and waits
//! until it shows up, so every request that completed before the call is in the result.
//!
//! Cross-repo mount vs upload: `POST /v2/<dst>/blobs/uploads/?from=<src>&mount=<digest>`
//! answered **201** = mounted (no data sent); answered **202** = the mount was refused and an
//! upload session was opened instead. A blob *uploaded* ends with
//! `PUT /v2/<dst>/blobs/uploads/<uuid>?...&digest=<digest>` answered 201 (or a monolithic
//! `POST /v2/<dst>/blobs/uploads/?digest=<digest>` answered 201). See [`Registry::mounts`] and
//! [`Registry::uploads`].
//!
//! skopeo (containers/image) only tries a mount when its blob-info cache knows the blob in
//! another repo of the same host:port; as root that cache is the machine-wide
//! `/var/lib/containers/cache/blob-info-cache-v1.boltdb` (HOME does not isolate it), so a
//! fresh registry port is what keeps tests independent.
//!
//! Needs the Debian packages `docker-registry`, `apache2-utils` (htpasswd) and `openssl`.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::certs::Certs;
use super::token_server::{self, TokenServer};

/// Path of Debian's distribution binary.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// htpasswd realm.
pub const BASIC_REALM: &str = "skiff-test";

/// How clients must authenticate.
#[derive(Clone)]
pub enum Auth {
    None,
    /// `auth: htpasswd:` with one bcrypt user (made by `htpasswd -Bbn`).
    Htpasswd {
        user: String,
        password: String,
    },
    /// `auth: token:`; `realm` is the token endpoint URL, `rootcertbundle` the issuer cert.
    /// `user`/`password` are what the token server accepts (only reported by the accessors).
    Token {
        realm: String,
        rootcertbundle: PathBuf,
        user: String,
        password: String,
    },
}

/// Options for [`Registry::start`].
#[derive(Clone)]
pub struct RegistryOpts {
    /// Serve HTTPS with `certs.server_cert` (CA: `certs.ca_cert`).
    pub tls: Option<Arc<Certs>>,
    /// With `tls`: require a client certificate signed by the CA (`http.tls.clientcas`).
    pub require_client_cert: bool,
    pub auth: Auth,
    /// `storage.delete.enabled: true`
    pub delete: bool,
}

impl RegistryOpts {
    /// Plain HTTP, no auth, delete disabled.
    pub fn plain() -> Self {
        RegistryOpts {
            tls: None,
            require_client_cert: false,
            auth: Auth::None,
            delete: false,
        }
    }
    /// HTTPS with a freshly generated PKI, no auth.
    pub fn tls() -> Self {
        Self::plain().with_tls(Arc::new(Certs::generate()))
    }
    /// Plain HTTP with htpasswd Basic auth.
    pub fn htpasswd(user: &str, password: &str) -> Self {
        Self::plain().with_htpasswd(user, password)
    }
    /// Plain HTTP with token auth delegated to `ts`.
    pub fn token(ts: &TokenServer) -> Self {
        Self::plain().with_token(ts)
    }
    pub fn with_tls(mut self, certs: Arc<Certs>) -> Self {
        self.tls = Some(certs);
        self
    }
    pub fn with_client_cert_required(mut self) -> Self {
        self.require_client_cert = true;
        self
    }
    pub fn with_htpasswd(mut self, user: &str, password: &str) -> Self {
        self.auth = Auth::Htpasswd {
            user: user.into(),
            password: password.into(),
        };
        self
    }
    pub fn with_token(mut self, ts: &TokenServer) -> Self {
        self.auth = Auth::Token {
            realm: ts.realm(),
            rootcertbundle: ts.issuer_cert().to_path_buf(),
            user: ts.user(),
            password: ts.password(),
        };
        self
    }
    pub fn with_delete(mut self) -> Self {
        self.delete = true;
        self
    }
}

/// One line of the access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry {
    pub method: String,
    /// Request target as sent (path + `?query`).
    pub uri: String,
    /// Path without the query.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    pub status: u16,
    pub bytes: u64,
    pub user_agent: String,
}

impl AccessEntry {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
}

/// A cross-repository mount attempt (`POST .../blobs/uploads/?mount=&from=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountAttempt {
    /// Destination repository.
    pub repo: String,
    pub digest: String,
    /// Source repository (`from`).
    pub from: String,
    /// 201: mounted. 202: refused, an upload session was opened instead.
    pub status: u16,
}

impl MountAttempt {
    pub fn mounted(&self) -> bool {
        self.status == 201
    }
}

/// A completed blob upload (data actually sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobUpload {
    pub repo: String,
    pub digest: String,
}

/// A running registry. Killed and waited on drop.
pub struct Registry {
    dir: TempDir,
    child: Child,
    port: u16,
    opts: RegistryOpts,
    sync_counter: AtomicU64,
}

/// Pick a free loopback port (bind 127.0.0.1:0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Start a registry and wait (≤ 10 s) until `GET /v2/` answers; panics with its log if not.
    pub fn start(opts: RegistryOpts) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: apt-get install -y docker-registry apache2-utils openssl"
        );
        let dir = tempfile::Builder::new()
            .prefix("skiff-registry-")
            .tempdir()
            .unwrap();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let config = write_config(dir.path(), port, &opts);
            let mut child = spawn(dir.path(), &config);
            match wait_ready(&mut child, port, Duration::from_secs(10)) {
                Ok(()) => {
                    return Registry {
                        dir,
                        child,
                        port,
                        opts,
                        sync_counter: AtomicU64::new(0),
                    };
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log =
                        fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
                    // Another process took the port between our probe and the registry's bind.
                    if attempt < 3 && log.contains("address already in use") {
                        continue;
                    }
                    let access =
                        fs::read_to_string(dir.path().join("access.log")).unwrap_or_default();
                    panic!(
                        "docker-registry on 127.0.0.1:{port} did not come up: {why}\n--- registry.log (stderr) ---\n{log}\n--- access.log (stdout) ---\n{access}"
                    );
                }
            }
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.opts.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host())
    }
    /// `docker://127.0.0.1:PORT/REPO_AND_TAG`
    pub fn docker_ref(&self, repo_and_tag: &str) -> String {
        format!("docker://{}/{repo_and_tag}", self.host())
    }
    pub fn is_tls(&self) -> bool {
        self.opts.tls.is_some()
    }
    pub fn certs(&self) -> Option<&Arc<Certs>> {
        self.opts.tls.as_ref()
    }
    /// The CA that signed the server certificate (TLS registries only).
    pub fn ca_cert(&self) -> Option<&Path> {
        self.opts.tls.as_ref().map(|c| c.ca_cert.as_path())
    }
    /// A `--*-cert-dir` directory for this registry: `ca.crt` + `client.cert` + `client.key`
    /// (containers-certs.d(5) layout, `<tmp>/certs.d/127.0.0.1:PORT`). TLS registries only.
    pub fn cert_dir(&self) -> PathBuf {
        let certs = self
            .opts
            .tls
            .as_ref()
            .expect("cert_dir() needs a TLS registry");
        certs.layout_certs_d(&self.dir.path().join("certs.d"), &self.host())
    }
    pub fn user(&self) -> Option<&str> {
        match &self.opts.auth {
            Auth::None => None,
            Auth::Htpasswd { user, .. } | Auth::Token { user, .. } => Some(user),
        }
    }
    pub fn password(&self) -> Option<&str> {
        match &self.opts.auth {
            Auth::None => None,
            Auth::Htpasswd { password, .. } | Auth::Token { password, .. } => Some(password),
        }
    }
    /// `user:password` (for `--creds`), if the registry has auth.
    pub fn creds(&self) -> Option<String> {
        Some(format!("{}:{}", self.user()?, self.password()?))
    }
    pub fn opts(&self) -> &RegistryOpts {
        &self.opts
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// The temp dir holding config, logs and storage.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// `storage.filesystem.rootdirectory`
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }
    fn v2(&self) -> PathBuf {
        self.storage_dir().join("docker/registry/v2")
    }

    /// Number of blobs in the global blob store (`blobs/sha256/xx/<hex>/data`). Manifests are
    /// stored there too (hello-oci pushed = 3 layers + config + manifest = 5). A cross-repo
    /// mount does not add one; an upload of a new blob does.
    pub fn blob_count(&self) -> usize {
        let root = self.v2().join("blobs/sha256");
        let Ok(prefixes) = fs::read_dir(&root) else {
            return 0;
        };
        prefixes
            .flatten()
            .flat_map(|p| fs::read_dir(p.path()).into_iter().flatten().flatten())
            .filter(|b| b.path().join("data").is_file())
            .count()
    }
    /// The blob `sha256:<hex>` is in the global blob store.
    pub fn has_blob(&self, digest: &str) -> bool {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.v2()
            .join("blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
            .is_file()
    }
    /// `repo` links the layer/blob `digest` (i.e. `HEAD /v2/repo/blobs/digest` would be 200).
    pub fn repo_has_blob(&self, repo: &str, digest: &str) -> bool {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.v2()
            .join("repositories")
            .join(repo)
            .join("_layers/sha256")
            .join(hex)
            .join("link")
            .is_file()
    }
    /// Raw bytes of blob `digest` from storage.
    pub fn read_blob(&self, digest: &str) -> Option<Vec<u8>> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        fs::read(
            self.v2()
                .join("blobs/sha256")
                .join(&hex[..2])
                .join(hex)
                .join("data"),
        )
        .ok()
    }
    /// Tags of `repo` present in storage.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let d = self
            .v2()
            .join("repositories")
            .join(repo)
            .join("_manifests/tags");
        let mut v: Vec<String> = fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Registry application log (stderr; logrus text, level info).
    pub fn app_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
    /// The access log as written so far (no sync).
    pub fn access_log_raw(&self) -> String {
        fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// Make sure every request that completed before this call has been logged: send a
    /// sentinel `GET /v2/?skiff-log-sync=N` and wait (≤ 5 s) for its access-log line.
    pub fn sync_logs(&self) {
        let n = self.sync_counter.fetch_add(1, Ordering::SeqCst);
        let marker = format!("skiff-log-sync={}-{n}", self.port);
        let req = format!(
            "GET /v2/?{marker} HTTP/1.1\r\nHost: {}\r\nUser-Agent: skiff-harness\r\nConnection: close\r\n\r\n",
            self.host()
        );
        if let Some(certs) = &self.opts.tls {
            // openssl s_client speaks TLS for us (and presents the client cert).
            let mut c = Command::new("openssl");
            c.args(["s_client", "-quiet", "-connect", &self.host(), "-CAfile"])
                .arg(&certs.ca_cert)
                .arg("-cert")
                .arg(&certs.client_cert)
                .arg("-key")
                .arg(&certs.client_key)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Ok(mut child) = c.spawn() {
                let _ = child.stdin.take().unwrap().write_all(req.as_bytes());
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    if self.access_log_raw().contains(&marker) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        } else if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = s.write_all(req.as_bytes());
            let mut sink = Vec::new();
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.read_to_end(&mut sink);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.access_log_raw().contains(&marker) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Parsed access log (after [`Registry::sync_logs`]), sentinel requests excluded.
    pub fn access_log(&self) -> Vec<AccessEntry> {
        self.sync_logs();
        self.access_log_raw()
            .lines()
            .filter_map(parse_access_line)
            .filter(|e| !e.uri.contains("skiff-log-sync="))
            .collect()
    }

    /// Number of logged requests with this method whose path matches `glob` (`*` = any run
    /// of characters, including `/`).
    pub fn count_requests(&self, method: &str, glob: &str) -> usize {
        self.access_log()
            .iter()
            .filter(|e| e.method == method && glob_match(glob, &e.path))
            .count()
    }

    /// Every cross-repo mount attempt, in order.
    pub fn mounts(&self) -> Vec<MountAttempt> {
        self.access_log()
            .into_iter()
            .filter(|e| e.method == "POST" && e.path.ends_with("/blobs/uploads/"))
            .filter_map(|e| {
                Some(MountAttempt {
                    repo: upload_repo(&e.path)?,
                    digest: e.param("mount")?.to_string(),
                    from: e.param("from").unwrap_or_default().to_string(),
                    status: e.status,
                })
            })
            .collect()
    }

    /// Every completed blob upload (chunked/streamed `PUT ...?digest=` or monolithic
    /// `POST ...?digest=` answered 201), in order.
    pub fn uploads(&self) -> Vec<BlobUpload> {
        self.access_log()
            .into_iter()
            .filter(|e| e.status == 201 && (e.method == "PUT" || e.method == "POST"))
            .filter(|e| e.path.contains("/blobs/uploads/") && e.param("mount").is_none())
            .filter_map(|e| {
                Some(BlobUpload {
                    repo: upload_repo(&e.path)?,
                    digest: e.param("digest")?.to_string(),
                })
            })
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `GET /v2/` until something answers, the child exits, or `timeout` passes.
fn wait_ready(child: &mut Child, port: u16, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("it exited with {status}"));
        }
        if probe(port) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no answer to GET /v2/ within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn upload_repo(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    let i = rest.find("/blobs/uploads/")?;
    Some(rest[..i].to_string())
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

/// Parse one combined-log-format line:
/// `127.0.0.1 - - [date] "METHOD URI HTTP/1.1" STATUS BYTES "referer" "user-agent"`.
pub fn parse_access_line(line: &str) -> Option<AccessEntry> {
    let q1 = line.find('"')?;
    let rest = &line[q1 + 1..];
    let q2 = rest.find('"')?;
    let mut req = rest[..q2].split(' ');
    let method = req.next()?.to_string();
    let uri = req.next()?.to_string();
    let mut after = rest[q2 + 1..].split_whitespace();
    let status = after.next()?.parse().ok()?;
    let bytes = after.next()?.parse().unwrap_or(0);
    let ua = rest[q2 + 1..].rsplit('"').nth(1).unwrap_or("").to_string();
    let (path, query) = uri.split_once('?').unwrap_or((&uri, ""));
    Some(AccessEntry {
        method,
        path: path.to_string(),
        query: token_server::parse_form(query),
        uri: uri.clone(),
        status,
        bytes,
        user_agent: ua,
    })
}

/// Does something answer HTTP on this port? (`GET /v2/`; for a TLS port, Go answers the plain
/// request with `HTTP/1.0 400 Bad Request`, which also proves it is serving.)
fn probe(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!(
        "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: skiff-harness-probe\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < 8 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf[..got].starts_with(b"HTTP/1.")
}

fn spawn(dir: &Path, config: &Path) -> Child {
    let stdout = fs::File::create(dir.join("access.log")).unwrap();
    let stderr = fs::File::create(dir.join("registry.log")).unwrap();
    let mut c = Command::new(REGISTRY_BIN);
    c.arg("serve").arg(config).current_dir(dir);
    // distribution lets REGISTRY_* variables override the config file.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    c.spawn()
        .unwrap_or_else(|e| panic!("cannot start {REGISTRY_BIN}: {e}"))
}

fn yaml_str(p: &Path) -> String {
    // A double-quoted YAML scalar (temp paths have no quotes or backslashes, but be safe).
    format!("{:?}", p.to_string_lossy())
}

fn write_config(dir: &Path, port: u16, opts: &RegistryOpts) -> PathBuf {
    let storage = dir.join("storage");
    fs::create_dir_all(&storage).unwrap();
    let mut y = String::new();
    y.push_str("version: 0.1\n");
    y.push_str("log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n");
    y.push_str(&format!(
        "storage:\n  filesystem:\n    rootdirectory: {}\n",
        yaml_str(&storage)
    ));
    y.push_str(&format!("  delete:\n    enabled: {}\n", opts.delete));
    y.push_str("  maintenance:\n    uploadpurging:\n      enabled: false\n");
    y.push_str(&format!(
        "http:\n  addr: 127.0.0.1:{port}\n  secret: skiff-test-secret-{port}\n"
    ));
    if let Some(c) = &opts.tls {
        y.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            yaml_str(&c.server_cert),
            yaml_str(&c.server_key)
        ));
        if opts.require_client_cert {
            y.push_str(&format!(
                "    clientcas:\n      - {}\n",
                yaml_str(&c.ca_cert)
            ));
        }
    }
    match &opts.auth {
        Auth::None => {}
        Auth::Htpasswd { user, password } => {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| {
                    panic!("cannot run htpasswd ({e}): apt-get install -y apache2-utils")
                });
            assert!(
                out.status.success(),
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8(out.stdout).unwrap();
            let path = dir.join("htpasswd");
            fs::write(&path, format!("{}\n", line.trim())).unwrap();
            y.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: {BASIC_REALM}\n    path: {}\n",
                yaml_str(&path)
            ));
        }
        Auth::Token {
            realm,
            rootcertbundle,
            ..
        } => {
            y.push_str(&format!(
                "auth:\n  token:\n    realm: {realm:?}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                token_server::SERVICE,
                token_server::ISSUER,
                yaml_str(rootcertbundle)
            ));
        }
    }
    let path = dir.join("config.yml");
    fs::write(&path, y).unwrap();
    path
}
