//! The copy engine: policy first, then blobs, then the manifest, then signatures, then commit.

pub mod command;
mod image;
mod layer;
mod list;

use crate::digest::Digest;
use crate::manifest::{self, Kind, Manifest, ManifestError, platform::WantedPlatform};
use crate::pipeline::Compression;
use crate::policy::{Policy, PolicyError, PolicyImage};
use crate::reference::ImageName;
use crate::report::Reporter;
use crate::transport::{self, OpenOptions, TransportError};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("reading the source image {image}: {source}")]
    OpenSource {
        image: String,
        source: TransportError,
    },
    #[error("opening the destination image {image}: {source}")]
    OpenDestination {
        image: String,
        source: TransportError,
    },
    #[error("reading manifest of {image}: {source}")]
    ReadManifest {
        image: String,
        source: TransportError,
    },
    #[error("parsing manifest of {image}: {source}")]
    ParseManifest {
        image: String,
        source: ManifestError,
    },
    #[error("choosing an image from manifest list {image}: {source}")]
    ChooseInstance {
        image: String,
        source: ManifestError,
    },
    #[error("{0}")]
    Policy(#[from] PolicyError),
    #[error("reading blob {digest} from the source: {source}")]
    Source {
        digest: Digest,
        source: TransportError,
    },
    #[error("writing blob {digest} to the destination: {source}")]
    Destination {
        digest: Digest,
        source: TransportError,
    },
    #[error("copying blob {digest}: {source}")]
    Blob {
        digest: Digest,
        source: std::io::Error,
    },
    #[error("writing manifest: {0}")]
    WriteManifest(TransportError),
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error("Can not copy signatures to {image}: {reason}")]
    Signatures { image: String, reason: String },
    #[error("committing the destination image {image}: {source}")]
    Commit {
        image: String,
        source: TransportError,
    },
    #[error("not supported yet: {0}")]
    NotSupportedYet(String),
    #[error("{0}")]
    Refused(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CopyError {
    /// Whether copying the same blob again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            CopyError::Source { source, .. }
            | CopyError::Destination { source, .. }
            | CopyError::OpenSource { source, .. }
            | CopyError::OpenDestination { source, .. }
            | CopyError::ReadManifest { source, .. }
            | CopyError::Commit { source, .. }
            | CopyError::WriteManifest(source) => source.is_retryable(),
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
    /// Layers copied at once (skopeo: 6).
    pub parallel: usize,
}

/// The source, opened and admitted by the policy.
struct Source {
    image: Box<dyn transport::ImageSource>,
    top: Manifest,
    admitted: crate::policy::Admitted,
    signatures: Vec<Vec<u8>>,
}

async fn read_source(
    src_name: &ImageName,
    policy: &Policy,
    opts: &CopyOptions,
    report: &Reporter,
) -> Result<Source, CopyError> {
    let src_label = src_name.to_string();
    let src = transport::open_source(src_name, &opts.src)
        .await
        .map_err(|source| CopyError::OpenSource {
            image: src_label.clone(),
            source,
        })?;
    let (raw, declared) = src
        .manifest(None)
        .await
        .map_err(|source| CopyError::ReadManifest {
            image: src_label.clone(),
            source,
        })?;
    let top =
        Manifest::parse(raw, declared.as_deref()).map_err(|source| CopyError::ParseManifest {
            image: src_label.clone(),
            source,
        })?;

    report.step("Getting image source signatures");
    let top_signatures = src
        .signatures(None)
        .await
        .map_err(|source| CopyError::ReadManifest {
            image: src_label.clone(),
            source,
        })?;
    let namespaces = src_name.policy_configuration_namespaces();
    let admitted = policy.evaluate(&PolicyImage {
        transport: src_name.transport_name(),
        identity: &src_name.policy_configuration_identity(),
        namespaces: &namespaces,
        display_name: &src_label,
        unverified_signatures: top_signatures.len(),
    })?;
    Ok(Source {
        image: src,
        top,
        admitted,
        signatures: top_signatures,
    })
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
    let src_label = src_name.to_string();
    let dest_label = dest_name.to_string();
    let Source {
        image: src,
        top,
        admitted,
        signatures: top_signatures,
    } = read_source(src_name, policy, opts, report).await?;
    // Only now: a rejected image must not make us contact the destination (or run its
    // credential helper), as skopeo does not.
    let dest = transport::open_destination(dest_name, &opts.dest)
        .await
        .map_err(|source| CopyError::OpenDestination {
            image: dest_label.clone(),
            source,
        })?;
    let ctx = image::Ctx {
        src: src.as_ref(),
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
        _admitted: &admitted,
    };

    let written = match (&top.kind, opts.selection) {
        (Kind::List { manifests }, ListSelection::System) => {
            let chosen =
                manifest::platform::choose(manifests, &opts.platform).map_err(|source| {
                    CopyError::ChooseInstance {
                        image: src_label.clone(),
                        source,
                    }
                })?;
            report.debug(|| format!("chose {} for {}", chosen.digest, opts.platform));
            let instance =
                read_instance(src.as_ref(), &chosen.digest, &chosen.media_type, &src_label).await?;
            let signatures = src
                .signatures(Some(&chosen.digest))
                .await
                .map_err(|source| CopyError::ReadManifest {
                    image: src_label.clone(),
                    source,
                })?;
            image::copy_single(&ctx, &instance, &signatures, image::Placement::default())
                .await?
                .raw
        }
        (Kind::List { .. }, selection) => {
            list::copy_list(&ctx, &top, &top_signatures, selection, &src_label, false)
                .await?
                .raw
        }
        _ => {
            image::copy_single(&ctx, &top, &top_signatures, image::Placement::default())
                .await?
                .raw
        }
    };
    dest.commit().await.map_err(|source| CopyError::Commit {
        image: dest_label.clone(),
        source,
    })?;
    Ok(written)
}

/// Reads a list instance and checks it is the one the list names.
async fn read_instance(
    src: &dyn transport::ImageSource,
    digest: &Digest,
    media_type: &str,
    label: &str,
) -> Result<Manifest, CopyError> {
    let (raw, declared) =
        src.manifest(Some(digest))
            .await
            .map_err(|source| CopyError::ReadManifest {
                image: label.to_string(),
                source,
            })?;
    let actual = digest.recompute(&raw);
    if &actual != digest {
        return Err(CopyError::ParseManifest {
            image: label.to_string(),
            source: ManifestError::Invalid(format!(
                "instance {digest} of the list has digest {actual}"
            )),
        });
    }
    let declared = declared.or_else(|| Some(media_type.to_string()).filter(|m| !m.is_empty()));
    Manifest::parse(raw, declared.as_deref()).map_err(|source| CopyError::ParseManifest {
        image: label.to_string(),
        source,
    })
}
