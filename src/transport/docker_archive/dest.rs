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

use super::error::{ArchiveError, werr};
use super::extend::{Existing, keep_survivors, open_existing, read_old};
use super::format;
use super::options::{DestOptions, Sink};
use super::writer::{self, Content, Entry, Plan};
use crate::digest::Digest;
use crate::manifest::{self, Kind, MAX_CONFIG_SIZE, Manifest, mime};
use crate::pipeline::BlobReader;
use crate::reference::DockerRef;
use crate::transport::error::{Result, TransportError};
use crate::transport::fsutil;
use crate::transport::traits::{
    BlobInfo, BlobOptions, DestCaps, ImageDestination, LayerCompression, SignatureSupport,
};

/// How commit delivers the tar.
enum Delivery {
    /// Built beside `target`, renamed into place.
    Replace(PathBuf),
    /// Written into an existing non-regular file (pipe, character device).
    Stream(PathBuf),
    Caller,
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
    spool: fsutil::TempDir,
    opts: DestOptions,
    existing: Option<Existing>,
    blobs: Mutex<Spooled>,
    written: Mutex<Option<Written>>,
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
                if is_descriptor_path(&path) {
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
        let spool = fsutil::scratch_dir_in(&spool_parent, ".", "dockerarchive")?;
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
        let reused = |d: &Digest| self.existing.as_ref().and_then(|e| e.confirmed(d));
        let mut layer_names = Vec::new();
        let mut added = HashSet::new();
        for d in &written.layers {
            let name = match (blobs.get(d), reused(d)) {
                (Some((path, _)), _) => {
                    let name = blob_name(d, ".tar");
                    self.add_new_blob(plan, &mut added, &name, path, d)?;
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
                    self.add_new_blob(plan, &mut added, &name, path, &written.config)?;
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

    /// Adds a spooled file of the new image, named for its digest. A file of the old archive
    /// by that name is kept when it holds the same bytes; otherwise the copy fails: its name
    /// promised this content, and replacing it would change the old images that use it.
    fn add_new_blob(
        &self,
        plan: &mut Plan,
        added: &mut HashSet<String>,
        name: &str,
        spooled: &Path,
        digest: &Digest,
    ) -> Result<()> {
        if !added.insert(name.to_string()) {
            return Ok(());
        }
        if !plan.contains(name) {
            plan.push(name.to_string(), Content::File(spooled.to_path_buf()));
            return Ok(());
        }
        match &self.existing {
            Some(ex) if ex.holds(name, digest)? => Ok(()),
            _ => Err(werr(
                &self.label,
                format!(
                    "the archive already has a file {name} that does not hold {digest}, the content its name stands for; the archive is damaged: write the image to another file"
                ),
            )
            .into()),
        }
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
                // The same config, so the same diff IDs: the new image's layers, checked
                // while they were copied, are what the old item's should be too.
                if let Some(o) = v.as_object_mut() {
                    o.insert("Layers".into(), Value::from(image.layer_names.clone()));
                }
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

/// Where the new image's files are in the archive.
struct NewImage {
    layer_names: Vec<String>,
    config_name: String,
    config_bytes: Vec<u8>,
}

/// A name for a descriptor the process already has open (`/dev/stdout`, `/dev/fd/N`,
/// `/proc/self/fd/N`): written in place, whatever it refers to (a pipe, or a file the
/// shell opened). Any other path is judged by what is there, never by where it is:
/// `/dev/shm` is an ordinary filesystem.
fn is_descriptor_path(p: &Path) -> bool {
    let Some(s) = p.to_str() else {
        return false;
    };
    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    if matches!(s, "/dev/stdout" | "/dev/stderr") {
        return true;
    }
    if let Some(n) = s.strip_prefix("/dev/fd/") {
        return number(n);
    }
    match s.strip_prefix("/proc/").and_then(|r| r.split_once("/fd/")) {
        Some((owner, n)) => (owner == "self" || number(owner)) && number(n),
        None => false,
    }
}

fn read_spooled(path: &Path, label: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_SIZE + 1).read_to_end(&mut out))
        .map_err(|e| ArchiveError::io(label, "reading the spooled config for", e))?;
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
        let Some(existing) = &self.existing else {
            return Ok(None);
        };
        Ok(existing.reuse(digest).await?.map(|(_, size)| BlobInfo {
            digest: digest.clone(),
            size,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_descriptor_names_are_written_in_place_by_name() {
        for p in [
            "/dev/stdout",
            "/dev/stderr",
            "/dev/fd/1",
            "/proc/self/fd/3",
            "/proc/42/fd/1",
        ] {
            assert!(is_descriptor_path(Path::new(p)), "{p}");
        }
        for p in [
            "/dev/shm/x.tar",
            "/proc/x.tar",
            "/dev/fd/",
            "/dev/fd/1/x",
            "/proc/self/fd/x",
            "/tmp/a.tar",
        ] {
            assert!(!is_descriptor_path(Path::new(p)), "{p}");
        }
    }
}
