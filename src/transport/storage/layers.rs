//! `DRIVER-layers/layers.json`: one record per layer (containers/storage's `Layer`), the
//! layer IDs containers/image computes, and the `incomplete` flag that marks a layer
//! being added or removed, so whoever opens the store next can finish the removal.

use std::path::Path;

use serde_json::{Value, json};

use super::error::{Result, StorageError};
use super::lock::{Lock, Mode};
use super::records::{self, Record, str_field};
use super::store::Store;
use crate::digest::Digest;
use crate::pipeline::Compression;

const INCOMPLETE: &str = "incomplete";

pub fn layers_json(store: &Store) -> std::path::PathBuf {
    store.layers_dir().join("layers.json")
}

pub fn load(store: &Store) -> Result<Vec<Record>> {
    records::load(&layers_json(store))
}

fn save(store: &Store, layers: &[Record], lock: &Lock) -> Result<()> {
    records::save(&layers_json(store), layers, lock)
}

/// A layer's ID in the store: the diff ID's hex for a base layer, else the SHA-256 of
/// "PARENT-ID+DIFF-ID-HEX" (containers/image's `commitLayer`).
pub fn layer_id(parent: Option<&str>, diff_id: &Digest) -> String {
    match parent {
        None => diff_id.hex().to_string(),
        Some(p) => Digest::sha256_of(format!("{p}+{}", diff_id.hex()).as_bytes())
            .hex()
            .to_string(),
    }
}

/// What skiff needs to know of a layer record.
#[derive(Debug, Clone)]
pub struct LayerInfo {
    pub id: String,
    pub parent: Option<String>,
    pub compressed_digest: Option<Digest>,
    pub compressed_size: Option<u64>,
    pub diff_digest: Option<Digest>,
    pub diff_size: Option<u64>,
}

fn digest_field(r: &Record, key: &str) -> Option<Digest> {
    str_field(r, key).and_then(|d| Digest::parse(d).ok())
}

fn size_field(r: &Record, key: &str) -> Option<u64> {
    r.get(key)
        .and_then(Value::as_i64)
        .and_then(|n| u64::try_from(n).ok())
}

pub fn info(r: &Record) -> LayerInfo {
    LayerInfo {
        id: str_field(r, "id").unwrap_or_default().to_string(),
        parent: str_field(r, "parent").map(str::to_string),
        compressed_digest: digest_field(r, "compressed-diff-digest"),
        compressed_size: size_field(r, "compressed-size"),
        diff_digest: digest_field(r, "diff-digest"),
        diff_size: size_field(r, "diff-size"),
    }
}

pub fn is_incomplete(r: &Record) -> bool {
    r.get("flags")
        .and_then(|f| f.get(INCOMPLETE))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

pub fn find<'a>(layers: &'a [Record], id: &str) -> Option<&'a Record> {
    layers.iter().find(|r| str_field(r, "id") == Some(id))
}

/// Complete layers whose uncompressed (`diff-digest`) or compressed digest is `d`.
pub fn by_digest<'a>(layers: &'a [Record], d: &Digest) -> Vec<&'a Record> {
    let text = d.to_string();
    let mut out: Vec<&Record> = Vec::new();
    for key in ["diff-digest", "compressed-diff-digest"] {
        out.extend(
            layers
                .iter()
                .filter(|r| !is_incomplete(r) && str_field(r, key) == Some(text.as_str())),
        );
    }
    out
}

/// A layer staged and ready to be added.
#[derive(Debug, Clone)]
pub struct NewLayer {
    pub id: String,
    pub parent: Option<String>,
    /// The blob as it was given (compressed or not) and its size.
    pub compressed: (Digest, u64),
    pub diff: (Digest, u64),
    pub compression: Option<Compression>,
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
}

fn record_of(new: &NewLayer) -> Record {
    let mut r = Record::new();
    r.insert("id".into(), json!(new.id));
    if let Some(p) = &new.parent {
        r.insert("parent".into(), json!(p));
    }
    r.insert("created".into(), json!(crate::gotime::now_rfc3339_nano()));
    r.insert(
        "compressed-diff-digest".into(),
        json!(new.compressed.0.to_string()),
    );
    if new.compressed.1 > 0 {
        r.insert("compressed-size".into(), json!(new.compressed.1));
    }
    r.insert("diff-digest".into(), json!(new.diff.0.to_string()));
    if new.diff.1 > 0 {
        r.insert("diff-size".into(), json!(new.diff.1));
    }
    // containers/storage's archive.Compression numbers.
    let compression = match new.compression {
        None => 0,
        Some(Compression::Bzip2) => 1,
        Some(Compression::Gzip) => 2,
        Some(Compression::Xz) => 3,
        Some(Compression::Zstd | Compression::ZstdChunked) => 4,
    };
    if compression != 0 {
        r.insert("compression".into(), json!(compression));
    }
    if !new.uids.is_empty() {
        r.insert("uidset".into(), json!(new.uids));
    }
    if !new.gids.is_empty() {
        r.insert("gidset".into(), json!(new.gids));
    }
    r
}

fn set_incomplete(r: &mut Record, on: bool) {
    if on {
        let flags = r
            .entry("flags")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(f) = flags.as_object_mut() {
            f.insert(INCOMPLETE.into(), Value::Bool(true));
        }
    } else if let Some(f) = r.get_mut("flags").and_then(Value::as_object_mut) {
        f.remove(INCOMPLETE);
        if f.is_empty() {
            r.remove("flags");
        }
    }
}

/// Adds a staged layer (its driver directory `stage` and tar-split file `tar_split`) to
/// the store, as containers/storage's `Put` does: the record first, marked incomplete,
/// then the files moved into place, then the mark cleared. Returns false when the store
/// has that layer already (the stage is left to the caller to remove).
pub fn install(store: &Store, new: &NewLayer, stage: &Path, tar_split: &Path) -> Result<bool> {
    let lock = store.lock_layers(Mode::Exclusive)?;
    let mut layers = load(store)?;
    if let Some(existing) = find(&layers, &new.id) {
        if !is_incomplete(existing) {
            return Ok(false);
        }
        remove_locked(store, &mut layers, &new.id, &lock)?;
    }
    if let Some(p) = &new.parent
        && find(&layers, p).is_none_or(is_incomplete)
    {
        return Err(StorageError::Invalid(format!(
            "adding layer {}: its parent layer {p} is not in the store",
            new.id
        )));
    }
    let mut record = record_of(new);
    set_incomplete(&mut record, true);
    layers.push(record);
    save(store, &layers, &lock)?;
    let placed = (|| {
        store
            .driver
            .install(stage, &new.id, new.parent.as_deref())
            .map_err(|e| StorageError::io(format!("adding layer {}", new.id), e))?;
        std::fs::rename(tar_split, store.tar_split_path(&new.id)).map_err(|e| {
            StorageError::io(
                format!("adding the tar-split metadata of layer {}", new.id),
                e,
            )
        })
    })();
    if let Err(e) = placed {
        let _ = remove_locked(store, &mut layers, &new.id, &lock);
        return Err(e);
    }
    if let Some(r) = layers
        .iter_mut()
        .find(|r| str_field(r, "id") == Some(new.id.as_str()))
    {
        set_incomplete(r, false);
    }
    save(store, &layers, &lock)?;
    Ok(true)
}

/// Removes layer `id` (files, tar-split, big data, record) with the layers lock held,
/// marking it incomplete first so a crash midway is finished by the next open.
pub fn remove_locked(store: &Store, layers: &mut Vec<Record>, id: &str, lock: &Lock) -> Result<()> {
    let Some(pos) = layers.iter().position(|r| str_field(r, "id") == Some(id)) else {
        return Ok(());
    };
    if !is_incomplete(&layers[pos]) {
        set_incomplete(&mut layers[pos], true);
        save(store, layers, lock)?;
    }
    store
        .driver
        .remove(id)
        .map_err(|e| StorageError::io(format!("removing layer {id}"), e))?;
    let _ = std::fs::remove_file(store.tar_split_path(id));
    let _ = super::sys::remove_tree(&store.layers_dir().join(id));
    layers.remove(pos);
    save(store, layers, lock)
}

/// Deletes layers a killed writer left marked incomplete (containers/storage's `Load`
/// under the write lock does the same).
pub fn delete_incomplete(store: &Store) -> Result<()> {
    {
        let _shared = store.lock_layers(Mode::Shared)?;
        if !load(store)?.iter().any(is_incomplete) {
            return Ok(());
        }
    }
    let lock = store.lock_layers(Mode::Exclusive)?;
    let mut layers = load(store)?;
    let doomed: Vec<String> = layers
        .iter()
        .filter(|r| is_incomplete(r))
        .filter_map(|r| str_field(r, "id").map(str::to_string))
        .collect();
    for id in doomed {
        remove_locked(store, &mut layers, &id, &lock)?;
    }
    Ok(())
}

// Recovery is about layers (incomplete ones and their staging), so it lives with them.
impl Store {
    /// Removes what killed processes left: skiff's staging directories (in the driver's
    /// directory) and temp files (beside `layers.json` and `images.json`) whose owner is
    /// gone, and layers still marked incomplete (as containers/storage does on load).
    pub fn recover(&self) -> Result<()> {
        for dir in [
            self.driver.home().to_path_buf(),
            self.layers_dir(),
            self.images_dir(),
            self.tmp_dir(),
        ] {
            crate::transport::fsutil::sweep_stale(&dir);
        }
        delete_incomplete(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_containers_image() {
        // From a store skopeo 1.9.3 wrote: the example image's three layers.
        let base = Digest::parse(
            "sha256:6f40fcead2b0d4a77eff86619a1d2b9166affabc165dbad57ebdaaf809aa288d",
        )
        .unwrap();
        let second = Digest::parse(
            "sha256:588f1dc2e7d1ae9bb949020c59ccaad883b1067173beaa26f16403c2623ae3f2",
        )
        .unwrap();
        let id0 = layer_id(None, &base);
        assert_eq!(
            id0,
            "6f40fcead2b0d4a77eff86619a1d2b9166affabc165dbad57ebdaaf809aa288d"
        );
        assert_eq!(
            layer_id(Some(&id0), &second),
            "9e826ec8dd8fab7e379dbbe352652d5e09b83a2ef834e826553bd93343596594"
        );
    }
}
