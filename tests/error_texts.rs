//! skopeo's error sentences, verbatim, in skiff's errors (copy, inspect, list-tags, delete,
//! manifest-digest, login, logout) on the same inputs as skopeo 1.9.3, for the transports
//! that exist (dir, oci, oci-archive, docker, docker-archive); and newer skopeo's exit status
//! 2 when the image cannot be found (manifest unknown, a reference missing from an `oci:`
//! layout or archive), 1 for every other error.

#![allow(dead_code, unused_imports)]

include!("support/registry_env.rs");

fn skiff_bin() -> &'static str {
    env!("CARGO_BIN_EXE_skiff")
}

/// skopeo's logrus message (`msg="…"`), unescaped.
fn skopeo_message(stderr: &str) -> String {
    let Some(i) = stderr.rfind("msg=\"") else {
        return stderr.trim().to_string();
    };
    let mut out = String::new();
    let mut chars = stderr[i + 5..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => break,
            c => out.push(c),
        }
    }
    out
}

/// Fixtures: a registry with hello as skiff/hello:v1, an OCI layout, an OCI archive and a
/// docker archive holding it.
struct Fixture {
    cx: Ctx,
    reg: Registry,
}

impl Fixture {
    fn new() -> Fixture {
        let cx = Ctx::new();
        let reg = cx.plain_registry_with_hello();
        for dest in [
            format!("oci:{}:v1", cx.path("layout").display()),
            format!("oci-archive:{}:v1", cx.path("oa.tar").display()),
            format!("docker-archive:{}:hello:v1", cx.path("da.tar").display()),
        ] {
            let out = cx.copy(&[], &hello_src(), &dest);
            assert!(out.ok(), "{out:?}");
        }
        fs::create_dir(cx.path("empty")).unwrap();
        Fixture { cx, reg }
    }

    fn p(&self, rel: &str) -> String {
        self.cx.path(rel).display().to_string()
    }

    /// Runs `args` through skopeo and skiff; skiff's message contains skopeo's, and skiff
    /// exits with `code`. Returns skiff's stderr.
    #[track_caller]
    fn same_sentence(&self, args: &[&str], code: i32) -> String {
        let theirs = self.cx.run("skopeo", args, &[]);
        let ours = self.cx.run(skiff_bin(), args, &[]);
        assert_eq!(theirs.code, Some(1), "{theirs:?}");
        assert_eq!(ours.code, Some(code), "{ours:?}");
        let sentence = skopeo_message(&theirs.stderr);
        assert!(
            ours.stderr.contains(&sentence),
            "skopeo's sentence {sentence:?} is not in skiff's error:\n{ours:?}"
        );
        ours.stderr
    }
}

#[test]
fn image_not_found_exits_2_in_every_command_and_transport() {
    let f = Fixture::new();
    let reg = |r: &str| f.reg.docker_ref(r);
    let layout = format!("oci:{}:nope", f.p("layout"));
    let archive = format!("oci-archive:{}:nope", f.p("oa.tar"));
    let (tag, repo) = (reg("skiff/hello:nope"), reg("skiff/nope:v1"));
    let by_digest =
        reg("skiff/hello@sha256:0000000000000000000000000000000000000000000000000000000000000000");
    let dir = format!("dir:{}", f.p("out"));
    let v = "--tls-verify=false";
    for image in [&layout, &archive, &tag, &repo, &by_digest] {
        f.same_sentence(&["inspect", v, image], 2);
        f.same_sentence(&["inspect", v, "--raw", image], 2);
        f.same_sentence(
            &[
                "--insecure-policy",
                "copy",
                "--src-tls-verify=false",
                image,
                &dir,
            ],
            2,
        );
    }
}

#[test]
fn other_errors_keep_exit_1_and_skopeos_sentences() {
    let f = Fixture::new();
    let reg = |r: &str| f.reg.docker_ref(r);
    let v = "--tls-verify=false";
    let i = "--insecure-policy";
    let cases: Vec<Vec<String>> = vec![
        vec!["inspect".into(), format!("dir:{}", f.p("missing"))],
        vec!["inspect".into(), format!("dir:{}", f.p("empty"))],
        vec!["inspect".into(), format!("oci:{}:v1", f.p("missing"))],
        vec![
            "inspect".into(),
            format!("docker-archive:{}", f.p("missing.tar")),
        ],
        vec![
            "inspect".into(),
            format!("docker-archive:{}:@5", f.p("da.tar")),
        ],
        vec!["inspect".into(), "docker://BAD:REF".into()],
        vec![
            "inspect".into(),
            v.into(),
            "docker://127.0.0.1:1/skiff/x:v1".into(),
        ],
        vec![
            i.into(),
            "copy".into(),
            format!("dir:{}", f.p("missing")),
            format!("dir:{}", f.p("o1")),
        ],
        vec![
            i.into(),
            "copy".into(),
            hello_src(),
            format!("docker-archive:{}/no/x.tar", f.p("missing")),
        ],
        vec![
            i.into(),
            "copy".into(),
            hello_src(),
            format!("oci:{}/no/x:v1", f.p("missing")),
        ],
        vec![
            i.into(),
            "copy".into(),
            format!("docker-archive:{}:nope:v9", f.p("da.tar")),
            format!("dir:{}", f.p("o2")),
        ],
        vec!["list-tags".into(), v.into(), reg("skiff/hello:v1")],
        vec!["list-tags".into(), format!("dir:{}", f.p("layout"))],
        vec![
            "list-tags".into(),
            format!("docker-archive:{}", f.p("missing.tar")),
        ],
        vec!["list-tags".into(), "docker://127.0.0.1:1/skiff/x".into()],
        vec!["delete".into(), v.into(), reg("skiff/hello:nope")],
        vec!["delete".into(), format!("oci:{}:v1", f.p("layout"))],
        vec!["manifest-digest".into(), f.p("missing.json")],
        vec!["manifest-digest".into()],
        vec![
            "logout".into(),
            "--authfile".into(),
            f.p("missing.json"),
            f.reg.host(),
        ],
        vec![
            "login".into(),
            "--authfile".into(),
            f.p("auth.json"),
            v.into(),
            f.reg.host(),
        ],
        vec![
            "login".into(),
            "--authfile".into(),
            f.p("auth.json"),
            "-u".into(),
            "a".into(),
            "-p".into(),
            "b".into(),
            v.into(),
            "127.0.0.1:1".into(),
        ],
    ];
    for args in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        f.same_sentence(&args, 1);
    }
}

/// Flags, names and inputs refused before or while opening the images: skopeo's sentence
/// and exit 1 (a sweep of copy, inspect, list-tags, delete and logout errors).
#[test]
fn flag_name_and_input_errors_keep_skopeos_sentences() {
    let f = Fixture::new();
    let i = "--insecure-policy";
    let out = format!("dir:{}", f.p("out"));
    let src = hello_src();
    let copy = |flags: &[&str], from: &str, to: &str| -> Vec<String> {
        let mut args = vec![i.to_string(), "copy".to_string()];
        args.extend(flags.iter().map(|a| a.to_string()));
        args.extend([from.to_string(), to.to_string()]);
        args
    };
    let policy = format!("{}/policy.json", f.p("missing"));
    let cases: Vec<Vec<String>> = vec![
        copy(&[], "foo:bar", &out),
        copy(&["--dest-compress-format", "bogus"], &src, &out),
        copy(&["--format", "bogus"], &src, &out),
        copy(&["--all", "--multi-arch", "all"], &src, &out),
        copy(&["--retry-times", "x"], &src, &out),
        copy(&["--bogus"], &src, &out),
        copy(&["-Z"], &src, &out),
        vec![
            "--command-timeout".into(),
            "x".into(),
            "copy".into(),
            src.clone(),
            out.clone(),
        ],
        copy(
            &["--encryption-key", "bogus:x"],
            &src,
            &format!("oci:{}:t", f.p("o3")),
        ),
        copy(&["--sign-by", "x"], &src, &format!("oci:{}:t", f.p("o4"))),
        copy(&[], &src, "docker://UPPER/x:y"),
        copy(&[], &src, &format!("oci:{}:bad@@tag", f.p("o5"))),
        copy(&[], &format!("docker-archive:{}", f.p("missing.tar")), &out),
        vec![
            "--policy".into(),
            policy,
            "copy".into(),
            src.clone(),
            out.clone(),
        ],
        vec!["list-tags".into(), "docker://127.0.0.1:1/y:tag".into()],
        vec!["delete".into(), format!("dir:{}", f.p("layout"))],
        vec![
            "logout".into(),
            "--authfile".into(),
            f.p("none.json"),
            "127.0.0.1:1".into(),
        ],
    ];
    for args in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        f.same_sentence(&args, 1);
    }
}

/// A list without the wanted platform: newer skopeo's sentence (values quoted), the list's
/// platforms and the flags after it.
#[test]
fn a_missing_platform_says_what_newer_skopeo_says_and_lists_the_choices() {
    let cx = Ctx::new();
    let multi = format!(
        "oci:{}:latest",
        repo_root().join("examples/multiarch-oci").display()
    );
    let sentence =
        r#"no image found in image index for architecture "s390x", variant "", OS "linux""#;
    let theirs = cx.run(
        "skopeo",
        &["--override-arch", "s390x", "inspect", &multi],
        &[],
    );
    // skopeo 1.9.3's wording, which later releases quote.
    assert!(
        skopeo_message(&theirs.stderr).contains(
            r#"choosing image instance: no image found in image index for architecture s390x, variant "", OS linux"#
        ),
        "{theirs:?}"
    );
    let ours = cx.run(
        skiff_bin(),
        &["--override-arch", "s390x", "inspect", &multi],
        &[],
    );
    assert_eq!(ours.code, Some(1), "{ours:?}");
    assert!(
        ours.stderr.contains(&format!(
            "Error parsing manifest for image: choosing image instance: {sentence}; the list has: linux/amd64, linux/arm64/v8, linux/arm/v7. Choose one with --override-os/--override-arch/--override-variant"
        )),
        "{ours:?}"
    );
    let dest = format!("dir:{}", cx.path("d").display());
    let copy = cx.copy(&["--override-arch", "s390x"], &multi, &dest);
    assert_eq!(copy.code, Some(1), "{copy:?}");
    assert!(
        copy.stderr.contains(&format!(
            "choosing an image from manifest list {multi}: {sentence}"
        )),
        "{copy:?}"
    );
}
