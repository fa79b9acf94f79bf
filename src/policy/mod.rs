//! Signature policy (containers-policy.json(5)), as skopeo 1.9.3 /
//! containers/image v5.23.1 implement it: locating, strictly parsing,
//! looking up and evaluating the trust policy that gates `copy`.
//!
//! * [`default_policy_path`] / [`Policy::load`] / [`Policy::parse`] — finding
//!   and parsing the file, with c/image's strictness and error texts (`document.rs`;
//!   requirements in `model.rs`, `sigstore_config.rs`, `identity.rs`).
//! * [`Policy::requirements_for`] — scope lookup (see `lookup.rs`).
//! * [`Policy::evaluate`] — the admission decision; only it constructs
//!   [`Admitted`] (see `eval.rs`) for a [`PolicyImage`] (`image.rs`).
//!
//! Every [`PolicyError`] displays as the complete message skopeo reports
//! (without logrus decoration), e.g.
//! `Error loading trust policy: open /nonexist: no such file or directory`.

mod document;
mod error;
mod eval;
mod identity;
mod image;
pub(crate) mod json;
mod lookup;
mod model;
mod scope;
pub(crate) mod signed_by;
mod sigstore_config;
mod sigstore_signed;
mod syntax;

#[cfg(test)]
mod tests;

pub use document::{
    Policy, SYSTEM_POLICY_PATH, TransportScopes, USER_POLICY_FILE, default_policy_path,
};
pub use error::PolicyError;
pub(crate) use error::go_io_cause;
pub use eval::Admitted;
pub use identity::ReferenceMatch;
pub use image::PolicyImage;
pub use model::{KeySource, KeyType, Requirement};
pub use sigstore_config::{BytesSource, FulcioConfig, PkiConfig, SigstoreSigned};
