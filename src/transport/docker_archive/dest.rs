//! Writing a docker archive. Blobs are spooled into a temp directory as they arrive (in
//! parallel, sizes unknown until the end); commit plans the tar and streams it: into a temp
//! file beside the target, renamed into place; straight into a pipe or device
//! (`/dev/stdout`); or, for `docker-daemon:`, into the daemon's load request.
//!
//! An existing archive is extended, not clobbered, when the destination names a tag: the
//! images it holds are copied into the new tar, the named tags move to the new image, and
//! an image left without any tag is dropped (as `docker load` moves tags).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;

use super::ArchiveError;
use super::format::{self, ManifestItem, Repositories};
use super::tarindex::TarIndex;
use super::writer::{self, Content, Entry};
use crate::digest::Digest;
use crate::manifest::{self, Kind, MAX_CONFIG_SIZE, Manifest, mime};
use crate::pipeline::{self, BlobReader};
use crate::reference::DockerRef;
use crate::transport::fsutil;
use crate::transport::{
    BlobInfo, BlobOptions, DestCaps, ImageDestination, LayerCompression, Result, SignatureSupport,
    TransportError,
};

/// Where the finished tar goes.
#[derive(Debug, Clone)]
pub enum Sink {
    /// A path given by the user.
    Path(PathBuf),
    /// Handed to the caller (`docker-daemon:`) through `ArchiveDestination::finish`.
    Caller,
}

#[derive(Debug, Clone, Default)]
pub struct DestOptions {
    /// The tags the image gets: the destination reference first, then `--additional-tag`s.
    pub tags: Vec<DockerRef>,
    /// Also write the OCI layout Docker 25+ writes (`--format oci`).
    pub oci_layout: bool,
    /// For spooling when the target is not a regular file.
    pub tmpdir: PathBuf,
}

/// How commit delivers the tar.
enum Delivery {
    /// Built beside `target`, renamed into place.
    Replace(PathBuf),
    /// Written into an existing non-regular file (pipe, character device).
    Stream(PathBuf),
    Caller,
}

/// The archive being extended.
struct Existing {
    index: TarIndex,
    /// manifest.json items (raw, to keep fields skiff does not know) and parsed.
    items: Vec<(Value, ManifestItem)>,
    repositories: Repositories,
    /// Blobs of surviving images that can be reused: digest -> (file name, size).
    reusable: HashMap<Digest, (String, u64)>,
}

struct Written {
    config: Digest,
    layers: Vec<Digest>,
    /// The OCI manifest for the layout (only with `oci_layout`).
    oci_manifest: Option<Vec<u8>>,
}

/// Spooled blobs: digest -> (spool path, size).
type Spooled = HashMap<Digest, (PathBuf, u64)>;

pub struct ArchiveDestination {
    delivery: Delivery,
    label: PathBuf,
    spool: tempfile::TempDir,
    opts: DestOptions,
    existing: Option<Existing>,
    blobs: Mutex<Spooled>,
    written: Mutex<Option<Written>>,
}

fn werr(target: &Path, message: impl Into<String>) -> ArchiveError {
    ArchiveError::Write {
        target: target.to_path_buf(),
        message: message.into(),
    }
}

impl ArchiveDestination {
    pub async fn open(sink: Sink, opts: DestOptions) -> Result<ArchiveDestination> {
        let (delivery, label, spool_parent) = match sink {
            Sink::Caller => (
                Delivery::Caller,
                PathBuf::from("(stream)"),
                opts.tmpdir.clone(),
            ),
            Sink::Path(path) => {
                if is_stream_path(&path) {
                    (Delivery::Stream(path.clone()), path, opts.tmpdir.clone())
                } else {
                    let target = fsutil::absolute(&path)?;
                    match std::fs::metadata(&target) {
                        Ok(m) if !m.is_file() && !m.is_dir() => (
                            Delivery::Stream(target.clone()),
                            target,
                            opts.tmpdir.clone(),
                        ),
                        Ok(m) if m.is_dir() => {
                            return Err(werr(&target, "the destination is a directory").into());
                        }
                        _ => {
                            let parent = fsutil::parent_of(&target);
                            if let Err(e) = std::fs::metadata(&parent) {
                                // containers/image's words for the file it cannot create.
                                return Err(TransportError::io(
                                    format!(
                                        "opening file {:?}: open {}",
                                        path.display().to_string(),
                                        path.display()
                                    ),
                                    e,
                                ));
                            }
                            (Delivery::Replace(target.clone()), target, parent)
                        }
                    }
                }
            }
        };
        // --tmpdir may be created; the target's own directory must exist, as in skopeo.
        if !matches!(delivery, Delivery::Replace(_)) {
            std::fs::create_dir_all(&spool_parent).map_err(|e| {
                TransportError::io(format!("creating {}", spool_parent.display()), e)
            })?;
        }
        fsutil::sweep_stale(&spool_parent);
        let spool = fsutil::temp_dir_in(&spool_parent, ".", "dockerarchive")?;
        let existing = match &delivery {
            Delivery::Replace(target) => open_existing(target, &opts).await?,
            _ => None,
        };
        Ok(ArchiveDestination {
            delivery,
            label,
            spool,
            opts,
            existing,
            blobs: Mutex::new(HashMap::new()),
            written: Mutex::new(None),
        })
    }

    /// Writes the finished tar into `out` (blocking). For `Sink::Caller`.
    pub fn finish<W: std::io::Write>(&self, out: W) -> Result<W> {
        self.finish_with(out, &mut || {})
    }

    fn finish_with<W: std::io::Write>(&self, out: W, after_file: &mut dyn FnMut()) -> Result<W> {
        let entries = self.plan()?;
        writer::write_tar(
            out,
            self.existing.as_ref().map(|e| e.index.path()),
            &entries,
            after_file,
        )
        .map_err(|e| ArchiveError::io(&self.label, "writing", e).into())
    }

    /// Every entry of the new archive, in order: what survives of the archive being
    /// extended, the new image's blobs, its layout (legacy directories or Docker 25+'s OCI
    /// layout), then manifest.json and repositories.
    fn plan(&self) -> Result<Vec<Entry>> {
        let (written, blobs) = self.take_written()?;
        let new_tags: Vec<String> = self.opts.tags.iter().map(format::repo_tag).collect();
        let mut plan = Plan::default();
        if let Some(ex) = &self.existing {
            keep_survivors(ex, &new_tags, &mut plan)?;
        }
        let image = self.plan_blobs(&written, &blobs, &mut plan)?;
        if self.opts.oci_layout {
            self.plan_oci_layout(&written, &mut plan)?;
        } else {
            self.plan_legacy_dirs(&written, &image, &mut plan)?;
        }
        self.plan_manifest(&image, &new_tags, plan)
    }

    /// What `put_manifest` recorded and the spooled blobs, for the one commit.
    fn take_written(&self) -> Result<(Written, Spooled)> {
        let written = self
            .written
            .lock()
            .ok()
            .and_then(|mut w| w.take())
            .ok_or_else(|| {
                TransportError::Invalid("docker archive: commit without a manifest".into())
            })?;
        let blobs = self
            .blobs
            .lock()
            .map_err(|_| TransportError::Invalid("internal: blob table poisoned".into()))?
            .clone();
        Ok((written, blobs))
    }

    /// The new image's layer and config files: spooled ones are added, ones the extended
    /// archive already holds are referred to by their old names.
    fn plan_blobs(&self, written: &Written, blobs: &Spooled, plan: &mut Plan) -> Result<NewImage> {
        let layout = self.opts.oci_layout;
        let blob_name = |d: &Digest, ext: &str| {
            if layout {
                format!("blobs/{}/{}", d.algorithm().name(), d.hex())
            } else {
                format!("{}{ext}", d.hex())
            }
        };
        let reused = |d: &Digest| {
            self.existing
                .as_ref()
                .and_then(|e| e.reusable.get(d))
                .map(|(n, _)| n.clone())
        };
        let mut layer_names = Vec::new();
        for d in &written.layers {
            let name = match (blobs.get(d), reused(d)) {
                (Some((path, _)), _) => {
                    let name = blob_name(d, ".tar");
                    plan.push(name.clone(), Content::File(path.clone()));
                    name
                }
                (None, Some(old)) => old,
                (None, None) => {
                    return Err(werr(&self.label, format!("layer {d} was never written")).into());
                }
            };
            layer_names.push(name);
        }
        let (config_name, config_bytes) =
            match (blobs.get(&written.config), reused(&written.config)) {
                (Some((path, _)), _) => {
                    let name = blob_name(&written.config, ".json");
                    let bytes = read_spooled(path, &self.label)?;
                    plan.push(name.clone(), Content::File(path.clone()));
                    (name, bytes)
                }
                (None, Some(old)) => {
                    let ex = self
                        .existing
                        .as_ref()
                        .ok_or_else(|| werr(&self.label, "internal"))?;
                    let bytes = read_old(&ex.index, &old)?;
                    (old, bytes)
                }
                (None, None) => {
                    return Err(werr(
                        &self.label,
                        format!("config {} was never written", written.config),
                    )
                    .into());
                }
            };
        Ok(NewImage {
            layer_names,
            config_name,
            config_bytes,
        })
    }

    /// Docker 25+'s OCI layout (`--format oci`): the OCI manifest, index.json, oci-layout.
    fn plan_oci_layout(&self, written: &Written, plan: &mut Plan) -> Result<()> {
        let oci = written.oci_manifest.clone().ok_or_else(|| {
            werr(
                &self.label,
                "the OCI layout needs an OCI manifest (--format oci)",
            )
        })?;
        let digest = Digest::sha256_of(&oci);
        plan.push(
            format!("blobs/sha256/{}", digest.hex()),
            Content::Bytes(oci.clone()),
        );
        plan.push(
            "index.json".into(),
            Content::Bytes(oci_index(&digest, oci.len(), &self.opts.tags)?),
        );
        plan.push(
            "oci-layout".into(),
            Content::Bytes(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        );
        // Docker 25+ maps tags to the image ID (the config digest) here.
        format::add_repositories(
            &mut plan.repositories,
            &self.opts.tags,
            written.config.hex(),
        );
        Ok(())
    }

    /// The legacy per-layer directories (`<id>/layer.tar`, `VERSION`, `json`).
    fn plan_legacy_dirs(&self, written: &Written, image: &NewImage, plan: &mut Plan) -> Result<()> {
        let legacy = format::legacy_layers(&written.layers, &image.config_bytes)
            .map_err(|e| werr(&self.label, e.to_string()))?;
        for (l, name) in legacy.iter().zip(&image.layer_names) {
            plan.push(
                format!("{}/layer.tar", l.id),
                Content::Symlink(format!("../{name}")),
            );
            plan.push(format!("{}/VERSION", l.id), Content::Bytes(b"1.0".to_vec()));
            plan.push(format!("{}/json", l.id), Content::Bytes(l.json.clone()));
        }
        if let Some(top) = legacy.last() {
            format::add_repositories(&mut plan.repositories, &self.opts.tags, &top.id);
        }
        Ok(())
    }

    /// manifest.json (the new image's item, or the new tags on the same image already
    /// there) and repositories, last.
    fn plan_manifest(
        &self,
        image: &NewImage,
        new_tags: &[String],
        mut plan: Plan,
    ) -> Result<Vec<Entry>> {
        let same = plan
            .items
            .iter_mut()
            .find(|v| v.get("Config").and_then(Value::as_str) == Some(image.config_name.as_str()));
        match same {
            Some(v) => {
                if let Some(tags) = v.get_mut("RepoTags").and_then(Value::as_array_mut) {
                    for t in new_tags {
                        if !tags.iter().any(|x| x.as_str() == Some(t)) {
                            tags.push(Value::from(t.as_str()));
                        }
                    }
                }
            }
            None => plan.items.push(format::manifest_item(
                &image.config_name,
                new_tags,
                &image.layer_names,
            )),
        }
        let manifest_json = manifest::go_json(&Value::Array(std::mem::take(&mut plan.items)));
        plan.push("manifest.json".into(), Content::Bytes(manifest_json));
        let repos = manifest::go_json(
            &serde_json::to_value(&plan.repositories)
                .map_err(|e| werr(&self.label, e.to_string()))?,
        );
        plan.push("repositories".into(), Content::Bytes(repos));
        Ok(plan.entries)
    }
}

/// The archive being planned: its entries (each name once, the first wins), and
/// manifest.json's items and the repositories file as they grow.
#[derive(Default)]
struct Plan {
    entries: Vec<Entry>,
    names: HashSet<String>,
    items: Vec<Value>,
    repositories: Repositories,
}

impl Plan {
    fn push(&mut self, name: String, content: Content) {
        if self.names.insert(name.clone()) {
            self.entries.push(Entry { name, content });
        }
    }
}

/// Where the new image's files are in the archive.
struct NewImage {
    layer_names: Vec<String>,
    config_name: String,
    config_bytes: Vec<u8>,
}

/// What survives of the archive being extended: the images that keep a tag (their files,
/// manifest.json items and repositories entries), without the tags that move to the new
/// image.
fn keep_survivors(ex: &Existing, new_tags: &[String], plan: &mut Plan) -> Result<()> {
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

/// `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`: always written in place, never renamed.
fn is_stream_path(p: &Path) -> bool {
    p.starts_with("/dev/") || p.starts_with("/proc/")
}

/// A symlink from `name` to the archive-root-relative `target`.
fn relative_link(name: &str, target: &str) -> String {
    let depth = name.matches('/').count();
    format!("{}{target}", "../".repeat(depth))
}

fn read_spooled(path: &Path, label: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_SIZE + 1).read_to_end(&mut out))
        .map_err(|e| ArchiveError::io(label, "reading the spooled config for", e))?;
    Ok(out)
}

fn read_old(index: &TarIndex, name: &str) -> Result<Vec<u8>> {
    let (_, span) = index.resolve(name)?;
    let mut out = Vec::new();
    index
        .open_blocking(span)
        .and_then(|r| r.take(MAX_CONFIG_SIZE + 1).read_to_end(&mut out))
        .map_err(|e| ArchiveError::io(index.path(), "reading", e))?;
    Ok(out)
}

/// index.json for the Docker 25+ layout: one entry per tag, as Docker writes it.
fn oci_index(digest: &Digest, size: usize, tags: &[DockerRef]) -> Result<Vec<u8>> {
    let entry = |tag: Option<&DockerRef>| {
        let mut m = serde_json::Map::new();
        m.insert("mediaType".into(), mime::OCI_MANIFEST.into());
        m.insert("digest".into(), digest.to_string().into());
        m.insert("size".into(), size.into());
        if let Some(t) = tag {
            let mut a = serde_json::Map::new();
            a.insert(
                "io.containerd.image.name".into(),
                format::repo_tag(t).into(),
            );
            a.insert(
                "org.opencontainers.image.ref.name".into(),
                t.tag().unwrap_or("latest").into(),
            );
            m.insert("annotations".into(), Value::Object(a));
        }
        Value::Object(m)
    };
    let manifests: Vec<Value> = if tags.is_empty() {
        vec![entry(None)]
    } else {
        tags.iter().map(|t| entry(Some(t))).collect()
    };
    let mut root = serde_json::Map::new();
    root.insert("schemaVersion".into(), 2.into());
    root.insert("mediaType".into(), mime::OCI_INDEX.into());
    root.insert("manifests".into(), Value::Array(manifests));
    Ok(manifest::go_json(&Value::Object(root)))
}

/// Reads an existing, non-empty archive at `target` that the new image will join.
async fn open_existing(target: &Path, opts: &DestOptions) -> Result<Option<Existing>> {
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
        reusable: HashMap::new(),
    };
    // Blobs of the images that stay can be reused instead of written twice.
    let (keep, _, _) = survivors(&existing, &new_tags)?;
    let mut reusable = HashMap::new();
    for (_, item, _) in keep {
        let config = existing
            .index
            .read_small(&item.config, MAX_CONFIG_SIZE)
            .await?;
        reusable.insert(
            Digest::sha256_of(&config),
            (item.config.clone(), config.len() as u64),
        );
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
                reusable.insert(d.clone(), (name.clone(), span.size));
            }
        }
    }
    existing.reusable = reusable;
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

#[async_trait]
impl ImageDestination for ArchiveDestination {
    fn caps(&self) -> DestCaps {
        DestCaps {
            layer_compression: LayerCompression::Decompress,
            manifest_types: if self.opts.oci_layout {
                &[mime::OCI_MANIFEST]
            } else {
                &[mime::DOCKER_V2S2]
            },
            signatures: SignatureSupport::refused(
                "Storing signatures for docker tar files is not supported",
            ),
            sigstore_refusal: None,
        }
    }

    async fn try_reuse_blob(
        &self,
        digest: &Digest,
        _opts: &BlobOptions<'_>,
    ) -> Result<Option<BlobInfo>> {
        if let Ok(b) = self.blobs.lock()
            && let Some((_, size)) = b.get(digest)
        {
            return Ok(Some(BlobInfo {
                digest: digest.clone(),
                size: *size,
            }));
        }
        Ok(self
            .existing
            .as_ref()
            .and_then(|e| e.reusable.get(digest))
            .map(|(_, size)| BlobInfo {
                digest: digest.clone(),
                size: *size,
            }))
    }

    async fn put_blob(&self, reader: BlobReader, opts: &BlobOptions<'_>) -> Result<BlobInfo> {
        let verified = opts.verified;
        let dir = self.spool.path().to_path_buf();
        let info = fsutil::store_blob(
            reader,
            &dir,
            |d| dir.join(d.hex()),
            verified,
            fsutil::Durability::Scratch,
        )
        .await?
        .info;
        if let Ok(mut b) = self.blobs.lock() {
            b.insert(
                info.digest.clone(),
                (dir.join(info.digest.hex()), info.size),
            );
        }
        Ok(info)
    }

    async fn put_manifest(&self, raw: &[u8], mime: &str, instance: Option<&Digest>) -> Result<()> {
        if instance.is_some() {
            return Err(TransportError::Unsupported(
                "docker-archive does not store manifest lists".into(),
            ));
        }
        let m = Manifest::parse(raw.to_vec(), Some(mime).filter(|m| !m.is_empty()))
            .map_err(|e| TransportError::Invalid(format!("docker archive: {e}")))?;
        let Kind::Image { config, layers } = &m.kind else {
            return Err(TransportError::Unsupported(
                "docker-archive stores single images only".into(),
            ));
        };
        let written = Written {
            config: config.digest.clone(),
            layers: layers.iter().map(|l| l.digest.clone()).collect(),
            oci_manifest: (m.mime == mime::OCI_MANIFEST).then(|| raw.to_vec()),
        };
        if let Ok(mut w) = self.written.lock() {
            *w = Some(written);
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        tokio::task::block_in_place(|| match &self.delivery {
            Delivery::Replace(target) => {
                let parent = fsutil::parent_of(target);
                let temp = fsutil::temp_file_in(&parent, "archive")?;
                let file = temp.as_file();
                // Each layer's writeback starts as soon as it is in, so the fsync at the
                // end waits for little; the spool is deleted meanwhile.
                self.finish_with(file, &mut || fsutil::start_writeback(file, 0))?;
                std::thread::scope(|s| {
                    s.spawn(|| std::fs::remove_dir_all(self.spool.path()));
                    file.sync_all()
                })
                .map_err(|e| ArchiveError::io(target, "syncing", e))?;
                fsutil::keep_mode_and_owner(target, temp.path())
                    .map_err(|e| ArchiveError::io(target, "keeping the mode of", e))?;
                temp.persist(target)
                    .map_err(|e| ArchiveError::io(target, "renaming into place", e.error))?;
                fsutil::sync_dir(&parent)
            }
            Delivery::Stream(path) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| ArchiveError::io(path, "opening", e))?;
                self.finish(f)?;
                Ok(())
            }
            Delivery::Caller => Err(TransportError::Invalid(
                "internal: a caller-delivered archive is finished by its caller".into(),
            )),
        })
    }
}
