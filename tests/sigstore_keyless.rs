//! Keyless sigstore signing end to end: Fulcio, Rekor and an OIDC issuer served by the
//! Python peer (`tests/support/sigstore_peer.py serve`) with a CA and log key made on the
//! fly; skiff signs in each OIDC mode, the peer and skiff's policy verify, and expired
//! certificates, bad SETs and wrong issuers or emails are refused.
//!
//! Needs: python3 with cryptography and PyNaCl (scripts/test-all.sh installs them).

#![allow(dead_code, unused_imports)]

include!("support/sigstore_env.rs");

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
        let src = dir_ref(&signed);
        let out = cx.copy_under(&policy, &[], &src, &cx.dir(&format!("ok-{mode}")));
        assert!(out.ok(), "{mode}: {out:?}");
    }
    let src = cx.dir("deviceGrant");
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
        cx.assert_rejected(&policy, &[], &src, &want);
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
    let src = cx.dir("key-rekor");
    let out = cx.copy_under(&policy, &[], &src, &cx.dir("ok-key-rekor"));
    assert!(out.ok(), "{out:?}");
    // Under another log's key, the same signature's SET does not verify.
    let (_, other_log) = cx.generate_key("other-log", "x");
    let policy = policy_with(&format!(
        r#"{{"type":"sigstoreSigned","keyPath":"{}","rekorPublicKeyPath":"{}","signedIdentity":{EXACT}}}"#,
        public.display(),
        other_log.display()
    ));
    cx.assert_rejected(
        &policy,
        &[],
        &src,
        "No public key verified against the RekorSET: cryptographic signature verification of Rekor SET failed",
    );
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
        let src = cx.dir(&format!("signed-{name}"));
        cx.assert_rejected(&policy, &[], &src, want);
    }
}
