//! Sigstore signatures (cosign's simple-signing format), made and checked as
//! containers/image does, without the sigstore crate (which would bring aws-lc back):
//!
//! * `keys`: encrypted private keys (scrypt + NaCl secretbox over PKCS#8), public keys;
//! * `payload`: the signed JSON; `signer`: making signatures (key file, or Fulcio via
//!   `oidc`, optionally logged in `rekor`); `params`: the `--sign-by-sigstore` file;
//! * `verify`: accepting a signature under a `sigstoreSigned` trust root (`fulcio` and
//!   `cert` check certificates offline, `rekor` checks SETs, `jcs` canonicalizes JSON);
//! * `attachments`: the registry form (`sha256-<hex>.sig` tags);
//! * `error`: [`SigstoreError`]; `http`: the client for Fulcio, Rekor and OIDC issuers.

pub mod attachments;
pub(crate) mod cert;
mod error;
pub mod fulcio;
mod http;
pub(crate) mod jcs;
pub mod keys;
pub mod oidc;
pub(crate) mod oids;
pub mod params;
pub mod payload;
pub(crate) mod pem;
pub mod rekor;
pub mod signer;
pub mod verify;

pub use error::SigstoreError;
pub use keys::{KeyError, PrivateKey, PublicKey};
pub use signer::Signer;
pub use verify::{TrustRoot, verify};
