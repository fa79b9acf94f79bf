//! Scope lookup (`PolicyContext.requirementsForImageRef`), plus the
//! namespace lists c/image's transports compute for an image, so callers can
//! build the `namespaces` argument exactly as skopeo would.

use super::document::Policy;
use super::model::Requirement;

impl Policy {
    /// The requirements governing an image of `transport` whose policy
    /// identity is `identity` (`PolicyConfigurationIdentity`) and whose
    /// candidate namespaces are `namespaces`, narrowest first
    /// (`PolicyConfigurationNamespaces`).
    ///
    /// Within the transport's scopes: the exact identity, then each namespace
    /// in order, then the transport's `""` scope; otherwise `default`.
    pub fn requirements_for(
        &self,
        transport: &str,
        identity: &str,
        namespaces: &[String],
    ) -> &[Requirement] {
        if let Some(scopes) = self.transports.get(transport) {
            let found = std::iter::once(identity)
                .chain(namespaces.iter().map(String::as_str))
                .chain(std::iter::once(""))
                .find_map(|scope| scopes.get(scope));
            if let Some(reqs) = found {
                return reqs;
            }
        }
        &self.default
    }

    /// Whether judging an image in this scope needs its signatures (c/image reads them
    /// only for requirements that look at them). When not, an unreadable signature store
    /// does not concern the policy (only the copy of the signatures, if any).
    pub fn needs_signatures(&self, transport: &str, identity: &str, namespaces: &[String]) -> bool {
        self.requirements_for(transport, identity, namespaces)
            .iter()
            .any(|r| {
                matches!(
                    r,
                    Requirement::SignedBy { .. } | Requirement::SigstoreSigned(_)
                )
            })
    }
}
