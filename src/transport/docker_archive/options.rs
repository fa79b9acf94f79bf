//! How a docker archive is written: where the tar goes ([`Sink`]) and what it holds
//! ([`DestOptions`]).

use std::path::PathBuf;

use crate::reference::DockerRef;

/// Where the finished tar goes.
#[derive(Debug, Clone)]
pub enum Sink {
    /// A path given by the user.
    Path(PathBuf),
    /// Handed to the caller (`docker-daemon:`) through `ArchiveDestination::finish`.
    Caller,
}

#[derive(Debug, Clone, Default)]
pub struct DestOptions {
    /// The tags the image gets: the destination reference first, then `--additional-tag`s.
    pub tags: Vec<DockerRef>,
    /// Also write the OCI layout Docker 25+ writes (`--format oci`).
    pub oci_layout: bool,
    /// For spooling when the target is not a regular file.
    pub tmpdir: PathBuf,
}
