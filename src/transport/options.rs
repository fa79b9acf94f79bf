//! [`OpenOptions`]: the command line's settings every transport may need when opening.

use std::path::PathBuf;

use super::daemon;

use super::docker;

/// Settings that transports need from the command line.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Where large temporary files go (`--tmpdir`, else $TMPDIR, else /var/tmp).
    pub tmpdir: PathBuf,
    /// `--src-shared-blob-dir` / `--dest-shared-blob-dir`.
    pub shared_blob_dir: Option<PathBuf>,
    /// `--dest-compress` (dir: only).
    pub dir_force_compress: bool,
    /// `--dest-decompress` (dir: only).
    pub dir_force_decompress: bool,
    /// `--dest-oci-accept-uncompressed-layers`.
    pub oci_accept_uncompressed_layers: bool,
    /// Credentials, TLS and registries.conf settings for `docker://`.
    pub registry: docker::RegistryOptions,
    /// For a registry destination: the source image, when it is in a registry too, so
    /// blobs can be mounted across repositories instead of copied.
    pub mount_source: Option<crate::reference::DockerRef>,
    /// `--additional-tag` (docker-archive: and docker-daemon: destinations).
    pub additional_tags: Vec<crate::reference::DockerRef>,
    /// `--format oci` into docker-archive: also write the Docker 25+ OCI layout.
    pub docker_archive_oci_layout: bool,
    /// Host and TLS settings for `docker-daemon:`.
    pub daemon: daemon::DaemonOptions,
}
