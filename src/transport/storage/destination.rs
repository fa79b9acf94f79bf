//! Writing an image into the store (containers/image's `storageImageDestination`).
//!
//! Each layer streams straight from the copy into a staging directory of its own in the
//! driver's directory (`GRAPHROOT/overlay/.skiff-stage-…`: podman bind-mounts that
//! directory onto itself, and a layer must move into place within one mount), decompressed,
//! its diff ID computed, files written, tar-split recorded, the digest checked, while other
//! layers stream too. Staged layers are added to the store
//! in order, each as soon as its parent is in (a layer's ID depends on its parent's), and
//! each in one short hold of the layers lock; the image record, its manifests, config and
//! signatures are written in one hold of the images lock at `commit`. A copy that fails or
//! is killed leaves at most complete layers no image uses yet (as containers/image does)
//! and a staging directory the next open of the store removes.

use std::collections::{BTreeMap, HashMap};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::io::AsyncReadExt;
use tokio_util::io::SyncIoBridge;

use super::error::StorageError;
use super::images::{self, NewImage};
use super::layers;
use super::lock::Mode;
use super::staging::{Staged, install_staged, restage_known, stage};
use super::store::{Store, open_store};
use crate::digest::Digest;
use crate::manifest::{Kind, Manifest, manifest_digest, mime};
use crate::pipeline::{self, BlobReader};
use crate::reference::StorageRef;
use crate::signature::Signature;
use crate::transport::error::{Result, TransportError};
use crate::transport::traits::{
    BlobInfo, BlobOptions, BlobRole, DestCaps, ImageDestination, LayerCompression, SignatureSupport,
};

/// Configs and other small blobs are kept in memory until commit; nothing bigger is one.
const MAX_SMALL_BLOB: u64 = 64 * 1024 * 1024;

enum Slot {
    Staged(Staged),
    /// The store has a layer with this content; its ID here depends on the parent.
    Known {
        diff: Digest,
        compressed: (Digest, u64),
    },
    /// A schema 1 throwaway layer: no layer of its own.
    Empty,
}

#[derive(Default)]
struct State {
    ready: BTreeMap<usize, Slot>,
    /// `top[i]`: the store's top layer once layers 0..=i are in (None: no layer yet).
    top: Vec<Option<String>>,
    blobs: HashMap<Digest, Vec<u8>>,
    manifest: Option<(Vec<u8>, Digest)>,
    toplevel: Option<Vec<u8>>,
    signatures: Option<(Vec<u8>, Vec<usize>)>,
    instance_signatures: BTreeMap<String, (Vec<u8>, Vec<usize>)>,
    next_stage: usize,
    /// Temp files of tar-split metadata (moved into place as layers are added).
    tar_splits: Vec<PathBuf>,
}

pub struct StorageDestination {
    store: Arc<Store>,
    reference: StorageRef,
    stage: crate::transport::fsutil::TempDir,
    state: Mutex<State>,
    /// How many layers are in the store (from the base up); vfs layers wait on it.
    added: tokio::sync::watch::Sender<usize>,
    /// One task adds layers at a time, in order.
    adding: tokio::sync::Mutex<()>,
}

impl Drop for StorageDestination {
    fn drop(&mut self) {
        // Layers added moved theirs; what is left belongs to layers never added.
        for f in &lock_state(&self.state).tar_splits {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn lock_state(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, StorageError> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TransportError::Invalid(format!("a store task failed: {e}")))?
        .map_err(TransportError::from)
}

impl StorageDestination {
    pub async fn open(r: &StorageRef) -> Result<StorageDestination> {
        let r2 = r.clone();
        let store = blocking(move || {
            let store = open_store(&r2)?;
            store.recover()?;
            Ok(store)
        })
        .await?;
        let stage = crate::transport::fsutil::temp_dir_in(store.driver.home(), ".", "stage")?;
        Ok(StorageDestination {
            store,
            reference: r.clone(),
            stage,
            state: Mutex::new(State::default()),
            added: tokio::sync::watch::channel(0).0,
            adding: tokio::sync::Mutex::new(()),
        })
    }

    /// A layer's staging directory, and a temp file beside `layers.json` for its tar-split
    /// metadata (moves into place must stay on one mount: podman bind-mounts the driver's
    /// directory onto itself).
    fn new_stage_paths(&self) -> Result<(PathBuf, PathBuf)> {
        let n = {
            let mut s = lock_state(&self.state);
            s.next_stage += 1;
            s.next_stage
        };
        let split = crate::transport::fsutil::temp_file_in(&self.store.layers_dir(), "tmp")?;
        let (_, split) = split
            .keep()
            .map_err(|e| TransportError::io("creating a tar-split temp file", e.error))?;
        lock_state(&self.state).tar_splits.push(split.clone());
        Ok((self.stage.path().join(format!("layer-{n}")), split))
    }

    /// The store's top layer below layer `index`, once it is in.
    async fn parent_of(&self, index: usize) -> Result<Option<String>> {
        if index == 0 {
            return Ok(None);
        }
        let mut rx = self.added.subscribe();
        rx.wait_for(|&n| n >= index)
            .await
            .map_err(|_| TransportError::Invalid("the destination went away".into()))?;
        Ok(lock_state(&self.state).top[index - 1].clone())
    }

    /// Adds every layer whose turn has come (its parent is in), in order.
    async fn add_ready(&self) -> Result<()> {
        let _turn = self.adding.lock().await;
        loop {
            let (index, slot, parent) = {
                let mut s = lock_state(&self.state);
                let index = s.top.len();
                let Some(slot) = s.ready.remove(&index) else {
                    return Ok(());
                };
                let parent = index.checked_sub(1).and_then(|i| s.top[i].clone());
                (index, slot, parent)
            };
            let top = self.add_layer(slot, parent).await?;
            lock_state(&self.state).top.push(top);
            self.added.send_replace(index + 1);
        }
    }

    /// Adds one layer on top of `parent`; returns the new top layer.
    async fn add_layer(&self, slot: Slot, parent: Option<String>) -> Result<Option<String>> {
        let store = Arc::clone(&self.store);
        match slot {
            Slot::Empty => Ok(parent),
            Slot::Staged(staged) => {
                blocking(move || install_staged(&store, staged, parent).map(Some)).await
            }
            Slot::Known { diff, compressed } => {
                let id = layers::layer_id(parent.as_deref(), &diff);
                let present = {
                    let store = Arc::clone(&store);
                    let id = id.clone();
                    blocking(move || {
                        let _l = store.lock_layers(Mode::Shared)?;
                        Ok(layers::find(&layers::load(&store)?, &id)
                            .is_some_and(|r| !layers::is_incomplete(r)))
                    })
                    .await?
                };
                if present {
                    return Ok(Some(id));
                }
                // The same content on another parent: rebuild it from the layer we have.
                let (dir, tar_split) = self.new_stage_paths()?;
                let staged = blocking(move || {
                    restage_known(&store, &diff, compressed, parent.clone(), &dir, &tar_split)
                })
                .await?;
                let store = Arc::clone(&self.store);
                let parent = staged.built_on.clone();
                blocking(move || install_staged(&store, staged, parent).map(Some)).await
            }
        }
    }

    async fn put_layer(
        &self,
        reader: BlobReader,
        index: usize,
        verified: Option<&BlobInfo>,
    ) -> Result<BlobInfo> {
        let (dir, tar_split) = self.new_stage_paths()?;
        let parent = if self.store.driver.needs_parent_content() && index > 0 {
            // A vfs layer is a copy of its parent's tree: wait for the parent, with the
            // blob spooled meanwhile so its download does not stall.
            let ready = *self.added.borrow() >= index;
            if !ready {
                let spool = self.spool(reader, &dir).await?;
                let parent = self.parent_of(index).await?;
                let file = tokio::fs::File::open(&spool)
                    .await
                    .map_err(|e| TransportError::io("reading a spooled layer", e))?;
                let staged = self
                    .stage_stream(Box::pin(file), dir, tar_split, parent, verified)
                    .await;
                let _ = std::fs::remove_file(&spool);
                return self.staged(index, staged?).await;
            }
            self.parent_of(index).await?
        } else {
            None
        };
        let staged = self
            .stage_stream(reader, dir, tar_split, parent, verified)
            .await?;
        self.staged(index, staged).await
    }

    async fn staged(&self, index: usize, staged: Staged) -> Result<BlobInfo> {
        let info = BlobInfo {
            digest: staged.compressed.0.clone(),
            size: staged.compressed.1,
        };
        lock_state(&self.state)
            .ready
            .insert(index, Slot::Staged(staged));
        self.add_ready().await?;
        Ok(info)
    }

    async fn spool(&self, mut reader: BlobReader, dir: &Path) -> Result<PathBuf> {
        let path = dir.with_extension("spool");
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| TransportError::io("spooling a layer", e))?;
        tokio::io::copy(&mut reader, &mut file)
            .await
            .map_err(|e| TransportError::io("spooling a layer", e))?;
        Ok(path)
    }

    async fn stage_stream(
        &self,
        reader: BlobReader,
        dir: PathBuf,
        tar_split: PathBuf,
        parent: Option<String>,
        verified: Option<&BlobInfo>,
    ) -> Result<Staged> {
        let store = Arc::clone(&self.store);
        let expected = verified.cloned();
        tokio::task::spawn_blocking(move || {
            let input = BufReader::with_capacity(pipeline::BUFFER_SIZE, SyncIoBridge::new(reader));
            let result = stage(&store, input, &dir, &tar_split, parent, expected);
            if result.is_err() {
                let _ = super::sys::remove_tree(&dir);
                let _ = std::fs::remove_file(&tar_split);
            }
            result
        })
        .await
        .map_err(|e| TransportError::Invalid(format!("a store task failed: {e}")))?
        .map_err(TransportError::from)
    }
}

/// The layer descriptors' count and the config digest of a manifest being committed.
fn manifest_parts(m: &Manifest) -> (usize, Option<Digest>) {
    match &m.kind {
        Kind::Image { config, layers } => (layers.len(), Some(config.digest.clone())),
        Kind::Schema1 { layers } => (layers.len(), None),
        Kind::List { .. } => (0, None),
    }
}

fn signature_blob(signatures: &[Signature]) -> (Vec<u8>, Vec<usize>) {
    let mut blob = Vec::new();
    let mut sizes = Vec::new();
    for s in signatures {
        let b = s.to_blob();
        sizes.push(b.len());
        blob.extend_from_slice(&b);
    }
    (blob, sizes)
}

#[async_trait]
impl ImageDestination for StorageDestination {
    fn caps(&self) -> DestCaps {
        DestCaps {
            layer_compression: LayerCompression::Preserve,
            manifest_types: &[
                mime::OCI_MANIFEST,
                mime::DOCKER_V2S2,
                mime::DOCKER_V2S1_SIGNED,
                mime::DOCKER_V2S1,
            ],
            signatures: SignatureSupport::Stored,
            sigstore_refusal: None,
        }
    }

    async fn try_reuse_blob(
        &self,
        digest: &Digest,
        opts: &BlobOptions<'_>,
    ) -> Result<Option<BlobInfo>> {
        let BlobRole::Layer { index, empty } = opts.role else {
            let s = lock_state(&self.state);
            return Ok(s.blobs.get(digest).map(|b| BlobInfo {
                digest: digest.clone(),
                size: b.len() as u64,
            }));
        };
        let store = Arc::clone(&self.store);
        let d = digest.clone();
        let found = blocking(move || {
            let _l = store.lock_layers(Mode::Shared)?;
            let all = layers::load(&store)?;
            Ok(layers::by_digest(&all, &d).first().map(|r| layers::info(r)))
        })
        .await?;
        let Some(layer) = found else {
            return Ok(None);
        };
        let Some(diff) = layer.diff_digest.clone() else {
            return Ok(None);
        };
        let size = if layer.diff_digest.as_ref() == Some(digest) {
            layer.diff_size
        } else {
            layer.compressed_size
        };
        let Some(size) = size else {
            return Ok(None);
        };
        let slot = if empty {
            Slot::Empty
        } else {
            Slot::Known {
                diff,
                compressed: (digest.clone(), size),
            }
        };
        lock_state(&self.state).ready.insert(index, slot);
        self.add_ready().await?;
        Ok(Some(BlobInfo {
            digest: digest.clone(),
            size,
        }))
    }

    async fn put_blob(&self, mut reader: BlobReader, opts: &BlobOptions<'_>) -> Result<BlobInfo> {
        match opts.role {
            BlobRole::Layer {
                index,
                empty: false,
            } => self.put_layer(reader, index, opts.verified).await,
            BlobRole::Layer { index, empty: true } => {
                // No layer of its own, but the bytes are checked like any others.
                let mut sink = Vec::new();
                (&mut reader)
                    .take(MAX_SMALL_BLOB)
                    .read_to_end(&mut sink)
                    .await
                    .map_err(|e| TransportError::io("reading an empty layer", e))?;
                let info = BlobInfo {
                    digest: Digest::sha256_of(&sink),
                    size: sink.len() as u64,
                };
                lock_state(&self.state).ready.insert(index, Slot::Empty);
                self.add_ready().await?;
                Ok(info)
            }
            BlobRole::Config | BlobRole::Other => {
                let mut data = Vec::new();
                (&mut reader)
                    .take(MAX_SMALL_BLOB + 1)
                    .read_to_end(&mut data)
                    .await
                    .map_err(|e| TransportError::io("reading a blob", e))?;
                if data.len() as u64 > MAX_SMALL_BLOB {
                    return Err(TransportError::Invalid(format!(
                        "a non-layer blob over {MAX_SMALL_BLOB} bytes"
                    )));
                }
                let digest = match opts.verified {
                    Some(v) => v.digest.clone(),
                    None => Digest::sha256_of(&data),
                };
                let info = BlobInfo {
                    digest: digest.clone(),
                    size: data.len() as u64,
                };
                lock_state(&self.state).blobs.insert(digest, data);
                Ok(info)
            }
        }
    }

    async fn put_manifest(&self, raw: &[u8], mime: &str, instance: Option<&Digest>) -> Result<()> {
        if instance.is_some() || mime == mime::OCI_INDEX || mime == mime::DOCKER_LIST {
            return Err(TransportError::Unsupported(
                "copying multiple images: destination transport \"containers-storage\" does not support copying multiple images as a group".into(),
            ));
        }
        let digest = manifest_digest(raw)
            .map_err(|e| TransportError::Invalid(format!("digesting the manifest: {e}")))?;
        lock_state(&self.state).manifest = Some((raw.to_vec(), digest));
        Ok(())
    }

    async fn put_signatures(
        &self,
        signatures: &[Signature],
        instance: Option<&Digest>,
    ) -> Result<()> {
        let (blob, sizes) = signature_blob(signatures);
        let mut s = lock_state(&self.state);
        let key = match instance {
            Some(d) => Some(d.to_string()),
            None => {
                s.signatures = Some((blob.clone(), sizes.clone()));
                s.manifest.as_ref().map(|(_, d)| d.to_string())
            }
        };
        if let Some(k) = key {
            s.instance_signatures.insert(k, (blob, sizes));
        }
        Ok(())
    }

    fn set_source_toplevel(&self, raw: &[u8]) {
        lock_state(&self.state).toplevel = Some(raw.to_vec());
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.add_ready().await?;
        let new = self.image_to_write()?;
        let store = Arc::clone(&self.store);
        blocking(move || {
            let layers_lock = store.lock_layers(Mode::Shared)?;
            if let Some(top) = &new.top_layer
                && layers::find(&layers::load(&store)?, top).is_none_or(layers::is_incomplete)
            {
                return Err(StorageError::Invalid(format!(
                    "the image's top layer {top} is no longer in the store"
                )));
            }
            images::commit(&store, &new, &layers_lock)
        })
        .await
    }
}

impl StorageDestination {
    /// The image record and big data `commit` writes, as containers/image's `Commit`.
    fn image_to_write(&self) -> Result<NewImage> {
        let s = lock_state(&self.state);
        let Some((raw, digest)) = s.manifest.clone() else {
            return Err(TransportError::Invalid(
                "Internal error: storageImageDestination.Commit() called without PutManifest()"
                    .into(),
            ));
        };
        self.check_wanted_digest(&s, &digest)?;
        let manifest = Manifest::parse(raw.clone(), None)
            .map_err(|e| TransportError::Invalid(format!("parsing manifest: {e}")))?;
        let (count, config) = manifest_parts(&manifest);
        if s.top.len() < count {
            return Err(TransportError::Invalid(format!(
                "Internal error: layer {} of {count} was not stored before the manifest",
                s.top.len()
            )));
        }
        let top_layer = count.checked_sub(1).and_then(|i| s.top[i].clone());
        let mut big_data = blob_and_manifest_items(&s, &manifest, &raw, &digest);
        let metadata = signature_items(&s, &digest, &mut big_data);
        Ok(NewImage {
            id: self.image_id(config.as_ref()),
            top_layer,
            created: created(&s, config.as_ref()),
            big_data,
            metadata,
            name: self.reference.reference.as_ref().map(|r| r.to_string()),
        })
    }

    /// A reference with a digest takes only that manifest (or a list that has that digest).
    fn check_wanted_digest(&self, s: &State, digest: &Digest) -> Result<()> {
        let Some(wanted) = self.reference.reference.as_ref().and_then(|r| r.digest()) else {
            return Ok(());
        };
        let wanted = wanted.to_string();
        let top_digest = s
            .toplevel
            .as_deref()
            .and_then(|t| manifest_digest(t).ok())
            .map(|d| d.to_string());
        if digest.to_string() != wanted && top_digest.as_deref() != Some(wanted.as_str()) {
            return Err(TransportError::Invalid(format!(
                "Manifest to be saved does not match expected digest {wanted}"
            )));
        }
        Ok(())
    }

    /// The image ID the reference names, else the config's digest.
    fn image_id(&self, config: Option<&Digest>) -> String {
        match (&self.reference.id, config) {
            (Some(id), _) => id.clone(),
            (None, Some(c)) => c.hex().to_string(),
            (None, None) => {
                // Schema 1: containers/image derives the ID from a converted config;
                // skiff picks a random one (containers/storage's fallback).
                let mut b = [0u8; 32];
                super::lock::fill_random(&mut b);
                hex::encode(b)
            }
        }
    }
}

/// The config's `created`, for the image record.
fn created(s: &State, config: Option<&Digest>) -> Option<String> {
    config
        .and_then(|c| s.blobs.get(c))
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| {
            v.get("created")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
}

/// Big data items in containers/image's order: the blobs that are not layers (the config),
/// by digest; the top-level manifest (a list) when it is another; the manifest under its
/// digest and as `manifest`.
fn blob_and_manifest_items(
    s: &State,
    manifest: &Manifest,
    raw: &[u8],
    digest: &Digest,
) -> Vec<(String, Vec<u8>, Digest)> {
    let layer_digests: Vec<&Digest> = match &manifest.kind {
        Kind::Image { layers, .. } | Kind::Schema1 { layers } => {
            layers.iter().map(|l| &l.digest).collect()
        }
        Kind::List { .. } => Vec::new(),
    };
    let mut big_data = Vec::new();
    let mut data: Vec<(&Digest, &Vec<u8>)> = s
        .blobs
        .iter()
        .filter(|(d, _)| !layer_digests.contains(d))
        .collect();
    data.sort_by_key(|(d, _)| d.to_string());
    for (d, b) in data {
        big_data.push((d.to_string(), b.clone(), Digest::sha256_of(b)));
    }
    if let Some(top) = &s.toplevel
        && *top != raw
        && let Ok(d) = manifest_digest(top)
    {
        big_data.push((images::manifest_key(&d), top.clone(), d));
    }
    big_data.push((images::manifest_key(digest), raw.to_vec(), digest.clone()));
    big_data.push(("manifest".into(), raw.to_vec(), digest.clone()));
    big_data
}

/// Appends the signature items (`signatures`, then one per instance) to `big_data` and
/// returns the image's metadata, which records their sizes.
fn signature_items(
    s: &State,
    digest: &Digest,
    big_data: &mut Vec<(String, Vec<u8>, Digest)>,
) -> String {
    if let Some((blob, _)) = &s.signatures
        && !blob.is_empty()
    {
        big_data.push(("signatures".into(), blob.clone(), Digest::sha256_of(blob)));
    }
    // containers/image always stores the (maybe empty) signatures of the manifest.
    let mut per_instance = s.instance_signatures.clone();
    per_instance
        .entry(digest.to_string())
        .or_insert_with(|| (Vec::new(), Vec::new()));
    let mut sizes = serde_json::Map::new();
    for (d, (blob, lens)) in &per_instance {
        if let Ok(d) = Digest::parse(d) {
            big_data.push((
                images::signature_key(&d),
                blob.clone(),
                Digest::sha256_of(blob),
            ));
        }
        sizes.insert(d.clone(), serde_json::json!(lens));
    }
    let mut metadata = serde_json::Map::new();
    if let Some((_, lens)) = &s.signatures
        && !lens.is_empty()
    {
        metadata.insert("signature-sizes".into(), serde_json::json!(lens));
    }
    metadata.insert("signatures-sizes".into(), serde_json::Value::Object(sizes));
    serde_json::Value::Object(metadata).to_string()
}
