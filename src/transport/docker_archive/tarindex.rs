//! A `docker save` tar, indexed once: where each file's bytes lie, and what each link
//! points to. Files are then served by seeking to their offset, so a multi-GB archive is
//! never read into memory nor unpacked to disk.
//!
//! Everything that could make a name mean two things, or point outside the archive, is
//! refused while indexing: `..` and absolute names, duplicate names, links that leave the
//! archive root, and entries whose data would run past the end of the file. Headers are
//! read by `tarheaders`, which refuses oversized long names and pax headers unread.
//!
//! A compressed archive (`docker save img | gzip`, or bzip2, xz, zstd) is decompressed once
//! into a temp file under `--tmpdir`, which is indexed and served the same way and removed
//! with the index (or at once, if decompressing or indexing fails).

use std::collections::HashMap;
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::ArchiveError;
use super::tarheaders::{EntryKind, HeaderError, Headers};
use crate::pipeline::{self, BlobReader, Compression};
use crate::transport::fsspace::Guarded;
use crate::transport::fsutil;

#[derive(Debug, Clone)]
enum Node {
    File {
        offset: u64,
        size: u64,
    },
    /// Target already resolved to an archive-root-relative name.
    Link(String),
    Dir,
}

/// A regular file's bytes inside the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub size: u64,
}

#[derive(Debug)]
pub struct TarIndex {
    /// The archive as the user named it (in messages).
    path: PathBuf,
    /// The file whose bytes are served: the archive, or its decompressed copy.
    data: PathBuf,
    nodes: HashMap<String, Node>,
    /// Names in archive order (for copying entries into a rewritten archive).
    order: Vec<String>,
    /// The decompressed copy of a compressed archive; deleted when the index is dropped.
    _spool: Option<tempfile::TempPath>,
}

/// Symlink chains longer than this are refused (a loop, or an attack).
const MAX_LINK_HOPS: usize = 16;

impl TarIndex {
    /// Scans the headers of the uncompressed archive `path` (blocking; call from
    /// spawn_blocking). A compressed one is refused, naming its compression.
    pub fn scan(path: &Path) -> Result<TarIndex, ArchiveError> {
        let io_err = |e: io::Error| ArchiveError::io(path, "reading", e);
        let mut file = std::fs::File::open(path).map_err(|source| ArchiveError::Open {
            archive: path.to_path_buf(),
            source,
        })?;
        if let Some(c) = compression_of(&mut file).map_err(io_err)? {
            return Err(ArchiveError::Invalid {
                archive: path.to_path_buf(),
                message: format!(
                    "the archive is {}-compressed; only an uncompressed archive can be added to",
                    c.name()
                ),
            });
        }
        let len = file.metadata().map_err(io_err)?.len();
        Self::scan_reader(path, file, len)
    }

    /// Scans `path` for reading, decompressing a compressed archive first into a temp file
    /// under `tmpdir` (blocking; call from spawn_blocking).
    pub fn scan_source(path: &Path, tmpdir: &Path) -> Result<TarIndex, ArchiveError> {
        let io_err = |e: io::Error| ArchiveError::io(path, "reading", e);
        let mut file = std::fs::File::open(path).map_err(|source| ArchiveError::Open {
            archive: path.to_path_buf(),
            source,
        })?;
        let Some(compression) = compression_of(&mut file).map_err(io_err)? else {
            let len = file.metadata().map_err(io_err)?.len();
            return Self::scan_reader(path, file, len);
        };
        let spool = decompress_to_temp(path, file, compression, tmpdir)?;
        let data = std::fs::File::open(spool.path()).map_err(io_err)?;
        let len = data.metadata().map_err(io_err)?.len();
        let mut index = Self::scan_reader(path, data, len)?;
        index.data = spool.path().to_path_buf();
        index._spool = Some(spool.into_temp_path());
        Ok(index)
    }

    pub(crate) fn scan_reader<R: Read + Seek>(
        path: &Path,
        r: R,
        len: u64,
    ) -> Result<TarIndex, ArchiveError> {
        let io_err = |e: io::Error| ArchiveError::io(path, "reading", e);
        let bad = |msg: String| ArchiveError::Invalid {
            archive: path.to_path_buf(),
            message: msg,
        };
        let mut headers = Headers::new(r, len);
        let mut nodes = HashMap::new();
        let mut order = Vec::new();
        while let Some(entry) = headers.next_entry().map_err(|e| match e {
            HeaderError::Io(e) => io_err(e),
            HeaderError::Invalid(message) => bad(message),
        })? {
            let raw_name = entry.name;
            let name = normalize(&raw_name).ok_or_else(|| {
                bad(format!(
                    "entry {raw_name:?} has an absolute path or \"..\": it would escape the archive"
                ))
            })?;
            if name.is_empty() {
                continue;
            }
            let Some(node) = node_of(entry.kind, entry.link_name, &name, entry.offset, entry.size)
                .map_err(bad)?
            else {
                continue;
            };
            if let Some(previous) = nodes.insert(name.clone(), node) {
                // `docker save` never repeats a name; a repeat would let two readers see
                // different contents for one name.
                if !(matches!(previous, Node::Dir) && matches!(nodes.get(&name), Some(Node::Dir))) {
                    return Err(bad(format!("duplicate entry {name:?}")));
                }
            } else {
                order.push(name);
            }
        }
        Ok(TarIndex {
            path: path.to_path_buf(),
            data: path.to_path_buf(),
            nodes,
            order,
            _spool: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// The regular file `name` resolves to, following links inside the archive.
    pub fn resolve(&self, name: &str) -> Result<(String, Span), ArchiveError> {
        let clean = normalize(Path::new(name)).ok_or_else(|| ArchiveError::Invalid {
            archive: self.path.clone(),
            message: format!("{name:?} would escape the archive"),
        })?;
        let mut current = clean;
        for _ in 0..=MAX_LINK_HOPS {
            match self.nodes.get(&current) {
                Some(Node::File { offset, size }) => {
                    return Ok((
                        current,
                        Span {
                            offset: *offset,
                            size: *size,
                        },
                    ));
                }
                Some(Node::Link(target)) => current = target.clone(),
                Some(Node::Dir) => {
                    return Err(ArchiveError::Invalid {
                        archive: self.path.clone(),
                        message: format!("{name:?} is a directory, not a file"),
                    });
                }
                None => {
                    return Err(ArchiveError::Missing {
                        archive: self.path.clone(),
                        name: name.to_string(),
                    });
                }
            }
        }
        Err(ArchiveError::Invalid {
            archive: self.path.clone(),
            message: format!("{name:?}: too many levels of links (a loop?)"),
        })
    }

    /// Whether `name` is a symlink or hard link entry.
    pub fn is_link(&self, name: &str) -> bool {
        matches!(self.nodes.get(name), Some(Node::Link(_)))
    }

    /// The raw target of a link entry.
    pub fn link_target(&self, name: &str) -> Option<&str> {
        match self.nodes.get(name) {
            Some(Node::Link(t)) => Some(t),
            _ => None,
        }
    }

    /// Opens `name` for streaming.
    pub async fn open(&self, name: &str) -> Result<(BlobReader, u64), ArchiveError> {
        let (_, span) = self.resolve(name)?;
        let io_err = |e| ArchiveError::io(&self.path, &format!("reading {name} from"), e);
        let mut file = tokio::fs::File::open(&self.data).await.map_err(io_err)?;
        file.seek(io::SeekFrom::Start(span.offset))
            .await
            .map_err(io_err)?;
        Ok((Box::pin(file.take(span.size)), span.size))
    }

    /// Reads a small file whole, refusing more than `limit` bytes.
    pub async fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        let (reader, size) = self.open(name).await?;
        if size > limit {
            return Err(ArchiveError::Invalid {
                archive: self.path.clone(),
                message: format!("{name} is {size} bytes, over the {limit}-byte limit"),
            });
        }
        let mut out = Vec::with_capacity(size as usize);
        let mut reader = reader;
        reader
            .read_to_end(&mut out)
            .await
            .map_err(|e| ArchiveError::io(&self.path, &format!("reading {name} from"), e))?;
        Ok(out)
    }

    /// Blocking read of a file's span, for sniffing and size counting.
    pub fn open_blocking(&self, span: Span) -> io::Result<impl Read + use<>> {
        let mut f = std::fs::File::open(&self.data)?;
        f.seek(io::SeekFrom::Start(span.offset))?;
        Ok(f.take(span.size))
    }
}

/// The index node for an entry of `kind` named `name`; None for kinds never served. Link
/// targets are resolved to archive-root-relative names, and refused if they leave it.
fn node_of(
    kind: EntryKind,
    link_name: Option<PathBuf>,
    name: &str,
    offset: u64,
    size: u64,
) -> Result<Option<Node>, String> {
    Ok(Some(match kind {
        EntryKind::File => Node::File { offset, size },
        EntryKind::Symlink => {
            let target = link_name.ok_or_else(|| format!("symlink {name:?} has no target"))?;
            if target.is_absolute() {
                return Err(format!(
                    "symlink {name:?} points to the absolute path {target:?}, outside the archive"
                ));
            }
            let parent = Path::new(&name).parent().unwrap_or(Path::new(""));
            Node::Link(lexical_clean(&parent.join(&target)).ok_or_else(|| {
                format!("symlink {name:?} -> {target:?} points outside the archive")
            })?)
        }
        EntryKind::HardLink => {
            let target = link_name.ok_or_else(|| format!("hard link {name:?} has no target"))?;
            // Hard link targets are archive-relative names, not relative to the link.
            Node::Link(
                normalize(&target)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        format!("hard link {name:?} -> {target:?} points outside the archive")
                    })?,
            )
        }
        EntryKind::Dir => Node::Dir,
        // Devices, FIFOs, sparse files: nothing docker-archive needs; never served.
        EntryKind::Other => return Ok(None),
    }))
}

/// The compression the file's first bytes announce; the file is left at its start.
fn compression_of(file: &mut std::fs::File) -> io::Result<Option<Compression>> {
    let mut prefix = [0u8; 6];
    let n = crate::pipeline::read_full(file, &mut prefix)?;
    file.seek(io::SeekFrom::Start(0))?;
    Ok(pipeline::detect(&prefix[..n]))
}

/// One decompression pass of `file` into a new temp file in `tmpdir` (removed again if
/// anything fails: the `NamedTempFile` is dropped).
fn decompress_to_temp(
    archive: &Path,
    file: std::fs::File,
    compression: Compression,
    tmpdir: &Path,
) -> Result<tempfile::NamedTempFile, ArchiveError> {
    let in_tmpdir = |e: io::Error| {
        ArchiveError::io(
            archive,
            &format!("decompressing into {} the", tmpdir.display()),
            e,
        )
    };
    std::fs::create_dir_all(tmpdir).map_err(in_tmpdir)?;
    fsutil::sweep_stale(tmpdir);
    let spool = fsutil::scratch_file_in(tmpdir, "unpacked").map_err(|e| ArchiveError::Invalid {
        archive: archive.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut plain = pipeline::decoder(compression, file).map_err(in_tmpdir)?;
    // The archive's size says nothing of what it decompresses to: keep the reserve.
    let guarded = Guarded::new(spool.as_file(), spool.as_file()).map_err(in_tmpdir)?;
    let mut out = io::BufWriter::with_capacity(pipeline::BUFFER_SIZE, guarded);
    let copied = io::copy(&mut plain, &mut out).and_then(|_| out.flush());
    drop(out);
    copied.map_err(|e| ArchiveError::Invalid {
        archive: archive.to_path_buf(),
        message: format!(
            "decompressing the {}-compressed archive: {e}",
            compression.name()
        ),
    })?;
    Ok(spool)
}

/// "./a/b" -> "a/b"; None for absolute names and any `..` (even ones that stay inside:
/// `docker save` never writes them, so one is a sign of a crafted archive).
pub fn normalize(p: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// Resolves `..` lexically (for relative symlink targets); None if it climbs above the root.
fn lexical_clean(p: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        f(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(kind);
        b.append_link(&mut h, name, target).unwrap();
    }

    fn scan(data: Vec<u8>) -> Result<TarIndex, ArchiveError> {
        let len = data.len() as u64;
        TarIndex::scan_reader(Path::new("t.tar"), io::Cursor::new(data), len)
    }

    #[test]
    fn follows_links_inside_the_archive() {
        let idx = scan(build(|b| {
            file(b, "abc.tar", b"hello");
            link(b, tar::EntryType::Symlink, "d/layer.tar", "../abc.tar");
            link(b, tar::EntryType::Link, "hard.tar", "abc.tar");
        }))
        .unwrap();
        assert_eq!(idx.resolve("d/layer.tar").unwrap().0, "abc.tar");
        assert_eq!(idx.resolve("./hard.tar").unwrap().1.size, 5);
        assert!(matches!(
            idx.resolve("nope"),
            Err(ArchiveError::Missing { .. })
        ));
    }

    #[test]
    fn refuses_escapes_duplicates_and_loops() {
        let esc = scan(build(|b| {
            link(b, tar::EntryType::Symlink, "x", "../../etc/passwd");
        }))
        .unwrap_err();
        assert!(esc.to_string().contains("outside the archive"), "{esc}");
        let abs = scan(build(|b| {
            link(b, tar::EntryType::Symlink, "x", "/etc/passwd");
        }))
        .unwrap_err();
        assert!(abs.to_string().contains("absolute"), "{abs}");
        let dup = scan(build(|b| {
            file(b, "a", b"1");
            file(b, "a", b"2");
        }))
        .unwrap_err();
        assert!(dup.to_string().contains("duplicate"), "{dup}");
        let lp = scan(build(|b| {
            link(b, tar::EntryType::Symlink, "a", "b");
            link(b, tar::EntryType::Symlink, "b", "a");
        }))
        .unwrap();
        assert!(lp.resolve("a").unwrap_err().to_string().contains("loop"));
    }

    #[test]
    fn refuses_truncated_entries() {
        let mut data = build(|b| file(b, "big", &[7u8; 4096]));
        data.truncate(2048);
        let err = scan(data).unwrap_err().to_string();
        assert!(
            err.contains("claims 4096 bytes, past the end of the 2048-byte file"),
            "{err}"
        );
    }
}
