//! Raw flag values read out of clap, before any of them is interpreted.
//!
//! Nothing here opens a file or parses an image name: that happens in the order skopeo
//! uses, in `crate::commands::copy`, so errors come out in the same order as skopeo's.

use std::path::PathBuf;
use std::time::Duration;

use clap::ArgMatches;

use super::flags::Side;

/// Options placed before the subcommand name (skopeo(1) global options).
#[derive(Debug, Clone, Default)]
pub struct GlobalSettings {
    pub debug: bool,
    pub policy: Option<PathBuf>,
    pub insecure_policy: bool,
    pub registries_d: Option<PathBuf>,
    pub registries_conf: Option<PathBuf>,
    pub override_arch: Option<String>,
    pub override_os: Option<String>,
    pub override_variant: Option<String>,
    pub tmpdir: Option<PathBuf>,
    pub command_timeout: Option<Duration>,
    /// Deprecated hidden `--tls-verify`, kept so old scripts still parse.
    pub tls_verify: Option<bool>,
    /// `--user-agent-prefix`: put before skiff's own User-Agent in registry requests.
    pub user_agent_prefix: Option<String>,
}

/// The flags of one side of a copy (`--src-*` or `--dest-*`).
#[derive(Debug, Clone, Default)]
pub struct ImageSettings {
    pub authfile: Option<PathBuf>,
    pub creds: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub registry_token: Option<String>,
    pub cert_dir: Option<PathBuf>,
    pub tls_verify: Option<bool>,
    pub no_creds: bool,
    pub shared_blob_dir: Option<PathBuf>,
    pub daemon_host: Option<String>,
}

/// Flags that only apply to the destination.
#[derive(Debug, Clone, Default)]
pub struct DestSettings {
    pub compress: bool,
    pub decompress: bool,
    pub oci_accept_uncompressed_layers: bool,
    pub compress_format: Option<String>,
    pub compress_level: Option<i32>,
    /// `--dest-force-compress-format`.
    pub force_compress_format: bool,
    pub precompute_digests: bool,
}

/// Everything `skiff copy` was given.
#[derive(Debug, Clone, Default)]
pub struct CopySettings {
    pub images: Vec<String>,
    pub src: ImageSettings,
    pub dest: ImageSettings,
    pub dest_only: DestSettings,
    /// The shared `--authfile` (defaults to $REGISTRY_AUTH_FILE, as in skopeo).
    pub authfile: Option<PathBuf>,
    pub tls_verify: Option<bool>,
    pub additional_tags: Vec<String>,
    pub all: bool,
    pub multi_arch: Option<String>,
    pub preserve_digests: bool,
    pub remove_signatures: bool,
    pub quiet: bool,
    pub digestfile: Option<PathBuf>,
    pub format: Option<String>,
    pub retry_times: i64,
    /// `--retry-delay`: a fixed delay between retries instead of the exponential one.
    pub retry_delay: Option<Duration>,
    /// `--image-parallel-copies` (0 or absent: the default, 6).
    pub image_parallel_copies: Option<u64>,
    pub encryption_keys: Vec<String>,
    pub encrypt_layer: Vec<i64>,
    pub decryption_keys: Vec<String>,
    pub sign_by: Option<String>,
    pub sign_by_sigstore: Option<PathBuf>,
    pub sign_by_sigstore_private_key: Option<PathBuf>,
    pub sign_identity: Option<String>,
    pub sign_passphrase_file: Option<PathBuf>,
}

// The readers tolerate ids a command does not define (list-tags has no --shared-blob-dir),
// so one reader serves every command that shares a flag group.
pub(super) fn string(m: &ArgMatches, id: &str) -> Option<String> {
    m.try_get_one::<String>(id).ok().flatten().cloned()
}

pub(super) fn path(m: &ArgMatches, id: &str) -> Option<PathBuf> {
    string(m, id).map(PathBuf::from)
}

pub(super) fn flag(m: &ArgMatches, id: &str) -> bool {
    opt_bool(m, id).unwrap_or(false)
}

pub(super) fn opt_bool(m: &ArgMatches, id: &str) -> Option<bool> {
    m.try_get_one::<bool>(id).ok().flatten().copied()
}

pub(super) fn strings(m: &ArgMatches, id: &str) -> Vec<String> {
    m.try_get_many::<String>(id)
        .ok()
        .flatten()
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

pub(super) fn retry_delay(m: &ArgMatches) -> Option<Duration> {
    m.try_get_one::<Duration>("retry-delay")
        .ok()
        .flatten()
        .copied()
}

pub(super) fn retry_times(m: &ArgMatches) -> i64 {
    m.try_get_one::<i64>("retry-times")
        .ok()
        .flatten()
        .copied()
        .unwrap_or(0)
}

impl GlobalSettings {
    pub fn from_matches(m: &ArgMatches) -> GlobalSettings {
        GlobalSettings {
            debug: flag(m, "debug"),
            policy: path(m, "policy"),
            insecure_policy: flag(m, "insecure-policy"),
            registries_d: path(m, "registries.d"),
            registries_conf: path(m, "registries-conf"),
            override_arch: string(m, "override-arch"),
            override_os: string(m, "override-os"),
            override_variant: string(m, "override-variant"),
            tmpdir: path(m, "tmpdir"),
            command_timeout: m.get_one::<Duration>("command-timeout").copied(),
            tls_verify: opt_bool(m, "tls-verify"),
            user_agent_prefix: string(m, "user-agent-prefix").filter(|s| !s.is_empty()),
        }
    }
}

impl ImageSettings {
    pub fn from_matches(m: &ArgMatches, side: Side) -> ImageSettings {
        let p = side.prefix();
        ImageSettings {
            // The unprefixed group's --authfile is the shared one (with $REGISTRY_AUTH_FILE).
            authfile: path(m, &format!("{p}authfile")),
            creds: string(m, &format!("{p}creds"))
                .or_else(|| side.creds_alias().and_then(|a| string(m, a))),
            username: string(m, &format!("{p}username")),
            password: string(m, &format!("{p}password")),
            registry_token: string(m, &format!("{p}registry-token")),
            cert_dir: path(m, &format!("{p}cert-dir")),
            tls_verify: opt_bool(m, &format!("{p}tls-verify")),
            no_creds: flag(m, &format!("{p}no-creds")),
            shared_blob_dir: path(m, &format!("{p}shared-blob-dir")),
            daemon_host: string(m, &format!("{p}daemon-host")),
        }
    }

    /// skopeo's checks of a credential flag combination (imageOptions.newSystemContext).
    pub fn validate(&self) -> Result<(), String> {
        if self.creds.is_some() && self.no_creds {
            return Err("creds and no-creds cannot be specified at the same time".into());
        }
        if self.username.is_some() && self.no_creds {
            return Err("username and no-creds cannot be specified at the same time".into());
        }
        if self.creds.is_some() && self.username.is_some() {
            return Err("creds and username cannot be specified at the same time".into());
        }
        match (self.username.is_some(), self.password.is_some()) {
            (true, false) => Err("password must be specified when username is specified".into()),
            (false, true) => Err("username must be specified when password is specified".into()),
            _ => {
                if let Some(creds) = &self.creds {
                    if creds.is_empty() {
                        return Err("credentials can't be empty".into());
                    }
                    if creds
                        .split_once(':')
                        .map(|(u, _)| u.is_empty())
                        .unwrap_or(false)
                    {
                        return Err("username can't be empty".into());
                    }
                }
                Ok(())
            }
        }
    }

    /// The flags of this group that were given, by their command-line spelling.
    pub fn given_flags(&self, side: Side) -> Vec<String> {
        let p = side.prefix();
        let mut out = Vec::new();
        let mut note = |given: bool, name: &str| {
            if given {
                out.push(format!("--{p}{name}"));
            }
        };
        note(self.authfile.is_some(), "authfile");
        note(self.creds.is_some(), "creds");
        note(self.username.is_some(), "username");
        note(self.password.is_some(), "password");
        note(self.registry_token.is_some(), "registry-token");
        note(self.cert_dir.is_some(), "cert-dir");
        note(self.tls_verify.is_some(), "tls-verify");
        note(self.no_creds, "no-creds");
        note(self.daemon_host.is_some(), "daemon-host");
        out
    }
}

impl CopySettings {
    pub fn from_matches(m: &ArgMatches) -> CopySettings {
        CopySettings {
            images: strings(m, "images"),
            src: ImageSettings::from_matches(m, Side::Source),
            dest: ImageSettings::from_matches(m, Side::Destination),
            dest_only: DestSettings {
                compress: flag(m, "dest-compress"),
                decompress: flag(m, "dest-decompress"),
                oci_accept_uncompressed_layers: flag(m, "dest-oci-accept-uncompressed-layers"),
                compress_format: string(m, "dest-compress-format"),
                compress_level: m.get_one::<i32>("dest-compress-level").copied(),
                force_compress_format: flag(m, "dest-force-compress-format"),
                precompute_digests: flag(m, "dest-precompute-digests"),
            },
            authfile: path(m, "authfile").filter(|p| !p.as_os_str().is_empty()),
            tls_verify: opt_bool(m, "tls-verify"),
            additional_tags: strings(m, "additional-tag"),
            all: flag(m, "all"),
            multi_arch: string(m, "multi-arch"),
            preserve_digests: flag(m, "preserve-digests"),
            remove_signatures: flag(m, "remove-signatures"),
            quiet: flag(m, "quiet"),
            digestfile: path(m, "digestfile"),
            format: string(m, "format"),
            retry_times: retry_times(m),
            retry_delay: retry_delay(m),
            image_parallel_copies: m.get_one::<u64>("image-parallel-copies").copied(),
            encryption_keys: strings(m, "encryption-key"),
            encrypt_layer: m
                .get_many::<i64>("encrypt-layer")
                .map(|v| v.copied().collect())
                .unwrap_or_default(),
            decryption_keys: strings(m, "decryption-key"),
            sign_by: string(m, "sign-by"),
            sign_by_sigstore: path(m, "sign-by-sigstore"),
            sign_by_sigstore_private_key: path(m, "sign-by-sigstore-private-key"),
            sign_identity: string(m, "sign-identity"),
            sign_passphrase_file: path(m, "sign-passphrase-file"),
        }
    }
}
