//! What every stage shares: the [`BlobReader`] stream type, the buffer size, reading a
//! buffer full, and telling a transient I/O failure (worth a retry) from a final one.

use std::pin::Pin;

use tokio::io::AsyncRead;

/// A stream of blob bytes.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Whether a stream error may go away if the blob is read again (a dropped connection,
/// not a digest mismatch or a full disk).
pub fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset
            | ConnectionAborted
            | ConnectionRefused
            | BrokenPipe
            | TimedOut
            | Interrupted
    ) || e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<TransientError>().is_some())
}

/// Marks an io::Error raised by a network stage as worth a retry; the cause stays typed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct TransientError(pub Box<dyn std::error::Error + Send + Sync>);

/// Buffer size for copies: large enough that hashing and syscalls, not call overhead, dominate.
pub const BUFFER_SIZE: usize = 256 * 1024;

/// Reads until `buf` is full or the stream ends; returns how much was read.
pub(crate) fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
