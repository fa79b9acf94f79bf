//! Gzip compression on every core, pigz-style: the input is cut into 1 MiB blocks, each
//! compressed on a shared pool of worker threads as raw deflate primed with the previous
//! block's last 32 KiB (so matches still reach back a full window) and ended with a sync
//! flush, then written in order as one ordinary gzip member.
//!
//! One layer then uses all cores (skopeo's pgzip does the same), and many layers share the
//! same pool instead of each starting threads of its own. The bytes depend only on the input
//! and the level, never on how many cores ran them.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use flate2::{Compress, FlushCompress, Status};

use super::stream::read_full;

/// Input per block: big enough that the cuts cost next to nothing (an 82 MB layer came out
/// 0.01% larger than from one zlib stream), small enough that one layer splits across cores.
const BLOCK: usize = 1 << 20;
/// Deflate's window: what a block is primed with.
const WINDOW: usize = 32 * 1024;

type Job = Box<dyn FnOnce() + Send>;

/// Worker threads shared by every compression in the process.
pub struct Pool {
    jobs: Mutex<Sender<Job>>,
    threads: usize,
}

impl Pool {
    pub fn new(threads: usize) -> Pool {
        let threads = threads.max(1);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("gzip-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job drops its result sender (its stream then
                            // fails); the worker lives on for the others.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                });
            if spawned.is_err() && i == 0 {
                // No thread at all: jobs then run on the caller (see `run`).
                return Pool {
                    jobs: Mutex::new(tx),
                    threads: 0,
                };
            }
        }
        Pool {
            jobs: Mutex::new(tx),
            threads,
        }
    }

    /// The process-wide pool, one thread per core.
    pub fn shared() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| Pool::new(std::thread::available_parallelism().map_or(1, |n| n.get())))
    }

    fn run(&self, job: Job) {
        if self.threads == 0 {
            return job();
        }
        let rejected = match self.jobs.lock() {
            Ok(tx) => tx.send(job).err().map(|e| e.0),
            Err(_) => Some(job),
        };
        if let Some(job) = rejected {
            job();
        }
    }
}

/// Compresses `input` into `out` as one gzip member at `level` (0-9), on `pool`.
pub fn compress(
    input: &mut impl Read,
    out: &mut impl Write,
    level: u32,
    pool: &Pool,
) -> io::Result<()> {
    let level = level.min(9);
    out.write_all(&header(level))?;
    let mut crc = flate2::Crc::new();
    // Enough blocks in flight to keep every worker busy while this thread writes.
    let ahead = pool.threads.max(1) + 1;
    let mut pending: VecDeque<Receiver<io::Result<Vec<u8>>>> = VecDeque::new();
    let mut window: Vec<u8> = Vec::new();
    loop {
        let mut block = vec![0u8; BLOCK];
        let n = read_full(input, &mut block)?;
        block.truncate(n);
        if n > 0 {
            crc.update(&block);
            let dictionary =
                std::mem::replace(&mut window, block[n.saturating_sub(WINDOW)..].to_vec());
            let (tx, rx) = sync_channel(1);
            pool.run(Box::new(move || {
                deflate_block(block, dictionary, level, tx)
            }));
            pending.push_back(rx);
        }
        while pending.len() >= ahead || (n < BLOCK && !pending.is_empty()) {
            let Some(rx) = pending.pop_front() else { break };
            let compressed = rx
                .recv()
                .map_err(|_| io::Error::other("a gzip worker thread died"))??;
            out.write_all(&compressed)?;
        }
        if n < BLOCK {
            break;
        }
    }
    // The last block: empty and final, after the sync-flushed ones.
    out.write_all(&FINAL_EMPTY_BLOCK)?;
    out.write_all(&crc.sum().to_le_bytes())?;
    out.write_all(&crc.amount().to_le_bytes())?;
    Ok(())
}

/// A final, empty fixed-Huffman deflate block (what zlib ends a sync-flushed stream with).
const FINAL_EMPTY_BLOCK: [u8; 2] = [0x03, 0x00];

/// The header flate2's `GzEncoder` writes: no name, time 0, unknown OS.
fn header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

fn deflate_block(
    block: Vec<u8>,
    dictionary: Vec<u8>,
    level: u32,
    done: SyncSender<io::Result<Vec<u8>>>,
) {
    thread_local! {
        // One deflate state per worker and level, reset between blocks (allocating one
        // costs about 300 KB of fresh pages).
        static STATE: std::cell::RefCell<Option<(u32, Compress)>> = const { std::cell::RefCell::new(None) };
    }
    let result = STATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let c = match cell.as_mut() {
            Some((l, c)) if *l == level => {
                c.reset();
                c
            }
            _ => {
                let c = Compress::new(flate2::Compression::new(level), false);
                &mut cell.insert((level, c)).1
            }
        };
        deflate_into(c, &block, &dictionary)
    });
    // The reader may have failed and gone; nobody is waiting then.
    let _ = done.send(result);
}

/// Raw deflate of `block`, primed with `dictionary`, ended by a sync flush (byte aligned,
/// not final), so blocks concatenate into one stream.
fn deflate_into(c: &mut Compress, block: &[u8], dictionary: &[u8]) -> io::Result<Vec<u8>> {
    if !dictionary.is_empty() {
        c.set_dictionary(dictionary).map_err(io::Error::other)?;
    }
    let mut out = Vec::with_capacity(block.len() / 2 + 1024);
    let start = c.total_in();
    loop {
        let consumed = (c.total_in() - start) as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let status = c
            .compress_vec(&block[consumed..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        let consumed = (c.total_in() - start) as usize;
        // Done when all input is in and the flush did not run out of room (a flush that
        // stops short leaves the output full).
        if consumed == block.len() && out.len() < out.capacity() {
            return Ok(out);
        }
        if status == Status::BufError && out.len() < out.capacity() {
            return Err(io::Error::other("deflate made no progress"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: text-like runs with a pseudo-random walk.
        let mut x: u32 = 12345;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 7 == 0 {
                    (x >> 24) as u8
                } else {
                    b"layer data "[i % 11]
                }
            })
            .collect()
    }

    fn gzip(data: &[u8], level: u32, pool: &Pool) -> Vec<u8> {
        let mut out = Vec::new();
        compress(&mut &data[..], &mut out, level, pool).unwrap();
        out
    }

    #[test]
    fn one_member_that_any_gzip_reader_decodes_whatever_the_size() {
        let pool = Pool::new(2);
        for len in [0, 1, WINDOW, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 777] {
            let data = sample(len);
            let packed = gzip(&data, 4, &pool);
            // GzDecoder (not MultiGzDecoder) stops after the first member: all must be in it.
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&packed[..])
                .read_to_end(&mut plain)
                .unwrap();
            assert_eq!(plain, data, "length {len}");
            if len > BLOCK {
                assert!(
                    packed.len() < len / 2,
                    "length {len}: {} bytes",
                    packed.len()
                );
            }
        }
    }

    #[test]
    fn the_bytes_do_not_depend_on_the_number_of_threads() {
        let data = sample(5 * BLOCK + 12_345);
        let one = gzip(&data, 4, &Pool::new(1));
        assert_eq!(gzip(&data, 4, &Pool::new(2)), one);
        assert_eq!(gzip(&data, 4, &Pool::new(5)), one);
        assert_ne!(gzip(&data, 1, &Pool::new(2)), one);
    }

    #[test]
    fn each_block_is_primed_with_the_previous_window() {
        // 16 KiB of noise repeated: only the first copy is stored as literals, provided each
        // block starts primed with the previous one's last 32 KiB. Unprimed, every block
        // would pay for the literals again.
        let noise = {
            let mut x: u32 = 99;
            (0..16 * 1024)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 24) as u8
                })
                .collect::<Vec<u8>>()
        };
        let data: Vec<u8> = noise.iter().copied().cycle().take(4 * BLOCK).collect();
        let pool = Pool::new(2);
        let whole = gzip(&data, 6, &pool).len();
        let first_block = gzip(&data[..BLOCK], 6, &pool).len();
        // Primed, each later block skips the 16 KiB of literals the first one needs.
        assert!(first_block > 16 * 1024, "{first_block}");
        assert!(
            whole < 4 * first_block - 32 * 1024,
            "{whole} vs 4 x {first_block}"
        );
    }

    #[test]
    fn a_read_error_is_returned() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("source broke"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(b'x');
                self.0 -= n;
                Ok(n)
            }
        }
        let err = compress(
            &mut Failing(3 * BLOCK + 5),
            &mut Vec::new(),
            4,
            &Pool::new(2),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "source broke");
    }
}
