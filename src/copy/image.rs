//! Copying one image (config, layers, manifest, signatures) and manifest lists.

use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::layer::{self, LayerPolicy};
use super::{CopyError, CopyOptions, ListSelection, read_instance};
use crate::digest::Digest;
use crate::manifest::{
    self, Descriptor, Kind, MAX_CONFIG_SIZE, Manifest, ManifestError, convert, mime,
};
use crate::pipeline::{BlobReader, VerifyingReader};
use crate::policy::Admitted;
use crate::report::Reporter;
use crate::transport::{ImageDestination, ImageSource};

/// The parts of a copy every step needs.
pub struct Ctx<'a> {
    pub src: &'a dyn ImageSource,
    pub dest: &'a dyn ImageDestination,
    pub opts: &'a CopyOptions,
    pub report: &'a Reporter,
    pub dest_label: &'a str,
    /// Proof that the source passed the trust policy.
    pub _admitted: &'a Admitted,
}

/// Copies one image. `as_instance` stores it as a list member (by digest) rather than as
/// the top-level manifest. Returns the manifest bytes written.
pub async fn copy_single(
    ctx: &Ctx<'_>,
    manifest: &Manifest,
    signatures: &[Vec<u8>],
    as_instance: Option<()>,
) -> Result<Vec<u8>, CopyError> {
    let caps = ctx.dest.caps();
    let keep_signatures = !ctx.opts.remove_signatures && !signatures.is_empty();
    if keep_signatures && !caps.supports_signatures {
        return Err(CopyError::Signatures {
            image: ctx.dest_label.to_string(),
            reason: caps.no_signatures_reason.to_string(),
        });
    }
    let conversion = plan_format(ctx, &manifest.mime, caps.manifest_types, keep_signatures)?;
    // Changing any blob would break the signatures or the digests the user wants kept.
    let can_modify = !ctx.opts.preserve_digests && !keep_signatures;

    let (config, layers) = match &manifest.kind {
        Kind::Image { config, layers } => (Some(config), layers.as_slice()),
        Kind::Schema1 { layers } => (None, layers.as_slice()),
        Kind::List { .. } => {
            return Err(CopyError::Internal(
                "a list where an image was expected".into(),
            ));
        }
    };
    // OCI artifacts (a non-image config) keep their blobs exactly as they are.
    let is_image_config = config
        .is_some_and(|c| c.media_type == mime::OCI_CONFIG || c.media_type == mime::DOCKER_CONFIG);
    let schema1 = matches!(manifest.kind, Kind::Schema1 { .. });
    let new_layers: Vec<Descriptor> = futures_util::stream::iter(layers.iter().map(|l| {
        let policy = LayerPolicy {
            wish: caps.layer_compression,
            format: ctx.opts.compress_format,
            level: ctx.opts.compress_level,
            can_modify: can_modify
                && is_image_config
                && !schema1
                && mime::declared_compression(&l.media_type).is_some(),
        };
        layer::copy_layer(ctx.src, ctx.dest, &manifest.mime, l, policy, ctx.report)
    }))
    .buffered(ctx.opts.parallel.max(1))
    .try_collect()
    .await?;

    let changed = new_layers
        .iter()
        .zip(layers)
        .any(|(n, o)| n.digest != o.digest || n.media_type != o.media_type);
    let out = if changed {
        manifest.with_layers(&new_layers)?
    } else {
        manifest.clone()
    };
    let out = match (&conversion, config) {
        (Some(to), Some(config)) => {
            // Only Docker -> OCI re-encodes the config; the other way keeps its bytes.
            let config_bytes = if to == mime::OCI_MANIFEST {
                Some(read_config(ctx, config).await?)
            } else {
                None
            };
            let converted = convert::convert(&out, to, config_bytes.as_deref())?;
            ctx.report
                .debug(|| format!("converted the manifest from {} to {to}", out.mime));
            match converted.config {
                Some(bytes) => store_config(ctx, bytes).await?,
                None => copy_config(ctx, config).await?,
            }
            converted.manifest
        }
        (_, Some(config)) => {
            copy_config(ctx, config).await?;
            out
        }
        (_, None) => out,
    };

    ctx.report.step("Writing manifest to image destination");
    let instance = as_instance.map(|()| out.digest());
    ctx.dest
        .put_manifest(&out.raw, &out.mime, instance.as_ref())
        .await
        .map_err(CopyError::WriteManifest)?;
    ctx.report.step("Storing signatures");
    if keep_signatures {
        ctx.dest
            .put_signatures(signatures, instance.as_ref())
            .await
            .map_err(CopyError::WriteManifest)?;
    }
    Ok(out.raw)
}

/// The manifest type to convert to, if the destination or `--format` needs another one.
/// Conversions that are not built yet are refused.
fn plan_format(
    ctx: &Ctx<'_>,
    have: &str,
    accepted: &[&str],
    keep_signatures: bool,
) -> Result<Option<String>, CopyError> {
    let mut target: Option<&str> = None;
    if let Some(want) = &ctx.opts.format
        && want != have
        && !(want == mime::DOCKER_V2S1 && have == mime::DOCKER_V2S1_SIGNED)
    {
        if !convert::can_convert(have, want) {
            return Err(CopyError::NotSupportedYet(format!(
                "--format: converting a {have} manifest to {want}"
            )));
        }
        target = Some(want.as_str());
    }
    let wanted = target.unwrap_or(have);
    if !accepted.is_empty() && !accepted.contains(&wanted) {
        if target.is_some() {
            return Err(CopyError::Refused(format!(
                "{} does not store {wanted} manifests (it stores {})",
                ctx.dest_label,
                accepted.join(", ")
            )));
        }
        target = accepted
            .iter()
            .copied()
            .find(|t| convert::can_convert(have, t));
        if target.is_none() {
            if ctx.opts.preserve_digests {
                return Err(CopyError::Refused(format!(
                    "Instructed to preserve digests, but {} only stores {} and the source manifest is {have}",
                    ctx.dest_label,
                    accepted.join(", ")
                )));
            }
            return Err(CopyError::NotSupportedYet(format!(
                "converting a {have} manifest to {} for {}",
                accepted.join(" or "),
                ctx.dest_label
            )));
        }
    }
    if let Some(to) = target {
        if ctx.opts.preserve_digests {
            return Err(CopyError::Refused(format!(
                "Instructed to preserve digests, but the manifest must be converted from {have} to {to} for {}",
                ctx.dest_label
            )));
        }
        if keep_signatures {
            return Err(CopyError::Refused(format!(
                "the manifest must be converted from {have} to {to} for {}, which would invalidate the signatures (use --remove-signatures)",
                ctx.dest_label
            )));
        }
    }
    Ok(target.map(str::to_string))
}

/// For lists, which are never converted.
fn check_format(ctx: &Ctx<'_>, have: &str, accepted: &[&str]) -> Result<(), CopyError> {
    if let Some(want) = &ctx.opts.format
        && want != have
    {
        return Err(CopyError::NotSupportedYet(format!(
            "--format: converting a {have} manifest to {want}"
        )));
    }
    if !accepted.is_empty() && !accepted.contains(&have) {
        return Err(CopyError::NotSupportedYet(format!(
            "copying a {have} manifest list to {}, which stores {}",
            ctx.dest_label,
            accepted.join(", ")
        )));
    }
    Ok(())
}

/// Configs are small: read whole (capped), verified, then stored.
async fn copy_config(ctx: &Ctx<'_>, config: &Descriptor) -> Result<(), CopyError> {
    if ctx
        .dest
        .try_reuse_blob(&config.digest)
        .await
        .map_err(|e| CopyError::dest(&config.digest, e))?
        .is_some()
    {
        ctx.report.blob_skipped("config", &config.digest);
        return Ok(());
    }
    let progress = ctx
        .report
        .blob("config", &config.digest, u64::try_from(config.size).ok());
    let bytes = read_config(ctx, config).await?;
    let reader: BlobReader = Box::pin(std::io::Cursor::new(bytes));
    let stored = ctx
        .dest
        .put_blob(reader)
        .await
        .map_err(|e| CopyError::dest(&config.digest, e))?;
    if stored.digest != config.digest {
        return Err(CopyError::Internal(format!(
            "config {} was stored as {}",
            config.digest, stored.digest
        )));
    }
    progress.done();
    Ok(())
}

/// Reads the source config, capped and verified.
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

/// Stores a config this copy created (a converted one).
async fn store_config(ctx: &Ctx<'_>, bytes: Vec<u8>) -> Result<(), CopyError> {
    let digest = Digest::sha256_of(&bytes);
    if ctx
        .dest
        .try_reuse_blob(&digest)
        .await
        .map_err(|e| CopyError::dest(&digest, e))?
        .is_some()
    {
        ctx.report.blob_skipped("config", &digest);
        return Ok(());
    }
    let progress = ctx.report.blob("config", &digest, Some(bytes.len() as u64));
    let stored = ctx
        .dest
        .put_blob(Box::pin(std::io::Cursor::new(bytes)))
        .await
        .map_err(|e| CopyError::dest(&digest, e))?;
    if stored.digest != digest {
        return Err(CopyError::Internal(format!(
            "config {digest} was stored as {}",
            stored.digest
        )));
    }
    progress.done();
    Ok(())
}

/// Copies a list with `--all` or `--multi-arch index-only`.
pub async fn copy_list(
    ctx: &Ctx<'_>,
    list: &Manifest,
    signatures: &[Vec<u8>],
    selection: ListSelection,
    src_label: &str,
) -> Result<Vec<u8>, CopyError> {
    let Kind::List { manifests } = &list.kind else {
        return Err(CopyError::Internal("copy_list on an image".into()));
    };
    let caps = ctx.dest.caps();
    let keep_signatures = !ctx.opts.remove_signatures && !signatures.is_empty();
    if keep_signatures && !caps.supports_signatures {
        return Err(CopyError::Signatures {
            image: ctx.dest_label.to_string(),
            reason: caps.no_signatures_reason.to_string(),
        });
    }
    check_format(ctx, &list.mime, caps.manifest_types)?;

    let mut updated: Vec<(Digest, Digest, usize)> = Vec::new();
    if selection == ListSelection::All {
        ctx.report.step(&format!(
            "Copying {} of {} images in list",
            manifests.len(),
            manifests.len()
        ));
        for (i, entry) in manifests.iter().enumerate() {
            ctx.report.step(&format!(
                "Copying image {} ({}/{})",
                entry.digest,
                i + 1,
                manifests.len()
            ));
            let instance =
                read_instance(ctx.src, &entry.digest, &entry.media_type, src_label).await?;
            let sigs = ctx
                .src
                .signatures(Some(&entry.digest))
                .await
                .map_err(|source| CopyError::ReadManifest {
                    image: src_label.to_string(),
                    source,
                })?;
            let written = copy_single(ctx, &instance, &sigs, Some(())).await?;
            let new_digest = Digest::sha256_of(&written);
            if new_digest != entry.digest {
                if keep_signatures || ctx.opts.preserve_digests {
                    return Err(CopyError::Refused(format!(
                        "instance {} would change to {new_digest}, which {}",
                        entry.digest,
                        if ctx.opts.preserve_digests {
                            "--preserve-digests forbids"
                        } else {
                            "would invalidate the list signatures"
                        }
                    )));
                }
                updated.push((entry.digest.clone(), new_digest, written.len()));
            }
        }
    } else {
        ctx.report
            .step(&format!("Copying 0 of {} images in list", manifests.len()));
    }

    let out = if updated.is_empty() {
        list.raw.clone()
    } else {
        rewrite_list(&list.raw, &updated)?
    };
    ctx.report
        .step("Writing manifest list to image destination");
    ctx.dest
        .put_manifest(&out, &list.mime, None)
        .await
        .map_err(CopyError::WriteManifest)?;
    ctx.report.step("Storing list signatures");
    if keep_signatures {
        ctx.dest
            .put_signatures(signatures, None)
            .await
            .map_err(CopyError::WriteManifest)?;
    }
    Ok(out)
}

/// The list with instance digests and sizes replaced.
fn rewrite_list(raw: &[u8], updated: &[(Digest, Digest, usize)]) -> Result<Vec<u8>, ManifestError> {
    let mut value: Value = serde_json::from_slice(raw)?;
    let entries = value
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| ManifestError::Update("list has no manifests array".into()))?;
    for entry in entries.iter_mut() {
        let Some(obj) = entry.as_object_mut() else {
            continue;
        };
        let current = obj
            .get("digest")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some((_, new, size)) = updated
            .iter()
            .find(|(old, _, _)| Some(old.to_string()) == current)
        {
            obj.insert("digest".into(), Value::String(new.to_string()));
            obj.insert("size".into(), Value::from(*size));
        }
    }
    manifest::go_json(&value)
}
