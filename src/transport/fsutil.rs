//! Crash-safe file writing shared by the local transports: temp file in the target
//! directory, fsync, rename; staging directories that vanish unless committed.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncWriteExt, BufReader};

use super::{BlobInfo, Result, TransportError};
use crate::pipeline::{BUFFER_SIZE, BlobReader, CountingReader};

/// Streams `reader` into a temp file in `dir`, then renames it to `name_for(digest)`.
/// Returns what was stored. On any error the temp file is removed.
pub async fn store_blob(
    reader: BlobReader,
    dir: &Path,
    name_for: impl Fn(&crate::digest::Digest) -> PathBuf,
) -> Result<BlobInfo> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| TransportError::io(format!("creating {}", dir.display()), e))?;
    let temp = tempfile::Builder::new()
        .prefix(".skiff-blob-")
        .tempfile_in(dir)
        .map_err(|e| {
            TransportError::io(format!("creating a temporary file in {}", dir.display()), e)
        })?;
    let (std_file, temp_path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(std_file);
    let (counting, counted) = CountingReader::new(reader, None);
    let mut buffered = BufReader::with_capacity(BUFFER_SIZE, counting);
    let write_err =
        |e: io::Error| TransportError::io(format!("writing blob into {}", dir.display()), e);
    tokio::io::copy_buf(&mut buffered, &mut file)
        .await
        .map_err(write_err)?;
    file.flush().await.map_err(write_err)?;
    file.sync_all().await.map_err(write_err)?;
    drop(file);
    let info = counted
        .lock()
        .ok()
        .and_then(|c| c.clone())
        .ok_or_else(|| TransportError::Invalid("blob stream ended without a digest".into()))?;
    let target = name_for(&info.digest);
    temp_path.persist(&target).map_err(|e| {
        TransportError::io(format!("renaming blob into {}", target.display()), e.error)
    })?;
    Ok(BlobInfo {
        digest: info.digest,
        size: info.size,
    })
}

/// Writes a small file atomically (temp + fsync + rename).
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let parent = parent_of(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".skiff-tmp-")
        .tempfile_in(&parent)
        .map_err(|e| {
            TransportError::io(
                format!("creating a temporary file in {}", parent.display()),
                e,
            )
        })?;
    let ctx = || format!("writing {}", path.display());
    temp.write_all(data)
        .map_err(|e| TransportError::io(ctx(), e))?;
    temp.as_file()
        .sync_all()
        .map_err(|e| TransportError::io(ctx(), e))?;
    temp.persist(path)
        .map_err(|e| TransportError::io(ctx(), e.error))?;
    Ok(())
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
pub struct Staging {
    dir: Option<tempfile::TempDir>,
    target: PathBuf,
}

impl Staging {
    pub fn new(target: &Path) -> Result<Staging> {
        let parent = parent_of(target);
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}.skiff-"))
            .tempdir_in(&parent)
            .map_err(|e| {
                TransportError::io(
                    format!("creating a staging directory in {}", parent.display()),
                    e,
                )
            })?;
        Ok(Staging {
            dir: Some(dir),
            target: target.to_path_buf(),
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
        let result = if self.target.exists() {
            exchange(&staged, &self.target)
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
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| TransportError::io(format!("reading {what} {}", path.display()), e))?;
    if meta.len() > limit {
        return Err(TransportError::Invalid(format!(
            "{what} {} is {} bytes, over the {limit}-byte limit",
            path.display(),
            meta.len()
        )));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| TransportError::io(format!("reading {what} {}", path.display()), e))
}
