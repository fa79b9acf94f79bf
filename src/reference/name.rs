//! The parsed image name types: [`ImageName`] (one variant per transport) and the parts
//! some transports carry ([`ArchiveSelector`], [`DaemonRef`], [`StorageRef`]).

use std::path::PathBuf;

use super::docker::DockerRef;
use crate::digest::Digest;

/// Which image inside a `docker-archive:` tarball.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArchiveSelector {
    /// `:NAME[:TAG]` — always tagged (`:latest` added), never digested.
    Reference(DockerRef),
    /// `:@N` — the N-th entry of the archive's manifest.json.
    Index(usize),
}

/// A `docker-daemon:` reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DaemonRef {
    /// `NAME:TAG` or `NAME@DIGEST` (never both, never neither: no `:latest` is added).
    Reference(DockerRef),
    /// `sha256:ID` — an image ID (sha256 only).
    Id(Digest),
}

/// A `containers-storage:` reference. Store fields are what the user wrote inside
/// `[driver@graphroot+runroot:opt1,opt2]`; `None` means "the configured default".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StorageRef {
    pub driver: Option<String>,
    pub graph_root: Option<PathBuf>,
    pub run_root: Option<PathBuf>,
    pub options: Vec<String>,
    /// Tagged (`:latest` added when neither tag nor digest) and may have both.
    pub reference: Option<DockerRef>,
    /// A full 64-hex image ID.
    pub id: Option<String>,
}

/// A parsed `transport:details` image name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageName {
    /// `docker://NAME[:TAG|@DIGEST]`; always tagged or digested, never both.
    Docker(DockerRef),
    /// `dir:PATH`
    Dir { path: PathBuf },
    /// `oci:PATH[:REF]`
    Oci {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `oci-archive:PATH[:REF]`
    OciArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `docker-archive:PATH[:NAME[:TAG]|:@N]`
    DockerArchive {
        path: PathBuf,
        selector: Option<ArchiveSelector>,
    },
    /// `docker-daemon:NAME:TAG`, `docker-daemon:NAME@DIGEST` or `docker-daemon:sha256:ID`
    DockerDaemon(DaemonRef),
    /// `containers-storage:[STORE]NAME`, `…@ID`, `…NAME@ID`
    ContainersStorage(StorageRef),
    /// `sif:PATH` — a Singularity image file (read only).
    Sif { path: PathBuf },
    /// `tarball:FILE[:FILE…]` — filesystem tarballs as layers, `-` for stdin (read only).
    Tarball { files: Vec<String> },
}
