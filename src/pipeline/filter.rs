//! In-place byte stages (layer encryption and decryption) on the blocking pool.
//!
//! A `ChunkFilter` rewrites each chunk where it lies and gives its verdict once the input
//! ends: an error from `finish` reaches the reader *instead of* end-of-file (the
//! `VerifyingReader` principle), so no destination can keep a layer whose check failed.

use std::io;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

use super::{BUFFER_SIZE, BlobReader, channel_reader, read_full};

/// One in-place stage.
pub trait ChunkFilter: Send {
    /// Transforms `chunk` in place (same length out as in).
    fn apply(&mut self, chunk: &mut [u8]) -> io::Result<()>;
    /// Called once after the last chunk; an error fails the stream.
    fn finish(&mut self) -> io::Result<()>;
}

/// Runs `f` over `input` on the blocking pool.
///
/// Unlike the (de)compression transforms this takes no CPU slot: a decryption feeds a
/// decompression that may be waiting for one, and holding a slot while waiting on it
/// could leave every slot held by a stage whose consumer cannot start. At most the
/// copy's parallel layers run a filter at once.
pub fn filter(input: BlobReader, mut f: Box<dyn ChunkFilter>) -> BlobReader {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(2);
    tokio::task::spawn_blocking(move || {
        let mut source = SyncIoBridge::new(input);
        let mut run = || -> io::Result<()> {
            loop {
                let mut chunk = vec![0u8; BUFFER_SIZE];
                let n = read_full(&mut source, &mut chunk)?;
                chunk.truncate(n);
                if n > 0 {
                    f.apply(&mut chunk)?;
                    tx.blocking_send(Ok(Bytes::from(chunk))).map_err(|_| {
                        io::Error::new(io::ErrorKind::BrokenPipe, "blob consumer went away")
                    })?;
                }
                if n < BUFFER_SIZE {
                    return f.finish();
                }
            }
        };
        if let Err(e) = run() {
            // The reader may be gone already (cancelled copy); nothing left to tell then.
            let _ = tx.blocking_send(Err(e));
        }
    });
    channel_reader(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Adds one to every byte and fails at the end when told to.
    struct AddOne {
        fail: bool,
        seen: usize,
    }

    impl ChunkFilter for AddOne {
        fn apply(&mut self, chunk: &mut [u8]) -> io::Result<()> {
            self.seen += chunk.len();
            chunk.iter_mut().for_each(|b| *b = b.wrapping_add(1));
            Ok(())
        }
        fn finish(&mut self) -> io::Result<()> {
            if self.fail {
                Err(io::Error::new(io::ErrorKind::InvalidData, "verdict: bad"))
            } else {
                Ok(())
            }
        }
    }

    async fn run(data: Vec<u8>, fail: bool) -> io::Result<Vec<u8>> {
        let input: BlobReader = Box::pin(io::Cursor::new(data));
        let mut out = Vec::new();
        filter(input, Box::new(AddOne { fail, seen: 0 }))
            .read_to_end(&mut out)
            .await?;
        Ok(out)
    }

    #[tokio::test]
    async fn transforms_every_byte_across_chunks() {
        for len in [0, 1, BUFFER_SIZE, BUFFER_SIZE + 1, 3 * BUFFER_SIZE - 5] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let out = run(data.clone(), false).await.unwrap();
            assert_eq!(out.len(), len);
            assert!(out.iter().zip(&data).all(|(o, d)| *o == d.wrapping_add(1)));
        }
    }

    #[tokio::test]
    async fn a_failed_verdict_is_an_error_not_end_of_file() {
        let err = run(vec![5u8; BUFFER_SIZE + 10], true).await.unwrap_err();
        assert_eq!(err.to_string(), "verdict: bad");
        assert!(run(Vec::new(), true).await.is_err());
    }
}
