//! The registries.conf model: a `[[registry]]` table and its mirrors after c/image's
//! post-processing. The file parser (`registries_file`) builds them; the lookups
//! (`registries`) answer from them.

/// Which pulls a mirror is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullFromMirror {
    /// `all` (or unset): tag and digest pulls.
    All,
    /// `digest-only`.
    DigestOnly,
    /// `tag-only`.
    TagOnly,
}

/// A `[[registry.mirror]]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    /// As written (c/image does not trim a trailing `/` from mirror locations).
    pub location: String,
    pub insecure: bool,
    pub pull_from_mirror: PullFromMirror,
}

/// A `[[registry]]` table after c/image post-processing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    /// Defaults to `location`; may be `*.example.com`.
    pub prefix: String,
    /// Trailing `/` trimmed; empty only for wildcard prefixes (no rewrite).
    pub location: String,
    pub insecure: bool,
    pub blocked: bool,
    pub mirror_by_digest_only: bool,
    pub mirrors: Vec<Mirror>,
}
