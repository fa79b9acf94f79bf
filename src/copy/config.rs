//! The config blob and the other small blobs a manifest names (schema 1 conversions'
//! empty layers): copied early when unchanged, else stored once the manifest to write
//! is built.

use super::context::Ctx;
use super::error::CopyError;
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::pipeline::BlobReader;
use crate::transport::{BlobOptions, BlobRole};

/// A config copied before it is reported; `stored` is its size, None if it was there.
pub struct EarlyConfig {
    pub digest: Digest,
    pub stored: Option<u64>,
}

/// Copies the config unchanged unless the destination has it, reporting nothing yet: it
/// travels alongside the layers, so its requests (or its fsync) are off the critical path,
/// and is reported after them, where skopeo reports it.
pub async fn copy_quietly(
    ctx: &Ctx<'_>,
    c: &Descriptor,
    read_already: Option<&[u8]>,
) -> Result<EarlyConfig, CopyError> {
    let options = BlobOptions {
        original: Some(c),
        ..BlobOptions::small(BlobRole::Config)
    };
    let found = ctx
        .dest
        .try_reuse_blob(&c.digest, &options)
        .await
        .map_err(|e| CopyError::dest(&c.digest, e))?;
    if found.is_some() {
        return Ok(EarlyConfig {
            digest: c.digest.clone(),
            stored: None,
        });
    }
    let bytes = match read_already {
        Some(b) => b.to_vec(),
        None => ctx.src.config(c).await?,
    };
    let size = bytes.len() as u64;
    put_small_blob(ctx, BlobRole::Config, &c.digest, bytes).await?;
    Ok(EarlyConfig {
        digest: c.digest.clone(),
        stored: Some(size),
    })
}

/// Reports a config copied early, as if it were copied now.
pub fn report_early(ctx: &Ctx<'_>, early: &EarlyConfig) {
    match early.stored {
        Some(size) => ctx.report.blob("config", &early.digest, Some(size)).done(),
        None => ctx.report.blob_skipped("config", &early.digest),
    }
}

/// The word progress lines use for a blob of this role.
fn kind(role: BlobRole) -> &'static str {
    match role {
        BlobRole::Config => "config",
        _ => "blob",
    }
}

/// Whether the destination has (or could mount) the blob; reports the skip.
pub async fn already_there(
    ctx: &Ctx<'_>,
    role: BlobRole,
    digest: &Digest,
) -> Result<bool, CopyError> {
    let found = ctx
        .dest
        .try_reuse_blob(digest, &BlobOptions::small(role))
        .await
        .map_err(|e| CopyError::dest(digest, e))?;
    if found.is_some() {
        ctx.report.blob_skipped(kind(role), digest);
    }
    Ok(found.is_some())
}

/// Stores a small blob the destination does not have, with a progress line.
pub async fn store_small_blob(
    ctx: &Ctx<'_>,
    role: BlobRole,
    digest: &Digest,
    bytes: Vec<u8>,
) -> Result<(), CopyError> {
    let progress = ctx
        .report
        .blob(kind(role), digest, Some(bytes.len() as u64));
    put_small_blob(ctx, role, digest, bytes).await?;
    progress.done();
    Ok(())
}

/// Stores `bytes` as blob `digest` (the destination hashes them: a check, at this size).
async fn put_small_blob(
    ctx: &Ctx<'_>,
    role: BlobRole,
    digest: &Digest,
    bytes: Vec<u8>,
) -> Result<(), CopyError> {
    let reader: BlobReader = Box::pin(std::io::Cursor::new(bytes));
    let stored = ctx
        .dest
        .put_blob(reader, &BlobOptions::small(role))
        .await
        .map_err(|e| CopyError::dest(digest, e))?;
    if &stored.digest != digest {
        return Err(CopyError::Internal(format!(
            "{} {digest} was stored as {}",
            kind(role),
            stored.digest
        )));
    }
    Ok(())
}
