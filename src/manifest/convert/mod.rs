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
//!
//! `api` has the types a conversion takes and gives; one module per conversion.

mod api;
mod config;
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
use crate::manifest::error::ManifestError;
use crate::manifest::mime;
use crate::manifest::model::Manifest;

pub use api::{Converted, Inputs, LayerBlob, Schema1Signer, Target};
pub use jws::base64url;
pub use plan::{destination_types, forced_mime, normalized};
pub use schema1::{GZIPPED_EMPTY_LAYER, GZIPPED_EMPTY_LAYER_DIGEST};

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
