//! Local stores shared by many copies at once, and copies killed at any point.
//!
//! Real concurrent skiff processes write one `oci:` layout, starting from a missing, an
//! empty and an existing layout: every tag a successful copy wrote must survive, and the
//! layout must stay one that skopeo reads. Copies SIGKILLed at random points (an `--all`
//! copy into a shared layout, an image added to a docker archive, an image copied into a
//! containers-storage store) must leave the previous content intact, and a copy run
//! afterwards must succeed.

mod support;

#[path = "support/store.rs"]
mod store;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use store::Store;
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

// ------------------------------------------------------------------------------------------
// SIGKILL at random points
// ------------------------------------------------------------------------------------------

/// xorshift64*: kill points that differ from run to run. The seed is printed; set
/// SKIFF_TEST_SEED to replay a failure.
struct Rng(u64);

impl Rng {
    fn new(label: &str) -> Rng {
        let seed = std::env::var("SKIFF_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{label}: SKIFF_TEST_SEED={seed}");
        Rng(seed)
    }

    /// Uniform in [0, max).
    fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        max.mul_f64((r >> 11) as f64 / (1u64 << 53) as f64)
    }
}

const KILLS: usize = 20;

/// A fresh directory under `parent`, left for `parent`'s removal.
fn tempdir_in(parent: &Path) -> std::path::PathBuf {
    tempfile::Builder::new().tempdir_in(parent).unwrap().keep()
}

/// The span kill points are drawn from: a little longer than `copy` takes uninterrupted
/// into a fresh `prepare()`d destination (the quickest of three runs; the first is slowed
/// by cold caches), so a few kills land after it finished, the rest all along it.
fn kill_span(prepare: impl Fn() -> Vec<String>) -> Duration {
    let quickest = (0..3)
        .map(|_| {
            let copy = prepare();
            let started = Instant::now();
            skiff_copy(&copy).assert_success();
            started.elapsed()
        })
        .min()
        .unwrap();
    quickest.mul_f64(1.15)
}

/// Starts `skiff copy ARGS`, SIGKILLs it after `delay` unless it finished first. Returns
/// whether it was killed.
fn run_and_kill(copy: &[String], delay: Duration) -> bool {
    run_and_kill_with(skiff(), copy, delay)
}

/// `run_and_kill` with `c`, a skiff command with its environment (a store's, say).
fn run_and_kill_with(mut c: std::process::Command, copy: &[String], delay: Duration) -> bool {
    c.args(["--insecure-policy", "copy"])
        .args(copy)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().expect("spawn skiff");
    std::thread::sleep(delay);
    // Child::kill sends SIGKILL; a copy that ended just before it is a zombie the signal
    // cannot touch, so what killed it is read from how it ended.
    let _ = child.kill();
    let status = child.wait().unwrap();
    let killed = status.signal() == Some(libc::SIGKILL);
    if !killed {
        assert!(
            status.success(),
            "{copy:?} failed without being killed: {status}"
        );
    }
    killed
}

/// Every blob a tag's image uses (through lists too) is in the layout with the right bytes;
/// returns the digest the tag names.
fn check_oci_tag(layout: &Path, tag: &str) -> String {
    let entry = oci_index_entry(layout, Some(tag));
    let digest = entry["digest"].as_str().unwrap().to_string();
    let mut pending = vec![digest.clone()];
    while let Some(d) = pending.pop() {
        let blob = oci_blob(layout, &d);
        assert_eq!(sha256_file(&blob), d, "tag {tag}: manifest {d}");
        let m = read_json(&blob);
        if let Some(list) = m["manifests"].as_array() {
            pending.extend(
                list.iter()
                    .map(|x| x["digest"].as_str().unwrap().to_string()),
            );
            continue;
        }
        let config = m["config"]["digest"].as_str().unwrap();
        assert_eq!(
            sha256_file(&oci_blob(layout, config)),
            config,
            "tag {tag}: config"
        );
        for l in m["layers"].as_array().unwrap() {
            let l = l["digest"].as_str().unwrap();
            assert_eq!(sha256_file(&oci_blob(layout, l)), l, "tag {tag}: layer {l}");
        }
    }
    digest
}

/// A killed copy into a layout leaves every file that was there as it was, index.json
/// naming the old tags as before and the new tag either not at all or as a complete image,
/// and new files only that are complete blobs or skiff's hidden temporaries.
fn assert_layout_survived(
    layout: &Path,
    before: &Snapshot,
    old_tags: &[(String, String)],
    new_tag: &str,
    ctx: &str,
) {
    let now = snapshot(layout);
    for (k, v) in &before.entries {
        if k != "index.json" {
            assert_eq!(
                now.entries.get(k),
                Some(v),
                "{ctx}: {k} changed or vanished"
            );
        }
    }
    for (k, v) in &now.entries {
        if before.entries.contains_key(k)
            || k.split('/')
                .any(|c| c.starts_with('.') && c.contains("skiff"))
        {
            continue;
        }
        let name = k.rsplit('/').next().unwrap();
        match v {
            Entry::File { sha256, .. } if k.starts_with("blobs/sha256/") => {
                assert_eq!(
                    sha256,
                    &format!("sha256:{name}"),
                    "{ctx}: incomplete blob {k}"
                );
            }
            Entry::Dir => {}
            _ => panic!("{ctx}: unexpected new entry {k} ({v:?})"),
        }
    }
    for (tag, digest) in old_tags {
        assert_eq!(&check_oci_tag(layout, tag), digest, "{ctx}: tag {tag}");
    }
    if tags(layout).iter().any(|t| t == new_tag) {
        check_oci_tag(layout, new_tag);
    }
}

/// A layout whose tag `latest` is an index of two images with two ~300 KB layers each
/// (big enough that kills land while blobs are written); returns the index's digest.
fn index_of_two(layout: &Path) -> String {
    let kb300 = 300_000;
    let a = build_oci_image(
        layout,
        "a",
        &[layer(kb300, Comp::Gzip), layer(kb300, Comp::Gzip)],
        21,
    );
    let b = build_oci_image(
        layout,
        "b",
        &[layer(kb300, Comp::Gzip), layer(kb300, Comp::Gzip)],
        22,
    );
    let entry = |img: &BuiltImage, arch: &str| {
        let size = fs::metadata(oci_blob(layout, &img.manifest_digest))
            .unwrap()
            .len();
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": img.manifest_digest,
            "size": size,
            "platform": {"architecture": arch, "os": "linux"},
        })
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&a, "amd64"), entry(&b, "arm64")],
    });
    let raw = serde_json::to_vec(&index).unwrap();
    let digest = sha256_digest(&raw);
    fs::write(oci_blob(layout, &digest), &raw).unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": digest,
        "size": raw.len(),
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }]});
    fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    digest
}

/// `--all` copies of an index into a layout that holds two other images, each SIGKILLed at
/// a random point: the layout survives every kill, and a copy run afterwards completes.
/// Each round starts from the same layout, so kills land all along the copy.
#[test]
fn sigkill_at_random_points_of_an_all_copy_into_a_shared_layout() {
    let t = tempdir();
    let pristine = t.path().join("pristine");
    let other = build_oci_image(
        &t.path().join("other"),
        "latest",
        &[layer(30_000, Comp::Gzip)],
        9,
    );
    skiff_copy([
        "-q",
        &example_ref("hello-oci"),
        &format!("oci:{}:hello", p(&pristine)),
    ])
    .assert_success();
    skiff_copy([
        "-q",
        &other.oci_ref(),
        &format!("oci:{}:other", p(&pristine)),
    ])
    .assert_success();
    let old_tags: Vec<(String, String)> = ["hello", "other"]
        .iter()
        .map(|tag| (tag.to_string(), check_oci_tag(&pristine, tag)))
        .collect();
    let before = snapshot(&pristine);
    let index = index_of_two(&t.path().join("index"));
    let src = format!("oci:{}:latest", p(&t.path().join("index")));
    let copy = |layout: &Path| -> Vec<String> {
        [
            "--all".to_string(),
            "-q".into(),
            src.clone(),
            format!("oci:{}:multi", p(layout)),
        ]
        .to_vec()
    };
    let span = kill_span(|| {
        let calibration = tempdir_in(t.path());
        copy_tree(&pristine, &calibration);
        copy(&calibration)
    });
    let mut rng = Rng::new("oci --all");
    let mut killed = 0;
    for round in 0..KILLS {
        let layout = t.path().join(format!("round{round}"));
        copy_tree(&pristine, &layout);
        let delay = rng.below(span);
        killed += run_and_kill(&copy(&layout), delay) as usize;
        let ctx = format!("round {round}, SIGKILL after {delay:?} of {span:?}");
        assert_layout_survived(&layout, &before, &old_tags, "multi", &ctx);
        skiff_copy(copy(&layout)).assert_success();
        assert_layout_survived(
            &layout,
            &before,
            &old_tags,
            "multi",
            &format!("{ctx}, re-run"),
        );
        assert_eq!(check_oci_tag(&layout, "multi"), index, "{ctx}, re-run");
        if round + 1 < KILLS {
            fs::remove_dir_all(&layout).unwrap();
        } else {
            for tag in ["hello", "other", "multi"] {
                skopeo_inspect_digest(&format!("oci:{}:{tag}", p(&layout)));
            }
        }
    }
    eprintln!("{killed} of {KILLS} copies were killed before they finished");
    assert!(killed >= KILLS / 4, "too few kills landed: {killed}");
}

/// The images a docker archive holds, checked: tag -> config digest. Every layer file must
/// hash to the diff ID its config lists.
fn check_docker_archive(path: &Path, ctx: &str) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut ar = tar::Archive::new(fs::File::open(path).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            files.insert(name, data);
        }
    }
    let file = |name: &str| {
        files
            .get(name)
            .unwrap_or_else(|| panic!("{ctx}: no {name} in the archive"))
    };
    let items: serde_json::Value = serde_json::from_slice(file("manifest.json")).unwrap();
    let mut tags = BTreeMap::new();
    for item in items.as_array().unwrap() {
        let config = file(item["Config"].as_str().unwrap());
        let config_json: serde_json::Value = serde_json::from_slice(config).unwrap();
        let diff_ids = config_json["rootfs"]["diff_ids"].as_array().unwrap();
        let layers = item["Layers"].as_array().unwrap();
        assert_eq!(diff_ids.len(), layers.len());
        for (l, d) in layers.iter().zip(diff_ids) {
            let data = file(l.as_str().unwrap());
            assert_eq!(
                &sha256_digest(data),
                d.as_str().unwrap(),
                "{ctx}: layer {l}"
            );
        }
        for tag in item["RepoTags"].as_array().unwrap() {
            tags.insert(tag.as_str().unwrap().to_string(), sha256_digest(config));
        }
    }
    tags
}

/// Adding an image to a docker archive that holds two, SIGKILLed at a random point each
/// time: the archive is byte for byte the old one or the complete new one, nothing but
/// skiff's hidden temporaries appears beside it, and a copy run afterwards completes.
#[test]
fn sigkill_at_random_points_while_adding_to_a_docker_archive() {
    let t = tempdir();
    let pristine = t.path().join("pristine.tar");
    let other = build_oci_image(
        &t.path().join("other"),
        "latest",
        &[layer(30_000, Comp::None)],
        9,
    );
    let da = |a: &Path, tag: &str| format!("docker-archive:{}:{tag}", p(a));
    skiff_copy([
        "-q",
        &example_ref("hello-oci"),
        &da(&pristine, "old/hello:1"),
    ])
    .assert_success();
    skiff_copy(["-q", &other.oci_ref(), &da(&pristine, "old/other:1")]).assert_success();
    let old = check_docker_archive(&pristine, "before");
    assert_eq!(old.len(), 2);
    let before = sha256_file(&pristine);
    let new = build_oci_image(
        &t.path().join("new"),
        "latest",
        &[layer(200_000, Comp::Gzip), layer(100_000, Comp::Gzip)],
        10,
    );
    let copy = |a: &Path| vec!["-q".to_string(), new.oci_ref(), da(a, "new/image:1")];
    let span = kill_span(|| {
        let calibration = tempdir_in(t.path()).join("a.tar");
        fs::copy(&pristine, &calibration).unwrap();
        copy(&calibration)
    });
    let mut rng = Rng::new("docker-archive append");
    let mut killed = 0;
    for round in 0..KILLS {
        let dir = t.path().join(format!("round{round}"));
        fs::create_dir(&dir).unwrap();
        let a = dir.join("a.tar");
        fs::copy(&pristine, &a).unwrap();
        let delay = rng.below(span);
        killed += run_and_kill(&copy(&a), delay) as usize;
        let ctx = format!("round {round}, SIGKILL after {delay:?} of {span:?}");
        let now = check_docker_archive(&a, &ctx);
        if sha256_file(&a) != before {
            for (tag, config) in &old {
                assert_eq!(now.get(tag), Some(config), "{ctx}: old tag {tag}");
            }
            assert!(now.contains_key("docker.io/new/image:1"), "{ctx}: {now:?}");
        }
        for name in list_dir(&dir) {
            assert!(
                name == "a.tar" || name.starts_with(".skiff-"),
                "{ctx}: {name} beside the archive"
            );
        }
        skiff_copy(copy(&a)).assert_success();
        let after = check_docker_archive(&a, &ctx);
        for (tag, config) in &old {
            assert_eq!(after.get(tag), Some(config), "{ctx}, re-run: old tag {tag}");
        }
        assert_eq!(after.len(), 3, "{ctx}, re-run: {after:?}");
        if round + 1 < KILLS {
            fs::remove_dir_all(&dir).unwrap();
        } else {
            skopeo_copy([
                da(&a, "new/image:1"),
                format!("dir:{}", p(&t.path().join("out"))),
            ])
            .assert_success();
        }
    }
    eprintln!("{killed} of {KILLS} copies were killed before they finished");
    assert!(killed >= KILLS / 4, "too few kills landed: {killed}");
}

/// An image stored in a containers-storage store: its record and its layers' records and
/// files, to compare before and after a kill.
#[derive(Debug, PartialEq)]
struct Stored {
    image: serde_json::Value,
    layers: Vec<(serde_json::Value, BTreeMap<String, String>)>,
}

/// A layer's files: path -> content hash, link target, or type and device for the
/// character devices overlay uses as whiteouts (which cannot be opened and read).
fn layer_files(root: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let m = fs::symlink_metadata(&path).unwrap();
            let t = m.file_type();
            let what = if t.is_dir() {
                stack.push(path);
                format!("dir {:o}", m.mode())
            } else if t.is_file() {
                format!("{} {:o}", sha256_file(&path), m.mode())
            } else if t.is_symlink() {
                format!("-> {}", fs::read_link(&path).unwrap().display())
            } else {
                format!("special {:o} {} {}", m.mode(), t.is_char_device(), m.rdev())
            };
            out.insert(rel, what);
        }
    }
    out
}

/// The images the store holds under `names`, by first name, with what belongs to them.
fn stored_images(store: &Store, names: &[&str]) -> BTreeMap<String, Stored> {
    let layers = store.layers_json();
    let by_id = |id: &str| {
        layers
            .iter()
            .find(|l| l["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("layer {id} has no record"))
    };
    let mut out = BTreeMap::new();
    for image in store.images_json() {
        let name = image["names"][0].as_str().unwrap().to_string();
        if !names.contains(&name.as_str()) {
            continue;
        }
        let mut chain = Vec::new();
        let mut next = image["layer"].as_str().map(str::to_string);
        while let Some(id) = next {
            let record = by_id(&id);
            assert!(
                record.get("flags").is_none(),
                "layer {id} of a stored image is incomplete"
            );
            next = record["parent"].as_str().map(str::to_string);
            chain.push((record, layer_files(&store.layer_dir(&id))));
        }
        out.insert(
            name,
            Stored {
                image,
                layers: chain,
            },
        );
    }
    out
}

/// Images copied into a containers-storage store that holds others, each copy SIGKILLed
/// at a random point: every image stored before (its record, its layers' records and
/// files) is as it was, podman reads the store, and the copy run again succeeds. Each
/// round copies a new image, so every kill can land while layers are written.
#[test]
fn sigkill_at_random_points_while_copying_into_containers_storage() {
    let t = tempdir();
    let store = Store::new("overlay");
    let other = build_oci_image(
        &t.path().join("other"),
        "latest",
        &[layer(30_000, Comp::Gzip)],
        9,
    );
    store
        .skiff_copy(&["-q", &example_ref("hello-oci"), &store.name("old/hello:1")])
        .assert_success();
    store
        .skiff_copy(&["-q", &other.oci_ref(), &store.name("old/other:1")])
        .assert_success();
    let image = |n: usize| {
        build_oci_image(
            &t.path().join(format!("src{n}")),
            "latest",
            &[layer(150_000, Comp::Gzip), layer(50_000, Comp::Gzip)],
            1000 + n as u64,
        )
    };
    let copy = |img: &BuiltImage, n: usize| {
        vec![
            "-q".to_string(),
            img.oci_ref(),
            store.name(&format!("new/image{n}:1")),
        ]
    };
    let span = (0..3)
        .map(|n| {
            let img = image(100 + n);
            let started = Instant::now();
            store
                .skiff_copy(
                    &copy(&img, 100 + n)
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                )
                .assert_success();
            started.elapsed()
        })
        .min()
        .unwrap()
        .mul_f64(1.15);
    let mut rng = Rng::new("containers-storage");
    let mut killed = 0;
    // The images there from the start, and the one the previous round stored.
    let mut watched = vec![
        "docker.io/old/hello:1".to_string(),
        "docker.io/old/other:1".to_string(),
    ];
    for round in 0..KILLS {
        let img = image(round);
        let names: Vec<&str> = watched.iter().map(String::as_str).collect();
        let before = stored_images(&store, &names);
        assert_eq!(before.len(), names.len());
        let delay = rng.below(span);
        let args = copy(&img, round);
        killed += run_and_kill_with(store.skiff(), &args, delay) as usize;
        let ctx = format!("round {round}, SIGKILL after {delay:?} of {span:?}");
        let now = stored_images(&store, &names);
        for (name, stored) in &before {
            assert_eq!(now.get(name), Some(stored), "{ctx}: {name} changed");
        }
        store
            .skiff_copy(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .assert_success();
        let name = format!("docker.io/new/image{round}:1");
        assert!(
            stored_images(&store, &[&name]).contains_key(&name),
            "{ctx}: {name} after the re-run"
        );
        watched.truncate(2);
        watched.push(name);
    }
    eprintln!("{killed} of {KILLS} copies were killed before they finished");
    assert!(killed >= KILLS / 4, "too few kills landed: {killed}");
    let listed = store.podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    listed.assert_success();
    for name in [
        "old/hello:1",
        "old/other:1",
        "new/image0:1",
        "new/image19:1",
    ] {
        assert!(
            listed.stdout.contains(name),
            "podman does not list {name}: {listed}"
        );
    }
    let out = t.path().join("out");
    store
        .skiff_copy(&[&store.name("new/image19:1"), &format!("dir:{}", p(&out))])
        .assert_success();
    assert_eq!(load_dir(&out).computed_diff_ids(), image(19).diff_ids);
}
