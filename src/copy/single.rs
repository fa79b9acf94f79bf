//! Copying one admitted image, as a sequence of steps: choose the manifest types to try,
//! copy the layers (and an unchanged config alongside), write the first manifest the
//! destination takes (converted if needed, with containers/image's fallbacks), then store
//! the signatures.

use futures_util::{StreamExt, TryStreamExt};

use super::config::{self, EarlyConfig};
use super::context::AdmittedImage;
use super::context::Ctx;
use super::encryption::{self, LayerCrypto};
use super::error::CopyError;
use super::formats::{self, Wanted};
use super::layer::{self, LayerJob, LayerOutcome, LayerPolicy};
use super::rewrite;
use crate::digest::Digest;
use crate::manifest::convert::{self, Converted, Inputs, Target};
use crate::manifest::{Descriptor, Kind, Manifest, mime};
use crate::signature::Signature;
use crate::transport::{BlobRole, SignatureSupport, TransportError};

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

pub async fn copy_single(
    ctx: &Ctx<'_>,
    image: &AdmittedImage,
    place: Placement,
) -> Result<Written, CopyError> {
    let manifest = &image.manifest;
    if !image.proof.covers(&manifest.raw) {
        return Err(CopyError::Internal(
            "an image the policy did not admit reached the copy".into(),
        ));
    }
    let keep_signatures = keeps_signatures(ctx, &image.signatures)?;
    let frozen = frozen_reason(ctx, keep_signatures);
    let (substituted, known) = layers_for_copy(ctx, manifest, frozen).await?;
    let manifest = substituted.as_ref().unwrap_or(manifest);
    let parts = Parts::of(manifest)?;
    let mut inputs = SourceInputs::read(ctx, manifest, parts).await?;
    // Keys are unwrapped (and encryption refused) before anything is written.
    let crypto = encryption::plan(
        ctx.opts.crypt.as_ref(),
        inputs.config.as_deref(),
        parts.layers,
        frozen,
    )?;
    let wanted = Wanted {
        forced: place.forced.or(ctx.opts.format),
        compression: ctx.opts.compress_format,
        frozen,
        encrypt: crypto
            .iter()
            .any(|c| matches!(c, Some(LayerCrypto::Encrypt(_)))),
    };
    let candidates = formats::candidates(manifest, &ctx.dest.caps(), &wanted)?;
    let layer_inputs = LayerInputs {
        known: &known,
        crypto: &crypto,
    };
    let (outcomes, early_config) =
        copy_blobs(ctx, manifest, &inputs, &candidates, &wanted, layer_inputs).await?;
    let (written, instance, new_signature) = write_manifest(
        ctx,
        manifest,
        &mut inputs,
        &candidates,
        &Copied {
            outcomes,
            early_config,
        },
        &wanted,
        place,
    )
    .await?;
    ctx.report.step("Storing signatures");
    let kept = if keep_signatures {
        &image.signatures[..]
    } else {
        &[]
    };
    store_signatures(ctx, kept, new_signature, instance.as_ref()).await?;
    Ok(written)
}

/// Whether the source's signatures are copied; refuses before anything is written when
/// they would be and the destination cannot store them (skopeo's order).
pub fn keeps_signatures(ctx: &Ctx<'_>, signatures: &[Signature]) -> Result<bool, CopyError> {
    let keep = !ctx.opts.remove_signatures && !signatures.is_empty();
    let caps = ctx.dest.caps();
    let sigstore = signatures
        .iter()
        .any(|s| matches!(s, Signature::Sigstore(_)));
    match (caps.signatures, caps.sigstore_refusal) {
        (SignatureSupport::Refused(reason), _) if keep => Err(CopyError::Signatures {
            image: ctx.dest_label.to_string(),
            reason: reason.to_string(),
        }),
        (_, Some(reason)) if keep && sigstore => Err(CopyError::Signatures {
            image: ctx.dest_label.to_string(),
            reason,
        }),
        _ => Ok(keep),
    }
}

/// The manifest with the layers the source can actually give (containers-storage's
/// uncompressed layers), when they differ from what it says; the copy goes on from that
/// manifest, so the layers' change is recorded like any other (c/image's
/// `LayerInfosForCopy`).
async fn layers_for_copy(
    ctx: &Ctx<'_>,
    manifest: &Manifest,
    frozen: Option<&'static str>,
) -> Result<(Option<Manifest>, Vec<Option<Descriptor>>), CopyError> {
    let Some(given) = ctx
        .src
        .transport()
        .layer_infos_for_copy(manifest)
        .await
        .map_err(|source| CopyError::OpenSource {
            image: ctx.src.label().to_string(),
            source,
        })?
    else {
        return Ok((None, Vec::new()));
    };
    let Kind::Image {
        layers: current, ..
    } = &manifest.kind
    else {
        return Ok((None, Vec::new()));
    };
    let layers: Vec<Descriptor> = given.iter().map(|l| l.layer.clone()).collect();
    if *current == layers {
        return Ok((None, Vec::new()));
    }
    if let Some(reason) = frozen {
        return Err(CopyError::Refused(format!(
            "Copying this image would require changing layer representation, which we cannot do: {reason:?}"
        )));
    }
    let known = given.into_iter().map(|l| l.compressed).collect();
    Ok((Some(manifest.with_layers(&layers)?), known))
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

/// The blobs an image manifest names.
#[derive(Clone, Copy)]
struct Parts<'m> {
    /// None for schema 1, which has no config blob.
    config: Option<&'m Descriptor>,
    layers: &'m [Descriptor],
}

impl<'m> Parts<'m> {
    fn of(manifest: &'m Manifest) -> Result<Parts<'m>, CopyError> {
        match &manifest.kind {
            Kind::Image { config, layers } => Ok(Parts {
                config: Some(config.as_ref()),
                layers,
            }),
            Kind::Schema1 { layers } => Ok(Parts {
                config: None,
                layers,
            }),
            Kind::List { .. } => Err(CopyError::Internal(
                "a list where an image was expected".into(),
            )),
        }
    }
}

/// What the blob step left for the manifest step.
struct Copied {
    outcomes: Vec<LayerOutcome>,
    early_config: Option<EarlyConfig>,
}

/// Per layer: the compressed blob the source knows it was made from, and what happens to
/// its bytes (encryption, decryption).
#[derive(Clone, Copy)]
struct LayerInputs<'a> {
    known: &'a [Option<Descriptor>],
    crypto: &'a [Option<LayerCrypto>],
}

/// Copies the layers, and the config alongside them when it will not change.
async fn copy_blobs(
    ctx: &Ctx<'_>,
    manifest: &Manifest,
    inputs: &SourceInputs<'_>,
    candidates: &[String],
    wanted: &Wanted,
    layer_inputs: LayerInputs<'_>,
) -> Result<(Vec<LayerOutcome>, Option<EarlyConfig>), CopyError> {
    let unchanged_config = inputs
        .parts
        .config
        .filter(|_| formats::config_unchanged(manifest, candidates, wanted));
    let (outcomes, early_config) = tokio::join!(
        copy_layers(
            ctx,
            manifest,
            inputs.parts.layers,
            wanted.frozen.is_none(),
            layer_inputs
        ),
        async {
            match unchanged_config {
                Some(c) => Some(config::copy_quietly(ctx, c, inputs.config.as_deref()).await),
                None => None,
            }
        }
    );
    Ok((outcomes?, early_config.transpose()?))
}

/// Whether the manifest's config is an image config (not an artifact's).
fn is_image_config(manifest: &Manifest) -> bool {
    matches!(&manifest.kind, Kind::Image { config, .. }
        if config.media_type == mime::OCI_CONFIG || config.media_type == mime::DOCKER_CONFIG)
}

async fn copy_layers(
    ctx: &Ctx<'_>,
    manifest: &Manifest,
    layers: &[Descriptor],
    may_modify: bool,
    layer_inputs: LayerInputs<'_>,
) -> Result<Vec<LayerOutcome>, CopyError> {
    let caps = ctx.dest.caps();
    let is_image_config = is_image_config(manifest);
    let src = ctx.src.transport();
    futures_util::stream::iter(layers.iter().enumerate().map(|(index, l)| {
        let crypto = layer_inputs.crypto.get(index).and_then(Option::as_ref);
        // A layer being decrypted is (re)compressed as its plaintext; one that stays
        // encrypted has no compression variants to change to.
        let bytes_type = match crypto {
            Some(LayerCrypto::Decrypt { .. }) => encryption::plain_type(&l.media_type),
            _ => &l.media_type,
        };
        let policy = LayerPolicy {
            wish: caps.layer_compression,
            format: ctx.opts.compress_format,
            level: ctx.opts.compress_level,
            // OCI artifacts and schema 1 layers keep their bytes exactly.
            can_modify: may_modify
                && is_image_config
                && mime::declared_compression(bytes_type).is_some(),
            force_format: ctx.opts.force_compress_format,
        };
        let job = LayerJob {
            layer: l,
            index,
            policy,
            known_compressed: layer_inputs.known.get(index).and_then(Option::as_ref),
            crypto,
        };
        layer::copy_layer(src, ctx.dest, job, ctx.report)
    }))
    .buffered(ctx.opts.parallel.max(1))
    .try_collect()
    .await
}

/// What the copy reads from the source besides the layers: an image's config, read first
/// to check it matches the layers (before anything is written), and what conversions
/// need, read only when one needs it (schema 1's diff IDs cost a pass over every layer).
struct SourceInputs<'m> {
    parts: Parts<'m>,
    config: Option<Vec<u8>>,
    diff_ids: Option<Vec<Digest>>,
}

impl<'m> SourceInputs<'m> {
    /// Reads and checks an image config (one diff ID per layer); artifacts' configs and
    /// schema 1 (no config) are left for later.
    async fn read(
        ctx: &Ctx<'_>,
        manifest: &Manifest,
        parts: Parts<'m>,
    ) -> Result<SourceInputs<'m>, CopyError> {
        let config = match parts.config {
            Some(c) if is_image_config(manifest) => {
                let bytes = ctx.src.config(c).await?;
                ctx.src.check_diff_ids(&bytes, parts.layers.len())?;
                Some(bytes)
            }
            _ => None,
        };
        Ok(SourceInputs {
            parts,
            config,
            diff_ids: None,
        })
    }

    /// Reads what converting to `target_type` needs.
    async fn prepare(
        &mut self,
        ctx: &Ctx<'_>,
        target_type: &str,
        source_type: &str,
    ) -> Result<(), CopyError> {
        if target_type == source_type {
            return Ok(());
        }
        if self.parts.config.is_none() && self.diff_ids.is_none() {
            self.diff_ids =
                Some(layer::schema1_diff_ids(ctx.src.transport(), self.parts.layers).await?);
        }
        if let Some(c) = self.parts.config
            && self.config.is_none()
        {
            self.config = Some(ctx.src.config(c).await?);
        }
        Ok(())
    }

    fn for_conversion<'s>(&'s self, ctx: &'s Ctx<'_>) -> Inputs<'s> {
        Inputs {
            config: self.config.as_deref(),
            layer_diff_ids: self.diff_ids.as_deref(),
            destination_reference: ctx
                .dest_repo_tag
                .as_ref()
                .map(|(r, t)| (r.as_str(), t.as_str())),
            ..Inputs::default()
        }
    }

    /// The source config's bytes (read now if no conversion read them).
    async fn config_bytes(&mut self, ctx: &Ctx<'_>, c: &Descriptor) -> Result<Vec<u8>, CopyError> {
        match &self.config {
            Some(b) => Ok(b.clone()),
            None => Ok(ctx.src.config(c).await?),
        }
    }
}

/// Builds and writes the first manifest type in `candidates` that can describe the
/// copied layers and that the destination accepts; returns it, the instance digest it
/// was stored under (for a list member) and its new signature (`--sign-by`).
///
/// Signing a conversion signs the manifest that is written. The signature is made just
/// before the manifest is stored (skopeo signs just after), so a signing failure leaves
/// a registry's tag as it was.
async fn write_manifest(
    ctx: &Ctx<'_>,
    manifest: &Manifest,
    inputs: &mut SourceInputs<'_>,
    candidates: &[String],
    copied: &Copied,
    wanted: &Wanted,
    place: Placement,
) -> Result<(Written, Option<Digest>, Vec<Signature>), CopyError> {
    let source_type = convert::normalized(&manifest.mime).to_string();
    let mut early_config = copied.early_config.as_ref();
    let mut last_err = None;
    for (i, target_type) in candidates.iter().enumerate() {
        let may_fall_back = i + 1 < candidates.len() && wanted.frozen.is_none();
        inputs.prepare(ctx, target_type, &source_type).await?;
        let built = rewrite::build_manifest(
            manifest,
            target_type,
            &source_type,
            &copied.outcomes,
            &inputs.for_conversion(ctx),
        );
        let built = match built {
            Ok(b) => b,
            // A layer this format cannot describe: try the next format.
            Err(e) if may_fall_back => {
                ctx.report
                    .debug(|| format!("not writing {target_type}: {e}"));
                last_err = Some(CopyError::Manifest(e));
                continue;
            }
            Err(e) => return Err(CopyError::Manifest(e)),
        };
        store_config(ctx, inputs, &built, &mut early_config).await?;
        let out = built.manifest;
        let signature = super::sign::new_signatures(ctx, &out.raw).await?;
        ctx.report.step("Writing manifest to image destination");
        let instance = place.as_instance.then(|| out.digest());
        match ctx
            .dest
            .put_manifest(&out.raw, &out.mime, instance.as_ref())
            .await
        {
            Ok(()) => {
                let written = Written {
                    raw: out.raw,
                    mime: out.mime,
                };
                return Ok((written, instance, signature));
            }
            Err(e @ TransportError::ManifestRefused(_)) if may_fall_back => {
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

/// Stores the config the built manifest names (unless it was copied early or is there
/// already) and the extra blobs a conversion made.
async fn store_config(
    ctx: &Ctx<'_>,
    inputs: &mut SourceInputs<'_>,
    built: &Converted,
    early_config: &mut Option<&EarlyConfig>,
) -> Result<(), CopyError> {
    // Schema 1 output has no config blob.
    if let (Some(c), Kind::Image { .. }) = (inputs.parts.config, &built.manifest.kind) {
        let digest = built
            .new_config
            .as_deref()
            .map(Digest::sha256_of)
            .unwrap_or_else(|| c.digest.clone());
        if let Some(early) = early_config.take_if(|e| e.digest == digest) {
            config::report_early(ctx, early);
        } else if !config::already_there(ctx, BlobRole::Config, &digest).await? {
            let bytes = match &built.new_config {
                Some(b) => b.clone(),
                None => inputs.config_bytes(ctx, c).await?,
            };
            config::store_small_blob(ctx, BlobRole::Config, &digest, bytes).await?;
        }
    }
    for blob in &built.extra_blobs {
        let digest = Digest::sha256_of(blob);
        if !config::already_there(ctx, BlobRole::Other, &digest).await? {
            config::store_small_blob(ctx, BlobRole::Other, &digest, blob.clone()).await?;
        }
    }
    Ok(())
}

/// Stores the source's signatures that are kept, and the new one, with `instance`.
pub async fn store_signatures(
    ctx: &Ctx<'_>,
    kept: &[Signature],
    new: Vec<Signature>,
    instance: Option<&Digest>,
) -> Result<(), CopyError> {
    let mut all = kept.to_vec();
    all.extend(new);
    if all.is_empty() {
        return Ok(());
    }
    ctx.dest
        .put_signatures(&all, instance)
        .await
        .map_err(CopyError::WriteSignatures)
}
