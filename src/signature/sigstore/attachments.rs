//! Sigstore attachments in a registry, as cosign and c/image store them: the tag
//! `sha256-<manifest hex>.sig` in the image's repository holds an OCI manifest whose
//! layers are the signatures' payloads (media type = the signature's MIME type,
//! annotations = the signature's annotations), with a config listing their digests as
//! diff IDs. New signatures are appended; one already there is not added twice.
//!
//! This module only builds and reads those documents; `transport::docker` moves them.

use crate::digest::Digest;
use crate::manifest::{Descriptor, mime};
use crate::signature::SigstoreSignature;

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("unexpected MIME type for sigstore attachment manifest {tag}: {mime:?}")]
    MimeType { tag: String, mime: String },
    #[error("parsing manifest {tag}: {detail}")]
    Manifest { tag: String, detail: String },
    #[error("parsing sigstore attachment config {digest}: {detail}")]
    Config { digest: String, detail: String },
}

/// `sigstoreAttachmentTag`: `sha256:abc…` -> `sha256-abc….sig`.
pub fn tag_for(manifest_digest: &Digest) -> String {
    format!(
        "{}-{}.sig",
        manifest_digest.algorithm().name(),
        manifest_digest.hex()
    )
}

/// A parsed attachment manifest, kept as JSON so fields skiff does not model survive an
/// append.
#[derive(Debug, Clone)]
pub struct AttachmentManifest {
    value: serde_json::Value,
    tag: String,
}

/// One attachment: a layer whose blob is a signature's payload.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub descriptor: Descriptor,
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl AttachmentManifest {
    /// Checks the MIME type the registry gave and parses the manifest.
    pub fn parse(
        tag: &str,
        mime_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<AttachmentManifest, AttachmentError> {
        if let Some(m) = mime_type
            && m != mime::OCI_MANIFEST
        {
            return Err(AttachmentError::MimeType {
                tag: tag.to_string(),
                mime: m.to_string(),
            });
        }
        let bad = |detail: String| AttachmentError::Manifest {
            tag: tag.to_string(),
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if let Some(m) = value.get("mediaType").and_then(|m| m.as_str())
            && m != mime::OCI_MANIFEST
        {
            return Err(bad(format!("unexpected media type {m:?}")));
        }
        let out = AttachmentManifest {
            value,
            tag: tag.to_string(),
        };
        out.config().map_err(bad)?;
        out.attachments().map_err(bad)?;
        Ok(out)
    }

    /// The config descriptor.
    pub fn config(&self) -> Result<Descriptor, String> {
        serde_json::from_value(self.value.get("config").cloned().unwrap_or_default())
            .map_err(|e| format!("config: {e}"))
    }

    /// Every layer, in order.
    pub fn attachments(&self) -> Result<Vec<Attachment>, String> {
        let layers = match self.value.get("layers") {
            None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
            Some(serde_json::Value::Array(l)) => l,
            Some(_) => return Err("layers: not an array".into()),
        };
        layers
            .iter()
            .map(|l| {
                let descriptor: Descriptor =
                    serde_json::from_value(l.clone()).map_err(|e| format!("layer: {e}"))?;
                let annotations = match l.get("annotations") {
                    None | Some(serde_json::Value::Null) => Default::default(),
                    Some(a) => serde_json::from_value(a.clone())
                        .map_err(|e| format!("layer annotations: {e}"))?,
                };
                Ok(Attachment {
                    descriptor,
                    annotations,
                })
            })
            .collect()
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }
}

/// What to upload to add signatures: payload blobs, the new config, the new manifest.
#[derive(Debug, Clone)]
pub struct Update {
    /// (digest, bytes) of each new payload.
    pub payloads: Vec<(Digest, Vec<u8>)>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

/// `putSignaturesToSigstoreAttachments`: `existing` (the manifest and its config's
/// bytes, if the tag exists) plus `signatures` not already there. None when every
/// signature is already stored (nothing to write).
pub fn append(
    existing: Option<(&AttachmentManifest, &[u8])>,
    signatures: &[SigstoreSignature],
) -> Result<Option<Update>, AttachmentError> {
    let (mut manifest, mut config, present) = match existing {
        Some((m, config_bytes)) => {
            let config_digest = m.config().map(|c| c.digest.to_string()).unwrap_or_default();
            let config: serde_json::Value =
                serde_json::from_slice(config_bytes).map_err(|e| AttachmentError::Config {
                    digest: config_digest,
                    detail: e.to_string(),
                })?;
            let present = m.attachments().unwrap_or_default();
            (m.value.clone(), config, present)
        }
        None => (
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": mime::OCI_MANIFEST,
                "config": {"mediaType": mime::OCI_CONFIG, "digest": "", "size": 0},
                "layers": [],
            }),
            serde_json::json!({
                "architecture": "",
                "os": "",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
            }),
            Vec::new(),
        ),
    };
    let mut payloads: Vec<(Digest, Vec<u8>)> = Vec::new();
    let mut added: Vec<&SigstoreSignature> = Vec::new();
    for sig in signatures {
        let digest = Digest::sha256_of(&sig.payload);
        // As c/image: a layer matches on type, payload and annotations (two signatures of
        // one payload made in the same second differ only in their annotations).
        let already = present.iter().any(|a| {
            a.descriptor.media_type == sig.mime_type
                && a.descriptor.size == sig.payload.len() as i64
                && a.descriptor.digest == digest
                && a.annotations == sig.annotations
        }) || added.contains(&sig);
        if already {
            continue;
        }
        added.push(sig);
        let mut layer = serde_json::json!({
            "mediaType": sig.mime_type,
            "digest": digest.to_string(),
            "size": sig.payload.len(),
        });
        if !sig.annotations.is_empty() {
            layer["annotations"] = serde_json::to_value(&sig.annotations).unwrap_or_default();
        }
        push(&mut manifest, "layers", layer);
        let rootfs = config.as_object_mut().map(|c| {
            c.entry("rootfs")
                .or_insert_with(|| serde_json::json!({"type": "layers"}))
        });
        if let Some(rootfs) = rootfs {
            push(
                rootfs,
                "diff_ids",
                serde_json::Value::String(digest.to_string()),
            );
        }
        if !payloads.iter().any(|(d, _)| *d == digest) {
            payloads.push((digest, sig.payload.clone()));
        }
    }
    if added.is_empty() {
        return Ok(None);
    }
    let config_bytes = serde_json::to_vec(&config).unwrap_or_default();
    manifest["config"] = serde_json::json!({
        "mediaType": mime::OCI_CONFIG,
        "digest": Digest::sha256_of(&config_bytes).to_string(),
        "size": config_bytes.len(),
    });
    Ok(Some(Update {
        payloads,
        manifest: serde_json::to_vec(&manifest).unwrap_or_default(),
        config: config_bytes,
    }))
}

/// Appends to the array `key` of an object (creating it).
fn push(object: &mut serde_json::Value, key: &str, item: serde_json::Value) {
    if let Some(map) = object.as_object_mut() {
        let entry = map.entry(key).or_insert_with(|| serde_json::json!([]));
        if !entry.is_array() {
            *entry = serde_json::json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            list.push(item);
        }
    }
}

/// The signature an attachment layer and its payload make.
pub fn signature_of(attachment: &Attachment, payload: Vec<u8>) -> SigstoreSignature {
    SigstoreSignature {
        mime_type: attachment.descriptor.media_type.clone(),
        payload,
        annotations: attachment.annotations.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{SIGSTORE_PAYLOAD_TYPE, SIGSTORE_SIGNATURE_ANNOTATION};

    fn sig(payload: &str, signature: &str) -> SigstoreSignature {
        SigstoreSignature {
            mime_type: SIGSTORE_PAYLOAD_TYPE.into(),
            payload: payload.as_bytes().to_vec(),
            annotations: [(
                SIGSTORE_SIGNATURE_ANNOTATION.to_string(),
                signature.to_string(),
            )]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn tags_name_the_manifest_digest() {
        let d = Digest::sha256_of(b"m");
        assert_eq!(tag_for(&d), format!("sha256-{}.sig", d.hex()));
    }

    #[test]
    fn a_new_manifest_has_c_images_shape() {
        let update = append(None, &[sig("{}", "c2ln")]).unwrap().unwrap();
        let payload_digest = Digest::sha256_of(b"{}");
        assert_eq!(
            String::from_utf8(update.config.clone()).unwrap(),
            format!(
                "{{\"architecture\":\"\",\"os\":\"\",\"config\":{{}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{payload_digest}\"]}}}}"
            )
        );
        assert_eq!(
            String::from_utf8(update.manifest.clone()).unwrap(),
            format!(
                "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{}\",\"size\":{}}},\"layers\":[{{\"mediaType\":\"{SIGSTORE_PAYLOAD_TYPE}\",\"digest\":\"{payload_digest}\",\"size\":2,\"annotations\":{{\"dev.cosignproject.cosign/signature\":\"c2ln\"}}}}]}}",
                Digest::sha256_of(&update.config),
                update.config.len()
            )
        );
        assert_eq!(update.payloads, vec![(payload_digest, b"{}".to_vec())]);
    }

    #[test]
    fn appending_keeps_what_is_there_and_skips_duplicates() {
        let first = append(None, &[sig("{}", "c2ln")]).unwrap().unwrap();
        let parsed =
            AttachmentManifest::parse("t", Some(mime::OCI_MANIFEST), &first.manifest).unwrap();
        assert!(
            append(Some((&parsed, &first.config)), &[sig("{}", "c2ln")])
                .unwrap()
                .is_none()
        );
        let second = append(
            Some((&parsed, &first.config)),
            &[sig("{\"a\":1}", "b3RoZXI=")],
        )
        .unwrap()
        .unwrap();
        let parsed =
            AttachmentManifest::parse("t", Some(mime::OCI_MANIFEST), &second.manifest).unwrap();
        let layers = parsed.attachments().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(
            layers[1].annotations[SIGSTORE_SIGNATURE_ANNOTATION],
            "b3RoZXI="
        );
        let config: serde_json::Value = serde_json::from_slice(&second.config).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        assert_eq!(second.payloads.len(), 1);
    }

    #[test]
    fn signatures_of_one_payload_are_kept_apart_by_their_annotations() {
        let sigs = [sig("{}", "c2ln"), sig("{}", "b3RoZXI="), sig("{}", "c2ln")];
        let update = append(None, &sigs).unwrap().unwrap();
        let parsed =
            AttachmentManifest::parse("t", Some(mime::OCI_MANIFEST), &update.manifest).unwrap();
        let layers = parsed.attachments().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(
            layers[1].annotations[SIGSTORE_SIGNATURE_ANNOTATION],
            "b3RoZXI="
        );
        assert_eq!(update.payloads.len(), 1, "one blob for the shared payload");
    }

    #[test]
    fn refuses_other_manifest_types() {
        let err = AttachmentManifest::parse("x.sig", Some(mime::DOCKER_V2S2), b"{}").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unexpected MIME type for sigstore attachment manifest x.sig")
        );
    }
}
