//! Compression detection and (de)compression stages.
//!
//! Compression is CPU-bound, so it runs on tokio's blocking pool: the async source is
//! bridged into a `std::io::Read`, transformed, and handed back through a bounded channel
//! as an `AsyncRead`. The async runtime never waits on deflate or zstd.

use std::io::{self, Read, Write};

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::parallel_gzip;
use super::stream::{BUFFER_SIZE, BlobReader, read_full};

/// Size of the chunks a transform hands back to the async side.
const CHUNK_SIZE: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    Gzip,
    Zstd,
    /// zstd whose frames follow the tar's files, with a table of contents
    /// (`--dest-compress-format zstd:chunked`); read as plain zstd.
    ZstdChunked,
    Bzip2,
    Xz,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::ZstdChunked => "zstd:chunked",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
        }
    }

    /// `--dest-compress-format` values, spelled as containers/image 5.23 spells them
    /// (its xz algorithm is registered as "Xz").
    pub fn from_name(name: &str) -> Option<Compression> {
        match name {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            "zstd:chunked" => Some(Compression::ZstdChunked),
            "bzip2" => Some(Compression::Bzip2),
            "Xz" => Some(Compression::Xz),
            _ => None,
        }
    }

    /// The level used when none is given. zstd: its default, 3. gzip: 3, because skopeo's
    /// default (pgzip, klauspost's flate) is a faster, weaker level than zlib's 6: zlib-rs
    /// level 3 wrote slightly less than skopeo (141.4 MB against 141.7 MB for a 336 MB
    /// image) with 12% less CPU than level 4, where level 6 took 45% more for 3% less.
    pub fn default_level(self) -> i32 {
        3
    }

    fn from_magic(prefix: &[u8]) -> Option<Compression> {
        if prefix.starts_with(&[0x1f, 0x8b, 0x08]) {
            Some(Compression::Gzip)
        } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if prefix.starts_with(b"BZh") {
            Some(Compression::Bzip2)
        } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else {
            None
        }
    }
}

/// What to do to a blob's bytes on the way to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    Decompress(Compression),
    Compress {
        to: Compression,
        level: i32,
    },
    Recompress {
        from: Compression,
        to: Compression,
        level: i32,
    },
}

/// The compression the first bytes of a blob announce.
pub fn detect(prefix: &[u8]) -> Option<Compression> {
    Compression::from_magic(prefix)
}

/// The length of `input` once decompressed (blocking; counts without keeping anything).
pub fn decompressed_len(from: Compression, input: impl Read) -> io::Result<u64> {
    let mut plain = decoder(from, input)?;
    io::copy(&mut plain, &mut io::sink())
}

/// Reads the first bytes of `reader` to detect its compression, without losing them.
pub async fn sniff(mut reader: BlobReader) -> io::Result<(Option<Compression>, BlobReader)> {
    let mut prefix = Vec::with_capacity(8);
    while prefix.len() < 6 {
        let mut byte = [0u8; 6];
        let want = 6 - prefix.len();
        let n = reader.read(&mut byte[..want]).await?;
        if n == 0 {
            break;
        }
        prefix.extend_from_slice(&byte[..n]);
    }
    let detected = Compression::from_magic(&prefix);
    let rest: BlobReader = Box::pin(AsyncReadExt::chain(std::io::Cursor::new(prefix), reader));
    Ok((detected, rest))
}

/// What a transform learned that belongs in the manifest: zstd:chunked's annotations, set
/// once the whole stream has been written (read them after the stream's end).
#[derive(Debug, Clone, Default)]
pub struct TransformNotes(std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>);

impl TransformNotes {
    fn set(&self, annotations: Vec<(String, String)>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = annotations;
    }

    /// The annotations to set on the layer's descriptor.
    pub fn annotations(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Applies `t` to the stream on the blocking pool; errors on either side surface as read errors.
pub fn transform(input: BlobReader, t: Transform) -> io::Result<BlobReader> {
    transform_noting(input, t, &TransformNotes::default())
}

/// [`transform`], recording in `notes` what the manifest must say about the result.
pub fn transform_noting(
    input: BlobReader,
    t: Transform,
    notes: &TransformNotes,
) -> io::Result<BlobReader> {
    check_supported(t)?;
    let notes = notes.clone();
    // Few, modest chunks in flight: memory stays bounded however many layers run at once.
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(2);
    tokio::task::spawn_blocking(move || {
        let _slot = CpuSlots::shared().acquire();
        let sink = ChannelWriter::new(tx.clone(), "blob consumer went away");
        let source = SyncIoBridge::new(input);
        // A panic (here or on the decoder thread, which the scope re-raises) must reach
        // the reader as an error: a dropped sender alone reads as a clean end, and the
        // bytes so far would be stored as the whole blob.
        let run = std::panic::AssertUnwindSafe(|| run_transform(source, sink, t, &notes));
        let result = std::panic::catch_unwind(run)
            .unwrap_or_else(|_| Err(io::Error::other("the (de)compression stage panicked")));
        if let Err(e) = result {
            // The reader may be gone already (cancelled copy); nothing left to tell then.
            let _ = tx.blocking_send(Err(e));
        }
    });
    Ok(channel_reader(rx))
}

/// How many transforms run at once: one per core and one more. Layers beyond that wait
/// (their downloads paused by backpressure; an idle body does not time out): with every
/// layer compressing at once, the codecs evict each other's tables from the caches.
/// Measured on 2 cores, five layers recompressed to zstd: 1.86 CPU-s all at once, 1.54
/// CPU-s two at a time, 1.06 s -> 0.9 s wall. The extra slot keeps a core busy while one
/// transform waits for its download; from 5 cores up, all 6 parallel layers run anyway.
struct CpuSlots {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

struct CpuSlot(&'static CpuSlots);

impl CpuSlots {
    fn new(slots: usize) -> CpuSlots {
        CpuSlots {
            free: std::sync::Mutex::new(slots.max(1)),
            freed: std::sync::Condvar::new(),
        }
    }

    fn shared() -> &'static CpuSlots {
        static SLOTS: std::sync::OnceLock<CpuSlots> = std::sync::OnceLock::new();
        SLOTS.get_or_init(|| {
            CpuSlots::new(std::thread::available_parallelism().map_or(1, |n| n.get()) + 1)
        })
    }

    /// Waits (blocking) for a free slot.
    fn acquire(&'static self) -> CpuSlot {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        CpuSlot(self)
    }
}

impl Drop for CpuSlot {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        self.0.freed.notify_one();
    }
}

/// The receiving end of a chunk channel as an `AsyncRead`.
pub fn channel_reader(rx: mpsc::Receiver<io::Result<Bytes>>) -> BlobReader {
    Box::pin(StreamReader::new(channel_stream(rx)))
}

/// The receiving end of a chunk channel as a `Stream` (e.g. for an HTTP request body).
pub fn channel_stream(
    rx: mpsc::Receiver<io::Result<Bytes>>,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// Refused before any stage starts: bzip2 and xz are read, never written (containers/image
/// 5.23 writes them only on request, and no registry layer uses them).
fn check_supported(t: Transform) -> io::Result<()> {
    match t {
        Transform::Compress { to: c, .. } | Transform::Recompress { to: c, .. }
            if matches!(c, Compression::Bzip2 | Compression::Xz) =>
        {
            Err(not_written(c))
        }
        _ => Ok(()),
    }
}

fn not_written(c: Compression) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("not supported yet: {} compression of layers", c.name()),
    )
}

/// A reader of `input`'s decompressed bytes. Concatenated gzip members, bzip2 and xz
/// streams are read through, as Go's readers (and `gzip -d`) read them.
pub fn decoder<'a>(from: Compression, input: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let buffered = io::BufReader::with_capacity(BUFFER_SIZE, input);
    Ok(match from {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
        Compression::Zstd | Compression::ZstdChunked => {
            Box::new(zstd::stream::read::Decoder::new(buffered.into_inner())?)
        }
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(buffered)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new(buffered, true)),
    })
}

fn run_transform(
    source: impl Read + Send,
    mut sink: ChannelWriter,
    t: Transform,
    notes: &TransformNotes,
) -> io::Result<()> {
    match t {
        Transform::Decompress(from) => sink.fill_from(&mut decoder(from, source)?)?,
        Transform::Compress { to, level } => encode(
            io::BufReader::with_capacity(BUFFER_SIZE, source),
            &mut sink,
            to,
            level,
            notes,
        )?,
        // Decompression runs on a second thread, so the two stages overlap: the largest
        // layer, which finishes last, is not limited by the sum of both per-byte costs.
        Transform::Recompress { from, to, level } => std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(2);
            scope.spawn(move || {
                if let Err(e) = pump(from, source, &tx) {
                    // The encoder may have stopped already; then nobody needs to know.
                    let _ = tx.send(Err(e));
                }
            });
            // `encode` owns the receiver: when it returns (even early, on an error) the
            // decoder's next send fails and its thread ends, so the scope can close.
            encode(
                ChunkReader {
                    rx,
                    chunk: Vec::new(),
                    pos: 0,
                },
                &mut sink,
                to,
                level,
                notes,
            )
        })?,
    }
    sink.flush()
}

/// Decompresses `source` into chunks sent to `tx`.
fn pump(
    from: Compression,
    source: impl Read,
    tx: &std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<()> {
    let mut plain = decoder(from, source)?;
    loop {
        let mut chunk = vec![0u8; CHUNK_SIZE];
        let n = read_full(&mut plain, &mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        chunk.truncate(n);
        if tx.send(Ok(chunk)).is_err() {
            return Ok(());
        }
    }
}

/// Copies a buffered reader into `w` a whole buffer at a time. `io::copy` would go
/// through an 8 KiB stack buffer: twice the copying, and an encoder call per 8 KiB.
fn copy_buffered(r: &mut impl io::BufRead, w: &mut impl Write) -> io::Result<()> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        let n = buf.len();
        w.write_all(buf)?;
        r.consume(n);
    }
}

/// The receiving end of `pump` as a `Read`.
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = io::BufRead::fill_buf(self)?;
        let n = out.len().min(available.len());
        out[..n].copy_from_slice(&available[..n]);
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl io::BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    self.chunk = next;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The decoder finished and hung up: end of stream.
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}

/// Compresses `plain` into `sink` with `to` at `level`.
fn encode(
    mut plain: impl io::BufRead,
    sink: &mut ChannelWriter,
    to: Compression,
    level: i32,
    notes: &TransformNotes,
) -> io::Result<()> {
    match to {
        Compression::Gzip => parallel_gzip::compress(
            &mut plain,
            sink,
            level.clamp(0, 9) as u32,
            parallel_gzip::Pool::shared(),
        )?,
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(sink, level)?;
            // No zstd worker threads: layers are compressed in parallel already, and zstd's
            // workers each hold a job of several window sizes (measured: 5 layers at level
            // 3 took 230-340 MB with workers, 57 MB without, at the same speed).
            copy_buffered(&mut plain, &mut enc)?;
            enc.finish()?;
        }
        Compression::ZstdChunked => {
            notes.set(super::zstd_chunked::compress(plain, &mut *sink, level)?);
        }
        // Refused by `check_supported` before the stage starts.
        other => return Err(not_written(other)),
    }
    Ok(())
}

/// A `Write` (for blocking code) that hands full chunks to the async side.
pub struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
    /// Said when the receiving side has gone away.
    gone: &'static str,
}

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<io::Result<Bytes>>, gone: &'static str) -> ChannelWriter {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK_SIZE),
            gone,
        }
    }

    /// Reads all of `r` straight into the chunks (no intermediate buffer).
    fn fill_from(&mut self, r: &mut impl Read) -> io::Result<()> {
        self.send_buf()?;
        loop {
            // Zeroed once per chunk: cheaper than reading through a second buffer.
            let mut chunk = vec![0u8; CHUNK_SIZE];
            let n = read_full(r, &mut chunk)?;
            chunk.truncate(n);
            if n > 0 {
                self.send(chunk)?;
            }
            if n < CHUNK_SIZE {
                return Ok(());
            }
        }
    }

    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_SIZE));
        self.send(chunk)
    }

    fn send(&self, chunk: Vec<u8>) -> io::Result<()> {
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, self.gone))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Fill the chunk exactly: growing past its capacity would double every chunk.
        let n = data.len().min(CHUNK_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK_SIZE {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(data: Vec<u8>, t: Transform) -> io::Result<Vec<u8>> {
        let input: BlobReader = Box::pin(io::Cursor::new(data));
        let mut out = Vec::new();
        transform(input, t)?.read_to_end(&mut out).await?;
        Ok(out)
    }

    #[test]
    fn a_transform_beyond_the_slots_waits_for_one_to_be_released() {
        let slots: &'static CpuSlots = Box::leak(Box::new(CpuSlots::new(2)));
        let first = slots.acquire();
        let _second = slots.acquire();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _third = slots.acquire();
            tx.send(()).unwrap();
        });
        let wait = std::time::Duration::from_millis(200);
        assert!(
            rx.recv_timeout(wait).is_err(),
            "a third slot was handed out"
        );
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the released slot went to the waiter");
        waiter.join().unwrap();
    }

    #[test]
    fn channel_writer_sends_full_chunks_without_growing_them() {
        let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(64);
        let mut w = ChannelWriter::new(tx, "gone");
        // Odd-sized writes straddle chunk boundaries.
        for _ in 0..100 {
            w.write_all(&[7u8; 10_007]).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        let mut sizes = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            sizes.push(chunk.unwrap().len());
        }
        assert_eq!(sizes.iter().sum::<usize>(), 1_000_700);
        let (last, full) = sizes.split_last().unwrap();
        assert!(full.iter().all(|&n| n == CHUNK_SIZE), "{sizes:?}");
        assert!(*last <= CHUNK_SIZE);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn round_trips_through_every_format() {
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
        for to in [Compression::Gzip, Compression::Zstd] {
            let packed = run(
                data.clone(),
                Transform::Compress {
                    to,
                    level: to.default_level(),
                },
            )
            .await
            .unwrap();
            let (detected, _) = sniff(Box::pin(io::Cursor::new(packed.clone())))
                .await
                .unwrap();
            assert_eq!(detected, Some(to));
            assert!(packed.len() < data.len() / 4);
            let other = if to == Compression::Gzip {
                Compression::Zstd
            } else {
                Compression::Gzip
            };
            let re = run(
                packed,
                Transform::Recompress {
                    from: to,
                    to: other,
                    level: 1,
                },
            )
            .await
            .unwrap();
            let back = run(re, Transform::Decompress(other)).await.unwrap();
            assert!(back == data);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bzip2_is_read_but_never_written() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 13) as u8).collect();
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        enc.write_all(&data).unwrap();
        let packed = enc.finish().unwrap();
        assert_eq!(detect(&packed), Some(Compression::Bzip2));
        let back = run(packed, Transform::Decompress(Compression::Bzip2))
            .await
            .unwrap();
        assert!(back == data);
        let refused = run(
            data,
            Transform::Compress {
                to: Compression::Xz,
                level: 3,
            },
        )
        .await
        .unwrap_err();
        assert!(
            refused.to_string().contains("not supported yet"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn sniff_keeps_every_byte() {
        for data in [vec![], vec![1u8], b"plain tar bytes".to_vec()] {
            let (detected, mut rest) = sniff(Box::pin(io::Cursor::new(data.clone())))
                .await
                .unwrap();
            assert_eq!(detected, None);
            let mut out = Vec::new();
            rest.read_to_end(&mut out).await.unwrap();
            assert_eq!(out, data);
        }
    }

    #[tokio::test]
    async fn corrupt_input_is_an_error_not_a_short_stream() {
        let mut packed = run(
            vec![7u8; 100_000],
            Transform::Compress {
                to: Compression::Gzip,
                level: 6,
            },
        )
        .await
        .unwrap();
        let n = packed.len();
        packed.truncate(n / 2);
        assert!(
            run(packed.clone(), Transform::Decompress(Compression::Gzip))
                .await
                .is_err()
        );
        // The same failure on the decompression thread of a recompression.
        let to_zstd = Transform::Recompress {
            from: Compression::Gzip,
            to: Compression::Zstd,
            level: 3,
        };
        assert!(run(packed, to_zstd).await.is_err());
    }
}
