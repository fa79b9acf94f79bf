// Shared by tests/registry*.rs through `include!`: the harness modules, an isolated
// environment for each skiff/skopeo child, and helpers that inspect a registry's contents.
#[path = "certs.rs"]
mod certs;
#[path = "fault_proxy.rs"]
mod fault_proxy;
#[path = "hostile_registry.rs"]
mod hostile_registry;
#[path = "loopback.rs"]
mod loopback;
#[path = "registry.rs"]
mod registry;
#[path = "rss.rs"]
mod rss;
#[path = "token_server.rs"]
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
use token_server::{TokenFault, TokenServer, TokenServerOpts};

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

    /// Asserts exit status 1 with `text` in stderr.
    #[track_caller]
    fn assert_fails_with(&self, text: &str) {
        assert_eq!(self.code, Some(1), "{self:?}");
        assert!(self.stderr.contains(text), "{self:?}");
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

    /// `copy`, also returning the child's peak resident set size in KiB.
    fn copy_measured(&self, flags: &[&str], src: &str, dest: &str) -> (Out, u64) {
        let mut args = vec!["--insecure-policy", "copy"];
        args.extend_from_slice(flags);
        args.push(src);
        args.push(dest);
        let start = Instant::now();
        let skiff = env!("CARGO_BIN_EXE_skiff");
        let f = rss::run_measured(self.command(skiff, &[]).args(&args));
        let out = Out {
            code: f.code,
            stdout: String::from_utf8_lossy(&f.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&f.stderr).into_owned(),
            cmdline: format!("skiff {}", args.join(" ")),
            elapsed: start.elapsed(),
        };
        (out, f.peak_rss_kib)
    }

    fn skopeo(&self, args: &[&str]) -> Out {
        self.run("skopeo", args, &[])
    }

    /// Push examples/hello-oci to `dest` with skiff and assert success.
    #[track_caller]
    fn push_hello(&self, dest: &str, flags: &[&str]) {
        let out = self.copy(flags, &hello_src(), dest);
        assert!(out.ok(), "{out:?}");
    }

    /// Push examples/hello-oci to `reg` as `skiff/hello:v1` (TLS not verified) and assert
    /// success.
    #[track_caller]
    fn push_hello_v1(&self, reg: &Registry) {
        self.push_hello(&reg.docker_ref("skiff/hello:v1"), &["--dest-tls-verify=false"]);
    }

    /// Start a plain-HTTP registry holding hello-oci as `skiff/hello:v1`.
    #[track_caller]
    fn plain_registry_with_hello(&self) -> Registry {
        let reg = Registry::start(RegistryOpts::plain());
        self.push_hello_v1(&reg);
        reg
    }

    /// Copy `src` (holding hello-oci) with skiff into `oci:<tmp>/<name>:<tag>`, assert success
    /// and that the layout holds hello-oci, complete and intact, under `tag`.
    #[track_caller]
    fn pull_hello_to_oci(&self, flags: &[&str], src: &str, name: &str, tag: &str) {
        let out = self.copy(flags, src, &self.oci(name, tag));
        assert!(out.ok(), "{out:?}");
        assert_hello_layout(&self.path(name), tag);
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

/// The registry's storage links `repo:tag` to hello-oci's manifest.
#[track_caller]
fn assert_tag_is_hello(reg: &Registry, repo: &str, tag: &str) {
    assert_eq!(tag_digest(reg, repo, tag).as_deref(), Some(HELLO_MANIFEST));
}

/// The image `hello-oci` is complete and intact in the layout under `ref_name`.
#[track_caller]
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

