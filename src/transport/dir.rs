//! `dir:PATH`: skopeo's directory layout. `manifest.json`, blobs named by the hex of their
//! digest, `version`, and `signature-N` files (instances of a list use `HEX.manifest.json`
//! and `HEX.signature-N`).
//!
//! The destination is built in a staging directory beside PATH and swapped in on commit,
//! so an interrupted copy never leaves a half-written image where the old one was.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::error::{Result, TransportError};
use super::fsutil::{self, Durability, Staging};
use super::options::OpenOptions;
use super::traits::{
    BlobInfo, BlobOptions, DestCaps, ImageDestination, ImageSource, LayerCompression,
    SignatureSupport,
};
use crate::digest::Digest;
use crate::manifest::{Descriptor, MAX_MANIFEST_SIZE};
use crate::pipeline::BlobReader;
use crate::signature::{MAX_SIGNATURE_SIZE, ReadBudget, Signature};

const VERSION: &str = "Directory Transport Version: 1.1\n";

fn manifest_name(instance: Option<&Digest>) -> String {
    match instance {
        Some(d) => format!("{}.manifest.json", d.hex()),
        None => "manifest.json".into(),
    }
}

fn signature_name(instance: Option<&Digest>, index: usize) -> String {
    match instance {
        Some(d) => format!("{}.signature-{}", d.hex(), index + 1),
        None => format!("signature-{}", index + 1),
    }
}

pub struct DirSource {
    path: PathBuf,
}

impl DirSource {
    pub fn open(path: &Path) -> Result<DirSource> {
        Ok(DirSource {
            path: path.to_path_buf(),
        })
    }
}

#[async_trait]
impl ImageSource for DirSource {
    async fn manifest(&self, instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)> {
        let path = self.path.join(manifest_name(instance));
        Ok((
            fsutil::read_limited(&path, MAX_MANIFEST_SIZE, "manifest").await?,
            None,
        ))
    }

    async fn blob(&self, desc: &Descriptor) -> Result<BlobReader> {
        let path = self.path.join(desc.digest.hex());
        let file = tokio::fs::File::open(&path).await.map_err(|e| {
            TransportError::io(
                format!("opening blob {} at {}", desc.digest, path.display()),
                e,
            )
        })?;
        Ok(Box::pin(file))
    }

    async fn signatures(&self, instance: Option<&Digest>) -> Result<Vec<Signature>> {
        let mut out = Vec::new();
        let mut budget = ReadBudget::default();
        loop {
            let path = self.path.join(signature_name(instance, out.len()));
            match tokio::fs::metadata(&path).await {
                Ok(_) => {
                    let blob = fsutil::read_limited(&path, MAX_SIGNATURE_SIZE, "signature").await?;
                    let invalid = |e| {
                        TransportError::Invalid(format!(
                            "parsing signature {:?}: {e}",
                            path.display()
                        ))
                    };
                    budget.add(blob.len()).map_err(invalid)?;
                    out.push(Signature::from_blob(&blob).map_err(invalid)?);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                Err(e) => {
                    return Err(TransportError::io(
                        format!("reading signature {}", path.display()),
                        e,
                    ));
                }
            }
        }
    }
}

pub struct DirDestination {
    target: PathBuf,
    staging: Mutex<Option<Staging>>,
    staged: PathBuf,
    compression: LayerCompression,
}

impl DirDestination {
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<DirDestination> {
        let target = fsutil::absolute(path)?;
        check_overwritable(&target)?;
        let staging = Staging::new(&target)?;
        let staged = staging.path().to_path_buf();
        std::fs::write(staged.join("version"), VERSION).map_err(|e| {
            TransportError::io(format!("writing {}", staged.join("version").display()), e)
        })?;
        let compression = if opts.dir_force_compress {
            LayerCompression::Compress
        } else if opts.dir_force_decompress {
            LayerCompression::Decompress
        } else {
            LayerCompression::Preserve
        };
        Ok(DirDestination {
            target,
            staging: Mutex::new(Some(staging)),
            staged,
            compression,
        })
    }
}

/// skopeo refuses to replace a non-empty directory that is not a `dir:` image.
fn check_overwritable(target: &Path) -> Result<()> {
    // A killed copy's hidden temporaries do not make a directory "non-empty".
    let entries = match fsutil::visible_entries(target) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(TransportError::io(
                format!("opening destination directory {}", target.display()),
                e,
            ));
        }
    };
    if entries == 0 {
        return Ok(());
    }
    match std::fs::read(target.join("version")) {
        Ok(v) if v == VERSION.as_bytes() => Ok(()),
        _ => Err(TransportError::Invalid(format!(
            "{} is not a containers image directory, don't want to overwrite important data",
            target.display()
        ))),
    }
}

#[async_trait]
impl ImageDestination for DirDestination {
    fn caps(&self) -> DestCaps {
        DestCaps {
            layer_compression: self.compression,
            manifest_types: &[],
            signatures: SignatureSupport::Stored,
            sigstore_refusal: None,
        }
    }

    async fn try_reuse_blob(
        &self,
        digest: &Digest,
        opts: &BlobOptions<'_>,
    ) -> Result<Option<BlobInfo>> {
        // Written by this copy (another instance of a list uses it too).
        let staged = self.staged.join(digest.hex());
        if let Ok(meta) = tokio::fs::symlink_metadata(&staged).await
            && meta.is_file()
        {
            return Ok(Some(BlobInfo {
                digest: digest.clone(),
                size: meta.len(),
            }));
        }
        // A blob of the image being replaced: link it instead of copying it again, once
        // its content is checked (a file's name proves nothing). Only when layers keep
        // their compression: skopeo empties the directory first, so with
        // --dest-compress/--dest-decompress every layer is written anew, as it is here.
        let old = self.target.join(digest.hex());
        if self.compression != LayerCompression::Preserve
            || tokio::fs::hard_link(&old, &staged).await.is_err()
        {
            return Ok(None);
        }
        // The linked inode is what is checked, and what the new image keeps.
        match fsutil::verify_existing(&staged, digest, opts.expected_size(digest)).await {
            Some(size) => Ok(Some(BlobInfo {
                digest: digest.clone(),
                size,
            })),
            None => {
                let _ = tokio::fs::remove_file(&staged).await;
                Ok(None)
            }
        }
    }

    async fn put_blob(&self, reader: BlobReader, opts: &BlobOptions<'_>) -> Result<BlobInfo> {
        let verified = opts.verified;
        let dir = self.staged.clone();
        fsutil::store_blob(
            reader,
            &self.staged,
            |d| dir.join(d.hex()),
            verified,
            Durability::Synced,
        )
        .await
        .map(|stored| stored.info)
    }

    async fn put_manifest(&self, raw: &[u8], _mime: &str, instance: Option<&Digest>) -> Result<()> {
        fsutil::write_atomically(
            &self.staged.join(manifest_name(instance)),
            raw,
            Durability::Synced,
        )
    }

    async fn put_signatures(
        &self,
        signatures: &[Signature],
        instance: Option<&Digest>,
    ) -> Result<()> {
        for (i, sig) in signatures.iter().enumerate() {
            fsutil::write_atomically(
                &self.staged.join(signature_name(instance, i)),
                &sig.to_blob(),
                Durability::Synced,
            )?;
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let staging = self
            .staging
            .lock()
            .map_err(|_| TransportError::Invalid("dir: destination state poisoned".into()))?
            .take();
        match staging {
            Some(s) => s.commit(),
            None => Ok(()),
        }
    }
}
