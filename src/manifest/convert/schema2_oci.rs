//! Docker schema 2 <-> OCI image manifests (containers/image `convertToManifestOCI1` of
//! `manifestSchema2` and `convertToManifestSchema2` of `manifestOCI1`).

use serde_json::{Map, Value};

use super::api::LayerBlob;
use crate::digest::Digest;
use crate::manifest::error::ManifestError;
use crate::manifest::gojson;
use crate::manifest::mime;
use crate::manifest::model::{Descriptor, Kind, Manifest};

/// containers/image's `NewNonImageArtifactError` text.
pub fn artifact_error(config_mime: &str) -> ManifestError {
    ManifestError::Unsupported(format!(
        "unsupported image-specific operation on artifact with type {config_mime:?}"
    ))
}

fn unknown_layer(mt: &str) -> ManifestError {
    ManifestError::Unsupported(format!(
        "Unknown media type during manifest conversion: {mt:?}"
    ))
}

/// Layer media type for a schema 2 manifest, from an OCI one.
pub fn oci_layer_to_docker(mt: &str) -> Result<&'static str, ManifestError> {
    match mt {
        mime::OCI_FOREIGN => Ok(mime::DOCKER_FOREIGN),
        mime::OCI_FOREIGN_GZIP => Ok(mime::DOCKER_FOREIGN_GZIP),
        mime::OCI_LAYER => Ok(mime::DOCKER_LAYER),
        mime::OCI_LAYER_GZIP => Ok(mime::DOCKER_LAYER_GZIP),
        mime::OCI_FOREIGN_ZSTD | mime::OCI_LAYER_ZSTD => Err(ManifestError::Unsupported(format!(
            "Error during manifest conversion: {mt:?}: zstd compression is not supported for docker images"
        ))),
        other => Err(unknown_layer(other)),
    }
}

/// Layer media type for an OCI manifest, from a schema 2 one.
pub fn docker_layer_to_oci(mt: &str) -> Result<&'static str, ManifestError> {
    match mt {
        mime::DOCKER_FOREIGN => Ok(mime::OCI_FOREIGN),
        mime::DOCKER_FOREIGN_GZIP => Ok(mime::OCI_FOREIGN_GZIP),
        mime::DOCKER_LAYER => Ok(mime::OCI_LAYER),
        mime::DOCKER_LAYER_GZIP => Ok(mime::OCI_LAYER_GZIP),
        other => Err(unknown_layer(other)),
    }
}

/// A descriptor as Go writes `manifest.Schema2Descriptor` (mediaType, size, digest, urls).
pub fn schema2_descriptor(mt: &str, size: i64, digest: &Digest, urls: &[String]) -> Value {
    let mut o = Map::new();
    o.insert("mediaType".into(), Value::String(mt.into()));
    o.insert("size".into(), Value::from(size));
    o.insert("digest".into(), Value::String(digest.to_string()));
    if !urls.is_empty() {
        o.insert(
            "urls".into(),
            urls.iter().cloned().map(Value::String).collect(),
        );
    }
    Value::Object(o)
}

/// A descriptor as Go writes image-spec's `v1.Descriptor` with only these fields set.
pub fn oci_descriptor(mt: &str, size: i64, digest: &Digest, urls: &[String]) -> Value {
    let mut o = Map::new();
    if !mt.is_empty() {
        o.insert("mediaType".into(), Value::String(mt.into()));
    }
    o.insert("digest".into(), Value::String(digest.to_string()));
    o.insert("size".into(), Value::from(size));
    if !urls.is_empty() {
        o.insert(
            "urls".into(),
            urls.iter().cloned().map(Value::String).collect(),
        );
    }
    Value::Object(o)
}

/// The layers after the copy: `blobs` maps source digests to what was written.
pub fn copied(layer: &Descriptor, blobs: Option<&[LayerBlob]>) -> (Digest, i64) {
    blobs
        .and_then(|b| b.iter().find(|b| b.source == layer.digest))
        .map(|b| (b.dest.clone(), b.size))
        .unwrap_or_else(|| (layer.digest.clone(), layer.size))
}

/// `Schema2FromComponents(...).Serialize()`.
pub fn schema2_manifest(config: Value, layers: Vec<Value>) -> Result<Manifest, ManifestError> {
    let mut o = Map::new();
    o.insert("schemaVersion".into(), Value::from(2));
    o.insert("mediaType".into(), Value::String(mime::DOCKER_V2S2.into()));
    o.insert("config".into(), config);
    o.insert("layers".into(), Value::Array(layers));
    Manifest::parse(
        gojson::encode(&Value::Object(o)).into_bytes(),
        Some(mime::DOCKER_V2S2),
    )
}

/// `OCI1FromComponents(...).Serialize()`.
pub fn oci_manifest(config: Value, layers: Vec<Value>) -> Result<Manifest, ManifestError> {
    let mut o = Map::new();
    o.insert("schemaVersion".into(), Value::from(2));
    o.insert("mediaType".into(), Value::String(mime::OCI_MANIFEST.into()));
    o.insert("config".into(), config);
    o.insert("layers".into(), Value::Array(layers));
    Manifest::parse(
        gojson::encode(&Value::Object(o)).into_bytes(),
        Some(mime::OCI_MANIFEST),
    )
}

fn image_parts(m: &Manifest) -> Result<(&Descriptor, &[Descriptor]), ManifestError> {
    match &m.kind {
        Kind::Image { config, layers } => Ok((config, layers)),
        _ => Err(ManifestError::Update(format!(
            "{} is not an image manifest",
            m.mime
        ))),
    }
}

/// OCI -> schema 2: only media types change; the config blob is reused as it is.
pub fn oci_to_schema2(
    m: &Manifest,
    blobs: Option<&[LayerBlob]>,
) -> Result<Manifest, ManifestError> {
    let (config, layers) = image_parts(m)?;
    if config.media_type != mime::OCI_CONFIG {
        return Err(artifact_error(&config.media_type));
    }
    let config = schema2_descriptor(
        mime::DOCKER_CONFIG,
        config.size,
        &config.digest,
        &config.urls,
    );
    let mut out = Vec::with_capacity(layers.len());
    for l in layers {
        let mt = oci_layer_to_docker(&l.media_type)?;
        let (digest, size) = copied(l, blobs);
        out.push(schema2_descriptor(mt, size, &digest, &l.urls));
    }
    schema2_manifest(config, out)
}

/// Schema 2 -> OCI: the config is rewritten as an OCI config (returned with the manifest).
pub fn schema2_to_oci(
    m: &Manifest,
    config_blob: &[u8],
    blobs: Option<&[LayerBlob]>,
) -> Result<(Manifest, Vec<u8>), ManifestError> {
    let (config, layers) = image_parts(m)?;
    check_config(config, config_blob)?;
    let new_config = super::config::oci_config(config_blob)?;
    let mut out = Vec::with_capacity(layers.len());
    for l in layers {
        let mt = docker_layer_to_oci(&l.media_type)?;
        let (digest, size) = copied(l, blobs);
        out.push(oci_descriptor(mt, size, &digest, &l.urls));
    }
    let cd = oci_descriptor(
        mime::OCI_CONFIG,
        new_config.len() as i64,
        &Digest::sha256_of(&new_config),
        &[],
    );
    Ok((oci_manifest(cd, out)?, new_config))
}

/// The config bytes must be the ones the manifest names (c/image verifies the digest).
pub fn check_config(config: &Descriptor, blob: &[u8]) -> Result<(), ManifestError> {
    let computed = config.digest.recompute(blob);
    if computed != config.digest {
        return Err(ManifestError::Invalid(format!(
            "Download config.json digest {computed} does not match expected {}",
            config.digest
        )));
    }
    Ok(())
}
