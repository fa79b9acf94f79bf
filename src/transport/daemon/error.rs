//! [`DaemonError`]: what went wrong talking to the Docker Engine API.

use super::super::error::TransportError;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("docker daemon host {host:?}: {message}")]
    Host { host: String, message: String },
    #[error(
        "cannot connect to the docker daemon at {host}: {} (is it running? --src-daemon-host, --dest-daemon-host or DOCKER_HOST choose another)",
        innermost(.source)
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
    #[error("the docker daemon at {host} hung up {when}: {}", innermost(.source))]
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

/// The most specific cause ("Connection refused (os error 111)"), not reqwest's outer text.
pub fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &dyn std::error::Error = e;
    let mut text = cur.to_string();
    while let Some(next) = cur.source() {
        cur = next;
        text = cur.to_string();
    }
    text
}
