//! One module per subcommand: `copy`, `inspect`, `list-tags`, `delete`,
//! `manifest-digest`, `login` and `logout`; `signing` for the standalone signature tools. Each reads its settings in skopeo's order, so
//! the first error reported is skopeo's, calls down into the engine and transports (never
//! the reverse), and prints only through `report`. Shared here: the one error type, the
//! retry and timeout helpers, and the per-side registry settings.

pub mod copy;
pub mod image_info;
pub mod inspect;
pub mod login;
pub mod passphrase;
pub mod repo;
pub mod signing;
pub mod sigstore_key;
pub mod template;
pub mod value;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{GlobalSettings, ImageSettings};
use crate::config::ConfigError;
use crate::report::Reporter;
use crate::transport::TransportError;
use crate::transport::docker::{Credentials, RegistryOptions};

/// The one error type of the commands; every message names its context.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A usage or validation error, worded as skopeo words it.
    #[error("{0}")]
    Invalid(String),
    #[error("not supported yet: {0}")]
    NotSupportedYet(String),
    #[error("{context}: {source}")]
    Transport {
        context: String,
        #[source]
        source: TransportError,
    },
    /// A transport error whose message is already the whole sentence skopeo prints.
    #[error(transparent)]
    Stated(TransportError),
    #[error("{context}: {source}")]
    Config {
        context: String,
        #[source]
        source: ConfigError,
    },
    #[error("{context}: {}", crate::reference::go_errno_text(source))]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    #[error(transparent)]
    Copy(#[from] crate::copy::CopyError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error("Failed to write digest to file {path:?}: {source}")]
    DigestFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {0:?} (--command-timeout)")]
    Timeout(Duration),
}

impl CommandError {
    pub(crate) fn transport(context: impl Into<String>, source: TransportError) -> CommandError {
        CommandError::Transport {
            context: context.into(),
            source,
        }
    }

    /// skopeo's exit status: 2 when the image cannot be found (skopeo(1) "EXIT STATUS":
    /// a registry's manifest unknown, a reference missing from an `oci:` layout or archive),
    /// 1 for every other error.
    pub fn exit_code(&self) -> u8 {
        // A transparent wrapper hides itself from the chain: look at the direct one first.
        if let CommandError::Stated(t) = self
            && t.is_image_not_found()
        {
            return 2;
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            let transport = e.downcast_ref::<TransportError>();
            let registry = e.downcast_ref::<crate::transport::docker::RegistryError>();
            if transport.is_some_and(TransportError::is_image_not_found)
                || registry.is_some_and(|r| r.is_manifest_unknown())
            {
                return 2;
            }
            cause = e.source();
        }
        1
    }

    fn is_retryable(&self) -> bool {
        match self {
            CommandError::Transport { source, .. } | CommandError::Stated(source) => {
                source.is_retryable()
            }
            CommandError::Copy(e) => e.is_retryable(),
            CommandError::Image(e) => e.is_retryable(),
            _ => false,
        }
    }
}

fn invalid(msg: impl Into<String>) -> CommandError {
    CommandError::Invalid(msg.into())
}

/// One image's registry settings (skopeo's imageOptions.newSystemContext). `shared_authfile`
/// and `shared_tls_verify` are copy's flags that apply to both sides.
pub fn registry_options(
    global: &GlobalSettings,
    side: &ImageSettings,
    shared_authfile: Option<PathBuf>,
    shared_tls_verify: Option<bool>,
    report: &Reporter,
) -> RegistryOptions {
    let credentials = if side.no_creds {
        Some(Credentials::Anonymous)
    } else if let Some(token) = &side.registry_token {
        Some(Credentials::BearerToken(token.clone()))
    } else if let Some(creds) = &side.creds {
        let (username, password) = creds.split_once(':').unwrap_or((creds.as_str(), ""));
        Some(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        })
    } else {
        side.username.as_ref().map(|u| Credentials::Basic {
            username: u.clone(),
            password: side.password.clone().unwrap_or_default(),
        })
    };
    RegistryOptions {
        credentials,
        authfile: side.authfile.clone().or(shared_authfile),
        cert_dir: side.cert_dir.clone(),
        // The deprecated global --tls-verify counts only when the image's flag is absent.
        tls_verify: side.tls_verify.or(shared_tls_verify).or(global.tls_verify),
        registries_conf: global.registries_conf.clone(),
        registries_d: global.registries_d.clone(),
        precompute_digests: false,
        user_agent_prefix: global.user_agent_prefix.clone(),
        report: report.clone(),
    }
}

/// skopeo's warning for the deprecated global `--tls-verify` (given before the command
/// name), printed by every command as skopeo's `before` hook prints it.
pub fn warn_deprecated_global(global: &GlobalSettings) {
    if global.tls_verify.is_some() {
        Reporter::new(false, global.debug)
            .warn("'--tls-verify' is deprecated, please set this on the specific subcommand");
    }
}

/// Where temporary files go: `--tmpdir`, else $TMPDIR, else /var/tmp.
pub fn tmpdir(global: &GlobalSettings) -> PathBuf {
    global
        .tmpdir
        .clone()
        .or_else(|| std::env::var_os("TMPDIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/tmp"))
}

/// An error that may go away if the operation is tried again.
pub trait Retryable: std::fmt::Display {
    fn is_retryable(&self) -> bool;
}

impl Retryable for CommandError {
    fn is_retryable(&self) -> bool {
        CommandError::is_retryable(self)
    }
}

impl Retryable for crate::copy::CopyError {
    fn is_retryable(&self) -> bool {
        crate::copy::CopyError::is_retryable(self)
    }
}

/// skopeo's `retry.IfNecessary`: runs `op` again (up to `times` more times, waiting 1 s,
/// 2 s, 4 s... as skopeo does, or `delay` each time when `--retry-delay` gives one) while it
/// fails with an error that may go away. Each run gets fresh retry budgets below
/// (`transport::retry`), so `times` multiplies them.
pub async fn with_retries<T, E, F, Fut>(
    times: i64,
    delay: Option<Duration>,
    report: &Reporter,
    mut op: F,
) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt: u32 = 0;
    loop {
        match op().await {
            Err(e) if i64::from(attempt) < times && e.is_retryable() => {
                let delay = delay
                    .filter(|d| !d.is_zero())
                    .unwrap_or_else(|| Duration::from_secs(1u64 << attempt.min(6)));
                attempt += 1;
                report.warn(&format!(
                    "{e}; retrying in {delay:?} (attempt {attempt} of {times})"
                ));
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

/// Runs a whole command (all its attempts) under `--command-timeout`, if given.
pub async fn with_timeout<T>(
    global: &GlobalSettings,
    fut: impl Future<Output = Result<T, CommandError>>,
) -> Result<T, CommandError> {
    match global.command_timeout.filter(|d| !d.is_zero()) {
        Some(limit) => tokio::time::timeout(limit, fut)
            .await
            .map_err(|_| CommandError::Timeout(limit))?,
        None => fut.await,
    }
}

/// Prints what the command was asked to print.
fn print(bytes: &[u8]) -> Result<(), CommandError> {
    crate::report::output(bytes).map_err(|source| CommandError::Io {
        context: "writing to standard output".into(),
        source,
    })
}
