//! skiff: copy container images between registries, directories, archives and local
//! stores, as `skopeo copy` does, faster and safer.
//!
//! The flow is one way: `cli` turns argv into settings, `reference` parses image names,
//! `copy` checks the `policy` and drives the `transport`s through the `pipeline`, and
//! `report` is the only module that prints.

pub mod cli;
pub mod commands;
pub mod config;
pub mod copy;
pub mod crypt;
pub(crate) mod der;
pub mod digest;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz_api;
pub mod gotime;
pub mod image;
pub mod manifest;
pub mod pipeline;
pub mod policy;
pub mod reference;
pub mod report;
pub mod signature;
pub mod transport;
