//! Interoperability with skopeo 1.9.3: skiff's output must be what skopeo writes for the same
//! copy (byte for byte when nothing is recompressed), skopeo must read everything skiff writes,
//! and skiff must read everything skopeo writes. (Lists, layouts with several images and
//! shared blob directories: tests/interop_multi.rs.)

#[path = "support/same_as_skopeo.rs"]
mod same_as_skopeo;
mod support;

use same_as_skopeo::*;
use std::fs;
use std::path::Path;
use support::*;

// ------------------------------------------------------------------------------------------
// Plain copies
// ------------------------------------------------------------------------------------------

#[test]
fn example_to_each_destination_is_byte_identical_to_skopeo_and_readable_by_it() {
    let tmp = tempdir();
    for t in ALL {
        let ours = t.path(tmp.path(), &format!("skiff-{}", t.name()));
        let theirs = t.path(tmp.path(), &format!("skopeo-{}", t.name()));
        skiff_copy(["-q", &hello(), &t.name_for(&ours)])
            .assert_success()
            .assert_stdout_empty();
        skopeo_copy(["-q", &hello(), &t.name_for(&theirs)]).assert_success();
        assert_same_output(t, &ours, &theirs, &format!("hello-oci → {}", t.name()));

        // skopeo reads skiff's output and sees the unchanged manifest.
        let raw = skopeo_inspect_raw(&t.name_for(&ours));
        assert_eq!(
            sha256_digest(&raw),
            HELLO_MANIFEST,
            "manifest changed in hello-oci → {}",
            t.name()
        );
        // ...and copies it on, still unchanged.
        let back = tmp.path().join(format!("back-from-{}", t.name()));
        skopeo_copy(["-q", &t.name_for(&ours), &format!("dir:{}", p(&back))]).assert_success();
        assert_eq!(sha256_file(&back.join("manifest.json")), HELLO_MANIFEST);
        load_dir(&back).assert_consistent(&format!("skopeo's copy of skiff's {}", t.name()));
    }
}

#[test]
fn every_source_to_every_destination_matches_skopeo() {
    let tmp = tempdir();
    // Sources written by skopeo.
    for src_t in ALL {
        let src = src_t.path(tmp.path(), &format!("src-{}", src_t.name()));
        skopeo_copy(["-q", &hello(), &src_t.name_for(&src)]).assert_success();
        for dst_t in ALL {
            let ctx = format!("skopeo-written {} → {}", src_t.name(), dst_t.name());
            let ours = dst_t.path(
                tmp.path(),
                &format!("{}-to-{}-skiff", src_t.name(), dst_t.name()),
            );
            let theirs = dst_t.path(
                tmp.path(),
                &format!("{}-to-{}-skopeo", src_t.name(), dst_t.name()),
            );
            let o = skiff_copy([src_t.name_for(&src), dst_t.name_for(&ours)]);
            o.assert_success().assert_stdout_empty();
            skopeo_copy(["-q", &src_t.name_for(&src), &dst_t.name_for(&theirs)]).assert_success();
            assert_same_output(dst_t, &ours, &theirs, &ctx);
            assert_eq!(
                skopeo_inspect_digest(&dst_t.name_for(&ours)),
                HELLO_MANIFEST,
                "{ctx}"
            );
        }
    }
}

#[test]
fn oci_destination_without_reference_matches_skopeo() {
    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    skiff_copy(["-q", &hello(), &format!("oci:{}", p(&ours))]).assert_success();
    skopeo_copy(["-q", &hello(), &format!("oci:{}", p(&theirs))]).assert_success();
    assert_same_tree(&ours, &theirs, "hello-oci → oci: without a reference");
    // The only image can be read back without naming it.
    let d = tmp.path().join("d");
    skiff_copy([
        "-q",
        &format!("oci:{}", p(&ours)),
        &format!("dir:{}", p(&d)),
    ])
    .assert_success();
    assert_eq!(sha256_file(&d.join("manifest.json")), HELLO_MANIFEST);
}

#[test]
fn oci_archive_with_reference_matches_skopeo() {
    let tmp = tempdir();
    let ours = tmp.path().join("ours.tar");
    let theirs = tmp.path().join("theirs.tar");
    skiff_copy(["-q", &hello(), &format!("oci-archive:{}:v1.0", p(&ours))]).assert_success();
    skopeo_copy(["-q", &hello(), &format!("oci-archive:{}:v1.0", p(&theirs))]).assert_success();
    assert_eq!(tar_contents(&ours), tar_contents(&theirs));
    // The entry names as written (directories with their trailing slash), in order.
    let names = |path: &Path| -> Vec<String> {
        tar::Archive::new(fs::File::open(path).unwrap())
            .entries()
            .unwrap()
            .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
            .collect()
    };
    assert_eq!(names(&ours), names(&theirs));
    assert_eq!(
        skopeo_inspect_digest(&format!("oci-archive:{}:v1.0", p(&ours))),
        HELLO_MANIFEST
    );
    // The archive is a plain tar that extracts to a valid layout.
    let x = tmp.path().join("x");
    extract_tar(&ours, &x);
    assert_eq!(load_oci(&x, Some("v1.0")).manifest_digest(), HELLO_MANIFEST);
}

#[test]
fn copying_twice_to_the_same_oci_tag_is_idempotent() {
    let tmp = tempdir();
    let l = tmp.path().join("l");
    let n = format!("oci:{}:latest", p(&l));
    skiff_copy(["-q", &hello(), &n]).assert_success();
    let before = snapshot(&l);
    let o = skiff_copy([&hello(), &n]);
    o.assert_success();
    before.assert_unchanged("second identical copy");
    o.assert_stderr_contains("skipped: already exists");
}

#[test]
fn dir_and_oci_files_have_the_same_permissions_as_skopeos() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempdir();
    let mut diffs = Vec::new();
    for t in ALL {
        let ours = t.path(tmp.path(), &format!("ours-{}", t.name()));
        let theirs = t.path(tmp.path(), &format!("theirs-{}", t.name()));
        skiff_copy(["-q", &hello(), &t.name_for(&ours)]).assert_success();
        skopeo_copy(["-q", &hello(), &t.name_for(&theirs)]).assert_success();
        let a = snapshot(&ours);
        for rel in a.entries.keys() {
            let pa = if rel.is_empty() {
                ours.clone()
            } else {
                ours.join(rel)
            };
            let pb = if rel.is_empty() {
                theirs.clone()
            } else {
                theirs.join(rel)
            };
            let ma = fs::metadata(&pa).unwrap().permissions().mode() & 0o7777;
            let mb = fs::metadata(&pb).unwrap().permissions().mode() & 0o7777;
            if ma != mb {
                diffs.push(format!("{} {rel:?}: skiff {ma:o}, skopeo {mb:o}", t.name()));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "file modes differ from skopeo's (same umask):\n  {}",
        diffs.join("\n  ")
    );
}

/// Copying over an existing destination keeps its mode, as skopeo (which writes into it)
/// does: a private image stays private.
#[test]
fn an_existing_destination_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempdir();
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    let chmod =
        |path: &Path, m: u32| fs::set_permissions(path, fs::Permissions::from_mode(m)).unwrap();
    for t in ALL {
        let mut seen = Vec::new();
        for who in ["ours", "theirs"] {
            let dest = t.path(tmp.path(), &format!("{who}-{}", t.name()));
            skopeo_copy(["-q", &hello(), &t.name_for(&dest)]).assert_success();
            chmod(&dest, if t == T::OciArchive { 0o600 } else { 0o700 });
            if t == T::Oci {
                chmod(&dest.join("index.json"), 0o640);
            }
            // The same image again, under another tag where there are tags.
            let again = t.name_for(&dest).replace(":latest", ":again");
            let out = if who == "ours" {
                skiff_copy(["-q", &hello(), &again])
            } else {
                skopeo_copy(["-q", &hello(), &again])
            };
            out.assert_success();
            let mut modes = vec![mode(&dest)];
            if t == T::Oci {
                modes.push(mode(&dest.join("index.json")));
            }
            seen.push(modes);
        }
        assert_eq!(
            seen[0],
            seen[1],
            "{}: skiff's modes (left) against skopeo's",
            t.name()
        );
    }
    // docker-archive: skopeo 1.9.3 cannot add to an existing archive; skiff adds a tagged
    // image by rewriting it, and must keep the file's mode.
    let archive = tmp.path().join("a.tar");
    skopeo_copy(["-q", &hello(), &format!("docker-archive:{}", p(&archive))]).assert_success();
    chmod(&archive, 0o600);
    skiff_copy([
        "-q",
        &hello(),
        &format!("docker-archive:{}:skiff/hello:again", p(&archive)),
    ])
    .assert_success();
    assert_eq!(
        mode(&archive),
        0o600,
        "docker-archive rewritten with another mode"
    );
}

// ------------------------------------------------------------------------------------------
// --digestfile
// ------------------------------------------------------------------------------------------

#[test]
fn digestfile_holds_the_digest_skopeo_reports() {
    let tmp = tempdir();
    for t in ALL {
        let dest = t.path(tmp.path(), &format!("img-{}", t.name()));
        let df = tmp.path().join(format!("digest-{}", t.name()));
        let sdf = tmp.path().join(format!("skopeo-digest-{}", t.name()));
        skiff_copy(["-q", "--digestfile", &p(&df), &hello(), &t.name_for(&dest)]).assert_success();
        let content = fs::read_to_string(&df).unwrap();
        assert_eq!(
            content,
            skopeo_inspect_digest(&t.name_for(&dest)),
            "--digestfile for {}",
            t.name()
        );
        let sdest = t.path(tmp.path(), &format!("skopeo-img-{}", t.name()));
        skopeo_copy([
            "-q",
            "--digestfile",
            &p(&sdf),
            &hello(),
            &t.name_for(&sdest),
        ])
        .assert_success();
        assert_eq!(
            content,
            fs::read_to_string(&sdf).unwrap(),
            "skopeo's --digestfile differs ({})",
            t.name()
        );
    }
}

/// A signed schema 1 manifest's digest leaves its signatures out (they differ between
/// runs: each conversion signs with a new key), so both tools write the same digest.
#[test]
fn digestfile_for_a_signed_schema1_manifest_skips_the_signatures() {
    let tmp = tempdir();
    let mut digests = Vec::new();
    for (who, copy) in [
        ("ours", skiff_copy as fn([String; 6]) -> Out),
        ("theirs", skopeo_copy),
    ] {
        let df = tmp.path().join(format!("{who}.digest"));
        let dest = format!("dir:{}", p(&tmp.path().join(who)));
        copy([
            "-q".to_string(),
            "--format=v2s1".to_string(),
            "--digestfile".to_string(),
            p(&df),
            hello(),
            dest,
        ])
        .assert_success();
        digests.push(fs::read_to_string(&df).unwrap());
    }
    assert_eq!(
        digests[0], digests[1],
        "skiff's --digestfile (left) against skopeo's"
    );
}

#[test]
fn digestfile_for_a_list_is_the_index_digest() {
    let tmp = tempdir();
    let dest = tmp.path().join("all");
    let df = tmp.path().join("digest");
    skiff_copy([
        "-q",
        "--all",
        "--digestfile",
        &p(&df),
        &multi(),
        &format!("oci:{}:latest", p(&dest)),
    ])
    .assert_success();
    let raw = skopeo_inspect_raw(&format!("oci:{}:latest", p(&dest)));
    assert_eq!(fs::read_to_string(&df).unwrap(), sha256_digest(&raw));
    assert_eq!(sha256_digest(&raw), MULTI_INDEX);

    // With a single instance picked, the digest is the instance's.
    let one = tmp.path().join("one");
    let df1 = tmp.path().join("digest1");
    skiff_copy([
        "-q",
        "--override-arch",
        "arm64",
        "--digestfile",
        &p(&df1),
        &multi(),
        &format!("dir:{}", p(&one)),
    ])
    .assert_success();
    assert_eq!(fs::read_to_string(&df1).unwrap(), MULTI_ARM64);
}

// ------------------------------------------------------------------------------------------
// Compression
// ------------------------------------------------------------------------------------------

/// gzip → zstd (oci) → uncompressed (dir, --dest-decompress) → gzip (oci): the diff_ids never
/// change and always match the layers; skopeo reads every step.
#[test]
fn compression_round_trip_keeps_diff_ids() {
    let tmp = tempdir();
    let original = load_oci(&example("hello-oci"), Some("latest"));
    let diff_ids = original.diff_ids();
    assert_eq!(
        original.computed_diff_ids(),
        diff_ids,
        "example image is inconsistent"
    );

    let zst = tmp.path().join("zstd");
    let z = skiff_copy_to_oci(
        &["--dest-compress-format", "zstd", &hello()],
        &zst,
        "gzip → zstd",
    );
    assert_eq!(z.diff_ids(), diff_ids, "gzip → zstd changed diff_ids");
    assert_eq!(
        z.layer_compressions(),
        vec![Comp::Zstd; 3],
        "gzip → zstd: layers are not zstd"
    );
    for (mt, _) in &z.layers {
        assert_eq!(mt, "application/vnd.oci.image.layer.v1.tar+zstd");
    }
    let zname = format!("oci:{}:latest", p(&zst));
    assert_skopeo_sees_diff_ids(&zname, &diff_ids);
    // skopeo's zstd copy has the same structure (bytes may differ: different encoders).
    let szst = tmp.path().join("skopeo-zstd");
    skopeo_copy([
        "-q",
        "--dest-compress-format",
        "zstd",
        &hello(),
        &format!("oci:{}:latest", p(&szst)),
    ])
    .assert_success();
    let sz = load_oci(&szst, Some("latest"));
    assert_eq!(sz.diff_ids(), z.diff_ids());
    let mts = |l: &Loaded| l.layers.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>();
    assert_eq!(mts(&sz), mts(&z));

    let plain = tmp.path().join("plain");
    let u = skiff_copy_to_dir(
        &["-q", "--dest-decompress", &zname],
        &plain,
        "zstd → uncompressed dir",
    );
    assert_eq!(u.diff_ids(), diff_ids);
    assert_eq!(
        u.layer_compressions(),
        vec![Comp::None; 3],
        "--dest-decompress left compressed layers"
    );
    for ((mt, blob), diff_id) in u.layers.iter().zip(&diff_ids) {
        assert_eq!(mt, "application/vnd.oci.image.layer.v1.tar");
        assert_eq!(
            &sha256_digest(blob),
            diff_id,
            "an uncompressed layer's digest is its diff_id"
        );
    }
    let pname = format!("dir:{}", p(&plain));
    assert_skopeo_sees_diff_ids(&pname, &diff_ids);
    // skopeo decompressing the same zstd image produces identical bytes.
    let splain = tmp.path().join("skopeo-plain");
    skopeo_copy([
        "-q",
        "--dest-decompress",
        &zname,
        &format!("dir:{}", p(&splain)),
    ])
    .assert_success();
    assert_same_tree(&plain, &splain, "zstd → --dest-decompress dir");

    let gz = tmp.path().join("gzip");
    let g = skiff_copy_to_oci(&["-q", &pname], &gz, "uncompressed dir → oci (gzip)");
    assert_eq!(g.diff_ids(), diff_ids);
    assert_eq!(g.layer_compressions(), vec![Comp::Gzip; 3]);
    let gname = format!("oci:{}:latest", p(&gz));
    assert_skopeo_sees_diff_ids(&gname, &diff_ids);
    // skopeo can copy the final image and its docker-archive writer checks diff_ids.
    let da = tmp.path().join("final.tar");
    skopeo_copy([
        "-q",
        &gname,
        &format!("docker-archive:{}:skiff/rt:latest", p(&da)),
    ])
    .assert_success();
}

#[test]
fn dest_compress_to_dir_gzips_uncompressed_layers() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let img = build_oci_image(
        &src,
        "latest",
        &[layer(50_000, Comp::None), layer(20_000, Comp::None)],
        1,
    );
    let out = tmp.path().join("d");
    let l = skiff_copy_to_dir(
        &["-q", "--dest-compress", &img.oci_ref()],
        &out,
        "--dest-compress",
    );
    assert_eq!(l.layer_compressions(), vec![Comp::Gzip; 2]);
    assert_eq!(l.diff_ids(), img.diff_ids);
    assert_skopeo_sees_diff_ids(&format!("dir:{}", p(&out)), &img.diff_ids);

    // Without a compression flag, dir: keeps the layers as they are (like skopeo).
    let keep = tmp.path().join("keep");
    let skeep = tmp.path().join("skeep");
    skiff_copy(["-q", &img.oci_ref(), &format!("dir:{}", p(&keep))]).assert_success();
    skopeo_copy(["-q", &img.oci_ref(), &format!("dir:{}", p(&skeep))]).assert_success();
    assert_same_tree(&keep, &skeep, "uncompressed → dir:");
    assert_eq!(load_dir(&keep).manifest_digest(), img.manifest_digest);
}

#[test]
fn dest_compress_level_is_accepted_for_gzip_and_zstd() {
    // Uncompressed layers, so every level really compresses something.
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let img = build_oci_image(&src, "latest", &[layer(400_000, Comp::None)], 5);
    let raw = std::fs::metadata(oci_blob(&src, &img.layer_digests[0]))
        .unwrap()
        .len();
    let src_ref = img.oci_ref();
    let copy_at = |fmt: &str, lvl: Option<&str>| -> Vec<u8> {
        let out = tmp
            .path()
            .join(format!("{fmt}-{}", lvl.unwrap_or("default")));
        let mut args = vec!["-q", "--dest-compress-format", fmt];
        if let Some(l) = lvl {
            args.extend(["--dest-compress-level", l]);
        }
        args.push(&src_ref);
        let context = format!("{fmt} level {lvl:?}");
        let l = skiff_copy_to_oci(&args, &out, &context);
        let comp = if fmt == "gzip" {
            Comp::Gzip
        } else {
            Comp::Zstd
        };
        assert_eq!(l.layer_compressions(), vec![comp], "{context}");
        assert_eq!(l.diff_ids(), img.diff_ids, "{context}");
        let blob = l.layers[0].1.clone();
        // Half the payload is noise: compressed means well below the raw size (stored
        // deflate, what level -1 used to give, is slightly above it).
        assert!(
            (blob.len() as u64) < raw * 9 / 10,
            "{context}: {} of {raw} bytes",
            blob.len()
        );
        blob
    };
    let fast = copy_at("gzip", Some("1"));
    let best = copy_at("gzip", Some("9"));
    assert!(
        best.len() < fast.len(),
        "level 9 {} vs level 1 {}",
        best.len(),
        fast.len()
    );
    // pgzip's special levels: -1 is the default level, -2 stands in as level 1.
    assert_eq!(copy_at("gzip", Some("-1")), copy_at("gzip", None));
    assert_eq!(copy_at("gzip", Some("-2")), fast);
    copy_at("zstd", Some("19"));
}

#[test]
fn uncompressed_layers_are_gzipped_into_oci_unless_accepted() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let img = build_oci_image(
        &src,
        "latest",
        &[layer(100_000, Comp::None), layer(30_000, Comp::None)],
        2,
    );

    let gz = tmp.path().join("gz");
    let g = skiff_copy_to_oci(&["-q", &img.oci_ref()], &gz, "uncompressed → oci:");
    assert_eq!(
        g.layer_compressions(),
        vec![Comp::Gzip; 2],
        "oci: destinations must compress uncompressed layers"
    );
    for (mt, _) in &g.layers {
        assert_eq!(mt, "application/vnd.oci.image.layer.v1.tar+gzip");
    }
    assert_eq!(g.diff_ids(), img.diff_ids);
    // skopeo does the same (bytes differ: different gzip encoders, so compare structure).
    let sgz = tmp.path().join("sgz");
    skopeo_copy(["-q", &img.oci_ref(), &format!("oci:{}:latest", p(&sgz))]).assert_success();
    let sg = load_oci(&sgz, Some("latest"));
    assert_eq!(sg.layer_compressions(), g.layer_compressions());
    assert_eq!(sg.diff_ids(), g.diff_ids());
    assert_skopeo_sees_diff_ids(&format!("oci:{}:latest", p(&gz)), &img.diff_ids);

    let keep = tmp.path().join("keep");
    let skeep = tmp.path().join("skeep");
    let flag = "--dest-oci-accept-uncompressed-layers";
    skiff_copy([
        "-q",
        flag,
        &img.oci_ref(),
        &format!("oci:{}:latest", p(&keep)),
    ])
    .assert_success();
    skopeo_copy([
        "-q",
        flag,
        &img.oci_ref(),
        &format!("oci:{}:latest", p(&skeep)),
    ])
    .assert_success();
    assert_same_tree(
        &keep,
        &skeep,
        "uncompressed → oci: with --dest-oci-accept-uncompressed-layers",
    );
    let k = load_oci(&keep, Some("latest"));
    assert_eq!(k.layer_compressions(), vec![Comp::None; 2]);
    assert_eq!(
        k.manifest_digest(),
        img.manifest_digest,
        "nothing should have been rewritten"
    );
}

#[test]
fn zstd_source_layers_are_preserved_and_readable_by_skopeo() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let img = build_oci_image(
        &src,
        "v1",
        &[layer(60_000, Comp::Zstd), layer(10_000, Comp::Gzip)],
        3,
    );
    for t in ALL {
        let ours = t.path(tmp.path(), &format!("ours-{}", t.name()));
        let theirs = t.path(tmp.path(), &format!("theirs-{}", t.name()));
        skiff_copy(["-q", &img.oci_ref(), &t.name_for(&ours)]).assert_success();
        skopeo_copy(["-q", &img.oci_ref(), &t.name_for(&theirs)]).assert_success();
        assert_same_output(t, &ours, &theirs, &format!("zstd image → {}", t.name()));
        assert_eq!(
            skopeo_inspect_digest(&t.name_for(&ours)),
            img.manifest_digest
        );
    }
    // Decompressing zstd into dir:.
    let d = tmp.path().join("dec");
    let l = skiff_copy_to_dir(
        &["-q", "--dest-decompress", &img.oci_ref()],
        &d,
        "zstd → --dest-decompress",
    );
    assert_eq!(l.layer_compressions(), vec![Comp::None; 2]);
    assert_eq!(l.diff_ids(), img.diff_ids);
}
