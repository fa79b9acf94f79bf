//! Reading an image from the store (containers/image's `storageImageSource`): manifests
//! and configs from big-data items, layers rebuilt from their files and tar-split
//! metadata, uncompressed, while the layers lock is held so nothing removes them midway.

use std::io::{Read, Write};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::error::StorageError;
use super::images;
use super::layers;
use super::lock::Mode;
use super::records::{Record, str_field};
use super::store::{Store, open_store};
use crate::digest::Digest;
use crate::manifest::convert::{GZIPPED_EMPTY_LAYER, GZIPPED_EMPTY_LAYER_DIGEST};
use crate::manifest::{Descriptor, Kind, Manifest, mime};
use crate::pipeline::{self, BlobReader, ChannelWriter};
use crate::reference::StorageRef;
use crate::signature::Signature;
use crate::transport::error::{Result, TransportError};
use crate::transport::traits::{ImageSource, LayerForCopy};

pub struct StorageSource {
    store: Arc<Store>,
    reference: StorageRef,
    image: Record,
    id: String,
    signature_sizes: Vec<usize>,
    signatures_sizes: serde_json::Map<String, serde_json::Value>,
}

impl StorageSource {
    pub async fn open(r: &StorageRef) -> Result<StorageSource> {
        let r = r.clone();
        tokio::task::spawn_blocking(move || Self::open_blocking(r))
            .await
            .map_err(|e| TransportError::Invalid(format!("opening the store: {e}")))?
    }

    fn open_blocking(r: StorageRef) -> Result<StorageSource> {
        let store = open_store(&r)?;
        store.recover()?;
        let image = images::resolve(&store, &r)?;
        let id = str_field(&image, "id").unwrap_or_default().to_string();
        let mut signature_sizes = Vec::new();
        let mut signatures_sizes = serde_json::Map::new();
        if let Some(meta) = str_field(&image, "metadata") {
            let v: serde_json::Value = serde_json::from_str(meta).map_err(|e| {
                StorageError::Corrupt(format!("decoding metadata for source image: {e}"))
            })?;
            if let Some(a) = v.get("signature-sizes").and_then(|a| a.as_array()) {
                signature_sizes = a
                    .iter()
                    .filter_map(|n| n.as_u64())
                    .map(|n| n as usize)
                    .collect();
            }
            if let Some(m) = v.get("signatures-sizes").and_then(|m| m.as_object()) {
                signatures_sizes = m.clone();
            }
        }
        Ok(StorageSource {
            store,
            reference: r,
            image,
            id,
            signature_sizes,
            signatures_sizes,
        })
    }

    fn big_data(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(images::read_big_data(&self.store, &self.id, key)?)
    }

    /// The layers of the image from the base up (its top layer's chain).
    fn layer_chain(&self) -> std::result::Result<Vec<layers::LayerInfo>, StorageError> {
        let _lock = self.store.lock_layers(Mode::Shared)?;
        let all = layers::load(&self.store)?;
        let mut chain = Vec::new();
        let mut next = str_field(&self.image, "layer").map(str::to_string);
        while let Some(id) = next {
            let record = layers::find(&all, &id).ok_or_else(|| {
                StorageError::NotFound(format!(
                    "reading layer \"{id}\" in image \"{}\": layer not known",
                    self.id
                ))
            })?;
            let info = layers::info(record);
            next = info.parent.clone();
            chain.push(info);
            if chain.len() > 10_000 {
                return Err(StorageError::Corrupt(format!(
                    "the layers of image {} form a loop",
                    self.id
                )));
            }
        }
        chain.reverse();
        Ok(chain)
    }

    /// Streams layer `id` rebuilt from its tar-split metadata, holding the layers lock
    /// (shared) until the last byte.
    fn stream_layer(&self, digest: &Digest) -> Result<BlobReader> {
        let store = Arc::clone(&self.store);
        let digest = digest.clone();
        let (tx, rx) = mpsc::channel::<std::io::Result<bytes::Bytes>>(2);
        let image = self.id.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter::new(tx.clone(), "blob consumer went away");
            let result = (|| -> std::io::Result<()> {
                let _lock = store
                    .lock_layers(Mode::Shared)
                    .map_err(std::io::Error::other)?;
                let all = layers::load(&store).map_err(std::io::Error::other)?;
                let id = layers::by_digest(&all, &digest)
                    .into_iter()
                    .map(layers::info)
                    .find(|l| l.diff_digest.as_ref() == Some(&digest))
                    .map(|l| l.id)
                    .ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            format!("no layer with diff ID {digest} in image {image}"),
                        )
                    })?;
                let files = store.driver.file_getter(&id)?;
                let split = store.tar_split_path(&id);
                if !split.exists() {
                    // containers/storage then tars the layer's files; skiff cannot yet.
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        format!(
                            "not supported yet: layer {id} has no tar-split metadata ({}), so it cannot be exported bit for bit",
                            split.display()
                        ),
                    ));
                }
                let mut tar = super::tarsplit::Assembler::open(&split, files)?;
                let mut buf = vec![0u8; pipeline::BUFFER_SIZE];
                loop {
                    let n = tar.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n])?;
                }
                out.flush()
            })();
            if let Err(e) = result {
                let _ = tx.blocking_send(Err(e));
            }
        });
        Ok(pipeline::channel_reader(rx))
    }
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    // Store reads are small files; a blocking call on a runtime worker is fine for them
    // when the runtime allows it, and cheap otherwise.
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[async_trait]
impl ImageSource for StorageSource {
    async fn manifest(&self, instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)> {
        blocking(|| {
            if let Some(d) = instance {
                return match self.big_data(&images::manifest_key(d))? {
                    Some(m) => Ok((m, None)),
                    None => Err(TransportError::NotFound(format!(
                        "reading manifest for image instance \"{d}\": locating item named \"{}\" for image with ID \"{}\" (consider removing the image to resolve the issue): file does not exist",
                        images::manifest_key(d),
                        self.id
                    ))),
                };
            }
            if let Some(d) = self.reference.reference.as_ref().and_then(|n| n.digest())
                && let Some(m) = self.big_data(&images::manifest_key(d))?
            {
                return Ok((m, None));
            }
            match self.big_data("manifest")? {
                Some(m) => Ok((m, None)),
                None => Err(TransportError::NotFound(format!(
                    "image {} has no manifest (it was not written by a copy)",
                    self.id
                ))),
            }
        })
    }

    async fn blob(&self, desc: &Descriptor) -> Result<BlobReader> {
        // Schema 1's throwaway layers (c/image's `GzippedEmptyLayer`) have no layer in
        // the store.
        if desc.digest.to_string() == GZIPPED_EMPTY_LAYER_DIGEST {
            return Ok(Box::pin(std::io::Cursor::new(GZIPPED_EMPTY_LAYER.to_vec())));
        }
        let is_layer = blocking(|| -> Result<bool> {
            let _lock = self.store.lock_layers(Mode::Shared)?;
            let all = layers::load(&self.store)?;
            Ok(layers::by_digest(&all, &desc.digest)
                .into_iter()
                .any(|l| layers::info(l).diff_digest.as_ref() == Some(&desc.digest)))
        })?;
        if is_layer {
            return self.stream_layer(&desc.digest);
        }
        let data = blocking(|| self.big_data(&desc.digest.to_string()))?;
        match data {
            Some(d) => Ok(Box::pin(std::io::Cursor::new(d))),
            None => Err(TransportError::NotFound(format!(
                "blob {} is neither a layer in the store nor a data item of image {}",
                desc.digest, self.id
            ))),
        }
    }

    async fn signatures(&self, instance: Option<&Digest>) -> Result<Vec<Signature>> {
        let (sizes, key, label) = match instance {
            None => (
                self.signature_sizes.clone(),
                "signatures".to_string(),
                "default instance".to_string(),
            ),
            Some(d) => (
                self.signatures_sizes
                    .get(&d.to_string())
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|n| n.as_u64())
                            .map(|n| n as usize)
                            .collect()
                    })
                    .unwrap_or_default(),
                images::signature_key(d),
                d.hex().to_string(),
            ),
        };
        if sizes.is_empty() {
            return Ok(Vec::new());
        }
        let data = blocking(|| self.big_data(&key))?.ok_or_else(|| {
            TransportError::NotFound(format!(
                "looking up signatures data for image \"{}\" ({label}): no such item",
                self.id
            ))
        })?;
        let mut out = Vec::new();
        let mut offset = 0;
        for len in sizes {
            let end = offset + len;
            if end > data.len() {
                return Err(TransportError::Invalid(format!(
                    "looking up signatures data for image \"{}\" ({label}): expected at least {end} bytes, only found {}",
                    self.id,
                    data.len()
                )));
            }
            out.push(Signature::from_blob(&data[offset..end]).map_err(|e| {
                TransportError::Invalid(format!("parsing signature at ({offset}, {len}): {e}"))
            })?);
            offset = end;
        }
        if offset != data.len() {
            return Err(TransportError::Invalid(format!(
                "signatures data ({label}) contained {} extra bytes",
                data.len() - offset
            )));
        }
        Ok(out)
    }

    async fn layer_infos_for_copy(&self, manifest: &Manifest) -> Result<Option<Vec<LayerForCopy>>> {
        let (layers_in_manifest, uncompressed) = match &manifest.kind {
            Kind::Image { layers, .. } => (
                layers,
                if manifest.mime == mime::OCI_MANIFEST {
                    mime::OCI_LAYER
                } else {
                    mime::DOCKER_LAYER
                },
            ),
            Kind::Schema1 { .. } => {
                return Err(TransportError::NotSupportedYet(
                    "copying a Docker schema 1 image out of containers-storage".into(),
                ));
            }
            Kind::List { .. } => {
                return Err(TransportError::Invalid(
                    "can't copy layers for a manifest list (shouldn't be attempted)".into(),
                ));
            }
        };
        let chain = blocking(|| self.layer_chain())?;
        let mut physical = chain.iter();
        let mut out = Vec::with_capacity(layers_in_manifest.len());
        for l in layers_in_manifest {
            let Some(p) = physical.next() else {
                return Err(TransportError::Invalid(format!(
                    "creating LayerInfosForCopy of image \"{}\": expected more than {} physical layers to exist",
                    self.id,
                    chain.len()
                )));
            };
            let (Some(digest), Some(size)) = (&p.diff_digest, p.diff_size) else {
                return Err(TransportError::Invalid(format!(
                    "uncompressed digest for layer \"{}\" is unknown",
                    p.id
                )));
            };
            // The blob the manifest names is the one the layer was pulled as.
            let pulled_as = p.compressed_digest.as_ref() == Some(&l.digest) && l.digest != *digest;
            out.push(LayerForCopy {
                layer: Descriptor {
                    media_type: uncompressed.to_string(),
                    digest: digest.clone(),
                    size: i64::try_from(size).unwrap_or(i64::MAX),
                    urls: Vec::new(),
                    annotations: None,
                    platform: l.platform.clone(),
                },
                compressed: pulled_as.then(|| l.clone()),
            });
        }
        if physical.next().is_some() {
            return Err(TransportError::Invalid(format!(
                "creating LayerInfosForCopy of image \"{}\": used only {} out of {} physical layers",
                self.id,
                out.len(),
                chain.len()
            )));
        }
        Ok(Some(out))
    }
}
