//! containers-storage under concurrency and crashes: skiff copies and skopeo copies into one
//! store at the same time, podman reading meanwhile (containers/storage's lock files and
//! their reload protocol), one tool writing while the other's copy is held midway, a copy
//! killed midway, a layer record left incomplete.
//!
//! Needs: apt-get install -y podman skopeo (overlay needs root).

#[path = "support/loopback.rs"]
mod loopback;
mod support;

#[path = "support/hostile_registry.rs"]
mod hostile_registry;
#[path = "support/store.rs"]
mod store;
#[path = "support/store_facts.rs"]
mod store_facts;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hostile_registry::{Gate, HostileRegistry};

use store::*;
use store_facts::*;
use support::*;

fn hello() -> String {
    example_ref("hello-oci")
}

/// Starts `c` (a copy) with stdout discarded and stderr kept for its failure message.
fn start(mut c: Command) -> Child {
    c.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[track_caller]
fn assert_finished_well(child: Child, who: &str) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{who}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn skiff_and_skopeo_write_one_store_at_once() {
    // Every image shares one base layer and has a top layer of its own, so in each round
    // both writers add records and layer files at the same moment, and may both want the
    // base: each must hold containers/storage's locks and reload what the other wrote.
    let t = tempdir();
    let base = TarBuilder::new()
        .file("base", 0o644, &pseudo_random(1, 1 << 20))
        .build();
    let image = |who: &str, round: u64| {
        let top = TarBuilder::new()
            .file(
                who,
                0o644,
                &pseudo_random(round * 10 + who.len() as u64, 4 << 20),
            )
            .build();
        image_from_tars(
            &t.path().join(format!("{who}{round}")),
            "x",
            &[base.clone(), top],
        )
    };
    let store = Store::new("overlay");
    let mut built = Vec::new();
    for round in 0..3 {
        let (ours, theirs) = (image("skiff", round), image("skopeo", round));
        let (our_name, their_name) = (format!("skiff:{round}"), format!("skopeo:{round}"));
        let mut c = store.skiff();
        c.args([
            "--insecure-policy",
            "copy",
            "-q",
            &ours.oci_ref(),
            &store.name(&our_name),
        ]);
        let skiff_copy = start(c);
        let mut c = store.skopeo_command();
        c.args([
            "--insecure-policy",
            "copy",
            "-q",
            &theirs.oci_ref(),
            &store.name(&their_name),
        ]);
        let skopeo_copy = start(c);
        assert_finished_well(skiff_copy, "skiff");
        assert_finished_well(skopeo_copy, "skopeo");
        built.push((our_name, ours));
        built.push((their_name, theirs));
    }

    // One record per layer, whoever wrote it; every image complete for every reader.
    let ids: Vec<String> = store
        .layers_json()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (7, 7), "layers: {ids:?}");
    assert_eq!(store.images_json().len(), 6);
    for (name, image) in &built {
        let out = t.path().join(format!("out-{}", name.replace(':', "-")));
        store
            .skiff_copy(&[&store.name(name), &format!("oci:{}:x", p(&out))])
            .assert_success();
        assert_eq!(
            load_oci(&out, Some("x")).computed_diff_ids(),
            image.diff_ids,
            "{name}"
        );
        store
            .skopeo(&["inspect", &store.name(name)])
            .assert_success();
    }
    let saved = store.dir().join("saved.tar");
    store
        .podman(&["save", "-o", &p(&saved), "skopeo:2"])
        .assert_success();
    assert_eq!(docker_archive_layers(&saved).1, built[5].1.diff_ids);
}

#[test]
fn a_copy_held_midway_keeps_what_the_other_tool_wrote_meanwhile() {
    // The long copy has read the store (which layers exist) and is stopped inside its big
    // layer; the other tool adds two images; then the long copy commits. Unless it takes
    // the locks and reloads the records the other wrote, its write drops them.
    let t = tempdir();
    let slow = slow_image(&t.path().join("slow"));
    let small: Vec<BuiltImage> = (0..2u64)
        .map(|i| {
            let tar = TarBuilder::new()
                .file("small", 0o644, &pseudo_random(100 + i, 64 << 10))
                .build();
            image_from_tars(&t.path().join(format!("small{i}")), "x", &[tar])
        })
        .collect();
    for (long, short) in [("skopeo", "skiff"), ("skiff", "skopeo")] {
        let store = Store::new("overlay");
        let gate = Gate::default();
        let big = |_, size| size > 1 << 20;
        let registry =
            HostileRegistry::serve_layout(&slow.layout, &slow.reference, "slow", big, &gate);
        // Should the short copies wait for the long one (a lock held across the network),
        // the gate opens after two minutes and the interleaving check below fails.
        let watchdog = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(120));
            watchdog.open();
        });
        let mut c = if long == "skiff" {
            store.skiff()
        } else {
            store.skopeo_command()
        };
        c.args([
            "--insecure-policy",
            "copy",
            "-q",
            "--src-tls-verify=false",
            &registry.docker_ref(&format!("slow:{}", slow.reference)),
            &store.name("slow:1"),
        ]);
        let mut long_copy = start(c);
        assert!(
            gate.wait_reached(Duration::from_secs(60)),
            "{long} never fetched the big layer"
        );
        let mut names = vec![("slow:1".to_string(), &slow)];
        for (i, image) in small.iter().enumerate() {
            let name = format!("{short}:{i}");
            let dest = store.name(&name);
            let out = if short == "skiff" {
                store.skiff_copy(&[&image.oci_ref(), &dest])
            } else {
                store.skopeo_copy(&[&image.oci_ref(), &dest])
            };
            out.assert_success();
            names.push((name, image));
        }
        assert!(
            long_copy.try_wait().unwrap().is_none(),
            "{long} finished before {short} wrote: nothing was interleaved"
        );
        gate.open();
        assert_finished_well(long_copy, long);

        let ids: Vec<String> = store
            .layers_json()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_string())
            .collect();
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!((ids.len(), unique.len()), (4, 4), "{long} held: {ids:?}");
        assert_eq!(store.images_json().len(), 3, "{long} held");
        for (name, image) in names {
            let out = t
                .path()
                .join(format!("out-{long}-{}", name.replace(':', "-")));
            store
                .skiff_copy(&[&store.name(&name), &format!("oci:{}:x", p(&out))])
                .assert_success();
            assert_eq!(
                load_oci(&out, Some("x")).computed_diff_ids(),
                image.diff_ids,
                "{long} held: {name}"
            );
            store
                .skopeo(&["inspect", &store.name(&name)])
                .assert_success();
        }
    }
}

/// An image whose second layer takes a while to stream (incompressible bytes).
fn slow_image(dir: &Path) -> BuiltImage {
    let big = TarBuilder::new()
        .file("big.bin", 0o644, &pseudo_random(7, 32 << 20))
        .build();
    image_from_tars(
        dir,
        "slow",
        &[TarBuilder::new().file("small", 0o644, b"s").build(), big],
    )
}

#[test]
fn a_copy_killed_midway_leaves_a_store_podman_and_a_rerun_use() {
    let t = tempdir();
    let image = slow_image(&t.path().join("src"));
    let store = Store::new("overlay");
    let mut c = store.skiff();
    c.args([
        "--insecure-policy",
        "copy",
        &image.oci_ref(),
        &store.name("slow:1"),
    ]);
    let (mut child, _, reader) = spawn_until_stderr_line(c, "Copying blob");
    // Kill once the first layer is in and the second is being written.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let staged = |s: &Store| {
        walkdir(&s.graph_root().join("overlay"))
            .iter()
            .any(|p| p.ends_with("big.bin") && fs::metadata(p).is_ok_and(|m| m.len() > 0))
    };
    let complete = |s: &Store| {
        s.layers_json()
            .iter()
            .filter(|l| l.get("flags").is_none())
            .count()
    };
    while !(complete(&store) == 1 && staged(&store)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the copy never got midway"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the copy ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(reader);

    // podman opens the store: one complete layer, no image, nothing half-written.
    store.podman(&["images"]).assert_success();
    assert_eq!(store.layers_json().len(), 1);
    assert!(store.images_json().is_empty());
    assert!(
        !store.tmp_leftovers().is_empty(),
        "the killed copy's staging is there"
    );

    // Run again: the layer that is in is reused, the staging of the dead copy removed
    // (once it is older than the sweep's threshold: its lock is free, its owner dead).
    age_skiff_leftovers(store.dir());
    store
        .skiff_copy(&[&image.oci_ref(), &store.name("slow:1")])
        .assert_success()
        .assert_stderr_contains("already exists");
    assert_eq!(store.tmp_leftovers(), Vec::<String>::new());
    let saved = store.dir().join("saved.tar");
    store
        .podman(&["save", "-o", &p(&saved), "slow:1"])
        .assert_success();
    assert_eq!(docker_archive_layers(&saved).1, image.diff_ids);
}

#[test]
fn a_layer_left_incomplete_is_removed_on_the_next_open() {
    for driver in DRIVERS {
        let store = Store::new(driver);
        store
            .skiff_copy(&[&hello(), &store.name("hello:1")])
            .assert_success();
        // What a writer killed between marking a layer and finishing it leaves behind.
        let id = "1111111111111111111111111111111111111111111111111111111111111111";
        let mut layers = store.layers_json();
        layers.push(serde_json::json!({"id": id, "flags": {"incomplete": true}}));
        let path = store
            .graph_root()
            .join(format!("{driver}-layers/layers.json"));
        fs::write(&path, serde_json::to_vec(&layers).unwrap()).unwrap();
        fs::create_dir_all(store.layer_dir(id).join("half")).unwrap();
        let mut c = store.skiff();
        c.args(["inspect", &store.name("hello:1")]);
        run(&mut c).assert_success();
        assert_eq!(
            store.layers_json().len(),
            3,
            "{driver}: the incomplete record went"
        );
        assert!(!store.layer_dir(id).exists(), "{driver}: and its files");
    }
}

#[test]
fn two_copies_into_one_store_at_once() {
    let t = tempdir();
    let store = Store::new("overlay");
    let other = build_oci_image(
        &t.path().join("other"),
        "x",
        &[layer(200_000, Comp::Gzip)],
        3,
    );
    let spawn = |src: &str, dest: &str| {
        let mut c = store.skiff();
        c.args(["--insecure-policy", "copy", "-q", src, &store.name(dest)]);
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [
        spawn(&hello(), "a:1"),
        spawn(&other.oci_ref(), "b:1"),
        spawn(&hello(), "c:1"),
    ];
    // podman meanwhile: it waits for the locks, never errs, never sees half an image.
    for _ in 0..3 {
        let images = store.podman(&["images", "--format", "{{.ID}} {{.Digest}}"]);
        images.assert_success();
        for line in images.stdout.lines() {
            assert!(
                line.contains(" sha256:"),
                "an image without a manifest: {line}"
            );
        }
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let images = store.podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    images.assert_success();
    for name in ["localhost/a:1", "localhost/b:1", "localhost/c:1"] {
        assert!(
            images
                .stdout
                .contains(&name.replace("localhost/", "docker.io/library/")),
            "{images}"
        );
    }
    let ids: Vec<String> = store
        .layers_json()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(
        (ids.len(), unique.len()),
        (4, 4),
        "one record per layer: {ids:?}"
    );
}
