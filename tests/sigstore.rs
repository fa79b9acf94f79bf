//! Sigstore signing and verification, end to end, against real parts: Debian's
//! docker-registry (attachments), skopeo 1.9.3 (which copies sigstore signatures but, as
//! Debian built it, neither signs nor verifies them), and an independent peer in Python
//! (`tests/support/sigstore_peer.py`: `cryptography` + PyNaCl) that checks what skiff
//! signs, makes cosign-format keys, and serves Fulcio, Rekor and an OIDC issuer with a CA
//! and log key made on the fly.
//!
//! Needs: apt-get install -y skopeo docker-registry; python3 with cryptography and PyNaCl
//! (scripts/test-all.sh installs them).

#![allow(dead_code, unused_imports)]

include!("support/registry_env.rs");

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
            &format!("dir:{}", self.path(dest).display()),
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

    /// `dir:<tmp>/NAME`
    fn dir(&self, name: &str) -> String {
        format!("dir:{}", self.path(name).display())
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
// Keys
// ---------------------------------------------------------------------------------------

#[test]
fn generate_sigstore_key_writes_a_pair_the_peer_decrypts() {
    use std::os::unix::fs::PermissionsExt;
    let cx = Ctx::new();
    let (private, public) = cx.generate_key("k", "secret");
    let mode = fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key mode");
    let text = fs::read_to_string(&private).unwrap();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"),
        "{text}"
    );
    // The peer decrypts it (scrypt + secretbox) and derives the same public key.
    let out = peer(&["public-of", &private.display().to_string(), "secret"]);
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout, fs::read_to_string(&public).unwrap());
    // Never overwrites; nothing changes.
    let before = fs::read(&private).unwrap();
    let prefix = cx.path("k").display().to_string();
    let pw = cx.path("k.pw").display().to_string();
    let again = cx.run(
        skiff_bin(),
        &[
            "generate-sigstore-key",
            "--output-prefix",
            &prefix,
            "--passphrase-file",
            &pw,
        ],
        &[],
    );
    assert_eq!(again.code, Some(1), "{again:?}");
    assert!(
        again
            .stderr
            .contains(&format!("Refusing to overwrite existing \"{prefix}.pub\"")),
        "{again:?}"
    );
    assert_eq!(fs::read(&private).unwrap(), before);
    // No passphrase file and no terminal: skopeo's refusal, no files.
    let other = cx.path("k2").display().to_string();
    let out = cx.run(
        skiff_bin(),
        &["generate-sigstore-key", "--output-prefix", &other],
        &[],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("Cannot prompt for a passphrase for key")
            && out.stderr.contains("standard input is not a TTY"),
        "{out:?}"
    );
    assert!(!cx.path("k2.private").exists() && !cx.path("k2.pub").exists());
}

#[test]
fn passphrases_are_asked_on_the_terminal_without_echo() {
    let cx = Ctx::new();
    let prefix = cx.path("tty").display().to_string();
    let out = peer(&[
        "answer-prompt",
        "Passphrase for key",
        "typed-secret",
        skiff_bin(),
        "generate-sigstore-key",
        "--output-prefix",
        &prefix,
    ]);
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("Passphrase for key {prefix}.private: ")),
        "{out:?}"
    );
    assert!(
        !out.stdout.contains("typed-secret"),
        "the passphrase was echoed: {out:?}"
    );
    let public = peer(&["public-of", &format!("{prefix}.private"), "typed-secret"]);
    assert!(public.ok(), "{public:?}");
    // copy asks for the private key's passphrase the same way.
    let dest = cx.path("signed").display().to_string();
    let out = peer(&[
        "answer-prompt",
        "Passphrase for key",
        "typed-secret",
        skiff_bin(),
        "--insecure-policy",
        "copy",
        "-q",
        "--sign-identity",
        IDENTITY,
        "--sign-by-sigstore-private-key",
        &format!("{prefix}.private"),
        &hello_src(),
        &format!("dir:{dest}"),
    ]);
    assert!(out.ok(), "{out:?}");
    assert!(
        !out.stdout.contains("typed-secret"),
        "the passphrase was echoed: {out:?}"
    );
    peer_verifies(&cx.path("signed"), 1, &cx.path("tty.pub"), IDENTITY);
}

#[test]
fn signatures_made_with_a_generated_key_verify_independently_and_under_the_policy() {
    let cx = Ctx::new();
    let (key, public) = cx.generate_key("k", "pw");
    let out = cx.sign_to_dir(&key, &cx.path("k.pw"), "signed");
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr
            .contains("Creating signature: Signing image using a sigstore signature"),
        "{out:?}"
    );
    let signed = cx.path("signed");
    let stored = fs::read(signed.join("signature-1")).unwrap();
    assert!(stored.starts_with(b"\0sigstore-json\n{\"mimeType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"payload\":"));
    peer_verifies(&signed, 1, &public, IDENTITY);
    // skopeo 1.9.3 reads and copies it as it is.
    let by_skopeo = cx.path("by-skopeo");
    let out = cx.skopeo(&[
        "--insecure-policy",
        "copy",
        &format!("dir:{}", signed.display()),
        &format!("dir:{}", by_skopeo.display()),
    ]);
    assert!(out.ok(), "{out:?}");
    assert_eq!(fs::read(by_skopeo.join("signature-1")).unwrap(), stored);
    // skiff's policy admits it.
    let src = format!("dir:{}", signed.display());
    let out = cx.copy_under(&key_policy(&public, EXACT), &[], &src, &cx.dir("ok"));
    assert!(out.ok(), "{out:?}");
    // Under another identity rule: refused, nothing written.
    let other = r#"{"type":"exactReference","dockerReference":"registry.example/test/hello:v2"}"#;
    let out = cx.copy_under(&key_policy(&public, other), &[], &src, &cx.dir("no"));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("Source image rejected: Signature for identity \"registry.example/test/hello:v1\" is not accepted"),
        "{out:?}"
    );
    assert!(!cx.path("no").exists());
}

#[test]
fn a_cosign_format_key_signs_and_bad_passphrases_or_keys_fail_cleanly() {
    let cx = Ctx::new();
    // Made by the peer, with cosign's newer label.
    let prefix = cx.path("cosign").display().to_string();
    let out = peer(&[
        "make-key",
        &prefix,
        "cosign-pw",
        "ENCRYPTED SIGSTORE PRIVATE KEY",
    ]);
    assert!(out.ok(), "{out:?}");
    let pw = write_file(&cx.path("cosign.pw"), "cosign-pw\nsecond line ignored\n");
    let out = cx.sign_to_dir(&cx.path("cosign.private"), &pw, "signed");
    assert!(out.ok(), "{out:?}");
    peer_verifies(&cx.path("signed"), 1, &cx.path("cosign.pub"), IDENTITY);
    // A wrong passphrase: c/image's words, nothing written.
    let bad = write_file(&cx.path("bad.pw"), "nope\n");
    let out = cx.sign_to_dir(&cx.path("cosign.private"), &bad, "never");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("initializing private key: decrypt: encrypted: decryption failed"),
        "{out:?}"
    );
    assert!(!cx.path("never").exists());
    // Verifying with another key fails; the tampered payload fails.
    let (_, other) = cx.generate_key("other", "x");
    let src = format!("dir:{}", cx.path("signed").display());
    let out = cx.copy_under(&key_policy(&other, EXACT), &[], &src, &cx.dir("no"));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("Source image rejected: cryptographic signature verification failed: invalid signature when validating ASN.1 encoded signature"),
        "{out:?}"
    );
    let sig_path = cx.path("signed/signature-1");
    let stored = fs::read_to_string(&sig_path).unwrap();
    let v: Value = serde_json::from_str(&stored[stored.find('{').unwrap()..]).unwrap();
    let payload = String::from_utf8(base64_decode(v["payload"].as_str().unwrap())).unwrap();
    let forged = payload.replace("hello:v1", "hello:v9");
    let tampered = stored.replace(v["payload"].as_str().unwrap(), &b64(&forged));
    fs::write(&sig_path, tampered).unwrap();
    let out = cx.copy_under(
        &key_policy(&cx.path("cosign.pub"), EXACT),
        &[],
        &src,
        &cx.dir("no"),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("cryptographic signature verification failed"),
        "{out:?}"
    );
    assert!(!cx.path("no").exists());
}

#[test]
fn all_signs_every_instance_and_the_list() {
    let cx = Ctx::new();
    let (key, public) = cx.generate_key("k", "pw");
    let reg = Registry::start(RegistryOpts::plain());
    let regd = cx.attachments_for(&[&reg.host()]);
    let multi = format!(
        "oci:{}:latest",
        repo_root().join("examples/multiarch-oci").display()
    );
    let key = key.display().to_string();
    let pw = cx.path("k.pw").display().to_string();
    let signing = [
        "--all",
        "--sign-by-sigstore-private-key",
        key.as_str(),
        "--sign-passphrase-file",
        pw.as_str(),
    ];
    let dest = cx.path("multi");
    let mut flags = signing.to_vec();
    flags.extend(["--sign-identity", IDENTITY]);
    let out = cx.copy(&flags, &multi, &format!("dir:{}", dest.display()));
    assert!(out.ok(), "{out:?}");
    let mut checked = 0;
    for entry in fs::read_dir(&dest).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(hex) = name.strip_suffix(".manifest.json") else {
            continue;
        };
        let args = [
            "verify".to_string(),
            "--pub".into(),
            public.display().to_string(),
            "--manifest".into(),
            dest.join(&name).display().to_string(),
            "--reference".into(),
            IDENTITY.into(),
            "--sig".into(),
            dest.join(format!("{hex}.signature-1"))
                .display()
                .to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = peer(&args);
        assert!(out.ok(), "{name}: {out:?}");
        checked += 1;
    }
    assert_eq!(checked, 3, "one signature per instance");
    peer_verifies(&dest, 1, &public, IDENTITY);
    // In a registry: one .sig tag per instance and one for the list.
    let out = cx.copy(
        &[
            &["--dest-tls-verify=false", "--registries.d", regd.as_str()][..],
            &signing[..],
        ]
        .concat(),
        &multi,
        &reg.docker_ref("test/multi:v1"),
    );
    assert!(out.ok(), "{out:?}");
    let tags = reg.tags("test/multi");
    assert_eq!(
        tags.iter().filter(|t| t.ends_with(".sig")).count(),
        4,
        "{tags:?}"
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

// ---------------------------------------------------------------------------------------
// Registry attachments
// ---------------------------------------------------------------------------------------

fn sig_tag_of(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

#[test]
fn attachments_are_written_read_and_copied_like_skopeo_does() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let regd = cx.attachments_for(&[&reg.host()]);
    let (key, public) = cx.generate_key("k", "pw");
    let pw = cx.path("k.pw").display().to_string();
    let image = reg.docker_ref("test/hello:v1");
    let identity = image.trim_start_matches("docker://").to_string();
    let sign = |key: &Path| {
        cx.copy(
            &[
                "--dest-tls-verify=false",
                "--registries.d",
                &regd,
                "--sign-by-sigstore-private-key",
                &key.display().to_string(),
                "--sign-passphrase-file",
                &pw,
            ],
            &hello_src(),
            &image,
        )
    };
    let out = sign(&key);
    assert!(out.ok(), "{out:?}");
    let tag = sig_tag_of(HELLO_MANIFEST);
    assert!(
        reg.tags("test/hello").contains(&tag),
        "{:?}",
        reg.tags("test/hello")
    );
    // Signing again appends (a second signature; the first stays).
    let (key2, public2) = cx.generate_key("k2", "pw");
    let out = sign(&key2);
    assert!(out.ok(), "{out:?}");
    // skopeo 1.9.3 and skiff both bring them to dir:, identically.
    let by_skopeo = cx.path("by-skopeo");
    let out = cx.skopeo(&[
        "--insecure-policy",
        "--registries.d",
        &regd,
        "copy",
        "--src-tls-verify=false",
        &image,
        &format!("dir:{}", by_skopeo.display()),
    ]);
    assert!(out.ok(), "{out:?}");
    let by_skiff = cx.path("by-skiff");
    let out = cx.copy(
        &["--src-tls-verify=false", "--registries.d", &regd],
        &image,
        &format!("dir:{}", by_skiff.display()),
    );
    assert!(out.ok(), "{out:?}");
    for n in 1..=2 {
        let name = format!("signature-{n}");
        assert_eq!(
            fs::read(by_skiff.join(&name)).unwrap(),
            fs::read(by_skopeo.join(&name)).unwrap(),
            "{name}"
        );
    }
    assert!(!by_skiff.join("signature-3").exists());
    peer_verifies(&by_skiff, 1, &public, &identity);
    peer_verifies(&by_skiff, 2, &public2, &identity);
    // skiff's policy admits the registry image (default signedIdentity, matchRepoDigestOrExact).
    let policy = policy_with(&format!(
        r#"{{"type":"sigstoreSigned","keyPath":"{}"}}"#,
        public2.display()
    ));
    let flags = ["--src-tls-verify=false", "--registries.d", regd.as_str()];
    let out = cx.copy_under(&policy, &flags, &image, &cx.dir("admitted"));
    assert!(out.ok(), "{out:?}");
    // registry -> registry keeps both signatures (another repository's .sig tag).
    let copy_dest = reg.docker_ref("test/copy:v1");
    let out = cx.copy(
        &[
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--registries.d",
            &regd,
        ],
        &image,
        &copy_dest,
    );
    assert!(out.ok(), "{out:?}");
    assert!(reg.tags("test/copy").contains(&tag));
    let back = cx.path("back");
    let out = cx.skopeo(&[
        "--insecure-policy",
        "--registries.d",
        &regd,
        "copy",
        "--src-tls-verify=false",
        &copy_dest,
        &format!("dir:{}", back.display()),
    ]);
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        fs::read(back.join("signature-2")).unwrap(),
        fs::read(by_skopeo.join("signature-2")).unwrap()
    );
    // The reverse: skopeo pushes the dir: signatures to a registry; skiff reads them.
    let pushed = reg.docker_ref("test/pushed:v1");
    let out = cx.skopeo(&[
        "--insecure-policy",
        "--registries.d",
        &regd,
        "copy",
        "--dest-tls-verify=false",
        &format!("dir:{}", by_skiff.display()),
        &pushed,
    ]);
    assert!(out.ok(), "{out:?}");
    let from_skopeo = cx.path("from-skopeo");
    let out = cx.copy(
        &["--src-tls-verify=false", "--registries.d", &regd],
        &pushed,
        &format!("dir:{}", from_skopeo.display()),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        fs::read(from_skopeo.join("signature-1")).unwrap(),
        fs::read(by_skiff.join("signature-1")).unwrap()
    );
    // Without use-sigstore-attachments the registry cannot take them: refused up front.
    let empty_regd = cx.path("empty.d");
    fs::create_dir_all(&empty_regd).unwrap();
    let nowhere = reg.docker_ref("test/nowhere:v1");
    let out = cx.copy(
        &[
            "--dest-tls-verify=false",
            "--registries.d",
            &empty_regd.display().to_string(),
        ],
        &format!("dir:{}", by_skiff.display()),
        &nowhere,
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("writing sigstore attachments is disabled by configuration"),
        "{out:?}"
    );
    assert!(reg.tags("test/nowhere").is_empty());
}

#[test]
fn a_missing_attachment_costs_one_request_and_a_failing_one_fails_cleanly() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let regd = cx.attachments_for(&[&reg.host()]);
    let (_, public) = cx.generate_key("k", "pw");
    let policy = policy_with(&format!(
        r#"{{"type":"sigstoreSigned","keyPath":"{}"}}"#,
        public.display()
    ));
    let flags = ["--src-tls-verify=false", "--registries.d", regd.as_str()];
    let out = cx.copy_under(
        &policy,
        &flags,
        &reg.docker_ref("skiff/hello:v1"),
        &cx.dir("no"),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("Source image rejected: A signature was required, but no signature exists"),
        "{out:?}"
    );
    assert!(!cx.path("no").exists());
    let sig_path = format!("/v2/skiff/hello/manifests/{}", sig_tag_of(HELLO_MANIFEST));
    let asked: Vec<_> = client_requests(&reg)
        .into_iter()
        .filter(|e| e.path == sig_path)
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].status, 404);
    // A registry answering 500 for the tag: the copy fails with the registry's answer.
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![
            Fault::status(500)
                .on("GET", &sig_path)
                .retry_after(Some(0))
                .times(100),
        ],
    );
    let regd = cx.attachments_for(&[&reg.host(), &proxy.host()]);
    let flags = ["--src-tls-verify=false", "--registries.d", regd.as_str()];
    let out = cx.copy_under(
        &policy,
        &flags,
        &proxy.docker_ref("skiff/hello:v1"),
        &cx.dir("no"),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "reading manifest {} in {}/skiff/hello",
            sig_tag_of(HELLO_MANIFEST),
            proxy.host()
        )) && out.stderr.contains("(HTTP 500)"),
        "{out:?}"
    );
    assert!(!cx.path("no").exists());
}

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
            &format!("dir:{}", self.path(dest).display()),
            env,
        )
    }
}

#[test]
fn keyless_signing_with_each_oidc_mode_verifies_with_fulcio_and_rekor() {
    let cx = Ctx::new();
    let servers = Servers::start(&cx, "good", &[]);
    // A browser for the interactive flow: follows the issuer's redirect to skiff's listener.
    let bin = cx.path("bin");
    fs::create_dir_all(&bin).unwrap();
    let browser = bin.join("xdg-open");
    fs::write(
        &browser,
        "#!/usr/bin/env python3\nimport sys, urllib.request\nurllib.request.urlopen(sys.argv[1]).read()\n",
    )
    .unwrap();
    fs::set_permissions(&browser, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [("PATH", OsString::from(path))];
    for mode in ["staticToken", "deviceGrant", "interactive"] {
        let params = servers.params(&cx, mode, true);
        let out = cx.sign_with_params(&params, mode, &env);
        assert!(out.ok(), "{mode}: {out:?}");
        if mode == "deviceGrant" {
            // The user is told where to go, on stderr (stdout stays clean).
            assert!(
                out.stderr
                    .contains("Enter the verification code ABCD-EFGH in your browser at: "),
                "{out:?}"
            );
            assert!(out.stdout.is_empty(), "{out:?}");
        }
        let signed = cx.path(mode);
        servers.peer_verifies(&signed);
        let policy = servers.fulcio_policy(&servers.field("issuer"), &servers.field("email"));
        let src = format!("dir:{}", signed.display());
        let out = cx.copy_under(&policy, &[], &src, &cx.dir(&format!("ok-{mode}")));
        assert!(out.ok(), "{mode}: {out:?}");
    }
    let src = format!("dir:{}", cx.path("deviceGrant").display());
    // A policy for another issuer or email refuses, in c/image's words, writing nothing.
    let issuer = servers.field("issuer");
    let cases = [
        (
            servers.fulcio_policy("https://accounts.example", &servers.field("email")),
            format!("Unexpected Fulcio OIDC issuer \"{issuer}\""),
        ),
        (
            servers.fulcio_policy(&issuer, "other@example.com"),
            "Required email \"other@example.com\" not found (got [\"signer@example.com\"])"
                .to_string(),
        ),
    ];
    for (policy, want) in cases {
        let out = cx.copy_under(&policy, &[], &src, &cx.dir("no"));
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stderr
                .contains(&format!("Source image rejected: {want}")),
            "{out:?}"
        );
        assert!(!cx.path("no").exists());
    }
    // A key signature logged in Rekor: the SET is checked against the key.
    let (key, public) = cx.generate_key("k", "pw");
    let params = write_file(
        &cx.path("key-rekor.yaml"),
        &format!(
            "privateKeyFile: {}\nprivateKeyPassphraseFile: {}\nrekorURL: {}\n",
            key.display(),
            cx.path("k.pw").display(),
            servers.field("url")
        ),
    );
    let out = cx.sign_with_params(&params.display().to_string(), "key-rekor", &[]);
    assert!(out.ok(), "{out:?}");
    let policy = policy_with(&format!(
        r#"{{"type":"sigstoreSigned","keyPath":"{}","rekorPublicKeyPath":"{}","signedIdentity":{EXACT}}}"#,
        public.display(),
        servers.field("rekor_pub")
    ));
    let src = format!("dir:{}", cx.path("key-rekor").display());
    let out = cx.copy_under(&policy, &[], &src, &cx.dir("ok-key-rekor"));
    assert!(out.ok(), "{out:?}");
}

#[test]
fn an_expired_certificate_or_a_bad_set_is_refused() {
    let cx = Ctx::new();
    for (name, flag, want) in [
        (
            "expired",
            "--expired",
            "veryfing leaf certificate failed: x509: certificate has expired or is not yet valid: current time",
        ),
        (
            "bad-set",
            "--bad-set",
            "cryptographic signature verification of Rekor SET failed",
        ),
    ] {
        let servers = Servers::start(&cx, name, &[flag]);
        let params = servers.params(&cx, "staticToken", true);
        let out = cx.sign_with_params(&params, &format!("signed-{name}"), &[]);
        assert!(out.ok(), "{name}: {out:?}");
        let policy = servers.fulcio_policy(&servers.field("issuer"), &servers.field("email"));
        let src = format!("dir:{}", cx.path(&format!("signed-{name}")).display());
        let out = cx.copy_under(&policy, &[], &src, &cx.dir("no"));
        assert_eq!(out.code, Some(1), "{name}: {out:?}");
        assert!(
            out.stderr
                .contains(&format!("Source image rejected: {want}")),
            "{name}: {out:?}"
        );
        assert!(!cx.path("no").exists());
    }
}
