//! `docker://`: images in a registry speaking the OCI distribution / Docker Registry v2 API.
//!
//! `client` talks HTTP (auth, retries), `source` reads manifests and blobs (with Range
//! resume), `destination` uploads (cross-repository mount, streaming or chunked PATCH) and
//! puts the manifest last, so a failed copy never publishes a tag; `endpoint` picks the
//! host, credentials and TLS files, `api` has login, tag listing and deletion. Retries
//! spend the operation's budget (`transport::retry`). `RegistryError` keeps the HTTP
//! status, the registry's error codes and the reqwest, I/O or configuration error typed
//! (`error.rs`); `protocol` has the Accept header and token scopes every part uses.

mod api;
mod attachments;
pub(crate) mod auth;
mod client;
mod destination;
mod endpoint;
mod error;
mod lookaside;
mod protocol;
#[cfg(test)]
mod retry_tests;
mod source;
mod tls;
mod x509;

pub use api::{AuthCheck, check_auth, credential_helpers, delete_image, list_tags};
pub use auth::Credentials;
pub use destination::DockerDestination;
pub use endpoint::RegistryOptions;
pub use error::{RegistryError, is_retryable_status};
pub use protocol::MANIFEST_ACCEPT;
pub use source::DockerSource;
