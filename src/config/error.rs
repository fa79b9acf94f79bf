//! [`ConfigError`], the config module's one error type.

use std::path::PathBuf;

/// The single error type of the config module.
///
/// Messages name the file (or helper / registry) involved and the cause. They
/// never contain passwords, tokens or decoded `auth` values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or directory could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// registries.conf (or a drop-in) is not valid TOML or has wrongly typed fields.
    #[error("loading registries configuration {}: {message}", path.display())]
    RegistriesSyntax { path: PathBuf, message: String },

    /// registries.conf parsed but is semantically invalid (c/image's InvalidRegistries).
    #[error("invalid registries configuration {}: {message}", path.display())]
    InvalidRegistries { path: PathBuf, message: String },

    /// The registry is blocked; text matches c/image:
    /// `registry PREFIX is blocked in CONFIG or CONFIG_DIR`.
    #[error("registry {prefix} is blocked in {config}")]
    Blocked { prefix: String, config: String },

    /// Applying a prefix→location rewrite produced an invalid reference.
    #[error("rewriting reference {reference}: {message}")]
    Rewrite { reference: String, message: String },

    /// A reference name handed to the lookup functions is unusable.
    #[error("invalid reference name {name:?}: {message}")]
    InvalidName { name: String, message: String },

    /// An auth file is unreadable as JSON. Only the error class and position are
    /// reported, never the offending value (it may be a secret).
    #[error("reading JSON file {}: {message}", path.display())]
    AuthFile { path: PathBuf, message: String },

    /// The `auth` field of an auth-file entry is not valid base64.
    #[error("decoding the \"auth\" field of entry {key:?} in {}: {message}", path.display())]
    AuthDecode {
        path: PathBuf,
        key: String,
        message: String,
    },

    /// The auth lookup key is not acceptable (c/image validateKey).
    #[error("invalid credential key {key:?}: {message}")]
    AuthKey { key: String, message: String },

    /// A credential helper failed (could not run, timed out, or returned garbage).
    #[error("credential helper docker-credential-{helper}: {message}")]
    CredentialHelper { helper: String, message: String },

    /// Several credential sources failed and none returned credentials.
    #[error("looking up credentials for {key}: {}", join_errors(.errors))]
    Multiple {
        key: String,
        errors: Vec<ConfigError>,
    },

    /// An auth file could not be written (or its location is unusable).
    #[error("writing {}: {message}", path.display())]
    AuthWrite { path: PathBuf, message: String },

    /// `logout` for a registry without stored credentials.
    #[error("not logged into {key}")]
    NotLoggedIn { key: String },

    /// A registries.d file is not valid YAML or has wrongly typed fields.
    #[error("parsing {}: {message}", path.display())]
    RegistriesD { path: PathBuf, message: String },

    /// Two registries.d files configure the same section (c/image's text follows).
    #[error("Error parsing signature storage configuration: {0}")]
    SignatureStorageConflict(String),

    /// A lookaside location that is not a URL.
    #[error("{0}")]
    InvalidLookaside(String),

    /// A certs.d directory has a client certificate without key or vice versa.
    /// The message is c/image's text, followed by the directory.
    #[error("{message} (in {})", dir.display())]
    CertPairing { dir: PathBuf, message: String },
}

impl ConfigError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ConfigError {
        ConfigError::Io {
            path: path.into(),
            source,
        }
    }
}

fn join_errors(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}
