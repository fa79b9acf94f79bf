//! Looking up registry credentials: auth files (containers-auth.json(5), Docker's
//! config.json and legacy .dockercfg, read by `authfile`) and `docker-credential-*`
//! helpers, in c/image v5.23.1 order. What a lookup yields is `credentials::Credentials`.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ConfigError;
use super::authfile::{decode_entry, get_field, read_auth_file};
use super::credentials::Credentials;
use super::paths::{AuthFilePath, Env};
use super::registries::AUTH_FILE_HELPER;

/// How long a credential helper may run before it is killed.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

const NOT_FOUND_MESSAGE: &str = "credentials not found in native keychain";

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
                run_helper(helper, &registry, self.path_var.as_deref(), self.timeout)
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
            let creds = run_helper(helper, registry, self.path_var.as_deref(), self.timeout)?;
            let desc = format!(
                "credential helper {helper} (credHelpers entry in {})",
                path.display()
            );
            return Ok(creds.map(|c| (c, desc)));
        }
        if let Some(store) = &parsed.creds_store
            && let Some(c) = run_helper(store, registry, self.path_var.as_deref(), self.timeout)?
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
    run_helper(name, server, None, HELPER_TIMEOUT)
}

/// [`credential_helper_get`] with an explicit `PATH` for finding and running
/// the helper (the process environment is left untouched).
pub fn credential_helper_get_with_path(
    name: &str,
    server: &str,
    path: Option<&OsStr>,
) -> Result<Option<Credentials>, ConfigError> {
    run_helper(name, server, path, HELPER_TIMEOUT)
}

fn find_program(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let search = path
        .map(OsStr::to_os_string)
        .or_else(|| std::env::var_os("PATH"))?;
    // Like Go's execabs: never run something found via a relative PATH entry.
    std::env::split_paths(&search)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn run_helper(
    name: &str,
    server: &str,
    path: Option<&OsStr>,
    timeout: Duration,
) -> Result<Option<Credentials>, ConfigError> {
    let fail = |message: String| ConfigError::CredentialHelper {
        helper: name.to_string(),
        message,
    };
    let program = format!("docker-credential-{name}");
    let exe = find_program(&program, path).ok_or_else(|| {
        fail(format!(
            "exec: {program:?}: executable file not found in $PATH"
        ))
    })?;
    let mut cmd = Command::new(&exe);
    cmd.arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    // ETXTBSY can happen transiently if another thread of this process forked
    // while the helper file was open for writing; retry briefly.
    let mut attempts = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(c) => break c,
            Err(e) if e.raw_os_error() == Some(26) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(fail(format!("starting {}: {e}", exe.display()))),
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading stdin is not an error here.
        let _ = stdin.write_all(server.as_bytes());
    }
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_end(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("timed out after {}s", timeout.as_secs())));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(fail(format!("waiting for {}: {e}", exe.display()))),
        }
    };
    let out = reader.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&out);
    let trimmed = text.trim();
    if !status.success() {
        if trimmed == NOT_FOUND_MESSAGE {
            return Ok(None);
        }
        // Helper output on failure is normally an error text; withhold it if it
        // might carry a secret.
        let shown = if trimmed.to_ascii_lowercase().contains("secret") {
            "<output withheld>".to_string()
        } else {
            trimmed.chars().take(300).collect()
        };
        return Err(fail(format!(
            "error getting credentials - err: {status}, out: `{shown}`"
        )));
    }
    let value = serde_json::Deserializer::from_slice(&out)
        .into_iter::<Value>()
        .next()
        .unwrap_or(Ok(Value::Null))
        .map_err(|e| {
            fail(format!(
                "invalid JSON output at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
    let Value::Object(obj) = value else {
        return Err(fail("output is not a JSON object".into()));
    };
    let field = |n: &str| match get_field(&obj, n) {
        Some(Value::String(s)) => Ok(s.clone()),
        None => Ok(String::new()),
        Some(_) => Err(fail(format!("{n:?} in output is not a string"))),
    };
    let (username, secret) = (field("Username")?, field("Secret")?);
    Ok(match username.as_str() {
        "<token>" if secret.is_empty() => None,
        "<token>" => Some(Credentials::IdentityToken {
            username: None,
            password: None,
            token: secret,
        }),
        _ if username.is_empty() && secret.is_empty() => None,
        _ => Some(Credentials::Basic {
            username,
            password: secret,
        }),
    })
}
