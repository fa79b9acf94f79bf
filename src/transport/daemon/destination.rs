//! Writing to a daemon: the docker archive streamed into its load request at commit.

use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::super::docker_archive::{ArchiveDestination, DestOptions, Sink};
use super::super::error::{Result, TransportError};
use super::super::traits::{BlobInfo, BlobOptions, DestCaps, ImageDestination, SignatureSupport};
use super::client::{DaemonClient, DaemonOptions, api_name};
use super::error::DaemonError;
use crate::digest::Digest;
use crate::pipeline::{BlobReader, ChannelWriter, channel_stream};
use crate::reference::{DaemonRef, DockerRef};

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
