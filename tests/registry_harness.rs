//! Self-tests of the registry test harness (tests/support/{certs,registry,token_server,
//! fault_proxy}.rs) against Debian's skopeo 1.9.3 and docker-registry (distribution 2.8).
//!
//! Needs: apt-get install -y skopeo docker-registry apache2-utils openssl

#[path = "support/certs.rs"]
mod certs;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/loopback.rs"]
mod loopback;
#[path = "support/registry.rs"]
mod registry;
mod support;
#[path = "support/token_server.rs"]
mod token_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use fault_proxy::{Fault, FaultAction, FaultProxy};
use registry::{Registry, RegistryOpts};
use serde_json::{Value, json};
use token_server::{TokenServer, TokenServerOpts};

const HELLO_MANIFEST: &str =
    "sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66";
const HELLO_LAYERS: [&str; 3] = [
    "sha256:e2446ce08465ffbaada21c9363ebaafe3c2a7b94c3f926706323ef717a06fe54",
    "sha256:23885e8869c556a5757edc5b03708d547cf34edb7ba233683c62b31719710b2c",
    "sha256:6aa09347ddfa9f8b0b9eef6b7c0a4c80f1a5c8fa31ec8a8d9f7ac529c18140f9",
];
const HELLO_CONFIG: &str =
    "sha256:620dc057349bd148f7caac1b342eba5c6e227e6a2b44ea7d366278c947be213a";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
    cmdline: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nok={}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.ok, self.stdout, self.stderr
        )
    }
}

/// Run skopeo with an empty HOME (no auth.json, no certs.d, no policy) from the repo root.
fn skopeo(home: &Path, args: &[&str]) -> Out {
    let mut c = Command::new("skopeo");
    c.args(args)
        .current_dir(repo_root())
        .env("HOME", home)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .stdin(Stdio::null());
    let o = c.output().expect("run skopeo (apt-get install -y skopeo)");
    Out {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        cmdline: format!("skopeo {}", args.join(" ")),
    }
}

fn push_hello(home: &Path, dest: &str, extra: &[&str]) -> Out {
    let mut a = vec!["--insecure-policy", "copy"];
    a.extend_from_slice(extra);
    a.push("oci:examples/hello-oci:latest");
    a.push(dest);
    skopeo(home, &a)
}

fn inspect_digest(home: &Path, image: &str, extra: &[&str]) -> String {
    let mut a = vec!["inspect"];
    a.extend_from_slice(extra);
    a.push(image);
    let out = skopeo(home, &a);
    assert!(out.ok, "{out:?}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

fn home() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("skiff-home-")
        .tempdir()
        .unwrap()
}

#[test]
fn plain_registry_push_inspect_mount_delete() {
    let h = home();
    let reg = Registry::start(RegistryOpts::plain().with_delete());
    assert!(reg.url().starts_with("http://127.0.0.1:"));
    let out = push_hello(
        h.path(),
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    assert!(out.ok, "{out:?}");
    assert_eq!(
        inspect_digest(
            h.path(),
            &reg.docker_ref("skiff/hello:v1"),
            &["--tls-verify=false"]
        ),
        HELLO_MANIFEST
    );
    assert_eq!(reg.blob_count(), 5, "3 layers + config + manifest");
    for d in HELLO_LAYERS.iter().chain([&HELLO_CONFIG]) {
        assert!(
            reg.has_blob(d) && reg.repo_has_blob("skiff/hello", d),
            "{d}"
        );
    }
    assert_eq!(reg.tags("skiff/hello"), ["v1"]);
    let ups = reg.uploads();
    assert_eq!(ups.len(), 4, "{ups:?}");
    assert!(ups.iter().all(|u| u.repo == "skiff/hello"));
    assert_eq!(reg.count_requests("PUT", "/v2/skiff/hello/manifests/v1"), 1);

    // Copy to another repo of the same registry: skopeo (via its blob-info cache, which knows
    // these blobs live in skiff/hello on this host:port) mounts the layers instead of
    // uploading them. The config is not in that cache, so it is uploaded again.
    let out = skopeo(
        h.path(),
        &[
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &reg.docker_ref("skiff/hello:v1"),
            &reg.docker_ref("skiff/other:v1"),
        ],
    );
    assert!(out.ok, "{out:?}");
    let mounts = reg.mounts();
    eprintln!("mounts: {mounts:#?}\nuploads: {:#?}", reg.uploads());
    assert!(
        !mounts.is_empty(),
        "no mount attempted:\n{}",
        reg.access_log_raw()
    );
    for m in &mounts {
        assert!(m.mounted(), "{m:?}");
        assert_eq!(
            (m.repo.as_str(), m.from.as_str()),
            ("skiff/other", "skiff/hello")
        );
        assert!(reg.repo_has_blob("skiff/other", &m.digest));
    }
    let mounted: Vec<&str> = mounts.iter().map(|m| m.digest.as_str()).collect();
    for u in reg.uploads().iter().filter(|u| u.repo == "skiff/other") {
        assert!(
            !mounted.contains(&u.digest.as_str()),
            "{u:?} both mounted and uploaded"
        );
    }
    assert_eq!(reg.blob_count(), 5, "mounting adds no blob");

    // A refused mount (unknown digest) is answered 202: an upload session instead.
    let missing = format!("sha256:{}", "0".repeat(64));
    let (status, head, _) = http(
        &reg.host(),
        "POST",
        &format!("/v2/skiff/third/blobs/uploads/?mount={missing}&from=skiff%2Fhello"),
        &[],
    );
    assert_eq!(status, 202, "{head}");
    let refused = reg
        .mounts()
        .into_iter()
        .find(|m| m.repo == "skiff/third")
        .unwrap();
    assert!(!refused.mounted());
    assert_eq!(
        (refused.digest.as_str(), refused.from.as_str()),
        (missing.as_str(), "skiff/hello")
    );

    // delete: enabled
    let out = skopeo(
        h.path(),
        &[
            "delete",
            "--tls-verify=false",
            &reg.docker_ref("skiff/other:v1"),
        ],
    );
    assert!(out.ok, "{out:?}");
    assert!(
        reg.access_log()
            .iter()
            .any(|e| e.method == "DELETE" && e.status == 202)
    );
}

#[test]
fn tls_registry_with_cert_dir() {
    let h = home();
    let certs = Arc::new(certs::Certs::generate());
    let reg = Registry::start(RegistryOpts::plain().with_tls(certs.clone()));
    assert!(reg.url().starts_with("https://127.0.0.1:"));
    let dest = reg.docker_ref("skiff/hello:v1");

    // Without the CA: x509 failure.
    let out = push_hello(h.path(), &dest, &[]);
    assert!(!out.ok && out.stderr.contains("x509"), "{out:?}");

    // Cert dir with only ca.crt.
    let ca_only = certs.layout_ca_only(&h.path().join("ca-only"), &reg.host());
    let out = push_hello(
        h.path(),
        &dest,
        &["--dest-cert-dir", ca_only.to_str().unwrap()],
    );
    assert!(out.ok, "{out:?}");
    let cert_dir = reg.cert_dir();
    assert!(cert_dir.ends_with(reg.host()));
    assert_eq!(
        inspect_digest(h.path(), &dest, &["--cert-dir", cert_dir.to_str().unwrap()]),
        HELLO_MANIFEST
    );
    assert_eq!(reg.blob_count(), 5);
    assert_eq!(reg.uploads().len(), 4, "TLS log sync works");

    // The default per-host lookup: $HOME/.config/containers/certs.d/HOST:PORT/ca.crt.
    certs.layout_ca_only(&h.path().join(".config/containers/certs.d"), &reg.host());
    assert_eq!(inspect_digest(h.path(), &dest, &[]), HELLO_MANIFEST);

    // Mutual TLS: the client certificate from the certs.d layout is required.
    let mtls = Registry::start(
        RegistryOpts::plain()
            .with_tls(certs.clone())
            .with_client_cert_required(),
    );
    let dest = mtls.docker_ref("skiff/hello:v1");
    let ca_only = certs.layout_ca_only(&h.path().join("mtls-ca-only"), &mtls.host());
    let out = push_hello(
        h.path(),
        &dest,
        &["--dest-cert-dir", ca_only.to_str().unwrap()],
    );
    assert!(!out.ok, "{out:?}");
    let out = push_hello(
        h.path(),
        &dest,
        &["--dest-cert-dir", mtls.cert_dir().to_str().unwrap()],
    );
    assert!(out.ok, "{out:?}");
    assert_eq!(mtls.blob_count(), 5);
}

#[test]
fn htpasswd_registry() {
    let h = home();
    let reg = Registry::start(RegistryOpts::htpasswd("user", "pass"));
    assert_eq!(reg.creds().as_deref(), Some("user:pass"));
    let dest = reg.docker_ref("skiff/hello:v1");
    let out = push_hello(
        h.path(),
        &dest,
        &["--dest-tls-verify=false", "--dest-creds", "user:wrong"],
    );
    assert!(!out.ok && out.stderr.contains("unauthorized"), "{out:?}");
    let out = push_hello(h.path(), &dest, &["--dest-tls-verify=false"]);
    assert!(!out.ok, "anonymous push must fail: {out:?}");
    assert_eq!(reg.blob_count(), 0);
    let out = push_hello(
        h.path(),
        &dest,
        &["--dest-tls-verify=false", "--dest-creds", "user:pass"],
    );
    assert!(out.ok, "{out:?}");
    assert_eq!(
        inspect_digest(
            h.path(),
            &dest,
            &["--tls-verify=false", "--creds", "user:pass"]
        ),
        HELLO_MANIFEST
    );
    let log = reg.access_log();
    assert!(log.iter().any(|e| e.path == "/v2/" && e.status == 401));
    assert!(reg.app_log().contains("skiff-test") || log.iter().any(|e| e.status == 401));
}

#[test]
fn token_registry() {
    let h = home();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    assert_eq!(reg.creds(), Some(ts.creds()));
    let dest = reg.docker_ref("skiff/hello:v1");

    let out = push_hello(
        h.path(),
        &dest,
        &["--dest-tls-verify=false", "--dest-creds", "user:wrong"],
    );
    assert!(!out.ok, "{out:?}");
    assert!(
        ts.requests()
            .iter()
            .any(|r| r.had_credentials && !r.authenticated && r.status == 401)
    );
    ts.clear_requests();

    let out = push_hello(
        h.path(),
        &dest,
        &["--dest-tls-verify=false", "--dest-creds", &ts.creds()],
    );
    assert!(out.ok, "{out:?}");
    let reqs = ts.requests();
    eprintln!("token requests: {reqs:#?}");
    assert!(
        reqs.iter().any(|r| r.authenticated
            && r.service.as_deref() == Some(token_server::SERVICE)
            && r.scopes
                .iter()
                .any(|s| s == "repository:skiff/hello:pull,push")),
        "{reqs:#?}"
    );
    assert!(reqs.iter().all(|r| r.authenticated && r.status == 200));
    assert_eq!(reg.blob_count(), 5);
    assert_eq!(
        inspect_digest(
            h.path(),
            &dest,
            &["--tls-verify=false", "--creds", &ts.creds()]
        ),
        HELLO_MANIFEST
    );
    assert!(
        ts.scopes_seen()
            .iter()
            .any(|s| s == "repository:skiff/hello:pull")
    );

    // Anonymous: a token with no access → the registry refuses.
    let out = skopeo(h.path(), &["inspect", "--tls-verify=false", &dest]);
    assert!(!out.ok, "{out:?}");
    assert!(
        ts.requests()
            .iter()
            .any(|r| !r.had_credentials && r.granted.is_empty())
    );
    // ... unless anonymous pull is configured.
    ts.set_anonymous_pull(true);
    assert_eq!(
        inspect_digest(h.path(), &dest, &["--tls-verify=false"]),
        HELLO_MANIFEST
    );
    let anon = ts
        .requests()
        .into_iter()
        .rev()
        .find(|r| !r.had_credentials)
        .unwrap();
    assert_eq!(
        anon.granted,
        [(
            "repository".into(),
            "skiff/hello".into(),
            vec!["pull".to_string()]
        )]
    );

    // OAuth2 password grant (POST form) is accepted too.
    {
        use std::io::{Read, Write};
        let form = "grant_type=password&service=skiff-registry&client_id=t&username=user&password=pass&scope=repository%3Askiff%2Fhello%3Apull";
        let mut s = std::net::TcpStream::connect(ts.host()).unwrap();
        write!(
            s,
            "POST /token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            ts.host(),
            form.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        let body: Value = serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["token"].as_str().unwrap().split('.').count(), 3);
        let last = ts.requests().pop().unwrap();
        assert!(last.authenticated && last.scopes == ["repository:skiff/hello:pull"]);
    }

    // Expired tokens (exp beyond distribution's 60 s leeway) are refused.
    ts.set_lifetime(-120, Some(60));
    let out = skopeo(
        h.path(),
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &ts.creds(),
            &dest,
        ],
    );
    assert!(!out.ok, "{out:?}");
    ts.set_lifetime(300, None);
}

#[test]
fn fault_proxy_429_is_retried_by_skopeo() {
    let h = home();
    let reg = Registry::start(RegistryOpts::plain());
    let out = push_hello(
        h.path(),
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    assert!(out.ok, "{out:?}");
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::too_many_requests().on("GET", "/v2/skiff/hello/manifests/*")],
    );
    let dst = h.path().join("out");
    let out = skopeo(
        h.path(),
        &[
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            &proxy.docker_ref("skiff/hello:v1"),
            &format!("oci:{}:v1", dst.display()),
        ],
    );
    assert!(out.ok, "{out:?}");
    let fired = proxy.faults_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].status, 429);
    assert!(proxy.count("GET", "/v2/skiff/hello/manifests/v1") >= 2);
    assert!(proxy.pending_faults().is_empty());
    for d in HELLO_LAYERS {
        assert!(dst.join("blobs/sha256").join(&d[7..]).is_file());
    }
}

#[test]
fn fault_proxy_5xx_is_not_retried_by_skopeo() {
    let h = home();
    let reg = Registry::start(RegistryOpts::plain());
    let out = push_hello(
        h.path(),
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    assert!(out.ok, "{out:?}");
    for (code, text) in [
        (500u16, "500 Internal Server Error"),
        (503, "503 Service Unavailable"),
    ] {
        // One fault per run below (times(2)); skopeo 1.9.3 retries neither, not even with
        // `copy --retry-times 1`.
        let proxy = FaultProxy::start(
            &reg.host(),
            vec![
                Fault::status(code)
                    .on("GET", "/v2/skiff/hello/manifests/*")
                    .times(2),
            ],
        );
        let out = skopeo(
            h.path(),
            &[
                "inspect",
                "--tls-verify=false",
                "--raw",
                &proxy.docker_ref("skiff/hello:v1"),
            ],
        );
        assert!(!out.ok && out.stderr.contains(text), "{out:?}");
        let dst = h.path().join(format!("out-{code}"));
        let out = skopeo(
            h.path(),
            &[
                "--insecure-policy",
                "copy",
                "--retry-times",
                "1",
                "--src-tls-verify=false",
                &proxy.docker_ref("skiff/hello:v1"),
                &format!("oci:{}:v1", dst.display()),
            ],
        );
        assert!(!out.ok && out.stderr.contains(text), "{out:?}");
        let fired = proxy.faults_fired();
        assert_eq!(fired.len(), 2, "{fired:?}");
        assert!(fired.iter().all(|r| r.status == code));
        assert_eq!(proxy.count("GET", "/v2/skiff/hello/manifests/v1"), 2);
        assert!(proxy.pending_faults().is_empty());
    }
}

/// A one-layer OCI layout with a `size`-byte incompressible layer, ref `latest`.
fn big_layout(dir: &Path, size: usize) -> String {
    let oci = support::OciLayout::create(dir);
    let layer = support::pseudo_random(1, size);
    let layer = oci.put_layer("application/vnd.oci.image.layer.v1.tar", &layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    }))
    .unwrap();
    oci.put_image("latest", &config, &[layer])
        .layer_digests
        .remove(0)
}

/// `GET http://HOST/PATH` with extra headers over a raw socket: (status, headers, body).
fn http_get(host: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    http(host, "GET", path, headers)
}

/// A bodiless request over a raw socket: (status, response head, body).
fn http(host: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if method == "POST" || method == "PUT" {
        req.push_str("Content-Length: 0\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, buf[split + 4..].to_vec())
}

#[test]
fn fault_proxy_connection_closed_mid_blob() {
    let h = home();
    let reg = Registry::start(RegistryOpts::plain());
    let out = push_hello(
        h.path(),
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    assert!(out.ok, "{out:?}");
    let data_layer = HELLO_LAYERS[1]; // 33 828 bytes
    let blob_path = format!("/v2/skiff/hello/blobs/{data_layer}");

    // skopeo 1.9.3 does not resume a blob whose connection is closed mid-body (no Range
    // request), not even with `copy --retry-times 1`: it fails with "unexpected EOF".
    for extra in [&[][..], &["--retry-times", "1"][..]] {
        let proxy = FaultProxy::start(
            &reg.host(),
            vec![Fault::truncate_blob(1000).on("GET", &blob_path)],
        );
        let dst = h.path().join(format!("out-small-{}", extra.len()));
        let mut args = vec!["--insecure-policy", "copy", "--src-tls-verify=false"];
        args.extend_from_slice(extra);
        let (src, dst) = (
            proxy.docker_ref("skiff/hello:v1"),
            format!("oci:{}:v1", dst.display()),
        );
        args.extend_from_slice(&[&src, &dst]);
        let out = skopeo(h.path(), &args);
        assert!(!out.ok && out.stderr.contains("unexpected EOF"), "{out:?}");
        let fired = proxy.faults_fired();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].path, blob_path);
        assert_eq!(fired[0].fault, Some(FaultAction::CloseAfterBodyBytes(1000)));
        assert!(proxy.ranges_seen().is_empty(), "{:?}", proxy.ranges_seen());
        assert_eq!(proxy.count("GET", &blob_path), 1);
    }

    // Not even after 2 MiB of a 3 MiB blob.
    let layout = h.path().join("big-oci");
    big_layout(&layout, 3 << 20);
    let out = skopeo(
        h.path(),
        &[
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:latest", layout.display()),
            &reg.docker_ref("skiff/big:v1"),
        ],
    );
    assert!(out.ok, "{out:?}");
    let proxy = FaultProxy::start(&reg.host(), vec![Fault::truncate_blob(2 << 20)]);
    let dst = h.path().join("out-big");
    let out = skopeo(
        h.path(),
        &[
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            &proxy.docker_ref("skiff/big:v1"),
            &format!("oci:{}:v1", dst.display()),
        ],
    );
    assert!(!out.ok && out.stderr.contains("unexpected EOF"), "{out:?}");
    assert_eq!(proxy.faults_fired().len(), 1);
    assert!(proxy.ranges_seen().is_empty());

    // The proxy itself: Range is forwarded (206 + the right bytes) and recorded, and a
    // truncation cuts exactly N body bytes and closes.
    let proxy = FaultProxy::start(&reg.host(), vec![Fault::truncate_blob(1000)]);
    let blob = reg.read_blob(data_layer).unwrap();
    let (status, head, body) = http_get(&proxy.host(), &blob_path, &[]);
    assert_eq!(status, 200);
    assert!(
        head.contains(&format!("Content-Length: {}", blob.len())),
        "{head}"
    );
    assert_eq!(body, &blob[..1000]);
    let (status, head, body) = http_get(&proxy.host(), &blob_path, &[("Range", "bytes=1000-")]);
    assert_eq!(status, 206, "{head}");
    assert_eq!(body, &blob[1000..]);
    assert_eq!(
        proxy.ranges_seen(),
        [(blob_path.clone(), "bytes=1000-".to_string())]
    );
    assert_eq!(proxy.count("GET", "/v2/*/blobs/*"), 2);
}
