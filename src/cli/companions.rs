//! Raw flag values of the companion commands, read out of clap before any is interpreted.

use std::path::PathBuf;

use clap::ArgMatches;

use super::flags::Side;
use super::settings::{
    ImageSettings, flag, opt_bool, path, retry_delay, retry_times, string, strings,
};

/// `skiff inspect`.
#[derive(Debug, Clone, Default)]
pub struct InspectSettings {
    pub args: Vec<String>,
    pub image: ImageSettings,
    pub raw: bool,
    pub config: bool,
    pub format: Option<String>,
    pub no_tags: bool,
    pub retry_times: i64,
    /// `--retry-delay`.
    pub retry_delay: Option<std::time::Duration>,
}

/// `skiff list-tags` and `skiff delete`: one image, the registry flags and retries.
#[derive(Debug, Clone, Default)]
pub struct ImageCommandSettings {
    pub args: Vec<String>,
    pub image: ImageSettings,
    pub retry_times: i64,
    /// `--retry-delay`.
    pub retry_delay: Option<std::time::Duration>,
}

/// `skiff login`.
#[derive(Debug, Clone, Default)]
pub struct LoginSettings {
    pub args: Vec<String>,
    pub authfile: Option<PathBuf>,
    pub cert_dir: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_stdin: bool,
    pub get_login: bool,
    pub verbose: bool,
    pub tls_verify: Option<bool>,
}

/// `skiff logout`.
#[derive(Debug, Clone, Default)]
pub struct LogoutSettings {
    pub args: Vec<String>,
    pub authfile: Option<PathBuf>,
    pub all: bool,
    pub tls_verify: Option<bool>,
}

impl InspectSettings {
    pub fn from_matches(m: &ArgMatches) -> InspectSettings {
        InspectSettings {
            args: strings(m, "args"),
            image: ImageSettings::from_matches(m, Side::Single),
            raw: flag(m, "raw"),
            config: flag(m, "config"),
            format: string(m, "format"),
            no_tags: flag(m, "no-tags"),
            retry_times: retry_times(m),
            retry_delay: retry_delay(m),
        }
    }
}

impl ImageCommandSettings {
    pub fn from_matches(m: &ArgMatches) -> ImageCommandSettings {
        ImageCommandSettings {
            args: strings(m, "args"),
            image: ImageSettings::from_matches(m, Side::Single),
            retry_times: retry_times(m),
            retry_delay: retry_delay(m),
        }
    }
}

impl LoginSettings {
    pub fn from_matches(m: &ArgMatches) -> LoginSettings {
        LoginSettings {
            args: strings(m, "args"),
            authfile: path(m, "authfile").filter(|p| !p.as_os_str().is_empty()),
            cert_dir: path(m, "cert-dir").filter(|p| !p.as_os_str().is_empty()),
            // pflag string flags: an empty value is the same as none.
            username: string(m, "username").filter(|s| !s.is_empty()),
            password: string(m, "password").filter(|s| !s.is_empty()),
            password_stdin: flag(m, "password-stdin"),
            get_login: flag(m, "get-login"),
            verbose: flag(m, "verbose"),
            tls_verify: opt_bool(m, "tls-verify"),
        }
    }
}

impl LogoutSettings {
    pub fn from_matches(m: &ArgMatches) -> LogoutSettings {
        LogoutSettings {
            args: strings(m, "args"),
            authfile: path(m, "authfile").filter(|p| !p.as_os_str().is_empty()),
            all: flag(m, "all"),
            tls_verify: opt_bool(m, "tls-verify"),
        }
    }
}

/// `skiff standalone-sign`.
#[derive(Debug, Clone, Default)]
pub struct StandaloneSignSettings {
    pub args: Vec<String>,
    pub output: Option<PathBuf>,
    pub passphrase_file: Option<PathBuf>,
}

impl StandaloneSignSettings {
    pub fn from_matches(m: &ArgMatches) -> StandaloneSignSettings {
        StandaloneSignSettings {
            args: strings(m, "args"),
            output: path(m, "output").filter(|p| !p.as_os_str().is_empty()),
            passphrase_file: path(m, "passphrase-file").filter(|p| !p.as_os_str().is_empty()),
        }
    }
}

/// `skiff standalone-verify`.
#[derive(Debug, Clone, Default)]
pub struct StandaloneVerifySettings {
    pub args: Vec<String>,
    pub public_key_file: Option<PathBuf>,
}

impl StandaloneVerifySettings {
    pub fn from_matches(m: &ArgMatches) -> StandaloneVerifySettings {
        StandaloneVerifySettings {
            args: strings(m, "args"),
            public_key_file: path(m, "public-key-file").filter(|p| !p.as_os_str().is_empty()),
        }
    }
}
