//! What every command needs of a source image, written once (containers/image's `image`
//! package): the manifest by tag or digest, the instance of a list for a platform (checked
//! against the digest the list names), the config read through the verifying reader, and
//! the signatures of a manifest instance. `copy` and `inspect` both read images here.

use tokio::io::AsyncReadExt;

use crate::digest::Digest;
use crate::manifest::platform::{self, WantedPlatform};
use crate::manifest::{Descriptor, Kind, MAX_CONFIG_SIZE, Manifest, ManifestError};
use crate::pipeline::VerifyingReader;
use crate::reference::ImageName;
use crate::signature::Signature;
use crate::transport::{self, ImageSource, OpenOptions, TransportError};

/// How deep manifest lists may nest (a list of lists is legal OCI, if rare; a deep chain
/// is an attack on the stack and the network).
pub const MAX_LIST_DEPTH: usize = 8;

/// How many manifests a copy of a list may read in all, nested lists included.
pub const MAX_LIST_MANIFESTS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("determining manifest MIME type for {image}: {source}")]
    ReadManifest {
        image: String,
        #[source]
        source: TransportError,
    },
    #[error("parsing manifest of {image}: {source}")]
    ParseManifest {
        image: String,
        #[source]
        source: ManifestError,
    },
    #[error("choosing an image from manifest list {image}: {source}")]
    ChooseInstance {
        image: String,
        #[source]
        source: ManifestError,
    },
    #[error("reading blob {digest} from the source: {source}")]
    ConfigSource {
        digest: Digest,
        #[source]
        source: TransportError,
    },
    /// The config is too large, or its bytes do not match its digest or size.
    #[error("copying blob {digest}: {source}")]
    Config {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "invalid image {image}: it has {layers} layers but its config lists {diff_ids} (rootfs.diff_ids); no runtime could unpack it"
    )]
    LayerCount {
        image: String,
        layers: usize,
        diff_ids: usize,
    },
    #[error("invalid image {image}: its config is not valid JSON: {source}")]
    ConfigJson {
        image: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading signatures of {image}: {source}")]
    ReadSignatures {
        image: String,
        #[source]
        source: TransportError,
    },
}

impl ImageError {
    /// Whether reading again may succeed (network trouble, 429, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            ImageError::ReadManifest { source, .. }
            | ImageError::ConfigSource { source, .. }
            | ImageError::ReadSignatures { source, .. } => source.is_retryable(),
            ImageError::Config { source, .. } => crate::pipeline::is_transient(source),
            _ => false,
        }
    }
}

/// An opened source image and the name it is reported by.
pub struct SourceImage {
    label: String,
    inner: Box<dyn ImageSource>,
}

impl SourceImage {
    /// Opens `name`; the caller words the failure (skopeo's texts differ per command).
    pub async fn open(name: &ImageName, opts: &OpenOptions) -> Result<SourceImage, TransportError> {
        Ok(SourceImage {
            label: name.to_string(),
            inner: transport::open_source(name, opts).await?,
        })
    }

    /// A source opened some other way (tests' in-memory doubles).
    pub fn from_transport(label: String, inner: Box<dyn ImageSource>) -> SourceImage {
        SourceImage { label, inner }
    }

    /// The transport-level source, for streaming blobs.
    pub fn transport(&self) -> &dyn ImageSource {
        self.inner.as_ref()
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The top-level manifest's bytes and the media type the source declares, unparsed
    /// (`inspect --raw` prints what it cannot parse).
    pub async fn top_raw(&self) -> Result<(Vec<u8>, Option<String>), ImageError> {
        self.inner
            .manifest(None)
            .await
            .map_err(|source| ImageError::ReadManifest {
                image: self.label.clone(),
                source,
            })
    }

    /// The top-level manifest, parsed.
    pub async fn top(&self) -> Result<Manifest, ImageError> {
        let (raw, declared) = self.top_raw().await?;
        self.parse(raw, declared.as_deref())
    }

    /// Parses manifest bytes read from this source.
    pub fn parse(&self, raw: Vec<u8>, declared: Option<&str>) -> Result<Manifest, ImageError> {
        Manifest::parse(raw, declared).map_err(|source| ImageError::ParseManifest {
            image: self.label.clone(),
            source,
        })
    }

    /// The list member `entry` names, checked against the digest the list gives it.
    pub async fn instance(&self, entry: &Descriptor) -> Result<Manifest, ImageError> {
        let (raw, declared) = self
            .inner
            .manifest(Some(&entry.digest))
            .await
            .map_err(|source| ImageError::ReadManifest {
                image: self.label.clone(),
                source,
            })?;
        let actual = entry.digest.recompute(&raw);
        if actual != entry.digest {
            return Err(ImageError::ParseManifest {
                image: self.label.clone(),
                source: ManifestError::Invalid(format!(
                    "instance {} of the list has digest {actual}",
                    entry.digest
                )),
            });
        }
        let declared =
            declared.or_else(|| Some(entry.media_type.clone()).filter(|m| !m.is_empty()));
        self.parse(raw, declared.as_deref())
    }

    /// The single image `top` stands for on `platform`: `top` itself, or the instance
    /// chosen for the platform (with its digest), through nested lists up to
    /// `MAX_LIST_DEPTH` deep.
    pub async fn single(
        &self,
        top: &Manifest,
        platform: &WantedPlatform,
    ) -> Result<(Manifest, Option<Digest>), ImageError> {
        let mut current = top.clone();
        let mut digest = None;
        for _ in 0..=MAX_LIST_DEPTH {
            let Kind::List { manifests } = &current.kind else {
                return Ok((current, digest));
            };
            let chosen = choose_instance(manifests, platform, &current.mime, &self.label)?;
            let next = self.instance(chosen).await?;
            digest = Some(chosen.digest.clone());
            current = next;
        }
        Err(self.too_deep())
    }

    /// The error for lists nested deeper than `MAX_LIST_DEPTH`.
    pub fn too_deep(&self) -> ImageError {
        ImageError::ParseManifest {
            image: self.label.clone(),
            source: ManifestError::Unsupported(format!(
                "manifest lists nested more than {MAX_LIST_DEPTH} deep"
            )),
        }
    }

    /// The config blob, size-capped and verified while it is read.
    pub async fn config(&self, config: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let too_large = config.size < 0 || config.size as u64 > MAX_CONFIG_SIZE;
        if too_large {
            return Err(ImageError::Config {
                digest: config.digest.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "config size {} is over the {MAX_CONFIG_SIZE}-byte limit",
                        config.size
                    ),
                ),
            });
        }
        let raw = self
            .inner
            .blob(config)
            .await
            .map_err(|source| ImageError::ConfigSource {
                digest: config.digest.clone(),
                source,
            })?;
        let mut bytes = Vec::with_capacity(config.size as usize);
        VerifyingReader::new(
            raw.take(MAX_CONFIG_SIZE + 1),
            config.digest.clone(),
            Some(config.size as u64),
        )
        .read_to_end(&mut bytes)
        .await
        .map_err(|source| ImageError::Config {
            digest: config.digest.clone(),
            source,
        })?;
        Ok(bytes)
    }

    /// Checks that an image config lists one diff ID per layer (an empty layer in the
    /// history has no layer and no diff ID, so the counts always match in a sound image).
    pub fn check_diff_ids(&self, config: &[u8], layers: usize) -> Result<(), ImageError> {
        let diff_ids = count_diff_ids(config).map_err(|source| ImageError::ConfigJson {
            image: self.label.clone(),
            source,
        })?;
        if diff_ids != layers {
            return Err(ImageError::LayerCount {
                image: self.label.clone(),
                layers,
                diff_ids,
            });
        }
        Ok(())
    }

    /// The signatures of the top-level manifest (`instance` None) or of a list member.
    pub async fn signatures(
        &self,
        instance: Option<&Digest>,
    ) -> Result<Vec<Signature>, ImageError> {
        self.inner
            .signatures(instance)
            .await
            .map_err(|source| ImageError::ReadSignatures {
                image: self.label.clone(),
                source,
            })
    }
}

/// How many `rootfs.diff_ids` an image config lists (none when it has no `rootfs`).
pub fn count_diff_ids(config: &[u8]) -> Result<usize, serde_json::Error> {
    diff_ids(config).map(|ids| ids.len())
}

/// An image config's `rootfs.diff_ids`, position for position (None where an entry is not
/// a digest), so that entry `i` is layer `i`'s.
pub fn diff_ids(config: &[u8]) -> Result<Vec<Option<Digest>>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Config {
        rootfs: Option<RootFs>,
    }
    #[derive(serde::Deserialize)]
    struct RootFs {
        diff_ids: Option<Vec<serde_json::Value>>,
    }
    let parsed: Config = serde_json::from_slice(config)?;
    let ids = parsed.rootfs.and_then(|r| r.diff_ids).unwrap_or_default();
    Ok(ids
        .iter()
        .map(|d| d.as_str().and_then(|s| Digest::parse(s).ok()))
        .collect())
}

/// The list member for `wanted` (containers/image's `ChooseInstance`).
pub fn choose_instance<'m>(
    manifests: &'m [Descriptor],
    wanted: &WantedPlatform,
    list_mime: &str,
    label: &str,
) -> Result<&'m Descriptor, ImageError> {
    platform::choose(manifests, wanted, list_mime).map_err(|source| ImageError::ChooseInstance {
        image: label.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_ids_keep_their_layers_positions() {
        let d = Digest::sha256_of(b"x");
        let config = format!(r#"{{"rootfs":{{"type":"layers","diff_ids":["bad","{d}"]}}}}"#);
        assert_eq!(diff_ids(config.as_bytes()).unwrap(), vec![None, Some(d)]);
        assert_eq!(count_diff_ids(config.as_bytes()).unwrap(), 2);
        assert!(diff_ids(b"{}").unwrap().is_empty());
        assert!(diff_ids(b"not json").is_err());
    }
}
