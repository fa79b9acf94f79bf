//! One blob's journey: decide (a pure function of what the source says, what the
//! destination wants and the options), then stream through the chosen stages.

use tokio_util::io::InspectReader;

use super::CopyError;
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::pipeline::{self, BlobReader, Compression, Transform, VerifyingReader};
use crate::report::Reporter;
use crate::transport::{BlobInfo, ImageDestination, ImageSource, LayerCompression};

/// What the destination asks for, reduced to what one blob needs.
#[derive(Debug, Clone, Copy)]
pub struct LayerPolicy {
    pub wish: LayerCompression,
    pub format: Option<Compression>,
    pub level: Option<i32>,
    /// False when digests must not change (signatures kept, --preserve-digests) or the
    /// media type has no compression variants (artifacts, non-layer blobs).
    pub can_modify: bool,
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

/// Where a layer went. `desc` keeps the source's media type; `changed` says which
/// compression the stored bytes now have when the copy changed it (the manifest's
/// media types are updated once the manifest format is known).
#[derive(Debug, Clone)]
pub struct LayerOutcome {
    pub source: Digest,
    pub desc: Descriptor,
    pub changed: Option<Option<Compression>>,
}

impl LayerOutcome {
    fn new(
        layer: &Descriptor,
        stored: BlobInfo,
        changed: Option<Option<Compression>>,
    ) -> LayerOutcome {
        LayerOutcome {
            source: layer.digest.clone(),
            desc: Descriptor {
                digest: stored.digest,
                size: stored.size as i64,
                ..layer.clone()
            },
            changed,
        }
    }
}

/// Copies one layer.
pub async fn copy_layer(
    src: &dyn ImageSource,
    dest: &dyn ImageDestination,
    layer: &Descriptor,
    policy: LayerPolicy,
    report: &Reporter,
) -> Result<LayerOutcome, CopyError> {
    if let Some(existing) = dest
        .try_reuse_blob(&layer.digest)
        .await
        .map_err(|e| CopyError::dest(&layer.digest, e))?
    {
        report.blob_skipped("blob", &layer.digest);
        return Ok(LayerOutcome::new(layer, existing, None));
    }
    // A dropped connection or a registry asking to retry restarts the blob from the
    // source; anything else (a digest mismatch, a full disk) fails at once.
    let mut attempt = 1;
    loop {
        match stream_layer(src, dest, layer, policy, report).await {
            Err(e) if attempt < MAX_BLOB_ATTEMPTS && e.is_retryable() => {
                report.warn(&format!(
                    "{e}; copying the blob again (attempt {} of {MAX_BLOB_ATTEMPTS})",
                    attempt + 1
                ));
                tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Times one blob is copied before a transient failure is reported.
const MAX_BLOB_ATTEMPTS: u32 = 3;

async fn stream_layer(
    src: &dyn ImageSource,
    dest: &dyn ImageDestination,
    layer: &Descriptor,
    policy: LayerPolicy,
    report: &Reporter,
) -> Result<LayerOutcome, CopyError> {
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
    let (actual, stream) = pipeline::sniff(counted).await.map_err(blob_err)?;
    let transform = plan(actual, &policy);
    if let Some(t) = transform {
        report.debug(|| format!("blob {}: {t:?}", layer.digest));
    }
    let stream = match transform {
        Some(t) => pipeline::transform(stream, t).map_err(blob_err)?,
        None => stream,
    };
    // Passed through unchanged, the bytes are checked by the VerifyingReader above; the
    // destination need not hash them a second time.
    let trusted = match (transform, expected_size) {
        (None, Some(size)) => Some(BlobInfo {
            digest: layer.digest.clone(),
            size,
        }),
        _ => None,
    };
    let stored: BlobInfo = dest
        .put_blob(stream, trusted.as_ref())
        .await
        .map_err(|e| CopyError::dest(&layer.digest, e))?;
    progress.done();
    if transform.is_none() && stored.digest != layer.digest {
        return Err(CopyError::Internal(format!(
            "blob {} was stored as {}: the destination changed the bytes",
            layer.digest, stored.digest
        )));
    }
    let changed = transform.map(|t| result_compression(actual, Some(t)));
    Ok(LayerOutcome::new(layer, stored, changed))
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
        }
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
