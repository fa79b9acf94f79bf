//! Whole files, crash-safe: a blob stored under its digest (verified while written), a
//! small file replaced atomically, a directory synced; and reading back within a limit.

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use std::io::{Read, Write};

use super::super::error::{Result, TransportError};
use super::super::traits::BlobInfo;
use super::temp::temp_file_in;
use crate::digest::Digest;
use crate::pipeline::{BUFFER_SIZE, BlobReader};

/// Whether a file must survive a crash once written, or is scratch space (a spool that is
/// copied into an archive, which is synced itself, and then deleted).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Durability {
    Synced,
    Scratch,
}

/// What `store_blob` stored; `created` is false when a file of that name was there already
/// (it was replaced: this copy's bytes are verified, the old file's were not).
#[derive(Debug)]
pub struct Stored {
    pub info: BlobInfo,
    pub created: bool,
}

/// Streams `reader` into a temp file in `dir` (stopping before the filesystem's reserve,
/// `fsspace`), then renames it to `name_for(digest)`,
/// replacing a file of that name (a name is no proof of content; renaming over it costs
/// nothing). On any error the temp file is removed.
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
        let mut room = crate::transport::fsspace::Room::of(temp.as_file())?;
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
    let rename_err = |e| TransportError::io(format!("renaming blob into {}", target.display()), e);
    let created = match temp.persist_noclobber(&target) {
        Ok(_) => true,
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
            e.file.persist(&target).map_err(|e| rename_err(e.error))?;
            false
        }
        Err(e) => return Err(rename_err(e.error)),
    };
    Ok(Stored {
        info: BlobInfo { digest, size },
        created,
    })
}

/// The size of the file at `path` if it is a regular file (not a link) of `size` bytes
/// (when given) whose content has `digest`: what a destination checks before it reuses a
/// blob file it finds by name. Hashing a file is cheaper than copying it again.
pub async fn verify_existing(path: &Path, digest: &Digest, size: Option<u64>) -> Option<u64> {
    let meta = tokio::fs::symlink_metadata(path).await.ok()?;
    if !meta.is_file() || size.is_some_and(|s| s != meta.len()) {
        return None;
    }
    let path = path.to_path_buf();
    let algorithm = digest.algorithm();
    let actual = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        algorithm.digest_reader(file)
    })
    .await
    .ok()?
    .ok()?;
    (actual.0 == *digest).then_some(actual.1)
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

pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| TransportError::io(format!("syncing {}", dir.display()), e))
}

/// The sha256 digest and size of a file (blocking).
pub fn digest_file(path: &Path) -> io::Result<(Digest, u64)> {
    let mut file = std::fs::File::open(path)?;
    digest_reader(&mut file)
}

/// The sha256 digest and length of everything `r` yields (blocking).
pub fn digest_reader(r: &mut impl Read) -> io::Result<(Digest, u64)> {
    crate::digest::Algorithm::Sha256.digest_reader(r)
}

/// Reads a small file, refusing more than `limit` bytes (also from a device or a pipe,
/// whose metadata claims no length).
pub async fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&owned)?;
        read_capped(&mut file, limit)
    })
    .await
    .map_err(|e| TransportError::Invalid(format!("reading {what} {}: {e}", path.display())))?
    // containers/image's words: "open PATH: no such file or directory".
    .map_err(|e| TransportError::io(format!("open {}", path.display()), e))?;
    read.map_err(|len| over_limit(what, path, len, limit))
}

/// Reads `file` whole unless it holds more than `limit` bytes; then the length its
/// metadata gives, or None when it only showed by reading past the limit.
pub(super) fn read_capped(
    file: &mut std::fs::File,
    limit: u64,
) -> io::Result<std::result::Result<Vec<u8>, Option<u64>>> {
    let len = file.metadata()?.len();
    if len > limit {
        return Ok(Err(Some(len)));
    }
    let mut out = Vec::with_capacity(len as usize);
    Read::by_ref(file).take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Ok(Err(None));
    }
    Ok(Ok(out))
}

pub(super) fn over_limit(what: &str, path: &Path, len: Option<u64>, limit: u64) -> TransportError {
    TransportError::Invalid(match len {
        Some(len) => format!(
            "{what} {} is {len} bytes, over the {limit}-byte limit",
            path.display()
        ),
        None => format!("{what} {} is over the {limit}-byte limit", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_device_that_claims_no_length_is_cut_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("signature-1");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = read_limited(&link, 16, "signature").await.unwrap_err();
        assert!(
            err.to_string().contains("is over the 16-byte limit"),
            "{err}"
        );
        std::fs::write(dir.path().join("small"), b"0123456789abcdef").unwrap();
        let read = read_limited(&dir.path().join("small"), 16, "signature").await;
        assert_eq!(read.unwrap(), b"0123456789abcdef");
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
        // A file already there under the blob's name is no proof of its content: it is
        // replaced (and not claimed as created, so never this copy's to take back).
        let path = d.join(digest.hex());
        std::fs::write(&path, b"tampered").unwrap();
        assert_eq!(verify_existing(&path, &digest, None).await, None);
        let reader: BlobReader = Box::pin(std::io::Cursor::new(data.clone()));
        let again = store_blob(reader, &d, |x| d.join(x.hex()), None, Durability::Synced)
            .await
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.info.digest, digest);
        assert_eq!(std::fs::read(&path).unwrap(), data);
        let size = Some(data.len() as u64);
        assert_eq!(verify_existing(&path, &digest, size).await, size);
        assert_eq!(
            verify_existing(&path, &digest, Some(3)).await,
            None,
            "size first"
        );
        // A link to the right content is not a blob file.
        let link = d.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(verify_existing(&link, &digest, None).await, None);
        std::fs::remove_file(&link).unwrap();
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
