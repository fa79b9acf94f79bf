//! What the policy is shown: [`PolicyImage`], one image instance with its manifest and
//! signatures. Every requirement check reads it.

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
