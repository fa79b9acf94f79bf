//! containers/image's choice of manifest type (copy/manifest.go
//! `determineManifestConversion`, copy/copy.go `determineListConversion`).

use super::api::Target;
use crate::manifest::error::ManifestError;
use crate::manifest::mime;

/// `manifest.NormalizedMIMEType`: unknown types are treated as signed schema 1.
pub fn normalized(m: &str) -> &str {
    match m {
        mime::DOCKER_V2S1
        | mime::DOCKER_V2S1_SIGNED
        | mime::OCI_MANIFEST
        | mime::OCI_INDEX
        | mime::DOCKER_V2S2
        | mime::DOCKER_LIST => m,
        _ => mime::DOCKER_V2S1_SIGNED,
    }
}

/// What `--format` forces (skopeo: oci, v2s2, v2s1 = the signed schema 1 type).
pub fn forced_mime(t: Target) -> &'static str {
    match t {
        Target::Oci => mime::OCI_MANIFEST,
        Target::Schema2 => mime::DOCKER_V2S2,
        Target::Schema1 => mime::DOCKER_V2S1_SIGNED,
    }
}

/// Types to try in order after keeping the source type, if we must convert.
const PREFERRED: [&str; 2] = [mime::DOCKER_V2S2, mime::DOCKER_V2S1_SIGNED];

fn push(list: &mut Vec<String>, t: &str) {
    if !list.iter().any(|x| x == t) {
        list.push(t.to_string());
    }
}

/// See [`super::plan_types`].
pub fn plan_types(
    source_mime: &str,
    dest_supported: &[&str],
    forced: Option<Target>,
) -> Result<(String, Vec<String>), ManifestError> {
    let src = normalized(source_mime);
    if mime::is_list(src) {
        return plan_list(src, dest_supported, forced);
    }
    let forced_list;
    let supported: &[&str] = match forced {
        Some(t) => {
            forced_list = [forced_mime(t)];
            &forced_list
        }
        None => dest_supported,
    };
    if supported.is_empty() {
        // Anything goes: keep the source as it is.
        return Ok((src.to_string(), vec![]));
    }
    let mut order = Vec::new();
    if supported.contains(&src) {
        push(&mut order, src);
    }
    for t in PREFERRED {
        if supported.contains(&t) {
            push(&mut order, t);
        }
    }
    for t in supported {
        push(&mut order, t);
    }
    let first = order.remove(0);
    Ok((first, order))
}

fn plan_list(
    src: &str,
    dest_supported: &[&str],
    forced: Option<Target>,
) -> Result<(String, Vec<String>), ManifestError> {
    let all = [mime::DOCKER_LIST, mime::OCI_INDEX];
    let forced_list;
    let supported: &[&str] = match forced {
        Some(Target::Oci) => {
            forced_list = [mime::OCI_INDEX];
            &forced_list
        }
        Some(_) => {
            forced_list = [mime::DOCKER_LIST];
            &forced_list
        }
        None if dest_supported.is_empty() => &all,
        None => dest_supported,
    };
    let mut order = Vec::new();
    if supported.contains(&src) {
        push(&mut order, src);
    }
    for t in supported {
        if mime::is_list(t) {
            push(&mut order, t);
        }
    }
    if order.is_empty() {
        return Err(ManifestError::Unsupported(format!(
            "determining manifest list type to write to destination: destination does not support any supported manifest list types ([{} {}])",
            mime::DOCKER_LIST,
            mime::OCI_INDEX
        )));
    }
    let first = order.remove(0);
    Ok((first, order))
}

/// The destination types containers/image 5.23.1 declares for each transport
/// (`SupportedManifestMIMETypes`; empty = anything).
pub fn destination_types(transport: &str) -> &'static [&'static str] {
    match transport {
        "oci" | "oci-archive" => &[mime::OCI_MANIFEST, mime::OCI_INDEX],
        "docker" => &[
            mime::OCI_MANIFEST,
            mime::DOCKER_V2S2,
            mime::OCI_INDEX,
            mime::DOCKER_LIST,
            mime::DOCKER_V2S1_SIGNED,
            mime::DOCKER_V2S1,
        ],
        "docker-archive" | "docker-daemon" => &[mime::DOCKER_V2S2],
        _ => &[],
    }
}
