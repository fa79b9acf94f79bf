//! Admission (`PolicyContext.IsRunningImageAllowed`): every requirement of
//! the applicable list must allow the image; evaluation stops at the first
//! one that does not, in list order.

use super::document::Policy;
use super::error::PolicyError;
use super::image::PolicyImage;
use super::model::Requirement;
use super::signed_by;
use super::sigstore_signed;
use crate::digest::Digest;

/// Proof that the policy admitted one manifest; only [`Policy::evaluate`] constructs it.
#[derive(Debug)]
pub struct Admitted {
    manifest_digest: Digest,
}

impl Admitted {
    /// Whether this proof is for `manifest` (the bytes the policy was shown).
    pub fn covers(&self, manifest: &[u8]) -> bool {
        self.manifest_digest.recompute(manifest) == self.manifest_digest
    }
}

impl Policy {
    /// Decides whether `image` may be copied.
    ///
    /// * `insecureAcceptAnything` allows; `reject` fails with c/image's
    ///   `Running image X is rejected by policy.`
    /// * `signedBaseLayer` always fails, as in c/image
    ///   (`signedBaseLayer not implemented yet!`).
    /// * `signedBy` allows when one simple-signing signature verifies (see
    ///   `signed_by.rs`).
    /// * `sigstoreSigned` allows when one sigstore signature verifies under its trust
    ///   root (see `sigstore_signed.rs`).
    pub fn evaluate(&self, image: &PolicyImage<'_>) -> Result<Admitted, PolicyError> {
        let reqs = self.requirements_for(image.transport, image.identity, image.namespaces);
        if reqs.is_empty() {
            return Err(PolicyError::Rejected {
                reason: "List of verification policy requirements must not be empty".to_string(),
            });
        }
        for req in reqs {
            check(req, image)?;
        }
        Ok(Admitted {
            manifest_digest: Digest::sha256_of(image.manifest),
        })
    }
}

fn rejected(reason: impl Into<String>) -> PolicyError {
    PolicyError::Rejected {
        reason: reason.into(),
    }
}

/// `isRunningImageAllowed` of one requirement: `Ok(())` means allowed.
fn check(req: &Requirement, image: &PolicyImage<'_>) -> Result<(), PolicyError> {
    match req {
        Requirement::InsecureAcceptAnything => Ok(()),
        Requirement::Reject => Err(rejected(format!(
            "Running image {} is rejected by policy.",
            image.display_name
        ))),
        Requirement::SignedBaseLayer { .. } => {
            Err(rejected("signedBaseLayer not implemented yet!"))
        }
        Requirement::SignedBy {
            key_type,
            keys,
            signed_identity,
        } => signed_by::check(*key_type, keys, signed_identity, image).map_err(rejected),
        Requirement::SigstoreSigned(req) => sigstore_signed::check(req, image).map_err(rejected),
    }
}
