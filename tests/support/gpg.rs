//! GnuPG homes for signing tests, with keys made by `gpg` itself:
//!
//! * `rsa`: RSA 2048, sign-only, no passphrase (gpg signs with SHA-512);
//! * `ed`: ed25519, sign-only, passphrase [`PASSPHRASE`] (SHA-256);
//! * `expired`: ed25519 made on 2020-01-01, valid for one day, no passphrase.
//!
//! The keys are made once per test binary into a template under `CARGO_TARGET_TMPDIR`;
//! each [`GpgHome`] is a copy of it in its own temporary directory, whose gpg-agent is
//! killed (`gpgconf --kill all` with that `GNUPGHOME`) when the home is dropped. The agent
//! caches no passphrase (`max-cache-ttl 0`), so every signing asks again, as the first
//! signing after a login would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

pub const PASSPHRASE: &str = "secret passphrase";

/// The fingerprints of the template's keys.
#[derive(Clone, Debug)]
pub struct Keys {
    pub rsa: String,
    pub ed: String,
    pub expired: String,
}

struct Template {
    dir: PathBuf,
    keys: Keys,
}

fn gpg_in(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.env("GNUPGHOME", home)
        .args(["--batch", "--no-tty"])
        .stdin(Stdio::null());
    c
}

fn run_ok(c: &mut Command) -> Vec<u8> {
    let out = c.output().expect("run gpg (apt-get install gnupg)");
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn fingerprint(home: &Path, uid: &str) -> String {
    let out = run_ok(gpg_in(home).args(["--with-colons", "--list-keys", uid]));
    String::from_utf8_lossy(&out)
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .expect("a fingerprint")
}

fn kill_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", home)
        .args(["--kill", "all"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let parent = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_templates(&parent);
        let dir = parent.join(format!("gnupg-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(
            dir.join("gpg-agent.conf"),
            "default-cache-ttl 0\nmax-cache-ttl 0\nallow-loopback-pinentry\npinentry-program /bin/false\n",
        )
        .unwrap();
        run_ok(gpg_in(&dir).args([
            "--passphrase",
            "",
            "--quick-gen-key",
            "Skiff Test RSA <rsa@example.com>",
            "rsa2048",
            "sign",
            "never",
        ]));
        run_ok(gpg_in(&dir).args([
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            PASSPHRASE,
            "--quick-gen-key",
            "Skiff Test Ed25519 <ed@example.com>",
            "ed25519",
            "sign",
            "never",
        ]));
        run_ok(gpg_in(&dir).args([
            "--faked-system-time",
            "20200101T000000",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Skiff Test Expired <expired@example.com>",
            "ed25519",
            "sign",
            "1d",
        ]));
        let keys = Keys {
            rsa: fingerprint(&dir, "rsa@example.com"),
            ed: fingerprint(&dir, "ed@example.com"),
            expired: fingerprint(&dir, "expired@example.com"),
        };
        kill_agent(&dir);
        Template { dir, keys }
    })
}

/// Templates of earlier test runs (whose process is gone) are removed.
fn remove_stale_templates(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("gnupg-template-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A private GnuPG home with the template's keys.
pub struct GpgHome {
    // Dropped after the agent is killed (see Drop).
    tmp: TempDir,
    home: PathBuf,
    pub keys: Keys,
}

impl GpgHome {
    pub fn new() -> GpgHome {
        let t = template();
        let tmp = tempfile::Builder::new()
            .prefix("skiff-gpg-")
            .tempdir()
            .unwrap();
        let home = tmp.path().join("gnupg");
        copy_dir(&t.dir, &home);
        // The copied home must not carry the template's (dead) agent sockets.
        for entry in std::fs::read_dir(&home).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with("S.") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        GpgHome {
            tmp,
            home,
            keys: t.keys.clone(),
        }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Sets `GNUPGHOME` on `c` (for skiff, skopeo or gpg).
    pub fn env<'c>(&self, c: &'c mut Command) -> &'c mut Command {
        c.env("GNUPGHOME", &self.home)
    }

    /// `gpg --export [--armor] FPR` into a file in this home's temp dir.
    pub fn export(&self, fpr: &str, armor: bool) -> PathBuf {
        let name = format!("{fpr}.{}", if armor { "asc" } else { "gpg" });
        let path = self.tmp.path().join(name);
        let mut c = gpg_in(&self.home);
        c.arg("--export");
        if armor {
            c.arg("--armor");
        }
        std::fs::write(&path, run_ok(c.arg(fpr))).unwrap();
        path
    }

    /// A file holding `text`, e.g. a passphrase file.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Revokes `fpr` in this home with the revocation certificate gpg wrote when it made
    /// the key (`openpgp-revocs.d/FPR.rev`, whose leading `:` guards against importing it
    /// by accident).
    pub fn revoke(&self, fpr: &str) {
        let rev = self
            .home
            .join("openpgp-revocs.d")
            .join(format!("{fpr}.rev"));
        let text = std::fs::read_to_string(&rev).unwrap();
        let cert = text.replacen(":-----BEGIN", "-----BEGIN", 1);
        let path = self.file("revocation.asc", &cert);
        run_ok(gpg_in(&self.home).arg("--import").arg(path));
    }

    /// Signs `payload` with `fpr` as gpg would have at `time` (`20200101T010000`), e.g.
    /// with a key that has expired since.
    pub fn sign_at(&self, fpr: &str, payload: &[u8], time: &str) -> Vec<u8> {
        let input = self.file("payload.json", "");
        std::fs::write(&input, payload).unwrap();
        run_ok(gpg_in(&self.home).args([
            "--faked-system-time",
            time,
            "-u",
            fpr,
            "--sign",
            "--output",
            "-",
            input.to_str().unwrap(),
        ]))
    }
}

/// A GnuPG home's files (and its key subdirectories).
fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(e.file_name());
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            copy_dir(&e.path(), &to);
        } else if ty.is_file() {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        kill_agent(&self.home);
    }
}
