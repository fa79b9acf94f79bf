//! A directory built beside its final location and moved into place on commit.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::files::{keep_mode_and_owner, parent_of, sync_dir};
use super::lock::lock_dir;
use super::temp::is_temporary;
use super::temp::{TempDir, sweep_stale, temp_dir_in, visible_entries};
use crate::transport::error::{Result, TransportError};

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
    /// atomically and removed afterwards (`dir:` replaces an image).
    pub fn commit(self) -> Result<()> {
        self.finish(None)
    }

    /// Like `commit`, but when the target holds something by now (another copy got there
    /// first), `merge(staged, target)` adds the staged contents to it instead, while the
    /// target's lock is held (`oci:` layouts gather images).
    pub fn commit_or_merge(self, merge: Merge<'_>) -> Result<()> {
        self.finish(Some(merge))
    }

    fn finish(mut self, merge: Option<Merge<'_>>) -> Result<()> {
        let Some(dir) = self.dir.take() else {
            return Ok(());
        };
        let (staged, _hold) = dir.keep();
        let result = sync_dir(&staged).and_then(|()| self.place(&staged, merge));
        match result {
            // Moved into place whole: nothing is left at the staged path.
            Ok(Placed::Moved) => {}
            // The old contents, or what a merge did not move.
            Ok(Placed::Swapped | Placed::Merged) | Err(_) => {
                let _ = std::fs::remove_dir_all(&staged);
            }
        }
        result?;
        sync_dir(&parent_of(&self.target))
    }

    /// One attempt per state the target is found in, under its lock when it exists; a
    /// target that appears or is swapped meanwhile is looked at again.
    fn place(&self, staged: &Path, mut merge: Option<Merge<'_>>) -> Result<Placed> {
        let target = &self.target;
        let fail = |what: &str, e| TransportError::io(format!("{what} {}", target.display()), e);
        loop {
            let Some(_lock) = lock_dir(target).map_err(|e| fail("locking", e))? else {
                match rename_noreplace(staged, target) {
                    Ok(()) => return Ok(Placed::Moved),
                    // Another copy put its image there first.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) => {
                        continue;
                    }
                    Err(e) => return Err(fail("moving the new image into", e)),
                }
            };
            let empty = visible_entries(target).map_err(|e| fail("reading", e))? == 0;
            if !empty && let Some(merge) = merge.take() {
                merge(staged, target)?;
                return Ok(Placed::Merged);
            }
            if self.inside {
                replace_contents(staged, target)
                    .map_err(|e| fail("replacing the contents of", e))?;
                return Ok(Placed::Moved);
            }
            keep_mode_and_owner(target, staged)
                .and_then(|()| exchange(staged, target))
                .map_err(|e| fail("replacing", e))?;
            return Ok(Placed::Swapped);
        }
    }
}

/// Adds a staged directory's contents to a target that is not empty: (staged, target).
pub type Merge<'a> = &'a mut dyn FnMut(&Path, &Path) -> Result<()>;

/// What commit did with the staged directory.
enum Placed {
    /// It is the target now (renamed, or its entries moved into a mount point).
    Moved,
    /// It was exchanged with the target and holds the old contents.
    Swapped,
    /// Its contents were added to the target.
    Merged,
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
        let entry = entry?;
        let path = entry.path();
        // Other copies' temporaries (and the lock file) are theirs, not the old image's.
        if path == staged || is_temporary(&entry.file_name().to_string_lossy()) {
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
    renameat2(a, b, libc::RENAME_EXCHANGE)
}

/// Renames `from` to `to` unless something is at `to` (EEXIST). Where the filesystem has
/// no RENAME_NOREPLACE (NFS), a plain rename, which refuses a non-empty directory.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    match renameat2(from, to, libc::RENAME_NOREPLACE) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
            std::fs::rename(from, to)
        }
        other => other,
    }
}

fn renameat2(a: &Path, b: &Path, flags: libc::c_uint) -> io::Result<()> {
    let ca = CString::new(a.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let cb = CString::new(b.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
