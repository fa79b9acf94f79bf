//! Reading from a daemon: its `docker save` tar spooled, then read as a docker archive.

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::super::docker_archive::ArchiveSource;
use super::super::error::{Result, TransportError};
use super::super::fsutil;
use super::super::traits::ImageSource;
use super::client::{DaemonClient, DaemonOptions, api_name, path_escape};
use super::error::DaemonError;
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::pipeline::BlobReader;
use crate::reference::DaemonRef;
use crate::signature::Signature;

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
