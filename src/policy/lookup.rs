//! Scope lookup (`PolicyContext.requirementsForImageRef`), plus the
//! namespace lists c/image's transports compute for an image, so callers can
//! build the `namespaces` argument exactly as skopeo would.

use super::{Policy, Requirement};

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
}

/// Namespaces of a `docker` (or named `docker-daemon`) image, from its fully
/// qualified repository name (e.g. `docker.io/library/busybox`):
/// `DockerReferenceNamespaces` — the repository, each parent namespace, the
/// host (with port), then `*.`-wildcards of the host's parent domains
/// (port stripped), e.g. `*.example.com`, `*.com`.
pub fn docker_namespaces(repository_name: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut name = repository_name;
    loop {
        res.push(name.to_string());
        match name.rfind('/') {
            Some(i) => name = &name[..i],
            None => break,
        }
    }
    if let Some(i) = name.find(':') {
        name = &name[..i];
    }
    while let Some(i) = name.find('.') {
        name = &name[i + 1..];
        res.push(format!("*.{name}"));
    }
    res
}

/// Namespaces of a `dir:` image with the given resolved absolute path: each
/// parent directory, excluding `/` and the path itself.
pub fn dir_namespaces(resolved_path: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut path = resolved_path;
    while let Some(i) = path.rfind('/').filter(|i| *i > 0) {
        path = &path[..i];
        res.push(path.to_string());
    }
    res
}

/// Namespaces of an `oci:` / `oci-archive:` image with the given resolved
/// absolute path: the path itself, then each parent, excluding `/`.
pub fn oci_namespaces(resolved_path: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut path = resolved_path;
    while path != "/" {
        let Some(i) = path.rfind('/') else { break };
        res.push(path.to_string());
        path = &path[..i];
    }
    res
}
