//! Walks a tar file's headers without reading its data: each entry's name, type, link
//! target and where its bytes lie. GNU long names and long link names (`L`, `K`) and pax
//! extended headers (`x`: `path`, `linkpath`, `size`) are applied to the entry they
//! describe; they are the only data read, and one over `MAX_METADATA_ENTRY` bytes is
//! refused before a byte of it is read (the `tar` crate reads them whole: a 200 MB long
//! name cost 850 MB of memory). pax global headers (`g`) are skipped unread.
//!
//! Formats: v7, ustar (with its name prefix), GNU (base-256 sizes, sparse entries skipped
//! with their extension blocks) and pax, as `docker save`, Go's archive/tar and GNU tar
//! write them. Every header's checksum is checked, and every entry must lie inside the file.

use std::ffi::OsStr;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The largest GNU long name, long link name or pax extended header read, as Go's
/// archive/tar (which skopeo uses) allows: names are at most a few KiB in practice.
pub const MAX_METADATA_ENTRY: u64 = 1024 * 1024;

const BLOCK: u64 = 512;

#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Go's archive/tar error for a header it cannot read, which skopeo prints.
const GO_ERR_HEADER: &str = "archive/tar: invalid tar header";

fn invalid(message: String) -> HeaderError {
    HeaderError::Invalid(message)
}

/// What an entry is, by its type flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// `0`, NUL (v7) and `7` (contiguous): data follows.
    File,
    HardLink,
    Symlink,
    Dir,
    /// Devices, FIFOs, sparse files and anything else: never served.
    Other,
}

/// One entry, with the long names and pax records before it applied.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: PathBuf,
    pub link_name: Option<PathBuf>,
    pub kind: EntryKind,
    /// Where the entry's data starts in the file, and how long it is.
    pub offset: u64,
    pub size: u64,
}

/// What pax and GNU metadata entries said about the next entry.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_link: Option<Vec<u8>>,
    pax_size: Option<u64>,
    pax: bool,
    any: bool,
}

/// Iterates over the entries of a tar file of `len` bytes.
pub struct Headers<R> {
    r: R,
    len: u64,
    /// Where the next header block starts.
    next: u64,
    done: bool,
}

impl<R: Read + Seek> Headers<R> {
    pub fn new(r: R, len: u64) -> Headers<R> {
        Headers {
            r,
            len,
            next: 0,
            done: false,
        }
    }

    /// The next entry; None at the end of the archive (a zero block, or the end of the
    /// file on a block boundary).
    pub fn next_entry(&mut self) -> Result<Option<Entry>, HeaderError> {
        if self.done {
            return Ok(None);
        }
        let mut pending = Pending::default();
        loop {
            let at = self.next;
            let Some(block) = self.read_block(at)? else {
                return self.end(&pending, at);
            };
            if block.iter().all(|b| *b == 0) {
                return self.end(&pending, at);
            }
            check_sum(&block, at)?;
            let flag = block[156];
            let mut offset = at + BLOCK;
            if flag == b'S' {
                offset = self.skip_sparse_extensions(&block, offset)?;
            }
            let metadata = matches!(flag, b'L' | b'K' | b'x' | b'g');
            let mut size = numeric(&block[124..136], "size", at)?;
            if !metadata && let Some(s) = pending.pax_size {
                size = s;
            }
            self.next = self.data_end(offset, size, at)?;
            if metadata {
                self.metadata(flag, offset, size, at, &mut pending)?;
                continue;
            }
            return Ok(Some(entry(&block, flag, offset, size, pending)));
        }
    }

    /// The end of the archive: an error if metadata announced an entry that never came.
    fn end(&mut self, pending: &Pending, at: u64) -> Result<Option<Entry>, HeaderError> {
        self.done = true;
        if pending.any {
            return Err(invalid(format!(
                "the archive ends at byte {at} after a long name or pax header, with no entry for it"
            )));
        }
        Ok(None)
    }

    /// The padded end of `size` bytes of data at `offset`, checked against the file.
    fn data_end(&self, offset: u64, size: u64, at: u64) -> Result<u64, HeaderError> {
        let end = offset
            .checked_add(size)
            .filter(|end| *end <= self.len)
            .ok_or_else(|| {
                invalid(format!(
                    "the entry at byte {at} claims {size} bytes, past the end of the {}-byte file (truncated or lying archive)",
                    self.len
                ))
            })?;
        Ok(end.div_ceil(BLOCK) * BLOCK)
    }

    /// Applies a metadata entry (`L`, `K`, `x`, `g`) to `pending`, reading it only when
    /// it is within `MAX_METADATA_ENTRY`.
    fn metadata(
        &mut self,
        flag: u8,
        offset: u64,
        size: u64,
        at: u64,
        pending: &mut Pending,
    ) -> Result<(), HeaderError> {
        let what = match flag {
            b'L' => "GNU long name",
            b'K' => "GNU long link name",
            b'x' => "pax extended header",
            // Global pax records apply to the whole archive; none matters here.
            _ => return Ok(()),
        };
        if size > MAX_METADATA_ENTRY {
            return Err(invalid(format!(
                "the {what} at byte {at} is {size} bytes, over the limit of {MAX_METADATA_ENTRY} bytes"
            )));
        }
        let twice = || invalid(format!("two {what} entries for one entry, at byte {at}"));
        let data = self.read_at(offset, size)?;
        pending.any = true;
        match flag {
            b'L' if pending.long_name.is_some() => return Err(twice()),
            b'L' => pending.long_name = Some(trim_nuls(data)),
            b'K' if pending.long_link.is_some() => return Err(twice()),
            b'K' => pending.long_link = Some(trim_nuls(data)),
            _ if pending.pax => return Err(twice()),
            _ => {
                pending.pax = true;
                pax_records(&data, at, pending)?;
            }
        }
        Ok(())
    }

    /// A GNU sparse header may be followed by extension blocks (while the last byte of
    /// the previous one is set); the data starts after them.
    fn skip_sparse_extensions(&mut self, header: &[u8], mut at: u64) -> Result<u64, HeaderError> {
        let mut extended = header[482] != 0;
        while extended {
            let block = self.read_block(at)?.ok_or_else(|| {
                invalid(format!(
                    "the archive ends inside a sparse header at byte {at}"
                ))
            })?;
            extended = block[504] != 0;
            at += BLOCK;
        }
        Ok(at)
    }

    /// The block at `at`; None at the end of the file.
    fn read_block(&mut self, at: u64) -> Result<Option<[u8; 512]>, HeaderError> {
        if at >= self.len {
            return Ok(None);
        }
        if self.len - at < BLOCK {
            return Err(invalid(format!(
                "the archive ends inside the header at byte {at} (truncated)"
            )));
        }
        let mut block = [0u8; 512];
        self.r.seek(SeekFrom::Start(at))?;
        self.r.read_exact(&mut block)?;
        Ok(Some(block))
    }

    fn read_at(&mut self, at: u64, len: u64) -> Result<Vec<u8>, HeaderError> {
        let mut data = Vec::new();
        self.r.seek(SeekFrom::Start(at))?;
        (&mut self.r).take(len).read_to_end(&mut data)?;
        if data.len() as u64 != len {
            return Err(invalid(format!(
                "the archive ends inside the entry at byte {at}"
            )));
        }
        Ok(data)
    }
}

/// The entry a header block describes, with the pending metadata applied (a GNU long
/// name wins over a pax path, as in Go's archive/tar and the `tar` crate).
fn entry(block: &[u8; 512], flag: u8, offset: u64, size: u64, pending: Pending) -> Entry {
    let name = pending
        .long_name
        .or(pending.pax_path)
        .unwrap_or_else(|| header_name(block));
    let link = pending
        .long_link
        .or(pending.pax_link)
        .unwrap_or_else(|| until_nul(&block[157..257]).to_vec());
    let kind = match flag {
        b'0' | 0 | b'7' => EntryKind::File,
        b'1' => EntryKind::HardLink,
        b'2' => EntryKind::Symlink,
        b'5' => EntryKind::Dir,
        _ => EntryKind::Other,
    };
    Entry {
        name: PathBuf::from(OsStr::from_bytes(&name)),
        link_name: (!link.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(&link))),
        kind,
        offset,
        size,
    }
}

/// The name field, behind the ustar prefix when the header is POSIX ustar (GNU headers
/// keep other fields where ustar has its prefix).
fn header_name(block: &[u8; 512]) -> Vec<u8> {
    let name = until_nul(&block[0..100]);
    let prefix = until_nul(&block[345..500]);
    if &block[257..263] == b"ustar\0" && !prefix.is_empty() {
        let mut full = prefix.to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        full
    } else {
        name.to_vec()
    }
}

fn until_nul(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    &field[..end]
}

fn trim_nuls(mut data: Vec<u8>) -> Vec<u8> {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    data.truncate(end);
    data
}

/// The header checksum: the sum of its bytes with the checksum field as spaces (unsigned,
/// or signed as some old tars computed it).
fn check_sum(block: &[u8; 512], at: u64) -> Result<(), HeaderError> {
    let stored = numeric(&block[148..156], "checksum", at)?;
    let field = 148..156;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, b) in block.iter().enumerate() {
        let b = if field.contains(&i) { b' ' } else { *b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
        return Err(invalid(format!(
            "{GO_ERR_HEADER}: the header at byte {at} has a bad checksum (not a tar file, or a damaged one)"
        )));
    }
    Ok(())
}

/// A numeric field: octal text (spaces and NULs around it), or GNU base-256 when the high
/// bit of its first byte is set.
fn numeric(field: &[u8], what: &str, at: u64) -> Result<u64, HeaderError> {
    let bad = || {
        invalid(format!(
            "{GO_ERR_HEADER}: the header at byte {at} has an invalid {what} field"
        ))
    };
    if let Some((&first, rest)) = field.split_first()
        && first & 0x80 != 0
    {
        if first & 0x40 != 0 {
            return Err(bad()); // negative
        }
        let mut value = u64::from(first & 0x3f);
        for &b in rest {
            if value > u64::MAX >> 8 {
                return Err(bad());
            }
            value = value << 8 | u64::from(b);
        }
        return Ok(value);
    }
    let text = std::str::from_utf8(field).map_err(|_| bad())?;
    let text = text.trim_matches(|c| c == ' ' || c == '\0');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| bad())
}

/// pax records, `LEN key=value\n` each (LEN counts the whole record): `path`, `linkpath`
/// and `size` are kept, the rest ignored.
fn pax_records(data: &[u8], at: u64, pending: &mut Pending) -> Result<(), HeaderError> {
    let bad = || invalid(format!("the pax extended header at byte {at} is malformed"));
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|len| *len > space + 1 && *len <= rest.len())
            .ok_or_else(bad)?;
        let record = &rest[space + 1..len];
        rest = &rest[len..];
        let record = record.strip_suffix(b"\n").ok_or_else(bad)?;
        let eq = record.iter().position(|b| *b == b'=').ok_or_else(bad)?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => pending.pax_path = Some(value.to_vec()),
            b"linkpath" => pending.pax_link = Some(value.to_vec()),
            b"size" => {
                let size = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(bad)?;
                pending.pax_size = Some(size);
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GNU header block for `name` of type `flag` claiming `size` bytes.
    fn header(name: &str, flag: u8, size: u64) -> [u8; 512] {
        let mut h = tar::Header::new_gnu();
        h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::new(flag));
        h.set_cksum();
        *h.as_bytes()
    }

    /// `len` bytes: `head`, then zeros, read through a counter of the bytes read.
    struct Sparse {
        head: Vec<u8>,
        len: u64,
        pos: u64,
        read: u64,
    }

    impl Read for Sparse {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = (self.len.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = self.head.get(self.pos as usize + i).copied().unwrap_or(0);
            }
            self.pos += n as u64;
            self.read += n as u64;
            Ok(n)
        }
    }

    impl Seek for Sparse {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            if let SeekFrom::Start(p) = to {
                self.pos = p;
            }
            Ok(self.pos)
        }
    }

    fn all(data: Vec<u8>) -> Result<Vec<Entry>, HeaderError> {
        let len = data.len() as u64;
        let mut headers = Headers::new(io::Cursor::new(data), len);
        let mut out = Vec::new();
        while let Some(e) = headers.next_entry()? {
            out.push(e);
        }
        Ok(out)
    }

    #[test]
    fn oversized_metadata_is_refused_before_it_is_read() {
        for (flag, what) in [
            (b'L', "GNU long name"),
            (b'K', "GNU long link name"),
            (b'x', "pax extended header"),
        ] {
            let size = 200 * 1024 * 1024;
            let mut source = Sparse {
                head: header("././@LongLink", flag, size).to_vec(),
                len: 512 + size + 1024,
                pos: 0,
                read: 0,
            };
            let len = source.len;
            let err = Headers::new(&mut source, len).next_entry().unwrap_err();
            assert!(
                err.to_string().contains(&format!(
                    "the {what} at byte 0 is {size} bytes, over the limit"
                )),
                "{err}"
            );
            assert_eq!(source.read, 512, "{what}: only the header was read");
        }
        // At the limit, a long name is read.
        let name = "n".repeat(MAX_METADATA_ENTRY as usize);
        let mut data = header("././@LongLink", b'L', name.len() as u64).to_vec();
        data.extend_from_slice(name.as_bytes());
        data.extend(header("short", b'0', 0));
        let entries = all(data).unwrap();
        assert_eq!(entries[0].name, PathBuf::from(&name));
    }

    #[test]
    fn long_names_pax_records_and_ustar_prefixes_name_the_next_entry() {
        let long = format!("{}/layer.tar", "d".repeat(150));
        let mut b = tar::Builder::new(Vec::new());
        // GNU long name and long link name.
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        b.append_data(&mut h, &long, &b"hi"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, "s", &long).unwrap();
        // pax path, linkpath and size (the header's own size field says 0).
        b.append_pax_extensions([
            ("path", "pax/name".as_bytes()),
            ("size", b"3"),
            ("mtime", b"1.5"),
        ])
        .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_path("ignored").unwrap();
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &b"abc"[..]).unwrap();
        // ustar prefix + name.
        let mut h = tar::Header::new_ustar();
        h.set_path(&long).unwrap();
        h.set_size(1);
        h.set_cksum();
        b.append(&h, &b"z"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let entries = all(data.clone()).unwrap();
        let names: Vec<_> = entries
            .iter()
            .map(|e| e.name.display().to_string())
            .collect();
        assert_eq!(names, [long.as_str(), "s", "pax/name", long.as_str()]);
        assert_eq!(entries[1].kind, EntryKind::Symlink);
        assert_eq!(entries[1].link_name, Some(PathBuf::from(&long)));
        assert_eq!(entries[2].size, 3);
        let at = entries[2].offset as usize;
        assert_eq!(&data[at..at + 3], b"abc");
        assert_eq!(entries[3].size, 1);
    }

    #[test]
    fn refuses_bad_checksums_sizes_and_orphan_metadata() {
        let mut bad = header("a", b'0', 0);
        bad[0] ^= 1;
        let err = all(bad.to_vec()).unwrap_err();
        assert!(err.to_string().contains("bad checksum"), "{err}");

        let past = header("a", b'0', 4096);
        let err = all(past.to_vec()).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");

        let mut orphan = header("././@LongLink", b'L', 2).to_vec();
        orphan.extend_from_slice(b"ab");
        orphan.resize(1024, 0);
        let err = all(orphan).unwrap_err();
        assert!(err.to_string().contains("no entry for it"), "{err}");

        let mut twice = Vec::new();
        for _ in 0..2 {
            twice.extend(header("././@LongLink", b'L', 1));
            twice.extend([b'a'; 512]);
        }
        twice.extend(header("x", b'0', 0));
        let err = all(twice).unwrap_err();
        assert!(
            err.to_string().contains("two GNU long name entries"),
            "{err}"
        );

        let mut pax = header("pax", b'x', 9).to_vec();
        pax.extend(b"99 path=x\n");
        pax.resize(1024, 0);
        pax.extend(header("x", b'0', 0));
        let err = all(pax).unwrap_err();
        assert!(err.to_string().contains("malformed"), "{err}");
    }

    #[test]
    fn reads_gnu_base_256_sizes() {
        let mut h = header("big", b'0', 0);
        h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00]);
        let mut h2 = tar::Header::from_byte_slice(&h).clone();
        h2.set_cksum();
        let mut data = h2.as_bytes().to_vec();
        data.resize(512 + 512, 7);
        let entries = all(data).unwrap();
        assert_eq!(entries[0].size, 512);
        assert!(numeric(&[0xff; 12], "size", 0).is_err(), "negative");
        assert!(numeric(&[0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "size", 0).is_err());
        assert_eq!(numeric(b"0000644 \0", "mode", 0).unwrap(), 0o644);
        assert_eq!(numeric(b"\0\0\0", "size", 0).unwrap(), 0);
    }
}
