//! Reading the files of an image store (an `oci:` layout, a shared blob directory) without
//! leaving it: a symbolic link anywhere below the store's root, or anything but a regular
//! file, is refused. Following a link would read a file outside the image (a host file
//! named by whoever wrote the layout) and report its size in the error that follows; a
//! FIFO would block the copy forever. Archives refuse links that leave them the same way.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;

use super::files::{over_limit, read_capped};
use crate::transport::error::{Result, TransportError};

/// Why a file below a store's root was refused.
fn refused(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what}; the files of an image layout must be regular files, not links"),
    )
}

/// Opens `rel` (plain `/`-separated names) below `root` for reading, one component at a
/// time, never following a symbolic link and accepting only a regular file at the end.
/// `root` itself is the user's choice and may be reached through links.
pub fn open_beneath(root: &Path, rel: &str) -> io::Result<File> {
    let mut at = File::open(root)?;
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || *part == "." || *part == ".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{rel:?} is not a plain relative path"),
            ));
        }
        let last = i + 1 == parts.len();
        // O_NONBLOCK: opening a FIFO must not wait for a writer; checked just below.
        let kind = if last {
            libc::O_NONBLOCK
        } else {
            libc::O_DIRECTORY
        };
        let name = CString::new(*part).map_err(io::Error::other)?;
        // SAFETY: a valid directory descriptor and a NUL-terminated name; the returned
        // descriptor is owned by the File alone.
        let fd = unsafe {
            libc::openat(
                at.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | kind,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ELOOP | libc::ENOTDIR) => {
                    let walked: std::path::PathBuf = parts[..=i].iter().collect();
                    let link = std::fs::symlink_metadata(root.join(walked))
                        .is_ok_and(|m| m.file_type().is_symlink());
                    refused(&format!(
                        "{part} is {}",
                        if link {
                            "a symbolic link"
                        } else {
                            "not a directory"
                        }
                    ))
                }
                _ => e,
            });
        }
        // SAFETY: `fd` was just opened and belongs to nothing else.
        at = unsafe { File::from_raw_fd(fd) };
    }
    if !at.metadata()?.is_file() {
        return Err(refused("it is not a regular file"));
    }
    // Back to blocking reads (no effect on a regular file, but say what is meant).
    // SAFETY: fcntl on a descriptor this function owns.
    unsafe {
        let flags = libc::fcntl(at.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(at.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
    }
    Ok(at)
}

/// Reads the small file `rel` below `root` (`open_beneath`), refusing more than `limit`
/// bytes.
pub async fn read_beneath(root: &Path, rel: &str, limit: u64, what: &str) -> Result<Vec<u8>> {
    let path = root.join(rel);
    // containers/image's words: "open PATH: no such file or directory".
    let ctx = |e| TransportError::io(format!("open {}", path.display()), e);
    let (root_owned, rel_owned) = (root.to_path_buf(), rel.to_string());
    let read = tokio::task::spawn_blocking(move || {
        let mut file = open_beneath(&root_owned, &rel_owned)?;
        read_capped(&mut file, limit)
    })
    .await
    .map_err(|e| TransportError::Invalid(format!("reading {what} {}: {e}", path.display())))?
    .map_err(ctx)?;
    read.map_err(|len| over_limit(what, &path, len, limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn only_regular_files_below_the_root_are_opened() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("layout");
        std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        std::fs::write(root.join("blobs/sha256/good"), b"blob").unwrap();
        let mut s = String::new();
        open_beneath(&root, "blobs/sha256/good")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "blob");
        // The root may be a link (the user named it).
        let root_link = t.path().join("root-link");
        std::os::unix::fs::symlink(&root, &root_link).unwrap();
        assert!(open_beneath(&root_link, "blobs/sha256/good").is_ok());
        let host = t.path().join("host-file");
        std::fs::write(&host, b"secret").unwrap();
        std::os::unix::fs::symlink(&host, root.join("blobs/sha256/link")).unwrap();
        let err = open_beneath(&root, "blobs/sha256/link").unwrap_err();
        assert!(err.to_string().contains("link is a symbolic link"), "{err}");
        // A linked directory on the way.
        std::fs::create_dir_all(t.path().join("elsewhere/sha256")).unwrap();
        std::fs::write(t.path().join("elsewhere/sha256/good"), b"x").unwrap();
        let other = t.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::os::unix::fs::symlink(t.path().join("elsewhere"), other.join("blobs")).unwrap();
        let err = open_beneath(&other, "blobs/sha256/good").unwrap_err();
        assert!(
            err.to_string().contains("blobs is a symbolic link"),
            "{err}"
        );
        // A FIFO is refused at once instead of waiting for a writer.
        let fifo = root.join("blobs/sha256/fifo");
        let c = CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let err = open_beneath(&root, "blobs/sha256/fifo").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(open_beneath(&root, "blobs/../blobs/sha256/good").is_err());
    }
}
