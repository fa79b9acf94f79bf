//! Host configuration that `skopeo copy` reads implicitly: registries.conf (v2,
//! with v1 compatibility), auth files and credential helpers, certs.d
//! directories, and the default locations of all of those.
//!
//! registries.conf: `registries` (loading, lookups), `registries_file` (one file),
//! `registries_model` (the tables). Credentials: `auth` (the lookup), `authfile` (auth
//! files), `helper` (credential helpers), `credentials` (what they yield), `authwrite`
//! (login/logout). Also `certs` (certs.d), `names`, `paths` (default locations), and
//! `error` ([`ConfigError`]).
//!
//! The behaviour follows containers/image v5.23.1 as vendored by skopeo 1.9.3;
//! see NOTES.md in the crate this module was developed in for the precise rules.

pub mod auth;
pub(crate) mod authfile;
pub mod authwrite;
pub mod certs;
mod credentials;
mod error;
mod helper;
mod names;
pub mod paths;
pub mod registries;
pub mod registries_d;
mod registries_file;
mod registries_model;

#[cfg(test)]
mod tests;

pub use auth::{AuthLookup, credential_helper_get};
pub use certs::{TlsFiles, tls_files_for};
pub use credentials::Credentials;
pub use error::ConfigError;
pub use paths::Env;
pub use registries::{Endpoint, RegistriesConf};
pub use registries_model::{Mirror, PullFromMirror, Registry};
