//! A streaming walk over a tar's headers, read as Go's archive/tar (tar-split's copy, which
//! containers/storage uses) reads them, keeping the raw bytes between payloads so the
//! compressed layer reproduces the input exactly.

use std::collections::BTreeMap;
use std::io::{self, Read};

const BLOCK: usize = 512;

/// A point in time as Go's `time.Time` holds it (seconds and nanoseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    pub secs: i64,
    pub nanos: u32,
}

/// One file entry's header, with its PAX and GNU extensions merged in.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub typeflag: u8,
    pub name: Vec<u8>,
    pub linkname: Vec<u8>,
    pub mode: i64,
    pub size: i64,
    pub uid: i64,
    pub gid: i64,
    pub mtime: Option<Time>,
    pub atime: Option<Time>,
    pub ctime: Option<Time>,
    pub devmajor: i64,
    pub devminor: i64,
    /// `SCHILY.xattr.NAME` records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Bytes of payload that follow (0 for header-only types, whatever `size` says).
    pub payload_len: u64,
}

pub struct TarWalk<R> {
    inner: R,
    /// Bytes read since the last payload (padding, extension entries, the header).
    raw: Vec<u8>,
    /// Padding still to read after the current payload.
    pad: u64,
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "zstd:chunked: the layer is not a valid tar: {}",
            message.into()
        ),
    )
}

impl<R: Read> TarWalk<R> {
    pub fn new(inner: R) -> TarWalk<R> {
        TarWalk {
            inner,
            raw: Vec::new(),
            pad: 0,
        }
    }

    /// The raw bytes read since the last payload.
    pub fn take_raw(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.raw)
    }

    /// The payload of the header just returned; read it to its end before the next call.
    pub fn payload(&mut self, h: &Header) -> io::Take<&mut R> {
        self.pad = (BLOCK as u64 - h.payload_len % BLOCK as u64) % BLOCK as u64;
        (&mut self.inner).take(h.payload_len)
    }

    /// Everything not returned yet: the end-of-archive blocks and what follows them.
    pub fn rest(&mut self) -> io::Result<Vec<u8>> {
        let mut out = self.take_raw();
        self.inner.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Reads `n` bytes into `raw`; false if the input ended before the first byte.
    fn record(&mut self, n: usize) -> io::Result<bool> {
        let start = self.raw.len();
        self.raw.resize(start + n, 0);
        let mut got = 0;
        while got < n {
            match self.inner.read(&mut self.raw[start + got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.raw.truncate(start + got);
        match got {
            0 if n > 0 => Ok(false),
            g if g < n => Err(bad("unexpected end of the archive")),
            _ => Ok(true),
        }
    }

    /// The next file entry's header; None at the end-of-archive block (or the input's end).
    pub fn next_header(&mut self) -> io::Result<Option<Header>> {
        let pad = std::mem::take(&mut self.pad) as usize;
        if pad > 0 && !self.record(pad)? {
            return Err(bad("unexpected end of the archive"));
        }
        let mut ext = Extensions::default();
        loop {
            let at = self.raw.len();
            if !self.record(BLOCK)? {
                return Ok(None);
            }
            let block: [u8; BLOCK] = self.raw[at..].try_into().expect("one block");
            if block.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            check_sum(&block)?;
            let typeflag = block[156];
            match typeflag {
                b'x' | b'L' | b'K' => {
                    let size = numeric(&block[124..136])?;
                    let size = usize::try_from(size)
                        .ok()
                        .filter(|s| *s <= 1 << 20)
                        .ok_or_else(|| bad("an extended header is too large"))?;
                    let data_at = self.raw.len();
                    let padded = size.div_ceil(BLOCK) * BLOCK;
                    if !self.record(padded)? {
                        return Err(bad("unexpected end of the archive"));
                    }
                    let data = self.raw[data_at..data_at + size].to_vec();
                    match typeflag {
                        b'x' => ext.pax(&data)?,
                        b'L' => ext.long_name = Some(trim_nul(&data)),
                        _ => ext.long_link = Some(trim_nul(&data)),
                    }
                }
                _ => return header(&block, ext).map(Some),
            }
        }
    }
}

/// PAX records and GNU long names that apply to the next entry.
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    records: Vec<(String, Vec<u8>)>,
}

impl Extensions {
    /// "LEN key=value\n" records.
    fn pax(&mut self, data: &[u8]) -> io::Result<()> {
        let records = crate::pipeline::tarfmt::pax_records(data)
            .ok_or_else(|| bad("a malformed PAX record"))?;
        for (key, value) in records {
            let key = String::from_utf8_lossy(key).into_owned();
            self.records.push((key, value.to_vec()));
        }
        Ok(())
    }
}

fn trim_nul(data: &[u8]) -> Vec<u8> {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    data[..end].to_vec()
}

/// Go's checksum test: the unsigned or the signed sum, with the checksum field as spaces.
fn check_sum(block: &[u8; BLOCK]) -> io::Result<()> {
    let stored = numeric(&block[148..156])?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || stored == signed {
        Ok(())
    } else {
        Err(bad("a header checksum does not match"))
    }
}

/// Go's parseNumeric: base-256 when the top bit is set, else octal (spaces and NULs trimmed).
fn numeric(field: &[u8]) -> io::Result<i64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: i64 = i64::from(field[0] & 0x7f);
        if field[0] & 0x40 != 0 {
            v -= 0x80;
        }
        for &b in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(i64::from(b)))
                .ok_or_else(|| bad("a numeric field overflows"))?;
        }
        return Ok(v);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ' || b == 0)
        .take_while(|&b| b != b' ' && b != 0)
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    std::str::from_utf8(&text)
        .ok()
        .and_then(|s| i64::from_str_radix(s, 8).ok())
        .ok_or_else(|| bad("a numeric field is not octal"))
}

fn string(field: &[u8]) -> Vec<u8> {
    trim_nul(field)
}

/// "SECS[.FRACTION]" of a PAX time record.
fn pax_time(v: &[u8]) -> io::Result<Time> {
    let (secs, nanos) =
        crate::pipeline::tarfmt::pax_time(v).ok_or_else(|| bad("a malformed PAX time"))?;
    Ok(Time { secs, nanos })
}

/// A file entry's header block, with the extensions merged as Go merges them.
fn header(block: &[u8; BLOCK], ext: Extensions) -> io::Result<Header> {
    let magic = &block[257..265];
    let ustar = magic == b"ustar\x0000";
    let gnu = magic == b"ustar  \x00";
    let mut h = Header {
        typeflag: block[156],
        name: string(&block[0..100]),
        linkname: string(&block[157..257]),
        mode: numeric(&block[100..108])?,
        uid: numeric(&block[108..116])?,
        gid: numeric(&block[116..124])?,
        size: numeric(&block[124..136])?,
        mtime: Some(Time {
            secs: numeric(&block[136..148])?,
            nanos: 0,
        }),
        ..Header::default()
    };
    if ustar || gnu {
        h.devmajor = numeric(&block[329..337])?;
        h.devminor = numeric(&block[337..345])?;
    }
    if ustar {
        let prefix = string(&block[345..500]);
        if !prefix.is_empty() {
            let mut name = prefix;
            name.push(b'/');
            name.extend_from_slice(&h.name);
            h.name = name;
        }
    }
    if gnu {
        if block[345] != 0 {
            h.atime = Some(Time {
                secs: numeric(&block[345..357])?,
                nanos: 0,
            });
        }
        if block[357] != 0 {
            h.ctime = Some(Time {
                secs: numeric(&block[357..369])?,
                nanos: 0,
            });
        }
    }
    if let Some(n) = ext.long_name {
        h.name = n;
    }
    if let Some(l) = ext.long_link {
        h.linkname = l;
    }
    let int = |v: &[u8]| -> io::Result<i64> {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("a malformed PAX number"))
    };
    for (key, value) in ext.records {
        match key.as_str() {
            "path" => h.name = value,
            "linkpath" => h.linkname = value,
            "size" => h.size = int(&value)?,
            "uid" => h.uid = int(&value)?,
            "gid" => h.gid = int(&value)?,
            "mtime" => h.mtime = Some(pax_time(&value)?),
            "atime" => h.atime = Some(pax_time(&value)?),
            "ctime" => h.ctime = Some(pax_time(&value)?),
            k => {
                if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                    h.xattrs.insert(name.to_string(), value);
                }
            }
        }
    }
    let header_only = matches!(h.typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6');
    h.payload_len = if header_only {
        0
    } else {
        u64::try_from(h.size).map_err(|_| bad("a negative size"))?
    };
    Ok(h)
}
