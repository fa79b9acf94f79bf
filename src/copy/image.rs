//! Copying one image: layers, then the manifest type the destination takes (converted if
//! needed, with containers/image's fallbacks), its config, the manifest, the signatures.

use futures_util::{StreamExt, TryStreamExt};
use tokio::io::AsyncReadExt;

use super::layer::{self, LayerOutcome, LayerPolicy};
use super::{CopyError, CopyOptions};
use crate::digest::Digest;
use crate::manifest::convert::signer::EphemeralSigner;
use crate::manifest::convert::{self, Converted, Inputs, LayerBlob, Target};
use crate::manifest::{self, Descriptor, Kind, MAX_CONFIG_SIZE, Manifest, ManifestError, mime};
use crate::pipeline::{self, BlobReader, Transform, VerifyingReader};
use crate::policy::Admitted;
use crate::report::Reporter;
use crate::transport::{ImageDestination, ImageSource, TransportError};

/// The parts of a copy every step needs.
pub struct Ctx<'a> {
    pub src: &'a dyn ImageSource,
    pub dest: &'a dyn ImageDestination,
    pub opts: &'a CopyOptions,
    pub report: &'a Reporter,
    pub dest_label: &'a str,
    /// Repository path and tag of a registry destination (schema 1 manifests embed them).
    pub dest_repo_tag: Option<(String, String)>,
    /// Proof that the source passed the trust policy.
    pub _admitted: &'a Admitted,
}

/// How one image is stored: as the top-level manifest or as a list member, and in which
/// format (a list being converted forces its members' format).
#[derive(Debug, Clone, Copy, Default)]
pub struct Placement {
    pub as_instance: bool,
    pub forced: Option<Target>,
}

/// What was written for one image.
pub struct Written {
    pub raw: Vec<u8>,
    pub mime: String,
}

/// Whether the source's signatures are copied; refuses before anything is written when
/// they would be and the destination cannot store them (skopeo's order).
pub fn keeps_signatures(ctx: &Ctx<'_>, signatures: &[Vec<u8>]) -> Result<bool, CopyError> {
    let keep = !ctx.opts.remove_signatures && !signatures.is_empty();
    let caps = ctx.dest.caps();
    if keep && !caps.supports_signatures {
        return Err(CopyError::Signatures {
            image: ctx.dest_label.to_string(),
            reason: caps.no_signatures_reason.to_string(),
        });
    }
    Ok(keep)
}

/// Why a destination's manifest may not change; `None` when it may.
fn frozen_reason(ctx: &Ctx<'_>, keep_signatures: bool) -> Option<&'static str> {
    if ctx.opts.preserve_digests {
        Some("Instructed to preserve digests (--preserve-digests)")
    } else if keep_signatures {
        Some("Would invalidate signatures (use --remove-signatures to drop them)")
    } else {
        None
    }
}

pub async fn copy_single(
    ctx: &Ctx<'_>,
    manifest: &Manifest,
    signatures: &[Vec<u8>],
    place: Placement,
) -> Result<Written, CopyError> {
    let caps = ctx.dest.caps();
    let keep_signatures = keeps_signatures(ctx, signatures)?;
    let frozen = frozen_reason(ctx, keep_signatures);
    let forced = place.forced.or(ctx.opts.format);
    let source_type = convert::normalized(&manifest.mime).to_string();
    let (first, fallbacks) = convert::plan_types(&manifest.mime, caps.manifest_types, forced)?;
    let mut candidates = vec![first];
    candidates.extend(fallbacks);
    // zstd layers cannot be described by Docker formats: fall back to OCI as c/image does.
    if !mime::can_carry(&candidates[0], ctx.opts.compress_format)
        && forced.is_none()
        && (caps.manifest_types.is_empty() || caps.manifest_types.contains(&mime::OCI_MANIFEST))
        && !candidates.iter().any(|c| c == mime::OCI_MANIFEST)
    {
        candidates.push(mime::OCI_MANIFEST.to_string());
    }
    if let Some(reason) = frozen
        && candidates[0] != source_type
    {
        return Err(CopyError::Refused(format!(
            "Copying this image would require a manifest conversion from {source_type} to {}, which cannot be done: {reason}",
            candidates[0]
        )));
    }

    let (config, layers) = match &manifest.kind {
        Kind::Image { config, layers } => (Some(config.as_ref()), layers.as_slice()),
        Kind::Schema1 { layers } => (None, layers.as_slice()),
        Kind::List { .. } => {
            return Err(CopyError::Internal(
                "a list where an image was expected".into(),
            ));
        }
    };
    // Read (capped, verified) only when a conversion or the destination needs it: a
    // registry that can mount the config should not make us download it.
    let mut config_bytes: Option<Vec<u8>> = None;
    // A config that is copied as it is travels alongside the layers, so its requests (or
    // its fsync) are off the critical path. It is reported after them, where skopeo says so.
    // Not when that format cannot carry the requested compression (zstd in a Docker image):
    // the copy then falls back to OCI, whose config is a different blob, and the early one
    // would be left behind in a dir: or oci: layout.
    let unchanged_config = config.filter(|_| {
        candidates[0] == source_type && mime::can_carry(&candidates[0], ctx.opts.compress_format)
    });
    let (outcomes, early_config) = tokio::join!(
        copy_layers(ctx, manifest, layers, frozen.is_none()),
        async {
            match unchanged_config {
                Some(c) => Some(copy_config_quietly(ctx, c).await),
                None => None,
            }
        }
    );
    let outcomes = outcomes?;
    let mut early_config = early_config.transpose()?;

    // Read lazily, like the config: only a conversion away from schema 1 needs them, and
    // that may be the first candidate or a fallback after a registry refuses schema 1.
    let mut diff_ids: Option<Vec<Digest>> = None;
    let mut last_err = None;
    for (i, target_type) in candidates.iter().enumerate() {
        let is_last = i + 1 == candidates.len();
        if matches!(manifest.kind, Kind::Schema1 { .. })
            && *target_type != source_type
            && diff_ids.is_none()
        {
            diff_ids = Some(schema1_diff_ids(ctx, layers).await?);
        }
        if let Some(c) = config
            && *target_type != source_type
            && config_bytes.is_none()
        {
            config_bytes = Some(read_config(ctx, c).await?);
        }
        let built = build_manifest(
            manifest,
            target_type,
            &source_type,
            &outcomes,
            &Inputs {
                config: config_bytes.as_deref(),
                layer_diff_ids: diff_ids.as_deref(),
                destination_reference: ctx
                    .dest_repo_tag
                    .as_ref()
                    .map(|(r, t)| (r.as_str(), t.as_str())),
                ..Inputs::default()
            },
        );
        let Converted {
            manifest: out,
            new_config,
            extra_blobs: extra,
        } = match built {
            Ok(b) => b,
            // A layer compression this format cannot describe: try the next format.
            Err(e) if !is_last && frozen.is_none() => {
                ctx.report
                    .debug(|| format!("not writing {target_type}: {e}"));
                last_err = Some(CopyError::Manifest(e));
                continue;
            }
            Err(e) => return Err(CopyError::Manifest(e)),
        };
        // Schema 1 has no config blob.
        if let (Some(c), Kind::Image { .. }) = (config, &out.kind) {
            let digest = new_config
                .as_deref()
                .map(Digest::sha256_of)
                .unwrap_or_else(|| c.digest.clone());
            if let Some(early) = early_config.take_if(|e| e.digest == digest) {
                match early.stored {
                    Some(size) => ctx.report.blob("config", &digest, Some(size)).done(),
                    None => ctx.report.blob_skipped("config", &digest),
                }
            } else if !already_there(ctx, "config", &digest).await? {
                let bytes = match new_config {
                    Some(b) => b,
                    None => match config_bytes.clone() {
                        Some(b) => b,
                        None => read_config(ctx, c).await?,
                    },
                };
                store_small_blob(ctx, "config", &digest, bytes).await?;
            }
        }
        for blob in extra {
            let digest = Digest::sha256_of(&blob);
            if !already_there(ctx, "blob", &digest).await? {
                store_small_blob(ctx, "blob", &digest, blob).await?;
            }
        }
        ctx.report.step("Writing manifest to image destination");
        let instance = place.as_instance.then(|| out.digest());
        match ctx
            .dest
            .put_manifest(&out.raw, &out.mime, instance.as_ref())
            .await
        {
            Ok(()) => {
                ctx.report.step("Storing signatures");
                if keep_signatures {
                    ctx.dest
                        .put_signatures(signatures, instance.as_ref())
                        .await
                        .map_err(CopyError::WriteManifest)?;
                }
                return Ok(Written {
                    raw: out.raw,
                    mime: out.mime,
                });
            }
            Err(e) if !is_last && frozen.is_none() && rejects_manifest_type(&e) => {
                ctx.report.warn(&format!(
                    "the destination refused a {target_type} manifest ({e}); trying {}",
                    candidates[i + 1]
                ));
                last_err = Some(CopyError::WriteManifest(e));
            }
            Err(e) => return Err(CopyError::WriteManifest(e)),
        }
    }
    Err(last_err.unwrap_or_else(|| CopyError::Internal("no manifest type to write".into())))
}

/// A registry answering a manifest PUT with 400/415 (unsupported or invalid type) may take
/// another format; anything else is final.
fn rejects_manifest_type(e: &TransportError) -> bool {
    matches!(e, TransportError::ManifestRefused(_))
}

/// The manifest to write as `target_type`: the source converted if needed, then layer
/// The manifest to write as `target_type`: the source converted if needed, with the layer
/// descriptors updated for compression changes. Changes are recorded in the source format
/// first when it can describe them (zstd layers decompressed for a Docker-format target
/// then convert cleanly), else after the conversion (zstd in a schema 2 source bound for OCI).
fn build_manifest(
    source: &Manifest,
    target_type: &str,
    source_type: &str,
    outcomes: &[LayerOutcome],
    inputs: &Inputs<'_>,
) -> Result<Converted, ManifestError> {
    let changed = outcomes.iter().any(|o| o.changed.is_some());
    if target_type == source_type {
        let manifest = if changed {
            relabel(source, outcomes)?
        } else {
            source.clone()
        };
        return Ok(Converted {
            manifest,
            new_config: None,
            extra_blobs: vec![],
        });
    }
    let to = Target::from_mime(target_type).ok_or_else(|| {
        ManifestError::Unsupported(format!("cannot convert an image to {target_type}"))
    })?;
    let signer = match to {
        Target::Schema1 => Some(EphemeralSigner::new().map_err(ManifestError::Update)?),
        _ => None,
    };
    let signer = signer.as_ref().map(|s| s as &dyn convert::Schema1Signer);
    if changed && let Ok(relabeled) = relabel(source, outcomes) {
        // The relabeled manifest already names the stored blobs.
        return convert::convert(
            &relabeled,
            to,
            &Inputs {
                layers: None,
                signer,
                ..*inputs
            },
        );
    }
    let blobs: Vec<LayerBlob> = outcomes
        .iter()
        .map(|o| LayerBlob {
            source: o.source.clone(),
            dest: o.desc.digest.clone(),
            size: o.desc.size,
        })
        .collect();
    let converted = convert::convert(
        source,
        to,
        &Inputs {
            layers: Some(&blobs),
            signer,
            ..*inputs
        },
    )?;
    if !changed {
        return Ok(converted);
    }
    Ok(Converted {
        manifest: relabel(&converted.manifest, outcomes)?,
        ..converted
    })
}

/// `m` with each changed layer's descriptor updated (digest, size, compression media type).
fn relabel(m: &Manifest, outcomes: &[LayerOutcome]) -> Result<Manifest, ManifestError> {
    let Kind::Image { layers, .. } = &m.kind else {
        return Err(ManifestError::Update(
            "only image manifests can record compression changes".into(),
        ));
    };
    let relabeled = layers
        .iter()
        .zip(outcomes)
        .map(|(l, o)| match o.changed {
            Some(c) => {
                manifest::relabel_layer(&m.mime, l, c, o.desc.digest.clone(), o.desc.size as u64)
            }
            None => Ok(l.clone()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    m.with_layers(&relabeled)
}

async fn copy_layers(
    ctx: &Ctx<'_>,
    manifest: &Manifest,
    layers: &[Descriptor],
    may_modify: bool,
) -> Result<Vec<LayerOutcome>, CopyError> {
    let caps = ctx.dest.caps();
    let is_image_config = matches!(&manifest.kind, Kind::Image { config, .. }
        if config.media_type == mime::OCI_CONFIG || config.media_type == mime::DOCKER_CONFIG);
    futures_util::stream::iter(layers.iter().map(|l| {
        let policy = LayerPolicy {
            wish: caps.layer_compression,
            format: ctx.opts.compress_format,
            level: ctx.opts.compress_level,
            // OCI artifacts and schema 1 layers keep their bytes exactly.
            can_modify: may_modify
                && is_image_config
                && mime::declared_compression(&l.media_type).is_some(),
        };
        layer::copy_layer(ctx.src, ctx.dest, l, policy, ctx.report)
    }))
    .buffered(ctx.opts.parallel.max(1))
    .try_collect()
    .await
}

async fn read_config(ctx: &Ctx<'_>, config: &Descriptor) -> Result<Vec<u8>, CopyError> {
    if config.size < 0 || config.size as u64 > MAX_CONFIG_SIZE {
        return Err(CopyError::blob(
            &config.digest,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "config size {} is over the {MAX_CONFIG_SIZE}-byte limit",
                    config.size
                ),
            ),
        ));
    }
    let raw = ctx
        .src
        .blob(config)
        .await
        .map_err(|e| CopyError::source(&config.digest, e))?;
    let mut bytes = Vec::with_capacity(config.size as usize);
    VerifyingReader::new(
        raw.take(MAX_CONFIG_SIZE + 1),
        config.digest.clone(),
        Some(config.size as u64),
    )
    .read_to_end(&mut bytes)
    .await
    .map_err(|e| CopyError::blob(&config.digest, e))?;
    Ok(bytes)
}

/// A config copied before it is reported; `stored` is its size, None if it was there.
struct EarlyConfig {
    digest: Digest,
    stored: Option<u64>,
}

/// Copies the config unchanged unless the destination has it, reporting nothing yet.
async fn copy_config_quietly(ctx: &Ctx<'_>, c: &Descriptor) -> Result<EarlyConfig, CopyError> {
    let found = ctx
        .dest
        .try_reuse_blob(&c.digest)
        .await
        .map_err(|e| CopyError::dest(&c.digest, e))?;
    if found.is_some() {
        return Ok(EarlyConfig {
            digest: c.digest.clone(),
            stored: None,
        });
    }
    let bytes = read_config(ctx, c).await?;
    let size = bytes.len() as u64;
    put_small_blob(ctx, "config", &c.digest, bytes).await?;
    Ok(EarlyConfig {
        digest: c.digest.clone(),
        stored: Some(size),
    })
}

/// Whether the destination has (or could mount) the blob; reports the skip.
async fn already_there(
    ctx: &Ctx<'_>,
    kind: &'static str,
    digest: &Digest,
) -> Result<bool, CopyError> {
    let found = ctx
        .dest
        .try_reuse_blob(digest)
        .await
        .map_err(|e| CopyError::dest(digest, e))?;
    if found.is_some() {
        ctx.report.blob_skipped(kind, digest);
    }
    Ok(found.is_some())
}

/// Stores a small blob (config, schema 1 empty layer) the destination does not have.
async fn store_small_blob(
    ctx: &Ctx<'_>,
    kind: &'static str,
    digest: &Digest,
    bytes: Vec<u8>,
) -> Result<(), CopyError> {
    let progress = ctx.report.blob(kind, digest, Some(bytes.len() as u64));
    put_small_blob(ctx, kind, digest, bytes).await?;
    progress.done();
    Ok(())
}

/// Stores `bytes` as blob `digest` (the destination hashes them: a check, at this size).
async fn put_small_blob(
    ctx: &Ctx<'_>,
    kind: &'static str,
    digest: &Digest,
    bytes: Vec<u8>,
) -> Result<(), CopyError> {
    let reader: BlobReader = Box::pin(std::io::Cursor::new(bytes));
    let stored = ctx
        .dest
        .put_blob(reader, None)
        .await
        .map_err(|e| CopyError::dest(digest, e))?;
    if &stored.digest != digest {
        return Err(CopyError::Internal(format!(
            "{kind} {digest} was stored as {}",
            stored.digest
        )));
    }
    Ok(())
}

/// Schema 1 has no config: converting it needs the uncompressed digests of its layers,
/// read back from the source (rare, legacy images only).
async fn schema1_diff_ids(ctx: &Ctx<'_>, layers: &[Descriptor]) -> Result<Vec<Digest>, CopyError> {
    let mut out = Vec::with_capacity(layers.len());
    for l in layers {
        let raw = ctx
            .src
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
