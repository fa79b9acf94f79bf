//! `tarball:FILE[:FILE…]`: filesystem tarballs as the layers of an image, built as
//! containers/image's `tarball` package builds it: each file is a layer as it is (gzip-
//! compressed files keep their compression; the diff ID is the decompressed digest), the
//! config has one history entry per layer and the newest file time as its creation time,
//! and the manifest is an OCI manifest without a `mediaType`. `-` reads stdin.

use std::io::Read;
use std::path::PathBuf;
use std::time::SystemTime;

use async_trait::async_trait;

use super::error::{Result, TransportError};
use super::fsutil;
use super::traits::ImageSource;
use crate::digest::Digest;
use crate::gotime::utc_rfc3339_nano;
use crate::manifest::gojson::write_str;
use crate::manifest::platform::WantedPlatform;
use crate::manifest::{Descriptor, mime};
use crate::pipeline::{self, BlobReader, Compression};
use crate::signature::Signature;

/// stdin is read into memory, as containers/image does; this caps it.
const MAX_STDIN: u64 = 1 << 30;

enum Origin {
    File(PathBuf),
    Stdin(std::sync::Arc<Vec<u8>>),
}

struct Layer {
    origin: Origin,
    digest: Digest,
    size: u64,
    diff_id: Digest,
    media_type: &'static str,
    time: SystemTime,
}

pub struct TarballSource {
    layers: Vec<Layer>,
    config: Vec<u8>,
    config_digest: Digest,
    manifest: Vec<u8>,
}

impl TarballSource {
    pub async fn open(files: &[String]) -> Result<TarballSource> {
        let files = files.to_vec();
        tokio::task::spawn_blocking(move || Self::open_blocking(&files))
            .await
            .map_err(|e| TransportError::Invalid(format!("reading the tarballs: {e}")))?
    }

    fn open_blocking(files: &[String]) -> Result<TarballSource> {
        let mut stdin: Option<std::sync::Arc<Vec<u8>>> = None;
        let mut layers = Vec::new();
        for name in files {
            let err = |e: std::io::Error| TransportError::io(format!("error reading {name:?}"), e);
            let (origin, time) = if name == "-" {
                let data = match &stdin {
                    Some(d) => d.clone(),
                    None => {
                        let mut buf = Vec::new();
                        std::io::stdin()
                            .take(MAX_STDIN + 1)
                            .read_to_end(&mut buf)
                            .map_err(|e| TransportError::io("error buffering stdin", e))?;
                        if buf.len() as u64 > MAX_STDIN {
                            return Err(TransportError::Invalid(
                                "tarball:-: stdin holds more than 1 GiB; give a file instead"
                                    .into(),
                            ));
                        }
                        let d = std::sync::Arc::new(buf);
                        stdin = Some(d.clone());
                        d
                    }
                };
                (Origin::Stdin(data), SystemTime::now())
            } else {
                let meta = std::fs::metadata(name).map_err(err)?;
                (
                    Origin::File(PathBuf::from(name)),
                    meta.modified().map_err(err)?,
                )
            };
            let (digest, size, diff_id, compression) = digests(&origin).map_err(err)?;
            layers.push(Layer {
                origin,
                digest,
                size,
                diff_id,
                media_type: if compression == Some(Compression::Gzip) {
                    mime::OCI_LAYER_GZIP
                } else {
                    mime::OCI_LAYER
                },
                time,
            });
        }
        let config = config_json(&layers);
        let config_digest = Digest::sha256_of(config.as_bytes());
        let manifest = manifest_json(&layers, &config_digest, config.len());
        Ok(TarballSource {
            layers,
            config: config.into_bytes(),
            config_digest,
            manifest: manifest.into_bytes(),
        })
    }
}

fn open(origin: &Origin) -> std::io::Result<Box<dyn Read + '_>> {
    Ok(match origin {
        Origin::File(p) => Box::new(std::fs::File::open(p)?),
        Origin::Stdin(d) => Box::new(&d[..]),
    })
}

/// The blob's digest and size, its diff ID, and whether it is gzip-compressed (the only
/// compression containers/image's tarball transport recognises).
fn digests(origin: &Origin) -> std::io::Result<(Digest, u64, Digest, Option<Compression>)> {
    let (digest, size) = fsutil::digest_reader(&mut open(origin)?)?;
    let mut prefix = [0u8; 6];
    let n = open(origin)?.read(&mut prefix)?;
    let compression = pipeline::detect(&prefix[..n]).filter(|c| *c == Compression::Gzip);
    let diff_id = match compression {
        Some(c) => fsutil::digest_reader(&mut pipeline::decoder(c, open(origin)?)?)?.0,
        None => digest.clone(),
    };
    Ok((digest, size, diff_id, compression))
}

/// Go's encoding of the `imgspecv1.Image` containers/image builds.
fn config_json(layers: &[Layer]) -> String {
    let created = layers
        .iter()
        .map(|l| l.time)
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let arch = WantedPlatform::host(None, None, None).architecture;
    let mut out = format!(
        r#"{{"created":"{}","architecture":"#,
        utc_rfc3339_nano(created)
    );
    write_str(&mut out, &arch);
    out.push_str(&format!(
        r#","os":"{}","config":{{}},"rootfs":{{"type":"layers","diff_ids":["#,
        std::env::consts::OS
    ));
    let ids: Vec<String> = layers
        .iter()
        .map(|l| format!("\"{}\"", l.diff_id))
        .collect();
    out.push_str(&ids.join(","));
    out.push_str(r#"]},"history":["#);
    let history: Vec<String> = layers
        .iter()
        .map(|l| {
            format!(
                r#"{{"created":"{}","created_by":"/bin/sh -c #(nop) ADD file:{} in /","comment":"imported from tarball"}}"#,
                utc_rfc3339_nano(l.time),
                l.diff_id.hex()
            )
        })
        .collect();
    out.push_str(&history.join(","));
    out.push_str("]}");
    out
}

fn manifest_json(layers: &[Layer], config: &Digest, config_size: usize) -> String {
    let descs: Vec<String> = layers
        .iter()
        .map(|l| {
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{}}}"#,
                l.media_type, l.digest, l.size
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","digest":"{config}","size":{config_size}}},"layers":[{}]}}"#,
        mime::OCI_CONFIG,
        descs.join(",")
    )
}

#[async_trait]
impl ImageSource for TarballSource {
    async fn manifest(&self, instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)> {
        if instance.is_some() {
            return Err(TransportError::Unsupported(
                "manifest lists are not supported by the \"tarball\" transport".into(),
            ));
        }
        Ok((self.manifest.clone(), Some(mime::OCI_MANIFEST.to_string())))
    }

    async fn blob(&self, desc: &Descriptor) -> Result<BlobReader> {
        if desc.digest == self.config_digest {
            return Ok(Box::pin(std::io::Cursor::new(self.config.clone())));
        }
        let Some(layer) = self.layers.iter().find(|l| l.digest == desc.digest) else {
            return Err(TransportError::NotFound(format!(
                "no blob with digest {:?} found",
                desc.digest.to_string()
            )));
        };
        match &layer.origin {
            Origin::File(p) => {
                let file = tokio::fs::File::open(p).await.map_err(|e| {
                    TransportError::io(format!("error opening {:?}", p.display().to_string()), e)
                })?;
                Ok(Box::pin(file))
            }
            Origin::Stdin(d) => Ok(Box::pin(std::io::Cursor::new(d.as_ref().clone()))),
        }
    }

    async fn signatures(&self, _instance: Option<&Digest>) -> Result<Vec<Signature>> {
        Ok(Vec::new())
    }
}
