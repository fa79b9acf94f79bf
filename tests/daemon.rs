//! docker-daemon: against real peers, each started here on its own socket and stopped by
//! PID: Debian's dockerd and podman's Docker-API service; plus a scripted fake daemon for
//! hang-ups and errors. Interop with skopeo both ways; `docker load` / `podman load` of
//! skiff's archives.

mod support;

#[path = "support/daemon.rs"]
mod daemon;

use std::path::Path;
use std::process::Command;

use daemon::{Daemon, FakeDaemon, FakeMode};
use support::*;

fn hello() -> String {
    example_ref("hello-oci")
}

fn cli_ok(c: &mut Command) -> String {
    let out = c.output().expect("run the daemon CLI");
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything a real daemon must do with skiff, in one test so the daemon starts once.
fn round_trips(d: &Daemon) {
    let t = tempdir();
    let host = d.host();
    let kind = d.kind;
    // Write: skiff -> daemon, with additional tags.
    skiff_copy([
        "--dest-daemon-host",
        &host,
        "--additional-tag",
        "skiff/extra:2",
        &hello(),
        "docker-daemon:skiff/hello:v1",
    ])
    .assert_success();
    let images = cli_ok(
        d.cli()
            .args(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
    );
    assert!(images.contains("skiff/hello:v1"), "{kind}: {images}");
    assert!(images.contains("skiff/extra:2"), "{kind}: {images}");

    // Read back, by name and by ID: the same image as the source, digest for digest.
    let by_name = t.path().join("by-name");
    skiff_copy([
        "--src-daemon-host",
        &host,
        "docker-daemon:skiff/hello:v1",
        &format!("oci:{}:x", p(&by_name)),
    ])
    .assert_success();
    let loaded = load_oci(&by_name, Some("x"));
    loaded.assert_consistent(kind);
    let source = load_oci(&example("hello-oci"), Some("latest"));
    assert_eq!(loaded.diff_ids(), source.diff_ids(), "{kind}");
    let id = cli_ok(
        d.cli()
            .args(["image", "inspect", "--format", "{{.Id}}", "skiff/hello:v1"]),
    );
    let id = id.trim();
    let id = if id.starts_with("sha256:") {
        id.to_string()
    } else {
        format!("sha256:{id}")
    };
    let by_id = t.path().join("by-id.tar");
    skiff_copy([
        "--src-daemon-host",
        &host,
        &format!("docker-daemon:{id}"),
        &format!("docker-archive:{}", p(&by_id)),
    ])
    .assert_success();

    // skopeo reads what skiff loaded as skiff does, and skiff reads what skopeo loaded.
    let ours = t.path().join("ours");
    let theirs = t.path().join("theirs");
    skiff_copy([
        "--src-daemon-host",
        &host,
        "docker-daemon:skiff/hello:v1",
        &format!("dir:{}", p(&ours)),
    ])
    .assert_success();
    skopeo_copy([
        "--src-daemon-host",
        &host,
        "docker-daemon:skiff/hello:v1",
        &format!("dir:{}", p(&theirs)),
    ])
    .assert_success();
    assert_same_tree(&ours, &theirs, kind);
    skopeo_copy([
        "--dest-daemon-host",
        &host,
        &hello(),
        "docker-daemon:skopeo/hello:v1",
    ])
    .assert_success();
    let from_skopeo = t.path().join("from-skopeo");
    skiff_copy([
        "--src-daemon-host",
        &host,
        "docker-daemon:skopeo/hello:v1",
        &format!("dir:{}", p(&from_skopeo)),
    ])
    .assert_success();
    assert_same_tree(&from_skopeo, &theirs, kind);

    // `docker load` / `podman load` of a skiff archive holding two images.
    let archive = t.path().join("two.tar");
    let multi = format!("oci:{}", p(&example("multiarch-oci")));
    skiff_copy([
        hello(),
        format!("docker-archive:{}:loaded/one:1", p(&archive)),
    ])
    .assert_success();
    skiff_copy([
        "--override-arch",
        "arm64",
        &multi,
        &format!("docker-archive:{}:loaded/two:2", p(&archive)),
    ])
    .assert_success();
    cli_ok(d.cli().args(["load", "-i"]).arg(&archive));
    let images = cli_ok(
        d.cli()
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"]),
    );
    assert!(images.contains("loaded/one:1"), "{kind}: {images}");
    assert!(images.contains("loaded/two:2"), "{kind}: {images}");

    // DOCKER_HOST is honoured when no flag is given.
    let mut c = skiff();
    c.env("DOCKER_HOST", &host).args([
        "--insecure-policy",
        "copy",
        "docker-daemon:loaded/two:2",
        &format!("dir:{}", p(&t.path().join("env"))),
    ]);
    run(&mut c).assert_success();

    // Errors name the daemon and the image; nothing is written.
    let missing = t.path().join("missing");
    skiff_copy([
        "--src-daemon-host",
        &host,
        "docker-daemon:skiff/nope:1",
        &format!("dir:{}", p(&missing)),
    ])
    .assert_exit1()
    .assert_stderr_contains("is not known to the docker daemon");
    assert!(!missing.exists());
    skiff_copy([
        "--dest-daemon-host",
        &host,
        &hello(),
        &format!("docker-daemon:{id}"),
    ])
    .assert_exit1()
    .assert_stderr_contains("a destination must be a name:tag");
}

#[test]
fn dockerd() {
    let Some(d) = Daemon::dockerd() else {
        eprintln!("dockerd is not installed; skipped");
        return;
    };
    round_trips(&d);
}

#[test]
fn podman_service() {
    let Some(d) = Daemon::podman() else {
        eprintln!("podman is not installed; skipped");
        return;
    };
    round_trips(&d);
}

#[test]
fn unreachable_daemons_are_named() {
    let t = tempdir();
    let sock = t.path().join("none.sock");
    skiff_copy([
        "--src-daemon-host",
        &format!("unix://{}", p(&sock)),
        "docker-daemon:a:b",
        &format!("dir:{}", p(&t.path().join("x"))),
    ])
    .assert_exit1()
    .assert_stderr_contains("cannot connect to the docker daemon at unix://");
    // TCP: TLS by default; a refused connection says so.
    skiff_copy([
        "--src-daemon-host",
        "tcp://127.0.0.1:1",
        "docker-daemon:a:b",
        &format!("dir:{}", p(&t.path().join("x"))),
    ])
    .assert_exit1()
    .assert_stderr_contains("refused");
    skiff_copy([
        "--src-daemon-host",
        "ftp://x",
        "docker-daemon:a:b",
        &format!("dir:{}", p(&t.path().join("x"))),
    ])
    .assert_exit1()
    .assert_stderr_contains("unsupported scheme");
}

fn hello_archive(dir: &Path) -> Vec<u8> {
    let a = dir.join("h.tar");
    skiff_copy([hello(), format!("docker-archive:{}:hello:latest", p(&a))]).assert_success();
    std::fs::read(a).unwrap()
}

#[test]
fn a_daemon_that_hangs_up_leaves_nothing() {
    let t = tempdir();
    let tar = hello_archive(t.path());
    // Reading: half an archive, then the connection drops.
    let fake = FakeDaemon::start(FakeMode::SaveTruncated {
        body: tar[..tar.len() / 2].to_vec(),
        promise: tar.len(),
    });
    let dest = t.path().join("out");
    skiff_copy([
        "--src-daemon-host",
        &fake.host(),
        "docker-daemon:hello:latest",
        &format!("dir:{}", p(&dest)),
    ])
    .assert_exit1()
    .assert_stderr_contains("hung up");
    assert!(!dest.exists());
    // Writing: the daemon stops reading half-way; skiff reports it.
    let fake = FakeDaemon::start(FakeMode::LoadHangUp { after: 4096 });
    skiff_copy([
        "--dest-daemon-host",
        &fake.host(),
        &hello(),
        "docker-daemon:hello:latest",
    ])
    .assert_exit1()
    .assert_stderr_mentions_any(&["hung up", "stopped reading"]);
    // A load the daemon rejects inside a 200 answer.
    let fake = FakeDaemon::start(FakeMode::LoadReply(
        r#"{"errorDetail":{"message":"disk full"},"error":"disk full"}"#.into(),
    ));
    skiff_copy([
        "--dest-daemon-host",
        &fake.host(),
        &hello(),
        "docker-daemon:hello:latest",
    ])
    .assert_exit1()
    .assert_stderr_contains("reported: disk full");
    // An API version the daemon refuses.
    let fake = FakeDaemon::start(FakeMode::Status(
        400,
        r#"{"message":"client version 1.41 is too new. Maximum supported API version is 1.40"}"#
            .into(),
    ));
    skiff_copy([
        "--src-daemon-host",
        &fake.host(),
        "docker-daemon:hello:latest",
        &format!("dir:{}", p(&dest)),
    ])
    .assert_exit1()
    .assert_stderr_contains("refused the API version");
    assert!(!dest.exists());
}
