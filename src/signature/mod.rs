//! Image signatures as transports carry them: simple signing (an OpenPGP message) or
//! sigstore (a payload, its MIME type and annotations holding the signature). Everything
//! here is untrusted until the policy verifies it; this module only says what kind of
//! signature a blob is and moves it between its stored forms.
//!
//! The serialised form is containers/image's (`internal/signature`), so `dir:` can hold
//! both kinds: a simple-signing signature is its bytes (an OpenPGP message never starts
//! with a zero byte); anything else is `\0` + a format name + `\n` + the format's bytes,
//! and sigstore's format is `sigstore-json`.
//!
//! `simple` is the simple-signing payload (containers-signature(5)), `openpgp` verifies
//! simple signing with public keys, `gpg` signs through the user's GnuPG.

pub mod gpg;
pub mod keybox;
pub mod openpgp;
pub mod simple;

pub mod sigstore;

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A signature's MIME type in sigstore's simple-signing form (cosign).
pub const SIGSTORE_PAYLOAD_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// The annotation holding a sigstore signature (base64 of the DER ECDSA signature).
pub const SIGSTORE_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

const SIGSTORE_FORMAT: &str = "sigstore-json";
const SIMPLE_SIGNING_FORMAT: &str = "simple-signing";

/// The most signatures read for one manifest, and the most bytes in one and in all of
/// them: signatures are read into memory, and a source must not make that unbounded.
pub const MAX_SIGNATURES: usize = 128;
pub const MAX_SIGNATURE_SIZE: u64 = 4 * 1024 * 1024;
pub const MAX_SIGNATURES_TOTAL_SIZE: u64 = 16 * 1024 * 1024;

/// Counts signatures as a source reads them (each read capped at `MAX_SIGNATURE_SIZE`),
/// against the limits above.
#[derive(Debug, Default)]
pub struct ReadBudget {
    count: usize,
    bytes: u64,
}

impl ReadBudget {
    /// Records a signature of `len` bytes; an error once there are too many or too much.
    pub fn add(&mut self, len: usize) -> Result<(), SignatureError> {
        self.count += 1;
        self.bytes += len as u64;
        if self.count > MAX_SIGNATURES {
            return Err(SignatureError::TooMany(MAX_SIGNATURES));
        }
        if self.bytes > MAX_SIGNATURES_TOTAL_SIZE {
            return Err(SignatureError::TooLarge(MAX_SIGNATURES_TOTAL_SIZE));
        }
        Ok(())
    }
}

/// Why a stored signature cannot be read; the texts are containers/image's.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("empty signature blob")]
    Empty,
    #[error("unrecognized signature format \"{0}\"")]
    UnknownFormat(String),
    #[error("invalid signature format, missing newline")]
    Truncated,
    #[error("invalid signature format, non-ASCII byte {0:#x}")]
    NonAsciiFormat(u8),
    #[error("unrecognized signature format, starting with binary {0:#x}")]
    UnknownStart(u8),
    #[error("invalid sigstore signature: {0}")]
    Sigstore(#[source] serde_json::Error),
    #[error("more than {0} signatures for one image")]
    TooMany(usize),
    #[error("signatures of one image total more than {0} bytes")]
    TooLarge(u64),
}

/// Whether `first` can start an OpenPGP signed message as containers/image recognises
/// one: a compressed data, one-pass signature or signature packet (old or new format).
fn starts_openpgp_message(first: u8) -> bool {
    matches!(
        first,
        0xA0..=0xA3 | 0xC8 | 0x90..=0x92 | 0x3d | 0xC4 | 0x88..=0x8B | 0xC2
    )
}

/// One untrusted signature, as read from a source or made by signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// A simple-signing signature: an OpenPGP message whose literal data is the
    /// containers-signature(5) JSON.
    SimpleSigning(Vec<u8>),
    /// A sigstore signature: the payload, its MIME type and the annotations that carry
    /// the signature itself (and certificates, bundles).
    Sigstore(SigstoreSignature),
}

/// The parts of a sigstore signature, as a registry attachment layer holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreSignature {
    pub mime_type: String,
    pub payload: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

/// containers/image's JSON for a sigstore signature (keys in this order).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SigstoreJson {
    #[serde(rename = "mimeType")]
    mime_type: String,
    #[serde(with = "base64_std")]
    payload: Vec<u8>,
    annotations: BTreeMap<String, String>,
}

impl Signature {
    /// Reads a stored signature (a `dir:` `signature-N` file, a lookaside blob).
    pub fn from_blob(blob: &[u8]) -> Result<Signature, SignatureError> {
        match blob.first() {
            None => Err(SignatureError::Empty),
            Some(0) => {
                let rest = &blob[1..];
                let end = rest
                    .iter()
                    .position(|b| *b == b'\n')
                    .ok_or(SignatureError::Truncated)?;
                let format = &rest[..end];
                if let Some(b) = format.iter().find(|b| **b < 32 || **b >= 0x7f) {
                    return Err(SignatureError::NonAsciiFormat(*b));
                }
                let chunk = &rest[end + 1..];
                match format {
                    f if f == SIMPLE_SIGNING_FORMAT.as_bytes() => {
                        Ok(Signature::SimpleSigning(chunk.to_vec()))
                    }
                    f if f == SIGSTORE_FORMAT.as_bytes() => {
                        let json: SigstoreJson =
                            serde_json::from_slice(chunk).map_err(SignatureError::Sigstore)?;
                        Ok(Signature::Sigstore(SigstoreSignature {
                            mime_type: json.mime_type,
                            payload: json.payload,
                            annotations: json.annotations,
                        }))
                    }
                    f => Err(SignatureError::UnknownFormat(
                        String::from_utf8_lossy(f).into_owned(),
                    )),
                }
            }
            // Simple signing was stored without a format name before sigstore existed.
            Some(&first) if starts_openpgp_message(first) => {
                Ok(Signature::SimpleSigning(blob.to_vec()))
            }
            Some(&first) => Err(SignatureError::UnknownStart(first)),
        }
    }

    /// The stored form `from_blob` reads back.
    pub fn to_blob(&self) -> Vec<u8> {
        match self {
            Signature::SimpleSigning(bytes) => bytes.clone(),
            Signature::Sigstore(s) => {
                let json = SigstoreJson {
                    mime_type: s.mime_type.clone(),
                    payload: s.payload.clone(),
                    annotations: s.annotations.clone(),
                };
                let mut out = Vec::new();
                out.push(0);
                out.extend_from_slice(SIGSTORE_FORMAT.as_bytes());
                out.push(b'\n');
                // Serialising strings and byte arrays into a Vec cannot fail.
                out.extend(serde_json::to_vec(&json).unwrap_or_default());
                out
            }
        }
    }

    /// "simple signing" or "sigstore", for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Signature::SimpleSigning(_) => "simple signing",
            Signature::Sigstore(_) => "sigstore",
        }
    }
}

/// Serde for bytes as standard base64 text (`[]byte` in Go's encoding/json).
pub(crate) mod base64_std {
    use super::*;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_signing_is_stored_as_is() {
        let blob = vec![0xa3, 0x01, 0x02];
        let sig = Signature::from_blob(&blob).unwrap();
        assert_eq!(sig, Signature::SimpleSigning(blob.clone()));
        assert_eq!(sig.to_blob(), blob);
        // The newer, named form of the same signature reads back as simple signing.
        let named = Signature::from_blob(b"\x00simple-signing\n\xa3\x01\x02").unwrap();
        assert_eq!(named, sig);
    }

    #[test]
    fn sigstore_round_trips_in_containers_image_form() {
        // What skopeo 1.9.3 writes to dir: for a sigstore signature.
        let stored = b"\x00sigstore-json\n{\"mimeType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"payload\":\"e30=\",\"annotations\":{\"dev.cosignproject.cosign/signature\":\"c2ln\"}}";
        let sig = Signature::from_blob(stored).unwrap();
        let Signature::Sigstore(s) = &sig else {
            panic!("not sigstore: {sig:?}")
        };
        assert_eq!(s.mime_type, SIGSTORE_PAYLOAD_TYPE);
        assert_eq!(s.payload, b"{}");
        assert_eq!(s.annotations[SIGSTORE_SIGNATURE_ANNOTATION], "c2ln");
        assert_eq!(sig.to_blob(), stored.to_vec());
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(matches!(
            Signature::from_blob(b""),
            Err(SignatureError::Empty)
        ));
        assert!(matches!(
            Signature::from_blob(b"\x00other\n{}"),
            Err(SignatureError::UnknownFormat(f)) if f == "other"
        ));
        assert!(matches!(
            Signature::from_blob(b"\x00sigstore-json"),
            Err(SignatureError::Truncated)
        ));
        assert!(matches!(
            Signature::from_blob(b"\x00sig\x01\n"),
            Err(SignatureError::NonAsciiFormat(1))
        ));
        // Text (an armored signature, garbage) is not a stored signature.
        let e = Signature::from_blob(b"garbage").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unrecognized signature format, starting with binary 0x67"
        );
        assert!(matches!(
            Signature::from_blob(b"\x00sigstore-json\n{\"mimeType\":\"x\"}"),
            Err(SignatureError::Sigstore(_))
        ));
    }
}
