//! The copy engine, in containers/image's order: read the source, admit each image
//! instance by the trust policy (on its manifest and signatures), copy its blobs, write its
//! manifest (converted if needed), store its signatures, then commit the destination.
//!
//! `single` copies one image as a short sequence of steps, `list` copies manifest lists,
//! `layer` is one blob's journey, `encryption` which layers it encrypts or decrypts,
//! `formats` and `rewrite` decide which manifest to write and record what the copy
//! changed in it, `config` carries the config blob. `error` and `options` hold the
//! engine's error and options, `context` what every step shares and admission.

mod config;
mod context;
mod encryption;
mod error;
mod formats;
mod layer;
mod list;
mod options;
mod rewrite;
mod sign;
mod single;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicUsize;

use crate::image::SourceImage;
use crate::manifest::Kind;
use crate::policy::Policy;
use crate::reference::ImageName;
use crate::report::Reporter;
use crate::transport;

use context::{AdmittedImage, Ctx, admit};

pub use encryption::CryptOptions;
pub use error::CopyError;
pub use layer::LayerOutcome;
pub use options::{CopyOptions, ListSelection, SignOptions, SigstoreSigners};

/// Copies `src_name` to `dest_name`; returns the manifest written at the top (the list
/// when a list was copied), for `--digestfile`.
pub async fn copy_image(
    src_name: &ImageName,
    dest_name: &ImageName,
    policy: &Policy,
    opts: &CopyOptions,
    report: &Reporter,
) -> Result<Vec<u8>, CopyError> {
    let src = SourceImage::open(src_name, &opts.src)
        .await
        .map_err(|source| CopyError::OpenSource {
            image: src_name.to_string(),
            source,
        })?;
    let (first, top_raw) = admit_first(&src, src_name, policy, opts, report).await?;
    let signing = opts.sign.is_some() || !opts.sigstore.is_empty();
    let sign_identity = if signing {
        let flag = match &opts.sign {
            Some(s) => s.identity.as_ref(),
            None => opts.sigstore.identity.as_ref(),
        };
        Some(sign::identity_for(flag, dest_name)?)
    } else {
        None
    };
    // Only now: a rejected image must not make us contact the destination (or run its
    // credential helper), as skopeo does not.
    let dest_label = dest_name.to_string();
    let dest = transport::open_destination(dest_name, &opts.dest)
        .await
        .map_err(|source| CopyError::OpenDestination {
            image: dest_label.clone(),
            source,
        })?;
    // skopeo finds this out after writing the image; nothing is written here.
    let caps = dest.caps();
    if let (true, transport::SignatureSupport::Refused(reason)) = (signing, caps.signatures) {
        return Err(CopyError::CannotSign(reason.to_string()));
    }
    if let (false, Some(reason)) = (opts.sigstore.is_empty(), caps.sigstore_refusal) {
        return Err(CopyError::CannotSign(reason));
    }
    dest.set_source_toplevel(&top_raw);
    let ctx = Ctx {
        src: &src,
        src_name,
        policy,
        dest: dest.as_ref(),
        opts,
        report,
        dest_label: &dest_label,
        dest_repo_tag: match dest_name {
            ImageName::Docker(r) => Some((
                r.path().to_string(),
                r.tag().unwrap_or("latest").to_string(),
            )),
            _ => None,
        },
        manifests_read: AtomicUsize::new(0),
        sign_identity,
    };
    let written = copy_admitted(&ctx, &first).await?;
    dest.commit().await.map_err(|source| CopyError::Commit {
        image: dest_label.clone(),
        source,
    })?;
    Ok(written.raw)
}

/// The first admission: the single image to copy (the platform's instance of a list
/// unless every instance is asked for), or the list as a whole.
async fn admit_first(
    src: &SourceImage,
    src_name: &ImageName,
    policy: &Policy,
    opts: &CopyOptions,
    report: &Reporter,
) -> Result<(AdmittedImage, Vec<u8>), CopyError> {
    let top = src.top().await?;
    let top_raw = top.raw.clone();
    report.step("Getting image source signatures");
    let first = match (&top.kind, opts.selection) {
        (Kind::List { .. }, ListSelection::System) => {
            let (instance, digest) = src.single(&top, &opts.platform).await?;
            if let Some(d) = &digest {
                report.debug(|| format!("chose {d} for {}", opts.platform));
            }
            let remove = opts.remove_signatures;
            admit(src, src_name, policy, instance, digest.as_ref(), remove).await?
        }
        _ => admit(src, src_name, policy, top, None, opts.remove_signatures).await?,
    };
    Ok((first, top_raw))
}

/// Copies what `admit_first` admitted; returns what was written at the top.
async fn copy_admitted(ctx: &Ctx<'_>, first: &AdmittedImage) -> Result<single::Written, CopyError> {
    if first.manifest.is_list() {
        list::copy_list(ctx, first, 0).await
    } else {
        single::copy_single(ctx, first, single::Placement::default()).await
    }
}
