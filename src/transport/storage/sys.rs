//! The system calls applying a layer needs that std does not offer (mknod, lchown,
//! utimensat, xattrs, openat2), each a thin checked wrapper, and [`remove_tree`], which
//! every part of the store uses to remove a layer's or image's directory.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::tarstream::Timestamp;

pub fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
}

pub fn timespec(t: Timestamp) -> libc::timespec {
    libc::timespec {
        tv_sec: t.secs as libc::time_t,
        tv_nsec: t.nanos as _,
    }
}

pub fn mkdir(path: &Path, mode: u32) -> io::Result<()> {
    let c = cpath(path)?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::mkdir(c.as_ptr(), mode as libc::mode_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The umask must not narrow what the layer says.
    chmod(path, mode)
}

pub fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    let c = cpath(path)?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::chmod(c.as_ptr(), mode as libc::mode_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn mknod(path: &Path, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    let c = cpath(path)?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::mknod(c.as_ptr(), mode as libc::mode_t, dev) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets access and modification times (of the link itself when `nofollow`); times before
/// 1970 become 1970 as in containers/storage's `Chtimes`.
pub fn set_times(
    path: &Path,
    atime: Timestamp,
    mtime: Timestamp,
    nofollow: bool,
) -> io::Result<()> {
    let c = cpath(path)?;
    let clamp = |t: Timestamp| if t.secs < 0 { Timestamp::default() } else { t };
    let times = [timespec(clamp(atime)), timespec(clamp(mtime))];
    let flags = if nofollow {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    };
    // SAFETY: a NUL-terminated path and two timespecs.
    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn lsetxattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let c = cpath(path)?;
    let n = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "an xattr name with NUL"))?;
    // SAFETY: NUL-terminated path and name, a buffer of the given length.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn fsetxattr(fd: i32, name: &[u8], value: &[u8]) -> io::Result<()> {
    let n = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "an xattr name with NUL"))?;
    // SAFETY: a valid descriptor, a NUL-terminated name, a buffer of the given length.
    let rc = unsafe { libc::fsetxattr(fd, n.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens `rel` under the directory `root_fd` without following any symbolic link and
/// without leaving it (openat2 `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`).
pub fn open_beneath(root_fd: &File, root: &Path, rel: &[u8]) -> io::Result<File> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    const RESOLVE_BENEATH: u64 = 0x08;
    let c = CString::new(rel)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: a valid directory descriptor, a NUL-terminated path and an open_how of the
    // size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root_fd.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd >= 0 {
        // SAFETY: the kernel returned a new descriptor that nothing else owns.
        return Ok(unsafe { File::from_raw_fd(fd as i32) });
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOSYS) {
        // Kernels before 5.6: no link in the last component at least.
        use std::os::unix::fs::OpenOptionsExt;
        return std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(root.join(std::ffi::OsStr::from_bytes(rel)));
    }
    Err(e)
}

/// Removes a directory tree, making read-only directories writable first when that is
/// what stops the removal (a non-root user cannot empty a 0555 `diff`).
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            make_writable(path);
            std::fs::remove_dir_all(path)
        }
        Err(e) => Err(e),
    }
}

fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode();
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o700));
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            make_writable(&e.path());
        }
    }
}
