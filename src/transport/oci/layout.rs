//! Changing an `oci:` layout that other copies may be writing to at the same time. Each
//! change that depends on what is there (index.json, a staged layout merged in, blobs a
//! failed copy takes back) happens under the layout directory's lock.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::index;
use crate::digest::Digest;
use crate::manifest::{Descriptor, Kind, MAX_MANIFEST_SIZE, Manifest, mime};
use crate::transport::error::{Result, TransportError};
use crate::transport::fsutil::{self, DirLock, Durability};

/// How deep `referenced` follows lists of lists (the copy engine refuses deeper ones).
const MAX_DEPTH: usize = 8;

/// Locks the layout at `root`, which must exist.
pub fn lock(root: &Path) -> Result<DirLock> {
    let fail = |e| TransportError::io(format!("locking OCI layout {}", root.display()), e);
    fsutil::lock_dir(root).map_err(fail)?.ok_or_else(|| {
        fail(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the layout directory vanished",
        ))
    })
}

/// Writes oci-layout if missing and adds `top` to index.json. The caller holds the lock
/// (or the layout is its own, still staged).
pub fn add_to_index(root: &Path, top: &Descriptor, durability: Durability) -> Result<()> {
    let layout = root.join(index::LAYOUT_FILE);
    if !layout.exists() {
        fsutil::write_atomically(&layout, index::LAYOUT_CONTENT, durability)?;
    }
    let index_path = root.join("index.json");
    let existing = read_if_there(&index_path)?;
    let updated = index::add_manifest(existing.as_deref(), top, &index_path.display().to_string())?;
    fsutil::write_atomically(&index_path, &updated, durability)
}

fn read_if_there(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(raw) => Ok(Some(raw)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TransportError::io(format!("reading {}", path.display()), e)),
    }
}

/// Adds a layout staged for a target that another copy has created meanwhile: the staged
/// blobs the target lacks are moved in, then `top` joins its index. The caller holds the
/// target's lock. Blobs moved in are taken back if the index cannot be written.
pub fn merge(staged: &Path, target: &Path, top: &Descriptor) -> Result<()> {
    let mut moved = Vec::new();
    let result = move_blobs(staged, target, &mut moved)
        .and_then(|()| add_to_index(target, top, Durability::Synced))
        .and_then(|()| fsutil::sync_dir(target));
    if result.is_err() {
        remove_unreferenced(target, &target.join("blobs"), &moved);
    }
    result
}

fn move_blobs(staged: &Path, target: &Path, moved: &mut Vec<PathBuf>) -> Result<()> {
    let io = |what: &str, p: &Path, e| TransportError::io(format!("{what} {}", p.display()), e);
    let blobs = staged.join("blobs");
    let algorithms = match std::fs::read_dir(&blobs) {
        Ok(rd) => rd,
        // Blobs went to a shared blob directory.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("reading", &blobs, e)),
    };
    for algorithm in algorithms {
        let algorithm = algorithm.map_err(|e| io("reading", &blobs, e))?;
        let to_dir = target.join("blobs").join(algorithm.file_name());
        std::fs::create_dir_all(&to_dir).map_err(|e| io("creating", &to_dir, e))?;
        let from_dir = algorithm.path();
        for blob in std::fs::read_dir(&from_dir).map_err(|e| io("reading", &from_dir, e))? {
            let blob = blob.map_err(|e| io("reading", &from_dir, e))?;
            let to = to_dir.join(blob.file_name());
            // Content-addressed: a blob that is there already is the same one.
            if std::fs::symlink_metadata(&to).is_ok_and(|m| m.is_file()) {
                continue;
            }
            std::fs::rename(blob.path(), &to).map_err(|e| io("moving a blob into", &to, e))?;
            moved.push(to);
        }
        fsutil::sync_dir(&to_dir)?;
    }
    Ok(())
}

/// A copy into an existing layout reused or stored these blobs; another copy that failed
/// may have taken back one it had added meanwhile. Checked under the lock, just before the
/// index names them.
pub fn check_present(blobs: &[PathBuf], root: &Path) -> Result<()> {
    match blobs.iter().find(|p| !p.is_file()) {
        None => Ok(()),
        Some(gone) => Err(TransportError::Invalid(format!(
            "blob {} vanished from OCI layout {} during the copy (another copy into the layout failed and removed the blob it had added); nothing was changed, run the copy again",
            gone.display(),
            root.display()
        ))),
    }
}

/// Removes blobs a failed copy added to the layout at `root`, except those its index now
/// references (another copy may have reused one and committed since). Takes the lock.
pub fn take_back(root: &Path, blob_root: &Path, created: &[PathBuf]) {
    if created.is_empty() {
        return;
    }
    let Ok(_lock) = lock(root) else {
        return;
    };
    remove_unreferenced(root, blob_root, created);
}

fn remove_unreferenced(root: &Path, blob_root: &Path, created: &[PathBuf]) {
    // An index that cannot be read gives no proof that a blob is unused: keep them all.
    let Some(used) = referenced(root, blob_root) else {
        return;
    };
    for path in created {
        let in_use = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .is_some_and(|hex| used.iter().any(|d| d.hex() == hex));
        if !in_use {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Every blob the images named in `root`'s index.json use (manifests, configs, layers,
/// the images of lists). None when the index cannot be read; an index that does not parse
/// names no image (no copy can add one to it either).
fn referenced(root: &Path, blob_root: &Path) -> Option<HashSet<Digest>> {
    let raw = match std::fs::read(root.join("index.json")) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(HashSet::new()),
        Err(_) => return None,
    };
    let top = index::manifests(&raw, "index.json").unwrap_or_default();
    let mut used = HashSet::new();
    let mut pending: Vec<(Descriptor, usize)> = top.into_iter().map(|d| (d, 0)).collect();
    while let Some((desc, depth)) = pending.pop() {
        if !used.insert(desc.digest.clone()) || depth > MAX_DEPTH {
            continue;
        }
        let Some(manifest) = read_manifest(blob_root, &desc) else {
            continue;
        };
        match manifest.kind {
            Kind::Image { config, layers } => {
                used.insert(config.digest);
                used.extend(layers.into_iter().map(|l| l.digest));
            }
            Kind::Schema1 { layers } => used.extend(layers.into_iter().map(|l| l.digest)),
            Kind::List { manifests } => {
                pending.extend(manifests.into_iter().map(|d| (d, depth + 1)));
            }
        }
    }
    Some(used)
}

fn read_manifest(blob_root: &Path, desc: &Descriptor) -> Option<Manifest> {
    let path = blob_root
        .join(desc.digest.algorithm().name())
        .join(desc.digest.hex());
    let meta = std::fs::metadata(&path).ok()?;
    if meta.len() > MAX_MANIFEST_SIZE {
        return None;
    }
    let raw = std::fs::read(&path).ok()?;
    let declared = Some(desc.media_type.as_str()).filter(|m| {
        [
            mime::OCI_MANIFEST,
            mime::OCI_INDEX,
            mime::DOCKER_V2S2,
            mime::DOCKER_LIST,
        ]
        .contains(m)
    });
    Manifest::parse(raw, declared).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(root: &Path, data: &[u8]) -> (Digest, PathBuf) {
        let d = Digest::sha256_of(data);
        let dir = root.join("blobs/sha256");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(d.hex());
        std::fs::write(&path, data).unwrap();
        (d, path)
    }

    /// A layout whose index names one image; returns the paths of its config and layer.
    fn layout_with_an_image(root: &Path) -> (PathBuf, PathBuf) {
        let (config, config_path) = blob(root, b"{}");
        let (layer, layer_path) = blob(root, b"layer");
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{config}","size":2}},"layers":[{{"mediaType":"{}","digest":"{layer}","size":5}}]}}"#,
            mime::OCI_MANIFEST,
            mime::OCI_CONFIG,
            mime::OCI_LAYER
        );
        let (m, _) = blob(root, manifest.as_bytes());
        let top = Descriptor {
            media_type: mime::OCI_MANIFEST.into(),
            digest: m,
            size: manifest.len() as i64,
            urls: vec![],
            annotations: None,
            platform: None,
        };
        add_to_index(root, &top, Durability::Scratch).unwrap();
        (config_path, layer_path)
    }

    #[test]
    fn a_failed_copy_takes_back_only_blobs_no_image_uses() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let (config, layer) = layout_with_an_image(root);
        let (_, unused) = blob(root, b"added by the failed copy only");
        // The failed copy created all three; another copy's image (in the index) uses two.
        take_back(
            root,
            &root.join("blobs"),
            &[config.clone(), layer.clone(), unused.clone()],
        );
        assert!(
            config.exists() && layer.exists(),
            "blobs an image uses stay"
        );
        assert!(!unused.exists(), "a blob nothing uses goes");
    }

    #[test]
    fn a_blob_taken_back_meanwhile_fails_the_commit() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let (config, layer) = layout_with_an_image(root);
        check_present(&[config.clone(), layer.clone()], root).unwrap();
        std::fs::remove_file(&layer).unwrap();
        let err = check_present(&[config, layer], root)
            .unwrap_err()
            .to_string();
        assert!(err.contains("vanished from OCI layout"), "{err}");
    }
}
