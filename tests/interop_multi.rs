//! Interoperability with skopeo 1.9.3 for images of several parts: lists (one instance,
//! `--all`, platform choice), several images in one OCI layout, and shared blob
//! directories. (Single images and compression: tests/interop.rs.)

#[path = "support/same_as_skopeo.rs"]
mod same_as_skopeo;
mod support;

use std::fs;

use same_as_skopeo::*;
use support::*;

// ------------------------------------------------------------------------------------------
// Multi-arch
// ------------------------------------------------------------------------------------------

#[test]
fn override_arch_picks_the_same_instance_as_skopeo() {
    let tmp = tempdir();
    let cases: [(&[&str], &str); 4] = [
        (&["--override-arch", "arm64"], MULTI_ARM64),
        (
            &["--override-arch", "arm", "--override-variant", "v7"],
            MULTI_ARMV7,
        ),
        (
            &["--override-arch", "amd64", "--override-os", "linux"],
            MULTI_AMD64,
        ),
        (
            &["--override-arch", "arm64", "--override-variant", "v8"],
            MULTI_ARM64,
        ),
    ];
    for (i, (opts, want)) in cases.iter().enumerate() {
        // As `copy` options.
        let ours = tmp.path().join(format!("ours{i}"));
        let mut a: Vec<String> = vec!["-q".into()];
        a.extend(opts.iter().map(|s| s.to_string()));
        a.push(multi());
        a.push(format!("dir:{}", p(&ours)));
        skiff_copy(&a).assert_success();
        assert_eq!(sha256_file(&ours.join("manifest.json")), *want, "{opts:?}");
        // As global options, and compared with skopeo.
        let global = tmp.path().join(format!("global{i}"));
        let theirs = tmp.path().join(format!("theirs{i}"));
        let mut g: Vec<String> = vec!["--insecure-policy".into()];
        g.extend(opts.iter().map(|s| s.to_string()));
        g.extend(["copy".into(), "-q".into(), multi()]);
        run(skiff().args(&g).arg(format!("dir:{}", p(&global)))).assert_success();
        run(skopeo().args(&g).arg(format!("dir:{}", p(&theirs)))).assert_success();
        assert_same_tree(&ours, &theirs, &format!("{opts:?} (copy option)"));
        assert_same_tree(&global, &theirs, &format!("{opts:?} (global option)"));
    }
}

#[test]
fn default_platform_choice_matches_skopeo() {
    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    skiff_copy(["-q", &multi(), &format!("dir:{}", p(&ours))]).assert_success();
    skopeo_copy(["-q", &multi(), &format!("dir:{}", p(&theirs))]).assert_success();
    assert_same_tree(
        &ours,
        &theirs,
        "multiarch-oci → dir: for this machine's platform",
    );
}

#[test]
fn platform_missing_from_the_list_fails_like_skopeo() {
    let tmp = tempdir();
    let dest = tmp.path().join("d");
    let ours = skiff_copy([
        "--override-arch",
        "s390x",
        &multi(),
        &format!("dir:{}", p(&dest)),
    ]);
    // (skopeo creates a dir: destination before failing, so it gets its own.)
    let theirs = skopeo_copy([
        "--override-arch",
        "s390x",
        &multi(),
        &format!("dir:{}", p(&tmp.path().join("s"))),
    ]);
    theirs.assert_exit1();
    ours.assert_error().assert_stderr_contains("s390x");
    assert!(
        !dest.exists(),
        "destination created although no instance matched: {ours}"
    );
}

#[test]
fn all_copies_the_index_and_every_instance_like_skopeo() {
    let tmp = tempdir();
    for t in ALL {
        for flags in [&["--all"][..], &["--multi-arch", "all"][..]] {
            let tag = flags.join("");
            let ours = t.path(tmp.path(), &format!("ours-{}{tag}", t.name()));
            let theirs = t.path(tmp.path(), &format!("theirs-{}{tag}", t.name()));
            let mut a: Vec<String> = vec!["-q".into()];
            a.extend(flags.iter().map(|s| s.to_string()));
            let sa = a.clone();
            a.extend([multi(), t.name_for(&ours)]);
            skiff_copy(&a).assert_success();
            let mut sa = sa;
            sa.extend([multi(), t.name_for(&theirs)]);
            skopeo_copy(&sa).assert_success();
            assert_same_output(
                t,
                &ours,
                &theirs,
                &format!("{flags:?} multiarch-oci → {}", t.name()),
            );
            assert_eq!(
                sha256_digest(&skopeo_inspect_raw(&t.name_for(&ours))),
                MULTI_INDEX
            );
        }
    }
    // Every instance is usable through skopeo.
    let ours = tmp.path().join("ours-oci--all");
    for (arch, variant, want) in [
        ("amd64", None, MULTI_AMD64),
        ("arm64", None, MULTI_ARM64),
        ("arm", Some("v7"), MULTI_ARMV7),
    ] {
        let d = tmp.path().join(format!("inst-{arch}"));
        let mut c = skopeo();
        c.args(["--insecure-policy", "--override-arch", arch]);
        if let Some(v) = variant {
            c.args(["--override-variant", v]);
        }
        c.args([
            "copy",
            "-q",
            &format!("oci:{}:latest", p(&ours)),
            &format!("dir:{}", p(&d)),
        ]);
        run(&mut c).assert_success();
        assert_eq!(sha256_file(&d.join("manifest.json")), want);
    }
}

#[test]
fn multi_arch_system_copies_one_instance() {
    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    skiff_copy([
        "-q",
        "--multi-arch",
        "system",
        "--override-arch",
        "arm64",
        &multi(),
        &format!("oci:{}:x", p(&ours)),
    ])
    .assert_success();
    skopeo_copy([
        "-q",
        "--multi-arch",
        "system",
        "--override-arch",
        "arm64",
        &multi(),
        &format!("oci:{}:x", p(&theirs)),
    ])
    .assert_success();
    assert_same_tree(&ours, &theirs, "--multi-arch system");
    assert_eq!(oci_index_entry(&ours, Some("x"))["digest"], MULTI_ARM64);
}

#[test]
fn index_only_into_a_layout_that_has_the_instances_matches_skopeo() {
    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    skopeo_copy([
        "-q",
        "--all",
        &multi(),
        &format!("oci:{}:instances", p(&ours)),
    ])
    .assert_success();
    let theirs = tmp.path().join("theirs");
    copy_tree(&ours, &theirs);
    skiff_copy([
        "-q",
        "--multi-arch",
        "index-only",
        &multi(),
        &format!("oci:{}:idx", p(&ours)),
    ])
    .assert_success();
    skopeo_copy([
        "-q",
        "--multi-arch",
        "index-only",
        &multi(),
        &format!("oci:{}:idx", p(&theirs)),
    ])
    .assert_success();
    assert_same_tree(
        &ours,
        &theirs,
        "--multi-arch index-only into a layout with the instances",
    );
    assert_eq!(
        sha256_digest(&skopeo_inspect_raw(&format!("oci:{}:idx", p(&ours)))),
        MULTI_INDEX
    );

    // Into an empty layout only the index is written (like skopeo).
    let e = tmp.path().join("empty-ours");
    let se = tmp.path().join("empty-theirs");
    skiff_copy([
        "-q",
        "--multi-arch",
        "index-only",
        &multi(),
        &format!("oci:{}:idx", p(&e)),
    ])
    .assert_success();
    skopeo_copy([
        "-q",
        "--multi-arch",
        "index-only",
        &multi(),
        &format!("oci:{}:idx", p(&se)),
    ])
    .assert_success();
    assert_same_tree(&e, &se, "--multi-arch index-only into a new layout");
}

#[test]
fn preserve_digests_copies_unchanged() {
    let tmp = tempdir();
    for t in ALL {
        let d = t.path(tmp.path(), &format!("pd-{}", t.name()));
        skiff_copy(["-q", "--preserve-digests", &hello(), &t.name_for(&d)]).assert_success();
        assert_eq!(skopeo_inspect_digest(&t.name_for(&d)), HELLO_MANIFEST);
    }
    let d = tmp.path().join("all");
    skiff_copy([
        "-q",
        "--all",
        "--preserve-digests",
        &multi(),
        &format!("oci:{}:latest", p(&d)),
    ])
    .assert_success();
    assert_eq!(oci_index_entry(&d, Some("latest"))["digest"], MULTI_INDEX);
}

// ------------------------------------------------------------------------------------------
// Several images in one OCI layout
// ------------------------------------------------------------------------------------------

#[test]
fn oci_layout_with_two_tags_matches_skopeo_and_both_resolve() {
    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    for l in [&ours, &theirs] {
        let is_ours = l == &ours;
        let cp = |args: &[String]| {
            if is_ours {
                skiff_copy(args)
            } else {
                skopeo_copy(args)
            }
        };
        cp(&["-q".into(), hello(), format!("oci:{}:a", p(l))]).assert_success();
        cp(&[
            "-q".into(),
            "--override-arch".into(),
            "arm64".into(),
            multi(),
            format!("oci:{}:b", p(l)),
        ])
        .assert_success();
    }
    assert_same_tree(&ours, &theirs, "two tags in one layout");
    assert_eq!(
        skopeo_inspect_digest(&format!("oci:{}:a", p(&ours))),
        HELLO_MANIFEST
    );
    assert_eq!(
        skopeo_inspect_digest(&format!("oci:{}:b", p(&ours))),
        MULTI_ARM64
    );
    // skiff reads both back.
    for (r, want) in [("a", HELLO_MANIFEST), ("b", MULTI_ARM64)] {
        let d = tmp.path().join(format!("read-{r}"));
        skiff_copy([
            "-q",
            &format!("oci:{}:{r}", p(&ours)),
            &format!("dir:{}", p(&d)),
        ])
        .assert_success();
        assert_eq!(sha256_file(&d.join("manifest.json")), want);
    }

    // Re-pointing a tag moves it (the old manifest loses the name), as skopeo does.
    skiff_copy(["-q", &hello(), &format!("oci:{}:b", p(&ours))]).assert_success();
    skopeo_copy(["-q", &hello(), &format!("oci:{}:b", p(&theirs))]).assert_success();
    assert_same_tree(&ours, &theirs, "re-tagging b");
    assert_eq!(
        skopeo_inspect_digest(&format!("oci:{}:b", p(&ours))),
        HELLO_MANIFEST
    );

    // Adding an untagged image, as skopeo does.
    skiff_copy([
        "-q",
        "--override-arch",
        "arm",
        "--override-variant",
        "v7",
        &multi(),
        &format!("oci:{}", p(&ours)),
    ])
    .assert_success();
    skopeo_copy([
        "-q",
        "--override-arch",
        "arm",
        "--override-variant",
        "v7",
        &multi(),
        &format!("oci:{}", p(&theirs)),
    ])
    .assert_success();
    assert_same_tree(&ours, &theirs, "adding an image without a reference");
}

#[test]
fn source_without_reference_in_a_layout_with_two_images_fails_clearly() {
    let tmp = tempdir();
    let l = tmp.path().join("l");
    skiff_copy(["-q", &hello(), &format!("oci:{}:a", p(&l))]).assert_success();
    skiff_copy([
        "-q",
        "--override-arch",
        "arm64",
        &multi(),
        &format!("oci:{}:b", p(&l)),
    ])
    .assert_success();
    let dest = tmp.path().join("d");
    let ours = skiff_copy([format!("oci:{}", p(&l)), format!("dir:{}", p(&dest))]);
    // (skopeo creates a dir: destination before failing, so it gets its own.)
    let theirs = skopeo_copy([
        format!("oci:{}", p(&l)),
        format!("dir:{}", p(&tmp.path().join("s"))),
    ]);
    theirs
        .assert_exit1()
        .assert_stderr_contains("more than one image in oci, choose an image");
    ours.assert_error()
        .assert_stderr_contains("more than one image in oci, choose an image");
    assert!(!dest.exists());
    // A reference that isn't there.
    let ours = skiff_copy([format!("oci:{}:nope", p(&l)), format!("dir:{}", p(&dest))]);
    ours.assert_not_found()
        .assert_stderr_contains("no descriptor found for reference \"nope\"");
    assert!(!dest.exists());
}

// ------------------------------------------------------------------------------------------
// Shared blob directories
// ------------------------------------------------------------------------------------------

#[test]
fn shared_blob_dirs_behave_like_skopeo() {
    let tmp = tempdir();
    let (ours, oshared) = (tmp.path().join("ours"), tmp.path().join("ours-shared"));
    let (theirs, tshared) = (tmp.path().join("theirs"), tmp.path().join("theirs-shared"));
    skiff_copy([
        "-q",
        "--dest-shared-blob-dir",
        &p(&oshared),
        &hello(),
        &format!("oci:{}:latest", p(&ours)),
    ])
    .assert_success();
    skopeo_copy([
        "-q",
        "--dest-shared-blob-dir",
        &p(&tshared),
        &hello(),
        &format!("oci:{}:latest", p(&theirs)),
    ])
    .assert_success();
    // The blobs are in the shared dir, exactly skopeo's set...
    assert_same_tree(&oshared, &tshared, "--dest-shared-blob-dir contents");
    assert!(
        oci_blob(&ours, HELLO_MANIFEST)
            .parent()
            .map(|d| !d.exists() || list_dir(d).is_empty())
            .unwrap()
    );
    // ...and no blob file is inside the layout.
    let layout_files: Vec<String> = snapshot(&ours)
        .entries
        .into_iter()
        .filter(|(_, e)| matches!(e, Entry::File { .. }))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        layout_files,
        vec!["index.json".to_string(), "oci-layout".to_string()]
    );
    assert_eq!(
        fs::read(ours.join("index.json")).unwrap(),
        fs::read(theirs.join("index.json")).unwrap()
    );

    // Reading with --src-shared-blob-dir, by skiff and by skopeo, from either writer.
    for (layout, shared) in [(&ours, &oshared), (&theirs, &tshared)] {
        let src = format!("oci:{}:latest", p(layout));
        let a = tmp.path().join(format!(
            "read-skiff-{}",
            layout.file_name().unwrap().to_string_lossy()
        ));
        let b = tmp.path().join(format!(
            "read-skopeo-{}",
            layout.file_name().unwrap().to_string_lossy()
        ));
        skiff_copy([
            "-q",
            "--src-shared-blob-dir",
            &p(shared),
            &src,
            &format!("dir:{}", p(&a)),
        ])
        .assert_success();
        skopeo_copy([
            "-q",
            "--src-shared-blob-dir",
            &p(shared),
            &src,
            &format!("dir:{}", p(&b)),
        ])
        .assert_success();
        assert_same_tree(&a, &b, "--src-shared-blob-dir");
        assert_eq!(sha256_file(&a.join("manifest.json")), HELLO_MANIFEST);
    }
    // Without the shared dir the layout cannot be read.
    let c = tmp.path().join("no-shared");
    skiff_copy([format!("oci:{}:latest", p(&ours)), format!("dir:{}", p(&c))]).assert_error();
    assert!(!c.exists());
}

/// A layer of several MiB is gzipped in blocks on all cores (pigz-style); Go's gzip reader
/// in skopeo must get back exactly the original bytes.
#[test]
fn multi_block_gzip_layers_decompress_to_the_original_in_skopeo() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let img = build_oci_image(&src, "latest", &[layer(3_500_000, Comp::None)], 7);
    let gz = tmp.path().join("gz");
    let g = skiff_copy_to_oci(&["-q", &img.oci_ref()], &gz, "uncompressed → oci (gzip)");
    assert_eq!(g.layer_compressions(), vec![Comp::Gzip]);

    let plain = tmp.path().join("plain");
    skopeo_copy([
        "-q",
        "--dest-decompress",
        &format!("oci:{}:latest", p(&gz)),
        &format!("dir:{}", p(&plain)),
    ])
    .assert_success();
    let original = std::fs::read(oci_blob(&src, &img.layer_digests[0])).unwrap();
    assert!(original.len() > 3 << 20);
    let back = std::fs::read(dir_blob(&plain, &img.diff_ids[0])).unwrap();
    assert!(back == original, "skopeo's gunzip of skiff's layer differs");
}
