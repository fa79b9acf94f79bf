//! One blob's journey: decide (a pure function of what the source says, what the
//! destination wants and the options), then stream through the chosen stages.

use tokio::io::AsyncReadExt;
use tokio_util::io::InspectReader;

use super::encryption::{self, LayerCrypto};
use super::error::CopyError;
use crate::crypt;
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::manifest::convert::GZIPPED_EMPTY_LAYER_DIGEST;
use crate::pipeline::{self, BlobReader, Compression, FilterReader, Transform, VerifyingReader};
use crate::report::Reporter;
use crate::transport::retry::{self, RetryBudget};
use crate::transport::{
    BlobInfo, BlobOptions, BlobRole, ImageDestination, ImageSource, LayerCompression,
};

/// What the destination asks for, reduced to what one blob needs.
#[derive(Debug, Clone, Copy)]
pub struct LayerPolicy {
    pub wish: LayerCompression,
    pub format: Option<Compression>,
    pub level: Option<i32>,
    /// False when digests must not change (signatures kept, --preserve-digests) or the
    /// media type has no compression variants (artifacts, non-layer blobs).
    pub can_modify: bool,
    /// `--dest-force-compress-format`: the destination's copy of a blob is reused only
    /// when it has `format` (containers/image's requireCompressionFormatMatch).
    pub force_format: bool,
}

impl LayerPolicy {
    /// Whether the destination may keep a blob it already has under the source's digest:
    /// not when the format is forced and the layer (by its media type) has another one.
    pub fn may_reuse(&self, media_type: &str) -> bool {
        match self.format {
            Some(f) if self.force_format && self.can_modify => {
                crate::manifest::mime::declared_compression(media_type) == Some(Some(f))
            }
            _ => true,
        }
    }
}

/// The transform for a blob whose bytes are `actual`-compressed (containers/image's rules:
/// compress uncompressed layers, recompress only when a different format is asked for,
/// decompress when the destination wants plain tars).
pub fn plan(actual: Option<Compression>, p: &LayerPolicy) -> Option<Transform> {
    if !p.can_modify {
        return None;
    }
    let to = p.format.unwrap_or(Compression::Gzip);
    let level = match (to, p.level) {
        (_, None) => to.default_level(),
        // pgzip's -1 is Go's default level; -2, Huffman-only, has no zlib-rs counterpart
        // here, so the fastest level stands in (docs/differences.md).
        (Compression::Gzip, Some(-1)) => to.default_level(),
        (Compression::Gzip, Some(-2)) => 1,
        (_, Some(l)) => l,
    };
    match (p.wish, actual) {
        (LayerCompression::Compress, None) => Some(Transform::Compress { to, level }),
        (LayerCompression::Compress, Some(from)) if p.format.is_some_and(|f| f != from) => {
            Some(Transform::Recompress { from, to, level })
        }
        (LayerCompression::Decompress, Some(from)) => Some(Transform::Decompress(from)),
        _ => None,
    }
}

/// The compression a transform leaves the bytes in.
pub fn result_compression(
    actual: Option<Compression>,
    t: Option<Transform>,
) -> Option<Compression> {
    match t {
        None => actual,
        Some(Transform::Decompress(_)) => None,
        Some(Transform::Compress { to, .. } | Transform::Recompress { to, .. }) => Some(to),
    }
}

/// What the copy changed in a layer besides its bytes, in terms every manifest format
/// can apply (media types are chosen once the format to write is known).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerEdit {
    /// The compression the stored bytes now have, when the copy changed it.
    pub compression: Option<Option<Compression>>,
    /// `Some(true)` when the copy encrypted the layer, `Some(false)` when it decrypted it.
    pub encrypted: Option<bool>,
    /// Annotations to set (`Some`) or remove (`None`), in order.
    pub annotations: Vec<(String, Option<String>)>,
}

impl LayerEdit {
    pub fn is_empty(&self) -> bool {
        *self == LayerEdit::default()
    }
}

/// Where a layer went: the source's descriptor, what the destination stored, and what
/// changed on the way.
#[derive(Debug, Clone)]
pub struct LayerOutcome {
    pub source: Descriptor,
    pub stored: BlobInfo,
    pub edit: LayerEdit,
}

/// One layer to copy: its descriptor, its place in the image, and what happens to it.
#[derive(Debug, Clone, Copy)]
pub struct LayerJob<'a> {
    pub layer: &'a Descriptor,
    pub index: usize,
    pub policy: LayerPolicy,
    /// Encryption or decryption on the way, if any.
    pub crypto: Option<&'a LayerCrypto>,
    /// A compressed blob the source knows this layer was made from, which the
    /// destination may have already (`LayerForCopy::compressed`).
    pub known_compressed: Option<&'a Descriptor>,
}

impl LayerJob<'_> {
    fn options<'b>(&'b self, verified: Option<&'b BlobInfo>) -> BlobOptions<'b> {
        BlobOptions {
            role: BlobRole::Layer {
                index: self.index,
                empty: self.layer.digest.to_string() == GZIPPED_EMPTY_LAYER_DIGEST,
            },
            original: Some(self.layer),
            verified,
        }
    }
}

/// Copies one layer.
pub async fn copy_layer(
    src: &dyn ImageSource,
    dest: &dyn ImageDestination,
    job: LayerJob<'_>,
    report: &Reporter,
) -> Result<LayerOutcome, CopyError> {
    let layer = job.layer;
    // What the destination may hold is the source's bytes, not what this copy makes of
    // them (containers/image does not reuse when encrypting or decrypting either).
    let plain_copy = job.crypto.is_none();
    let reusable = if plain_copy && job.policy.may_reuse(&layer.media_type) {
        dest.try_reuse_blob(&layer.digest, &job.options(None))
            .await
            .map_err(|e| CopyError::dest(&layer.digest, e))?
    } else {
        None
    };
    if let Some(existing) = reusable {
        report.blob_skipped("blob", &layer.digest);
        return Ok(LayerOutcome {
            source: layer.clone(),
            stored: existing,
            edit: LayerEdit::default(),
        });
    }
    if plain_copy && let Some(outcome) = reuse_known_compressed(dest, &job, report).await? {
        return Ok(outcome);
    }
    // A dropped connection or a registry asking to retry restarts the blob from the
    // source; anything else (a digest mismatch, a full disk) fails at once. The restarts,
    // and every retry the transports make for this blob, share one budget.
    let budget = RetryBudget::new();
    retry::restarting(
        &budget,
        report,
        "copying the blob again",
        CopyError::is_retryable,
        || stream_layer(src, dest, job, report),
    )
    .await
}

/// The layer as the compressed blob it was made from, when the destination has that blob
/// (or mounts it) and the copy would compress the layer anyway, to that compression.
async fn reuse_known_compressed(
    dest: &dyn ImageDestination,
    job: &LayerJob<'_>,
    report: &Reporter,
) -> Result<Option<LayerOutcome>, CopyError> {
    let Some(known) = job.known_compressed else {
        return Ok(None);
    };
    let Some(compression) =
        crate::manifest::mime::declared_compression(&known.media_type).flatten()
    else {
        return Ok(None);
    };
    let p = &job.policy;
    let wanted = p.can_modify
        && p.wish == LayerCompression::Compress
        && p.format.is_none_or(|f| f == compression);
    if !wanted {
        return Ok(None);
    }
    let opts = BlobOptions {
        original: Some(known),
        ..job.options(None)
    };
    let Some(existing) = dest
        .try_reuse_blob(&known.digest, &opts)
        .await
        .map_err(|e| CopyError::dest(&known.digest, e))?
    else {
        return Ok(None);
    };
    report.blob_skipped("blob", &known.digest);
    Ok(Some(LayerOutcome {
        source: job.layer.clone(),
        stored: existing,
        edit: LayerEdit {
            compression: Some(Some(compression)),
            ..LayerEdit::default()
        },
    }))
}

async fn stream_layer(
    src: &dyn ImageSource,
    dest: &dyn ImageDestination,
    job: LayerJob<'_>,
    report: &Reporter,
) -> Result<LayerOutcome, CopyError> {
    let layer = job.layer;
    let blob_err = |e| CopyError::blob(&layer.digest, e);
    let progress = report.blob("blob", &layer.digest, u64::try_from(layer.size).ok());
    let raw = src
        .blob(layer)
        .await
        .map_err(|e| CopyError::source(&layer.digest, e))?;
    let expected_size = u64::try_from(layer.size).ok();
    let verified: BlobReader = Box::pin(VerifyingReader::new(
        raw,
        layer.digest.clone(),
        expected_size,
    ));
    let counted: BlobReader = Box::pin(InspectReader::new(verified, progress.counter()));
    // === Decrypt (before anything looks at the plaintext's compression).
    let stream = decrypt_stage(counted, job.crypto);
    let (actual, stream) = pipeline::sniff(stream).await.map_err(blob_err)?;
    // === (De/re)compress.
    let transform = plan(actual, &job.policy);
    if let Some(t) = transform {
        report.debug(|| format!("blob {}: {t:?}", layer.digest));
    }
    let notes = pipeline::TransformNotes::default();
    let stream = match transform {
        Some(t) => pipeline::transform_noting(stream, t, &notes).map_err(blob_err)?,
        None => stream,
    };
    // === Encrypt (what was compressed).
    let (stream, sealing) = encrypt_stage(stream, &job, transform)?;
    // === Store. Bytes that went through unchanged (or were decrypted to the recorded
    // digest) were checked on the way; the destination need not hash them again.
    let trusted = trusted_result(&job, transform, expected_size);
    let stored: BlobInfo = dest
        .put_blob(stream, &job.options(trusted.as_ref()))
        .await
        .map_err(|e| CopyError::dest(&layer.digest, e))?;
    progress.done();
    if transform.is_none() && job.crypto.is_none() && stored.digest != layer.digest {
        return Err(CopyError::Internal(format!(
            "blob {} was stored as {}: the destination changed the bytes",
            layer.digest, stored.digest
        )));
    }
    let mut edit = LayerEdit {
        compression: transform.map(|t| result_compression(actual, Some(t))),
        // zstd:chunked's TOC position and checksum.
        annotations: notes
            .annotations()
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect(),
        ..LayerEdit::default()
    };
    record_crypto(&job, sealing, &mut edit)?;
    Ok(LayerOutcome {
        source: layer.clone(),
        stored,
        edit,
    })
}

/// The decrypting stage for a layer that is decrypted; the stream itself otherwise.
fn decrypt_stage(stream: BlobReader, crypto: Option<&LayerCrypto>) -> BlobReader {
    let Some(LayerCrypto::Decrypt {
        secrets,
        or_uncompressed,
    }) = crypto
    else {
        return stream;
    };
    let stage = crypt::Decryptor::new(
        &secrets.private.key,
        crypt::Expected {
            hmac: secrets.public.hmac.clone(),
            digest: secrets.private.digest.clone(),
            or_uncompressed: *or_uncompressed,
        },
    );
    Box::pin(FilterReader::new(stream, Box::new(stage)))
}

/// An encryption under way: what seals the layer once it is stored.
struct Sealing<'a> {
    recipients: &'a crypt::Recipients,
    key: crypt::LayerKey,
    sealed: crypt::SealedSlot,
}

/// The encrypting stage (with a fresh key) for a layer that is encrypted.
fn encrypt_stage<'a>(
    stream: BlobReader,
    job: &LayerJob<'a>,
    transform: Option<Transform>,
) -> Result<(BlobReader, Option<Sealing<'a>>), CopyError> {
    let Some(LayerCrypto::Encrypt(recipients)) = job.crypto else {
        return Ok((stream, None));
    };
    let key = crypt::LayerKey::generate().map_err(|e| CopyError::encrypt(job.layer, e))?;
    // Unchanged bytes were verified against the source's digest already.
    let known = transform.is_none().then(|| job.layer.digest.clone());
    let (stage, sealed) = crypt::Encryptor::new(&key, known);
    let stream: BlobReader = Box::pin(FilterReader::new(stream, Box::new(stage)));
    let sealing = Sealing {
        recipients,
        key,
        sealed,
    };
    Ok((stream, Some(sealing)))
}

/// Records an encryption (the wrapped keys and public options, once the stream ended)
/// or a decryption (ocicrypt's annotations dropped) in the layer's edit.
fn record_crypto(
    job: &LayerJob<'_>,
    sealing: Option<Sealing<'_>>,
    edit: &mut LayerEdit,
) -> Result<(), CopyError> {
    let layer = job.layer;
    match (job.crypto, sealing) {
        (Some(LayerCrypto::Encrypt(_)), Some(s)) => {
            let sealed = s
                .sealed
                .lock()
                .ok()
                .and_then(|mut s| s.take())
                .ok_or_else(|| {
                    CopyError::Internal(format!(
                        "blob {}: the destination stored it without reading it to the end",
                        layer.digest
                    ))
                })?;
            let annotations = crypt::seal_layer(s.recipients, s.key, &sealed)
                .map_err(|e| CopyError::encrypt(layer, e))?;
            edit.encrypted = Some(true);
            edit.annotations
                .extend(annotations.into_iter().map(|(k, v)| (k, Some(v))));
        }
        (Some(LayerCrypto::Decrypt { .. }), _) => {
            edit.encrypted = Some(false);
            edit.annotations
                .extend(encryption::decrypted_annotations(layer));
        }
        _ => {}
    }
    Ok(())
}

/// What the destination may take as the stored blob's digest and size without hashing:
/// the source's bytes passed through unchanged (verified against its digest), or a
/// decryption to the recorded digest (the decrypting stage fails on any other).
fn trusted_result(
    job: &LayerJob<'_>,
    transform: Option<Transform>,
    expected_size: Option<u64>,
) -> Option<BlobInfo> {
    let size = expected_size?;
    if transform.is_some() {
        return None;
    }
    match job.crypto {
        None => Some(BlobInfo {
            digest: job.layer.digest.clone(),
            size,
        }),
        // CTR: the plaintext is as long as the ciphertext.
        Some(LayerCrypto::Decrypt {
            secrets,
            or_uncompressed: false,
        }) => Some(BlobInfo {
            digest: secrets.private.digest.clone(),
            size,
        }),
        Some(_) => None,
    }
}

/// Schema 1 has no config: converting it needs the uncompressed digests of its layers,
/// read back from the source (rare, legacy images only).
pub async fn schema1_diff_ids(
    src: &dyn ImageSource,
    layers: &[Descriptor],
) -> Result<Vec<Digest>, CopyError> {
    let mut out = Vec::with_capacity(layers.len());
    for l in layers {
        let raw = src
            .blob(l)
            .await
            .map_err(|e| CopyError::source(&l.digest, e))?;
        let verified: BlobReader = Box::pin(VerifyingReader::new(raw, l.digest.clone(), None));
        let (compression, stream) = pipeline::sniff(verified)
            .await
            .map_err(|e| CopyError::blob(&l.digest, e))?;
        let mut plain = match compression {
            Some(c) => pipeline::transform(stream, Transform::Decompress(c))
                .map_err(|e| CopyError::blob(&l.digest, e))?,
            None => stream,
        };
        let mut hasher = crate::digest::Algorithm::Sha256.hasher();
        let mut buf = vec![0u8; pipeline::BUFFER_SIZE];
        loop {
            let n = plain
                .read(&mut buf)
                .await
                .map_err(|e| CopyError::blob(&l.digest, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        out.push(hasher.finish());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(wish: LayerCompression, format: Option<Compression>) -> LayerPolicy {
        LayerPolicy {
            wish,
            format,
            level: None,
            can_modify: true,
            force_format: false,
        }
    }

    #[test]
    fn a_forced_format_allows_reuse_only_of_layers_in_that_format() {
        use Compression::*;
        let forced = LayerPolicy {
            force_format: true,
            ..policy(LayerCompression::Compress, Some(Zstd))
        };
        assert!(!forced.may_reuse(crate::manifest::mime::OCI_LAYER_GZIP));
        assert!(!forced.may_reuse(crate::manifest::mime::DOCKER_LAYER_GZIP));
        assert!(forced.may_reuse(crate::manifest::mime::OCI_LAYER_ZSTD));
        let unforced = LayerPolicy {
            force_format: false,
            ..forced
        };
        assert!(unforced.may_reuse(crate::manifest::mime::OCI_LAYER_GZIP));
        let frozen = LayerPolicy {
            can_modify: false,
            ..forced
        };
        assert!(frozen.may_reuse(crate::manifest::mime::OCI_LAYER_GZIP));
    }

    #[test]
    fn plans_follow_containers_image() {
        use Compression::*;
        use LayerCompression::*;
        assert_eq!(
            plan(None, &policy(Compress, None)),
            Some(Transform::Compress { to: Gzip, level: 3 })
        );
        let gzip_at = |level| LayerPolicy {
            level: Some(level),
            ..policy(Compress, None)
        };
        assert_eq!(
            plan(None, &gzip_at(-1)),
            Some(Transform::Compress { to: Gzip, level: 3 })
        );
        assert_eq!(
            plan(None, &gzip_at(-2)),
            Some(Transform::Compress { to: Gzip, level: 1 })
        );
        assert_eq!(
            plan(None, &policy(Compress, Some(Zstd))),
            Some(Transform::Compress { to: Zstd, level: 3 })
        );
        assert_eq!(plan(Some(Gzip), &policy(Compress, None)), None);
        assert_eq!(plan(Some(Gzip), &policy(Compress, Some(Gzip))), None);
        assert_eq!(
            plan(Some(Gzip), &policy(Compress, Some(Zstd))),
            Some(Transform::Recompress {
                from: Gzip,
                to: Zstd,
                level: 3
            })
        );
        assert_eq!(
            plan(Some(Zstd), &policy(Decompress, None)),
            Some(Transform::Decompress(Zstd))
        );
        assert_eq!(plan(None, &policy(Decompress, None)), None);
        // A destination that preserves keeps even a differently compressed layer.
        assert_eq!(plan(Some(Gzip), &policy(Preserve, Some(Zstd))), None);
        let frozen = LayerPolicy {
            can_modify: false,
            ..policy(Compress, Some(Zstd))
        };
        assert_eq!(plan(None, &frozen), None);
    }
}
