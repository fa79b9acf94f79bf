//! Minimal image-name grammar checks (docker/reference as vendored in c/image
//! 5.23), used to validate rewritten references and short-name aliases.

/// Whether `s` matches c/image's `DomainRegexp`: dot-separated components of
/// `[a-zA-Z0-9]` / `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`, optional `:digits`.
pub(crate) fn is_valid_domain(s: &str) -> bool {
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        })
}

/// Whether `s` is one path component (`nameComponentRegexp`).
pub(crate) fn is_valid_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__", or one or more "-".
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
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
