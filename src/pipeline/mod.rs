//! Blob stream stages: digest verification, compression detection, (de)compression and
//! progress counting. Each stage is an `AsyncRead` wrapping the previous one, so a layer
//! flows through in fixed-size buffers and is never held whole in memory.

mod compress;
mod verify;

use std::pin::Pin;

use tokio::io::AsyncRead;

pub use compress::{Compression, Transform, sniff, transform};
pub use verify::{Counted, CountingReader, VerifyError, VerifyingReader};

/// A stream of blob bytes.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Buffer size for copies: large enough that hashing and syscalls, not call overhead, dominate.
pub const BUFFER_SIZE: usize = 256 * 1024;
