//! Tests for the config module. Every test uses its own temporary directory
//! and an explicit `Env`; the process environment is never modified.

mod auth_tests;
mod certs_tests;
mod helper_tests;
mod registries_load_tests;
mod registries_tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Env;

/// A temporary directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("skiff-config-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `rel` (creating parents) and returns its path.
    pub(crate) fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&p, contents).expect("write file");
        p
    }

    pub(crate) fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An Env rooted in `t`: root = t/root, home = t/home, nothing else set.
pub(crate) fn env_in(t: &TempDir) -> Env {
    Env {
        home: Some(t.path().join("home")),
        root: t.path().join("root"),
        uid: Some(1234),
        path: Some(t.path().join("bin").into_os_string()),
        ..Env::default()
    }
}
