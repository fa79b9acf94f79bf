//! Local stores shared by many copies at once: real concurrent skiff processes writing one
//! `oci:` layout, starting from a missing, an empty and an existing layout. Every tag a
//! successful copy wrote must survive, and the layout must stay one that skopeo reads.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use support::*;

/// Small images with different layers, so that concurrent copies add different blobs.
struct Sources {
    _t: tempfile::TempDir,
    refs: Vec<String>,
}

fn sources(n: usize) -> Sources {
    let t = tempdir();
    let refs = (0..n)
        .map(|i| {
            let img = build_oci_image(
                &t.path().join(format!("src{i}")),
                "latest",
                &[layer(2_000, Comp::Gzip), layer(1_000 + i, Comp::Gzip)],
                100 + i as u64,
            );
            img.oci_ref()
        })
        .collect();
    Sources { _t: t, refs }
}

fn spawn_copy(src: &str, dest: &str) -> Child {
    let mut c = skiff();
    c.args(["--insecure-policy", "copy", "-q", src, dest])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c.spawn().expect("spawn skiff")
}

/// Waits for each child; panics with the stderr of any that failed.
fn wait_all(children: Vec<(String, Child)>) {
    for (tag, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "copy to tag {tag} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The tags index.json names.
fn tags(layout: &Path) -> Vec<String> {
    let index = read_json(&layout.join("index.json"));
    let mut tags: Vec<String> = index["manifests"]
        .as_array()
        .expect("index.json has a manifests array")
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect();
    tags.sort();
    tags
}

#[derive(Clone, Copy, Debug)]
enum Start {
    Missing,
    Empty,
    Existing,
}

const WRITERS: usize = 8;
const ROUNDS: usize = 3;

/// `WRITERS` copies at once into one layout, `ROUNDS` times over, each round from `start`.
fn concurrent_copies_keep_every_tag(start: Start) {
    let src = sources(3);
    for round in 0..ROUNDS {
        let t = tempdir();
        let layout = t.path().join("layout");
        let mut expected = Vec::new();
        match start {
            Start::Missing => {}
            Start::Empty => fs::create_dir(&layout).unwrap(),
            Start::Existing => {
                skiff_copy([
                    "-q",
                    &example_ref("hello-oci"),
                    &format!("oci:{}:base", p(&layout)),
                ])
                .assert_success();
                expected.push("base".to_string());
            }
        }
        let children: Vec<(String, Child)> = (0..WRITERS)
            .map(|i| {
                let tag = format!("t{i}");
                let dest = format!("oci:{}:{tag}", p(&layout));
                (
                    tag.clone(),
                    spawn_copy(&src.refs[i % src.refs.len()], &dest),
                )
            })
            .collect();
        expected.extend(children.iter().map(|(t, _)| t.clone()));
        wait_all(children);
        expected.sort();
        let ctx = format!("{start:?} layout, round {round}");
        assert_eq!(tags(&layout), expected, "{ctx}: tags lost");
        for tag in &expected {
            load_oci(&layout, Some(tag)).assert_consistent(&format!("{ctx}, tag {tag}"));
        }
        assert_eq!(
            skiff_temp_leftovers(&layout),
            Vec::<String>::new(),
            "{ctx}: temporaries left in the layout"
        );
        assert_eq!(
            list_dir(t.path()),
            vec!["layout"],
            "{ctx}: leftovers beside it"
        );
        if round == ROUNDS - 1 {
            for tag in &expected {
                let image = format!("oci:{}:{tag}", p(&layout));
                assert!(
                    !skopeo_inspect_digest(&image).is_empty(),
                    "{ctx}: skopeo reads {tag}"
                );
            }
        }
    }
}

#[test]
fn concurrent_copies_into_a_missing_layout_keep_every_tag() {
    concurrent_copies_keep_every_tag(Start::Missing);
}

#[test]
fn concurrent_copies_into_an_empty_directory_keep_every_tag() {
    concurrent_copies_keep_every_tag(Start::Empty);
}

#[test]
fn concurrent_copies_into_an_existing_layout_keep_every_tag() {
    concurrent_copies_keep_every_tag(Start::Existing);
}
