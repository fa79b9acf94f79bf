//! Writing an image to a registry: existence checks and cross-repository mounts first,
//! then uploads (one streaming PATCH, or fixed-size chunks once a registry has refused a
//! large request), and the manifest last.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::client::{RegistryClient, Request};
use super::endpoint::{RegistryContext, RegistryOptions};
use super::error::RegistryError;
use super::lookaside::SignatureStore;
use super::protocol::{pull_scope, push_scope, upload_location};
use crate::digest::Digest;
use crate::pipeline::{BlobReader, CountingReader};
use crate::reference::DockerRef;
use crate::signature::Signature;
use crate::transport::error::{Result, TransportError};
use crate::transport::traits::{
    BlobInfo, BlobOptions, DestCaps, ImageDestination, LayerCompression, SignatureSupport,
};

/// Chunk size once a registry refuses a single large PATCH (HTTP 413).
const DEFAULT_CHUNK: usize = 8 * 1024 * 1024;

pub struct DockerDestination {
    client: Arc<RegistryClient>,
    repository: String,
    reference: DockerRef,
    /// A repository on the same registry holding the source image, to mount blobs from.
    mount_from: Option<String>,
    scopes: Vec<String>,
    precompute_digests: bool,
    tmpdir: PathBuf,
    /// 0 while streaming uploads work; the chunk size after a 413.
    chunk_size: AtomicUsize,
    /// Where signatures are written.
    signatures: SignatureStore,
    /// The digest of the top-level manifest written, for its signatures.
    manifest_digest: std::sync::Mutex<Option<Digest>>,
}

impl DockerDestination {
    pub async fn open(
        reference: &DockerRef,
        opts: &RegistryOptions,
        mount_source: Option<&DockerRef>,
        tmpdir: PathBuf,
    ) -> Result<DockerDestination> {
        let reference = reference.clone().with_default_tag();
        let ctx = RegistryContext::load(opts)?;
        let target = ctx.push_target(&reference)?;
        let mount_from = mount_source
            .and_then(|src| ctx.push_target(src).ok())
            .filter(|src| src.host == target.host && src.repository != target.repository)
            .map(|src| src.repository);
        let mut scopes = vec![push_scope(&target.repository)];
        if let Some(from) = &mount_from {
            scopes.push(pull_scope(from));
        }
        let client = Arc::new(ctx.connect(&target).await?);
        let signatures = ctx.signature_store(&reference, &client, true)?;
        Ok(DockerDestination {
            signatures,
            manifest_digest: std::sync::Mutex::new(None),
            client,
            repository: target.repository,
            reference,
            mount_from,
            scopes,
            precompute_digests: opts.precompute_digests,
            tmpdir,
            chunk_size: AtomicUsize::new(0),
        })
    }

    fn blob_url(&self, digest: &Digest) -> String {
        format!("/v2/{}/blobs/{digest}", self.repository)
    }

    async fn exists(&self, digest: &Digest) -> Result<Option<u64>> {
        let resp = self
            .client
            .send(
                &Request::new(Method::HEAD, self.blob_url(digest)),
                &self.scopes,
            )
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(content_length(&resp).unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(RegistryError::from_response(
                &format!("checking blob {digest} in {}", self.where_()),
                resp,
            )
            .await
            .into()),
        }
    }

    fn where_(&self) -> String {
        format!("{}/{}", self.client.host(), self.repository)
    }

    /// POST …/uploads/ (optionally as a mount); returns the response.
    async fn start_upload(&self, mount: Option<(&Digest, &str)>) -> Result<Response> {
        let mut url = format!("/v2/{}/blobs/uploads/", self.repository);
        if let Some((digest, from)) = mount {
            url.push_str(&format!("?mount={digest}&from={from}"));
        }
        let resp = self
            .client
            .send(&Request::new(Method::POST, url), &self.scopes)
            .await?;
        Ok(resp)
    }

    async fn cancel(&self, location: &str) {
        let _ = self
            .client
            .send(&Request::new(Method::DELETE, location), &self.scopes)
            .await;
    }

    async fn upload(&self, reader: BlobReader, verified: Option<&BlobInfo>) -> Result<BlobInfo> {
        let context = format!("uploading a blob to {}", self.where_());
        let resp = self.start_upload(None).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(RegistryError::from_response(&context, resp).await.into());
        }
        let location = upload_location(&resp, &context)?;
        // The digest for the final PUT: known for a verified stream, else hashed on the way.
        let (reader, counted): (BlobReader, _) = match verified {
            Some(_) => (reader, None),
            None => {
                let (counting, counted) = CountingReader::new(reader);
                (Box::pin(counting), Some(counted))
            }
        };
        let chunk = self.chunk_size.load(Ordering::Relaxed);
        let sent = if chunk > 0 {
            self.patch_chunks(&location, reader, chunk, &context).await
        } else {
            self.patch_stream(&location, reader, &context).await
        };
        let location = match sent {
            Ok(l) => l,
            Err(e) => {
                self.cancel(&location).await;
                return Err(e);
            }
        };
        let info = match (verified, counted) {
            (Some(v), _) => v.clone(),
            (None, Some(slot)) => slot
                .lock()
                .ok()
                .and_then(|c| c.clone())
                .map(|c| BlobInfo {
                    digest: c.digest,
                    size: c.size,
                })
                .ok_or_else(|| {
                    TransportError::Invalid(format!(
                        "{context}: the blob stream ended without a digest"
                    ))
                })?,
            (None, None) => {
                return Err(TransportError::Invalid(format!(
                    "{context}: no digest for the upload"
                )));
            }
        };
        let mut url = url::Url::parse(&location).map_err(|e| {
            TransportError::from(RegistryError::Protocol(format!(
                "{context}: bad upload location {location:?}: {e}"
            )))
        })?;
        url.query_pairs_mut()
            .append_pair("digest", &info.digest.to_string());
        let req = Request::new(Method::PUT, url.to_string()).header(CONTENT_LENGTH, "0");
        let resp = self.client.send(&req, &self.scopes).await?;
        if resp.status() != StatusCode::CREATED {
            self.cancel(&location).await;
            return Err(RegistryError::from_response(
                &format!("{context}: completing the upload of {}", info.digest),
                resp,
            )
            .await
            .into());
        }
        Ok(BlobInfo {
            digest: info.digest,
            size: info.size,
        })
    }

    async fn patch_stream(
        &self,
        location: &str,
        reader: BlobReader,
        context: &str,
    ) -> Result<String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let body = reqwest::Body::wrap_stream(ReaderStream::with_capacity(
            reader,
            crate::pipeline::BUFFER_SIZE,
        ));
        let resp = self
            .client
            .send_stream(Method::PATCH, location, headers, body, &self.scopes)
            .await?;
        match resp.status() {
            StatusCode::ACCEPTED | StatusCode::NO_CONTENT | StatusCode::CREATED => {
                Ok(upload_location(&resp, context)?)
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                self.chunk_size.store(DEFAULT_CHUNK, Ordering::Relaxed);
                Err(RegistryError::UploadTooLarge {
                    context: context.to_string(),
                    chunk: DEFAULT_CHUNK,
                }
                .into())
            }
            _ => Err(RegistryError::from_response(context, resp).await.into()),
        }
    }

    /// Uploads in fixed-size PATCH requests, each one replayable on a transient failure.
    async fn patch_chunks(
        &self,
        location: &str,
        mut reader: BlobReader,
        chunk: usize,
        context: &str,
    ) -> Result<String> {
        let mut location = location.to_string();
        let mut offset: u64 = 0;
        let mut buf = vec![0u8; chunk];
        loop {
            let mut filled = 0;
            while filled < chunk {
                let n = reader
                    .read(&mut buf[filled..])
                    .await
                    .map_err(|e| TransportError::io(format!("{context}: reading the blob"), e))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                return Ok(location);
            }
            let end = offset + filled as u64 - 1;
            let req = Request::new(Method::PATCH, location.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_RANGE, &format!("{offset}-{end}"))
                .body(Bytes::copy_from_slice(&buf[..filled]));
            let resp = self.client.send(&req, &self.scopes).await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(RegistryError::from_response(
                    &format!("{context}: chunk at byte {offset}"),
                    resp,
                )
                .await
                .into());
            }
            location = upload_location(&resp, context)?;
            offset = end + 1;
            if filled < chunk {
                return Ok(location);
            }
        }
    }

    /// `--dest-precompute-digests`: spool to disk to learn the digest, then skip the upload
    /// if the registry already has the blob.
    async fn upload_precomputed(&self, reader: BlobReader) -> Result<BlobInfo> {
        use crate::transport::fsutil;
        std::fs::create_dir_all(&self.tmpdir)
            .map_err(|e| TransportError::io(format!("creating {}", self.tmpdir.display()), e))?;
        // A directory of its own, removed (with the spooled blob) when it goes out of scope.
        let spool = fsutil::scratch_dir_in(&self.tmpdir, ".", "precompute")?;
        let info = fsutil::store_blob(
            reader,
            spool.path(),
            |d| spool.path().join(d.hex()),
            None,
            fsutil::Durability::Scratch,
        )
        .await?
        .info;
        if self.exists(&info.digest).await?.is_some() {
            return Ok(info);
        }
        let path = spool.path().join(info.digest.hex());
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| TransportError::io(format!("reading {}", path.display()), e))?;
        self.upload(Box::pin(file), Some(&info)).await
    }
}

fn content_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[async_trait]
impl ImageDestination for DockerDestination {
    fn caps(&self) -> DestCaps {
        DestCaps {
            layer_compression: LayerCompression::Compress,
            manifest_types: crate::manifest::convert::destination_types("docker"),
            signatures: match self.signatures.write_refusal() {
                Some(reason) => SignatureSupport::Refused(reason.into()),
                None => SignatureSupport::Stored,
            },
            sigstore_refusal: self.signatures.sigstore_refusal(),
        }
    }

    async fn try_reuse_blob(
        &self,
        digest: &Digest,
        _opts: &BlobOptions<'_>,
    ) -> Result<Option<BlobInfo>> {
        if let Some(size) = self.exists(digest).await? {
            return Ok(Some(BlobInfo {
                digest: digest.clone(),
                size,
            }));
        }
        let Some(from) = &self.mount_from else {
            return Ok(None);
        };
        let resp = self.start_upload(Some((digest, from))).await?;
        match resp.status() {
            StatusCode::CREATED => {
                self.client
                    .report()
                    .debug(|| format!("mounted {digest} from {from}"));
                let size = self.exists(digest).await?.unwrap_or(0);
                Ok(Some(BlobInfo {
                    digest: digest.clone(),
                    size,
                }))
            }
            StatusCode::ACCEPTED => {
                // The registry started a plain upload instead; abandon it.
                if let Ok(location) = upload_location(&resp, "mount") {
                    self.cancel(&location).await;
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    async fn put_blob(&self, reader: BlobReader, opts: &BlobOptions<'_>) -> Result<BlobInfo> {
        let verified = opts.verified;
        match verified {
            // The digest is already known: nothing to precompute.
            Some(_) => self.upload(reader, verified).await,
            None if self.precompute_digests => self.upload_precomputed(reader).await,
            None => self.upload(reader, None).await,
        }
    }

    async fn put_manifest(&self, raw: &[u8], mime: &str, instance: Option<&Digest>) -> Result<()> {
        let digest = Digest::sha256_of(raw);
        if instance.is_none()
            && let Some(want) = self.reference.digest()
            && *want != digest
        {
            return Err(TransportError::Invalid(format!(
                "the manifest to write has digest {digest}, but the destination {} names {want}",
                self.reference
            )));
        }
        let target = match (instance, self.reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(tag)) => tag.to_string(),
            (None, None) => match self.reference.digest() {
                Some(want) if *want != digest => {
                    return Err(TransportError::Invalid(format!(
                        "the manifest to write has digest {digest}, but the destination {} names {want}",
                        self.reference
                    )));
                }
                _ => digest.to_string(),
            },
        };
        let context = format!("writing manifest {target} to {}", self.where_());
        let req = Request::new(
            Method::PUT,
            format!("/v2/{}/manifests/{target}", self.repository),
        )
        .header(CONTENT_TYPE, mime)
        .body(Bytes::copy_from_slice(raw));
        let resp = self.client.send(&req, &self.scopes).await?;
        if resp.status() != StatusCode::CREATED && resp.status() != StatusCode::OK {
            let status = resp.status();
            let e = RegistryError::from_response(&context, resp).await;
            // What c/image takes as "try another manifest format".
            let refused = matches!(
                status,
                StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE
            ) || e.has_code("MANIFEST_INVALID");
            return Err(if refused {
                TransportError::ManifestRefused(e.to_string())
            } else {
                e.into()
            });
        }
        if let Some(echo) = resp
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            && echo != digest.to_string()
        {
            return Err(TransportError::Invalid(format!(
                "{context}: the registry stored digest {echo}, expected {digest}"
            )));
        }
        if instance.is_none()
            && let Ok(mut slot) = self.manifest_digest.lock()
        {
            // Signatures name a schema 1 manifest by its digest without the JWS.
            *slot = Some(crate::manifest::manifest_digest(raw).unwrap_or(digest));
        }
        Ok(())
    }

    async fn put_signatures(
        &self,
        signatures: &[Signature],
        instance: Option<&Digest>,
    ) -> Result<()> {
        let digest = match instance {
            Some(d) => d.clone(),
            None => self
                .manifest_digest
                .lock()
                .ok()
                .and_then(|d| d.clone())
                .ok_or_else(|| {
                    TransportError::Invalid("Unknown manifest digest, can't add signatures".into())
                })?,
        };
        self.signatures
            .write(
                &self.client,
                &self.repository,
                &self.scopes,
                &digest,
                signatures,
            )
            .await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        // The manifest PUT published the image; there is nothing left to do.
        Ok(())
    }
}
