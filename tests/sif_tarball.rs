//! `sif:` and `tarball:` sources against skopeo 1.9.3, on inputs made here: a squashfs made
//! with `mksquashfs` wrapped in a SIF file by a minimal writer (header, descriptor table,
//! data objects, as sylabs/sif lays them out), and plain and gzip-compressed tarballs.
//!
//! Needs: apt-get install -y squashfs-tools fakeroot

mod support;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::*;

const DATA_DEFFILE: i32 = 0x4001;
const DATA_PARTITION: i32 = 0x4004;

/// A SIF file (specification 01) holding `objects` (data type, bytes, partition type for
/// partitions), with one free descriptor, made for amd64, modified at `modified`.
fn write_sif(path: &Path, objects: &[(i32, Vec<u8>, i32)], modified: i64) {
    const HEADER: usize = 128;
    const DESCRIPTOR: usize = 585;
    let total = objects.len() + 1;
    let data_offset = (HEADER + DESCRIPTOR * total).div_ceil(4096) * 4096;
    let mut descriptors = Vec::new();
    let mut data = Vec::new();
    for (i, (kind, bytes, part)) in objects.iter().enumerate() {
        if *kind == DATA_PARTITION {
            data.resize(
                (data_offset + data.len()).div_ceil(4096) * 4096 - data_offset,
                0,
            );
        }
        let offset = (data_offset + data.len()) as i64;
        let mut d = Vec::new();
        d.extend(kind.to_le_bytes());
        d.push(1); // used
        d.extend((i as u32 + 1).to_le_bytes());
        d.extend(0xf000_0001u32.to_le_bytes());
        d.extend(0u32.to_le_bytes());
        for v in [
            offset,
            bytes.len() as i64,
            bytes.len() as i64,
            modified,
            modified,
            0,
            0,
        ] {
            d.extend(v.to_le_bytes());
        }
        let mut name = b"object".to_vec();
        name.resize(128, 0);
        d.extend(name);
        let mut extra = Vec::new();
        if *kind == DATA_PARTITION {
            extra.extend(1i32.to_le_bytes()); // squashfs
            extra.extend(part.to_le_bytes());
            extra.extend(b"02\0");
        }
        extra.resize(384, 0);
        d.extend(extra);
        assert_eq!(d.len(), DESCRIPTOR);
        descriptors.extend(d);
        data.extend(bytes);
    }
    descriptors.resize(DESCRIPTOR * total, 0);
    let mut out = b"#!/usr/bin/env run-singularity\n".to_vec();
    out.resize(32, 0);
    out.extend(b"SIF_MAGIC\0");
    out.extend(b"01\0");
    out.extend(b"02\0");
    out.extend((0u8..16).collect::<Vec<u8>>());
    for v in [
        modified - 100,
        modified,
        1,
        total as i64,
        HEADER as i64,
        (DESCRIPTOR * total) as i64,
        data_offset as i64,
        data.len() as i64,
    ] {
        out.extend(v.to_le_bytes());
    }
    assert_eq!(out.len(), HEADER);
    out.extend(descriptors);
    out.resize(data_offset, 0);
    out.extend(data);
    fs::write(path, out).unwrap();
}

/// A small root filesystem squashed with Debian's mksquashfs.
fn squashfs(dir: &Path) -> Vec<u8> {
    let root = dir.join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/motd"), "hello from SIF\n").unwrap();
    fs::write(root.join("bin/tool"), pseudo_random(3, 50_000)).unwrap();
    std::os::unix::fs::symlink("tool", root.join("bin/link")).unwrap();
    let image = dir.join("rootfs.sqfs");
    let out = Command::new("mksquashfs")
        .args([&root, &image])
        .args([
            "-noappend",
            "-quiet",
            "-all-root",
            "-mkfs-time",
            "1700000000",
        ])
        .args(["-all-time", "1700000000"])
        .output()
        .expect("mksquashfs (apt-get install -y squashfs-tools)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::read(image).unwrap()
}

const DEFFILE: &str = "Bootstrap: docker\nFrom: busybox\n%environment\n    export GREETING=hi\n    # a comment\n\n%runscript\n    echo \"$GREETING\"\n    exec /bin/tool\n%labels\n    maintainer skiff\n";

/// (name, mode, owner, size, content digest) of one entry of a layer.
type Entry = (String, u32, (u64, u64), u64, String);

fn entries(layer: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(layer);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((
            e.path().unwrap().display().to_string(),
            h.mode().unwrap(),
            (h.uid().unwrap(), h.gid().unwrap()),
            h.size().unwrap(),
            sha256_digest(&data),
        ));
    }
    out
}

/// The manifest, config and single layer of an image copied to `dir:`.
fn copied(dir: &Path) -> (Value, Value, Vec<u8>) {
    let manifest = read_json(&dir.join("manifest.json"));
    let config = read_json(&dir_blob(
        dir,
        manifest["config"]["digest"].as_str().unwrap(),
    ));
    let layer = fs::read(dir_blob(
        dir,
        manifest["layers"][0]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    (manifest, config, layer)
}

/// `s` with every digest of the layer replaced, so configs from two conversions compare.
fn without(s: &str, digests: &[&str]) -> String {
    digests.iter().fold(s.to_string(), |acc, d| {
        acc.replace(d, "LAYER").replace(&d[7..], "LAYER")
    })
}

fn sif_fixture(t: &Path, with_deffile: bool) -> PathBuf {
    let work = t.join(format!("fixture-{with_deffile}"));
    let sq = squashfs(&work);
    let mut objects = Vec::new();
    if with_deffile {
        objects.push((DATA_DEFFILE, DEFFILE.as_bytes().to_vec(), 0));
    }
    objects.push((DATA_PARTITION, sq, 2));
    let path = t.join(if with_deffile { "def.sif" } else { "plain.sif" });
    write_sif(&path, &objects, 1_700_000_000);
    path
}

#[test]
fn sif_images_convert_as_skopeo_converts_them() {
    let t = tempdir();
    for with_deffile in [false, true] {
        let sif = sif_fixture(t.path(), with_deffile);
        let name = format!("sif:{}", p(&sif));
        let ours = t.path().join(format!("ours-{with_deffile}"));
        let theirs = t.path().join(format!("theirs-{with_deffile}"));
        skiff_copy([name.clone(), format!("dir:{}", p(&ours))]).assert_success();
        skopeo_copy([name.clone(), format!("dir:{}", p(&theirs))]).assert_success();
        let (om, oc, ol) = copied(&ours);
        let (tm, tc, tl) = copied(&theirs);
        let (od, td) = (
            om["layers"][0]["digest"].as_str().unwrap().to_string(),
            tm["layers"][0]["digest"].as_str().unwrap().to_string(),
        );
        // The same config but for the layer's digest (skopeo's tar differs in times).
        assert_eq!(
            without(&oc.to_string(), &[&od]),
            without(&tc.to_string(), &[&td]),
            "with deffile: {with_deffile}"
        );
        assert_eq!(oc["rootfs"]["diff_ids"][0], om["layers"][0]["digest"]);
        assert_eq!(om["layers"][0]["mediaType"], tm["layers"][0]["mediaType"]);
        // The same files, modes, owners and contents.
        assert_eq!(entries(&ol), entries(&tl), "with deffile: {with_deffile}");
        let names: Vec<String> = entries(&ol).into_iter().map(|e| e.0).collect();
        assert!(names.contains(&"./bin/tool".to_string()), "{names:?}");
        if with_deffile {
            assert_eq!(oc["config"]["Cmd"][0], "/podman/runscript");
            let script = entries(&ol)
                .into_iter()
                .find(|e| e.0 == "./podman/runscript")
                .expect("the runscript is injected");
            assert_eq!(script.1 & 0o777, 0o755);
            // The SIF's time, not the copy's (which would make two runs in different
            // seconds differ, and two in the same second look reproducible).
            let mut archive = tar::Archive::new(&ol[..]);
            let mtime = archive
                .entries()
                .unwrap()
                .map(|e| e.unwrap())
                .find(|e| e.path().unwrap().to_str() == Some("./podman/runscript"))
                .map(|e| e.header().mtime().unwrap());
            assert_eq!(mtime, Some(1_700_000_000));
        } else {
            assert_eq!(oc["config"]["Cmd"][0], "bash");
        }
        // skiff's conversion is reproducible (skopeo's is not: GNU tar records atime/ctime).
        let again = t.path().join(format!("again-{with_deffile}"));
        skiff_copy([name.clone(), format!("dir:{}", p(&again))]).assert_success();
        assert_eq!(
            fs::read(ours.join("manifest.json")).unwrap(),
            fs::read(again.join("manifest.json")).unwrap()
        );
    }
    // inspect: the same fields but for the digests.
    let sif = t.path().join("def.sif");
    let name = format!("sif:{}", p(&sif));
    let ours = run(skiff().args(["inspect", &name]));
    let theirs = run(skopeo().args(["inspect", &name]));
    ours.assert_success();
    theirs.assert_success();
    let strip = |s: &str| -> Value {
        let mut v: Value = serde_json::from_str(s).unwrap();
        v["Digest"] = Value::Null;
        v["Layers"] = Value::Null;
        v
    };
    assert_eq!(strip(&ours.stdout), strip(&theirs.stdout));
}

#[test]
fn sif_errors_and_temp_files_are_as_in_skopeo() {
    let t = tempdir();
    let not_sif = t.path().join("not.sif");
    fs::write(&not_sif, vec![0u8; 4096]).unwrap();
    let missing = t.path().join("missing.sif");
    for (name, sentence) in [
        (&not_sif, "loading SIF file: invalid SIF magic".to_string()),
        (
            &missing,
            format!(
                "loading SIF file: open {}: no such file or directory",
                p(&missing)
            ),
        ),
    ] {
        let image = format!("sif:{}", p(name));
        let theirs = run(skopeo().args(["inspect", &image]));
        theirs
            .assert_exit1()
            .assert_skopeo_message_contains(&sentence);
        run(skiff().args(["inspect", &image]))
            .assert_exit1()
            .assert_stderr_contains(&sentence);
    }
    // A SIF without a root filesystem partition.
    let no_root = t.path().join("noroot.sif");
    write_sif(
        &no_root,
        &[(DATA_DEFFILE, b"%runscript\necho\n".to_vec(), 0)],
        1_700_000_000,
    );
    let tmp = t.path().join("tmp");
    fs::create_dir(&tmp).unwrap();
    let out = run(skiff().args([
        "--tmpdir",
        &p(&tmp),
        "inspect",
        &format!("sif:{}", p(&no_root)),
    ]));
    out.assert_exit1()
        .assert_stderr_contains("looking up rootfs from SIF file: object not found");
    // Nothing is left in --tmpdir, after a failure or a success.
    let good = sif_fixture(t.path(), true);
    run(skiff().args([
        "--tmpdir",
        &p(&tmp),
        "inspect",
        &format!("sif:{}", p(&good)),
    ]))
    .assert_success();
    assert_eq!(list_dir(&tmp), Vec::<String>::new());
    // Read only, as in containers/image.
    skiff_copy([
        example_ref("hello-oci"),
        format!("sif:{}", p(&t.path().join("x.sif"))),
    ])
    .assert_exit1()
    .assert_stderr_contains("\"sif:\" locations can only be read from, not written to");
}

#[test]
fn tarball_images_are_byte_for_byte_skopeos() {
    let t = tempdir();
    let plain = t.path().join("rootfs.tar");
    fs::write(&plain, layer_tar(0, 20_000, 5)).unwrap();
    let gz = t.path().join("more.tar.gz");
    fs::write(&gz, Comp::Gzip.compress(&layer_tar(1, 10_000, 6))).unwrap();
    let zst = t.path().join("other.tar.zst");
    fs::write(&zst, Comp::Zstd.compress(&layer_tar(2, 10_000, 7))).unwrap();
    for files in [vec![&plain], vec![&gz, &plain], vec![&zst]] {
        let name = format!(
            "tarball:{}",
            files.iter().map(|f| p(f)).collect::<Vec<_>>().join(":")
        );
        for what in [&["--raw"][..], &["--config", "--raw"][..], &[][..]] {
            let mut args = vec!["inspect"];
            args.extend_from_slice(what);
            args.push(&name);
            let ours = run(skiff().args(&args));
            let theirs = run(skopeo().args(&args));
            ours.assert_success();
            theirs.assert_success();
            assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
        }
        let ours = t.path().join("ours");
        let theirs = t.path().join("theirs");
        let _ = (fs::remove_dir_all(&ours), fs::remove_dir_all(&theirs));
        // dir: keeps the layers' bytes (oci: would gzip them, each tool its own way).
        skiff_copy([name.clone(), format!("dir:{}", p(&ours))]).assert_success();
        skopeo_copy([name.clone(), format!("dir:{}", p(&theirs))]).assert_success();
        assert_same_tree(&ours, &theirs, &name);
    }
}

#[test]
fn tarball_reads_stdin_and_fails_as_skopeo_fails() {
    let t = tempdir();
    let tar = layer_tar(0, 5_000, 9);
    let dest = t.path().join("from-stdin");
    let mut cmd = skiff();
    cmd.args([
        "--insecure-policy",
        "copy",
        "tarball:-",
        &format!("dir:{}", p(&dest)),
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&tar).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (manifest, config, layer) = copied(&dest);
    assert_eq!(layer, tar);
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        manifest["layers"][0]["digest"]
    );
    assert_eq!(config["history"][0]["comment"], "imported from tarball");

    let missing = t.path().join("missing.tar");
    let sentence = format!(
        "error opening {:?}: open {}: no such file or directory",
        p(&missing),
        p(&missing)
    );
    let image = format!("tarball:{}", p(&missing));
    run(skopeo().args(["inspect", &image]))
        .assert_exit1()
        .assert_skopeo_message_contains(&sentence);
    run(skiff().args(["inspect", &image]))
        .assert_exit1()
        .assert_stderr_contains(&sentence);
    skiff_copy([
        example_ref("hello-oci"),
        format!("tarball:{}", p(&t.path().join("x"))),
    ])
    .assert_exit1();
    let existing = t.path().join("exists.tar");
    fs::write(&existing, &tar).unwrap();
    skiff_copy([
        example_ref("hello-oci"),
        format!("tarball:{}", p(&existing)),
    ])
    .assert_exit1()
    .assert_stderr_contains("\"tarball:\" locations can only be read from, not written to");
    assert_eq!(fs::read(&existing).unwrap(), tar);
}
