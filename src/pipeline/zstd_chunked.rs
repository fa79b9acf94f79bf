//! `zstd:chunked` layers, as containers/storage's `pkg/chunked/compressor` writes them in
//! the version Debian's skopeo 1.9.3 is built with (1.43: the `io.containers.zstd-chunked.*`
//! annotations, a TOC, no tar-split).
//!
//! The layer is a run of zstd frames that any zstd reader decompresses to the original tar:
//! tar headers in frames of their own, each file's payload in frames of its own (split where a
//! rolling checksum says, and around runs of 1 KiB or more of zeros), so a reader that has the
//! TOC can fetch single files by range. The TOC (JSON: every entry with its offsets and
//! digests, zstd-compressed) and a 40-byte footer pointing at it follow as skippable frames,
//! which zstd readers skip. The annotations give the TOC's place and checksum.
//!
//! Unlike containers/storage, which drops what follows the tar's end-of-archive blocks, every
//! input byte is kept, so the layer always decompresses to its diff ID.

mod tar_walk;
mod toc;

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};
use zstd::stream::raw::{Encoder, InBuffer, Operation, OutBuffer};

use tar_walk::TarWalk;
use toc::{Chunk, Payload, TocEntry};

/// Annotation holding the TOC's digest (of its compressed bytes).
pub const MANIFEST_CHECKSUM_KEY: &str = "io.containers.zstd-chunked.manifest-checksum";
/// Annotation `OFFSET:LENGTH:UNCOMPRESSED-LENGTH:TYPE` of the TOC within the layer.
pub const MANIFEST_POSITION_KEY: &str = "io.containers.zstd-chunked.manifest-position";
/// The TOC format (CRFS-compatible JSON).
const MANIFEST_TYPE_CRFS: u64 = 1;
const SKIPPABLE_FRAME_MAGIC: [u8; 4] = [0x50, 0x2a, 0x4d, 0x18];
const CHUNKED_FRAME_MAGIC: [u8; 8] = [0x47, 0x6e, 0x55, 0x6c, 0x49, 0x6e, 0x55, 0x78];
/// A payload chunk ends where the rolling checksum's low 16 bits are all ones.
const ROLLSUM_BITS: u32 = 16;
/// Runs of this many zeros, or more, become chunks of their own.
const HOLES_THRESHOLD: u64 = 1 << 10;
/// containers/storage reads payloads 4 KiB at a time (chunks do not depend on it).
const READ_SIZE: usize = 4096;

/// Compresses the tar `input` into `out` as zstd:chunked at `level`; returns the
/// annotations to put on the layer's descriptor.
pub fn compress(
    input: impl Read,
    out: impl Write,
    level: i32,
) -> io::Result<Vec<(String, String)>> {
    let mut frames = Frames::new(out, level)?;
    let mut walk = TarWalk::new(input);
    let mut entries = Vec::new();
    while let Some(header) = walk.next_header()? {
        frames.write(&walk.take_raw())?;
        let toc_type = toc::entry_type(header.typeflag).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown tarball type: {}", header.typeflag),
            )
        })?;
        let payload = write_payload(&mut walk.payload(&header), &mut frames)?;
        entries.extend(TocEntry::for_file(&header, toc_type, payload));
    }
    // The end-of-archive blocks, and anything after them.
    frames.write(&walk.rest()?)?;
    let end = frames.end_frame()?;
    let toc = toc::json(&entries);
    write_manifest(frames.out, end, toc.as_bytes(), level)
}

/// containers/storage's `writeZstdChunkedStream` loop for one file: frames restart before the
/// payload, at every split, and after it.
fn write_payload<W: Write>(payload: &mut impl Read, frames: &mut Frames<W>) -> io::Result<Payload> {
    let mut reader = RollingReader::new(payload);
    let mut buf = [0u8; READ_SIZE];
    let mut whole = Sha256::new();
    let mut chunk = Sha256::new();
    let (mut start, mut last_offset, mut last_chunk_offset) = (0u64, 0u64, 0u64);
    let mut chunks = Vec::new();
    loop {
        let step = reader.read(&mut buf)?;
        if step.read > 0 {
            if start == 0 {
                start = frames.end_frame()?;
                last_offset = start;
            }
            whole.update(&buf[..step.read]);
            chunk.update(&buf[..step.read]);
            frames.write(&buf[..step.read])?;
        }
        if (step.split || step.eof) && start > 0 {
            let offset = frames.end_frame()?;
            let size = reader.written - last_chunk_offset;
            if size > 0 {
                chunks.push(Chunk {
                    chunk_offset: last_chunk_offset,
                    offset: last_offset,
                    digest: toc::digest(std::mem::take(&mut chunk)),
                    size,
                    zeros: reader.last_chunk_zeros,
                });
            }
            chunk = Sha256::new();
            last_offset = offset;
            last_chunk_offset = reader.written;
        }
        if step.eof {
            return Ok(Payload {
                digest: (start > 0).then(|| toc::digest(whole)),
                start,
                end: last_offset,
                chunks,
            });
        }
    }
}

/// Appends the TOC and the footer as skippable frames; returns the annotations.
fn write_manifest(
    mut out: Counting<impl Write>,
    offset: u64,
    toc: &[u8],
    level: i32,
) -> io::Result<Vec<(String, String)>> {
    debug_assert_eq!(offset, out.count);
    let compressed = zstd::bulk::compress(toc, level)?;
    let checksum = format!("sha256:{}", hex::encode(Sha256::digest(&compressed)));
    // The TOC starts after the skippable frame's 8-byte header.
    let toc_offset = offset + 8;
    skippable_frame(&mut out, &compressed)?;
    let mut footer = Vec::with_capacity(40);
    for v in [
        toc_offset,
        compressed.len() as u64,
        toc.len() as u64,
        MANIFEST_TYPE_CRFS,
    ] {
        footer.extend_from_slice(&v.to_le_bytes());
    }
    footer.extend_from_slice(&CHUNKED_FRAME_MAGIC);
    skippable_frame(&mut out, &footer)?;
    out.flush()?;
    Ok(vec![
        (MANIFEST_CHECKSUM_KEY.to_string(), checksum),
        (
            MANIFEST_POSITION_KEY.to_string(),
            format!(
                "{toc_offset}:{}:{}:{MANIFEST_TYPE_CRFS}",
                compressed.len(),
                toc.len()
            ),
        ),
    ])
}

fn skippable_frame(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "zstd:chunked TOC too large"))?;
    out.write_all(&SKIPPABLE_FRAME_MAGIC)?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(data)
}

/// A writer that counts what went through it (the frames' offsets).
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// zstd frames, one context reused: `end_frame` closes the current frame (an empty one if
/// nothing was written, as containers/storage's encoder also writes) and starts the next.
struct Frames<W> {
    out: Counting<W>,
    encoder: Encoder<'static>,
    buf: Vec<u8>,
}

impl<W: Write> Frames<W> {
    fn new(out: W, level: i32) -> io::Result<Frames<W>> {
        Ok(Frames {
            out: Counting {
                inner: out,
                count: 0,
            },
            encoder: Encoder::new(level)?,
            buf: Vec::with_capacity(zstd::zstd_safe::CCtx::out_size()),
        })
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let mut input = InBuffer::around(data);
        while input.pos() < data.len() {
            self.buf.clear();
            let mut output = OutBuffer::around(&mut self.buf);
            self.encoder.run(&mut input, &mut output)?;
            self.out.write_all(&self.buf)?;
        }
        Ok(())
    }

    /// Ends the current frame; returns the offset where the next one starts.
    fn end_frame(&mut self) -> io::Result<u64> {
        loop {
            self.buf.clear();
            let mut output = OutBuffer::around(&mut self.buf);
            let remaining = self.encoder.finish(&mut output, true)?;
            self.out.write_all(&self.buf)?;
            if remaining == 0 {
                break;
            }
        }
        self.encoder.reinit()?;
        Ok(self.out.count)
    }
}

/// One `Read` of containers/storage's rollingChecksumReader.
struct Step {
    read: usize,
    /// A chunk ends after these bytes.
    split: bool,
    eof: bool,
}

/// Splits a payload where the rolling checksum says, and around runs of zeros
/// (containers/storage's holesFinder + rollingChecksumReader, byte for byte).
struct RollingReader<'r, R> {
    holes: HolesFinder<'r, R>,
    rollsum: RollSum,
    pending_hole: u64,
    closed: bool,
    /// Payload bytes handed out so far.
    written: u64,
    /// Whether the chunk that ended last was a run of zeros.
    last_chunk_zeros: bool,
}

impl<'r, R: Read> RollingReader<'r, R> {
    fn new(inner: &'r mut R) -> Self {
        RollingReader {
            holes: HolesFinder::new(inner),
            rollsum: RollSum::new(),
            pending_hole: 0,
            closed: false,
            written: 0,
            last_chunk_zeros: false,
        }
    }

    fn read(&mut self, b: &mut [u8]) -> io::Result<Step> {
        self.last_chunk_zeros = false;
        if self.pending_hole > 0 {
            let n = self.pending_hole.min(b.len() as u64);
            self.pending_hole -= n;
            b[..n as usize].fill(0);
            self.written += n;
            self.last_chunk_zeros = true;
            return Ok(Step {
                read: n as usize,
                split: self.pending_hole == 0,
                eof: false,
            });
        }
        if self.closed {
            return Ok(Step {
                read: 0,
                split: false,
                eof: true,
            });
        }
        let len = b.len();
        for (i, slot) in b.iter_mut().enumerate() {
            let Some((hole, byte)) = self.holes.read_byte()? else {
                self.closed = true;
                return Ok(Step {
                    read: i,
                    split: false,
                    eof: i == 0,
                });
            };
            if hole > 0 {
                for _ in 0..hole {
                    self.rollsum.roll(0);
                }
                self.pending_hole = hole;
                return Ok(Step {
                    read: i,
                    split: true,
                    eof: false,
                });
            }
            *slot = byte;
            self.written += 1;
            self.rollsum.roll(byte);
            if self.rollsum.on_split_with_bits(ROLLSUM_BITS) {
                return Ok(Step {
                    read: i + 1,
                    split: true,
                    eof: false,
                });
            }
        }
        Ok(Step {
            read: len,
            split: false,
            eof: false,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum HoleState {
    Read,
    Accumulate,
    Found,
    Eof,
}

/// Reads bytes one at a time; `(n, 0)` with n > 0 reports a run of n >= 1 KiB zeros.
struct HolesFinder<'r, R> {
    inner: io::BufReader<&'r mut R>,
    unread: Option<u8>,
    zeros: u64,
    state: HoleState,
}

impl<'r, R: Read> HolesFinder<'r, R> {
    fn new(inner: &'r mut R) -> Self {
        HolesFinder {
            inner: io::BufReader::with_capacity(READ_SIZE, inner),
            unread: None,
            zeros: 0,
            state: HoleState::Read,
        }
    }

    fn next_byte(&mut self) -> io::Result<Option<u8>> {
        if let Some(b) = self.unread.take() {
            return Ok(Some(b));
        }
        let mut one = [0u8; 1];
        loop {
            match self.inner.read(&mut one) {
                Ok(0) => return Ok(None),
                Ok(_) => return Ok(Some(one[0])),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// `Some((hole_len, byte))`, None at the end.
    fn read_byte(&mut self) -> io::Result<Option<(u64, u8)>> {
        loop {
            match self.state {
                HoleState::Read => {
                    if self.zeros > 0 {
                        self.zeros -= 1;
                        return Ok(Some((0, 0)));
                    }
                    let Some(b) = self.next_byte()? else {
                        return Ok(None);
                    };
                    if b != 0 {
                        return Ok(Some((0, b)));
                    }
                    self.zeros = 1;
                    self.state = if self.zeros == HOLES_THRESHOLD {
                        HoleState::Found
                    } else {
                        HoleState::Accumulate
                    };
                }
                HoleState::Accumulate => match self.next_byte()? {
                    None => self.state = HoleState::Eof,
                    Some(0) => {
                        self.zeros += 1;
                        if self.zeros == HOLES_THRESHOLD {
                            self.state = HoleState::Found;
                        }
                    }
                    Some(b) => {
                        self.unread = Some(b);
                        self.state = HoleState::Read;
                    }
                },
                HoleState::Found => match self.next_byte()? {
                    None => {
                        self.state = HoleState::Eof;
                        return Ok(Some((std::mem::take(&mut self.zeros), 0)));
                    }
                    Some(0) => self.zeros += 1,
                    Some(b) => {
                        self.unread = Some(b);
                        self.state = HoleState::Read;
                        return Ok(Some((std::mem::take(&mut self.zeros), 0)));
                    }
                },
                HoleState::Eof => {
                    if self.zeros > 0 {
                        self.zeros -= 1;
                        return Ok(Some((0, 0)));
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// bup's rolling checksum (Perkeep's rollsum, as containers/storage carries it).
struct RollSum {
    s1: u32,
    s2: u32,
    window: [u8; WINDOW_SIZE],
    wofs: usize,
}

const WINDOW_SIZE: usize = 64;
const CHAR_OFFSET: u32 = 31;

impl RollSum {
    fn new() -> RollSum {
        let w = WINDOW_SIZE as u32;
        RollSum {
            s1: w * CHAR_OFFSET,
            s2: w * (w - 1) * CHAR_OFFSET,
            window: [0; WINDOW_SIZE],
            wofs: 0,
        }
    }

    fn roll(&mut self, ch: u8) {
        let drop = u32::from(self.window[self.wofs]);
        let add = u32::from(ch);
        self.s1 = self.s1.wrapping_add(add).wrapping_sub(drop);
        self.s2 = self.s2.wrapping_add(
            self.s1
                .wrapping_sub((WINDOW_SIZE as u32).wrapping_mul(drop.wrapping_add(CHAR_OFFSET))),
        );
        self.window[self.wofs] = ch;
        self.wofs = (self.wofs + 1) & (WINDOW_SIZE - 1);
    }

    fn on_split_with_bits(&self, n: u32) -> bool {
        let mask = (1u32 << n) - 1;
        self.s2 & mask == mask
    }
}

#[cfg(test)]
mod tests;
