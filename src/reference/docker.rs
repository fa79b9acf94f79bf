//! Docker reference grammar and normalisation, as in containers/image v5.23.1
//! `docker/reference` (itself a fork of docker/distribution's `reference`).
//!
//! The grammar (from `regexp.go`) is matched by hand rather than with a regex engine:
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] component ( "/" component )*
//! domain     := host-component ( "." host-component )* [ ":" [0-9]+ ]
//! host-comp  := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! component  := [a-z0-9]+ ( separator [a-z0-9]+ )*
//! separator  := "." | "_" | "__" | "-"+
//! tag        := [\w][\w.-]{0,127}
//! digest     := [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)* ":" [0-9a-fA-F]{32,}
//! ```
//!
//! Go's leftmost-first matching prefers treating the first `/`-separated part as the
//! domain whenever it matches `domain`; otherwise the whole name is the path and the
//! domain is empty (this happens e.g. for `a_b.c/d`, whose first part is not a valid
//! host name but is a valid path component).

use std::fmt;

use super::error::{ErrorKind, ReferenceError};
use crate::digest::Digest;

/// Maximum length of the full (normalised) repository name.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_NAME: &str = "library";
const DEFAULT_TAG: &str = "latest";

/// A parsed docker reference: `domain/path[:tag][@digest]`.
///
/// After [`DockerRef::parse_normalized`] the domain is always set (`docker.io` for
/// short names), except in the corner case described in the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DockerRef {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl DockerRef {
    /// As c/image `reference.ParseNormalizedNamed`: `busybox` → `docker.io/library/busybox`.
    /// No default tag is added (see [`DockerRef::with_default_tag`]).
    pub fn parse_normalized(s: &str) -> Result<DockerRef, ReferenceError> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(grammar_err(
                s,
                format!(
                    "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
                ),
            ));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote_name = remainder.split(':').next().unwrap_or_default();
        if remote_name.to_lowercase() != remote_name {
            return Err(grammar_err(
                s,
                "invalid reference format: repository name must be lowercase".to_string(),
            ));
        }
        Self::parse(&format!("{domain}/{remainder}"))
            .map_err(|e| grammar_err(s, e.message().to_string()))
    }

    /// As c/image `reference.ParseNamed`: [`DockerRef::parse_normalized`], but the input
    /// must already be in the canonical form (`docker.io/library/busybox`, not `busybox`).
    pub fn parse_named(s: &str) -> Result<DockerRef, ReferenceError> {
        let r = Self::parse_normalized(s)?;
        if r.to_string() != s {
            return Err(grammar_err(
                s,
                "repository name must be canonical".to_string(),
            ));
        }
        Ok(r)
    }

    /// As c/image `reference.Parse` (no normalisation; the reference must have a name).
    pub fn parse(s: &str) -> Result<DockerRef, ReferenceError> {
        let Some(m) = match_reference(s) else {
            let msg = if s.is_empty() {
                "repository name must have at least one component"
            } else if match_reference(&s.to_lowercase()).is_some() {
                "repository name must be lowercase"
            } else {
                "invalid reference format"
            };
            return Err(grammar_err(s, msg.to_string()));
        };
        if m.name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(grammar_err(
                s,
                format!("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"),
            ));
        }
        let digest = match m.digest {
            Some(d) => Some(validate_digest(d).map_err(|msg| grammar_err(s, msg.to_string()))?),
            None => None,
        };
        let (domain, path) =
            split_name(m.name).ok_or_else(|| grammar_err(s, "invalid reference format".into()))?;
        Ok(DockerRef {
            domain: domain.to_string(),
            path: path.to_string(),
            tag: m.tag.map(str::to_string),
            digest,
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The repository name without tag or digest, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// True when the reference has neither a tag nor a digest (c/image `IsNameOnly`).
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// As c/image `TagNameOnly`: adds `:latest` when there is neither tag nor digest.
    pub fn with_default_tag(mut self) -> DockerRef {
        if self.is_name_only() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The bare repository (c/image `TrimNamed`).
    pub fn trimmed(&self) -> DockerRef {
        DockerRef {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    /// As c/image `FamiliarName`: `docker.io/library/busybox` → `busybox`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.split_once('/') {
            Some((OFFICIAL_REPO_NAME, rest)) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// As c/image `FamiliarString`: `busybox:latest`, `quay.io/a/b@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }

    /// As c/image `policyconfiguration.DockerReferenceIdentity`: `name:tag` or
    /// `name@digest`. c/image refuses references with both (and with neither); callers
    /// in this module never construct those, and here the digest wins for "both" and
    /// the bare name is returned for "neither".
    pub fn policy_identity(&self) -> String {
        let mut s = self.name();
        match (&self.tag, &self.digest) {
            (_, Some(d)) => {
                s.push('@');
                s.push_str(&d.to_string());
            }
            (Some(t), None) => {
                s.push(':');
                s.push_str(t);
            }
            (None, None) => {}
        }
        s
    }

    /// As c/image `policyconfiguration.DockerReferenceNamespaces`, narrowest first:
    /// every `/`-prefix of the name, then `*.`-wildcards of the host's parent domains.
    pub fn policy_namespaces(&self) -> Vec<String> {
        let mut res = Vec::new();
        let mut name = self.name();
        loop {
            res.push(name.clone());
            match name.rfind('/') {
                Some(i) => name.truncate(i),
                None => break,
            }
        }
        if let Some(i) = name.find(':') {
            name.truncate(i);
        }
        let mut rest = name.as_str();
        while let Some(i) = rest.find('.') {
            rest = &rest[i + 1..];
            res.push(format!("*.{rest}"));
        }
        res
    }
}

impl fmt::Display for DockerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl std::str::FromStr for DockerRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DockerRef::parse_normalized(s)
    }
}

fn grammar_err(input: &str, message: String) -> ReferenceError {
    ReferenceError::new(ErrorKind::InvalidReference, input, message)
}

/// c/image `splitDockerDomain`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_NAME}/{remainder}");
    }
    (domain, remainder)
}

struct RefMatch<'a> {
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Syntactic match of `ReferenceRegexp` (anchored); no digest validation.
fn match_reference(s: &str) -> Option<RefMatch<'_>> {
    let (before, digest) = match s.split_once('@') {
        Some((b, d)) => {
            if !match_digest_syntax(d) {
                return None;
            }
            (b, Some(d))
        }
        None => (s, None),
    };
    // A ':' after the last '/' can only be the tag separator (path components never
    // contain ':', and a domain is always followed by '/').
    let last_slash = before.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match before[last_slash..].find(':') {
        Some(i) => {
            let (n, t) = before.split_at(last_slash + i);
            let t = &t[1..];
            if !match_tag(t) {
                return None;
            }
            (n, Some(t))
        }
        None => (before, None),
    };
    split_name(name)?;
    Some(RefMatch { name, tag, digest })
}

/// Matches `anchoredNameRegexp`, returning (domain, path); domain is "" when absent.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if let Some((first, rest)) = name.split_once('/')
        && match_domain(first)
        && rest.split('/').all(match_path_component)
    {
        return Some((first, rest));
    }
    if name.split('/').all(match_path_component) {
        return Some(("", name));
    }
    None
}

/// Anchored `DomainRegexp` (policy `remapIdentity` prefixes use it).
pub(crate) fn is_domain(s: &str) -> bool {
    match_domain(s)
}

/// Anchored `NameRegexp`: `(DomainRegexp/)?component(/component)*`.
pub(crate) fn is_name(s: &str) -> bool {
    split_name(s).is_some()
}

/// `^DomainRegexp/`, unanchored at the end.
pub(crate) fn has_domain_prefix(s: &str) -> bool {
    s.split_once('/').is_some_and(|(d, _)| match_domain(d))
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]+ ( ("." | "_" | "__" | "-"+) [a-z0-9]+ )*`
pub(crate) fn match_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !is_lower_alnum(b[0]) || !is_lower_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_lower_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `DomainRegexp`: dotted host components, optional `:port`.
fn match_domain(s: &str) -> bool {
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    host.split('.').all(|c| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    })
}

/// `[\w][\w.-]{0,127}`
pub(crate) fn match_tag(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `DigestRegexp`, anchored.
fn match_digest_syntax(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// go-digest `Digest.Validate`, with its messages, for a string that already matched
/// the digest syntax. Returns the crate's validated [`Digest`].
pub(crate) fn validate_digest(s: &str) -> Result<Digest, &'static str> {
    let Some((alg, hex)) = s.split_once(':') else {
        return Err("invalid checksum digest format");
    };
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(if match_digest_syntax(s) {
                "unsupported digest algorithm"
            } else {
                "invalid checksum digest format"
            });
        }
    };
    if hex.len() != len {
        return Err("invalid checksum digest length");
    }
    if !hex
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return Err("invalid checksum digest format");
    }
    Digest::parse(s).map_err(|_| "invalid checksum digest format")
}

/// go-digest `Parse` for a free-standing digest string (no syntax pre-check).
pub(crate) fn parse_digest(s: &str) -> Result<Digest, &'static str> {
    match s.find(':') {
        Some(i) if i > 0 && i + 1 < s.len() => validate_digest(s),
        _ => Err("invalid checksum digest format"),
    }
}
