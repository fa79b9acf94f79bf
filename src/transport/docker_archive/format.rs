//! The files of the `docker save` format, written byte for byte as containers/image
//! v5.23.1 writes them (`docker/internal/tarfile/writer.go`): `manifest.json`,
//! `repositories`, and the legacy per-layer `json` files whose IDs chain the layers.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::manifest::{ManifestError, go_json, mime};
use crate::reference::DockerRef;

/// One image in `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestItem {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

impl ManifestItem {
    pub fn tags(&self) -> &[String] {
        self.repo_tags.as_deref().unwrap_or_default()
    }
}

/// `name:tag` as it goes into RepoTags (fully qualified, as c/image writes it).
pub fn repo_tag(r: &DockerRef) -> String {
    format!("{}:{}", r.name(), r.tag().unwrap_or("latest"))
}

/// Describes the images of an archive for an error that asks the user to choose.
pub fn describe_items(items: &[ManifestItem]) -> String {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if item.tags().is_empty() {
                format!("@{i} (untagged, config {})", item.config)
            } else {
                format!("@{i} ({})", item.tags().join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The schema 2 manifest a docker-archive source presents: the config as stored, each
/// layer by its diff ID (the source serves layers uncompressed). The layer media type is
/// the gzip one, as containers/image declares it, so skopeo's and skiff's digests agree.
pub fn generated_manifest(
    config_digest: &Digest,
    config_size: usize,
    layers: &[(Digest, u64)],
) -> Result<Vec<u8>, ManifestError> {
    let descriptor = |mt: &str, size: u64, d: &Digest| {
        let mut m = Map::new();
        m.insert("mediaType".into(), mt.into());
        m.insert("size".into(), size.into());
        m.insert("digest".into(), d.to_string().into());
        Value::Object(m)
    };
    let mut root = Map::new();
    root.insert("schemaVersion".into(), 2.into());
    root.insert("mediaType".into(), mime::DOCKER_V2S2.into());
    root.insert(
        "config".into(),
        descriptor(mime::DOCKER_CONFIG, config_size as u64, config_digest),
    );
    root.insert(
        "layers".into(),
        Value::Array(
            layers
                .iter()
                .map(|(d, size)| descriptor(mime::DOCKER_LAYER_GZIP, *size, d))
                .collect(),
        ),
    );
    Ok(go_json(&Value::Object(root)))
}

/// A new `manifest.json` item (Go field order: Config, RepoTags, Layers).
pub fn manifest_item(config: &str, tags: &[String], layers: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("Config".into(), config.into());
    m.insert(
        "RepoTags".into(),
        Value::Array(tags.iter().map(|t| Value::from(t.as_str())).collect()),
    );
    m.insert(
        "Layers".into(),
        Value::Array(layers.iter().map(|l| Value::from(l.as_str())).collect()),
    );
    Value::Object(m)
}

/// One legacy layer directory: `<id>/VERSION`, `<id>/json`, `<id>/layer.tar` -> the layer.
pub struct LegacyLayer {
    pub id: String,
    pub json: Vec<u8>,
}

/// The legacy layer chain for an image (c/image `writeLegacyMetadataLocked`): each layer's
/// ID is the digest of a small config naming its parent and chain ID; the top one also
/// carries a few fields of the image config. Returns the layers, base first.
pub fn legacy_layers(layers: &[Digest], config: &[u8]) -> Result<Vec<LegacyLayer>, ManifestError> {
    let mut out: Vec<LegacyLayer> = Vec::with_capacity(layers.len());
    let mut chain: Option<String> = None;
    for (i, layer) in layers.iter().enumerate() {
        // A BTreeMap serializes with sorted keys, as Go's map[string]any does.
        let mut cfg: BTreeMap<String, Value> = BTreeMap::new();
        if let Some(parent) = out.last() {
            cfg.insert("parent".into(), parent.id.clone().into());
        }
        if i == layers.len() - 1 {
            let image: Map<String, Value> = serde_json::from_slice(config)?;
            for attr in [
                "architecture",
                "config",
                "container",
                "container_config",
                "created",
                "docker_version",
                "os",
            ] {
                cfg.insert(attr.into(), image.get(attr).cloned().unwrap_or(Value::Null));
            }
        }
        let chain_id = match &chain {
            None => layer.to_string(),
            Some(prev) => Digest::sha256_of(format!("{prev} {layer}").as_bytes()).to_string(),
        };
        cfg.insert("layer_id".into(), chain_id.clone().into());
        let with_chain = go_json(&serde_json::to_value(&cfg)?);
        cfg.remove("layer_id");
        let id = Digest::sha256_of(&with_chain).hex().to_string();
        cfg.insert("id".into(), id.clone().into());
        let json = go_json(&serde_json::to_value(&cfg)?);
        chain = Some(chain_id);
        out.push(LegacyLayer { id, json });
    }
    Ok(out)
}

/// `repositories`: repository -> tag -> top legacy layer ID.
pub type Repositories = BTreeMap<String, BTreeMap<String, String>>;

pub fn add_repositories(repos: &mut Repositories, tags: &[DockerRef], top_id: &str) {
    for t in tags {
        repos
            .entry(t.name())
            .or_default()
            .insert(t.tag().unwrap_or("latest").to_string(), top_id.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_ids_match_skopeo() {
        // From `skopeo copy oci:examples/hello-oci:latest docker-archive:…` (skopeo 1.9.3):
        // its first layer directory is 53e8c6ae…, with a 73-byte json.
        let layer = Digest::parse(
            "sha256:6f40fcead2b0d4a77eff86619a1d2b9166affabc165dbad57ebdaaf809aa288d",
        )
        .unwrap();
        let other = Digest::sha256_of(b"x");
        let out = legacy_layers(&[layer, other], b"{}").unwrap();
        assert_eq!(
            out[0].id,
            "53e8c6aea4bede31f0309014f1d9b19c8e36fb8d46b256bd8b1635ba36dc2890"
        );
        assert_eq!(out[0].json.len(), 73);
    }
}
