//! Shared helpers for skiff's integration tests.
//!
//! * `skiff()` / `skopeo()` build `Command`s; `run()` captures (code, stdout, stderr) as `Out`.
//! * `snapshot()` (snapshot.rs) records a file tree (relative paths + sha256 of file bytes) so a test can
//!   prove that a destination was not touched.
//! * `ImageBuilder` (images.rs) writes OCI layouts with deterministic pseudo-random layers of any size and
//!   compression, with a correct config (`rootfs.diff_ids`).
#![allow(dead_code)]

#[path = "images.rs"]
mod images;
#[path = "rss.rs"]
mod rss;
#[path = "snapshot.rs"]
mod snapshot;

// Not every test binary uses both.
#[allow(unused_imports)]
pub use images::*;
#[allow(unused_imports)]
pub use snapshot::*;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// Path of the skiff binary under test.
pub fn skiff_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_skiff"))
}

/// A `Command` for the skiff binary, run from the repository root (so `examples/...` resolves)
/// and with `HOME` pointing at an empty directory so that a user's own
/// `~/.config/containers/policy.json` can't change the results.
pub fn skiff() -> Command {
    let mut c = Command::new(skiff_bin());
    c.current_dir(repo_root());
    c.env("HOME", empty_home());
    c.env_remove("XDG_CONFIG_HOME");
    c.stdin(Stdio::null());
    c
}

/// `skiff --insecure-policy copy ARGS...`
pub fn skiff_copy<I, S>(args: I) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut c = skiff();
    c.arg("--insecure-policy").arg("copy").args(args);
    run(&mut c)
}

static SKOPEO_CHECKED: OnceLock<()> = OnceLock::new();

/// A `Command` for Debian's skopeo 1.9.3, the oracle. Panics (never skips) if it is missing.
pub fn skopeo() -> Command {
    SKOPEO_CHECKED.get_or_init(|| {
        let out = Command::new("skopeo").arg("--version").output();
        match out {
            Ok(o) if o.status.success() => {
                let v = String::from_utf8_lossy(&o.stdout);
                assert!(
                    v.contains("skopeo version 1.9.3"),
                    "Debian's skopeo 1.9.3 is required (found {v:?}): apt-get install skopeo"
                );
            }
            _ => panic!("Debian's skopeo 1.9.3 is required: apt-get install skopeo"),
        }
    });
    let mut c = Command::new("skopeo");
    c.current_dir(repo_root());
    c.env("HOME", empty_home());
    c.stdin(Stdio::null());
    c
}

/// `skopeo --insecure-policy copy ARGS...`
pub fn skopeo_copy<I, S>(args: I) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut c = skopeo();
    c.arg("--insecure-policy").arg("copy").args(args);
    run(&mut c)
}

/// `skopeo inspect --raw IMAGE` → raw manifest bytes (asserts success).
pub fn skopeo_inspect_raw(image: &str) -> Vec<u8> {
    let mut c = skopeo();
    c.args(["--insecure-policy", "inspect", "--raw", image]);
    let o = run(&mut c);
    o.assert_success();
    o.stdout_bytes
}

/// `skopeo inspect --format '{{.Digest}}' IMAGE` (asserts success).
pub fn skopeo_inspect_digest(image: &str) -> String {
    let mut c = skopeo();
    c.args([
        "--insecure-policy",
        "inspect",
        "--format",
        "{{.Digest}}",
        image,
    ]);
    let o = run(&mut c);
    o.assert_success();
    o.stdout.trim().to_string()
}

/// `skopeo inspect --config --raw IMAGE` parsed as JSON (asserts success).
pub fn skopeo_inspect_config(image: &str) -> Value {
    let mut c = skopeo();
    c.args(["--insecure-policy", "inspect", "--config", "--raw", image]);
    let o = run(&mut c);
    o.assert_success();
    serde_json::from_slice(&o.stdout_bytes)
        .expect("skopeo inspect --config --raw gave invalid JSON")
}

/// skopeo reads the config of `image` and finds exactly `diff_ids` in `rootfs.diff_ids`.
#[track_caller]
pub fn assert_skopeo_sees_diff_ids(image: &str, diff_ids: &[String]) {
    assert_eq!(
        skopeo_inspect_config(image)["rootfs"]["diff_ids"],
        json!(diff_ids)
    );
}

/// Captured result of a finished process.
pub struct Out {
    pub cmdline: String,
    /// Exit code; `None` if killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Out {
    let cmdline = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let o: Output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{cmdline}`: {e}"));
    Out {
        cmdline,
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stdout_bytes: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs `cmd` like [`run`] and also returns the child's peak resident set size in KiB.
pub fn run_peak_rss(cmd: &mut Command) -> (Out, u64) {
    let cmdline = format!("{cmd:?}");
    let f = rss::run_measured(cmd);
    let o = Out {
        cmdline,
        code: f.code,
        stdout: String::from_utf8_lossy(&f.stdout).into_owned(),
        stdout_bytes: f.stdout,
        stderr: String::from_utf8_lossy(&f.stderr).into_owned(),
    };
    (o, f.peak_rss_kib)
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`\n  exit code: {:?}\n  --- stdout ---\n{}\n  --- stderr ---\n{}",
            self.cmdline,
            self.code,
            indent(&self.stdout),
            indent(&self.stderr)
        )
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Out {
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success (exit 0) from {self}");
        self
    }

    /// Exit code 1 and a stderr that has an `Error: ` line (skiff's error format).
    #[track_caller]
    pub fn assert_error(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(1),
            "expected failure with exit code 1 from {self}"
        );
        assert!(
            self.stderr.lines().any(|l| l.starts_with("Error: ")),
            "expected a line starting with `Error: ` on stderr of {self}"
        );
        self
    }

    /// Exit code 2: the image was not found (skopeo(1) "EXIT STATUS"), with skiff's
    /// `Error: ` line.
    #[track_caller]
    pub fn assert_not_found(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(2),
            "expected exit code 2 (image not found) from {self}"
        );
        assert!(
            self.stderr.lines().any(|l| l.starts_with("Error: ")),
            "expected a line starting with `Error: ` on stderr of {self}"
        );
        self
    }

    /// Exit code 1 (any message format; used for skopeo).
    #[track_caller]
    pub fn assert_exit1(&self) -> &Self {
        assert_eq!(self.code, Some(1), "expected exit code 1 from {self}");
        self
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "expected stderr to contain {needle:?}; got {self}"
        );
        self
    }

    #[track_caller]
    pub fn assert_stderr_not_contains(&self, needle: &str) -> &Self {
        assert!(
            !self.stderr.contains(needle),
            "expected stderr NOT to contain {needle:?}; got {self}"
        );
        self
    }

    /// Case-insensitive "contains any of".
    #[track_caller]
    pub fn assert_stderr_mentions_any(&self, needles: &[&str]) -> &Self {
        let low = self.stderr.to_lowercase();
        assert!(
            needles.iter().any(|n| low.contains(&n.to_lowercase())),
            "expected stderr to mention one of {needles:?}; got {self}"
        );
        self
    }

    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "expected stdout to contain {needle:?}; got {self}"
        );
        self
    }

    #[track_caller]
    pub fn assert_stdout_empty(&self) -> &Self {
        assert!(self.stdout.is_empty(), "expected empty stdout; got {self}");
        self
    }

    #[track_caller]
    pub fn assert_stderr_empty(&self) -> &Self {
        assert!(self.stderr.is_empty(), "expected empty stderr; got {self}");
        self
    }

    /// skopeo's logrus message (`level=fatal msg="..."`) unescaped, or the whole stderr.
    pub fn skopeo_message(&self) -> String {
        match self.stderr.find("msg=\"") {
            None => self.stderr.clone(),
            Some(i) => {
                let mut out = String::new();
                let mut chars = self.stderr[i + 5..].chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                out.push(n)
                            }
                        }
                        '"' => break,
                        c => out.push(c),
                    }
                }
                out
            }
        }
    }

    /// skopeo's unescaped message contains `needle`.
    #[track_caller]
    pub fn assert_skopeo_message_contains(&self, needle: &str) -> &Self {
        assert!(
            self.skopeo_message().contains(needle),
            "expected skopeo's message to contain {needle:?}; got {self}"
        );
        self
    }

    /// The message of the first `Error: ` line (without the prefix), or the whole stderr.
    pub fn error_message(&self) -> String {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("Error: "))
            .map(str::to_string)
            .unwrap_or_else(|| self.stderr.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and temp dirs
// ---------------------------------------------------------------------------------------------

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Absolute path of `examples/NAME`.
pub fn example(name: &str) -> PathBuf {
    let p = repo_root().join("examples").join(name);
    assert!(p.exists(), "example {} is missing", p.display());
    p
}

/// `oci:<abs path of examples/NAME>:latest`
pub fn example_ref(name: &str) -> String {
    format!("oci:{}:latest", example(name).display())
}

pub const HELLO_MANIFEST: &str =
    "sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66";
pub const MULTI_INDEX: &str =
    "sha256:15a0b9a17838b32cbfdb2d0109edd8191cd3481d8e22bc33689f549d0058caf9";
pub const MULTI_AMD64: &str =
    "sha256:c6e84b72c19ca79d9c962004eeef2b75909419041a5cc489f9c8fed63f30cff7";
pub const MULTI_ARM64: &str =
    "sha256:390390b688f588e97533932dab3966321c4687b60c39b54f3e8ff189ddb8e279";
pub const MULTI_ARMV7: &str =
    "sha256:58728a3f8da90ffa3097740825b1a2f4030b23d098e15d00209c701970413dff";

/// A fresh temporary directory (removed on drop).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("skiff-it-")
        .tempdir()
        .expect("create temp dir")
}

/// An empty directory used as $HOME (under target/tmp, so nothing leaks into /tmp).
pub fn empty_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let h = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-home");
        fs::create_dir_all(&h).unwrap();
        h
    })
}

pub fn p(path: &Path) -> String {
    path.to_str().expect("non-UTF-8 temp path").to_string()
}

/// Copy a directory tree (files, dirs, symlinks).
pub fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let ft = e.file_type().unwrap();
        let to = dst.join(e.file_name());
        if ft.is_dir() {
            copy_tree(&e.path(), &to);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path()).unwrap(), &to).unwrap();
        } else {
            fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// Names in a directory (sorted).
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------------------------

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

pub fn sha256_file(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// Path of a blob in an OCI layout.
pub fn oci_blob(layout: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest.split_once(':').expect("digest has no ':'");
    layout.join("blobs").join(alg).join(hex)
}

/// Path of a blob in a dir: image.
pub fn dir_blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join(digest.split_once(':').expect("digest has no ':'").1)
}

pub fn read_json(path: &Path) -> Value {
    let b = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Run a skiff copy with stderr piped; return the child once a line containing `marker` has
/// appeared on stderr (or the process ended). The lines read so far are returned too.
pub fn spawn_until_stderr_line(
    mut c: Command,
    marker: &str,
) -> (
    std::process::Child,
    Vec<String>,
    Option<std::thread::JoinHandle<Vec<String>>>,
) {
    use std::io::BufRead;
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn skiff");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Option<String>>();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            all.push(line.clone());
            let _ = tx.send(Some(line));
        }
        let _ = tx.send(None);
        all
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(Some(l)) => {
                let hit = l.contains(marker);
                seen.push(l);
                if hit {
                    break;
                }
            }
            Ok(None) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(_) => break,
        }
    }
    (child, seen, Some(reader))
}
