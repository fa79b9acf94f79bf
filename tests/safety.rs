//! Bad input must fail with exit code 1, a message that names what is wrong and where, and a
//! destination exactly as it was: still absent (and no temporary leftovers beside it), or
//! byte-for-byte the image that was there before. (SIGKILL and resource bounds:
//! tests/safety_crash.rs.)

#[path = "support/dest_case.rs"]
mod dest_case;
mod support;

use dest_case::*;
use std::fs;
use std::path::{Path, PathBuf};
use support::*;

const LAYER2: &str = "sha256:23885e8869c556a5757edc5b03708d547cf34edb7ba233683c62b31719710b2c";
const CONFIG: &str = "sha256:620dc057349bd148f7caac1b342eba5c6e227e6a2b44ea7d366278c947be213a";

/// Run skiff (with a private $TMPDIR) and expect a clean failure mentioning every `expect`.
#[track_caller]
fn assert_fails_cleanly(
    case: &Case,
    global: &[&str],
    src: &str,
    copy_opts: &[&str],
    expect: &[&str],
) -> Out {
    assert_fails_cleanly_with(case, global, src, copy_opts, expect, 1)
}

/// [`assert_fails_cleanly`] with the exit status skopeo gives (2: the image is not there).
#[track_caller]
fn assert_fails_cleanly_with(
    case: &Case,
    global: &[&str],
    src: &str,
    copy_opts: &[&str],
    expect: &[&str],
    code: i32,
) -> Out {
    let mut c = skiff();
    c.env("TMPDIR", &case.tmpdir);
    c.args(global)
        .arg("copy")
        .args(copy_opts)
        .arg(src)
        .arg(case.dest_name());
    let out = run(&mut c);
    if code == 2 {
        out.assert_not_found();
    } else {
        out.assert_error();
    }
    out.assert_stdout_empty();
    for e in expect {
        out.assert_stderr_contains(e);
    }
    case.assert_untouched(&out.cmdline);
    out
}

/// The same bad source against dir:, oci:, oci-archive:, each absent and pre-existing.
#[track_caller]
fn assert_fails_cleanly_everywhere(src: &str, expect: &[&str]) {
    for kind in KINDS {
        for state in [State::Absent, State::Existing] {
            let case = Case::new(kind, state);
            assert_fails_cleanly(&case, &["--insecure-policy"], src, &[], expect);
        }
    }
}

/// A private copy of examples/hello-oci to damage.
fn damaged_copy() -> (tempfile::TempDir, PathBuf) {
    let t = tempdir();
    let l = t.path().join("src");
    copy_tree(&example("hello-oci"), &l);
    (t, l)
}

fn src_name(layout: &Path) -> String {
    format!("oci:{}:latest", p(layout))
}

// ------------------------------------------------------------------------------------------
// Damaged sources
// ------------------------------------------------------------------------------------------

#[test]
fn layer_with_a_flipped_byte_is_rejected() {
    let (_t, l) = damaged_copy();
    let blob = oci_blob(&l, LAYER2);
    let mut b = fs::read(&blob).unwrap();
    b[20_000] ^= 0xff;
    fs::write(&blob, &b).unwrap();
    let actual = sha256_digest(&b);
    assert_fails_cleanly_everywhere(&src_name(&l), &[LAYER2, &actual]);
}

#[test]
fn truncated_layer_is_rejected() {
    let (_t, l) = damaged_copy();
    let blob = oci_blob(&l, LAYER2);
    let b = fs::read(&blob).unwrap();
    fs::write(&blob, &b[..16_000]).unwrap();
    assert_fails_cleanly_everywhere(&src_name(&l), &[LAYER2]);
}

#[test]
fn missing_layer_file_is_rejected() {
    let (_t, l) = damaged_copy();
    let blob = oci_blob(&l, LAYER2);
    fs::remove_file(&blob).unwrap();
    assert_fails_cleanly_everywhere(&src_name(&l), &[LAYER2, &p(&blob)]);
}

/// A layout's files are regular files inside it: a layer that is a symlink to a host file
/// is refused by name, before its bytes (or its size) are read, and so is a symlinked
/// index.json. skopeo follows such links.
#[test]
fn symlinked_files_in_a_layout_source_are_refused() {
    let (t, l) = damaged_copy();
    let host = t.path().join("host-secret");
    fs::write(&host, vec![b's'; 12_345]).unwrap();
    let blob = oci_blob(&l, LAYER2);
    fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink(&host, &blob).unwrap();
    let case = Case::new(Kind::Dir, State::Absent);
    let out = assert_fails_cleanly(
        &case,
        &["--insecure-policy"],
        &src_name(&l),
        &[],
        &[LAYER2, "is a symbolic link"],
    );
    out.assert_stderr_not_contains("12345");

    let (t, l) = damaged_copy();
    let index = t.path().join("index-elsewhere.json");
    fs::rename(l.join("index.json"), &index).unwrap();
    std::os::unix::fs::symlink(&index, l.join("index.json")).unwrap();
    let case = Case::new(Kind::Oci, State::Existing);
    assert_fails_cleanly(
        &case,
        &["--insecure-policy"],
        &src_name(&l),
        &[],
        &["index.json is a symbolic link"],
    );
}

#[test]
fn config_that_does_not_match_its_digest_is_rejected() {
    let (_t, l) = damaged_copy();
    let blob = oci_blob(&l, CONFIG);
    let b = fs::read_to_string(&blob).unwrap().replace("amd64", "arm64");
    fs::write(&blob, &b).unwrap();
    assert_fails_cleanly_everywhere(&src_name(&l), &[CONFIG, &sha256_digest(b.as_bytes())]);
}

#[test]
fn malformed_manifest_json_is_rejected() {
    let (_t, l) = damaged_copy();
    // A truncated manifest, correctly referenced by index.json (so only the JSON is wrong).
    let m =
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":"#;
    let d = sha256_digest(m);
    fs::write(oci_blob(&l, &d), m).unwrap();
    let mut idx = read_json(&l.join("index.json"));
    idx["manifests"][0]["digest"] = d.clone().into();
    idx["manifests"][0]["size"] = m.len().into();
    fs::write(l.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    for kind in KINDS {
        for state in [State::Absent, State::Existing] {
            let case = Case::new(kind, state);
            let out = assert_fails_cleanly(&case, &["--insecure-policy"], &src_name(&l), &[], &[]);
            out.assert_stderr_mentions_any(&["manifest"])
                .assert_stderr_mentions_any(&["json", "parsing"]);
        }
    }
}

/// skopeo 1.9.3 copies such an image (exit 0) though no runtime can unpack it; skiff refuses
/// before anything is written and names both counts.
#[test]
fn an_image_with_more_layers_than_diff_ids_is_refused() {
    let (_t, l) = damaged_copy();
    let mut config = read_json(&oci_blob(&l, CONFIG));
    let diff_ids = config["rootfs"]["diff_ids"].as_array_mut().unwrap();
    let layers = diff_ids.len();
    diff_ids.pop();
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = sha256_digest(&config);
    fs::write(oci_blob(&l, &config_digest), &config).unwrap();
    let mut manifest = read_json(&oci_blob(&l, HELLO_MANIFEST));
    manifest["config"]["digest"] = config_digest.into();
    manifest["config"]["size"] = config.len().into();
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = sha256_digest(&manifest);
    fs::write(oci_blob(&l, &manifest_digest), &manifest).unwrap();
    let mut idx = read_json(&l.join("index.json"));
    idx["manifests"][0]["digest"] = manifest_digest.into();
    idx["manifests"][0]["size"] = manifest.len().into();
    fs::write(l.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    let expected = format!(
        "it has {layers} layers but its config lists {} (rootfs.diff_ids)",
        layers - 1
    );
    assert_fails_cleanly_everywhere(&src_name(&l), &[&expected]);
}

/// Stricter than skopeo 1.9.3, which copies such a manifest without noticing: the manifest
/// bytes must match the digest index.json gives for them, or the copy would silently carry a
/// tampered manifest.
#[test]
fn manifest_that_does_not_match_its_index_digest_is_rejected() {
    let (_t, l) = damaged_copy();
    let blob = oci_blob(&l, HELLO_MANIFEST);
    let b = fs::read_to_string(&blob)
        .unwrap()
        .replace("skiff example image", "skiff evil image!!!");
    fs::write(&blob, &b).unwrap();
    assert_fails_cleanly_everywhere(&src_name(&l), &[HELLO_MANIFEST]);
}

#[test]
fn malformed_index_json_is_rejected() {
    let (_t, l) = damaged_copy();
    fs::write(l.join("index.json"), "{oops").unwrap();
    assert_fails_cleanly_everywhere(&src_name(&l), &[&p(&l.join("index.json"))]);
}

#[test]
fn index_json_pointing_to_a_missing_manifest_is_rejected() {
    let (_t, l) = damaged_copy();
    let missing = "sha256:0000bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66";
    let idx = fs::read_to_string(l.join("index.json"))
        .unwrap()
        .replace(HELLO_MANIFEST, missing);
    fs::write(l.join("index.json"), idx).unwrap();
    assert_fails_cleanly_everywhere(&src_name(&l), &[&missing["sha256:".len()..]]);
}

#[test]
fn missing_reference_is_rejected() {
    let (_t, l) = damaged_copy();
    let src = format!("oci:{}:nope", p(&l));
    for kind in KINDS {
        for state in [State::Absent, State::Existing] {
            let case = Case::new(kind, state);
            let expect = ["no descriptor found for reference \"nope\""];
            assert_fails_cleanly_with(&case, &["--insecure-policy"], &src, &[], &expect, 2);
        }
    }
}

#[test]
fn nonexistent_source_paths_are_rejected() {
    let t = tempdir();
    let missing = t.path().join("no-such-image");
    for src in [
        format!("oci:{}:latest", p(&missing)),
        format!("dir:{}", p(&missing)),
        format!("oci-archive:{}:latest", p(&missing)),
    ] {
        assert_fails_cleanly_everywhere(&src, &[&p(&missing)]);
    }
}

#[test]
fn garbage_oci_archive_source_is_rejected() {
    let t = tempdir();
    let bad = t.path().join("bad.tar");
    fs::write(&bad, b"this is not a tar archive at all").unwrap();
    assert_fails_cleanly_everywhere(&format!("oci-archive:{}:latest", p(&bad)), &[&p(&bad)]);
}

#[test]
fn dir_source_with_corrupt_layer_is_rejected() {
    let t = tempdir();
    let d = t.path().join("src");
    skopeo_copy(["-q", &example_ref("hello-oci"), &format!("dir:{}", p(&d))]).assert_success();
    let blob = dir_blob(&d, LAYER2);
    let mut b = fs::read(&blob).unwrap();
    b[100] ^= 1;
    fs::write(&blob, &b).unwrap();
    assert_fails_cleanly_everywhere(&format!("dir:{}", p(&d)), &[LAYER2]);
}

/// The bad layer is last and big: the good layers before it have already been written when it
/// fails, so this checks that they are rolled back.
#[test]
fn corrupt_last_layer_after_good_ones_leaves_nothing_behind() {
    let t = tempdir();
    let l = t.path().join("src");
    let img = build_oci_image(
        &l,
        "latest",
        &[
            layer(200_000, Comp::Gzip),
            layer(100_000, Comp::None),
            layer(300_000, Comp::Gzip),
        ],
        7,
    );
    let bad = img.layer_digests.last().unwrap();
    let blob = oci_blob(&l, bad);
    let mut b = fs::read(&blob).unwrap();
    let n = b.len();
    b[n - 100] ^= 0x55;
    fs::write(&blob, &b).unwrap();
    assert_fails_cleanly_everywhere(&img.oci_ref(), &[bad]);
}

// ------------------------------------------------------------------------------------------
// Policy
// ------------------------------------------------------------------------------------------

#[test]
fn reject_policy_fails_before_touching_the_destination() {
    let t = tempdir();
    let pol = t.path().join("reject.json");
    fs::write(&pol, r#"{"default":[{"type":"reject"}]}"#).unwrap();
    for kind in KINDS {
        for state in [State::Absent, State::Existing] {
            let case = Case::new(kind, state);
            let out = assert_fails_cleanly(
                &case,
                &["--policy", &p(&pol)],
                &example_ref("hello-oci"),
                &[],
                &["Source image rejected", "rejected by policy"],
            );
            out.assert_stderr_not_contains("Copying blob");
        }
    }
}

/// `signedBy` with an unreadable key: an unsigned image fails like skopeo ("A signature was
/// required, but no signature exists"), a signed one because the key cannot be read (the
/// keys are read only to check a signature); never copied. (tests/signing.rs has the rest.)
#[test]
fn signed_by_policy_never_copies() {
    let t = tempdir();
    let pol = t.path().join("signed.json");
    fs::write(
        &pol,
        r#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/nonexistent/key.gpg"}]}"#,
    )
    .unwrap();
    for kind in KINDS {
        for state in [State::Absent, State::Existing] {
            let case = Case::new(kind, state);
            let out = assert_fails_cleanly(
                &case,
                &["--policy", &p(&pol)],
                &example_ref("hello-oci"),
                &[],
                &["Source image rejected"],
            );
            // The example image has no signatures: rejected as skopeo rejects it.
            out.assert_stderr_contains("A signature was required, but no signature exists");
            out.assert_stderr_not_contains("Copying blob");
        }
    }
    // A dir: image that carries a signature: the key is read to check it, and cannot be.
    let signed = t.path().join("signed-src");
    skopeo_copy([
        "-q",
        &example_ref("hello-oci"),
        &format!("dir:{}", p(&signed)),
    ])
    .assert_success();
    fs::write(
        signed.join("signature-1"),
        b"\xa3\x01\x02 not a real signature",
    )
    .unwrap();
    for kind in KINDS {
        let case = Case::new(kind, State::Absent);
        assert_fails_cleanly(
            &case,
            &["--policy", &p(&pol)],
            &format!("dir:{}", p(&signed)),
            &[],
            &["Source image rejected: open /nonexistent/key.gpg: no such file or directory"],
        );
    }
}

#[test]
fn other_unverifiable_policy_requirements_never_copy() {
    let t = tempdir();
    for (name, req) in [
        (
            "sigstoreSigned",
            r#"{"type":"sigstoreSigned","keyPath":"/nonexistent/cosign.pub"}"#,
        ),
        (
            "signedBaseLayer",
            r#"{"type":"signedBaseLayer","baseLayerIdentity":{"type":"matchRepository"}}"#,
        ),
    ] {
        let pol = t.path().join(format!("{name}.json"));
        fs::write(&pol, format!(r#"{{"default":[{req}]}}"#)).unwrap();
        let case = Case::new(Kind::Dir, State::Absent);
        let mut c = skiff();
        c.args([
            "--policy",
            &p(&pol),
            "copy",
            &example_ref("hello-oci"),
            &case.dest_name(),
        ]);
        let out = run(&mut c);
        out.assert_error();
        case.assert_untouched(&format!("{name} policy"));
    }
}

// ------------------------------------------------------------------------------------------
// Destinations that must not be overwritten
// ------------------------------------------------------------------------------------------

#[test]
fn dir_destination_that_is_not_an_image_is_refused() {
    let t = tempdir();
    let dest = t.path().join("important");
    fs::create_dir_all(dest.join("sub")).unwrap();
    fs::write(dest.join("notes.txt"), "my important data\n").unwrap();
    fs::write(dest.join("sub/more.bin"), pseudo_random(1, 5000)).unwrap();
    let before = snapshot(&dest);
    let parent_before = list_dir(t.path());
    let out = skiff_copy([example_ref("hello-oci"), format!("dir:{}", p(&dest))]);
    out.assert_error()
        .assert_stderr_contains(&p(&dest))
        .assert_stderr_contains("not a containers image directory");
    before.assert_unchanged("dir: destination that is not an image");
    assert_eq!(
        list_dir(t.path()),
        parent_before,
        "leftovers beside the refused destination"
    );
    // skopeo refuses too.
    skopeo_copy([example_ref("hello-oci"), format!("dir:{}", p(&dest))])
        .assert_exit1()
        .assert_stderr_contains("not a containers image directory");
}

#[test]
fn dir_destination_that_is_a_file_is_refused() {
    let t = tempdir();
    let dest = t.path().join("file");
    fs::write(&dest, "a plain file").unwrap();
    let before = snapshot(&dest);
    let out = skiff_copy([example_ref("hello-oci"), format!("dir:{}", p(&dest))]);
    out.assert_error().assert_stderr_contains(&p(&dest));
    before.assert_unchanged("dir: destination that is a file");
    assert_eq!(list_dir(t.path()), vec!["file".to_string()]);
}

#[test]
fn existing_dir_image_is_replaced_by_a_good_copy() {
    // The other half of atomic replacement: a successful copy over an existing dir: image
    // leaves exactly the new image (no stale blobs from the old one), as skopeo does.
    let t = tempdir();
    let case = Case::new(Kind::Dir, State::Existing);
    skiff_copy(["-q", &example_ref("hello-oci"), &case.dest_name()]).assert_success();
    let fresh = t.path().join("fresh");
    skopeo_copy([
        "-q",
        &example_ref("hello-oci"),
        &format!("dir:{}", p(&fresh)),
    ])
    .assert_success();
    assert_same_tree(&case.dest, &fresh, "dir: image replaced by skiff");
    assert_eq!(
        list_dir(&case.parent),
        vec!["dest".to_string()],
        "leftovers beside the dir: destination"
    );
}

// ------------------------------------------------------------------------------------------
// Files already at the destination are checked before they are reused
// ------------------------------------------------------------------------------------------

/// Flips a byte in the middle of a file, keeping its size (a name-and-size check passes).
fn tamper(path: &Path) {
    let mut b = fs::read(path).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x20;
    fs::write(path, &b).unwrap();
}

/// An `oci:` layout whose blob files (a layer, the config, the manifest) were changed after
/// they were written: copying the same image to another tag must not reuse them by name.
/// Each is written anew, so both tags read back correctly; a blob that is a symlink is
/// replaced by a file, never written through.
#[test]
fn tampered_blobs_in_an_oci_layout_are_not_reused() {
    let t = tempdir();
    let layout = t.path().join("layout");
    let dest = |tag: &str| format!("oci:{}:{tag}", p(&layout));
    skiff_copy(["-q", &example_ref("hello-oci"), &dest("a")]).assert_success();
    let image = load_oci(&layout, Some("a"));
    let layer = image.manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let config = image.manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    tamper(&oci_blob(&layout, &layer));
    tamper(&oci_blob(&layout, &config));
    tamper(&oci_blob(&layout, HELLO_MANIFEST));
    // A second layer file replaced by a symlink to a file outside the layout.
    let outside = t.path().join("precious");
    fs::write(&outside, b"not a blob").unwrap();
    let second = image.manifest["layers"][1]["digest"]
        .as_str()
        .expect("hello-oci has a second layer")
        .to_string();
    fs::remove_file(oci_blob(&layout, &second)).unwrap();
    std::os::unix::fs::symlink(&outside, oci_blob(&layout, &second)).unwrap();
    let out = skiff_copy([&example_ref("hello-oci"), &dest("b")]);
    out.assert_success();
    for tampered in [&layer, &config, &second] {
        assert!(
            !out.stderr.contains(&format!("{tampered} skipped")),
            "tampered blob {tampered} was reused: {out}"
        );
    }
    for tag in ["a", "b"] {
        load_oci(&layout, Some(tag)).assert_consistent(&format!("tag {tag} after the re-copy"));
        skopeo_inspect_config(&dest(tag));
    }
    // Every blob file (the manifest's too) holds the content its name says.
    for name in list_dir(&layout.join("blobs/sha256")) {
        let path = layout.join("blobs/sha256").join(&name);
        assert_eq!(
            sha256_file(&path),
            format!("sha256:{name}"),
            "blob file {name}"
        );
    }
    assert_eq!(
        fs::read(&outside).unwrap(),
        b"not a blob",
        "written through a symlink"
    );
    assert!(
        !fs::symlink_metadata(oci_blob(&layout, &second))
            .unwrap()
            .is_symlink()
    );
    // Untouched blobs are reused, once checked.
    skiff_copy([&example_ref("hello-oci"), &dest("c")])
        .assert_success()
        .assert_stderr_contains("skipped: already exists");
}

/// `dir:` replacing an image links the old image's blobs into the new one only when their
/// content checks out: a tampered layer is copied again.
#[test]
fn a_tampered_blob_of_a_replaced_dir_image_is_not_linked() {
    let t = tempdir();
    let dir = t.path().join("img");
    let dest = format!("dir:{}", p(&dir));
    skiff_copy(["-q", &example_ref("hello-oci"), &dest]).assert_success();
    let image = load_dir(&dir);
    let layer = image.manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    tamper(&dir_blob(&dir, &layer));
    skiff_copy(["-q", &example_ref("hello-oci"), &dest]).assert_success();
    load_dir(&dir).assert_consistent("dir: image after the re-copy");
    assert_skopeo_sees_diff_ids(&dest, &image.diff_ids());
}

/// An `oci-archive:` destination that is a symlink is followed, as skopeo 1.9.3 follows it
/// (containers/image resolves the path first): the link stays, its target gets the
/// archive. A dangling link fails, as in skopeo.
#[test]
fn an_oci_archive_destination_symlink_is_followed_as_skopeo_does() {
    let t = tempdir();
    for tool in ["skiff", "skopeo"] {
        let dir = t.path().join(tool);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("real.tar"), b"old contents").unwrap();
        std::os::unix::fs::symlink("real.tar", dir.join("link.tar")).unwrap();
        let dest = format!("oci-archive:{}:latest", p(&dir.join("link.tar")));
        let args = ["-q", &example_ref("hello-oci"), &dest];
        match tool {
            "skiff" => skiff_copy(args),
            _ => skopeo_copy(args),
        }
        .assert_success();
        assert!(
            fs::symlink_metadata(dir.join("link.tar"))
                .unwrap()
                .is_symlink(),
            "{tool}"
        );
        assert!(
            fs::read(dir.join("real.tar")).unwrap().len() > 1024,
            "{tool}"
        );
        assert_eq!(list_dir(&dir), vec!["link.tar", "real.tar"], "{tool}");
        skopeo_inspect_config(&dest);
        fs::remove_file(dir.join("real.tar")).unwrap();
        let out = match tool {
            "skiff" => skiff_copy(args),
            _ => skopeo_copy(args),
        };
        assert_eq!(out.code, Some(1), "{tool}: a dangling link: {out}");
        assert_eq!(list_dir(&dir), vec!["link.tar"], "{tool}: dangling link");
    }
}
