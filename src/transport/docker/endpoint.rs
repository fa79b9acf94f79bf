//! From a docker reference and the command line to a connected client: which host
//! (registries.conf rewrites and mirrors), which credentials, which TLS settings.

use std::path::PathBuf;

use super::auth::Credentials;
use super::client::{ClientConfig, RegistryClient};
use super::error::RegistryError;
use super::lookaside::SignatureStore;
use crate::config::registries_d::{RegistriesD, registries_d_dir};
use crate::config::{self, AuthLookup, Endpoint, Env, RegistriesConf, tls_files_for};
use crate::reference::DockerRef;
use crate::report::Reporter;
use crate::transport::error::{Result, TransportError};

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
    /// `--registries.d`: where lookaside signature stores are configured.
    pub registries_d: Option<PathBuf>,
    pub precompute_digests: bool,
    /// `--user-agent-prefix`, put before skiff's own User-Agent.
    pub user_agent_prefix: Option<String>,
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

fn config_err(e: config::ConfigError) -> TransportError {
    TransportError::from(RegistryError::Config(e))
}

/// The configuration one side of a copy consults, loaded once: registries.conf, auth files
/// and credential helpers, certs.d.
pub struct RegistryContext {
    env: Env,
    conf: RegistriesConf,
    opts: RegistryOptions,
}

impl RegistryContext {
    pub fn load(opts: &RegistryOptions) -> Result<RegistryContext> {
        let env = Env::from_process();
        // `--registries-conf`, else $CONTAINERS_REGISTRIES_CONF (containers-registries.conf(5)).
        let override_path = opts
            .registries_conf
            .clone()
            .or_else(|| env.containers_registries_conf.clone());
        let conf = RegistriesConf::load(&env, override_path.as_deref()).map_err(config_err)?;
        Ok(RegistryContext {
            env,
            conf,
            opts: opts.clone(),
        })
    }

    /// Where to read `reference` from: registries.conf mirrors first, then the registry.
    pub fn pull_targets(&self, reference: &DockerRef) -> Result<Vec<Target>> {
        let endpoints = self
            .conf
            .pull_sources(&reference.name(), reference.digest().is_some())
            .map_err(config_err)?;
        Ok(endpoints.into_iter().map(Target::from).collect())
    }

    /// Where to write `reference` (mirrors never apply to pushes).
    pub fn push_target(&self, reference: &DockerRef) -> Result<Target> {
        self.conf
            .push_endpoint(&reference.name())
            .map(Target::from)
            .map_err(config_err)
    }

    /// A whole registry (`host[:port]`), for login: its registries.conf `insecure` flag.
    pub fn registry_target(&self, host: &str) -> Target {
        Target {
            host: host.to_string(),
            repository: String::new(),
            insecure: self.conf.is_insecure(host),
        }
    }

    /// Connects to `target` with the credentials and TLS files that apply to it.
    pub async fn connect(
        &self,
        target: &Target,
    ) -> std::result::Result<RegistryClient, RegistryError> {
        let opts = &self.opts;
        let credentials = match &opts.credentials {
            Some(c) => c.clone(),
            None => self.stored_credentials(target)?,
        };
        let tls = tls_files_for(&self.env, &target.host, opts.cert_dir.as_deref())?;
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
            user_agent: super::client::user_agent(opts.user_agent_prefix.as_deref()),
            report: opts.report.clone(),
        })
        .await
    }

    /// How the signatures of `reference` (as the registry knows it, e.g. a mirror's) are
    /// stored: registries.d's lookaside for reading or for writing (`write`), or the
    /// registry's extension API when `client` says it has one.
    pub fn signature_store(
        &self,
        reference: &DockerRef,
        client: &RegistryClient,
        write: bool,
    ) -> Result<SignatureStore> {
        let dir = registries_d_dir(&self.env, self.opts.registries_d.as_deref());
        self.opts
            .report
            .debug(|| format!("Using registries.d directory {}", dir.display()));
        let conf = RegistriesD::load(&dir).map_err(config_err)?;
        Ok(SignatureStore {
            extension: client.supports_signatures(),
            lookaside: conf
                .lookaside_base(&self.env, reference, write)
                .map_err(config_err)?,
            sigstore_attachments: conf.use_sigstore_attachments(reference),
        })
    }

    /// The `credential-helpers` registries.conf configures (empty: the default).
    pub fn credential_helpers(&self) -> &[String] {
        &self.conf.credential_helpers
    }

    /// Credentials from auth files and helpers, as containers-auth.json(5) orders them.
    fn stored_credentials(
        &self,
        target: &Target,
    ) -> std::result::Result<Credentials, RegistryError> {
        let lookup = AuthLookup::new(&self.env, self.opts.authfile.as_deref())
            .with_credential_helpers(self.credential_helpers());
        let found = lookup.lookup(&target.host, &target.repository)?;
        Ok(match found {
            Some((c, from)) => {
                self.opts
                    .report
                    .debug(|| format!("using credentials for {} from {from}", target.host));
                match c {
                    config::Credentials::Basic { username, password } => {
                        Credentials::Basic { username, password }
                    }
                    config::Credentials::IdentityToken {
                        username, token, ..
                    } => Credentials::IdentityToken {
                        username: username.unwrap_or_default(),
                        token,
                    },
                }
            }
            None => Credentials::Anonymous,
        })
    }
}

impl From<Endpoint> for Target {
    fn from(e: Endpoint) -> Target {
        Target {
            host: e.host,
            repository: e.repository,
            insecure: e.insecure,
        }
    }
}
