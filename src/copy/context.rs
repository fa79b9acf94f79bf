//! [`Ctx`], the parts of a copy every step needs, and admission: an instance read from
//! the source and judged by the policy ([`AdmittedImage`]).

use std::sync::atomic::AtomicUsize;

use super::error::CopyError;
use super::options::CopyOptions;
use crate::digest::Digest;
use crate::image::{ImageError, SourceImage};
use crate::manifest::Manifest;
use crate::policy::{Admitted, Policy, PolicyError, PolicyImage};
use crate::reference::ImageName;
use crate::report::Reporter;
use crate::signature::Signature;
use crate::transport::ImageDestination;

/// The parts of a copy every step needs.
pub(crate) struct Ctx<'a> {
    pub src: &'a SourceImage,
    pub src_name: &'a ImageName,
    pub policy: &'a Policy,
    pub dest: &'a dyn ImageDestination,
    pub opts: &'a CopyOptions,
    pub report: &'a Reporter,
    pub dest_label: &'a str,
    /// Repository path and tag of a registry destination (schema 1 manifests embed them).
    pub dest_repo_tag: Option<(String, String)>,
    /// How many list members this copy has read, against `image::MAX_LIST_MANIFESTS`.
    pub manifests_read: AtomicUsize,
    /// The identity new signatures claim (when signing).
    pub sign_identity: Option<String>,
}

impl Ctx<'_> {
    /// `admit` for a list member.
    pub(super) async fn admit_instance(
        &self,
        manifest: Manifest,
        instance: &Digest,
    ) -> Result<AdmittedImage, CopyError> {
        let remove = self.opts.remove_signatures;
        let (src, name, policy) = (self.src, self.src_name, self.policy);
        admit(src, name, policy, manifest, Some(instance), remove).await
    }
}

/// An image instance read from the source and admitted by the policy, with the
/// signatures it was admitted on.
pub(crate) struct AdmittedImage {
    pub manifest: Manifest,
    pub signatures: Vec<Signature>,
    pub proof: Admitted,
}

/// Reads the signatures of `manifest` (the top-level one when `instance` is None) and asks
/// the policy about them (`PolicyContext.IsRunningImageAllowed`). Signatures that will be
/// removed and that no requirement looks at are not read at all; when a requirement needs
/// them, failing to read them rejects the image, in skopeo's words.
pub(super) async fn admit(
    src: &SourceImage,
    src_name: &ImageName,
    policy: &Policy,
    manifest: Manifest,
    instance: Option<&Digest>,
    remove_signatures: bool,
) -> Result<AdmittedImage, CopyError> {
    let identity = src_name.policy_configuration_identity();
    let namespaces = src_name.policy_configuration_namespaces();
    let transport = src_name.transport_name();
    let policy_reads = policy.needs_signatures(transport, &identity, &namespaces);
    let signatures = if remove_signatures && !policy_reads {
        Vec::new()
    } else {
        match src.signatures(instance).await {
            Ok(s) => s,
            Err(ImageError::ReadSignatures { source, .. }) if policy_reads => {
                return Err(PolicyError::Rejected {
                    reason: source.to_string(),
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        }
    };
    let proof = policy.evaluate(&PolicyImage {
        transport,
        identity: &identity,
        namespaces: &namespaces,
        display_name: src.label(),
        docker_reference: src_name.docker_reference(),
        manifest: &manifest.raw,
        signatures: &signatures,
    })?;
    Ok(AdmittedImage {
        manifest,
        signatures,
        proof,
    })
}
