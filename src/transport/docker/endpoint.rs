//! From a docker reference and the command line to a connected client: which host
//! (registries.conf rewrites and mirrors), which credentials, which TLS settings.

use std::path::PathBuf;

use super::RegistryError;
use super::auth::Credentials;
use super::client::{ClientConfig, RegistryClient};
use crate::reference::DockerRef;
use crate::report::Reporter;
use crate::transport::{Result, TransportError};

/// Per-side registry settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// From `--creds`, `--username/--password`, `--registry-token`; `Some(Anonymous)` for
    /// `--no-creds`; `None` to look in the auth files.
    pub credentials: Option<Credentials>,
    pub authfile: Option<PathBuf>,
    pub cert_dir: Option<PathBuf>,
    /// `--src-tls-verify` / `--dest-tls-verify`; `None` follows registries.conf.
    pub tls_verify: Option<bool>,
    pub registries_conf: Option<PathBuf>,
    pub precompute_digests: bool,
    pub report: Reporter,
}

/// One place to talk to for a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host[:port]`, as used for credentials and certs.d (`docker.io` for Docker Hub).
    pub host: String,
    pub repository: String,
    /// registries.conf marks the registry insecure.
    pub insecure: bool,
}

/// Docker Hub's API lives on another host than its name.
fn api_host(host: &str) -> &str {
    if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    }
}

fn config_err(e: impl std::fmt::Display) -> TransportError {
    TransportError::from(RegistryError::Config(e.to_string()))
}

/// Where to read `reference` from: registries.conf mirrors first, then the registry.
pub fn pull_targets(reference: &DockerRef, opts: &RegistryOptions) -> Result<Vec<Target>> {
    let conf = crate::config::registries(opts.registries_conf.as_deref()).map_err(config_err)?;
    let endpoints = conf
        .pull_sources(&reference.name(), reference.digest().is_some())
        .map_err(config_err)?;
    Ok(endpoints
        .into_iter()
        .map(|e| Target {
            host: e.host,
            repository: e.repository,
            insecure: e.insecure,
        })
        .collect())
}

/// Where to write `reference` (registries.conf `location` applies, mirrors do not).
pub fn push_target(reference: &DockerRef, opts: &RegistryOptions) -> Result<Target> {
    let conf = crate::config::registries(opts.registries_conf.as_deref()).map_err(config_err)?;
    let e = conf.push_endpoint(&reference.name()).map_err(config_err)?;
    Ok(Target {
        host: e.host,
        repository: e.repository,
        insecure: e.insecure,
    })
}

/// Connects to `target` with the credentials and TLS files that apply to it.
pub async fn connect(
    target: &Target,
    opts: &RegistryOptions,
) -> std::result::Result<RegistryClient, RegistryError> {
    let credentials = match &opts.credentials {
        Some(c) => c.clone(),
        None => match crate::config::credentials_for(
            opts.authfile.as_deref(),
            &target.host,
            &target.repository,
        )
        .map_err(|e| RegistryError::Config(e.to_string()))?
        {
            Some((c, from)) => {
                opts.report
                    .debug(|| format!("using credentials for {} from {from}", target.host));
                c
            }
            None => Credentials::Anonymous,
        },
    };
    let tls = crate::config::tls_files(&target.host, opts.cert_dir.as_deref())
        .map_err(|e| RegistryError::Tls(e.to_string()))?;
    let insecure = match opts.tls_verify {
        Some(verify) => !verify,
        None => target.insecure,
    };
    RegistryClient::connect(ClientConfig {
        host: api_host(&target.host).to_string(),
        insecure,
        ca_certs: tls.ca_certs,
        client_cert: tls.client_cert,
        credentials,
        report: opts.report.clone(),
    })
    .await
}
