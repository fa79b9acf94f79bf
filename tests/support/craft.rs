//! Archives crafted entry by entry for tests/archive.rs, including entries a well-behaved
//! tar library refuses (`..`, absolute names, links anywhere), their regular files read
//! back, and the system's compressors.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::support::*;

pub enum E {
    File(Vec<u8>),
    Symlink(String),
    Hardlink(String),
}

/// Writes a tar with raw names (no checks: `..` and absolute names go in as given).
pub fn craft(path: &Path, entries: &[(String, E)]) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, e) in entries {
        let mut h = tar::Header::new_old();
        let raw = name.as_bytes();
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        h.set_mode(0o644);
        h.set_mtime(0);
        match e {
            E::File(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append(&h, &data[..]).unwrap();
            }
            E::Symlink(t) | E::Hardlink(t) => {
                h.set_entry_type(if matches!(e, E::Symlink(_)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_size(0);
                h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
        }
    }
    fs::write(path, b.into_inner().unwrap()).unwrap();
}

/// The regular files of an archive, in order (links resolved away).
pub fn files_of(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut ar = tar::Archive::new(fs::File::open(path).unwrap());
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let name = e.path().unwrap().display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.push((name, data));
        }
    }
    out
}

/// A minimal valid archive from `files` (manifest.json, config, layers) plus `extra`.
pub fn archive_with(path: &Path, files: &[(String, Vec<u8>)], extra: Vec<(String, E)>) {
    let mut entries: Vec<(String, E)> = files
        .iter()
        .map(|(n, d)| (n.clone(), E::File(d.clone())))
        .collect();
    entries.extend(extra);
    craft(path, &entries);
}

pub fn get<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &files.iter().find(|(n, _)| n == name).unwrap().1
}

pub fn set(files: &mut [(String, Vec<u8>)], name: &str, data: Vec<u8>) {
    files.iter_mut().find(|(n, _)| n == name).unwrap().1 = data;
}

/// `TOOL -c FILE > FILE.EXT` with the system's compressor.
pub fn compress_with(tool: &str, ext: &str, file: &Path) -> PathBuf {
    let out = PathBuf::from(format!("{}.{ext}", file.display()));
    let data = Command::new(tool)
        .args(["-c", &p(file)])
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): apt-get install -y {tool}"));
    assert!(data.status.success(), "{tool} failed");
    fs::write(&out, data.stdout).unwrap();
    out
}

pub const COMPRESSORS: [(&str, &str); 4] = [
    ("gzip", "gz"),
    ("xz", "xz"),
    ("bzip2", "bz2"),
    ("zstd", "zst"),
];

/// An image with one plain (uncompressed) layer, as `docker save` stores layers, so a copy
/// of it asks the archive for the layer by its diff ID; and the same image with a gzip layer.
pub fn plain_and_gzip_images(dir: &Path) -> (BuiltImage, BuiltImage) {
    let plain = build_oci_image(
        &dir.join("plain"),
        "latest",
        &[layer(40_000, Comp::None)],
        7,
    );
    let gzip = build_oci_image(&dir.join("gzip"), "latest", &[layer(40_000, Comp::Gzip)], 7);
    assert_eq!(plain.diff_ids, gzip.diff_ids);
    (plain, gzip)
}

/// The layer's bytes with one byte changed, the same size.
pub fn damaged(layer: &[u8]) -> Vec<u8> {
    let mut bad = layer.to_vec();
    let at = bad.len() - 2000;
    bad[at] ^= 0x01;
    bad
}

/// An archive with one image tagged old:1 whose layer file `layer_name` holds `layer`.
pub fn old_archive(path: &Path, img: &BuiltImage, layer_name: &str, layer: Vec<u8>) {
    let config = fs::read(oci_blob(&img.layout, &img.config_digest)).unwrap();
    let config_name = format!("{}.json", img.config_digest.trim_start_matches("sha256:"));
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": ["docker.io/library/old:1"],
        "Layers": [layer_name],
    }]);
    craft(
        path,
        &[
            (config_name.clone(), E::File(config)),
            (layer_name.to_string(), E::File(layer)),
            (
                "manifest.json".into(),
                E::File(manifest.to_string().into_bytes()),
            ),
        ],
    );
}
