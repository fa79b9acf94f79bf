//! The `signedBy` requirement (c/image `policy_eval_signedby.go`): the image is admitted
//! when one of its simple-signing signatures verifies with the configured GPG keys,
//! signs this manifest, and claims an identity the `signedIdentity` rule accepts.
//! Rejections carry c/image's texts; with several signatures, every reason is listed.

use super::error::go_io_cause;
use super::identity::ReferenceMatch;
use super::image::PolicyImage;
use super::model::{KeySource, KeyType};
use crate::digest::{Algorithm, Digest};
use crate::signature::Signature;
use crate::signature::openpgp::Keyring;
use crate::signature::simple::Payload;

/// Why `signedBy` does not admit the image, as c/image words it.
pub type Rejection = String;

/// `prSignedBy.isRunningImageAllowed`.
pub fn check(
    key_type: KeyType,
    keys: &KeySource,
    identity: &ReferenceMatch,
    image: &PolicyImage<'_>,
) -> Result<(), Rejection> {
    let signatures: Vec<&[u8]> = image
        .signatures
        .iter()
        .filter_map(|s| match s {
            Signature::SimpleSigning(bytes) => Some(bytes.as_slice()),
            // signedBy only ever looks at simple signing (c/image `UnparsedImage.Signatures`).
            Signature::Sigstore(_) => None,
        })
        .collect();
    // Keys are read once, and only when there is a signature to check.
    let mut keyring: Option<Result<Keyring, Rejection>> = None;
    let mut rejections = Vec::new();
    for sig in signatures {
        let ring = keyring.get_or_insert_with(|| load_keyring(key_type, keys));
        let verdict = match ring {
            Ok(ring) => accept(ring, sig, identity, image),
            Err(e) => Err(e.clone()),
        };
        match verdict {
            Ok(()) => return Ok(()),
            Err(reason) => rejections.push(reason),
        }
    }
    Err(match rejections.len() {
        0 => "A signature was required, but no signature exists".to_string(),
        1 => rejections.remove(0),
        _ => format!(
            "None of the signatures were accepted, reasons: {}",
            rejections.join("; ")
        ),
    })
}

/// The keys of the requirement as an ephemeral keyring.
fn load_keyring(key_type: KeyType, keys: &KeySource) -> Result<Keyring, Rejection> {
    let name = match key_type {
        KeyType::GpgKeys => None,
        KeyType::SignedByGpgKeys => Some("signedByGPGKeys"),
        KeyType::X509Certificates => Some("X509Certificates"),
        KeyType::SignedByX509Cas => Some("signedByX509CAs"),
    };
    if let Some(name) = name {
        return Err(format!("Unimplemented \"keyType\" value \"{name}\""));
    }
    let ring = Keyring::from_blobs(&load_key_blobs(keys)?);
    if ring.is_empty() {
        return Err("No public keys imported".to_string());
    }
    Ok(ring)
}

/// `keyPath`, `keyPaths` or `keyData` as bytes (c/image `loadBytesFromConfigSources`);
/// a file that cannot be read fails with Go's `open PATH: …` text.
pub fn load_key_blobs(keys: &KeySource) -> Result<Vec<Vec<u8>>, Rejection> {
    match keys {
        KeySource::Path(p) => Ok(vec![read_key_file(p)?]),
        KeySource::Paths(ps) => ps.iter().map(|p| read_key_file(p)).collect(),
        KeySource::Data(d) => Ok(vec![d.clone()]),
    }
}

pub(super) fn read_key_file(path: &str) -> Result<Vec<u8>, Rejection> {
    use std::io::Read;
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("open {path}: {}", go_io_cause(&e)))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| format!("read {path}: {}", go_io_cause(&e)))?;
    Ok(bytes)
}

/// `isSignatureAuthorAccepted` for one signature: verify, then the payload's digest, then
/// its identity (c/image's order).
fn accept(
    ring: &Keyring,
    sig: &[u8],
    identity: &ReferenceMatch,
    image: &PolicyImage<'_>,
) -> Result<(), Rejection> {
    let verified = ring.verify(sig).map_err(|e| e.to_string())?;
    let payload = Payload::parse(&verified.payload).map_err(|e| e.to_string())?;
    let digest = &payload.docker_manifest_digest;
    if !manifest_matches(image.manifest, digest)? {
        return Err(format!("Signature for digest {digest} does not match"));
    }
    let signed = &payload.docker_reference;
    if !identity.matches_docker_reference(image.docker_reference, signed) {
        return Err(format!(
            "Signature for identity \"{signed}\" is not accepted"
        ));
    }
    Ok(())
}

/// c/image `manifest.MatchesDigest`: a signed schema 1 manifest is digested without its
/// JWS signatures.
pub fn manifest_matches(manifest: &[u8], digest: &Digest) -> Result<bool, Rejection> {
    if digest.algorithm() == Algorithm::Sha256 {
        let actual = crate::manifest::manifest_digest(manifest).map_err(|e| e.to_string())?;
        Ok(&actual == digest)
    } else {
        Ok(&digest.recompute(manifest) == digest)
    }
}
