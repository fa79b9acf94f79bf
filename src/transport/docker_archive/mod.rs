//! `docker-archive:` — the tar files `docker save` writes and `docker load` reads: a
//! `manifest.json` listing each image's config file, tags and layer files (plain tars,
//! named `<id>/layer.tar`, `<digest>.tar` or `blobs/sha256/<digest>`), plus the legacy
//! `repositories` file.
//!
//! Reading indexes the tar once and serves files by offset (`tarindex`). Writing spools
//! blobs into a temp directory and builds the tar at commit (`writer`), beside the target
//! and renamed into place, or streamed when the target is not a regular file. The same
//! source and writer serve `docker-daemon:`, whose API speaks this format.
//! `error.rs` holds the module's error type, `options.rs` the destination's options.

mod dest;
mod error;
mod extend;
mod format;
mod options;
mod source;
mod tarheaders;
pub(crate) mod tarindex;
pub(crate) use tarindex::TarIndex;
mod writer;

pub use dest::ArchiveDestination;
pub use error::ArchiveError;
pub use options::{DestOptions, Sink};
pub use source::{ArchiveSource, list_tags};
// oci-archive writes its tar with the same kernel-copying entry writer.
pub(crate) use source::scan_source;
pub(crate) use writer::append_from;
