//! Reading one image out of a docker archive, as containers/image's `tarfile.Source`
//! presents it: a generated schema 2 manifest whose layers are named by their diff IDs and
//! served uncompressed, so the engine's digest check is the diff ID check.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::error::ArchiveError;
use super::format::{self, ManifestItem};
use super::tarindex::{Span, TarIndex};
use crate::digest::Digest;
use crate::manifest::{Descriptor, MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, mime};
use crate::pipeline::{self, BlobReader, Compression, Transform};
use crate::reference::{ArchiveSelector, DockerRef};
use crate::signature::Signature;
use crate::transport::error::{Result, TransportError};
use crate::transport::traits::ImageSource;

struct LayerFile {
    name: String,
    compression: Option<Compression>,
}

pub struct ArchiveSource {
    index: Arc<TarIndex>,
    manifest: Vec<u8>,
    config_digest: Digest,
    config: Vec<u8>,
    layers: HashMap<Digest, LayerFile>,
}

#[derive(Deserialize)]
struct ConfigRootfs {
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

/// Reads and parses `manifest.json`.
pub(super) async fn read_items(
    index: &TarIndex,
) -> std::result::Result<Vec<ManifestItem>, ArchiveError> {
    let raw = index.read_small("manifest.json", MAX_MANIFEST_SIZE).await?;
    serde_json::from_slice(&raw).map_err(|e| ArchiveError::Invalid {
        archive: index.path().to_path_buf(),
        message: format!("manifest.json: {e}"),
    })
}

/// Scans an uncompressed archive (on the blocking pool), e.g. one to add an image to.
pub(crate) async fn scan(path: &Path) -> std::result::Result<TarIndex, ArchiveError> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || TarIndex::scan(&p))
        .await
        .map_err(|e| ArchiveError::Invalid {
            archive: path.to_path_buf(),
            message: format!("scanning the archive: {e}"),
        })?
}

/// Scans an archive to read from (on the blocking pool); a compressed one is decompressed
/// into a temp file under `tmpdir` first, kept as long as the index.
pub(crate) async fn scan_source(
    path: &Path,
    tmpdir: &Path,
) -> std::result::Result<TarIndex, ArchiveError> {
    let (p, t) = (path.to_path_buf(), tmpdir.to_path_buf());
    tokio::task::spawn_blocking(move || TarIndex::scan_source(&p, &t))
        .await
        .map_err(|e| ArchiveError::Invalid {
            archive: path.to_path_buf(),
            message: format!("scanning the archive: {e}"),
        })?
}

/// `skopeo list-tags docker-archive:FILE`: every image's tags, fully qualified, or `@N`
/// for an image without tags.
pub async fn list_tags(path: &Path, tmpdir: &Path) -> Result<Vec<String>> {
    let index = scan_source(path, tmpdir).await?;
    let items = read_items(&index).await?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item.tags().is_empty() {
            out.push(format!("@{i}"));
        }
        for tag in item.tags() {
            // Archives from `docker save` hold short names ("busybox:latest").
            out.push(match DockerRef::parse_normalized(tag) {
                Ok(r) => r.to_string(),
                Err(_) => tag.clone(),
            });
        }
    }
    Ok(out)
}

impl ArchiveSource {
    pub async fn open(
        path: &Path,
        selector: Option<&ArchiveSelector>,
        tmpdir: &Path,
    ) -> Result<ArchiveSource> {
        let index = scan_source(path, tmpdir).await?;
        Ok(Self::from_index(index, selector).await?)
    }

    pub(crate) async fn from_index(
        index: TarIndex,
        selector: Option<&ArchiveSelector>,
    ) -> std::result::Result<ArchiveSource, ArchiveError> {
        let index = Arc::new(index);
        let archive = index.path().to_path_buf();
        let invalid = |message: String| ArchiveError::Invalid {
            archive: archive.clone(),
            message,
        };
        let items = read_items(&index).await?;
        let item = choose(&items, selector, index.path())?;
        let config = index.read_small(&item.config, MAX_CONFIG_SIZE).await?;
        let parsed: ConfigRootfs = serde_json::from_slice(&config)
            .map_err(|e| invalid(format!("config {}: {e}", item.config)))?;
        let diff_ids = parsed
            .rootfs
            .ok_or_else(|| invalid(format!("config {}: rootfs is not set", item.config)))?
            .diff_ids;
        if diff_ids.len() != item.layers.len() {
            return Err(invalid(format!(
                "Inconsistent layer count: {} in manifest.json, {} in config {}",
                item.layers.len(),
                diff_ids.len(),
                item.config
            )));
        }
        // Resolve every layer file now: a manifest.json naming a missing file fails
        // before anything is copied.
        let mut wanted: Vec<(Digest, String, Span)> = Vec::new();
        let mut by_file: HashMap<String, Digest> = HashMap::new();
        for (diff_id, name) in diff_ids.iter().zip(&item.layers) {
            if wanted.iter().any(|(d, _, _)| d == diff_id) {
                continue; // The same layer twice in one image: one file serves both.
            }
            let (real, span) = index.resolve(name)?;
            if let Some(other) = by_file.insert(real.clone(), diff_id.clone())
                && &other != diff_id
            {
                return Err(invalid(format!(
                    "layer file {name:?} is used for two different diff IDs ({other} and {diff_id})"
                )));
            }
            wanted.push((diff_id.clone(), real, span));
        }
        let idx = index.clone();
        let sized = tokio::task::spawn_blocking(move || measure_layers(&idx, wanted))
            .await
            .map_err(|e| invalid(format!("reading layers: {e}")))??;
        let mut layers = HashMap::new();
        let mut manifest_layers = Vec::new();
        for d in &diff_ids {
            let Some((_, name, compression, size)) = sized.iter().find(|(x, ..)| x == d) else {
                return Err(invalid(format!("internal: layer {d} not measured")));
            };
            manifest_layers.push((d.clone(), *size));
            layers.insert(
                d.clone(),
                LayerFile {
                    name: name.clone(),
                    compression: *compression,
                },
            );
        }
        let config_digest = Digest::sha256_of(&config);
        let manifest = format::generated_manifest(&config_digest, config.len(), &manifest_layers)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(ArchiveSource {
            index,
            manifest,
            config_digest,
            config,
            layers,
        })
    }
}

/// Detects each layer file's compression; a compressed one is decompressed once to learn
/// the size the manifest must declare (as containers/image does).
#[allow(clippy::type_complexity)]
fn measure_layers(
    index: &TarIndex,
    wanted: Vec<(Digest, String, Span)>,
) -> std::result::Result<Vec<(Digest, String, Option<Compression>, u64)>, ArchiveError> {
    let mut out = Vec::with_capacity(wanted.len());
    for (d, name, span) in wanted {
        let io_err =
            |e: io::Error| ArchiveError::io(index.path(), &format!("reading layer {name} of"), e);
        let mut head = [0u8; 6];
        let mut r = index.open_blocking(span).map_err(io_err)?;
        let mut n = 0;
        while n < head.len() {
            let got = r.read(&mut head[n..]).map_err(io_err)?;
            if got == 0 {
                break;
            }
            n += got;
        }
        let compression = pipeline::detect(&head[..n]);
        let size = match compression {
            None => span.size,
            Some(c) => {
                let r = index.open_blocking(span).map_err(io_err)?;
                pipeline::decompressed_len(c, r).map_err(io_err)?
            }
        };
        out.push((d, name, compression, size));
    }
    Ok(out)
}

/// Picks the image `selector` names; with no selector the archive must hold exactly one.
fn choose<'a>(
    items: &'a [ManifestItem],
    selector: Option<&ArchiveSelector>,
    archive: &Path,
) -> std::result::Result<&'a ManifestItem, ArchiveError> {
    let err = |message: String| ArchiveError::Choose {
        archive: archive.to_path_buf(),
        message,
    };
    match selector {
        None => match items {
            [one] => Ok(one),
            [] => Err(err("manifest.json lists no images".into())),
            _ => Err(err(format!(
                "it holds {} images; choose one with docker-archive:{}:NAME:TAG or docker-archive:{}:@N: {}",
                items.len(),
                archive.display(),
                archive.display(),
                format::describe_items(items)
            ))),
        },
        Some(ArchiveSelector::Index(i)) => items.get(*i).ok_or_else(|| {
            err(format!(
                "Invalid source index @{i}, only {} manifest items available",
                items.len()
            ))
        }),
        Some(ArchiveSelector::Reference(r)) => {
            let wanted = r.to_string();
            for item in items {
                for tag in item.tags() {
                    // RepoTags may be short ("busybox:latest") or qualified.
                    if crate::reference::DockerRef::parse_normalized(tag)
                        .is_ok_and(|t| t.to_string() == wanted)
                    {
                        return Ok(item);
                    }
                }
            }
            Err(err(format!(
                "Tag {wanted:?} not found; the archive has: {}",
                format::describe_items(items)
            )))
        }
    }
}

#[async_trait]
impl ImageSource for ArchiveSource {
    async fn manifest(&self, instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)> {
        if instance.is_some() {
            return Err(TransportError::Invalid(
                "manifest lists are not supported by docker-archive".into(),
            ));
        }
        Ok((self.manifest.clone(), Some(mime::DOCKER_V2S2.to_string())))
    }

    async fn blob(&self, desc: &Descriptor) -> Result<BlobReader> {
        if desc.digest == self.config_digest {
            return Ok(Box::pin(io::Cursor::new(self.config.clone())));
        }
        let Some(layer) = self.layers.get(&desc.digest) else {
            return Err(TransportError::NotFound(format!(
                "blob {} is not in docker archive {}",
                desc.digest,
                self.index.path().display()
            )));
        };
        let (reader, _) = self.index.open(&layer.name).await?;
        match layer.compression {
            None => Ok(reader),
            Some(c) => pipeline::transform(reader, Transform::Decompress(c)).map_err(|e| {
                TransportError::io(
                    format!(
                        "decompressing layer {} of {}",
                        layer.name,
                        self.index.path().display()
                    ),
                    e,
                )
            }),
        }
    }

    async fn signatures(&self, _instance: Option<&Digest>) -> Result<Vec<Signature>> {
        Ok(Vec::new())
    }
}
