// Shared by tests/sigstore*.rs through `include!`: the registry harness, the Python
// sigstore peer (tests/support/sigstore_peer.py), and the helpers that sign and verify.

include!("registry_env.rs");

use std::process::Child;

const IDENTITY: &str = "registry.example/test/hello:v1";
const PEER: &str = "tests/support/sigstore_peer.py";

fn skiff_bin() -> &'static str {
    env!("CARGO_BIN_EXE_skiff")
}

/// `python3 sigstore_peer.py ARGS` (asserting success unless `expect_ok` is false).
fn peer(args: &[&str]) -> Out {
    let start = Instant::now();
    let o = Command::new("python3")
        .current_dir(repo_root())
        .arg(PEER)
        .args(args)
        .output()
        .expect("python3 is required");
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        cmdline: format!("python3 {PEER} {}", args.join(" ")),
        elapsed: start.elapsed(),
    }
}

/// The peer verifies `dir`'s `signature-N` with `key` as a signature of `dir`'s manifest
/// claiming `identity`.
#[track_caller]
fn peer_verifies(dir: &Path, n: usize, key: &Path, identity: &str) {
    let out = peer(&[
        "verify",
        "--pub",
        &key.display().to_string(),
        "--manifest",
        &dir.join("manifest.json").display().to_string(),
        "--reference",
        identity,
        "--sig",
        &dir.join(format!("signature-{n}")).display().to_string(),
    ]);
    assert!(out.ok() && out.stdout.trim() == "OK", "{out:?}");
}

impl Ctx {
    /// `skiff generate-sigstore-key --output-prefix <tmp>/NAME --passphrase-file` with
    /// passphrase `pw`; returns (private, public).
    fn generate_key(&self, name: &str, pw: &str) -> (PathBuf, PathBuf) {
        let pw_file = write_file(&self.path(&format!("{name}.pw")), &format!("{pw}\n"));
        let prefix = self.path(name).display().to_string();
        let out = self.run(
            skiff_bin(),
            &[
                "generate-sigstore-key",
                "--output-prefix",
                &prefix,
                "--passphrase-file",
                &pw_file.display().to_string(),
            ],
            &[],
        );
        assert!(out.ok(), "{out:?}");
        (
            self.path(&format!("{name}.private")),
            self.path(&format!("{name}.pub")),
        )
    }

    /// Signs hello-oci into `dir:<tmp>/DEST` with `key` (passphrase file `pw_file`).
    fn sign_to_dir(&self, key: &Path, pw_file: &Path, dest: &str) -> Out {
        self.copy(
            &[
                "--sign-by-sigstore-private-key",
                &key.display().to_string(),
                "--sign-passphrase-file",
                &pw_file.display().to_string(),
                "--sign-identity",
                IDENTITY,
            ],
            &hello_src(),
            &self.dir(dest),
        )
    }

    /// `skiff --policy POLICY copy FLAGS SRC DEST` (no --insecure-policy).
    fn copy_under(&self, policy: &str, flags: &[&str], src: &str, dest: &str) -> Out {
        let pol = write_file(&self.path("policy.json"), policy);
        let pol = pol.display().to_string();
        let mut args = vec!["--policy", pol.as_str(), "copy"];
        args.extend_from_slice(flags);
        args.push(src);
        args.push(dest);
        self.run(skiff_bin(), &args, &[])
    }

    /// Under `policy`, `copy FLAGS… SRC` is rejected with `Source image rejected: WHY`
    /// and writes nothing.
    #[track_caller]
    fn assert_rejected(&self, policy: &str, flags: &[&str], src: &str, why: &str) {
        let out = self.copy_under(policy, flags, src, &self.dir("no"));
        out.assert_fails_with(&format!("Source image rejected: {why}"));
        assert!(!self.path("no").exists());
    }

    /// `dir:<tmp>/NAME`
    fn dir(&self, name: &str) -> String {
        dir_ref(&self.path(name))
    }

    /// `skopeo --insecure-policy --registries.d REGD copy FLAGS… SRC DEST`
    fn skopeo_copy(&self, regd: &str, flags: &[&str], src: &str, dest: &str) -> Out {
        let mut args = vec!["--insecure-policy", "--registries.d", regd, "copy"];
        args.extend_from_slice(flags);
        args.extend([src, dest]);
        self.skopeo(&args)
    }

    /// registries.d turning attachments on for `reg`.
    fn attachments_for(&self, hosts: &[&str]) -> String {
        let mut yaml = String::from("docker:\n");
        for h in hosts {
            yaml.push_str(&format!("  {h}:\n    use-sigstore-attachments: true\n"));
        }
        write_file(&self.path("registries.d/attach.yaml"), &yaml);
        self.path("registries.d").display().to_string()
    }
}

fn dir_ref(path: &Path) -> String {
    format!("dir:{}", path.display())
}

fn policy_with(req: &str) -> String {
    format!(
        r#"{{"default":[{{"type":"reject"}}],"transports":{{"dir":{{"":[{req}]}},"docker":{{"":[{req}]}},"oci":{{"":[{{"type":"insecureAcceptAnything"}}]}}}}}}"#
    )
}

fn key_policy(key: &Path, identity: &str) -> String {
    policy_with(&format!(
        r#"{{"type":"sigstoreSigned","keyPath":"{}","signedIdentity":{identity}}}"#,
        key.display()
    ))
}

const EXACT: &str =
    r#"{"type":"exactReference","dockerReference":"registry.example/test/hello:v1"}"#;


// ---------------------------------------------------------------------------------------
// Keyless signing: Fulcio, Rekor and an OIDC issuer served by the peer
// ---------------------------------------------------------------------------------------

/// A running `sigstore_peer.py serve`, killed by PID on drop.
struct Servers {
    child: Child,
    dir: PathBuf,
    info: Value,
}

impl Servers {
    fn start(cx: &Ctx, name: &str, flags: &[&str]) -> Servers {
        let dir = cx.path(name);
        fs::create_dir_all(&dir).unwrap();
        let child = Command::new("python3")
            .current_dir(repo_root())
            .arg(PEER)
            .arg("serve")
            .arg(&dir)
            .args(flags)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 is required");
        let info_path = dir.join("info.json");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !info_path.exists() {
            assert!(Instant::now() < deadline, "the sigstore peer did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let info = serde_json::from_slice(&fs::read(&info_path).unwrap()).unwrap();
        Servers { child, dir, info }
    }

    fn field(&self, k: &str) -> String {
        self.info[k].as_str().unwrap().to_string()
    }

    /// A containers-sigstore-signing-params.yaml for `mode`.
    fn params(&self, cx: &Ctx, mode: &str, rekor: bool) -> String {
        let url = self.field("url");
        let mut yaml = format!("fulcio:\n  fulcioURL: {url}\n  oidcMode: {mode}\n");
        if mode == "staticToken" {
            yaml.push_str(&format!("  oidcIDToken: {}\n", self.field("token")));
        } else {
            yaml.push_str(&format!(
                "  oidcIssuerURL: {}\n  oidcClientID: sigstore\n",
                self.field("issuer")
            ));
        }
        if rekor {
            yaml.push_str(&format!("rekorURL: {url}\n"));
        }
        let name = format!(
            "{}-{mode}.yaml",
            self.dir.file_name().unwrap().to_string_lossy()
        );
        write_file(&cx.path(&name), &yaml).display().to_string()
    }

    /// The `sigstoreSigned` requirement trusting this Fulcio and Rekor.
    fn fulcio_policy(&self, issuer: &str, email: &str) -> String {
        policy_with(&format!(
            r#"{{"type":"sigstoreSigned","fulcio":{{"caPath":"{}","oidcIssuer":"{issuer}","subjectEmail":"{email}"}},"rekorPublicKeyPath":"{}","signedIdentity":{EXACT}}}"#,
            self.field("ca"),
            self.field("rekor_pub"),
        ))
    }

    #[track_caller]
    fn peer_verifies(&self, dir: &Path) {
        let out = peer(&[
            "verify",
            "--manifest",
            &dir.join("manifest.json").display().to_string(),
            "--reference",
            IDENTITY,
            "--sig",
            &dir.join("signature-1").display().to_string(),
            "--ca",
            &self.field("ca"),
            "--issuer",
            &self.field("issuer"),
            "--email",
            &self.field("email"),
            "--rekor-pub",
            &self.field("rekor_pub"),
        ]);
        assert!(out.ok() && out.stdout.trim() == "OK", "{out:?}");
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ctx {
    fn sign_with_params(&self, params: &str, dest: &str, env: &[(&str, OsString)]) -> Out {
        self.copy_env(
            &["--sign-by-sigstore", params, "--sign-identity", IDENTITY],
            &hello_src(),
            &self.dir(dest),
            env,
        )
    }
}

