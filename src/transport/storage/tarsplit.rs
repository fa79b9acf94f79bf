//! tar-split metadata (`LAYER-ID.tar-split.gz`, vbatts/tar-split as containers/storage
//! uses it): a gzipped stream of JSON lines that, with the layer's files, rebuilds the
//! layer tar bit for bit. Segment entries (type 2) carry raw bytes (headers, padding, the
//! end of the archive) base64-encoded; file entries (type 1) carry the tar entry's name,
//! its size and the CRC-64/ISO of its content, which is read back from the layer's files.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Writes the JSON lines of one layer, gzipped.
pub struct TarSplitWriter<W: Write> {
    out: flate2::write::GzEncoder<W>,
    position: u64,
    seen: HashSet<Vec<u8>>,
    line: Vec<u8>,
}

impl<W: Write> TarSplitWriter<W> {
    pub fn new(out: W) -> TarSplitWriter<W> {
        TarSplitWriter {
            // containers/storage writes BestSpeed; any level reads back the same.
            out: flate2::write::GzEncoder::new(out, flate2::Compression::fast()),
            position: 0,
            seen: HashSet::new(),
            line: Vec::with_capacity(512),
        }
    }

    /// Raw bytes of the tar stream (nothing is written for an empty slice).
    pub fn segment(&mut self, raw: &[u8]) -> io::Result<()> {
        if raw.is_empty() {
            return Ok(());
        }
        self.line.clear();
        self.line.extend_from_slice(b"{\"type\":2,\"payload\":\"");
        self.line.extend_from_slice(BASE64.encode(raw).as_bytes());
        self.line.extend_from_slice(b"\",\"position\":");
        self.finish_line()
    }

    /// A tar entry; `crc` is the checksum of its content when it has any. Fails on a name
    /// seen before: containers/storage cannot store such a layer (its unpacker refuses
    /// duplicate paths), so neither does skiff.
    pub fn file(&mut self, name: &[u8], size: u64, crc: Option<u64>) -> io::Result<()> {
        let clean = super::tarstream::clean_path(name);
        if !self.seen.insert(clean) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the layer lists {:?} twice: duplicates of file paths not supported",
                    String::from_utf8_lossy(name)
                ),
            ));
        }
        self.line.clear();
        self.line.extend_from_slice(b"{\"type\":1,");
        match std::str::from_utf8(name) {
            Ok(s) if !s.is_empty() => {
                self.line.extend_from_slice(b"\"name\":");
                let quoted = serde_json::to_vec(s).map_err(io::Error::other)?;
                self.line.extend_from_slice(&quoted);
                self.line.push(b',');
            }
            Ok(_) => {}
            Err(_) => {
                self.line.extend_from_slice(b"\"name_raw\":\"");
                self.line.extend_from_slice(BASE64.encode(name).as_bytes());
                self.line.extend_from_slice(b"\",");
            }
        }
        if size > 0 {
            self.line
                .extend_from_slice(format!("\"size\":{size},").as_bytes());
        }
        match crc {
            Some(c) => {
                self.line.extend_from_slice(b"\"payload\":\"");
                self.line
                    .extend_from_slice(BASE64.encode(c.to_be_bytes()).as_bytes());
                self.line.extend_from_slice(b"\",");
            }
            None => self.line.extend_from_slice(b"\"payload\":null,"),
        }
        self.line.extend_from_slice(b"\"position\":");
        self.finish_line()
    }

    fn finish_line(&mut self) -> io::Result<()> {
        self.line
            .extend_from_slice(format!("{}}}\n", self.position).as_bytes());
        self.position += 1;
        self.out.write_all(&self.line)
    }

    pub fn finish(self) -> io::Result<W> {
        self.out.finish()
    }
}

/// One line of the metadata, as vbatts/tar-split's `storage.Entry` encodes it.
#[derive(Debug, serde::Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    name_raw: Option<String>,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default)]
    payload: Option<String>,
}

const FILE_TYPE: u8 = 1;
const SEGMENT_TYPE: u8 = 2;

/// Rebuilds a layer's tar stream from its tar-split metadata and the files under `root`
/// (an `std::io::Read`; run it off the async runtime).
pub struct Assembler {
    entries: serde_json::StreamDeserializer<
        'static,
        serde_json::de::IoRead<BufReader<flate2::read::MultiGzDecoder<BufReader<File>>>>,
        Entry,
    >,
    files: super::drivers::FileGetter,
    source: PathBuf,
    /// Bytes of the current segment not yet returned.
    pending: Vec<u8>,
    pending_at: usize,
    current: Option<OpenFile>,
}

struct OpenFile {
    file: BufReader<File>,
    name: String,
    crc: Crc64,
    expected: Vec<u8>,
}

impl Assembler {
    pub fn open(metadata: &Path, files: super::drivers::FileGetter) -> io::Result<Assembler> {
        let file = File::open(metadata).map_err(|e| {
            io::Error::new(e.kind(), format!("opening {}: {e}", metadata.display()))
        })?;
        let gz = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        let entries =
            serde_json::Deserializer::from_reader(BufReader::with_capacity(64 * 1024, gz))
                .into_iter::<Entry>();
        Ok(Assembler {
            entries,
            files,
            source: metadata.to_path_buf(),
            pending: Vec::new(),
            pending_at: 0,
            current: None,
        })
    }

    fn corrupt(&self, what: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", self.source.display()),
        )
    }

    /// Moves to the next entry with bytes to give; false at the end.
    fn advance(&mut self) -> io::Result<bool> {
        loop {
            let entry = match self.entries.next() {
                None => return Ok(false),
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    return Err(self.corrupt(format!("reading tar-split metadata: {e}")));
                }
            };
            match entry.kind {
                SEGMENT_TYPE => {
                    let payload = entry.payload.unwrap_or_default();
                    self.pending = BASE64
                        .decode(payload.as_bytes())
                        .map_err(|e| self.corrupt(format!("a segment is not base64: {e}")))?;
                    self.pending_at = 0;
                    if !self.pending.is_empty() {
                        return Ok(true);
                    }
                }
                FILE_TYPE => {
                    if entry.size.unwrap_or(0) <= 0 {
                        continue;
                    }
                    let name = match (&entry.name_raw, &entry.name) {
                        (Some(raw), _) if !raw.is_empty() => BASE64
                            .decode(raw.as_bytes())
                            .map_err(|e| self.corrupt(format!("a name is not base64: {e}")))?,
                        (_, Some(n)) => n.as_bytes().to_vec(),
                        _ => Vec::new(),
                    };
                    let expected = match &entry.payload {
                        Some(p) => BASE64
                            .decode(p.as_bytes())
                            .map_err(|e| self.corrupt(format!("a checksum is not base64: {e}")))?,
                        None => Vec::new(),
                    };
                    let file = self.files.open(&name)?;
                    self.current = Some(OpenFile {
                        file: BufReader::with_capacity(256 * 1024, file),
                        name: String::from_utf8_lossy(&name).into_owned(),
                        crc: Crc64::new(),
                        expected,
                    });
                    return Ok(true);
                }
                other => return Err(self.corrupt(format!("unknown entry type {other}"))),
            }
        }
    }
}

impl Read for Assembler {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pending_at < self.pending.len() {
                let n = buf.len().min(self.pending.len() - self.pending_at);
                buf[..n].copy_from_slice(&self.pending[self.pending_at..self.pending_at + n]);
                self.pending_at += n;
                return Ok(n);
            }
            if let Some(f) = &mut self.current {
                let chunk = f.file.fill_buf()?;
                if !chunk.is_empty() {
                    let n = buf.len().min(chunk.len());
                    buf[..n].copy_from_slice(&chunk[..n]);
                    f.crc.update(&chunk[..n]);
                    f.file.consume(n);
                    return Ok(n);
                }
                let f = self.current.take().expect("checked above");
                if f.crc.finish().to_be_bytes().as_slice() != f.expected.as_slice() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("file integrity checksum failed for {:?}", f.name),
                    ));
                }
                continue;
            }
            if !self.advance()? {
                return Ok(0);
            }
        }
    }
}

/// CRC-64 with the ISO polynomial, as Go's `hash/crc64` computes it (tar-split's
/// checksum), slicing eight bytes at a time.
#[derive(Clone, Copy)]
pub struct Crc64(u64);

const ISO_POLY: u64 = 0xD800_0000_0000_0000;

fn crc_tables() -> &'static [[u64; 256]; 8] {
    static TABLES: std::sync::OnceLock<Box<[[u64; 256]; 8]>> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = Box::new([[0u64; 256]; 8]);
        for i in 0..256 {
            let mut crc = i as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ ISO_POLY
                } else {
                    crc >> 1
                };
            }
            t[0][i] = crc;
        }
        for i in 0..256 {
            let mut crc = t[0][i];
            for j in 1..8 {
                crc = t[0][(crc & 0xff) as usize] ^ (crc >> 8);
                t[j][i] = crc;
            }
        }
        t
    })
}

impl Crc64 {
    pub fn new() -> Crc64 {
        Crc64(!0)
    }

    pub fn update(&mut self, mut data: &[u8]) {
        let t = crc_tables();
        let mut crc = self.0;
        while data.len() >= 8 {
            crc ^= u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
            crc = t[7][(crc & 0xff) as usize]
                ^ t[6][((crc >> 8) & 0xff) as usize]
                ^ t[5][((crc >> 16) & 0xff) as usize]
                ^ t[4][((crc >> 24) & 0xff) as usize]
                ^ t[3][((crc >> 32) & 0xff) as usize]
                ^ t[2][((crc >> 40) & 0xff) as usize]
                ^ t[1][((crc >> 48) & 0xff) as usize]
                ^ t[0][(crc >> 56) as usize];
            data = &data[8..];
        }
        for &b in data {
            crc = t[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        self.0 = crc;
    }

    pub fn finish(self) -> u64 {
        !self.0
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Crc64::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_matches_go() {
        // Go: crc64.Checksum([]byte("123456789"), crc64.MakeTable(crc64.ISO))
        let mut c = Crc64::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xb909_56c7_75a4_1001);
        // Split updates agree with one.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut a = Crc64::new();
        a.update(&data);
        let mut b = Crc64::new();
        b.update(&data[..13]);
        b.update(&data[13..]);
        assert_eq!(a.finish(), b.finish());
    }

    #[test]
    fn writes_lines_tar_split_reads() {
        let mut w = TarSplitWriter::new(Vec::new());
        w.segment(b"header").unwrap();
        w.file(b"etc/hosts", 3, Some(0x0102030405060708)).unwrap();
        w.file(b"dir/", 0, None).unwrap();
        w.file(b"\xffbad", 0, None).unwrap();
        assert!(
            w.file(b"./etc/hosts", 0, None).is_err(),
            "duplicates are refused"
        );
        let gz = w.finish().unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], r#"{"type":2,"payload":"aGVhZGVy","position":0}"#);
        assert_eq!(
            lines[1],
            r#"{"type":1,"name":"etc/hosts","size":3,"payload":"AQIDBAUGBwg=","position":1}"#
        );
        assert_eq!(
            lines[2],
            r#"{"type":1,"name":"dir/","payload":null,"position":2}"#
        );
        assert_eq!(
            lines[3],
            r#"{"type":1,"name_raw":"/2JhZA==","payload":null,"position":3}"#
        );
    }
}
