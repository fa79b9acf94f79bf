//! The vfs driver's layout (containers/storage `drivers/vfs`): `GRAPHROOT/vfs/dir/ID` is
//! the whole tree of the layer and everything below it, a copy of the parent's tree with
//! the layer applied on top.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::super::sys::{chmod, lsetxattr, mkdir, remove_tree, set_times};
use super::super::tarstream::Timestamp;

/// containers/storage's mode for the root of a base layer.
const ROOT_MODE: u32 = 0o555;

pub struct Vfs {
    pub home: PathBuf,
}

impl Vfs {
    pub fn dir(&self, id: &str) -> PathBuf {
        self.home.join("dir").join(id)
    }

    /// `stage` becomes the layer's tree: a copy of the parent's (hard links, owners,
    /// modes, times and xattrs kept), or an empty root.
    pub fn prepare(&self, stage: &Path, parent: Option<&str>) -> io::Result<PathBuf> {
        match parent {
            None => mkdir(stage, 0o755)?,
            Some(p) => {
                let src = self.dir(p);
                let meta = std::fs::symlink_metadata(&src)
                    .map_err(|e| io::Error::new(e.kind(), format!("reading layer {p}: {e}")))?;
                mkdir(stage, 0o700)?;
                let mut links = HashMap::new();
                copy_children(&src, stage, &mut links)?;
                copy_metadata(&src, stage, &meta)?;
                // Writable while the layer goes in (sealed to the parent's mode after).
                chmod(stage, (meta.mode() & 0o7777) | 0o700)?;
            }
        }
        Ok(stage.to_path_buf())
    }

    /// The root gets its final mode: the parent's, or 0555 for a base layer.
    pub fn seal(&self, stage: &Path, parent: Option<&str>) -> io::Result<()> {
        let mode = match parent {
            None => ROOT_MODE,
            Some(p) => std::fs::symlink_metadata(self.dir(p))?.mode() & 0o7777,
        };
        chmod(stage, mode)
    }

    pub fn install(&self, stage: &Path, id: &str) -> io::Result<()> {
        let target = self.dir(id);
        std::fs::create_dir_all(self.home.join("dir"))?;
        if std::fs::symlink_metadata(&target).is_ok() {
            self.remove(id)?;
        }
        std::fs::rename(stage, target)
    }

    pub fn remove(&self, id: &str) -> io::Result<()> {
        remove_tree(&self.dir(id))
    }
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
}

/// Copies the entries of `src` into the existing directory `dst`.
fn copy_children(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        copy_entry(&from, &to, links)
            .map_err(|e| io::Error::new(e.kind(), format!("copying {}: {e}", from.display())))?;
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path, links: &mut HashMap<(u64, u64), PathBuf>) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        mkdir(to, 0o700)?;
        copy_children(from, to, links)?;
        return copy_metadata(from, to, &meta);
    }
    if !ft.is_symlink() && meta.nlink() > 1 {
        let key = (meta.dev(), meta.ino());
        if let Some(first) = links.get(&key) {
            return std::fs::hard_link(first, to);
        }
        links.insert(key, to.to_path_buf());
    }
    if ft.is_file() {
        copy_file(from, to)?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else {
        let c = cpath(to)?;
        // SAFETY: a NUL-terminated path; mode and device number from the source.
        if unsafe { libc::mknod(c.as_ptr(), meta.mode() as libc::mode_t, meta.rdev()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    copy_metadata(from, to, &meta)
}

/// Content: a reflink where the filesystem shares blocks, else a kernel-side copy.
fn copy_file(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let src = std::fs::File::open(from)?;
    let dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    // SAFETY: two valid descriptors; FICLONE only shares extents or fails.
    let cloned = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) } == 0;
    if !cloned {
        let mut src = src;
        let mut dst = dst;
        io::copy(&mut src, &mut dst)?;
    }
    Ok(())
}

/// Owner, mode, xattrs and times of `from` onto `to` (not following links).
fn copy_metadata(from: &Path, to: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    let c = cpath(to)?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::lchown(c.as_ptr(), meta.uid(), meta.gid()) } != 0 {
        let e = io::Error::last_os_error();
        // A non-root user keeps its own files; others are refused when applying.
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(e);
        }
    }
    let symlink = meta.file_type().is_symlink();
    if !symlink {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    for (name, value) in list_xattrs(from)? {
        match lsetxattr(to, &name, &value) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => {}
            other => other?,
        }
    }
    let ts = |secs: i64, nanos: i64| Timestamp {
        secs,
        nanos: nanos as u32,
    };
    set_times(
        to,
        ts(meta.atime(), meta.atime_nsec()),
        ts(meta.mtime(), meta.mtime_nsec()),
        symlink,
    )
}

fn list_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let c = cpath(path)?;
    // SAFETY: a NUL-terminated path; a null buffer asks for the size.
    let size = unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) };
    if size < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOTSUP) {
            Ok(Vec::new())
        } else {
            Err(e)
        };
    }
    if size == 0 {
        return Ok(Vec::new());
    }
    let mut names = vec![0u8; size as usize];
    // SAFETY: a buffer of the given length.
    let size = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if size < 0 {
        return Err(io::Error::last_os_error());
    }
    names.truncate(size as usize);
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).map_err(|_| io::Error::other("bad xattr name"))?;
        // SAFETY: NUL-terminated strings; a null buffer asks for the size.
        let len = unsafe { libc::lgetxattr(c.as_ptr(), cname.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            continue;
        }
        let mut value = vec![0u8; len as usize];
        // SAFETY: a buffer of the given length.
        let len = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if len < 0 {
            continue;
        }
        value.truncate(len as usize);
        out.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    Ok(out)
}
