//! Verifying simple-signing signatures (non-detached OpenPGP messages) against a set of
//! public keys, with sequoia-openpgp, as containers/image's gpgme mechanism accepts them:
//! exactly one signature, made by one of the keys, which is neither expired nor revoked
//! now (gpg's judgement), over a literal data packet whose bytes are the payload. No gpg
//! binary and no keyring on disk are involved.
//!
//! Key identities are primary-key fingerprints in upper-case hex, as gpgme reports them;
//! a signature by a signing subkey counts for its primary key (newer containers/image).

use std::io::Read;
use std::time::SystemTime;

use sequoia_openpgp as pgp;

use pgp::cert::prelude::*;
use pgp::parse::Parse;
use pgp::parse::stream::{
    MessageLayer, MessageStructure, VerificationError, VerificationHelper, VerifierBuilder,
};
use pgp::policy::StandardPolicy;
use pgp::types::RevocationStatus;
use pgp::{Cert, KeyHandle, KeyID};

/// A signature that does not verify; the texts begin as containers/image's do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Other than one signature (none in a truncated or unsigned message); `detail` says
    /// why the message could not be read, when it could not.
    #[error("Unexpected GPG signature count {count}{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    SignatureCount {
        count: usize,
        detail: Option<String>,
    },
    /// The one signature is not good (gpgme's `Invalid GPG signature: …`).
    #[error("Invalid GPG signature: {0}")]
    Invalid(String),
}

/// Public keys that signatures are checked against (an ephemeral keyring).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    certs: Vec<Cert>,
}

/// What a good signature says: the signed bytes and who signed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The literal data: the (still unparsed) payload.
    pub payload: Vec<u8>,
    /// The primary key's fingerprint, upper-case hex.
    pub key_fingerprint: String,
    /// The fingerprint of the key that made the signature (a subkey, or the primary).
    pub signing_fingerprint: String,
}

/// Upper-case hex, as gpgme prints fingerprints and key IDs.
pub fn hex_upper(h: &impl std::fmt::UpperHex) -> String {
    format!("{h:X}")
}

impl Keyring {
    /// The keys in `blobs` (each binary or ASCII-armored, one or more certificates, as
    /// `gpg --export` writes them). Like `gpg --import`, what cannot be parsed is skipped:
    /// a blob without any key adds nothing (the policy then says "No public keys imported").
    pub fn from_blobs<B: AsRef<[u8]>>(blobs: &[B]) -> Keyring {
        let mut certs: Vec<Cert> = Vec::new();
        for blob in blobs {
            let Ok(parser) = CertParser::from_bytes(blob.as_ref()) else {
                continue;
            };
            for cert in parser.flatten() {
                // Secret keys exported by mistake count as their public part.
                let cert = cert.strip_secret_key_material();
                match certs
                    .iter_mut()
                    .find(|c| c.fingerprint() == cert.fingerprint())
                {
                    Some(existing) => {
                        if let Ok(merged) = existing.clone().merge_public(cert) {
                            *existing = merged;
                        }
                    }
                    None => certs.push(cert),
                }
            }
        }
        Keyring { certs }
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The primary fingerprints of the keys, as gpgme's import reports them.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certs
            .iter()
            .map(|c| hex_upper(&c.fingerprint()))
            .collect()
    }

    /// Verifies `signature` and returns the payload it signs and the key that signed it.
    pub fn verify(&self, signature: &[u8]) -> Result<Verified, VerifyError> {
        let policy = StandardPolicy::new();
        let now = SystemTime::now();
        let mut outcome = None;
        let helper = Helper {
            certs: &self.certs,
            policy: &policy,
            now,
            outcome: &mut outcome,
        };
        let read = VerifierBuilder::from_bytes(signature).and_then(|b| {
            let mut v = b.with_policy(&policy, now, helper)?;
            let mut payload = Vec::new();
            v.read_to_end(&mut payload)?;
            Ok(payload)
        });
        match (read, outcome) {
            (Ok(payload), Some(Ok((key_fingerprint, signing_fingerprint)))) => Ok(Verified {
                payload,
                key_fingerprint,
                signing_fingerprint,
            }),
            (_, Some(Err(e))) => Err(e),
            (Err(e), Some(Ok(_))) => Err(VerifyError::Invalid(first_line(&e))),
            // Unreadable before any signature was checked: gpg finds none.
            (Err(e), None) => Err(VerifyError::SignatureCount {
                count: 0,
                detail: Some(first_line(&e)),
            }),
            (Ok(_), None) => Err(VerifyError::SignatureCount {
                count: 0,
                detail: None,
            }),
        }
    }
}

fn first_line(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// The verifier's view: which keys exist, and what the one signature turned out to be.
struct Helper<'a> {
    certs: &'a [Cert],
    policy: &'a StandardPolicy<'a>,
    now: SystemTime,
    /// (primary, signing key) fingerprints, or why the signature is not good.
    outcome: &'a mut Option<Result<(String, String), VerifyError>>,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> pgp::Result<Vec<Cert>> {
        Ok(self.certs.to_vec())
    }

    fn check(&mut self, structure: MessageStructure) -> pgp::Result<()> {
        let mut results = Vec::new();
        for layer in structure.into_iter() {
            match layer {
                MessageLayer::SignatureGroup { results: r } => results.extend(r),
                MessageLayer::Encryption { .. } => {
                    *self.outcome =
                        Some(Err(VerifyError::Invalid("the message is encrypted".into())));
                    return Err(anyhow::anyhow!("rejected"));
                }
                MessageLayer::Compression { .. } => {}
            }
        }
        let verdict = match results.as_slice() {
            [only] => match only {
                Ok(good) => self.still_valid(good.ka.cert(), &good.ka.key().fingerprint()),
                Err(e) => Err(describe(e)),
            },
            other => Err(VerifyError::SignatureCount {
                count: other.len(),
                detail: None,
            }),
        };
        let ok = verdict.is_ok();
        *self.outcome = Some(verdict);
        if ok {
            Ok(())
        } else {
            Err(anyhow::anyhow!("rejected"))
        }
    }
}

impl Helper<'_> {
    /// gpg also refuses a signature whose key has expired or been revoked since: the key
    /// must be usable now, not only when it signed. Returns the primary and the signing
    /// key's fingerprints.
    fn still_valid(
        &self,
        cert: &Cert,
        signer: &pgp::Fingerprint,
    ) -> Result<(String, String), VerifyError> {
        let primary = hex_upper(&cert.fingerprint());
        let invalid = |why: String| Err(VerifyError::Invalid(why));
        let vc = match cert.with_policy(self.policy, self.now) {
            Ok(vc) => vc,
            Err(e) => return invalid(format!("key {primary} is not valid now: {e}")),
        };
        if let RevocationStatus::Revoked(_) = vc.revocation_status() {
            return invalid(format!("key {primary} has been revoked"));
        }
        if vc.alive().is_err() {
            return invalid(format!("key {primary} has expired{}", expiry(&vc)));
        }
        let Some(key) = vc.keys().key_handle(signer.clone()).next() else {
            return invalid(format!(
                "signing key {signer:X} of {primary} is not valid now"
            ));
        };
        if let RevocationStatus::Revoked(_) = key.revocation_status() {
            return invalid(format!(
                "signing key {signer:X} of {primary} has been revoked"
            ));
        }
        if key.alive().is_err() {
            return invalid(format!("signing key {signer:X} of {primary} has expired"));
        }
        Ok((primary, hex_upper(signer)))
    }
}

fn expiry(vc: &ValidCert<'_>) -> String {
    match vc.primary_key().key_expiration_time() {
        Some(t) => format!(" (on {})", crate::gotime::utc_rfc3339(t)),
        None => String::new(),
    }
}

/// Why one signature is not good, naming the key.
fn describe(e: &VerificationError<'_>) -> VerifyError {
    let issuer = |sig: &pgp::packet::Signature| {
        sig.get_issuers()
            .first()
            .map(|h| match h {
                KeyHandle::Fingerprint(f) => hex_upper(f),
                KeyHandle::KeyID(k) => hex_upper(k),
            })
            .unwrap_or_else(|| "(unknown)".into())
    };
    VerifyError::Invalid(match e {
        VerificationError::MissingKey { sig } => format!(
            "signed by key {}, which is not among the trusted public keys",
            issuer(sig)
        ),
        VerificationError::BadSignature { sig, error, .. } => {
            format!("bad signature by key {}: {error}", issuer(sig))
        }
        VerificationError::BadKey { sig, error, .. }
        | VerificationError::UnboundKey { sig, error, .. } => {
            format!("key {} cannot be used: {error}", issuer(sig))
        }
        VerificationError::MalformedSignature { error, .. } => {
            format!("malformed signature: {error}")
        }
        VerificationError::UnknownSignature { sig } => {
            format!("malformed signature: {}", sig.error())
        }
        other => other.to_string(),
    })
}

/// A signature's contents read WITHOUT verifying anything, for
/// `untrusted-signature-dump-without-verification`: the literal data and the short key
/// ID of the signer (as x/crypto's openpgp reports it).
pub fn untrusted_contents(signature: &[u8]) -> Result<(Vec<u8>, String), String> {
    struct Lenient {
        key_id: Option<String>,
    }
    impl VerificationHelper for Lenient {
        fn get_certs(&mut self, _: &[KeyHandle]) -> pgp::Result<Vec<Cert>> {
            Ok(Vec::new())
        }
        fn check(&mut self, structure: MessageStructure) -> pgp::Result<()> {
            for layer in structure.into_iter() {
                if let MessageLayer::SignatureGroup { results } = layer {
                    for r in results {
                        let sig = match &r {
                            Ok(good) => good.sig,
                            Err(VerificationError::MissingKey { sig })
                            | Err(VerificationError::BadSignature { sig, .. })
                            | Err(VerificationError::BadKey { sig, .. })
                            | Err(VerificationError::UnboundKey { sig, .. })
                            | Err(VerificationError::MalformedSignature { sig, .. }) => sig,
                            Err(_) => continue,
                        };
                        if let Some(h) = sig.get_issuers().first() {
                            self.key_id = Some(hex_upper(&KeyID::from(h.clone())));
                        }
                    }
                }
            }
            Ok(())
        }
    }
    let policy = StandardPolicy::new();
    let mut verifier = VerifierBuilder::from_bytes(signature)
        .and_then(|b| b.with_policy(&policy, SystemTime::now(), Lenient { key_id: None }))
        .map_err(|e| first_line(&e))?;
    let mut content = Vec::new();
    verifier
        .read_to_end(&mut content)
        .map_err(|e| e.to_string())?;
    match verifier.into_helper().key_id {
        Some(id) => Ok((content, id)),
        None => Err("The input is not a signature".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgp::serialize::stream::{Compressor, LiteralWriter, Message, Signer};
    use pgp::types::CompressionAlgorithm;
    use std::io::Write;
    use std::time::Duration;

    fn new_key(expiry: Option<Duration>, at: SystemTime) -> Cert {
        CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_creation_time(at)
            .set_validity_period(expiry)
            .add_userid("t@example.com")
            .add_signing_subkey()
            .generate()
            .unwrap()
            .0
    }

    /// A gpg-like signed message: compressed, one-pass signature, literal, signature.
    fn sign(cert: &Cert, data: &[u8], at: SystemTime) -> Vec<u8> {
        let p = StandardPolicy::new();
        let key = cert
            .keys()
            .with_policy(&p, at)
            .secret()
            .for_signing()
            .next()
            .unwrap()
            .key()
            .clone()
            .into_keypair()
            .unwrap();
        let mut out = Vec::new();
        let m = Message::new(&mut out);
        let m = Compressor::new(m)
            .algo(CompressionAlgorithm::Zip)
            .build()
            .unwrap();
        let m = Signer::new(m, key)
            .unwrap()
            .creation_time(at)
            .build()
            .unwrap();
        let mut w = LiteralWriter::new(m).build().unwrap();
        w.write_all(data).unwrap();
        w.finalize().unwrap();
        out
    }

    fn public(cert: &Cert) -> Vec<u8> {
        use pgp::serialize::Serialize;
        let mut v = Vec::new();
        cert.serialize(&mut v).unwrap();
        v
    }

    #[test]
    fn good_signature_by_a_subkey_counts_for_the_primary_key() {
        let now = SystemTime::now() - Duration::from_secs(60);
        let cert = new_key(None, now - Duration::from_secs(60));
        let sig = sign(&cert, b"payload", now);
        let ring = Keyring::from_blobs(&[public(&cert)]);
        assert_eq!(ring.fingerprints(), vec![hex_upper(&cert.fingerprint())]);
        let v = ring.verify(&sig).unwrap();
        assert_eq!(v.payload, b"payload");
        assert_eq!(v.key_fingerprint, hex_upper(&cert.fingerprint()));
        // Armored keys too.
        let armored = {
            use pgp::serialize::SerializeInto;
            cert.armored().to_vec().unwrap()
        };
        assert!(Keyring::from_blobs(&[armored]).verify(&sig).is_ok());
        let (content, key_id) = untrusted_contents(&sig).unwrap();
        assert_eq!(content, b"payload");
        assert_eq!(key_id.len(), 16);
    }

    #[test]
    fn refuses_unknown_keys_tampering_and_expired_keys() {
        let now = SystemTime::now() - Duration::from_secs(60);
        let cert = new_key(None, now - Duration::from_secs(60));
        let other = new_key(None, now - Duration::from_secs(60));
        let sig = sign(&cert, b"payload", now);
        let e = Keyring::from_blobs(&[public(&other)])
            .verify(&sig)
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Invalid GPG signature: signed by key"),
            "{e}"
        );
        // Flip a byte inside the compressed data.
        let mut bad = sig.clone();
        let i = bad.len() / 2;
        bad[i] ^= 0xff;
        let ring = Keyring::from_blobs(&[public(&cert)]);
        assert!(ring.verify(&bad).is_err());
        let e = ring.verify(&sig[..10]).unwrap_err().to_string();
        assert!(e.starts_with("Unexpected GPG signature count 0 ("), "{e}");
        // A key valid for a day, three days ago: the signature was made while it was
        // alive, but gpg (and so skiff) refuses it now.
        let old = SystemTime::now() - Duration::from_secs(3 * 86400);
        let expired = new_key(Some(Duration::from_secs(86400)), old);
        let sig = sign(&expired, b"payload", old + Duration::from_secs(60));
        let e = Keyring::from_blobs(&[public(&expired)])
            .verify(&sig)
            .unwrap_err()
            .to_string();
        assert!(e.contains("has expired"), "{e}");
    }

    #[test]
    fn junk_imports_no_keys() {
        assert!(Keyring::from_blobs(&[b"junk\n".to_vec()]).is_empty());
        assert!(Keyring::from_blobs(&[Vec::<u8>::new()]).is_empty());
    }
}

#[cfg(test)]
mod skopeo_made {
    //! Signatures skopeo 1.9.3 (gpgme) made, with keys gpg 2.2 exported.
    use super::*;

    const RSA_FPR: &str = "C560190E9E754AD05496AF5FBF0A6420376B5CE2";
    const ED_FPR: &str = "E103D6335D93BA02407DFB1C630F706437463B94";

    #[test]
    fn verifies_what_skopeo_signed() {
        let rsa = Keyring::from_blobs(&[include_bytes!("testdata/rsa.gpg")]);
        let ed = Keyring::from_blobs(&[include_bytes!("testdata/ed25519.asc")]);
        let both = Keyring::from_blobs(&[
            include_bytes!("testdata/rsa.gpg").as_slice(),
            include_bytes!("testdata/ed25519.asc").as_slice(),
        ]);
        assert_eq!(both.fingerprints(), vec![RSA_FPR, ED_FPR]);
        let v = rsa
            .verify(include_bytes!("testdata/skopeo-rsa.sig"))
            .unwrap();
        assert_eq!(v.key_fingerprint, RSA_FPR);
        let p = crate::signature::simple::Payload::parse(&v.payload).unwrap();
        assert_eq!(p.docker_reference, "localhost:5000/test/img:v1");
        assert_eq!(
            p.docker_manifest_digest,
            crate::digest::Digest::sha256_of(include_bytes!("testdata/manifest.json"))
        );
        let v = both
            .verify(include_bytes!("testdata/skopeo-ed25519.sig"))
            .unwrap();
        assert_eq!(v.key_fingerprint, ED_FPR);
        let e = ed
            .verify(include_bytes!("testdata/skopeo-rsa.sig"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(RSA_FPR), "{e}");
    }
}
