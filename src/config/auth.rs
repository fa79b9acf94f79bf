//! Looking up registry credentials: auth files (containers-auth.json(5), Docker's
//! config.json and legacy .dockercfg, read by `authfile`) and `docker-credential-*`
//! helpers (run by `helper`), in c/image v5.23.1 order. What a lookup yields is
//! `credentials::Credentials`.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::time::Duration;

use super::authfile::{decode_entry, read_auth_file};
use super::credentials::Credentials;
use super::error::ConfigError;
use super::helper;
use super::paths::{AuthFilePath, Env};
use super::registries::AUTH_FILE_HELPER;

/// How long a credential helper may run before it is killed.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// Credential lookup configured from an [`Env`] and `--authfile`.
#[derive(Clone, Debug)]
pub struct AuthLookup {
    files: Vec<AuthFilePath>,
    helpers: Vec<String>,
    path_var: Option<OsString>,
    timeout: Duration,
}

impl AuthLookup {
    /// `authfile` is the explicit `--authfile`/`--src-authfile`/`--dest-authfile`
    /// value; if `None`, `$REGISTRY_AUTH_FILE` is used (skopeo's flag default).
    /// `Some("")` means "explicitly no auth file" (like `--authfile=""`).
    /// The explicit file only replaces `${XDG_RUNTIME_DIR}/containers/auth.json`;
    /// the other default files are still consulted afterwards, as c/image does.
    pub fn new(env: &Env, authfile: Option<&Path>) -> AuthLookup {
        let effective = match authfile {
            Some(p) if p.as_os_str().is_empty() => None,
            Some(p) => Some(p),
            None => env.registry_auth_file.as_deref(),
        };
        AuthLookup {
            files: env.auth_file_paths(effective),
            helpers: vec![AUTH_FILE_HELPER.to_string()],
            path_var: env.path.clone(),
            timeout: HELPER_TIMEOUT,
        }
    }

    /// Uses registries.conf's global `credential-helpers` list (in order;
    /// `containers-auth.json` stands for the auth files).
    pub fn with_credential_helpers(mut self, helpers: &[String]) -> AuthLookup {
        if !helpers.is_empty() {
            self.helpers = helpers.to_vec();
        }
        self
    }

    /// Overrides the helper timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> AuthLookup {
        self.timeout = timeout;
        self
    }

    /// The auth files that will be consulted, in order.
    pub fn files(&self) -> &[AuthFilePath] {
        &self.files
    }

    /// Credentials for `host` (`host[:port]`, e.g. `docker.io`, not
    /// `registry-1.docker.io`) and `repository` (e.g. `library/busybox`; may be
    /// empty). Returns the first match and a description of its source.
    ///
    /// Order: each global credential helper; for `containers-auth.json` each
    /// auth file in [`AuthLookup::files`] order, and within a file:
    /// `credHelpers[host]`, then `auths` keys `host/ns/repo`, `host/ns`, `host`
    /// (exact), then any key normalizing to the host (scheme and path stripped,
    /// docker.io aliases → `index.docker.io`). `credsStore`, which c/image 5.23
    /// ignores, is consulted as Docker does: after `credHelpers`, before `auths`.
    /// Errors from one helper do not stop the others; they are reported only if
    /// nothing is found.
    pub fn lookup(
        &self,
        host: &str,
        repository: &str,
    ) -> Result<Option<(Credentials, String)>, ConfigError> {
        let key = if repository.is_empty() {
            host.to_string()
        } else {
            format!("{host}/{repository}")
        };
        validate_key(&key)?;
        let registry = key.split('/').next().unwrap_or(&key).to_string();
        let mut errors = Vec::new();
        for helper in &self.helpers {
            let result = if helper == AUTH_FILE_HELPER {
                self.lookup_files(&key, &registry)
            } else {
                helper::run(helper, &registry, self.path_var.as_deref(), self.timeout)
                    .map(|c| c.map(|c| (c, format!("credential helper {helper}"))))
            };
            match result {
                Ok(Some(found)) => return Ok(Some(found)),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => Ok(None),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Multiple { key, errors }),
        }
    }

    fn lookup_files(
        &self,
        key: &str,
        registry: &str,
    ) -> Result<Option<(Credentials, String)>, ConfigError> {
        for file in &self.files {
            if let Some(found) = self.find_in_file(key, registry, file)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn find_in_file(
        &self,
        key: &str,
        registry: &str,
        file: &AuthFilePath,
    ) -> Result<Option<(Credentials, String)>, ConfigError> {
        let path = &file.path;
        let Some(parsed) = read_auth_file(path, file.legacy_format)? else {
            return Ok(None);
        };
        if let Some((_, helper)) = parsed.cred_helpers.iter().find(|(k, _)| k == registry) {
            let creds = helper::run(helper, registry, self.path_var.as_deref(), self.timeout)?;
            let desc = format!(
                "credential helper {helper} (credHelpers entry in {})",
                path.display()
            );
            return Ok(creds.map(|c| (c, desc)));
        }
        if let Some(store) = &parsed.creds_store
            && let Some(c) = helper::run(store, registry, self.path_var.as_deref(), self.timeout)?
        {
            let desc = format!(
                "credential helper {store} (credsStore in {})",
                path.display()
            );
            return Ok(Some((c, desc)));
        }
        // Most specific first: host/ns/repo, host/ns, host.
        let mut k: &str = if file.legacy_format { registry } else { key };
        let mut keys = vec![k];
        while let Some(i) = k.rfind('/') {
            k = &k[..i];
            keys.push(k);
        }
        let describe = |k: &str| format!("file {} (entry {k:?})", path.display());
        for k in keys {
            if let Some((_, entry)) = parsed.auths.iter().find(|(name, _)| name == k) {
                return Ok(decode_entry(path, k, entry)?.map(|c| (c, describe(k))));
            }
        }
        let wanted = normalize_registry(registry);
        for (k, entry) in &parsed.auths {
            if normalize_auth_file_key(k, file.legacy_format) == wanted {
                return Ok(decode_entry(path, k, entry)?.map(|c| (c, describe(k))));
            }
        }
        Ok(None)
    }
}

/// c/image `validateKey`.
fn validate_key(key: &str) -> Result<(), ConfigError> {
    let err = |message: &str| {
        Err(ConfigError::AuthKey {
            key: key.to_string(),
            message: message.to_string(),
        })
    };
    if key.starts_with("http://") || key.starts_with("https://") {
        return err("contains http[s]:// prefix");
    }
    if key.contains('@') {
        return err("contains a '@' character");
    }
    if let Some((_, rest)) = key.split_once('/')
        && rest.contains(':')
    {
        return err("contains a ':' character after host[:port]");
    }
    Ok(())
}

fn normalize_registry(registry: &str) -> &str {
    match registry {
        "registry-1.docker.io" | "docker.io" => "index.docker.io",
        other => other,
    }
}

fn normalize_auth_file_key(key: &str, legacy: bool) -> &str {
    let stripped = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    let stripped = if legacy || stripped.len() != key.len() {
        stripped.split('/').next().unwrap_or(stripped)
    } else {
        stripped
    };
    normalize_registry(stripped)
}

/// Runs `docker-credential-NAME get` (found on the process `$PATH`) with
/// `server` (`host[:port]`) on stdin. `Ok(None)` when the helper reports
/// "credentials not found in native keychain" or returns empty credentials.
pub fn credential_helper_get(name: &str, server: &str) -> Result<Option<Credentials>, ConfigError> {
    helper::run(name, server, None, HELPER_TIMEOUT)
}

/// [`credential_helper_get`] with an explicit `PATH` for finding and running
/// the helper (the process environment is left untouched).
pub fn credential_helper_get_with_path(
    name: &str,
    server: &str,
    path: Option<&OsStr>,
) -> Result<Option<Credentials>, ConfigError> {
    helper::run(name, server, path, HELPER_TIMEOUT)
}
