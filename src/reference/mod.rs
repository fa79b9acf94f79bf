//! Image names (`transport:details`) as accepted by `skopeo copy`, following
//! containers/image v5.23.1 (what skopeo 1.9.3 vendors): `alltransports.ParseImageName`
//! and each transport's `ParseReference`, `StringWithinTransport`,
//! `PolicyConfigurationIdentity`, `PolicyConfigurationNamespaces` and `DockerReference`.
//!
//! Error messages reproduce c/image's text; skopeo prints them as
//! `Invalid source name NAME: MESSAGE` (or `Invalid destination name …`), so callers
//! should add that prefix. [`ReferenceError::input`] gives the offending input.

pub(crate) mod docker;
mod local;
pub(crate) mod paths;
mod storage;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

pub use docker::{DockerRef, NAME_TOTAL_LENGTH_MAX};
pub(crate) use paths::go_errno_text;
pub use storage::parse_with_lookup as storage_with_lookup;

use crate::digest::Digest;

/// The transports skopeo 1.9.3 lists in its usage text, in its order.
pub const KNOWN_TRANSPORTS: &[&str] = &[
    "containers-storage",
    "dir",
    "docker",
    "docker-archive",
    "docker-daemon",
    "oci",
    "oci-archive",
    "ostree",
    "sif",
    "tarball",
];

/// Known to skopeo but not implemented by skiff (Debian's skopeo has no `ostree:` either).
pub const UNSUPPORTED_TRANSPORTS: &[&str] = &["ostree"];

/// What went wrong, coarsely; the message has the detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No `transport:` prefix at all.
    MissingTransport,
    /// A prefix that is not a transport name.
    UnknownTransport,
    /// A transport skopeo knows but skiff does not implement (ostree).
    UnsupportedTransport,
    /// The transport-specific part is malformed (docker grammar, oci ref, index, …).
    InvalidReference,
    /// A `dir:`/`oci:`/`oci-archive:` path could not be resolved (missing parent, …).
    Path,
}

/// The single error type of this module. `Display` is c/image's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReferenceError {
    kind: ErrorKind,
    input: String,
    message: String,
}

impl ReferenceError {
    pub(crate) fn new(kind: ErrorKind, input: &str, message: String) -> ReferenceError {
        ReferenceError {
            kind,
            input: input.to_string(),
            message,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The string that failed to parse (the part handed to the failing parser).
    pub fn input(&self) -> &str {
        &self.input
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Re-attribute the error to a larger input (e.g. the whole image name).
    pub(crate) fn with_input(mut self, input: &str) -> ReferenceError {
        self.input = input.to_string();
        self
    }
}

/// Which image inside a `docker-archive:` tarball.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArchiveSelector {
    /// `:NAME[:TAG]` — always tagged (`:latest` added), never digested.
    Reference(DockerRef),
    /// `:@N` — the N-th entry of the archive's manifest.json.
    Index(usize),
}

/// A `docker-daemon:` reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DaemonRef {
    /// `NAME:TAG` or `NAME@DIGEST` (never both, never neither: no `:latest` is added).
    Reference(DockerRef),
    /// `sha256:ID` — an image ID (sha256 only).
    Id(Digest),
}

/// A `containers-storage:` reference. Store fields are what the user wrote inside
/// `[driver@graphroot+runroot:opt1,opt2]`; `None` means "the configured default".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StorageRef {
    pub driver: Option<String>,
    pub graph_root: Option<PathBuf>,
    pub run_root: Option<PathBuf>,
    pub options: Vec<String>,
    /// Tagged (`:latest` added when neither tag nor digest) and may have both.
    pub reference: Option<DockerRef>,
    /// A full 64-hex image ID.
    pub id: Option<String>,
}

/// A parsed `transport:details` image name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageName {
    /// `docker://NAME[:TAG|@DIGEST]`; always tagged or digested, never both.
    Docker(DockerRef),
    /// `dir:PATH`
    Dir { path: PathBuf },
    /// `oci:PATH[:REF]`
    Oci {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `oci-archive:PATH[:REF]`
    OciArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `docker-archive:PATH[:NAME[:TAG]|:@N]`
    DockerArchive {
        path: PathBuf,
        selector: Option<ArchiveSelector>,
    },
    /// `docker-daemon:NAME:TAG`, `docker-daemon:NAME@DIGEST` or `docker-daemon:sha256:ID`
    DockerDaemon(DaemonRef),
    /// `containers-storage:[STORE]NAME`, `…@ID`, `…NAME@ID`
    ContainersStorage(StorageRef),
    /// `sif:PATH` — a Singularity image file (read only).
    Sif { path: PathBuf },
    /// `tarball:FILE[:FILE…]` — filesystem tarballs as layers, `-` for stdin (read only).
    Tarball { files: Vec<String> },
}

impl ImageName {
    /// Parse `transport:details` as `alltransports.ParseImageName` does. Paths of `dir:`,
    /// `oci:` and `oci-archive:` are resolved (their parent directory must exist).
    pub fn parse(s: &str) -> Result<ImageName, ReferenceError> {
        let Some((transport, rest)) = s.split_once(':') else {
            return Err(ReferenceError::new(
                ErrorKind::MissingTransport,
                s,
                format!("Invalid image name \"{s}\", expected colon-separated transport:reference"),
            ));
        };
        let parsed = match transport {
            "docker" => local::parse_docker(rest),
            "dir" => local::parse_dir(rest),
            "oci" => {
                local::parse_oci(rest).map(|(path, reference)| ImageName::Oci { path, reference })
            }
            "oci-archive" => local::parse_oci(rest)
                .map(|(path, reference)| ImageName::OciArchive { path, reference }),
            "docker-archive" => local::parse_docker_archive(rest),
            "docker-daemon" => local::parse_docker_daemon(rest),
            "containers-storage" => storage::parse(rest),
            "sif" => local::parse_sif(rest),
            "tarball" => local::parse_tarball(rest),
            t if UNSUPPORTED_TRANSPORTS.contains(&t) => {
                return Err(ReferenceError::new(
                    ErrorKind::UnsupportedTransport,
                    s,
                    format!("The transport \"{t}:\" is not supported by skiff"),
                ));
            }
            t => {
                return Err(ReferenceError::new(
                    ErrorKind::UnknownTransport,
                    s,
                    format!("Invalid image name \"{s}\", unknown transport \"{t}\""),
                ));
            }
        };
        parsed.map_err(|e| e.with_input(s))
    }

    pub fn transport_name(&self) -> &'static str {
        match self {
            ImageName::Docker(_) => "docker",
            ImageName::Dir { .. } => "dir",
            ImageName::Oci { .. } => "oci",
            ImageName::OciArchive { .. } => "oci-archive",
            ImageName::DockerArchive { .. } => "docker-archive",
            ImageName::DockerDaemon(_) => "docker-daemon",
            ImageName::ContainersStorage(_) => "containers-storage",
            ImageName::Sif { .. } => "sif",
            ImageName::Tarball { .. } => "tarball",
        }
    }

    /// c/image `StringWithinTransport()`.
    pub fn string_within_transport(&self) -> String {
        match self {
            ImageName::Docker(r) => format!("//{}", r.familiar()),
            ImageName::Dir { path } => path.display().to_string(),
            ImageName::Oci { path, reference } | ImageName::OciArchive { path, reference } => {
                format!("{}:{}", path.display(), reference.as_deref().unwrap_or(""))
            }
            ImageName::DockerArchive { path, selector } => match selector {
                None => path.display().to_string(),
                Some(ArchiveSelector::Reference(r)) => format!("{}:{r}", path.display()),
                Some(ArchiveSelector::Index(i)) => format!("{}:@{i}", path.display()),
            },
            ImageName::DockerDaemon(DaemonRef::Id(d)) => d.to_string(),
            ImageName::DockerDaemon(DaemonRef::Reference(r)) => r.familiar(),
            ImageName::ContainersStorage(s) => s.string_within_transport(),
            ImageName::Sif { path } => path.display().to_string(),
            ImageName::Tarball { files } => files.join(":"),
        }
    }

    /// c/image `PolicyConfigurationIdentity()`. Paths are re-resolved now (falling back
    /// to the lexically absolute path if that fails, e.g. the parent was removed).
    pub fn policy_configuration_identity(&self) -> String {
        match self {
            ImageName::Docker(r) => r.policy_identity(),
            ImageName::Dir { path }
            | ImageName::Oci { path, .. }
            | ImageName::OciArchive { path, .. }
            | ImageName::Sif { path } => local::resolved(path),
            ImageName::DockerArchive { .. } | ImageName::Tarball { .. } => String::new(),
            ImageName::DockerDaemon(DaemonRef::Id(_)) => String::new(),
            ImageName::DockerDaemon(DaemonRef::Reference(r)) => r.policy_identity(),
            ImageName::ContainersStorage(s) => s.policy_identity(),
        }
    }

    /// c/image `PolicyConfigurationNamespaces()`, narrowest first.
    pub fn policy_configuration_namespaces(&self) -> Vec<String> {
        match self {
            ImageName::Docker(r) => r.policy_namespaces(),
            ImageName::Dir { path } | ImageName::Sif { path } => {
                paths::parent_namespaces(&local::resolved(path))
            }
            ImageName::Tarball { .. } => Vec::new(),
            ImageName::Oci { path, .. } | ImageName::OciArchive { path, .. } => {
                paths::self_and_parent_namespaces(&local::resolved(path))
            }
            ImageName::DockerArchive { .. } | ImageName::DockerDaemon(DaemonRef::Id(_)) => {
                Vec::new()
            }
            ImageName::DockerDaemon(DaemonRef::Reference(r)) => r.policy_namespaces(),
            ImageName::ContainersStorage(s) => s.policy_namespaces(),
        }
    }

    /// c/image `DockerReference()`.
    pub fn docker_reference(&self) -> Option<&DockerRef> {
        match self {
            ImageName::Docker(r) => Some(r),
            ImageName::DockerArchive {
                selector: Some(ArchiveSelector::Reference(r)),
                ..
            } => Some(r),
            ImageName::DockerDaemon(DaemonRef::Reference(r)) => Some(r),
            ImageName::ContainersStorage(s) => s.reference.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for ImageName {
    /// `transport:StringWithinTransport()`, as skopeo prints names in messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            self.transport_name(),
            self.string_within_transport()
        )
    }
}

impl std::str::FromStr for ImageName {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageName::parse(s)
    }
}
