//! The companion commands (login, logout, inspect, list-tags, delete, manifest-digest)
//! against a real docker-registry (TLS + htpasswd) and Debian's skopeo 1.9.3 as the oracle.
//!
//! Needs: apt-get install -y skopeo docker-registry apache2-utils openssl

#[path = "support/certs.rs"]
mod certs;
#[path = "support/loopback.rs"]
mod loopback;
#[path = "support/paginator.rs"]
mod paginator;
#[path = "support/registry.rs"]
mod registry;
#[path = "support/token_server.rs"]
mod token_server;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use paginator::Paginator;
use registry::{Registry, RegistryOpts};
use serde_json::Value;

const USER: &str = "skiffer";
const PASSWORD: &str = "s3cret-pw";
const HELLO_DIGEST: &str =
    "sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A private environment: HOME and XDG_RUNTIME_DIR in a temp dir, nothing inherited.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("skiff-companions-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        Env { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `${XDG_RUNTIME_DIR}/containers/auth.json`
    fn auth_file(&self) -> PathBuf {
        self.path("run/containers/auth.json")
    }

    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .current_dir(repo_root())
            .env("HOME", self.path("home"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("DOCKER_CONFIG")
            .stdin(Stdio::null());
        c
    }

    fn skiff(&self, args: &[&str]) -> Out {
        run(
            self.command(Path::new(env!("CARGO_BIN_EXE_skiff")), args),
            None,
        )
    }

    fn skopeo(&self, args: &[&str]) -> Out {
        run(self.command(Path::new("skopeo"), args), None)
    }

    fn skiff_stdin(&self, args: &[&str], stdin: &str) -> Out {
        run(
            self.command(Path::new(env!("CARGO_BIN_EXE_skiff")), args),
            Some(stdin),
        )
    }
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

impl Out {
    #[track_caller]
    fn success(self) -> Out {
        assert!(self.ok, "{self:?}");
        self
    }

    #[track_caller]
    fn failure(self, needle: &str) -> Out {
        assert!(!self.ok, "expected a failure: {self:?}");
        assert!(self.stderr.contains(needle), "missing {needle:?}: {self:?}");
        assert!(self.stdout.is_empty(), "stdout must stay empty: {self:?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

fn run(mut c: Command, stdin: Option<&str>) -> Out {
    let cmdline = format!(
        "{} {}",
        c.get_program().to_string_lossy(),
        c.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    if stdin.is_some() {
        c.stdin(Stdio::piped());
    }
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("{cmdline}: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    Out {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        cmdline,
    }
}

fn secure_registry() -> Registry {
    Registry::start(
        RegistryOpts::tls()
            .with_htpasswd(USER, PASSWORD)
            .with_delete(),
    )
}

fn cert_dir(reg: &Registry) -> String {
    reg.cert_dir().to_str().unwrap().to_string()
}

/// `login --cert-dir CERTS -u USER -p PASSWORD HOST`: the arguments of a good login, for
/// skiff or skopeo.
fn login_args<'a>(certs: &'a str, host: &'a str) -> [&'a str; 8] {
    [
        "login",
        "--cert-dir",
        certs,
        "-u",
        USER,
        "-p",
        PASSWORD,
        host,
    ]
}

/// Pushes examples/hello-oci with skopeo (credentials given on the command line).
fn push_hello(env: &Env, reg: &Registry, repo_tag: &str) {
    let creds = format!("{USER}:{PASSWORD}");
    env.skopeo(&[
        "--insecure-policy",
        "copy",
        "--dest-cert-dir",
        &cert_dir(reg),
        "--dest-creds",
        &creds,
        "oci:examples/hello-oci:latest",
        &reg.docker_ref(repo_tag),
    ])
    .success();
}

#[test]
fn login_writes_what_skopeo_reads_and_the_reverse() {
    let reg = secure_registry();
    let host = reg.host();
    let certs = cert_dir(&reg);
    let ours = Env::new();

    // Bad credentials: a clear error, nothing stored.
    ours.skiff(&[
        "login",
        "--cert-dir",
        &certs,
        "-u",
        USER,
        "-p",
        "wrong",
        &host,
    ])
    .failure(&format!(
        "error logging into \"{host}\": invalid username/password"
    ));
    assert!(!ours.auth_file().exists());

    let out = ours.skiff(&login_args(&certs, &host)).success();
    assert_eq!(out.stdout, "Login Succeeded!\n");
    let mode = std::fs::metadata(ours.auth_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // skopeo writes the same bytes for the same login.
    let theirs = Env::new();
    theirs.skopeo(&login_args(&certs, &host)).success();
    assert_eq!(
        std::fs::read_to_string(ours.auth_file()).unwrap(),
        std::fs::read_to_string(theirs.auth_file()).unwrap()
    );

    // skopeo pushes with skiff's login; skiff inspects with skopeo's.
    ours.skopeo(&[
        "--insecure-policy",
        "copy",
        "--dest-cert-dir",
        &certs,
        "oci:examples/hello-oci:latest",
        &reg.docker_ref("login/hello:v1"),
    ])
    .success();
    let inspected = theirs
        .skiff(&[
            "inspect",
            "--cert-dir",
            &certs,
            &reg.docker_ref("login/hello:v1"),
        ])
        .success();
    assert_eq!(inspected.json()["Digest"], HELLO_DIGEST);
    // ...and skiff copy reads it too.
    let copied = theirs.path("copied");
    theirs
        .skiff(&[
            "--insecure-policy",
            "copy",
            "--src-cert-dir",
            &certs,
            &reg.docker_ref("login/hello:v1"),
            &format!("dir:{}", copied.display()),
        ])
        .success();

    assert_eq!(
        ours.skiff(&["login", "--get-login", &host])
            .success()
            .stdout,
        format!("{USER}\n")
    );
    // Other entries survive a login and a logout.
    let other = Env::new();
    std::fs::create_dir_all(other.auth_file().parent().unwrap()).unwrap();
    std::fs::write(
        other.auth_file(),
        r#"{"auths":{"elsewhere.example":{"auth":"YTpi"}}}"#,
    )
    .unwrap();
    other
        .skiff_stdin(
            &[
                "login",
                "--cert-dir",
                &certs,
                "-u",
                USER,
                "--password-stdin",
                &host,
            ],
            &format!("{PASSWORD}\n"),
        )
        .success();
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(other.auth_file()).unwrap()).unwrap();
    assert!(stored["auths"]["elsewhere.example"].is_object());
    assert!(stored["auths"][host.as_str()].is_object());

    // Logout removes it; skopeo can no longer push.
    assert_eq!(
        ours.skiff(&["logout", &host]).success().stdout,
        format!("Removed login credentials for {host}\n")
    );
    ours.skopeo(&[
        "--insecure-policy",
        "copy",
        "--dest-cert-dir",
        &certs,
        "oci:examples/hello-oci:latest",
        &reg.docker_ref("login/hello:v2"),
    ]);
    assert!(!reg.tags("login/hello").contains(&"v2".to_string()));
    ours.skiff(&["logout", &host])
        .failure(&format!("not logged into {host}"));
    ours.skiff(&["login", "--get-login", &host])
        .failure(&format!("not logged into {host}"));
    // skiff logout undoes a skopeo login; --all empties the file.
    theirs.skiff(&["logout", "--all"]).success();
    assert_eq!(
        std::fs::read_to_string(theirs.auth_file()).unwrap(),
        "{\n\t\"auths\": {}\n}"
    );
    // No terminal, no password: a clear error instead of a hang.
    ours.skiff(&["login", "--cert-dir", &certs, "-u", USER, &host])
        .failure("stdin is not a terminal");
}

/// Compares skiff's and skopeo's stdout for the same inspect command line.
#[track_caller]
fn same_inspect(env: &Env, args: &[&str]) -> String {
    let theirs = env.skopeo(args).success();
    let ours = env.skiff(args).success();
    assert_eq!(
        ours.stdout, theirs.stdout,
        "skiff vs skopeo for {args:?}\n{ours:?}"
    );
    ours.stdout
}

#[test]
fn inspect_matches_skopeo_on_every_transport() {
    let reg = secure_registry();
    let certs = cert_dir(&reg);
    let env = Env::new();
    env.skopeo(&login_args(&certs, &reg.host())).success();
    push_hello(&env, &reg, "insp/hello:v1");
    push_hello(&env, &reg, "insp/hello:v2");
    env.skopeo(&[
        "--insecure-policy",
        "copy",
        "--all",
        "--dest-cert-dir",
        &certs,
        "oci:examples/multiarch-oci",
        &reg.docker_ref("insp/multi:latest"),
    ])
    .success();
    let dir = env.path("hello-dir");
    let archive = env.path("hello.tar");
    let dir_ref = format!("dir:{}", dir.display());
    let archive_ref = format!("oci-archive:{}:latest", archive.display());
    for dest in [&dir_ref, &archive_ref] {
        env.skopeo(&[
            "--insecure-policy",
            "copy",
            "oci:examples/hello-oci:latest",
            dest,
        ])
        .success();
    }
    let hello = reg.docker_ref("insp/hello:v1");
    let multi = reg.docker_ref("insp/multi:latest");
    let images = [
        hello.as_str(),
        multi.as_str(),
        "oci:examples/hello-oci:latest",
        "oci:examples/multiarch-oci",
        dir_ref.as_str(),
        archive_ref.as_str(),
    ];
    for image in images {
        let remote = image.starts_with("docker://");
        let with = |extra: &[&str]| -> Vec<String> {
            let mut a = vec!["inspect".to_string()];
            if remote {
                a.extend(["--cert-dir".to_string(), certs.clone()]);
            }
            a.extend(extra.iter().map(|s| s.to_string()));
            a.push(image.to_string());
            a
        };
        for extra in [
            &[][..],
            &["--raw"],
            &["--config"],
            &["--config", "--raw"],
            &["-n"],
            &["--format", "{{.Digest}}"],
            &["--format", "{{.Name}}: {{range .RepoTags}}{{.}} {{end}}"],
            &[
                "--format",
                r#"{{index .Labels "org.opencontainers.image.version"}}"#,
            ],
            &["--format", r"{{.Os}}\t{{.Architecture}}\n{{len .Layers}}"],
            &["--format", "{{.Created}} {{.Labels}} {{.Env}}"],
            &["--format", "json"],
            &[
                "--config",
                "--format",
                "{{.Config.Cmd}} {{.RootFS.DiffIDs}}",
            ],
        ] {
            let args = with(extra);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            same_inspect(&env, &args);
        }
        // The platform is chosen from a list as skopeo chooses it.
        let args = with(&[]);
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.splice(0..0, ["--override-arch", "arm64"]);
        same_inspect(&env, &args);
    }
    // Field by field for the registry image: Name, RepoTags (from the tag list), Digest.
    let out = env
        .skiff(&["inspect", "--cert-dir", &certs, &hello])
        .success()
        .json();
    assert_eq!(out["Name"], format!("{}/insp/hello", reg.host()));
    assert_eq!(out["RepoTags"], serde_json::json!(["v1", "v2"]));
    assert_eq!(out["Digest"], HELLO_DIGEST);
    assert!(
        out.get("LayersData").is_none(),
        "skopeo 1.9.3 has no LayersData"
    );

    // json, which skopeo 1.9.3 lacks, prints compact JSON.
    let labels = env
        .skiff(&[
            "inspect",
            "--format",
            "{{json .Labels}}",
            "oci:examples/hello-oci:latest",
        ])
        .success();
    let v: Value = serde_json::from_str(labels.stdout.trim()).unwrap();
    assert_eq!(v["org.opencontainers.image.version"], "1.0.0");

    // Errors: clear, on stderr, exit 1.
    env.skiff(&[
        "inspect",
        "--format",
        "{{.Digest",
        "oci:examples/hello-oci:latest",
    ])
    .failure("unclosed action");
    env.skiff(&[
        "inspect",
        "--format",
        "{{.Nope}}",
        "oci:examples/hello-oci:latest",
    ])
    .failure("can't evaluate field Nope");
    env.skiff(&[
        "inspect",
        "--format",
        "{{template \"x\"}}",
        "oci:examples/hello-oci:latest",
    ])
    .failure("not supported");
    env.skiff(&["inspect", "--raw", "--format", "{{.Digest}}", &hello])
        .failure("raw output does not support format option");
    env.skiff(&[
        "inspect",
        "--cert-dir",
        &certs,
        &reg.docker_ref("insp/nothere:v1"),
    ])
    .failure("manifest unknown");
    env.skiff(&[
        "inspect",
        "--cert-dir",
        &certs,
        "--creds",
        "skiffer:wrong",
        &hello,
    ])
    .failure("Error parsing image name");
    env.skiff(&["inspect", "--tls-verify=true", &hello])
        .failure("certificate");
}

#[test]
fn list_tags_follows_pagination_like_skopeo() {
    let reg = Registry::start(RegistryOpts::plain().with_delete());
    let env = Env::new();
    let tags = ["a1", "b2", "c3", "d4", "e5"];
    for t in tags {
        env.skopeo(&[
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "oci:examples/hello-oci:latest",
            &reg.docker_ref(&format!("paged/hello:{t}")),
        ])
        .success();
    }
    let proxy = Paginator::start(reg.host());
    let through = format!("docker://127.0.0.1:{}/paged/hello", proxy.port());
    let ours = env
        .skiff(&["list-tags", "--tls-verify=false", &through])
        .success();
    let theirs = env
        .skopeo(&["list-tags", "--tls-verify=false", &through])
        .success();
    assert_eq!(ours.stdout, theirs.stdout);
    let v = ours.json();
    // distribution 2.8 lists tags in its own order; every tag is there once.
    let mut got: Vec<String> = serde_json::from_value(v["Tags"].clone()).unwrap();
    got.sort();
    assert_eq!(got, tags);
    assert_eq!(
        v["Repository"],
        format!("127.0.0.1:{}/paged/hello", proxy.port())
    );
    let pages = proxy
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.contains("/tags/list"))
        .count();
    // Three pages for each tool (2 + 2 + 1 tags).
    assert_eq!(pages, 6, "{:?}", proxy.seen.lock().unwrap());

    // Directly (one page) the answer is the same.
    let direct = env
        .skiff(&[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{}/paged/hello", reg.host()),
        ])
        .success()
        .json();
    let mut direct: Vec<String> = serde_json::from_value(direct["Tags"].clone()).unwrap();
    direct.sort();
    assert_eq!(direct, tags);

    env.skiff(&[
        "list-tags",
        "--tls-verify=false",
        &reg.docker_ref("paged/hello:a1"),
    ])
    .failure("No tag or digest allowed in reference");
    env.skiff(&[
        "list-tags",
        "--tls-verify=false",
        &reg.docker_ref("paged/none"),
    ])
    .failure("Error listing repository tags");
    env.skiff(&["list-tags", "oci:examples/hello-oci"])
        .failure("Unsupported transport 'oci' for tag listing");
    // docker-archive: is listed (tests/archive.rs compares it with skopeo); a missing file
    // is named.
    env.skiff(&["list-tags", "docker-archive:/nonexistent/x.tar"])
        .failure("/nonexistent/x.tar");
}

#[test]
fn delete_resolves_tags_and_reports_refusals_like_skopeo() {
    let reg = secure_registry();
    let certs = cert_dir(&reg);
    let env = Env::new();
    env.skiff(&login_args(&certs, &reg.host())).success();
    push_hello(&env, &reg, "del/hello:v1");
    push_hello(&env, &reg, "del/hello:keep");
    // Deleting by tag deletes the manifest (every tag pointing at it goes with it).
    env.skiff(&[
        "delete",
        "--cert-dir",
        &certs,
        &reg.docker_ref("del/hello:v1"),
    ])
    .success();
    env.skiff(&[
        "inspect",
        "--cert-dir",
        &certs,
        &reg.docker_ref("del/hello:keep"),
    ])
    .failure("manifest unknown");
    let gone = env
        .skiff(&[
            "delete",
            "--cert-dir",
            &certs,
            &reg.docker_ref("del/hello:v1"),
        ])
        .failure("Unable to delete");
    let theirs = env.skopeo(&[
        "delete",
        "--cert-dir",
        &certs,
        &reg.docker_ref("del/hello:v1"),
    ]);
    assert!(!theirs.ok);
    assert!(
        theirs
            .stderr
            .contains(gone.stderr.trim().trim_start_matches("Error: ")),
        "{gone:?}\n{theirs:?}"
    );

    // A registry with deletion disabled: skopeo's message.
    let plain = Registry::start(RegistryOpts::plain());
    env.skopeo(&[
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        "oci:examples/hello-oci:latest",
        &plain.docker_ref("nodel/hello:v1"),
    ])
    .success();
    let args = [
        "delete",
        "--tls-verify=false",
        &plain.docker_ref("nodel/hello:v1"),
    ];
    let ours = env.skiff(&args).failure("Failed to delete");
    let theirs = env.skopeo(&args);
    assert!(!theirs.ok);
    assert!(ours.stderr.contains("405 Method Not Allowed"), "{ours:?}");
    assert!(
        theirs.stderr.contains("405 Method Not Allowed"),
        "{theirs:?}"
    );
    assert_eq!(plain.tags("nodel/hello"), ["v1"]);
    env.skiff(&["delete", "dir:/tmp/x"])
        .failure("Deleting images not implemented for dir: images");
}

#[test]
fn manifest_digest_matches_skopeo() {
    let env = Env::new();
    let index = repo_root().join("examples/hello-oci/index.json");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(index).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = repo_root()
        .join("examples/hello-oci/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let blob = blob.to_str().unwrap();
    let ours = env.skiff(&["manifest-digest", blob]).success();
    assert_eq!(
        ours.stdout,
        env.skopeo(&["manifest-digest", blob]).success().stdout
    );
    assert_eq!(ours.stdout, format!("{digest}\n"));
    env.skiff(&["manifest-digest", "/nonexistent/m.json"])
        .failure("Error reading manifest from /nonexistent/m.json");
    env.skiff(&["manifest-digest"])
        .failure("Usage: skopeo manifest-digest manifest");
}

#[test]
fn completions_for_every_shell() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.skiff(&["completion", shell]).success();
        assert!(out.stdout.contains("list-tags"), "{shell}: {out:?}");
    }
}

/// `login --get-login` finds credentials through the helpers registries.conf configures, as
/// skopeo does (and as a copy does).
#[test]
fn get_login_asks_the_credential_helpers_registries_conf_names() {
    let env = Env::new();
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-fake");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread url\n[ \"$1\" = get ] || exit 1\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"helperuser\",\"Secret\":\"pw\"}' \"$url\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = env.path("registries.conf");
    std::fs::write(&conf, "credential-helpers = [\"fake\"]\n").unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let args = [
        "--registries-conf",
        conf.to_str().unwrap(),
        "login",
        "--get-login",
        "example.com",
    ];
    for program in [Path::new(env!("CARGO_BIN_EXE_skiff")), Path::new("skopeo")] {
        let mut c = env.command(program, &args);
        c.env("PATH", &path);
        let out = run(c, None).success();
        assert_eq!(out.stdout, "helperuser\n", "{out:?}");
    }
}
