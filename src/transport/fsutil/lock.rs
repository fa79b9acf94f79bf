//! An exclusive lock on a directory that writers share (an `oci:` layout), held on an inode
//! that is never deleted: the directory itself.
//!
//! A lock file that is removed after use cannot work: a waiter then holds a lock on a
//! deleted inode while a newcomer creates and locks a new file. The directory stays; when
//! it is swapped for another (a new layout replacing an empty directory), a waiter notices
//! that what it locked is no longer at the path and locks the new one.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Where directories cannot be locked (NFS: locks there are byte-range locks, which need a
/// file open for writing), this file inside the directory is locked instead. It is never
/// removed, so every writer locks the same inode.
pub const LOCK_FILE: &str = ".skiff-lock";

/// Held until dropped.
#[derive(Debug)]
pub struct DirLock {
    _dir: File,
    _file: Option<File>,
}

/// Locks the directory at `path` (not following a symlink there), waiting while another
/// process holds it. `None` when nothing is at `path`.
pub fn lock_dir(path: &Path) -> io::Result<Option<DirLock>> {
    loop {
        let dir = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let file = match dir.lock() {
            Ok(()) => None,
            Err(e) if cannot_lock_directories(&e) => {
                let file = open_lock_file(&dir)?;
                file.lock()?;
                Some(file)
            }
            Err(e) => return Err(e),
        };
        if still_at(&dir, path)? {
            return Ok(Some(DirLock {
                _dir: dir,
                _file: file,
            }));
        }
        // Swapped for another directory while we waited: lock that one.
    }
}

fn cannot_lock_directories(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOLCK | libc::EBADF | libc::EOPNOTSUPP | libc::EINVAL)
    )
}

/// `LOCK_FILE` in `dir`, created if missing, never through a symlink.
fn open_lock_file(dir: &File) -> io::Result<File> {
    // SAFETY: a valid directory descriptor and a NUL-terminated name; the returned
    // descriptor is owned by the File alone.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c".skiff-lock".as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and belongs to nothing else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Whether the directory `dir` is still the one at `path`.
fn still_at(dir: &File, path: &Path) -> io::Result<bool> {
    let held = dir.metadata()?;
    match std::fs::symlink_metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_lock_excludes_others_and_follows_a_swap() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("layout");
        assert!(lock_dir(&path).unwrap().is_none(), "nothing there");
        std::fs::create_dir(&path).unwrap();
        let held = lock_dir(&path).unwrap().unwrap();
        let other = File::open(&path).unwrap();
        assert!(other.try_lock().is_err(), "held");
        drop(held);
        assert!(other.try_lock().is_ok(), "released");
        other.unlock().unwrap();
        // A symlink is never followed.
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(lock_dir(&link).is_err());
        // A waiter whose directory was swapped away locks the new one.
        let first = lock_dir(&path).unwrap().unwrap();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let lock = lock_dir(&path).unwrap().unwrap();
                let ino = std::fs::metadata(&path).unwrap().ino();
                (lock, ino)
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        let aside = t.path().join("aside");
        std::fs::rename(&path, &aside).unwrap();
        std::fs::create_dir(&path).unwrap();
        let new_ino = std::fs::metadata(&path).unwrap().ino();
        drop(first);
        let (lock, ino) = waiter.join().unwrap();
        assert_eq!(ino, new_ino);
        let probe = File::open(&path).unwrap();
        assert!(
            probe.try_lock().is_err(),
            "the new directory is the one locked"
        );
        drop(lock);
    }
}
