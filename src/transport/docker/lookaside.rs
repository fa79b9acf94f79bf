//! Where a registry image's simple-signing signatures live, as containers/image 5.23 reads
//! and writes them (`docs/signature-protocols.md`):
//!
//! * the registry's own extension API when its `/v2/` answer carries
//!   `X-Registry-Supports-Signatures: 1` (OpenShift's registry):
//!   `/extensions/v2/REPO/signatures/DIGEST`, JSON lists read with GET, one PUT per new
//!   signature;
//! * otherwise a lookaside store (registries.d): `BASE/REPO@ALGO=HEX/signature-N`, N from
//!   1 until the first one missing; read over `file://`, `http://` and `https://`, written
//!   to `file://` only (a `lookaside-staging` location).
//!
//! Sigstore signatures go to and come from registry attachments instead, when
//! registries.d says `use-sigstore-attachments` (`attachments.rs`); after the simple
//! signatures when reading, as containers/image.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;

use super::client::{RegistryClient, Request};
use super::error::RegistryError;
use crate::config::registries_d::lookaside_url;
use crate::digest::Digest;
use crate::signature::{ReadBudget, Signature};
use crate::transport::error::{Result, TransportError};

/// The cap on one signature and on the extension API's list (as containers/image's).
const MAX_SIGNATURE_SIZE: usize = crate::signature::MAX_SIGNATURE_SIZE as usize;
const EXTENSION_SCHEMA_VERSION: i64 = 2;
const EXTENSION_TYPE_ATOMIC: &str = "atomic";

/// How one registry image's signatures are stored.
#[derive(Debug, Clone)]
pub struct SignatureStore {
    /// The registry speaks the signature extension API.
    pub extension: bool,
    /// The lookaside base (registries.d, with the repository path appended), for reading
    /// on a source and for writing on a destination.
    pub lookaside: Url,
    /// registries.d `use-sigstore-attachments` for this image.
    pub sigstore_attachments: bool,
}

/// A URL without its password, for messages (Go's `url.Redacted`).
fn redacted(url: &Url) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("xxxxx"));
    }
    u.to_string()
}

fn invalid(msg: String) -> TransportError {
    TransportError::Invalid(msg)
}

impl SignatureStore {
    /// The signatures of `manifest` (its digest), in order.
    pub async fn read(
        &self,
        client: &RegistryClient,
        repository: &str,
        manifest: &Digest,
    ) -> Result<Vec<Signature>> {
        // Every signature of the image, whatever its store, counts against one budget.
        let mut budget = ReadBudget::default();
        let mut out = if self.extension {
            read_extension(client, repository, manifest, &mut budget).await?
        } else {
            let mut out = Vec::new();
            loop {
                let url = lookaside_url(&self.lookaside, manifest, out.len());
                match read_one(client.http(), &url).await? {
                    Some((sig, len)) => {
                        budget.add(len).map_err(|e| {
                            invalid(format!("reading signatures from {}: {e}", redacted(&url)))
                        })?;
                        out.push(sig);
                    }
                    None => break out,
                }
            }
        };
        if self.sigstore_attachments {
            let attached =
                super::attachments::read(client, repository, manifest, &mut budget).await?;
            out.extend(attached);
        }
        Ok(out)
    }

    /// Why sigstore signatures cannot be written here, if they cannot.
    pub fn sigstore_refusal(&self) -> Option<String> {
        (!self.sigstore_attachments)
            .then(|| "writing sigstore attachments is disabled by configuration".to_string())
    }

    /// Why signatures cannot be written here, if they cannot (checked before copying).
    pub fn write_refusal(&self) -> Option<String> {
        if self.extension {
            return None;
        }
        scheme_refusal(&self.lookaside, "writing signature to")
    }

    /// Stores `signatures` as the signatures of `manifest`: through the extension API
    /// (added to what is there), or as lookaside files replacing any old ones.
    pub async fn write(
        &self,
        client: &RegistryClient,
        repository: &str,
        scopes: &[String],
        manifest: &Digest,
        signatures: &[Signature],
    ) -> Result<()> {
        let mut simple = Vec::new();
        let mut sigstore = Vec::new();
        for sig in signatures {
            match sig {
                Signature::SimpleSigning(bytes) => simple.push(bytes.as_slice()),
                Signature::Sigstore(s) => sigstore.push(s.clone()),
            }
        }
        // As c/image: sigstore signatures to attachments first, the others after.
        if !sigstore.is_empty() {
            if let Some(refusal) = self.sigstore_refusal() {
                return Err(invalid(refusal));
            }
            super::attachments::write(client, repository, scopes, manifest, &sigstore).await?;
        }
        if simple.is_empty() {
            return Ok(());
        }
        if self.extension {
            return write_extension(client, repository, scopes, manifest, &simple).await;
        }
        if let Some(refusal) = self.write_refusal() {
            return Err(invalid(refusal));
        }
        write_lookaside(&self.lookaside, manifest, &simple)
    }
}

impl SignatureStore {
    /// Removes the lookaside signatures of a deleted manifest (`skopeo delete`), from the
    /// first up to the first missing one. Only a `file://` store can be changed.
    pub fn delete_lookaside(&self, manifest: &Digest) -> Result<()> {
        remove_from(&self.lookaside, manifest, 0, "deleting signature from")
    }
}

/// Why the store at `url` cannot be changed: only `file://` stores can (c/image's texts;
/// `doing` words the refusal of an unknown scheme).
fn scheme_refusal(url: &Url, doing: &str) -> Option<String> {
    match url.scheme() {
        "file" => None,
        "http" | "https" => Some(format!(
            "Writing directly to a {} lookaside {} is not supported. Configure a lookaside-staging: location",
            url.scheme(),
            redacted(url)
        )),
        _ => Some(format!("Unsupported scheme when {doing} {}", redacted(url))),
    }
}

/// The file of signature `index` in a `file://` store.
fn writable_path(base: &Url, manifest: &Digest, index: usize, doing: &str) -> Result<PathBuf> {
    let url = lookaside_url(base, manifest, index);
    if let Some(refusal) = scheme_refusal(&url, doing) {
        return Err(invalid(refusal));
    }
    url.to_file_path()
        .map_err(|_| invalid(format!("invalid lookaside location {url}")))
}

/// Removes signatures `start`, `start + 1`, … up to the first missing one (what readers
/// stop at anyway).
fn remove_from(base: &Url, manifest: &Digest, start: usize, doing: &str) -> Result<()> {
    for i in start.. {
        let path = writable_path(base, manifest, i, doing)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => {
                return Err(TransportError::io(format!("remove {}", path.display()), e));
            }
        }
    }
    Ok(())
}

/// One lookaside signature and its size; `None` when it does not exist (the end of the
/// list).
async fn read_one(http: &reqwest::Client, url: &Url) -> Result<Option<(Signature, usize)>> {
    match url.scheme() {
        "file" => {
            let path = url
                .to_file_path()
                .map_err(|_| invalid(format!("invalid lookaside location {url}")))?;
            let blob = match crate::transport::fsutil::read_limited(
                &path,
                MAX_SIGNATURE_SIZE as u64,
                "signature",
            )
            .await
            {
                Ok(b) => b,
                Err(TransportError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let sig = parse(&blob, || format!("{:?}", path.display()))?;
            Ok(Some((sig, blob.len())))
        }
        "http" | "https" => {
            let resp = http.get(url.as_str()).send().await.map_err(|e| {
                TransportError::from(RegistryError::network(
                    &format!("Get \"{}\"", redacted(url)),
                    e,
                ))
            })?;
            let status = resp.status();
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if status != StatusCode::OK {
                return Err(RegistryError::LookasideStatus {
                    url: redacted(url),
                    status,
                }
                .into());
            }
            let blob = read_capped(resp, &format!("signature {}", redacted(url))).await?;
            let sig = parse(&blob, || redacted(url))?;
            Ok(Some((sig, blob.len())))
        }
        _ => Err(invalid(format!(
            "Unsupported scheme when reading signature from {}",
            redacted(url)
        ))),
    }
}

/// A stored signature; the error names where it came from, as c/image words it.
fn parse(blob: &[u8], location: impl Fn() -> String) -> Result<Signature> {
    Signature::from_blob(blob)
        .map_err(|e| invalid(format!("parsing signature {}: {e}", location())))
}

async fn read_capped(resp: reqwest::Response, what: &str) -> Result<Vec<u8>> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            TransportError::from(RegistryError::network(&format!("reading {what}"), e))
        })?;
        if out.len() + chunk.len() > MAX_SIGNATURE_SIZE {
            return Err(invalid(format!(
                "{what} is larger than the {MAX_SIGNATURE_SIZE}-byte limit"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Writes `signature-1..N` (each atomically), then removes any later ones left from an
/// earlier, longer list.
fn write_lookaside(base: &Url, manifest: &Digest, signatures: &[&[u8]]) -> Result<()> {
    const DOING: &str = "writing signature to";
    for (i, sig) in signatures.iter().enumerate() {
        let path = writable_path(base, manifest, i, DOING)?;
        create_dirs(path.parent().unwrap_or(Path::new("/")))?;
        crate::transport::fsutil::write_atomically(
            &path,
            sig,
            crate::transport::fsutil::Durability::Synced,
        )?;
    }
    remove_from(base, manifest, signatures.len(), DOING)
}

/// `mkdir -p` with mode 0755 (as c/image), for the lookaside tree.
fn create_dirs(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| TransportError::io(format!("mkdir {}", dir.display()), e))
}

/// One entry of the extension API's list (OpenShift's `signaturedispatcher.go`).
#[derive(Serialize, Deserialize)]
struct ExtensionSignature {
    #[serde(rename = "schemaVersion", default)]
    version: i64,
    #[serde(default)]
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(with = "base64_bytes", default)]
    content: Vec<u8>,
}

#[derive(Deserialize)]
struct ExtensionList {
    #[serde(default)]
    signatures: Vec<ExtensionSignature>,
}

mod base64_bytes {
    use super::*;
    pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Vec<u8>, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

fn extension_path(repository: &str, manifest: &Digest) -> String {
    format!("/extensions/v2/{repository}/signatures/{manifest}")
}

async fn get_extension_list(
    client: &RegistryClient,
    repository: &str,
    scopes: &[String],
    manifest: &Digest,
) -> Result<Vec<ExtensionSignature>> {
    let req = Request::new(reqwest::Method::GET, extension_path(repository, manifest));
    let resp = client.send(&req, scopes).await?;
    if resp.status() != StatusCode::OK {
        let context = format!(
            "downloading signatures for {manifest} in {}/{repository}",
            client.host()
        );
        return Err(RegistryError::from_response(&context, resp).await.into());
    }
    let body = read_capped(resp, "signature list").await?;
    let list: ExtensionList = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("decoding signature list: {e}")))?;
    Ok(list.signatures)
}

async fn read_extension(
    client: &RegistryClient,
    repository: &str,
    manifest: &Digest,
    budget: &mut ReadBudget,
) -> Result<Vec<Signature>> {
    let scopes = [super::protocol::pull_scope(repository)];
    let list = get_extension_list(client, repository, &scopes, manifest).await?;
    let mut out = Vec::new();
    for s in list {
        if s.version == EXTENSION_SCHEMA_VERSION && s.kind == EXTENSION_TYPE_ATOMIC {
            budget.add(s.content.len()).map_err(|e| {
                invalid(format!(
                    "reading signatures of {manifest} from {}: {e}",
                    client.host()
                ))
            })?;
            out.push(Signature::SimpleSigning(s.content));
        }
    }
    Ok(out)
}

/// Adds the signatures the registry does not have yet, each under a new random name
/// (`DIGEST@32 hex digits`), as the API expects.
async fn write_extension(
    client: &RegistryClient,
    repository: &str,
    scopes: &[String],
    manifest: &Digest,
    signatures: &[&[u8]],
) -> Result<()> {
    let existing = get_extension_list(client, repository, scopes, manifest).await?;
    for sig in signatures {
        let present = existing.iter().any(|e| {
            e.version == EXTENSION_SCHEMA_VERSION
                && e.kind == EXTENSION_TYPE_ATOMIC
                && e.content == *sig
        });
        if present {
            continue;
        }
        let name = loop {
            let mut random = [0u8; 16];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
                .map_err(|_| invalid("generating random signature name".into()))?;
            let name = format!("{manifest}@{}", hex::encode(random));
            if !existing.iter().any(|e| e.name == name) {
                break name;
            }
        };
        let body = serde_json::to_vec(&ExtensionSignature {
            version: EXTENSION_SCHEMA_VERSION,
            name,
            kind: EXTENSION_TYPE_ATOMIC.into(),
            content: sig.to_vec(),
        })
        .map_err(|e| invalid(format!("encoding signature: {e}")))?;
        let path = extension_path(repository, manifest);
        let req = Request::new(reqwest::Method::PUT, path.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes::Bytes::from(body));
        let resp = client.send(&req, scopes).await?;
        if resp.status() != StatusCode::CREATED {
            let context = format!("uploading signature to {path} in {}", client.host());
            return Err(RegistryError::from_response(&context, resp).await.into());
        }
    }
    Ok(())
}
