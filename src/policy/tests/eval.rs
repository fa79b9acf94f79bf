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

#[test]
fn signature_requirements_never_admit() {
    for req in [
        r#"{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k"}"#,
        r#"{"type":"sigstoreSigned","keyPath":"/k"}"#,
    ] {
        let p = parse(&with_req(req)).unwrap();
        assert_eq!(
            eval_err(&p, &image("dir", "/x", &[])),
            "Source image rejected: A signature was required, but no signature exists"
        );
        let signatures = [
            crate::signature::Signature::SimpleSigning(vec![0xa3]),
            crate::signature::Signature::SimpleSigning(vec![0xa3, 1]),
        ];
        let signed = PolicyImage {
            signatures: &signatures,
            ..image("dir", "/x", &[])
        };
        let err = p.evaluate(&signed).unwrap_err();
        let name = p.default_requirements()[0].type_name();
        assert!(
            matches!(err, PolicyError::NotSupportedYet { requirement, .. } if requirement == name)
        );
        assert_eq!(
            err.to_string(),
            format!("not supported yet: policy requirement \"{name}\" (image dir:/x)")
        );
    }
}

#[test]
fn evaluation_uses_scope_lookup() {
    let p = parse(LOOKUP).unwrap();
    let n = dir_namespaces("/srv/img");
    assert!(p.evaluate(&image("dir", "/srv/img", &n)).is_ok());
    let n = dir_namespaces("/home/img");
    assert!(p.evaluate(&image("dir", "/home/img", &n)).is_err());
}
