//! Manifests: detect their type, read the blobs they reference, and rewrite layer
//! descriptors when the copy changed a layer. Raw bytes are kept; a manifest is
//! re-serialized only when it must change (`model`). `error` has [`ManifestError`],
//! `gojson` the Go-compatible JSON encoder every writer of Go's bytes shares.

pub mod convert;
mod error;
pub(crate) mod gojson;
pub mod mime;
mod model;
pub mod platform;

pub use error::ManifestError;
pub use model::{
    Descriptor, Kind, MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, Manifest, Platform, go_json, guess_mime,
    manifest_digest,
};
