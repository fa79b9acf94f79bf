//! The copy engine, in containers/image's order: read the source, admit each image
//! instance by the trust policy (on its manifest and signatures), copy its blobs, write its
//! manifest (converted if needed), store its signatures, then commit the destination.
//!
//! `single` copies one image as a short sequence of steps, `list` copies manifest lists,
//! `layer` is one blob's journey, `formats` and `rewrite` decide which manifest to write
//! and record what the copy changed in it, `config` carries the config blob.

mod config;
mod formats;
mod layer;
mod list;
mod rewrite;
mod sign;
mod single;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicUsize;

use crate::digest::Digest;
use crate::image::{ImageError, SourceImage};
use crate::manifest::{Kind, Manifest, ManifestError, platform::WantedPlatform};
use crate::pipeline::Compression;
use crate::policy::{Admitted, Policy, PolicyError, PolicyImage};
use crate::reference::ImageName;
use crate::report::Reporter;
use crate::signature::Signature;
use crate::transport::{self, ImageDestination, OpenOptions, TransportError};

pub use layer::LayerOutcome;
pub use sign::{SignOptions, SigstoreSigners};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("initializing source {image}: {source}")]
    OpenSource {
        image: String,
        #[source]
        source: TransportError,
    },
    #[error("initializing destination {image}: {source}")]
    OpenDestination {
        image: String,
        #[source]
        source: TransportError,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("reading blob {digest} from the source: {source}")]
    Source {
        digest: Digest,
        #[source]
        source: TransportError,
    },
    #[error("writing blob {digest} to the destination: {source}")]
    Destination {
        digest: Digest,
        #[source]
        source: TransportError,
    },
    #[error("copying blob {digest}: {source}")]
    Blob {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("writing manifest: {0}")]
    WriteManifest(#[source] TransportError),
    #[error("writing signatures: {0}")]
    WriteSignatures(#[source] TransportError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "Can not copy signatures to {image}: {reason} (use --remove-signatures to copy the image without them)"
    )]
    Signatures { image: String, reason: String },
    /// `--sign-by` with a destination that cannot store signatures.
    #[error("writing signatures: {0} (the new signature cannot be stored there)")]
    CannotSign(String),
    #[error("creating signature: {0}")]
    Sign(#[source] crate::signature::gpg::GpgError),
    #[error(transparent)]
    SigstoreSign(crate::signature::sigstore::SigstoreError),
    #[error("committing the destination image {image}: {source}")]
    Commit {
        image: String,
        #[source]
        source: TransportError,
    },
    #[error("{0}")]
    Refused(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CopyError {
    /// Whether copying again may succeed (network trouble, 429, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            CopyError::Source { source, .. }
            | CopyError::Destination { source, .. }
            | CopyError::OpenSource { source, .. }
            | CopyError::OpenDestination { source, .. }
            | CopyError::Commit { source, .. }
            | CopyError::WriteManifest(source)
            | CopyError::WriteSignatures(source) => source.is_retryable(),
            CopyError::Image(e) => e.is_retryable(),
            CopyError::Blob { source, .. } => crate::pipeline::is_transient(source),
            _ => false,
        }
    }

    fn source(digest: &Digest, source: TransportError) -> CopyError {
        CopyError::Source {
            digest: digest.clone(),
            source,
        }
    }
    fn dest(digest: &Digest, source: TransportError) -> CopyError {
        CopyError::Destination {
            digest: digest.clone(),
            source,
        }
    }
    fn blob(digest: &Digest, source: std::io::Error) -> CopyError {
        CopyError::Blob {
            digest: digest.clone(),
            source,
        }
    }
}

/// What to do with a manifest list (`--all`, `--multi-arch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSelection {
    /// Only the instance for the wanted platform.
    System,
    /// Every instance and the list.
    All,
    /// The list alone.
    IndexOnly,
}

/// Everything the engine needs, free of command-line details.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub src: OpenOptions,
    pub dest: OpenOptions,
    pub compress_format: Option<Compression>,
    pub compress_level: Option<i32>,
    pub remove_signatures: bool,
    pub preserve_digests: bool,
    pub selection: ListSelection,
    pub platform: WantedPlatform,
    /// `--format`, as a manifest media type.
    pub format: Option<crate::manifest::convert::Target>,
    /// Layers copied at once (skopeo: 6; `--image-parallel-copies`).
    pub parallel: usize,
    /// `--sign-by`: sign every manifest written.
    pub sign: Option<SignOptions>,
    /// `--sign-by-sigstore`, `--sign-by-sigstore-private-key`: the same, with sigstore.
    pub sigstore: SigstoreSigners,
    /// `--dest-force-compress-format`: a layer is reused from the destination only when it
    /// has `compress_format` (containers/image's requireCompressionFormatMatch).
    pub force_compress_format: bool,
}

/// The parts of a copy every step needs.
pub(crate) struct Ctx<'a> {
    pub src: &'a SourceImage,
    pub src_name: &'a ImageName,
    pub policy: &'a Policy,
    pub dest: &'a dyn ImageDestination,
    pub opts: &'a CopyOptions,
    pub report: &'a Reporter,
    pub dest_label: &'a str,
    /// Repository path and tag of a registry destination (schema 1 manifests embed them).
    pub dest_repo_tag: Option<(String, String)>,
    /// How many list members this copy has read, against `image::MAX_LIST_MANIFESTS`.
    pub manifests_read: AtomicUsize,
    /// The identity new signatures claim (when signing).
    pub sign_identity: Option<String>,
}

/// An image instance read from the source and admitted by the policy, with the
/// signatures it was admitted on.
pub(crate) struct AdmittedImage {
    pub manifest: Manifest,
    pub signatures: Vec<Signature>,
    pub proof: Admitted,
}

/// Reads the signatures of `manifest` (the top-level one when `instance` is None) and asks
/// the policy about them (`PolicyContext.IsRunningImageAllowed`). Signatures that will be
/// removed and that no requirement looks at are not read at all; when a requirement needs
/// them, failing to read them rejects the image, in skopeo's words.
async fn admit(
    src: &SourceImage,
    src_name: &ImageName,
    policy: &Policy,
    manifest: Manifest,
    instance: Option<&Digest>,
    remove_signatures: bool,
) -> Result<AdmittedImage, CopyError> {
    let identity = src_name.policy_configuration_identity();
    let namespaces = src_name.policy_configuration_namespaces();
    let transport = src_name.transport_name();
    let policy_reads = policy.needs_signatures(transport, &identity, &namespaces);
    let signatures = if remove_signatures && !policy_reads {
        Vec::new()
    } else {
        match src.signatures(instance).await {
            Ok(s) => s,
            Err(ImageError::ReadSignatures { source, .. }) if policy_reads => {
                return Err(PolicyError::Rejected {
                    reason: source.to_string(),
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        }
    };
    let proof = policy.evaluate(&PolicyImage {
        transport,
        identity: &identity,
        namespaces: &namespaces,
        display_name: src.label(),
        docker_reference: src_name.docker_reference(),
        manifest: &manifest.raw,
        signatures: &signatures,
    })?;
    Ok(AdmittedImage {
        manifest,
        signatures,
        proof,
    })
}

impl Ctx<'_> {
    /// `admit` for a list member.
    async fn admit_instance(
        &self,
        manifest: Manifest,
        instance: &Digest,
    ) -> Result<AdmittedImage, CopyError> {
        let remove = self.opts.remove_signatures;
        let (src, name, policy) = (self.src, self.src_name, self.policy);
        admit(src, name, policy, manifest, Some(instance), remove).await
    }
}

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
