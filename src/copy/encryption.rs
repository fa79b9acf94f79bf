//! Which layers of one image are encrypted or decrypted (containers/image's
//! `copy/encryption.go`), decided before any blob moves: every encrypted layer's key is
//! unwrapped here, so a layer no key opens fails the copy with nothing written.

use std::sync::Arc;

use serde_json::Value;

use super::error::CopyError;
use crate::crypt::{self, DecryptionKeys, LayerSecrets, Recipients};
use crate::digest::Digest;
use crate::manifest::{Descriptor, mime};

/// The suffix ocicrypt adds to the media type of an encrypted layer.
pub const ENCRYPTED_SUFFIX: &str = "+encrypted";

/// `--encryption-key` (with `--encrypt-layer`) or `--decryption-key`, for the engine.
#[derive(Debug, Clone)]
pub enum CryptOptions {
    /// Encrypt the layers at these indices (0-based, negative from the end; empty: all).
    Encrypt {
        recipients: Arc<Recipients>,
        layers: Vec<i64>,
    },
    Decrypt(Arc<DecryptionKeys>),
}

/// What happens to one layer's bytes on the way.
#[derive(Debug)]
pub enum LayerCrypto {
    /// Encrypt for these recipients (a fresh key per layer).
    Encrypt(Arc<Recipients>),
    /// Decrypt with these secrets; `or_uncompressed`: the recorded plaintext digest is
    /// the layer's diff ID (see `crypt::Expected`).
    Decrypt {
        secrets: LayerSecrets,
        or_uncompressed: bool,
    },
}

pub fn is_encrypted(media_type: &str) -> bool {
    media_type.ends_with(ENCRYPTED_SUFFIX)
}

/// The media type without ocicrypt's suffix.
pub fn plain_type(media_type: &str) -> &str {
    media_type
        .strip_suffix(ENCRYPTED_SUFFIX)
        .unwrap_or(media_type)
}

/// One entry per layer: what to do to it, if anything. `config`: the image config, when
/// it is one (its diff IDs matter to decryption); `frozen`: why the manifest may not
/// change (`--preserve-digests`, signatures kept), if it may not.
pub(crate) fn plan(
    opts: Option<&CryptOptions>,
    config: Option<&[u8]>,
    layers: &[Descriptor],
    frozen: Option<&str>,
) -> Result<Vec<Option<LayerCrypto>>, CopyError> {
    match opts {
        None => Ok(layers.iter().map(|_| None).collect()),
        Some(CryptOptions::Encrypt {
            recipients,
            layers: chosen,
        }) => plan_encryption(recipients, chosen, layers, frozen),
        Some(CryptOptions::Decrypt(keys)) => {
            let diff_ids = config
                .and_then(|c| crate::image::diff_ids(c).ok())
                .unwrap_or_default();
            // As skopeo: an image with nothing encrypted copies as it is.
            plan_decryption(keys, layers, &diff_ids, frozen)
        }
    }
}

fn plan_encryption(
    recipients: &Arc<Recipients>,
    chosen: &[i64],
    layers: &[Descriptor],
    frozen: Option<&str>,
) -> Result<Vec<Option<LayerCrypto>>, CopyError> {
    let selected = selected_layers(chosen, layers.len())?;
    layers
        .iter()
        .zip(selected)
        .map(|(l, selected)| {
            // Layers encrypted already are kept as they are (with their recipients).
            if !selected || is_encrypted(&l.media_type) {
                return Ok(None);
            }
            if let Some(reason) = frozen {
                return Err(CopyError::Refused(format!(
                    "layer {} should be encrypted, but we can’t modify the manifest: {reason}",
                    l.digest
                )));
            }
            if mime::declared_compression(&l.media_type).is_none() {
                return Err(CopyError::Refused(format!(
                    "layer {}: unsupported mediaType to encrypt: {:?}",
                    l.digest, l.media_type
                )));
            }
            Ok(Some(LayerCrypto::Encrypt(recipients.clone())))
        })
        .collect()
}

/// `--encrypt-layer` indices as containers/image reads them (newest wording for an index
/// out of range; 5.23 wrapped it around silently).
fn selected_layers(chosen: &[i64], total: usize) -> Result<Vec<bool>, CopyError> {
    if chosen.is_empty() {
        return Ok(vec![true; total]);
    }
    let mut selected = vec![false; total];
    let n = i64::try_from(total).unwrap_or(i64::MAX);
    for &index in chosen {
        let at = if index < 0 { index + n } else { index };
        match usize::try_from(at).ok().filter(|&i| i < total) {
            Some(i) => selected[i] = true,
            None => {
                return Err(CopyError::Refused(format!(
                    "when choosing layers to encrypt, layer index {index} out of range ({total} layers exist)"
                )));
            }
        }
    }
    Ok(selected)
}

fn plan_decryption(
    keys: &DecryptionKeys,
    layers: &[Descriptor],
    diff_ids: &[Option<Digest>],
    frozen: Option<&str>,
) -> Result<Vec<Option<LayerCrypto>>, CopyError> {
    layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if !is_encrypted(&l.media_type) {
                return Ok(None);
            }
            if let Some(reason) = frozen {
                return Err(CopyError::Refused(format!(
                    "layer {} should be decrypted, but we can’t modify the manifest: {reason}",
                    l.digest
                )));
            }
            let annotations = l.annotations.as_ref();
            let secrets = crypt::open_layer(keys, |key| {
                annotations.and_then(|a| a.get(key)).and_then(Value::as_str)
            })
            .map_err(|source| CopyError::Decrypt {
                digest: l.digest.clone(),
                source,
            })?;
            let or_uncompressed =
                diff_ids.get(i).and_then(Option::as_ref) == Some(&secrets.private.digest);
            Ok(Some(LayerCrypto::Decrypt {
                secrets,
                or_uncompressed,
            }))
        })
        .collect()
}

/// The annotation edits of a decrypted layer: every ocicrypt annotation goes.
pub fn decrypted_annotations(layer: &Descriptor) -> Vec<(String, Option<String>)> {
    layer
        .annotations
        .iter()
        .flat_map(|a| a.keys())
        .filter(|k| k.starts_with(crypt::ANNOTATION_PREFIX))
        .map(|k| (k.clone(), None))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_indices_count_from_either_end() {
        assert_eq!(selected_layers(&[], 3).unwrap(), [true, true, true]);
        assert_eq!(selected_layers(&[-1], 3).unwrap(), [false, false, true]);
        assert_eq!(selected_layers(&[0, -1], 3).unwrap(), [true, false, true]);
        assert_eq!(selected_layers(&[1, -2], 3).unwrap(), [false, true, false]);
        for bad in [3, -4] {
            let err = selected_layers(&[bad], 3).unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "when choosing layers to encrypt, layer index {bad} out of range (3 layers exist)"
                )
            );
        }
    }
}
