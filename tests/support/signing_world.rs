//! The world of tests/signing.rs: a GnuPG home, a temp dir and a registries.d directory
//! per test, the skiff and skopeo runs under a policy, signed images made by either tool,
//! and the argument lists the tests repeat.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::gpg::GpgHome;
use crate::support::*;

pub const IDENTITY: &str = "registry.example.com/test/hello:v1";

/// One test's world: a GnuPG home, a temp dir, a registries.d directory.
pub struct World {
    pub gpg: GpgHome,
    pub tmp: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let w = World {
            gpg: GpgHome::new(),
            tmp: tempdir(),
        };
        std::fs::create_dir_all(w.path("registries.d")).unwrap();
        w
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub fn registries_d(&self) -> String {
        p(&self.path("registries.d"))
    }

    /// A registries.d file.
    pub fn lookaside(&self, yaml: &str) {
        std::fs::write(self.path("registries.d/test.yaml"), yaml).unwrap();
    }

    /// `skiff [--policy P | --insecure-policy] --registries.d D ARGS`, in this GnuPG home.
    pub fn skiff<S: AsRef<OsStr>>(&self, policy: Option<&Path>, args: &[S]) -> Out {
        let mut c = skiff();
        self.common(&mut c, policy);
        run(c.args(args))
    }

    pub fn skopeo<S: AsRef<OsStr>>(&self, policy: Option<&Path>, args: &[S]) -> Out {
        let mut c = skopeo();
        self.common(&mut c, policy);
        run(c.args(args))
    }

    pub fn common(&self, c: &mut Command, policy: Option<&Path>) {
        self.gpg.env(c);
        match policy {
            Some(pol) => c.arg("--policy").arg(pol),
            None => c.arg("--insecure-policy"),
        };
        c.args(["--registries.d", &self.registries_d()]);
    }

    /// A policy whose `transport` scope requires `signedBy` with `keys` (a JSON member,
    /// e.g. `"keyPath":"…"`) and `identity`; anything else is rejected.
    pub fn policy(&self, name: &str, transport: &str, keys: &str, identity: &str) -> PathBuf {
        let path = self.path(name);
        let text = format!(
            r#"{{"default":[{{"type":"reject"}}],"transports":{{"{transport}":{{"":[{{"type":"signedBy","keyType":"GPGKeys",{keys},"signedIdentity":{identity}}}]}}}}}}"#
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn key_path(&self, fpr: &str, armor: bool) -> String {
        format!(r#""keyPath":"{}""#, p(&self.gpg.export(fpr, armor)))
    }

    /// hello-oci as a `dir:` image, unsigned.
    pub fn unsigned_dir(&self, name: &str) -> PathBuf {
        let dir = self.path(name);
        skiff_copy([example_ref("hello-oci"), format!("dir:{}", p(&dir))]).assert_success();
        dir
    }

    /// skiff pushes hello-oci to `image` (a plain-HTTP registry), signed by `fpr` as the
    /// destination's own reference.
    pub fn push_signed(&self, image: &str, fpr: &str) {
        let args = ["copy", "--dest-tls-verify=false", "--sign-by", fpr];
        let hello = example_ref("hello-oci");
        self.skiff(None, &[&args[..], &[&hello, image]].concat())
            .assert_success();
    }

    /// skopeo pushes the `dir:` image `src` to `image` (a plain-HTTP registry), signed by
    /// `fpr` as the destination's own reference.
    pub fn skopeo_push_signed(&self, src: &Path, image: &str, fpr: &str) {
        let args = ["copy", "--dest-tls-verify=false", "--sign-by", fpr];
        self.skopeo(None, &[&args[..], &[&dir_ref(src), image]].concat())
            .assert_success();
    }

    /// A copy of `src` (a `dir:` image) with a signature by `fpr` as [`IDENTITY`], made
    /// by skopeo or by skiff.
    pub fn sign_dir(&self, src: &Path, name: &str, fpr: &str, by_skopeo: bool) -> PathBuf {
        let dest = self.path(name);
        let args = [
            "copy",
            "--sign-by",
            fpr,
            "--sign-identity",
            IDENTITY,
            &dir_ref(src),
            &dir_ref(&dest),
        ];
        if by_skopeo {
            self.skopeo(None, &args).assert_success();
        } else {
            self.skiff(None, &args)
                .assert_success()
                .assert_stderr_contains("Signing manifest using simple signing");
        }
        dest
    }
}

pub const MATCH_EXACT: &str = r#"{"type":"matchExact"}"#;
pub const MATCH_REPOSITORY: &str = r#"{"type":"matchRepository"}"#;

pub fn exact(reference: &str) -> String {
    format!(r#"{{"type":"exactReference","dockerReference":"{reference}"}}"#)
}

pub fn dir_ref(path: &Path) -> String {
    format!("dir:{}", p(path))
}

/// `copy FLAGS… dir:SRC dir:DEST`
pub fn copy_dirs(flags: &[&str], src: &Path, dest: &Path) -> Vec<String> {
    let mut args = vec!["copy".to_string()];
    args.extend(flags.iter().map(|f| f.to_string()));
    args.extend([dir_ref(src), dir_ref(dest)]);
    args
}

/// `copy --src-tls-verify=false IMAGE dir:OUT` (from a plain-HTTP registry).
pub fn pull(image: &str, out: &Path) -> Vec<String> {
    let flags = ["copy", "--src-tls-verify=false", image];
    let mut args: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    args.push(dir_ref(out));
    args
}

/// The literal data of an OpenPGP message, as gpg decodes it (no verification needed).
pub fn payload_of(w: &World, sig: &Path) -> serde_json::Value {
    let mut c = Command::new("gpg");
    w.gpg.env(&mut c);
    let out = c
        .args(["--batch", "--no-tty", "--decrypt"])
        .arg(sig)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
