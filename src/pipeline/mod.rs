//! Blob stream stages: digest verification, compression detection, (de)compression,
//! in-place filters (layer encryption and decryption) and progress counting. Each stage
//! is an `AsyncRead` wrapping the previous one, so a layer flows through in fixed-size
//! buffers and is never held whole in memory. `stream` has the stream type and helpers
//! every stage shares.

mod compress;
mod filter;
mod parallel_gzip;
mod stream;
pub mod tarfmt;
mod verify;
pub mod zstd_chunked;

pub use compress::{
    ChannelWriter, Compression, Transform, TransformNotes, channel_reader, channel_stream, decoder,
    decompressed_len, detect, sniff, transform, transform_noting,
};
pub use filter::{ChunkFilter, FilterReader};
pub(crate) use stream::read_full;
pub use stream::{BUFFER_SIZE, BlobReader, TransientError, is_transient};
pub use verify::{Counted, CountingReader, VerifyError, VerifyingReader};
