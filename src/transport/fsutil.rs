//! Crash-safe file writing shared by the local transports: temp file in the target
//! directory, fsync, rename; staging directories that vanish unless committed.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use std::io::{Read, Write};

use super::{BlobInfo, Result, TransportError};
use crate::pipeline::{BUFFER_SIZE, BlobReader};

/// What skiff creates as temporaries, and whether each is a file or a directory. A name
/// only counts as skiff's when it has one of these labels and the matching type, so the
/// sweep never touches a user's `skiff-release-2019-notes`.
const TEMP_FILES: &[&str] = &["blob", "tmp", "archive", "daemon", "unpacked"];
const TEMP_DIRS: &[&str] = &["stage", "ociarchive", "dockerarchive", "precompute", "sif"];
/// The random part tempfile appends.
const RANDOM_LEN: usize = 6;

/// Temp names carry the writer's PID (`.skiff-blob-PID-XXXXXX`), so a later run can tell
/// the leftovers of a killed copy from the work of a copy still running.
fn temp_prefix(hidden: &str, label: &str) -> String {
    debug_assert!(TEMP_FILES.contains(&label) || TEMP_DIRS.contains(&label));
    format!("{hidden}skiff-{label}-{}-", std::process::id())
}

/// A temp file in `dir`, mode 0644 (less the umask) like the files skopeo writes.
pub fn temp_file_in(dir: &Path, label: &str) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&temp_prefix(".", label))
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| {
            TransportError::io(format!("creating a temporary file in {}", dir.display()), e)
        })
}

/// The sha256 digest and size of a file (blocking).
pub fn digest_file(path: &Path) -> io::Result<(crate::digest::Digest, u64)> {
    let mut file = std::fs::File::open(path)?;
    digest_reader(&mut file)
}

/// The sha256 digest and length of everything `r` yields (blocking).
pub fn digest_reader(r: &mut impl Read) -> io::Result<(crate::digest::Digest, u64)> {
    let mut hasher = crate::digest::Algorithm::Sha256.hasher();
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok((hasher.finish(), total));
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

/// A temp directory in `dir`, mode 0755 (less the umask); `hidden` is a name prefix.
pub fn temp_dir_in(dir: &Path, hidden: &str, label: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&temp_prefix(hidden, label))
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir_in(dir)
        .map_err(|e| {
            TransportError::io(
                format!("creating a temporary directory in {}", dir.display()),
                e,
            )
        })
}

/// Removes temp files and directories in `dir` left by skiff processes that no longer run
/// (a copy killed with SIGKILL cannot clean up after itself).
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
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() != is_dir || kind.is_symlink() || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let _ = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
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

/// Whether a file must survive a crash once written, or is scratch space (a spool that is
/// copied into an archive, which is synced itself, and then deleted).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Durability {
    Synced,
    Scratch,
}

/// What `store_blob` stored; `created` is false when a file of that name (the same digest)
/// was there already and was kept.
#[derive(Debug)]
pub struct Stored {
    pub info: BlobInfo,
    pub created: bool,
}

/// Streams `reader` into a temp file in `dir` (stopping before the filesystem's reserve,
/// `fsspace`), then renames it to `name_for(digest)`,
/// unless that file exists: names are digests, so it holds the same bytes, and replacing
/// it would make it look like this copy's to clean up. On any error the temp file is
/// removed.
pub async fn store_blob(
    reader: BlobReader,
    dir: &Path,
    name_for: impl Fn(&crate::digest::Digest) -> PathBuf,
    verified: Option<&BlobInfo>,
    durability: Durability,
) -> Result<Stored> {
    std::fs::create_dir_all(dir)
        .map_err(|e| TransportError::io(format!("creating {}", dir.display()), e))?;
    let temp = temp_file_in(dir, "blob")?;
    // The whole stream is pulled from a blocking thread: the stages' hashing and
    // decompression run there too, so blobs copied in parallel use all cores, and the
    // writes are plain syscalls rather than a hop to the blocking pool per buffer.
    let dir_label = dir.display().to_string();
    let known = verified.cloned();
    let (temp, digest, size) = tokio::task::spawn_blocking(move || {
        let mut temp = temp;
        let mut src = tokio_util::io::SyncIoBridge::new(reader);
        let mut hasher = crate::digest::Algorithm::Sha256.hasher();
        // A verified stream was hashed on its way here already.
        let hash = known.is_none();
        let mut buf = vec![0u8; BUFFER_SIZE];
        let mut size: u64 = 0;
        let mut room = super::fsspace::Room::of(temp.as_file())?;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if hash {
                hasher.update(&buf[..n]);
            }
            room.take(n as u64)?;
            temp.write_all(&buf[..n])?;
            let before = size;
            size += n as u64;
            if durability == Durability::Synced && before / WRITEBACK_STEP != size / WRITEBACK_STEP
            {
                start_writeback(temp.as_file(), size);
            }
        }
        if durability == Durability::Synced {
            temp.as_file().sync_all()?;
        }
        let digest = match known {
            None => hasher.finish(),
            Some(k) if k.size == size => k.digest,
            Some(k) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "blob {}: expected {} bytes, stored {size}",
                        k.digest, k.size
                    ),
                ));
            }
        };
        Ok((temp, digest, size))
    })
    .await
    .map_err(|e| TransportError::Invalid(format!("blob writer for {dir_label} failed: {e}")))?
    .map_err(|e| TransportError::io(format!("writing blob into {dir_label}"), e))?;
    let target = name_for(&digest);
    let created = match temp.persist_noclobber(&target) {
        Ok(_) => true,
        // The temp file goes with the error.
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => {
            return Err(TransportError::io(
                format!("renaming blob into {}", target.display()),
                e.error,
            ));
        }
    };
    Ok(Stored {
        info: BlobInfo { digest, size },
        created,
    })
}

/// How often a blob being written asks the kernel to start writing it back.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// Starts (without waiting for) writeback of the first `written` bytes (0: all of it), so
/// the fsync that ends the file has little left to do instead of flushing it all at once.
pub fn start_writeback(file: &std::fs::File, written: u64) {
    use std::os::fd::AsRawFd;
    let Ok(len) = libc::off64_t::try_from(written) else {
        return;
    };
    // SAFETY: a valid open descriptor; the call only schedules I/O on its pages.
    // Failure is harmless: the final fsync does the work then.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Writes a small file atomically (temp + fsync + rename; no fsync for scratch files).
pub fn write_atomically(path: &Path, data: &[u8], durability: Durability) -> Result<()> {
    let parent = parent_of(path);
    let mut temp = temp_file_in(&parent, "tmp")?;
    let ctx = || format!("writing {}", path.display());
    temp.write_all(data)
        .map_err(|e| TransportError::io(ctx(), e))?;
    if durability == Durability::Synced {
        temp.as_file()
            .sync_all()
            .map_err(|e| TransportError::io(ctx(), e))?;
    }
    keep_mode_and_owner(path, temp.path()).map_err(|e| TransportError::io(ctx(), e))?;
    temp.persist(path)
        .map_err(|e| TransportError::io(ctx(), e.error))?;
    Ok(())
}

/// Gives `new` the permission bits and owner of `existing`, if that exists. skopeo writes
/// into an existing destination, which keeps its mode and owner; a replacement must not
/// widen them (a 0700 image directory must not come back 0755).
pub fn keep_mode_and_owner(existing: &Path, new: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let old = match std::fs::metadata(existing) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    std::fs::set_permissions(new, old.permissions())?;
    // Only root may give files away; anyone else already owns what they replace.
    match std::os::unix::fs::chown(new, Some(old.uid()), Some(old.gid())) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
        other => other,
    }
}

pub fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes `path` absolute without resolving its last component (so a symlinked target
/// directory is replaced through its real location).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path)
        .map_err(|e| TransportError::io(format!("resolving {}", path.display()), e))?;
    match std::fs::canonicalize(&abs) {
        Ok(real) => Ok(real),
        Err(_) => Ok(abs),
    }
}

/// A directory built beside its final location and moved into place on commit.
/// Dropped without `commit`, it is deleted.
///
/// A target that is a mount point (a volume given to a container, say) cannot be renamed
/// or swapped: the image is then built in a hidden directory inside it, and commit replaces
/// the target's contents with the staged files, one rename each.
pub struct Staging {
    dir: Option<tempfile::TempDir>,
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
        let staged = dir.keep();
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

/// Entries of `dir` that are not skiff's own temporaries (which a killed copy may leave).
pub fn visible_entries(dir: &Path) -> io::Result<usize> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| stale_owner(&e.file_name().to_string_lossy()).is_none())
        .count())
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

pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| TransportError::io(format!("syncing {}", dir.display()), e))
}

/// Reads a small file, refusing more than `limit` bytes.
pub async fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    // containers/image's words: "open PATH: no such file or directory".
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| TransportError::io(format!("open {}", path.display()), e))?;
    if meta.len() > limit {
        return Err(TransportError::Invalid(format!(
            "{what} {} is {} bytes, over the {limit}-byte limit",
            path.display(),
            meta.len()
        )));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| TransportError::io(format!("open {}", path.display()), e))
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_blobs_hashed_or_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let data = b"layer bytes".to_vec();
        let digest = crate::digest::Digest::sha256_of(&data);
        let reader: BlobReader = Box::pin(std::io::Cursor::new(data.clone()));
        let stored = store_blob(reader, &d, |x| d.join(x.hex()), None, Durability::Synced)
            .await
            .unwrap();
        assert!(stored.created);
        let info = stored.info;
        assert_eq!(
            (info.digest.clone(), info.size),
            (digest.clone(), data.len() as u64)
        );
        assert_eq!(std::fs::read(d.join(digest.hex())).unwrap(), data);
        // A "verified" stream whose length disagrees is refused and leaves nothing behind.
        let claim = BlobInfo {
            digest: crate::digest::Digest::sha256_of(b"other"),
            size: 3,
        };
        let reader: BlobReader = Box::pin(std::io::Cursor::new(data.clone()));
        let err = store_blob(
            reader,
            &d,
            |x| d.join(x.hex()),
            Some(&claim),
            Durability::Synced,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("expected 3 bytes"), "{err}");
        assert!(!d.join(claim.digest.hex()).exists());
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "only the first blob remains: {names:?}");
        // The same blob again keeps the file that is there, and says so.
        let before = std::fs::metadata(d.join(digest.hex()))
            .unwrap()
            .modified()
            .unwrap();
        let reader: BlobReader = Box::pin(std::io::Cursor::new(data.clone()));
        let again = store_blob(reader, &d, |x| d.join(x.hex()), None, Durability::Synced)
            .await
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.info.digest, digest);
        let after = std::fs::metadata(d.join(digest.hex()))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before, after);
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn sweep_removes_only_dead_owners() {
        let dir = tempfile::tempdir().unwrap();
        let mine = temp_file_in(dir.path(), "blob").unwrap();
        // PID 0x7fff_fff0 is above pid_max on Linux, so it cannot be running.
        let dead = dir.path().join(".skiff-blob-2147483632-abcdef");
        std::fs::write(&dead, b"partial").unwrap();
        let dead_stage = dir.path().join(".img.skiff-stage-2147483632-Ab12Cd");
        std::fs::create_dir_all(dead_stage.join("blobs")).unwrap();
        let keep = dir.path().join("sha-looking-file");
        std::fs::write(&keep, b"x").unwrap();
        // A user's directory that merely looks like a temp name, and a directory where
        // skiff would only ever leave a file: both kept.
        let user = dir.path().join("skiff-release-2019-notes");
        std::fs::create_dir_all(&user).unwrap();
        std::fs::write(user.join("todo.txt"), b"precious").unwrap();
        let wrong_type = dir.path().join(".skiff-blob-2147483632-zzzzzz");
        std::fs::create_dir_all(&wrong_type).unwrap();
        sweep_stale(dir.path());
        assert!(mine.path().exists());
        assert!(!dead.exists());
        assert!(!dead_stage.exists());
        assert!(keep.exists());
        assert!(user.join("todo.txt").exists());
        assert!(wrong_type.exists());
    }
}
