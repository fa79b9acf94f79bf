//! A destination of each local kind (`dir:`, `oci:`, `oci-archive:`), absent or holding
//! another image, and the check that a failed or killed copy left it as it was. Shared by
//! tests/safety.rs and tests/safety_crash.rs.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use super::support::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Oci,
    OciArchive,
}

pub const KINDS: [Kind; 3] = [Kind::Dir, Kind::Oci, Kind::OciArchive];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Absent,
    Existing,
}

/// A destination in its own parent directory, with what it looked like before the copy.
pub struct Case {
    _tmp: tempfile::TempDir,
    pub kind: Kind,
    pub state: State,
    pub parent: PathBuf,
    pub dest: PathBuf,
    /// Private $TMPDIR for skiff (oci-archive unpacks there); must be empty after a failure.
    pub tmpdir: PathBuf,
    pub before: Snapshot,
    pub parent_before: Vec<String>,
}

impl Case {
    pub fn new(kind: Kind, state: State) -> Case {
        let tmp = tempdir();
        let parent = tmp.path().join("parent");
        let tmpdir = tmp.path().join("tmpdir");
        fs::create_dir_all(&parent).unwrap();
        fs::create_dir_all(&tmpdir).unwrap();
        let dest = match kind {
            Kind::OciArchive => parent.join("dest.tar"),
            _ => parent.join("dest"),
        };
        if state == State::Existing {
            write_other_image(kind, &dest, tmp.path());
        }
        let before = snapshot(&dest);
        assert_eq!(before.absent, state == State::Absent);
        let parent_before = list_dir(&parent);
        Case {
            _tmp: tmp,
            kind,
            state,
            parent,
            dest,
            tmpdir,
            before,
            parent_before,
        }
    }

    pub fn dest_name(&self) -> String {
        match self.kind {
            Kind::Dir => format!("dir:{}", p(&self.dest)),
            Kind::Oci => format!("oci:{}:latest", p(&self.dest)),
            Kind::OciArchive => format!("oci-archive:{}:latest", p(&self.dest)),
        }
    }

    pub fn label(&self) -> String {
        format!("{:?} destination, {:?}", self.kind, self.state)
    }

    /// The destination and its parent are exactly as before; skiff's $TMPDIR is empty.
    #[track_caller]
    pub fn assert_untouched(&self, context: &str) {
        let ctx = format!("{context} [{}]", self.label());
        self.before.assert_unchanged(&ctx);
        assert_eq!(
            list_dir(&self.parent),
            self.parent_before,
            "{ctx}: the destination's parent directory gained or lost entries (temporary leftovers?)"
        );
        assert_eq!(
            list_dir(&self.tmpdir),
            Vec::<String>::new(),
            "{ctx}: leftovers in $TMPDIR"
        );
    }
}

/// A small, different image (2 gzip layers) in the form `kind` needs, at `dest`.
pub fn write_other_image(kind: Kind, dest: &Path, scratch: &Path) {
    let layout = scratch.join("other-layout");
    let img = build_oci_image(
        &layout,
        "latest",
        &[layer(3000, Comp::Gzip), layer(2000, Comp::Gzip)],
        42,
    );
    match kind {
        Kind::Oci => copy_tree(&layout, dest),
        Kind::Dir => {
            fs::create_dir_all(dest).unwrap();
            let l = load_oci(&layout, Some("latest"));
            fs::write(dest.join("manifest.json"), &l.manifest_bytes).unwrap();
            fs::copy(
                oci_blob(&layout, &img.config_digest),
                dir_blob(dest, &img.config_digest),
            )
            .unwrap();
            for d in &img.layer_digests {
                fs::copy(oci_blob(&layout, d), dir_blob(dest, d)).unwrap();
            }
            fs::write(dest.join("version"), "Directory Transport Version: 1.1\n").unwrap();
        }
        Kind::OciArchive => {
            let f = fs::File::create(dest).unwrap();
            let mut b = tar::Builder::new(f);
            b.append_dir_all(".", &layout).unwrap();
            b.finish().unwrap();
        }
    }
}
