//! Flags of skopeo releases after 1.9.3 that CI scripts use (`--image-parallel-copies`,
//! `--retry-delay`, `--dest-force-compress-format`, `--user-agent-prefix`) and the
//! deprecation warnings of the hidden `--tls-verify`, against a real registry and
//! skopeo 1.9.3 where it has the behaviour.

#![allow(dead_code, unused_imports)]

include!("support/registry_env.rs");

fn skiff_bin() -> &'static str {
    env!("CARGO_BIN_EXE_skiff")
}

use hostile_registry::{Gate, HostileRegistry};

/// Copies the example image from a registry that holds its first layer halfway, and
/// returns the "Copying blob" lines printed while it is held: at most until `enough` of
/// them came, or `settle` passed. Then lets the copy finish, which must succeed.
fn blob_lines_while_the_first_layer_is_held(
    cx: &Ctx,
    flags: &[&str],
    enough: usize,
    settle: Duration,
) -> Vec<String> {
    use std::io::BufRead;
    let gate = Gate::default();
    let layout = repo_root().join("examples/hello-oci");
    let registry =
        HostileRegistry::serve_layout(&layout, "latest", "skiff/hello", |i, _| i == 0, &gate);
    let dest = cx.path(&format!("held{}", flags.concat()));
    let mut c = cx.command(skiff_bin(), &[]);
    c.args(["--insecure-policy", "copy", "--src-tls-verify=false"])
        .args(flags)
        .arg(registry.docker_ref("skiff/hello:latest"))
        .arg(format!("dir:{}", dest.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    if !gate.wait_reached(Duration::from_secs(30)) {
        let _ = child.kill();
        let said: Vec<String> = rx.try_iter().collect();
        panic!("{flags:?}: the first layer was never fetched: {said:#?}");
    }
    let deadline = Instant::now() + settle;
    let mut seen = Vec::new();
    while seen.len() < enough {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with("Copying blob") => seen.push(line),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    gate.open();
    let status = child.wait().unwrap();
    assert!(status.success(), "{flags:?}: the copy failed");
    seen
}

/// The "Copying blob" lines of a non-terminal run, in order.
fn blob_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("Copying blob"))
        .collect()
}

#[test]
fn image_parallel_copies_one_copies_the_layers_one_at_a_time() {
    let cx = Ctx::new();
    let one = cx.copy(
        &["--image-parallel-copies", "1"],
        &hello_src(),
        &format!("dir:{}", cx.path("one").display()),
    );
    assert!(one.ok(), "{one:?}");
    // Each layer is done before the next one starts.
    let lines = blob_lines(&one.stderr);
    assert_eq!(lines.len(), 6, "{one:?}");
    for pair in lines.chunks(2) {
        assert_eq!(format!("{} done", pair[0]), pair[1], "{one:?}");
    }
    // With the first layer held at the source: one at a time, nothing else starts (within
    // two seconds; a copy that ignored the limit starts the others at once)...
    let one = blob_lines_while_the_first_layer_is_held(
        &cx,
        &["--image-parallel-copies", "1"],
        2,
        Duration::from_secs(2),
    );
    assert_eq!(one.len(), 1, "{one:?}");
    // ...by default (and with 0, containers/image's "unset") the others start meanwhile.
    for flags in [&[][..], &["--image-parallel-copies", "0"][..]] {
        let lines =
            blob_lines_while_the_first_layer_is_held(&cx, flags, 2, Duration::from_secs(30));
        assert_eq!(lines.len(), 2, "{flags:?}: {lines:?}");
        assert!(!lines[0].ends_with(" done"), "{flags:?}: {lines:?}");
    }
    let bad = cx.copy(
        &["--image-parallel-copies", "-1"],
        &hello_src(),
        &format!("dir:{}", cx.path("bad").display()),
    );
    assert_eq!(bad.code, Some(1), "{bad:?}");
}

#[test]
fn retry_delay_replaces_the_exponential_delay_in_every_command() {
    let cx = Ctx::new();
    let unreachable = "docker://127.0.0.1:1/skiff/none:latest";
    let dir = format!("dir:{}", cx.path("d").display());
    let copy = cx.copy(
        &["--retry-times", "2", "--retry-delay", "150ms"],
        unreachable,
        &dir,
    );
    assert_eq!(copy.code, Some(1), "{copy:?}");
    assert!(
        copy.stderr.contains("retrying in 150ms (attempt 1 of 2)")
            && copy.stderr.contains("retrying in 150ms (attempt 2 of 2)"),
        "{copy:?}"
    );
    for command in ["inspect", "delete"] {
        let out = cx.run(
            skiff_bin(),
            &[
                command,
                "--retry-times",
                "1",
                "--retry-delay",
                "100ms",
                unreachable,
            ],
            &[],
        );
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stderr.contains("retrying in 100ms (attempt 1 of 1)"),
            "{out:?}"
        );
    }
    let out = cx.run(
        skiff_bin(),
        &[
            "list-tags",
            "--retry-times",
            "1",
            "--retry-delay",
            "100ms",
            "docker://127.0.0.1:1/skiff/none",
        ],
        &[],
    );
    assert!(
        out.stderr.contains("retrying in 100ms (attempt 1 of 1)"),
        "{out:?}"
    );
    // Go's duration syntax, as skopeo parses it.
    let bad = cx.copy(&["--retry-delay", "10"], unreachable, &dir);
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert!(bad.stderr.contains("missing unit"), "{bad:?}");
}

#[test]
fn user_agent_prefix_goes_before_skiffs_user_agent() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let out = cx.run(
        skiff_bin(),
        &[
            "--user-agent-prefix",
            "ci-bot/2.1",
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            &hello_src(),
            &reg.docker_ref("skiff/hello:v1"),
        ],
        &[],
    );
    assert!(out.ok(), "{out:?}");
    let log = reg.access_log();
    let ours: Vec<_> = log
        .iter()
        .filter(|e| e.uri.starts_with("/v2/skiff/"))
        .collect();
    assert!(!ours.is_empty());
    for e in ours {
        assert!(e.user_agent.starts_with("ci-bot/2.1 skiff/"), "{e:?}");
    }
    // The flag is global: it may also follow the command name.
    let inspect = cx.run(
        skiff_bin(),
        &[
            "inspect",
            "--user-agent-prefix",
            "after/1",
            "--tls-verify=false",
            &reg.docker_ref("skiff/hello:v1"),
        ],
        &[],
    );
    assert!(inspect.ok(), "{inspect:?}");
    assert!(
        reg.access_log()
            .iter()
            .any(|e| e.user_agent.starts_with("after/1 skiff/")),
        "no request carried the prefix"
    );
}

/// Without the flag, a layer the registry already has is kept as it is even when another
/// format is asked for (skopeo 1.9.3 does the same); with it, every layer is recompressed.
#[test]
fn dest_force_compress_format_recompresses_layers_the_registry_already_has() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    cx.push_hello_v1(&reg);
    let layer_types = |tag: &str| -> Vec<String> {
        let raw = cx.skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &reg.docker_ref(&format!("skiff/hello:{tag}")),
        ]);
        assert!(raw.ok(), "{raw:?}");
        let m: Value = serde_json::from_str(&raw.stdout).unwrap();
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["mediaType"].as_str().unwrap().to_string())
            .collect()
    };
    let zstd = ["--dest-tls-verify=false", "--dest-compress-format", "zstd"];
    let kept = cx.copy(&zstd, &hello_src(), &reg.docker_ref("skiff/hello:kept"));
    assert!(kept.ok(), "{kept:?}");
    let theirs = cx.skopeo(&[
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        "--dest-compress-format",
        "zstd",
        &hello_src(),
        &reg.docker_ref("skiff/hello:skopeo"),
    ]);
    assert!(theirs.ok(), "{theirs:?}");
    assert_eq!(layer_types("kept"), layer_types("skopeo"));
    assert!(layer_types("kept").iter().all(|t| t.ends_with("+gzip")));

    let mut forced_flags = zstd.to_vec();
    forced_flags.push("--dest-force-compress-format");
    let forced = cx.copy(
        &forced_flags,
        &hello_src(),
        &reg.docker_ref("skiff/hello:zstd"),
    );
    assert!(forced.ok(), "{forced:?}");
    let types = layer_types("zstd");
    assert_eq!(types.len(), 3);
    assert!(types.iter().all(|t| t.ends_with("+zstd")), "{types:?}");
    // skopeo reads the result.
    let back = cx.skopeo(&[
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        &reg.docker_ref("skiff/hello:zstd"),
        &format!("oci:{}:x", cx.path("back").display()),
    ]);
    assert!(back.ok(), "{back:?}");

    // As containers/image: forcing needs a format.
    let none = cx.copy(
        &["--dest-tls-verify=false", "--dest-force-compress-format"],
        &hello_src(),
        &reg.docker_ref("skiff/hello:none"),
    );
    assert_eq!(none.code, Some(1), "{none:?}");
    assert!(
        none.stderr.contains(
            "cannot use ForceCompressionFormat with undefined default compression format"
        ),
        "{none:?}"
    );
}

#[test]
fn deprecated_tls_verify_warns_as_skopeo_warns() {
    let cx = Ctx::new();
    let cases: [(&[&str], &str); 2] = [
        (
            &["--tls-verify=false", "--insecure-policy", "copy"],
            "'--tls-verify' is deprecated, please set this on the specific subcommand",
        ),
        (
            &["--insecure-policy", "copy", "--tls-verify=false"],
            "'--tls-verify' is deprecated, instead use: --src-tls-verify, --dest-tls-verify",
        ),
    ];
    for (i, (flags, warning)) in cases.iter().enumerate() {
        let src = hello_src();
        let dest = format!("dir:{}", cx.path(&format!("w{i}")).display());
        let mut args = flags.to_vec();
        args.extend([src.as_str(), dest.as_str()]);
        let theirs = cx.skopeo(&args);
        assert!(theirs.ok() && theirs.stderr.contains(warning), "{theirs:?}");
        let dest = format!("dir:{}", cx.path(&format!("s{i}")).display());
        let mut args = flags.to_vec();
        args.extend([src.as_str(), dest.as_str()]);
        let ours = cx.run(skiff_bin(), &args, &[]);
        assert!(ours.ok(), "{ours:?}");
        assert!(
            ours.stderr.contains(&format!("Warning: {warning}")),
            "{ours:?}"
        );
        assert!(ours.stdout.is_empty(), "{ours:?}");
    }
    // inspect's own --tls-verify is not deprecated.
    let ours = cx.run(
        skiff_bin(),
        &["inspect", "--tls-verify=false", &hello_src()],
        &[],
    );
    assert!(ours.ok() && !ours.stderr.contains("deprecated"), "{ours:?}");
}

#[test]
fn newer_flags_are_in_help_man_pages_and_completions() {
    let cx = Ctx::new();
    let help = cx.run(skiff_bin(), &["copy", "--help"], &[]);
    let bash = cx.run(skiff_bin(), &["completion", "bash"], &[]);
    let man = fs::read_to_string(repo_root().join("man/skiff-copy.1")).unwrap();
    for flag in [
        "image-parallel-copies",
        "retry-delay",
        "dest-force-compress-format",
        "user-agent-prefix",
    ] {
        assert!(
            help.stdout.contains(&format!("--{flag}")),
            "{flag}: {help:?}"
        );
        assert!(
            bash.stdout.contains(&format!("--{flag}")),
            "{flag} not completed"
        );
        assert!(
            man.contains(&format!("\\-\\-{}", flag.replace('-', "\\-"))),
            "{flag} not in the man page"
        );
    }
    for command in ["inspect", "delete", "list-tags"] {
        let page = fs::read_to_string(repo_root().join(format!("man/skiff-{command}.1"))).unwrap();
        assert!(page.contains("\\-\\-retry\\-delay"), "{command}");
    }
}
