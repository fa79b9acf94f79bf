//! Reading an image from a registry. Blob downloads resume with `Range` when a
//! connection drops mid-blob, within the blob's retry budget (`transport::retry`).

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, RANGE};
use reqwest::{Method, StatusCode};
use tokio::sync::mpsc;

use super::client::{RegistryClient, Request, read_small};
use super::endpoint::{RegistryContext, RegistryOptions};
use super::error::RegistryError;
use super::lookaside::SignatureStore;
use super::protocol::MANIFEST_ACCEPT;
use super::protocol::pull_scope;
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::pipeline::{BlobReader, TransientError};
use crate::reference::DockerRef;
use crate::signature::Signature;
use crate::transport::error::{Result, TransportError};
use crate::transport::retry::{self, RetryBudget};
use crate::transport::traits::ImageSource;

pub struct DockerSource {
    client: std::sync::Arc<RegistryClient>,
    repository: String,
    reference: DockerRef,
    /// The top-level manifest, fetched while choosing the endpoint.
    top: (Vec<u8>, Option<String>),
    /// Where this endpoint's signatures are read from.
    signatures: SignatureStore,
}

impl DockerSource {
    /// Tries each endpoint registries.conf gives for `reference` (mirrors first) until one
    /// has the manifest.
    pub async fn open(reference: &DockerRef, opts: &RegistryOptions) -> Result<DockerSource> {
        let reference = reference.clone().with_default_tag();
        let ctx = RegistryContext::load(opts)?;
        let mut last_err: Option<TransportError> = None;
        for target in ctx.pull_targets(&reference)? {
            let client = match ctx.connect(&target).await {
                Ok(c) => std::sync::Arc::new(c),
                Err(e) => {
                    opts.report
                        .debug(|| format!("endpoint {} unusable: {e}", target.host));
                    last_err = Some(e.into());
                    continue;
                }
            };
            let tag_or_digest = match reference.digest() {
                Some(d) => d.to_string(),
                None => reference.tag().unwrap_or("latest").to_string(),
            };
            match fetch_manifest(
                &client,
                &target.repository,
                &tag_or_digest,
                reference.digest(),
            )
            .await
            {
                Ok(top) => {
                    if let (Some(tag), Some(want)) = (reference.tag(), reference.digest()) {
                        check_tag(&client, &target.repository, tag, want).await?;
                    }
                    // As c/image: the signature configuration of the endpoint's reference.
                    let physical =
                        physical_reference(&target.host, &target.repository, &reference)?;
                    let signatures = ctx.signature_store(&physical, &client, false)?;
                    return Ok(DockerSource {
                        client,
                        repository: target.repository,
                        reference,
                        top,
                        signatures,
                    });
                }
                Err(e) => {
                    opts.report
                        .debug(|| format!("endpoint {} has no {reference}: {e}", target.host));
                    last_err = Some(e.into());
                }
            }
        }
        Err(last_err.unwrap_or_else(|| {
            TransportError::NotFound(format!("no registry endpoint for {reference}"))
        }))
    }

    pub fn reference(&self) -> &DockerRef {
        &self.reference
    }
}

/// `reference` as found at `host/repository` (a mirror's name, or the registry's own).
fn physical_reference(host: &str, repository: &str, reference: &DockerRef) -> Result<DockerRef> {
    let suffix = match (reference.digest(), reference.tag()) {
        (Some(d), _) => format!("@{d}"),
        (None, Some(t)) => format!(":{t}"),
        (None, None) => String::new(),
    };
    let name = format!("{host}/{repository}{suffix}");
    DockerRef::parse_normalized(&name)
        .map_err(|e| TransportError::Invalid(format!("invalid reference {name}: {e}")))
}

/// GETs a manifest and checks it against the digest it was asked by (or the registry's
/// Docker-Content-Digest header).
async fn fetch_manifest(
    client: &RegistryClient,
    repo: &str,
    tag_or_digest: &str,
    expected: Option<&Digest>,
) -> std::result::Result<(Vec<u8>, Option<String>), RegistryError> {
    let context = format!(
        "reading manifest {tag_or_digest} in {}/{repo}",
        client.host()
    );
    let req = Request::new(Method::GET, format!("/v2/{repo}/manifests/{tag_or_digest}"))
        .header(ACCEPT, MANIFEST_ACCEPT);
    let resp = client.send(&req, &[pull_scope(repo)]).await?;
    if !resp.status().is_success() {
        return Err(RegistryError::from_response(&context, resp).await);
    }
    let mime = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
        .filter(|m| !m.is_empty() && m != "application/json" && m != "text/plain");
    let header_digest = resp
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Digest::parse(v).ok());
    let body = read_small(resp, "manifest").await?.to_vec();
    let check = expected.cloned().or(header_digest);
    if let Some(want) = check {
        let actual = want.recompute(&body);
        if actual != want {
            return Err(RegistryError::Protocol(format!(
                "{context}: the registry sent a manifest with digest {actual}, expected {want}"
            )));
        }
    }
    Ok((body, mime))
}

/// For `name:tag@digest`: the tag must still point at the digest, or the user is told.
async fn check_tag(client: &RegistryClient, repo: &str, tag: &str, want: &Digest) -> Result<()> {
    let (raw, _) = fetch_manifest(client, repo, tag, None).await?;
    let actual = want.recompute(&raw);
    if &actual != want {
        return Err(TransportError::Invalid(format!(
            "{}/{repo}:{tag} points to {actual}, not to {want} as the reference says",
            client.host()
        )));
    }
    Ok(())
}

#[async_trait]
impl ImageSource for DockerSource {
    async fn manifest(&self, instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)> {
        match instance {
            None => Ok(self.top.clone()),
            Some(d) => {
                Ok(fetch_manifest(&self.client, &self.repository, &d.to_string(), Some(d)).await?)
            }
        }
    }

    async fn blob(&self, desc: &Descriptor) -> Result<BlobReader> {
        let url = format!("/v2/{}/blobs/{}", self.repository, desc.digest);
        // The blob's budget: the engine's when it copies the blob, else one of its own.
        let budget = RetryBudget::current_or_new();
        let size = u64::try_from(desc.size).ok();
        Ok(open_download(self.client.clone(), &self.repository, &url, size, budget).await?)
    }

    async fn signatures(&self, instance: Option<&Digest>) -> Result<Vec<Signature>> {
        // The digest signatures are stored under: the instance's, the one the reference
        // names, or the top-level manifest's (without a schema 1 manifest's JWS).
        let digest = match (instance, self.reference.digest()) {
            (Some(d), _) => d.clone(),
            (None, Some(d)) if d.algorithm() == crate::digest::Algorithm::Sha256 => d.clone(),
            (None, _) => crate::manifest::manifest_digest(&self.top.0)
                .map_err(|e| TransportError::Invalid(e.to_string()))?,
        };
        self.signatures
            .read(&self.client, &self.repository, &digest)
            .await
    }
}

/// GETs a blob from `offset` on. An answer announcing more bytes than the blob has left
/// (`size`, when the manifest gives it) is refused before its body is read.
async fn open_blob(
    client: &RegistryClient,
    repo: &str,
    url: &str,
    (offset, size): (u64, Option<u64>),
    budget: &RetryBudget,
) -> std::result::Result<reqwest::Response, RegistryError> {
    let mut req = Request::new(Method::GET, url);
    if offset > 0 {
        req = req.header(RANGE, &format!("bytes={offset}-"));
    }
    let resp = client
        .send_within(&req, &[pull_scope(repo)], budget)
        .await?;
    let ok = if offset > 0 {
        resp.status() == StatusCode::PARTIAL_CONTENT
    } else {
        resp.status().is_success()
    };
    if !ok {
        let context = format!("fetching blob {url} from {}", client.host());
        if offset > 0 && resp.status().is_success() {
            return Err(RegistryError::Protocol(format!(
                "{context}: the registry ignored the Range request, cannot resume"
            )));
        }
        return Err(RegistryError::from_response(&context, resp).await);
    }
    let left = size.map(|s| s.saturating_sub(offset));
    if let (Some(announced), Some(left)) = (resp.content_length(), left)
        && announced > left
    {
        return Err(RegistryError::Protocol(format!(
            "fetching blob {url} from {}: the registry announces {announced} bytes, but the manifest gives the blob {} bytes{}",
            client.host(),
            size.unwrap_or_default(),
            if offset > 0 {
                format!(" ({left} left from byte {offset})")
            } else {
                String::new()
            },
        )));
    }
    Ok(resp)
}

/// One blob download: where from, and the budget its requests and resumes spend.
struct Download {
    client: std::sync::Arc<RegistryClient>,
    repo: String,
    url: String,
    /// The blob's size, when the manifest gives it.
    size: Option<u64>,
    budget: std::sync::Arc<RetryBudget>,
}

/// Starts downloading the blob at `url` (`/v2/REPO/blobs/DIGEST`); the stream resumes
/// dropped connections within `budget`.
pub(super) async fn open_download(
    client: std::sync::Arc<RegistryClient>,
    repo: &str,
    url: &str,
    size: Option<u64>,
    budget: std::sync::Arc<RetryBudget>,
) -> std::result::Result<BlobReader, RegistryError> {
    let first = open_blob(&client, repo, url, (0, size), &budget).await?;
    Ok(spawn_download(
        Download {
            client,
            repo: repo.to_string(),
            url: url.to_string(),
            size,
            budget,
        },
        first,
    ))
}

/// Streams a blob through a bounded channel from a task that resumes dropped downloads.
fn spawn_download(d: Download, first: reqwest::Response) -> BlobReader {
    // One chunk of read-ahead per blob. A chunk is a slice of hyper's read buffer (up to
    // 400 KiB) and pins all of it while queued, so each queued chunk makes hyper allocate
    // a new buffer: a deeper queue only adds memory (2 MB more with 5 layers), and copying
    // chunks out to free the buffer cost more time than it saved (measured).
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(1);
    tokio::spawn(async move {
        let mut offset: u64 = 0;
        let mut response = Some(first);
        loop {
            let resp = match response.take() {
                Some(r) => r,
                None => {
                    match open_blob(&d.client, &d.repo, &d.url, (offset, d.size), &d.budget).await {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = tx.send(Err(download_error(e))).await;
                            return;
                        }
                    }
                }
            };
            let started_at = offset;
            let mut body = resp.bytes_stream();
            let failure = loop {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        offset += chunk.len() as u64;
                        if tx.send(Ok(chunk)).await.is_err() {
                            return; // The reader went away: copy cancelled.
                        }
                    }
                    Some(Err(e)) => break e,
                    None => return,
                }
            };
            let digest = d.url.rsplit('/').next().unwrap_or_default();
            let context = format!("downloading blob {digest}");
            let Some(attempt) = d.budget.take() else {
                let e = RegistryError::network(&context, failure);
                let gave_up = format!("{e} (gave up after {} attempts)", d.budget.attempts_made());
                let _ = tx
                    .send(Err(std::io::Error::other(TransientError(gave_up.into()))))
                    .await;
                return;
            };
            d.client.report().warn(&format!(
                "{context}: {failure}; resuming at byte {offset} (attempt {attempt} of {})",
                d.budget.max_attempts()
            ));
            // A connection that delivered bytes is resumed at once; one that broke before
            // any waits like any other retry.
            if offset == started_at {
                tokio::time::sleep(retry::delay_before(attempt, None)).await;
            }
        }
    });
    crate::pipeline::channel_reader(rx)
}

/// A resume that failed: worth another try of the whole copy (`--retry-times`) if the
/// registry's answer was a transient one.
fn download_error(e: RegistryError) -> std::io::Error {
    if e.retryable() {
        std::io::Error::other(TransientError(Box::new(e)))
    } else {
        std::io::Error::other(e)
    }
}
