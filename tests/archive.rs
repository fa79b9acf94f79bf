//! docker-archive: against skopeo 1.9.3: what skiff writes has the files skopeo writes and
//! skopeo reads it; what skopeo (and Docker 25+) writes skiff reads; several images in one
//! archive; /dev/stdout; and every way a crafted archive can lie, refused with nothing written.

#[path = "support/craft.rs"]
mod craft;
mod support;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use craft::*;
use serde_json::{Value, json};
use support::*;

fn hello() -> String {
    example_ref("hello-oci")
}

fn da(path: &Path, sel: &str) -> String {
    if sel.is_empty() {
        format!("docker-archive:{}", p(path))
    } else {
        format!("docker-archive:{}:{sel}", p(path))
    }
}

/// skopeo's archive of the hello example, tagged hello:latest.
fn skopeo_archive(dir: &Path) -> PathBuf {
    let a = dir.join("skopeo.tar");
    skopeo_copy([hello(), da(&a, "hello:latest")]).assert_success();
    a
}

/// Copies `src` to a fresh dir: and expects failure mentioning `needle`, with nothing written.
fn refused(src: &str, needle: &str) {
    let t = tempdir();
    let dest = t.path().join("out");
    let out = skiff_copy([src.to_string(), format!("dir:{}", p(&dest))]);
    out.assert_exit1().assert_stderr_contains(needle);
    assert!(!dest.exists(), "{src}: destination written despite: {out}");
    assert!(skiff_temp_leftovers(t.path()).is_empty());
}

// ------------------------------------------------------------------------------------------
// Writing
// ------------------------------------------------------------------------------------------

#[test]
fn writes_what_skopeo_writes_and_skopeo_reads_it() {
    let t = tempdir();
    let ours = t.path().join("ours.tar");
    let theirs = t.path().join("theirs.tar");
    let tags = [
        "--additional-tag",
        "foo/bar:v2",
        "--additional-tag",
        "quay.io/x/y:z",
    ];
    let mut args: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
    args.extend([hello(), da(&ours, "hello:latest")]);
    skiff_copy(&args).assert_success();
    let mut args: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
    args.extend([hello(), da(&theirs, "hello:latest")]);
    skopeo_copy(&args).assert_success();
    assert_eq!(tar_contents(&ours), tar_contents(&theirs));
    // The same image always gives the same bytes.
    let again = t.path().join("again.tar");
    let mut args: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
    args.extend([hello(), da(&again, "hello:latest")]);
    skiff_copy(&args).assert_success();
    assert_eq!(sha256_file(&ours), sha256_file(&again));
    // skopeo reads skiff's archive, by each tag, into what it reads from its own.
    for sel in ["hello:latest", "foo/bar:v2", "quay.io/x/y:z", "@0", ""] {
        let a = t
            .path()
            .join(format!("a{}", sel.replace(['/', ':', '@'], "_")));
        let b = t
            .path()
            .join(format!("b{}", sel.replace(['/', ':', '@'], "_")));
        skopeo_copy([da(&ours, sel), format!("dir:{}", p(&a))]).assert_success();
        skopeo_copy([da(&theirs, sel), format!("dir:{}", p(&b))]).assert_success();
        assert_same_tree(&a, &b, sel);
    }
    assert!(skiff_temp_leftovers(t.path()).is_empty());
}

#[test]
fn compressed_layers_are_stored_plain() {
    let t = tempdir();
    let layout = t.path().join("layout");
    let img = build_oci_image(
        &layout,
        "v1",
        &[
            layer(200_000, Comp::Gzip),
            layer(100_000, Comp::Zstd),
            layer(50_000, Comp::None),
        ],
        7,
    );
    let ours = t.path().join("ours.tar");
    skiff_copy([img.oci_ref(), da(&ours, "img:v1")]).assert_success();
    let files = files_of(&ours);
    for d in &img.diff_ids {
        let name = format!("{}.tar", d.trim_start_matches("sha256:"));
        assert_eq!(sha256_digest(get(&files, &name)), *d, "layer {name}");
    }
    // And skopeo agrees on the image it holds.
    let a = t.path().join("a");
    let b = t.path().join("b");
    skiff_copy([da(&ours, ""), format!("dir:{}", p(&a))]).assert_success();
    skopeo_copy([da(&ours, ""), format!("dir:{}", p(&b))]).assert_success();
    assert_same_tree(&a, &b, "reading skiff's archive");
}

#[test]
fn dev_stdout_carries_only_the_archive() {
    let t = tempdir();
    let file = t.path().join("f.tar");
    skiff_copy([hello(), da(&file, "hello:latest")]).assert_success();
    let mut c = skiff();
    c.args([
        "--insecure-policy",
        "copy",
        &hello(),
        "docker-archive:/dev/stdout:hello:latest",
    ]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_digest(&out.stdout), sha256_file(&file));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Copying blob"));
    // Through a pipe into docker load's reader: here tar itself.
    let sh = format!(
        "{} --insecure-policy copy -q {} docker-archive:/dev/stdout | tar t | grep -c manifest.json",
        p(&skiff_bin()),
        hello()
    );
    let o = Command::new("sh").arg("-c").arg(&sh).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1");
}

#[test]
fn several_images_in_one_archive() {
    let t = tempdir();
    let a = t.path().join("multi.tar");
    let multi = format!("oci:{}", p(&example("multiarch-oci")));
    skiff_copy([hello(), da(&a, "hello:latest")]).assert_success();
    // A tag on an existing archive adds the image.
    skiff_copy(["--override-arch", "arm64", &multi, &da(&a, "multi:arm")]).assert_success();
    skiff_copy(["--override-arch", "amd64", &multi, &da(&a, "multi:amd")]).assert_success();
    let items: Value = serde_json::from_slice(&extract_member(&a, "manifest.json")).unwrap();
    assert_eq!(items.as_array().unwrap().len(), 3, "{items}");
    // Without a choice the error lists the choices.
    let out = skiff_copy([da(&a, ""), format!("dir:{}", p(&t.path().join("x")))]);
    out.assert_exit1()
        .assert_stderr_contains("@0 (docker.io/library/hello:latest)")
        .assert_stderr_contains("@2 (docker.io/library/multi:amd)");
    skiff_copy([da(&a, "nope:1"), format!("dir:{}", p(&t.path().join("x")))])
        .assert_exit1()
        .assert_stderr_contains("not found; the archive has: @0");
    // Each is readable by tag and by index, by skiff and skopeo alike.
    for sel in ["multi:arm", "@2"] {
        let ours = t.path().join(format!("o{sel}"));
        let theirs = t.path().join(format!("t{sel}"));
        skiff_copy([da(&a, sel), format!("dir:{}", p(&ours))]).assert_success();
        skopeo_copy([da(&a, sel), format!("dir:{}", p(&theirs))]).assert_success();
        assert_same_tree(&ours, &theirs, sel);
    }
    // Moving a tag to a new image drops the image left untagged, and its layers.
    let before = tar_contents(&a).len();
    skiff_copy(["--override-arch", "arm64", &multi, &da(&a, "multi:amd")]).assert_success();
    let items: Value = serde_json::from_slice(&extract_member(&a, "manifest.json")).unwrap();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(
        items[1]["RepoTags"],
        json!(["docker.io/library/multi:arm", "docker.io/library/multi:amd"])
    );
    assert!(tar_contents(&a).len() < before);
    // Without a tag an existing archive is never modified.
    let snap = sha256_file(&a);
    skiff_copy([hello(), da(&a, "")])
        .assert_exit1()
        .assert_stderr_contains("already exists");
    assert_eq!(sha256_file(&a), snap);
    assert!(skiff_temp_leftovers(t.path()).is_empty());
}

/// Whether a destination is written in place or built aside and renamed is decided by
/// what is there, not by where: a path under /dev/shm (a tmpfs) is an ordinary file that
/// is created, extended with a second image and read back; a FIFO anywhere is streamed.
#[test]
fn a_docker_archive_under_dev_shm_is_a_file_and_a_fifo_a_stream() {
    let t = tempfile::Builder::new()
        .prefix("skiff-it-")
        .tempdir_in("/dev/shm")
        .expect("/dev/shm");
    let a = t.path().join("x.tar");
    skiff_copy(["-q", &hello(), &da(&a, "hello:latest")]).assert_success();
    let multi = format!("oci:{}", p(&example("multiarch-oci")));
    skiff_copy([
        "-q",
        "--override-arch",
        "arm64",
        &multi,
        &da(&a, "multi:arm"),
    ])
    .assert_success();
    let items: Value = serde_json::from_slice(&extract_member(&a, "manifest.json")).unwrap();
    assert_eq!(items.as_array().unwrap().len(), 2, "{items}");
    skopeo_copy([
        da(&a, "hello:latest"),
        format!("dir:{}", p(&t.path().join("d"))),
    ])
    .assert_success();

    let fifo = t.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let copied = t.path().join("from-fifo.tar");
    let mut reader = Command::new("sh")
        .args(["-c", "cat \"$1\" > \"$2\"", "sh"])
        .args([&fifo, &copied])
        .spawn()
        .unwrap();
    skiff_copy(["-q", &hello(), &da(&fifo, "hello:latest")]).assert_success();
    assert!(reader.wait().unwrap().success());
    skopeo_copy([
        da(&copied, "hello:latest"),
        format!("dir:{}", p(&t.path().join("e"))),
    ])
    .assert_success();
}

fn extract_member(archive: &Path, name: &str) -> Vec<u8> {
    files_of(archive)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} not in {}", archive.display()))
        .1
}

#[test]
fn oci_layout_archive_opt_in() {
    let t = tempdir();
    let a = t.path().join("layout.tar");
    skiff_copy(["--format", "oci", &hello(), &da(&a, "lay:1")]).assert_success();
    let names: Vec<String> = tar_contents(&a).into_keys().collect();
    assert!(names.contains(&"index.json".to_string()), "{names:?}");
    assert!(names.contains(&"oci-layout".to_string()));
    // It is an OCI archive and a docker archive at once: both readers take it.
    let o = t.path().join("o");
    let d = t.path().join("d");
    skopeo_copy([format!("oci-archive:{}:1", p(&a)), format!("dir:{}", p(&o))]).assert_success();
    skopeo_copy([da(&a, ""), format!("dir:{}", p(&d))]).assert_success();
    let ours = t.path().join("ours");
    skiff_copy([da(&a, "lay:1"), format!("dir:{}", p(&ours))]).assert_success();
    assert_same_tree(&ours, &d, "docker-archive view");
}

// ------------------------------------------------------------------------------------------
// Reading
// ------------------------------------------------------------------------------------------

#[test]
fn reads_skopeo_archives_as_skopeo_does() {
    let t = tempdir();
    let a = skopeo_archive(t.path());
    for dest in ["dir", "oci"] {
        let ours = t.path().join(format!("ours-{dest}"));
        let theirs = t.path().join(format!("theirs-{dest}"));
        let name = |d: &Path| {
            if dest == "dir" {
                format!("dir:{}", p(d))
            } else {
                format!("oci:{}:x", p(d))
            }
        };
        let df_ours = t.path().join("df1");
        let df_theirs = t.path().join("df2");
        skiff_copy(["--digestfile", &p(&df_ours), &da(&a, ""), &name(&ours)]).assert_success();
        skopeo_copy(["--digestfile", &p(&df_theirs), &da(&a, ""), &name(&theirs)]).assert_success();
        if dest == "dir" {
            assert_same_tree(&ours, &theirs, "docker-archive -> dir");
            assert_eq!(fs::read(&df_ours).unwrap(), fs::read(&df_theirs).unwrap());
        } else {
            // gzip bytes differ between Go and skiff; the config conversion must not.
            let a = load_oci(&ours, Some("x"));
            let b = load_oci(&theirs, Some("x"));
            assert_eq!(a.manifest["config"], b.manifest["config"]);
            a.assert_consistent("docker-archive -> oci");
            assert_eq!(a.diff_ids(), a.computed_diff_ids());
        }
    }
}

#[test]
fn reads_legacy_docker_25_and_compressed_archives() {
    let t = tempdir();
    let base = files_of(&skopeo_archive(t.path()));
    let items: Value = serde_json::from_slice(get(&base, "manifest.json")).unwrap();
    let config_name = items[0]["Config"].as_str().unwrap().to_string();
    let layers: Vec<String> = items[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let reference = t.path().join("ref");
    skopeo_copy([
        da(&t.path().join("skopeo.tar"), ""),
        format!("dir:{}", p(&reference)),
    ])
    .assert_success();

    // docker save before 25: <id>/layer.tar files, <id>.json config.
    let mut legacy = vec![(config_name.clone(), get(&base, &config_name).to_vec())];
    let mut legacy_layers = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("{i:064x}/layer.tar");
        legacy.push((name.clone(), get(&base, l).to_vec()));
        legacy_layers.push(name);
    }
    legacy.push((
        "manifest.json".into(),
        serde_json::to_vec(&json!([{"Config": config_name, "RepoTags": ["hello:latest"], "Layers": legacy_layers}]))
            .unwrap(),
    ));
    // Docker 25+: an OCI layout whose blobs manifest.json also names.
    let mut oci = Vec::new();
    let blob = |n: &str| {
        format!(
            "blobs/sha256/{}",
            n.trim_end_matches(".tar").trim_end_matches(".json")
        )
    };
    for n in std::iter::once(&config_name).chain(&layers) {
        oci.push((blob(n), get(&base, n).to_vec()));
    }
    oci.push((
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    ));
    oci.push((
        "index.json".into(),
        br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
    ));
    oci.push((
        "manifest.json".into(),
        serde_json::to_vec(&json!([{"Config": blob(&config_name), "RepoTags": ["hello:latest"], "Layers": layers.iter().map(|l| blob(l)).collect::<Vec<_>>()}]))
            .unwrap(),
    ));
    // Compressed layer files (gzip and zstd), as umoci and others write them.
    let mut compressed = base.clone();
    set(
        &mut compressed,
        &layers[0],
        Comp::Gzip.compress(get(&base, &layers[0])),
    );
    set(
        &mut compressed,
        &layers[1],
        Comp::Zstd.compress(get(&base, &layers[1])),
    );

    for (label, files) in [
        ("legacy", legacy),
        ("docker25", oci),
        ("compressed", compressed),
    ] {
        let a = t.path().join(format!("{label}.tar"));
        archive_with(&a, &files, vec![]);
        let ours = t.path().join(format!("ours-{label}"));
        skiff_copy([da(&a, "hello:latest"), format!("dir:{}", p(&ours))]).assert_success();
        assert_same_tree(&ours, &reference, label);
    }
}

// ------------------------------------------------------------------------------------------
// Safety
// ------------------------------------------------------------------------------------------

#[test]
fn crafted_archives_are_refused_with_nothing_written() {
    let t = tempdir();
    let base = files_of(&skopeo_archive(t.path()));
    let items: Value = serde_json::from_slice(get(&base, "manifest.json")).unwrap();
    let layer0 = items[0]["Layers"][0].as_str().unwrap().to_string();
    let case = |name: &str, files: &[(String, Vec<u8>)], extra: Vec<(String, E)>| {
        let a = t.path().join(format!("{name}.tar"));
        archive_with(&a, files, extra);
        da(&a, "")
    };
    let f = |d: &[u8]| E::File(d.to_vec());
    refused(
        &case("dotdot", &base, vec![("x/../../evil".into(), f(b"x"))]),
        "escape",
    );
    refused(
        &case("absolute", &base, vec![("/etc/evil".into(), f(b"x"))]),
        "escape",
    );
    refused(
        &case(
            "symlink",
            &base,
            vec![("evil".into(), E::Symlink("../../etc/passwd".into()))],
        ),
        "outside the archive",
    );
    refused(
        &case(
            "abs-symlink",
            &base,
            vec![("evil".into(), E::Symlink("/etc/passwd".into()))],
        ),
        "outside the archive",
    );
    refused(
        &case(
            "hardlink",
            &base,
            vec![("evil".into(), E::Hardlink("../etc/passwd".into()))],
        ),
        "outside the archive",
    );
    refused(
        &case("duplicate", &base, vec![("manifest.json".into(), f(b"[]"))]),
        "duplicate",
    );
    // manifest.json naming a file that is not there.
    let mut missing = base.clone();
    missing.retain(|(n, _)| n != &layer0);
    refused(&case("missing", &missing, vec![]), "is not in the archive");
    // A symlinked layer whose target is missing, or a loop.
    let mut looped = base.clone();
    looped.retain(|(n, _)| n != &layer0);
    refused(
        &case(
            "loop",
            &looped,
            vec![
                (layer0.clone(), E::Symlink("loop2".into())),
                ("loop2".into(), E::Symlink(layer0.clone())),
            ],
        ),
        "loop",
    );
    // A layer whose bytes are not what the config's diff_ids say.
    let mut tampered = base.clone();
    let mut bytes = get(&base, &layer0).to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    set(&mut tampered, &layer0, bytes);
    refused(&case("tampered", &tampered, vec![]), "digest mismatch");
    // Layer count disagreeing with the config.
    let mut short = base.clone();
    let mut m = items.clone();
    m[0]["Layers"].as_array_mut().unwrap().pop();
    set(&mut short, "manifest.json", serde_json::to_vec(&m).unwrap());
    refused(&case("count", &short, vec![]), "Inconsistent layer count");
    // A header that promises more bytes than the file has.
    let good = t.path().join("good.tar");
    archive_with(&good, &base, vec![]);
    let data = fs::read(&good).unwrap();
    let cut = t.path().join("truncated.tar");
    fs::write(&cut, &data[..data.len() / 2]).unwrap();
    refused(&da(&cut, ""), "truncated");
    // A directory where an archive should be.
    refused(&da(t.path(), ""), &p(t.path()));
}

#[test]
fn a_failed_copy_leaves_the_destination_archive_as_it_was() {
    let t = tempdir();
    let base = files_of(&skopeo_archive(t.path()));
    let items: Value = serde_json::from_slice(get(&base, "manifest.json")).unwrap();
    // The top layer: the one no other example image shares (a shared one would be reused
    // from the destination, never read).
    let top = items[0]["Layers"][2].as_str().unwrap().to_string();
    let mut tampered = base.clone();
    let mut bytes = get(&base, &top).to_vec();
    bytes[100] ^= 1;
    set(&mut tampered, &top, bytes);
    let bad = t.path().join("bad.tar");
    archive_with(&bad, &tampered, vec![]);
    // A new archive: nothing appears.
    let fresh = t.path().join("out").join("new.tar");
    fs::create_dir_all(fresh.parent().unwrap()).unwrap();
    skiff_copy([da(&bad, ""), da(&fresh, "x:1")]).assert_exit1();
    assert!(!fresh.exists());
    // An existing archive: unchanged.
    let existing = t.path().join("out").join("existing.tar");
    let multi = format!("oci:{}", p(&example("multiarch-oci")));
    skiff_copy(["--override-arch", "arm64", &multi, &da(&existing, "m:1")]).assert_success();
    let before = sha256_file(&existing);
    skiff_copy([da(&bad, ""), da(&existing, "x:1")]).assert_exit1();
    assert_eq!(sha256_file(&existing), before);
    assert!(skiff_temp_leftovers(&t.path().join("out")).is_empty());
}

#[test]
fn list_tags_of_an_archive_matches_skopeo() {
    let t = tempdir();
    let archive = t.path().join("two.tar");
    skopeo_copy([
        "--additional-tag",
        "foo/bar:2",
        &example_ref("hello-oci"),
        &da(&archive, "skiff/hello:1"),
    ])
    .assert_success();
    // A second image added by skiff (archives with several images are skiff's extension).
    skiff_copy([
        &example_ref("multiarch-oci"),
        &da(&archive, "skiff/multi:amd64"),
    ])
    .assert_success();
    let ours = run(skiff().args(["list-tags", &format!("docker-archive:{}", p(&archive))]));
    let theirs = run(skopeo().args(["list-tags", &format!("docker-archive:{}", p(&archive))]));
    ours.assert_success();
    theirs.assert_success();
    assert_eq!(ours.stdout, theirs.stdout);
    assert!(
        ours.stdout.contains("docker.io/skiff/multi:amd64"),
        "{ours}"
    );
    run(skiff().args([
        "list-tags",
        &format!("docker-archive:{}", p(&t.path().join("missing.tar"))),
    ]))
    .assert_exit1()
    .assert_stderr_contains("missing.tar");
}

/// A docker-archive: whose directory does not exist fails, as in skopeo; nothing is created.
#[test]
fn docker_archive_into_a_missing_directory_fails_like_skopeo() {
    let t = tempdir();
    let missing = t.path().join("no").join("such");
    let dest = format!("docker-archive:{}", p(&missing.join("a.tar")));
    skopeo_copy(["-q", &example_ref("hello-oci"), &dest]).assert_exit1();
    skiff_copy(["-q", &example_ref("hello-oci"), &dest])
        .assert_exit1()
        .assert_stderr_contains(&p(&missing));
    assert!(!t.path().join("no").exists());
}

/// Adding an image to an archive whose `repositories` file is garbage fails and leaves the
/// archive as it was (read as empty, the rewrite would drop the old tags).
#[test]
fn a_corrupt_repositories_file_is_not_read_as_empty() {
    let t = tempdir();
    let archive = t.path().join("a.tar");
    skiff_copy([
        "-q",
        &example_ref("hello-oci"),
        &format!("docker-archive:{}:skiff/one:v1", p(&archive)),
    ])
    .assert_success();
    // The same archive with its repositories file replaced by garbage.
    let mut rebuilt = tar::Builder::new(Vec::new());
    let mut original = tar::Archive::new(fs::File::open(&archive).unwrap());
    for entry in original.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().into_owned();
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if name == Path::new("repositories") {
            data = b"{ garbage".to_vec();
            header.set_size(data.len() as u64);
            header.set_cksum();
        }
        rebuilt.append(&header, &data[..]).unwrap();
    }
    fs::write(&archive, rebuilt.into_inner().unwrap()).unwrap();
    let before = fs::read(&archive).unwrap();
    skiff_copy([
        "-q",
        &example_ref("hello-oci"),
        &format!("docker-archive:{}:skiff/two:v2", p(&archive)),
    ])
    .assert_exit1()
    .assert_stderr_contains("repositories");
    assert!(fs::read(&archive).unwrap() == before, "the archive changed");
}

/// A GNU long name (docker-archive) or pax header (oci-archive) claiming 200 MB, its data
/// really there (a sparse file): refused from its header alone, in bounded memory (the
/// tar crate read it whole: 850 MB of RSS for a 200 MB name).
#[test]
fn oversized_long_names_and_pax_headers_are_refused_unread() {
    let t = tempdir();
    let oci = t.path().join("hello.oci.tar");
    skiff_copy([hello(), format!("oci-archive:{}", p(&oci))]).assert_success();
    let docker = skopeo_archive(t.path());
    for (flag, what, archive, transport) in [
        (b'L', "GNU long name", docker, "docker-archive"),
        (b'x', "pax extended header", oci, "oci-archive"),
    ] {
        let size: u64 = 200 << 20;
        let mut h = tar::Header::new_gnu();
        h.as_mut_bytes()[..13].copy_from_slice(b"././@LongLink");
        h.set_size(size);
        h.set_entry_type(tar::EntryType::new(flag));
        h.set_cksum();
        let crafted = t.path().join(format!("crafted-{transport}.tar"));
        let mut f = fs::File::create(&crafted).unwrap();
        f.write_all(h.as_bytes()).unwrap();
        // The name's bytes: a hole of zeros, then the real archive.
        f.set_len(512 + size).unwrap();
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::End(0)).unwrap();
        f.write_all(&fs::read(&archive).unwrap()).unwrap();
        drop(f);

        let dest = t.path().join(format!("out-{transport}"));
        let (out, peak_kib) = run_peak_rss(
            skiff()
                .args(["--insecure-policy", "copy"])
                .arg(format!("{transport}:{}", p(&crafted)))
                .arg(format!("dir:{}", p(&dest))),
        );
        out.assert_exit1().assert_stderr_contains(&format!(
            "the {what} at byte 0 is {size} bytes, over the limit of 1048576 bytes"
        ));
        assert!(!dest.exists(), "{out}");
        assert!(
            peak_kib < 100 * 1024,
            "{transport}: peak RSS {peak_kib} KiB reading a crafted archive\n{out}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Adding an image to an archive whose files do not hold what they claim
// ------------------------------------------------------------------------------------------

/// An old image's layer file that does not match the diff ID its config claims is not
/// offered for reuse on that claim: the new image's layer is written (checked while it was
/// copied), and the old item, which has the same config, gets the checked layer too.
#[test]
fn an_old_layer_that_does_not_match_its_diff_id_is_not_reused() {
    let t = tempdir();
    let (plain, _) = plain_and_gzip_images(t.path());
    let good = fs::read(oci_blob(&plain.layout, &plain.layer_digests[0])).unwrap();
    let a = t.path().join("a.tar");
    old_archive(&a, &plain, "old/layer.tar", damaged(&good));
    skiff_copy(["-q", &plain.oci_ref(), &da(&a, "new:1")]).assert_success();
    for tag in ["new:1", "old:1"] {
        let out = t.path().join(format!("out-{tag}"));
        skiff_copy(["-q", &da(&a, tag), &format!("dir:{}", p(&out))]).assert_success();
        load_dir(&out).assert_consistent(tag);
    }
    skopeo_copy([
        da(&a, "new:1"),
        format!("dir:{}", p(&t.path().join("skopeo"))),
    ])
    .assert_success();
}

/// A file of the old archive named for the new image's layer (`<diff ID>.tar`, as skopeo
/// and skiff name layers) that holds other bytes: the new file cannot take the name (the
/// old image uses it) and must not be dropped for it. The copy fails, naming the file, and
/// the archive is left as it was; from a plain layer (reuse refused) and from a gzip layer
/// (written anew, then the name collides).
#[test]
fn a_file_named_for_a_new_blob_with_other_content_fails_the_copy() {
    let t = tempdir();
    let (plain, gzip) = plain_and_gzip_images(t.path());
    let good = fs::read(oci_blob(&plain.layout, &plain.layer_digests[0])).unwrap();
    let name = format!("{}.tar", plain.diff_ids[0].trim_start_matches("sha256:"));
    for img in [&plain, &gzip] {
        let a = t.path().join("a.tar");
        old_archive(&a, &plain, &name, damaged(&good));
        let before = fs::read(&a).unwrap();
        skiff_copy(["-q", &img.oci_ref(), &da(&a, "new:1")])
            .assert_exit1()
            .assert_stderr_contains(&format!("already has a file {name} that does not hold"));
        assert!(fs::read(&a).unwrap() == before, "the archive changed");
        assert!(skiff_temp_leftovers(t.path()).is_empty());
        // The same name holding the right bytes is shared, not duplicated.
        old_archive(&a, &plain, &name, good.clone());
        skiff_copy(["-q", &img.oci_ref(), &da(&a, "new:1")]).assert_success();
        let names: Vec<String> = tar_contents(&a).into_keys().collect();
        assert_eq!(names.iter().filter(|n| **n == name).count(), 1, "{names:?}");
        let out = t.path().join("out");
        skiff_copy(["-q", &da(&a, "new:1"), &format!("dir:{}", p(&out))]).assert_success();
        load_dir(&out).assert_consistent("new:1");
        fs::remove_dir_all(&out).unwrap();
    }
}

// Compressed archives (`docker save img | gzip > img.tar.gz`, and xz, bzip2, zstd)
// ------------------------------------------------------------------------------------------

/// skiff with its temporary files under `tmp` (`--tmpdir`), which must stay empty.
fn skiff_in(tmp: &Path, args: &[&str]) -> Out {
    let mut c = skiff();
    c.args(["--insecure-policy", "--tmpdir", &p(tmp)])
        .args(args);
    run(&mut c)
}

#[test]
fn compressed_docker_archives_read_as_the_plain_archive() {
    let t = tempdir();
    let plain = skopeo_archive(t.path());
    let reference = t.path().join("ref");
    skopeo_copy([da(&plain, ""), format!("dir:{}", p(&reference))]).assert_success();
    let plain_inspect = run(skopeo().args(["inspect", &da(&plain, "")]));
    plain_inspect.assert_success();
    let plain_tags = run(skopeo().args(["list-tags", &da(&plain, "")]));
    let tmp = t.path().join("tmp");
    fs::create_dir(&tmp).unwrap();
    for (tool, ext) in COMPRESSORS {
        let packed = compress_with(tool, ext, &plain);
        let ours = t.path().join(format!("ours-{ext}"));
        skiff_in(
            &tmp,
            &["copy", &da(&packed, ""), &format!("dir:{}", p(&ours))],
        )
        .assert_success();
        assert_same_tree(&ours, &reference, tool);
        let inspect = skiff_in(&tmp, &["inspect", &da(&packed, "")]);
        inspect.assert_success();
        assert_eq!(inspect.stdout, plain_inspect.stdout, "{tool}");
        let tags = skiff_in(&tmp, &["list-tags", &da(&packed, "")]);
        tags.assert_success();
        assert_eq!(tags.stdout, plain_tags.stdout, "{tool}");
        // skopeo 1.9.3 reads these three as well (its gzip reader fails with
        // "unexpected EOF"); the answers agree.
        if tool != "gzip" {
            let theirs = run(skopeo().args(["inspect", &da(&packed, "")]));
            theirs.assert_success();
            assert_eq!(inspect.stdout, theirs.stdout, "{tool}");
        }
        assert_eq!(
            list_dir(&tmp),
            Vec::<String>::new(),
            "{tool}: temp files left"
        );
    }
}

#[test]
fn compressed_oci_archives_read_as_skopeo_reads_them() {
    let t = tempdir();
    let plain = t.path().join("o.tar");
    skopeo_copy([hello(), format!("oci-archive:{}:v1", p(&plain))]).assert_success();
    let tmp = t.path().join("tmp");
    fs::create_dir(&tmp).unwrap();
    for (tool, ext) in COMPRESSORS {
        let packed = compress_with(tool, ext, &plain);
        let name = format!("oci-archive:{}:v1", p(&packed));
        let ours = t.path().join(format!("ours-{ext}"));
        let theirs = t.path().join(format!("theirs-{ext}"));
        skiff_in(&tmp, &["copy", &name, &format!("dir:{}", p(&ours))]).assert_success();
        skopeo_copy([name.clone(), format!("dir:{}", p(&theirs))]).assert_success();
        assert_same_tree(&ours, &theirs, tool);
        let inspect = skiff_in(&tmp, &["inspect", &name]);
        inspect.assert_success();
        assert_eq!(
            inspect.stdout,
            run(skopeo().args(["inspect", &name])).stdout,
            "{tool}"
        );
        assert_eq!(
            list_dir(&tmp),
            Vec::<String>::new(),
            "{tool}: temp files left"
        );
    }
}

/// A compressed archive gets the same checks as a plain one, and a broken one fails naming
/// the archive and its compression; the decompressed copy is removed either way.
#[test]
fn compressed_archives_are_checked_and_cleaned_up_on_failure() {
    let t = tempdir();
    let base = files_of(&skopeo_archive(t.path()));
    let crafted = t.path().join("dotdot.tar");
    archive_with(
        &crafted,
        &base,
        vec![("x/../../evil".into(), E::File(b"x".to_vec()))],
    );
    let tmp = t.path().join("tmp");
    fs::create_dir(&tmp).unwrap();
    let dest = t.path().join("out");
    let packed = compress_with("xz", "xz", &crafted);
    skiff_in(
        &tmp,
        &["copy", &da(&packed, ""), &format!("dir:{}", p(&dest))],
    )
    .assert_exit1()
    .assert_stderr_contains("escape")
    .assert_stderr_contains(&p(&packed));
    // Truncated: the decompressor's error, the archive named.
    let whole = compress_with("gzip", "gz", &t.path().join("skopeo.tar"));
    let bytes = fs::read(&whole).unwrap();
    let cut = t.path().join("cut.tar.gz");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    skiff_in(&tmp, &["copy", &da(&cut, ""), &format!("dir:{}", p(&dest))])
        .assert_exit1()
        .assert_stderr_contains("gzip-compressed")
        .assert_stderr_contains(&p(&cut));
    skiff_in(&tmp, &["inspect", &format!("oci-archive:{}", p(&cut))]).assert_exit1();
    assert!(!dest.exists());
    assert_eq!(list_dir(&tmp), Vec::<String>::new(), "temp files left");
    // Adding an image to a compressed archive is refused (it would be rewritten plain).
    skiff_copy([hello(), da(&whole, "skiff/x:1")])
        .assert_exit1()
        .assert_stderr_contains("gzip-compressed");
    assert_eq!(fs::read(&whole).unwrap(), bytes);
}
