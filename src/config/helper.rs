//! Running a `docker-credential-*` helper (`get`): found on an absolute PATH entry,
//! given the server on stdin, killed after a timeout, and its JSON answer read into
//! `Credentials`. Its output is never echoed when it might hold a secret.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::authfile::get_field;
use super::credentials::Credentials;
use super::error::ConfigError;

/// What a helper prints when it has nothing for the server.
const NOT_FOUND_MESSAGE: &str = "credentials not found in native keychain";

/// Runs helper `name` for `server`; `path` replaces $PATH for finding and running it.
pub(super) fn run(
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
    let child = spawn(&exe, path).map_err(fail)?;
    let (status, out) = answer(child, server, timeout, &exe).map_err(fail)?;
    read_answer(status, &out).map_err(fail)
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

/// Starts `exe get` with piped stdin and stdout.
fn spawn(exe: &Path, path: Option<&OsStr>) -> Result<Child, String> {
    let mut cmd = Command::new(exe);
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
    loop {
        match cmd.spawn() {
            Ok(c) => return Ok(c),
            Err(e) if e.raw_os_error() == Some(26) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("starting {}: {e}", exe.display())),
        }
    }
}

/// Sends `server`, then waits (up to `timeout`, else kills it) for the helper's exit
/// status and everything it printed.
fn answer(
    mut child: Child,
    server: &str,
    timeout: Duration,
    exe: &Path,
) -> Result<(ExitStatus, Vec<u8>), String> {
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
                return Err(format!("timed out after {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for {}: {e}", exe.display())),
        }
    };
    Ok((status, reader.join().unwrap_or_default()))
}

/// The credentials in a helper's answer: `{"Username": ..., "Secret": ...}`, a
/// `<token>` username meaning an identity token; nothing when it has none.
fn read_answer(status: ExitStatus, out: &[u8]) -> Result<Option<Credentials>, String> {
    let text = String::from_utf8_lossy(out);
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
        return Err(format!(
            "error getting credentials - err: {status}, out: `{shown}`"
        ));
    }
    let value = serde_json::Deserializer::from_slice(out)
        .into_iter::<Value>()
        .next()
        .unwrap_or(Ok(Value::Null))
        .map_err(|e| {
            format!(
                "invalid JSON output at line {} column {}",
                e.line(),
                e.column()
            )
        })?;
    let Value::Object(obj) = value else {
        return Err("output is not a JSON object".into());
    };
    let field = |n: &str| match get_field(&obj, n) {
        Some(Value::String(s)) => Ok(s.clone()),
        None => Ok(String::new()),
        Some(_) => Err(format!("{n:?} in output is not a string")),
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
