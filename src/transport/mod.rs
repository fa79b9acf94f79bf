//! Where images live. Each transport implements `ImageSource` and `ImageDestination`
//! (`traits.rs`); the copy engine only sees these traits. `open.rs` opens one by name with
//! the command line's `OpenOptions` (`options.rs`).
//!
//! Destination contract: nothing a destination writes is visible as an image until
//! `commit` succeeds; dropping a destination without committing rolls back.
//!
//! Errors: `TransportError` carries each transport's own error (`RegistryError`,
//! `DaemonError`, `ArchiveError`) as its typed cause, so callers decide by type (status,
//! retryable) and print the cause's words unchanged (`error.rs`). Retries: one budget per operation,
//! shared by every layer that retries (`retry`).

pub mod daemon;
mod dir;
pub mod docker;
pub mod docker_archive;
mod error;
pub(crate) mod fsspace;
pub(crate) mod fsutil;
mod oci;
mod open;
mod options;
pub mod retry;
pub(crate) mod sif;
pub mod storage;
mod tarball;
mod tls;
mod traits;

pub use error::{Result, TransportError};
pub use open::{open_destination, open_source, resolve_name};
pub use options::OpenOptions;
pub(crate) use tls::install_tls_provider;
pub use traits::{
    BlobInfo, BlobOptions, BlobRole, DestCaps, ImageDestination, ImageSource, LayerCompression,
    LayerForCopy, SignatureSupport,
};
