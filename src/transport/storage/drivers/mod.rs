//! The two graph drivers skiff reads and writes, laid out on disk as containers/storage
//! 1.43 lays them out: `overlay` (one `diff` directory per layer, whiteouts as the kernel
//! wants them, `link`/`lower` files and the `l/` short links) and `vfs` (a full copy of the
//! tree per layer).
//!
//! A layer is first built in a staging directory (`prepare`), away from anything
//! containers/storage looks at, then moved into place under the layers lock (`install`).

mod overlay;
mod vfs;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub use overlay::Overlay;
pub use vfs::Vfs;

use super::apply::Whiteouts;

pub enum Driver {
    Overlay(Overlay),
    Vfs(Vfs),
}

impl Driver {
    pub fn name(&self) -> &'static str {
        match self {
            Driver::Overlay(_) => "overlay",
            Driver::Vfs(_) => "vfs",
        }
    }

    /// The driver's own directory (`GRAPHROOT/overlay`, `GRAPHROOT/vfs`).
    pub fn home(&self) -> &Path {
        match self {
            Driver::Overlay(d) => &d.home,
            Driver::Vfs(d) => &d.home,
        }
    }

    pub fn whiteouts(&self) -> Whiteouts {
        match self {
            Driver::Overlay(d) => d.whiteouts(),
            Driver::Vfs(_) => Whiteouts::Remove,
        }
    }

    /// Whether a layer's tree holds its parents' files too (so applying needs them).
    pub fn needs_parent_content(&self) -> bool {
        matches!(self, Driver::Vfs(_))
    }

    /// Makes `stage` ready for a layer on top of `parent` (an installed layer); returns
    /// the directory the layer's files go into.
    pub fn prepare(&self, stage: &Path, parent: Option<&str>) -> io::Result<PathBuf> {
        match self {
            Driver::Overlay(d) => d.prepare(stage),
            Driver::Vfs(d) => d.prepare(stage, parent),
        }
    }

    /// Finishes the files of a prepared layer (modes that had to stay writable).
    pub fn seal(&self, stage: &Path, parent: Option<&str>) -> io::Result<()> {
        match self {
            Driver::Overlay(d) => d.seal(stage),
            Driver::Vfs(d) => d.seal(stage, parent),
        }
    }

    /// Moves a prepared layer into place as `id`; call with the layers lock held.
    pub fn install(&self, stage: &Path, id: &str, parent: Option<&str>) -> io::Result<()> {
        match self {
            Driver::Overlay(d) => d.install(stage, id, parent),
            Driver::Vfs(d) => d.install(stage, id),
        }
    }

    /// Removes a layer's files (and, for overlay, its short link).
    pub fn remove(&self, id: &str) -> io::Result<()> {
        match self {
            Driver::Overlay(d) => d.remove(id),
            Driver::Vfs(d) => d.remove(id),
        }
    }

    /// The directory tar-split file names are relative to.
    pub fn content_dir(&self, id: &str) -> PathBuf {
        match self {
            Driver::Overlay(d) => d.diff_dir(id),
            Driver::Vfs(d) => d.dir(id),
        }
    }

    /// Opens files of layer `id` by their names in its tar stream.
    pub fn file_getter(&self, id: &str) -> io::Result<FileGetter> {
        let root = self.content_dir(id);
        let fd = File::open(&root)
            .map_err(|e| io::Error::new(e.kind(), format!("opening layer {id}: {e}")))?;
        Ok(FileGetter { root, fd })
    }
}

/// Opens a layer's files by tar entry name, never leaving the layer's directory nor
/// following a symbolic link.
pub struct FileGetter {
    root: PathBuf,
    fd: File,
}

impl FileGetter {
    pub fn open(&self, name: &[u8]) -> io::Result<File> {
        let clean = super::tarstream::clean_path(name);
        let rel = clean.strip_prefix(b"/").unwrap_or(&clean);
        if rel == b".." || rel.starts_with(b"../") || rel.is_empty() || rel == b"." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "tar-split names {:?}, which is not a file in the layer",
                    String::from_utf8_lossy(name)
                ),
            ));
        }
        super::sys::open_beneath(&self.fd, &self.root, rel).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "reading {} of the layer at {}: {e}",
                    String::from_utf8_lossy(rel),
                    self.root.display()
                ),
            )
        })
    }
}
