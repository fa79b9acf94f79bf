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

include!("support/sigstore_env.rs");

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
        &dir_ref(&signed),
        &dir_ref(&by_skopeo),
    ]);
    assert!(out.ok(), "{out:?}");
    assert_eq!(fs::read(by_skopeo.join("signature-1")).unwrap(), stored);
    // skiff's policy admits it.
    let src = dir_ref(&signed);
    let out = cx.copy_under(&key_policy(&public, EXACT), &[], &src, &cx.dir("ok"));
    assert!(out.ok(), "{out:?}");
    // Under another identity rule: refused, nothing written.
    let other = r#"{"type":"exactReference","dockerReference":"registry.example/test/hello:v2"}"#;
    let why = "Signature for identity \"registry.example/test/hello:v1\" is not accepted";
    cx.assert_rejected(&key_policy(&public, other), &[], &src, why);
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
    out.assert_fails_with("initializing private key: decrypt: encrypted: decryption failed");
    assert!(!cx.path("never").exists());
    // Verifying with another key fails; the tampered payload fails.
    let (_, other) = cx.generate_key("other", "x");
    let src = cx.dir("signed");
    let why = "cryptographic signature verification failed: invalid signature when validating ASN.1 encoded signature";
    cx.assert_rejected(&key_policy(&other, EXACT), &[], &src, why);
    let sig_path = cx.path("signed/signature-1");
    let stored = fs::read_to_string(&sig_path).unwrap();
    let v: Value = serde_json::from_str(&stored[stored.find('{').unwrap()..]).unwrap();
    let payload = String::from_utf8(base64_decode(v["payload"].as_str().unwrap())).unwrap();
    let forged = payload.replace("hello:v1", "hello:v9");
    let tampered = stored.replace(v["payload"].as_str().unwrap(), &b64(&forged));
    fs::write(&sig_path, tampered).unwrap();
    let why = "cryptographic signature verification failed";
    cx.assert_rejected(&key_policy(&cx.path("cosign.pub"), EXACT), &[], &src, why);
}

#[test]
fn every_key_type_containers_image_signs_with_signs_and_verifies() {
    // P-384 (over SHA-256, as containers/image signs with any curve), RSA and Ed25519 keys,
    // made by the peer; the peer checks each signature, and skiff's policy admits it.
    let cx = Ctx::new();
    for kind in ["p384", "rsa", "ed25519"] {
        let prefix = cx.path(kind).display().to_string();
        let out = peer(&[
            "make-key",
            &prefix,
            "pw",
            "ENCRYPTED COSIGN PRIVATE KEY",
            kind,
        ]);
        assert!(out.ok(), "{kind}: {out:?}");
        let pw = write_file(&cx.path(&format!("{kind}.pw")), "pw\n");
        let out = cx.sign_to_dir(&cx.path(&format!("{kind}.private")), &pw, kind);
        assert!(out.ok(), "{kind}: {out:?}");
        let public = cx.path(&format!("{kind}.pub"));
        peer_verifies(&cx.path(kind), 1, &public, IDENTITY);
        let out = cx.copy_under(
            &key_policy(&public, EXACT),
            &[],
            &dir_ref(&cx.path(kind)),
            &cx.dir(&format!("{kind}-ok")),
        );
        assert!(out.ok(), "{kind}: {out:?}");
    }
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
    let out = cx.copy(&flags, &multi, &dir_ref(&dest));
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
    let skopeo_pull = |image: &str, dest: &Path| {
        cx.skopeo_copy(&regd, &["--src-tls-verify=false"], image, &dir_ref(dest))
    };
    let skiff_pull = |image: &str, dest: &Path| {
        let flags = ["--src-tls-verify=false", "--registries.d", &regd];
        cx.copy(&flags, image, &dir_ref(dest))
    };
    let by_skopeo = cx.path("by-skopeo");
    let out = skopeo_pull(&image, &by_skopeo);
    assert!(out.ok(), "{out:?}");
    let by_skiff = cx.path("by-skiff");
    let out = skiff_pull(&image, &by_skiff);
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
    let out = skopeo_pull(&copy_dest, &back);
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        fs::read(back.join("signature-2")).unwrap(),
        fs::read(by_skopeo.join("signature-2")).unwrap()
    );
    // The reverse: skopeo pushes the dir: signatures to a registry; skiff reads them.
    let pushed = reg.docker_ref("test/pushed:v1");
    let out = cx.skopeo_copy(
        &regd,
        &["--dest-tls-verify=false"],
        &dir_ref(&by_skiff),
        &pushed,
    );
    assert!(out.ok(), "{out:?}");
    let from_skopeo = cx.path("from-skopeo");
    let out = skiff_pull(&pushed, &from_skopeo);
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
        &dir_ref(&by_skiff),
        &nowhere,
    );
    out.assert_fails_with("writing sigstore attachments is disabled by configuration");
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
    let why = "A signature was required, but no signature exists";
    cx.assert_rejected(&policy, &flags, &reg.docker_ref("skiff/hello:v1"), why);
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
