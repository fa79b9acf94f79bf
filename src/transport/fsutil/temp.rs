//! skiff's temporary files and directories: named so that they are recognisable, and swept
//! when a killed copy left them behind.

use std::fs::File;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::transport::error::{Result, TransportError};

/// What skiff creates as temporaries, and whether each is a file or a directory. A name
/// only counts as skiff's when it has one of these labels and the matching type, so the
/// sweep never touches a user's `skiff-release-2019-notes`.
const TEMP_FILES: &[&str] = &["blob", "tmp", "archive", "daemon", "unpacked"];
const TEMP_DIRS: &[&str] = &["stage", "ociarchive", "dockerarchive", "precompute", "sif"];
/// The random part tempfile appends.
const RANDOM_LEN: usize = 6;

/// How long a temporary must have been left unmodified before a sweep may remove it. The
/// lock is what proves a temporary abandoned; the age covers the instant between creating
/// one and locking it, with room for clocks of hosts sharing a filesystem to disagree.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Temp names carry the writer's PID (`.skiff-blob-PID-XXXXXX`): for people reading a
/// directory, and so a sweep never removes what a process still running here may own.
fn temp_prefix(hidden: &str, label: &str) -> String {
    debug_assert!(TEMP_FILES.contains(&label) || TEMP_DIRS.contains(&label));
    format!("{hidden}skiff-{label}-{}-", std::process::id())
}

/// A temp file in `dir` that becomes a destination's file, mode 0644 (less the umask) like
/// the files skopeo writes, locked for as long as it is open (see `sweep_stale`).
pub fn temp_file_in(dir: &Path, label: &str) -> Result<tempfile::NamedTempFile> {
    file_in(dir, label, 0o644)
}

/// A scratch file (deleted once used) in `dir`, perhaps a `--tmpdir` others share: 0600.
pub fn scratch_file_in(dir: &Path, label: &str) -> Result<tempfile::NamedTempFile> {
    file_in(dir, label, 0o600)
}

fn file_in(dir: &Path, label: &str, mode: u32) -> Result<tempfile::NamedTempFile> {
    let file = tempfile::Builder::new()
        .prefix(&temp_prefix(".", label))
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| {
            TransportError::io(format!("creating a temporary file in {}", dir.display()), e)
        })?;
    hold(file.as_file());
    Ok(file)
}

/// A temp directory that is deleted when dropped, locked while it exists.
pub struct TempDir {
    // Declared first, so dropped first: the directory is removed before the lock goes.
    dir: tempfile::TempDir,
    lock: Option<File>,
}

impl TempDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the directory; it stays locked as long as the returned `DirHold` lives.
    pub fn keep(self) -> (PathBuf, DirHold) {
        (self.dir.keep(), DirHold(self.lock))
    }
}

/// The lock of a kept temp directory: the sweep leaves the directory alone while it lives.
pub struct DirHold(#[allow(dead_code)] Option<File>);

/// A temp directory in `dir` that becomes a destination (a staged image), mode 0755 (less
/// the umask); `hidden` is a name prefix.
pub fn temp_dir_in(dir: &Path, hidden: &str, label: &str) -> Result<TempDir> {
    dir_in(dir, hidden, label, 0o755)
}

/// A scratch directory (a spool, an archive's layout before it is tarred) in `dir`,
/// perhaps a `--tmpdir` others share: 0700, so nobody else reads what is in it.
pub fn scratch_dir_in(dir: &Path, hidden: &str, label: &str) -> Result<TempDir> {
    dir_in(dir, hidden, label, 0o700)
}

fn dir_in(dir: &Path, hidden: &str, label: &str, mode: u32) -> Result<TempDir> {
    let made = tempfile::Builder::new()
        .prefix(&temp_prefix(hidden, label))
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempdir_in(dir)
        .map_err(|e| {
            TransportError::io(
                format!("creating a temporary directory in {}", dir.display()),
                e,
            )
        })?;
    let lock = open_nofollow(made.path(), true).ok();
    if let Some(f) = &lock {
        hold(f);
    }
    Ok(TempDir { dir: made, lock })
}

/// Takes the lock that marks a temporary as in use. Where the filesystem has no locks
/// (some NFS setups) nothing is held; a sweep cannot lock it either and keeps it.
fn hold(file: &File) {
    let _ = file.try_lock();
}

fn open_nofollow(path: &Path, dir: bool) -> io::Result<File> {
    let flags = libc::O_NOFOLLOW | libc::O_CLOEXEC | if dir { libc::O_DIRECTORY } else { 0 };
    std::fs::OpenOptions::new()
        .read(true)
        // A write lock over NFS needs a descriptor open for writing; directories cannot be.
        .write(!dir)
        .custom_flags(flags)
        .open(path)
}

/// Removes temp files and directories in `dir` that are provably abandoned: a copy killed
/// with SIGKILL cannot clean up after itself. A temporary is abandoned when nobody holds
/// its lock (every skiff holds it while the temporary exists; the kernel drops it when
/// the process dies, wherever it ran), it has not changed for `STALE_AFTER`, and its
/// recorded PID is not a live process here. A dead PID alone proves nothing: the owner may
/// be in another PID namespace (a container sharing the volume) or on another NFS host.
pub fn sweep_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, is_dir)) = stale_owner(&name.to_string_lossy()) else {
            continue;
        };
        // The type skiff would have made, not following links.
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_dir() != is_dir || meta.file_type().is_symlink() {
            continue;
        }
        let unchanged_for = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok());
        if unchanged_for.is_none_or(|age| age < STALE_AFTER) || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let Some(_lock) = lock_abandoned(&path, is_dir) else {
            continue;
        };
        // Removed while locked, so a second sweep waits or finds nothing.
        let _ = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

/// The lock of a temporary nobody holds, taken, if `path` still names what was locked.
fn lock_abandoned(path: &Path, is_dir: bool) -> Option<File> {
    use std::os::unix::fs::MetadataExt;
    let file = open_nofollow(path, is_dir).ok()?;
    // Busy: its owner lives. Any other error (no locks on this filesystem): not provable.
    file.try_lock().ok()?;
    let locked = file.metadata().ok()?;
    let now = std::fs::symlink_metadata(path).ok()?;
    (locked.dev() == now.dev() && locked.ino() == now.ino()).then_some(file)
}

/// For a name made by `temp_prefix` plus tempfile's random part: the PID, and whether it
/// names a directory. `HIDDEN` is "", "." or ".TARGET." (a staging directory).
fn stale_owner(name: &str) -> Option<(u32, bool)> {
    let at = name.find("skiff-")?;
    let hidden = &name[..at];
    if !(hidden.is_empty()
        || hidden == "."
        || (hidden.len() > 2 && hidden.starts_with('.') && hidden.ends_with('.')))
    {
        return None;
    }
    let mut parts = name[at + "skiff-".len()..].splitn(3, '-');
    let label = parts.next()?;
    let pid_text = parts.next()?;
    let random = parts.next()?;
    // Only a staging directory carries its target's name in front.
    if hidden.len() > 1 && label != "stage" {
        return None;
    }
    let is_dir = if TEMP_DIRS.contains(&label) {
        true
    } else if TEMP_FILES.contains(&label) {
        false
    } else {
        return None;
    };
    if pid_text.is_empty()
        || !pid_text.bytes().all(|b| b.is_ascii_digit())
        || random.len() != RANDOM_LEN
        || !random.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    Some((pid_text.parse().ok()?, is_dir))
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether a name is skiff's bookkeeping: a temporary (of this copy, another, or a killed
/// one) or the lock file of a directory that cannot be locked itself.
pub fn is_temporary(name: &str) -> bool {
    stale_owner(name).is_some() || name == super::lock::LOCK_FILE
}

/// Entries of `dir` that are not skiff's bookkeeping (`is_temporary`).
pub fn visible_entries(dir: &Path) -> io::Result<usize> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| !is_temporary(&e.file_name().to_string_lossy()))
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_their_owner() {
        assert_eq!(stale_owner(".skiff-blob-1234-abCD12"), Some((1234, false)));
        assert_eq!(stale_owner(".dest.skiff-stage-77-x1Y2z3"), Some((77, true)));
        assert_eq!(stale_owner("skiff-ociarchive-9-zzzzzz"), Some((9, true)));
        assert_eq!(stale_owner("manifest.json"), None);
        assert_eq!(stale_owner(".skiff-blob-notapid-abcdef"), None);
        // Names of the same shape that skiff does not make are a user's, never swept.
        assert_eq!(stale_owner("skiff-release-2019-notes"), None);
        assert_eq!(stale_owner("old-skiff-cache-4242-data12"), None);
        assert_eq!(stale_owner("backup.skiff-blob-999998-abcdef.txt"), None);
        assert_eq!(stale_owner(".skiff-blob-12-abc"), None);
        assert_eq!(stale_owner(".skiff-blob--abcdef"), None);
        assert_eq!(stale_owner(".notes.skiff-blob-42-abcdef"), None);
        assert!(process_alive(std::process::id()));
    }

    /// Sets `path`'s modification time `STALE_AFTER` plus a minute into the past.
    fn age(path: &Path) {
        let then = SystemTime::now() - STALE_AFTER - Duration::from_secs(60);
        File::open(path).unwrap().set_modified(then).unwrap();
    }

    #[test]
    fn sweep_removes_only_abandoned_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let mine = temp_file_in(dir.path(), "blob").unwrap();
        age(mine.path());
        // PID 0x7fff_fff0 is above pid_max on Linux, so it cannot be running here.
        let dead = dir.path().join(".skiff-blob-2147483632-abcdef");
        std::fs::write(&dead, b"partial").unwrap();
        age(&dead);
        let dead_stage = dir.path().join(".img.skiff-stage-2147483632-Ab12Cd");
        std::fs::create_dir_all(dead_stage.join("blobs")).unwrap();
        age(&dead_stage);
        // Left just now: maybe by a writer that has yet to lock it.
        let fresh = dir.path().join(".skiff-blob-2147483632-fresh1");
        std::fs::write(&fresh, b"partial").unwrap();
        // The PID is dead here, but the owner (in another PID namespace, on another host)
        // holds the locks: another open file description stands in for that process.
        let busy_file = dir.path().join(".skiff-tmp-2147483632-busy01");
        std::fs::write(&busy_file, b"being written").unwrap();
        age(&busy_file);
        let owner_file = File::open(&busy_file).unwrap();
        owner_file.try_lock().unwrap();
        let busy_dir = dir.path().join(".img.skiff-stage-2147483632-busy02");
        std::fs::create_dir_all(busy_dir.join("blobs")).unwrap();
        age(&busy_dir);
        let owner_dir = File::open(&busy_dir).unwrap();
        owner_dir.try_lock().unwrap();
        let keep = dir.path().join("sha-looking-file");
        std::fs::write(&keep, b"x").unwrap();
        // A user's directory that merely looks like a temp name, and a directory where
        // skiff would only ever leave a file: both kept.
        let user = dir.path().join("skiff-release-2019-notes");
        std::fs::create_dir_all(&user).unwrap();
        std::fs::write(user.join("todo.txt"), b"precious").unwrap();
        age(&user);
        let wrong_type = dir.path().join(".skiff-blob-2147483632-zzzzzz");
        std::fs::create_dir_all(&wrong_type).unwrap();
        age(&wrong_type);
        sweep_stale(dir.path());
        assert!(mine.path().exists(), "a live temporary of this process");
        assert!(!dead.exists(), "an abandoned file");
        assert!(!dead_stage.exists(), "an abandoned directory");
        assert!(fresh.exists(), "a temporary younger than STALE_AFTER");
        assert!(busy_file.exists(), "a file whose owner holds its lock");
        assert!(
            busy_dir.join("blobs").exists(),
            "a directory whose owner holds its lock"
        );
        assert!(keep.exists());
        assert!(user.join("todo.txt").exists());
        assert!(wrong_type.exists());
        // Once the owners are gone, the same entries are abandoned.
        drop((owner_file, owner_dir));
        sweep_stale(dir.path());
        assert!(!busy_file.exists() && !busy_dir.exists());
    }

    #[test]
    fn scratch_is_private_and_staging_is_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(scratch_file_in(dir.path(), "daemon").unwrap().path()),
            0o600
        );
        assert_eq!(
            mode(scratch_dir_in(dir.path(), "", "ociarchive").unwrap().path()),
            0o700
        );
        // What becomes a destination follows the umask, as skopeo's files do.
        let umask = {
            // SAFETY: reads the umask by setting it and putting it back at once.
            let old = unsafe { libc::umask(0o022) };
            unsafe { libc::umask(old) };
            old as u32
        };
        assert_eq!(
            mode(temp_file_in(dir.path(), "blob").unwrap().path()),
            0o644 & !umask
        );
        assert_eq!(
            mode(temp_dir_in(dir.path(), ".", "stage").unwrap().path()),
            0o755 & !umask
        );
    }

    #[test]
    fn temporaries_are_locked_while_they_live() {
        let dir = tempfile::tempdir().unwrap();
        let file = temp_file_in(dir.path(), "blob").unwrap();
        let other = File::open(file.path()).unwrap();
        assert!(other.try_lock().is_err(), "a live temp file is locked");
        let temp = temp_dir_in(dir.path(), ".", "stage").unwrap();
        let path = temp.path().to_path_buf();
        let other = File::open(&path).unwrap();
        assert!(other.try_lock().is_err(), "a live temp directory is locked");
        let (kept, hold) = temp.keep();
        assert!(other.try_lock().is_err(), "still locked once kept");
        drop(hold);
        assert!(other.try_lock().is_ok(), "free once its hold is dropped");
        assert_eq!(kept, path);
    }
}
