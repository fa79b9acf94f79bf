//! Minimal image-name grammar checks (docker/reference as vendored in c/image
//! 5.23), used to validate rewritten references and short-name aliases.

use crate::reference::docker::{is_domain as is_valid_domain_impl, match_path_component};

/// Whether `s` matches c/image's `DomainRegexp` (host, optional `:port`).
pub(crate) fn is_valid_domain(s: &str) -> bool {
    is_valid_domain_impl(s)
}

/// Whether `s` is one path component (`nameComponentRegexp`).
fn is_valid_path_component(s: &str) -> bool {
    match_path_component(s)
}

/// Splits `name` the way docker/reference does for *unnormalized* parsing:
/// the first component is a registry if there is a `/` after it and it
/// contains `.` or `:`, is `localhost`, or contains an upper-case letter.
pub(crate) fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// Validates a fully-qualified, canonical repository name (no tag/digest), as
/// `reference.ParseNamed` would, returning `(host, repository)`.
/// Error texts follow docker/reference.
pub(crate) fn parse_canonical_name(name: &str) -> Result<(String, String), String> {
    if name.is_empty() {
        return Err("repository name must have at least one component".into());
    }
    let (host, path) = match name.split_once('/') {
        Some((h, p)) if is_valid_domain(h) => (Some(h), p),
        _ => (None, name),
    };
    if !path.split('/').all(is_valid_path_component) {
        if path.to_ascii_lowercase() != path
            && path
                .to_ascii_lowercase()
                .split('/')
                .all(is_valid_path_component)
        {
            return Err("repository name must be lowercase".into());
        }
        return Err("invalid reference format".into());
    }
    if name.len() > 255 {
        return Err("repository name must not be more than 255 characters".into());
    }
    // ParseNamed requires the input to equal its normalized form.
    let canonical = match split_registry(name) {
        (Some(h), p) if h != "index.docker.io" && (h != "docker.io" || p.contains('/')) => {
            host.is_some()
        }
        _ => false,
    };
    match (canonical, host) {
        (true, Some(h)) => Ok((h.to_string(), path.to_string())),
        _ => Err("repository name must be canonical".into()),
    }
}

/// Strips a `:tag` and/or `@digest` suffix from a reference string.
pub(crate) fn strip_tag_and_digest(reference: &str) -> &str {
    let name = reference.split_once('@').map_or(reference, |(n, _)| n);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].find(':') {
        Some(i) => &name[..last_slash + i],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(
            parse_canonical_name("example.com:5000/a/b-c__d").ok(),
            Some(("example.com:5000".into(), "a/b-c__d".into()))
        );
        assert!(parse_canonical_name("docker.io/busybox").is_err());
        assert!(parse_canonical_name("index.docker.io/library/busybox").is_err());
        assert!(parse_canonical_name("busybox/x").is_err());
        assert!(parse_canonical_name("m.example//x").is_err());
        assert_eq!(
            parse_canonical_name("m.example/Up").err().as_deref(),
            Some("repository name must be lowercase")
        );
        assert_eq!(strip_tag_and_digest("h:5000/a/b:tag"), "h:5000/a/b");
        assert_eq!(strip_tag_and_digest("h:5000/a/b@sha256:00"), "h:5000/a/b");
        assert_eq!(strip_tag_and_digest("h:5000/a/b"), "h:5000/a/b");
    }
}
