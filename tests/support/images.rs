//! Test images: deterministic pseudo-random layers of any size and compression, OCI layouts
//! with a correct config (`rootfs.diff_ids`), and reading `dir:`/`oci:` images back.
//! Part of `support` (re-exported there).

use super::*;

// ---------------------------------------------------------------------------------------------
// Layers and images
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

impl Comp {
    pub fn media_type(self) -> &'static str {
        match self {
            Comp::None => "application/vnd.oci.image.layer.v1.tar",
            Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// Detect the compression of a blob from its magic bytes.
    pub fn sniff(data: &[u8]) -> Comp {
        if data.starts_with(&[0x1f, 0x8b]) {
            Comp::Gzip
        } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Comp::Zstd
        } else {
            Comp::None
        }
    }

    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Comp::None => data.to_vec(),
            Comp::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(data).unwrap();
                enc.finish().unwrap()
            }
            Comp::Zstd => zstd::encode_all(data, 1).unwrap(),
        }
    }
}

/// Decompress a layer blob whatever its compression.
pub fn decompress(data: &[u8]) -> Vec<u8> {
    match Comp::sniff(data) {
        Comp::None => data.to_vec(),
        Comp::Gzip => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        Comp::Zstd => zstd::decode_all(data).unwrap(),
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), incompressible.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A deterministic tar stream with one regular file of `payload` bytes (half pseudo-random, half
/// repetitive text, so compressors have something to do) plus a small text file.
pub fn layer_tar(index: usize, payload: usize, seed: u64) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_704_067_200);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(
        &format!("layer{index}/info.txt"),
        format!("layer {index} seed {seed}\n").as_bytes(),
        0o644,
    );
    let rnd = payload / 2;
    let mut data = pseudo_random(seed ^ ((index as u64 + 1) * 7919), rnd);
    let text = b"skiff integration test data, compressible part. ";
    while data.len() < payload {
        let n = (payload - data.len()).min(text.len());
        data.extend_from_slice(&text[..n]);
    }
    add(&format!("layer{index}/data.bin"), &data, 0o644);
    b.into_inner().unwrap()
}

pub struct LayerSpec {
    pub size: usize,
    pub comp: Comp,
}

pub fn layer(size: usize, comp: Comp) -> LayerSpec {
    LayerSpec { size, comp }
}

#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub layout: PathBuf,
    pub reference: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    pub diff_ids: Vec<String>,
    pub layer_media_types: Vec<String>,
}

impl BuiltImage {
    /// `oci:LAYOUT:REF`
    pub fn oci_ref(&self) -> String {
        format!("oci:{}:{}", self.layout.display(), self.reference)
    }
}

/// An OCI image layout being written: blobs by digest, images tagged in its index.
pub struct OciLayout<'a>(&'a Path);

impl OciLayout<'_> {
    /// Creates the layout's `oci-layout` file and blob directory (what is there stays).
    pub fn create(layout: &Path) -> OciLayout<'_> {
        fs::create_dir_all(layout.join("blobs").join("sha256")).unwrap();
        fs::write(
            layout.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        OciLayout(layout)
    }

    /// Stores a blob; returns its digest.
    pub fn put(&self, data: &[u8]) -> String {
        let d = sha256_digest(data);
        fs::write(oci_blob(self.0, &d), data).unwrap();
        d
    }

    /// Stores a layer blob; returns its descriptor.
    pub fn put_layer(&self, media_type: &str, blob: &[u8]) -> Value {
        json!({"mediaType": media_type, "digest": self.put(blob), "size": blob.len()})
    }

    /// Stores `config` and the manifest naming it and `layers` (descriptors), and tags the
    /// manifest `reference` in the index (in place of an image that had the tag).
    pub fn put_image(&self, reference: &str, config: &[u8], layers: &[Value]) -> BuiltImage {
        let config_digest = self.put(config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers,
        }))
        .unwrap();
        let manifest_digest = self.put(&manifest);
        let index_path = self.0.join("index.json");
        let mut index = if index_path.exists() {
            read_json(&index_path)
        } else {
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})
        };
        let manifests = index["manifests"].as_array_mut().unwrap();
        manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != reference);
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": reference},
        }));
        fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        let strings = |v: &Value| -> Vec<String> {
            let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
            items
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        let field = |k: &str| layers.iter().map(|d| d[k].clone()).collect::<Value>();
        let config: Value = serde_json::from_slice(config).unwrap();
        BuiltImage {
            layout: self.0.to_path_buf(),
            reference: reference.to_string(),
            manifest_digest,
            config_digest,
            layer_digests: strings(&field("digest")),
            diff_ids: strings(&config["rootfs"]["diff_ids"]),
            layer_media_types: strings(&field("mediaType")),
        }
    }
}

/// Write (or add to) an OCI image layout at `layout`, tagging the new image `reference`.
/// Returns the digests. Deterministic for a given (layers, seed).
pub fn build_oci_image(
    layout: &Path,
    reference: &str,
    layers: &[LayerSpec],
    seed: u64,
) -> BuiltImage {
    let oci = OciLayout::create(layout);
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, spec) in layers.iter().enumerate() {
        let tar = layer_tar(i, spec.size, seed);
        diff_ids.push(sha256_digest(&tar));
        let blob = spec.comp.compress(&tar);
        drop(tar);
        layer_descs.push(oci.put_layer(spec.comp.media_type(), &blob));
    }
    let history: Vec<Value> = (0..layers.len())
        .map(|i| json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("ADD layer{i} (seed {seed})")}))
        .collect();
    let config = json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    oci.put_image(
        reference,
        &serde_json::to_vec(&config).unwrap(),
        &layer_descs,
    )
}

// ---------------------------------------------------------------------------------------------
// Reading images back
// ---------------------------------------------------------------------------------------------

/// A single-image manifest plus a function to fetch its blobs, for any of the local layouts.
pub struct Loaded {
    pub manifest_bytes: Vec<u8>,
    pub manifest: Value,
    pub config: Value,
    /// (mediaType, blob bytes) of each layer.
    pub layers: Vec<(String, Vec<u8>)>,
}

impl Loaded {
    pub fn manifest_digest(&self) -> String {
        sha256_digest(&self.manifest_bytes)
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.config["rootfs"]["diff_ids"]
            .as_array()
            .expect("config has no rootfs.diff_ids")
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    /// sha256 of each decompressed layer.
    pub fn computed_diff_ids(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|(_, b)| sha256_digest(&decompress(b)))
            .collect()
    }

    pub fn layer_compressions(&self) -> Vec<Comp> {
        self.layers.iter().map(|(_, b)| Comp::sniff(b)).collect()
    }

    /// Check every descriptor (digest + size) against the blob bytes.
    #[track_caller]
    pub fn assert_consistent(&self, context: &str) {
        for (i, (desc, (_, blob))) in self.manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&self.layers)
            .enumerate()
        {
            assert_eq!(
                desc["digest"].as_str().unwrap(),
                sha256_digest(blob),
                "{context}: layer {i} digest"
            );
            assert_eq!(
                desc["size"].as_u64().unwrap(),
                blob.len() as u64,
                "{context}: layer {i} size"
            );
        }
        assert_eq!(
            self.diff_ids(),
            self.computed_diff_ids(),
            "{context}: config rootfs.diff_ids must equal sha256 of the decompressed layers"
        );
    }
}

fn load_with(manifest_bytes: Vec<u8>, get: impl Fn(&str) -> Vec<u8>) -> Loaded {
    let manifest: Value = serde_json::from_slice(&manifest_bytes).expect("manifest is not JSON");
    let config_bytes = get(manifest["config"]["digest"]
        .as_str()
        .expect("manifest has no config"));
    let config = serde_json::from_slice(&config_bytes).expect("config is not JSON");
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mediaType"].as_str().unwrap().to_string(),
                get(l["digest"].as_str().unwrap()),
            )
        })
        .collect();
    Loaded {
        manifest_bytes,
        manifest,
        config,
        layers,
    }
}

/// Load a dir: image (single manifest).
pub fn load_dir(dir: &Path) -> Loaded {
    let m = fs::read(dir.join("manifest.json")).unwrap();
    load_with(m, |d| {
        fs::read(dir_blob(dir, d)).unwrap_or_else(|e| panic!("blob {d} in {}: {e}", dir.display()))
    })
}

/// Descriptor in index.json for `reference` (or the only one if `None`).
pub fn oci_index_entry(layout: &Path, reference: Option<&str>) -> Value {
    let idx = read_json(&layout.join("index.json"));
    let ms = idx["manifests"].as_array().unwrap();
    match reference {
        None => {
            assert_eq!(
                ms.len(),
                1,
                "index.json of {} should hold exactly one manifest",
                layout.display()
            );
            ms[0].clone()
        }
        Some(r) => ms
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == r)
            .unwrap_or_else(|| panic!("no ref {r:?} in {}/index.json: {idx}", layout.display()))
            .clone(),
    }
}

/// Load a single-image OCI layout entry.
pub fn load_oci(layout: &Path, reference: Option<&str>) -> Loaded {
    let e = oci_index_entry(layout, reference);
    let m = fs::read(oci_blob(layout, e["digest"].as_str().unwrap())).unwrap();
    load_with(m, |d| {
        fs::read(oci_blob(layout, d))
            .unwrap_or_else(|e| panic!("blob {d} in {}: {e}", layout.display()))
    })
}
