//! What the copy engine sees of a transport: [`ImageSource`], [`ImageDestination`], and
//! the types they pass (a destination's capabilities, a blob's role and options).

use async_trait::async_trait;

use super::error::{Result, TransportError};
use crate::digest::Digest;
use crate::manifest::{Descriptor, Manifest};
use crate::pipeline::BlobReader;
use crate::signature::Signature;

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
