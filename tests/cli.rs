//! Command-line behaviour: exit codes, error messages (compared with skopeo 1.9.3 where they
//! should agree), unbuilt options/transports, version/help, the `skopeo` symlink, and where
//! progress output goes.

mod support;

use std::fs;
use support::*;

/// Run the same `copy` arguments through skiff and skopeo (both with `--insecure-policy`).
fn both(args: &[&str]) -> (Out, Out) {
    (skiff_copy(args), skopeo_copy(args))
}

/// Both fail with exit code 1; skiff's message starts with `Error: `, and both messages contain
/// every one of `substance`.
#[track_caller]
fn assert_both_fail_with(args: &[&str], substance: &[&str]) -> (Out, Out) {
    let (ours, theirs) = both(args);
    theirs.assert_exit1();
    ours.assert_error().assert_stdout_empty();
    for s in substance {
        theirs.assert_skopeo_message_contains(s);
        ours.assert_stderr_contains(s);
    }
    (ours, theirs)
}

fn hello() -> String {
    example_ref("hello-oci")
}

/// `--policy POLICY copy hello-oci dir:DEST` through skiff and skopeo: both fail to load the
/// policy (skopeo exit 1, skiff `Error: ` naming the file). Returns skiff's result.
#[track_caller]
fn assert_policy_load_fails_like_skopeo(policy: &std::path::Path, dest: &std::path::Path) -> Out {
    let args = [
        "--policy",
        &p(policy),
        "copy",
        &hello(),
        &format!("dir:{}", p(dest)),
    ];
    let ours = run(skiff().args(args));
    let theirs = run(skopeo().args(args));
    theirs
        .assert_exit1()
        .assert_stderr_contains("Error loading trust policy");
    ours.assert_error()
        .assert_stderr_contains("Error loading trust policy")
        .assert_stderr_contains(&p(policy));
    ours
}

// ------------------------------------------------------------------------------------------
// Argument errors compared with skopeo
// ------------------------------------------------------------------------------------------

#[test]
fn unknown_flag_fails_like_skopeo() {
    let t = tempdir();
    let dest = format!("dir:{}", p(&t.path().join("d")));
    let (ours, _) = assert_both_fail_with(&["--bogus-flag", &hello(), &dest], &["--bogus-flag"]);
    assert!(
        !t.path().join("d").exists(),
        "destination created despite a usage error: {ours}"
    );
}

#[test]
fn bad_bool_value_fails_like_skopeo() {
    let t = tempdir();
    let dest = format!("dir:{}", p(&t.path().join("d")));
    assert_both_fail_with(
        &["--src-tls-verify=maybe", &hello(), &dest],
        &[
            "invalid argument \"maybe\" for \"--src-tls-verify\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ],
    );
    assert!(!t.path().join("d").exists());
}

#[test]
fn non_integer_retry_times_fails_like_skopeo() {
    let t = tempdir();
    let dest = format!("dir:{}", p(&t.path().join("d")));
    // pflag's sentence, which skiff words the same.
    assert_both_fail_with(
        &["--retry-times=x", &hello(), &dest],
        &[
            "invalid argument \"x\" for \"--retry-times\" flag: strconv.ParseInt: parsing \"x\": invalid syntax",
        ],
    );
    assert!(!t.path().join("d").exists());
}

#[test]
fn missing_policy_file_fails_like_skopeo() {
    let t = tempdir();
    let missing = t.path().join("no-such-policy.json");
    let dest = t.path().join("d");
    let ours = assert_policy_load_fails_like_skopeo(&missing, &dest);
    assert!(
        !dest.exists(),
        "destination created although the policy could not be loaded: {ours}"
    );
}

#[test]
fn malformed_policy_file_fails_like_skopeo() {
    let t = tempdir();
    let bad = t.path().join("bad.json");
    fs::write(&bad, "{bad").unwrap();
    let dest = t.path().join("d");
    assert_policy_load_fails_like_skopeo(&bad, &dest);
    assert!(!dest.exists());
}

#[test]
fn unknown_transport_fails_like_skopeo() {
    let t = tempdir();
    let dest = format!("dir:{}", p(&t.path().join("d")));
    assert_both_fail_with(
        &["foo:bar", &dest],
        &["Invalid source name foo:bar", "unknown transport \"foo\""],
    );
    let (ours, _) = assert_both_fail_with(
        &[&hello(), "foo:bar"],
        &[
            "Invalid destination name foo:bar",
            "unknown transport \"foo\"",
        ],
    );
    ours.assert_stderr_not_contains("Copying blob");
}

#[test]
fn name_without_colon_fails_like_skopeo() {
    let t = tempdir();
    let dest = format!("dir:{}", p(&t.path().join("d")));
    assert_both_fail_with(
        &["nocolon", &dest],
        &[
            "Invalid source name nocolon",
            "expected colon-separated transport:reference",
        ],
    );
    assert!(!t.path().join("d").exists());
}

/// Deliberate difference: skopeo 1.9.3 prints its usage on stdout and exits 0 when it does not
/// get exactly two arguments; skiff reports an error and exits 1.
#[test]
fn wrong_number_of_arguments_is_an_error_unlike_skopeo() {
    let t = tempdir();
    let d = format!("dir:{}", p(&t.path().join("d")));
    for args in [vec![], vec![hello()], vec![hello(), d.clone(), d.clone()]] {
        let ours = skiff_copy(&args);
        ours.assert_error()
            .assert_stderr_contains("Exactly two arguments expected")
            .assert_stdout_empty();
        let theirs = skopeo_copy(&args);
        assert_eq!(
            theirs.code,
            Some(0),
            "skopeo 1.9.3 is expected to exit 0 here: {theirs}"
        );
        theirs.assert_stdout_contains("Usage:");
    }
    assert!(!t.path().join("d").exists());
}

#[test]
fn unknown_format_fails_like_skopeo() {
    let t = tempdir();
    let dest = format!("dir:{}", p(&t.path().join("d")));
    assert_both_fail_with(
        &["--format", "xx", &hello(), &dest],
        &["unknown format \"xx\"", "'oci', 'v2s1', or 'v2s2'"],
    );
    assert!(!t.path().join("d").exists());
}

#[test]
fn all_with_multi_arch_fails_like_skopeo() {
    let t = tempdir();
    let dest = format!("dir:{}", p(&t.path().join("d")));
    assert_both_fail_with(
        &["--all", "--multi-arch", "all", &hello(), &dest],
        &["Cannot use --all and --multi-arch flags together"],
    );
    assert!(!t.path().join("d").exists());
}

#[test]
fn unknown_multi_arch_option_fails_like_skopeo() {
    let t = tempdir();
    let dest = format!("dir:{}", p(&t.path().join("d")));
    assert_both_fail_with(
        &["--multi-arch=foo", &hello(), &dest],
        &[
            "unknown multi-arch option \"foo\"",
            "'system', 'all', or 'index-only'",
        ],
    );
    assert!(!t.path().join("d").exists());
}

#[test]
fn encrypt_layer_without_encryption_key_fails_like_skopeo() {
    let t = tempdir();
    let dest = format!("oci:{}", p(&t.path().join("o")));
    assert_both_fail_with(
        &["--encrypt-layer", "0", &hello(), &dest],
        &["--encrypt-layer can only be used with --encryption-key"],
    );
    assert!(!t.path().join("o").exists());
}

#[test]
fn creds_with_no_creds_fails_like_skopeo() {
    let t = tempdir();
    let dest = format!("dir:{}", p(&t.path().join("d")));
    assert_both_fail_with(
        &["--src-creds", "a:b", "--src-no-creds", &hello(), &dest],
        &["creds and no-creds cannot be specified at the same time"],
    );
    assert_both_fail_with(
        &["--dest-creds", "a:b", "--dest-no-creds", &hello(), &dest],
        &["creds and no-creds cannot be specified at the same time"],
    );
    assert!(!t.path().join("d").exists());
}

/// skopeo rejects an unknown compression format before copying anything
/// (`cannot find compressor for "xz"`); skiff must also fail before any blob is copied and
/// leave no destination behind.
#[test]
fn unknown_compress_format_fails_before_copying() {
    let t = tempdir();
    let dest_path = t.path().join("o");
    let dest = format!("oci:{}", p(&dest_path));
    let (ours, theirs) = both(&["--dest-compress-format", "xz", &hello(), &dest]);
    theirs.assert_exit1().assert_stderr_contains("xz");
    ours.assert_error().assert_stderr_contains("xz");
    ours.assert_stderr_not_contains("Copying blob");
    assert!(!dest_path.exists(), "destination created: {ours}");
}

// ------------------------------------------------------------------------------------------
// Options and transports that are not built yet
// ------------------------------------------------------------------------------------------

#[test]
fn sigstore_signing_with_a_missing_file_fails_before_copying() {
    let t = tempdir();
    let pw = t.path().join("pw");
    fs::write(&pw, "x\n").unwrap();
    let cases = [
        (
            vec!["--sign-by-sigstore".to_string(), "missing.yaml".into()],
            "Error using --sign-by-sigstore: setting up signing using parameter file \"missing.yaml\": reading \"missing.yaml\"",
        ),
        (
            vec![
                "--sign-by-sigstore-private-key".to_string(),
                "missing.private".into(),
                "--sign-passphrase-file".into(),
                p(&pw),
            ],
            "reading private key from missing.private",
        ),
    ];
    for (i, (opts, want)) in cases.into_iter().enumerate() {
        let dest = t.path().join(format!("o{i}"));
        let mut args = opts.clone();
        args.push(hello());
        args.push(format!("dir:{}", p(&dest)));
        let out = skiff_copy(&args);
        out.assert_error()
            .assert_stderr_contains(want)
            .assert_stdout_empty();
        out.assert_stderr_not_contains("Copying blob");
        assert!(!dest.exists(), "{want}: destination created: {out}");
    }
}

#[test]
fn unbuilt_transports_fail_with_not_supported_yet() {
    let t = tempdir();
    // docker:// is built: with nothing listening the error names the registry
    // (tests/registry*.rs cover the transport itself).
    let registry = "docker://localhost:1/x:y";
    for args in [
        [hello(), registry.to_string()],
        [
            registry.to_string(),
            format!("dir:{}", p(&t.path().join("d"))),
        ],
    ] {
        let out = skiff_copy(args);
        out.assert_exit1()
            .assert_stdout_empty()
            .assert_stderr_contains("pinging container registry localhost:1")
            .assert_stderr_not_contains("not supported yet");
    }
    // Every transport is built (containers-storage: is tested in tests/storage.rs).
    assert!(!t.path().join("d").exists());
    assert_eq!(
        list_dir(t.path()),
        Vec::<String>::new(),
        "leftovers in the temp dir"
    );
}

/// Asking for the type the image already has is not a conversion: the bytes stay.
#[test]
fn format_of_the_source_keeps_the_manifest() {
    let t = tempdir();
    let dest = t.path().join("oci");
    skiff_copy(["--format", "oci", &hello(), &format!("dir:{}", p(&dest))]).assert_success();
    assert_eq!(sha256_file(&dest.join("manifest.json")), HELLO_MANIFEST);
}

// ------------------------------------------------------------------------------------------
// Version, help
// ------------------------------------------------------------------------------------------

#[test]
fn version_flags_print_to_stdout_and_exit_zero() {
    for flag in ["--version", "-v"] {
        let out = run(skiff().arg(flag));
        out.assert_success().assert_stderr_empty();
        assert!(
            out.stdout.starts_with("skiff version "),
            "unexpected version line: {out}"
        );
        assert!(
            out.stdout.contains("1.9.3"),
            "version should name the skopeo release it replaces: {out}"
        );
    }
}

#[test]
fn help_prints_to_stdout_and_exits_zero() {
    for args in [
        vec!["--help"],
        vec!["-h"],
        vec!["copy", "--help"],
        vec!["help", "copy"],
    ] {
        let out = run(skiff().args(&args));
        out.assert_success()
            .assert_stderr_empty()
            .assert_stdout_contains("Usage:");
    }
    let out = run(skiff().args(["copy", "--help"]));
    for flag in [
        "--src-shared-blob-dir",
        "--dest-compress-format",
        "--multi-arch",
        "--digestfile",
        "--preserve-digests",
    ] {
        out.assert_stdout_contains(flag);
    }
}

/// Global options are listed under their own heading, after the command's own options
/// (newer skopeo's "Global Flags:"), never mixed into them.
#[test]
fn copy_help_lists_global_options_under_their_own_heading() {
    let out = run(skiff().args(["copy", "--help"]));
    out.assert_success();
    let text = &out.stdout;
    let own = text.find("\nOptions:\n").expect("an Options heading");
    let global = text
        .find("\nGlobal Options:\n")
        .expect("a Global Options heading");
    assert!(own < global, "{text}");
    let (own_part, global_part) = text.split_at(global);
    for flag in [
        "--command-timeout",
        "--debug",
        "--insecure-policy",
        "--policy ",
        "--tmpdir",
        "--override-arch",
        "--registries.d",
    ] {
        assert!(
            global_part.contains(flag),
            "{flag} not under Global Options:\n{text}"
        );
        assert!(
            !own_part.contains(flag),
            "{flag} mixed into copy's options:\n{text}"
        );
    }
    for flag in [
        "--additional-tag",
        "--src-tls-verify",
        "--dest-compress-format",
        "--retry-times",
    ] {
        assert!(
            own_part.contains(flag),
            "{flag} not among copy's options:\n{text}"
        );
    }
}

#[test]
fn every_skopeo_copy_flag_is_accepted_by_the_parser() {
    // Every long flag skopeo 1.9.3's `copy --help` lists must be known to skiff's parser.
    let sk = run(skopeo().args(["copy", "--help"]));
    sk.assert_success();
    let ours = run(skiff().args(["copy", "--help"]));
    ours.assert_success();
    let mut missing = Vec::new();
    for line in sk.stdout.lines() {
        let l = line.trim_start();
        let l = l
            .strip_prefix("-a, ")
            .or_else(|| l.strip_prefix("-f, "))
            .or_else(|| l.strip_prefix("-q, "))
            .unwrap_or(l);
        if let Some(rest) = l.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
                .collect();
            if !ours.stdout.contains(&format!("--{name}")) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "skopeo copy flags missing from skiff copy --help: {missing:?}"
    );
}

// ------------------------------------------------------------------------------------------
// Invoked as `skopeo`
// ------------------------------------------------------------------------------------------

#[test]
fn skopeo_symlink_reports_skopeo_version_and_copies() {
    let t = tempdir();
    let link = t.path().join("skopeo");
    std::os::unix::fs::symlink(skiff_bin(), &link).unwrap();

    let v = run(std::process::Command::new(&link).arg("--version"));
    v.assert_success();
    assert!(
        v.stdout.starts_with("skopeo version 1.9.3 (skiff "),
        "through a `skopeo` symlink the version line must be skopeo's: {v}"
    );

    let dest = t.path().join("d");
    let mut c = std::process::Command::new(&link);
    c.current_dir(repo_root()).args([
        "--insecure-policy",
        "copy",
        &hello(),
        &format!("dir:{}", p(&dest)),
    ]);
    run(&mut c).assert_success().assert_stdout_empty();
    assert_eq!(sha256_file(&dest.join("manifest.json")), HELLO_MANIFEST);
    load_dir(&dest).assert_consistent("copy through the skopeo symlink");
}

// ------------------------------------------------------------------------------------------
// Output streams
// ------------------------------------------------------------------------------------------

#[test]
fn quiet_copy_prints_nothing() {
    let t = tempdir();
    for (i, q) in ["-q", "--quiet", "--quiet=true"].iter().enumerate() {
        let dest = t.path().join(format!("d{i}"));
        let out = skiff_copy([*q, &hello(), &format!("dir:{}", p(&dest))]);
        out.assert_success()
            .assert_stdout_empty()
            .assert_stderr_empty();
        assert!(dest.join("manifest.json").exists());
    }
}

/// skopeo prints progress on stdout; skiff deliberately prints it on stderr and keeps stdout
/// empty. The same blobs must be reported, in skopeo's line format.
#[test]
fn progress_goes_to_stderr_and_stdout_stays_empty() {
    let t = tempdir();
    let ours = skiff_copy([hello(), format!("dir:{}", p(&t.path().join("a")))]);
    let theirs = skopeo_copy([hello(), format!("dir:{}", p(&t.path().join("b")))]);
    ours.assert_success().assert_stdout_empty();
    theirs.assert_success();
    for line in [
        "Getting image source signatures",
        "Copying blob sha256:e2446ce08465ffbaada21c9363ebaafe3c2a7b94c3f926706323ef717a06fe54",
        "Copying blob sha256:23885e8869c556a5757edc5b03708d547cf34edb7ba233683c62b31719710b2c",
        "Copying blob sha256:6aa09347ddfa9f8b0b9eef6b7c0a4c80f1a5c8fa31ec8a8d9f7ac529c18140f9",
        "Copying config sha256:620dc057349bd148f7caac1b342eba5c6e227e6a2b44ea7d366278c947be213a",
        "Writing manifest to image destination",
        "Storing signatures",
    ] {
        theirs.assert_stdout_contains(line);
        ours.assert_stderr_contains(line);
    }
    let pos = |s: &str| ours.stderr.find(s).unwrap();
    assert!(
        pos("Getting image source signatures") < pos("Copying blob"),
        "{ours}"
    );
    // The config is copied alongside the layers, but reported after them, as skopeo does.
    let last_blob = ours.stderr.rfind("Copying blob").unwrap();
    assert!(last_blob < pos("Copying config"), "{ours}");
    assert!(pos("Copying config") < pos("Writing manifest"), "{ours}");
    assert!(
        pos("Writing manifest") < pos("Storing signatures"),
        "{ours}"
    );
}

#[test]
fn errors_keep_stdout_empty() {
    let t = tempdir();
    let out = skiff_copy([
        format!("oci:{}:latest", p(&t.path().join("missing"))),
        format!("dir:{}", p(&t.path().join("d"))),
    ]);
    out.assert_error().assert_stdout_empty();
}

// ------------------------------------------------------------------------------------------
// Trust policy lookup
// ------------------------------------------------------------------------------------------

#[test]
fn policy_in_home_is_used_by_default_and_insecure_policy_overrides_it() {
    let t = tempdir();
    let home = t.path().join("home");
    fs::create_dir_all(home.join(".config/containers")).unwrap();
    fs::write(
        home.join(".config/containers/policy.json"),
        r#"{"default":[{"type":"reject"}]}"#,
    )
    .unwrap();
    let dest = t.path().join("d");
    let d = format!("dir:{}", p(&dest));

    let out = run(skiff().env("HOME", &home).args(["copy", &hello(), &d]));
    out.assert_error()
        .assert_stderr_contains("rejected by policy");
    assert!(
        !dest.exists(),
        "rejected copy created the destination: {out}"
    );
    let theirs = run(skopeo().env("HOME", &home).args(["copy", &hello(), &d]));
    theirs
        .assert_exit1()
        .assert_stderr_contains("rejected by policy");
    let _ = fs::remove_dir_all(&dest); // skopeo creates the dir: destination before the policy check

    // --policy wins over $HOME's file.
    let accept = t.path().join("accept.json");
    fs::write(
        &accept,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    run(skiff()
        .env("HOME", &home)
        .args(["--policy", &p(&accept), "copy", "-q", &hello(), &d]))
    .assert_success();
    fs::remove_dir_all(&dest).unwrap();

    // --insecure-policy skips the check.
    run(skiff()
        .env("HOME", &home)
        .args(["--insecure-policy", "copy", "-q", &hello(), &d]))
    .assert_success();
    assert_eq!(sha256_file(&dest.join("manifest.json")), HELLO_MANIFEST);
}

#[test]
fn transport_scoped_policy_is_honoured() {
    let t = tempdir();
    let pol = t.path().join("p.json");
    fs::write(
        &pol,
        r#"{"default":[{"type":"insecureAcceptAnything"}],"transports":{"oci":{"":[{"type":"reject"}]}}}"#,
    )
    .unwrap();
    let dest = t.path().join("d");
    let out = run(skiff().args([
        "--policy",
        &p(&pol),
        "copy",
        &hello(),
        &format!("dir:{}", p(&dest)),
    ]));
    out.assert_error()
        .assert_stderr_contains("Source image rejected")
        .assert_stderr_contains("rejected by policy");
    assert!(!dest.exists());
    // A dir: source is governed by the default (accept).
    let src = t.path().join("src");
    skiff_copy(["-q", &hello(), &format!("dir:{}", p(&src))]).assert_success();
    run(skiff().args([
        "--policy",
        &p(&pol),
        "copy",
        "-q",
        &format!("dir:{}", p(&src)),
        &format!("dir:{}", p(&dest)),
    ]))
    .assert_success();
}

/// A registry destination is connected while the source is read; when both are broken the
/// source's error is the one reported, as skopeo (which opens the source first) reports it.
#[test]
fn a_broken_source_is_reported_before_an_unreachable_registry_destination() {
    let t = tempdir();
    let missing = format!("oci:{}:latest", p(&t.path().join("missing")));
    let unreachable = "docker://127.0.0.1:1/skiff/none:latest";
    let (ours, _) = assert_both_fail_with(&[&missing, unreachable], &["index.json"]);
    ours.assert_stderr_not_contains("127.0.0.1:1");
    // With a good source, the destination's error is the one.
    skiff_copy([hello().as_str(), unreachable])
        .assert_exit1()
        .assert_stderr_contains("pinging container registry 127.0.0.1:1");
}

/// `--retry-times` waits as skopeo's retry.IfNecessary does: 1 s, then 2 s, 4 s...
#[test]
fn retries_start_after_one_second() {
    let t = tempdir();
    let out = skiff_copy([
        "--retry-times",
        "2",
        "docker://127.0.0.1:1/skiff/none:latest",
        &format!("dir:{}", p(&t.path().join("d"))),
    ]);
    out.assert_exit1()
        .assert_stderr_contains("retrying in 1s (attempt 1 of 2)")
        .assert_stderr_contains("retrying in 2s (attempt 2 of 2)");
}
