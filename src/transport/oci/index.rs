//! `index.json` of an OCI image layout: choosing the image a reference names, and adding
//! a newly written image the way containers/image does.

use serde_json::{Map, Value};

use crate::manifest::{self, Descriptor, mime};
use crate::transport::error::{Result, TransportError};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const LAYOUT_FILE: &str = "oci-layout";
pub const LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion": "1.0.0"}"#;

/// The descriptors listed in an index.json.
pub fn manifests(raw: &[u8], origin: &str) -> Result<Vec<Descriptor>> {
    let value: Value = serde_json::from_slice(raw)
        .map_err(|e| TransportError::Invalid(format!("parsing {origin}: {e}")))?;
    let list = value
        .get("manifests")
        .cloned()
        .unwrap_or(Value::Array(vec![]));
    serde_json::from_value(list)
        .map_err(|e| TransportError::Invalid(format!("parsing {origin}: manifests: {e}")))
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations.as_ref()?.get(REF_NAME)?.as_str()
}

/// The manifest descriptor a reference names; without a reference the layout must hold
/// exactly one image (containers/image's rules).
pub fn select(list: &[Descriptor], reference: Option<&str>, layout: &str) -> Result<Descriptor> {
    match reference {
        None | Some("") => match list {
            [one] => Ok(one.clone()),
            [] => Err(TransportError::NotFound(format!(
                "no image in OCI layout {layout}"
            ))),
            _ => {
                let names: Vec<&str> = list.iter().filter_map(ref_name).collect();
                Err(TransportError::Invalid(format!(
                    "more than one image in oci, choose an image: {layout} holds {} images{}",
                    list.len(),
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(" (references: {})", names.join(", "))
                    }
                )))
            }
        },
        Some(r) => list
            .iter()
            .filter(|d| d.media_type == mime::OCI_MANIFEST || d.media_type == mime::OCI_INDEX)
            .find(|d| ref_name(d) == Some(r))
            .cloned()
            .ok_or_else(|| {
                TransportError::ImageNotFound(format!(
                    "no descriptor found for reference {r:?} in {layout}"
                ))
            }),
    }
}

/// Adds `desc` to an existing index.json (or a new one), as containers/image does: a name
/// moves from an older entry to the new one; an unnamed entry with the same digest is replaced.
pub fn add_manifest(existing: Option<&[u8]>, desc: &Descriptor, origin: &str) -> Result<Vec<u8>> {
    let mut index: Map<String, Value> = match existing {
        Some(raw) => serde_json::from_slice(raw)
            .map_err(|e| TransportError::Invalid(format!("parsing {origin}: {e}")))?,
        None => {
            let mut m = Map::new();
            m.insert("schemaVersion".into(), Value::from(2));
            m
        }
    };
    let mut list = match index.remove("manifests") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => vec![],
        Some(_) => {
            return Err(TransportError::Invalid(format!(
                "parsing {origin}: manifests is not an array"
            )));
        }
    };
    if let Some(name) = ref_name(desc)
        && let Some(old) = list.iter_mut().find(|m| value_ref_name(m) == Some(name))
        && let Some(obj) = old.as_object_mut()
    {
        let now_empty = obj
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
            .is_some_and(|ann| {
                ann.remove(REF_NAME);
                ann.is_empty()
            });
        // Go's omitempty drops an annotations map that became empty.
        if now_empty {
            obj.remove("annotations");
        }
    }
    let new_value = serde_json::to_value(desc)
        .map_err(|e| TransportError::Invalid(format!("encoding descriptor: {e}")))?;
    let digest = desc.digest.to_string();
    let same_unnamed = list.iter().position(|m| {
        m.get("digest").and_then(Value::as_str) == Some(digest.as_str())
            && value_ref_name(m).unwrap_or("").is_empty()
    });
    match same_unnamed {
        Some(i) => list[i] = new_value,
        None => list.push(new_value),
    }
    // Keep Go's field order: schemaVersion, mediaType, manifests, annotations.
    let mut out = Map::new();
    for key in ["schemaVersion", "mediaType"] {
        if let Some(v) = index.remove(key) {
            out.insert(key.into(), v);
        }
    }
    out.insert("manifests".into(), Value::Array(list));
    for (k, v) in index {
        out.insert(k, v);
    }
    Ok(manifest::go_json(&Value::Object(out)))
}

fn value_ref_name(entry: &Value) -> Option<&str> {
    entry.get("annotations")?.get(REF_NAME)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    fn desc(n: u8, name: Option<&str>) -> Descriptor {
        let annotations = name.map(|n| {
            let mut m = Map::new();
            m.insert(REF_NAME.into(), Value::String(n.into()));
            m
        });
        Descriptor {
            media_type: mime::OCI_MANIFEST.into(),
            digest: Digest::sha256_of(&[n]),
            size: 10,
            urls: vec![],
            annotations,
            platform: None,
        }
    }

    #[test]
    fn select_follows_the_reference_rules() {
        let list = vec![desc(1, Some("a")), desc(2, Some("b"))];
        assert_eq!(
            select(&list, Some("b"), "x").unwrap().digest,
            list[1].digest
        );
        assert!(
            select(&list, Some("c"), "x")
                .unwrap_err()
                .to_string()
                .contains("no descriptor found for reference \"c\"")
        );
        assert!(
            select(&list, None, "x")
                .unwrap_err()
                .to_string()
                .contains("more than one image")
        );
        assert_eq!(
            select(&list[..1], None, "x").unwrap().digest,
            list[0].digest
        );
    }

    #[test]
    fn adding_moves_the_name_and_keeps_others() {
        let first = add_manifest(None, &desc(1, Some("latest")), "i").unwrap();
        assert!(
            String::from_utf8_lossy(&first)
                .starts_with(r#"{"schemaVersion":2,"manifests":[{"mediaType""#)
        );
        let second = add_manifest(Some(&first), &desc(2, Some("latest")), "i").unwrap();
        let list = manifests(&second, "i").unwrap();
        assert_eq!(list.len(), 2);
        assert!(list[0].annotations.is_none());
        assert_eq!(ref_name(&list[1]), Some("latest"));
        let third = add_manifest(Some(&second), &desc(3, Some("other")), "i").unwrap();
        assert_eq!(manifests(&third, "i").unwrap().len(), 3);
    }
}
