//! The engine's format choice and fallbacks against in-memory test doubles of a source and
//! a destination (the integration tests use real registries; these pin the decisions).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::json;
use tokio::io::AsyncReadExt;

use super::context::Ctx;
use super::error::CopyError;
use super::options::CopyOptions;
use super::options::ListSelection;
use super::{admit_first, copy_admitted};
use crate::digest::Digest;
use crate::image::SourceImage;
use crate::manifest::platform::WantedPlatform;
use crate::manifest::{Descriptor, mime};
use crate::pipeline::{BlobReader, Compression};
use crate::policy::Policy;
use crate::reference::ImageName;
use crate::report::Reporter;
use crate::signature::Signature;
use crate::transport::{
    self, BlobInfo, BlobOptions, DestCaps, ImageDestination, ImageSource, LayerCompression,
    SignatureSupport, TransportError,
};

/// An image source held in memory: manifests by instance, blobs by digest.
#[derive(Default)]
struct MemSource {
    manifests: HashMap<Option<Digest>, Vec<u8>>,
    blobs: HashMap<Digest, Vec<u8>>,
    signatures: HashMap<Option<Digest>, Vec<Signature>>,
    /// The instances whose signatures were asked for, in order.
    asked: std::sync::Arc<Mutex<Vec<Option<Digest>>>>,
}

#[async_trait]
impl ImageSource for MemSource {
    async fn manifest(
        &self,
        instance: Option<&Digest>,
    ) -> transport::Result<(Vec<u8>, Option<String>)> {
        self.manifests
            .get(&instance.cloned())
            .map(|m| (m.clone(), None))
            .ok_or_else(|| TransportError::NotFound("no such manifest".into()))
    }
    async fn blob(&self, desc: &Descriptor) -> transport::Result<BlobReader> {
        let bytes = self
            .blobs
            .get(&desc.digest)
            .cloned()
            .ok_or_else(|| TransportError::NotFound(format!("no blob {}", desc.digest)))?;
        Ok(Box::pin(std::io::Cursor::new(bytes)))
    }
    async fn signatures(&self, instance: Option<&Digest>) -> transport::Result<Vec<Signature>> {
        self.asked.lock().unwrap().push(instance.cloned());
        Ok(self
            .signatures
            .get(&instance.cloned())
            .cloned()
            .unwrap_or_default())
    }
}

/// A destination that takes the manifest types it is told to, refuses the others as a
/// registry does (HTTP 400/415), and records what it was asked.
struct MemDest {
    manifest_types: &'static [&'static str],
    refused: Vec<&'static str>,
    compression: LayerCompression,
    blobs: Mutex<HashMap<Digest, Vec<u8>>>,
    tried: Mutex<Vec<String>>,
    written: Mutex<Vec<(String, Vec<u8>)>>,
    signatures: Mutex<Vec<(Option<Digest>, Vec<Signature>)>>,
}

impl MemDest {
    fn new(manifest_types: &'static [&'static str], refused: &[&'static str]) -> MemDest {
        MemDest {
            manifest_types,
            refused: refused.to_vec(),
            compression: LayerCompression::Preserve,
            blobs: Mutex::default(),
            tried: Mutex::default(),
            written: Mutex::default(),
            signatures: Mutex::default(),
        }
    }
    fn tried(&self) -> Vec<String> {
        self.tried.lock().unwrap().clone()
    }
    fn written_types(&self) -> Vec<String> {
        self.written
            .lock()
            .unwrap()
            .iter()
            .map(|(m, _)| m.clone())
            .collect()
    }
}

#[async_trait]
impl ImageDestination for MemDest {
    fn caps(&self) -> DestCaps {
        DestCaps {
            layer_compression: self.compression,
            manifest_types: self.manifest_types,
            signatures: SignatureSupport::Stored,
            sigstore_refusal: None,
        }
    }
    async fn try_reuse_blob(
        &self,
        digest: &Digest,
        _opts: &BlobOptions<'_>,
    ) -> transport::Result<Option<BlobInfo>> {
        Ok(self.blobs.lock().unwrap().get(digest).map(|b| BlobInfo {
            digest: digest.clone(),
            size: b.len() as u64,
        }))
    }
    async fn put_blob(
        &self,
        mut reader: BlobReader,
        _opts: &BlobOptions<'_>,
    ) -> transport::Result<BlobInfo> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| TransportError::io("reading", e))?;
        let info = BlobInfo {
            digest: Digest::sha256_of(&bytes),
            size: bytes.len() as u64,
        };
        self.blobs
            .lock()
            .unwrap()
            .insert(info.digest.clone(), bytes);
        Ok(info)
    }
    async fn put_manifest(
        &self,
        raw: &[u8],
        mime: &str,
        _instance: Option<&Digest>,
    ) -> transport::Result<()> {
        self.tried.lock().unwrap().push(mime.to_string());
        if self.refused.contains(&mime) {
            return Err(TransportError::ManifestRefused(format!(
                "manifest invalid: {mime} (HTTP 400)"
            )));
        }
        self.written
            .lock()
            .unwrap()
            .push((mime.to_string(), raw.to_vec()));
        Ok(())
    }
    async fn put_signatures(
        &self,
        signatures: &[Signature],
        instance: Option<&Digest>,
    ) -> transport::Result<()> {
        self.signatures
            .lock()
            .unwrap()
            .push((instance.cloned(), signatures.to_vec()));
        Ok(())
    }
    async fn commit(self: Box<Self>) -> transport::Result<()> {
        Ok(())
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    json!({"mediaType": media_type, "digest": Digest::sha256_of(bytes).to_string(), "size": bytes.len()})
}

/// An image with one gzip layer, its manifest of type `manifest_type` (OCI or Docker
/// schema 2) and a config whose diff ID is right.
fn image(manifest_type: &str) -> MemSource {
    let plain = b"pretend this is a tar".to_vec();
    let layer = gzip(&plain);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "history": [{"created_by": "test"}],
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&plain).to_string()]}
    }))
    .unwrap();
    let (config_type, layer_type) = if manifest_type == mime::OCI_MANIFEST {
        (mime::OCI_CONFIG, mime::OCI_LAYER_GZIP)
    } else {
        (mime::DOCKER_CONFIG, mime::DOCKER_LAYER_GZIP)
    };
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": manifest_type,
        "config": descriptor(config_type, &config),
        "layers": [descriptor(layer_type, &layer)],
    }))
    .unwrap();
    let mut src = MemSource::default();
    src.manifests.insert(None, manifest);
    src.blobs.insert(Digest::sha256_of(&config), config);
    src.blobs.insert(Digest::sha256_of(&layer), layer);
    src
}

fn options() -> CopyOptions {
    CopyOptions {
        src: Default::default(),
        dest: Default::default(),
        compress_format: None,
        compress_level: None,
        remove_signatures: false,
        preserve_digests: false,
        selection: ListSelection::System,
        platform: WantedPlatform::host(Some("linux"), Some("amd64"), None),
        format: None,
        parallel: 2,
        sign: None,
        sigstore: Default::default(),
        force_compress_format: false,
        crypt: None,
    }
}

/// Two images (one per architecture) under an OCI index; returns their digests.
fn index() -> (MemSource, Vec<Digest>) {
    let mut src = MemSource::default();
    let mut entries = Vec::new();
    let mut digests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let mut one = image(mime::OCI_MANIFEST);
        let raw = one.manifests.remove(&None).unwrap();
        // Two manifests that name the same blobs but differ.
        let mut value: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        value["annotations"] = json!({ "arch": arch });
        let raw = serde_json::to_vec(&value).unwrap();
        let digest = Digest::sha256_of(&raw);
        let mut entry = descriptor(mime::OCI_MANIFEST, &raw);
        entry["platform"] = json!({"architecture": arch, "os": "linux"});
        entries.push(entry);
        src.manifests.insert(Some(digest.clone()), raw);
        src.blobs.extend(one.blobs);
        digests.push(digest);
    }
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mime::OCI_INDEX, "manifests": entries,
    }))
    .unwrap();
    src.manifests.insert(None, list);
    (src, digests)
}

/// Copies the top-level image of `src` to `dest` through the engine's steps, as
/// `copy_image` does after opening both.
async fn copy(src: MemSource, dest: &MemDest, opts: &CopyOptions) -> Result<Vec<u8>, CopyError> {
    let src = SourceImage::from_transport("mem:src".into(), Box::new(src));
    let name = ImageName::parse("docker://example.com/test/image:v1").unwrap();
    let policy = Policy::insecure_accept_anything();
    let report = Reporter::silent();
    let ctx = Ctx {
        src: &src,
        src_name: &name,
        policy: &policy,
        dest,
        opts,
        report: &report,
        dest_label: "mem:dest",
        dest_repo_tag: None,
        manifests_read: Default::default(),
        sign_identity: None,
    };
    let (first, _) = admit_first(&src, &name, &policy, opts, &report).await?;
    Ok(copy_admitted(&ctx, &first).await?.raw)
}

const REGISTRY_TYPES: &[&str] = &[
    mime::OCI_MANIFEST,
    mime::DOCKER_V2S2,
    mime::OCI_INDEX,
    mime::DOCKER_LIST,
    mime::DOCKER_V2S1_SIGNED,
    mime::DOCKER_V2S1,
];

#[tokio::test]
async fn a_refused_manifest_type_falls_back_to_the_next() {
    let dest = MemDest::new(REGISTRY_TYPES, &[mime::OCI_MANIFEST]);
    let raw = copy(image(mime::OCI_MANIFEST), &dest, &options())
        .await
        .unwrap();
    assert_eq!(dest.tried(), [mime::OCI_MANIFEST, mime::DOCKER_V2S2]);
    assert_eq!(dest.written_types(), [mime::DOCKER_V2S2]);
    // The schema 2 manifest names the converted config, which the destination has.
    let written: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let config: Digest = written["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(dest.blobs.lock().unwrap().contains_key(&config));
    assert_eq!(written["config"]["mediaType"], mime::DOCKER_CONFIG);
}

#[tokio::test]
async fn every_refusal_tries_every_candidate_then_fails() {
    let dest = MemDest::new(
        REGISTRY_TYPES,
        &[
            mime::OCI_MANIFEST,
            mime::DOCKER_V2S2,
            mime::DOCKER_V2S1_SIGNED,
        ],
    );
    let err = copy(image(mime::OCI_MANIFEST), &dest, &options())
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::WriteManifest(_)), "{err}");
    // containers/image's order: the source type, schema 2, signed schema 1, then the rest
    // of the destination's types (unsigned schema 1, which skiff also writes signed, as
    // distribution requires the signature).
    assert_eq!(
        dest.tried(),
        [
            mime::OCI_MANIFEST,
            mime::DOCKER_V2S2,
            mime::DOCKER_V2S1_SIGNED,
            mime::DOCKER_V2S1_SIGNED
        ]
    );
}

#[tokio::test]
async fn preserved_digests_never_fall_back() {
    let dest = MemDest::new(REGISTRY_TYPES, &[mime::OCI_MANIFEST]);
    let opts = CopyOptions {
        preserve_digests: true,
        ..options()
    };
    let err = copy(image(mime::OCI_MANIFEST), &dest, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::WriteManifest(_)), "{err}");
    assert_eq!(dest.tried(), [mime::OCI_MANIFEST]);
}

#[tokio::test]
async fn zstd_for_a_docker_image_falls_back_to_oci() {
    // A Docker schema 2 image recompressed to zstd: schema 2 cannot describe zstd layers,
    // so the copy writes OCI (containers/image's fallback), and never tries schema 2.
    let mut dest = MemDest::new(REGISTRY_TYPES, &[]);
    dest.compression = LayerCompression::Compress;
    let opts = CopyOptions {
        compress_format: Some(Compression::Zstd),
        ..options()
    };
    let raw = copy(image(mime::DOCKER_V2S2), &dest, &opts).await.unwrap();
    assert_eq!(dest.written_types(), [mime::OCI_MANIFEST]);
    let written: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(written["layers"][0]["mediaType"], mime::OCI_LAYER_ZSTD);
    // The stored bytes are zstd, of the same tar.
    let layer: Digest = written["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = dest.blobs.lock().unwrap()[&layer].clone();
    assert!(bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]), "not zstd");
    assert_eq!(
        zstd::decode_all(&bytes[..]).unwrap(),
        b"pretend this is a tar"
    );
    // Only the config and layer the OCI manifest names were stored: the Docker config was
    // not copied early and left behind.
    let stored: Vec<Digest> = dest.blobs.lock().unwrap().keys().cloned().collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored.contains(
            &written["config"]["digest"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        )
    );
}

#[tokio::test]
async fn a_destination_without_the_source_type_gets_a_conversion() {
    // docker-archive takes schema 2 only: an OCI image is converted, with no refusal.
    let dest = MemDest::new(&[mime::DOCKER_V2S2], &[]);
    copy(image(mime::OCI_MANIFEST), &dest, &options())
        .await
        .unwrap();
    assert_eq!(dest.tried(), [mime::DOCKER_V2S2]);
}

#[tokio::test]
async fn kept_signatures_refuse_a_conversion_before_anything_is_written() {
    let mut src = image(mime::OCI_MANIFEST);
    src.signatures
        .insert(None, vec![Signature::SimpleSigning(vec![0xa3, 1])]);
    let dest = MemDest::new(&[mime::DOCKER_V2S2], &[]);
    let err = copy(src, &dest, &options()).await.unwrap_err();
    assert!(
        err.to_string().contains("Would invalidate signatures"),
        "{err}"
    );
    assert!(dest.tried().is_empty());
    assert!(dest.blobs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn zstd_into_a_destination_taking_any_type_converts_a_docker_image_to_oci() {
    // dir: takes every type, so the only candidate is the source's own, which cannot
    // describe zstd: OCI is added as the fallback.
    let mut dest = MemDest::new(&[], &[]);
    dest.compression = LayerCompression::Compress;
    let opts = CopyOptions {
        compress_format: Some(Compression::Zstd),
        ..options()
    };
    copy(image(mime::DOCKER_V2S2), &dest, &opts).await.unwrap();
    assert_eq!(dest.tried(), [mime::OCI_MANIFEST]);
}

#[tokio::test]
async fn each_list_member_is_admitted_on_its_own_signatures_and_keeps_them() {
    let (mut src, digests) = index();
    let sig = |n: u8| vec![Signature::SimpleSigning(vec![0xa3, n])];
    src.signatures.insert(None, sig(0));
    src.signatures.insert(Some(digests[0].clone()), sig(1));
    src.signatures.insert(Some(digests[1].clone()), sig(2));
    let asked = src.asked.clone();
    let dest = MemDest::new(&[], &[]);
    let opts = CopyOptions {
        selection: ListSelection::All,
        ..options()
    };
    copy(src, &dest, &opts).await.unwrap();
    // The list's signatures first (its admission), then each member's.
    assert_eq!(
        *asked.lock().unwrap(),
        [None, Some(digests[0].clone()), Some(digests[1].clone())]
    );
    let stored = dest.signatures.lock().unwrap().clone();
    assert_eq!(
        stored,
        [
            (Some(digests[0].clone()), sig(1)),
            (Some(digests[1].clone()), sig(2)),
            (None, sig(0)),
        ]
    );
}

/// A chain of `depth` indexes, each naming the next, ending in an image.
fn nested(depth: usize) -> MemSource {
    let mut src = image(mime::OCI_MANIFEST);
    let mut inner = src.manifests.remove(&None).unwrap();
    let mut inner_type = mime::OCI_MANIFEST;
    for _ in 0..depth {
        let mut entry = descriptor(inner_type, &inner);
        entry["platform"] = json!({"architecture": "amd64", "os": "linux"});
        src.manifests.insert(Some(Digest::sha256_of(&inner)), inner);
        inner = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": mime::OCI_INDEX, "manifests": [entry],
        }))
        .unwrap();
        inner_type = mime::OCI_INDEX;
    }
    src.manifests.insert(None, inner);
    src
}

#[tokio::test]
async fn nested_lists_are_followed_to_a_limit() {
    for selection in [ListSelection::System, ListSelection::All] {
        let opts = CopyOptions {
            selection,
            ..options()
        };
        // Two levels: copied (the instance found through both lists).
        let dest = MemDest::new(&[], &[]);
        copy(nested(2), &dest, &opts).await.unwrap();
        // Thousands: refused at the limit, without exhausting the stack.
        let dest = MemDest::new(&[], &[]);
        let err = copy(nested(3000), &dest, &opts).await.unwrap_err();
        assert!(
            err.to_string().contains("nested more than 8 deep"),
            "{selection:?}: {err}"
        );
        assert!(dest.written_types().is_empty());
    }
}

#[tokio::test]
async fn a_list_naming_too_many_manifests_is_refused_before_reading_them() {
    let (mut src, _) = index();
    let list: serde_json::Value = serde_json::from_slice(&src.manifests[&None]).unwrap();
    let entry = list["manifests"][0].clone();
    let huge = json!({
        "schemaVersion": 2, "mediaType": mime::OCI_INDEX,
        "manifests": vec![entry; 5000],
    });
    src.manifests
        .insert(None, serde_json::to_vec(&huge).unwrap());
    let asked = src.asked.clone();
    let dest = MemDest::new(&[], &[]);
    let opts = CopyOptions {
        selection: ListSelection::All,
        ..options()
    };
    let err = copy(src, &dest, &opts).await.unwrap_err();
    assert!(
        err.to_string().contains("more than 4096 manifests"),
        "{err}"
    );
    // Only the list itself was admitted.
    assert_eq!(asked.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_image_whose_config_lists_fewer_diff_ids_than_layers_is_refused_first() {
    let mut src = image(mime::OCI_MANIFEST);
    // A second layer the config does not list.
    let raw = src.manifests.remove(&None).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let extra = gzip(b"a layer no diff ID describes");
    manifest["layers"]
        .as_array_mut()
        .unwrap()
        .push(descriptor(mime::OCI_LAYER_GZIP, &extra));
    src.blobs.insert(Digest::sha256_of(&extra), extra);
    src.manifests
        .insert(None, serde_json::to_vec(&manifest).unwrap());
    let dest = MemDest::new(&[], &[]);
    let err = copy(src, &dest, &options()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid image mem:src: it has 2 layers but its config lists 1 (rootfs.diff_ids); no runtime could unpack it"
    );
    assert!(dest.blobs.lock().unwrap().is_empty());
    assert!(dest.tried().is_empty());
}

/// `--encryption-key` and `--decryption-key` options for one fresh P-256 key pair.
fn crypt_options(dir: &std::path::Path) -> (super::CryptOptions, super::CryptOptions) {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let key = p256::SecretKey::random(&mut rand_core::OsRng);
    let (public, private) = (dir.join("k.pub"), dir.join("k.pem"));
    let pem = key.public_key().to_public_key_pem(LineEnding::LF).unwrap();
    std::fs::write(&public, pem).unwrap();
    std::fs::write(&private, key.to_pkcs8_pem(LineEnding::LF).unwrap()).unwrap();
    let recipients =
        crate::crypt::parse_recipients(&[format!("jwe:{}", public.display())]).unwrap();
    let keys = crate::crypt::parse_decryption_keys(&[private.display().to_string()]).unwrap();
    (
        super::CryptOptions::Encrypt {
            recipients: std::sync::Arc::new(recipients),
            layers: vec![],
        },
        super::CryptOptions::Decrypt(std::sync::Arc::new(keys)),
    )
}

#[tokio::test]
async fn encryption_makes_a_docker_image_oci_and_decryption_restores_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    let (encrypt, decrypt) = crypt_options(dir.path());
    let source = image(mime::DOCKER_V2S2);
    let original: serde_json::Value = serde_json::from_slice(&source.manifests[&None]).unwrap();
    let encrypted_dest = MemDest::new(&[], &[]);
    let opts = CopyOptions {
        crypt: Some(encrypt),
        ..options()
    };
    let raw = copy(source, &encrypted_dest, &opts).await.unwrap();
    assert_eq!(encrypted_dest.written_types(), [mime::OCI_MANIFEST]);
    let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let layer = &m["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
    );
    assert_ne!(layer["digest"], original["layers"][0]["digest"]);
    assert_eq!(layer["size"], original["layers"][0]["size"]);
    for key in ["keys.jwe", "pubopts"] {
        let name = format!("org.opencontainers.image.enc.{key}");
        assert!(layer["annotations"][&name].is_string(), "{name}: {layer}");
    }
    // Decrypt what was written.
    let mut back = MemSource::default();
    back.manifests.insert(None, raw);
    back.blobs = encrypted_dest.blobs.lock().unwrap().clone();
    let decrypted_dest = MemDest::new(&[], &[]);
    let opts = CopyOptions {
        crypt: Some(decrypt),
        ..options()
    };
    let raw = copy(back, &decrypted_dest, &opts).await.unwrap();
    let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(m["layers"][0]["digest"], original["layers"][0]["digest"]);
    assert_eq!(m["layers"][0]["mediaType"], mime::OCI_LAYER_GZIP);
    assert!(
        m["layers"][0]
            .get("annotations")
            .is_none_or(|a| a.as_object().unwrap().is_empty())
    );
}

#[tokio::test]
async fn encryption_where_no_oci_manifest_can_go_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (encrypt, _) = crypt_options(dir.path());
    let dest = MemDest::new(&[mime::DOCKER_V2S2], &[]);
    let opts = CopyOptions {
        crypt: Some(encrypt),
        ..options()
    };
    let err = copy(image(mime::DOCKER_V2S2), &dest, &opts)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("none of which support encryption"),
        "{err}"
    );
    assert!(dest.blobs.lock().unwrap().is_empty());
    assert!(dest.tried().is_empty());
}
