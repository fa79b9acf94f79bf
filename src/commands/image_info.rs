//! What `inspect` prints, computed from a manifest and its config as c/image's
//! `Inspect()` and `OCIConfig()` compute it (skopeo 1.9.3's `inspect.Output` and the OCI
//! `v1.Image` it prints for `--config`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::value::{GoValue, field, normalize_time, omitempty};
use crate::manifest::{Kind, Manifest, mime};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InfoError(String);

/// The facts about an image that `inspect.Output` holds besides Name, Digest and RepoTags.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    pub tag: String,
    pub created: Option<String>,
    pub docker_version: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub architecture: String,
    pub os: String,
    pub layers: Vec<String>,
    pub env: Option<Vec<String>>,
}

/// Go's encoding/json matches object keys case-insensitively, preferring an exact match.
fn get<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    let map = obj.as_object()?;
    map.get(name)
        .or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

fn string_of(obj: &Value, name: &str) -> Result<String, InfoError> {
    match get(obj, name) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(InfoError(format!(
            "config field {name:?} is {other}, not a string"
        ))),
    }
}

fn strings_of(obj: &Value, name: &str) -> Result<Option<Vec<String>>, InfoError> {
    match get(obj, name) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    InfoError(format!("config field {name:?} holds a non-string {v}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(InfoError(format!(
            "config field {name:?} is {other}, not a list"
        ))),
    }
}

fn string_map_of(obj: &Value, name: &str) -> Result<Option<BTreeMap<String, String>>, InfoError> {
    match get(obj, name) {
        None => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(InfoError(format!(
                    "config field {name:?} entry {k:?} is {other}, not a string"
                ))),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map(Some),
        Some(other) => Err(InfoError(format!(
            "config field {name:?} is {other}, not an object"
        ))),
    }
}

/// A time field: normalized RFC 3339, or None when absent.
fn time_of(obj: &Value, name: &str) -> Result<Option<String>, InfoError> {
    match get(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(normalize_time(s))),
        Some(other) => Err(InfoError(format!(
            "config field {name:?} is {other}, not a time"
        ))),
    }
}

/// A `string` field as a template value.
fn go_str(obj: &Value, name: &str) -> Result<GoValue, InfoError> {
    Ok(GoValue::Str(string_of(obj, name)?))
}

/// A `[]string` field as a template value.
fn go_strings(obj: &Value, name: &str) -> Result<GoValue, InfoError> {
    Ok(GoValue::strings(strings_of(obj, name)?))
}

/// A `*time.Time` field as a template value.
fn go_time(obj: &Value, name: &str) -> Result<GoValue, InfoError> {
    Ok(time_of(obj, name)?.map_or(GoValue::Nil, GoValue::Time))
}

/// c/image `Inspect()` for an image manifest (not a list) and its parsed config.
pub fn facts(manifest: &Manifest, config: Option<&Value>) -> Result<ImageFacts, InfoError> {
    match &manifest.kind {
        Kind::Image { layers, .. } => {
            let empty = Value::Object(Map::new());
            let config = config.unwrap_or(&empty);
            let inner = get(config, "config").unwrap_or(&empty);
            let created = time_of(config, "created")?;
            Ok(ImageFacts {
                tag: String::new(),
                // Docker's schema 2 config has a non-pointer time: absent is year 1.
                created: match (created, manifest.mime.as_str()) {
                    (None, mime::DOCKER_V2S2) => Some("0001-01-01T00:00:00Z".into()),
                    (c, _) => c,
                },
                docker_version: string_of(config, "docker_version")?,
                labels: string_map_of(inner, "Labels")?,
                architecture: string_of(config, "architecture")?,
                os: string_of(config, "os")?,
                layers: layers.iter().map(|l| l.digest.to_string()).collect(),
                env: strings_of(inner, "Env")?,
            })
        }
        Kind::Schema1 { .. } => schema1_facts(&manifest.raw),
        Kind::List { .. } => Err(InfoError(
            "a manifest list has no configuration of its own".into(),
        )),
    }
}

/// Schema 1 keeps its config in `history[0].v1Compatibility`; every fsLayer counts.
fn schema1_facts(raw: &[u8]) -> Result<ImageFacts, InfoError> {
    let value: Value = serde_json::from_slice(raw)
        .map_err(|e| InfoError(format!("schema 1 manifest is not valid JSON: {e}")))?;
    let v1: Value = get(&value, "history")
        .and_then(|h| h.get(0))
        .and_then(|h| get(h, "v1Compatibility"))
        .and_then(Value::as_str)
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| InfoError(format!("schema 1 v1Compatibility is not valid JSON: {e}")))?
        .unwrap_or(Value::Null);
    let empty = Value::Object(Map::new());
    let inner = get(&v1, "config").unwrap_or(&empty);
    let layers = get(&value, "fsLayers")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .rev()
                .filter_map(|f| {
                    get(f, "blobSum")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ImageFacts {
        tag: string_of(&value, "tag")?,
        created: Some(time_of(&v1, "created")?.unwrap_or_else(|| "0001-01-01T00:00:00Z".into())),
        docker_version: string_of(&v1, "docker_version")?,
        labels: string_map_of(inner, "Labels")?,
        architecture: string_of(&v1, "architecture")?,
        os: string_of(&v1, "os")?,
        layers,
        env: strings_of(inner, "Env")?,
    })
}

/// skopeo 1.9.3's `inspect.Output`, field for field.
pub fn output(
    name: Option<String>,
    digest: &str,
    repo_tags: Option<Vec<String>>,
    f: ImageFacts,
) -> GoValue {
    GoValue::Struct(vec![
        omitempty("Name", "Name", GoValue::Str(name.unwrap_or_default())),
        omitempty("Tag", "Tag", GoValue::Str(f.tag)),
        field("Digest", "Digest", GoValue::str(digest)),
        field("RepoTags", "RepoTags", GoValue::strings(repo_tags)),
        field(
            "Created",
            "Created",
            f.created.map_or(GoValue::Nil, GoValue::Time),
        ),
        field(
            "DockerVersion",
            "DockerVersion",
            GoValue::Str(f.docker_version),
        ),
        field("Labels", "Labels", GoValue::string_map(f.labels)),
        field("Architecture", "Architecture", GoValue::Str(f.architecture)),
        field("Os", "Os", GoValue::Str(f.os)),
        field("Layers", "Layers", GoValue::strings(Some(f.layers))),
        field("Env", "Env", GoValue::strings(f.env)),
    ])
}

/// A `map[string]struct{}` (ExposedPorts, Volumes).
fn set_of(obj: &Value, name: &str) -> GoValue {
    GoValue::Map(get(obj, name).and_then(Value::as_object).map(|m| {
        m.keys()
            .map(|k| (k.clone(), GoValue::Struct(Vec::new())))
            .collect()
    }))
}

/// The config as c/image's `OCIConfig()` returns it: decoded into the OCI `v1.Image`
/// struct (Docker-only fields dropped), ready to be re-encoded or templated.
pub fn oci_config(config: &Value) -> Result<GoValue, InfoError> {
    let empty = Value::Object(Map::new());
    let history = oci_history(config)?;
    Ok(GoValue::Struct(vec![
        omitempty("Created", "created", go_time(config, "created")?),
        omitempty("Author", "author", go_str(config, "author")?),
        field(
            "Architecture",
            "architecture",
            go_str(config, "architecture")?,
        ),
        omitempty("Variant", "variant", go_str(config, "variant")?),
        field("OS", "os", go_str(config, "os")?),
        omitempty("OSVersion", "os.version", go_str(config, "os.version")?),
        omitempty(
            "OSFeatures",
            "os.features",
            go_strings(config, "os.features")?,
        ),
        field(
            "Config",
            "config",
            oci_runtime_config(get(config, "config").unwrap_or(&empty))?,
        ),
        field(
            "RootFS",
            "rootfs",
            oci_rootfs(get(config, "rootfs").unwrap_or(&empty))?,
        ),
        omitempty("History", "history", GoValue::List(history)),
    ]))
}

/// `v1.ImageConfig`: what a container runs with.
fn oci_runtime_config(inner: &Value) -> Result<GoValue, InfoError> {
    Ok(GoValue::Struct(vec![
        omitempty("User", "User", go_str(inner, "User")?),
        omitempty(
            "ExposedPorts",
            "ExposedPorts",
            set_of(inner, "ExposedPorts"),
        ),
        omitempty("Env", "Env", go_strings(inner, "Env")?),
        omitempty("Entrypoint", "Entrypoint", go_strings(inner, "Entrypoint")?),
        omitempty("Cmd", "Cmd", go_strings(inner, "Cmd")?),
        omitempty("Volumes", "Volumes", set_of(inner, "Volumes")),
        omitempty("WorkingDir", "WorkingDir", go_str(inner, "WorkingDir")?),
        omitempty(
            "Labels",
            "Labels",
            GoValue::string_map(string_map_of(inner, "Labels")?),
        ),
        omitempty("StopSignal", "StopSignal", go_str(inner, "StopSignal")?),
    ]))
}

/// `v1.RootFS`: the layers' diff IDs.
fn oci_rootfs(rootfs: &Value) -> Result<GoValue, InfoError> {
    Ok(GoValue::Struct(vec![
        field("Type", "type", go_str(rootfs, "type")?),
        field("DiffIDs", "diff_ids", go_strings(rootfs, "diff_ids")?),
    ]))
}

/// `[]v1.History`, or None when the config has no history.
fn oci_history(config: &Value) -> Result<Option<Vec<GoValue>>, InfoError> {
    match get(config, "history") {
        None => Ok(None),
        Some(Value::Array(entries)) => entries
            .iter()
            .map(oci_history_entry)
            .collect::<Result<Vec<_>, InfoError>>()
            .map(Some),
        Some(other) => Err(InfoError(format!(
            "config field \"history\" is {other}, not a list"
        ))),
    }
}

fn oci_history_entry(h: &Value) -> Result<GoValue, InfoError> {
    Ok(GoValue::Struct(vec![
        omitempty("Created", "created", go_time(h, "created")?),
        omitempty("CreatedBy", "created_by", go_str(h, "created_by")?),
        omitempty("Author", "author", go_str(h, "author")?),
        omitempty("Comment", "comment", go_str(h, "comment")?),
        omitempty(
            "EmptyLayer",
            "empty_layer",
            GoValue::Bool(
                get(h, "empty_layer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ),
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::value::indented_json;

    #[test]
    fn docker_config_fields_are_dropped_and_order_is_oci() {
        let config: Value = serde_json::from_str(
            r#"{"os":"linux","architecture":"amd64","container":"abc","docker_version":"20.10",
                "config":{"Cmd":["sh"],"Hostname":"h","ExposedPorts":{"80/tcp":{}}},
                "rootfs":{"type":"layers","diff_ids":["sha256:a"]},
                "created":"2024-01-01T00:00:00.000Z"}"#,
        )
        .unwrap();
        let text = indented_json(&oci_config(&config).unwrap().to_json());
        assert_eq!(
            text,
            "{\n    \"created\": \"2024-01-01T00:00:00Z\",\n    \"architecture\": \"amd64\",\n    \"os\": \"linux\",\n    \"config\": {\n        \"ExposedPorts\": {\n            \"80/tcp\": {}\n        },\n        \"Cmd\": [\n            \"sh\"\n        ]\n    },\n    \"rootfs\": {\n        \"type\": \"layers\",\n        \"diff_ids\": [\n            \"sha256:a\"\n        ]\n    }\n}\n"
        );
    }
}
