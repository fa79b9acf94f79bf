//! Finding, loading and strict parsing.

use std::path::Path;

use super::*;

// ---- finding and loading ------------------------------------------------

#[test]
fn missing_file_has_skopeo_message() {
    let err = Policy::load(Path::new("/nonexist")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Error loading trust policy: open /nonexist: no such file or directory"
    );
}

#[test]
fn directory_fails_on_read() {
    let err = Policy::load(Path::new("/")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Error loading trust policy: read /: is a directory"
    );
}

#[test]
fn invalid_policy_message_names_file() {
    let err = Policy::parse(b"{}", Path::new("/etc/p.json")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Error loading trust policy: invalid policy in \"/etc/p.json\": Default policy is missing"
    );
}

#[test]
fn default_path_prefers_existing_user_file() {
    let home = std::env::temp_dir().join(format!("policy-home-{}", std::process::id()));
    let dir = home.join(".config/containers");
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(
        default_policy_path(Some(&home)),
        Path::new(SYSTEM_POLICY_PATH)
    );
    std::fs::write(dir.join("policy.json"), MAN_ACCEPT_ALL).unwrap();
    assert_eq!(default_policy_path(Some(&home)), dir.join("policy.json"));
    std::fs::remove_dir_all(&home).unwrap();
    assert_eq!(
        default_policy_path(None),
        Path::new("/etc/containers/policy.json")
    );
}

// ---- man page examples --------------------------------------------------

#[test]
fn man_page_locked_down_example_parses() {
    let p = parse(MAN_LOCKED_DOWN).unwrap();
    assert_eq!(p.default_requirements(), &[Requirement::Reject]);
    let docker = &p.transports()["docker"];
    assert_eq!(docker.len(), 5);
    assert_eq!(
        docker["hostname:5000/myns/sigstore-signed-allows-malicious-tag-substitution"],
        vec![Requirement::SigstoreSigned(Box::new(SigstoreSigned {
            keys: Some(BytesSource::Path("/path/to/sigstore-pubkey.pub".into())),
            fulcio: None,
            pki: None,
            rekor_keys: None,
            signed_identity: ReferenceMatch::MatchRepository,
        }))]
    );
    let atomic = &p.transports()["atomic"];
    assert_eq!(atomic["hostname:5000/vendor/product"].len(), 2);
    assert_eq!(
        atomic["private-mirror:5000/vendor-mirror"],
        vec![Requirement::SignedBy {
            key_type: KeyType::GpgKeys,
            keys: KeySource::Path("/path/to/vendor-pubkey.gpg".into()),
            signed_identity: ReferenceMatch::RemapIdentity {
                prefix: "private-mirror:5000/vendor-mirror".into(),
                signed_prefix: "vendor.example.com".into(),
            },
        }]
    );
}

#[test]
fn man_page_accept_all_example_parses() {
    let p = parse(MAN_ACCEPT_ALL).unwrap();
    assert_eq!(p, Policy::insecure_accept_anything());
}

#[test]
fn signed_by_defaults_identity_and_decodes_key_data() {
    let p = parse(&with_req(
        r#"{"type":"signedBy","keyType":"GPGKeys","keyData":"YWJj"}"#,
    ))
    .unwrap();
    assert_eq!(
        p.default_requirements(),
        &[Requirement::SignedBy {
            key_type: KeyType::GpgKeys,
            keys: KeySource::Data(b"abc".to_vec()),
            signed_identity: ReferenceMatch::MatchRepoDigestOrExact,
        }]
    );
}

// ---- strictness ---------------------------------------------------------

#[test]
fn unknown_top_level_key() {
    assert_eq!(
        cause(r#"{"default":[{"type":"reject"}],"foo":1}"#),
        "Unknown key \"foo\""
    );
}

#[test]
fn unknown_requirement_field() {
    assert_eq!(
        cause(&with_req(r#"{"type":"reject","x":1}"#)),
        "Unknown key \"x\""
    );
}

#[test]
fn type_key_is_case_sensitive() {
    assert_eq!(
        cause(&with_req(r#"{"Type":"reject"}"#)),
        "Unknown key \"Type\""
    );
}

#[test]
fn duplicate_top_level_key() {
    let s = r#"{"default":[{"type":"reject"}],"default":[{"type":"reject"}]}"#;
    assert_eq!(cause(s), "Duplicate key \"default\"");
}

#[test]
fn duplicate_scope_and_transport_keys() {
    let s = with_transports(r#"{"dir":{"/a":[{"type":"reject"}],"/a":[{"type":"reject"}]}}"#);
    assert_eq!(cause(&s), "Duplicate key \"/a\"");
    assert_eq!(
        cause(&with_transports(r#"{"dir":{},"dir":{}}"#)),
        "Duplicate key \"dir\""
    );
}

#[test]
fn missing_default() {
    assert_eq!(cause("{}"), "Default policy is missing");
}

#[test]
fn empty_or_null_requirement_list() {
    let msg = "List of verification policy requirements must not be empty";
    assert_eq!(cause(r#"{"default":[]}"#), msg);
    assert_eq!(cause(r#"{"default":null}"#), msg);
    assert_eq!(cause(&with_transports(r#"{"docker":{"":[]}}"#)), msg);
}

#[test]
fn bad_requirement_type() {
    assert_eq!(
        cause(&with_req(r#"{"type":"foo"}"#)),
        "Unknown policy requirement type \"foo\""
    );
    assert_eq!(
        cause(&with_req(r#"{"type":1}"#)),
        "json: cannot unmarshal number into Go struct field prCommon.type of type signature.prTypeIdentifier"
    );
    assert_eq!(
        cause(&with_req(r#""reject""#)),
        "json: cannot unmarshal string into Go value of type signature.prCommon"
    );
}

#[test]
fn non_object_and_non_array_shapes() {
    assert_eq!(cause("[]"), "JSON object expected, got \"[\"");
    assert_eq!(cause("12"), "JSON object expected, got \"%!s(float64=12)\"");
    assert_eq!(
        cause(&with_transports("null")),
        "JSON object expected, got \"%!s(<nil>)\""
    );
    assert_eq!(
        cause(r#"{"default":{"type":"reject"}}"#),
        "json: cannot unmarshal object into Go value of type []json.RawMessage"
    );
}

#[test]
fn syntax_errors() {
    assert_eq!(
        cause(r#"{"default":[{"type":"reject"}]"#),
        "unexpected end of JSON input"
    );
    assert_eq!(
        cause(r#"{"default":[{"type":"reject"}]}}"#),
        "invalid character '}' after top-level value"
    );
    assert_eq!(
        cause(r#"{"default":[{"type":"reject"},]}"#),
        "invalid character ']' looking for beginning of value"
    );
    assert_eq!(cause(""), "unexpected end of JSON input");
    assert_eq!(
        cause(r#"{"default":[{"type":tru}]}"#),
        "invalid character '}' in literal true (expecting 'e')"
    );
}

#[test]
fn signed_by_key_sources() {
    let both = r#"{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a","keyData":"YQ=="}"#;
    assert_eq!(
        cause(&with_req(both)),
        "Exactly one of keyPath, keyPaths and keyData must be specified, more than one present"
    );
    let none = r#"{"type":"signedBy","keyType":"GPGKeys"}"#;
    assert_eq!(
        cause(&with_req(none)),
        "Exactly one of keyPath, keyPaths and keyData must be specified, none of them present"
    );
    let empty = r#"{"type":"signedBy","keyType":"GPGKeys","keyPath":""}"#;
    assert_eq!(
        cause(&with_req(empty)),
        "exactly one of keyPath, keyPaths and keyData must be specified"
    );
}

#[test]
fn signed_by_key_type() {
    let bad = r#"{"type":"signedBy","keyType":"foo","keyPath":"/a"}"#;
    assert_eq!(cause(&with_req(bad)), "Unrecognized keyType value \"foo\"");
    let missing = r#"{"type":"signedBy","keyPath":"/a"}"#;
    assert_eq!(cause(&with_req(missing)), "invalid keyType \"\"");
}

#[test]
fn signed_by_field_kinds() {
    let num = r#"{"type":"signedBy","keyType":"GPGKeys","keyPath":1}"#;
    assert_eq!(
        cause(&with_req(num)),
        "json: cannot unmarshal number into Go value of type string"
    );
    let paths = r#"{"type":"signedBy","keyType":"GPGKeys","keyPaths":"x"}"#;
    assert_eq!(
        cause(&with_req(paths)),
        "json: cannot unmarshal string into Go value of type []string"
    );
    let data = r#"{"type":"signedBy","keyType":"GPGKeys","keyData":5}"#;
    assert_eq!(
        cause(&with_req(data)),
        "json: cannot unmarshal number into Go value of type []uint8"
    );
    let b64 = r#"{"type":"signedBy","keyType":"GPGKeys","keyData":"a!b="}"#;
    assert_eq!(cause(&with_req(b64)), "illegal base64 data at input byte 1");
}

/// The newest containers/image's rules (5.23.1 knew only keyPath/keyData).
#[test]
fn sigstore_signed_rules() {
    let exactly_one =
        "exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified";
    for req in [
        r#"{"type":"sigstoreSigned","keyPath":"/a","keyData":"YQ=="}"#,
        r#"{"type":"sigstoreSigned"}"#,
        r#"{"type":"sigstoreSigned","keyPath":""}"#,
        r#"{"type":"sigstoreSigned","keyPaths":["/a"],"keyDatas":["YQ=="]}"#,
    ] {
        assert_eq!(cause(&with_req(req)), exactly_one, "{req}");
    }
    let empty = r#"{"type":"sigstoreSigned","keyPaths":[]}"#;
    assert_eq!(cause(&with_req(empty)), "\"keyPaths\" contains no entries");
    let fulcio = |extra: &str| {
        format!(
            r#"{{"type":"sigstoreSigned","fulcio":{{"caPath":"/ca","oidcIssuer":"https://i","subjectEmail":"a@b"}}{extra}}}"#
        )
    };
    assert_eq!(
        cause(&with_req(&fulcio(""))),
        "At least one of rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas must be specified if fulcio is used"
    );
    let p = parse(&with_req(&fulcio(r#","rekorPublicKeyPath":"/r""#))).unwrap();
    let Requirement::SigstoreSigned(req) = &p.default_requirements()[0] else {
        panic!("not sigstoreSigned")
    };
    assert_eq!(
        req.fulcio,
        Some(FulcioConfig {
            ca: BytesSource::Path("/ca".into()),
            oidc_issuer: "https://i".into(),
            subject_email: "a@b".into(),
        })
    );
    assert_eq!(req.rekor_keys, Some(BytesSource::Path("/r".into())));
    assert_eq!(req.signed_identity, ReferenceMatch::MatchRepoDigestOrExact);
    let two_rekor = fulcio(r#","rekorPublicKeyPath":"/r","rekorPublicKeyData":"YQ==""#);
    assert!(cause(&with_req(&two_rekor)).starts_with("at most one of rekorPublickeyPath"));
    let no_email = r#"{"type":"sigstoreSigned","fulcio":{"caPath":"/ca","oidcIssuer":"https://i"},"rekorPublicKeyPath":"/r"}"#;
    assert_eq!(cause(&with_req(no_email)), "subjectEmail not specified");
    let ca_both = r#"{"type":"sigstoreSigned","fulcio":{"caPath":"/ca","caData":"YQ==","oidcIssuer":"i","subjectEmail":"e"},"rekorPublicKeyPath":"/r"}"#;
    assert_eq!(
        cause(&with_req(ca_both)),
        "caPath and caData cannot be used simultaneously"
    );
    let unknown = r#"{"type":"sigstoreSigned","fulcio":{"url":"x"}}"#;
    assert_eq!(cause(&with_req(unknown)), "Unknown key \"url\"");
    let pki = r#"{"type":"sigstoreSigned","pki":{"caRootsPath":"/r","subjectHostname":"h"}}"#;
    assert!(parse(&with_req(pki)).is_ok());
    let pki_rekor = r#"{"type":"sigstoreSigned","pki":{"caRootsPath":"/r","subjectHostname":"h"},"rekorPublicKeyPath":"/k"}"#;
    assert_eq!(
        cause(&with_req(pki_rekor)),
        "rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas are not supported for pki"
    );
    let pki_none = r#"{"type":"sigstoreSigned","pki":{"caRootsPath":"/r"}}"#;
    assert_eq!(
        cause(&with_req(pki_none)),
        "At least one of subjectEmail, subjectHostname must be specified"
    );
    // Each CA is a path or inline data, not both; the roots and Fulcio's CA are required.
    let ca_none = r#"{"type":"sigstoreSigned","fulcio":{"oidcIssuer":"i","subjectEmail":"e"},"rekorPublicKeyPath":"/r"}"#;
    let pki =
        |ca: &str| format!(r#"{{"type":"sigstoreSigned","pki":{{{ca}"subjectHostname":"h"}}}}"#);
    for (req, want) in [
        (
            ca_none.to_string(),
            "At least one of caPath and caData must be specified",
        ),
        (
            pki(""),
            "At least one of caRootsPath and caRootsData must be specified",
        ),
        (
            pki(r#""caRootsPath":"/r","caRootsData":"YQ==","#),
            "caRootsPath and caRootsData cannot be used simultaneously",
        ),
        (
            pki(r#""caRootsPath":"/r","caIntermediatesPath":"/i","caIntermediatesData":"YQ==","#),
            "caIntermediatesPath and caIntermediatesData cannot be used simultaneously",
        ),
    ] {
        assert_eq!(cause(&with_req(&req)), want, "{req}");
    }
    let mid = pki(r#""caRootsData":"YQ==","caIntermediatesPath":"/i","#);
    let p = parse(&with_req(&mid)).unwrap();
    let Requirement::SigstoreSigned(req) = &p.default_requirements()[0] else {
        panic!("not sigstoreSigned")
    };
    let pki = req.pki.as_ref().unwrap();
    assert_eq!(pki.roots, BytesSource::Data(b"a".to_vec()));
    assert_eq!(pki.intermediates, Some(BytesSource::Path("/i".into())));
}

#[test]
fn signed_base_layer_requires_identity() {
    assert_eq!(
        cause(&with_req(r#"{"type":"signedBaseLayer"}"#)),
        "Key \"baseLayerIdentity\" missing in a JSON object"
    );
    let ok = r#"{"type":"signedBaseLayer","baseLayerIdentity":{"type":"matchExact"}}"#;
    assert!(parse(&with_req(ok)).is_ok());
}

fn identity_cause(identity: &str) -> String {
    let req = format!(
        r#"{{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a","signedIdentity":{identity}}}"#
    );
    cause(&with_req(&req))
}

#[test]
fn signed_identity_types() {
    assert_eq!(
        identity_cause("null"),
        "Unknown policy reference match type \"\""
    );
    assert_eq!(
        identity_cause(r#"{"type":"foo"}"#),
        "Unknown policy reference match type \"foo\""
    );
    assert_eq!(
        identity_cause(r#""matchExact""#),
        "json: cannot unmarshal string into Go value of type signature.prmCommon"
    );
    assert_eq!(
        identity_cause(r#"{"type":"exactRepository"}"#),
        "Key \"dockerRepository\" missing in a JSON object"
    );
    assert_eq!(
        identity_cause(r#"{"type":"matchExact","x":1}"#),
        "Unknown key \"x\""
    );
}

#[test]
fn signed_identity_references_are_validated() {
    assert_eq!(
        identity_cause(r#"{"type":"exactReference","dockerReference":"busybox"}"#),
        "dockerReference busybox contains neither a tag nor digest"
    );
    assert_eq!(
        identity_cause(r#"{"type":"exactReference","dockerReference":"Busybox:1"}"#),
        "Invalid format of dockerReference Busybox:1: invalid reference format: repository name must be lowercase"
    );
    assert_eq!(
        identity_cause(r#"{"type":"exactRepository","dockerRepository":"a//b"}"#),
        "Invalid format of dockerRepository a//b: invalid reference format"
    );
    assert_eq!(
        identity_cause(
            r#"{"type":"remapIdentity","prefix":"example.com/x","signedPrefix":"a//b"}"#
        ),
        "prefix \"a//b\" is not valid"
    );
}

#[test]
fn valid_signed_identities_parse() {
    for identity in [
        r#"{"type":"matchExact"}"#,
        r#"{"type":"matchRepoDigestOrExact"}"#,
        r#"{"type":"matchRepository"}"#,
        r#"{"type":"exactReference","dockerReference":"quay.io/a/b:v1"}"#,
        r#"{"type":"exactReference","dockerReference":"busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"}"#,
        r#"{"type":"exactRepository","dockerRepository":"localhost:5000/ns/repo"}"#,
        r#"{"type":"remapIdentity","prefix":"mirror:5000","signedPrefix":"docker.io/library"}"#,
    ] {
        let req = format!(
            r#"{{"type":"signedBy","keyType":"GPGKeys","keyPaths":["/a"],"signedIdentity":{identity}}}"#
        );
        assert!(parse(&with_req(&req)).is_ok(), "{identity}");
    }
}

#[test]
fn bad_dir_and_oci_scopes_are_unknown_keys() {
    for (transport, scope) in [
        ("dir", "relative"),
        ("dir", "/"),
        ("dir", "/a/../b"),
        ("oci", "/a/./b"),
        ("oci-archive", "x"),
        ("sif", "x"),
        ("docker-archive", "/abs"),
        ("tarball", "/abs"),
        ("containers-storage", "relative"),
        (
            "docker-daemon",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
    ] {
        let s = with_transports(&format!(
            r#"{{"{transport}":{{"{scope}":[{{"type":"reject"}}]}}}}"#
        ));
        assert_eq!(cause(&s), format!("Unknown key \"{scope}\""), "{transport}");
    }
}

#[test]
fn good_scopes_and_unvalidated_transports() {
    for (transport, scope) in [
        ("dir", "/var/lib/images"),
        ("oci", "/srv/oci"),
        ("docker", "*.example.com"),
        ("docker", "!!!not a reference"), // c/image 5.23.1 does not validate docker scopes
        ("docker-daemon", "busybox:latest"),
        (
            "containers-storage",
            "[overlay@/var/lib/containers/storage]docker.io/library/busybox",
        ),
        ("containers-storage", "[/var/lib/containers/storage]"),
        ("ostree", "relative"), // not registered in skopeo 1.9.3
        ("atomic", "a/b/c/d"),  // not registered in skopeo 1.9.3
        ("no-such-transport", "anything"),
    ] {
        let s = with_transports(&format!(
            r#"{{"{transport}":{{"{scope}":[{{"type":"reject"}}]}}}}"#
        ));
        assert!(parse(&s).is_ok(), "{transport} {scope}");
    }
}
