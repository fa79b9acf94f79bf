//! Applying a layer's tar stream to a directory, as containers/storage's `pkg/archive`
//! does (`Unpack` with the overlay whiteout converter for overlay, `UnpackLayer` for
//! vfs), while recording the tar-split metadata and the IDs used.
//!
//! Safety, decided before anything is written for an entry: a name that climbs out of
//! the layer (`..`), a hard link to outside the layer, a symbolic link whose relative
//! target climbs out of it, an entry reached through a symbolic link, and (for a non-root
//! user) a device node are refused. The caller removes the half-written directory.

use std::collections::{BTreeSet, HashSet};
use std::io::{self, BufRead, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::sys::{chmod, lsetxattr, mkdir, set_times};
use super::sys::{cpath, fsetxattr, mknod, timespec};

use super::tarsplit::{Crc64, TarSplitWriter};
use super::tarstream::{self, Header, TarReader, Timestamp, clean_path};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";

/// How whiteouts are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// overlay: a character device 0/0 for a deleted file, the `opaque` xattr for an
    /// opaque directory.
    Overlay { opaque_xattr: &'static str },
    /// overlay with a mount program (fuse-overlayfs): the `.wh.` files kept as they are.
    Keep,
    /// vfs: the full tree, so whiteouts delete what they name.
    Remove,
}

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    pub whiteouts: Whiteouts,
    /// Running as root: device nodes can be made and ownership set freely.
    pub privileged: bool,
    /// `ignore_chown_errors`: ownership that cannot be set is left as it is.
    pub ignore_chown_errors: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("refusing the layer: {0}")]
    Refused(String),
    #[error("reading the layer's tar stream: {0}")]
    Tar(#[source] io::Error),
    #[error("writing the layer's tar-split metadata: {0}")]
    Metadata(#[source] io::Error),
}

fn show(p: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(p))
}

/// The entry's path relative to the layer root, or a refusal when it climbs out.
fn relative(name: &[u8]) -> Result<Vec<u8>, ApplyError> {
    let clean = clean_path(name);
    let rel = clean.strip_prefix(b"/").unwrap_or(&clean).to_vec();
    if rel == b".." || rel.starts_with(b"../") {
        return Err(ApplyError::Refused(format!(
            "{} is outside of the layer",
            show(name)
        )));
    }
    Ok(if rel.is_empty() { b".".to_vec() } else { rel })
}

fn parent_and_base(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (b".", rel),
    }
}

/// The inverse of [`parent_and_base`]: `name` in the directory `dir` (`.` is the root).
fn child(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut rel = Vec::with_capacity(dir.len() + 1 + name.len());
    if dir != b"." {
        rel.extend_from_slice(dir);
        rel.push(b'/');
    }
    rel.extend_from_slice(name);
    rel
}

/// What applying a layer found out.
#[derive(Debug, Default)]
pub struct Applied {
    pub uids: BTreeSet<u32>,
    pub gids: BTreeSet<u32>,
}

/// Applies the tar stream `input` to `root`, writing the tar-split metadata to `split`.
pub fn apply<R: BufRead, W: Write>(
    input: R,
    root: &Path,
    opts: &ApplyOptions,
    split: &mut TarSplitWriter<W>,
) -> Result<Applied, ApplyError> {
    let mut a = Applier {
        root: root.to_path_buf(),
        opts: *opts,
        dirs: HashSet::new(),
        unpacked: HashSet::new(),
        dir_times: Vec::new(),
        applied: Applied::default(),
    };
    a.dirs.insert(b".".to_vec());
    let mut tar = TarReader::new(input);
    while let Some(h) = tar.next_entry().map_err(ApplyError::Tar)? {
        split
            .segment(&tar.take_raw())
            .map_err(ApplyError::Metadata)?;
        let crc = a.entry(&h, &mut tar)?;
        split
            .file(&h.name, h.size, crc)
            .map_err(|e| match e.kind() {
                io::ErrorKind::InvalidData => ApplyError::Refused(e.to_string()),
                _ => ApplyError::Metadata(e),
            })?;
    }
    // The stream's errors and the tar-split file's come out of one call: keep them apart
    // (only the stream's may be worth a retry).
    let mut metadata_error = None;
    let rest = tar.rest(|b| {
        split.segment(b).map_err(|e| {
            let copy = io::Error::new(e.kind(), e.to_string());
            metadata_error = Some(e);
            copy
        })
    });
    match (rest, metadata_error) {
        (Ok(()), _) => {}
        (Err(_), Some(e)) => return Err(ApplyError::Metadata(e)),
        (Err(e), None) => return Err(ApplyError::Tar(e)),
    }
    // Directory times last: creating entries inside changed them.
    for d in std::mem::take(&mut a.dir_times).into_iter().rev() {
        if let Some(mode) = d.mode {
            chmod(&d.path, mode).map_err(|e| a.io(&d.path, e))?;
        }
        set_times(&d.path, d.atime, d.mtime, false).map_err(|e| a.io(&d.path, e))?;
    }
    Ok(a.applied)
}

/// What is left to do to a directory once all entries are in.
struct DirFinish {
    path: PathBuf,
    /// The final mode, when it was widened while the layer was written.
    mode: Option<u32>,
    atime: Timestamp,
    mtime: Timestamp,
}

struct Applier {
    root: PathBuf,
    opts: ApplyOptions,
    /// Relative paths known to be real directories (not links) under the root.
    dirs: HashSet<Vec<u8>>,
    /// vfs: paths this layer wrote, which an opaque directory keeps.
    unpacked: HashSet<Vec<u8>>,
    dir_times: Vec<DirFinish>,
    applied: Applied,
}

impl Applier {
    fn io(&self, path: &Path, source: io::Error) -> ApplyError {
        let shown = path
            .strip_prefix(&self.root)
            .map(|p| format!("/{}", p.display()))
            .unwrap_or_else(|_| path.display().to_string());
        ApplyError::Io {
            path: shown,
            source,
        }
    }

    fn full(&self, rel: &[u8]) -> PathBuf {
        if rel == b"." {
            self.root.clone()
        } else {
            self.root.join(std::ffi::OsStr::from_bytes(rel))
        }
    }

    /// Applies one entry; returns the CRC of its content when it has any.
    fn entry<R: BufRead>(
        &mut self,
        h: &Header,
        tar: &mut TarReader<R>,
    ) -> Result<Option<u64>, ApplyError> {
        let rel = relative(&h.name)?;
        let (parent, base) = parent_and_base(&rel);
        let (parent, base) = (parent.to_vec(), base.to_vec());
        if !base.starts_with(WHITEOUT_PREFIX) {
            self.applied.uids.insert(h.uid as u32);
            self.applied.gids.insert(h.gid as u32);
        }
        if self.opts.whiteouts == Whiteouts::Remove
            && rel.starts_with(WHITEOUT_META_PREFIX)
            && rel != WHITEOUT_OPAQUE
        {
            // aufs metadata (hard link directories): not part of the tree.
            return self.skip_content(h, tar);
        }
        if rel != b"." {
            self.ensure_dir(&parent, &h.name)?;
        }
        if let Some(done) = self.whiteout(h, &parent, &base)? {
            return Ok(done);
        }
        let path = self.full(&rel);
        match std::fs::symlink_metadata(&path) {
            Ok(existing) => {
                let both_dirs = existing.is_dir() && h.typeflag == tarstream::TYPE_DIR;
                if both_dirs && rel == b"." && self.opts.whiteouts != Whiteouts::Remove {
                    // overlay's Unpack leaves the layer root alone.
                    return Ok(None);
                }
                if !both_dirs {
                    self.remove(&rel)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(&path, e)),
        }
        let crc = self.create(h, &rel, &path, tar)?;
        if self.opts.whiteouts == Whiteouts::Remove {
            self.unpacked.insert(rel);
        }
        Ok(crc)
    }

    fn skip_content<R: BufRead>(
        &mut self,
        h: &Header,
        tar: &mut TarReader<R>,
    ) -> Result<Option<u64>, ApplyError> {
        if h.size == 0 {
            return Ok(None);
        }
        let mut crc = Crc64::new();
        let mut content = tar.content();
        loop {
            let chunk = content.fill_buf().map_err(ApplyError::Tar)?;
            if chunk.is_empty() {
                return Ok(Some(crc.finish()));
            }
            crc.update(chunk);
            let n = chunk.len();
            content.consume(n);
        }
    }

    /// Handles a whiteout entry; Some when the entry was one.
    fn whiteout(
        &mut self,
        h: &Header,
        parent: &[u8],
        base: &[u8],
    ) -> Result<Option<Option<u64>>, ApplyError> {
        if !base.starts_with(WHITEOUT_PREFIX) {
            return Ok(None);
        }
        let dir = self.full(parent);
        match self.opts.whiteouts {
            Whiteouts::Keep => Ok(None),
            Whiteouts::Overlay { opaque_xattr } => {
                if base == WHITEOUT_OPAQUE {
                    lsetxattr(&dir, opaque_xattr, b"y").map_err(|e| self.io(&dir, e))?;
                    return Ok(Some(None));
                }
                let target = child(parent, &base[WHITEOUT_PREFIX.len()..]);
                let path = self.full(&target);
                if std::fs::symlink_metadata(&path).is_ok() {
                    self.remove(&target)?;
                }
                mknod(&path, libc::S_IFCHR, 0).map_err(|e| self.io(&path, e))?;
                self.chown(&path, h.uid, h.gid)?;
                Ok(Some(None))
            }
            Whiteouts::Remove => {
                if base == WHITEOUT_OPAQUE {
                    self.clear_opaque(parent)?;
                } else {
                    self.remove(&child(parent, &base[WHITEOUT_PREFIX.len()..]))?;
                }
                Ok(Some(None))
            }
        }
    }

    /// vfs: an opaque directory keeps only what this layer put in it.
    fn clear_opaque(&mut self, dir_rel: &[u8]) -> Result<(), ApplyError> {
        let dir = self.full(dir_rel);
        let entries = std::fs::read_dir(&dir).map_err(|e| self.io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.io(&dir, e))?;
            let rel = child(dir_rel, entry.file_name().as_bytes());
            if !self.unpacked.contains(&rel) {
                self.remove(&rel)?;
            }
        }
        Ok(())
    }

    /// Removes a path (a whole tree for a directory) and forgets what was known under it.
    fn remove(&mut self, rel: &[u8]) -> Result<(), ApplyError> {
        let path = self.full(rel);
        let result = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => super::sys::remove_tree(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        result.map_err(|e| self.io(&path, e))?;
        let mut prefix = rel.to_vec();
        prefix.push(b'/');
        self.dirs.retain(|d| d != rel && !d.starts_with(&prefix));
        Ok(())
    }

    /// Makes sure `rel` is a real directory, creating missing ones (0755); refuses to go
    /// through a symbolic link or a non-directory.
    fn ensure_dir(&mut self, rel: &[u8], entry: &[u8]) -> Result<(), ApplyError> {
        self.walk_dirs(rel, entry, true)
    }

    /// Like `ensure_dir`, creating nothing (where a hard link's target must already be).
    fn check_dir(&mut self, rel: &[u8], entry: &[u8]) -> Result<(), ApplyError> {
        self.walk_dirs(rel, entry, false)
    }

    fn walk_dirs(&mut self, rel: &[u8], entry: &[u8], create: bool) -> Result<(), ApplyError> {
        if self.dirs.contains(rel) {
            return Ok(());
        }
        let mut prefix = Vec::with_capacity(rel.len());
        for part in rel.split(|&b| b == b'/') {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(part);
            if self.dirs.contains(&prefix) {
                continue;
            }
            let path = self.full(&prefix);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(ApplyError::Refused(format!(
                        "{} goes through the symbolic link /{}",
                        show(entry),
                        String::from_utf8_lossy(&prefix)
                    )));
                }
                Ok(_) => {
                    return Err(ApplyError::Refused(format!(
                        "{} is inside /{}, which is not a directory",
                        show(entry),
                        String::from_utf8_lossy(&prefix)
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    mkdir(&path, 0o755).map_err(|e| self.io(&path, e))?;
                }
                Err(e) => return Err(self.io(&path, e)),
            }
            self.dirs.insert(prefix.clone());
        }
        Ok(())
    }

    fn create<R: BufRead>(
        &mut self,
        h: &Header,
        rel: &[u8],
        path: &Path,
        tar: &mut TarReader<R>,
    ) -> Result<Option<u64>, ApplyError> {
        let mode = h.mode & 0o7777;
        let atime = match h.atime {
            Some(a) if (a.secs, a.nanos) >= (h.mtime.secs, h.mtime.nanos) => a,
            _ => h.mtime,
        };
        match h.typeflag {
            tarstream::TYPE_DIR => {
                // Without root's override a directory must stay writable until its
                // entries are in; its mode is set at the end.
                let working = if self.opts.privileged {
                    mode
                } else {
                    mode | 0o700
                };
                if std::fs::symlink_metadata(path).is_err() {
                    mkdir(path, working).map_err(|e| self.io(path, e))?;
                }
                self.dirs.insert(rel.to_vec());
                self.finish(path, h, working, atime)?;
                self.dir_times.push(DirFinish {
                    path: path.to_path_buf(),
                    mode: (working != mode).then_some(mode),
                    atime: h.atime.unwrap_or_default(),
                    mtime: h.mtime,
                });
                Ok(None)
            }
            tarstream::TYPE_REG | tarstream::TYPE_REG_A => self.regular(h, path, mode, atime, tar),
            tarstream::TYPE_SYMLINK => self.symlink(h, rel, path, atime),
            tarstream::TYPE_LINK => self.hard_link(h, path, mode, atime),
            tarstream::TYPE_CHAR | tarstream::TYPE_BLOCK | tarstream::TYPE_FIFO => {
                let kind = match h.typeflag {
                    tarstream::TYPE_CHAR => libc::S_IFCHR,
                    tarstream::TYPE_BLOCK => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                if kind != libc::S_IFIFO && !self.opts.privileged {
                    return Err(ApplyError::Refused(format!(
                        "{} is a device node, which only root can create (run skiff as root)",
                        show(&h.name)
                    )));
                }
                let dev = libc::makedev(h.devmajor as u32, h.devminor as u32);
                mknod(path, kind | mode, dev).map_err(|e| self.io(path, e))?;
                self.finish(path, h, mode, atime)?;
                Ok(None)
            }
            other => Err(ApplyError::Refused(format!(
                "{} has the tar type {:?}, which a layer cannot hold (unhandled tar header type {other})",
                show(&h.name),
                other as char
            ))),
        }
    }

    fn symlink(
        &mut self,
        h: &Header,
        rel: &[u8],
        path: &Path,
        atime: Timestamp,
    ) -> Result<Option<u64>, ApplyError> {
        let (parent, _) = parent_and_base(rel);
        let mut joined = parent.to_vec();
        joined.push(b'/');
        joined.extend_from_slice(&h.linkname);
        let target = clean_path(&joined);
        let target = target.strip_prefix(b"/").unwrap_or(&target);
        if target == b".." || target.starts_with(b"../") {
            return Err(ApplyError::Refused(format!(
                "the symbolic link {} -> {} points outside of the layer",
                show(&h.name),
                show(&h.linkname)
            )));
        }
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&h.linkname), path)
            .map_err(|e| self.io(path, e))?;
        self.chown(path, h.uid, h.gid)?;
        set_times(path, atime, h.mtime, true).map_err(|e| self.io(path, e))?;
        self.xattrs(path, h)?;
        Ok(None)
    }

    /// A hard link to a file of this layer; its owner, mode and times are the link
    /// entry's, as containers/storage applies them to the shared inode.
    fn hard_link(
        &mut self,
        h: &Header,
        path: &Path,
        mode: u32,
        atime: Timestamp,
    ) -> Result<Option<u64>, ApplyError> {
        let target_rel = relative(&h.linkname).map_err(|_| {
            ApplyError::Refused(format!(
                "the hard link {} -> {} points outside of the layer",
                show(&h.name),
                show(&h.linkname)
            ))
        })?;
        let (tparent, _) = parent_and_base(&target_rel);
        let tparent = tparent.to_vec();
        self.check_dir(&tparent, &h.linkname)?;
        let target = self.full(&target_rel);
        std::fs::hard_link(&target, path).map_err(|e| self.io(path, e))?;
        let target_is_link = std::fs::symlink_metadata(&target)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        self.chown(path, h.uid, h.gid)?;
        if !target_is_link {
            chmod(path, mode).map_err(|e| self.io(path, e))?;
            set_times(path, atime, h.mtime, false).map_err(|e| self.io(path, e))?;
        }
        self.xattrs(path, h)?;
        Ok(None)
    }

    /// Writes a regular file's content through one descriptor, and its metadata.
    fn regular<R: BufRead>(
        &mut self,
        h: &Header,
        path: &Path,
        mode: u32,
        atime: Timestamp,
        tar: &mut TarReader<R>,
    ) -> Result<Option<u64>, ApplyError> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o777)
            .open(path)
            .map_err(|e| self.io(path, e))?;
        let mut crc = Crc64::new();
        let mut content = tar.content();
        loop {
            let chunk = content.fill_buf().map_err(ApplyError::Tar)?;
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len();
            crc.update(chunk);
            file.write_all(chunk).map_err(|e| self.io(path, e))?;
            content.consume(n);
        }
        let fd = file.as_raw_fd();
        self.chown_fd(fd, path, h.uid, h.gid)?;
        // After chown, which clears setuid and setgid bits.
        // SAFETY: a valid descriptor.
        if unsafe { libc::fchmod(fd, mode as libc::mode_t) } != 0 {
            return Err(self.io(path, io::Error::last_os_error()));
        }
        for (name, value) in &h.xattrs {
            if name.as_slice() == b"security.selinux" {
                continue;
            }
            self.xattr_result(path, fsetxattr(fd, name, value))?;
        }
        let times = [timespec(atime), timespec(h.mtime)];
        // SAFETY: a valid descriptor and two timespecs.
        if unsafe { libc::futimens(fd, times.as_ptr()) } != 0 {
            return Err(self.io(path, io::Error::last_os_error()));
        }
        Ok((h.size > 0).then(|| crc.finish()))
    }

    /// Owner, mode, times and xattrs of a non-regular, non-link entry.
    fn finish(
        &mut self,
        path: &Path,
        h: &Header,
        mode: u32,
        atime: Timestamp,
    ) -> Result<(), ApplyError> {
        self.chown(path, h.uid, h.gid)?;
        chmod(path, mode).map_err(|e| self.io(path, e))?;
        set_times(path, atime, h.mtime, false).map_err(|e| self.io(path, e))?;
        self.xattrs(path, h)
    }

    fn xattrs(&mut self, path: &Path, h: &Header) -> Result<(), ApplyError> {
        for (name, value) in &h.xattrs {
            if name.as_slice() == b"security.selinux" {
                continue;
            }
            let name_text = String::from_utf8_lossy(name).into_owned();
            self.xattr_result(path, lsetxattr(path, &name_text, value))?;
        }
        Ok(())
    }

    /// Filesystems without xattrs, and a non-root user's trusted/security names, are
    /// skipped (containers/storage warns and goes on); other failures stop the layer.
    fn xattr_result(&self, path: &Path, r: io::Result<()>) -> Result<(), ApplyError> {
        match r {
            Ok(()) => Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::ENOTSUP)
                    || (!self.opts.privileged && e.raw_os_error() == Some(libc::EPERM)) =>
            {
                Ok(())
            }
            Err(e) => Err(self.io(path, e)),
        }
    }

    fn chown(&self, path: &Path, uid: u64, gid: u64) -> Result<(), ApplyError> {
        let c = cpath(path).map_err(|e| self.io(path, e))?;
        // SAFETY: a NUL-terminated path.
        let rc = unsafe { libc::lchown(c.as_ptr(), uid as libc::uid_t, gid as libc::gid_t) };
        self.chown_result(path, rc, uid, gid)
    }

    fn chown_fd(&self, fd: i32, path: &Path, uid: u64, gid: u64) -> Result<(), ApplyError> {
        // SAFETY: a valid descriptor.
        let rc = unsafe { libc::fchown(fd, uid as libc::uid_t, gid as libc::gid_t) };
        self.chown_result(path, rc, uid, gid)
    }

    fn chown_result(&self, path: &Path, rc: i32, uid: u64, gid: u64) -> Result<(), ApplyError> {
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if self.opts.ignore_chown_errors && e.raw_os_error() == Some(libc::EPERM) {
            return Ok(());
        }
        if e.raw_os_error() == Some(libc::EPERM) && !self.opts.privileged {
            return Err(ApplyError::Refused(format!(
                "{} is owned by {uid}:{gid}, which a non-root user cannot set (run skiff as root, or set ignore_chown_errors in storage.conf)",
                path.strip_prefix(&self.root)
                    .map(|p| format!("/{}", p.display()))
                    .unwrap_or_default()
            )));
        }
        Err(self.io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        for (input, want) in [
            ("a/b/../c", "a/c"),
            ("./a//b/", "a/b"),
            ("", "."),
            ("/../x", "/x"),
            ("../x", "../x"),
            ("a/../../x", "../x"),
            ("/", "/"),
            ("./", "."),
        ] {
            assert_eq!(
                String::from_utf8(clean_path(input.as_bytes())).unwrap(),
                want,
                "{input}"
            );
        }
        assert!(relative(b"a/../../etc/passwd").is_err());
        assert_eq!(relative(b"/etc/passwd").unwrap(), b"etc/passwd");
        assert_eq!(relative(b"./").unwrap(), b".");
        assert_eq!(child(b".", b"a"), b"a");
        assert_eq!(child(b"x/y", b"a"), b"x/y/a");
    }
}
