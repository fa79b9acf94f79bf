//! `docker-daemon:` through the Docker Engine API (dockerd, or podman's Docker-compatible
//! service): `GET /images/{name}/get` gives a docker archive, `POST /images/load` takes one.
//!
//! Reading spools the daemon's tar into `--tmpdir` (its order is the daemon's, with
//! manifest.json last, so nothing can be served before it ends) and then reads it as a
//! docker archive. Writing streams the archive into the load request at commit; if anything
//! fails mid-way the request body ends in an error, so the daemon sees a broken upload and
//! loads nothing.
//!
//! `client` speaks the Engine API, `source` and `destination` are the transport, `error`
//! has [`DaemonError`].

mod client;
mod destination;
mod error;
mod source;

pub use client::{DEFAULT_HOST, DaemonClient, DaemonOptions};
pub use destination::DaemonDestination;
pub use error::DaemonError;
pub use source::DaemonSource;
