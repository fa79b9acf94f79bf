//! `oci:PATH[:REF]` (OCI image layout 1.0) and `oci-archive:PATH[:REF]` (a tar of one).
//!
//! A new layout is built in a staging directory and moved into place on commit (merged
//! into the layout another copy put there meanwhile, if one did). Into an existing layout,
//! blobs are added one by one (content-addressed, each renamed into place) and index.json
//! is rewritten last, under the layout directory's lock, so concurrent copies into one
//! layout do not lose each other's tags; blobs added by a copy that fails are removed
//! unless another copy's image uses them by then (`layout`).

mod archive;
mod index;
mod layout;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::docker_archive::TarIndex;
use super::error::{Result, TransportError};
use super::fsutil::{self, Durability, Staging};
use super::options::OpenOptions;
use super::traits::{
    BlobInfo, BlobOptions, DestCaps, ImageDestination, ImageSource, LayerCompression,
    SignatureSupport,
};
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, MAX_MANIFEST_SIZE, mime};
use crate::pipeline::BlobReader;
use crate::signature::Signature;

fn blob_rel(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().name(), d.hex())
}

/// Where a layout's files are read from.
enum Store {
    Dir(PathBuf),
    Archive(TarIndex),
}

impl Store {
    fn describe(&self) -> String {
        match self {
            Store::Dir(p) => p.display().to_string(),
            Store::Archive(a) => format!("OCI archive {}", a.path().display()),
        }
    }

    async fn read_small(&self, rel: &str, limit: u64, what: &str) -> Result<Vec<u8>> {
        match self {
            // No link inside the layout is followed (`fsutil::open_beneath`).
            Store::Dir(root) => fsutil::read_beneath(root, rel, limit, what).await,
            // The archive index names the archive and entry in its own errors.
            Store::Archive(a) => Ok(a.read_small(rel, limit).await?),
        }
    }

    async fn open(&self, rel: &str, what: &str) -> Result<BlobReader> {
        match self {
            Store::Dir(root) => {
                let path = root.join(rel);
                let (root, rel) = (root.clone(), rel.to_string());
                let f = tokio::task::spawn_blocking(move || fsutil::open_beneath(&root, &rel))
                    .await
                    .map_err(|e| TransportError::Invalid(format!("opening {what}: {e}")))?
                    .map_err(|e| {
                        TransportError::io(format!("opening {what} at {}", path.display()), e)
                    })?;
                Ok(Box::pin(tokio::fs::File::from_std(f)))
            }
            Store::Archive(a) => Ok(a.open(rel).await?.0),
        }
    }
}

pub struct OciSource {
    store: Store,
    shared_blob_dir: Option<PathBuf>,
    top: Descriptor,
}

impl OciSource {
    pub async fn open_layout(
        path: &Path,
        reference: Option<&str>,
        opts: &OpenOptions,
    ) -> Result<OciSource> {
        let store = Store::Dir(path.to_path_buf());
        Self::open(
            store,
            reference,
            opts.shared_blob_dir.clone(),
            &path.display().to_string(),
        )
        .await
    }

    pub async fn open_archive(
        path: &Path,
        reference: Option<&str>,
        opts: &OpenOptions,
    ) -> Result<OciSource> {
        let index = match super::docker_archive::scan_source(path, &opts.tmpdir).await {
            Ok(index) => index,
            // Newer containers/image's words (1.9.3: "creating temp directory: open …").
            Err(super::docker_archive::ArchiveError::Open { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(TransportError::NotFound(format!(
                    "creating temp directory: archive file not found: {:?}",
                    path.display().to_string()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Self::open(
            Store::Archive(index),
            reference,
            None,
            &path.display().to_string(),
        )
        .await
    }

    async fn open(
        store: Store,
        reference: Option<&str>,
        shared: Option<PathBuf>,
        name: &str,
    ) -> Result<OciSource> {
        let raw = store
            .read_small("index.json", MAX_MANIFEST_SIZE, "index")
            .await?;
        let list = index::manifests(&raw, &format!("{name}/index.json"))?;
        let top = index::select(&list, reference, name)?;
        Ok(OciSource {
            store,
            shared_blob_dir: shared,
            top,
        })
    }

    async fn read_blob_small(&self, d: &Digest, what: &str) -> Result<Vec<u8>> {
        match &self.shared_blob_dir {
            Some(shared) => {
                fsutil::read_beneath(
                    shared,
                    &format!("{}/{}", d.algorithm().name(), d.hex()),
                    MAX_MANIFEST_SIZE,
                    what,
                )
                .await
            }
            None => {
                self.store
                    .read_small(&blob_rel(d), MAX_MANIFEST_SIZE, what)
                    .await
            }
        }
    }
}

#[async_trait]
impl ImageSource for OciSource {
    async fn manifest(&self, instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)> {
        match instance {
            None => {
                let raw = self.read_blob_small(&self.top.digest, "manifest").await?;
                // The index names the manifest by digest: bytes that differ are not it.
                let actual = self.top.digest.recompute(&raw);
                if actual != self.top.digest {
                    return Err(TransportError::Invalid(format!(
                        "manifest {} in {} has digest {actual}: the file does not match index.json",
                        self.top.digest,
                        self.store.describe()
                    )));
                }
                Ok((
                    raw,
                    Some(self.top.media_type.clone()).filter(|m| !m.is_empty()),
                ))
            }
            Some(d) => Ok((self.read_blob_small(d, "manifest").await?, None)),
        }
    }

    async fn blob(&self, desc: &Descriptor) -> Result<BlobReader> {
        let what = format!("blob {}", desc.digest);
        match &self.shared_blob_dir {
            Some(shared) => {
                Store::Dir(shared.clone())
                    .open(
                        &format!("{}/{}", desc.digest.algorithm().name(), desc.digest.hex()),
                        &what,
                    )
                    .await
            }
            None => self.store.open(&blob_rel(&desc.digest), &what).await,
        }
        .map_err(|e| match e {
            TransportError::Io { context, source } => TransportError::Io {
                context: format!("{context} (in {})", self.store.describe()),
                source,
            },
            other => other,
        })
    }

    async fn signatures(&self, _instance: Option<&Digest>) -> Result<Vec<Signature>> {
        Ok(Vec::new())
    }
}

/// How the destination becomes visible.
enum Finish {
    /// A new layout directory, renamed into place.
    NewLayout(Staging),
    /// An existing layout: index.json rewritten under a lock.
    ExistingLayout,
    /// A tar written from the temp layout.
    Archive {
        temp: fsutil::TempDir,
        target: PathBuf,
    },
}

pub struct OciDestination {
    /// The layout being written (staging, temp or the real directory).
    root: PathBuf,
    /// Where blobs go: `root/blobs` or the shared blob directory.
    blob_root: PathBuf,
    reference: Option<String>,
    finish: Mutex<Option<Finish>>,
    top: Mutex<Option<Descriptor>>,
    /// Blobs this copy created in an existing layout, removed unless it commits.
    created: Mutex<Vec<PathBuf>>,
    /// Every blob this copy reused or stored, checked to be still there at commit.
    relied: Mutex<Vec<PathBuf>>,
    /// Blobs go to a shared blob directory, which other layouts use too.
    shared_blobs: bool,
    /// Blobs this copy stored or checked: reused again without hashing them again.
    checked: Mutex<HashSet<Digest>>,
    /// Writing into an existing layout (kept apart from `finish`, which commit consumes
    /// before it can fail).
    existing: bool,
    compression: LayerCompression,
    /// Scratch for an archive's temp layout: the tar is what gets synced.
    durability: Durability,
}

impl OciDestination {
    pub fn open_layout(
        path: &Path,
        reference: Option<&str>,
        opts: &OpenOptions,
    ) -> Result<OciDestination> {
        let target = fsutil::absolute(path)?;
        let is_new = match fsutil::visible_entries(&target) {
            Ok(n) => n == 0,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => {
                return Err(TransportError::io(
                    format!("opening OCI layout {}", target.display()),
                    e,
                ));
            }
        };
        let (root, finish) = if is_new {
            let staging = Staging::new(&target)?;
            (staging.path().to_path_buf(), Finish::NewLayout(staging))
        } else {
            fsutil::sweep_stale(&target.join("blobs").join("sha256"));
            fsutil::sweep_stale(&target);
            (target, Finish::ExistingLayout)
        };
        Ok(Self::new(root, reference, opts, finish))
    }

    pub fn open_archive(
        path: &Path,
        reference: Option<&str>,
        opts: &OpenOptions,
    ) -> Result<OciDestination> {
        let target = fsutil::absolute(path)?;
        if target.is_dir() {
            return Err(TransportError::Invalid(format!(
                "OCI archive destination {} is a directory",
                target.display()
            )));
        }
        std::fs::create_dir_all(&opts.tmpdir).map_err(|e| {
            TransportError::io(
                format!("creating temporary directory {}", opts.tmpdir.display()),
                e,
            )
        })?;
        fsutil::sweep_stale(&opts.tmpdir);
        let temp = fsutil::scratch_dir_in(&opts.tmpdir, "", "ociarchive")?;
        let root = temp.path().to_path_buf();
        // Archives never share blobs with anything.
        let opts = OpenOptions {
            shared_blob_dir: None,
            ..opts.clone()
        };
        Ok(Self::new(
            root,
            reference,
            &opts,
            Finish::Archive { temp, target },
        ))
    }

    fn new(
        root: PathBuf,
        reference: Option<&str>,
        opts: &OpenOptions,
        finish: Finish,
    ) -> OciDestination {
        let blob_root = opts
            .shared_blob_dir
            .clone()
            .unwrap_or_else(|| root.join("blobs"));
        let existing = matches!(finish, Finish::ExistingLayout);
        let durability = match finish {
            Finish::Archive { .. } => Durability::Scratch,
            _ => Durability::Synced,
        };
        let compression = if opts.oci_accept_uncompressed_layers {
            LayerCompression::Preserve
        } else {
            LayerCompression::Compress
        };
        OciDestination {
            root,
            blob_root,
            reference: reference.filter(|r| !r.is_empty()).map(str::to_string),
            finish: Mutex::new(Some(finish)),
            top: Mutex::new(None),
            created: Mutex::new(Vec::new()),
            relied: Mutex::new(Vec::new()),
            shared_blobs: opts.shared_blob_dir.is_some(),
            checked: Mutex::new(HashSet::new()),
            existing,
            compression,
            durability,
        }
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blob_root.join(d.algorithm().name()).join(d.hex())
    }

    fn note_created(&self, path: PathBuf) {
        self.note_relied(path.clone());
        // Blobs in a shared blob directory may belong to another layout's images by the
        // time this copy fails: never taken back.
        if !self.shared_blobs
            && let Ok(mut c) = self.created.lock()
        {
            c.push(path);
        }
    }

    fn note_relied(&self, path: PathBuf) {
        if let Ok(mut r) = self.relied.lock() {
            r.push(path);
        }
    }

    fn is_checked(&self, d: &Digest) -> bool {
        self.checked.lock().is_ok_and(|c| c.contains(d))
    }

    fn note_checked(&self, d: &Digest) {
        if let Ok(mut c) = self.checked.lock() {
            c.insert(d.clone());
        }
    }

    /// Writes a small blob (manifest) unless a file with exactly these bytes is there.
    fn put_small_blob(&self, d: &Digest, raw: &[u8]) -> Result<()> {
        let path = self.blob_path(d);
        if std::fs::symlink_metadata(&path)
            .is_ok_and(|m| m.is_file() && m.len() == raw.len() as u64)
            && std::fs::read(&path).is_ok_and(|there| there == raw)
        {
            self.note_relied(path);
            return Ok(());
        }
        let existed = std::fs::symlink_metadata(&path).is_ok();
        let dir = fsutil::parent_of(&path);
        std::fs::create_dir_all(&dir)
            .map_err(|e| TransportError::io(format!("creating {}", dir.display()), e))?;
        fsutil::write_atomically(&path, raw, self.durability)?;
        if existed {
            self.note_relied(path);
        } else {
            self.note_created(path);
        }
        Ok(())
    }
}

#[async_trait]
impl ImageDestination for OciDestination {
    fn caps(&self) -> DestCaps {
        DestCaps {
            layer_compression: self.compression,
            manifest_types: &[mime::OCI_MANIFEST, mime::OCI_INDEX],
            signatures: SignatureSupport::refused(
                "Pushing signatures for OCI images is not supported",
            ),
            sigstore_refusal: None,
        }
    }

    async fn try_reuse_blob(
        &self,
        digest: &Digest,
        opts: &BlobOptions<'_>,
    ) -> Result<Option<BlobInfo>> {
        let path = self.blob_path(digest);
        let size = if self.is_checked(digest) {
            tokio::fs::symlink_metadata(&path)
                .await
                .ok()
                .map(|m| m.len())
        } else {
            // A file's name proves nothing about its content: check it first.
            fsutil::verify_existing(&path, digest, opts.expected_size(digest)).await
        };
        let Some(size) = size else {
            return Ok(None);
        };
        self.note_checked(digest);
        self.note_relied(path);
        Ok(Some(BlobInfo {
            digest: digest.clone(),
            size,
        }))
    }

    async fn put_blob(&self, reader: BlobReader, opts: &BlobOptions<'_>) -> Result<BlobInfo> {
        let verified = opts.verified;
        // Blobs land in blobs/<algorithm> (sha256 unless a verified digest says otherwise);
        // the temp file lives there too so the rename is atomic.
        let algorithm = verified.map_or("sha256", |v| v.digest.algorithm().name());
        let dir = self.blob_root.join(algorithm);
        let stored = fsutil::store_blob(
            reader,
            &dir,
            |d| self.blob_path(d),
            verified,
            self.durability,
        )
        .await?;
        // A blob that was there already belongs to other images: never ours to remove.
        self.note_checked(&stored.info.digest);
        let path = self.blob_path(&stored.info.digest);
        if stored.created {
            self.note_created(path);
        } else {
            self.note_relied(path);
        }
        Ok(stored.info)
    }

    async fn put_manifest(&self, raw: &[u8], mime: &str, instance: Option<&Digest>) -> Result<()> {
        let digest = instance.cloned().unwrap_or_else(|| Digest::sha256_of(raw));
        self.put_small_blob(&digest, raw)?;
        if instance.is_none() {
            let annotations = self.reference.as_ref().map(|r| {
                let mut m = serde_json::Map::new();
                m.insert(index::REF_NAME.into(), serde_json::Value::String(r.clone()));
                m
            });
            let desc = Descriptor {
                media_type: if mime.is_empty() {
                    manifest::guess_mime(raw).unwrap_or_default()
                } else {
                    mime.to_string()
                },
                digest,
                size: raw.len() as i64,
                urls: vec![],
                annotations,
                platform: None,
            };
            if let Ok(mut top) = self.top.lock() {
                *top = Some(desc);
            }
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let top = self
            .top
            .lock()
            .ok()
            .and_then(|t| t.clone())
            .ok_or_else(|| TransportError::Invalid("commit without a manifest".into()))?;
        let finish = self.finish.lock().ok().and_then(|mut f| f.take());
        tokio::task::block_in_place(|| match finish {
            Some(Finish::NewLayout(staging)) => {
                layout::add_to_index(&self.root, &top, self.durability)?;
                staging.commit_or_merge(&mut |staged, target| layout::merge(staged, target, &top))
            }
            Some(Finish::ExistingLayout) => {
                let _lock = layout::lock(&self.root)?;
                let relied = self.relied.lock().map(|r| r.clone()).unwrap_or_default();
                layout::check_present(&relied, &self.root)?;
                layout::add_to_index(&self.root, &top, self.durability)?;
                fsutil::sync_dir(&self.root)
            }
            Some(Finish::Archive { temp, target }) => {
                layout::add_to_index(&self.root, &top, self.durability)?;
                let result = archive::write_archive(temp.path(), &target);
                drop(temp);
                result
            }
            None => Ok(()),
        })?;
        if let Ok(mut c) = self.created.lock() {
            c.clear();
        }
        Ok(())
    }
}

impl Drop for OciDestination {
    fn drop(&mut self) {
        // Not committed (or the commit failed): take back the blobs this copy added to an
        // existing layout.
        if self.existing
            && let Ok(created) = self.created.lock()
        {
            layout::take_back(&self.root, &self.blob_root, &created);
        }
    }
}
