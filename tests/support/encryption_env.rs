// Shared by tests/encryption.rs through `include!`: the harness modules, the keys and
// environment both tools run with, and the checks on encrypted and decrypted images.

#[path = "certs.rs"]
mod certs;
#[path = "loopback.rs"]
mod loopback;
#[path = "registry.rs"]
mod registry;
#[path = "mod.rs"]
mod support;
#[path = "token_server.rs"]
mod token_server;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use registry::{Registry, RegistryOpts};
use serde_json::Value;
use support::*;

/// A temp dir with the keys every test uses, and the environment for both tools.
struct Env {
    dir: tempfile::TempDir,
    gnupg: Option<PathBuf>,
}

impl Env {
    /// RSA and EC key pairs (PKCS#8 private, SPKI public), a second RSA key, and a
    /// self-signed certificate with its key, all made by openssl.
    fn new() -> Env {
        let dir = tempdir();
        let d = dir.path();
        for args in [
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "rsa.pem",
            ][..],
            &["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub.pem"],
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "ec.pem",
            ],
            &["pkey", "-in", "ec.pem", "-pubout", "-out", "ec.pub.pem"],
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "other.pem",
            ],
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=p7-a",
                "-keyout", "p7a.key", "-out", "p7a.crt",
            ],
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=p7-b",
                "-keyout", "p7b.key", "-out", "p7b.crt",
            ],
        ] {
            certs::openssl(d, args);
        }
        fs::create_dir_all(d.join("home")).unwrap();
        fs::write(d.join("registries.conf"), "").unwrap();
        Env { dir, gnupg: None }
    }

    fn path(&self, name: &str) -> String {
        p(&self.dir.path().join(name))
    }

    fn oci(&self, name: &str) -> String {
        format!("oci:{}:latest", self.path(name))
    }

    /// A GnuPG home with two RSA keys with encryption subkeys: Alice (no passphrase) and
    /// Carol (passphrase "carolpw"); their secret keys exported to alice.gpg / carol.gpg.
    fn with_gnupg(mut self) -> Env {
        let home = self.dir.path().join("gnupg");
        fs::create_dir(&home).unwrap();
        fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let key = |name: &str, email: &str, passphrase: &str| {
            format!(
                "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\nSubkey-Type: RSA\n\
                 Subkey-Length: 2048\nSubkey-Usage: encrypt\nName-Real: {name}\nName-Email: {email}\n\
                 Expire-Date: 0\n{passphrase}%commit\n"
            )
        };
        self.gnupg = Some(home);
        // %no-protection holds for the rest of a parameter file: one run per key.
        for (name, params) in [
            (
                "alice",
                "%no-protection\n".to_string() + &key("Alice Example", "alice@example.com", ""),
            ),
            (
                "carol",
                key("Carol", "carol@example.com", "Passphrase: carolpw\n"),
            ),
        ] {
            let path = self.dir.path().join(format!("{name}-params"));
            fs::write(&path, params).unwrap();
            self.gpg(&["--pinentry-mode", "loopback", "--gen-key", &p(&path)]);
        }
        let alice = self.gpg(&["--export-secret-keys", "alice@example.com"]);
        fs::write(self.dir.path().join("alice.gpg"), alice).unwrap();
        let carol = self.gpg(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "carolpw",
            "--export-secret-keys",
            "carol@example.com",
        ]);
        fs::write(self.dir.path().join("carol.gpg"), carol).unwrap();
        self
    }

    fn gpg(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .arg("--batch")
            .args(args)
            .env("GNUPGHOME", self.gnupg.as_ref().unwrap())
            .output()
            .expect("gpg is required: apt-get install -y gnupg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn env(&self) -> Vec<(&'static str, OsString)> {
        let mut env = vec![
            ("HOME", self.dir.path().join("home").into_os_string()),
            (
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.path().join("registries.conf").into(),
            ),
        ];
        if let Some(g) = &self.gnupg {
            env.push(("GNUPGHOME", g.clone().into_os_string()));
        }
        env
    }

    fn run(&self, mut c: Command, args: &[&str]) -> Out {
        c.arg("--insecure-policy").arg("copy").args(args);
        for (k, v) in self.env() {
            c.env(k, v);
        }
        run(&mut c)
    }

    fn skiff(&self, args: &[&str]) -> Out {
        self.run(skiff(), args)
    }

    fn skopeo(&self, args: &[&str]) -> Out {
        self.run(skopeo(), args)
    }

    /// `tool copy FLAGS... oci:hello oci:NAME`, asserting success.
    fn encrypt(&self, tool: Tool, flags: &[&str], name: &str) {
        let src = hello();
        let dest = self.oci(name);
        let args: Vec<&str> = flags
            .iter()
            .copied()
            .chain([src.as_str(), dest.as_str()])
            .collect();
        self.tool(tool, &args).assert_success();
    }

    fn tool(&self, tool: Tool, args: &[&str]) -> Out {
        match tool {
            Tool::Skiff => self.skiff(args),
            Tool::Skopeo => self.skopeo(args),
        }
    }

    /// `tool copy FLAGS... oci:FROM oci:TO`; the result must be hello-oci again.
    #[track_caller]
    fn decrypt(&self, tool: Tool, flags: &[&str], from: &str, to: &str) {
        // Decrypting a plain image copies it unchanged: the source must be encrypted for
        // the round trip to prove anything.
        let source = load_oci(&self.dir.path().join(from), Some("latest"));
        assert!(
            source.manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["mediaType"].as_str().unwrap().ends_with("+encrypted")),
            "{from} has no encrypted layer"
        );
        let (src, dest) = (self.oci(from), self.oci(to));
        let args: Vec<&str> = flags
            .iter()
            .copied()
            .chain([src.as_str(), dest.as_str()])
            .collect();
        self.tool(tool, &args).assert_success();
        assert_is_hello(
            &self.dir.path().join(to),
            &format!("{tool:?} {flags:?} {from}"),
        );
        fs::remove_dir_all(self.dir.path().join(to)).unwrap();
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // The agent gpg started for key generation.
        if let Some(g) = &self.gnupg {
            let _ = Command::new("gpgconf")
                .args(["--kill", "gpg-agent"])
                .env("GNUPGHOME", g)
                .status();
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Tool {
    Skiff,
    Skopeo,
}
use Tool::{Skiff, Skopeo};

fn hello() -> String {
    example_ref("hello-oci")
}

/// The decrypted image is hello-oci byte for byte (manifest digest), and its layers'
/// decompressed digests are the config's diff IDs.
#[track_caller]
fn assert_is_hello(layout: &Path, context: &str) {
    let l = load_oci(layout, Some("latest"));
    l.assert_consistent(context);
    assert_eq!(
        l.manifest_digest(),
        HELLO_MANIFEST,
        "{context}: not hello-oci again"
    );
}

/// Which layers of the image at `layout` are encrypted; checks what an encrypted layer
/// must carry, and that the config (so the diff IDs) is hello-oci's.
#[track_caller]
fn encrypted_layers(layout: &Path, schemes: &[&str]) -> Vec<bool> {
    let l = load_oci(layout, Some("latest"));
    let hello = load_oci(&example("hello-oci"), Some("latest"));
    assert_eq!(
        l.manifest["config"], hello.manifest["config"],
        "the config must not change"
    );
    assert_eq!(
        l.manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    l.manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(hello.manifest["layers"].as_array().unwrap())
        .map(|(layer, plain)| {
            let encrypted = layer["mediaType"].as_str().unwrap().ends_with("+encrypted");
            if encrypted {
                assert_eq!(
                    layer["mediaType"],
                    format!("{}+encrypted", plain["mediaType"].as_str().unwrap())
                );
                assert_eq!(layer["size"], plain["size"], "CTR keeps the size");
                assert_ne!(layer["digest"], plain["digest"]);
                let a = &layer["annotations"];
                assert!(
                    a["org.opencontainers.image.enc.pubopts"].is_string(),
                    "{layer}"
                );
                for s in schemes {
                    assert!(
                        a[format!("org.opencontainers.image.enc.keys.{s}")].is_string(),
                        "{s}: {layer}"
                    );
                }
            } else {
                assert_eq!(layer, plain, "a layer left plain is unchanged");
            }
            encrypted
        })
        .collect()
}

/// A copy of the encrypted layout at `from` as `to`, with the first encrypted layer's
/// blob and descriptor changed by `edit` and every digest on the way kept consistent (so
/// only the decryption itself can notice).
fn tampered(e: &Env, from: &str, to: &str, edit: impl Fn(&mut Vec<u8>, &mut Value)) {
    let (src, dst) = (e.dir.path().join(from), e.dir.path().join(to));
    copy_tree(&src, &dst);
    let index_path = dst.join("index.json");
    let mut index = read_json(&index_path);
    let m_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut manifest: Value =
        serde_json::from_slice(&fs::read(oci_blob(&dst, &m_digest)).unwrap()).unwrap();
    let layer = &mut manifest["layers"][0];
    let mut blob = fs::read(oci_blob(&dst, layer["digest"].as_str().unwrap())).unwrap();
    edit(&mut blob, layer);
    let digest = sha256_digest(&blob);
    fs::write(oci_blob(&dst, &digest), &blob).unwrap();
    layer["digest"] = digest.into();
    layer["size"] = blob.len().into();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    fs::write(oci_blob(&dst, &sha256_digest(&bytes)), &bytes).unwrap();
    index["manifests"][0]["digest"] = sha256_digest(&bytes).into();
    index["manifests"][0]["size"] = bytes.len().into();
    fs::write(index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}
