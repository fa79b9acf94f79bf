//! Manifest format conversion (`--format oci|v2s2|v2s1`), byte-compatible with skopeo 1.9.3
//! (containers/image 5.23.1, image-spec 1.1.0-rc2, Go 1.19 encoding/json).
//!
//! Everything here is pure: the caller fetches the config blob (and, for schema 1 sources,
//! computes the layers' diffIDs), and uploads what comes back (`new_config`, `extra_blobs`).
//!
//! Order of operations matches c/image: convert the *source* manifest, with `Inputs::layers`
//! telling which digest and size each source layer got at the destination. Layer changes
//! (compression, encryption) are applied afterwards by the copy engine (`copy::rewrite`)
//! on the converted manifest (its media type decides the layer types, as in c/image).

mod config;
pub(crate) mod gojson;
mod jws;
mod list;
mod plan;
mod schema1;
mod schema2_oci;
pub mod signer;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_list_plan;

use crate::digest::Digest;
use crate::manifest::{Manifest, ManifestError, mime};

pub use jws::base64url;
pub use plan::{destination_types, forced_mime, normalized};
pub use schema1::GZIPPED_EMPTY_LAYER;

/// `--format oci|v2s2|v2s1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Oci,
    Schema2,
    Schema1,
}

impl Target {
    pub fn from_format(s: &str) -> Option<Target> {
        match s {
            "oci" => Some(Target::Oci),
            "v2s2" => Some(Target::Schema2),
            "v2s1" => Some(Target::Schema1),
            _ => None,
        }
    }

    /// The target that writes image manifests of type `m` (as chosen by [`plan_types`]).
    pub fn from_mime(m: &str) -> Option<Target> {
        match m {
            mime::OCI_MANIFEST => Some(Target::Oci),
            mime::DOCKER_V2S2 => Some(Target::Schema2),
            mime::DOCKER_V2S1 | mime::DOCKER_V2S1_SIGNED => Some(Target::Schema1),
            _ => None,
        }
    }
}

/// Where the copy put a source layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub source: Digest,
    pub dest: Digest,
    pub size: i64,
}

/// The ES256 key that signs schema 1 output. c/image uses a fresh random P-256 key per
/// manifest; the signature has no meaning, registries only require one to be present.
pub trait Schema1Signer {
    /// `time.Now().UTC().Format(time.RFC3339)`, e.g. `2026-01-02T03:04:05Z`.
    fn time(&self) -> String;
    /// The public key as libtrust writes its JWK (`crv`, `kid`, `kty`, `x`, `y`, in that
    /// order) and the signature of `signing_input` (SHA-256, `r || s`, 64 bytes).
    fn sign(&self, signing_input: &[u8]) -> Result<(serde_json::Value, Vec<u8>), String>;
}

/// What a conversion needs besides the manifest.
#[derive(Default, Clone, Copy)]
pub struct Inputs<'a> {
    /// The source config blob (s2 -> OCI, anything -> schema 1).
    pub config: Option<&'a [u8]>,
    /// Schema 1 sources: the uncompressed digests of the layers, base first, either one per
    /// fsLayer or one per distinct blob (the order of `Kind::Schema1`'s layers).
    pub layer_diff_ids: Option<&'a [Digest]>,
    /// Schema 1 output embeds the repository path and tag; `None` (dir:, oci:) writes "".
    pub destination_reference: Option<(&'a str, &'a str)>,
    /// Where each source layer went; required for schema 1 sources (their sizes).
    pub layers: Option<&'a [LayerBlob]>,
    /// Signs schema 1 output; required for `Target::Schema1`.
    pub signer: Option<&'a dyn Schema1Signer>,
}

/// The result: the new manifest, and the blobs the caller must upload.
#[derive(Debug, Clone)]
pub struct Converted {
    pub manifest: Manifest,
    /// A new config blob (its digest is the manifest's config digest).
    pub new_config: Option<Vec<u8>>,
    /// Other blobs the manifest references that the source does not have (the gzipped
    /// empty layer of schema 1 `throwaway` entries).
    pub extra_blobs: Vec<Vec<u8>>,
}

fn unchanged(m: &Manifest) -> Converted {
    Converted {
        manifest: m.clone(),
        new_config: None,
        extra_blobs: vec![],
    }
}

/// Converts one image manifest to `to`. A manifest already of that type comes back as it is.
pub fn convert(m: &Manifest, to: Target, inputs: &Inputs) -> Result<Converted, ManifestError> {
    let src = normalized(&m.mime);
    if mime::is_list(src) {
        return Err(ManifestError::Update(
            "manifest lists are converted with convert_list".into(),
        ));
    }
    let target = forced_mime(to);
    let s1 = |m: &str| m == mime::DOCKER_V2S1 || m == mime::DOCKER_V2S1_SIGNED;
    if src == target {
        return Ok(unchanged(m));
    }
    let signer = || {
        inputs.signer.ok_or_else(|| {
            ManifestError::Update("writing a schema 1 manifest needs a signer".into())
        })
    };
    let need_config = || {
        inputs.config.ok_or_else(|| {
            ManifestError::Update(format!(
                "converting {src} to {target} needs the config blob"
            ))
        })
    };
    match (src, to) {
        (mime::OCI_MANIFEST, Target::Schema2) => Ok(Converted {
            manifest: schema2_oci::oci_to_schema2(m, inputs.layers)?,
            new_config: None,
            extra_blobs: vec![],
        }),
        (mime::OCI_MANIFEST, Target::Schema1) => {
            // c/image goes through schema 2 (and its refusals) first; the config is reused.
            let s2 = schema2_oci::oci_to_schema2(m, None)?;
            let (manifest, empty) = schema1::schema2_to_schema1(&s2, inputs, signer()?)?;
            Ok(with_empty(manifest, None, empty))
        }
        (mime::DOCKER_V2S2, Target::Oci) => {
            let (manifest, config) = schema2_oci::schema2_to_oci(m, need_config()?, inputs.layers)?;
            Ok(Converted {
                manifest,
                new_config: Some(config),
                extra_blobs: vec![],
            })
        }
        (mime::DOCKER_V2S2, Target::Schema1) => {
            let (manifest, empty) = schema1::schema2_to_schema1(m, inputs, signer()?)?;
            Ok(with_empty(manifest, None, empty))
        }
        (s, Target::Schema2) if s1(s) => {
            let (manifest, config) = schema1::schema1_to_schema2(m, inputs)?;
            Ok(Converted {
                manifest,
                new_config: Some(config),
                extra_blobs: vec![],
            })
        }
        (s, Target::Oci) if s1(s) => {
            let (s2, s2_config) = schema1::schema1_to_schema2(m, inputs)?;
            // The schema 2 step already placed the copied layers.
            let (manifest, config) = schema2_oci::schema2_to_oci(&s2, &s2_config, None)?;
            Ok(Converted {
                manifest,
                new_config: Some(config),
                extra_blobs: vec![],
            })
        }
        (s, Target::Schema1) if s1(s) => Err(ManifestError::Unsupported(
            "re-signing an unsigned schema 1 manifest is not implemented".into(),
        )),
        (other, _) => Err(ManifestError::Unsupported(format!(
            "Unsupported conversion type: {other} to {target}"
        ))),
    }
}

fn with_empty(manifest: Manifest, new_config: Option<Vec<u8>>, empty: bool) -> Converted {
    Converted {
        manifest,
        new_config,
        extra_blobs: if empty {
            vec![GZIPPED_EMPTY_LAYER.to_vec()]
        } else {
            vec![]
        },
    }
}

/// Lists: Docker list <-> OCI index (`Target::Schema2`/`Schema1` write a Docker list), with
/// the entries named by `instances` (old digest, new digest, new size, new media type)
/// replaced. Unchanged lists come back byte for byte.
pub fn convert_list(
    list: &Manifest,
    to: Target,
    instances: &[(Digest, Digest, usize, String)],
) -> Result<Manifest, ManifestError> {
    list::convert_list(list, to, instances)
}

/// containers/image's choice: the type to write first and the fallbacks to try, in order,
/// if the destination rejects it (or the layers' compression does not fit it). Conversion
/// is needed when the first type differs from `normalized(source_mime)`. `dest_supported`
/// empty means "anything" (see [`destination_types`]). Lists get list types.
pub fn plan_types(
    source_mime: &str,
    dest_supported: &[&str],
    forced: Option<Target>,
) -> Result<(String, Vec<String>), ManifestError> {
    plan::plan_types(source_mime, dest_supported, forced)
}
