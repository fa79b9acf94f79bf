//! Signing with the user's GnuPG, the way containers/image's gpgme mechanism does: the
//! `gpg` binary signs (non-detached, binary, gpg's default compression) with the key the
//! user names, through gpg-agent, so secret keys, smartcards, the agent's passphrase cache
//! and gpg.conf behave exactly as they do for skopeo. skiff never sees secret key material.
//!
//! A passphrase (the first line of `--sign-passphrase-file`) is handed over as gpgme does
//! it, in loopback pinentry mode; without one, the agent asks through its pinentry (or
//! uses what it has cached). The payload reaches gpg on standard input, so the literal
//! data packet has no file name and the signing time as its date, like gpgme's.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// gpg's code for "No secret key" (GPG_ERR_NO_SECKEY) in a `FAILURE` status line.
const GPG_ERR_NO_SECKEY: &str = "17";

/// Why signing failed. The texts are gpgme's/gpg's, which skopeo prints after
/// `creating signature: `.
#[derive(Debug, thiserror::Error)]
pub enum GpgError {
    /// gpg could not be run at all.
    #[error("initializing GPG: running {program}: {source}")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// gpgme's text when the key is not in the secret keyring.
    #[error("key \"{0}\" not found")]
    KeyNotFound(String),
    /// gpg's reason, e.g. `Bad passphrase`, `Unusable secret key`,
    /// `Inappropriate ioctl for device` (no pinentry could ask).
    #[error("{0}")]
    Failed(String),
}

/// Signs with the GnuPG home of the environment (`$GNUPGHOME`, else `~/.gnupg`).
#[derive(Debug, Clone)]
pub struct GpgSigner {
    program: String,
    passphrase: Option<String>,
}

impl GpgSigner {
    /// `passphrase`: the first line of the passphrase file; `None` or empty lets
    /// gpg-agent ask (as gpgme does for an empty passphrase).
    pub fn new(passphrase: Option<String>) -> GpgSigner {
        GpgSigner {
            program: "gpg".to_string(),
            passphrase: passphrase.filter(|p| !p.is_empty()),
        }
    }

    /// An OpenPGP signed message of `payload`, made with `key` (a fingerprint or anything
    /// else gpg's `-u` accepts).
    pub async fn sign(&self, payload: &[u8], key: &str) -> Result<Vec<u8>, GpgError> {
        let mut cmd = Command::new(&self.program);
        cmd.args([
            "--batch",
            "--no-tty",
            "--status-fd",
            "2",
            "--charset",
            "utf8",
        ]);
        let mut input = Vec::with_capacity(payload.len() + 64);
        if let Some(p) = &self.passphrase {
            // gpg reads the passphrase from fd 0 byte by byte up to the newline, when it
            // starts; the rest of standard input is the data to sign.
            cmd.args(["--pinentry-mode", "loopback", "--passphrase-fd", "0"]);
            input.extend_from_slice(p.as_bytes());
            input.push(b'\n');
        }
        input.extend_from_slice(payload);
        cmd.args(["--sign", "-u", key, "--"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| GpgError::Start {
            program: self.program.clone(),
            source,
        })?;
        let mut stdin = child.stdin.take();
        let feed = async move {
            if let Some(s) = stdin.as_mut() {
                // gpg may exit early (unknown key) and close its end: its status says why.
                let _ = s.write_all(&input).await;
                let _ = s.shutdown().await;
            }
        };
        let (_, out) = tokio::join!(feed, child.wait_with_output());
        let out = out.map_err(|source| GpgError::Start {
            program: self.program.clone(),
            source,
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() && !out.stdout.is_empty() && stderr.contains("SIG_CREATED") {
            return Ok(out.stdout);
        }
        Err(failure(&stderr, key, out.status))
    }
}

/// The reason gpg gives on its status and log lines.
fn failure(stderr: &str, key: &str, status: std::process::ExitStatus) -> GpgError {
    let status_line = |name: &str| {
        stderr
            .lines()
            .filter_map(|l| l.strip_prefix("[GNUPG:] "))
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    if status_line("FAILURE sign ") == Some(GPG_ERR_NO_SECKEY) {
        return GpgError::KeyNotFound(key.to_string());
    }
    let reason = stderr
        .lines()
        .rev()
        .filter(|l| !l.starts_with("[GNUPG:]"))
        .find_map(|l| l.split_once("signing failed: ").map(|(_, r)| r.trim()));
    match reason {
        Some(r) => GpgError::Failed(r.to_string()),
        None => {
            let last = stderr
                .lines()
                .rfind(|l| !l.starts_with("[GNUPG:]") && !l.trim().is_empty())
                .unwrap_or("no output");
            GpgError::Failed(format!("gpg failed ({status}): {last}"))
        }
    }
}

/// The passphrase in `path` as skopeo reads it: the first line, without its `\n` (a `\r`
/// stays, as in skopeo, and makes gpg report a bad passphrase).
pub fn read_passphrase_file(path: &std::path::Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    let first = match bytes.iter().position(|b| *b == b'\n') {
        Some(i) => &bytes[..i],
        None => &bytes[..],
    };
    Ok(String::from_utf8_lossy(first).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_come_from_gpg_status_and_log() {
        let ok = std::process::ExitStatus::default();
        let no_key = "gpg: skipped \"ABC\": No secret key\n[GNUPG:] INV_SGNR 9 ABC\n[GNUPG:] FAILURE sign 17\ngpg: signing failed: No secret key\n";
        assert_eq!(
            failure(no_key, "ABC", ok).to_string(),
            "key \"ABC\" not found"
        );
        let bad = "[GNUPG:] BEGIN_SIGNING H8\ngpg: signing failed: Bad passphrase\n[GNUPG:] FAILURE sign 67108875\ngpg: signing failed: Bad passphrase\n";
        assert_eq!(failure(bad, "K", ok).to_string(), "Bad passphrase");
        let expired = "[GNUPG:] INV_SGNR 9 K\n[GNUPG:] FAILURE sign 54\ngpg: signing failed: Unusable secret key\n";
        assert_eq!(failure(expired, "K", ok).to_string(), "Unusable secret key");
        assert!(
            failure("gpg: something odd\n", "K", ok)
                .to_string()
                .ends_with("gpg: something odd")
        );
    }

    #[test]
    fn passphrase_is_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "secret\nsecond\n").unwrap();
        assert_eq!(read_passphrase_file(&p).unwrap(), "secret");
        std::fs::write(&p, "secret\r\n").unwrap();
        assert_eq!(read_passphrase_file(&p).unwrap(), "secret\r");
        std::fs::write(&p, "").unwrap();
        assert_eq!(read_passphrase_file(&p).unwrap(), "");
    }
}
