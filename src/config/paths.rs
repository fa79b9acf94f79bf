//! Default configuration paths, all computed from an explicit [`Env`] so tests
//! can fake the environment without touching the process-global one.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The parts of the process environment the config module depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Env {
    /// `$HOME` (c/image `homedir.Get()`: `$HOME`, else the passwd entry of the uid).
    pub home: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR` (an empty value counts as unset).
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME` (an empty value counts as unset).
    pub xdg_config_home: Option<PathBuf>,
    /// `$REGISTRY_AUTH_FILE`: skopeo's default for `--authfile`.
    pub registry_auth_file: Option<PathBuf>,
    /// `$CONTAINERS_REGISTRIES_CONF`. Recorded, but NOT honoured by
    /// [`crate::config::RegistriesConf::load`], because skopeo 1.9.3 ignores it
    /// (only podman/buildah call c/image's `environment.UpdateRegistriesConf`).
    pub containers_registries_conf: Option<PathBuf>,
    /// `$DOCKER_CONFIG` (directory containing `config.json`).
    pub docker_config: Option<PathBuf>,
    /// Prefix for the implicit absolute system paths (`/etc/...`, `/run/...`).
    /// `/` normally; tests point it at a temporary directory.
    pub root: PathBuf,
    /// Effective uid, used for `/run/containers/$UID/auth.json`.
    pub uid: Option<u32>,
    /// `$PATH`, used to find `docker-credential-*` helpers; the child process
    /// gets this value as its `PATH`. `None` means "inherit the process PATH".
    pub path: Option<OsString>,
}

impl Default for Env {
    /// An empty environment: nothing set, root `/`.
    fn default() -> Env {
        Env {
            home: None,
            xdg_runtime_dir: None,
            xdg_config_home: None,
            registry_auth_file: None,
            containers_registries_conf: None,
            docker_config: None,
            root: PathBuf::from("/"),
            uid: None,
            path: None,
        }
    }
}

fn non_empty_var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Effective uid of this process, without libc: the owner of `/proc/self`.
fn current_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Home directory of `uid` from `/etc/passwd` (fallback when `$HOME` is unset).
fn passwd_home(uid: u32) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [_, _, u, _, _, home, ..] if u.parse::<u32>().ok() == Some(uid) && !home.is_empty() => {
                Some(PathBuf::from(home))
            }
            _ => None,
        }
    })
}

impl Env {
    /// Captures the current process environment.
    pub fn from_process() -> Env {
        let uid = current_uid();
        let home = non_empty_var("HOME").or_else(|| uid.and_then(passwd_home));
        Env {
            home,
            xdg_runtime_dir: non_empty_var("XDG_RUNTIME_DIR"),
            xdg_config_home: non_empty_var("XDG_CONFIG_HOME"),
            registry_auth_file: non_empty_var("REGISTRY_AUTH_FILE"),
            containers_registries_conf: non_empty_var("CONTAINERS_REGISTRIES_CONF"),
            docker_config: non_empty_var("DOCKER_CONFIG"),
            root: PathBuf::from("/"),
            uid,
            path: std::env::var_os("PATH"),
        }
    }

    /// `root` joined with an absolute system path such as `/etc/containers`.
    pub fn system_path(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }

    /// `$HOME/<rel>`, if the home directory is known.
    pub fn home_path(&self, rel: &str) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join(rel))
    }

    /// `/etc/containers/registries.conf` (under `root`).
    pub fn system_registries_conf(&self) -> PathBuf {
        self.system_path("/etc/containers/registries.conf")
    }

    /// `/etc/containers/registries.conf.d` (under `root`).
    pub fn system_registries_conf_d(&self) -> PathBuf {
        self.system_path("/etc/containers/registries.conf.d")
    }

    /// `$HOME/.config/containers/registries.conf` (c/image uses `$HOME/.config`
    /// here, not `$XDG_CONFIG_HOME`).
    pub fn user_registries_conf(&self) -> Option<PathBuf> {
        self.home_path(".config/containers/registries.conf")
    }

    /// `$HOME/.config/containers/registries.conf.d`.
    pub fn user_registries_conf_d(&self) -> Option<PathBuf> {
        self.home_path(".config/containers/registries.conf.d")
    }

    /// Parent directories searched for `HOST[:PORT]` certificate directories, in
    /// c/image's order: `$HOME/.config/containers/certs.d` (for every user, not
    /// only rootless), `/etc/containers/certs.d`, `/etc/docker/certs.d`.
    pub fn cert_search_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        dirs.extend(self.home_path(".config/containers/certs.d"));
        dirs.push(self.system_path("/etc/containers/certs.d"));
        dirs.push(self.system_path("/etc/docker/certs.d"));
        dirs
    }

    /// The auth files consulted, in order (c/image `getAuthFilePaths`).
    ///
    /// `authfile` is the effective `--authfile` value (callers normally pass
    /// the flag, falling back to `$REGISTRY_AUTH_FILE`; see
    /// [`crate::config::AuthLookup::new`]). It *replaces only the first entry*;
    /// the XDG config, Docker and legacy Docker files are still consulted.
    pub fn auth_file_paths(&self, authfile: Option<&Path>) -> Vec<AuthFilePath> {
        let mut out = Vec::new();
        match authfile {
            Some(p) => out.push(AuthFilePath::new(p.to_path_buf(), false)),
            None => match &self.xdg_runtime_dir {
                // A set but missing XDG_RUNTIME_DIR only triggers a warning in
                // c/image; the entry is skipped.
                Some(dir) if dir.exists() => {
                    out.push(AuthFilePath::new(dir.join("containers/auth.json"), false))
                }
                Some(_) => {}
                None => {
                    if let Some(uid) = self.uid {
                        let p = format!("/run/containers/{uid}/auth.json");
                        out.push(AuthFilePath::new(self.system_path(&p), false));
                    }
                }
            },
        }
        let xdg_config = self
            .xdg_config_home
            .clone()
            .or_else(|| self.home_path(".config"));
        if let Some(dir) = xdg_config {
            out.push(AuthFilePath::new(dir.join("containers/auth.json"), false));
        }
        match &self.docker_config {
            Some(dir) => out.push(AuthFilePath::new(dir.join("config.json"), false)),
            None => {
                if let Some(p) = self.home_path(".docker/config.json") {
                    out.push(AuthFilePath::new(p, false));
                }
            }
        }
        if let Some(p) = self.home_path(".dockercfg") {
            out.push(AuthFilePath::new(p, true));
        }
        out
    }
}

/// One auth file to consult.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthFilePath {
    pub path: PathBuf,
    /// `~/.dockercfg` format: a bare map of `key → {auth}` without `auths`.
    pub legacy_format: bool,
}

impl AuthFilePath {
    fn new(path: PathBuf, legacy_format: bool) -> AuthFilePath {
        AuthFilePath {
            path,
            legacy_format,
        }
    }
}
