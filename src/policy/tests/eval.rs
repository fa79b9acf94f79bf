//! Scope lookup and evaluation.

use super::*;

// ---- lookup -------------------------------------------------------------

const LOOKUP: &str = r#"{
  "default": [{"type": "reject"}],
  "transports": {
    "docker": {
      "": [{"type": "signedBaseLayer", "baseLayerIdentity": {"type": "matchExact"}}],
      "*.example.com": [{"type": "sigstoreSigned", "keyPath": "/k"}],
      "registry.example.com/ns": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"}],
      "registry.example.com/ns/app:v1": [{"type": "insecureAcceptAnything"}]
    },
    "dir": { "/srv": [{"type": "insecureAcceptAnything"}] }
  }
}"#;

// Namespaces as the copy computes them, from the image name.
fn namespaces(name: &str) -> Vec<String> {
    crate::reference::ImageName::parse(name)
        .unwrap()
        .policy_configuration_namespaces()
}

fn docker_namespaces(repository: &str) -> Vec<String> {
    namespaces(&format!("docker://{repository}"))
}

// dir:/oci: names must exist to be parsed; these are the functions their namespaces come from.
use crate::reference::paths::{
    parent_namespaces as dir_namespaces, self_and_parent_namespaces as oci_namespaces,
};

fn lookup_type(transport: &str, identity: &str, namespaces: &[String]) -> &'static str {
    let p = parse(LOOKUP).unwrap();
    p.requirements_for(transport, identity, namespaces)[0].type_name()
}

#[test]
fn lookup_identity_beats_namespace() {
    let n = docker_namespaces("registry.example.com/ns/app");
    assert_eq!(
        lookup_type("docker", "registry.example.com/ns/app:v1", &n),
        "insecureAcceptAnything"
    );
    assert_eq!(
        lookup_type("docker", "registry.example.com/ns/app:v2", &n),
        "signedBy"
    );
}

#[test]
fn lookup_wildcard_namespace_beats_transport_default() {
    let n = docker_namespaces("other.example.com/x/y");
    assert_eq!(
        lookup_type("docker", "other.example.com/x/y:latest", &n),
        "sigstoreSigned"
    );
    let n = docker_namespaces("docker.io/library/busybox");
    assert_eq!(
        lookup_type("docker", "docker.io/library/busybox:latest", &n),
        "signedBaseLayer"
    );
}

#[test]
fn lookup_falls_back_to_default() {
    let n = dir_namespaces("/tmp/img");
    assert_eq!(lookup_type("dir", "/tmp/img", &n), "reject");
    assert_eq!(
        lookup_type("oci", "/srv/img", &oci_namespaces("/srv/img")),
        "reject"
    );
    let n = dir_namespaces("/srv/a/img");
    assert_eq!(
        lookup_type("dir", "/srv/a/img", &n),
        "insecureAcceptAnything"
    );
}

#[test]
fn namespace_helpers_match_c_image() {
    assert_eq!(
        docker_namespaces("example.com:5000/ns/repo"),
        ns(&[
            "example.com:5000/ns/repo",
            "example.com:5000/ns",
            "example.com:5000",
            "*.com"
        ])
    );
    assert_eq!(
        docker_namespaces("a.b.example.com/r"),
        ns(&[
            "a.b.example.com/r",
            "a.b.example.com",
            "*.b.example.com",
            "*.example.com",
            "*.com"
        ])
    );
    assert_eq!(dir_namespaces("/a/b/c"), ns(&["/a/b", "/a"]));
    assert_eq!(oci_namespaces("/a/b/c"), ns(&["/a/b/c", "/a/b", "/a"]));
}

// ---- evaluation ---------------------------------------------------------

#[test]
fn reject_message_matches_skopeo() {
    let p = parse(r#"{"default":[{"type":"reject"}]}"#).unwrap();
    assert_eq!(
        eval_err(&p, &image("dir", "/x", &[])),
        "Source image rejected: Running image dir:/x is rejected by policy."
    );
}

#[test]
fn accept_anything_admits() {
    let p = parse(MAN_ACCEPT_ALL).unwrap();
    assert!(p.evaluate(&image("dir", "/x", &[])).is_ok());
    let insecure = Policy::insecure_accept_anything();
    assert!(
        insecure
            .evaluate(&image("docker", "docker.io/library/a:b", &[]))
            .is_ok()
    );
}

#[test]
fn all_requirements_must_accept_first_failure_wins() {
    let p = parse(&with_req(
        r#"{"type":"insecureAcceptAnything"},{"type":"reject"}"#,
    ))
    .unwrap();
    assert_eq!(
        eval_err(&p, &image("dir", "/x", &[])),
        "Source image rejected: Running image dir:/x is rejected by policy."
    );
    let base = r#"{"type":"signedBaseLayer","baseLayerIdentity":{"type":"matchExact"}}"#;
    let p = parse(&with_req(&format!(r#"{base},{{"type":"reject"}}"#))).unwrap();
    assert_eq!(
        eval_err(&p, &image("dir", "/x", &[])),
        "Source image rejected: signedBaseLayer not implemented yet!"
    );
}

// ---- sigstoreSigned, with cosign-made signatures (src/signature/sigstore/testdata) ----

fn cosign(name: &str) -> String {
    format!(
        "{}/src/signature/sigstore/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Evaluates `req` on a `dir:`-like image made of a cosign fixture's manifest and
/// signatures (plus `extra` signatures first).
fn sigstore_eval(
    req: &str,
    fixture: &str,
    extra: &[crate::signature::Signature],
) -> Result<(), String> {
    let p = parse(&with_req(req)).unwrap();
    let manifest = std::fs::read(cosign(&format!("{fixture}/manifest.json"))).unwrap();
    let stored = std::fs::read(cosign(&format!("{fixture}/signature-1"))).unwrap();
    let mut signatures = extra.to_vec();
    signatures.push(crate::signature::Signature::from_blob(&stored).unwrap());
    let img = PolicyImage {
        manifest: &manifest,
        signatures: &signatures,
        ..image("dir", "/x", &[])
    };
    p.evaluate(&img).map(drop).map_err(|e| e.to_string())
}

const COSIGN_REPO: &str = r#"{"type":"exactRepository","dockerRepository":"192.168.64.2:5000/cosign-signed-single-sample"}"#;

#[test]
fn sigstore_signed_admits_cosign_signatures() {
    let req = |keys: &str| {
        format!(r#"{{"type":"sigstoreSigned",{keys},"signedIdentity":{COSIGN_REPO}}}"#)
    };
    sigstore_eval(
        &req(&format!(r#""keyPath":"{}""#, cosign("cosign.pub"))),
        "cosign-valid",
        &[],
    )
    .unwrap();
    let both = format!(
        r#""keyPaths":["{}","{}"]"#,
        cosign("cosign2.pub"),
        cosign("cosign.pub")
    );
    sigstore_eval(&req(&both), "cosign-valid", &[]).unwrap();
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(cosign("cosign.pub")).unwrap());
    sigstore_eval(
        &req(&format!(r#""keyDatas":["{data}"]"#)),
        "cosign-valid",
        &[],
    )
    .unwrap();
    // A simple-signing signature beside it is skipped.
    let gpg = crate::signature::Signature::SimpleSigning(MANIFEST.to_vec());
    sigstore_eval(
        &req(&format!(r#""keyData":"{data}""#)),
        "cosign-valid",
        &[gpg],
    )
    .unwrap();
    // Keyless: Fulcio certificate and Rekor SET.
    let fulcio = format!(
        r#"{{"type":"sigstoreSigned","fulcio":{{"caPath":"{}","oidcIssuer":"https://github.com/login/oauth","subjectEmail":"mitr@redhat.com"}},"rekorPublicKeyPath":"{}","signedIdentity":{{"type":"matchRepository"}}}}"#,
        cosign("fulcio_v1.crt.pem"),
        cosign("rekor.pub")
    );
    // matchRepository needs the image's own reference: dir: has none.
    let e = sigstore_eval(&fulcio, "cosign-fulcio-rekor-valid", &[]).unwrap_err();
    assert_eq!(
        e,
        "Source image rejected: Signature for identity \"192.168.64.2:5000/cosign-signed/fulcio-rekor-1\" is not accepted"
    );
    let fulcio = fulcio.replace(
        r#"{"type":"matchRepository"}"#,
        r#"{"type":"exactRepository","dockerRepository":"192.168.64.2:5000/cosign-signed/fulcio-rekor-1"}"#,
    );
    sigstore_eval(&fulcio, "cosign-fulcio-rekor-valid", &[]).unwrap();
}

#[test]
fn sigstore_signed_rejects_with_c_images_reasons() {
    let req = |key: &str| {
        format!(
            r#"{{"type":"sigstoreSigned","keyPath":"{}","signedIdentity":{COSIGN_REPO}}}"#,
            cosign(key)
        )
    };
    assert_eq!(
        sigstore_eval(&req("cosign2.pub"), "cosign-valid", &[]).unwrap_err(),
        "Source image rejected: cryptographic signature verification failed: invalid signature when validating ASN.1 encoded signature"
    );
    let p = parse(&with_req(&req("cosign.pub"))).unwrap();
    assert_eq!(
        eval_err(&p, &image("dir", "/x", &[])),
        "Source image rejected: A signature was required, but no signature exists"
    );
    let gpg = [crate::signature::Signature::SimpleSigning(vec![0xa3])];
    let img = PolicyImage {
        signatures: &gpg,
        ..image("dir", "/x", &[])
    };
    assert_eq!(
        eval_err(&p, &img),
        "Source image rejected: A signature was required, but no signature exists (1 non-sigstore signatures, 0 sigstore non-signature attachments)"
    );
    // A manifest the signature is not for.
    let manifest = std::fs::read(cosign("cosign-key-rekor-valid/manifest.json")).unwrap();
    let stored = std::fs::read(cosign("cosign-valid/signature-1")).unwrap();
    let sigs = [crate::signature::Signature::from_blob(&stored).unwrap()];
    let img = PolicyImage {
        manifest: &manifest,
        signatures: &sigs,
        ..image("dir", "/x", &[])
    };
    assert!(
        eval_err(&p, &img)
            .starts_with("Source image rejected: Signature for digest sha256:634a8f35")
    );
    // A key file that is not there.
    let missing = r#"{"type":"sigstoreSigned","keyPath":"/nonexistent/cosign.pub"}"#;
    assert_eq!(
        sigstore_eval(missing, "cosign-valid", &[]).unwrap_err(),
        "Source image rejected: open /nonexistent/cosign.pub: no such file or directory"
    );
}

// ---- signedBy, with signatures skopeo 1.9.3 made (src/signature/testdata) ----

const MANIFEST: &[u8] = include_bytes!("../../signature/testdata/manifest.json");
const RSA_SIG: &[u8] = include_bytes!("../../signature/testdata/skopeo-rsa.sig");
const ED_SIG: &[u8] = include_bytes!("../../signature/testdata/skopeo-ed25519.sig");
const SIGNED_AS: &str = "localhost:5000/test/img:v1";

fn testdata(name: &str) -> String {
    format!(
        "{}/src/signature/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn signed_by(keys: &str, identity: &str) -> Policy {
    parse(&with_req(&format!(
        r#"{{"type":"signedBy","keyType":"GPGKeys",{keys},"signedIdentity":{identity}}}"#
    )))
    .unwrap()
}

fn key_path(name: &str) -> String {
    format!(r#""keyPath":"{}""#, testdata(name))
}

const EXACT: &str = r#"{"type":"exactReference","dockerReference":"localhost:5000/test/img:v1"}"#;

fn evaluate(
    p: &Policy,
    reference: Option<&str>,
    manifest: &[u8],
    sigs: &[&[u8]],
) -> Result<(), String> {
    let signatures: Vec<_> = sigs
        .iter()
        .map(|s| crate::signature::Signature::SimpleSigning(s.to_vec()))
        .collect();
    let docker = reference.map(|r| crate::reference::DockerRef::parse_normalized(r).unwrap());
    let img = PolicyImage {
        docker_reference: docker.as_ref(),
        manifest,
        signatures: &signatures,
        ..image("dir", "/x", &[])
    };
    match p.evaluate(&img) {
        Ok(proof) => {
            assert!(proof.covers(manifest));
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn signed_by_admits_a_good_signature() {
    let p = signed_by(&key_path("rsa.gpg"), EXACT);
    evaluate(&p, None, MANIFEST, &[RSA_SIG]).unwrap();
    // keyPaths and keyData hold the same keys; armored or binary.
    let both = format!(
        r#""keyPaths":["{}","{}"]"#,
        testdata("ed25519.asc"),
        testdata("rsa.gpg")
    );
    evaluate(&signed_by(&both, EXACT), None, MANIFEST, &[ED_SIG]).unwrap();
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(testdata("ed25519.asc")).unwrap());
    let p = signed_by(&format!(r#""keyData":"{data}""#), EXACT);
    evaluate(&p, None, MANIFEST, &[ED_SIG]).unwrap();
    // One good signature among bad ones is enough.
    evaluate(&p, None, MANIFEST, &[RSA_SIG, ED_SIG]).unwrap();
}

#[test]
fn signed_by_rejects_with_skopeos_reasons() {
    let p = signed_by(&key_path("rsa.gpg"), EXACT);
    assert_eq!(
        evaluate(&p, None, MANIFEST, &[]).unwrap_err(),
        "Source image rejected: A signature was required, but no signature exists"
    );
    // Another key.
    let e = evaluate(&p, None, MANIFEST, &[ED_SIG]).unwrap_err();
    assert!(
        e.starts_with("Source image rejected: Invalid GPG signature: "),
        "{e}"
    );
    // Tampered manifest.
    let mut other = MANIFEST.to_vec();
    other.push(b'\n');
    assert_eq!(
        evaluate(&p, None, &other, &[RSA_SIG]).unwrap_err(),
        "Source image rejected: Signature for digest sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66 does not match"
    );
    // Identity.
    let p2 = signed_by(
        &key_path("rsa.gpg"),
        r#"{"type":"exactReference","dockerReference":"localhost:5000/test/img:v2"}"#,
    );
    assert_eq!(
        evaluate(&p2, None, MANIFEST, &[RSA_SIG]).unwrap_err(),
        format!("Source image rejected: Signature for identity \"{SIGNED_AS}\" is not accepted")
    );
    // Every reason when several signatures fail.
    let e = evaluate(&p2, None, MANIFEST, &[ED_SIG, RSA_SIG]).unwrap_err();
    assert!(
        e.starts_with("Source image rejected: None of the signatures were accepted, reasons: Invalid GPG signature: ")
            && e.ends_with("; Signature for identity \"localhost:5000/test/img:v1\" is not accepted"),
        "{e}"
    );
    // Keys that cannot be read, or are not keys.
    let p = signed_by(r#""keyPath":"/nonexistent/k.gpg""#, EXACT);
    assert_eq!(
        evaluate(&p, None, MANIFEST, &[RSA_SIG]).unwrap_err(),
        "Source image rejected: open /nonexistent/k.gpg: no such file or directory"
    );
    let p = signed_by(&key_path("manifest.json"), EXACT);
    assert_eq!(
        evaluate(&p, None, MANIFEST, &[RSA_SIG]).unwrap_err(),
        "Source image rejected: No public keys imported"
    );
    let p = parse(&with_req(&format!(
        r#"{{"type":"signedBy","keyType":"X509Certificates",{}}}"#,
        key_path("rsa.gpg")
    )))
    .unwrap();
    assert_eq!(
        evaluate(&p, None, MANIFEST, &[RSA_SIG]).unwrap_err(),
        "Source image rejected: Unimplemented \"keyType\" value \"X509Certificates\""
    );
}

#[test]
fn signed_by_applies_each_identity_rule() {
    let key = key_path("rsa.gpg");
    let ok = |rule: &str, image_ref: Option<&str>| {
        evaluate(&signed_by(&key, rule), image_ref, MANIFEST, &[RSA_SIG]).is_ok()
    };
    // Refused for the identity, not for some other reason.
    let refused = |rule: &str, image_ref: Option<&str>| {
        let err = evaluate(&signed_by(&key, rule), image_ref, MANIFEST, &[RSA_SIG])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        err.contains("Signature for identity \"localhost:5000/test/img:v1\" is not accepted")
    };
    let tagged = Some("localhost:5000/test/img:v1");
    let digest = "localhost:5000/test/img@sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66";
    assert!(ok(r#"{"type":"matchExact"}"#, tagged));
    assert!(refused(
        r#"{"type":"matchExact"}"#,
        Some("localhost:5000/test/img:v2")
    ));
    assert!(refused(r#"{"type":"matchExact"}"#, None));
    assert!(ok(r#"{"type":"matchRepoDigestOrExact"}"#, tagged));
    assert!(ok(r#"{"type":"matchRepoDigestOrExact"}"#, Some(digest)));
    assert!(refused(
        r#"{"type":"matchRepoDigestOrExact"}"#,
        Some("localhost:5000/test/img:v2")
    ));
    assert!(ok(
        r#"{"type":"matchRepository"}"#,
        Some("localhost:5000/test/img:v2")
    ));
    assert!(refused(
        r#"{"type":"matchRepository"}"#,
        Some("localhost:5000/test/other:v1")
    ));
    assert!(ok(
        r#"{"type":"exactRepository","dockerRepository":"localhost:5000/test/img"}"#,
        None
    ));
    assert!(refused(
        r#"{"type":"exactRepository","dockerRepository":"localhost:5000/test/other"}"#,
        None
    ));
    let remap = r#"{"type":"remapIdentity","prefix":"mirror.example.com/test","signedPrefix":"localhost:5000/test"}"#;
    assert!(ok(remap, Some("mirror.example.com/test/img:v1")));
    assert!(refused(remap, Some("mirror.example.com/test/img:v2")));
    // The default is matchRepoDigestOrExact.
    let p = parse(&with_req(&format!(
        r#"{{"type":"signedBy","keyType":"GPGKeys",{key}}}"#
    )))
    .unwrap();
    assert!(evaluate(&p, tagged, MANIFEST, &[RSA_SIG]).is_ok());
    assert!(evaluate(&p, None, MANIFEST, &[RSA_SIG]).is_err());
}

#[test]
fn evaluation_uses_scope_lookup() {
    let p = parse(LOOKUP).unwrap();
    let n = dir_namespaces("/srv/img");
    assert!(p.evaluate(&image("dir", "/srv/img", &n)).is_ok());
    let n = dir_namespaces("/home/img");
    assert!(p.evaluate(&image("dir", "/home/img", &n)).is_err());
}
