//! Destinations that cannot be swapped out: a mount point (a volume given to a CI
//! container), and re-copies into an existing `dir:` image with other compression flags.
//! Needs root (mount -t tmpfs), like the daemon tests.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

/// A tmpfs mounted on a fresh directory, unmounted on drop.
struct Mount {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Mount {
    fn new() -> Mount {
        let parent = tempdir();
        let path = parent.path().join("volume");
        std::fs::create_dir(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(&path)
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mount -t tmpfs failed: these tests need root"
        );
        Mount {
            path,
            _parent: parent,
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn names(dir: &Path) -> Vec<String> {
    list_dir(dir)
}

#[test]
fn a_mount_point_takes_dir_and_oci_images() {
    let t = tempdir();
    let vol = Mount::new();
    skiff_copy([example_ref("hello-oci"), format!("dir:{}", p(&vol.path))]).assert_success();
    let theirs = t.path().join("theirs");
    skopeo_copy([example_ref("hello-oci"), format!("dir:{}", p(&theirs))]).assert_success();
    assert_same_tree(&vol.path, &theirs, "dir: on a mount point");
    // Replacing the image there works too, and leaves no hidden staging directory.
    skiff_copy([
        "--dest-decompress".to_string(),
        example_ref("hello-oci"),
        format!("dir:{}", p(&vol.path)),
    ])
    .assert_success();
    let decompressed = t.path().join("decompressed");
    skopeo_copy([
        "--dest-decompress".to_string(),
        example_ref("hello-oci"),
        format!("dir:{}", p(&decompressed)),
    ])
    .assert_success();
    assert_same_tree(&vol.path, &decompressed, "dir: replaced on a mount point");
    assert!(
        names(&vol.path).iter().all(|n| !n.contains("skiff")),
        "{:?}",
        names(&vol.path)
    );

    let layout = Mount::new();
    skiff_copy([
        example_ref("hello-oci"),
        format!("oci:{}:v1", p(&layout.path)),
    ])
    .assert_success();
    let back = t.path().join("back");
    skopeo_copy([
        format!("oci:{}:v1", p(&layout.path)),
        format!("dir:{}", p(&back)),
    ])
    .assert_success();
    assert_eq!(sha256_file(&back.join("manifest.json")), HELLO_MANIFEST);
}

#[test]
fn recopying_with_other_compression_rewrites_the_layers_as_skopeo_does() {
    // skopeo empties a dir: destination first; skiff reuses the old image's blobs only when
    // layers keep their compression, so the result is the same either way.
    let t = tempdir();
    let ours = t.path().join("ours");
    let theirs = t.path().join("theirs");
    for flags in [vec![], vec!["--dest-decompress"], vec!["--dest-compress"]] {
        let mut a: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        a.extend([example_ref("hello-oci"), format!("dir:{}", p(&ours))]);
        skiff_copy(a).assert_success();
        let mut b: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        b.extend([example_ref("hello-oci"), format!("dir:{}", p(&theirs))]);
        skopeo_copy(b).assert_success();
        assert_same_tree(&ours, &theirs, &format!("re-copy with {flags:?}"));
    }
}
