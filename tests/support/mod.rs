//! Shared helpers for skiff's integration tests.
//!
//! * `skiff()` / `skopeo()` build `Command`s; `run()` captures (code, stdout, stderr) as `Out`.
//! * `snapshot()` records a file tree (relative paths + sha256 of file bytes) so a test can
//!   prove that a destination was not touched.
//! * `ImageBuilder` writes OCI layouts with deterministic pseudo-random layers of any size and
//!   compression, with a correct config (`rootfs.diff_ids`).
#![allow(dead_code)]

#[path = "rss.rs"]
mod rss;

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

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { sha256: String, len: u64 },
    Symlink(PathBuf),
}

/// A file tree: relative path → entry. `absent` is true if the root did not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub root: PathBuf,
    pub absent: bool,
    pub entries: BTreeMap<String, Entry>,
}

/// Record a file or directory tree (a plain file snapshots as the entry "").
pub fn snapshot(root: &Path) -> Snapshot {
    let mut entries = BTreeMap::new();
    let absent = match fs::symlink_metadata(root) {
        Err(_) => true,
        Ok(m) if m.is_dir() => {
            walk(root, root, &mut entries);
            false
        }
        Ok(_) => {
            entries.insert(String::new(), entry_of(root));
            false
        }
    };
    Snapshot {
        root: root.to_path_buf(),
        absent,
        entries,
    }
}

fn entry_of(path: &Path) -> Entry {
    let m = fs::symlink_metadata(path).unwrap();
    if m.is_dir() {
        Entry::Dir
    } else if m.file_type().is_symlink() {
        Entry::Symlink(fs::read_link(path).unwrap())
    } else {
        Entry::File {
            sha256: sha256_file(path),
            len: m.len(),
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let entry = entry_of(&path);
        let is_dir = entry == Entry::Dir;
        out.insert(rel, entry);
        if is_dir {
            walk(root, &path, out);
        }
    }
}

impl Snapshot {
    /// Human-readable differences from `other` (empty if identical).
    pub fn diff(&self, other: &Snapshot) -> Vec<String> {
        let mut d = Vec::new();
        if self.absent != other.absent {
            d.push(format!(
                "root {}: {} vs {}",
                self.root.display(),
                if self.absent { "absent" } else { "present" },
                if other.absent { "absent" } else { "present" }
            ));
        }
        for (k, v) in &self.entries {
            match other.entries.get(k) {
                None => d.push(format!("only in {}: {k}", self.root.display())),
                Some(w) if w != v => d.push(format!("differs: {k}: {v:?} vs {w:?}")),
                _ => {}
            }
        }
        for k in other.entries.keys() {
            if !self.entries.contains_key(k) {
                d.push(format!("only in {}: {k}", other.root.display()));
            }
        }
        d
    }

    /// Assert `path` now looks exactly like this snapshot.
    #[track_caller]
    pub fn assert_unchanged(&self, context: &str) {
        let now = snapshot(&self.root);
        let d = self.diff(&now);
        assert!(
            d.is_empty(),
            "{context}: destination {} changed:\n  {}",
            self.root.display(),
            d.join("\n  ")
        );
    }
}

/// Assert two trees have the same relative paths and the same file bytes.
#[track_caller]
pub fn assert_same_tree(ours: &Path, theirs: &Path, context: &str) {
    let a = snapshot(ours);
    let b = snapshot(theirs);
    assert!(!a.absent, "{context}: {} does not exist", ours.display());
    assert!(!b.absent, "{context}: {} does not exist", theirs.display());
    let d = a.diff(&b);
    assert!(
        d.is_empty(),
        "{context}: trees differ (skiff vs skopeo):\n  {}",
        d.join("\n  ")
    );
}

/// Contents of a tar archive: member path (without leading "./" or trailing "/") → entry.
pub fn tar_contents(path: &Path) -> BTreeMap<String, Entry> {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut ar = tar::Archive::new(f);
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if name.is_empty() {
            continue;
        }
        let entry = match e.header().entry_type() {
            tar::EntryType::Directory => Entry::Dir,
            tar::EntryType::Symlink => Entry::Symlink(e.link_name().unwrap().unwrap().into_owned()),
            _ => {
                let mut buf = Vec::new();
                e.read_to_end(&mut buf).unwrap();
                Entry::File {
                    sha256: sha256_digest(&buf),
                    len: buf.len() as u64,
                }
            }
        };
        out.insert(name, entry);
    }
    out
}

/// Extract a tar archive into `dest`.
pub fn extract_tar(path: &Path, dest: &Path) {
    let f = fs::File::open(path).unwrap();
    fs::create_dir_all(dest).unwrap();
    tar::Archive::new(f).unpack(dest).unwrap();
}

/// Entries of `dir` whose name looks like a skiff temporary file (`.…skiff-…`).
pub fn skiff_temp_leftovers(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir) {
        Err(_) => vec![],
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') && n.contains("skiff"))
            .collect(),
    }
}

/// Makes every skiff temporary under `root` (any depth, `root` included) look abandoned
/// long ago: its modification time goes 10 minutes back, past the sweep's age threshold
/// (the lock is what proves a dead copy's leftovers abandoned; the age only covers a
/// writer's first instant).
pub fn age_skiff_leftovers(root: &Path) {
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let path = e.path();
            let kind = e.file_type().unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains("skiff-") && !kind.is_symlink() {
                fs::File::open(&path).unwrap().set_modified(then).unwrap();
            }
            if kind.is_dir() {
                stack.push(path);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Layers and images
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

impl Comp {
    pub fn media_type(self) -> &'static str {
        match self {
            Comp::None => "application/vnd.oci.image.layer.v1.tar",
            Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// Detect the compression of a blob from its magic bytes.
    pub fn sniff(data: &[u8]) -> Comp {
        if data.starts_with(&[0x1f, 0x8b]) {
            Comp::Gzip
        } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Comp::Zstd
        } else {
            Comp::None
        }
    }

    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Comp::None => data.to_vec(),
            Comp::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(data).unwrap();
                enc.finish().unwrap()
            }
            Comp::Zstd => zstd::encode_all(data, 1).unwrap(),
        }
    }
}

/// Decompress a layer blob whatever its compression.
pub fn decompress(data: &[u8]) -> Vec<u8> {
    match Comp::sniff(data) {
        Comp::None => data.to_vec(),
        Comp::Gzip => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        Comp::Zstd => zstd::decode_all(data).unwrap(),
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), incompressible.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A deterministic tar stream with one regular file of `payload` bytes (half pseudo-random, half
/// repetitive text, so compressors have something to do) plus a small text file.
pub fn layer_tar(index: usize, payload: usize, seed: u64) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_704_067_200);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(
        &format!("layer{index}/info.txt"),
        format!("layer {index} seed {seed}\n").as_bytes(),
        0o644,
    );
    let rnd = payload / 2;
    let mut data = pseudo_random(seed ^ ((index as u64 + 1) * 7919), rnd);
    let text = b"skiff integration test data, compressible part. ";
    while data.len() < payload {
        let n = (payload - data.len()).min(text.len());
        data.extend_from_slice(&text[..n]);
    }
    add(&format!("layer{index}/data.bin"), &data, 0o644);
    b.into_inner().unwrap()
}

pub struct LayerSpec {
    pub size: usize,
    pub comp: Comp,
}

pub fn layer(size: usize, comp: Comp) -> LayerSpec {
    LayerSpec { size, comp }
}

#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub layout: PathBuf,
    pub reference: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    pub diff_ids: Vec<String>,
    pub layer_media_types: Vec<String>,
}

impl BuiltImage {
    /// `oci:LAYOUT:REF`
    pub fn oci_ref(&self) -> String {
        format!("oci:{}:{}", self.layout.display(), self.reference)
    }
}

/// An OCI image layout being written: blobs by digest, images tagged in its index.
pub struct OciLayout<'a>(&'a Path);

impl OciLayout<'_> {
    /// Creates the layout's `oci-layout` file and blob directory (what is there stays).
    pub fn create(layout: &Path) -> OciLayout<'_> {
        fs::create_dir_all(layout.join("blobs").join("sha256")).unwrap();
        fs::write(
            layout.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        OciLayout(layout)
    }

    /// Stores a blob; returns its digest.
    pub fn put(&self, data: &[u8]) -> String {
        let d = sha256_digest(data);
        fs::write(oci_blob(self.0, &d), data).unwrap();
        d
    }

    /// Stores a layer blob; returns its descriptor.
    pub fn put_layer(&self, media_type: &str, blob: &[u8]) -> Value {
        json!({"mediaType": media_type, "digest": self.put(blob), "size": blob.len()})
    }

    /// Stores `config` and the manifest naming it and `layers` (descriptors), and tags the
    /// manifest `reference` in the index (in place of an image that had the tag).
    pub fn put_image(&self, reference: &str, config: &[u8], layers: &[Value]) -> BuiltImage {
        let config_digest = self.put(config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers,
        }))
        .unwrap();
        let manifest_digest = self.put(&manifest);
        let index_path = self.0.join("index.json");
        let mut index = if index_path.exists() {
            read_json(&index_path)
        } else {
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})
        };
        let manifests = index["manifests"].as_array_mut().unwrap();
        manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != reference);
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": reference},
        }));
        fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        let strings = |v: &Value| -> Vec<String> {
            let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
            items
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        let field = |k: &str| layers.iter().map(|d| d[k].clone()).collect::<Value>();
        let config: Value = serde_json::from_slice(config).unwrap();
        BuiltImage {
            layout: self.0.to_path_buf(),
            reference: reference.to_string(),
            manifest_digest,
            config_digest,
            layer_digests: strings(&field("digest")),
            diff_ids: strings(&config["rootfs"]["diff_ids"]),
            layer_media_types: strings(&field("mediaType")),
        }
    }
}

/// Write (or add to) an OCI image layout at `layout`, tagging the new image `reference`.
/// Returns the digests. Deterministic for a given (layers, seed).
pub fn build_oci_image(
    layout: &Path,
    reference: &str,
    layers: &[LayerSpec],
    seed: u64,
) -> BuiltImage {
    let oci = OciLayout::create(layout);
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, spec) in layers.iter().enumerate() {
        let tar = layer_tar(i, spec.size, seed);
        diff_ids.push(sha256_digest(&tar));
        let blob = spec.comp.compress(&tar);
        drop(tar);
        layer_descs.push(oci.put_layer(spec.comp.media_type(), &blob));
    }
    let history: Vec<Value> = (0..layers.len())
        .map(|i| json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("ADD layer{i} (seed {seed})")}))
        .collect();
    let config = json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    oci.put_image(
        reference,
        &serde_json::to_vec(&config).unwrap(),
        &layer_descs,
    )
}

// ---------------------------------------------------------------------------------------------
// Reading images back
// ---------------------------------------------------------------------------------------------

/// A single-image manifest plus a function to fetch its blobs, for any of the local layouts.
pub struct Loaded {
    pub manifest_bytes: Vec<u8>,
    pub manifest: Value,
    pub config: Value,
    /// (mediaType, blob bytes) of each layer.
    pub layers: Vec<(String, Vec<u8>)>,
}

impl Loaded {
    pub fn manifest_digest(&self) -> String {
        sha256_digest(&self.manifest_bytes)
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.config["rootfs"]["diff_ids"]
            .as_array()
            .expect("config has no rootfs.diff_ids")
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    /// sha256 of each decompressed layer.
    pub fn computed_diff_ids(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|(_, b)| sha256_digest(&decompress(b)))
            .collect()
    }

    pub fn layer_compressions(&self) -> Vec<Comp> {
        self.layers.iter().map(|(_, b)| Comp::sniff(b)).collect()
    }

    /// Check every descriptor (digest + size) against the blob bytes.
    #[track_caller]
    pub fn assert_consistent(&self, context: &str) {
        for (i, (desc, (_, blob))) in self.manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&self.layers)
            .enumerate()
        {
            assert_eq!(
                desc["digest"].as_str().unwrap(),
                sha256_digest(blob),
                "{context}: layer {i} digest"
            );
            assert_eq!(
                desc["size"].as_u64().unwrap(),
                blob.len() as u64,
                "{context}: layer {i} size"
            );
        }
        assert_eq!(
            self.diff_ids(),
            self.computed_diff_ids(),
            "{context}: config rootfs.diff_ids must equal sha256 of the decompressed layers"
        );
    }
}

fn load_with(manifest_bytes: Vec<u8>, get: impl Fn(&str) -> Vec<u8>) -> Loaded {
    let manifest: Value = serde_json::from_slice(&manifest_bytes).expect("manifest is not JSON");
    let config_bytes = get(manifest["config"]["digest"]
        .as_str()
        .expect("manifest has no config"));
    let config = serde_json::from_slice(&config_bytes).expect("config is not JSON");
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mediaType"].as_str().unwrap().to_string(),
                get(l["digest"].as_str().unwrap()),
            )
        })
        .collect();
    Loaded {
        manifest_bytes,
        manifest,
        config,
        layers,
    }
}

/// Load a dir: image (single manifest).
pub fn load_dir(dir: &Path) -> Loaded {
    let m = fs::read(dir.join("manifest.json")).unwrap();
    load_with(m, |d| {
        fs::read(dir_blob(dir, d)).unwrap_or_else(|e| panic!("blob {d} in {}: {e}", dir.display()))
    })
}

/// Descriptor in index.json for `reference` (or the only one if `None`).
pub fn oci_index_entry(layout: &Path, reference: Option<&str>) -> Value {
    let idx = read_json(&layout.join("index.json"));
    let ms = idx["manifests"].as_array().unwrap();
    match reference {
        None => {
            assert_eq!(
                ms.len(),
                1,
                "index.json of {} should hold exactly one manifest",
                layout.display()
            );
            ms[0].clone()
        }
        Some(r) => ms
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == r)
            .unwrap_or_else(|| panic!("no ref {r:?} in {}/index.json: {idx}", layout.display()))
            .clone(),
    }
}

/// Load a single-image OCI layout entry.
pub fn load_oci(layout: &Path, reference: Option<&str>) -> Loaded {
    let e = oci_index_entry(layout, reference);
    let m = fs::read(oci_blob(layout, e["digest"].as_str().unwrap())).unwrap();
    load_with(m, |d| {
        fs::read(oci_blob(layout, d))
            .unwrap_or_else(|e| panic!("blob {d} in {}: {e}", layout.display()))
    })
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
