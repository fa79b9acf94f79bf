//! The one place a manifest is rewritten from what the copy did to its layers: converted
//! to the target format if needed, each layer descriptor updated from its outcome
//! (digest, size, media type for the new compression or encryption, annotations).

use super::encryption::ENCRYPTED_SUFFIX;
use super::layer::{LayerEdit, LayerOutcome};
use crate::manifest::convert::signer::EphemeralSigner;
use crate::manifest::convert::{self, Converted, Inputs, LayerBlob, Target};
use crate::manifest::{Descriptor, Kind, Manifest, ManifestError, mime};

/// The manifest to write as `target_type`: the source converted if needed, with the layer
/// descriptors updated from the outcomes. Changes are recorded in the source format first
/// when it can describe them (zstd layers decompressed for a Docker-format target then
/// convert cleanly), else after the conversion (zstd in a schema 2 source bound for OCI).
pub fn build_manifest(
    source: &Manifest,
    target_type: &str,
    source_type: &str,
    outcomes: &[LayerOutcome],
    inputs: &Inputs<'_>,
) -> Result<Converted, ManifestError> {
    let changed = outcomes.iter().any(|o| !o.edit.is_empty());
    if target_type == source_type {
        let manifest = if changed {
            relabel(source, outcomes)?
        } else {
            source.clone()
        };
        return Ok(Converted {
            manifest,
            new_config: None,
            extra_blobs: vec![],
        });
    }
    let to = Target::from_mime(target_type).ok_or_else(|| {
        ManifestError::Unsupported(format!("cannot convert an image to {target_type}"))
    })?;
    let signer = match to {
        Target::Schema1 => Some(EphemeralSigner::new().map_err(ManifestError::Update)?),
        _ => None,
    };
    let signer = signer.as_ref().map(|s| s as &dyn convert::Schema1Signer);
    if changed && let Ok(relabeled) = relabel(source, outcomes) {
        // The relabeled manifest already names the stored blobs.
        return convert::convert(
            &relabeled,
            to,
            &Inputs {
                layers: None,
                signer,
                ..*inputs
            },
        );
    }
    let blobs: Vec<LayerBlob> = outcomes
        .iter()
        .map(|o| LayerBlob {
            source: o.source.digest.clone(),
            dest: o.stored.digest.clone(),
            size: o.stored.size as i64,
        })
        .collect();
    let converted = convert::convert(
        source,
        to,
        &Inputs {
            layers: Some(&blobs),
            signer,
            ..*inputs
        },
    )?;
    if !changed {
        return Ok(converted);
    }
    Ok(Converted {
        manifest: relabel(&converted.manifest, outcomes)?,
        ..converted
    })
}

/// `m` with each edited layer's descriptor updated from its outcome.
fn relabel(m: &Manifest, outcomes: &[LayerOutcome]) -> Result<Manifest, ManifestError> {
    let Kind::Image { layers, .. } = &m.kind else {
        return Err(ManifestError::Update(
            "only image manifests can record layer changes".into(),
        ));
    };
    let relabeled = layers
        .iter()
        .zip(outcomes)
        .map(|(l, o)| {
            if o.edit.is_empty() {
                Ok(l.clone())
            } else {
                apply(&m.mime, l, o)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    m.with_layers(&relabeled)
}

/// `layer` (as `manifest_mime` describes it) as the outcome left it.
pub fn apply(
    manifest_mime: &str,
    layer: &Descriptor,
    outcome: &LayerOutcome,
) -> Result<Descriptor, ManifestError> {
    let edit: &LayerEdit = &outcome.edit;
    let was_encrypted = layer.media_type.ends_with(ENCRYPTED_SUFFIX);
    let plain_type = layer
        .media_type
        .strip_suffix(ENCRYPTED_SUFFIX)
        .unwrap_or(&layer.media_type);
    let mut media_type = match edit.compression {
        Some(c) => mime::layer_variant(manifest_mime, plain_type, c)
            .map_err(|e| ManifestError::Update(format!("layer {}: {e}", layer.digest)))?,
        None => plain_type.to_string(),
    };
    if edit.encrypted.unwrap_or(was_encrypted) {
        if manifest_mime != mime::OCI_MANIFEST {
            return Err(ManifestError::Update(format!(
                "layer {}: encrypted layers can only be described by OCI manifests, not {manifest_mime}",
                layer.digest
            )));
        }
        media_type.push_str(ENCRYPTED_SUFFIX);
    }
    let mut annotations = layer.annotations.clone().unwrap_or_default();
    for (key, value) in &edit.annotations {
        match value {
            Some(v) => annotations.insert(key.clone(), v.clone().into()),
            None => annotations.remove(key),
        };
    }
    Ok(Descriptor {
        media_type,
        digest: outcome.stored.digest.clone(),
        size: i64::try_from(outcome.stored.size).unwrap_or(i64::MAX),
        annotations: (!annotations.is_empty() || layer.annotations.is_some())
            .then_some(annotations),
        ..layer.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::pipeline::Compression;
    use crate::transport::BlobInfo;

    fn outcome(layer: &Descriptor, edit: LayerEdit) -> LayerOutcome {
        LayerOutcome {
            source: layer.clone(),
            stored: BlobInfo {
                digest: Digest::sha256_of(b"new"),
                size: 3,
            },
            edit,
        }
    }

    fn layer(media_type: &str) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: Digest::sha256_of(b"old"),
            size: 7,
            urls: vec![],
            annotations: None,
            platform: None,
        }
    }

    #[test]
    fn encryption_changes_type_and_annotations() {
        let l = layer(mime::OCI_LAYER_GZIP);
        let edit = LayerEdit {
            encrypted: Some(true),
            annotations: vec![(
                "org.opencontainers.image.enc.keys.jwe".into(),
                Some("k".into()),
            )],
            ..LayerEdit::default()
        };
        let out = apply(mime::OCI_MANIFEST, &l, &outcome(&l, edit)).unwrap();
        assert_eq!(
            out.media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
        );
        assert_eq!(out.digest, Digest::sha256_of(b"new"));
        assert_eq!(out.size, 3);
        assert_eq!(
            out.annotations.unwrap()["org.opencontainers.image.enc.keys.jwe"],
            "k"
        );
        // Docker formats cannot describe it.
        let l = layer(mime::DOCKER_LAYER_GZIP);
        let edit = LayerEdit {
            encrypted: Some(true),
            ..LayerEdit::default()
        };
        assert!(apply(mime::DOCKER_V2S2, &l, &outcome(&l, edit)).is_err());
    }

    #[test]
    fn decryption_and_recompression_restore_a_plain_type() {
        let mut l = layer("application/vnd.oci.image.layer.v1.tar+gzip+encrypted");
        l.annotations = Some(
            [(
                "org.opencontainers.image.enc.pubopts".to_string(),
                "x".into(),
            )]
            .into_iter()
            .collect(),
        );
        let edit = LayerEdit {
            encrypted: Some(false),
            compression: Some(Some(Compression::Zstd)),
            annotations: vec![("org.opencontainers.image.enc.pubopts".into(), None)],
        };
        let out = apply(mime::OCI_MANIFEST, &l, &outcome(&l, edit)).unwrap();
        assert_eq!(out.media_type, mime::OCI_LAYER_ZSTD);
        assert_eq!(out.annotations, Some(Default::default()));
        // Without an encryption change, an encrypted layer keeps its suffix.
        let edit = LayerEdit {
            compression: Some(None),
            ..LayerEdit::default()
        };
        let out = apply(mime::OCI_MANIFEST, &l, &outcome(&l, edit)).unwrap();
        assert_eq!(
            out.media_type,
            "application/vnd.oci.image.layer.v1.tar+encrypted"
        );
    }
}
