//! Docker manifest list <-> OCI index (containers/image `Schema2List` / `OCI1Index`:
//! `UpdateInstances`, `ConvertToMIMEType`, `Serialize`).

use serde_json::{Map, Value};

use super::api::Target;
use crate::digest::Digest;
use crate::manifest::error::ManifestError;
use crate::manifest::gojson::{self, get_map, get_string, get_strings, member};
use crate::manifest::mime;
use crate::manifest::model::Manifest;
use crate::manifest::platform::WantedPlatform;

/// One list entry with the fields c/image keeps.
#[derive(Debug, Clone)]
struct Entry {
    media_type: String,
    digest: String,
    size: i64,
    urls: Vec<String>,
    annotations: Vec<(String, Value)>,
    platform: Option<Platform>,
}

#[derive(Debug, Clone)]
struct Platform {
    architecture: String,
    os: String,
    os_version: String,
    os_features: Vec<String>,
    variant: String,
    /// Docker lists only; OCI has no such field.
    features: Vec<String>,
}

/// Sorted Go `map[string]string` contents.
type Annotations = Vec<(String, Value)>;

fn parse(list: &Manifest) -> Result<(Vec<Entry>, Annotations), ManifestError> {
    let v: Value = serde_json::from_slice(&list.raw)?;
    let o = v
        .as_object()
        .ok_or_else(|| ManifestError::Invalid("manifest list is not an object".into()))?;
    let docker = list.mime == mime::DOCKER_LIST;
    let mut entries = Vec::new();
    if let Some(Value::Array(a)) = member(o, "manifests") {
        for e in a {
            let empty = Map::new();
            let e = e.as_object().unwrap_or(&empty);
            let size = match member(e, "size") {
                Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
                    ManifestError::Invalid(format!("manifest list entry size {n} is not an int64"))
                })?,
                None | Some(Value::Null) => 0,
                Some(_) => return Err(ManifestError::Invalid("size is not a number".into())),
            };
            let platform = match member(e, "platform") {
                None | Some(Value::Null) if !docker => None,
                None | Some(Value::Null) => Some(platform(&Map::new())?),
                Some(Value::Object(p)) => Some(platform(p)?),
                Some(_) => return Err(ManifestError::Invalid("platform is not an object".into())),
            };
            entries.push(Entry {
                media_type: get_string(e, "mediaType")?,
                digest: get_string(e, "digest")?,
                size,
                urls: get_strings(e, "urls")?.unwrap_or_default(),
                annotations: if docker {
                    vec![]
                } else {
                    get_map(e, "annotations", true)?.unwrap_or_default()
                },
                platform,
            });
        }
    }
    let annotations = if docker {
        vec![]
    } else {
        get_map(o, "annotations", true)?.unwrap_or_default()
    };
    Ok((entries, annotations))
}

fn platform(p: &Map<String, Value>) -> Result<Platform, ManifestError> {
    Ok(Platform {
        architecture: get_string(p, "architecture")?,
        os: get_string(p, "os")?,
        os_version: get_string(p, "os.version")?,
        os_features: get_strings(p, "os.features")?.unwrap_or_default(),
        variant: get_string(p, "variant")?,
        features: get_strings(p, "features")?.unwrap_or_default(),
    })
}

fn strings(v: &[String]) -> Value {
    v.iter().cloned().map(Value::String).collect()
}

fn platform_value(p: &Platform, docker: bool) -> Value {
    let mut o = Map::new();
    o.insert("architecture".into(), Value::String(p.architecture.clone()));
    o.insert("os".into(), Value::String(p.os.clone()));
    if !p.os_version.is_empty() {
        o.insert("os.version".into(), Value::String(p.os_version.clone()));
    }
    if !p.os_features.is_empty() {
        o.insert("os.features".into(), strings(&p.os_features));
    }
    if !p.variant.is_empty() {
        o.insert("variant".into(), Value::String(p.variant.clone()));
    }
    if docker && !p.features.is_empty() {
        o.insert("features".into(), strings(&p.features));
    }
    Value::Object(o)
}

fn serialize(entries: &[Entry], annotations: &[(String, Value)], docker: bool) -> Vec<u8> {
    let mut manifests = Vec::new();
    for e in entries {
        let mut o = Map::new();
        if docker {
            o.insert("mediaType".into(), Value::String(e.media_type.clone()));
            o.insert("size".into(), Value::from(e.size));
            o.insert("digest".into(), Value::String(e.digest.clone()));
        } else {
            if !e.media_type.is_empty() {
                o.insert("mediaType".into(), Value::String(e.media_type.clone()));
            }
            o.insert("digest".into(), Value::String(e.digest.clone()));
            o.insert("size".into(), Value::from(e.size));
        }
        if !e.urls.is_empty() {
            o.insert("urls".into(), strings(&e.urls));
        }
        if !docker && !e.annotations.is_empty() {
            o.insert(
                "annotations".into(),
                gojson::map_value(e.annotations.clone()),
            );
        }
        let host;
        let p = match (&e.platform, docker) {
            (Some(p), _) => Some(p),
            // ToSchema2List fills a missing platform with the running one.
            (None, true) => {
                let h = WantedPlatform::host(None, None, None);
                host = Platform {
                    architecture: h.architecture,
                    os: h.os,
                    os_version: String::new(),
                    os_features: vec![],
                    variant: String::new(),
                    features: vec![],
                };
                Some(&host)
            }
            (None, false) => None,
        };
        if let Some(p) = p {
            o.insert("platform".into(), platform_value(p, docker));
        }
        manifests.push(Value::Object(o));
    }
    let mut o = Map::new();
    o.insert("schemaVersion".into(), Value::from(2));
    o.insert(
        "mediaType".into(),
        Value::String(
            if docker {
                mime::DOCKER_LIST
            } else {
                mime::OCI_INDEX
            }
            .into(),
        ),
    );
    o.insert("manifests".into(), Value::Array(manifests));
    if !docker && !annotations.is_empty() {
        o.insert(
            "annotations".into(),
            gojson::map_value(annotations.to_vec()),
        );
    }
    gojson::encode(&Value::Object(o)).into_bytes()
}

/// See [`super::convert_list`].
pub fn convert_list(
    list: &Manifest,
    to: Target,
    instances: &[(Digest, Digest, usize, String)],
) -> Result<Manifest, ManifestError> {
    if !list.is_list() {
        return Err(ManifestError::Update(format!(
            "{} is not a manifest list",
            list.mime
        )));
    }
    let source_docker = list.mime == mime::DOCKER_LIST;
    let (mut entries, mut annotations) = parse(list)?;
    let original = serialize(&entries, &annotations, source_docker);
    for e in entries.iter_mut() {
        if let Some((_, new, size, mt)) = instances.iter().find(|i| i.0.to_string() == e.digest) {
            if mt.is_empty() {
                return Err(ManifestError::Update(format!(
                    "update for instance {} had no media type (was {:?})",
                    e.digest, e.media_type
                )));
            }
            e.digest = new.to_string();
            e.size = i64::try_from(*size).unwrap_or(i64::MAX);
            e.media_type = mt.clone();
        }
    }
    let docker = to != Target::Oci;
    if docker {
        annotations.clear();
        for e in entries.iter_mut() {
            e.annotations.clear();
        }
    }
    let out = serialize(&entries, &annotations, docker);
    // c/image keeps the original bytes when nothing changed.
    if docker == source_docker && out == original {
        return Ok(list.clone());
    }
    let mt = if docker {
        mime::DOCKER_LIST
    } else {
        mime::OCI_INDEX
    };
    Manifest::parse(out, Some(mt))
}
