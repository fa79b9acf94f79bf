//! Which manifest types to try writing for one image, in order (containers/image's
//! `determineManifestConversion` plus its fallbacks), decided before any blob moves.

use super::error::CopyError;
use crate::manifest::convert::{self, Target};
use crate::manifest::{Manifest, mime};
use crate::pipeline::Compression;
use crate::transport::DestCaps;

/// What the choice depends on besides the image.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// `--format`, or the format a list being converted forces on its members.
    pub forced: Option<Target>,
    /// `--dest-compress-format`.
    pub compression: Option<Compression>,
    /// Why the manifest must not change (`--preserve-digests`, signatures kept), if it must not.
    pub frozen: Option<&'static str>,
    /// Some layer will be encrypted: only OCI manifests can describe it.
    pub encrypt: bool,
}

/// The manifest types to try, best first: the first is written unless the destination
/// refuses it, then the next. Refuses up front a conversion that the image may not
/// undergo (digests preserved, signatures kept).
pub fn candidates(
    image: &Manifest,
    caps: &DestCaps,
    wanted: &Wanted,
) -> Result<Vec<String>, CopyError> {
    let source_type = convert::normalized(&image.mime);
    if wanted.encrypt {
        return for_encryption(caps, wanted);
    }
    let (first, fallbacks) = convert::plan_types(&image.mime, caps.manifest_types, wanted.forced)?;
    let mut candidates = vec![first];
    candidates.extend(fallbacks);
    // zstd layers cannot be described by Docker formats: fall back to OCI as c/image does.
    let takes_oci =
        caps.manifest_types.is_empty() || caps.manifest_types.contains(&mime::OCI_MANIFEST);
    if !mime::can_carry(&candidates[0], wanted.compression)
        && wanted.forced.is_none()
        && takes_oci
        && !candidates.iter().any(|c| c == mime::OCI_MANIFEST)
    {
        candidates.push(mime::OCI_MANIFEST.to_string());
    }
    if let Some(reason) = wanted.frozen
        && candidates[0] != source_type
    {
        return Err(CopyError::Refused(format!(
            "Copying this image would require a manifest conversion from {source_type} to {}, which cannot be done: {reason}",
            candidates[0]
        )));
    }
    Ok(candidates)
}

/// The one manifest type that can describe encrypted layers, OCI (containers/image
/// restricts the candidates the same way, with these refusals). A destination that takes
/// any type gets OCI, converted if need be (skopeo 1.9.3 fails there with "no candidate
/// MIME types"); one that takes no OCI is refused before anything is written (skopeo
/// 1.9.3 wrote the encrypted layers under a Docker manifest, keys lost).
fn for_encryption(caps: &DestCaps, wanted: &Wanted) -> Result<Vec<String>, CopyError> {
    if let Some(forced) = wanted.forced
        && forced != Target::Oci
    {
        let name = match forced {
            Target::Schema2 => mime::DOCKER_V2S2,
            _ => mime::DOCKER_V2S1_SIGNED,
        };
        return Err(CopyError::Refused(format!(
            "encryption required together with format {name}, which does not support encryption"
        )));
    }
    if !caps.manifest_types.is_empty() && !caps.manifest_types.contains(&mime::OCI_MANIFEST) {
        return Err(CopyError::Refused(format!(
            "encryption required but the destination only supports MIME types [{}], none of which support encryption",
            caps.manifest_types.join(", ")
        )));
    }
    Ok(vec![mime::OCI_MANIFEST.to_string()])
}

/// Whether the config can travel unchanged alongside the layers: the first candidate
/// keeps the source format and can carry the requested compression (otherwise the copy
/// may end in another format, whose config is a different blob).
pub fn config_unchanged(image: &Manifest, candidates: &[String], wanted: &Wanted) -> bool {
    candidates[0] == convert::normalized(&image.mime)
        && mime::can_carry(&candidates[0], wanted.compression)
}
