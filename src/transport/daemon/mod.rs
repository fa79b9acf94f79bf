//! `docker-daemon:` through the Docker Engine API (dockerd, or podman's Docker-compatible
//! service): `GET /images/{name}/get` gives a docker archive, `POST /images/load` takes one.
//!
//! Reading spools the daemon's tar into `--tmpdir` (its order is the daemon's, with
//! manifest.json last, so nothing can be served before it ends) and then reads it as a
//! docker archive. Writing streams the archive into the load request at commit; if anything
//! fails mid-way the request body ends in an error, so the daemon sees a broken upload and
//! loads nothing.

mod client;

use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

pub use client::{DEFAULT_HOST, DaemonClient, DaemonOptions};

use super::docker_archive::{ArchiveDestination, ArchiveSource, DestOptions, Sink};
use super::error::{Result, TransportError};
use super::fsutil;
use super::traits::{
    BlobInfo, BlobOptions, DestCaps, ImageDestination, ImageSource, SignatureSupport,
};
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::pipeline::{BlobReader, ChannelWriter, channel_stream};
use crate::reference::{DaemonRef, DockerRef};
use crate::signature::Signature;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("docker daemon host {host:?}: {message}")]
    Host { host: String, message: String },
    #[error(
        "cannot connect to the docker daemon at {host}: {} (is it running? --src-daemon-host, --dest-daemon-host or DOCKER_HOST choose another)",
        client::innermost(.source)
    )]
    Unreachable {
        host: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("image {image:?} is not known to the docker daemon at {host}: {message}")]
    NotFound {
        host: String,
        image: String,
        message: String,
    },
    #[error("the docker daemon at {host} refused the API version: {message}")]
    Version { host: String, message: String },
    #[error("the docker daemon at {host} answered {status}: {message}")]
    Api {
        host: String,
        status: u16,
        message: String,
    },
    #[error("the docker daemon at {host} hung up {when}: {}", client::innermost(.source))]
    HungUp {
        host: String,
        when: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the docker daemon at {host} reported: {message}")]
    Load { host: String, message: String },
    #[error("the image {image} the docker daemon at {host} sent: {source}")]
    BadArchive {
        host: String,
        image: String,
        #[source]
        source: Box<TransportError>,
    },
}

impl DaemonError {
    /// Whether trying again may succeed: only a daemon that hung up mid-transfer.
    pub fn retryable(&self) -> bool {
        matches!(self, DaemonError::HungUp { .. })
    }
}

/// The name the API knows the image by (as c/image passes it: familiar form, or the ID).
fn api_name(r: &DaemonRef) -> String {
    match r {
        DaemonRef::Id(d) => d.to_string(),
        DaemonRef::Reference(r) => r.familiar(),
    }
}

/// Percent-encodes what may not appear raw in a path segment (`/` and `:` may: the API
/// routes `/images/{name:.*}/get`).
fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub struct DaemonSource {
    inner: ArchiveSource,
    /// The spooled tar; removed when the source is dropped.
    _spool: tempfile::NamedTempFile,
}

impl DaemonSource {
    pub async fn open(
        r: &DaemonRef,
        opts: &DaemonOptions,
        tmpdir: &std::path::Path,
    ) -> Result<DaemonSource> {
        let client = DaemonClient::connect(opts).await?;
        let name = api_name(r);
        let resp = client
            .http()
            .get(client.url(&format!("/images/{}/get", path_escape(&name))))
            .send()
            .await
            .map_err(|e| client.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(client.error_of(resp, &name).await.into());
        }
        std::fs::create_dir_all(tmpdir)
            .map_err(|e| TransportError::io(format!("creating {}", tmpdir.display()), e))?;
        fsutil::sweep_stale(tmpdir);
        let spool = fsutil::scratch_file_in(tmpdir, "daemon")?;
        let mut file = tokio::fs::File::from_std(
            spool
                .as_file()
                .try_clone()
                .map_err(|e| TransportError::io("spooling the daemon's image", e))?,
        );
        let mut body = resp.bytes_stream();
        let mut received: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| DaemonError::HungUp {
                host: client.host.clone(),
                when: format!("after sending {received} bytes of {name}"),
                source: e,
            })?;
            received += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(|e| {
                TransportError::io(
                    format!("spooling {name} into {}", spool.path().display()),
                    e,
                )
            })?;
        }
        file.flush()
            .await
            .map_err(|e| TransportError::io("spooling the daemon's image", e))?;
        drop(file);
        let inner = ArchiveSource::open(spool.path(), None, tmpdir)
            .await
            .map_err(|e| DaemonError::BadArchive {
                host: client.host.clone(),
                image: name.clone(),
                source: Box::new(e),
            })?;
        Ok(DaemonSource {
            inner,
            _spool: spool,
        })
    }
}

#[async_trait]
impl ImageSource for DaemonSource {
    async fn manifest(&self, instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)> {
        self.inner.manifest(instance).await
    }
    async fn blob(&self, desc: &Descriptor) -> Result<BlobReader> {
        self.inner.blob(desc).await
    }
    async fn signatures(&self, instance: Option<&Digest>) -> Result<Vec<Signature>> {
        self.inner.signatures(instance).await
    }
}

pub struct DaemonDestination {
    inner: Arc<ArchiveDestination>,
    client: DaemonClient,
    label: String,
}

impl DaemonDestination {
    pub async fn open(
        r: &DaemonRef,
        opts: &DaemonOptions,
        additional: &[DockerRef],
        tmpdir: &std::path::Path,
    ) -> Result<DaemonDestination> {
        let tagged = match r {
            DaemonRef::Reference(d) if d.tag().is_some() && d.digest().is_none() => d.clone(),
            _ => {
                return Err(TransportError::Invalid(format!(
                    "Invalid destination docker-daemon:{}: a destination must be a name:tag",
                    api_name(r)
                )));
            }
        };
        let client = DaemonClient::connect(opts).await?;
        let mut tags = vec![tagged.clone()];
        tags.extend(additional.iter().cloned());
        let inner = ArchiveDestination::open(
            Sink::Caller,
            DestOptions {
                tags,
                oci_layout: false,
                tmpdir: tmpdir.to_path_buf(),
            },
        )
        .await?;
        Ok(DaemonDestination {
            inner: Arc::new(inner),
            client,
            label: tagged.familiar(),
        })
    }
}

#[async_trait]
impl ImageDestination for DaemonDestination {
    fn caps(&self) -> DestCaps {
        DestCaps {
            signatures: SignatureSupport::refused(
                "Storing signatures for docker-daemon: destinations is not supported",
            ),
            ..self.inner.caps()
        }
    }
    async fn try_reuse_blob(
        &self,
        digest: &Digest,
        opts: &BlobOptions<'_>,
    ) -> Result<Option<BlobInfo>> {
        self.inner.try_reuse_blob(digest, opts).await
    }
    async fn put_blob(&self, reader: BlobReader, opts: &BlobOptions<'_>) -> Result<BlobInfo> {
        self.inner.put_blob(reader, opts).await
    }
    async fn put_manifest(&self, raw: &[u8], mime: &str, instance: Option<&Digest>) -> Result<()> {
        self.inner.put_manifest(raw, mime, instance).await
    }
    async fn commit(self: Box<Self>) -> Result<()> {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
        let archive = self.inner.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let w = ChannelWriter::new(tx.clone(), "the daemon stopped reading");
            match archive.finish(w) {
                Ok(mut w) => {
                    io::Write::flush(&mut w).map_err(|e| TransportError::io("sending the image", e))
                }
                Err(e) => {
                    // End the body in an error: the daemon must see a broken upload, not a
                    // short archive that happens to parse.
                    let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
                    Err(e)
                }
            }
        });
        let stream = channel_stream(rx);
        let resp = self
            .client
            .http()
            .post(self.client.url("/images/load?quiet=1"))
            .header("Content-Type", "application/x-tar")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await;
        let written = writer
            .await
            .map_err(|e| TransportError::Invalid(format!("writing the image: {e}")))?;
        let resp = match (resp, written) {
            (_, Err(e)) => return Err(e),
            (Err(e), Ok(())) => {
                return Err(DaemonError::HungUp {
                    host: self.client.host.clone(),
                    when: format!("while loading {}", self.label),
                    source: e,
                }
                .into());
            }
            (Ok(resp), Ok(())) => resp,
        };
        if !resp.status().is_success() {
            return Err(self.client.error_of(resp, &self.label).await.into());
        }
        // Errors arrive inside a 200 response, as JSON messages.
        let body = resp.text().await.map_err(|e| DaemonError::HungUp {
            host: self.client.host.clone(),
            when: format!("after loading {}", self.label),
            source: e,
        })?;
        let stream = serde_json::Deserializer::from_str(&body).into_iter::<serde_json::Value>();
        for msg in stream {
            let msg = msg.map_err(|e| DaemonError::Load {
                host: self.client.host.clone(),
                message: format!("unreadable progress message: {e}"),
            })?;
            if let Some(m) = msg
                .pointer("/errorDetail/message")
                .or_else(|| msg.get("error"))
                .and_then(|m| m.as_str())
            {
                return Err(DaemonError::Load {
                    host: self.client.host.clone(),
                    message: m.to_string(),
                }
                .into());
            }
        }
        Ok(())
    }
}
