//! A streaming tar reader that keeps every byte that is not file content (headers, PAX and
//! GNU extension records, padding, the end of the archive and anything after it), so the
//! tar-split metadata can rebuild the stream exactly. Headers are read as Go's
//! `archive/tar` reads them (what containers/storage sees): ustar prefixes, PAX records
//! (path, linkpath, size, ids, times, `SCHILY.xattr.*`), GNU long names and links, base-256
//! numbers, checksums verified.

use std::io::{self, BufRead, Read};

const BLOCK: usize = 512;
/// One PAX or GNU extension header is at most this large, as in Go's archive/tar.
const MAX_EXTENSION: u64 = 1 << 20;
/// All the extension headers before one entry together: Go keeps only the last of each
/// kind, but their bytes are kept here for tar-split, so their number must be bounded too.
const MAX_EXTENSIONS_PER_ENTRY: u64 = 4 << 20;

/// One entry as Go's tar reader gives it.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// `hdr.Name`: the name exactly as the archive spells it (not cleaned).
    pub name: Vec<u8>,
    pub typeflag: u8,
    /// The mode field (permission, setuid/setgid/sticky bits).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Content bytes that follow (0 for header-only types).
    pub size: u64,
    pub mtime: Timestamp,
    pub atime: Option<Timestamp>,
    pub linkname: Vec<u8>,
    pub devmajor: u64,
    pub devminor: u64,
    /// `SCHILY.xattr.NAME` records.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

pub const TYPE_REG: u8 = b'0';
pub const TYPE_REG_A: u8 = 0;
pub const TYPE_LINK: u8 = b'1';
pub const TYPE_SYMLINK: u8 = b'2';
pub const TYPE_CHAR: u8 = b'3';
pub const TYPE_BLOCK: u8 = b'4';
pub const TYPE_DIR: u8 = b'5';
pub const TYPE_FIFO: u8 = b'6';

fn malformed(what: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("archive/tar: {}", what.into()),
    )
}

/// Reads entries; `raw` collects the bytes a tar-split segment must carry.
pub struct TarReader<R: BufRead> {
    inner: R,
    raw: Vec<u8>,
    /// Content of the current entry not yet read.
    remaining: u64,
    /// Padding after the current entry's content.
    padding: u64,
    ended: bool,
}

impl<R: BufRead> TarReader<R> {
    pub fn new(inner: R) -> TarReader<R> {
        TarReader {
            inner,
            raw: Vec::with_capacity(4 * BLOCK),
            remaining: 0,
            padding: 0,
            ended: false,
        }
    }

    /// The raw bytes gathered since the last call.
    pub fn take_raw(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.raw)
    }

    /// Reads content of the current entry (0 at its end).
    pub fn read_content(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive/tar: the stream ended inside a file's content",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }

    /// The content of the current entry, as a buffered reader (for streaming copies).
    pub fn content(&mut self) -> Content<'_, R> {
        Content { tar: self }
    }

    /// The next entry, or None at the end of the archive. Unread content of the previous
    /// entry is an error (its bytes would be lost to the metadata).
    pub fn next_entry(&mut self) -> io::Result<Option<Header>> {
        if self.ended {
            return Ok(None);
        }
        if self.remaining != 0 {
            return Err(malformed(
                "internal: the previous entry was not read to its end",
            ));
        }
        self.raw_bytes(self.padding)?;
        self.padding = 0;
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut extensions: u64 = 0;
        loop {
            let Some(block) = self.header_block()? else {
                self.ended = true;
                return Ok(None);
            };
            let typeflag = block[156];
            if matches!(typeflag, b'x' | b'g' | b'L' | b'K') {
                extensions += parse_numeric(&block[124..136])?;
                if extensions > MAX_EXTENSIONS_PER_ENTRY {
                    return Err(malformed(format!(
                        "extension headers of over {MAX_EXTENSIONS_PER_ENTRY} bytes before one entry"
                    )));
                }
            }
            match typeflag {
                b'x' | b'g' => {
                    let data = self.extension_data(&block)?;
                    if typeflag == b'x' {
                        pax.extend(parse_pax(&data)?);
                    }
                    // Global headers carry defaults Go ignores for extraction.
                }
                b'L' => long_name = Some(trim_nul(&self.extension_data(&block)?).to_vec()),
                b'K' => long_link = Some(trim_nul(&self.extension_data(&block)?).to_vec()),
                _ => {
                    let mut h = parse_header(&block)?;
                    if let Some(n) = long_name {
                        h.name = n;
                    }
                    if let Some(l) = long_link {
                        h.linkname = l;
                    }
                    apply_pax(&mut h, &pax)?;
                    if matches!(
                        h.typeflag,
                        TYPE_LINK | TYPE_SYMLINK | TYPE_CHAR | TYPE_BLOCK | TYPE_DIR | TYPE_FIFO
                    ) {
                        // Go treats these as header-only, whatever the size field says.
                        h.size = 0;
                    }
                    if h.typeflag == b'S' {
                        return Err(malformed(format!(
                            "{:?}: sparse files are not supported",
                            String::from_utf8_lossy(&h.name)
                        )));
                    }
                    self.remaining = h.size;
                    self.padding = (BLOCK as u64 - h.size % BLOCK as u64) % BLOCK as u64;
                    return Ok(Some(h));
                }
            }
        }
    }

    /// After the end of the archive: everything left in the stream, kept verbatim.
    pub fn rest(&mut self, mut sink: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        sink(&std::mem::take(&mut self.raw))?;
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let n = buf.len();
            sink(buf)?;
            self.inner.consume(n);
        }
    }

    /// Reads `n` bytes into `raw`.
    fn raw_bytes(&mut self, n: u64) -> io::Result<()> {
        let start = self.raw.len();
        let n = usize::try_from(n).map_err(|_| malformed("entry too large"))?;
        self.raw.resize(start + n, 0);
        self.inner.read_exact(&mut self.raw[start..]).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(io::ErrorKind::UnexpectedEof, "archive/tar: unexpected EOF")
            } else {
                e
            }
        })
    }

    /// A header block, or None at the end of the archive (two zero blocks, or the
    /// stream's end where a header would start, as Go accepts).
    fn header_block(&mut self) -> io::Result<Option<[u8; BLOCK]>> {
        let mut block = [0u8; BLOCK];
        if !self.read_block(&mut block)? {
            return Ok(None);
        }
        if block.iter().all(|&b| b == 0) {
            if !self.read_block(&mut block)? {
                return Ok(None);
            }
            if block.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            return Err(malformed("invalid header (a zero block, then data)"));
        }
        verify_checksum(&block)?;
        Ok(Some(block))
    }

    /// Reads one block into `raw` and `block`; false at a clean end of the stream.
    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < BLOCK {
            let n = self.inner.read(&mut block[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        self.raw.extend_from_slice(&block[..filled]);
        match filled {
            0 => Ok(false),
            BLOCK => Ok(true),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive/tar: unexpected EOF in a header",
            )),
        }
    }

    /// The data of an extension header (PAX, GNU long name), kept in `raw` too.
    fn extension_data(&mut self, block: &[u8; BLOCK]) -> io::Result<Vec<u8>> {
        let size = parse_numeric(&block[124..136])?;
        if size > MAX_EXTENSION {
            return Err(malformed("an extension header over 1 MiB"));
        }
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        let start = self.raw.len();
        self.raw_bytes(padded)?;
        Ok(self.raw[start..start + size as usize].to_vec())
    }
}

/// The current entry's content as a `BufRead`.
pub struct Content<'a, R: BufRead> {
    tar: &'a mut TarReader<R>,
}

impl<R: BufRead> Read for Content<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tar.read_content(buf)
    }
}

impl<R: BufRead> BufRead for Content<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let remaining = self.tar.remaining;
        if remaining == 0 {
            return Ok(&[]);
        }
        let buf = self.tar.inner.fill_buf()?;
        if buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive/tar: the stream ended inside a file's content",
            ));
        }
        let n = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        Ok(&buf[..n])
    }

    fn consume(&mut self, amt: usize) {
        self.tar.inner.consume(amt);
        self.tar.remaining -= amt as u64;
    }
}

fn trim_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn verify_checksum(block: &[u8; BLOCK]) -> io::Result<()> {
    let stored = parse_numeric(&block[148..156])?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || stored as i64 == signed {
        Ok(())
    } else {
        Err(malformed("invalid header (checksum mismatch)"))
    }
}

/// An octal field, or a GNU base-256 one (high bit set).
fn parse_numeric(field: &[u8]) -> io::Result<u64> {
    if let Some(&first) = field.first()
        && first & 0x80 != 0
    {
        if first & 0x40 != 0 {
            return Err(malformed("a negative number in a header"));
        }
        let mut v: u64 = u64::from(first & 0x3f);
        for &b in &field[1..] {
            if v >> 56 != 0 {
                return Err(malformed("a number in a header overflows"));
            }
            v = (v << 8) | u64::from(b);
        }
        return Ok(v);
    }
    let text = trim_nul(field);
    let text = std::str::from_utf8(text)
        .map_err(|_| malformed("a number in a header is not text"))?
        .trim_matches(|c| c == ' ' || c == '\0');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| malformed(format!("invalid octal number {text:?}")))
}

fn parse_header(block: &[u8; BLOCK]) -> io::Result<Header> {
    let magic = &block[257..263];
    let version = &block[263..265];
    let ustar = magic == b"ustar\0" && version == b"00";
    let gnu = magic == b"ustar " && version == b" \0";
    let mut name = trim_nul(&block[0..100]).to_vec();
    if ustar {
        let prefix = trim_nul(&block[345..500]);
        if !prefix.is_empty() {
            let mut full = prefix.to_vec();
            full.push(b'/');
            full.extend_from_slice(&name);
            name = full;
        }
    }
    let mut h = Header {
        name,
        typeflag: block[156],
        mode: (parse_numeric(&block[100..108])? & 0o7777) as u32,
        uid: parse_numeric(&block[108..116])?,
        gid: parse_numeric(&block[116..124])?,
        size: parse_numeric(&block[124..136])?,
        mtime: Timestamp {
            secs: parse_numeric(&block[136..148])? as i64,
            nanos: 0,
        },
        atime: None,
        linkname: trim_nul(&block[157..257]).to_vec(),
        devmajor: 0,
        devminor: 0,
        xattrs: Vec::new(),
    };
    if ustar || gnu {
        h.devmajor = parse_numeric(&block[329..337])?;
        h.devminor = parse_numeric(&block[337..345])?;
    }
    if gnu {
        let atime = parse_numeric(&block[345..357])?;
        if atime != 0 {
            h.atime = Some(Timestamp {
                secs: atime as i64,
                nanos: 0,
            });
        }
    }
    Ok(h)
}

fn parse_pax(data: &[u8]) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let records = crate::pipeline::tarfmt::pax_records(data)
        .ok_or_else(|| malformed("invalid PAX record"))?;
    Ok(records
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect())
}

fn pax_time(v: &[u8]) -> io::Result<Timestamp> {
    let (secs, nanos) = crate::pipeline::tarfmt::pax_time(v)
        .ok_or_else(|| malformed(format!("invalid PAX time {:?}", String::from_utf8_lossy(v))))?;
    Ok(Timestamp { secs, nanos })
}

fn pax_number(key: &[u8], v: &[u8]) -> io::Result<u64> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            malformed(format!(
                "invalid PAX {} {:?}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(v)
            ))
        })
}

fn apply_pax(h: &mut Header, records: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
    for (key, value) in records {
        match key.as_slice() {
            b"path" => h.name = value.clone(),
            b"linkpath" => h.linkname = value.clone(),
            b"size" => h.size = pax_number(key, value)?,
            b"uid" => h.uid = pax_number(key, value)?,
            b"gid" => h.gid = pax_number(key, value)?,
            b"mtime" => h.mtime = pax_time(value)?,
            b"atime" => h.atime = Some(pax_time(value)?),
            k if k.starts_with(b"SCHILY.xattr.") => {
                h.xattrs
                    .push((k[b"SCHILY.xattr.".len()..].to_vec(), value.clone()));
            }
            k if k.starts_with(b"GNU.sparse.") => {
                return Err(malformed("sparse files are not supported"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Go's `filepath.Clean` on bytes (the name of a tar entry).
pub fn clean_path(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let rooted = p[0] == b'/';
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in p.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|l| *l != b"..") {
                    parts.pop();
                } else if !rooted {
                    parts.push(part);
                }
            }
            _ => parts.push(part),
        }
    }
    let mut out = Vec::with_capacity(p.len());
    if rooted {
        out.push(b'/');
    }
    out.extend_from_slice(&parts.join(&b"/"[..]));
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o4755);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        let long = format!("{}/file", "d".repeat(150));
        b.append_data(&mut h, &long, &b"hello"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "x".repeat(120), "target").unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(3);
        b.append_pax_extensions([("SCHILY.xattr.user.k", &b"v"[..]), ("mtime", b"12.5")])
            .unwrap();
        b.append_data(&mut h, "x.txt", &b"abc"[..]).unwrap();
        let mut out = b.into_inner().unwrap();
        out.extend_from_slice(&[7u8; 100]); // trailing junk is kept too
        out
    }

    #[test]
    fn every_byte_is_content_or_raw() {
        let data = build();
        let mut t = TarReader::new(&data[..]);
        let mut rebuilt = Vec::new();
        let mut names = Vec::new();
        while let Some(h) = t.next_entry().unwrap() {
            rebuilt.extend(t.take_raw());
            let mut content = Vec::new();
            t.content().read_to_end(&mut content).unwrap();
            rebuilt.extend_from_slice(&content);
            names.push((
                h.name.clone(),
                h.typeflag,
                content,
                h.mode,
                h.xattrs.clone(),
                h.mtime,
            ));
        }
        t.rest(|b| {
            rebuilt.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(rebuilt, data);
        assert_eq!(names[0].0, format!("{}/file", "d".repeat(150)).into_bytes());
        assert_eq!(names[0].2, b"hello");
        assert_eq!(names[0].3, 0o4755);
        assert_eq!(names[1].0, "x".repeat(120).into_bytes());
        assert_eq!(names[1].1, TYPE_SYMLINK);
        assert_eq!(names[2].4, vec![(b"user.k".to_vec(), b"v".to_vec())]);
        assert_eq!(
            names[2].5,
            Timestamp {
                secs: 12,
                nanos: 500_000_000
            }
        );
    }

    /// Each under the 1 MiB cap, but five of them before one entry: refused before the
    /// fifth is read (they were all kept in memory for tar-split, without bound).
    #[test]
    fn extension_headers_before_one_entry_are_bounded_together() {
        let mut data = Vec::new();
        for _ in 0..5 {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::XGlobalHeader);
            h.set_size(1 << 20);
            h.set_cksum();
            data.extend_from_slice(h.as_bytes());
            let record = b"9 a=bcde\n";
            data.extend(record.iter().cycle().take(1 << 20));
        }
        let mut h = tar::Header::new_ustar();
        h.set_path("f").unwrap();
        h.set_size(0);
        h.set_cksum();
        data.extend_from_slice(h.as_bytes());
        data.extend([0u8; 1024]);
        let err = TarReader::new(&data[..]).next_entry().unwrap_err();
        assert!(
            err.to_string()
                .contains("extension headers of over 4194304 bytes before one entry"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_checksum_is_an_error() {
        let mut data = build();
        data[0] ^= 1;
        assert!(TarReader::new(&data[..]).next_entry().is_err());
    }
}
