//! What tests/storage.rs compares in a store: layer and image records as skopeo writes
//! them, a layer's tree with modes, owners, devices, links, digests and xattrs, and the
//! layers with every special kind of entry (tests/storage_run.rs runs containers from
//! those).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::Value;

use crate::store::TarBuilder;
use crate::support::*;

/// The fields of layer records skiff must write as skopeo does (not `created`).
pub fn layer_facts(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .map(|r| {
            let mut r = r.as_object().unwrap().clone();
            r.remove("created");
            Value::Object(r)
        })
        .collect()
}

/// An image record as a map with the big-data names as a set (their order is Go's map
/// order in containers/image).
pub fn image_facts(records: &[Value]) -> Vec<BTreeMap<String, Value>> {
    records
        .iter()
        .map(|r| {
            let mut m: BTreeMap<String, Value> = r
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some(Value::Array(names)) = m.get_mut("big-data-names") {
                names.sort_by_key(|v| v.to_string());
            }
            m
        })
        .collect()
}

/// Each entry of a layer's tree: type, mode, owner, device, link target, content digest,
/// xattrs, and mtime for files and links (directories and whiteouts get "now").
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

pub fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        let m = fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let ft = m.file_type();
        let mut desc = format!("mode={:o} owner={}:{}", m.mode(), m.uid(), m.gid());
        if ft.is_file() {
            desc += &format!(
                " file={} mtime={} nlink={}",
                sha256_file(&path),
                m.mtime(),
                m.nlink()
            );
        } else if ft.is_symlink() {
            desc += &format!(" link={}", fs::read_link(&path).unwrap().display());
        } else if ft.is_char_device() || ft.is_block_device() {
            desc += &format!(" dev={:x}", m.rdev());
        }
        desc += &format!(" xattrs={:?}", xattrs(&path));
        out.insert(rel, desc);
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

pub fn xattrs(path: &Path) -> Vec<(String, String)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 4096];
    // SAFETY: a NUL-terminated path and a buffer of the given length.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Vec::new();
    }
    names.truncate(n as usize);
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).unwrap();
        let mut value = vec![0u8; 4096];
        // SAFETY: NUL-terminated strings and a buffer of the given length.
        let n = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if n >= 0 {
            value.truncate(n as usize);
            out.push((
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            ));
        }
    }
    out.sort();
    out
}

/// A layer with every kind of entry, and one above it with an opaque directory and a
/// whiteout.
pub fn special_layers() -> Vec<Vec<u8>> {
    let base = TarBuilder::new()
        .dir("etc/", 0o755)
        .file("etc/a", 0o644, b"a file\n")
        .hardlink("etc/a-link", "etc/a")
        .symlink("etc/rel", "a")
        .symlink("etc/abs", "/etc/a")
        .file_with("etc/attrs", (1000, 1001), &[("user.skiff", b"1")], b"x")
        .file("usr/bin/suid", 0o4755, b"#!/bin/true\n")
        .dir("tmp/", 0o1777)
        .dir("opq/", 0o755)
        .file("opq/old", 0o644, b"old")
        .char_device("dev/null", 1, 3)
        .fifo("run/fifo")
        .build();
    let top = TarBuilder::new()
        .dir("opq/", 0o755)
        .file("opq/.wh..wh..opq", 0o644, b"")
        .file("opq/new", 0o644, b"new")
        .file("etc/.wh.a", 0o644, b"")
        .build();
    vec![base, top]
}

pub fn libc_makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

pub fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walkdir(&path));
            }
            out.push(path);
        }
    }
    out
}
