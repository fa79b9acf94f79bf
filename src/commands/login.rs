//! `skiff login` and `skiff logout` (containers/common `auth.Login` / `auth.Logout` as
//! skopeo 1.9.3 calls them): credentials are checked against the registry before they
//! are stored in containers-auth.json(5).

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use super::{CommandError, invalid, print};
use crate::cli::{GlobalSettings, LoginSettings, LogoutSettings};
use crate::config::{AuthLookup, ConfigError, Credentials, Env, authwrite};
use crate::reference::DockerRef;
use crate::report::{self, Reporter};
use crate::transport::docker::{AuthCheck, RegistryOptions, check_auth, credential_helpers};

fn config_error(context: impl Into<String>, source: ConfigError) -> CommandError {
    CommandError::Config {
        context: context.into(),
        source,
    }
}

/// containers/common `parseCredentialsKey` with repositories accepted: an http(s) URL
/// becomes its `host[:port]`; `host/repo` must be a name without tag or digest.
/// Returns (key, registry).
pub fn credentials_key(arg: &str) -> Result<(String, String), CommandError> {
    let key = if arg.starts_with("http://") || arg.starts_with("https://") {
        let url =
            url::Url::parse(arg).map_err(|e| invalid(format!("trimming http{{s}} prefix: {e}")))?;
        match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        }
    } else {
        arg.to_string()
    };
    let registry = key.split('/').next().unwrap_or(&key).to_string();
    if registry == key {
        return Ok((key, registry));
    }
    let parsed = DockerRef::parse_normalized(&key)
        .map_err(|e| invalid(format!("parse reference from {key:?}: {e}")))?;
    if !parsed.is_name_only() {
        return Err(invalid(format!(
            "reference {:?} contains tag or digest",
            parsed.to_string()
        )));
    }
    Ok((key, registry))
}

/// The stored credentials for `key` (all auth files and helpers, c/image order; the
/// helpers registries.conf configures, as a copy would use them).
fn stored(
    global: &GlobalSettings,
    env: &Env,
    authfile: &Path,
    key: &str,
) -> Result<Option<Credentials>, CommandError> {
    let (host, repo) = key.split_once('/').unwrap_or((key, ""));
    let helpers = credential_helpers(&registry_options(global, None, None))
        .map_err(|e| CommandError::transport("reading registries.conf", e))?;
    AuthLookup::new(env, Some(authfile))
        .with_credential_helpers(&helpers)
        .lookup(host, repo)
        .map(|found| found.map(|(c, _)| c))
        .map_err(|e| config_error("get credentials", e))
}

fn registry_options(
    global: &GlobalSettings,
    cert_dir: Option<PathBuf>,
    tls_verify: Option<bool>,
) -> RegistryOptions {
    RegistryOptions {
        cert_dir,
        tls_verify: tls_verify.or(global.tls_verify),
        registries_conf: global.registries_conf.clone(),
        user_agent_prefix: global.user_agent_prefix.clone(),
        report: Reporter::new(true, global.debug),
        ..Default::default()
    }
}

pub async fn login(global: &GlobalSettings, s: &LoginSettings) -> Result<(), CommandError> {
    super::with_timeout(global, login_inner(global, s)).await
}

async fn login_inner(global: &GlobalSettings, s: &LoginSettings) -> Result<(), CommandError> {
    let (key, registry) = match s.args.as_slice() {
        [] => return Err(invalid("please provide a registry to login to")),
        [one] => credentials_key(one)?,
        _ => return Err(invalid("login accepts only one registry to login to")),
    };
    let env = Env::from_process();
    let authfile = authwrite::login_auth_file(&env, s.authfile.as_deref())
        .map_err(|e| config_error("finding the auth file", e))?;
    let existing = stored(global, &env, &authfile, &key)?;
    let (old_user, old_password) = match &existing {
        Some(Credentials::Basic { username, password }) => (username.clone(), password.clone()),
        Some(Credentials::IdentityToken { username, .. }) => {
            (username.clone().unwrap_or_default(), String::new())
        }
        None => (String::new(), String::new()),
    };
    if s.get_login {
        if old_user.is_empty() {
            return Err(invalid(format!("not logged into {key}")));
        }
        return print(format!("{old_user}\n").as_bytes());
    }
    if matches!(existing, Some(Credentials::IdentityToken { .. })) {
        return Err(invalid(
            "currently logged in, auth file contains an Identity token",
        ));
    }
    let opts = registry_options(global, s.cert_dir.clone(), s.tls_verify);
    let mut password = s.password.clone().unwrap_or_default();
    if s.password_stdin {
        if !password.is_empty() {
            return Err(invalid(
                "Can't specify both --password-stdin and --password",
            ));
        }
        if s.username.is_none() {
            return Err(invalid("Must provide --username with --password-stdin"));
        }
        // containers/common joins every line read (without newlines).
        let mut joined = String::new();
        for line in std::io::stdin().lock().lines() {
            joined.push_str(&line.map_err(|source| CommandError::Io {
                context: "reading the password from stdin".into(),
                source,
            })?);
        }
        password = joined;
    }
    if s.username.is_none()
        && password.is_empty()
        && !old_user.is_empty()
        && !old_password.is_empty()
    {
        report::status(&format!(
            "Authenticating with existing credentials for {key}"
        ));
        if check(&registry, &old_user, &old_password, &opts).await? == AuthCheck::Valid {
            report::status(&format!(
                "Existing credentials are valid. Already logged in to {registry}"
            ));
            return Ok(());
        }
        report::status(
            "Existing credentials are invalid, please enter valid username and password",
        );
    }
    let (username, password) = ask_missing(s.username.clone(), password, &old_user)?;
    match check(&registry, &username, &password, &opts).await? {
        AuthCheck::Valid => {}
        AuthCheck::Invalid(detail) => {
            opts.report
                .debug(|| format!("error logging into {key:?}: {detail}"));
            return Err(invalid(format!(
                "error logging into {key:?}: invalid username/password"
            )));
        }
    }
    authwrite::set_credentials(&authfile, &key, &username, &password)
        .map_err(|e| config_error(format!("storing credentials for {key}"), e))?;
    if s.verbose {
        report::status(&format!("Used:  {}", authfile.display()));
    }
    print(b"Login Succeeded!\n")
}

async fn check(
    registry: &str,
    username: &str,
    password: &str,
    opts: &RegistryOptions,
) -> Result<AuthCheck, CommandError> {
    check_auth(registry, username, password, opts)
        .await
        .map_err(|e| CommandError::transport(format!("authenticating creds for {registry:?}"), e))
}

/// Prompts for what the command line did not give, when stdin is a terminal.
fn ask_missing(
    username: Option<String>,
    password: String,
    old_user: &str,
) -> Result<(String, String), CommandError> {
    let tty = std::io::stdin().is_terminal();
    let io_err = |what: &str| {
        let what = what.to_string();
        move |source| CommandError::Io {
            context: format!("getting username and password: reading {what}"),
            source,
        }
    };
    let username = match username {
        Some(u) => u,
        None => {
            if !tty {
                return Err(invalid(
                    "getting username and password: reading username: EOF (no --username given and stdin is not a terminal to ask for it)",
                ));
            }
            report::prompt(&if old_user.is_empty() {
                "Username: ".to_string()
            } else {
                format!("Username ({old_user}): ")
            });
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(io_err("username"))?;
            match line.trim() {
                "" => old_user.to_string(),
                u => u.to_string(),
            }
        }
    };
    let password = if password.is_empty() {
        if !tty {
            return Err(invalid(
                "getting username and password: reading password: EOF (no --password given and stdin is not a terminal to ask for it: use --password-stdin)",
            ));
        }
        let p = super::passphrase::read_hidden_line("Password: ").map_err(io_err("password"))?;
        report::status("");
        p
    } else {
        password
    };
    Ok((username.trim().to_string(), password))
}

pub async fn logout(global: &GlobalSettings, s: &LogoutSettings) -> Result<(), CommandError> {
    let env = Env::from_process();
    if let Some(p) = &s.authfile
        && let Err(e) = std::fs::metadata(p)
    {
        return Err(CommandError::Io {
            context: format!("checking authfile: stat {}", p.display()),
            source: e,
        });
    }
    let authfile = authwrite::login_auth_file(&env, s.authfile.as_deref())
        .map_err(|e| config_error("finding the auth file", e))?;
    if s.all {
        if !s.args.is_empty() {
            return Err(invalid("--all takes no arguments"));
        }
        authwrite::remove_all_credentials(&authfile)
            .map_err(|e| config_error("removing all credentials", e))?;
        return print(b"Removed login credentials for all registries\n");
    }
    let (key, registry) = match s.args.as_slice() {
        [] => return Err(invalid("please provide a registry to logout from")),
        [one] => credentials_key(one)?,
        _ => return Err(invalid("logout accepts only one registry to logout from")),
    };
    match authwrite::remove_credentials(&authfile, &key) {
        Ok(()) => print(format!("Removed login credentials for {key}\n").as_bytes()),
        Err(ConfigError::NotLoggedIn { .. }) => {
            // Credentials elsewhere (Docker's config.json) that still work: say so, as skopeo.
            if let Some(Credentials::Basic { username, password }) =
                stored(global, &env, &authfile, &key)?
            {
                let opts = registry_options(global, None, s.tls_verify);
                if check_auth(&registry, &username, &password, &opts)
                    .await
                    .ok()
                    == Some(AuthCheck::Valid)
                {
                    return print(format!(
                        "Not logged into {key} with current tool. Existing credentials were established via docker login. Please use docker logout instead.\n"
                    ).as_bytes());
                }
            }
            Err(invalid(format!("not logged into {key}")))
        }
        Err(e) => Err(config_error(format!("logging out of {key:?}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::credentials_key;

    #[test]
    fn keys_like_containers_common() {
        assert_eq!(
            credentials_key("r.io:5000").unwrap(),
            ("r.io:5000".into(), "r.io:5000".into())
        );
        assert_eq!(
            credentials_key("https://r.io:5000/v2/").unwrap(),
            ("r.io:5000".into(), "r.io:5000".into())
        );
        assert_eq!(
            credentials_key("r.io/ns/repo").unwrap(),
            ("r.io/ns/repo".into(), "r.io".into())
        );
        assert!(
            credentials_key("r.io/ns/repo:tag")
                .unwrap_err()
                .to_string()
                .contains("contains tag or digest")
        );
    }
}
