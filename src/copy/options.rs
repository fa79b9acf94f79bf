//! [`CopyOptions`]: everything the engine needs from the command line, which part of a
//! manifest list to copy ([`ListSelection`]), and what to sign with ([`SignOptions`],
//! [`SigstoreSigners`]).

use std::sync::Arc;

use super::encryption::CryptOptions;
use crate::manifest::platform::WantedPlatform;
use crate::pipeline::Compression;
use crate::reference::DockerRef;
use crate::signature::gpg::GpgSigner;
use crate::signature::sigstore::Signer as SigstoreSigner;
use crate::transport::OpenOptions;

/// What to do with a manifest list (`--all`, `--multi-arch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSelection {
    /// Only the instance for the wanted platform.
    System,
    /// Every instance and the list.
    All,
    /// The list alone.
    IndexOnly,
}

/// Everything the engine needs, free of command-line details.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub src: OpenOptions,
    pub dest: OpenOptions,
    pub compress_format: Option<Compression>,
    pub compress_level: Option<i32>,
    pub remove_signatures: bool,
    pub preserve_digests: bool,
    pub selection: ListSelection,
    pub platform: WantedPlatform,
    /// `--format`, as a manifest media type.
    pub format: Option<crate::manifest::convert::Target>,
    /// Layers copied at once (skopeo: 6; `--image-parallel-copies`).
    pub parallel: usize,
    /// Layer encryption or decryption (`--encryption-key`, `--decryption-key`).
    pub crypt: Option<CryptOptions>,
    /// `--sign-by`: sign every manifest written.
    pub sign: Option<SignOptions>,
    /// `--sign-by-sigstore`, `--sign-by-sigstore-private-key`: the same, with sigstore.
    pub sigstore: SigstoreSigners,
    /// `--dest-force-compress-format`: a layer is reused from the destination only when it
    /// has `compress_format` (containers/image's requireCompressionFormatMatch).
    pub force_compress_format: bool,
}

/// What `--sign-by`, `--sign-passphrase-file` and `--sign-identity` ask for.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// The key, as `--sign-by` gives it (a fingerprint).
    pub key: String,
    /// gpg, with the passphrase if one was given.
    pub signer: GpgSigner,
    /// `--sign-identity`; the destination's reference when absent.
    pub identity: Option<DockerRef>,
}

/// The sigstore signers of a copy, set up (keys decrypted, Fulcio certificate obtained)
/// before anything is copied.
#[derive(Clone, Default)]
pub struct SigstoreSigners {
    /// `--sign-by-sigstore`: signs before the GPG signer.
    pub from_params: Option<Arc<SigstoreSigner>>,
    /// `--sign-by-sigstore-private-key`: signs after it.
    pub from_key: Option<Arc<SigstoreSigner>>,
    /// `--sign-identity`, when no GPG signer carries it.
    pub identity: Option<DockerRef>,
}

impl SigstoreSigners {
    pub fn is_empty(&self) -> bool {
        self.from_params.is_none() && self.from_key.is_none()
    }
}

impl std::fmt::Debug for SigstoreSigners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigstoreSigners")
            .field("from_params", &self.from_params.is_some())
            .field("from_key", &self.from_key.is_some())
            .field("identity", &self.identity)
            .finish()
    }
}
