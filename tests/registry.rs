//! Integration tests of the `docker://` (registry) transport of skiff against Debian's
//! docker-registry (CNCF distribution 2.8), a token server, a fault-injecting proxy and
//! skopeo 1.9.3 (tests/support/{registry,token_server,fault_proxy,certs}.rs).
//!
//! Every skiff/skopeo child gets its own HOME, XDG_RUNTIME_DIR and CONTAINERS_REGISTRIES_CONF
//! (an empty file unless a test writes one), so the machine's configuration never leaks in.
//!
//! Needs: apt-get install -y skopeo docker-registry apache2-utils openssl

#[path = "support/certs.rs"]
mod certs;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/registry.rs"]
mod registry;
#[path = "support/token_server.rs"]
mod token_server;

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fault_proxy::{Fault, FaultAction, FaultProxy};
use registry::{Registry, RegistryOpts};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
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
/// The 33 828-byte layer of hello-oci.
const BIG_HELLO_LAYER: &str = HELLO_LAYERS[1];
const MULTI_INDEX: &str = "sha256:15a0b9a17838b32cbfdb2d0109edd8191cd3481d8e22bc33689f549d0058caf9";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn hello_src() -> String {
    format!(
        "oci:{}:latest",
        repo_root().join("examples/hello-oci").display()
    )
}

fn hello_blobs() -> Vec<&'static str> {
    HELLO_LAYERS.iter().copied().chain([HELLO_CONFIG]).collect()
}

// ---------------------------------------------------------------------------------------
// Running skiff / skopeo in an isolated environment
// ---------------------------------------------------------------------------------------

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    cmdline: String,
    elapsed: Duration,
}

impl Out {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit={:?} ({:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A per-test sandbox: `home/`, `run/` (XDG_RUNTIME_DIR), `registries.conf` (empty).
struct Ctx {
    dir: TempDir,
}

impl Ctx {
    fn new() -> Ctx {
        let dir = tempfile::Builder::new()
            .prefix("skiff-regtest-")
            .tempdir()
            .unwrap();
        fs::create_dir_all(dir.path().join("home")).unwrap();
        fs::create_dir_all(dir.path().join("run")).unwrap();
        fs::write(dir.path().join("registries.conf"), "").unwrap();
        Ctx { dir }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn home(&self) -> PathBuf {
        self.path("home")
    }
    fn xdg(&self) -> PathBuf {
        self.path("run")
    }
    fn registries_conf(&self) -> PathBuf {
        self.path("registries.conf")
    }
    fn write_registries_conf(&self, text: &str) {
        fs::write(self.registries_conf(), text).unwrap();
    }
    /// `oci:<tmp>/<name>:<tag>`
    fn oci(&self, name: &str, tag: &str) -> String {
        format!("oci:{}:{tag}", self.path(name).display())
    }

    fn command(&self, program: &str, env: &[(&str, OsString)]) -> Command {
        let mut c = Command::new(program);
        c.current_dir(repo_root())
            .env("HOME", self.home())
            .env("XDG_RUNTIME_DIR", self.xdg())
            .env("CONTAINERS_REGISTRIES_CONF", self.registries_conf())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("DOCKER_CONFIG")
            .env_remove("SKIFF_UPLOAD_CHUNK_SIZE")
            .env_remove("CONTAINERS_CERTS_D")
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, program: &str, args: &[&str], env: &[(&str, OsString)]) -> Out {
        let start = Instant::now();
        let o = self
            .command(program, env)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            cmdline: format!("{program} {}", args.join(" ")),
            elapsed: start.elapsed(),
        }
    }

    /// `skiff --insecure-policy copy FLAGS... SRC DEST`
    fn copy(&self, flags: &[&str], src: &str, dest: &str) -> Out {
        self.copy_env(flags, src, dest, &[])
    }

    fn copy_env(&self, flags: &[&str], src: &str, dest: &str, env: &[(&str, OsString)]) -> Out {
        let mut args = vec!["--insecure-policy", "copy"];
        args.extend_from_slice(flags);
        args.push(src);
        args.push(dest);
        self.run(env!("CARGO_BIN_EXE_skiff"), &args, env)
    }

    fn skopeo(&self, args: &[&str]) -> Out {
        self.run("skopeo", args, &[])
    }

    /// Push examples/hello-oci to `dest` with skiff and assert success.
    fn push_hello(&self, dest: &str, flags: &[&str]) {
        let out = self.copy(flags, &hello_src(), dest);
        assert!(out.ok(), "{out:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Inspecting results
// ---------------------------------------------------------------------------------------

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The manifest digest the registry's storage links to `repo:tag`.
fn tag_digest(reg: &Registry, repo: &str, tag: &str) -> Option<String> {
    fs::read_to_string(
        reg.storage_dir()
            .join("docker/registry/v2/repositories")
            .join(repo)
            .join("_manifests/tags")
            .join(tag)
            .join("current/link"),
    )
    .ok()
    .map(|s| s.trim().to_string())
}

/// The digest `index.json` of an OCI layout names for `ref_name`.
fn oci_ref_digest(layout: &Path, ref_name: &str) -> String {
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == ref_name)
        .unwrap_or_else(|| panic!("no ref {ref_name} in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every blob in an OCI layout hashes to its name; returns their digests.
fn verify_oci_blobs(layout: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for e in fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let data = fs::read(e.path()).unwrap();
        assert_eq!(sha256_hex(&data), name, "blob {name} is corrupt");
        v.push(format!("sha256:{name}"));
    }
    v
}

/// The image `hello-oci` is complete and intact in the layout under `ref_name`.
fn assert_hello_layout(layout: &Path, ref_name: &str) {
    assert_eq!(oci_ref_digest(layout, ref_name), HELLO_MANIFEST);
    let blobs = verify_oci_blobs(layout);
    for d in hello_blobs().into_iter().chain([HELLO_MANIFEST]) {
        assert!(
            blobs.iter().any(|b| b == d),
            "{d} missing from {}",
            layout.display()
        );
    }
}

/// The registry's access log without the harness's own readiness probe / log-sync requests.
fn client_requests(reg: &Registry) -> Vec<registry::AccessEntry> {
    reg.access_log()
        .into_iter()
        .filter(|e| !e.user_agent.starts_with("skiff-harness"))
        .collect()
}

fn b64(s: &str) -> String {
    token_server::b64_std(s.as_bytes())
}

/// A containers-auth.json with `auths` entries `key -> user:pass`.
fn auth_json(entries: &[(&str, &str)]) -> String {
    let mut auths = serde_json::Map::new();
    for (key, creds) in entries {
        auths.insert(key.to_string(), json!({ "auth": b64(creds) }));
    }
    serde_json::to_string_pretty(&json!({ "auths": auths })).unwrap()
}

fn write_file(path: &Path, text: &str) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// `dir/bin/docker-credential-skifftest`: logs each call to `dir/helper.log` and, for `get`,
/// answers `user`/`password` for whatever server URL it is asked about.
fn credential_helper(dir: &Path, user: &str, password: &str) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = dir.join("helper.log");
    let script = bin.join("docker-credential-skifftest");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             read -r url\n\
             echo \"$1 $url\" >> '{log}'\n\
             case \"$1\" in\n\
             get) printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}\\n' \"$url\" ;;\n\
             *) exit 1 ;;\n\
             esac\n",
            log = log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    (PathBuf::from(path), log)
}

/// Assert the push of `repo` failed cleanly (exit 1, `Error:`) and published nothing.
fn assert_failed_unpublished(out: &Out, reg: &Registry, repo: &str) {
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(
        reg.tags(repo).is_empty(),
        "tag published: {:?}\n{out:?}",
        reg.tags(repo)
    );
    assert_eq!(
        reg.count_requests("PUT", &format!("/v2/{repo}/manifests/*")),
        0,
        "a manifest PUT was attempted\n{out:?}"
    );
}

/// An OCI layout with one gzip layer of `size` incompressible bytes (a valid gzip stream of
/// stored blocks) and the given config; ref `latest`. Returns (layer digest, config digest).
fn gzip_layout(dir: &Path, size: usize, seed: u64, config: &[u8]) -> (String, String) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> String {
        let hex = sha256_hex(data);
        fs::write(blobs.join(&hex), data).unwrap();
        format!("sha256:{hex}")
    };
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed;
    let raw: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    gz.write_all(&raw).unwrap();
    let layer = gz.finish().unwrap();
    let layer_digest = put(&layer);
    let config_digest = put(config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let manifest_digest = put(&manifest);
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len(),
                           "annotations": {"org.opencontainers.image.ref.name": "latest"}}],
        }))
        .unwrap(),
    )
    .unwrap();
    (layer_digest, config_digest)
}

/// Copy a directory tree (flat enough for OCI layouts).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Plain HTTP registry
// ---------------------------------------------------------------------------------------

#[test]
fn plain_oci_to_registry_to_oci_round_trip_keeps_digest() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );

    assert_eq!(reg.tags("skiff/hello"), ["v1"]);
    assert_eq!(
        tag_digest(&reg, "skiff/hello", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
    for d in hello_blobs() {
        assert!(reg.repo_has_blob("skiff/hello", d), "{d} not pushed");
    }
    let mut uploaded: Vec<String> = reg.uploads().into_iter().map(|u| u.digest).collect();
    uploaded.sort();
    let mut want: Vec<String> = hello_blobs().iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(uploaded, want, "each blob uploaded exactly once");

    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("back"), "v1");
}

#[test]
fn plain_registry_to_dir() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let dir = cx.path("dir-out");
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &format!("dir:{}", dir.display()),
    );
    assert!(out.ok(), "{out:?}");
    let manifest = fs::read(dir.join("manifest.json")).unwrap();
    assert_eq!(format!("sha256:{}", sha256_hex(&manifest)), HELLO_MANIFEST);
    for d in hello_blobs() {
        let hex = &d[7..];
        let data = fs::read(dir.join(hex)).unwrap_or_else(|e| panic!("{d}: {e}"));
        assert_eq!(sha256_hex(&data), hex);
    }
    assert!(dir.join("version").is_file());
}

#[test]
fn plain_registry_to_oci_archive() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let archive = cx.path("hello.tar");
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &format!("oci-archive:{}:v1", archive.display()),
    );
    assert!(out.ok(), "{out:?}");
    // Unpack and check it is a complete, intact OCI layout.
    let unpacked = cx.path("unpacked");
    fs::create_dir_all(&unpacked).unwrap();
    tar::Archive::new(fs::File::open(&archive).unwrap())
        .unpack(&unpacked)
        .unwrap();
    assert!(unpacked.join("oci-layout").is_file());
    assert_hello_layout(&unpacked, "v1");
}

#[test]
fn skopeo_pulls_what_skiff_pushed() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let out = cx.skopeo(&[
        "inspect",
        "--tls-verify=false",
        &reg.docker_ref("skiff/hello:v1"),
    ]);
    assert!(out.ok(), "{out:?}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["Digest"], HELLO_MANIFEST);
    let out = cx.skopeo(&[
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        &reg.docker_ref("skiff/hello:v1"),
        &cx.oci("by-skopeo", "v1"),
    ]);
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("by-skopeo"), "v1");
}

#[test]
fn skiff_pulls_what_skopeo_pushed() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let out = cx.skopeo(&[
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    ]);
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        tag_digest(&reg, "skiff/hello", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &cx.oci("by-skiff", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("by-skiff"), "v1");
}

#[test]
fn all_multiarch_index_round_trip_keeps_index_digest() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let src = format!(
        "oci:{}:latest",
        repo_root().join("examples/multiarch-oci").display()
    );
    let out = cx.copy(
        &["--all", "--dest-tls-verify=false"],
        &src,
        &reg.docker_ref("skiff/multi:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        tag_digest(&reg, "skiff/multi", "v1").as_deref(),
        Some(MULTI_INDEX)
    );
    // Every per-platform manifest the index lists was pushed (by digest) too.
    let index: Value = serde_json::from_slice(
        &fs::read(
            repo_root()
                .join("examples/multiarch-oci/blobs/sha256")
                .join(&MULTI_INDEX[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    let children: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    assert!(children.len() >= 2, "{index}");
    for d in &children {
        assert!(reg.has_blob(d), "instance {d} not pushed");
        assert_eq!(
            reg.count_requests("PUT", &format!("/v2/skiff/multi/manifests/{d}")),
            1,
            "instance {d}"
        );
    }

    let out = cx.copy(
        &["--all", "--src-tls-verify=false"],
        &reg.docker_ref("skiff/multi:v1"),
        &cx.oci("multi-back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    let back = cx.path("multi-back");
    assert_eq!(oci_ref_digest(&back, "v1"), MULTI_INDEX);
    let blobs = verify_oci_blobs(&back);
    for d in &children {
        assert!(blobs.contains(d), "instance {d} not pulled back");
    }
}

#[test]
fn digestfile_names_the_pushed_manifest() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let df = cx.path("digest.txt");
    let out = cx.copy(
        &[
            "--dest-tls-verify=false",
            "--digestfile",
            df.to_str().unwrap(),
        ],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(fs::read_to_string(&df).unwrap().trim(), HELLO_MANIFEST);
    assert_eq!(
        tag_digest(&reg, "skiff/hello", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
}

#[test]
fn dest_precompute_digests_push_works_and_skips_known_blobs() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let flags = ["--dest-tls-verify=false", "--dest-precompute-digests"];
    cx.push_hello(&reg.docker_ref("skiff/hello:v1"), &flags);
    assert_eq!(
        tag_digest(&reg, "skiff/hello", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
    assert_eq!(reg.uploads().len(), 4, "{:?}", reg.uploads());
    cx.push_hello(&reg.docker_ref("skiff/hello:v2"), &flags);
    assert_eq!(
        tag_digest(&reg, "skiff/hello", "v2").as_deref(),
        Some(HELLO_MANIFEST)
    );
    assert_eq!(
        reg.uploads().len(),
        4,
        "second push re-uploaded: {:?}",
        reg.uploads()
    );
}

// ---------------------------------------------------------------------------------------
// Registry to registry
// ---------------------------------------------------------------------------------------

#[test]
fn same_registry_copy_mounts_every_blob() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let out = cx.copy(
        &["--src-tls-verify=false", "--dest-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &reg.docker_ref("skiff/copy:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        tag_digest(&reg, "skiff/copy", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );

    let mounts: Vec<_> = reg
        .mounts()
        .into_iter()
        .filter(|m| m.repo == "skiff/copy")
        .collect();
    for m in &mounts {
        assert!(m.mounted(), "mount refused: {m:?}");
        assert_eq!(m.from, "skiff/hello", "{m:?}");
    }
    let mut mounted: Vec<&str> = mounts.iter().map(|m| m.digest.as_str()).collect();
    mounted.sort();
    let mut want = hello_blobs();
    want.sort();
    assert_eq!(mounted, want, "every blob mounted exactly once\n{out:?}");
    let uploads: Vec<_> = reg
        .uploads()
        .into_iter()
        .filter(|u| u.repo == "skiff/copy")
        .collect();
    assert!(
        uploads.is_empty(),
        "blobs uploaded instead of mounted: {uploads:?}"
    );
    assert_eq!(reg.blob_count(), 5, "a mount adds no blob");
    assert_eq!(
        reg.count_requests("GET", "/v2/skiff/hello/blobs/*"),
        0,
        "blobs downloaded"
    );
}

#[test]
fn registry_to_other_registry_uploads_blobs() {
    let cx = Ctx::new();
    let a = Registry::start(RegistryOpts::plain());
    let b = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &a.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let out = cx.copy(
        &["--src-tls-verify=false", "--dest-tls-verify=false"],
        &a.docker_ref("skiff/hello:v1"),
        &b.docker_ref("skiff/hello:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        tag_digest(&b, "skiff/hello", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
    assert!(
        b.mounts().is_empty(),
        "mount attempted across registries: {:?}",
        b.mounts()
    );
    let mut uploaded: Vec<String> = b.uploads().into_iter().map(|u| u.digest).collect();
    uploaded.sort();
    let mut want: Vec<String> = hello_blobs().iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(uploaded, want);
    for d in hello_blobs() {
        assert_eq!(
            b.read_blob(d)
                .map(|x| format!("sha256:{}", sha256_hex(&x)))
                .as_deref(),
            Some(d)
        );
    }
}

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

#[test]
fn tls_dest_cert_dir_with_ca_works() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::tls());
    let ca_dir = reg
        .certs()
        .unwrap()
        .layout_ca_only(&cx.path("certs"), &reg.host());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-cert-dir", ca_dir.to_str().unwrap()],
    );
    assert_eq!(
        tag_digest(&reg, "skiff/hello", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
    let out = cx.copy(
        &["--src-cert-dir", reg.cert_dir().to_str().unwrap()],
        &reg.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("back"), "v1");
}

#[test]
fn tls_without_ca_fails_naming_the_certificate() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::tls());
    let out = cx.copy(&[], &hello_src(), &reg.docker_ref("skiff/hello:v1"));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(out.stderr.to_lowercase().contains("certificate"), "{out:?}");
    assert!(reg.tags("skiff/hello").is_empty());
    assert_eq!(reg.blob_count(), 0);
}

#[test]
fn tls_ca_found_in_home_certs_d() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::tls());
    reg.certs()
        .unwrap()
        .layout_ca_only(&cx.home().join(".config/containers/certs.d"), &reg.host());
    cx.push_hello(&reg.docker_ref("skiff/hello:v1"), &[]);
    assert_eq!(
        tag_digest(&reg, "skiff/hello", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
}

#[test]
fn tls_verify_false_works_against_tls_registry() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::tls());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    assert_eq!(
        tag_digest(&reg, "skiff/hello", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("back"), "v1");
}

// ---------------------------------------------------------------------------------------
// htpasswd (Basic) authentication: every credential source
// ---------------------------------------------------------------------------------------

/// Push hello-oci to an htpasswd registry (user/pass) with `flags` + `env` from `setup`
/// and assert it was published. Returns the sandbox and registry for further checks.
fn basic_push_with(
    setup: impl FnOnce(&Ctx, &Registry) -> (Vec<String>, Vec<(&'static str, OsString)>),
) -> (Ctx, Registry) {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::htpasswd("user", "pass"));
    let (flags, env) = setup(&cx, &reg);
    let mut all = vec!["--dest-tls-verify=false"];
    all.extend(flags.iter().map(String::as_str));
    let out = cx.copy_env(&all, &hello_src(), &reg.docker_ref("skiff/hello:v1"), &env);
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        tag_digest(&reg, "skiff/hello", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
    (cx, reg)
}

#[test]
fn basic_auth_dest_creds() {
    basic_push_with(|_, _| (vec!["--dest-creds".into(), "user:pass".into()], vec![]));
}

#[test]
fn basic_auth_dest_username_and_password() {
    basic_push_with(|_, _| {
        (
            vec![
                "--dest-username".into(),
                "user".into(),
                "--dest-password".into(),
                "pass".into(),
            ],
            vec![],
        )
    });
}

#[test]
fn basic_auth_authfile_flag() {
    basic_push_with(|cx, reg| {
        let f = write_file(
            &cx.path("auth.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (vec!["--authfile".into(), f.display().to_string()], vec![])
    });
}

#[test]
fn basic_auth_dest_authfile_flag() {
    basic_push_with(|cx, reg| {
        let f = write_file(
            &cx.path("auth.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (
            vec!["--dest-authfile".into(), f.display().to_string()],
            vec![],
        )
    });
}

#[test]
fn basic_auth_registry_auth_file_env() {
    basic_push_with(|cx, reg| {
        let f = write_file(
            &cx.path("auth.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (vec![], vec![("REGISTRY_AUTH_FILE", f.into_os_string())])
    });
}

#[test]
fn basic_auth_xdg_runtime_dir_auth_json() {
    basic_push_with(|cx, reg| {
        write_file(
            &cx.xdg().join("containers/auth.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (vec![], vec![])
    });
}

#[test]
fn basic_auth_home_docker_config_json() {
    basic_push_with(|cx, reg| {
        write_file(
            &cx.home().join(".docker/config.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (vec![], vec![])
    });
}

#[test]
fn basic_auth_docker_config_env() {
    basic_push_with(|cx, reg| {
        let d = cx.path("docker-config");
        write_file(
            &d.join("config.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (vec![], vec![("DOCKER_CONFIG", d.into_os_string())])
    });
}

#[test]
fn basic_auth_namespace_key_beats_host_key() {
    basic_push_with(|cx, reg| {
        let host = reg.host();
        let ns = format!("{host}/skiff");
        let f = write_file(
            &cx.path("auth.json"),
            &auth_json(&[(&host, "user:wrong"), (&ns, "user:pass")]),
        );
        (vec!["--authfile".into(), f.display().to_string()], vec![])
    });
}

#[test]
fn basic_auth_cred_helper_from_cred_helpers() {
    let (cx, reg) = basic_push_with(|cx, reg| {
        let (path, _) = credential_helper(&cx.path("helper"), "user", "pass");
        write_file(
            &cx.xdg().join("containers/auth.json"),
            &serde_json::to_string(&json!({"auths": {}, "credHelpers": {reg.host(): "skifftest"}}))
                .unwrap(),
        );
        (vec![], vec![("PATH", path.into_os_string())])
    });
    let host = reg.host();
    let log = fs::read_to_string(cx.path("helper/helper.log")).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.starts_with("get ") && l.contains(&host)),
        "helper not asked for {host}: {log:?}"
    );
}

#[test]
fn basic_auth_cred_helper_from_creds_store() {
    let (cx, _reg) = basic_push_with(|cx, _| {
        let (path, _) = credential_helper(&cx.path("helper"), "user", "pass");
        write_file(
            &cx.home().join(".docker/config.json"),
            r#"{"auths": {}, "credsStore": "skifftest"}"#,
        );
        (vec![], vec![("PATH", path.into_os_string())])
    });
    let log = fs::read_to_string(cx.path("helper/helper.log")).unwrap_or_default();
    assert!(
        log.lines().any(|l| l.starts_with("get ")),
        "helper not used: {log:?}"
    );
}

#[test]
fn basic_auth_wrong_password_fails_and_publishes_nothing() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::htpasswd("user", "pass"));
    let out = cx.copy(
        &["--dest-tls-verify=false", "--dest-creds", "user:wrong"],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_failed_unpublished(&out, &reg, "skiff/hello");
    let err = out.stderr.to_lowercase();
    assert!(
        err.contains("unauthorized")
            || err.contains("authentication required")
            || err.contains("invalid username"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains(&reg.host()),
        "the message names the registry\n{out:?}"
    );
    assert_eq!(reg.blob_count(), 0);
}

#[test]
fn basic_auth_dest_no_creds_ignores_authfile() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::htpasswd("user", "pass"));
    write_file(
        &cx.xdg().join("containers/auth.json"),
        &auth_json(&[(&reg.host(), "user:pass")]),
    );
    let out = cx.copy(
        &["--dest-tls-verify=false", "--dest-no-creds"],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_failed_unpublished(&out, &reg, "skiff/hello");
    assert_eq!(reg.blob_count(), 0);
    // The same authfile without --dest-no-creds is accepted.
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    assert_eq!(reg.tags("skiff/hello"), ["v1"]);
}

// ---------------------------------------------------------------------------------------
// Bearer token authentication
// ---------------------------------------------------------------------------------------

#[test]
fn token_auth_push_and_pull() {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false", "--dest-creds", &ts.creds()],
    );
    assert_eq!(
        tag_digest(&reg, "skiff/hello", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
    let reqs = ts.requests();
    assert!(
        reqs.iter().any(|r| r.authenticated
            && r.service.as_deref() == Some(token_server::SERVICE)
            && r.scopes
                .iter()
                .any(|s| s == "repository:skiff/hello:pull,push")),
        "{reqs:#?}"
    );
    assert!(reqs.iter().all(|r| r.status == 200), "{reqs:#?}");

    let out = cx.copy(
        &["--src-tls-verify=false", "--src-creds", &ts.creds()],
        &reg.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("back"), "v1");
    assert!(
        ts.scopes_seen()
            .iter()
            .any(|s| s == "repository:skiff/hello:pull"),
        "{:#?}",
        ts.requests()
    );
}

#[test]
fn token_auth_same_registry_mount_asks_for_source_pull_scope() {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false", "--dest-creds", &ts.creds()],
    );
    ts.clear_requests();
    let out = cx.copy(
        &[
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            &ts.creds(),
            "--dest-creds",
            &ts.creds(),
        ],
        &reg.docker_ref("skiff/hello:v1"),
        &reg.docker_ref("skiff/copy:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        tag_digest(&reg, "skiff/copy", "v1").as_deref(),
        Some(HELLO_MANIFEST)
    );
    let reqs = ts.requests();
    assert!(
        reqs.iter().any(|r| r
            .scopes
            .iter()
            .any(|s| s == "repository:skiff/copy:pull,push")
            && r.scopes.iter().any(|s| s == "repository:skiff/hello:pull")),
        "no token asked for both the destination push and the source pull scope: {reqs:#?}"
    );
    let mounts: Vec<_> = reg
        .mounts()
        .into_iter()
        .filter(|m| m.repo == "skiff/copy")
        .collect();
    assert_eq!(mounts.len(), 4, "{mounts:?}");
    assert!(mounts.iter().all(|m| m.mounted()), "{mounts:?}");
    assert!(
        reg.uploads().iter().all(|u| u.repo != "skiff/copy"),
        "{:?}",
        reg.uploads()
    );
}

#[test]
fn token_auth_wrong_password_fails() {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    let out = cx.copy(
        &["--dest-tls-verify=false", "--dest-creds", "user:wrong"],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_failed_unpublished(&out, &reg, "skiff/hello");
    assert!(
        ts.requests()
            .iter()
            .any(|r| r.had_credentials && !r.authenticated && r.status == 401),
        "{:#?}",
        ts.requests()
    );
    assert_eq!(reg.blob_count(), 0);
}

#[test]
fn src_registry_token_is_used_as_is_for_a_pull() {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false", "--dest-creds", &ts.creds()],
    );
    let token = ts.issue(
        "user",
        &[(
            "repository".into(),
            "skiff/hello".into(),
            vec!["pull".into()],
        )],
    );
    ts.clear_requests();
    let out = cx.copy(
        &["--src-tls-verify=false", "--src-registry-token", &token],
        &reg.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("back"), "v1");
    assert!(
        ts.requests().is_empty(),
        "the given token should be sent as is, not exchanged: {:#?}",
        ts.requests()
    );
}

// ---------------------------------------------------------------------------------------
// Faults (FaultProxy in front of a plain registry)
// ---------------------------------------------------------------------------------------

#[test]
fn fault_truncated_blob_download_resumes_with_range() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let blob_path = format!("/v2/skiff/hello/blobs/{BIG_HELLO_LAYER}");
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::truncate_blob(1000).on("GET", &blob_path)],
    );
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &proxy.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    let fired = proxy.faults_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].fault, Some(FaultAction::CloseAfterBodyBytes(1000)));
    assert!(
        proxy
            .ranges_seen()
            .contains(&(blob_path.clone(), "bytes=1000-".to_string())),
        "no resume from byte 1000: {:?}\n{out:?}",
        proxy.ranges_seen()
    );
    assert_hello_layout(&cx.path("back"), "v1");
}

#[test]
fn fault_429_with_retry_after_is_retried() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::too_many_requests().on("GET", "/v2/skiff/hello/manifests/*")],
    );
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &proxy.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    let fired = proxy.faults_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].status, 429);
    assert!(proxy.count("GET", "/v2/skiff/hello/manifests/v1") >= 2);
    assert!(
        out.elapsed >= Duration::from_millis(900),
        "Retry-After: 1 not honoured\n{out:?}"
    );
    assert_hello_layout(&cx.path("back"), "v1");
}

#[test]
fn fault_503_on_manifest_get_is_retried() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::status(503).on("GET", "/v2/*/manifests/*")],
    );
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &proxy.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    let fired = proxy.faults_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].status, 503);
    assert!(proxy.count("GET", "/v2/skiff/hello/manifests/v1") >= 2);
    assert_hello_layout(&cx.path("back"), "v1");
}

#[test]
fn fault_413_on_patch_falls_back_to_chunked_upload() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    // The config blob is pushed first (with a tiny image), so that the only blob the faulty
    // push uploads is the 10 MiB layer: the 413 necessarily hits its streaming PATCH.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    gzip_layout(&cx.path("tiny"), 100, 1, config);
    let (layer, config_digest) = gzip_layout(&cx.path("big"), 10 << 20, 2, config);
    let out = cx.copy(
        &["--dest-tls-verify=false"],
        &cx.oci("tiny", "latest"),
        &reg.docker_ref("skiff/big:tiny"),
    );
    assert!(out.ok(), "{out:?}");
    assert!(reg.repo_has_blob("skiff/big", &config_digest));

    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::status(413).on("PATCH", "/v2/*/blobs/uploads/*")],
    );
    let out = cx.copy(
        &["--dest-tls-verify=false"],
        &cx.oci("big", "latest"),
        &proxy.docker_ref("skiff/big:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(proxy.faults_fired().len(), 1, "{:?}", proxy.faults_fired());
    assert!(reg.repo_has_blob("skiff/big", &layer), "layer not uploaded");
    assert_eq!(reg.tags("skiff/big"), ["tiny", "v1"]);
    // After the 413, a new upload session carried the blob in several PATCH requests.
    let patches: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.status == 202)
        .collect();
    let mut per_session: std::collections::BTreeMap<String, usize> = Default::default();
    for p in &patches {
        *per_session.entry(p.path.clone()).or_default() += 1;
    }
    assert!(
        per_session.values().any(|&n| n >= 2),
        "no chunked upload after the 413: {per_session:?}\n{out:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Clean failures, registries.conf
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_manifest_fails_naming_the_image() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:nope"),
        &cx.oci("back", "v1"),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(
        out.stderr.contains("skiff/hello:nope"),
        "image not named\n{out:?}"
    );
    assert!(
        out.stderr.to_lowercase().contains("manifest unknown"),
        "{out:?}"
    );
}

#[test]
fn connection_refused_fails_cleanly() {
    let cx = Ctx::new();
    let port = registry::free_port();
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &format!("docker://127.0.0.1:{port}/skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(out.stderr.contains(&format!("127.0.0.1:{port}")), "{out:?}");
    assert!(
        out.stderr.to_lowercase().contains("connection refused"),
        "{out:?}"
    );
    assert!(!cx.path("back").join("index.json").exists());
}

fn block_in_registries_conf(cx: &Ctx, reg: &Registry) {
    cx.write_registries_conf(&format!(
        "[[registry]]\nprefix = \"{h}\"\nlocation = \"{h}\"\nblocked = true\n",
        h = reg.host()
    ));
}

#[test]
fn registries_conf_blocked_registry_refuses_a_pull() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    block_in_registries_conf(&cx, &reg);
    let before = client_requests(&reg).len();
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(out.stderr.to_lowercase().contains("blocked"), "{out:?}");
    assert!(!cx.path("back").join("index.json").exists());
    let after: Vec<_> = client_requests(&reg).into_iter().skip(before).collect();
    assert!(
        after.is_empty(),
        "a blocked registry was contacted: {after:#?}"
    );
}

/// skopeo 1.9.3 only enforces `blocked` when reading; skiff refuses writes too.
#[test]
fn registries_conf_blocked_registry_refuses_a_push() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    block_in_registries_conf(&cx, &reg);
    let out = cx.copy(
        &["--dest-tls-verify=false"],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(out.stderr.to_lowercase().contains("blocked"), "{out:?}");
    assert!(reg.tags("skiff/hello").is_empty());
    let contacted = client_requests(&reg);
    assert!(
        contacted.is_empty(),
        "a blocked registry was contacted: {contacted:#?}"
    );
}

#[test]
fn registries_conf_location_rewrite_is_followed_for_a_pull() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    cx.write_registries_conf(&format!(
        "[[registry]]\nprefix = \"example.test/foo\"\nlocation = \"{}/skiff\"\ninsecure = true\n",
        reg.host()
    ));
    let out = cx.copy(
        &["--src-tls-verify=false"],
        "docker://example.test/foo/hello:v1",
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("back"), "v1");
    assert!(reg.count_requests("GET", "/v2/skiff/hello/manifests/v1") >= 1);
}

#[test]
fn registries_conf_mirror_is_used_before_the_primary_for_a_digest() {
    let cx = Ctx::new();
    let primary = Registry::start(RegistryOpts::plain());
    let mirror = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &primary.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    cx.push_hello(
        &mirror.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let before = client_requests(&primary).len();
    cx.write_registries_conf(&format!(
        "[[registry]]\nprefix = \"{p}\"\nlocation = \"{p}\"\ninsecure = true\n\n\
         [[registry.mirror]]\nlocation = \"{m}\"\ninsecure = true\n",
        p = primary.host(),
        m = mirror.host()
    ));
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &primary.docker_ref(&format!("skiff/hello@{HELLO_MANIFEST}")),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("back"), "v1");
    assert!(
        mirror.count_requests(
            "GET",
            &format!("/v2/skiff/hello/manifests/{HELLO_MANIFEST}")
        ) >= 1,
        "mirror not asked\n{out:?}"
    );
    assert_eq!(mirror.count_requests("GET", "/v2/skiff/hello/blobs/*"), 4);
    let after: Vec<_> = client_requests(&primary).into_iter().skip(before).collect();
    assert!(
        after
            .iter()
            .all(|e| !e.path.contains("/manifests/") && !e.path.contains("/blobs/")),
        "the primary served content although the mirror had it: {after:#?}"
    );
}

#[test]
fn corrupt_source_blob_never_publishes_the_tag() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let src = cx.path("corrupt-oci");
    copy_tree(&repo_root().join("examples/hello-oci"), &src);
    let blob = src.join("blobs/sha256").join(&BIG_HELLO_LAYER[7..]);
    let mut data = fs::read(&blob).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    fs::write(&blob, &data).unwrap();

    let out = cx.copy(
        &["--dest-tls-verify=false"],
        &format!("oci:{}:latest", src.display()),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_failed_unpublished(&out, &reg, "skiff/hello");
    assert!(
        !reg.has_blob(BIG_HELLO_LAYER),
        "corrupt data stored under the expected digest"
    );
    assert!(
        out.stderr.contains(&BIG_HELLO_LAYER[7..19])
            || out.stderr.to_lowercase().contains("digest"),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------
// References with both a tag and a digest (skopeo 1.9.3 refuses them; skiff checks them)
// ---------------------------------------------------------------------------------------

#[test]
fn tag_at_digest_is_read_by_digest_and_the_tag_is_checked() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false"],
    );
    let multi = format!(
        "oci:{}:latest",
        repo_root().join("examples/multiarch-oci").display()
    );
    let out = cx.copy(
        &["--all", "--dest-tls-verify=false"],
        &multi,
        &reg.docker_ref("skiff/hello:v2"),
    );
    assert!(out.ok(), "{out:?}");

    let good = reg.docker_ref(&format!("skiff/hello:v1@{HELLO_MANIFEST}"));
    let out = cx.copy(&["--src-tls-verify=false"], &good, &cx.oci("good", "x"));
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("good"), "x");

    // v2 names another manifest: the reference contradicts the registry.
    let bad = reg.docker_ref(&format!("skiff/hello:v2@{HELLO_MANIFEST}"));
    let out = cx.copy(&["--src-tls-verify=false"], &bad, &cx.oci("bad", "x"));
    assert!(
        !out.ok(),
        "a tag pointing elsewhere must be refused: {out:?}"
    );
    assert!(
        out.stderr.contains("points to") && out.stderr.contains("skiff/hello:v2"),
        "{out:?}"
    );
    assert!(!cx.path("bad").exists());
}

#[test]
fn debug_logs_requests_but_never_secrets() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::htpasswd("user", "s3cr3t-pw"));
    let out = cx.run(
        env!("CARGO_BIN_EXE_skiff"),
        &[
            "--insecure-policy",
            "--debug",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "user:s3cr3t-pw",
            &hello_src(),
            &reg.docker_ref("skiff/hello:v1"),
        ],
        &[],
    );
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("PUT "),
        "request lines are logged: {out:?}"
    );
    assert!(out.stderr.contains("/manifests/v1"), "{out:?}");
    let basic = b64("user:s3cr3t-pw");
    for secret in ["s3cr3t-pw", basic.as_str()] {
        assert!(
            !out.stderr.contains(secret) && !out.stdout.contains(secret),
            "secret leaked: {out:?}"
        );
    }
}
