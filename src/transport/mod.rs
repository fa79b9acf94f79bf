//! Where images live. Each transport implements `ImageSource` and `ImageDestination`;
//! the copy engine only sees these traits.
//!
//! Destination contract: nothing a destination writes is visible as an image until
//! `commit` succeeds; dropping a destination without committing rolls back.
//!
//! Errors: `TransportError` carries each transport's own error (`RegistryError`,
//! `DaemonError`, `ArchiveError`) as its typed cause, so callers decide by type (status,
//! retryable) and print the cause's words unchanged. Retries: one budget per operation,
//! shared by every layer that retries (`retry`).

pub mod daemon;
mod dir;
pub mod docker;
pub mod docker_archive;
pub(crate) mod fsspace;
pub(crate) mod fsutil;
mod oci;
pub mod retry;
pub(crate) mod sif;
pub mod storage;
mod tarball;

use std::io;
use std::path::PathBuf;

use async_trait::async_trait;

use crate::digest::Digest;
use crate::manifest::{Descriptor, Manifest};
use crate::pipeline::BlobReader;
use crate::reference::{ArchiveSelector, ImageName};
use crate::signature::Signature;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The cause is written as Go writes OS errors ("no such file or directory"), so
    /// skopeo's sentences come out verbatim.
    #[error("{context}: {}", crate::reference::go_errno_text(source))]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The image itself is not there (a registry's MANIFEST_UNKNOWN, an `oci:` reference
    /// missing from index.json): skopeo's "image not found", exit status 2.
    #[error("{0}")]
    ImageNotFound(String),
    #[error("not supported yet: {0}")]
    NotSupportedYet(String),
    #[error("{0}")]
    Unsupported(String),
    /// A registry's answer, or a failure on the way to it (`docker://`), with its
    /// configuration (registries.conf, auth files, certs.d).
    #[error(transparent)]
    Registry(#[from] docker::RegistryError),
    /// The Docker Engine API (`docker-daemon:`).
    #[error(transparent)]
    Daemon(#[from] daemon::DaemonError),
    /// A docker archive (`docker-archive:`, and what a daemon sends).
    #[error(transparent)]
    Archive(#[from] docker_archive::ArchiveError),
    /// The destination refused the manifest's type (HTTP 400/415, MANIFEST_INVALID): the
    /// copy may try another format. The variant is the classification; the text is the
    /// destination's answer.
    #[error("{0}")]
    ManifestRefused(String),
}

impl TransportError {
    pub fn io(context: impl Into<String>, source: io::Error) -> TransportError {
        TransportError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether trying the same operation again may succeed (network trouble, 429, 5xx):
    /// the typed cause decides.
    pub fn is_retryable(&self) -> bool {
        match self {
            TransportError::Registry(e) => e.retryable(),
            TransportError::Daemon(e) => e.retryable(),
            TransportError::Archive(e) => e.retryable(),
            TransportError::Io { source, .. } => crate::pipeline::is_transient(source),
            _ => false,
        }
    }

    /// Whether the image itself is not there: skopeo's exit status 2 (a registry's
    /// MANIFEST_UNKNOWN, an `oci:` reference missing from its layout or archive).
    pub fn is_image_not_found(&self) -> bool {
        match self {
            TransportError::ImageNotFound(_) => true,
            TransportError::Registry(e) => e.is_manifest_unknown(),
            _ => false,
        }
    }

    /// The registry error behind this one, if a registry caused it.
    pub fn registry(&self) -> Option<&docker::RegistryError> {
        match self {
            TransportError::Registry(e) => Some(e),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, TransportError>;

/// Makes ring rustls's process-wide crypto provider (once; later calls do nothing).
/// Every HTTP client is built after this.
pub(crate) fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if a provider is already installed, which is what we want anyway.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Settings that transports need from the command line.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Where large temporary files go (`--tmpdir`, else $TMPDIR, else /var/tmp).
    pub tmpdir: PathBuf,
    /// `--src-shared-blob-dir` / `--dest-shared-blob-dir`.
    pub shared_blob_dir: Option<PathBuf>,
    /// `--dest-compress` (dir: only).
    pub dir_force_compress: bool,
    /// `--dest-decompress` (dir: only).
    pub dir_force_decompress: bool,
    /// `--dest-oci-accept-uncompressed-layers`.
    pub oci_accept_uncompressed_layers: bool,
    /// Credentials, TLS and registries.conf settings for `docker://`.
    pub registry: docker::RegistryOptions,
    /// For a registry destination: the source image, when it is in a registry too, so
    /// blobs can be mounted across repositories instead of copied.
    pub mount_source: Option<crate::reference::DockerRef>,
    /// `--additional-tag` (docker-archive: and docker-daemon: destinations).
    pub additional_tags: Vec<crate::reference::DockerRef>,
    /// `--format oci` into docker-archive: also write the Docker 25+ OCI layout.
    pub docker_archive_oci_layout: bool,
    /// Host and TLS settings for `docker-daemon:`.
    pub daemon: daemon::DaemonOptions,
}

/// What a destination wants done to layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    Preserve,
    Compress,
    Decompress,
}

#[derive(Debug, Clone)]
pub struct DestCaps {
    pub layer_compression: LayerCompression,
    /// Manifest media types it stores; empty means any.
    pub manifest_types: &'static [&'static str],
    pub signatures: SignatureSupport,
    /// Why sigstore signatures cannot be stored even where others can (a registry without
    /// registries.d's `use-sigstore-attachments`).
    pub sigstore_refusal: Option<String>,
}

/// Whether a destination stores signatures, and why not when it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureSupport {
    /// Signatures are stored with the image.
    Stored,
    /// Signatures cannot be stored; the text is skopeo's refusal.
    Refused(std::borrow::Cow<'static, str>),
}

impl SignatureSupport {
    /// A fixed refusal text.
    pub const fn refused(reason: &'static str) -> SignatureSupport {
        SignatureSupport::Refused(std::borrow::Cow::Borrowed(reason))
    }
}

/// Which blob of an image a `put_blob` or `try_reuse_blob` call is about. Destinations
/// that build images in order (containers-storage) need the layer's place; others ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobRole {
    /// The layer at `index` (0 = base) of the manifest being written; `empty` marks a
    /// schema 1 throwaway layer (an empty tar).
    Layer { index: usize, empty: bool },
    /// The image's config.
    Config,
    /// Anything else (schema 1 conversions' extra blobs).
    Other,
}

/// What a destination is told about a blob it is given.
#[derive(Debug, Clone, Copy)]
pub struct BlobOptions<'a> {
    pub role: BlobRole,
    /// The blob as the source's manifest describes it; None for a blob the copy made (a
    /// converted config).
    pub original: Option<&'a Descriptor>,
    /// Given when the stream itself checks the bytes (a `VerifyingReader` ends in an
    /// error instead of end-of-file on any mismatch): the destination then trusts a clean
    /// end-of-file instead of hashing every byte again. Otherwise the digest is computed
    /// from what was stored.
    pub verified: Option<&'a BlobInfo>,
}

impl<'a> BlobOptions<'a> {
    /// The size the source's manifest gives a blob of this digest, if it describes it.
    pub fn expected_size(&self, digest: &Digest) -> Option<u64> {
        self.original
            .filter(|o| o.digest == *digest)
            .and_then(|o| u64::try_from(o.size).ok())
    }

    /// A blob the copy made or read whole (configs, schema 1 conversions' extra blobs).
    pub fn small(role: BlobRole) -> BlobOptions<'a> {
        BlobOptions {
            role,
            original: None,
            verified: None,
        }
    }
}

/// The result of storing a blob, as computed by the destination from the bytes it stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

/// A layer as a source can give it, and the compressed blob it is known to have been
/// made from (containers-storage records the digest a layer was pulled as): a destination
/// that has that blob already, or can mount it, need not be sent the layer again
/// (containers/image learns the same pairs through its blob-info cache).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerForCopy {
    pub layer: Descriptor,
    pub compressed: Option<Descriptor>,
}

#[async_trait]
pub trait ImageSource: Send + Sync {
    /// The top-level manifest (`instance` None) or an instance of a list, with the media type
    /// the source declares for it, if it declares one.
    async fn manifest(&self, instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)>;
    /// The blob's bytes, unverified: the engine verifies them while they stream.
    async fn blob(&self, desc: &Descriptor) -> Result<BlobReader>;
    /// Signatures stored with the image or the given instance (untrusted).
    async fn signatures(&self, instance: Option<&Digest>) -> Result<Vec<Signature>>;
    /// The layers of `manifest` as this source can give them, when that differs from what
    /// the manifest says (containers-storage keeps layers uncompressed): the copy then
    /// copies these and records them in the manifest (c/image's `LayerInfosForCopy`).
    async fn layer_infos_for_copy(
        &self,
        _manifest: &Manifest,
    ) -> Result<Option<Vec<LayerForCopy>>> {
        Ok(None)
    }
}

#[async_trait]
pub trait ImageDestination: Send + Sync {
    fn caps(&self) -> DestCaps;
    /// If the destination already has this blob, makes it part of the image and returns it.
    async fn try_reuse_blob(
        &self,
        digest: &Digest,
        opts: &BlobOptions<'_>,
    ) -> Result<Option<BlobInfo>>;
    /// Stores a blob and returns its digest and size, computed by the destination (see
    /// `BlobOptions::verified`). A stream that ends in an error leaves nothing behind.
    async fn put_blob(&self, reader: BlobReader, opts: &BlobOptions<'_>) -> Result<BlobInfo>;
    async fn put_manifest(&self, raw: &[u8], mime: &str, instance: Option<&Digest>) -> Result<()>;
    /// Stores signatures. Destinations that cannot (`SignatureSupport::Refused`) keep this
    /// default, which refuses any with their reason; the engine checks first anyway.
    async fn put_signatures(
        &self,
        signatures: &[Signature],
        _instance: Option<&Digest>,
    ) -> Result<()> {
        match self.caps().signatures {
            SignatureSupport::Refused(reason) if !signatures.is_empty() => {
                Err(TransportError::Unsupported(reason.to_string()))
            }
            _ => Ok(()),
        }
    }
    /// The source's top-level manifest (a list when one instance of it is copied), which
    /// containers-storage keeps so the image can be found by the list's digest too.
    fn set_source_toplevel(&self, _raw: &[u8]) {}
    /// Makes everything written visible at once.
    async fn commit(self: Box<Self>) -> Result<()>;
}

pub async fn open_source(name: &ImageName, opts: &OpenOptions) -> Result<Box<dyn ImageSource>> {
    match name {
        ImageName::Dir { path } => Ok(Box::new(dir::DirSource::open(path)?)),
        ImageName::Oci { path, reference } => Ok(Box::new(
            oci::OciSource::open_layout(path, reference.as_deref(), opts).await?,
        )),
        ImageName::OciArchive { path, reference } => Ok(Box::new(
            oci::OciSource::open_archive(path, reference.as_deref(), opts).await?,
        )),
        ImageName::Docker(r) => Ok(Box::new(
            docker::DockerSource::open(r, &opts.registry).await?,
        )),
        ImageName::DockerArchive { path, selector } => {
            match docker_archive::ArchiveSource::open(path, selector.as_ref(), &opts.tmpdir).await {
                Ok(source) => Ok(Box::new(source)),
                // As in containers/image, an archive that opens but lacks the image (or a
                // file it names) fails when the manifest is read, not when it is opened.
                Err(TransportError::Archive(
                    e @ (docker_archive::ArchiveError::Choose { .. }
                    | docker_archive::ArchiveError::Missing { .. }),
                )) => Ok(Box::new(Unreadable(e.to_string()))),
                Err(e) => Err(e),
            }
        }
        ImageName::DockerDaemon(r) => Ok(Box::new(
            daemon::DaemonSource::open(r, &opts.daemon, &opts.tmpdir).await?,
        )),
        ImageName::Sif { path } => Ok(Box::new(sif::SifSource::open(path, &opts.tmpdir).await?)),
        ImageName::Tarball { files } => Ok(Box::new(tarball::TarballSource::open(files).await?)),
        ImageName::ContainersStorage(r) => Ok(Box::new(storage::StorageSource::open(r).await?)),
    }
}

/// A parsed name completed where its transport needs a look at the destination first:
/// `containers-storage:` names get their store's actual driver and paths and whole image
/// IDs (containers/image resolves them while parsing). `input` is the name as given.
pub fn resolve_name(name: ImageName, input: &str) -> Result<ImageName> {
    match name {
        ImageName::ContainersStorage(r) => Ok(ImageName::ContainersStorage(storage::resolve_name(
            &r, input,
        )?)),
        other => Ok(other),
    }
}

pub async fn open_destination(
    name: &ImageName,
    opts: &OpenOptions,
) -> Result<Box<dyn ImageDestination>> {
    match name {
        ImageName::Dir { path } => Ok(Box::new(dir::DirDestination::open(path, opts)?)),
        ImageName::Oci { path, reference } => Ok(Box::new(oci::OciDestination::open_layout(
            path,
            reference.as_deref(),
            opts,
        )?)),
        ImageName::OciArchive { path, reference } => Ok(Box::new(
            oci::OciDestination::open_archive(path, reference.as_deref(), opts)?,
        )),
        ImageName::Docker(r) => Ok(Box::new(
            docker::DockerDestination::open(
                r,
                &opts.registry,
                opts.mount_source.as_ref(),
                opts.tmpdir.clone(),
            )
            .await?,
        )),
        ImageName::DockerArchive { path, selector } => {
            let mut tags = Vec::new();
            match selector {
                Some(ArchiveSelector::Reference(r)) => tags.push(r.clone()),
                Some(ArchiveSelector::Index(i)) => {
                    return Err(TransportError::Invalid(format!(
                        "Destination reference must not contain a manifest index @{i}"
                    )));
                }
                None => {}
            }
            tags.extend(opts.additional_tags.iter().cloned());
            Ok(Box::new(
                docker_archive::ArchiveDestination::open(
                    docker_archive::Sink::Path(path.clone()),
                    docker_archive::DestOptions {
                        tags,
                        oci_layout: opts.docker_archive_oci_layout,
                        tmpdir: opts.tmpdir.clone(),
                    },
                )
                .await?,
            ))
        }
        ImageName::DockerDaemon(r) => Ok(Box::new(
            daemon::DaemonDestination::open(r, &opts.daemon, &opts.additional_tags, &opts.tmpdir)
                .await?,
        )),
        // containers/image's words.
        ImageName::Sif { .. } | ImageName::Tarball { .. } => {
            Err(TransportError::Unsupported(format!(
                "\"{}:\" locations can only be read from, not written to",
                name.transport_name()
            )))
        }
        ImageName::ContainersStorage(r) => {
            Ok(Box::new(storage::StorageDestination::open(r).await?))
        }
    }
}

/// A source that opened but has nothing to read: every read fails with `0`.
struct Unreadable(String);

#[async_trait]
impl ImageSource for Unreadable {
    async fn manifest(&self, _instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)> {
        Err(TransportError::NotFound(self.0.clone()))
    }

    async fn blob(&self, _desc: &Descriptor) -> Result<BlobReader> {
        Err(TransportError::NotFound(self.0.clone()))
    }

    async fn signatures(&self, _instance: Option<&Digest>) -> Result<Vec<Signature>> {
        Err(TransportError::NotFound(self.0.clone()))
    }
}
