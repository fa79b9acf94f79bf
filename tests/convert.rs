//! Manifest format conversion (`--format`, destinations that only take some formats) and
//! malformed manifests, compared with skopeo 1.9.3 on the same inputs.

mod support;

use std::fs;

use support::*;

fn hello() -> String {
    example_ref("hello-oci")
}

fn multi() -> String {
    example_ref("multiarch-oci")
}

/// Everything before the JWS `signatures` member of a schema 1 manifest (the signature is
/// made with a fresh random key by both tools, so only the payload can be compared).
fn schema1_payload(raw: &str) -> &str {
    &raw[..raw
        .find(",\"signatures\"")
        .expect("a signed schema 1 manifest")]
}

#[test]
fn oci_to_each_format_matches_skopeo() {
    let t = tempdir();
    for fmt in ["v2s2", "oci"] {
        let ours = t.path().join(format!("skiff-{fmt}"));
        let theirs = t.path().join(format!("skopeo-{fmt}"));
        skiff_copy(["--format", fmt, &hello(), &format!("dir:{}", p(&ours))]).assert_success();
        skopeo_copy(["--format", fmt, &hello(), &format!("dir:{}", p(&theirs))]).assert_success();
        assert_same_tree(&ours, &theirs, &format!("--format {fmt}"));
    }
    let ours = t.path().join("skiff-v2s1");
    let theirs = t.path().join("skopeo-v2s1");
    skiff_copy(["--format", "v2s1", &hello(), &format!("dir:{}", p(&ours))]).assert_success();
    skopeo_copy(["--format", "v2s1", &hello(), &format!("dir:{}", p(&theirs))]).assert_success();
    let a = fs::read_to_string(ours.join("manifest.json")).unwrap();
    let b = fs::read_to_string(theirs.join("manifest.json")).unwrap();
    assert_eq!(
        schema1_payload(&a),
        schema1_payload(&b),
        "schema 1 payloads differ"
    );
    assert_eq!(
        list_dir(&ours),
        list_dir(&theirs),
        "schema 1 writes no config, only layers"
    );
    // skopeo accepts skiff's signature (it verifies the JWS when it reads schema 1).
    let back = t.path().join("back");
    skopeo_copy([&format!("dir:{}", p(&ours)), &format!("oci:{}:x", p(&back))]).assert_success();
}

#[test]
fn schema2_into_oci_is_converted_as_skopeo_converts_it() {
    let t = tempdir();
    let s2 = t.path().join("s2");
    skopeo_copy(["--format", "v2s2", &hello(), &format!("dir:{}", p(&s2))]).assert_success();
    let ours = t.path().join("ours");
    let theirs = t.path().join("theirs");
    skiff_copy([&format!("dir:{}", p(&s2)), &format!("oci:{}:v", p(&ours))]).assert_success();
    skopeo_copy([&format!("dir:{}", p(&s2)), &format!("oci:{}:v", p(&theirs))]).assert_success();
    assert_same_tree(&ours, &theirs, "v2s2 dir -> oci");
    // Schema 1 back to OCI goes through schema 2 and a rebuilt config.
    let s1 = t.path().join("s1");
    skopeo_copy(["--format", "v2s1", &hello(), &format!("dir:{}", p(&s1))]).assert_success();
    let ours = t.path().join("ours1");
    let theirs = t.path().join("theirs1");
    skiff_copy([&format!("dir:{}", p(&s1)), &format!("oci:{}:v", p(&ours))]).assert_success();
    skopeo_copy([&format!("dir:{}", p(&s1)), &format!("oci:{}:v", p(&theirs))]).assert_success();
    // skopeo also stores the intermediate schema 2 config, which nothing references
    // (docs/differences.md); every file skiff writes is byte-identical to skopeo's.
    let (a, b) = (snapshot(&ours), snapshot(&theirs));
    let extra = a.diff(&b);
    assert_eq!(extra.len(), 1, "v2s1 dir -> oci: {extra:?}");
    assert!(
        extra[0].starts_with("only in") && extra[0].contains(&p(&theirs)),
        "{extra:?}"
    );
    assert_eq!(
        fs::read(ours.join("index.json")).unwrap(),
        fs::read(theirs.join("index.json")).unwrap()
    );
}

#[test]
fn lists_convert_with_their_instances() {
    let t = tempdir();
    let ours = t.path().join("ours");
    let theirs = t.path().join("theirs");
    skiff_copy([
        "--all",
        "--format",
        "v2s2",
        &multi(),
        &format!("dir:{}", p(&ours)),
    ])
    .assert_success();
    skopeo_copy([
        "--all",
        "--format",
        "v2s2",
        &multi(),
        &format!("dir:{}", p(&theirs)),
    ])
    .assert_success();
    assert_same_tree(&ours, &theirs, "OCI index -> Docker list");
    let list = read_json(&ours.join("manifest.json"));
    assert_eq!(
        list["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    // And back: a Docker list into an OCI layout becomes an OCI index again.
    let back_ours = t.path().join("back-ours");
    let back_theirs = t.path().join("back-theirs");
    skiff_copy([
        "--all",
        &format!("dir:{}", p(&ours)),
        &format!("oci:{}:l", p(&back_ours)),
    ])
    .assert_success();
    skopeo_copy([
        "--all",
        &format!("dir:{}", p(&theirs)),
        &format!("oci:{}:l", p(&back_theirs)),
    ])
    .assert_success();
    assert_same_tree(&back_ours, &back_theirs, "Docker list -> OCI index");
}

#[test]
fn preserve_digests_refuses_a_conversion_before_writing() {
    let t = tempdir();
    let s2 = t.path().join("s2");
    skopeo_copy(["--format", "v2s2", &hello(), &format!("dir:{}", p(&s2))]).assert_success();
    let dest = t.path().join("dest");
    skiff_copy([
        "--preserve-digests",
        &format!("dir:{}", p(&s2)),
        &format!("oci:{}:v", p(&dest)),
    ])
    .assert_exit1()
    .assert_stderr_contains("--preserve-digests");
    assert!(!dest.exists(), "nothing may be written");
    assert!(skiff_temp_leftovers(t.path()).is_empty());
    // A list whose instances would change is refused too.
    let d2 = t.path().join("d2");
    skiff_copy([
        "--all",
        "--format",
        "v2s2",
        "--preserve-digests",
        &multi(),
        &format!("dir:{}", p(&d2)),
    ])
    .assert_exit1();
    assert!(!d2.exists());
}

#[test]
fn zstd_for_a_docker_image_falls_back_to_oci() {
    // skopeo 1.9.3 fails here ("zstd compression is not supported for type …"); skiff
    // writes OCI, the format that can describe zstd layers (docs/differences.md).
    let t = tempdir();
    let s2 = t.path().join("s2");
    skopeo_copy(["--format", "v2s2", &hello(), &format!("dir:{}", p(&s2))]).assert_success();
    let dest = t.path().join("dest");
    skiff_copy([
        "--dest-compress",
        "--dest-compress-format",
        "zstd",
        &format!("dir:{}", p(&s2)),
        &format!("dir:{}", p(&dest)),
    ])
    .assert_success();
    let m = read_json(&dest.join("manifest.json"));
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    for l in m["layers"].as_array().unwrap() {
        assert_eq!(
            l["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
    }
    // Only what the OCI manifest names: no blob of the abandoned Docker attempt.
    let mut expected: Vec<String> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&m["config"]])
        .map(|d| {
            d["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:")
                .to_string()
        })
        .chain(["manifest.json".to_string(), "version".to_string()])
        .collect();
    expected.sort();
    let mut files = list_dir(&dest);
    files.sort();
    assert_eq!(files, expected);
    let back = t.path().join("back");
    skopeo_copy([&format!("dir:{}", p(&dest)), &format!("oci:{}:x", p(&back))]).assert_success();
    // Forcing a Docker format with zstd is a clear error, as in skopeo.
    let forced = t.path().join("forced");
    skiff_copy([
        "--format",
        "v2s2",
        "--dest-compress",
        "--dest-compress-format",
        "zstd",
        &hello(),
        &format!("dir:{}", p(&forced)),
    ])
    .assert_exit1()
    .assert_stderr_contains("zstd");
    assert!(!forced.exists());
}

/// Copies the hello image into a temp layout and lets `edit` break its manifest.
fn broken_layout(
    t: &std::path::Path,
    edit: impl FnOnce(&std::path::Path, &str),
) -> std::path::PathBuf {
    let layout = t.join("broken");
    copy_tree(&example("hello-oci"), &layout);
    edit(&layout, HELLO_MANIFEST);
    layout
}

/// Replaces the manifest blob and repoints index.json at it (digest and size correct).
fn replace_manifest(layout: &std::path::Path, old: &str, bytes: &[u8], media_type: &str) {
    let digest = sha256_digest(bytes);
    fs::write(oci_blob(layout, &digest), bytes).unwrap();
    let index = fs::read_to_string(layout.join("index.json")).unwrap();
    let index = index
        .replace(old, &digest)
        .replace("\"size\":842", &format!("\"size\":{}", bytes.len()))
        .replace("application/vnd.oci.image.manifest.v1+json", media_type);
    fs::write(layout.join("index.json"), index).unwrap();
}

#[test]
fn malformed_manifests_fail_cleanly_and_write_nothing() {
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("not JSON", b"{\"schemaVersion\": 2, ".to_vec(), "application/vnd.oci.image.manifest.v1+json", "JSON"),
        (
            "wrong media type for the bytes",
            fs::read(oci_blob(&example("hello-oci"), HELLO_MANIFEST)).unwrap(),
            "application/vnd.oci.image.index.v1+json",
            "does not match",
        ),
        ("no schemaVersion", br#"{"layers":[]}"#.to_vec(), "application/vnd.oci.image.manifest.v1+json", "schemaVersion"),
        (
            "a layer digest that is not a digest",
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:abc","size":2},"layers":[]}"#.to_vec(),
            "application/vnd.oci.image.manifest.v1+json",
            "sha256:abc",
        ),
        ("over the size limit", vec![b' '; 5 * 1024 * 1024], "application/vnd.oci.image.manifest.v1+json", "limit"),
    ];
    for (what, bytes, media_type, needle) in cases {
        let t = tempdir();
        let layout = broken_layout(t.path(), |l, old| {
            replace_manifest(l, old, &bytes, media_type)
        });
        let dest = t.path().join("dest");
        skiff_copy([
            &format!("oci:{}:latest", p(&layout)),
            &format!("dir:{}", p(&dest)),
        ])
        .assert_exit1()
        .assert_stderr_contains(needle);
        assert!(!dest.exists(), "{what}: destination written");
        assert!(
            skiff_temp_leftovers(t.path()).is_empty(),
            "{what}: leftovers"
        );
    }
}

#[test]
fn an_index_whose_child_does_not_match_its_digest_is_refused() {
    let t = tempdir();
    let layout = t.path().join("multi");
    copy_tree(&example("multiarch-oci"), &layout);
    // Corrupt the arm64 instance: its bytes no longer match the digest the index names.
    let path = oci_blob(&layout, MULTI_ARM64);
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 2] = b' ';
    fs::write(&path, bytes).unwrap();
    for args in [vec!["--all"], vec!["--override-arch", "arm64"]] {
        let dest = t.path().join("dest");
        let mut cmd = skiff();
        cmd.arg("--insecure-policy");
        if args[0] == "--override-arch" {
            cmd.args(&args);
            cmd.arg("copy");
        } else {
            cmd.arg("copy").args(&args);
        }
        cmd.arg(format!("oci:{}:latest", p(&layout)))
            .arg(format!("dir:{}", p(&dest)));
        run(&mut cmd)
            .assert_exit1()
            .assert_stderr_contains(MULTI_ARM64);
        assert!(!dest.exists(), "{args:?}: destination written");
    }
}
