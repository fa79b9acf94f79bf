//! `signedIdentity` rules (c/image `policy_reference_match.go`): the [`ReferenceMatch`]
//! type, its strict parsing (`newPolicyReferenceMatchFromJSON`), and whether the identity a
//! signature claims (`critical.identity.docker-reference`) may stand for the image being
//! copied. Each rule is one small function; anything that cannot be parsed does not match.
//!
//! Used by every signature requirement (`signedBy`, `sigstoreSigned`).

use super::json::{JValue, discover_type, exact_fields, go_string, unexpected_type};
use crate::reference::DockerRef;
use crate::reference::docker::{has_domain_prefix, is_domain, is_name};

impl ReferenceMatch {
    /// Whether a signature for `signed` is acceptable for an image whose own reference is
    /// `image` (`None` for transports without one, e.g. `dir:`, `oci:`).
    pub fn matches_docker_reference(&self, image: Option<&DockerRef>, signed: &str) -> bool {
        match self {
            ReferenceMatch::MatchExact => with_image(image, signed, match_exact),
            ReferenceMatch::MatchRepoDigestOrExact => {
                with_image(image, signed, match_repo_digest_or_exact)
            }
            ReferenceMatch::MatchRepository => with_image(image, signed, same_repository),
            ReferenceMatch::ExactReference { docker_reference } => {
                with_both(docker_reference, signed, match_exact)
            }
            ReferenceMatch::ExactRepository { docker_repository } => {
                with_both(docker_repository, signed, same_repository)
            }
            ReferenceMatch::RemapIdentity {
                prefix,
                signed_prefix,
            } => with_image(image, signed, |intended, signature| {
                match remap(intended, prefix, signed_prefix) {
                    Some(remapped) => match_repo_digest_or_exact(&remapped, signature),
                    None => false,
                }
            }),
        }
    }
}

/// c/image `parseImageAndDockerReference`: no image reference or an unparsable signed one
/// does not match.
fn with_image(
    image: Option<&DockerRef>,
    signed: &str,
    rule: impl Fn(&DockerRef, &DockerRef) -> bool,
) -> bool {
    match (image, DockerRef::parse_normalized(signed)) {
        (Some(intended), Ok(signature)) => rule(intended, &signature),
        _ => false,
    }
}

/// c/image `parseDockerReferences`: the rule's own reference against the signed one.
fn with_both(configured: &str, signed: &str, rule: fn(&DockerRef, &DockerRef) -> bool) -> bool {
    match (
        DockerRef::parse_normalized(configured),
        DockerRef::parse_normalized(signed),
    ) {
        (Ok(intended), Ok(signature)) => rule(&intended, &signature),
        _ => false,
    }
}

/// `matchExact` / `exactReference`: the same tag or digest of the same repository; a bare
/// repository on either side never matches.
fn match_exact(intended: &DockerRef, signature: &DockerRef) -> bool {
    !intended.is_name_only()
        && !signature.is_name_only()
        && signature.to_string() == intended.to_string()
}

/// `matchRepoDigestOrExact`: exact for a tagged image; for an image named by digest, any
/// signature of the repository (the digest is checked against the manifest separately).
fn match_repo_digest_or_exact(intended: &DockerRef, signature: &DockerRef) -> bool {
    if signature.is_name_only() {
        return false;
    }
    if intended.tag().is_some() {
        signature.to_string() == intended.to_string()
    } else if intended.digest().is_some() {
        signature.name() == intended.name()
    } else {
        false
    }
}

/// `matchRepository` / `exactRepository`: the same repository, whatever tag or digest.
fn same_repository(intended: &DockerRef, signature: &DockerRef) -> bool {
    signature.name() == intended.name()
}

/// `remapIdentity`: the image's reference with `prefix` replaced by `signed_prefix` when
/// its repository name is `prefix` or lies below it (`/`-separated); unchanged otherwise.
/// `None` when the rewritten reference is not a canonical docker reference.
fn remap(intended: &DockerRef, prefix: &str, signed_prefix: &str) -> Option<DockerRef> {
    let name = intended.name();
    let matches = name == prefix
        || (name.len() > prefix.len()
            && name.starts_with(prefix)
            && name.as_bytes()[prefix.len()] == b'/');
    if !matches {
        return Some(intended.clone());
    }
    let rewritten = intended.to_string().replacen(prefix, signed_prefix, 1);
    DockerRef::parse_named(&rewritten).ok()
}

/// A `signedIdentity` / `baseLayerIdentity` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceMatch {
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    ExactReference {
        docker_reference: String,
    },
    ExactRepository {
        docker_repository: String,
    },
    RemapIdentity {
        prefix: String,
        signed_prefix: String,
    },
}

const PRM_TYPE: &str = "signature.prmTypeIdentifier";

/// In-order decoding of identity-match fields: all are strings.
fn prm_strings(key: &str, v: &JValue) -> Result<(), String> {
    let go_type = if key == "type" { PRM_TYPE } else { "string" };
    go_string(v, go_type).map(drop)
}

/// Parses `signedIdentity`, defaulting to `matchRepoDigestOrExact` if absent.
pub(super) fn signed_identity(v: Option<&JValue>) -> Result<ReferenceMatch, String> {
    match v {
        None => Ok(ReferenceMatch::MatchRepoDigestOrExact),
        Some(v) => parse_reference_match(v),
    }
}

/// `newPolicyReferenceMatchFromJSON`.
pub(crate) fn parse_reference_match(v: &JValue) -> Result<ReferenceMatch, String> {
    let t = discover_type(v, "prmCommon", PRM_TYPE)?;
    let check_type = |ty: &JValue| -> Result<(), String> {
        let ty = go_string(ty, PRM_TYPE)?.unwrap_or_default();
        if ty == t {
            Ok(())
        } else {
            Err(unexpected_type(&ty))
        }
    };
    let str_field = |f: &JValue| go_string(f, "string").map(Option::unwrap_or_default);
    match t.as_str() {
        "matchExact" | "matchRepoDigestOrExact" | "matchRepository" => {
            let [ty] = exact_fields(v, ["type"], prm_strings)?;
            check_type(ty)?;
            Ok(match t.as_str() {
                "matchExact" => ReferenceMatch::MatchExact,
                "matchRepoDigestOrExact" => ReferenceMatch::MatchRepoDigestOrExact,
                _ => ReferenceMatch::MatchRepository,
            })
        }
        "exactReference" => {
            let [ty, r] = exact_fields(v, ["type", "dockerReference"], prm_strings)?;
            let r = str_field(r)?;
            check_type(ty)?;
            let named = parse_normalized_named(&r)
                .map_err(|e| format!("Invalid format of dockerReference {r}: {e}"))?;
            if named.is_name_only() {
                return Err(format!(
                    "dockerReference {r} contains neither a tag nor digest"
                ));
            }
            Ok(ReferenceMatch::ExactReference {
                docker_reference: r,
            })
        }
        "exactRepository" => {
            let [ty, r] = exact_fields(v, ["type", "dockerRepository"], prm_strings)?;
            let r = str_field(r)?;
            check_type(ty)?;
            parse_normalized_named(&r)
                .map_err(|e| format!("Invalid format of dockerRepository {r}: {e}"))?;
            Ok(ReferenceMatch::ExactRepository {
                docker_repository: r,
            })
        }
        "remapIdentity" => {
            let [ty, p, sp] = exact_fields(v, ["type", "prefix", "signedPrefix"], prm_strings)?;
            let (prefix, signed_prefix) = (str_field(p)?, str_field(sp)?);
            check_type(ty)?;
            validate_remap_prefix(&prefix)?;
            validate_remap_prefix(&signed_prefix)?;
            Ok(ReferenceMatch::RemapIdentity {
                prefix,
                signed_prefix,
            })
        }
        other => Err(format!("Unknown policy reference match type \"{other}\"")),
    }
}

/// `validateIdentityRemappingPrefix`.
fn validate_remap_prefix(s: &str) -> Result<(), String> {
    if is_domain(s) || (is_name(s) && has_domain_prefix(s)) {
        Ok(())
    } else {
        Err(format!("prefix \"{s}\" is not valid"))
    }
}

fn parse_normalized_named(s: &str) -> Result<DockerRef, String> {
    DockerRef::parse_normalized(s).map_err(|e| e.message().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn r(s: &str) -> DockerRef {
        DockerRef::parse_normalized(s).unwrap()
    }

    fn exact(s: &str) -> ReferenceMatch {
        ReferenceMatch::ExactReference {
            docker_reference: s.into(),
        }
    }

    #[test]
    fn match_exact_needs_the_same_tag_or_digest() {
        let m = ReferenceMatch::MatchExact;
        let img = r("example.com/ns/app:v1");
        assert!(m.matches_docker_reference(Some(&img), "example.com/ns/app:v1"));
        assert!(!m.matches_docker_reference(Some(&img), "example.com/ns/app:v2"));
        assert!(!m.matches_docker_reference(Some(&img), "example.com/ns/app"));
        assert!(!m.matches_docker_reference(Some(&r("example.com/ns/app")), "example.com/ns/app"));
        // Normalised: the signed short name is docker.io/library/busybox.
        assert!(m.matches_docker_reference(Some(&r("busybox:1")), "busybox:1"));
        // No image reference (dir:, oci:) never matches.
        assert!(!m.matches_docker_reference(None, "example.com/ns/app:v1"));
        assert!(!m.matches_docker_reference(Some(&img), "Not A Reference"));
    }

    #[test]
    fn match_repo_digest_or_exact() {
        let m = ReferenceMatch::MatchRepoDigestOrExact;
        let tagged = r("example.com/app:v1");
        assert!(m.matches_docker_reference(Some(&tagged), "example.com/app:v1"));
        assert!(!m.matches_docker_reference(Some(&tagged), "example.com/app:v2"));
        let by_digest = r(&format!("example.com/app@{DIGEST}"));
        assert!(m.matches_docker_reference(Some(&by_digest), "example.com/app:anything"));
        assert!(!m.matches_docker_reference(Some(&by_digest), "example.com/other:v1"));
        assert!(!m.matches_docker_reference(Some(&by_digest), "example.com/app"));
    }

    #[test]
    fn repository_rules_ignore_tags() {
        let img = r("example.com/app:v1");
        let m = ReferenceMatch::MatchRepository;
        assert!(m.matches_docker_reference(Some(&img), "example.com/app:v9"));
        assert!(m.matches_docker_reference(Some(&img), "example.com/app"));
        assert!(!m.matches_docker_reference(Some(&img), "example.com/app2:v1"));
        let m = ReferenceMatch::ExactRepository {
            docker_repository: "example.com/app".into(),
        };
        // The image's own reference does not matter.
        assert!(m.matches_docker_reference(None, "example.com/app:v9"));
        assert!(!m.matches_docker_reference(None, "example.com/other:v9"));
    }

    #[test]
    fn exact_reference_compares_with_the_rule_not_the_image() {
        let m = exact("example.com/app:v1");
        assert!(m.matches_docker_reference(None, "example.com/app:v1"));
        assert!(m.matches_docker_reference(Some(&r("x.io/y:z")), "example.com/app:v1"));
        assert!(!m.matches_docker_reference(None, "example.com/app:v2"));
        assert!(!m.matches_docker_reference(None, "example.com/app"));
    }

    #[test]
    fn remap_identity_rewrites_the_prefix_first() {
        let m = ReferenceMatch::RemapIdentity {
            prefix: "mirror.local/cache".into(),
            signed_prefix: "docker.io/library".into(),
        };
        let img = r("mirror.local/cache/busybox:1");
        assert!(m.matches_docker_reference(Some(&img), "docker.io/library/busybox:1"));
        assert!(!m.matches_docker_reference(Some(&img), "mirror.local/cache/busybox:1"));
        // Only at a path boundary: mirror.local/cachex is not below the prefix.
        let other = r("mirror.local/cachex/busybox:1");
        assert!(m.matches_docker_reference(Some(&other), "mirror.local/cachex/busybox:1"));
        assert!(!m.matches_docker_reference(Some(&other), "docker.io/library/busybox:1"));
        // The whole name may be the prefix.
        let m = ReferenceMatch::RemapIdentity {
            prefix: "mirror.local/app".into(),
            signed_prefix: "example.com/app".into(),
        };
        assert!(m.matches_docker_reference(Some(&r("mirror.local/app:v1")), "example.com/app:v1"));
        // Non-canonical results do not match (docker.io/busybox is not canonical).
        let m = ReferenceMatch::RemapIdentity {
            prefix: "mirror.local".into(),
            signed_prefix: "docker.io".into(),
        };
        assert!(!m.matches_docker_reference(Some(&r("mirror.local/busybox:1")), "busybox:1"));
    }
}
