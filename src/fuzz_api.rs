//! Entry points for the fuzz targets in `fuzz/` (built with the `fuzzing` feature only; not
//! a stable API). Each feeds outside input to one parser and then to what consumes the
//! parsed result, so that a panic, an overflow, a stack exhaustion or a hang anywhere on
//! that path shows up. Errors are expected and ignored: only crashes count.

use std::io::Cursor;
use std::path::Path;

use crate::commands::image_info;
use crate::commands::template::Template;
use crate::commands::value::GoValue;
use crate::config::RegistriesConf;
use crate::digest::Digest;
use crate::manifest::convert::{self, Inputs, LayerBlob, Schema1Signer, Target};
use crate::manifest::platform::WantedPlatform;
use crate::manifest::{self, Kind, Manifest, mime};
use crate::policy::{Policy, PolicyImage};
use crate::reference::{DockerRef, ImageName};
use crate::signature::Signature;

/// The manifest types a source may declare, selected by a fuzz input's first byte.
const DECLARED: [Option<&str>; 7] = [
    None,
    Some(mime::DOCKER_V2S1),
    Some(mime::DOCKER_V2S1_SIGNED),
    Some(mime::DOCKER_V2S2),
    Some(mime::DOCKER_LIST),
    Some(mime::OCI_MANIFEST),
    Some(mime::OCI_INDEX),
];

const TARGETS: [Target; 3] = [Target::Oci, Target::Schema2, Target::Schema1];

/// A schema 1 signer with a fixed key and signature: conversions, not crypto, are fuzzed.
struct FixedSigner;

impl Schema1Signer for FixedSigner {
    fn time(&self) -> String {
        "2026-01-02T03:04:05Z".into()
    }
    fn sign(&self, _input: &[u8]) -> Result<(serde_json::Value, Vec<u8>), String> {
        let jwk = serde_json::json!({"crv":"P-256","kid":"A","kty":"EC","x":"eA","y":"eQ"});
        Ok((jwk, vec![7; 64]))
    }
}

/// `transport:name` as the command line gives it, and a bare docker reference.
pub fn image_reference(input: &str) {
    if let Ok(name) = ImageName::parse(input) {
        let _ = name.to_string();
        let _ = name.string_within_transport();
        let _ = name.policy_configuration_identity();
        let _ = name.policy_configuration_namespaces();
    }
    if let Ok(r) = DockerRef::parse_normalized(input) {
        let _ = r.to_string();
        let _ = r.name();
    }
    let _ = DockerRef::parse(input);
}

/// A manifest or index of any format (the first byte picks the declared MIME type), then
/// what copy and inspect do with it: conversions, list member choice, inspect's facts.
pub fn manifest(data: &[u8]) {
    let Some((selector, raw)) = data.split_first() else {
        return;
    };
    let declared = DECLARED[usize::from(*selector) % DECLARED.len()];
    let _ = manifest::guess_mime(raw);
    let _ = manifest::manifest_digest(raw);
    let Ok(m) = Manifest::parse(raw.to_vec(), declared) else {
        return;
    };
    let _ = m.digest();
    match &m.kind {
        Kind::List { manifests } => {
            let wanted = WantedPlatform::host(Some("linux"), Some("arm64"), Some("v8"));
            let _ = crate::image::choose_instance(manifests, &wanted, &m.mime, "fuzz");
            let instances: Vec<_> = manifests
                .iter()
                .enumerate()
                .map(|(i, d)| (d.digest.clone(), d.digest.clone(), i, d.media_type.clone()))
                .collect();
            for to in TARGETS {
                let _ = convert::convert_list(&m, to, &instances);
            }
        }
        Kind::Image { layers, .. } | Kind::Schema1 { layers } => {
            let diff_ids: Vec<Digest> = layers.iter().map(|l| l.digest.clone()).collect();
            let blobs: Vec<LayerBlob> = layers
                .iter()
                .map(|l| LayerBlob {
                    source: l.digest.clone(),
                    dest: l.digest.clone(),
                    size: l.size,
                })
                .collect();
            let inputs = Inputs {
                config: Some(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#),
                layer_diff_ids: Some(&diff_ids),
                destination_reference: Some(("fuzz/repo", "tag")),
                layers: Some(&blobs),
                signer: Some(&FixedSigner),
            };
            for to in TARGETS {
                let _ = convert::convert(&m, to, &inputs);
            }
            let _ = m.with_layers(layers);
            let _ = image_info::facts(&m, None);
        }
    }
}

/// A schema 2 image with one layer whose config is `data`: the conversions that read the
/// config (to OCI, to schema 1), the layer count check, and inspect's views of it.
pub fn image_config(data: &[u8]) {
    let config_digest = Digest::sha256_of(data);
    let layer = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let raw = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{}","digest":"{layer}","size":10}}]}}"#,
        mime::DOCKER_V2S2,
        mime::DOCKER_CONFIG,
        data.len(),
        mime::DOCKER_LAYER_GZIP,
    );
    let Ok(m) = Manifest::parse(raw.into_bytes(), Some(mime::DOCKER_V2S2)) else {
        return;
    };
    let Ok(layer) = Digest::parse(layer) else {
        return;
    };
    let blobs = [LayerBlob {
        source: layer.clone(),
        dest: layer,
        size: 10,
    }];
    let inputs = Inputs {
        config: Some(data),
        layers: Some(&blobs),
        signer: Some(&FixedSigner),
        destination_reference: Some(("fuzz/repo", "tag")),
        ..Inputs::default()
    };
    for to in TARGETS {
        let _ = convert::convert(&m, to, &inputs);
    }
    let _ = crate::image::count_diff_ids(data);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(facts) = image_info::facts(&m, Some(&value)) {
            let _ = image_info::output(None, "sha256:0", None, facts).to_json();
        }
        if let Ok(oci) = image_info::oci_config(&value) {
            let _ = oci.to_json();
            let _ = oci.to_text();
        }
    }
}

/// policy.json, then an evaluation against an unsigned image.
pub fn policy(data: &[u8]) {
    let Ok(policy) = Policy::parse(data, Path::new("policy.json")) else {
        return;
    };
    let Ok(reference) = DockerRef::parse_normalized("registry.example/ns/image:tag") else {
        return;
    };
    let namespaces = vec![
        "registry.example/ns/image".to_string(),
        "registry.example/ns".into(),
    ];
    let _ = policy.evaluate(&PolicyImage {
        transport: "docker",
        identity: "registry.example/ns/image:tag",
        namespaces: &namespaces,
        display_name: "docker://registry.example/ns/image:tag",
        docker_reference: Some(&reference),
        manifest: b"{}",
        signatures: &[],
    });
}

/// registries.conf (v1 or v2), then the lookups a copy makes with it.
pub fn registries_conf(text: &str) {
    let Ok(conf) = RegistriesConf::parse(text, Path::new("registries.conf")) else {
        return;
    };
    for name in [
        "docker.io/library/busybox",
        "registry.example/ns/image",
        "localhost:5000/a",
    ] {
        let _ = conf.find(name);
        let _ = conf.pull_sources(name, false);
        let _ = conf.pull_sources(name, true);
        let _ = conf.push_endpoint(name);
        let _ = conf.is_blocked(name);
    }
    let _ = conf.is_insecure("registry.example");
}

/// An auth file (containers-auth.json or a legacy .dockercfg), then each entry decoded.
pub fn auth_json(data: &[u8]) {
    let path = Path::new("auth.json");
    for legacy in [false, true] {
        if let Ok(parsed) = crate::config::authfile::parse_auth_file(data, path, legacy) {
            for (key, entry) in &parsed.auths {
                let _ = crate::config::authfile::decode_entry(path, key, entry);
            }
        }
    }
}

/// A registry's `WWW-Authenticate` header value.
pub fn www_authenticate(header: &str) {
    let _ = crate::transport::docker::auth::parse_challenges(header);
}

/// A tar file as docker-archive and oci-archive index it, then every name resolved.
pub fn tar_index(data: &[u8]) {
    let index = crate::transport::docker_archive::TarIndex::scan_reader(
        Path::new("fuzz.tar"),
        Cursor::new(data),
        data.len() as u64,
    );
    if let Ok(index) = index {
        for name in index.names() {
            let _ = index.resolve(name);
        }
    }
}

/// An `inspect --format` template, run on inspect's data shape.
pub fn inspect_format(format: &str) {
    let Ok(template) = Template::parse(format) else {
        return;
    };
    let facts = image_info::ImageFacts {
        tag: "v1".into(),
        created: Some("2026-01-02T03:04:05Z".into()),
        docker_version: "24.0".into(),
        labels: Some([("a".to_string(), "b".to_string())].into_iter().collect()),
        architecture: "amd64".into(),
        os: "linux".into(),
        layers: vec!["sha256:1".into(), "sha256:2".into()],
        env: Some(vec!["PATH=/bin".into()]),
    };
    let data = image_info::output(
        Some("registry.example/ns/image".into()),
        "sha256:0",
        Some(vec!["v1".into(), "v2".into()]),
        facts,
    );
    let _ = template.execute(&data);
    let _ = template.execute(&GoValue::Nil);
}

/// A stored signature (`dir:` `signature-N`); what parses must store back unchanged.
pub fn signature(data: &[u8]) {
    if let Ok(sig) = Signature::from_blob(data) {
        let blob = sig.to_blob();
        let again = Signature::from_blob(&blob).ok();
        assert_eq!(
            again.as_ref(),
            Some(&sig),
            "a signature changed on a round trip"
        );
    }
}

/// A SIF file (its global header and descriptor table), then what the `sif:` source reads
/// of it: the definition file's script, the architecture and the id.
pub fn sif(data: &[u8]) {
    use crate::transport::sif::format::{SifFile, parse_deffile};
    use std::io::{Seek, Write};
    // An anonymous in-memory file: the reader wants a `File`.
    // SAFETY: a static NUL-terminated name and no flags.
    let fd = unsafe { libc::memfd_create(c"sif-fuzz".as_ptr(), 0) };
    if fd < 0 {
        return;
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    if file.write_all(data).is_err() || file.rewind().is_err() {
        return;
    }
    if let Ok(sif) = SifFile::read(file) {
        let _ = sif.deffile_script();
        let _ = sif.go_arch();
        let _ = sif.uuid();
        let _ = sif.modified_at();
    }
    let _ = parse_deffile(&String::from_utf8_lossy(data));
}

/// registries.d (a lookaside and sigstore-attachments configuration), then the lookups a
/// copy makes with it.
pub fn registries_d(text: &str) {
    let Ok(conf) = crate::config::registries_d::RegistriesD::parse(text) else {
        return;
    };
    let env = crate::config::Env::from_process();
    for name in [
        "registry.example/ns/image:tag",
        "docker.io/library/busybox:latest",
    ] {
        let Ok(reference) = DockerRef::parse_normalized(name) else {
            continue;
        };
        let _ = conf.use_sigstore_attachments(&reference);
        for write in [false, true] {
            if let Ok(base) = conf.lookaside_base(&env, &reference, write) {
                let digest = Digest::sha256_of(b"m");
                let _ = crate::config::registries_d::lookaside_url(&base, &digest, 1);
            }
        }
    }
}

/// A simple-signing signature (an OpenPGP message, read unverified as the policy's
/// messages do), its payload JSON, and OpenPGP key material.
pub fn simple_signing(data: &[u8]) {
    use crate::signature::openpgp::{Keyring, untrusted_contents};
    let _ = untrusted_contents(data);
    let _ = crate::signature::simple::Payload::parse(data);
    let keyring = Keyring::from_blobs(&[data]);
    let _ = keyring.fingerprints();
    let _ = keyring.verify(data);
}

/// What a sigstore signature carries besides its payload: PEM certificates and keys
/// (DER read by skiff's own reader), Rekor's JSON (canonicalised before any signature is
/// checked), the payload JSON, signing parameters, and an attachment manifest; and a
/// private key's PKCS#8 as a decrypted key file holds it (signing with it if it parses).
pub fn sigstore(data: &[u8]) {
    use crate::der;
    use crate::signature::sigstore::keys::{PrivateKey, PublicKey};
    use crate::signature::sigstore::{cert, jcs, params, payload, pem};
    if let Ok(key) = PrivateKey::from_pkcs8(data) {
        let _ = key.sign(b"payload");
    }
    let _ = pem::decode_all(data);
    if let Ok(leaf) = cert::parse_leaf(data)
        && let Ok(fields) = cert::CertFields::parse(&leaf)
    {
        let _ = fields.oidc_issuer();
        let _ = fields.public_key();
        let _ = fields.require_email("a@example.com");
    }
    if let Ok(fields) = cert::CertFields::parse(data) {
        let _ = fields.oidc_issuer();
        let _ = fields.public_key();
    }
    let _ = cert::untrusted_intermediates(Some(data));
    let mut reader = der::Reader::new(data);
    while let Ok(tlv) = reader.any() {
        let _ = tlv;
    }
    let _ = PublicKey::from_pem(data);
    let _ = PublicKey::from_spki(data);
    let _ = jcs::canonicalize(data);
    let _ = payload::parse(data);
    let _ = params::SigningParams::parse(data);
    let _ = crate::signature::sigstore::attachments::AttachmentManifest::parse("t", None, data)
        .map(|m| (m.config().ok(), m.attachments().ok()));
}

/// An encrypted layer's annotations, the options JSON a wrapped key opens to, key files.
pub fn encryption(data: &[u8]) {
    crate::crypt::fuzz::encryption(data);
}
