//! `docker:`, `dir:`, `oci:`, `oci-archive:`, `docker-archive:` and `docker-daemon:`
//! (c/image `docker/docker_transport.go`, `directory/directory_transport.go`,
//! `oci/layout/oci_transport.go`, `oci/archive/oci_transport.go`,
//! `oci/internal/oci_util.go`, `docker/archive/transport.go`,
//! `docker/daemon/daemon_transport.go`).

use std::path::{Path, PathBuf};

use super::docker::{DockerRef, parse_digest};
use super::error::ErrorKind;
use super::error::ReferenceError;
use super::name::ImageName;
use super::name::{ArchiveSelector, DaemonRef};
use super::paths;

fn invalid(input: &str, message: String) -> ReferenceError {
    ReferenceError::new(ErrorKind::InvalidReference, input, message)
}

fn resolve(path: &str) -> Result<String, ReferenceError> {
    paths::resolve_fully_explicit(path).map_err(|m| ReferenceError::new(ErrorKind::Path, path, m))
}

/// The policy path of a `dir:`/`oci:` name, resolved now.
pub(super) fn resolved(path: &Path) -> String {
    let s = path.to_string_lossy();
    paths::resolve_fully_explicit(&s)
        .or_else(|_| paths::absolute(&s))
        .unwrap_or_else(|_| paths::clean(&s))
}

/// `docker://NAME` — requires the `//`; adds `:latest`; refuses tag+digest.
pub(super) fn parse_docker(rest: &str) -> Result<ImageName, ReferenceError> {
    let Some(name) = rest.strip_prefix("//") else {
        return Err(invalid(
            rest,
            format!("docker: image reference {rest} does not start with //"),
        ));
    };
    // `name:tag@digest` is accepted (skopeo 1.9.3 refuses it, podman takes it): the
    // registry transport reads by digest and checks that the tag still points there.
    let r = DockerRef::parse_normalized(name)?.with_default_tag();
    Ok(ImageName::Docker(r))
}

/// `dir:PATH` — any path, resolved (parent must exist).
pub(super) fn parse_dir(rest: &str) -> Result<ImageName, ReferenceError> {
    resolve(rest)?;
    Ok(ImageName::Dir {
        path: PathBuf::from(rest),
    })
}

/// `sif:PATH` — resolved like `dir:` (c/image `sif.NewReference`).
pub(super) fn parse_sif(rest: &str) -> Result<ImageName, ReferenceError> {
    resolve(rest)?;
    Ok(ImageName::Sif {
        path: PathBuf::from(rest),
    })
}

/// `tarball:FILE[:FILE…]` — every file must open now (c/image's `ParseReference`); `-` is
/// stdin, read when the image is opened.
pub(super) fn parse_tarball(rest: &str) -> Result<ImageName, ReferenceError> {
    let files: Vec<String> = rest.split(':').map(str::to_string).collect();
    for f in files.iter().filter(|f| *f != "-") {
        if let Err(e) = std::fs::File::open(f) {
            return Err(ReferenceError::new(
                ErrorKind::Path,
                f,
                format!(
                    "error opening {f:?}: open {f}: {}",
                    paths::go_errno_text(&e)
                ),
            ));
        }
    }
    Ok(ImageName::Tarball { files })
}

/// `oci:PATH[:REF]` / `oci-archive:PATH[:REF]` — split at the first colon, so the
/// path can never contain one; REF is validated against the OCI ref grammar.
pub(super) fn parse_oci(rest: &str) -> Result<(PathBuf, Option<String>), ReferenceError> {
    let (path, image) = rest.split_once(':').unwrap_or((rest, ""));
    resolve(path)?;
    if !image.is_empty() && !match_oci_ref(image) {
        return Err(invalid(image, format!("Invalid image {image}")));
    }
    let reference = (!image.is_empty()).then(|| image.to_string());
    Ok((PathBuf::from(path), reference))
}

/// `^component(/component)*$` with `component = alnum+ (sep alnum+)*`,
/// `alnum = [A-Za-z0-9]`, `sep = [-._:@+] | --`.
fn match_oci_ref(s: &str) -> bool {
    s.split('/').all(|comp| {
        let b = comp.as_bytes();
        if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric()
        {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let sep = &comp[start..i];
            let single = sep.len() == 1
                && matches!(sep.as_bytes()[0], b'-' | b'.' | b'_' | b':' | b'@' | b'+');
            if !(single || sep == "--") {
                return false;
            }
        }
        true
    })
}

/// `docker-archive:PATH[:NAME[:TAG]|:@N]`.
pub(super) fn parse_docker_archive(rest: &str) -> Result<ImageName, ReferenceError> {
    if rest.is_empty() {
        return Err(invalid(
            rest,
            format!("docker-archive reference {rest} isn't of the form <path>[:<reference>]"),
        ));
    }
    let (path, sel) = match rest.split_once(':') {
        Some((p, s)) => (p, Some(s)),
        None => (rest, None),
    };
    let selector = match sel {
        None => None,
        Some(s) if s.starts_with('@') => {
            let i = go_atoi(&s[1..])
                .map_err(|e| invalid(s, format!("Invalid source index {s}: {e}")))?;
            if i < 0 {
                return Err(invalid(
                    s,
                    format!("Invalid source index @{i}: must not be negative"),
                ));
            }
            let i = usize::try_from(i)
                .map_err(|_| invalid(s, format!("Invalid source index {s}: value out of range")))?;
            Some(ArchiveSelector::Index(i))
        }
        Some(s) => {
            let r = DockerRef::parse_normalized(s)
                .map_err(|e| invalid(s, format!("docker-archive parsing reference: {e}")))?
                .with_default_tag();
            if r.tag().is_none() {
                return Err(invalid(s, format!("reference does not include a tag: {r}")));
            }
            if r.digest().is_some() {
                return Err(invalid(
                    s,
                    format!("docker-archive doesn't support digest references: {r}"),
                ));
            }
            Some(ArchiveSelector::Reference(r))
        }
    };
    Ok(ImageName::DockerArchive {
        path: PathBuf::from(path),
        selector,
    })
}

/// Go's `strconv.Atoi` (64-bit `int`), with its error text.
fn go_atoi(s: &str) -> Result<i64, String> {
    let syntax = || format!("strconv.Atoi: parsing {s:?}: invalid syntax");
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    let range = || format!("strconv.Atoi: parsing {s:?}: value out of range");
    let mut v: i64 = 0;
    for b in digits.bytes() {
        let d = i64::from(b - b'0');
        v = v
            .checked_mul(10)
            .and_then(|v| {
                if neg {
                    v.checked_sub(d)
                } else {
                    v.checked_add(d)
                }
            })
            .ok_or_else(range)?;
    }
    Ok(v)
}

/// `docker-daemon:sha256:ID` or `docker-daemon:NAME:TAG` / `NAME@DIGEST`.
pub(super) fn parse_docker_daemon(rest: &str) -> Result<ImageName, ReferenceError> {
    if let Ok(d) = parse_digest(rest) {
        if d.algorithm().name() != "sha256" {
            return Err(invalid(
                rest,
                format!(
                    "Invalid docker-daemon: reference {rest}: only digest algorithm sha256 accepted"
                ),
            ));
        }
        return Ok(ImageName::DockerDaemon(DaemonRef::Id(d)));
    }
    let r = DockerRef::parse_normalized(rest)?;
    if r.familiar_name() == "sha256" {
        return Err(invalid(
            rest,
            format!(
                "Invalid docker-daemon: reference {rest}: The sha256 repository name is reserved for (non-shortened) digest references"
            ),
        ));
    }
    if r.is_name_only() {
        return Err(invalid(
            rest,
            format!(
                "docker-daemon: reference {} has neither a tag nor a digest",
                r.familiar()
            ),
        ));
    }
    if r.tag().is_some() && r.digest().is_some() {
        return Err(invalid(
            rest,
            "docker-daemon: references with both a tag and digest are currently not supported"
                .to_string(),
        ));
    }
    Ok(ImageName::DockerDaemon(DaemonRef::Reference(r)))
}
