//! containers/storage's lock files (`pkg/lockfile`): whole-file fcntl locks, shared for
//! readers and exclusive for writers, and a 64-byte "last writer" token at offset 0 that a
//! writer replaces after changing what the lock guards, so other processes know to reload.
//!
//! skiff takes open-file-description locks (`F_OFD_SETLKW`): they conflict with the
//! classic POSIX locks podman and skopeo take, and unlike those they belong to the open
//! file, so two threads of skiff exclude each other too and closing an unrelated
//! descriptor never drops a lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The size of the token; containers/storage reads exactly this many bytes.
const LAST_WRITER_SIZE: usize = 64;

/// A held lock; released when dropped (the descriptor is closed).
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
    exclusive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

impl Lock {
    /// Waits for the lock at `path` (created, with its directory, if missing).
    pub fn acquire(path: &Path, mode: Mode) -> io::Result<Lock> {
        let file = open(path, mode == Mode::Exclusive)?;
        let kind = match mode {
            Mode::Shared => libc::F_RDLCK,
            Mode::Exclusive => libc::F_WRLCK,
        };
        fcntl_lock(&file, kind, true)
            .map_err(|e| io::Error::new(e.kind(), format!("locking {}: {e}", path.display())))?;
        Ok(Lock {
            file,
            path: path.to_path_buf(),
            exclusive: mode == Mode::Exclusive,
        })
    }

    /// Takes the lock only if nobody holds it; None when it is held.
    pub fn try_acquire(path: &Path, mode: Mode) -> io::Result<Option<Lock>> {
        let file = open(path, mode == Mode::Exclusive)?;
        let kind = match mode {
            Mode::Shared => libc::F_RDLCK,
            Mode::Exclusive => libc::F_WRLCK,
        };
        match fcntl_lock(&file, kind, false) {
            Ok(()) => Ok(Some(Lock {
                file,
                path: path.to_path_buf(),
                exclusive: mode == Mode::Exclusive,
            })),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Records that the guarded data changed: a new last-writer token, as
    /// containers/storage's `Touch` writes it (time, counter, PID, random bytes).
    pub fn touch(&self) -> io::Result<()> {
        debug_assert!(self.exclusive, "touching a lock not held for writing");
        let token = last_writer_token();
        self.file
            .write_all_at(&token, 0)
            .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", self.path.display())))
    }
}

/// Opens (creating) the lock file read-write, as containers/storage does for both kinds
/// of lock; a reader of a store it may not write opens it read-only.
fn open(path: &Path, exclusive: bool) -> io::Result<File> {
    match open_with(path, true) {
        Err(e)
            if !exclusive
                && (e.kind() == io::ErrorKind::PermissionDenied
                    || e.raw_os_error() == Some(libc::EROFS)) =>
        {
            open_with(path, false)
        }
        other => other,
    }
}

fn open_with(path: &Path, write: bool) -> io::Result<File> {
    let attempt = || {
        OpenOptions::new()
            .read(true)
            .write(write)
            .create(write)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
    };
    match attempt() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            attempt()
        }
        other => other,
    }
    .map_err(|e| io::Error::new(e.kind(), format!("opening lock {}: {e}", path.display())))
}

fn fcntl_lock(file: &File, kind: libc::c_int, wait: bool) -> io::Result<()> {
    // SAFETY: a zeroed flock is a valid value; the fields set below describe the whole file.
    let mut lk: libc::flock = unsafe { std::mem::zeroed() };
    lk.l_type = kind as libc::c_short;
    lk.l_whence = libc::SEEK_SET as libc::c_short;
    lk.l_start = 0;
    lk.l_len = 0;
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: a valid descriptor and a pointer to a live flock.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut lk) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn last_writer_token() -> [u8; LAST_WRITER_SIZE] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut token = [0u8; LAST_WRITER_SIZE];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    token[0..8].copy_from_slice(&now.to_le_bytes());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    token[8..16].copy_from_slice(&n.to_le_bytes());
    token[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    fill_random(&mut token[20..]);
    token
}

/// Random bytes from the system's generator (the token must differ from every other
/// process's, even in another PID namespace).
pub fn fill_random(buf: &mut [u8]) {
    use ring::rand::SecureRandom;
    if ring::rand::SystemRandom::new().fill(buf).is_err() {
        // Unreachable on Linux; the time and counter still make the token unique here.
        buf.fill(0x5a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_within_one_process_and_touch_changes_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/layers.lock");
        let held = Lock::acquire(&path, Mode::Exclusive).unwrap();
        assert!(Lock::try_acquire(&path, Mode::Shared).unwrap().is_none());
        assert!(Lock::try_acquire(&path, Mode::Exclusive).unwrap().is_none());
        held.touch().unwrap();
        let first = std::fs::read(&path).unwrap();
        assert_eq!(first.len(), LAST_WRITER_SIZE);
        held.touch().unwrap();
        assert_ne!(first, std::fs::read(&path).unwrap());
        drop(held);
        let a = Lock::try_acquire(&path, Mode::Shared).unwrap().unwrap();
        let b = Lock::try_acquire(&path, Mode::Shared).unwrap();
        assert!(b.is_some(), "readers share");
        assert!(Lock::try_acquire(&path, Mode::Exclusive).unwrap().is_none());
        drop((a, b));
        assert!(Lock::try_acquire(&path, Mode::Exclusive).unwrap().is_some());
    }
}
