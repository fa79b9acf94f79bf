//! Sigstore signatures stored in the registry itself (registries.d
//! `use-sigstore-attachments: true`), as containers/image and cosign keep them: the tag
//! `sha256-<manifest hex>.sig` of the image's repository holds an OCI manifest whose
//! layers are the signatures' payloads (`signature::sigstore::attachments` builds and
//! reads that document; this module moves it).
//!
//! Reading costs one request when there are none: the registry's 404 for the tag is the
//! answer, not an error, and is not retried. Writing appends to what is there.

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::client::{RegistryClient, Request, read_small};
use super::error::RegistryError;
use super::protocol::MANIFEST_ACCEPT;
use super::protocol::pull_scope;
use crate::digest::Digest;
use crate::manifest::mime;
use crate::signature::sigstore::attachments::{self, AttachmentManifest, signature_of};
use crate::signature::{MAX_SIGNATURE_SIZE, ReadBudget, Signature, SigstoreSignature};
use crate::transport::error::{Result, TransportError};

fn invalid(msg: String) -> TransportError {
    TransportError::Invalid(msg)
}

/// The attachment manifest of `manifest`, if the tag exists (`getSigstoreAttachmentManifest`).
async fn fetch_manifest(
    client: &RegistryClient,
    repository: &str,
    scopes: &[String],
    manifest: &Digest,
) -> Result<Option<AttachmentManifest>> {
    let tag = attachments::tag_for(manifest);
    let req = Request::new(Method::GET, format!("/v2/{repository}/manifests/{tag}"))
        .header(ACCEPT, MANIFEST_ACCEPT);
    let resp = client.send(&req, scopes).await?;
    if resp.status() == StatusCode::NOT_FOUND {
        client
            .report()
            .debug(|| format!("no sigstore attachments for {manifest} ({tag}: 404)"));
        return Ok(None);
    }
    let context = format!("reading manifest {tag} in {}/{repository}", client.host());
    if !resp.status().is_success() {
        return Err(RegistryError::from_response(&context, resp).await.into());
    }
    let mime_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
    let body = read_small(resp, "sigstore attachment manifest").await?;
    let parsed = AttachmentManifest::parse(
        &format!("{}/{repository}:{tag}", client.host()),
        mime_type.as_deref(),
        &body,
    )
    .map_err(|e| invalid(e.to_string()))?;
    Ok(Some(parsed))
}

/// A small blob of the repository, its digest and size checked.
async fn fetch_blob(
    client: &RegistryClient,
    repository: &str,
    scopes: &[String],
    digest: &Digest,
    size: i64,
    what: &str,
) -> Result<Vec<u8>> {
    let limit = MAX_SIGNATURE_SIZE as i64;
    if size > limit {
        return Err(invalid(format!(
            "{what} {digest} is {size} bytes, more than the {limit}-byte limit"
        )));
    }
    let req = Request::new(Method::GET, format!("/v2/{repository}/blobs/{digest}"));
    let resp = client.send(&req, scopes).await?;
    let context = format!(
        "fetching {what} {digest} from {}/{repository}",
        client.host()
    );
    if !resp.status().is_success() {
        return Err(RegistryError::from_response(&context, resp).await.into());
    }
    let body = read_small(resp, what).await?.to_vec();
    let actual = digest.recompute(&body);
    if &actual != digest || (size >= 0 && body.len() as i64 != size) {
        return Err(invalid(format!(
            "{context}: the registry sent {} bytes with digest {actual}, expected {size} bytes with {digest}",
            body.len()
        )));
    }
    Ok(body)
}

/// Every attachment of `manifest`, as signatures (`appendSignaturesFromSigstoreAttachments`:
/// all layers, whatever their type; the policy decides what counts), within `budget`.
pub async fn read(
    client: &RegistryClient,
    repository: &str,
    manifest: &Digest,
    budget: &mut ReadBudget,
) -> Result<Vec<Signature>> {
    let scopes = [pull_scope(repository)];
    let Some(m) = fetch_manifest(client, repository, &scopes, manifest).await? else {
        return Ok(Vec::new());
    };
    let layers = m.attachments().map_err(invalid)?;
    let mut out = Vec::with_capacity(layers.len());
    for layer in &layers {
        let d = &layer.descriptor;
        // Counted before the download: a manifest naming thousands of layers stops here.
        budget
            .add(usize::try_from(d.size.max(0)).unwrap_or(usize::MAX))
            .map_err(|e| {
                invalid(format!(
                    "reading the sigstore attachments of {manifest}: {e}"
                ))
            })?;
        let payload = fetch_blob(
            client,
            repository,
            &scopes,
            &d.digest,
            d.size,
            "sigstore attachment",
        )
        .await?;
        out.push(Signature::Sigstore(signature_of(layer, payload)));
    }
    Ok(out)
}

/// Adds `signatures` to the attachments of `manifest` (`putSignaturesToSigstoreAttachments`):
/// payload blobs and the new config first, the tag last.
pub async fn write(
    client: &RegistryClient,
    repository: &str,
    scopes: &[String],
    manifest: &Digest,
    signatures: &[SigstoreSignature],
) -> Result<()> {
    if signatures.is_empty() {
        return Ok(());
    }
    let existing = fetch_manifest(client, repository, scopes, manifest).await?;
    let config = match &existing {
        Some(m) => {
            let c = m.config().map_err(invalid)?;
            Some(
                fetch_blob(
                    client,
                    repository,
                    scopes,
                    &c.digest,
                    c.size,
                    "sigstore attachment config",
                )
                .await?,
            )
        }
        None => None,
    };
    let base = existing.as_ref().zip(config.as_deref());
    let Some(update) = attachments::append(base, signatures).map_err(|e| invalid(e.to_string()))?
    else {
        client
            .report()
            .debug(|| format!("the sigstore signatures of {manifest} are already stored"));
        return Ok(());
    };
    for (digest, payload) in &update.payloads {
        put_blob(client, repository, scopes, digest, payload).await?;
    }
    let config_digest = Digest::sha256_of(&update.config);
    put_blob(client, repository, scopes, &config_digest, &update.config).await?;
    let tag = attachments::tag_for(manifest);
    let req = Request::new(Method::PUT, format!("/v2/{repository}/manifests/{tag}"))
        .header(CONTENT_TYPE, mime::OCI_MANIFEST)
        .body(Bytes::from(update.manifest));
    let resp = client.send(&req, scopes).await?;
    if !resp.status().is_success() {
        let context = format!(
            "writing sigstore attachment manifest {tag} to {}/{repository}",
            client.host()
        );
        return Err(RegistryError::from_response(&context, resp).await.into());
    }
    Ok(())
}

/// Uploads a small blob in one request (POST, then a monolithic PUT), unless it is there.
async fn put_blob(
    client: &RegistryClient,
    repository: &str,
    scopes: &[String],
    digest: &Digest,
    bytes: &[u8],
) -> Result<()> {
    let context = format!("writing blob {digest} to {}/{repository}", client.host());
    let head = Request::new(Method::HEAD, format!("/v2/{repository}/blobs/{digest}"));
    if client.send(&head, scopes).await?.status() == StatusCode::OK {
        return Ok(());
    }
    let start = Request::new(Method::POST, format!("/v2/{repository}/blobs/uploads/"));
    let resp = client.send(&start, scopes).await?;
    if resp.status() != StatusCode::ACCEPTED {
        return Err(RegistryError::from_response(&context, resp).await.into());
    }
    let location = super::protocol::upload_location(&resp, &context)?;
    let mut url = url::Url::parse(&location)
        .map_err(|e| invalid(format!("{context}: bad upload location {location:?}: {e}")))?;
    url.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    let put = Request::new(Method::PUT, url.to_string())
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, &bytes.len().to_string())
        .body(Bytes::copy_from_slice(bytes));
    let resp = client.send(&put, scopes).await?;
    if resp.status() != StatusCode::CREATED {
        return Err(RegistryError::from_response(&context, resp).await.into());
    }
    Ok(())
}
