//! In-place byte stages (layer encryption and decryption) as a reader.
//!
//! A `ChunkFilter` rewrites bytes where they lie, in the consumer's own buffer: no thread,
//! no queue, no copy, so a filtered layer costs no memory beyond the plain copy's. It
//! gives its verdict once the input ends: an error from `finish` reaches the reader
//! *instead of* end-of-file (the `VerifyingReader` principle), so no destination can keep
//! a layer whose check failed.
//!
//! Each read is capped at `MAX_STEP` bytes, so one poll costs at most ~40-80 µs of cipher
//! and hashing work (AES-CTR + HMAC-SHA256 run at ~1.7 GB/s on one core here). File
//! destinations pull the stream from a blocking thread, where this work then runs;
//! registry uploads poll it like their own hashing.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The most bytes one read passes through a filter.
const MAX_STEP: usize = 64 * 1024;

/// One in-place stage.
pub trait ChunkFilter: Send {
    /// Transforms `chunk` in place (same length out as in).
    fn apply(&mut self, chunk: &mut [u8]) -> io::Result<()>;
    /// Called once after the last chunk; an error fails the stream.
    fn finish(&mut self) -> io::Result<()>;
}

/// `inner`'s bytes, each one passed through `filter`.
pub struct FilterReader<R> {
    inner: R,
    filter: Box<dyn ChunkFilter>,
    finished: bool,
}

impl<R> FilterReader<R> {
    pub fn new(inner: R, filter: Box<dyn ChunkFilter>) -> FilterReader<R> {
        FilterReader {
            inner,
            filter,
            finished: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for FilterReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.finished || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let step = buf.remaining().min(MAX_STEP);
        let room = buf.initialize_unfilled_to(step);
        let mut part = ReadBuf::new(room);
        match Pin::new(&mut this.inner).poll_read(cx, &mut part) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let n = part.filled().len();
        if n == 0 {
            // End of input: the only place a verdict can be given.
            this.finished = true;
            return Poll::Ready(this.filter.finish());
        }
        this.filter.apply(&mut room[..n])?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Adds one to every byte and fails at the end when told to.
    struct AddOne {
        fail: bool,
    }

    impl ChunkFilter for AddOne {
        fn apply(&mut self, chunk: &mut [u8]) -> io::Result<()> {
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
        let mut out = Vec::new();
        FilterReader::new(io::Cursor::new(data), Box::new(AddOne { fail }))
            .read_to_end(&mut out)
            .await?;
        Ok(out)
    }

    #[tokio::test]
    async fn transforms_every_byte_across_steps() {
        for len in [0, 1, MAX_STEP, MAX_STEP + 1, 5 * MAX_STEP - 3] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let out = run(data.clone(), false).await.unwrap();
            assert_eq!(out.len(), len);
            assert!(out.iter().zip(&data).all(|(o, d)| *o == d.wrapping_add(1)));
        }
    }

    #[tokio::test]
    async fn a_failed_verdict_is_an_error_not_end_of_file() {
        let err = run(vec![5u8; MAX_STEP + 10], true).await.unwrap_err();
        assert_eq!(err.to_string(), "verdict: bad");
        assert!(run(Vec::new(), true).await.is_err());
    }

    #[tokio::test]
    async fn one_read_passes_at_most_a_step() {
        let mut r = FilterReader::new(
            io::Cursor::new(vec![0u8; 3 * MAX_STEP]),
            Box::new(AddOne { fail: false }),
        );
        let mut buf = vec![0u8; 2 * MAX_STEP];
        assert_eq!(r.read(&mut buf).await.unwrap(), MAX_STEP);
    }
}
