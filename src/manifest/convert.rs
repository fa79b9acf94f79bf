//! Converting single-image manifests between Docker schema 2 and OCI, as containers/image
//! v5.23.1 does (`internal/image/docker_schema2.go` and `oci.go`): the layer and config media
//! types are swapped, and a Docker config going to OCI is re-encoded through the OCI
//! `Image` struct (which drops Docker-only fields such as `container_config`). The JSON is
//! written field for field as Go's encoding/json writes those structs, so digests match
//! what skopeo produces for the same copy.

use serde_json::{Map, Value};

use super::{Kind, Manifest, ManifestError, go_json, mime};
use crate::digest::Digest;

/// Whether `from` can be converted to `to` here.
pub fn can_convert(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        (mime::DOCKER_V2S2, mime::OCI_MANIFEST) | (mime::OCI_MANIFEST, mime::DOCKER_V2S2)
    )
}

/// The result of a conversion: the new manifest, and the new config bytes when the
/// config had to be re-encoded (Docker -> OCI).
pub struct Converted {
    pub manifest: Manifest,
    pub config: Option<Vec<u8>>,
}

/// Converts `m` to `to`; `config` is the (verified) config blob, needed for Docker -> OCI.
pub fn convert(m: &Manifest, to: &str, config: Option<&[u8]>) -> Result<Converted, ManifestError> {
    let Kind::Image {
        config: cdesc,
        layers,
    } = &m.kind
    else {
        return Err(ManifestError::Unsupported(
            "only single-image manifests can be converted".into(),
        ));
    };
    match (m.mime.as_str(), to) {
        (mime::OCI_MANIFEST, mime::DOCKER_V2S2) => {
            if cdesc.media_type != mime::OCI_CONFIG {
                return Err(ManifestError::Unsupported(format!(
                    "cannot convert an OCI artifact (config type {:?}) to a Docker image",
                    cdesc.media_type
                )));
            }
            let mut out_layers = Vec::with_capacity(layers.len());
            for l in layers {
                let mt = match l.media_type.as_str() {
                    mime::OCI_FOREIGN => mime::DOCKER_FOREIGN,
                    mime::OCI_FOREIGN_GZIP => mime::DOCKER_FOREIGN_GZIP,
                    mime::OCI_LAYER => mime::DOCKER_LAYER,
                    mime::OCI_LAYER_GZIP => mime::DOCKER_LAYER_GZIP,
                    mime::OCI_LAYER_ZSTD | mime::OCI_FOREIGN_ZSTD => {
                        return Err(ManifestError::Unsupported(format!(
                            "Error during manifest conversion: {:?}: zstd compression is not supported for docker images",
                            l.media_type
                        )));
                    }
                    other => {
                        return Err(ManifestError::Unsupported(format!(
                            "Unknown media type during manifest conversion: {other:?}"
                        )));
                    }
                };
                out_layers.push(schema2_descriptor(mt, l.size, &l.digest, &l.urls));
            }
            let mut root = Map::new();
            root.insert("schemaVersion".into(), 2.into());
            root.insert("mediaType".into(), mime::DOCKER_V2S2.into());
            root.insert(
                "config".into(),
                schema2_descriptor(mime::DOCKER_CONFIG, cdesc.size, &cdesc.digest, &cdesc.urls),
            );
            root.insert("layers".into(), Value::Array(out_layers));
            let raw = go_json(&Value::Object(root))?;
            Ok(Converted {
                manifest: Manifest::parse(raw, Some(mime::DOCKER_V2S2))?,
                config: None,
            })
        }
        (mime::DOCKER_V2S2, mime::OCI_MANIFEST) => {
            let config = config.ok_or_else(|| {
                ManifestError::Update("converting to OCI needs the config blob".into())
            })?;
            let new_config = oci_config_from_docker(config)?;
            let mut out_layers = Vec::with_capacity(layers.len());
            for l in layers {
                let mt = match l.media_type.as_str() {
                    mime::DOCKER_FOREIGN => mime::OCI_FOREIGN,
                    mime::DOCKER_FOREIGN_GZIP => mime::OCI_FOREIGN_GZIP,
                    mime::DOCKER_LAYER => mime::OCI_LAYER,
                    mime::DOCKER_LAYER_GZIP => mime::OCI_LAYER_GZIP,
                    other => {
                        return Err(ManifestError::Unsupported(format!(
                            "Unknown media type during manifest conversion: {other:?}"
                        )));
                    }
                };
                out_layers.push(oci_descriptor(mt, l.size, &l.digest, &l.urls));
            }
            let mut root = Map::new();
            root.insert("schemaVersion".into(), 2.into());
            root.insert("mediaType".into(), mime::OCI_MANIFEST.into());
            root.insert(
                "config".into(),
                oci_descriptor(
                    mime::OCI_CONFIG,
                    new_config.len() as i64,
                    &Digest::sha256_of(&new_config),
                    &[],
                ),
            );
            root.insert("layers".into(), Value::Array(out_layers));
            let raw = go_json(&Value::Object(root))?;
            Ok(Converted {
                manifest: Manifest::parse(raw, Some(mime::OCI_MANIFEST))?,
                config: Some(new_config),
            })
        }
        (from, to) => Err(ManifestError::Unsupported(format!(
            "converting a {from} manifest to {to}"
        ))),
    }
}

fn schema2_descriptor(mt: &str, size: i64, digest: &Digest, urls: &[String]) -> Value {
    let mut d = Map::new();
    d.insert("mediaType".into(), mt.into());
    d.insert("size".into(), size.into());
    d.insert("digest".into(), digest.to_string().into());
    if !urls.is_empty() {
        d.insert("urls".into(), urls.into());
    }
    Value::Object(d)
}

fn oci_descriptor(mt: &str, size: i64, digest: &Digest, urls: &[String]) -> Value {
    let mut d = Map::new();
    d.insert("mediaType".into(), mt.into());
    d.insert("digest".into(), digest.to_string().into());
    d.insert("size".into(), size.into());
    if !urls.is_empty() {
        d.insert("urls".into(), urls.into());
    }
    Value::Object(d)
}

/// A Docker image config re-encoded as Go's `imgspecv1.Image` (image-spec v1.1.0-rc2)
/// encodes it: known fields in struct order, empty optional ones omitted, maps sorted.
pub fn oci_config_from_docker(raw: &[u8]) -> Result<Vec<u8>, ManifestError> {
    let v: Value = serde_json::from_slice(raw)
        .map_err(|e| ManifestError::Invalid(format!("image config is not valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ManifestError::Invalid("image config is not a JSON object".into()))?;
    let mut out = Map::new();
    if let Some(t) = opt_time(obj, "created")? {
        out.insert("created".into(), t);
    }
    put_str(&mut out, obj, "author", true)?;
    put_str(&mut out, obj, "architecture", false)?;
    put_str(&mut out, obj, "variant", true)?;
    put_str(&mut out, obj, "os", false)?;
    put_str(&mut out, obj, "os.version", true)?;
    put_str_list(&mut out, obj, "os.features")?;
    let empty = Map::new();
    let cfg = match obj.get("config") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(c)) => c,
        Some(_) => return Err(invalid("config")),
    };
    let mut c = Map::new();
    put_str(&mut c, cfg, "User", true)?;
    put_set(&mut c, cfg, "ExposedPorts")?;
    put_str_list(&mut c, cfg, "Env")?;
    put_str_list(&mut c, cfg, "Entrypoint")?;
    put_str_list(&mut c, cfg, "Cmd")?;
    put_set(&mut c, cfg, "Volumes")?;
    put_str(&mut c, cfg, "WorkingDir", true)?;
    put_labels(&mut c, cfg)?;
    put_str(&mut c, cfg, "StopSignal", true)?;
    if let Some(b) = cfg.get("ArgsEscaped") {
        match b {
            Value::Bool(true) => {
                c.insert("ArgsEscaped".into(), true.into());
            }
            Value::Bool(false) | Value::Null => {}
            _ => return Err(invalid("ArgsEscaped")),
        }
    }
    out.insert("config".into(), Value::Object(c));
    let rootfs = match obj.get("rootfs") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(r)) => r,
        Some(_) => return Err(invalid("rootfs")),
    };
    let mut r = Map::new();
    r.insert(
        "type".into(),
        rootfs
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
    );
    let diff_ids = match rootfs.get("diff_ids") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Value::Array(a.clone()),
        Some(_) => return Err(invalid("rootfs.diff_ids")),
    };
    r.insert("diff_ids".into(), diff_ids);
    out.insert("rootfs".into(), Value::Object(r));
    if let Some(Value::Array(history)) = obj.get("history")
        && !history.is_empty()
    {
        let mut hs = Vec::with_capacity(history.len());
        for h in history {
            let h = h.as_object().ok_or_else(|| invalid("history"))?;
            let mut o = Map::new();
            if let Some(t) = opt_time(h, "created")? {
                o.insert("created".into(), t);
            }
            put_str(&mut o, h, "created_by", true)?;
            put_str(&mut o, h, "author", true)?;
            put_str(&mut o, h, "comment", true)?;
            if h.get("empty_layer") == Some(&Value::Bool(true)) {
                o.insert("empty_layer".into(), true.into());
            }
            hs.push(Value::Object(o));
        }
        out.insert("history".into(), Value::Array(hs));
    }
    go_json(&Value::Object(out))
}

fn invalid(field: &str) -> ManifestError {
    ManifestError::Invalid(format!("image config field {field:?} has the wrong type"))
}

fn put_str(
    out: &mut Map<String, Value>,
    obj: &Map<String, Value>,
    key: &str,
    omit_empty: bool,
) -> Result<(), ManifestError> {
    let s = match obj.get(key) {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(invalid(key)),
    };
    if !(omit_empty && s.is_empty()) {
        out.insert(key.into(), s.into());
    }
    Ok(())
}

fn put_str_list(
    out: &mut Map<String, Value>,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<(), ManifestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            if !a.is_empty() {
                out.insert(key.into(), Value::Array(a.clone()));
            }
            Ok(())
        }
        Some(_) => Err(invalid(key)),
    }
}

/// `map[string]struct{}`: keys sorted, every value `{}`.
fn put_set(
    out: &mut Map<String, Value>,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<(), ManifestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(m)) => {
            if !m.is_empty() {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut s = Map::new();
                for k in keys {
                    s.insert(k.clone(), Value::Object(Map::new()));
                }
                out.insert(key.into(), Value::Object(s));
            }
            Ok(())
        }
        Some(_) => Err(invalid(key)),
    }
}

fn put_labels(out: &mut Map<String, Value>, obj: &Map<String, Value>) -> Result<(), ManifestError> {
    match obj.get("Labels") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(m)) => {
            if !m.is_empty() {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut s = Map::new();
                for (k, v) in entries {
                    let v = v.as_str().ok_or_else(|| invalid("Labels"))?;
                    s.insert(k.clone(), v.into());
                }
                out.insert("Labels".into(), Value::Object(s));
            }
            Ok(())
        }
        Some(_) => Err(invalid("Labels")),
    }
}

fn opt_time(obj: &Map<String, Value>, key: &str) -> Result<Option<Value>, ManifestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            go_time_roundtrip(s)
                .ok_or_else(|| {
                    ManifestError::Invalid(format!("image config field {key:?}: bad time {s:?}"))
                })?
                .into(),
        )),
        Some(_) => Err(invalid(key)),
    }
}

/// What Go prints for an RFC 3339 time it parsed: fraction without trailing zeros, `Z` for
/// a zero offset.
fn go_time_roundtrip(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 20 || b[10] != b'T' && b[10] != b't' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19))
    {
        return None;
    }
    let mut i = 19;
    let mut frac = "";
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 9 {
            return None;
        }
        frac = &s[start..i];
    }
    let zone = &s[i..];
    let zone = match zone {
        "Z" | "z" => "Z".to_string(),
        z if z.len() == 6
            && (z.starts_with('+') || z.starts_with('-'))
            && z.as_bytes()[3] == b':' =>
        {
            if &z[1..] == "00:00" {
                "Z".to_string()
            } else {
                z.to_string()
            }
        }
        _ => return None,
    };
    let frac = frac.trim_end_matches('0');
    let mut out = format!("{}T{}", &s[..10], &s[11..19]);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out.push_str(&zone);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_go_prints_them() {
        assert_eq!(
            go_time_roundtrip("2023-01-02T03:04:05Z").unwrap(),
            "2023-01-02T03:04:05Z"
        );
        assert_eq!(
            go_time_roundtrip("2023-01-02T03:04:05.120000000+00:00").unwrap(),
            "2023-01-02T03:04:05.12Z"
        );
        assert_eq!(
            go_time_roundtrip("2023-01-02T03:04:05.000-07:00").unwrap(),
            "2023-01-02T03:04:05-07:00"
        );
        assert!(go_time_roundtrip("yesterday").is_none());
    }

    #[test]
    fn docker_config_loses_docker_only_fields() {
        let raw = br#"{"architecture":"amd64","os":"linux","container_config":{"Cmd":["x"]},"config":{"Env":["A=1"],"Labels":{"b":"2","a":"1"},"ExposedPorts":{"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},"docker_version":"20"}"#;
        let out = String::from_utf8(oci_config_from_docker(raw).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"architecture":"amd64","os":"linux","config":{"ExposedPorts":{"80/tcp":{}},"Env":["A=1"],"Labels":{"a":"1","b":"2"}},"rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#
        );
    }
}
