//! `containers-storage:` against the real peers: Debian's podman 4.3 and skopeo 1.9.3 on a
//! private store per test (tests/support/store.rs), both drivers, both directions.
//!
//! Needs: apt-get install -y podman skopeo docker-registry (overlay needs root and a kernel
//! with overlayfs for `podman image mount`). tests/storage_run.rs runs containers from what
//! skiff stored.

#[path = "support/loopback.rs"]
mod loopback;
mod support;

#[path = "support/certs.rs"]
mod certs;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/registry.rs"]
mod registry;
#[path = "support/store.rs"]
mod store;
#[path = "support/store_facts.rs"]
mod store_facts;
#[path = "support/token_server.rs"]
mod token_server;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use fault_proxy::FaultProxy;
use registry::{Registry, RegistryOpts};
use serde_json::Value;
use store::*;
use store_facts::*;
use support::*;

const HELLO_CONFIG: &str = "620dc057349bd148f7caac1b342eba5c6e227e6a2b44ea7d366278c947be213a";

fn hello() -> String {
    example_ref("hello-oci")
}

fn hello_image() -> Loaded {
    load_oci(&example("hello-oci"), Some("latest"))
}

#[test]
fn skiff_writes_the_store_as_skopeo_and_podman_reads_it() {
    let source = hello_image();
    for driver in DRIVERS {
        let ours = Store::new(driver);
        let theirs = Store::new(driver);
        let name = "example.com/hello:v1";
        ours.skiff_copy(&[&hello(), &ours.name(name)])
            .assert_success();
        theirs
            .skopeo_copy(&[&hello(), &theirs.name(name)])
            .assert_success();

        // The records, and every layer's files, as skopeo writes them.
        assert_eq!(
            layer_facts(&ours.layers_json()),
            layer_facts(&theirs.layers_json()),
            "{driver}: layers.json"
        );
        assert_eq!(
            image_facts(&ours.images_json()),
            image_facts(&theirs.images_json()),
            "{driver}: images.json"
        );
        for layer in ours.layers_json() {
            let id = layer["id"].as_str().unwrap();
            assert_eq!(
                tree(&ours.layer_dir(id)),
                tree(&theirs.layer_dir(id)),
                "{driver}: files of layer {id}"
            );
        }
        assert!(ours.tmp_leftovers().is_empty(), "{driver}: staging left");

        // podman lists it, inspects it and saves the very layers the image was built from.
        let images = ours.podman(&[
            "images",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Repository}}:{{.Tag}}",
        ]);
        images.assert_success();
        assert!(
            images.stdout.contains(&format!("{HELLO_CONFIG} {name}")),
            "{driver}: {images}"
        );
        let inspect = ours.podman(&["image", "inspect", name]);
        inspect.assert_success();
        let v: Value = serde_json::from_str(&inspect.stdout).unwrap();
        assert_eq!(v[0]["Digest"], source.manifest_digest(), "{driver}");
        let saved = ours.dir().join("saved.tar");
        ours.podman(&["save", "-o", &p(&saved), name])
            .assert_success();
        let (diff_ids, tars) = docker_archive_layers(&saved);
        assert_eq!(
            diff_ids,
            source.diff_ids(),
            "{driver}: podman save diff IDs"
        );
        assert_eq!(
            tars,
            source.diff_ids(),
            "{driver}: layers re-exported bit for bit"
        );

        // skopeo reads it back.
        let out = ours.skopeo(&["inspect", &ours.name(name)]);
        out.assert_success();
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        let layers: Vec<String> = source.manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(v["Layers"], serde_json::json!(layers), "{driver}");
        let out = ours.dir().join("by-skopeo");
        ours.skopeo_copy(&[&ours.name(name), &format!("dir:{}", p(&out))])
            .assert_success();
        assert_eq!(
            load_dir(&out).computed_diff_ids(),
            source.diff_ids(),
            "{driver}"
        );
    }
}

#[test]
fn an_overlay_image_mounts_with_its_whiteouts_applied() {
    let store = Store::new("overlay");
    store
        .skiff_copy(&[&hello(), &store.name("hello:1")])
        .assert_success();
    let mount = store.podman(&["image", "mount", "hello:1"]);
    mount.assert_success();
    let merged = Path::new(mount.stdout.trim()).to_path_buf();
    let etc = merged.join("etc/skiff");
    let present = |f: &str| fs::symlink_metadata(etc.join(f)).is_ok();
    let seen = (
        present("obsolete.conf"),
        present("version"),
        present("hello.txt"),
    );
    store
        .podman(&["image", "unmount", "hello:1"])
        .assert_success();
    assert_eq!(
        seen,
        (false, true, true),
        "whiteout, upper file, lower file"
    );
}

#[test]
fn skiff_reads_what_skopeo_and_podman_write() {
    let registry = Registry::start(RegistryOpts::plain());
    let source = hello_image();
    let t = tempdir();
    let archive = t.path().join("hello.tar");
    skiff_copy([
        hello(),
        format!("docker-archive:{}:example.com/loaded:1", p(&archive)),
    ])
    .assert_success();
    for driver in DRIVERS {
        let store = Store::new(driver);
        store
            .skopeo_copy(&[&hello(), &store.name("example.com/copied:1")])
            .assert_success();
        store.podman(&["load", "-i", &p(&archive)]).assert_success();
        for name in ["example.com/copied:1", "example.com/loaded:1"] {
            // To a registry: recompressed, the same diff IDs.
            let dest =
                registry.docker_ref(&format!("{driver}/{}", name.replace("example.com/", "")));
            store
                .skiff_copy(&["--dest-tls-verify=false", &store.name(name), &dest])
                .assert_success();
            let out = store.skopeo(&["inspect", "--tls-verify=false", "--config", "--raw", &dest]);
            out.assert_success();
            let config: Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(
                config["rootfs"]["diff_ids"],
                serde_json::json!(source.diff_ids()),
                "{driver} {name}"
            );
        }
        // To an OCI layout: uncompressed layers, bit for bit the source's tars.
        let out = t.path().join(format!("{driver}-oci"));
        store
            .skiff_copy(&[
                &store.name("example.com/copied:1"),
                &format!("oci:{}:x", p(&out)),
            ])
            .assert_success();
        let loaded = load_oci(&out, Some("x"));
        assert_eq!(loaded.computed_diff_ids(), source.diff_ids(), "{driver}");
        assert_eq!(loaded.diff_ids(), source.diff_ids(), "{driver}");

        // inspect prints what skopeo prints, by name and by ID prefix.
        let name = store.name("example.com/copied:1");
        let ours = {
            let mut c = store.skiff();
            c.args(["inspect", &name]);
            run(&mut c)
        };
        ours.assert_success();
        let theirs = store.skopeo(&["inspect", &name]);
        theirs.assert_success();
        assert_eq!(
            serde_json::from_str::<Value>(&ours.stdout).unwrap(),
            serde_json::from_str::<Value>(&theirs.stdout).unwrap(),
            "{driver}: inspect"
        );
        let by_id = store.name(&HELLO_CONFIG[..12]);
        let ours = {
            let mut c = store.skiff();
            c.args(["inspect", &by_id]);
            run(&mut c)
        };
        ours.assert_success();
        let theirs = store.skopeo(&["inspect", &by_id]);
        theirs.assert_success();
        assert_eq!(
            serde_json::from_str::<Value>(&ours.stdout).unwrap(),
            serde_json::from_str::<Value>(&theirs.stdout).unwrap(),
            "{driver}: inspect by ID prefix"
        );
    }
}

#[test]
fn links_xattrs_devices_whiteouts_and_opaque_directories_survive_a_round_trip() {
    let t = tempdir();
    let image = image_from_tars(&t.path().join("src"), "special", &special_layers());
    for driver in DRIVERS {
        let store = Store::new(driver);
        store
            .skiff_copy(&[&image.oci_ref(), &store.name("special:1")])
            .assert_success();
        let layers = store.layers_json();
        let (base, top) = (
            store.layer_dir(layers[0]["id"].as_str().unwrap()),
            store.layer_dir(layers[1]["id"].as_str().unwrap()),
        );
        let meta = |p: &Path| fs::symlink_metadata(p).unwrap();
        assert_eq!(
            meta(&base.join("etc/a")).ino(),
            meta(&base.join("etc/a-link")).ino()
        );
        assert_eq!(
            fs::read_link(base.join("etc/abs")).unwrap(),
            Path::new("/etc/a")
        );
        assert_eq!(
            xattrs(&base.join("etc/attrs")),
            [("user.skiff".into(), "1".into())]
        );
        assert_eq!(
            (
                meta(&base.join("etc/attrs")).uid(),
                meta(&base.join("etc/attrs")).gid()
            ),
            (1000, 1001)
        );
        assert_eq!(meta(&base.join("usr/bin/suid")).mode() & 0o7777, 0o4755);
        assert_eq!(meta(&base.join("tmp")).mode() & 0o7777, 0o1777);
        assert_eq!(meta(&base.join("etc/a")).mtime(), 1_700_000_000);
        assert_eq!(meta(&base.join("dev/null")).rdev(), libc_makedev(1, 3));
        assert!(meta(&base.join("run/fifo")).file_type().is_fifo());
        if driver == "overlay" {
            let wh = meta(&top.join("etc/a"));
            assert!(
                wh.file_type().is_char_device() && wh.rdev() == 0,
                "whiteout"
            );
            assert_eq!(
                xattrs(&top.join("opq")),
                [("trusted.overlay.opaque".into(), "y".into())]
            );
        } else {
            assert!(
                fs::symlink_metadata(top.join("etc/a")).is_err(),
                "whited out"
            );
            assert!(top.join("etc/a-link").exists(), "the other link stays");
            assert_eq!(list_dir(&top.join("opq")), ["new"]);
        }
        // podman re-exports both layers bit for bit, and so does skiff.
        let saved = store.dir().join("saved.tar");
        store
            .podman(&["save", "-o", &p(&saved), "special:1"])
            .assert_success();
        assert_eq!(
            docker_archive_layers(&saved).1,
            image.diff_ids,
            "{driver}: podman save"
        );
        let out = t.path().join(format!("out-{driver}"));
        store
            .skiff_copy(&[&store.name("special:1"), &format!("oci:{}:x", p(&out))])
            .assert_success();
        assert_eq!(
            load_oci(&out, Some("x")).computed_diff_ids(),
            image.diff_ids,
            "{driver}: skiff"
        );
        if driver == "overlay" {
            let mount = store.podman(&["image", "mount", "special:1"]);
            mount.assert_success();
            let merged = Path::new(mount.stdout.trim()).to_path_buf();
            let opq = list_dir(&merged.join("opq"));
            let a = merged.join("etc/a").exists();
            store
                .podman(&["image", "unmount", "special:1"])
                .assert_success();
            assert_eq!((opq, a), (vec!["new".to_string()], false), "overlay's view");
        }
    }
}

#[test]
fn hostile_layers_are_refused_and_leave_nothing() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            TarBuilder::new().raw_file("../evil", b"x").build(),
            "is outside of the layer",
        ),
        (
            "symlink",
            TarBuilder::new()
                .raw_symlink("up", "../../../../evil")
                .build(),
            "points outside of the layer",
        ),
        (
            "hardlink",
            TarBuilder::new()
                .raw_hardlink("h", "../../etc/passwd")
                .build(),
            "points outside of the layer",
        ),
        (
            "through-link",
            TarBuilder::new()
                .symlink("d", "/")
                .raw_file("d/evil", b"x")
                .build(),
            "goes through the symbolic link /d",
        ),
    ];
    let t = tempdir();
    for driver in DRIVERS {
        let store = Store::new(driver);
        for (name, tar, why) in &cases {
            let image = image_from_tars(
                &t.path().join(format!("{driver}-{name}")),
                "x",
                &[
                    TarBuilder::new().file("ok", 0o644, b"fine").build(),
                    tar.clone(),
                ],
            );
            let out = store.skiff_copy(&[&image.oci_ref(), &store.name("hostile:1")]);
            out.assert_error()
                .assert_stderr_contains("refusing the layer")
                .assert_stderr_contains(why);
            // The layer below may be in (containers/image keeps committed layers); the
            // hostile one and any image are not, and no staging is left.
            assert!(store.layers_json().len() <= 1, "{driver} {name}");
            assert!(store.images_json().is_empty(), "{driver} {name}");
            assert_eq!(
                store.tmp_leftovers(),
                Vec::<String>::new(),
                "{driver} {name}"
            );
        }
        let evil: Vec<_> = walkdir(store.dir())
            .into_iter()
            .filter(|p| p.ends_with("evil"))
            .collect();
        assert!(evil.is_empty(), "{driver}: {evil:?}");
        store.podman(&["images"]).assert_success();
    }
}

#[test]
fn a_device_node_is_refused_for_a_non_root_user() {
    let store = Store::new("vfs");
    fs::write(
        store.conf(),
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n[storage.options.vfs]\nignore_chown_errors = \"true\"\n",
            p(&store.graph_root()),
            p(&store.run_root())
        ),
    )
    .unwrap();
    let image = image_from_tars(
        &store.dir().join("src"),
        "x",
        &[TarBuilder::new()
            .file("ok", 0o644, b"fine")
            .char_device("dev/mem", 1, 1)
            .build()],
    );
    let status = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(store.dir())
        .status()
        .unwrap();
    assert!(status.success());
    let mut c = std::process::Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(skiff_bin())
        .args([
            "--insecure-policy",
            "copy",
            &image.oci_ref(),
            &store.name("dev:1"),
        ])
        .env("CONTAINERS_STORAGE_CONF", store.conf())
        .env("HOME", store.dir())
        .env("TMPDIR", store.dir())
        .env("XDG_RUNTIME_DIR", store.dir());
    let out = run(&mut c);
    out.assert_error()
        .assert_stderr_contains("\"dev/mem\" is a device node, which only root can create");
    assert!(store.layers_json().is_empty());
    assert_eq!(store.tmp_leftovers(), Vec::<String>::new());
}

#[test]
fn layers_the_store_has_are_not_downloaded_again() {
    // b = a's two layers and one more; c = a's layers, zstd-compressed (other blobs, the
    // same diff IDs). A proxy in front of the registry counts what is fetched.
    let registry = Registry::start(RegistryOpts::plain());
    let t = tempdir();
    let tars: Vec<Vec<u8>> = (0..3u64)
        .map(|i| {
            TarBuilder::new()
                .file(&format!("f{i}"), 0o644, &pseudo_random(i + 40, 256 << 10))
                .build()
        })
        .collect();
    let a = image_from_tars(&t.path().join("a"), "x", &tars[..2]);
    let b = image_from_tars(&t.path().join("b"), "x", &tars);
    for (image, repo) in [(&a, "reuse/a:1"), (&b, "reuse/b:1")] {
        skiff_copy([
            "--dest-tls-verify=false",
            &image.oci_ref(),
            &registry.docker_ref(repo),
        ])
        .assert_success();
    }
    skiff_copy([
        "--dest-tls-verify=false",
        "--dest-compress-format",
        "zstd",
        &a.oci_ref(),
        &registry.docker_ref("reuse/c:1"),
    ])
    .assert_success();
    let proxy = FaultProxy::start(&registry.host(), vec![]);
    let store = Store::new("overlay");
    let from = |repo: &str| proxy.docker_ref(repo);
    store
        .skiff_copy(&[
            "--src-tls-verify=false",
            &from("reuse/a:1"),
            &store.name("a:1"),
        ])
        .assert_success();
    let layer_gets = |digests: &[String]| {
        digests
            .iter()
            .map(|d| proxy.count("GET", &format!("/v2/*/blobs/{d}")))
            .collect::<Vec<_>>()
    };
    assert_eq!(layer_gets(&a.layer_digests), [1, 1]);

    proxy.clear_requests();
    store
        .skiff_copy(&[
            "--src-tls-verify=false",
            &from("reuse/b:1"),
            &store.name("b:1"),
        ])
        .assert_success();
    assert_eq!(
        layer_gets(&b.layer_digests),
        [0, 0, 1],
        "by compressed digest"
    );

    proxy.clear_requests();
    store
        .skiff_copy(&[
            "--src-tls-verify=false",
            &from("reuse/a:1"),
            &store.name("a:2"),
        ])
        .assert_success();
    assert_eq!(layer_gets(&a.layer_digests), [0, 0], "the same image again");

    proxy.clear_requests();
    store
        .skiff_copy(&[
            "--src-tls-verify=false",
            &from("reuse/c:1"),
            &store.name("c:1"),
        ])
        .assert_success();
    let out = store.skopeo(&["inspect", "--raw", &store.name("c:1")]);
    out.assert_success();
    let c: Value = serde_json::from_str(&out.stdout).unwrap();
    let c_layers: Vec<String> = c["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    // The config says the store has these layers, but nothing has checked that c's blobs
    // decompress to them: fetched and checked, as containers/image does (it reuses only
    // digest pairs it has verified), so an image whose config lies is never taken for one
    // the store holds.
    assert_eq!(
        layer_gets(&c_layers),
        [1, 1],
        "other blobs of the same diff IDs"
    );
    assert_eq!(store.layers_json().len(), 3);

    // Uncompressed blobs (a docker archive's) are named by their diff IDs: found too.
    let plain = format!("docker-archive:{}", p(&t.path().join("plain.tar")));
    skiff_copy([&a.oci_ref(), &plain]).assert_success();
    let out = store.skiff_copy(&[&plain, &store.name("plain:1")]);
    out.assert_success();
    for diff_id in &a.diff_ids {
        out.assert_stderr_contains(&format!("Copying blob {diff_id} skipped: already exists"));
    }
    assert_eq!(store.layers_json().len(), 3);
}

#[test]
fn copying_an_image_that_is_there_only_adds_a_name() {
    let store = Store::new("vfs");
    store
        .skiff_copy(&[&hello(), &store.name("first:1")])
        .assert_success();
    let layers = store.layers_json();
    // From the store into the same store: every layer is reused.
    let again = store.skiff_copy(&[&store.explicit("first:1"), &store.name("second:1")]);
    again.assert_success();
    assert_eq!(
        again.stderr.matches("skipped: already exists").count(),
        3,
        "every layer: {again}"
    );
    assert_eq!(store.layers_json(), layers);
    let images = store.images_json();
    assert_eq!(images.len(), 1);
    assert_eq!(
        images[0]["names"],
        serde_json::json!(["docker.io/library/first:1", "docker.io/library/second:1"])
    );
}

#[test]
fn delete_removes_the_image_and_the_layers_only_it_used() {
    let t = tempdir();
    let store = Store::new("overlay");
    store
        .skiff_copy(&[&hello(), &store.name("a:1")])
        .assert_success();
    let other = build_oci_image(&t.path().join("other"), "x", &[layer(1000, Comp::Gzip)], 5);
    store
        .skopeo_copy(&[&other.oci_ref(), &store.name("b:1")])
        .assert_success();
    let delete = |name: &str| {
        let mut c = store.skiff();
        c.args(["delete", &store.name(name)]);
        run(&mut c)
    };
    let before: Vec<String> = store
        .layers_json()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(before.len(), 4);
    assert!(before.iter().all(|id| store.layer_dir(id).exists()));
    delete("a:1").assert_success();
    let left: Vec<String> = store
        .layers_json()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    for id in before.iter().filter(|id| !left.contains(id)) {
        let files = store.graph_root().join("overlay").join(id);
        assert!(!files.exists(), "layer {id}'s files are left");
        let split = store
            .graph_root()
            .join("overlay-layers")
            .join(format!("{id}.tar-split.gz"));
        assert!(!split.exists(), "layer {id}'s tar-split is left");
    }
    let images = store.podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    images.assert_success();
    assert_eq!(images.stdout.trim(), "docker.io/library/b:1");
    assert_eq!(store.layers_json().len(), 1, "only b's layer is left");
    assert!(
        !store
            .graph_root()
            .join("overlay-images")
            .join(HELLO_CONFIG)
            .exists()
    );
    // The second time, both say the image is not there.
    let ours = delete("a:1");
    let theirs = store.skopeo(&["delete", &store.name("a:1")]);
    ours.assert_exit1();
    let message = theirs.skopeo_message();
    assert!(
        message.contains("does not resolve to an image ID: identifier is not an image"),
        "{theirs}"
    );
    ours.assert_stderr_contains(&message);
}

#[test]
fn errors_say_what_skopeo_says() {
    let store = Store::new("vfs");
    let missing = store.name("missing:1");
    let t = tempdir();
    let out_dir = format!("dir:{}", p(&t.path().join("d")));
    let ours = store.skiff_copy(&[&missing, &out_dir]);
    let theirs = store.skopeo_copy(&[&missing, &out_dir]);
    ours.assert_exit1()
        .assert_stderr_contains(&theirs.skopeo_message());
    let mut c = store.skiff();
    c.args(["inspect", &missing]);
    let ours = run(&mut c);
    let theirs = store.skopeo(&["inspect", &missing]);
    ours.assert_exit1()
        .assert_stderr_contains(&theirs.skopeo_message());
    // A whole list cannot go into the store.
    let multi = example_ref("multiarch-oci");
    let ours = store.skiff_copy(&["--all", &multi, &store.name("multi:1")]);
    ours.assert_exit1()
        .assert_stderr_contains("does not support copying multiple images as a group");
    assert!(store.images_json().is_empty());
}

#[test]
fn signatures_are_kept_with_the_image_as_skopeo_keeps_them() {
    let t = tempdir();
    let signed = t.path().join("signed");
    skiff_copy([hello(), format!("dir:{}", p(&signed))]).assert_success();
    fs::write(
        signed.join("signature-1"),
        b"\x89not really an OpenPGP message",
    )
    .unwrap();
    let src = format!("dir:{}", p(&signed));
    let ours = Store::new("vfs");
    let theirs = Store::new("vfs");
    ours.skiff_copy(&[&src, &ours.name("signed:1")])
        .assert_success();
    theirs
        .skopeo_copy(&[&src, &theirs.name("signed:1")])
        .assert_success();
    assert_eq!(
        image_facts(&ours.images_json()),
        image_facts(&theirs.images_json())
    );
    // Reading them back: the layers would change, which signatures forbid (as in skopeo).
    let out = format!("dir:{}", p(&t.path().join("out")));
    for store in [&ours, &theirs] {
        let r = store.skiff_copy(&[&store.name("signed:1"), &out]);
        r.assert_exit1()
            .assert_stderr_contains("would require changing layer representation");
        store
            .skiff_copy(&["--remove-signatures", &store.name("signed:1"), &out])
            .assert_success();
    }
}

#[test]
fn pushing_to_the_registry_an_image_came_from_mounts_its_pulled_blobs() {
    let registry = Registry::start(RegistryOpts::plain());
    let source = hello_image();
    let pulled = registry.docker_ref("origin/hello:1");
    skiff_copy(["--dest-tls-verify=false", &hello(), &pulled]).assert_success();
    let store = Store::new("overlay");
    let stored = store.name(&format!("{}/origin/hello:1", registry.host()));
    store
        .skopeo_copy(&["--src-tls-verify=false", &pulled, &stored])
        .assert_success();
    // The layers are not recompressed: the registry has the blobs they were pulled as.
    let pushed = registry.docker_ref("elsewhere/hello:1");
    store
        .skiff_copy(&["--dest-tls-verify=false", &stored, &pushed])
        .assert_success()
        .assert_stderr_contains("already exists");
    let out = store.skopeo(&["inspect", "--tls-verify=false", "--raw", &pushed]);
    out.assert_success();
    let manifest: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(manifest["layers"], source.manifest["layers"]);
    // Elsewhere (another repository, no mount source) they are compressed anew.
    let other = Store::new("overlay");
    other
        .skopeo_copy(&[&hello(), &other.name("plain:1")])
        .assert_success();
    let pushed = registry.docker_ref("fresh/hello:1");
    other
        .skiff_copy(&["--dest-tls-verify=false", &other.name("plain:1"), &pushed])
        .assert_success();
    let out = other.skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--config",
        "--raw",
        &pushed,
    ]);
    let config: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(source.diff_ids())
    );
}

#[test]
fn an_image_from_a_list_is_found_by_the_list_digest_too() {
    let store = Store::new("vfs");
    let multi = example_ref("multiarch-oci");
    let list_digest = skopeo_inspect_digest(&multi);
    store
        .skiff_copy(&["--override-arch", "arm64", &multi, &store.name("multi:1")])
        .assert_success();
    let ours = store.images_json();
    let theirs = Store::new("vfs");
    theirs
        .skopeo_copy(&["--override-arch", "arm64", &multi, &theirs.name("multi:1")])
        .assert_success();
    assert_eq!(image_facts(&ours), image_facts(&theirs.images_json()));
    // Both tools find the image by the list's digest.
    let by_list = store.name(&format!("multi@{list_digest}"));
    let inspect = [
        "--override-arch",
        "arm64",
        "inspect",
        "--format",
        "{{.Architecture}}",
    ];
    let skiff_sees = {
        let mut c = store.skiff();
        c.args(inspect).arg(&by_list);
        run(&mut c)
    };
    skiff_sees.assert_success();
    assert_eq!(skiff_sees.stdout.trim(), "arm64");
    let mut args = inspect.to_vec();
    args.push(&by_list);
    let skopeo_sees = store.skopeo(&args);
    assert_eq!(skopeo_sees.stdout, skiff_sees.stdout);
    // For another platform, whose image is not stored, both say so.
    let mut c = store.skiff();
    c.args(["inspect", &by_list]);
    run(&mut c).assert_exit1().assert_stderr_contains(
        "(consider removing the image to resolve the issue): file does not exist",
    );
}
