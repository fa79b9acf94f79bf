//! [`CopyOptions`]: everything the engine needs from the command line, and which part
//! of a manifest list to copy ([`ListSelection`]).

use super::encryption::CryptOptions;
use super::sign::{SignOptions, SigstoreSigners};
use crate::manifest::platform::WantedPlatform;
use crate::pipeline::Compression;
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
