//! GPG simple signing end to end, against real parts: gpg makes the keys
//! (tests/support/gpg.rs), skopeo 1.9.3 verifies what skiff signs and signs what skiff
//! verifies, in `dir:` and in Debian's docker-registry with a `file://` lookaside and one
//! served over HTTP; `--all` signs each instance and the list; each failure exits 1 with
//! skopeo's message and writes nothing at the destination.
//!
//! Needs: apt-get install -y skopeo docker-registry gnupg python3

#[path = "support/certs.rs"]
mod certs;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/gpg.rs"]
mod gpg;
#[path = "support/http_files.rs"]
mod http_files;
#[path = "support/loopback.rs"]
mod loopback;
#[path = "support/registry.rs"]
mod registry;
#[path = "support/signing_world.rs"]
mod signing_world;
mod support;
#[path = "support/token_server.rs"]
mod token_server;

use std::path::{Path, PathBuf};

use fault_proxy::{Fault, FaultProxy};
use gpg::PASSPHRASE;
use http_files::HttpFiles;
use registry::{Registry, RegistryOpts};
use signing_world::*;
use support::*;

#[test]
fn skiff_signs_and_skopeo_verifies_in_dir() {
    let w = World::new();
    let src = w.unsigned_dir("src");
    let (rsa, ed) = (w.gpg.keys.rsa.clone(), w.gpg.keys.ed.clone());
    let pass = w.gpg.file("pass", &format!("{PASSPHRASE}\nsecond line\n"));
    // Two signatures: a key without a passphrase, then one with a passphrase file.
    let signed = w.sign_dir(&src, "signed", &rsa, false);
    let twice = w.path("twice");
    w.skiff(
        None,
        &[
            "copy",
            "--sign-by",
            &ed,
            "--sign-passphrase-file",
            &p(&pass),
            "--sign-identity",
            IDENTITY,
            &dir_ref(&signed),
            &dir_ref(&twice),
        ],
    )
    .assert_success();
    // A passphrase file for a key that needs none: gpg takes the line, the payload is intact.
    let thrice = w.path("thrice");
    let args = [
        "copy",
        "--sign-by",
        &rsa,
        "--sign-passphrase-file",
        &p(&pass),
    ];
    let to = [dir_ref(&twice), dir_ref(&thrice)];
    w.skiff(
        None,
        &[&args[..], &["--sign-identity", IDENTITY, &to[0], &to[1]]].concat(),
    )
    .assert_success();
    assert!(thrice.join("signature-3").exists());
    // The first signature came along unchanged.
    assert_eq!(
        std::fs::read(signed.join("signature-1")).unwrap(),
        std::fs::read(twice.join("signature-1")).unwrap()
    );
    // The payload is containers/image's, naming the manifest written.
    let payload = payload_of(&w, &twice.join("signature-2"));
    assert_eq!(
        payload["critical"]["identity"]["docker-reference"],
        IDENTITY
    );
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        HELLO_MANIFEST
    );
    assert_eq!(payload["critical"]["type"], "atomic container signature");
    assert!(payload["optional"]["timestamp"].is_i64());

    // skopeo verifies both: standalone, and as a signedBy policy (binary and armored keys).
    let manifest = p(&thrice.join("manifest.json"));
    for (fpr, sig) in [
        (&rsa, "signature-1"),
        (&ed, "signature-2"),
        (&rsa, "signature-3"),
    ] {
        w.skopeo(
            None,
            &[
                "standalone-verify",
                &manifest,
                IDENTITY,
                fpr,
                &p(&thrice.join(sig)),
            ],
        )
        .assert_success()
        .assert_stdout_contains(&format!("Signature verified, digest {HELLO_MANIFEST}"));
    }
    for (fpr, armor) in [(&rsa, false), (&ed, true)] {
        let pol = w.policy("p.json", "dir", &w.key_path(fpr, armor), &exact(IDENTITY));
        let out = w.path(&format!("skopeo-{armor}"));
        w.skopeo(Some(&pol), &copy_dirs(&[], &twice, &out))
            .assert_success();
        assert!(out.join("signature-2").exists());
    }
}

#[test]
fn skopeo_signs_and_skiff_verifies_in_dir() {
    let w = World::new();
    let src = w.unsigned_dir("src");
    let rsa = w.gpg.keys.rsa.clone();
    let signed = w.sign_dir(&src, "signed", &rsa, true);
    let pol = w.policy("p.json", "dir", &w.key_path(&rsa, false), &exact(IDENTITY));
    let out = w.path("out");
    w.skiff(Some(&pol), &copy_dirs(&[], &signed, &out))
        .assert_success();
    // The signature is copied byte for byte.
    assert_eq!(
        std::fs::read(signed.join("signature-1")).unwrap(),
        std::fs::read(out.join("signature-1")).unwrap()
    );
    // keyPaths with both keys, and keyData, admit it too; matchRepository does not apply
    // to dir: (no reference), so it rejects.
    let both = format!(
        r#""keyPaths":["{}","{}"]"#,
        p(&w.gpg.export(&w.gpg.keys.ed, true)),
        p(&w.gpg.export(&rsa, false))
    );
    let pol = w.policy("both.json", "dir", &both, &exact(IDENTITY));
    w.skiff(Some(&pol), &copy_dirs(&[], &signed, &w.path("out2")))
        .assert_success();
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(w.gpg.export(&rsa, true)).unwrap());
    let pol = w.policy(
        "data.json",
        "dir",
        &format!(r#""keyData":"{data}""#),
        &exact(IDENTITY),
    );
    w.skiff(Some(&pol), &copy_dirs(&[], &signed, &w.path("out3")))
        .assert_success();
    let pol = w.policy(
        "repo.json",
        "dir",
        &w.key_path(&rsa, false),
        MATCH_REPOSITORY,
    );
    let rejected = w.skiff(Some(&pol), &copy_dirs(&[], &signed, &w.path("no")));
    rejected.assert_error().assert_stderr_contains(&format!(
        "Source image rejected: Signature for identity \"{IDENTITY}\" is not accepted"
    ));
    assert!(!w.path("no").exists());
}

/// hello-oci's manifest and a `standalone-sign` signature of it by the RSA key, made by
/// skopeo.
fn skopeo_standalone_signature(w: &World) -> (String, String) {
    let manifest = p(&w.unsigned_dir("src").join("manifest.json"));
    let sig = p(&w.path("theirs.sig"));
    let rsa = &w.gpg.keys.rsa;
    let args = ["standalone-sign", &manifest, IDENTITY, rsa, "-o", &sig];
    w.skopeo(None, &args).assert_success();
    (manifest, sig)
}

#[test]
fn standalone_sign_verify_and_dump_interoperate() {
    let w = World::new();
    let (manifest, theirs) = skopeo_standalone_signature(&w);
    let (rsa, ed) = (w.gpg.keys.rsa.as_str(), w.gpg.keys.ed.as_str());
    let pass = p(&w.gpg.file("pass", PASSPHRASE));
    let ours = p(&w.path("ours.sig"));
    let sign = ["standalone-sign", &manifest, IDENTITY, ed, "-o", &ours];
    w.skiff(None, &[&sign[..], &["--passphrase-file", &pass]].concat())
        .assert_success();
    let verified = format!("Signature verified, digest {HELLO_MANIFEST}\n");
    for (fpr, sig) in [(ed, &ours), (rsa, &theirs)] {
        let verify = ["standalone-verify", &manifest, IDENTITY, fpr, sig];
        for out in [w.skopeo(None, &verify), w.skiff(None, &verify)] {
            out.assert_success();
            assert_eq!(out.stdout, verified);
        }
    }
    // The untrusted dump: what skopeo prints, byte for byte.
    for sig in [&ours, &theirs] {
        let dump = ["untrusted-signature-dump-without-verification", sig];
        let (a, b) = (w.skiff(None, &dump), w.skopeo(None, &dump));
        a.assert_success();
        b.assert_success();
        assert_eq!(a.stdout, b.stdout);
    }
}

#[test]
fn standalone_verify_with_key_files_and_its_refusals() {
    let w = World::new();
    let (manifest, sig) = skopeo_standalone_signature(&w);
    let (rsa, ed) = (w.gpg.keys.rsa.as_str(), w.gpg.keys.ed.as_str());
    let verify = |id: &str, fprs: &str| {
        vec!["standalone-verify", &manifest, id, fprs, &sig]
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| w.skiff(None, &args);
    // Newer skopeo's --public-key-file, with "any" or a list of fingerprints.
    let keys = p(&w.gpg.export(rsa, true));
    for fprs in ["any".to_string(), format!("0000,{rsa}")] {
        let mut args = verify(IDENTITY, &fprs);
        args.insert(1, "--public-key-file".into());
        args.insert(2, keys.clone());
        run(args).assert_success().assert_stdout_contains(&format!(
            "Signature verified using fingerprint {rsa}, digest {HELLO_MANIFEST}"
        ));
    }
    // The wrong key, the wrong identity, "any" without keys, as skopeo says them.
    run(verify(IDENTITY, ed))
        .assert_error()
        .assert_stderr_contains(&format!(
            "Error verifying signature: signature by key {rsa} is not accepted"
        ));
    let theirs = w.skopeo(None, &["standalone-verify", &manifest, IDENTITY, ed, &sig]);
    theirs
        .assert_exit1()
        .assert_skopeo_message_contains("Error verifying signature: Signature by");
    run(verify("registry.example.com/test/hello:v2", rsa))
        .assert_error()
        .assert_stderr_contains(
            "Error verifying signature: Docker reference \"registry.example.com/test/hello:v1\" does not match",
        );
    run(verify(IDENTITY, "any"))
        .assert_error()
        .assert_stderr_contains("Cannot use any fingerprint without a public key file");
}

/// A registry, and a registries.d that puts its signatures in `look` (read over `read`,
/// written to the file:// staging location).
fn registry_with_lookaside(w: &World, read: &str) -> Registry {
    let reg = Registry::start(RegistryOpts::plain().with_delete());
    w.lookaside(&format!(
        "docker:\n  {}:\n    lookaside: {read}\n    lookaside-staging: file://{}\n",
        reg.host(),
        p(&w.path("look"))
    ));
    reg
}

fn lookaside_file(w: &World, repo: &str, digest: &str, n: usize) -> PathBuf {
    w.path(&format!(
        "look/{repo}@{}/signature-{n}",
        digest.replacen(':', "=", 1)
    ))
}

#[test]
fn registry_with_a_file_lookaside_both_ways() {
    let w = World::new();
    let reg = registry_with_lookaside(&w, &format!("file://{}", p(&w.path("look"))));
    let rsa = w.gpg.keys.rsa.clone();
    let img = reg.docker_ref("test/hello:v1");
    let id = img.trim_start_matches("docker://").to_string();
    // skiff pushes and signs (the identity is the destination's reference).
    w.push_signed(&img, &rsa);
    let sig = lookaside_file(&w, "test/hello", HELLO_MANIFEST, 1);
    assert!(sig.exists(), "no signature at {}", sig.display());
    // skopeo admits it from the registry and copies the signature to dir:.
    let pol = w.policy("p.json", "docker", &w.key_path(&rsa, false), MATCH_EXACT);
    let out = w.path("from-registry");
    w.skopeo(Some(&pol), &pull(&img, &out)).assert_success();
    assert_eq!(
        std::fs::read(&sig).unwrap(),
        std::fs::read(out.join("signature-1")).unwrap()
    );
    assert_eq!(
        payload_of(&w, &sig)["critical"]["identity"]["docker-reference"],
        id
    );

    // skopeo pushes a signed image; skiff reads it under the policy and keeps the signature.
    let img2 = reg.docker_ref("test/hello:v2");
    w.skopeo_push_signed(&out, &img2, &rsa);
    // The copied signature (for v1) and skopeo's new one (for v2), under one digest.
    assert!(lookaside_file(&w, "test/hello", HELLO_MANIFEST, 2).exists());
    let pol = w.policy(
        "repo.json",
        "docker",
        &w.key_path(&rsa, true),
        MATCH_REPOSITORY,
    );
    let back = w.path("back");
    w.skiff(Some(&pol), &pull(&img2, &back)).assert_success();
    for n in [1, 2] {
        assert_eq!(
            std::fs::read(lookaside_file(&w, "test/hello", HELLO_MANIFEST, n)).unwrap(),
            std::fs::read(back.join(format!("signature-{n}"))).unwrap()
        );
    }
    assert!(!back.join("signature-3").exists());
    // Deleting the image deletes its signatures, as skopeo does.
    w.skiff(None, &["delete", "--tls-verify=false", &img2])
        .assert_success();
    assert!(!lookaside_file(&w, "test/hello", HELLO_MANIFEST, 1).exists());
    assert!(!lookaside_file(&w, "test/hello", HELLO_MANIFEST, 2).exists());
}

#[test]
fn registry_with_an_http_lookaside_and_a_failing_one() {
    let w = World::new();
    std::fs::create_dir_all(w.path("look")).unwrap();
    let files = HttpFiles::start(&w.path("look"));
    // Reads go through a proxy that can fail them.
    let proxy = FaultProxy::start(&files.host(), vec![]);
    let reg = registry_with_lookaside(&w, &proxy.url());
    let rsa = w.gpg.keys.rsa.clone();
    let img = reg.docker_ref("test/hello:v1");
    w.push_signed(&img, &rsa);
    let pol = w.policy("p.json", "docker", &w.key_path(&rsa, false), MATCH_EXACT);
    for (who, out) in [("skiff", "a"), ("skopeo", "b")] {
        let args = pull(&img, &w.path(out));
        let run = if who == "skiff" {
            w.skiff(Some(&pol), &args)
        } else {
            w.skopeo(Some(&pol), &args)
        };
        run.assert_success();
        assert!(w.path(out).join("signature-1").exists(), "{who}");
    }
    assert!(proxy.count("GET", "/test/hello@sha256=*/signature-1") >= 2);
    assert!(proxy.count("GET", "/test/hello@sha256=*/signature-2") >= 2);

    // A lookaside answering 500: rejected as skopeo rejects it, nothing written.
    proxy.add_fault(Fault::status(500).on("GET", "*/signature-1").times(10));
    let url = format!(
        "{}/test/hello@sha256={}/signature-1",
        proxy.url(),
        HELLO_MANIFEST.trim_start_matches("sha256:")
    );
    let expected = format!(
        "Source image rejected: reading signature from {url}: status 500 (Internal Server Error)"
    );
    let theirs = w.skopeo(Some(&pol), &pull(&img, &w.path("c")));
    theirs
        .assert_exit1()
        .assert_skopeo_message_contains(&expected);
    let ours = w.skiff(Some(&pol), &pull(&img, &w.path("d")));
    ours.assert_error().assert_stderr_contains(&expected);
    assert!(!w.path("d").exists());
    // Without a policy that needs them, the copy fails as it would lose them...
    w.skiff(None, &pull(&img, &w.path("e")))
        .assert_error()
        .assert_stderr_contains("status 500 (Internal Server Error)");
    assert!(!w.path("e").exists());
    // ...and --remove-signatures does not read them at all.
    w.skiff(
        None,
        &[
            "copy",
            "--remove-signatures",
            "--src-tls-verify=false",
            &img,
            &dir_ref(&w.path("f")),
        ],
    )
    .assert_success();
    assert!(!w.path("f").join("signature-1").exists());
}

#[test]
fn all_instances_and_the_list_are_signed() {
    let w = World::new();
    let rsa = w.gpg.keys.rsa.clone();
    let signed = w.path("signed");
    w.skiff(
        None,
        &[
            "copy",
            "--all",
            "--sign-by",
            &rsa,
            "--sign-identity",
            IDENTITY,
            &example_ref("multiarch-oci"),
            &dir_ref(&signed),
        ],
    )
    .assert_success();
    // The list's signature, and one per instance.
    assert!(signed.join("signature-1").exists());
    for d in [MULTI_AMD64, MULTI_ARM64, MULTI_ARMV7] {
        let hex = d.trim_start_matches("sha256:");
        let sig = signed.join(format!("{hex}.signature-1"));
        assert!(sig.exists(), "no signature for {d}");
        assert_eq!(
            payload_of(&w, &sig)["critical"]["image"]["docker-manifest-digest"],
            d
        );
    }
    assert_eq!(
        payload_of(&w, &signed.join("signature-1"))["critical"]["image"]["docker-manifest-digest"],
        MULTI_INDEX
    );
    // skopeo verifies every instance and the list; so does skiff, which keeps them all.
    let pol = w.policy("p.json", "dir", &w.key_path(&rsa, false), &exact(IDENTITY));
    w.skopeo(Some(&pol), &copy_dirs(&["--all"], &signed, &w.path("a")))
        .assert_success();
    w.skiff(Some(&pol), &copy_dirs(&["--all"], &signed, &w.path("b")))
        .assert_success();
    assert_same_tree(
        &w.path("a"),
        &w.path("b"),
        "skopeo's and skiff's copies of a signed list",
    );
    // An instance without its signature is rejected, list signed or not.
    std::fs::remove_file(signed.join(format!(
        "{}.signature-1",
        MULTI_ARM64.trim_start_matches("sha256:")
    )))
    .unwrap();
    w.skiff(Some(&pol), &copy_dirs(&["--all"], &signed, &w.path("c")))
        .assert_error()
        .assert_stderr_contains(
            "Source image rejected: A signature was required, but no signature exists",
        );
    assert!(!w.path("c").exists());
}

/// skiff and skopeo both fail with exit 1, skiff's message contains `common` (and skopeo's
/// contains `theirs`), and neither destination exists.
#[track_caller]
fn both_reject(w: &World, policy: Option<&Path>, args: &[&str], common: &str, theirs: &str) {
    let n = w.tmp.path().read_dir().unwrap().count();
    let (a, b) = (w.path(&format!("ours-{n}")), w.path(&format!("theirs-{n}")));
    let with = |dest: &Path| {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.push(dir_ref(dest));
        v
    };
    w.skiff(policy, &with(&a))
        .assert_error()
        .assert_stderr_contains(common);
    w.skopeo(policy, &with(&b))
        .assert_exit1()
        .assert_skopeo_message_contains(theirs);
    assert!(!a.exists(), "skiff wrote {}", a.display());
}

#[test]
fn policy_rejections_match_skopeo_and_write_nothing() {
    let w = World::new();
    let src = w.unsigned_dir("src");
    let rsa = w.gpg.keys.rsa.clone();
    let signed = w.sign_dir(&src, "signed", &rsa, true);
    let pol = w.policy("p.json", "dir", &w.key_path(&rsa, false), &exact(IDENTITY));
    let run = |src: &Path, pol: &Path, common: &str, theirs: &str| {
        both_reject(&w, Some(pol), &["copy", &dir_ref(src)], common, theirs);
    };
    // No signature.
    let none = "Source image rejected: A signature was required, but no signature exists";
    run(&src, &pol, none, none);
    // Tampered manifest (a space added: same image, another digest).
    let tampered = w.path("tampered");
    copy_tree(&signed, &tampered);
    let m = std::fs::read_to_string(tampered.join("manifest.json")).unwrap();
    std::fs::write(tampered.join("manifest.json"), format!("{m} ")).unwrap();
    let text =
        format!("Source image rejected: Signature for digest {HELLO_MANIFEST} does not match");
    run(&tampered, &pol, &text, &text);
    // Wrong key (gpgme says "Invalid GPG signature: gpgme.Signature{…}").
    let other = w.policy(
        "other.json",
        "dir",
        &w.key_path(&w.gpg.keys.ed, true),
        &exact(IDENTITY),
    );
    let invalid = "Source image rejected: Invalid GPG signature: ";
    run(&signed, &other, invalid, invalid);
    // Identity mismatch (newer skopeo quotes the identity; 1.9.3 does not).
    let v2 = w.policy(
        "v2.json",
        "dir",
        &w.key_path(&rsa, false),
        &exact("registry.example.com/test/hello:v2"),
    );
    run(
        &signed,
        &v2,
        &format!("Source image rejected: Signature for identity \"{IDENTITY}\" is not accepted"),
        &format!("Source image rejected: Signature for identity {IDENTITY} is not accepted"),
    );
    // A corrupt signature file: not a signature at all, and a truncated one.
    let corrupt = w.path("corrupt");
    copy_tree(&signed, &corrupt);
    std::fs::write(corrupt.join("signature-1"), "garbage\n").unwrap();
    let text = format!(
        "Source image rejected: parsing signature \"{}\": unrecognized signature format, starting with binary 0x67",
        p(&corrupt.join("signature-1"))
    );
    run(&corrupt, &pol, &text, &text);
    let sig = std::fs::read(signed.join("signature-1")).unwrap();
    std::fs::write(corrupt.join("signature-1"), &sig[..sig.len() / 2]).unwrap();
    let text = "Source image rejected: Unexpected GPG signature count 0";
    run(&corrupt, &pol, text, text);
    // An expired key: its signature was made while it was valid.
    let expired = w.path("expired");
    copy_tree(&src, &expired);
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{IDENTITY}"}},"image":{{"docker-manifest-digest":"{HELLO_MANIFEST}"}},"type":"atomic container signature"}},"optional":{{}}}}"#
    );
    let old = w
        .gpg
        .sign_at(&w.gpg.keys.expired, payload.as_bytes(), "20200101T010000");
    std::fs::write(expired.join("signature-1"), old).unwrap();
    let exp = w.policy(
        "exp.json",
        "dir",
        &w.key_path(&w.gpg.keys.expired, false),
        &exact(IDENTITY),
    );
    run(&expired, &exp, invalid, invalid);
    w.skiff(Some(&exp), &copy_dirs(&[], &expired, &w.path("exp-out")))
        .assert_error()
        .assert_stderr_contains("has expired");
    // A revoked key: the image was signed before the revocation.
    w.gpg.revoke(&rsa);
    let revoked = w.policy(
        "rev.json",
        "dir",
        &w.key_path(&rsa, false),
        &exact(IDENTITY),
    );
    run(&signed, &revoked, invalid, invalid);
    w.skiff(Some(&revoked), &copy_dirs(&[], &signed, &w.path("rev-out")))
        .assert_error()
        .assert_stderr_contains("revoked");
}

#[test]
fn signing_failures_match_skopeo_and_write_nothing() {
    let w = World::new();
    let src = dir_ref(&w.unsigned_dir("src"));
    let (rsa, ed) = (w.gpg.keys.rsa.as_str(), w.gpg.keys.ed.as_str());
    let unknown = "0000000000000000000000000000000000000000";
    let bad = p(&w.gpg.file("bad", &format!("{PASSPHRASE}\r\n")));
    let not_found = format!("creating signature: key \"{unknown}\" not found");
    // (what to sign with, the flags after `--sign-by KEY`, the message both print)
    let cases: [(&str, &[&str], &str); 8] = [
        (unknown, &["--sign-identity", IDENTITY], &not_found),
        (
            ed,
            &["--sign-passphrase-file", &bad, "--sign-identity", IDENTITY],
            "creating signature: Bad passphrase",
        ),
        (
            &w.gpg.keys.expired,
            &["--sign-identity", IDENTITY],
            "creating signature: Unusable secret key",
        ),
        // No passphrase and no terminal: the agent cannot ask.
        (ed, &["--sign-identity", IDENTITY], "creating signature: "),
        (
            rsa,
            &["--sign-passphrase-file", "/nonexistent/pass"],
            "open /nonexistent/pass: no such file or directory",
        ),
        (
            rsa,
            &["--sign-identity", "busybox:1"],
            "Could not parse --sign-identity: repository name must be canonical",
        ),
        (
            rsa,
            &["--sign-identity", "docker.io/library/busybox"],
            "Sign identity must be a fully specified reference docker.io/library/busybox",
        ),
        (
            rsa,
            &[],
            "Cannot determine canonical Docker reference for destination dir:",
        ),
    ];
    for (key, flags, text) in cases {
        let args = [&["copy", "--sign-by", key][..], flags, &[&src]].concat();
        both_reject(&w, None, &args, text, text);
    }
    // Destinations that cannot store signatures: skopeo's text and the way out.
    let text = "writing signatures: Pushing signatures for OCI images is not supported";
    let oci = |name: &str| format!("oci:{}:v1", p(&w.path(name)));
    let args = ["copy", "--sign-by", rsa, "--sign-identity", IDENTITY, &src];
    w.skiff(None, &[&args[..], &[&oci("oci")]].concat())
        .assert_error()
        .assert_stderr_contains(text);
    w.skopeo(None, &[&args[..], &[&oci("oci2")]].concat())
        .assert_exit1()
        .assert_skopeo_message_contains(text);
    assert!(!w.path("oci").exists());
}

#[test]
fn signatures_are_never_dropped_silently() {
    let w = World::new();
    let src = w.unsigned_dir("src");
    let signed = w.sign_dir(&src, "signed", &w.gpg.keys.rsa, false);
    for (dest, reason) in [
        (
            format!("oci:{}:v1", p(&w.path("o"))),
            "Pushing signatures for OCI images is not supported",
        ),
        (
            format!("oci-archive:{}", p(&w.path("o.tar"))),
            "Pushing signatures for OCI images is not supported",
        ),
        (
            format!("docker-archive:{}", p(&w.path("d.tar"))),
            "Storing signatures for docker tar files is not supported",
        ),
    ] {
        let theirs = w.skopeo(None, &["copy", &dir_ref(&signed), &dest]);
        theirs.assert_exit1().assert_skopeo_message_contains(reason);
        // The same sentence, naming the destination as skopeo does.
        let text = theirs.skopeo_message();
        w.skiff(None, &["copy", &dir_ref(&signed), &dest])
            .assert_error()
            .assert_stderr_contains(&text)
            .assert_stderr_contains("--remove-signatures");
        w.skiff(
            None,
            &["copy", "--remove-signatures", &dir_ref(&signed), &dest],
        )
        .assert_success();
    }
    // A registry whose lookaside can only be read over HTTP cannot take them either.
    let reg = Registry::start(RegistryOpts::plain());
    w.lookaside(&format!(
        "docker:\n  {}:\n    lookaside: http://127.0.0.1:9/x\n",
        reg.host()
    ));
    let img = reg.docker_ref("test/hello:v1");
    w.skiff(None, &["copy", "--dest-tls-verify=false", &dir_ref(&signed), &img])
        .assert_error()
        .assert_stderr_contains("Writing directly to a http lookaside http://127.0.0.1:9/x/test/hello is not supported. Configure a lookaside-staging: location");
    assert!(reg.tags("test/hello").is_empty());
}

#[test]
fn registry_signature_extension_api_both_ways() {
    let w = World::new();
    let reg = Registry::start(RegistryOpts::plain());
    let proxy = FaultProxy::with_signature_api(&reg.host());
    // The lookaside is never used when the registry has the API.
    w.lookaside(&format!(
        "docker:\n  {}:\n    lookaside: file://{}\n",
        proxy.host(),
        p(&w.path("look"))
    ));
    let rsa = w.gpg.keys.rsa.clone();
    let img = proxy.docker_ref("test/hello:v1");
    w.push_signed(&img, &rsa);
    let api = format!("/extensions/v2/test/hello/signatures/{HELLO_MANIFEST}");
    let stored = proxy.extension_signatures(&api);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["schemaVersion"], 2);
    assert_eq!(stored[0]["type"], "atomic");
    assert!(
        stored[0]["name"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{HELLO_MANIFEST}@"))
    );
    assert!(!w.path("look").exists());
    // skopeo reads it through the API and admits the image.
    let pol = w.policy("p.json", "docker", &w.key_path(&rsa, false), MATCH_EXACT);
    let out = w.path("out");
    w.skopeo(Some(&pol), &pull(&img, &out)).assert_success();
    // skopeo adds its signature of v2 (same manifest); skiff reads both, under the policy.
    let img2 = proxy.docker_ref("test/hello:v2");
    w.skopeo_push_signed(&out, &img2, &rsa);
    assert_eq!(proxy.extension_signatures(&api).len(), 2);
    let pol = w.policy(
        "repo.json",
        "docker",
        &w.key_path(&rsa, false),
        MATCH_REPOSITORY,
    );
    let back = w.path("back");
    w.skiff(Some(&pol), &pull(&img2, &back)).assert_success();
    assert!(back.join("signature-2").exists() && !back.join("signature-3").exists());
    // Copying again adds nothing the registry already has.
    w.skiff(
        None,
        &[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &img2,
            &proxy.docker_ref("test/hello:v3"),
        ],
    )
    .assert_success();
    assert_eq!(proxy.extension_signatures(&api).len(), 2);
}
