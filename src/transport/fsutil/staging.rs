//! A directory built beside its final location and moved into place on commit.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{TempDir, keep_mode_and_owner, parent_of, sweep_stale, sync_dir, temp_dir_in};
use crate::transport::{Result, TransportError};

/// A directory built beside its final location and moved into place on commit.
/// Dropped without `commit`, it is deleted.
///
/// A target that is a mount point (a volume given to a container, say) cannot be renamed
/// or swapped: the image is then built in a hidden directory inside it, and commit replaces
/// the target's contents with the staged files, one rename each.
pub struct Staging {
    dir: Option<TempDir>,
    target: PathBuf,
    inside: bool,
}

impl Staging {
    pub fn new(target: &Path) -> Result<Staging> {
        let inside = is_mount_point(target);
        let dir = if inside {
            sweep_stale(target);
            temp_dir_in(target, ".", "stage")?
        } else {
            let parent = parent_of(target);
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            sweep_stale(&parent);
            temp_dir_in(&parent, &format!(".{name}."), "stage")?
        };
        Ok(Staging {
            dir: Some(dir),
            target: target.to_path_buf(),
            inside,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().map(|d| d.path()).unwrap_or(&self.target)
    }

    /// Puts the staged directory at the target path. An existing target is swapped out
    /// atomically and removed afterwards.
    pub fn commit(mut self) -> Result<()> {
        let Some(dir) = self.dir.take() else {
            return Ok(());
        };
        let (staged, _hold) = dir.keep();
        sync_dir(&staged)?;
        let result = if self.inside {
            replace_contents(&staged, &self.target).map_err(|e| {
                TransportError::io(
                    format!("replacing the contents of {}", self.target.display()),
                    e,
                )
            })
        } else if self.target.exists() {
            keep_mode_and_owner(&self.target, &staged)
                .and_then(|()| exchange(&staged, &self.target))
                .map_err(|e| TransportError::io(format!("replacing {}", self.target.display()), e))
                .map(|()| {
                    // `staged` now holds the old contents.
                    let _ = std::fs::remove_dir_all(&staged);
                })
        } else {
            std::fs::rename(&staged, &self.target).map_err(|e| {
                TransportError::io(
                    format!("moving the new image into {}", self.target.display()),
                    e,
                )
            })
        };
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staged);
        }
        result?;
        sync_dir(&parent_of(&self.target))
    }
}

/// Whether `path` is a directory on another filesystem than its parent.
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), std::fs::metadata(parent_of(path))) {
        (Ok(m), Ok(p)) => m.is_dir() && m.dev() != p.dev(),
        _ => false,
    }
}

/// Empties `target` (but `staged`, which lies inside it), then moves the staged entries in.
/// The destination was checked to be empty or a replaceable image when it was opened.
fn replace_contents(staged: &Path, target: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(target)? {
        let path = entry?.path();
        if path == staged {
            continue;
        }
        if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    for entry in std::fs::read_dir(staged)? {
        let entry = entry?;
        std::fs::rename(entry.path(), target.join(entry.file_name()))?;
    }
    std::fs::remove_dir(staged)?;
    sync_dir_io(target)
}

fn sync_dir_io(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir).and_then(|f| f.sync_all())
}
/// Atomically swaps two paths (Linux renameat2 RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let ca = CString::new(a.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let cb = CString::new(b.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
