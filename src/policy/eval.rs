//! Admission (`PolicyContext.IsRunningImageAllowed`): every requirement of
//! the applicable list must allow the image; evaluation stops at the first
//! one that does not, in list order.

use super::{Policy, PolicyError, Requirement};
use crate::digest::Digest;
use crate::reference::DockerRef;
use crate::signature::Signature;

/// One image instance (a single image or a list) as the policy sees it: where it comes
/// from and the evidence to judge it by (containers/image's `UnparsedImage`).
#[derive(Debug, Clone, Copy)]
pub struct PolicyImage<'a> {
    /// Transport name, e.g. `dir`, `docker`, `oci`.
    pub transport: &'a str,
    /// `PolicyConfigurationIdentity` of the image.
    pub identity: &'a str,
    /// `PolicyConfigurationNamespaces`, narrowest first.
    pub namespaces: &'a [String],
    /// `transports.ImageName`, e.g. `dir:/path`, used in messages.
    pub display_name: &'a str,
    /// The reference signatures' identities are matched against (`signedIdentity`), when
    /// the transport has one.
    pub docker_reference: Option<&'a DockerRef>,
    /// The manifest of this instance, as read from the source.
    pub manifest: &'a [u8],
    /// The signatures stored for this instance, untrusted until a requirement verifies one.
    pub signatures: &'a [Signature],
}

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
        } => super::signed_by::check(*key_type, keys, signed_identity, image).map_err(rejected),
        Requirement::SigstoreSigned(req) => {
            super::sigstore_signed::check(req, image).map_err(rejected)
        }
    }
}
