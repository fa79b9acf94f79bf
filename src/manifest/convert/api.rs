//! What a conversion takes and gives: the [`Target`] format, the [`Inputs`] (the source
//! layers' destination blobs, a schema 1 signer), and the [`Converted`] result.

use crate::digest::Digest;
use crate::manifest::mime;
use crate::manifest::model::Manifest;

/// `--format oci|v2s2|v2s1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Oci,
    Schema2,
    Schema1,
}

impl Target {
    pub fn from_format(s: &str) -> Option<Target> {
        match s {
            "oci" => Some(Target::Oci),
            "v2s2" => Some(Target::Schema2),
            "v2s1" => Some(Target::Schema1),
            _ => None,
        }
    }

    /// The target that writes image manifests of type `m` (as chosen by [`plan_types`]).
    pub fn from_mime(m: &str) -> Option<Target> {
        match m {
            mime::OCI_MANIFEST => Some(Target::Oci),
            mime::DOCKER_V2S2 => Some(Target::Schema2),
            mime::DOCKER_V2S1 | mime::DOCKER_V2S1_SIGNED => Some(Target::Schema1),
            _ => None,
        }
    }
}

/// Where the copy put a source layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub source: Digest,
    pub dest: Digest,
    pub size: i64,
}

/// The ES256 key that signs schema 1 output. c/image uses a fresh random P-256 key per
/// manifest; the signature has no meaning, registries only require one to be present.
pub trait Schema1Signer {
    /// `time.Now().UTC().Format(time.RFC3339)`, e.g. `2026-01-02T03:04:05Z`.
    fn time(&self) -> String;
    /// The public key as libtrust writes its JWK (`crv`, `kid`, `kty`, `x`, `y`, in that
    /// order) and the signature of `signing_input` (SHA-256, `r || s`, 64 bytes).
    fn sign(&self, signing_input: &[u8]) -> Result<(serde_json::Value, Vec<u8>), String>;
}

/// What a conversion needs besides the manifest.
#[derive(Default, Clone, Copy)]
pub struct Inputs<'a> {
    /// The source config blob (s2 -> OCI, anything -> schema 1).
    pub config: Option<&'a [u8]>,
    /// Schema 1 sources: the uncompressed digests of the layers, base first, either one per
    /// fsLayer or one per distinct blob (the order of `Kind::Schema1`'s layers).
    pub layer_diff_ids: Option<&'a [Digest]>,
    /// Schema 1 output embeds the repository path and tag; `None` (dir:, oci:) writes "".
    pub destination_reference: Option<(&'a str, &'a str)>,
    /// Where each source layer went; required for schema 1 sources (their sizes).
    pub layers: Option<&'a [LayerBlob]>,
    /// Signs schema 1 output; required for `Target::Schema1`.
    pub signer: Option<&'a dyn Schema1Signer>,
}

/// The result: the new manifest, and the blobs the caller must upload.
#[derive(Debug, Clone)]
pub struct Converted {
    pub manifest: Manifest,
    /// A new config blob (its digest is the manifest's config digest).
    pub new_config: Option<Vec<u8>>,
    /// Other blobs the manifest references that the source does not have (the gzipped
    /// empty layer of schema 1 `throwaway` entries).
    pub extra_blobs: Vec<Vec<u8>>,
}
