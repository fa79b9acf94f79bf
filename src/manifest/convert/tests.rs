//! Conversions compared byte for byte with what skopeo 1.9.3 wrote (see testdata/README.md).

use serde_json::Value;

use super::*;
use crate::manifest::model::Kind;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/src/manifest/convert/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub(super) fn manifest(name: &str) -> Manifest {
    Manifest::parse(fixture(name), None).unwrap()
}

pub(super) fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

fn config_inputs(cfg: &[u8]) -> Inputs<'_> {
    Inputs {
        config: Some(cfg),
        ..Inputs::default()
    }
}

/// A stand-in for libtrust's random key: fixed JWK, fixed signature bytes.
struct FakeSigner;

impl Schema1Signer for FakeSigner {
    fn time(&self) -> String {
        "2026-01-02T03:04:05Z".into()
    }
    fn sign(&self, input: &[u8]) -> Result<(Value, Vec<u8>), String> {
        let jwk = serde_json::json!({"crv":"P-256","kid":"AAAA:BBBB","kty":"EC","x":"eA","y":"eQ"});
        let mut sig = Digest::sha256_of(input).hex().as_bytes()[..64].to_vec();
        sig.truncate(64);
        Ok((jwk, sig))
    }
}

/// The part of a signed schema 1 manifest before `,"signatures"` (what is deterministic).
fn unsigned_part(raw: &[u8]) -> &str {
    let t = text(raw);
    &t[..t.find(",\"signatures\":").unwrap()]
}

#[test]
fn oci_to_schema2_matches_skopeo() {
    let c = convert(
        &manifest("hello-oci.manifest.json"),
        Target::Schema2,
        &Inputs::default(),
    )
    .unwrap();
    assert_eq!(
        text(&c.manifest.raw),
        text(&fixture("oci-to-s2.manifest.json"))
    );
    assert_eq!(c.manifest.mime, mime::DOCKER_V2S2);
    // The config blob is reused unchanged.
    assert!(c.new_config.is_none());
    assert_eq!(
        fixture("oci-to-s2.config.json"),
        fixture("hello-oci.config.json")
    );
}

#[test]
fn schema2_to_oci_matches_skopeo_manifest_and_config() {
    let cfg = fixture("oci-to-s2.config.json");
    let c = convert(
        &manifest("oci-to-s2.manifest.json"),
        Target::Oci,
        &config_inputs(&cfg),
    )
    .unwrap();
    assert_eq!(
        text(&c.manifest.raw),
        text(&fixture("s2-to-oci.manifest.json"))
    );
    assert_eq!(
        text(&c.new_config.unwrap()),
        text(&fixture("s2-to-oci.config.json"))
    );
}

#[test]
fn odd_schema2_config_to_oci_matches_skopeo() {
    let cfg = fixture("odd-s2.config.json");
    let c = convert(
        &manifest("odd-s2.manifest.json"),
        Target::Oci,
        &config_inputs(&cfg),
    )
    .unwrap();
    assert_eq!(
        text(&c.new_config.unwrap()),
        text(&fixture("odd-s2-to-oci.config.json"))
    );
    assert_eq!(
        text(&c.manifest.raw),
        text(&fixture("odd-s2-to-oci.manifest.json"))
    );
}

#[test]
fn odd_oci_back_to_schema2_matches_skopeo() {
    let c = convert(
        &manifest("odd-s2-to-oci.manifest.json"),
        Target::Schema2,
        &Inputs::default(),
    )
    .unwrap();
    assert_eq!(
        text(&c.manifest.raw),
        text(&fixture("odd-oci-to-s2.manifest.json"))
    );
}

#[test]
fn oci_to_schema1_matches_skopeo_up_to_the_signature() {
    let cfg = fixture("hello-oci.config.json");
    let inputs = Inputs {
        config: Some(&cfg),
        signer: Some(&FakeSigner),
        ..Inputs::default()
    };
    let c = convert(
        &manifest("hello-oci.manifest.json"),
        Target::Schema1,
        &inputs,
    )
    .unwrap();
    assert_eq!(c.manifest.mime, mime::DOCKER_V2S1_SIGNED);
    assert_eq!(
        unsigned_part(&c.manifest.raw),
        unsigned_part(&fixture("oci-to-s1.manifest.json"))
    );
    assert_eq!(c.extra_blobs, vec![GZIPPED_EMPTY_LAYER.to_vec()]);
    assert_eq!(
        Digest::sha256_of(&GZIPPED_EMPTY_LAYER).to_string(),
        GZIPPED_EMPTY_LAYER_DIGEST
    );
}

#[test]
fn odd_schema2_to_schema1_matches_skopeo_up_to_the_signature() {
    let cfg = fixture("odd-s2.config.json");
    let inputs = Inputs {
        config: Some(&cfg),
        signer: Some(&FakeSigner),
        ..Inputs::default()
    };
    let c = convert(&manifest("odd-s2.manifest.json"), Target::Schema1, &inputs).unwrap();
    assert_eq!(
        unsigned_part(&c.manifest.raw),
        unsigned_part(&fixture("odd-s2-to-s1.manifest.json"))
    );
}

/// The envelope has libtrust's shape: same protected header fields as skopeo's (bar time).
#[test]
fn schema1_signature_envelope_has_libtrusts_shape() {
    let cfg = fixture("hello-oci.config.json");
    let inputs = Inputs {
        config: Some(&cfg),
        signer: Some(&FakeSigner),
        ..Inputs::default()
    };
    let ours = convert(
        &manifest("hello-oci.manifest.json"),
        Target::Schema1,
        &inputs,
    )
    .unwrap();
    let theirs = fixture("oci-to-s1.manifest.json");
    let protected = |raw: &[u8]| -> Value {
        let v: Value = serde_json::from_slice(raw).unwrap();
        let p = v["signatures"][0]["protected"]
            .as_str()
            .unwrap()
            .to_string();
        let keys: Vec<String> = v["signatures"][0]["header"]["jwk"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["crv", "kid", "kty", "x", "y"]);
        assert_eq!(v["signatures"][0]["header"]["alg"], "ES256");
        let mut padded = p.replace('-', "+").replace('_', "/");
        while !padded.len().is_multiple_of(4) {
            padded.push('=');
        }
        serde_json::from_slice(&decode_b64(&padded)).unwrap()
    };
    let (a, b) = (protected(&ours.manifest.raw), protected(&theirs));
    assert_eq!(a["formatLength"], b["formatLength"]);
    assert_eq!(a["formatTail"], "fQ");
    assert_eq!(b["formatTail"], "fQ");
    // Everything after the signature list is the same closing brace.
    assert!(text(&ours.manifest.raw).ends_with("\"}]}"));
}

fn decode_b64(s: &str) -> Vec<u8> {
    const A: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.chars().filter(|c| *c != '=') {
        acc = (acc << 6) | A.find(c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn s1_inputs<'a>(diff_ids: &'a [Digest], blobs: &'a [LayerBlob]) -> Inputs<'a> {
    Inputs {
        layer_diff_ids: Some(diff_ids),
        layers: Some(blobs),
        ..Inputs::default()
    }
}

/// The diffIDs and sizes of the three hello-oci layers, as the copy would report them.
fn hello_layers() -> (Vec<Digest>, Vec<LayerBlob>) {
    let cfg: Value = serde_json::from_slice(&fixture("hello-oci.config.json")).unwrap();
    let ids: Vec<Digest> = cfg["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| Digest::parse(d.as_str().unwrap()).unwrap())
        .collect();
    let Kind::Image { layers, .. } = manifest("hello-oci.manifest.json").kind else {
        panic!()
    };
    let mut blobs: Vec<LayerBlob> = layers
        .iter()
        .map(|l| LayerBlob {
            source: l.digest.clone(),
            dest: l.digest.clone(),
            size: l.size,
        })
        .collect();
    let empty = Digest::sha256_of(&GZIPPED_EMPTY_LAYER);
    blobs.push(LayerBlob {
        source: empty.clone(),
        dest: empty,
        size: 32,
    });
    (ids, blobs)
}

#[test]
fn schema1_to_schema2_matches_skopeo() {
    let (ids, blobs) = hello_layers();
    let m = Manifest::parse(fixture("oci-to-s1.manifest.json"), None).unwrap();
    // diffIDs given per distinct blob (Kind::Schema1 order: base first, empty layer included).
    let Kind::Schema1 { layers } = &m.kind else {
        panic!()
    };
    let per_blob: Vec<Digest> = layers
        .iter()
        .map(|l| {
            blobs
                .iter()
                .position(|b| b.source == l.digest)
                .and_then(|i| ids.get(i).cloned())
                .unwrap_or_else(|| Digest::sha256_of(&[0u8; 1024]))
        })
        .collect();
    let c = convert(&m, Target::Schema2, &s1_inputs(&per_blob, &blobs)).unwrap();
    assert_eq!(
        text(&c.manifest.raw),
        text(&fixture("s1-to-s2.manifest.json"))
    );
    assert_eq!(
        text(&c.new_config.unwrap()),
        text(&fixture("s1-to-s2.config.json"))
    );
}

#[test]
fn schema1_to_oci_matches_skopeo() {
    let (ids, blobs) = hello_layers();
    let m = Manifest::parse(fixture("oci-to-s1.manifest.json"), None).unwrap();
    // diffIDs given per fsLayer, base first (the empty ones are ignored).
    let fs: Vec<Digest> = vec![
        ids[0].clone(),
        ids[1].clone(),
        ids[2].clone(),
        Digest::sha256_of(b"e"),
        Digest::sha256_of(b"e"),
        Digest::sha256_of(b"e"),
    ];
    let c = convert(&m, Target::Oci, &s1_inputs(&fs, &blobs)).unwrap();
    assert_eq!(
        text(&c.manifest.raw),
        text(&fixture("s1-to-oci.manifest.json"))
    );
    assert_eq!(
        text(&c.new_config.unwrap()),
        text(&fixture("s1-to-oci.config.json"))
    );
}

#[test]
fn schema1_sources_need_diff_ids_and_layers() {
    let m = Manifest::parse(fixture("oci-to-s1.manifest.json"), None).unwrap();
    let err = convert(&m, Target::Schema2, &Inputs::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("diffIDs"), "{err}");
    let (ids, _) = hello_layers();
    let err = convert(&m, Target::Schema2, &s1_inputs(&ids[..2], &[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("DiffID values"), "{err}");
}

#[test]
fn same_type_is_left_alone() {
    for (name, t) in [
        ("hello-oci.manifest.json", Target::Oci),
        ("oci-to-s2.manifest.json", Target::Schema2),
    ] {
        let m = manifest(name);
        let c = convert(&m, t, &Inputs::default()).unwrap();
        assert_eq!(c.manifest.raw, m.raw);
        assert!(c.new_config.is_none() && c.extra_blobs.is_empty());
    }
}

fn error_fixture(name: &str) -> String {
    let t = String::from_utf8(fixture(name)).unwrap();
    let t = t.trim().strip_prefix("level=fatal msg=\"").unwrap();
    let msg = t.strip_suffix('"').unwrap();
    msg.trim_start_matches("creating an updated image manifest: ")
        .replace("\\\"", "\"")
}

#[test]
fn zstd_layers_to_schema2_are_refused_like_skopeo() {
    let m = manifest("zstd-oci.manifest.json");
    let err = convert(&m, Target::Schema2, &Inputs::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(&error_fixture("zstd-oci-to-s2.error.txt")),
        "{err}"
    );
    // And to schema 1, which goes through schema 2.
    let cfg = fixture("hello-oci.config.json");
    let inputs = Inputs {
        config: Some(&cfg),
        signer: Some(&FakeSigner),
        ..Inputs::default()
    };
    assert!(
        convert(&m, Target::Schema1, &inputs)
            .unwrap_err()
            .to_string()
            .contains("zstd")
    );
}

#[test]
fn artifacts_are_refused_like_skopeo() {
    let m = manifest("artifact-oci.manifest.json");
    let err = convert(&m, Target::Schema2, &Inputs::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(&error_fixture("artifact-oci-to-s2.error.txt")),
        "{err}"
    );
}

#[test]
fn encrypted_layers_are_refused_like_skopeo() {
    let m = manifest("encrypted-oci.manifest.json");
    let err = convert(&m, Target::Schema2, &Inputs::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(&error_fixture("encrypted-oci-to-s2.error.txt")),
        "{err}"
    );
}

#[test]
fn schema2_to_schema1_without_history_is_refused() {
    let cfg = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let raw = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":{},"digest":"{}"}},"layers":[]}}"#,
        mime::DOCKER_V2S2,
        mime::DOCKER_CONFIG,
        cfg.len(),
        Digest::sha256_of(cfg)
    );
    let m = Manifest::parse(raw.into_bytes(), None).unwrap();
    let inputs = Inputs {
        config: Some(cfg),
        signer: Some(&FakeSigner),
        ..Inputs::default()
    };
    let err = convert(&m, Target::Schema1, &inputs)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Cannot convert an image with 0 history entries"),
        "{err}"
    );
    // Without a signer, schema 1 output is refused outright.
    let err = convert(&m, Target::Schema1, &config_inputs(cfg))
        .unwrap_err()
        .to_string();
    assert!(err.contains("signer"), "{err}");
}

#[test]
fn wrong_config_bytes_are_refused() {
    let err = convert(
        &manifest("oci-to-s2.manifest.json"),
        Target::Oci,
        &config_inputs(b"{}"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not match expected"), "{err}");
    let err = convert(
        &manifest("oci-to-s2.manifest.json"),
        Target::Oci,
        &Inputs::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("needs the config blob"), "{err}");
}

#[test]
fn copied_layers_replace_digests_and_sizes() {
    let m = manifest("hello-oci.manifest.json");
    let Kind::Image { layers, .. } = &m.kind else {
        panic!()
    };
    let blobs = [LayerBlob {
        source: layers[0].digest.clone(),
        dest: Digest::sha256_of(b"x"),
        size: 7,
    }];
    let inputs = Inputs {
        layers: Some(&blobs),
        ..Inputs::default()
    };
    let c = convert(&m, Target::Schema2, &inputs).unwrap();
    let Kind::Image { layers: out, .. } = &c.manifest.kind else {
        panic!()
    };
    assert_eq!(out[0].digest, Digest::sha256_of(b"x"));
    assert_eq!(out[0].size, 7);
    assert_eq!(out[1].digest, layers[1].digest);
}
