//! Copying manifest lists (`--all`, `--multi-arch all|index-only`): every instance (nested
//! lists too), each admitted by the policy on its own manifest and signatures, then the
//! list, converted and rewritten with the instances' new digests.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;

use super::context::AdmittedImage;
use super::context::Ctx;
use super::error::CopyError;
use super::options::ListSelection;
use super::single::{Placement, Written, copy_single, keeps_signatures, store_signatures};
use crate::digest::Digest;
use crate::image::{MAX_LIST_DEPTH, MAX_LIST_MANIFESTS};
use crate::manifest::convert::{self, Target};
use crate::manifest::{Descriptor, Kind, mime};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A member whose manifest changed: (old digest, new digest, new size, new media type).
type Update = (Digest, Digest, usize, String);

/// Copies `list` (the top-level list when `depth` is 0, else a member of its parent).
pub fn copy_list<'a>(
    ctx: &'a Ctx<'a>,
    list: &'a AdmittedImage,
    depth: usize,
) -> Boxed<'a, Result<Written, CopyError>> {
    Box::pin(async move {
        if depth > MAX_LIST_DEPTH {
            return Err(ctx.src.too_deep().into());
        }
        let as_instance = depth > 0;
        let manifest = &list.manifest;
        let Kind::List { manifests } = &manifest.kind else {
            return Err(CopyError::Internal("copy_list on an image".into()));
        };
        if !list.proof.covers(&manifest.raw) {
            return Err(CopyError::Internal(
                "a list the policy did not admit reached the copy".into(),
            ));
        }
        let caps = ctx.dest.caps();
        let takes_lists = caps.manifest_types.is_empty()
            || caps
                .manifest_types
                .iter()
                .any(|t| *t == mime::OCI_INDEX || *t == mime::DOCKER_LIST);
        if !takes_lists {
            let transport = ctx.dest_label.split(':').next().unwrap_or_default();
            return Err(CopyError::Refused(format!(
                "copying multiple images: destination transport {transport:?} does not support copying multiple images as a group"
            )));
        }
        let keep_signatures = keeps_signatures(ctx, &list.signatures)?;
        let (list_type, _) =
            convert::plan_types(&manifest.mime, caps.manifest_types, ctx.opts.format)?;
        let target = if list_type == mime::OCI_INDEX {
            Target::Oci
        } else {
            Target::Schema2
        };
        // A list changing format makes its members change format too.
        let member_format = if list_type != manifest.mime {
            Some(target)
        } else {
            ctx.opts.format
        };
        let updates = if ctx.opts.selection == ListSelection::All {
            copy_members(ctx, manifests, member_format, depth).await?
        } else {
            ctx.report
                .step(&format!("Copying 0 of {} images in list", manifests.len()));
            Vec::new()
        };

        let out = convert::convert_list(manifest, target, &updates)?;
        if out.raw != manifest.raw && (ctx.opts.preserve_digests || keep_signatures) {
            return Err(CopyError::Refused(format!(
                "the list {} would change (to {}), which {}",
                manifest.digest(),
                out.digest(),
                if ctx.opts.preserve_digests {
                    "--preserve-digests forbids"
                } else {
                    "would invalidate its signatures (use --remove-signatures)"
                }
            )));
        }
        let new = super::sign::new_signatures(ctx, &out.raw).await?;
        ctx.report
            .step("Writing manifest list to image destination");
        let instance = as_instance.then(|| out.digest());
        ctx.dest
            .put_manifest(&out.raw, &out.mime, instance.as_ref())
            .await
            .map_err(CopyError::WriteManifest)?;
        ctx.report.step("Storing list signatures");
        let kept = if keep_signatures {
            &list.signatures[..]
        } else {
            &[]
        };
        store_signatures(ctx, kept, new, instance.as_ref()).await?;
        Ok(Written {
            raw: out.raw,
            mime: out.mime,
        })
    })
}

/// Copies every member, each admitted by the policy first; returns the members whose
/// manifest changed.
async fn copy_members(
    ctx: &Ctx<'_>,
    manifests: &[Descriptor],
    member_format: Option<Target>,
    depth: usize,
) -> Result<Vec<Update>, CopyError> {
    let seen = ctx
        .manifests_read
        .fetch_add(manifests.len(), Ordering::Relaxed);
    if seen + manifests.len() > MAX_LIST_MANIFESTS {
        return Err(CopyError::Refused(format!(
            "{}: the manifest lists name more than {MAX_LIST_MANIFESTS} manifests in all; refusing to copy them",
            ctx.src.label()
        )));
    }
    let total = manifests.len();
    ctx.report
        .step(&format!("Copying {total} of {total} images in list"));
    let mut updates = Vec::new();
    for (i, entry) in manifests.iter().enumerate() {
        ctx.report.step(&format!(
            "Copying image {} ({}/{total})",
            entry.digest,
            i + 1
        ));
        let instance = ctx.src.instance(entry).await?;
        let admitted = ctx.admit_instance(instance, &entry.digest).await?;
        let written = if admitted.manifest.is_list() {
            copy_list(ctx, &admitted, depth + 1).await?
        } else {
            let place = Placement {
                as_instance: true,
                forced: member_format,
            };
            copy_single(ctx, &admitted, place).await?
        };
        let new_digest = Digest::sha256_of(&written.raw);
        if new_digest != entry.digest || written.mime != entry.media_type {
            updates.push((
                entry.digest.clone(),
                new_digest,
                written.raw.len(),
                written.mime,
            ));
        }
    }
    Ok(updates)
}
