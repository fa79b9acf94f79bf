//! The overlay driver's layout (containers/storage `drivers/overlay`):
//!
//! ```text
//! GRAPHROOT/overlay/ID/diff     the layer's own files; whiteouts are char devices 0/0
//! GRAPHROOT/overlay/ID/link     the layer's short name, NAME
//! GRAPHROOT/overlay/ID/lower    "l/PARENTNAME:l/GRANDPARENTNAME:…" (not for a base layer)
//! GRAPHROOT/overlay/ID/empty    (a base layer only)
//! GRAPHROOT/overlay/ID/work, merged
//! GRAPHROOT/overlay/l/NAME  ->  ../ID/diff
//! ```

use std::io;
use std::path::{Path, PathBuf};

use super::super::apply::Whiteouts;
use super::super::sys::{chmod, mkdir, remove_tree};

/// containers/storage's mode for a layer's `diff` directory.
const DIFF_MODE: u32 = 0o555;

pub struct Overlay {
    pub home: PathBuf,
    /// A mount program (fuse-overlayfs) is configured: whiteouts stay `.wh.` files.
    pub mount_program: bool,
    /// Not root: the opaque marker lives in the user xattr namespace.
    pub rootless: bool,
}

impl Overlay {
    pub fn whiteouts(&self) -> Whiteouts {
        if self.mount_program {
            Whiteouts::Keep
        } else if self.rootless {
            Whiteouts::Overlay {
                opaque_xattr: "user.overlay.opaque",
            }
        } else {
            Whiteouts::Overlay {
                opaque_xattr: "trusted.overlay.opaque",
            }
        }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.home.join(id)
    }

    pub fn diff_dir(&self, id: &str) -> PathBuf {
        self.dir(id).join("diff")
    }

    /// `stage` becomes the layer's directory: `diff` (writable until sealed), `work`,
    /// `merged` and a `link` name.
    pub fn prepare(&self, stage: &Path) -> io::Result<PathBuf> {
        mkdir(stage, 0o700)?;
        let diff = stage.join("diff");
        mkdir(&diff, 0o755)?;
        mkdir(&stage.join("work"), 0o700)?;
        mkdir(&stage.join("merged"), 0o700)?;
        std::fs::write(stage.join("link"), short_link_name())?;
        Ok(diff)
    }

    pub fn seal(&self, stage: &Path) -> io::Result<()> {
        chmod(&stage.join("diff"), DIFF_MODE)
    }

    pub fn install(&self, stage: &Path, id: &str, parent: Option<&str>) -> io::Result<()> {
        let link = std::fs::read_to_string(stage.join("link"))?;
        match parent {
            None => mkdir(&stage.join("empty"), 0o700)?,
            Some(p) => {
                let lower = self.lower_of(p)?;
                std::fs::write(stage.join("lower"), lower)?;
            }
        }
        let target = self.dir(id);
        if std::fs::symlink_metadata(&target).is_ok() {
            // A directory with no layer record: what a crash left. Replace it.
            self.remove(id)?;
        }
        std::fs::create_dir_all(self.home.join("l"))?;
        std::fs::rename(stage, &target)?;
        let short = self.home.join("l").join(&link);
        let _ = std::fs::remove_file(&short);
        std::os::unix::fs::symlink(format!("../{id}/diff"), &short)
    }

    /// The `lower` file of a layer on top of `parent`.
    fn lower_of(&self, parent: &str) -> io::Result<String> {
        let dir = self.dir(parent);
        let link = std::fs::read_to_string(dir.join("link")).map_err(|e| {
            io::Error::new(e.kind(), format!("reading the link of layer {parent}: {e}"))
        })?;
        let mut lower = format!("l/{}", link.trim());
        match std::fs::read_to_string(dir.join("lower")) {
            Ok(parents) => {
                lower.push(':');
                lower.push_str(&parents);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(lower)
    }

    pub fn remove(&self, id: &str) -> io::Result<()> {
        let dir = self.dir(id);
        if let Ok(link) = std::fs::read_to_string(dir.join("link")) {
            let link = link.trim();
            if !link.is_empty() && !link.contains('/') {
                let _ = std::fs::remove_file(self.home.join("l").join(link));
            }
        }
        remove_tree(&dir)
    }
}

/// A random short link name for overlay's `l/` directory (26 characters of base32, as
/// containers/storage's `generateID`).
pub fn short_link_name() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = [0u8; 26];
    super::super::lock::fill_random(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect()
}
