//! Table-driven tests for image-name parsing.
//!
//! How the expectations were checked against skopeo 1.9.3 (Debian build, c/image
//! v5.23.1), running as root with HTTP(S)_PROXY=http://127.0.0.1:1 so that nothing left
//! the machine:
//! * parse outcome: `skopeo --insecure-policy copy NAME bogus`. "Invalid source name
//!   NAME: MSG" means a parse failure (MSG must contain the expected substring);
//!   "Invalid destination name bogus" means NAME parsed.
//! * display: `skopeo --insecure-policy copy --src-daemon-host unix:///nonexistent.sock
//!   NAME dir:/tmp/fresh` from a scratch cwd; the error names the source as
//!   "initializing source DISPLAY:" (or "determining manifest MIME type for DISPLAY:").
//!   Every `ok(...)` display below was compared this way, except containers-storage
//!   without an explicit full store spec (see below).
//! * policy identities/namespaces: docker ones from c/image's own
//!   `docker/policyconfiguration/naming_test.go`; dir/oci ones with
//!   `skopeo --debug copy` of a real local image under a policy.json with matching
//!   scopes ("Using transport ... policy section ...").
//!
//! The lines of `CASES` were checked mechanically by a script that reads this file.
//!
//! Deliberate differences from skopeo (also in NOTES.md):
//! * `ostree:` is refused ("not supported by skiff"), as Debian's skopeo 1.9.3 refuses it
//!   ("not supported in this build"); `sif:` and `tarball:` are read (tests/sif_tarball.rs).
//! * containers-storage: skopeo opens the store at parse time, so it prints the actual
//!   driver/roots in names and rejects driver options the driver does not know; skiff
//!   prints only the store spec the user wrote and checks syntax only. Bare hex IDs are
//!   never looked up (skopeo resolves them if the store has such an image).
//!
//! Placeholders: {A64} = 64 x 'a', {A128} = 128 x 'a', {N243}/{N244} = 243/244 x 'a'
//! (giving 255/256-character normalised names with "docker.io/x/").

use super::*;

enum Expect {
    /// transport, Display of the ImageName, normalised docker reference (if any)
    Ok(&'static str, &'static str, Option<&'static str>),
    /// substring of the error message
    Err(&'static str),
}

const fn ok(
    input: &'static str,
    transport: &'static str,
    display: &'static str,
    docker: Option<&'static str>,
) -> (&'static str, Expect) {
    (input, Expect::Ok(transport, display, docker))
}

const fn err(input: &'static str, msg: &'static str) -> (&'static str, Expect) {
    (input, Expect::Err(msg))
}

fn expand(s: &str) -> String {
    s.replace("{A64}", &"a".repeat(64))
        .replace("{A128}", &"a".repeat(128))
        .replace("{N243}", &"a".repeat(243))
        .replace("{N244}", &"a".repeat(244))
}

#[rustfmt::skip]
const CASES: &[(&str, Expect)] = &[
    // --- transport prefix
    err("a", "Invalid image name \"a\", expected colon-separated transport:reference"),
    err("", "expected colon-separated transport:reference"),
    err("foo:bar", "Invalid image name \"foo:bar\", unknown transport \"foo\""),
    err("Docker://busybox", "unknown transport \"Docker\""),
    err("atomic:foo/bar:baz", "unknown transport \"atomic\""),
    err("ostree:x", "The transport \"ostree:\" is not supported"),
    // --- docker: grammar and normalisation
    ok("docker://busybox", "docker", "docker://busybox:latest", Some("docker.io/library/busybox:latest")),
    ok("docker://busybox:TAG", "docker", "docker://busybox:TAG", Some("docker.io/library/busybox:TAG")),
    ok("docker://index.docker.io/library/busybox", "docker", "docker://busybox:latest", Some("docker.io/library/busybox:latest")),
    ok("docker://index.docker.io/busybox", "docker", "docker://busybox:latest", Some("docker.io/library/busybox:latest")),
    ok("docker://docker.io/foo/bar:1", "docker", "docker://foo/bar:1", Some("docker.io/foo/bar:1")),
    ok("docker://library/busybox", "docker", "docker://busybox:latest", Some("docker.io/library/busybox:latest")),
    ok("docker://127.0.0.1:1/foo", "docker", "docker://127.0.0.1:1/foo:latest", Some("127.0.0.1:1/foo:latest")),
    ok("docker://127.0.0.1:1/library/foo", "docker", "docker://127.0.0.1:1/library/foo:latest", Some("127.0.0.1:1/library/foo:latest")),
    ok("docker://localhost/x", "docker", "docker://localhost/x:latest", Some("localhost/x:latest")),
    ok("docker://A.B/c", "docker", "docker://A.B/c:latest", Some("A.B/c:latest")),
    ok("docker://localhost:5000", "docker", "docker://localhost:5000", Some("docker.io/library/localhost:5000")),
    ok("docker://a/b/c/d/e", "docker", "docker://a/b/c/d/e:latest", Some("docker.io/a/b/c/d/e:latest")),
    ok("docker://a__b", "docker", "docker://a__b:latest", Some("docker.io/library/a__b:latest")),
    ok("docker://a-----b", "docker", "docker://a-----b:latest", Some("docker.io/library/a-----b:latest")),
    ok("docker://a_b.c/d", "docker", "docker://a_b.c/d:latest", Some("a_b.c/d:latest")),
    ok("docker://a.b_c/d", "docker", "docker://a.b_c/d:latest", Some("a.b_c/d:latest")),
    ok("docker://busybox:_a", "docker", "docker://busybox:_a", Some("docker.io/library/busybox:_a")),
    ok("docker://busybox@sha256:{A64}", "docker", "docker://busybox@sha256:{A64}", Some("docker.io/library/busybox@sha256:{A64}")),
    ok("docker://quay.io/a/b@sha256:{A64}", "docker", "docker://quay.io/a/b@sha256:{A64}", Some("quay.io/a/b@sha256:{A64}")),
    ok("docker://x/{N243}:t", "docker", "docker://x/{N243}:t", Some("docker.io/x/{N243}:t")),
    err("docker://x/{N244}:t", "repository name must not be more than 255 characters"),
    // skopeo 1.9.3 refuses tag@digest; skiff accepts it and checks the tag (docs/differences.md).
    ok("docker://busybox:t@sha256:{A64}", "docker", "docker://busybox:t@sha256:{A64}", Some("docker.io/library/busybox:t@sha256:{A64}")),
    err("docker:busybox", "docker: image reference busybox does not start with //"),
    err("docker:/busybox", "docker: image reference /busybox does not start with //"),
    err("docker://", "invalid reference format"),
    err("docker://Busybox", "invalid reference format: repository name must be lowercase"),
    err("docker://a/B", "invalid reference format: repository name must be lowercase"),
    err("docker://127.0.0.1:1/Foo", "repository name must be lowercase"),
    err("docker://{A64}", "invalid repository name ({A64}), cannot specify 64-byte hexadecimal strings"),
    err("docker://busybox@sha256:abc", "invalid reference format"),
    err("docker://busybox@sha256:{A64}AA", "invalid checksum digest length"),
    err("docker://busybox@sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "invalid checksum digest format"),
    err("docker://busybox@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "invalid checksum digest length"),
    err("docker://busybox@md5:{A64}", "unsupported digest algorithm"),
    err("docker://busybox@SHA256:{A64}", "repository name must be lowercase"),
    err("docker://busybox:{A128}a", "invalid reference format"),
    err("docker://busybox:.a", "invalid reference format"),
    err("docker://a___b", "invalid reference format"),
    err("docker://a._b", "invalid reference format"),
    err("docker://-a", "invalid reference format"),
    err("docker://a-", "invalid reference format"),
    err("docker://-a.com/b", "invalid reference format"),
    err("docker://a.com:/b", "invalid reference format"),
    err("docker://a.com:80a/b", "invalid reference format"),
    err("docker://a//b", "invalid reference format"),
    err("docker://a/", "invalid reference format"),
    err("docker://é", "invalid reference format"),
    err("docker://busybox@", "invalid reference format"),
    err("docker://busybox:", "invalid reference format"),
    // --- dir: (parent must exist; path kept as written)
    ok("dir:", "dir", "dir:", None),
    ok("dir:rel", "dir", "dir:rel", None),
    ok("dir:/tmp", "dir", "dir:/tmp", None),
    ok("dir:/tmp/", "dir", "dir:/tmp/", None),
    ok("dir:/tmp/.", "dir", "dir:/tmp/.", None),
    ok("dir:/tmp/skiff-test-new-dir", "dir", "dir:/tmp/skiff-test-new-dir", None),
    ok("dir:/tmp/a:b", "dir", "dir:/tmp/a:b", None),
    err("dir:/nonexistent-skiff/x", "lstat /nonexistent-skiff: no such file or directory"),
    err("dir:/tmp/nonexistent-skiff/", "lstat /tmp/nonexistent-skiff: no such file or directory"),
    err("dir:/tmp/nonexistent-skiff/..", "lstat /tmp/nonexistent-skiff: no such file or directory"),
    err("dir:/etc/passwd/x", "lstat /etc/passwd/x: not a directory"),
    err("dir:/etc/passwd/", "lstat /etc/passwd/: not a directory"),
    // --- oci: / oci-archive: (split at the first colon; ref grammar)
    ok("oci:", "oci", "oci::", None),
    ok("oci:/tmp/o", "oci", "oci:/tmp/o:", None),
    ok("oci:/tmp/o:", "oci", "oci:/tmp/o:", None),
    ok("oci:rel:tag", "oci", "oci:rel:tag", None),
    ok("oci:/tmp/o:Foo_bar-1.2", "oci", "oci:/tmp/o:Foo_bar-1.2", None),
    ok("oci:/tmp/o:a:b@c+d", "oci", "oci:/tmp/o:a:b@c+d", None),
    ok("oci:/tmp/o:a/b", "oci", "oci:/tmp/o:a/b", None),
    ok("oci:/tmp/o:a--b", "oci", "oci:/tmp/o:a--b", None),
    err("oci:/tmp/o:a b", "Invalid image a b"),
    err("oci:/tmp/o:-a", "Invalid image -a"),
    err("oci:/tmp/o:a//b", "Invalid image a//b"),
    err("oci:/tmp/o:a---b", "Invalid image a---b"),
    err("oci:/nonexistent-skiff/o:bad ref", "lstat /nonexistent-skiff: no such file or directory"),
    ok("oci-archive:/tmp/o.tar", "oci-archive", "oci-archive:/tmp/o.tar:", None),
    ok("oci-archive:/tmp/o.tar:x", "oci-archive", "oci-archive:/tmp/o.tar:x", None),
    err("oci-archive:/tmp/o.tar:a b", "Invalid image a b"),
    // --- docker-archive:
    ok("docker-archive:/tmp/a.tar", "docker-archive", "docker-archive:/tmp/a.tar", None),
    ok("docker-archive:/tmp/a.tar:busybox", "docker-archive", "docker-archive:/tmp/a.tar:docker.io/library/busybox:latest", Some("docker.io/library/busybox:latest")),
    ok("docker-archive:/tmp/a.tar:quay.io/a/b:1", "docker-archive", "docker-archive:/tmp/a.tar:quay.io/a/b:1", Some("quay.io/a/b:1")),
    ok("docker-archive:/tmp/a.tar:@3", "docker-archive", "docker-archive:/tmp/a.tar:@3", None),
    ok("docker-archive:/tmp/a.tar:@+3", "docker-archive", "docker-archive:/tmp/a.tar:@3", None),
    ok("docker-archive:/nonexistent-skiff/a.tar", "docker-archive", "docker-archive:/nonexistent-skiff/a.tar", None),
    ok("docker-archive::busybox", "docker-archive", "docker-archive::docker.io/library/busybox:latest", Some("docker.io/library/busybox:latest")),
    err("docker-archive:", "docker-archive reference  isn't of the form <path>[:<reference>]"),
    err("docker-archive:/x.tar:@", "Invalid source index @: strconv.Atoi: parsing \"\": invalid syntax"),
    err("docker-archive:/x.tar:@x", "Invalid source index @x: strconv.Atoi: parsing \"x\": invalid syntax"),
    err("docker-archive:/x.tar:@-1", "Invalid source index @-1: must not be negative"),
    err("docker-archive:/x.tar:@99999999999999999999", "Invalid source index @99999999999999999999: strconv.Atoi: parsing \"99999999999999999999\": value out of range"),
    err("docker-archive:/x.tar:busybox@sha256:{A64}", "reference does not include a tag: docker.io/library/busybox@sha256:{A64}"),
    err("docker-archive:/x.tar:busybox:1@sha256:{A64}", "docker-archive doesn't support digest references: docker.io/library/busybox:1@sha256:{A64}"),
    err("docker-archive:/x.tar:Busybox", "docker-archive parsing reference: invalid reference format: repository name must be lowercase"),
    err("docker-archive:/x.tar:a:b:c", "docker-archive parsing reference: invalid reference format"),
    // --- docker-daemon:
    ok("docker-daemon:busybox:1", "docker-daemon", "docker-daemon:busybox:1", Some("docker.io/library/busybox:1")),
    ok("docker-daemon:localhost:5000/a/b:1", "docker-daemon", "docker-daemon:localhost:5000/a/b:1", Some("localhost:5000/a/b:1")),
    ok("docker-daemon:sha256:{A64}", "docker-daemon", "docker-daemon:sha256:{A64}", None),
    ok("docker-daemon:docker.io/library/busybox@sha256:{A64}", "docker-daemon", "docker-daemon:busybox@sha256:{A64}", Some("docker.io/library/busybox@sha256:{A64}")),
    err("docker-daemon:busybox", "docker-daemon: reference busybox has neither a tag nor a digest"),
    err("docker-daemon:sha512:{A128}", "Invalid docker-daemon: reference sha512:{A128}: only digest algorithm sha256 accepted"),
    err("docker-daemon:sha256:abc", "Invalid docker-daemon: reference sha256:abc: The sha256 repository name is reserved for (non-shortened) digest references"),
    err("docker-daemon:sha256", "The sha256 repository name is reserved"),
    err("docker-daemon:docker.io/library/sha256:x", "The sha256 repository name is reserved"),
    err("docker-daemon:busybox:t@sha256:{A64}", "docker-daemon: references with both a tag and digest are currently not supported"),
    err("docker-daemon:{A64}", "cannot specify 64-byte hexadecimal strings"),
    err("docker-daemon:", "invalid reference format"),
    // --- containers-storage:
    ok("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]busybox", "containers-storage", "containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]docker.io/library/busybox:latest", Some("docker.io/library/busybox:latest")),
    ok("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]busybox:1@sha256:{A64}@{A64}", "containers-storage", "containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]docker.io/library/busybox:1@sha256:{A64}@{A64}", Some("docker.io/library/busybox:1@sha256:{A64}")),
    ok("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]busybox@sha256:{A64}", "containers-storage", "containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]docker.io/library/busybox@sha256:{A64}", Some("docker.io/library/busybox@sha256:{A64}")),
    ok("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]@{A64}", "containers-storage", "containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]@{A64}", None),
    ok("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r][x]busybox", "containers-storage", "containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]docker.io/library/busybox:latest", Some("docker.io/library/busybox:latest")),
    err("containers-storage:", "\"\" is an empty reference: invalid reference"),
    err("containers-storage:[", "invalid reference"),
    err("containers-storage:[]x", "invalid reference"),
    err("containers-storage:[@/a]x", "invalid reference"),
    err("containers-storage:[vfs@]x", "invalid reference"),
    err("containers-storage:[vfs@rel]x", "path name is not absolute"),
    err("containers-storage:[vfs@/tmp/sk/g+rel]x", "path name is not absolute"),
    err("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]", "\"\" is an empty reference: invalid reference"),
    err("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]busybox@", "empty trailing digest or ID in \"busybox@\": invalid reference"),
    err("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]busybox@abc", "\"abc\" does not look like an image ID or digest: invalid reference"),
    err("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]busybox@sha256:abc", "\"sha256:abc\" does not look like an image ID or digest"),
    err("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]Busybox", "parsing named reference \"Busybox\": invalid reference format: repository name must be lowercase"),
    err("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r][xbusybox", "store specifier in \"[xbusybox\" did not end: invalid reference"),
    err("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]{A64}", "parsing named reference \"{A64}\": invalid repository name ({A64}), cannot specify 64-byte hexadecimal strings"),
    err("containers-storage:[vfs@/tmp/sk/g+/tmp/sk/r]@sha256:{A64}", "parsing named reference \"@sha256:{A64}\": invalid reference format"),
];

#[test]
fn table() {
    assert!(CASES.len() >= 80, "only {} cases", CASES.len());
    let mut failures = Vec::new();
    for (input, expect) in CASES {
        let input = expand(input);
        let got = ImageName::parse(&input);
        match (expect, &got) {
            (Expect::Ok(transport, display, docker), Ok(name)) => {
                let docker_got = name.docker_reference().map(ToString::to_string);
                if name.transport_name() != *transport
                    || name.to_string() != expand(display)
                    || docker_got != docker.map(expand)
                {
                    failures.push(format!(
                        "{input}: got ({}, {name}, {docker_got:?}), want ({transport}, {}, {:?})",
                        name.transport_name(),
                        expand(display),
                        docker.map(expand)
                    ));
                }
                // Display must round-trip through the parser (skopeo's own output is
                // valid input).
                if let Err(e) = ImageName::parse(&name.to_string()) {
                    failures.push(format!("{input}: display {name} does not re-parse: {e}"));
                }
            }
            (Expect::Err(msg), Err(e)) => {
                if !e.to_string().contains(&expand(msg)) {
                    failures.push(format!("{input}: error {e:?} lacks {:?}", expand(msg)));
                }
            }
            (Expect::Ok(..), Err(e)) => failures.push(format!("{input}: unexpected error {e}")),
            (Expect::Err(msg), Ok(n)) => {
                failures.push(format!("{input}: parsed as {n}, want error {msg:?}"))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn docker_policy_identity_and_namespaces() {
    // From c/image v5.23.1 docker/policyconfiguration/naming_test.go.
    let cases: &[(&str, &[&str])] = &[
        (
            "example.com/ns/repo",
            &[
                "example.com/ns/repo",
                "example.com/ns",
                "example.com",
                "*.com",
            ],
        ),
        (
            "localhost/ns/repo",
            &["localhost/ns/repo", "localhost/ns", "localhost"],
        ),
        (
            "notlocalhost/repo",
            &[
                "docker.io/notlocalhost/repo",
                "docker.io/notlocalhost",
                "docker.io",
                "*.io",
            ],
        ),
        (
            "docker.io/repo",
            &[
                "docker.io/library/repo",
                "docker.io/library",
                "docker.io",
                "*.io",
            ],
        ),
        (
            "repo",
            &[
                "docker.io/library/repo",
                "docker.io/library",
                "docker.io",
                "*.io",
            ],
        ),
        (
            "yet.another.example.com:8443/ns/repo",
            &[
                "yet.another.example.com:8443/ns/repo",
                "yet.another.example.com:8443/ns",
                "yet.another.example.com:8443",
                "*.another.example.com",
                "*.example.com",
                "*.com",
            ],
        ),
    ];
    let digest = format!("@sha256:{}", "0123456789abcdef".repeat(4));
    for (name, ns) in cases {
        for suffix in [":tag", digest.as_str()] {
            for transport in ["docker://", "docker-daemon:"] {
                let n = ImageName::parse(&format!("{transport}{name}{suffix}")).expect(name);
                assert_eq!(
                    n.policy_configuration_identity(),
                    format!("{}{suffix}", ns[0])
                );
                assert_eq!(
                    n.policy_configuration_namespaces(),
                    ns.iter().map(|s| s.to_string()).collect::<Vec<_>>()
                );
            }
        }
    }
}

#[test]
fn path_policy_identity_and_namespaces() {
    let d = ImageName::parse("dir:/tmp/skiff-nonexistent-x").expect("dir");
    assert_eq!(
        d.policy_configuration_identity(),
        "/tmp/skiff-nonexistent-x"
    );
    assert_eq!(d.policy_configuration_namespaces(), vec!["/tmp"]);
    let o = ImageName::parse("oci:/tmp/skiff-nonexistent-x:ref").expect("oci");
    assert_eq!(
        o.policy_configuration_identity(),
        "/tmp/skiff-nonexistent-x"
    );
    assert_eq!(
        o.policy_configuration_namespaces(),
        vec!["/tmp/skiff-nonexistent-x", "/tmp"]
    );
    let root = ImageName::parse("oci:/").expect("oci root");
    assert_eq!(root.policy_configuration_identity(), "/");
    assert!(root.policy_configuration_namespaces().is_empty());
    // Relative paths resolve against the working directory, symlinks are followed.
    let cwd = std::env::current_dir()
        .expect("cwd")
        .canonicalize()
        .expect("canon");
    // `..` is resolved lexically before symlinks, so a missing `some/` is fine
    // (skopeo: `dir:some/../x` parses, `dir:nonexist/x` does not).
    let rel = ImageName::parse("dir:some/../x").expect("lexical ..");
    assert_eq!(
        rel.policy_configuration_identity(),
        cwd.join("x").to_string_lossy()
    );
    assert_eq!(rel.to_string(), "dir:some/../x");
    let e = ImageName::parse("dir:nonexist/x").expect_err("missing parent");
    assert_eq!(
        e.to_string(),
        format!(
            "lstat {}/nonexist: no such file or directory",
            cwd.display()
        )
    );
    assert_eq!(e.kind(), ErrorKind::Path);
    let tmp = std::env::temp_dir().join(format!("skiff-ref-test-{}", std::process::id()));
    std::fs::create_dir_all(tmp.join("real")).expect("mkdir");
    let link = tmp.join("link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(tmp.join("real"), &link).expect("symlink");
    let tmp_canon = tmp.canonicalize().expect("canon");
    let via = ImageName::parse(&format!("dir:{}/img", link.display())).expect("via link");
    assert_eq!(
        via.policy_configuration_identity(),
        format!("{}/real/img", tmp_canon.display())
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn other_policy_identities() {
    let a = ImageName::parse("docker-archive:/tmp/a.tar:busybox").expect("archive");
    assert_eq!(a.policy_configuration_identity(), "");
    assert!(a.policy_configuration_namespaces().is_empty());
    let id = ImageName::parse(&format!("docker-daemon:sha256:{}", "a".repeat(64))).expect("id");
    assert_eq!(id.policy_configuration_identity(), "");
    assert!(id.policy_configuration_namespaces().is_empty());
    assert!(id.docker_reference().is_none());
    // Storage, as c/image storage_reference_test.go's namespaces logic.
    let a64 = "a".repeat(64);
    let s = ImageName::parse(&format!(
        "containers-storage:[vfs@/g+/r]example.com/ns/repo:t@sha256:{a64}@{a64}"
    ))
    .expect("storage");
    let store = "[vfs@/g]";
    assert_eq!(
        s.policy_configuration_identity(),
        format!("{store}example.com/ns/repo:t@sha256:{a64}@{a64}")
    );
    assert_eq!(
        s.policy_configuration_namespaces(),
        vec![
            format!("{store}example.com/ns/repo:t@sha256:{a64}"),
            format!("{store}example.com/ns/repo:t"),
            format!("{store}example.com/ns/repo"),
            format!("{store}example.com/ns"),
            format!("{store}example.com"),
            store.to_string(),
            "[/g]".to_string(),
        ]
    );
}

#[test]
fn docker_ref_api() {
    let r = DockerRef::parse_normalized("busybox").expect("busybox");
    assert_eq!(
        (r.domain(), r.path(), r.name()),
        (
            "docker.io",
            "library/busybox",
            "docker.io/library/busybox".to_string()
        )
    );
    assert_eq!(r.tag(), None);
    assert_eq!(r.to_string(), "docker.io/library/busybox");
    let r = r.with_default_tag();
    assert_eq!(r.familiar(), "busybox:latest");
    assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    let both = DockerRef::parse_normalized(&format!("quay.io/a/b:t@sha256:{}", "a".repeat(64)))
        .expect("both");
    assert_eq!(both.clone().with_default_tag(), both);
    assert_eq!(
        both.familiar(),
        format!("quay.io/a/b:t@sha256:{}", "a".repeat(64))
    );
    assert_eq!(
        DockerRef::parse_normalized("docker.io/library/a/b")
            .expect("a/b")
            .familiar(),
        "library/a/b"
    );
    assert!(KNOWN_TRANSPORTS.contains(&"oci-archive") && KNOWN_TRANSPORTS.len() == 10);
    for t in UNSUPPORTED_TRANSPORTS {
        let e = ImageName::parse(&format!("{t}:x")).expect_err(t);
        assert_eq!(e.kind(), ErrorKind::UnsupportedTransport);
        assert_eq!(
            e.to_string(),
            format!("The transport \"{t}:\" is not supported by skiff")
        );
    }
}
