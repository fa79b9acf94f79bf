//! Extending an existing docker archive: what it holds, which of its images survive the
//! tags that move to the new image, and which of its files the new image can reuse.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;

use super::error::{ArchiveError, werr};
use super::format::{self, ManifestItem, Repositories};
use super::options::DestOptions;
use super::tarindex::TarIndex;
use super::writer::{Content, Plan};
use crate::digest::Digest;
use crate::manifest::{self, MAX_CONFIG_SIZE};
use crate::pipeline;
use crate::reference::DockerRef;
use crate::transport::error::{Result, TransportError};

/// The archive being extended.
pub(super) struct Existing {
    pub index: TarIndex,
    /// manifest.json items (raw, to keep fields skiff does not know) and parsed.
    items: Vec<(Value, ManifestItem)>,
    repositories: Repositories,
    /// Files of surviving images offered for reuse: digest -> (file name, size). A config
    /// is offered on its own hash; a layer on the diff ID its image's config claims, which
    /// proves nothing until the layer's bytes are hashed (`reuse`).
    offered: HashMap<Digest, (String, u64)>,
    /// What hashing showed: digest -> whether the offered file holds it.
    checked: Mutex<HashMap<Digest, bool>>,
}

impl Existing {
    /// The old archive's file for blob `digest` (name, size), when one is offered and its
    /// bytes hash to `digest`.
    pub async fn reuse(&self, digest: &Digest) -> Result<Option<(String, u64)>> {
        let Some((name, size)) = self.offered.get(digest) else {
            return Ok(None);
        };
        let known = self
            .checked
            .lock()
            .ok()
            .and_then(|c| c.get(digest).copied());
        let holds = match known {
            Some(h) => h,
            None => {
                let (_, span) = self.index.resolve(name)?;
                let reader = self.read_err(self.index.open_blocking(span))?;
                let algorithm = digest.algorithm();
                let hashed = tokio::task::spawn_blocking(move || algorithm.digest_reader(reader))
                    .await
                    .map_err(|e| TransportError::Invalid(format!("hashing {name}: {e}")))?;
                let holds = self.read_err(hashed)?.0 == *digest;
                if let Ok(mut c) = self.checked.lock() {
                    c.insert(digest.clone(), holds);
                }
                holds
            }
        };
        Ok(holds.then(|| (name.clone(), *size)))
    }

    /// The file `reuse` confirmed for `digest`.
    pub fn confirmed(&self, digest: &Digest) -> Option<String> {
        let holds = self.checked.lock().ok()?.get(digest).copied()?;
        holds
            .then(|| self.offered.get(digest).map(|(n, _)| n.clone()))
            .flatten()
    }

    /// Whether the old archive's file `name` holds exactly the blob `digest` (blocking).
    pub fn holds(&self, name: &str, digest: &Digest) -> Result<bool> {
        let (_, span) = self.index.resolve(name)?;
        let reader = self.read_err(self.index.open_blocking(span))?;
        Ok(self.read_err(digest.algorithm().digest_reader(reader))?.0 == *digest)
    }

    fn read_err<T>(&self, r: std::io::Result<T>) -> Result<T> {
        r.map_err(|e| ArchiveError::io(self.index.path(), "reading", e).into())
    }
}

/// What survives of the archive being extended: the images that keep a tag (their files,
/// manifest.json items and repositories entries), without the tags that move to the new
/// image.
pub(super) fn keep_survivors(ex: &Existing, new_tags: &[String], plan: &mut Plan) -> Result<()> {
    let (keep, drop_files, drop_dirs) = survivors(ex, new_tags)?;
    for (raw, _, tags) in &keep {
        let mut raw = (*raw).clone();
        if let Some(o) = raw.as_object_mut() {
            o.insert(
                "RepoTags".into(),
                Value::Array(tags.iter().map(|t| Value::from(t.as_str())).collect()),
            );
        }
        plan.items.push(raw);
    }
    for name in ex.index.names() {
        if name == "manifest.json" || name == "repositories" {
            continue;
        }
        let top = name.split('/').next().unwrap_or_default();
        if drop_dirs.contains(top) {
            continue;
        }
        if let Ok((real, span)) = ex.index.resolve(name) {
            if drop_files.contains(&real) {
                continue;
            }
            let content = match ex.index.link_target(name) {
                Some(_) if ex.index.is_link(name) => Content::Symlink(relative_link(name, &real)),
                _ => Content::Old(span),
            };
            plan.push(name.clone(), content);
        }
    }
    for (repo, tags) in &ex.repositories {
        for (tag, id) in tags {
            let full = format!("{repo}:{tag}");
            if !new_tags.contains(&full) && !drop_dirs.contains(id.as_str()) {
                plan.repositories
                    .entry(repo.clone())
                    .or_default()
                    .insert(tag.clone(), id.clone());
            }
        }
    }
    Ok(())
}

/// A symlink from `name` to the archive-root-relative `target`.
fn relative_link(name: &str, target: &str) -> String {
    let depth = name.matches('/').count();
    format!("{}{target}", "../".repeat(depth))
}

pub(super) fn read_old(index: &TarIndex, name: &str) -> Result<Vec<u8>> {
    let (_, span) = index.resolve(name)?;
    let mut out = Vec::new();
    index
        .open_blocking(span)
        .and_then(|r| r.take(MAX_CONFIG_SIZE + 1).read_to_end(&mut out))
        .map_err(|e| ArchiveError::io(index.path(), "reading", e))?;
    Ok(out)
}

/// Reads an existing, non-empty archive at `target` that the new image will join.
pub(super) async fn open_existing(target: &Path, opts: &DestOptions) -> Result<Option<Existing>> {
    let len = match std::fs::metadata(target) {
        Ok(m) => m.len(),
        Err(_) => return Ok(None),
    };
    if len == 0 {
        return Ok(None);
    }
    if opts.tags.is_empty() {
        return Err(werr(
            target,
            "the file already exists; name a tag (docker-archive:PATH:NAME:TAG) to add an image to it, or remove it first (skopeo: \"docker-archive doesn't support modifying existing images\")",
        )
        .into());
    }
    if opts.oci_layout {
        return Err(TransportError::NotSupportedYet(format!(
            "adding an image with the OCI layout (--format oci) to the existing archive {}",
            target.display()
        )));
    }
    let index = super::source::scan(target).await?;
    if index.resolve("index.json").is_ok() {
        return Err(TransportError::NotSupportedYet(format!(
            "adding an image to {}, which has an OCI layout (Docker 25+ format)",
            target.display()
        )));
    }
    let items_raw = index
        .read_small("manifest.json", manifest::MAX_MANIFEST_SIZE)
        .await?;
    let raws: Vec<Value> = serde_json::from_slice(&items_raw).map_err(|e| {
        werr(
            target,
            format!("the existing file is not a docker archive (manifest.json: {e})"),
        )
    })?;
    let mut items = Vec::with_capacity(raws.len());
    for raw in raws {
        let parsed: ManifestItem = serde_json::from_value(raw.clone())
            .map_err(|e| werr(target, format!("existing manifest.json: {e}")))?;
        items.push((raw, parsed));
    }
    // Optional (Docker 25+ archives may lack it), but one that is there must parse: read
    // as empty, the rewritten archive would lose its old tags.
    let repositories: Repositories = if index.names().iter().any(|n| n == "repositories") {
        let raw = index.read_small("repositories", 1 << 20).await?;
        serde_json::from_slice(&raw)
            .map_err(|e| werr(target, format!("existing repositories file: {e}")))?
    } else {
        Repositories::new()
    };
    let new_tags: Vec<String> = opts.tags.iter().map(format::repo_tag).collect();
    let mut existing = Existing {
        index,
        items,
        repositories,
        offered: HashMap::new(),
        checked: Mutex::new(HashMap::new()),
    };
    // Blobs of the images that stay can be reused instead of written twice.
    let (keep, _, _) = survivors(&existing, &new_tags)?;
    let mut offered = HashMap::new();
    let mut checked = HashMap::new();
    for (_, item, _) in keep {
        let config = existing
            .index
            .read_small(&item.config, MAX_CONFIG_SIZE)
            .await?;
        let config_digest = Digest::sha256_of(&config);
        checked.insert(config_digest.clone(), true);
        offered.insert(config_digest, (item.config.clone(), config.len() as u64));
        let diff_ids: Vec<Digest> = serde_json::from_slice::<Value>(&config)
            .ok()
            .and_then(|v| v.pointer("/rootfs/diff_ids").cloned())
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        for (d, name) in diff_ids.iter().zip(&item.layers) {
            let (_, span) = existing.index.resolve(name)?;
            let mut head = [0u8; 6];
            // An unreadable layer is an error, not "uncompressed" (and so offered for reuse).
            let n = existing
                .index
                .open_blocking(span)
                .and_then(|mut r| crate::pipeline::read_full(&mut r, &mut head))
                .map_err(|e| ArchiveError::io(existing.index.path(), "reading", e))?;
            // Only plain layers are named by their diff ID.
            if pipeline::detect(&head[..n]).is_none() {
                offered.insert(d.clone(), (name.clone(), span.size));
            }
        }
    }
    existing.offered = offered;
    existing.checked = Mutex::new(checked);
    Ok(Some(existing))
}

/// The images that stay when `new_tags` move to the new image, with their remaining
/// tags; and the files and legacy directories only dropped images used.
#[allow(clippy::type_complexity)]
fn survivors<'a>(
    ex: &'a Existing,
    new_tags: &[String],
) -> Result<(
    Vec<(&'a Value, &'a ManifestItem, Vec<String>)>,
    HashSet<String>,
    HashSet<String>,
)> {
    let normal = |t: &str| {
        DockerRef::parse_normalized(t)
            .map(|r| format::repo_tag(&r.with_default_tag()))
            .unwrap_or_else(|_| t.to_string())
    };
    let mut keep = Vec::new();
    let mut dropped = Vec::new();
    for (raw, item) in &ex.items {
        let tags: Vec<String> = item
            .tags()
            .iter()
            .map(|t| normal(t))
            .filter(|t| !new_tags.contains(t))
            .collect();
        if !item.tags().is_empty() && tags.is_empty() {
            dropped.push(item);
        } else {
            keep.push((raw, item, tags));
        }
    }
    let files_of = |item: &ManifestItem| -> Vec<String> {
        std::iter::once(&item.config)
            .chain(&item.layers)
            .filter_map(|n| ex.index.resolve(n).ok().map(|(r, _)| r))
            .collect()
    };
    let kept_files: HashSet<String> = keep.iter().flat_map(|(_, i, _)| files_of(i)).collect();
    let drop_files: HashSet<String> = dropped
        .iter()
        .flat_map(|i| files_of(i))
        .filter(|f| !kept_files.contains(f))
        .collect();
    // Legacy `<id>/layer.tar` directories whose layer goes away.
    let mut drop_dirs = HashSet::new();
    for name in ex.index.names() {
        if let Some(dir) = name.strip_suffix("/layer.tar")
            && !dir.contains('/')
            && let Ok((real, _)) = ex.index.resolve(name)
            && drop_files.contains(&real)
        {
            drop_dirs.insert(dir.to_string());
        }
    }
    Ok((keep, drop_files, drop_dirs))
}
