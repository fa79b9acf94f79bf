//! Opening a source or destination by its parsed name: the one place that dispatches on
//! the transport.

use async_trait::async_trait;

use super::daemon;
use super::dir;
use super::docker;
use super::docker_archive;
use super::error::{Result, TransportError};
use super::oci;
use super::options::OpenOptions;
use super::sif;
use super::storage;
use super::tarball;
use super::traits::{ImageDestination, ImageSource};
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::pipeline::BlobReader;
use crate::reference::{ArchiveSelector, ImageName};
use crate::signature::Signature;

pub async fn open_source(name: &ImageName, opts: &OpenOptions) -> Result<Box<dyn ImageSource>> {
    match name {
        ImageName::Dir { path } => Ok(Box::new(dir::DirSource::open(path)?)),
        ImageName::Oci { path, reference } => Ok(Box::new(
            oci::OciSource::open_layout(path, reference.as_deref(), opts).await?,
        )),
        ImageName::OciArchive { path, reference } => Ok(Box::new(
            oci::OciSource::open_archive(path, reference.as_deref(), opts).await?,
        )),
        ImageName::Docker(r) => Ok(Box::new(
            docker::DockerSource::open(r, &opts.registry).await?,
        )),
        ImageName::DockerArchive { path, selector } => {
            match docker_archive::ArchiveSource::open(path, selector.as_ref(), &opts.tmpdir).await {
                Ok(source) => Ok(Box::new(source)),
                // As in containers/image, an archive that opens but lacks the image (or a
                // file it names) fails when the manifest is read, not when it is opened.
                Err(TransportError::Archive(
                    e @ (docker_archive::ArchiveError::Choose { .. }
                    | docker_archive::ArchiveError::Missing { .. }),
                )) => Ok(Box::new(Unreadable(e.to_string()))),
                Err(e) => Err(e),
            }
        }
        ImageName::DockerDaemon(r) => Ok(Box::new(
            daemon::DaemonSource::open(r, &opts.daemon, &opts.tmpdir).await?,
        )),
        ImageName::Sif { path } => Ok(Box::new(sif::SifSource::open(path, &opts.tmpdir).await?)),
        ImageName::Tarball { files } => Ok(Box::new(tarball::TarballSource::open(files).await?)),
        ImageName::ContainersStorage(r) => Ok(Box::new(storage::StorageSource::open(r).await?)),
    }
}

/// A parsed name completed where its transport needs a look at the destination first:
/// `containers-storage:` names get their store's actual driver and paths and whole image
/// IDs (containers/image resolves them while parsing). `input` is the name as given.
pub fn resolve_name(name: ImageName, input: &str) -> Result<ImageName> {
    match name {
        ImageName::ContainersStorage(r) => Ok(ImageName::ContainersStorage(storage::resolve_name(
            &r, input,
        )?)),
        other => Ok(other),
    }
}

pub async fn open_destination(
    name: &ImageName,
    opts: &OpenOptions,
) -> Result<Box<dyn ImageDestination>> {
    match name {
        ImageName::Dir { path } => Ok(Box::new(dir::DirDestination::open(path, opts)?)),
        ImageName::Oci { path, reference } => Ok(Box::new(oci::OciDestination::open_layout(
            path,
            reference.as_deref(),
            opts,
        )?)),
        ImageName::OciArchive { path, reference } => Ok(Box::new(
            oci::OciDestination::open_archive(path, reference.as_deref(), opts)?,
        )),
        ImageName::Docker(r) => Ok(Box::new(
            docker::DockerDestination::open(
                r,
                &opts.registry,
                opts.mount_source.as_ref(),
                opts.tmpdir.clone(),
            )
            .await?,
        )),
        ImageName::DockerArchive { path, selector } => {
            let mut tags = Vec::new();
            match selector {
                Some(ArchiveSelector::Reference(r)) => tags.push(r.clone()),
                Some(ArchiveSelector::Index(i)) => {
                    return Err(TransportError::Invalid(format!(
                        "Destination reference must not contain a manifest index @{i}"
                    )));
                }
                None => {}
            }
            tags.extend(opts.additional_tags.iter().cloned());
            Ok(Box::new(
                docker_archive::ArchiveDestination::open(
                    docker_archive::Sink::Path(path.clone()),
                    docker_archive::DestOptions {
                        tags,
                        oci_layout: opts.docker_archive_oci_layout,
                        tmpdir: opts.tmpdir.clone(),
                    },
                )
                .await?,
            ))
        }
        ImageName::DockerDaemon(r) => Ok(Box::new(
            daemon::DaemonDestination::open(r, &opts.daemon, &opts.additional_tags, &opts.tmpdir)
                .await?,
        )),
        // containers/image's words.
        ImageName::Sif { .. } | ImageName::Tarball { .. } => {
            Err(TransportError::Unsupported(format!(
                "\"{}:\" locations can only be read from, not written to",
                name.transport_name()
            )))
        }
        ImageName::ContainersStorage(r) => {
            Ok(Box::new(storage::StorageDestination::open(r).await?))
        }
    }
}

/// A source that opened but has nothing to read: every read fails with `0`.
struct Unreadable(String);

#[async_trait]
impl ImageSource for Unreadable {
    async fn manifest(&self, _instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)> {
        Err(TransportError::NotFound(self.0.clone()))
    }

    async fn blob(&self, _desc: &Descriptor) -> Result<BlobReader> {
        Err(TransportError::NotFound(self.0.clone()))
    }

    async fn signatures(&self, _instance: Option<&Digest>) -> Result<Vec<Signature>> {
        Err(TransportError::NotFound(self.0.clone()))
    }
}
