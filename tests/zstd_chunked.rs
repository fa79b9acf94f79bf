//! `--dest-compress-format zstd:chunked` against skopeo 1.9.3: the same annotations, a TOC
//! with the same entries (digests, sizes, chunk splits; only compressed offsets differ, the
//! zstd encoders differ), a footer that points at it, offsets that address each file's
//! frames, a layer any zstd reader decompresses to its diff ID; skopeo reads skiff's layers
//! and skiff reads skopeo's.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::*;

const CHECKSUM: &str = "io.containers.zstd-chunked.manifest-checksum";
const POSITION: &str = "io.containers.zstd-chunked.manifest-position";

/// A tar with what chunking has to deal with: a file large enough to be split by the rolling
/// checksum, a run of zeros, an empty file, a directory, a symlink, a hard link, a name longer
/// than 100 bytes and an xattr (PAX); with `gnu_padding`, GNU tar's record padding after
/// the end blocks.
fn tricky_tar(gnu_padding: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let header = |kind: tar::EntryType, size: usize| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size as u64);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_704_067_200);
        h
    };
    b.append_data(&mut header(tar::EntryType::Directory, 0), "data/", &[][..])
        .unwrap();
    let big = pseudo_random(7, 400_000);
    b.append_data(
        &mut header(tar::EntryType::Regular, big.len()),
        "data/big.bin",
        &big[..],
    )
    .unwrap();
    let mut holey = pseudo_random(8, 3000);
    holey.extend(vec![0u8; 9000]);
    holey.extend(pseudo_random(9, 2000));
    b.append_data(
        &mut header(tar::EntryType::Regular, holey.len()),
        "data/holey.bin",
        &holey[..],
    )
    .unwrap();
    b.append_data(
        &mut header(tar::EntryType::Regular, 0),
        "data/empty",
        &[][..],
    )
    .unwrap();
    let long = format!("data/{}.txt", "n".repeat(120));
    b.append_data(
        &mut header(tar::EntryType::Regular, 5),
        &long,
        &b"long\n"[..],
    )
    .unwrap();
    let mut link = header(tar::EntryType::Symlink, 0);
    b.append_link(&mut link, "data/link", "big.bin").unwrap();
    let mut hard = header(tar::EntryType::Link, 0);
    b.append_link(&mut hard, "data/hard", "data/big.bin")
        .unwrap();
    b.append_pax_extensions([("SCHILY.xattr.user.note", &b"hi"[..])])
        .unwrap();
    b.append_data(
        &mut header(tar::EntryType::Regular, 3),
        "data/xattr.txt",
        &b"x!\n"[..],
    )
    .unwrap();
    let mut tar = b.into_inner().unwrap();
    if gnu_padding {
        // GNU tar pads the archive to a multiple of 10240 bytes.
        tar.resize(tar.len().div_ceil(10240) * 10240 + 10240, 0);
    }
    tar
}

/// An OCI layout with one uncompressed layer holding `tar`.
fn image_of(layout: &Path, tar: &[u8]) -> String {
    let oci = OciLayout::create(layout);
    let layer = oci.put_layer("application/vnd.oci.image.layer.v1.tar", tar);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    }))
    .unwrap();
    oci.put_image("v1", &config, &[layer]).oci_ref()
}

/// Each layer's (descriptor, blob) of the image tagged `v1` in `layout`.
fn layers(layout: &Path) -> Vec<(Value, Vec<u8>)> {
    let loaded = load_oci(layout, Some("v1"));
    let descs = loaded.manifest["layers"].as_array().unwrap().clone();
    descs
        .into_iter()
        .zip(loaded.layers)
        .map(|(d, (_, blob))| (d, blob))
        .collect()
}

/// Checks the footer and checksum against the annotations; returns the TOC.
fn toc_of(desc: &Value, blob: &[u8]) -> Value {
    let pos: Vec<u64> = desc["annotations"][POSITION]
        .as_str()
        .unwrap()
        .split(':')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(pos.len(), 4, "{desc}");
    assert_eq!(pos[3], 1, "the CRFS TOC type");
    let (off, len, plain_len) = (pos[0] as usize, pos[1] as usize, pos[2] as usize);
    let compressed = &blob[off..off + len];
    assert_eq!(
        desc["annotations"][CHECKSUM].as_str().unwrap(),
        sha256_digest(compressed),
        "the checksum is the compressed TOC's digest"
    );
    // The skippable frame holding the TOC, then the footer frame.
    assert_eq!(&blob[off - 8..off - 4], &[0x50, 0x2a, 0x4d, 0x18]);
    assert_eq!(&blob[off - 4..off], &(len as u32).to_le_bytes());
    let footer = &blob[blob.len() - 40..];
    assert_eq!(
        &blob[blob.len() - 48..blob.len() - 40],
        &[0x50, 0x2a, 0x4d, 0x18, 40, 0, 0, 0]
    );
    let le = |i: usize| u64::from_le_bytes(footer[i * 8..i * 8 + 8].try_into().unwrap());
    assert_eq!((le(0), le(1), le(2), le(3)), (pos[0], pos[1], pos[2], 1));
    assert_eq!(&footer[32..], b"GnUlInUx");
    let plain = zstd::decode_all(compressed).unwrap();
    assert_eq!(plain.len(), plain_len);
    serde_json::from_slice(&plain).unwrap()
}

/// The TOC without compressed offsets (which depend on the zstd encoder).
fn without_offsets(toc: &Value) -> Value {
    let mut toc = toc.clone();
    for e in toc["entries"].as_array_mut().unwrap() {
        let e = e.as_object_mut().unwrap();
        e.remove("offset");
        e.remove("endOffset");
    }
    toc
}

/// Every file's (and chunk's) frames decompress to the bytes its digest names; returns how
/// many were checked.
fn assert_offsets_address_the_files(toc: &Value, blob: &[u8]) -> usize {
    let entries = toc["entries"].as_array().unwrap();
    let mut checked = 0;
    for (i, e) in entries.iter().enumerate() {
        let off = e["offset"].as_u64().unwrap_or(0) as usize;
        let (end, digest) = if let Some(c) = e["chunkDigest"].as_str() {
            // A chunk runs to the file's next chunk (or to the file's end offset).
            let next = entries
                .get(i + 1)
                .filter(|n| n["type"] == "chunk" && n["name"] == e["name"])
                .map(|n| n["offset"].as_u64().unwrap() as usize);
            let end = next.unwrap_or_else(|| {
                entries[..=i]
                    .iter()
                    .rev()
                    .find_map(|n| n["endOffset"].as_u64())
                    .unwrap() as usize
            });
            (end, c.to_string())
        } else if let Some(d) = e["digest"].as_str() {
            (e["endOffset"].as_u64().unwrap() as usize, d.to_string())
        } else {
            continue;
        };
        let plain = zstd::decode_all(&blob[off..end]).unwrap();
        assert_eq!(sha256_digest(&plain), digest, "entry {i}: {e}");
        checked += 1;
    }
    checked
}

#[test]
fn zstd_chunked_layers_match_what_skopeo_writes() {
    let t = tempdir();
    let tar = tricky_tar(false);
    let src = image_of(&t.path().join("src"), &tar);
    let ours = t.path().join("ours");
    let theirs = t.path().join("theirs");
    let flags = ["--dest-compress-format", "zstd:chunked"];
    skiff_copy([&flags[..], &[&src, &format!("oci:{}:v1", p(&ours))]].concat()).assert_success();
    skopeo_copy([&flags[..], &[&src, &format!("oci:{}:v1", p(&theirs))]].concat()).assert_success();
    let (ours, theirs) = (layers(&ours), layers(&theirs));
    assert_eq!(ours.len(), 1);
    let ((od, ob), (td, tb)) = (&ours[0], &theirs[0]);
    assert_eq!(od["mediaType"], td["mediaType"]);
    assert_eq!(
        od["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let keys = |d: &Value| {
        let mut k: Vec<String> = d["annotations"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(od), keys(td));
    let (our_toc, their_toc) = (toc_of(od, ob), toc_of(td, tb));
    assert_eq!(without_offsets(&our_toc), without_offsets(&their_toc));
    let entries = our_toc["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["type"] == "chunk"),
        "big.bin was not split"
    );
    assert!(
        entries.iter().any(|e| e["chunkType"] == "zeros"),
        "no zeros chunk"
    );
    assert!(
        assert_offsets_address_the_files(&our_toc, ob) >= 5,
        "{our_toc}"
    );
    assert!(assert_offsets_address_the_files(&their_toc, tb) >= 5);
    assert_eq!(zstd::decode_all(&ob[..]).unwrap(), tar);
}

/// A plain zstd reader sees the whole layer, GNU tar's record padding included, so the layer
/// keeps its diff ID (skopeo 1.9.3 fails on such a layer with "short write").
#[test]
fn zstd_chunked_keeps_bytes_after_the_end_of_the_archive() {
    let t = tempdir();
    let tar = tricky_tar(true);
    let src = image_of(&t.path().join("src"), &tar);
    let ours = t.path().join("ours");
    skiff_copy([
        "--dest-compress-format",
        "zstd:chunked",
        &src,
        &format!("oci:{}:v1", p(&ours)),
    ])
    .assert_success();
    let (desc, blob) = layers(&ours).remove(0);
    assert_eq!(zstd::decode_all(&blob[..]).unwrap(), tar);
    assert!(assert_offsets_address_the_files(&toc_of(&desc, &blob), &blob) >= 5);
    let back = t.path().join("back");
    skopeo_copy([format!("oci:{}:v1", p(&ours)), format!("dir:{}", p(&back))]).assert_success();
}

#[test]
fn skopeo_reads_skiffs_zstd_chunked_layers_and_the_reverse() {
    let t = tempdir();
    let hello = example_ref("hello-oci");
    let ours = t.path().join("ours");
    let theirs = t.path().join("theirs");
    let flags = ["--dest-compress-format", "zstd:chunked"];
    skiff_copy([&flags[..], &[&hello, &format!("oci:{}:v1", p(&ours))]].concat()).assert_success();
    skopeo_copy([&flags[..], &[&hello, &format!("oci:{}:v1", p(&theirs))]].concat())
        .assert_success();
    let ours_layers = layers(&ours);
    assert_eq!(ours_layers.len(), 3);
    let files: usize = ours_layers
        .iter()
        .map(|(desc, blob)| assert_offsets_address_the_files(&toc_of(desc, blob), blob))
        .sum();
    assert!(files >= 5, "{files} files checked");
    // skopeo copies skiff's image (verifying every digest) and finds the diff IDs.
    let back = t.path().join("back");
    skopeo_copy([
        "--dest-decompress".to_string(),
        format!("oci:{}:v1", p(&ours)),
        format!("dir:{}", p(&back)),
    ])
    .assert_success();
    let loaded = load_dir(&back);
    assert_eq!(loaded.computed_diff_ids(), loaded.diff_ids());
    // skiff reads skopeo's, decompressed or kept as they are (annotations and all).
    let plain = t.path().join("plain");
    skiff_copy([
        "--dest-decompress".to_string(),
        format!("oci:{}:v1", p(&theirs)),
        format!("dir:{}", p(&plain)),
    ])
    .assert_success();
    let loaded = load_dir(&plain);
    assert_eq!(loaded.computed_diff_ids(), loaded.diff_ids());
    let kept = t.path().join("kept");
    skiff_copy([
        format!("oci:{}:v1", p(&theirs)),
        format!("oci:{}:v1", p(&kept)),
    ])
    .assert_success();
    assert_eq!(
        load_oci(&kept, Some("v1")).manifest_bytes,
        load_oci(&theirs, Some("v1")).manifest_bytes
    );
    // The level is honoured as for zstd, and checked the same way.
    skiff_copy([
        "--dest-compress-format",
        "zstd:chunked",
        "--dest-compress-level",
        "30",
        &hello,
        &format!("oci:{}:v1", p(&t.path().join("bad"))),
    ])
    .assert_exit1()
    .assert_stderr_contains("invalid compression level");
}
