//! registries.conf (containers-registries.conf(5), v2 format; v1 converted as
//! c/image v5.23.1 does): loading the files and drop-ins in skopeo's order, and the
//! lookups (rewrites, mirrors, blocks, insecure). One file's parsing is in
//! `registries_file`, the `[[registry]]` tables in `registries_model`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::names::{parse_canonical_name, strip_tag_and_digest};
use super::paths::Env;
use super::registries_file::{PartialConf, parse_file};
use super::registries_model::{PullFromMirror, Registry};

/// The reserved credential-helper name meaning "consult the auth files".
pub const AUTH_FILE_HELPER: &str = "containers-auth.json";

/// One place to contact, with the repository name to use there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` as in the (rewritten) location.
    pub host: String,
    /// Path after the host, e.g. `library/busybox`.
    pub repository: String,
    /// The endpoint's own `insecure` flag (skip TLS verification, allow HTTP).
    pub insecure: bool,
    pub is_mirror: bool,
}

/// The merged registries configuration.
#[derive(Clone, Debug)]
pub struct RegistriesConf {
    /// Sorted by prefix, one entry per prefix.
    pub registries: Vec<Registry>,
    pub unqualified_search_registries: Vec<String>,
    /// Global `credential-helpers`; `["containers-auth.json"]` if unset/empty.
    pub credential_helpers: Vec<String>,
    /// `short-name-mode` if set by any file (c/image's default is `permissive`).
    pub short_name_mode: Option<String>,
    /// Short-name aliases; `None` values were erased by a later file.
    pub aliases: BTreeMap<String, Option<String>>,
    /// Files actually read, in load order.
    pub sources: Vec<PathBuf>,
    /// c/image's description of the config location used in "blocked" errors:
    /// `CONFIG_PATH or CONFIG_DIR`.
    pub description: String,
}

impl Default for RegistriesConf {
    fn default() -> RegistriesConf {
        RegistriesConf::from_partial(PartialConf::default(), Vec::new(), String::new())
    }
}

fn read_dropins(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ConfigError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ConfigError::io(dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ConfigError::io(dir, e))?;
        let is_dir = entry
            .file_type()
            .map_err(|e| ConfigError::io(entry.path(), e))?
            .is_dir();
        if !is_dir && entry.file_name().as_encoded_bytes().ends_with(b".conf") {
            found.push(entry.path());
        }
    }
    found.sort();
    out.extend(found);
    Ok(())
}

fn read_conf(path: &Path, force_v2: bool) -> Result<PartialConf, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
    parse_file(&text, path, force_v2)
}

/// c/image `refMatchingPrefix`: length of the matched part of `r`, if any.
fn ref_matching_prefix(r: &str, prefix: &str) -> Option<usize> {
    if let Some(domain) = prefix.strip_prefix('*') {
        // ".example.com": first occurrence, no "/" before it, then a boundary.
        let index = r.find(domain)?;
        if r[..index].contains('/') {
            return None;
        }
        let end = index + domain.len();
        return match r.as_bytes().get(end) {
            None | Some(b':' | b'/' | b'@') => Some(end),
            Some(_) => None,
        };
    }
    if !r.starts_with(prefix) {
        return None;
    }
    match r.as_bytes().get(prefix.len()) {
        // Note: "example.com:5000" matches prefix "example.com" (c/image quirk).
        None | Some(b':' | b'/' | b'@') => Some(prefix.len()),
        Some(_) => None,
    }
}

impl RegistriesConf {
    fn from_partial(p: PartialConf, sources: Vec<PathBuf>, description: String) -> RegistriesConf {
        let credential_helpers = match p.credential_helpers {
            Some(h) if !h.is_empty() => h,
            _ => vec![AUTH_FILE_HELPER.to_string()],
        };
        RegistriesConf {
            registries: p.registries,
            unqualified_search_registries: p.unqualified_search_registries.unwrap_or_default(),
            credential_helpers,
            short_name_mode: p.short_name_mode,
            aliases: p.aliases,
            sources,
            description,
        }
    }

    /// Loads the configuration the way skopeo 1.9.3 does:
    ///
    /// * `override_path` (`--registries-conf`) given: that file (it must
    ///   exist), then drop-ins from `/etc/containers/registries.conf.d` and
    ///   `$HOME/.config/containers/registries.conf.d`.
    /// * else, if `$HOME/.config/containers/registries.conf` exists: that file,
    ///   then drop-ins from `$HOME/.config/containers/registries.conf.d` only.
    /// * else `/etc/containers/registries.conf` (missing = empty), then drop-ins
    ///   from `/etc/containers/registries.conf.d`, then from
    ///   `$HOME/.config/containers/registries.conf.d`.
    ///
    /// Drop-ins are the non-directory `*.conf` entries of each directory
    /// (not recursive), in byte-lexical order per directory; they must be v2
    /// and are merged in order (later `[[registry]]` with the same prefix
    /// replaces the earlier one; other keys replace when present).
    /// `/etc` paths are under `env.root`. `$CONTAINERS_REGISTRIES_CONF` is
    /// ignored, as in skopeo 1.9.3.
    pub fn load(env: &Env, override_path: Option<&Path>) -> Result<RegistriesConf, ConfigError> {
        let user_file = env.user_registries_conf().filter(|p| p.exists());
        let (main, system_dir, main_required) = match (override_path, user_file) {
            (Some(p), _) => (p.to_path_buf(), Some(env.system_registries_conf_d()), true),
            (None, Some(u)) => (u, None, false),
            (None, None) => (
                env.system_registries_conf(),
                Some(env.system_registries_conf_d()),
                false,
            ),
        };
        let user_dir = env.user_registries_conf_d();
        let dir_desc = user_dir.as_ref().or(system_dir.as_ref());
        let description = match dir_desc {
            Some(d) => format!("{} or {}", main.display(), d.display()),
            None => main.display().to_string(),
        };

        let mut sources = Vec::new();
        let mut conf = match read_conf(&main, false) {
            Ok(c) => {
                sources.push(main.clone());
                c
            }
            Err(ConfigError::Io { source, .. })
                if !main_required && source.kind() == std::io::ErrorKind::NotFound =>
            {
                PartialConf::default()
            }
            Err(e) => return Err(e),
        };
        let mut dropins = Vec::new();
        for dir in system_dir.iter().chain(user_dir.iter()) {
            read_dropins(dir, &mut dropins)?;
        }
        for path in dropins {
            conf.merge(read_conf(&path, true)?);
            sources.push(path);
        }
        Ok(RegistriesConf::from_partial(conf, sources, description))
    }

    /// Parses one registries.conf text (v2, or v1 converted to v2; mixing is an
    /// error) exactly as a main (non-drop-in) file.
    pub fn parse(toml: &str, origin: &Path) -> Result<RegistriesConf, ConfigError> {
        let p = parse_file(toml, origin, false)?;
        Ok(RegistriesConf::from_partial(
            p,
            vec![origin.to_path_buf()],
            origin.display().to_string(),
        ))
    }

    /// The entry with the longest prefix matching `reference_name` (a
    /// `host[:port][/path...]` name, optionally with `:tag`/`@digest`).
    /// Docker Hub names must already be normalized (`docker.io/library/x`).
    pub fn find(&self, reference_name: &str) -> Option<&Registry> {
        let mut best: Option<&Registry> = None;
        for r in &self.registries {
            if ref_matching_prefix(reference_name, &r.prefix).is_some()
                && best.is_none_or(|b| r.prefix.len() > b.prefix.len())
            {
                best = Some(r);
            }
        }
        best
    }

    fn blocked_error(&self, reg: &Registry) -> ConfigError {
        ConfigError::Blocked {
            prefix: reg.prefix.clone(),
            config: self.description.clone(),
        }
    }

    fn rewrite(
        name: &str,
        prefix: &str,
        location: &str,
        is_mirror: bool,
        insecure: bool,
    ) -> Result<Endpoint, ConfigError> {
        let rewritten = if location.is_empty() {
            name.to_string()
        } else {
            let len = ref_matching_prefix(name, prefix).ok_or_else(|| ConfigError::Rewrite {
                reference: name.to_string(),
                message: format!("invalid prefix '{prefix}' for reference '{name}'"),
            })?;
            format!("{location}{}", &name[len..])
        };
        let (host, repository) =
            parse_canonical_name(&rewritten).map_err(|m| ConfigError::Rewrite {
                reference: name.to_string(),
                message: format!("{rewritten:?}: {m}"),
            })?;
        Ok(Endpoint {
            host,
            repository,
            insecure,
            is_mirror,
        })
    }

    fn checked_name(reference_name: &str) -> Result<&str, ConfigError> {
        let name = strip_tag_and_digest(reference_name);
        parse_canonical_name(name).map_err(|message| ConfigError::InvalidName {
            name: reference_name.to_string(),
            message,
        })?;
        Ok(name)
    }

    /// Endpoints to try when pulling `reference_name`, in order: the usable
    /// mirrors, then the primary location (c/image `PullSourcesFromReference`).
    ///
    /// Like c/image, "blocked" is checked per endpoint against the entry
    /// matching the *rewritten* name: blocked endpoints are dropped, and only
    /// if every endpoint is blocked is `Err(Blocked)` returned (so mirrors of a
    /// blocked registry are still used, as skopeo does).
    pub fn pull_sources(
        &self,
        reference_name: &str,
        by_digest: bool,
    ) -> Result<Vec<Endpoint>, ConfigError> {
        let name = Self::checked_name(reference_name)?;
        let Some(reg) = self.find(name) else {
            let (host, repository) =
                parse_canonical_name(name).map_err(|message| ConfigError::InvalidName {
                    name: name.to_string(),
                    message,
                })?;
            return Ok(vec![Endpoint {
                host,
                repository,
                insecure: false,
                is_mirror: false,
            }]);
        };
        let mut candidates = Vec::new();
        for m in &reg.mirrors {
            let usable = if reg.mirror_by_digest_only {
                by_digest
            } else {
                match m.pull_from_mirror {
                    PullFromMirror::All => true,
                    PullFromMirror::DigestOnly => by_digest,
                    PullFromMirror::TagOnly => !by_digest,
                }
            };
            if usable {
                candidates.push(Self::rewrite(
                    name,
                    &reg.prefix,
                    &m.location,
                    true,
                    m.insecure,
                )?);
            }
        }
        candidates.push(Self::rewrite(
            name,
            &reg.prefix,
            &reg.location,
            false,
            reg.insecure,
        )?);

        let mut out = Vec::new();
        let mut first_blocked = None;
        for ep in candidates {
            let physical = format!("{}/{}", ep.host, ep.repository);
            match self.find(&physical) {
                Some(r) if r.blocked => {
                    first_blocked.get_or_insert_with(|| self.blocked_error(r));
                }
                _ => out.push(ep),
            }
        }
        match (out.is_empty(), first_blocked) {
            (true, Some(err)) => Err(err),
            _ => Ok(out),
        }
    }

    /// Where to push `reference_name`. c/image 5.23 applies neither mirrors nor
    /// the `location` rewrite when pushing (see containers-registries.conf(5):
    /// "Redirection and mirrors are currently processed only when reading
    /// images"), so this is the name itself; `insecure` and `blocked` come from
    /// the longest-prefix entry.
    pub fn push_endpoint(&self, reference_name: &str) -> Result<Endpoint, ConfigError> {
        let name = Self::checked_name(reference_name)?;
        let reg = self.find(name);
        if let Some(r) = reg.filter(|r| r.blocked) {
            return Err(self.blocked_error(r));
        }
        let (host, repository) =
            parse_canonical_name(name).map_err(|message| ConfigError::InvalidName {
                name: name.to_string(),
                message,
            })?;
        Ok(Endpoint {
            host,
            repository,
            insecure: reg.is_some_and(|r| r.insecure),
            is_mirror: false,
        })
    }

    /// Whether the entry matching `host` (`host[:port]`, or any name) is insecure.
    pub fn is_insecure(&self, host: &str) -> bool {
        self.find(host).is_some_and(|r| r.insecure)
    }

    /// Whether the entry matching `name` is blocked.
    pub fn is_blocked(&self, name: &str) -> bool {
        self.find(name).is_some_and(|r| r.blocked)
    }
}
