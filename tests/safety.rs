//! Bad input must fail with exit code 1, a message that names what is wrong and where, and a
//! destination exactly as it was: still absent (and no temporary leftovers beside it), or
//! byte-for-byte the image that was there before. Also: SIGKILL in the middle of a copy.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;

const LAYER2: &str = "sha256:23885e8869c556a5757edc5b03708d547cf34edb7ba233683c62b31719710b2c";
const CONFIG: &str = "sha256:620dc057349bd148f7caac1b342eba5c6e227e6a2b44ea7d366278c947be213a";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    Oci,
    OciArchive,
}

const KINDS: [Kind; 3] = [Kind::Dir, Kind::Oci, Kind::OciArchive];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Absent,
    Existing,
}

/// A destination in its own parent directory, with what it looked like before the copy.
struct Case {
    _tmp: tempfile::TempDir,
    kind: Kind,
    state: State,
    parent: PathBuf,
    dest: PathBuf,
    /// Private $TMPDIR for skiff (oci-archive unpacks there); must be empty after a failure.
    tmpdir: PathBuf,
    before: Snapshot,
    parent_before: Vec<String>,
}

impl Case {
    fn new(kind: Kind, state: State) -> Case {
        let tmp = tempdir();
        let parent = tmp.path().join("parent");
        let tmpdir = tmp.path().join("tmpdir");
        fs::create_dir_all(&parent).unwrap();
        fs::create_dir_all(&tmpdir).unwrap();
        let dest = match kind {
            Kind::OciArchive => parent.join("dest.tar"),
            _ => parent.join("dest"),
        };
        if state == State::Existing {
            write_other_image(kind, &dest, tmp.path());
        }
        let before = snapshot(&dest);
        assert_eq!(before.absent, state == State::Absent);
        let parent_before = list_dir(&parent);
        Case {
            _tmp: tmp,
            kind,
            state,
            parent,
            dest,
            tmpdir,
            before,
            parent_before,
        }
    }

    fn dest_name(&self) -> String {
        match self.kind {
            Kind::Dir => format!("dir:{}", p(&self.dest)),
            Kind::Oci => format!("oci:{}:latest", p(&self.dest)),
            Kind::OciArchive => format!("oci-archive:{}:latest", p(&self.dest)),
        }
    }

    fn label(&self) -> String {
        format!("{:?} destination, {:?}", self.kind, self.state)
    }

    /// The destination and its parent are exactly as before; skiff's $TMPDIR is empty.
    #[track_caller]
    fn assert_untouched(&self, context: &str) {
        let ctx = format!("{context} [{}]", self.label());
        self.before.assert_unchanged(&ctx);
        assert_eq!(
            list_dir(&self.parent),
            self.parent_before,
            "{ctx}: the destination's parent directory gained or lost entries (temporary leftovers?)"
        );
        assert_eq!(
            list_dir(&self.tmpdir),
            Vec::<String>::new(),
            "{ctx}: leftovers in $TMPDIR"
        );
    }
}

/// A small, different image (2 gzip layers) in the form `kind` needs, at `dest`.
fn write_other_image(kind: Kind, dest: &Path, scratch: &Path) {
    let layout = scratch.join("other-layout");
    let img = build_oci_image(
        &layout,
        "latest",
        &[layer(3000, Comp::Gzip), layer(2000, Comp::Gzip)],
        42,
    );
    match kind {
        Kind::Oci => copy_tree(&layout, dest),
        Kind::Dir => {
            fs::create_dir_all(dest).unwrap();
            let l = load_oci(&layout, Some("latest"));
            fs::write(dest.join("manifest.json"), &l.manifest_bytes).unwrap();
            fs::copy(
                oci_blob(&layout, &img.config_digest),
                dir_blob(dest, &img.config_digest),
            )
            .unwrap();
            for d in &img.layer_digests {
                fs::copy(oci_blob(&layout, d), dir_blob(dest, d)).unwrap();
            }
            fs::write(dest.join("version"), "Directory Transport Version: 1.1\n").unwrap();
        }
        Kind::OciArchive => {
            let f = fs::File::create(dest).unwrap();
            let mut b = tar::Builder::new(f);
            b.append_dir_all(".", &layout).unwrap();
            b.finish().unwrap();
        }
    }
}

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
        .map(str::to_string);
    if let Some(second) = &second {
        fs::remove_file(oci_blob(&layout, second)).unwrap();
        std::os::unix::fs::symlink(&outside, oci_blob(&layout, second)).unwrap();
    }
    let out = skiff_copy([&example_ref("hello-oci"), &dest("b")]);
    out.assert_success();
    for tampered in [Some(&layer), Some(&config), second.as_ref()]
        .into_iter()
        .flatten()
    {
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
    if let Some(second) = &second {
        assert!(
            !fs::symlink_metadata(oci_blob(&layout, second))
                .unwrap()
                .is_symlink()
        );
    }
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

// ------------------------------------------------------------------------------------------
// SIGKILL in the middle of a copy
// ------------------------------------------------------------------------------------------

/// ~40 MB of uncompressed layers, so that recompressing them takes a while.
fn big_image(dir: &Path) -> BuiltImage {
    let mb = 1 << 20;
    build_oci_image(
        dir,
        "latest",
        &[
            layer(10 * mb, Comp::None),
            layer(10 * mb, Comp::None),
            layer(10 * mb, Comp::None),
            layer(10 * mb, Comp::None),
        ],
        2024,
    )
}

/// Start the copy, wait for the first "Copying blob" line plus `delay`, SIGKILL it.
/// Returns skiff's stderr lines.
fn kill_mid_copy(case: &Case, src: &str, opts: &[&str], delay: Duration) -> Vec<String> {
    let mut c = skiff();
    c.env("TMPDIR", &case.tmpdir);
    c.args(["--insecure-policy", "copy"])
        .args(opts)
        .arg(src)
        .arg(case.dest_name());
    let started = Instant::now();
    let (mut child, seen, reader) = spawn_until_stderr_line(c, "Copying blob");
    assert!(
        seen.iter().any(|l| l.contains("Copying blob")),
        "skiff never started copying a blob: {seen:?} (exit: {:?})",
        child.try_wait()
    );
    std::thread::sleep(delay);
    if let Some(status) = child.try_wait().unwrap() {
        let rest = reader.unwrap().join().unwrap();
        panic!(
            "the copy finished ({status}) after {:?}, before it could be killed; make the image bigger. stderr: {rest:?}",
            started.elapsed()
        );
    }
    child.kill().expect("SIGKILL skiff"); // Child::kill sends SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "skiff was not killed by SIGKILL"
    );
    let mut all = reader.unwrap().join().unwrap();
    all.push(format!("(killed after {:?})", started.elapsed()));
    all
}

/// Entries that may legitimately remain after SIGKILL: hidden skiff temporaries (`.…skiff…`,
/// anywhere) and, inside an OCI layout, complete content-addressed blobs that nothing
/// references yet. Everything is printed so it shows up with --nocapture.
fn allowed_after_kill(case: &Case, rel: &str, entry: &Entry) -> bool {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    if rel
        .split('/')
        .any(|c| c.starts_with('.') && c.contains("skiff"))
    {
        eprintln!(
            "[{}] after SIGKILL: temporary leftover {rel} ({entry:?})",
            case.label()
        );
        return true;
    }
    if let Entry::File { sha256, .. } = entry
        && case.kind == Kind::Oci
        && rel.starts_with("blobs/sha256/")
        && sha256 == &format!("sha256:{base}")
    {
        eprintln!(
            "[{}] after SIGKILL: complete unreferenced blob {rel}",
            case.label()
        );
        return true;
    }
    false
}

/// After SIGKILL: every original entry is unchanged, and anything new is allowed_after_kill.
#[track_caller]
fn assert_as_before_after_kill(case: &Case, stderr: &[String]) {
    let ctx = format!(
        "SIGKILL during copy [{}], skiff stderr: {stderr:#?}",
        case.label()
    );
    let now = snapshot(&case.dest);
    assert_eq!(
        now.absent, case.before.absent,
        "{ctx}: destination appeared or vanished"
    );
    for (k, v) in &case.before.entries {
        assert_eq!(
            now.entries.get(k),
            Some(v),
            "{ctx}: {k} changed or vanished"
        );
    }
    for (k, v) in &now.entries {
        if !case.before.entries.contains_key(k) {
            assert!(
                allowed_after_kill(case, k, v),
                "{ctx}: new entry {k} ({v:?}) in the destination"
            );
        }
    }
    for name in list_dir(&case.parent) {
        if !case.parent_before.contains(&name) {
            assert!(
                allowed_after_kill(case, &name, &Entry::Dir),
                "{ctx}: new entry {name} beside the destination"
            );
        }
    }
    for name in list_dir(&case.tmpdir) {
        eprintln!(
            "[{}] after SIGKILL: leftover in $TMPDIR: {name}",
            case.label()
        );
        // Scratch space in a --tmpdir others may share is private to the user.
        let mode = fs::symlink_metadata(case.tmpdir.join(&name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{ctx}: {name} in $TMPDIR is mode {mode:o}");
    }
}

/// Kill, check, then copy again without interruption: it must succeed (no stale lock or
/// temporary file gets in the way) and give a consistent image.
fn kill_test(kind: Kind, state: State, opts: &[&str]) {
    let t = tempdir();
    let img = big_image(&t.path().join("big"));
    let case = Case::new(kind, state);
    let stderr = kill_mid_copy(&case, &img.oci_ref(), opts, Duration::from_millis(50));
    assert_as_before_after_kill(&case, &stderr);

    // What the killed copy left is swept once it is older than the sweep's threshold.
    for root in [&case.parent, &case.tmpdir] {
        age_skiff_leftovers(root);
    }
    let mut c = skiff();
    c.env("TMPDIR", &case.tmpdir);
    c.args(["--insecure-policy", "copy", "-q"])
        .args(opts)
        .arg(img.oci_ref())
        .arg(case.dest_name());
    run(&mut c).assert_success();
    let left: Vec<String> = snapshot(&case.dest)
        .entries
        .keys()
        .chain(list_dir(&case.parent).iter())
        .filter(|k| {
            k.split('/')
                .any(|c| c.starts_with('.') && c.contains("skiff"))
        })
        .cloned()
        .collect();
    // The retry swept what the killed process left behind.
    assert!(
        left.is_empty(),
        "[{}] leftovers of the killed copy survived a successful retry: {left:?}",
        case.label()
    );
    let in_tmpdir = list_dir(&case.tmpdir);
    assert!(
        in_tmpdir.is_empty(),
        "[{}] leftovers in $TMPDIR after the retry: {in_tmpdir:?}",
        case.label()
    );
    let loaded = match kind {
        Kind::Dir => load_dir(&case.dest),
        Kind::Oci => load_oci(&case.dest, Some("latest")),
        Kind::OciArchive => {
            let x = t.path().join("x");
            extract_tar(&case.dest, &x);
            load_oci(&x, Some("latest"))
        }
    };
    loaded.assert_consistent("copy after the killed one");
    assert_eq!(loaded.diff_ids(), img.diff_ids);
    assert_skopeo_sees_diff_ids(&case.dest_name(), &img.diff_ids);
}

#[test]
fn sigkill_during_copy_to_new_dir_leaves_no_destination() {
    kill_test(Kind::Dir, State::Absent, &["--dest-compress"]);
}

#[test]
fn sigkill_during_copy_into_existing_oci_layout_keeps_it_intact() {
    kill_test(Kind::Oci, State::Existing, &[]);
}

#[test]
fn sigkill_during_copy_to_oci_archive_leaves_no_archive() {
    kill_test(Kind::OciArchive, State::Absent, &[]);
}

#[test]
fn sigkill_during_copy_over_existing_oci_archive_keeps_it_intact() {
    kill_test(Kind::OciArchive, State::Existing, &[]);
}

#[test]
fn sigkill_during_copy_over_existing_dir_keeps_it_intact() {
    kill_test(Kind::Dir, State::Existing, &["--dest-compress"]);
}

/// The sweep of a killed copy's leftovers trusts locks, not PIDs. A staging directory whose
/// recorded PID is not alive here, but whose lock a live process holds (a copy in another
/// PID namespace, or on another NFS host, sharing the directory), survives a copy beside
/// it; once that process is gone, the next copy sweeps it.
#[test]
fn a_temporary_locked_by_a_live_process_is_not_swept() {
    let t = tempdir();
    let dest = t.path().join("img");
    // PID 2147483632 is above Linux's pid_max: never alive here.
    let busy = t.path().join(".img.skiff-stage-2147483632-Ab12Cd");
    fs::create_dir_all(&busy).unwrap();
    fs::write(busy.join("partial-blob"), b"being written elsewhere").unwrap();
    age_skiff_leftovers(t.path());
    // One process that takes the lock and keeps it until it is killed (flock(1) from
    // util-linux on an inherited descriptor, then sleep in its place).
    let mut holder = std::process::Command::new("sh")
        .args(["-c", "exec 9<\"$1\" && flock 9 && exec sleep 120", "sh"])
        .arg(&busy)
        .spawn()
        .unwrap();
    // Wait until flock(1) holds the lock (a second open file description cannot take it).
    let probe = fs::File::open(&busy).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe.try_lock().is_ok() {
        probe.unlock().unwrap();
        assert!(Instant::now() < deadline, "flock(1) never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    let copy = || {
        skiff_copy([
            "-q",
            &example_ref("hello-oci"),
            &format!("dir:{}", p(&dest)),
        ])
    };
    copy().assert_success();
    assert!(
        busy.join("partial-blob").exists(),
        "a live process's temporary was swept because its PID is not alive here"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    copy().assert_success();
    assert!(!busy.exists(), "an abandoned temporary was not swept");
}

// ------------------------------------------------------------------------------------------
// Existing OCI layouts shared by several images
// ------------------------------------------------------------------------------------------

/// A failed copy into a layout takes back only the blobs it added. Here the second copy
/// compresses its first layer to exactly the blob the first image already uses (gzip output
/// depends only on the input), then fails on a corrupt second layer: the shared blob stays.
#[test]
fn a_failed_copy_keeps_blobs_other_images_in_the_layout_use() {
    let t = tempdir();
    let src = t.path().join("src");
    let img = build_oci_image(
        &src,
        "latest",
        &[layer(20_000, Comp::None), layer(3_000_000, Comp::None)],
        11,
    );
    let layout = t.path().join("layout");
    skiff_copy(["-q", &img.oci_ref(), &format!("oci:{}:a", p(&layout))]).assert_success();
    let before = snapshot(&layout);

    let bad = t.path().join("bad");
    copy_tree(&src, &bad);
    let blob = oci_blob(&bad, &img.layer_digests[1]);
    let mut b = fs::read(&blob).unwrap();
    let n = b.len();
    b[n - 1000] ^= 0x55;
    fs::write(&blob, &b).unwrap();
    skiff_copy([
        "-q",
        &format!("oci:{}:latest", p(&bad)),
        &format!("oci:{}:b", p(&layout)),
    ])
    .assert_exit1()
    .assert_stderr_contains(&img.layer_digests[1]);
    before.assert_unchanged("failed copy into a shared layout");
    skopeo_copy([
        &format!("oci:{}:a", p(&layout)),
        &format!("dir:{}", p(&t.path().join("d"))),
    ])
    .assert_success();
}

/// When the commit itself fails (the layout's index.json cannot be parsed), the blobs the
/// copy added are taken back too.
#[test]
fn a_failed_commit_into_an_existing_layout_takes_its_blobs_back() {
    let t = tempdir();
    let layout = t.path().join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(layout.join("index.json"), b"{ not json").unwrap();
    let before = snapshot(&layout);
    skiff_copy([
        "-q",
        &example_ref("hello-oci"),
        &format!("oci:{}:x", p(&layout)),
    ])
    .assert_exit1()
    .assert_stderr_contains("index.json");
    before.assert_unchanged("failed commit");
}

/// A `dir:` copy of the example image, to add signature files to.
fn dir_image() -> (tempfile::TempDir, PathBuf) {
    let t = tempdir();
    let d = t.path().join("img");
    skiff_copy([example_ref("hello-oci"), format!("dir:{}", p(&d))]).assert_success();
    (t, d)
}

#[test]
fn signatures_are_read_within_bounds() {
    // Hard links to one 4 MiB file: 5 of them are over the 16 MiB total.
    let (t, d) = dir_image();
    let big = t.path().join("big-signature");
    let mut bytes = vec![0xa3u8; 4 << 20];
    bytes[1] = 1;
    fs::write(&big, &bytes).unwrap();
    for i in 1..=5 {
        fs::hard_link(&big, d.join(format!("signature-{i}"))).unwrap();
    }
    let out = skiff_copy([
        format!("dir:{}", p(&d)),
        format!("dir:{}", p(&t.path().join("out"))),
    ]);
    out.assert_exit1()
        .assert_stderr_contains("signatures of one image total more than 16777216 bytes");
    assert!(!t.path().join("out").exists());

    // Too many small ones.
    let (t, d) = dir_image();
    for i in 1..=129 {
        fs::write(d.join(format!("signature-{i}")), [0xa3, 1, 2]).unwrap();
    }
    let out = skiff_copy([
        format!("dir:{}", p(&d)),
        format!("dir:{}", p(&t.path().join("out"))),
    ]);
    out.assert_exit1()
        .assert_stderr_contains("more than 128 signatures for one image");
}

#[test]
fn removed_signatures_are_not_read() {
    let (t, d) = dir_image();
    // Not a signature in any format skiff or skopeo reads.
    fs::write(d.join("signature-1"), b"\0garbage\n").unwrap();
    let dest = |name: &str| format!("dir:{}", p(&t.path().join(name)));
    let src = format!("dir:{}", p(&d));
    skiff_copy([src.clone(), dest("kept")])
        .assert_exit1()
        .assert_stderr_contains("parsing signature");
    skiff_copy(["--remove-signatures".to_string(), src, dest("removed")]).assert_success();
    assert!(!t.path().join("removed/signature-1").exists());
}

// ------------------------------------------------------------------------------------------
// A gzip bomb under --dest-decompress
// ------------------------------------------------------------------------------------------

/// An OCI layout at `dir` whose one layer is a gzip bomb: a tar holding `len` zero bytes,
/// a few hundred KB compressed. Returns `oci:DIR:bomb`.
fn gzip_bomb_layout(dir: &Path, len: u64) -> String {
    use flate2::write::GzEncoder;
    use sha2::Digest as _;
    use std::io::Write;
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut diff_id = sha2::Sha256::new();
    let mut put = |data: &[u8]| {
        diff_id.update(data);
        gz.write_all(data).unwrap();
    };
    let mut h = tar::Header::new_ustar();
    h.set_path("zeros").unwrap();
    h.set_size(len);
    h.set_mode(0o644);
    h.set_cksum();
    put(h.as_bytes());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..len.div_ceil(1 << 20) {
        put(&zeros);
    }
    put(&[0u8; 1024]);
    let layer = gz.finish().unwrap();
    let diff_id = format!("sha256:{}", hex_of(&diff_id.finalize()));

    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put_blob = |data: &[u8]| {
        let d = sha256_digest(data);
        fs::write(oci_blob(dir, &d), data).unwrap();
        (d, data.len())
    };
    let (layer_digest, layer_size) = put_blob(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let (config_digest, config_size) = put_blob(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": layer_size}],
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = put_blob(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size,
                       "annotations": {"org.opencontainers.image.ref.name": "bomb"}}],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    format!("oci:{}:bomb", dir.display())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `skiff --insecure-policy copy ARGS...` with `$1` a fresh 64 MiB tmpfs in a private
/// mount namespace (`$1` in ARGS, with an empty `$1/tmp`), and checks that the copy stopped
/// at the filesystem's reserve, left nothing in it, and peaked under 100 MB of memory
/// (skiff's included: `unshare` waits for the shell, which waits for skiff).
fn copy_stops_at_the_reserve_of_a_small_filesystem(dir: &Path, args: &[&str]) -> Out {
    let small = dir.join("small");
    fs::create_dir(&small).unwrap();
    let script = r#"mount -t tmpfs -o size=64m skiff-test "$1" || exit 99
mkdir "$1/tmp"
m="$1"; skiff="$2"; shift 2
"$skiff" --insecure-policy copy "$@"
rc=$?
stat -f -c '%a %S' "$m"
ls -A "$m" "$m/tmp"
exit $rc"#;
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("$1", &small.display().to_string()))
        .collect();
    let (out, peak_kib) = run_peak_rss(
        std::process::Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--mount",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(&small)
            .arg(skiff_bin())
            .args(&args)
            .env("HOME", empty_home())
            .current_dir(dir),
    );
    assert_ne!(
        out.code,
        Some(99),
        "cannot mount a tmpfs in a user namespace: {out}"
    );
    let mut lines = out.stdout.lines();
    let (blocks, size) = lines.next().unwrap().split_once(' ').unwrap();
    let free = blocks.parse::<u64>().unwrap() * size.parse::<u64>().unwrap();
    let left: Vec<String> = lines.map(str::to_string).collect();
    stopped_at_the_reserve(&out);
    assert!(
        free > 60 << 20,
        "{free} bytes free after the copy failed\n{out}"
    );
    let small = p(&small);
    let clean = [
        format!("{small}:"),
        "tmp".into(),
        "".into(),
        format!("{small}/tmp:"),
    ];
    assert_eq!(left, clean, "left behind in the filesystem\n{out}");
    assert!(peak_kib < 100 * 1024, "peak RSS {peak_kib} KiB\n{out}");
    out
}

/// The reserve of the 64 MiB test filesystem (5%), and the free bytes the error reports.
fn stopped_at_the_reserve(out: &Out) -> u64 {
    let reserve = (64u64 << 20) / 20;
    let needle = format!("its filesystem would have less than {reserve} bytes (");
    out.assert_exit1().assert_stderr_contains(&needle);
    let after = &out.stderr[out.stderr.find(&needle).unwrap() + needle.len()..];
    let available: u64 = after.split(' ').next().unwrap().parse().unwrap();
    assert!(
        available >= reserve,
        "stopped with {available} bytes free\n{out}"
    );
    available
}

/// 256 MiB of zeros (260 KB gzipped) decompressed into a 64 MiB filesystem: skiff stops
/// before the filesystem's reserve (5% of it), says how far it got, leaves nothing behind,
/// and streams in flat memory.
#[test]
fn a_gzip_bomb_under_dest_decompress_stops_at_the_disk_reserve() {
    let t = tempdir();
    let src = gzip_bomb_layout(&t.path().join("bomb"), 256 << 20);
    copy_stops_at_the_reserve_of_a_small_filesystem(
        t.path(),
        &["--dest-decompress", &src, "dir:$1/out"],
    );
}

/// A gzipped docker-archive whose tar holds 256 MiB of zeros: decompressing it into
/// --tmpdir (a 64 MiB filesystem) stops at the reserve, and the spool is removed.
#[test]
fn a_compressed_archive_bomb_stops_at_the_tmpdir_reserve() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let t = tempdir();
    let bomb = t.path().join("bomb.tar.gz");
    let mut gz = GzEncoder::new(
        fs::File::create(&bomb).unwrap(),
        flate2::Compression::best(),
    );
    let entry = |gz: &mut GzEncoder<fs::File>, name: &str, size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        gz.write_all(h.as_bytes()).unwrap();
    };
    let manifest = br#"[{"Config":"c.json","RepoTags":["bomb:latest"],"Layers":["layer.tar"]}]"#;
    entry(&mut gz, "manifest.json", manifest.len() as u64);
    gz.write_all(manifest).unwrap();
    gz.write_all(&vec![0u8; 512 - manifest.len() % 512])
        .unwrap();
    entry(&mut gz, "layer.tar", 256 << 20);
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap();

    let src = format!("docker-archive:{}", p(&bomb));
    let out = copy_stops_at_the_reserve_of_a_small_filesystem(
        t.path(),
        &[
            "--tmpdir",
            "$1/tmp",
            &src,
            &format!("dir:{}", p(&t.path().join("out"))),
        ],
    );
    out.assert_stderr_contains("decompressing the gzip-compressed archive: stopped after writing");
}
