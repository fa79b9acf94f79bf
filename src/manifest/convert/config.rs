//! Image configs: the OCI config containers/image writes when converting to OCI
//! (`OCIConfig`: decode into image-spec v1.1.0-rc2's `v1.Image`, marshal again), and the
//! parts of a Docker config the schema 1 synthesis reads.

use serde_json::{Map, Value};

use crate::manifest::error::ManifestError;
use crate::manifest::gojson::{
    self, get_bool, get_map, get_string, get_strings, get_time, map_value,
};

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ManifestError> {
    v.as_object().ok_or_else(|| {
        ManifestError::Invalid(format!(
            "json: cannot unmarshal non-object into Go value of type {what}"
        ))
    })
}

fn strings_value(v: Vec<String>) -> Value {
    Value::Array(v.into_iter().map(Value::String).collect())
}

/// `json.Marshal(v1.Image)` of `json.Unmarshal(config)`: what `--format oci` writes as the
/// new config blob. Docker-only fields are dropped, maps are sorted, times normalised.
pub fn oci_config(config: &[u8]) -> Result<Vec<u8>, ManifestError> {
    let root: Value = serde_json::from_slice(config)?;
    let root = object(&root, "v1.Image")?;
    let mut out = Map::new();
    if let Some(t) = get_time(root, "created")? {
        out.insert("created".into(), Value::String(t));
    }
    let author = get_string(root, "author")?;
    if !author.is_empty() {
        out.insert("author".into(), Value::String(author));
    }
    out.insert(
        "architecture".into(),
        Value::String(get_string(root, "architecture")?),
    );
    let variant = get_string(root, "variant")?;
    if !variant.is_empty() {
        out.insert("variant".into(), Value::String(variant));
    }
    out.insert("os".into(), Value::String(get_string(root, "os")?));
    let os_version = get_string(root, "os.version")?;
    if !os_version.is_empty() {
        out.insert("os.version".into(), Value::String(os_version));
    }
    if let Some(f) = get_strings(root, "os.features")?.filter(|f| !f.is_empty()) {
        out.insert("os.features".into(), strings_value(f));
    }
    let cfg = match gojson::member(root, "config") {
        None | Some(Value::Null) => Map::new(),
        Some(v) => image_config(object(v, "v1.ImageConfig")?)?,
    };
    out.insert("config".into(), Value::Object(cfg));
    out.insert("rootfs".into(), rootfs(root)?);
    let history = history(root)?;
    if !history.is_empty() {
        out.insert("history".into(), Value::Array(history));
    }
    Ok(gojson::encode(&Value::Object(out)).into_bytes())
}

/// image-spec `ImageConfig`: every field is omitempty.
fn image_config(c: &Map<String, Value>) -> Result<Map<String, Value>, ManifestError> {
    let mut out = Map::new();
    let string = |out: &mut Map<String, Value>, name: &str| -> Result<(), ManifestError> {
        let s = get_string(c, name)?;
        if !s.is_empty() {
            out.insert(name.into(), Value::String(s));
        }
        Ok(())
    };
    string(&mut out, "User")?;
    if let Some(m) = get_map(c, "ExposedPorts", false)?.filter(|m| !m.is_empty()) {
        out.insert("ExposedPorts".into(), map_value(m));
    }
    for name in ["Env", "Entrypoint", "Cmd"] {
        if let Some(v) = get_strings(c, name)?.filter(|v| !v.is_empty()) {
            out.insert(name.into(), strings_value(v));
        }
    }
    if let Some(m) = get_map(c, "Volumes", false)?.filter(|m| !m.is_empty()) {
        out.insert("Volumes".into(), map_value(m));
    }
    string(&mut out, "WorkingDir")?;
    if let Some(m) = get_map(c, "Labels", true)?.filter(|m| !m.is_empty()) {
        out.insert("Labels".into(), map_value(m));
    }
    string(&mut out, "StopSignal")?;
    if get_bool(c, "ArgsEscaped")? {
        out.insert("ArgsEscaped".into(), Value::Bool(true));
    }
    Ok(out)
}

/// `RootFS{Type string "type"; DiffIDs []digest.Digest "diff_ids"}`: neither is omitempty.
fn rootfs(root: &Map<String, Value>) -> Result<Value, ManifestError> {
    let (ty, ids) = match gojson::member(root, "rootfs") {
        None | Some(Value::Null) => (String::new(), None),
        Some(v) => {
            let r = object(v, "v1.RootFS")?;
            (get_string(r, "type")?, get_strings(r, "diff_ids")?)
        }
    };
    let mut out = Map::new();
    out.insert("type".into(), Value::String(ty));
    out.insert(
        "diff_ids".into(),
        ids.map(strings_value).unwrap_or(Value::Null),
    );
    Ok(Value::Object(out))
}

/// image-spec `History` entries (all fields omitempty; `created` is a pointer).
fn history(root: &Map<String, Value>) -> Result<Vec<Value>, ManifestError> {
    let entries = match gojson::member(root, "history") {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ManifestError::Invalid(
                "json: cannot unmarshal history into Go struct field Image.history".into(),
            ));
        }
    };
    let mut out = Vec::new();
    for e in entries {
        let mut h = Map::new();
        if !e.is_null() {
            let e = object(e, "v1.History")?;
            if let Some(t) = get_time(e, "created")? {
                h.insert("created".into(), Value::String(t));
            }
            for name in ["created_by", "author", "comment"] {
                let s = get_string(e, name)?;
                if !s.is_empty() {
                    h.insert(name.into(), Value::String(s));
                }
            }
            if get_bool(e, "empty_layer")? {
                h.insert("empty_layer".into(), Value::Bool(true));
            }
        }
        out.push(Value::Object(h));
    }
    Ok(out)
}

/// One entry of a Docker config's `history`, as `manifest.Schema2History` decodes it.
#[derive(Debug, Clone)]
pub struct DockerHistory {
    /// Go-encoded `created` (the zero time when absent).
    pub created: String,
    pub author: String,
    pub created_by: String,
    pub comment: String,
    pub empty_layer: bool,
}

/// What the schema 1 synthesis reads from a Docker (or OCI) config: `history` and
/// `architecture`.
pub struct DockerImage {
    pub architecture: String,
    pub history: Vec<DockerHistory>,
}

pub fn docker_image(config: &[u8]) -> Result<DockerImage, ManifestError> {
    let root: Value = serde_json::from_slice(config)?;
    let root = object(&root, "manifest.Schema2Image")?;
    let mut history = Vec::new();
    match gojson::member(root, "history") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for e in a {
                let empty = Map::new();
                let e = if e.is_null() {
                    &empty
                } else {
                    object(e, "manifest.Schema2History")?
                };
                history.push(DockerHistory {
                    created: get_time(e, "created")?
                        .unwrap_or_else(|| gojson::ZERO_TIME.to_string()),
                    author: get_string(e, "author")?,
                    created_by: get_string(e, "created_by")?,
                    comment: get_string(e, "comment")?,
                    empty_layer: get_bool(e, "empty_layer")?,
                });
            }
        }
        Some(_) => {
            return Err(ManifestError::Invalid(
                "json: cannot unmarshal history into Go struct field Schema2Image.history".into(),
            ));
        }
    }
    Ok(DockerImage {
        architecture: get_string(root, "architecture")?,
        history,
    })
}
