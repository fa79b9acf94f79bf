//! Manifest lists through every `--multi-arch` mode and override, into local layouts and a
//! real registry, with and without format conversion; nested indexes.

#[path = "support/loopback.rs"]
mod loopback;
mod support;

#[path = "support/certs.rs"]
mod certs;
#[path = "support/registry.rs"]
mod registry;
#[path = "support/token_server.rs"]
mod token_server;

use std::fs;

use registry::{Registry, RegistryOpts};
use support::*;

fn multi() -> String {
    example_ref("multiarch-oci")
}

fn copy_with(global: &[&str], flags: &[&str], src: &str, dest: &str) -> Out {
    let mut c = skiff();
    c.arg("--insecure-policy")
        .args(global)
        .arg("copy")
        .args(flags)
        .arg(src)
        .arg(dest);
    run(&mut c)
}

#[test]
fn each_override_picks_the_instance_skopeo_picks() {
    let t = tempdir();
    for (arch, variant, want) in [
        ("amd64", None, MULTI_AMD64),
        ("arm64", None, MULTI_ARM64),
        ("arm64", Some("v8"), MULTI_ARM64),
        ("arm", Some("v7"), MULTI_ARMV7),
    ] {
        let mut global = vec!["--override-os", "linux", "--override-arch", arch];
        if let Some(v) = variant {
            global.extend(["--override-variant", v]);
        }
        let dest = t
            .path()
            .join(format!("{arch}-{}", variant.unwrap_or("none")));
        copy_with(&global, &[], &multi(), &format!("dir:{}", p(&dest))).assert_success();
        assert_eq!(sha256_file(&dest.join("manifest.json")), want, "{global:?}");
        let theirs = t
            .path()
            .join(format!("skopeo-{arch}-{}", variant.unwrap_or("none")));
        let mut c = skopeo();
        c.arg("--insecure-policy")
            .args(&global)
            .arg("copy")
            .arg("-q")
            .arg(multi())
            .arg(format!("dir:{}", p(&theirs)));
        run(&mut c).assert_success();
        assert_same_tree(&dest, &theirs, &format!("{global:?}"));
    }
    // A platform the list does not have: the error lists what it has and how to choose.
    let dest = t.path().join("s390x");
    copy_with(
        &["--override-arch", "s390x"],
        &[],
        &multi(),
        &format!("dir:{}", p(&dest)),
    )
    .assert_exit1()
    .assert_stderr_contains("linux/arm64/v8")
    .assert_stderr_contains("--override-arch");
    assert!(!dest.exists());
}

#[test]
fn multi_arch_modes_through_a_registry() {
    let reg = Registry::start(RegistryOpts::plain());
    let t = tempdir();
    let plain = ["--src-tls-verify=false", "--dest-tls-verify=false"];
    // all: the index and every instance, digests unchanged, --preserve-digests satisfied.
    let all = reg.docker_ref("skiff/multi:all");
    let mut flags = vec!["--multi-arch", "all", "--preserve-digests"];
    flags.extend(plain);
    let digestfile = t.path().join("digest");
    let df = p(&digestfile);
    flags.extend(["--digestfile", df.as_str()]);
    copy_with(&[], &flags, &multi(), &all).assert_success();
    assert_eq!(fs::read_to_string(&digestfile).unwrap(), MULTI_INDEX);
    for d in [MULTI_AMD64, MULTI_ARM64, MULTI_ARMV7] {
        assert!(reg.has_blob(d), "instance {d} pushed");
    }
    // index-only into another repository of the same registry: the instances are already
    // there (mountable), so the sparse copy is accepted by distribution.
    let mut flags = vec!["--multi-arch", "index-only"];
    flags.extend(plain);
    copy_with(&[], &flags, &all, &reg.docker_ref("skiff/multi:all")).assert_success();
    // system: only the host's instance, whose manifest becomes the tag.
    let mut flags = vec!["--multi-arch", "system"];
    flags.extend(plain);
    copy_with(
        &["--override-arch", "arm64"],
        &flags,
        &all,
        &reg.docker_ref("skiff/one:arm"),
    )
    .assert_success();
    let back = t.path().join("arm");
    skopeo_copy([
        "--src-tls-verify=false",
        &reg.docker_ref("skiff/one:arm"),
        &format!("dir:{}", p(&back)),
    ])
    .assert_success();
    assert_eq!(sha256_file(&back.join("manifest.json")), MULTI_ARM64);
    // Converted on the way: an OCI index pushed as a Docker list, read back by skopeo.
    let mut flags = vec!["--all", "--format", "v2s2"];
    flags.extend(plain);
    copy_with(&[], &flags, &multi(), &reg.docker_ref("skiff/multi:docker")).assert_success();
    let out = run(skopeo().args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &reg.docker_ref("skiff/multi:docker"),
    ]));
    out.assert_success();
    let list: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        list["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let ours = t.path().join("ours");
    let theirs = t.path().join("theirs");
    copy_with(
        &[],
        &["--all", "--src-tls-verify=false"],
        &reg.docker_ref("skiff/multi:docker"),
        &format!("dir:{}", p(&ours)),
    )
    .assert_success();
    skopeo_copy([
        "--all",
        "--format",
        "v2s2",
        &multi(),
        &format!("dir:{}", p(&theirs)),
    ])
    .assert_success();
    assert_same_tree(&ours, &theirs, "Docker list through the registry");
}

#[test]
fn nested_indexes_are_copied_whole() {
    // index.json -> outer index -> [inner index -> amd64 manifest, arm64 manifest].
    // skopeo 1.9.3 cannot copy this (containers/image#2076); skiff copies every level.
    let t = tempdir();
    let layout = t.path().join("nested");
    copy_tree(&example("multiarch-oci"), &layout);
    let entry = |digest: &str, media: &str, size: usize, platform: Option<&str>| {
        let platform = platform
            .map(|p| format!(",\"platform\":{p}"))
            .unwrap_or_default();
        format!(r#"{{"mediaType":"{media}","digest":"{digest}","size":{size}{platform}}}"#)
    };
    let manifest = "application/vnd.oci.image.manifest.v1+json";
    let index = "application/vnd.oci.image.index.v1+json";
    let size_of = |d: &str| fs::metadata(oci_blob(&layout, d)).unwrap().len() as usize;
    let inner = format!(
        r#"{{"schemaVersion":2,"mediaType":"{index}","manifests":[{}]}}"#,
        entry(
            MULTI_AMD64,
            manifest,
            size_of(MULTI_AMD64),
            Some(r#"{"architecture":"amd64","os":"linux"}"#)
        )
    );
    let inner_digest = sha256_digest(inner.as_bytes());
    fs::write(oci_blob(&layout, &inner_digest), &inner).unwrap();
    let outer = format!(
        r#"{{"schemaVersion":2,"mediaType":"{index}","manifests":[{},{}]}}"#,
        entry(&inner_digest, index, inner.len(), None),
        entry(
            MULTI_ARM64,
            manifest,
            size_of(MULTI_ARM64),
            Some(r#"{"architecture":"arm64","os":"linux","variant":"v8"}"#)
        )
    );
    let outer_digest = sha256_digest(outer.as_bytes());
    fs::write(oci_blob(&layout, &outer_digest), &outer).unwrap();
    fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{index}","digest":"{outer_digest}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"nested"}}}}]}}"#,
            outer.len()
        ),
    )
    .unwrap();
    let dest = t.path().join("out");
    skiff_copy([
        "--all",
        &format!("oci:{}:nested", p(&layout)),
        &format!("oci:{}:n", p(&dest)),
    ])
    .assert_success();
    for d in [
        outer_digest.as_str(),
        inner_digest.as_str(),
        MULTI_AMD64,
        MULTI_ARM64,
    ] {
        assert!(oci_blob(&dest, d).exists(), "{d} copied");
    }
    // skopeo can read the outer level's own instance back.
    let one = t.path().join("one");
    let mut c = skopeo();
    c.args([
        "--insecure-policy",
        "--override-arch",
        "arm64",
        "copy",
        "-q",
    ])
    .arg(format!("oci:{}:n", p(&dest)))
    .arg(format!("dir:{}", p(&one)));
    run(&mut c).assert_success();
    assert_eq!(sha256_file(&one.join("manifest.json")), MULTI_ARM64);
}
