//! Hashing while reading: a blob whose bytes do not match its digest or size fails
//! *instead of* reaching end-of-file, so no consumer can mistake it for complete.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::digest::{Digest, Hasher};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("blob {expected}: digest mismatch, the source sent bytes with digest {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {digest}: size mismatch, expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("blob {digest}: more than the expected {expected} bytes")]
    TooLong { digest: Digest, expected: u64 },
}

impl From<VerifyError> for io::Error {
    fn from(e: VerifyError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Verifies `expected` digest (and size, when known) of everything read through it.
pub struct VerifyingReader<R> {
    inner: R,
    expected: Digest,
    expected_size: Option<u64>,
    hasher: Option<Hasher>,
    read: u64,
}

impl<R> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest, expected_size: Option<u64>) -> Self {
        let hasher = Some(expected.algorithm().hasher());
        VerifyingReader {
            inner,
            expected,
            expected_size,
            hasher,
            read: 0,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for VerifyingReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let new = &buf.filled()[before..];
        if new.is_empty() {
            // End of stream: the only place a verdict can be given.
            let Some(hasher) = this.hasher.take() else {
                return Poll::Ready(Ok(()));
            };
            if let Some(size) = this.expected_size
                && size != this.read
            {
                return Poll::Ready(Err(VerifyError::SizeMismatch {
                    digest: this.expected.clone(),
                    expected: size,
                    actual: this.read,
                }
                .into()));
            }
            let actual = hasher.finish();
            if actual != this.expected {
                return Poll::Ready(Err(VerifyError::DigestMismatch {
                    expected: this.expected.clone(),
                    actual,
                }
                .into()));
            }
            return Poll::Ready(Ok(()));
        }
        this.read += new.len() as u64;
        if let Some(size) = this.expected_size
            && this.read > size
        {
            // An error must not come with data (AsyncRead contract).
            buf.set_filled(before);
            return Poll::Ready(Err(VerifyError::TooLong {
                digest: this.expected.clone(),
                expected: size,
            }
            .into()));
        }
        if let Some(h) = this.hasher.as_mut() {
            h.update(new);
        }
        Poll::Ready(Ok(()))
    }
}

/// What a `CountingReader` saw, available once the stream ended.
#[derive(Debug, Clone)]
pub struct Counted {
    pub digest: Digest,
    pub size: u64,
}

/// Computes the digest and size of what flows through.
pub struct CountingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    size: u64,
    result: Arc<Mutex<Option<Counted>>>,
}

impl<R> CountingReader<R> {
    /// Returns the reader and a slot that holds the digest and size after end-of-file.
    pub fn new(inner: R) -> (Self, Arc<Mutex<Option<Counted>>>) {
        let result = Arc::new(Mutex::new(None));
        let me = CountingReader {
            inner,
            hasher: Some(crate::digest::Algorithm::Sha256.hasher()),
            size: 0,
            result: result.clone(),
        };
        (me, result)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for CountingReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let new = &buf.filled()[before..];
        if new.is_empty() {
            if let Some(h) = this.hasher.take()
                && let Ok(mut slot) = this.result.lock()
            {
                *slot = Some(Counted {
                    digest: h.finish(),
                    size: this.size,
                });
            }
        } else {
            this.size += new.len() as u64;
            if let Some(h) = this.hasher.as_mut() {
                h.update(new);
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn read_all(r: impl AsyncRead + Unpin) -> io::Result<Vec<u8>> {
        let mut r = r;
        let mut out = Vec::new();
        r.read_to_end(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn passes_matching_bytes() {
        let data = b"hello world".to_vec();
        let d = Digest::sha256_of(&data);
        let got = read_all(VerifyingReader::new(&data[..], d, Some(11)))
            .await
            .unwrap();
        assert_eq!(got, data);
    }

    #[tokio::test]
    async fn fails_on_wrong_digest_and_size() {
        let d = Digest::sha256_of(b"hello world");
        let err = read_all(VerifyingReader::new(&b"hello there"[..], d.clone(), None))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        let err = read_all(VerifyingReader::new(&b"hello"[..], d.clone(), Some(11)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("size mismatch"), "{err}");
        let err = read_all(VerifyingReader::new(&b"hello world!!"[..], d, Some(11)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }

    #[tokio::test]
    async fn counts_and_hashes() {
        let (r, slot) = CountingReader::new(&b"abc"[..]);
        read_all(r).await.unwrap();
        let c = slot.lock().unwrap().clone().unwrap();
        assert_eq!(c.size, 3);
        assert_eq!(c.digest, Digest::sha256_of(b"abc"));
    }
}
