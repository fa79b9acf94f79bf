//! What tests/interop.rs and tests/interop_multi.rs share: the local transports they
//! compare, skiff's output against skopeo's, and skiff copies that must load back.
#![allow(dead_code)]

use std::path::Path;

use super::support::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum T {
    Dir,
    Oci,
    OciArchive,
}

pub const ALL: [T; 3] = [T::Dir, T::Oci, T::OciArchive];

impl T {
    pub fn name(self) -> &'static str {
        match self {
            T::Dir => "dir",
            T::Oci => "oci",
            T::OciArchive => "oci-archive",
        }
    }
    /// Where an image of this transport lives below `base` (file for archives).
    pub fn path(self, base: &Path, stem: &str) -> std::path::PathBuf {
        match self {
            T::OciArchive => base.join(format!("{stem}.tar")),
            _ => base.join(stem),
        }
    }
    /// Image name for `path`, with `:latest` for the OCI transports.
    pub fn name_for(self, path: &Path) -> String {
        match self {
            T::Dir => format!("dir:{}", p(path)),
            T::Oci => format!("oci:{}:latest", p(path)),
            T::OciArchive => format!("oci-archive:{}:latest", p(path)),
        }
    }
}

/// skiff's result and skopeo's result of the same copy must hold the same bytes:
/// trees for dir:/oci:, extracted contents for oci-archive: (not the tar bytes).
#[track_caller]
pub fn assert_same_output(t: T, ours: &Path, theirs: &Path, context: &str) {
    match t {
        T::OciArchive => {
            let a = tar_contents(ours);
            let b = tar_contents(theirs);
            assert_eq!(
                a, b,
                "{context}: oci-archive contents differ (skiff left, skopeo right)"
            );
        }
        _ => assert_same_tree(ours, theirs, context),
    }
}

pub fn hello() -> String {
    example_ref("hello-oci")
}

pub fn multi() -> String {
    example_ref("multiarch-oci")
}

/// `skiff --insecure-policy copy ARGS... oci:DEST:latest` (asserts success); the result is
/// loaded and must be consistent (`context` names the copy in a failure).
#[track_caller]
pub fn skiff_copy_to_oci(args: &[&str], dest: &Path, context: &str) -> Loaded {
    let name = format!("oci:{}:latest", p(dest));
    skiff_copy(args.iter().copied().chain([name.as_str()])).assert_success();
    let l = load_oci(dest, Some("latest"));
    l.assert_consistent(context);
    l
}

/// `skiff --insecure-policy copy ARGS... dir:DEST` (asserts success); the result is loaded and
/// must be consistent (`context` names the copy in a failure).
#[track_caller]
pub fn skiff_copy_to_dir(args: &[&str], dest: &Path, context: &str) -> Loaded {
    let name = format!("dir:{}", p(dest));
    skiff_copy(args.iter().copied().chain([name.as_str()])).assert_success();
    let l = load_dir(dest);
    l.assert_consistent(context);
    l
}
