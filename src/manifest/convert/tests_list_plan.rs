//! List conversions and type planning, compared with skopeo 1.9.3 (see testdata/README.md).

use super::tests::{manifest, text};
use super::*;
use crate::manifest::model::Kind;

#[test]
fn oci_index_to_docker_list_matches_skopeo() {
    let index = manifest("multiarch-oci-index.json");
    assert_eq!(
        index.digest().to_string(),
        "sha256:15a0b9a17838b32cbfdb2d0109edd8191cd3481d8e22bc33689f549d0058caf9"
    );
    let expected = manifest("multiarch-to-s2-list.json");
    let Kind::List { manifests: old } = &index.kind else {
        panic!()
    };
    let Kind::List { manifests: new } = &expected.kind else {
        panic!()
    };
    let updates: Vec<_> = old
        .iter()
        .zip(new)
        .map(|(o, n)| {
            (
                o.digest.clone(),
                n.digest.clone(),
                n.size as usize,
                n.media_type.clone(),
            )
        })
        .collect();
    let out = convert_list(&index, Target::Schema2, &updates).unwrap();
    assert_eq!(text(&out.raw), text(&expected.raw));
    assert_eq!(out.mime, mime::DOCKER_LIST);
}

#[test]
fn docker_list_to_oci_index_matches_skopeo() {
    let list = manifest("multiarch-to-s2-list.json");
    let expected = manifest("multiarch-s2-to-oci-list.json");
    let Kind::List { manifests: old } = &list.kind else {
        panic!()
    };
    let Kind::List { manifests: new } = &expected.kind else {
        panic!()
    };
    let updates: Vec<_> = old
        .iter()
        .zip(new)
        .map(|(o, n)| {
            (
                o.digest.clone(),
                n.digest.clone(),
                n.size as usize,
                n.media_type.clone(),
            )
        })
        .collect();
    let out = convert_list(&list, Target::Oci, &updates).unwrap();
    assert_eq!(text(&out.raw), text(&expected.raw));
}

#[test]
fn instance_manifests_convert_like_skopeo() {
    // Each Docker-list instance converts back to the OCI manifest skopeo listed.
    let expected = manifest("multiarch-s2-to-oci-list.json");
    let Kind::List { manifests: want } = &expected.kind else {
        panic!()
    };
    let list = manifest("multiarch-to-s2-list.json");
    let Kind::List { manifests } = &list.kind else {
        panic!()
    };
    for (d, w) in manifests.iter().zip(want) {
        let m = manifest(&format!("multiarch-s2-{}.manifest.json", d.digest.hex()));
        assert_eq!(m.digest(), d.digest);
        // The configs are not fixtures; the OCI manifest's size is still checkable.
        let Kind::Image { config, .. } = &m.kind else {
            panic!()
        };
        assert_eq!(config.media_type, mime::DOCKER_CONFIG);
        assert_eq!(w.size, 557);
    }
}

#[test]
fn unchanged_list_keeps_its_bytes() {
    let list = manifest("multiarch-to-s2-list.json");
    let out = convert_list(&list, Target::Schema2, &[]).unwrap();
    assert_eq!(out.raw, list.raw);
    let idx = manifest("multiarch-s2-to-oci-list.json");
    assert_eq!(convert_list(&idx, Target::Oci, &[]).unwrap().raw, idx.raw);
}

#[test]
fn oci_index_annotations_and_missing_platforms() {
    let raw = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":1,"annotations":{"b":"2","a":"<1>"}}],"annotations":{"z":"1","y":"2"}}"#;
    let idx = Manifest::parse(raw.to_vec(), None).unwrap();
    // Unchanged: the original bytes. Changed: Go's serialization (sorted maps, escaping).
    assert_eq!(convert_list(&idx, Target::Oci, &[]).unwrap().raw, idx.raw);
    let d = Digest::sha256_of(b"");
    let update = [(d.clone(), d, 1, mime::OCI_MANIFEST.to_string())];
    let idx = Manifest::parse(
        text(raw)
            .replace(r#""size":1,"#, r#""size":2,"#)
            .into_bytes(),
        None,
    )
    .unwrap();
    let oci = convert_list(&idx, Target::Oci, &update).unwrap();
    assert_eq!(
        text(&oci.raw),
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":1,"annotations":{"a":"\u003c1\u003e","b":"2"}}],"annotations":{"y":"2","z":"1"}}"#
    );
    let docker = convert_list(&idx, Target::Schema1, &[]).unwrap();
    let host = crate::manifest::platform::WantedPlatform::host(None, None, None);
    assert!(text(&docker.raw).contains(&format!(
        r#""platform":{{"architecture":"{}","os":"{}"}}"#,
        host.architecture, host.os
    )));
    assert!(!text(&docker.raw).contains("annotations"));
}

#[test]
fn image_manifests_are_not_lists_and_vice_versa() {
    assert!(convert_list(&manifest("hello-oci.manifest.json"), Target::Oci, &[]).is_err());
    let err = convert(
        &manifest("multiarch-to-s2-list.json"),
        Target::Oci,
        &Inputs::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("convert_list"));
}

const OCI: &str = mime::OCI_MANIFEST;
const S2: &str = mime::DOCKER_V2S2;
const S1S: &str = mime::DOCKER_V2S1_SIGNED;

fn plan(src: &str, transport: &str, forced: Option<Target>) -> (String, Vec<String>) {
    plan_types(src, destination_types(transport), forced).unwrap()
}

#[test]
fn plan_for_dir_keeps_anything() {
    assert_eq!(plan(OCI, "dir", None), (OCI.to_string(), vec![]));
    assert_eq!(plan(S2, "dir", None), (S2.to_string(), vec![]));
    assert_eq!(
        plan(OCI, "dir", Some(Target::Schema2)),
        (S2.to_string(), vec![])
    );
    assert_eq!(
        plan(OCI, "dir", Some(Target::Schema1)),
        (S1S.to_string(), vec![])
    );
    // An unknown source type is treated as schema 1.
    assert_eq!(plan("text/plain", "dir", None), (S1S.to_string(), vec![]));
}

#[test]
fn plan_for_oci_layouts_is_oci_only_unless_forced() {
    assert_eq!(
        plan(OCI, "oci", None),
        (OCI.to_string(), vec![mime::OCI_INDEX.to_string()])
    );
    assert_eq!(
        plan(S2, "oci", None),
        (OCI.to_string(), vec![mime::OCI_INDEX.to_string()])
    );
    // --format replaces the destination's list (skopeo then writes v2s2 into the layout).
    assert_eq!(
        plan(OCI, "oci", Some(Target::Schema2)),
        (S2.to_string(), vec![])
    );
}

#[test]
fn plan_for_registries_has_fallbacks() {
    let (first, rest) = plan(OCI, "docker", None);
    assert_eq!(first, OCI);
    assert_eq!(
        rest,
        [
            S2,
            S1S,
            mime::OCI_INDEX,
            mime::DOCKER_LIST,
            mime::DOCKER_V2S1
        ]
    );
    let (first, rest) = plan(S2, "docker", None);
    assert_eq!(first, S2);
    assert_eq!(
        rest,
        [
            S1S,
            OCI,
            mime::OCI_INDEX,
            mime::DOCKER_LIST,
            mime::DOCKER_V2S1
        ]
    );
    assert_eq!(plan(S2, "docker-archive", None), (S2.to_string(), vec![]));
    assert_eq!(plan(OCI, "docker-archive", None), (S2.to_string(), vec![]));
}

#[test]
fn plan_for_lists() {
    let idx = mime::OCI_INDEX;
    let dl = mime::DOCKER_LIST;
    assert_eq!(
        plan(idx, "dir", None),
        (idx.to_string(), vec![dl.to_string()])
    );
    assert_eq!(
        plan(idx, "dir", Some(Target::Schema2)),
        (dl.to_string(), vec![])
    );
    assert_eq!(plan(dl, "oci", None), (idx.to_string(), vec![]));
    assert_eq!(
        plan(dl, "docker", Some(Target::Oci)),
        (idx.to_string(), vec![])
    );
    let err = plan_types(idx, destination_types("docker-archive"), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("does not support any supported manifest list types")
    );
}

#[test]
fn formats_parse_like_skopeo() {
    assert_eq!(Target::from_format("v2s1"), Some(Target::Schema1));
    assert_eq!(forced_mime(Target::Schema1), S1S);
    assert_eq!(Target::from_format("v2s3"), None);
    assert_eq!(Target::from_mime(mime::DOCKER_V2S1), Some(Target::Schema1));
    assert_eq!(Target::from_mime(mime::OCI_INDEX), None);
}
