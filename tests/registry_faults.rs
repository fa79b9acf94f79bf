//! Registry faults and configuration: resumed downloads, 429/503 retries, 413 chunked
//! uploads (through a fault-injecting proxy), registries.conf rewrites, mirrors and
//! blocks, and clean failures that publish nothing.

#![allow(dead_code, unused_imports)]

include!("support/registry_env.rs");

// ---------------------------------------------------------------------------------------
// Faults (FaultProxy in front of a plain registry)
// ---------------------------------------------------------------------------------------

#[test]
fn fault_truncated_blob_download_resumes_with_range() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let blob_path = format!("/v2/skiff/hello/blobs/{BIG_HELLO_LAYER}");
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::truncate_blob(1000).on("GET", &blob_path)],
    );
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &proxy.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    let fired = proxy.faults_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].fault, Some(FaultAction::CloseAfterBodyBytes(1000)));
    assert!(
        proxy
            .ranges_seen()
            .contains(&(blob_path.clone(), "bytes=1000-".to_string())),
        "no resume from byte 1000: {:?}\n{out:?}",
        proxy.ranges_seen()
    );
    assert_hello_layout(&cx.path("back"), "v1");
}

#[test]
fn fault_429_with_retry_after_is_retried() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::too_many_requests().on("GET", "/v2/skiff/hello/manifests/*")],
    );
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &proxy.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    let fired = proxy.faults_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].status, 429);
    assert!(proxy.count("GET", "/v2/skiff/hello/manifests/v1") >= 2);
    assert!(
        out.elapsed >= Duration::from_millis(900),
        "Retry-After: 1 not honoured\n{out:?}"
    );
    assert_hello_layout(&cx.path("back"), "v1");
}

#[test]
fn fault_503_on_manifest_get_is_retried() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::status(503).on("GET", "/v2/*/manifests/*")],
    );
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &proxy.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    let fired = proxy.faults_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].status, 503);
    assert!(proxy.count("GET", "/v2/skiff/hello/manifests/v1") >= 2);
    assert_hello_layout(&cx.path("back"), "v1");
}

#[test]
fn fault_413_on_patch_falls_back_to_chunked_upload() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    // The config blob is pushed first (with a tiny image), so that the only blob the faulty
    // push uploads is the 10 MiB layer: the 413 necessarily hits its streaming PATCH.
    // (Both images share it: one diff ID for their one layer.)
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
    gzip_layout(&cx.path("tiny"), 100, 1, config);
    let (layer, config_digest) = gzip_layout(&cx.path("big"), 10 << 20, 2, config);
    let out = cx.copy(
        &["--dest-tls-verify=false"],
        &cx.oci("tiny", "latest"),
        &reg.docker_ref("skiff/big:tiny"),
    );
    assert!(out.ok(), "{out:?}");
    assert!(reg.repo_has_blob("skiff/big", &config_digest));

    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::status(413).on("PATCH", "/v2/*/blobs/uploads/*")],
    );
    let out = cx.copy(
        &["--dest-tls-verify=false"],
        &cx.oci("big", "latest"),
        &proxy.docker_ref("skiff/big:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(proxy.faults_fired().len(), 1, "{:?}", proxy.faults_fired());
    assert!(reg.repo_has_blob("skiff/big", &layer), "layer not uploaded");
    assert_eq!(reg.tags("skiff/big"), ["tiny", "v1"]);
    // After the 413, a new upload session carried the blob in several PATCH requests.
    let patches: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.status == 202)
        .collect();
    let mut per_session: std::collections::BTreeMap<String, usize> = Default::default();
    for p in &patches {
        *per_session.entry(p.path.clone()).or_default() += 1;
    }
    assert!(
        per_session.values().any(|&n| n >= 2),
        "no chunked upload after the 413: {per_session:?}\n{out:?}"
    );
}

/// A registry refusing the manifest's type (HTTP 415 on the first PUT) gets the next
/// format containers/image would offer: the OCI image goes up as Docker schema 2.
#[test]
fn fault_415_on_manifest_put_falls_back_to_the_next_format() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::status(415).on("PUT", "/v2/*/manifests/*")],
    );
    let out = cx.copy(
        &["--dest-tls-verify=false"],
        &hello_src(),
        &proxy.docker_ref("skiff/hello:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(proxy.faults_fired().len(), 1, "{:?}", proxy.faults_fired());
    let raw = cx.skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &reg.docker_ref("skiff/hello:v1"),
    ]);
    assert!(raw.ok(), "{raw:?}");
    let m: Value = serde_json::from_str(&raw.stdout).unwrap();
    assert_eq!(
        m["mediaType"], "application/vnd.docker.distribution.manifest.v2+json",
        "{}",
        raw.stdout
    );
}

/// One retry budget per blob (src/transport/retry.rs): a registry that fails every request
/// for a blob, or cuts every download short, gets at most 5 of them (requests, resumes
/// and restarts together), and `--retry-times 1` runs the whole copy twice: 10. (Before the
/// budget, request retries x5, resumes x5 and blob restarts x3 multiplied: 15 and 18.)
#[test]
fn a_persistently_failing_registry_costs_at_most_the_budget() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let blob_path = format!("/v2/skiff/hello/blobs/{BIG_HELLO_LAYER}");
    let unavailable = || Fault::status(503).retry_after(Some(0));
    for (fault, retry_times, budget) in [
        (unavailable(), "0", 5),
        (Fault::truncate_blob(1000), "0", 5),
        (unavailable(), "1", 10),
    ] {
        let proxy = FaultProxy::start(&reg.host(), vec![fault.on("GET", &blob_path).times(1000)]);
        let out = cx.copy(
            &["--src-tls-verify=false", "--retry-times", retry_times],
            &proxy.docker_ref("skiff/hello:v1"),
            &cx.oci("back", "v1"),
        );
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(out.stderr.contains(&BIG_HELLO_LAYER[7..]), "{out:?}");
        assert_eq!(
            proxy.count("GET", &blob_path),
            budget,
            "{:#?}\n{out:?}",
            proxy.requests()
        );
        assert!(!cx.path("back").join("index.json").exists());
    }
}

/// A registry that refuses the tag list (403, as ECR does) still gets inspected, as skopeo
/// does it: a warning and `"RepoTags": null`; any other refusal fails. (skiff also skips
/// on a 401, where skopeo 1.9.3 fails with "invalid username/password".)
#[test]
fn inspect_skips_a_refused_tag_list_like_skopeo() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    for (code, ok, compare) in [(403, true, true), (401, true, false), (404, false, true)] {
        let proxy = FaultProxy::start(
            &reg.host(),
            vec![
                Fault::status(code)
                    .on("GET", "/v2/skiff/hello/tags/list")
                    .times(2),
            ],
        );
        let args = [
            "inspect",
            "--tls-verify=false",
            &proxy.docker_ref("skiff/hello:v1"),
        ];
        let ours = cx.run(env!("CARGO_BIN_EXE_skiff"), &args, &[]);
        assert_eq!(ours.ok(), ok, "{ours:?}");
        let expected = if ok {
            "Registry disallows tag list retrieval; skipping"
        } else {
            "Error determining repository tags"
        };
        assert!(ours.stderr.contains(expected), "{ours:?}");
        if ok {
            let json: Value = serde_json::from_str(&ours.stdout).unwrap();
            assert_eq!(json["RepoTags"], Value::Null, "{ours:?}");
        }
        if compare {
            let theirs = cx.skopeo(&args);
            assert_eq!(theirs.ok(), ok, "{theirs:?}");
            assert!(theirs.stderr.contains(expected), "{theirs:?}");
            assert_eq!(ours.stdout, theirs.stdout);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Clean failures, registries.conf
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_manifest_fails_naming_the_image() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:nope"),
        &cx.oci("back", "v1"),
    );
    // Image not found: newer skopeo's exit status 2.
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(
        out.stderr.contains("skiff/hello:nope"),
        "image not named\n{out:?}"
    );
    assert!(
        out.stderr.to_lowercase().contains("manifest unknown"),
        "{out:?}"
    );
}

#[test]
fn connection_refused_fails_cleanly() {
    let cx = Ctx::new();
    let port = registry::free_port();
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &format!("docker://127.0.0.1:{port}/skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(out.stderr.contains(&format!("127.0.0.1:{port}")), "{out:?}");
    assert!(
        out.stderr.to_lowercase().contains("connection refused"),
        "{out:?}"
    );
    assert!(!cx.path("back").join("index.json").exists());
}

fn block_in_registries_conf(cx: &Ctx, reg: &Registry) {
    cx.write_registries_conf(&format!(
        "[[registry]]\nprefix = \"{h}\"\nlocation = \"{h}\"\nblocked = true\n",
        h = reg.host()
    ));
}

#[test]
fn registries_conf_blocked_registry_refuses_a_pull() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    block_in_registries_conf(&cx, &reg);
    let before = client_requests(&reg).len();
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &reg.docker_ref("skiff/hello:v1"),
        &cx.oci("back", "v1"),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(out.stderr.to_lowercase().contains("blocked"), "{out:?}");
    assert!(!cx.path("back").join("index.json").exists());
    let after: Vec<_> = client_requests(&reg).into_iter().skip(before).collect();
    assert!(
        after.is_empty(),
        "a blocked registry was contacted: {after:#?}"
    );
}

/// skopeo 1.9.3 only enforces `blocked` when reading; skiff refuses writes too.
#[test]
fn registries_conf_blocked_registry_refuses_a_push() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    block_in_registries_conf(&cx, &reg);
    let out = cx.copy(
        &["--dest-tls-verify=false"],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("Error:"), "{out:?}");
    assert!(out.stderr.to_lowercase().contains("blocked"), "{out:?}");
    assert!(reg.tags("skiff/hello").is_empty());
    let contacted = client_requests(&reg);
    assert!(
        contacted.is_empty(),
        "a blocked registry was contacted: {contacted:#?}"
    );
}

#[test]
fn registries_conf_location_rewrite_is_followed_for_a_pull() {
    let cx = Ctx::new();
    let reg = cx.plain_registry_with_hello();
    cx.write_registries_conf(&format!(
        "[[registry]]\nprefix = \"example.test/foo\"\nlocation = \"{}/skiff\"\ninsecure = true\n",
        reg.host()
    ));
    let out = cx.copy(
        &["--src-tls-verify=false"],
        "docker://example.test/foo/hello:v1",
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("back"), "v1");
    assert!(reg.count_requests("GET", "/v2/skiff/hello/manifests/v1") >= 1);
}

#[test]
fn registries_conf_mirror_is_used_before_the_primary_for_a_digest() {
    let cx = Ctx::new();
    let primary = Registry::start(RegistryOpts::plain());
    let mirror = Registry::start(RegistryOpts::plain());
    cx.push_hello_v1(&primary);
    cx.push_hello_v1(&mirror);
    let before = client_requests(&primary).len();
    cx.write_registries_conf(&format!(
        "[[registry]]\nprefix = \"{p}\"\nlocation = \"{p}\"\ninsecure = true\n\n\
         [[registry.mirror]]\nlocation = \"{m}\"\ninsecure = true\n",
        p = primary.host(),
        m = mirror.host()
    ));
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &primary.docker_ref(&format!("skiff/hello@{HELLO_MANIFEST}")),
        &cx.oci("back", "v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_hello_layout(&cx.path("back"), "v1");
    assert!(
        mirror.count_requests(
            "GET",
            &format!("/v2/skiff/hello/manifests/{HELLO_MANIFEST}")
        ) >= 1,
        "mirror not asked\n{out:?}"
    );
    assert_eq!(mirror.count_requests("GET", "/v2/skiff/hello/blobs/*"), 4);
    let after: Vec<_> = client_requests(&primary).into_iter().skip(before).collect();
    assert!(
        after
            .iter()
            .all(|e| !e.path.contains("/manifests/") && !e.path.contains("/blobs/")),
        "the primary served content although the mirror had it: {after:#?}"
    );
}

#[test]
fn corrupt_source_blob_never_publishes_the_tag() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::plain());
    let src = cx.path("corrupt-oci");
    copy_tree(&repo_root().join("examples/hello-oci"), &src);
    let blob = src.join("blobs/sha256").join(&BIG_HELLO_LAYER[7..]);
    let mut data = fs::read(&blob).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    fs::write(&blob, &data).unwrap();

    let out = cx.copy(
        &["--dest-tls-verify=false"],
        &format!("oci:{}:latest", src.display()),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_failed_unpublished(&out, &reg, "skiff/hello");
    assert!(
        !reg.has_blob(BIG_HELLO_LAYER),
        "corrupt data stored under the expected digest"
    );
    assert!(
        out.stderr.contains(&BIG_HELLO_LAYER[7..19])
            || out.stderr.to_lowercase().contains("digest"),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Hostile answers
// ---------------------------------------------------------------------------------------

/// A registry that answers its ping and then every request with a 404 whose error message
/// carries terminal control sequences (a title change, a colour, a carriage return, a bell).
fn hostile_registry() -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Drain the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (status, body) = if request_line.starts_with("GET /v2/ ") {
                ("200 OK", "{}".to_string())
            } else {
                (
                    "404 Not Found",
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"gone\u001b]0;owned\u0007\u001b[31m red\rOVERWRITE"}]}"#
                        .to_string(),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (host, handle)
}

#[test]
fn control_characters_from_a_registry_never_reach_the_terminal() {
    let (host, _server) = hostile_registry();
    let cx = Ctx::new();
    let out = cx.copy(
        &["--src-tls-verify=false"],
        &format!("docker://{host}/evil/image:v1"),
        &format!("dir:{}", cx.path("out").display()),
    );
    assert!(!out.ok(), "{out:?}");
    assert!(
        !out.stderr.contains(['\u{1b}', '\u{7}', '\r']),
        "raw control characters on stderr: {:?}",
        out.stderr
    );
    // What the registry said is still there, escaped.
    assert!(
        out.stderr
            .contains("gone\\u{1b}]0;owned\\u{7}\\u{1b}[31m red\\u{d}OVERWRITE"),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Resource bounds against a registry that lies about sizes
// ---------------------------------------------------------------------------------------

use hostile_registry::{Body, HostileRegistry, Route};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// `evil/image:v1`: an OCI manifest with a sound config (one diff ID) and one layer of
/// `layer_size` bytes, whose answer is `layer`. Returns the routes and the layer digest.
fn lying_image(layer_size: u64, layer: Body) -> (Vec<Route>, String) {
    let layer_digest = format!("sha256:{}", sha256_hex(b"a layer that never comes whole"));
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let config_digest = format!("sha256:{}", sha256_hex(&config));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest,
            "size": layer_size,
        }],
    }))
    .unwrap();
    let blob = |d: &str| format!("/v2/evil/image/blobs/{d}");
    let routes = vec![
        Route::new(
            "/v2/evil/image/manifests/v1",
            OCI_MANIFEST,
            Body::Bytes(manifest),
        ),
        Route::new(
            blob(&config_digest),
            "application/octet-stream",
            Body::Bytes(config),
        ),
        Route::new(blob(&layer_digest), "application/octet-stream", layer),
    ];
    (routes, layer_digest)
}

/// Copies evil/image:v1 from `reg` into a fresh dir: with `flags`; returns the result,
/// the child's peak RSS in KiB, and whether the destination exists.
fn copy_from_liar(cx: &Ctx, reg: &HostileRegistry, tag: &str, flags: &[&str]) -> (Out, u64) {
    let dest = cx.path(&format!("out-{tag}"));
    let mut all = vec!["--src-tls-verify=false"];
    all.extend_from_slice(flags);
    let (out, peak) = cx.copy_measured(
        &all,
        &reg.docker_ref(&format!("evil/image:{tag}")),
        &format!("dir:{}", dest.display()),
    );
    assert!(!out.ok(), "{out:?}");
    assert!(!dest.exists(), "a destination was written: {out:?}");
    (out, peak)
}

#[test]
fn an_endless_blob_is_cut_at_its_size() {
    let cx = Ctx::new();
    let (routes, layer) = lying_image(1 << 20, Body::Endless);
    let reg = HostileRegistry::start(routes);
    let (out, peak) = copy_from_liar(&cx, &reg, "v1", &[]);
    assert!(
        out.stderr.contains(&format!(
            "blob {layer}: more than the expected 1048576 bytes"
        )),
        "{out:?}"
    );
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB\n{out:?}");
}

/// The registry announces a petabyte for a 1 MiB layer (and for a manifest), then sends a
/// byte a second: refused from the header, before waiting for any of it.
#[test]
fn a_huge_content_length_is_refused_before_the_body_is_read() {
    let cx = Ctx::new();
    let huge = 1u64 << 50;
    let drip = Body::Announce {
        length: huge,
        every: Duration::from_secs(1),
    };
    let (mut routes, layer) = lying_image(1 << 20, drip.clone());
    routes.push(Route::new(
        "/v2/evil/image/manifests/v2",
        OCI_MANIFEST,
        drip,
    ));
    let reg = HostileRegistry::start(routes);
    // The timeout only bounds the test if the check is missing.
    let flags = ["--command-timeout", "60s"];
    let (out, _) = copy_from_liar(&cx, &reg, "v1", &flags);
    assert!(
        out.stderr.contains(&format!(
            "/blobs/{layer} from {}: the registry announces {huge} bytes, but the manifest gives the blob 1048576 bytes",
            reg.host()
        )),
        "{out:?}"
    );
    let (out, _) = copy_from_liar(&cx, &reg, "v2", &flags);
    assert!(
        out.stderr.contains(&format!(
            "manifest is larger than the allowed limit ({huge} bytes announced"
        )),
        "{out:?}"
    );
}

/// A layer that drips a byte a second never trips a read timeout; --command-timeout ends
/// the copy.
#[test]
fn a_dripping_blob_is_bounded_by_the_command_timeout() {
    let cx = Ctx::new();
    let (routes, _) = lying_image(1 << 20, Body::Drip(Duration::from_secs(1)));
    let reg = HostileRegistry::start(routes);
    let (out, _) = copy_from_liar(&cx, &reg, "v1", &["--command-timeout", "3s"]);
    assert!(
        out.stderr
            .contains("timed out after 3s (--command-timeout)"),
        "{out:?}"
    );
}

/// An index of `n` entries (no platforms) as compact JSON.
fn index_of(n: usize) -> Vec<u8> {
    let entries: Vec<String> = (0..n)
        .map(|i| {
            format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{i:064x}","size":100}}"#)
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    )
    .into_bytes()
}

/// 100,000 entries (15 MB) are over the 4 MiB manifest cap; 20,000 (3 MB) fit it, and
/// `--all` refuses them by the 4096-manifest cap without fetching any.
#[test]
fn huge_manifest_lists_are_refused_in_bounded_memory() {
    let cx = Ctx::new();
    let big = index_of(100_000);
    let big_len = big.len();
    let fits = index_of(20_000);
    assert!(fits.len() < 4 << 20);
    let reg = HostileRegistry::start(vec![
        Route::new("/v2/evil/image/manifests/v1", OCI_INDEX, Body::Bytes(big)),
        Route::new("/v2/evil/image/manifests/v2", OCI_INDEX, Body::Bytes(fits)),
    ]);
    let (out, peak) = copy_from_liar(&cx, &reg, "v1", &["--all"]);
    assert!(
        out.stderr.contains(&format!(
            "manifest is larger than the allowed limit ({big_len} bytes announced, over 4194304 bytes)"
        )),
        "{out:?}"
    );
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB\n{out:?}");
    let (out, peak) = copy_from_liar(&cx, &reg, "v2", &["--all"]);
    assert!(
        out.stderr
            .contains("the manifest lists name more than 4096 manifests in all"),
        "{out:?}"
    );
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB\n{out:?}");
    assert!(
        reg.requests()
            .iter()
            .all(|r| !r.contains("/manifests/sha256:")),
        "list members were fetched: {:?}",
        reg.requests()
    );
}
