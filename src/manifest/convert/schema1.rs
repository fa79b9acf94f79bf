//! Docker schema 1: synthesis from a schema 2 image (containers/image
//! `manifestSchema2.convertToManifestSchema1`), conversion to schema 2
//! (`manifestSchema1.convertToManifestSchema2` + `Schema1.ToSchema2Config`), and the
//! libtrust JWS envelope c/image always adds (`AddDummyV2S1Signature`).

use serde_json::{Map, Value};

use super::api::{Inputs, LayerBlob, Schema1Signer};
use super::config::{DockerHistory, docker_image};
use super::schema2_oci::{check_config, copied, schema2_descriptor, schema2_manifest};
use crate::digest::Digest;
use crate::manifest::error::ManifestError;
use crate::manifest::gojson::{self, get_bool, get_string, get_strings, get_time};
use crate::manifest::mime;
use crate::manifest::model::{Descriptor, Kind, Manifest};

/// docker/distribution's gzipped empty tar (a schema 1 manifest needs a blob for every
/// history entry, `throwaway` ones included).
pub const GZIPPED_EMPTY_LAYER: [u8; 32] = [
    31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20, 140, 88, 0, 8, 0, 0, 255, 255,
    46, 175, 181, 239, 0, 4, 0, 0,
];
/// Its digest (checked by a test against the bytes).
pub const GZIPPED_EMPTY_LAYER_DIGEST: &str =
    "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";

/// `v1IDFromBlobDigestAndComponents`: sha256 of the parts joined by spaces.
fn v1_id(parts: &[&[u8]]) -> String {
    Digest::sha256_of(&parts.join(&b' ')).hex().to_string()
}

/// Schema 2 (or an OCI image already checked by the caller) -> signed schema 1.
/// Returns the manifest and whether the gzipped empty layer must be uploaded.
pub fn schema2_to_schema1(
    m: &Manifest,
    inputs: &Inputs,
    signer: &dyn Schema1Signer,
) -> Result<(Manifest, bool), ManifestError> {
    let Kind::Image { config, layers } = &m.kind else {
        return Err(ManifestError::Update("not an image manifest".into()));
    };
    let config_blob = inputs.config.ok_or_else(|| {
        ManifestError::Update("converting to schema 1 needs the config blob".into())
    })?;
    check_config(config, config_blob)?;
    let image = docker_image(config_blob)?;
    if image.history.is_empty() {
        return Err(ManifestError::Unsupported(format!(
            "Cannot convert an image with 0 history entries to {}",
            mime::DOCKER_V2S1_SIGNED
        )));
    }
    let mut chain = v1_chain(&image.history, layers, inputs.layers)?;
    chain.history[0] = top_compat(&chain, &image.history, config_blob)?;
    let unsigned = schema1_json(
        inputs.destination_reference.unwrap_or(("", "")),
        image.architecture,
        chain.fs_layers,
        chain.history,
    );
    let signed = super::jws::sign(unsigned.as_bytes(), signer)?;
    Ok((
        Manifest::parse(signed, Some(mime::DOCKER_V2S1_SIGNED))?,
        chain.uses_empty,
    ))
}

/// The v1 image chain, one entry per history entry, top first as schema 1 lists them.
struct V1Chain {
    /// `blobSum`s: what the copy wrote for each entry (the empty layer for throwaways).
    fs_layers: Vec<String>,
    /// `v1Compatibility` strings; the top one is replaced by `top_compat`.
    history: Vec<String>,
    /// Whether a throwaway entry needs the gzipped empty layer.
    uses_empty: bool,
    /// The ID of the entry below the top one, and the top entry's source blob.
    parent: String,
    top_blob: Digest,
}

/// Builds the chain from the config's history, base first: each entry's v1 ID hashes
/// its source blob and its parent's ID, as c/image does.
fn v1_chain(
    history: &[DockerHistory],
    layers: &[Descriptor],
    copied_layers: Option<&[LayerBlob]>,
) -> Result<V1Chain, ManifestError> {
    let n = history.len();
    let empty_digest = Digest::sha256_of(&GZIPPED_EMPTY_LAYER);
    let mut chain = V1Chain {
        fs_layers: vec![String::new(); n],
        history: vec![String::new(); n],
        uses_empty: false,
        parent: String::new(),
        top_blob: empty_digest.clone(),
    };
    let mut non_empty = 0usize;
    let mut id = String::new();
    for (v2, h) in history.iter().enumerate() {
        chain.parent = id.clone();
        let v1 = n - 1 - v2;
        let (blob, dest_blob) = if h.empty_layer {
            chain.uses_empty = true;
            (empty_digest.clone(), empty_digest.clone())
        } else {
            let l: &Descriptor = layers.get(non_empty).ok_or_else(|| {
                ManifestError::Invalid(format!(
                    "Invalid image configuration, needs more than the {} distributed layers",
                    layers.len()
                ))
            })?;
            non_empty += 1;
            (l.digest.clone(), copied(l, copied_layers).0)
        };
        id = v1_id(&[blob.hex().as_bytes(), chain.parent.as_bytes()]);
        // The v1 IDs use the source digests; blobSum is what the copy wrote (c/image applies
        // the layer edits after converting and does not recompute the IDs).
        chain.fs_layers[v1] = format!("{}:{}", dest_blob.algorithm().name(), dest_blob.hex());
        chain.history[v1] = v1_compat(&id, &chain.parent, h);
        chain.top_blob = blob;
    }
    Ok(chain)
}

/// One entry's `v1Compatibility`: its ID, parent and history fields.
fn v1_compat(id: &str, parent: &str, h: &DockerHistory) -> String {
    let mut c = Map::new();
    c.insert("id".into(), Value::String(id.to_string()));
    if !parent.is_empty() {
        c.insert("parent".into(), Value::String(parent.to_string()));
    }
    if !h.comment.is_empty() {
        c.insert("comment".into(), Value::String(h.comment.clone()));
    }
    c.insert("created".into(), Value::String(h.created.clone()));
    let mut cc = Map::new();
    cc.insert(
        "Cmd".into(),
        Value::Array(vec![Value::String(h.created_by.clone())]),
    );
    c.insert("container_config".into(), Value::Object(cc));
    if !h.author.is_empty() {
        c.insert("author".into(), Value::String(h.author.clone()));
    }
    if h.empty_layer {
        c.insert("throwaway".into(), Value::Bool(true));
    }
    gojson::encode(&Value::Object(c))
}

/// The top entry's `v1Compatibility`: the real config (without rootfs and history) with
/// the top ID, which also hashes the config.
fn top_compat(
    chain: &V1Chain,
    history: &[DockerHistory],
    config_blob: &[u8],
) -> Result<String, ManifestError> {
    let top_id = v1_id(&[
        chain.top_blob.hex().as_bytes(),
        chain.parent.as_bytes(),
        config_blob,
    ]);
    let mut members = gojson::raw_members(config_blob)?;
    members.retain(|(k, _)| k != "rootfs" && k != "history");
    let mut set = |k: &str, v: String| {
        if let Some(slot) = members.iter_mut().find(|(key, _)| key == k) {
            slot.1 = v;
        } else {
            members.push((k.to_string(), v));
        }
    };
    set("id", gojson::encode(&Value::String(top_id)));
    if !chain.parent.is_empty() {
        set(
            "parent",
            gojson::encode(&Value::String(chain.parent.clone())),
        );
    }
    if history.last().is_some_and(|h| h.empty_layer) {
        set("throwaway", "true".into());
    }
    Ok(gojson::encode_raw_map(members))
}

/// The unsigned schema 1 manifest, in c/image's field order.
fn schema1_json(
    (name, tag): (&str, &str),
    architecture: String,
    fs_layers: Vec<String>,
    history: Vec<String>,
) -> String {
    let mut o = Map::new();
    o.insert("name".into(), Value::String(name.into()));
    o.insert("tag".into(), Value::String(tag.into()));
    o.insert("architecture".into(), Value::String(architecture));
    o.insert(
        "fsLayers".into(),
        fs_layers
            .into_iter()
            .map(|b| {
                let mut l = Map::new();
                l.insert("blobSum".into(), Value::String(b));
                Value::Object(l)
            })
            .collect(),
    );
    o.insert(
        "history".into(),
        history
            .into_iter()
            .map(|h| {
                let mut e = Map::new();
                e.insert("v1Compatibility".into(), Value::String(h));
                Value::Object(e)
            })
            .collect(),
    );
    o.insert("schemaVersion".into(), Value::from(1));
    gojson::encode(&Value::Object(o))
}

/// A schema 1 manifest as containers/image reads it (`Schema1FromManifest`).
struct Schema1 {
    fs_layers: Vec<Digest>,
    /// Raw v1Compatibility strings, parallel to `fs_layers` (top first).
    history: Vec<String>,
    compat: Vec<Compat>,
}

struct Compat {
    id: String,
    parent: String,
    comment: String,
    created: String,
    cmd: Vec<String>,
    author: String,
    throwaway: bool,
}

fn parse_schema1(raw: &[u8]) -> Result<Schema1, ManifestError> {
    let v: Value = serde_json::from_slice(raw)?;
    let o = v
        .as_object()
        .ok_or_else(|| ManifestError::Invalid("schema 1 manifest is not an object".into()))?;
    let mut fs_layers = Vec::new();
    if let Some(Value::Array(a)) = gojson::member(o, "fsLayers") {
        for l in a {
            let s = l
                .as_object()
                .map(|l| get_string(l, "blobSum"))
                .transpose()?
                .unwrap_or_default();
            fs_layers.push(Digest::parse(&s).map_err(|e| ManifestError::Invalid(e.to_string()))?);
        }
    }
    let mut history = Vec::new();
    if let Some(Value::Array(a)) = gojson::member(o, "history") {
        for h in a {
            let s = h
                .as_object()
                .map(|h| get_string(h, "v1Compatibility"))
                .transpose()?
                .unwrap_or_default();
            history.push(s);
        }
    }
    if fs_layers.len() != history.len() {
        return Err(ManifestError::Invalid(
            "length of history not equal to number of layers".into(),
        ));
    }
    if fs_layers.is_empty() {
        return Err(ManifestError::Invalid("no FSLayers in manifest".into()));
    }
    let mut compat = Vec::new();
    for (i, h) in history.iter().enumerate() {
        let c: Value = serde_json::from_str(h)
            .map_err(|e| ManifestError::Invalid(format!("parsing v2s1 history entry {i}: {e}")))?;
        let empty = Map::new();
        let c = c.as_object().unwrap_or(&empty);
        let cmd = match gojson::member(c, "container_config") {
            Some(Value::Object(cc)) => get_strings(cc, "Cmd")?.unwrap_or_default(),
            _ => vec![],
        };
        compat.push(Compat {
            id: get_string(c, "id")?,
            parent: get_string(c, "parent")?,
            comment: get_string(c, "comment")?,
            created: get_time(c, "created")?.unwrap_or_else(|| gojson::ZERO_TIME.into()),
            cmd,
            author: get_string(c, "author")?,
            throwaway: get_bool(c, "throwaway")?,
        });
    }
    let mut s = Schema1 {
        fs_layers,
        history,
        compat,
    };
    fix_manifest_layers(&mut s)?;
    Ok(s)
}

/// `fixManifestLayers`: validate the ID chain and drop consecutive duplicate IDs.
fn fix_manifest_layers(s: &mut Schema1) -> Result<(), ManifestError> {
    for c in &s.compat {
        let ok = c.id.len() == 64
            && c.id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(ManifestError::Invalid(format!(
                "image ID {:?} is invalid",
                c.id
            )));
        }
    }
    if !s.compat[s.compat.len() - 1].parent.is_empty() {
        return Err(ManifestError::Invalid(
            "Invalid parent ID in the base layer of the image".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut last = "";
    for c in &s.compat {
        if c.id != last && seen.contains(c.id.as_str()) {
            return Err(ManifestError::Invalid(format!(
                "ID {} appears multiple times in manifest",
                c.id
            )));
        }
        last = &c.id;
        seen.insert(c.id.as_str());
    }
    let mut i = s.compat.len() as isize - 2;
    while i >= 0 {
        let u = i as usize;
        if s.compat[u].id == s.compat[u + 1].id {
            s.fs_layers.remove(u);
            s.history.remove(u);
            s.compat.remove(u);
        } else if s.compat[u].parent != s.compat[u + 1].id {
            return Err(ManifestError::Invalid(format!(
                "Invalid parent ID. Expected {}, got {}",
                s.compat[u + 1].id,
                s.compat[u].parent
            )));
        }
        i -= 1;
    }
    Ok(())
}

/// Schema 1 -> schema 2 (manifest, new config blob). Needs the diffIDs of the layers.
pub fn schema1_to_schema2(
    m: &Manifest,
    inputs: &Inputs,
) -> Result<(Manifest, Vec<u8>), ManifestError> {
    let s = parse_schema1(&m.raw)?;
    let n = s.fs_layers.len();
    let diff_ids = inputs.layer_diff_ids.ok_or_else(|| {
        ManifestError::Update("converting a schema 1 manifest needs the layers' diffIDs".into())
    })?;
    let blobs = inputs.layers.ok_or_else(|| {
        ManifestError::Update("converting a schema 1 manifest needs the copied layers".into())
    })?;
    // diffIDs may be given per fsLayer (base first) or per distinct blob (as `Kind::Schema1`).
    let Kind::Schema1 { layers: distinct } = &m.kind else {
        return Err(ManifestError::Update("not a schema 1 manifest".into()));
    };
    let diff_id_of = |v2: usize, blob: &Digest| -> Result<Digest, ManifestError> {
        if diff_ids.len() == n {
            return Ok(diff_ids[v2].clone());
        }
        if diff_ids.len() == distinct.len()
            && let Some(i) = distinct.iter().position(|d| d.digest == *blob)
        {
            return Ok(diff_ids[i].clone());
        }
        Err(ManifestError::Update(format!(
            "Internal error: collected {} DiffID values, but schema1 manifest has {n} fsLayers",
            diff_ids.len()
        )))
    };
    let mut layers = Vec::new();
    let mut ids = Vec::new();
    for v1 in (0..n).rev() {
        let v2 = n - 1 - v1;
        if s.compat[v1].throwaway {
            continue;
        }
        let src = Descriptor {
            media_type: mime::DOCKER_LAYER_GZIP.into(),
            digest: s.fs_layers[v1].clone(),
            size: 0,
            urls: vec![],
            annotations: None,
            platform: None,
        };
        let (digest, size) = copied(&src, Some(blobs));
        layers.push(schema2_descriptor(
            mime::DOCKER_LAYER_GZIP,
            size,
            &digest,
            &[],
        ));
        ids.push(diff_id_of(v2, &s.fs_layers[v1])?);
    }
    let config = to_schema2_config(&s, &ids)?;
    let cd = schema2_descriptor(
        mime::DOCKER_CONFIG,
        config.len() as i64,
        &Digest::sha256_of(&config),
        &[],
    );
    Ok((schema2_manifest(cd, layers)?, config))
}

/// `Schema1.ToSchema2Config`.
fn to_schema2_config(s: &Schema1, diff_ids: &[Digest]) -> Result<Vec<u8>, ManifestError> {
    let top = s.history[0].as_bytes();
    let v: Value = serde_json::from_slice(top)
        .map_err(|e| ManifestError::Invalid(format!("decoding configuration: {e}")))?;
    let empty = Map::new();
    let o = v.as_object().unwrap_or(&empty);
    get_time(o, "created")?;
    let docker_version = get_string(o, "docker_version")?;
    if !docker_version.is_empty() && version_less(&docker_version, "1.8.3") {
        return Err(ManifestError::Unsupported(format!(
            "converting a schema 1 image built by Docker {docker_version} (older than 1.8.3) is not implemented"
        )));
    }
    let mut history = Vec::new();
    for c in s.compat.iter().rev() {
        let mut h = Map::new();
        h.insert("created".into(), Value::String(c.created.clone()));
        if !c.author.is_empty() {
            h.insert("author".into(), Value::String(c.author.clone()));
        }
        let created_by = c.cmd.join(" ");
        if !created_by.is_empty() {
            h.insert("created_by".into(), Value::String(created_by));
        }
        if !c.comment.is_empty() {
            h.insert("comment".into(), Value::String(c.comment.clone()));
        }
        if c.throwaway {
            h.insert("empty_layer".into(), Value::Bool(true));
        }
        history.push(Value::Object(h));
    }
    let mut rootfs = Map::new();
    rootfs.insert("type".into(), Value::String("layers".into()));
    if !diff_ids.is_empty() {
        rootfs.insert(
            "diff_ids".into(),
            diff_ids
                .iter()
                .map(|d| Value::String(d.to_string()))
                .collect(),
        );
    }
    let mut members = gojson::raw_members(top)?;
    let drop = ["id", "parent", "parent_id", "layer_id", "throwaway", "Size"];
    members.retain(|(k, _)| !drop.contains(&k.as_str()));
    members.retain(|(k, _)| k != "rootfs" && k != "history");
    members.push(("rootfs".into(), gojson::encode(&Value::Object(rootfs))));
    members.push(("history".into(), gojson::encode(&Value::Array(history))));
    Ok(gojson::encode_raw_map(members).into_bytes())
}

/// docker's `versions.LessThan`: dot-separated numeric comparison.
fn version_less(a: &str, b: &str) -> bool {
    let pa: Vec<i64> = a.split('.').map(|x| x.parse().unwrap_or(0)).collect();
    let pb: Vec<i64> = b.split('.').map(|x| x.parse().unwrap_or(0)).collect();
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (
            pa.get(i).copied().unwrap_or(0),
            pb.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}
