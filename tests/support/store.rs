//! A private containers-storage store per test: graph root and run root under a temp dir,
//! a storage.conf naming them (handed to skiff, skopeo and podman through
//! `CONTAINERS_STORAGE_CONF`), and podman pointed at the same store with `--root`,
//! `--runroot` and `--storage-driver`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::*;

pub const DRIVERS: [&str; 2] = ["vfs", "overlay"];

pub struct Store {
    dir: tempfile::TempDir,
    pub driver: &'static str,
}

impl Store {
    pub fn new(driver: &'static str) -> Store {
        let dir = tempdir();
        let s = Store { dir, driver };
        fs::write(
            s.conf(),
            format!(
                "[storage]\ndriver = \"{driver}\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                p(&s.graph_root()),
                p(&s.run_root())
            ),
        )
        .unwrap();
        s
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("storage.conf")
    }
    pub fn graph_root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn run_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `containers-storage:IMAGE` (the store comes from storage.conf).
    pub fn name(&self, image: &str) -> String {
        format!("containers-storage:{image}")
    }

    /// `containers-storage:[DRIVER@ROOT+RUN]IMAGE`.
    pub fn explicit(&self, image: &str) -> String {
        format!(
            "containers-storage:[{}@{}+{}]{image}",
            self.driver,
            p(&self.graph_root()),
            p(&self.run_root())
        )
    }

    fn env(&self, c: &mut Command) {
        c.env("CONTAINERS_STORAGE_CONF", self.conf());
        c.env("TMPDIR", self.dir.path());
    }

    pub fn skiff(&self) -> Command {
        let mut c = skiff();
        self.env(&mut c);
        c
    }

    pub fn skiff_copy(&self, args: &[&str]) -> Out {
        let mut c = self.skiff();
        c.arg("--insecure-policy").arg("copy").args(args);
        run(&mut c)
    }

    /// skopeo on this store (storage.conf and TMPDIR set, nothing run yet).
    pub fn skopeo_command(&self) -> Command {
        let mut c = skopeo();
        self.env(&mut c);
        c
    }

    pub fn skopeo_copy(&self, args: &[&str]) -> Out {
        let mut c = self.skopeo_command();
        c.arg("--insecure-policy").arg("copy").args(args);
        run(&mut c)
    }

    pub fn skopeo(&self, args: &[&str]) -> Out {
        let mut c = self.skopeo_command();
        c.args(args);
        run(&mut c)
    }

    /// podman on this store (and nothing of the machine's: its own tmpdir, no events).
    pub fn podman(&self, args: &[&str]) -> Out {
        let tmp = self.dir.path().join("podman-tmp");
        fs::create_dir_all(&tmp).unwrap();
        let mut c = Command::new("podman");
        self.env(&mut c);
        c.env("HOME", self.dir.path());
        c.args([
            "--root",
            &p(&self.graph_root()),
            "--runroot",
            &p(&self.run_root()),
            "--storage-driver",
            self.driver,
            "--tmpdir",
            &p(&tmp),
            "--events-backend",
            "none",
            "--cgroup-manager",
            "cgroupfs",
        ]);
        c.args(args);
        run(&mut c)
    }

    pub fn layers_json(&self) -> Vec<Value> {
        self.records("layers")
    }
    pub fn images_json(&self) -> Vec<Value> {
        self.records("images")
    }
    fn records(&self, kind: &str) -> Vec<Value> {
        let path = self
            .graph_root()
            .join(format!("{}-{kind}/{kind}.json", self.driver));
        match fs::read(&path) {
            Ok(d) if !d.is_empty() => serde_json::from_slice(&d).unwrap(),
            _ => Vec::new(),
        }
    }

    /// Where layer `id`'s files are (overlay: its diff directory).
    pub fn layer_dir(&self, id: &str) -> PathBuf {
        match self.driver {
            "overlay" => self.graph_root().join("overlay").join(id).join("diff"),
            _ => self.graph_root().join("vfs/dir").join(id),
        }
    }

    /// What skiff stages in the store (in the driver's directory, beside `layers.json` and
    /// `images.json`) and anything in its tmp directory: nothing, after a copy.
    pub fn tmp_leftovers(&self) -> Vec<String> {
        let mut out = list_dir(&self.graph_root().join("tmp"));
        for dir in [
            self.driver.to_string(),
            format!("{}-layers", self.driver),
            format!("{}-images", self.driver),
        ] {
            out.extend(
                list_dir(&self.graph_root().join(dir))
                    .into_iter()
                    .filter(|n| n.contains("skiff-")),
            );
        }
        out
    }
}

impl Drop for Store {
    /// podman and skopeo bind-mount the overlay driver's directory onto itself (private
    /// propagation) and leave it mounted; undo that, or the temp dir cannot be removed.
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        let home = self.graph_root().join(self.driver);
        let Ok(c) = std::ffi::CString::new(home.as_os_str().as_bytes()) else {
            return;
        };
        // SAFETY: a NUL-terminated path; a lazy unmount, repeated while mounts are stacked.
        while unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {}
    }
}

/// An OCI layout at `layout` whose image `reference` has these layer tars (gzipped).
pub fn image_from_tars(layout: &Path, reference: &str, tars: &[Vec<u8>]) -> BuiltImage {
    let oci = OciLayout::create(layout);
    let layers: Vec<Value> = tars
        .iter()
        .map(|t| oci.put_layer(Comp::Gzip.media_type(), &Comp::Gzip.compress(t)))
        .collect();
    let diff_ids: Vec<String> = tars.iter().map(|t| sha256_digest(t)).collect();
    let config = serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    oci.put_image(reference, &config, &layers)
}

/// Builds a layer tar entry by entry.
pub struct TarBuilder(tar::Builder<Vec<u8>>);

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuilder {
    pub fn new() -> TarBuilder {
        TarBuilder(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, mode);
        self.0.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub fn file(mut self, path: &str, mode: u32, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    /// A file owned by uid:gid, with PAX xattrs.
    pub fn file_with(
        mut self,
        path: &str,
        owner: (u64, u64),
        xattrs: &[(&str, &[u8])],
        data: &[u8],
    ) -> Self {
        if !xattrs.is_empty() {
            let records: Vec<(String, &[u8])> = xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
                .collect();
            self.0
                .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
                .unwrap();
        }
        let mut h = Self::header(tar::EntryType::Regular, 0o644);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, 0o644);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn char_device(mut self, path: &str, major: u32, minor: u32) -> Self {
        let mut h = Self::header(tar::EntryType::Char, 0o666);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.0.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub fn fifo(mut self, path: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Fifo, 0o600);
        self.0.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    /// An entry whose name is written raw (for names the tar crate refuses, like `..`).
    pub fn raw_file(mut self, name: &str, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, 0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    /// A symbolic link written raw (the tar crate checks link names).
    pub fn raw_symlink(mut self, name: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    pub fn raw_hardlink(mut self, name: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, 0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    pub fn build(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// The files of a tar archive (small archives: `podman save` of a test image).
pub fn tar_files(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut ar = tar::Archive::new(fs::File::open(path).unwrap());
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

/// The diff IDs of a docker-archive (its config's `rootfs.diff_ids`) and the sha256 of each
/// layer tar in it, in order.
pub fn docker_archive_layers(path: &Path) -> (Vec<String>, Vec<String>) {
    let files = tar_files(path);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config: Value =
        serde_json::from_slice(&files[manifest[0]["Config"].as_str().unwrap()]).unwrap();
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let tars = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| sha256_digest(&files[l.as_str().unwrap()]))
        .collect();
    (diff_ids, tars)
}
