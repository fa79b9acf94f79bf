//! Integration tests of the `docker://` (registry) transport of skiff against Debian's
//! docker-registry (CNCF distribution 2.8), a token server, a fault-injecting proxy and
//! skopeo 1.9.3 (tests/support/{registry,token_server,fault_proxy,certs}.rs).
//!
//! Every skiff/skopeo child gets its own HOME, XDG_RUNTIME_DIR and CONTAINERS_REGISTRIES_CONF
//! (an empty file unless a test writes one), so the machine's configuration never leaks in.
//!
//! Needs: apt-get install -y skopeo docker-registry apache2-utils openssl

#![allow(dead_code, unused_imports)]

include!("support/registry_env.rs");

// ---------------------------------------------------------------------------------------
// Plain HTTP registry
// ---------------------------------------------------------------------------------------

#[test]
fn plain_oci_to_registry_to_oci_round_trip_keeps_digest() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();

    assert_eq!(reg.tags("skiff/hello"), ["v1"]);
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
    for d in hello_blobs() {
        assert!(reg.repo_has_blob("skiff/hello", d), "{d} not pushed");
    }
    let mut uploaded: Vec<String> = reg.uploads().into_iter().map(|u| u.digest).collect();
    uploaded.sort();
    let mut want: Vec<String> = hello_blobs().iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(uploaded, want, "each blob uploaded exactly once");

    cx.pull_hello_to_oci(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        "back",
        "v1",
    );
}

#[test]
fn plain_registry_to_dir() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let dir = cx.path("dir-out");
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &format!("dir:{}", dir.display()),
    );
    assert!(out.ok(), "{out:?}");
    let manifest = fs::read(dir.join("manifest.json")).unwrap();
    assert_eq!(format!("sha256:{}", sha256_hex(&manifest)), HELLO_MANIFEST);
    for d in hello_blobs() {
        let hex = &d[7..];
        let data = fs::read(dir.join(hex)).unwrap_or_else(|e| panic!("{d}: {e}"));
        assert_eq!(sha256_hex(&data), hex);
    }
    assert!(dir.join("version").is_file());
}

#[test]
fn plain_registry_to_oci_archive() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let archive = cx.path("hello.tar");
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &format!("oci-archive:{}:v1", archive.display()),
    );
    assert!(out.ok(), "{out:?}");
    // Unpack and check it is a complete, intact OCI layout.
    let unpacked = cx.path("unpacked");
    fs::create_dir_all(&unpacked).unwrap();
    tar::Archive::new(fs::File::open(&archive).unwrap())
        .unpack(&unpacked)
        .unwrap();
    assert!(unpacked.join("oci-layout").is_file());
    assert_hello_layout(&unpacked, "v1");
}

#[test]
fn skopeo_pulls_what_skiff_pushed() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let out = cx.skopeo(&[
        "inspect",
        "--tls-verify=false",
        &reg.docker_ref("skiff/hello:v1"),
    ]);
    assert!(out.ok(), "{out:?}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["Digest"], HELLO_MANIFEST);
    let out = cx.skopeo(&[
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        &reg.docker_ref("skiff/hello:v1"),
        &cx.oci("by-skopeo", "v1"),
    ]);
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("by-skopeo"), "v1");
}

#[test]
fn skiff_pulls_what_skopeo_pushed() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let out = cx.skopeo(&[
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    ]);
    assert!(out.ok(), "{out:?}");
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
    cx.pull_hello_to_oci(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        "by-skiff",
        "v1",
    );
}

#[test]
fn all_multiarch_index_round_trip_keeps_index_digest() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let src = format!(
        "oci:{}:latest",
        repo_root().join("examples/multiarch-oci").display()
    );
    let out = cx.copy(
        &["--all", "--dest-tls-verify=false"],
        &src,
        &reg.docker_ref("skiff/multi:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        tag_digest(&reg, "skiff/multi", "v1").as_deref(),
        Some(MULTI_INDEX)
    );
    // Every per-platform manifest the index lists was pushed (by digest) too.
    let index: Value = serde_json::from_slice(
        &fs::read(
            repo_root()
                .join("examples/multiarch-oci/blobs/sha256")
                .join(&MULTI_INDEX[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    let children: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    assert!(children.len() >= 2, "{index}");
    for d in &children {
        assert!(reg.has_blob(d), "instance {d} not pushed");
        assert_eq!(
            reg.count_requests("PUT", &format!("/v2/skiff/multi/manifests/{d}")),
            1,
            "instance {d}"
        );
    }

    let out = cx.copy(
        &["--all", "--src-tls-verify=false"],
        &reg.docker_ref("skiff/multi:v1"),
        &cx.oci("multi-back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    let back = cx.path("multi-back");
    assert_eq!(oci_ref_digest(&back, "v1"), MULTI_INDEX);
    let blobs = verify_oci_blobs(&back);
    for d in &children {
        assert!(blobs.contains(d), "instance {d} not pulled back");
    }
}

#[test]
fn digestfile_names_the_pushed_manifest() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let df = cx.path("digest.txt");
    let out = cx.copy(
        &[
            "--dest-tls-verify=false",
            "--digestfile",
            df.to_str().unwrap(),
        ],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(fs::read_to_string(&df).unwrap().trim(), HELLO_MANIFEST);
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
}

#[test]
fn dest_precompute_digests_push_works_and_skips_known_blobs() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let flags = ["--dest-tls-verify=false", "--dest-precompute-digests"];
    cx.push_hello(&reg.docker_ref("skiff/hello:v1"), &flags);
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
    assert_eq!(reg.uploads().len(), 4, "{:?}", reg.uploads());
    cx.push_hello(&reg.docker_ref("skiff/hello:v2"), &flags);
    assert_tag_is_hello(&reg, "skiff/hello", "v2");
    assert_eq!(
        reg.uploads().len(),
        4,
        "second push re-uploaded: {:?}",
        reg.uploads()
    );
}

// ---------------------------------------------------------------------------------------
// Registry to registry
// ---------------------------------------------------------------------------------------

#[test]
fn same_registry_copy_mounts_every_blob() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let out = cx.copy(
        &["--src-tls-verify=false", "--dest-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &reg.docker_ref("skiff/copy:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_tag_is_hello(&reg, "skiff/copy", "v1");

    let mounts: Vec<_> = reg
        .mounts()
        .into_iter()
        .filter(|m| m.repo == "skiff/copy")
        .collect();
    for m in &mounts {
        assert!(m.mounted(), "mount refused: {m:?}");
        assert_eq!(m.from, "skiff/hello", "{m:?}");
    }
    let mut mounted: Vec<&str> = mounts.iter().map(|m| m.digest.as_str()).collect();
    mounted.sort();
    let mut want = hello_blobs();
    want.sort();
    assert_eq!(mounted, want, "every blob mounted exactly once\n{out:?}");
    let uploads: Vec<_> = reg
        .uploads()
        .into_iter()
        .filter(|u| u.repo == "skiff/copy")
        .collect();
    assert!(
        uploads.is_empty(),
        "blobs uploaded instead of mounted: {uploads:?}"
    );
    assert_eq!(reg.blob_count(), 5, "a mount adds no blob");
    // Only the config is read (to check it lists one diff ID per layer); no layer is.
    assert_eq!(
        reg.count_requests("GET", "/v2/skiff/hello/blobs/*"),
        1,
        "blobs downloaded"
    );
}

#[test]
fn registry_to_other_registry_uploads_blobs() {
    let cx = Ctx::new();
    let a = Registry::start(RegistryOpts::plain());
    let b = Registry::start(RegistryOpts::plain());
    cx.push_hello_v1(&a);
    let out = cx.copy(
        &["--src-tls-verify=false", "--dest-tls-verify=false"],
        &a.docker_ref("skiff/hello:v1"),
        &b.docker_ref("skiff/hello:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_tag_is_hello(&b, "skiff/hello", "v1");
    assert!(
        b.mounts().is_empty(),
        "mount attempted across registries: {:?}",
        b.mounts()
    );
    let mut uploaded: Vec<String> = b.uploads().into_iter().map(|u| u.digest).collect();
    uploaded.sort();
    let mut want: Vec<String> = hello_blobs().iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(uploaded, want);
    for d in hello_blobs() {
        assert_eq!(
            b.read_blob(d)
                .map(|x| format!("sha256:{}", sha256_hex(&x)))
                .as_deref(),
            Some(d)
        );
    }
}

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

#[test]
fn tls_dest_cert_dir_with_ca_works() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::tls());
    let ca_dir = reg
        .certs()
        .unwrap()
        .layout_ca_only(&cx.path("certs"), &reg.host());
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-cert-dir", ca_dir.to_str().unwrap()],
    );
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
    cx.pull_hello_to_oci(
        &["--src-cert-dir", reg.cert_dir().to_str().unwrap()],
        &reg.docker_ref("skiff/hello:v1"),
        "back",
        "v1",
    );
}

#[test]
fn tls_without_ca_fails_naming_the_certificate() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::tls());
    let out = cx.copy(&[], &hello_src(), &reg.docker_ref("skiff/hello:v1"));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(out.stderr.to_lowercase().contains("certificate"), "{out:?}");
    assert!(reg.tags("skiff/hello").is_empty());
    assert_eq!(reg.blob_count(), 0);
}

#[test]
fn tls_ca_found_in_home_certs_d() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::tls());
    reg.certs()
        .unwrap()
        .layout_ca_only(&cx.home().join(".config/containers/certs.d"), &reg.host());
    cx.push_hello(&reg.docker_ref("skiff/hello:v1"), &[]);
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
}

#[test]
fn tls_verify_false_works_against_tls_registry() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::tls());
    cx.push_hello_v1(&reg);
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
    cx.pull_hello_to_oci(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        "back",
        "v1",
    );
}

// ---------------------------------------------------------------------------------------
// References with both a tag and a digest (skopeo 1.9.3 refuses them; skiff checks them)
// ---------------------------------------------------------------------------------------

#[test]
fn tag_at_digest_is_read_by_digest_and_the_tag_is_checked() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let multi = format!(
        "oci:{}:latest",
        repo_root().join("examples/multiarch-oci").display()
    );
    let out = cx.copy(
        &["--all", "--dest-tls-verify=false"],
        &multi,
        &reg.docker_ref("skiff/hello:v2"),
    );
    assert!(out.ok(), "{out:?}");

    let good = reg.docker_ref(&format!("skiff/hello:v1@{HELLO_MANIFEST}"));
    cx.pull_hello_to_oci(&["--src-tls-verify=false"], &good, "good", "x");

    // v2 names another manifest: the reference contradicts the registry.
    let bad = reg.docker_ref(&format!("skiff/hello:v2@{HELLO_MANIFEST}"));
    let out = cx.copy(&["--src-tls-verify=false"], &bad, &cx.oci("bad", "x"));
    assert!(
        !out.ok(),
        "a tag pointing elsewhere must be refused: {out:?}"
    );
    assert!(
        out.stderr.contains("points to") && out.stderr.contains("skiff/hello:v2"),
        "{out:?}"
    );
    assert!(!cx.path("bad").exists());
}

#[test]
fn debug_logs_requests_but_never_secrets() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::htpasswd("user", "s3cr3t-pw"));
    let out = cx.run(
        env!("CARGO_BIN_EXE_skiff"),
        &[
            "--insecure-policy",
            "--debug",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "user:s3cr3t-pw",
            &hello_src(),
            &reg.docker_ref("skiff/hello:v1"),
        ],
        &[],
    );
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("PUT "),
        "request lines are logged: {out:?}"
    );
    assert!(out.stderr.contains("/manifests/v1"), "{out:?}");
    let basic = b64("user:s3cr3t-pw");
    for secret in ["s3cr3t-pw", basic.as_str()] {
        assert!(
            !out.stderr.contains(secret) && !out.stdout.contains(secret),
            "secret leaked: {out:?}"
        );
    }
}

/// A policy rejecting the source stops the copy before the destination registry is
/// contacted (no ping, no credential lookup), as in skopeo.
#[test]
fn a_rejected_image_never_contacts_the_destination_registry() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let policy = cx.path("reject.json");
    fs::write(&policy, r#"{"default":[{"type":"reject"}]}"#).unwrap();
    let policy = policy.display().to_string();
    let dest = reg.docker_ref("skiff/rejected:v1");
    let out = cx.run(
        env!("CARGO_BIN_EXE_skiff"),
        &[
            "--policy",
            &policy,
            "copy",
            "--dest-tls-verify=false",
            &hello_src(),
            &dest,
        ],
        &[],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("rejected by policy"), "{out:?}");
    let ours: Vec<_> = reg
        .access_log()
        .into_iter()
        .filter(|e| e.user_agent.starts_with("skiff/"))
        .collect();
    assert_eq!(ours, vec![], "skiff contacted the registry");
}

/// TLS spoken to a plain-HTTP registry (forgetting `--dest-tls-verify=false`) fails at once
/// with the words skopeo uses, not retried.
#[test]
fn https_to_a_plain_registry_says_what_skopeo_says() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let dest = reg.docker_ref("skiff/hello:v1");
    let needle = "server gave HTTP response to HTTPS client";
    let ours = cx.copy(&["--retry-times", "1"], &hello_src(), &dest);
    assert_eq!(ours.code, Some(1), "{ours:?}");
    assert!(ours.stderr.contains(needle), "{ours:?}");
    assert!(!ours.stderr.contains("retrying"), "{ours:?}");
    let theirs = cx.skopeo(&["--insecure-policy", "copy", &hello_src(), &dest]);
    assert!(!theirs.ok() && theirs.stderr.contains(needle), "{theirs:?}");
}
