//! The parsed manifest ([`Manifest`], its [`Kind`] and [`Descriptor`]s): detecting the
//! type, reading the blobs it references, rewriting layer descriptors, and the digest
//! of the bytes as given.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ManifestError;
use super::mime;
use crate::digest::Digest;

/// Manifests, configs and indexes are read into memory; this caps what a source can make
/// us allocate (containers/image uses the same 4 MiB limit).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;
pub const MAX_CONFIG_SIZE: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A content descriptor as OCI and Docker schema 2 spell it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    /// Never negative when read from outside: a negative size would lift the bound on
    /// how much a blob may stream (skiff uses -1 only for schema 1 layers, which have none).
    #[serde(deserialize_with = "non_negative_size")]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

fn non_negative_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let size = i64::deserialize(d)?;
    if size < 0 {
        return Err(serde::de::Error::custom(format!(
            "descriptor size {size} is negative"
        )));
    }
    Ok(size)
}

/// A parsed manifest, with its original bytes.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub mime: String,
    pub raw: Vec<u8>,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// OCI image manifest or Docker schema 2: a config and layers.
    Image {
        config: Box<Descriptor>,
        layers: Vec<Descriptor>,
    },
    /// Docker schema 1: layers only (fsLayers, base first, duplicates removed).
    Schema1 { layers: Vec<Descriptor> },
    /// OCI index or Docker manifest list.
    List { manifests: Vec<Descriptor> },
}

/// What a manifest's own fields say it is (containers/image's GuessMIMEType).
pub fn guess_mime(raw: &[u8]) -> Result<String, ManifestError> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "schemaVersion")]
        schema_version: Option<i64>,
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        signatures: Option<Value>,
        config: Option<Value>,
        layers: Option<Value>,
        manifests: Option<Value>,
    }
    let p: Probe = serde_json::from_slice(raw)?;
    match p.schema_version {
        Some(1) if p.signatures.is_some() => Ok(mime::DOCKER_V2S1_SIGNED.into()),
        Some(1) => Ok(mime::DOCKER_V2S1.into()),
        Some(2) => {
            if let Some(mt) = p.media_type {
                return Ok(mt);
            }
            // OCI permits omitting mediaType; decide by shape.
            if p.manifests.is_some() {
                Ok(mime::OCI_INDEX.into())
            } else if p.config.is_some() || p.layers.is_some() {
                Ok(mime::OCI_MANIFEST.into())
            } else {
                Err(ManifestError::Unsupported(
                    "schemaVersion 2 without config, layers or manifests".into(),
                ))
            }
        }
        Some(v) => Err(ManifestError::Unsupported(format!("schemaVersion {v}"))),
        None => Err(ManifestError::Invalid("missing schemaVersion".into())),
    }
}

/// c/image `manifest.Digest`: the digest of the manifest's bytes, except that a signed
/// Docker schema 1 manifest is digested without its JWS signatures (the payload the
/// signatures' protected headers describe), as registries compute it.
pub fn manifest_digest(raw: &[u8]) -> Result<Digest, ManifestError> {
    if guess_mime(raw).ok().as_deref() == Some(mime::DOCKER_V2S1_SIGNED) {
        return Ok(Digest::sha256_of(&schema1_payload(raw)?));
    }
    Ok(Digest::sha256_of(raw))
}

/// libtrust's `ParsePrettySignature(…).Payload()`: the first `formatLength` bytes plus
/// the base64url `formatTail` from the (first) signature's protected header.
fn schema1_payload(raw: &[u8]) -> Result<Vec<u8>, ManifestError> {
    use base64::Engine as _;
    #[derive(Deserialize)]
    struct Sig {
        protected: String,
    }
    #[derive(Deserialize)]
    struct Signed {
        signatures: Vec<Sig>,
    }
    #[derive(Deserialize)]
    struct Protected {
        #[serde(rename = "formatLength")]
        format_length: usize,
        #[serde(rename = "formatTail")]
        format_tail: String,
    }
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|e| ManifestError::Invalid(format!("schema 1 signature: {e}")))
    };
    let signed: Signed = serde_json::from_slice(raw)?;
    let first = signed
        .signatures
        .first()
        .ok_or_else(|| ManifestError::Invalid("schema 1 manifest without signatures".into()))?;
    let protected: Protected = serde_json::from_slice(&b64(&first.protected)?)?;
    let head = raw.get(..protected.format_length).ok_or_else(|| {
        ManifestError::Invalid(format!(
            "schema 1 signature names formatLength {} beyond the manifest's {} bytes",
            protected.format_length,
            raw.len()
        ))
    })?;
    let mut payload = head.to_vec();
    payload.extend(b64(&protected.format_tail)?);
    Ok(payload)
}

impl Manifest {
    /// Parses `raw`. `declared` is the media type the source reported, if it reported one
    /// (an OCI index entry, an HTTP Content-Type); otherwise the type is guessed.
    pub fn parse(raw: Vec<u8>, declared: Option<&str>) -> Result<Manifest, ManifestError> {
        let guessed = guess_mime(&raw)?;
        let mime = match declared {
            Some(d) if !d.is_empty() => normalize_mime(d, &guessed)?,
            _ => guessed,
        };
        let value: Value = serde_json::from_slice(&raw)?;
        let kind = match mime.as_str() {
            mime::OCI_MANIFEST | mime::DOCKER_V2S2 => {
                let config = field::<Descriptor>(&value, "config")?;
                let layers =
                    field::<Option<Vec<Descriptor>>>(&value, "layers")?.unwrap_or_default();
                Kind::Image {
                    config: Box::new(config),
                    layers,
                }
            }
            mime::OCI_INDEX | mime::DOCKER_LIST => {
                let manifests =
                    field::<Option<Vec<Descriptor>>>(&value, "manifests")?.unwrap_or_default();
                Kind::List { manifests }
            }
            mime::DOCKER_V2S1 | mime::DOCKER_V2S1_SIGNED => Kind::Schema1 {
                layers: schema1_layers(&value)?,
            },
            other => return Err(ManifestError::Unsupported(format!("media type {other:?}"))),
        };
        Ok(Manifest { mime, raw, kind })
    }

    pub fn digest(&self) -> Digest {
        Digest::sha256_of(&self.raw)
    }

    pub fn is_list(&self) -> bool {
        matches!(self.kind, Kind::List { .. })
    }

    /// The manifest with its layer descriptors replaced, re-serialized the way Go's
    /// encoding/json writes it (compact, HTML-escaped) so digests match skopeo's output.
    pub fn with_layers(&self, new_layers: &[Descriptor]) -> Result<Manifest, ManifestError> {
        let Kind::Image { config, layers } = &self.kind else {
            return Err(ManifestError::Update(
                "only image manifests have layers to update".into(),
            ));
        };
        if layers.len() != new_layers.len() {
            return Err(ManifestError::Update(format!(
                "layer count changed from {} to {}",
                layers.len(),
                new_layers.len()
            )));
        }
        let mut value: Value = serde_json::from_slice(&self.raw)?;
        let slots = value
            .get_mut("layers")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| ManifestError::Update("manifest has no layers array".into()))?;
        for (slot, new) in slots.iter_mut().zip(new_layers) {
            let obj = slot
                .as_object_mut()
                .ok_or_else(|| ManifestError::Update("layer entry is not an object".into()))?;
            obj.insert("mediaType".into(), Value::String(new.media_type.clone()));
            obj.insert("digest".into(), Value::String(new.digest.to_string()));
            obj.insert("size".into(), Value::from(new.size));
            // Annotations are rewritten only when the copy changed them (encryption).
            if obj.get("annotations").and_then(Value::as_object) != new.annotations.as_ref() {
                match &new.annotations {
                    Some(a) if !a.is_empty() => {
                        obj.insert("annotations".into(), Value::Object(a.clone()))
                    }
                    _ => obj.remove("annotations"),
                };
            }
        }
        let raw = go_json(&value);
        Ok(Manifest {
            mime: self.mime.clone(),
            raw,
            kind: Kind::Image {
                config: config.clone(),
                layers: new_layers.to_vec(),
            },
        })
    }
}

/// Serializes like Go's json.Marshal: compact, HTML-safe, Go's escapes for control
/// characters; objects keep their key order. (One encoder serves manifests, index.json,
/// docker-archive files and the format conversions.)
pub fn go_json(value: &Value) -> Vec<u8> {
    super::gojson::encode(value).into_bytes()
}

fn field<T: serde::de::DeserializeOwned>(value: &Value, name: &str) -> Result<T, ManifestError> {
    let v = value.get(name).cloned().unwrap_or(Value::Null);
    serde_json::from_value(v).map_err(|e| ManifestError::Invalid(format!("field {name:?}: {e}")))
}

/// A declared type must agree with the manifest's own fields (an index served as an image
/// manifest is refused rather than misread).
fn normalize_mime(declared: &str, guessed: &str) -> Result<String, ManifestError> {
    let family = |m: &str| match m {
        mime::OCI_INDEX | mime::DOCKER_LIST => "list",
        mime::OCI_MANIFEST | mime::DOCKER_V2S2 => "image",
        mime::DOCKER_V2S1 | mime::DOCKER_V2S1_SIGNED => "schema1",
        _ => "other",
    };
    if family(declared) != "other" && family(declared) != family(guessed) {
        return Err(ManifestError::Invalid(format!(
            "declared media type {declared:?} does not match the manifest's contents ({guessed})"
        )));
    }
    Ok(declared.to_string())
}

fn schema1_layers(value: &Value) -> Result<Vec<Descriptor>, ManifestError> {
    #[derive(Deserialize)]
    struct FsLayer {
        #[serde(rename = "blobSum")]
        blob_sum: Digest,
    }
    let fs_layers: Vec<FsLayer> = field(value, "fsLayers")?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    // fsLayers lists the top layer first.
    for l in fs_layers.into_iter().rev() {
        if seen.insert(l.blob_sum.clone()) {
            out.push(Descriptor {
                media_type: mime::DOCKER_LAYER_GZIP.into(),
                digest: l.blob_sum,
                size: -1,
                urls: vec![],
                annotations: None,
                platform: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"annotations":{"a":"<b>"}}]}"#;

    #[test]
    fn schema1_signed_digests_skip_the_signatures() {
        use base64::Engine as _;
        let payload = "{\n   \"schemaVersion\": 1,\n   \"fsLayers\": []\n}";
        let head_len = payload.len() - 2;
        let tail = &payload[head_len..];
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let protected = enc(&format!(
            r#"{{"formatLength":{head_len},"formatTail":"{}"}}"#,
            enc(tail)
        ));
        let signed = format!(
            "{},\n   \"signatures\": [{{\"protected\": \"{protected}\"}}]\n}}",
            &payload[..head_len]
        );
        assert_eq!(
            manifest_digest(signed.as_bytes()).unwrap(),
            Digest::sha256_of(payload.as_bytes())
        );
        assert_eq!(
            manifest_digest(OCI.as_bytes()).unwrap(),
            Digest::sha256_of(OCI.as_bytes())
        );
    }

    #[test]
    fn guesses_types() {
        assert_eq!(guess_mime(OCI.as_bytes()).unwrap(), mime::OCI_MANIFEST);
        assert_eq!(
            guess_mime(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
            mime::OCI_INDEX
        );
        assert_eq!(
            guess_mime(br#"{"schemaVersion":1,"fsLayers":[]}"#).unwrap(),
            mime::DOCKER_V2S1
        );
        assert!(guess_mime(b"{").is_err());
        assert!(guess_mime(br#"{"schemaVersion":3}"#).is_err());
    }

    #[test]
    fn refuses_negative_sizes() {
        for (what, raw) in [
            (
                "layer",
                OCI.replacen(
                    "\"size\":0,\"annotations\"",
                    "\"size\":-1,\"annotations\"",
                    1,
                ),
            ),
            ("config", OCI.replacen("\"size\":0}", "\"size\":-5}", 1)),
        ] {
            assert_ne!(raw, OCI, "{what}");
            let err = Manifest::parse(raw.into_bytes(), None).unwrap_err();
            assert!(err.to_string().contains("is negative"), "{what}: {err}");
        }
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":-1}]}"#;
        assert!(Manifest::parse(index.as_bytes().to_vec(), None).is_err());
    }

    #[test]
    fn refuses_a_declared_type_that_contradicts_the_bytes() {
        let err = Manifest::parse(OCI.as_bytes().to_vec(), Some(mime::OCI_INDEX)).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn rewrites_layers_like_go() {
        let m = Manifest::parse(OCI.as_bytes().to_vec(), None).unwrap();
        let Kind::Image { layers, .. } = &m.kind else {
            panic!()
        };
        let new = Descriptor {
            media_type: mime::OCI_LAYER_GZIP.into(),
            digest: Digest::sha256_of(b"x"),
            size: 21,
            ..layers[0].clone()
        };
        let updated = m.with_layers(&[new]).unwrap();
        let text = String::from_utf8(updated.raw.clone()).unwrap();
        assert!(text.contains(mime::OCI_LAYER_GZIP));
        assert!(text.contains(r#""size":21"#));
        assert!(text.contains(r#""\u003cb\u003e""#), "{text}");
        // Field order is kept: mediaType, digest, size, annotations.
        assert!(
            text.find("\"digest\":\"sha256:2d71").unwrap() < text.find("\"annotations\"").unwrap()
        );
    }
}
