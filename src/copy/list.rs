//! Copying manifest lists (`--all`, `--multi-arch all|index-only`): every instance (nested
//! lists too), then the list, converted and rewritten with the instances' new digests.

use std::future::Future;
use std::pin::Pin;

use super::image::{Ctx, Placement, Written, copy_single, keeps_signatures};
use super::{CopyError, ListSelection, read_instance};
use crate::digest::Digest;
use crate::manifest::convert::{self, Target};
use crate::manifest::{Kind, Manifest, mime};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

pub fn copy_list<'a>(
    ctx: &'a Ctx<'a>,
    list: &'a Manifest,
    signatures: &'a [Vec<u8>],
    selection: ListSelection,
    src_label: &'a str,
    as_instance: bool,
) -> Boxed<'a, Result<Written, CopyError>> {
    Box::pin(async move {
        let Kind::List { manifests } = &list.kind else {
            return Err(CopyError::Internal("copy_list on an image".into()));
        };
        let caps = ctx.dest.caps();
        let keep_signatures = keeps_signatures(ctx, signatures)?;
        let (list_type, _) = convert::plan_types(&list.mime, caps.manifest_types, ctx.opts.format)?;
        let target = if list_type == mime::OCI_INDEX {
            Target::Oci
        } else {
            Target::Schema2
        };
        // A list changing format makes its members change format too.
        let member_format = if list_type != list.mime {
            Some(target)
        } else {
            ctx.opts.format
        };

        let mut updates: Vec<(Digest, Digest, usize, String)> = Vec::new();
        if selection == ListSelection::All {
            let total = manifests.len();
            ctx.report
                .step(&format!("Copying {total} of {total} images in list"));
            for (i, entry) in manifests.iter().enumerate() {
                ctx.report.step(&format!(
                    "Copying image {} ({}/{total})",
                    entry.digest,
                    i + 1
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
                let written = if instance.is_list() {
                    copy_list(ctx, &instance, &sigs, selection, src_label, true).await?
                } else {
                    copy_single(
                        ctx,
                        &instance,
                        &sigs,
                        Placement {
                            as_instance: true,
                            forced: member_format,
                        },
                    )
                    .await?
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
        } else {
            ctx.report
                .step(&format!("Copying 0 of {} images in list", manifests.len()));
        }

        let out = convert::convert_list(list, target, &updates)?;
        if out.raw != list.raw && (ctx.opts.preserve_digests || keep_signatures) {
            return Err(CopyError::Refused(format!(
                "the list {} would change (to {}), which {}",
                list.digest(),
                out.digest(),
                if ctx.opts.preserve_digests {
                    "--preserve-digests forbids"
                } else {
                    "would invalidate its signatures (use --remove-signatures)"
                }
            )));
        }
        ctx.report
            .step("Writing manifest list to image destination");
        let instance = as_instance.then(|| out.digest());
        ctx.dest
            .put_manifest(&out.raw, &out.mime, instance.as_ref())
            .await
            .map_err(CopyError::WriteManifest)?;
        ctx.report.step("Storing list signatures");
        if keep_signatures {
            ctx.dest
                .put_signatures(signatures, instance.as_ref())
                .await
                .map_err(CopyError::WriteManifest)?;
        }
        Ok(Written {
            raw: out.raw,
            mime: out.mime,
        })
    })
}
