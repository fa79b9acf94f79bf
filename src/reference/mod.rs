//! Image names (`transport:details`) as accepted by `skopeo copy`, following
//! containers/image v5.23.1 (what skopeo 1.9.3 vendors): `alltransports.ParseImageName`
//! and each transport's `ParseReference`, `StringWithinTransport`,
//! `PolicyConfigurationIdentity`, `PolicyConfigurationNamespaces` and `DockerReference`.
//!
//! Error messages reproduce c/image's text; skopeo prints them as
//! `Invalid source name NAME: MESSAGE` (or `Invalid destination name …`), so callers
//! should add that prefix. [`ReferenceError::input`] gives the offending input.
//!
//! `name` has the [`ImageName`] types, `error` the error; `docker`, `local` and `storage`
//! parse each transport's part, `paths` the path rules they share. This file parses the
//! transport prefix and answers the policy's questions about a name.

pub(crate) mod docker;
mod error;
mod local;
mod name;
pub(crate) mod paths;
mod storage;
#[cfg(test)]
mod tests;

pub use docker::{DockerRef, NAME_TOTAL_LENGTH_MAX};
pub use error::{ErrorKind, ReferenceError};
pub use name::{ArchiveSelector, DaemonRef, ImageName, StorageRef};
pub(crate) use paths::go_errno_text;
use std::fmt;
pub use storage::parse_with_lookup as storage_with_lookup;

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
