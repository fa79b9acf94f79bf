//! certs.d lookup (containers-certs.d(5); c/image `dockerCertDir` and
//! `tlsclientconfig.SetupCertificates`).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::paths::Env;

/// TLS material for one registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// `*.crt` files: extra CA certificates (added to the system roots).
    pub ca_certs: Vec<PathBuf>,
    /// The first `*.cert` / `*.key` pair (by file name).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// All `*.cert` / `*.key` pairs, by file name (c/image offers all of them).
    pub client_certs: Vec<(PathBuf, PathBuf)>,
    /// The directory that was scanned (it may not exist).
    pub dir: Option<PathBuf>,
}

/// The directory c/image would use for `host` (`host[:port]`; for Docker Hub
/// pass `docker.io`): `cert_dir` if given, else the first *existing* one of
/// `$HOME/.config/containers/certs.d/HOST`, `/etc/containers/certs.d/HOST`,
/// `/etc/docker/certs.d/HOST` (the last one if none exists). Only one
/// directory is ever used.
pub fn cert_dir_for(
    env: &Env,
    host: &str,
    cert_dir: Option<&Path>,
) -> Result<PathBuf, ConfigError> {
    if let Some(d) = cert_dir {
        return Ok(d.to_path_buf());
    }
    let mut chosen = PathBuf::new();
    for parent in env.cert_search_dirs() {
        chosen = parent.join(host);
        match std::fs::metadata(&chosen) {
            Ok(_) => break,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {
                continue;
            }
            Err(e) => return Err(ConfigError::io(&chosen, e)),
        }
    }
    Ok(chosen)
}

/// TLS files for a registry `host[:port]`: see [`cert_dir_for`] for the
/// directory; in it, `*.crt` are CAs, `*.cert` needs a matching `*.key` and
/// vice versa (else an error with c/image's text). A missing or unreadable
/// (permission denied) directory yields no files. Files are not parsed here.
pub fn tls_files_for(
    env: &Env,
    host: &str,
    cert_dir: Option<&Path>,
) -> Result<TlsFiles, ConfigError> {
    let dir = cert_dir_for(env, host, cert_dir)?;
    let mut files = scan_cert_dir(&dir)?;
    files.dir = Some(dir);
    Ok(files)
}

/// c/image `SetupCertificates` over one directory (entries in name order).
pub fn scan_cert_dir(dir: &Path) -> Result<TlsFiles, ConfigError> {
    let mut out = TlsFiles::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {
            return Ok(out);
        }
        Err(e) => return Err(ConfigError::io(dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ConfigError::io(dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    let pairing = |message: String| ConfigError::CertPairing {
        dir: dir.to_path_buf(),
        message,
    };
    for name in &names {
        let full = dir.join(name);
        if name.ends_with(".crt") {
            // c/image reads every CA file; a vanished file (dangling link) is skipped.
            match std::fs::read(&full) {
                Ok(_) => out.ca_certs.push(full.clone()),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(ConfigError::io(&full, e)),
            }
        }
        if let Some(stem) = name.strip_suffix(".cert") {
            let key_name = format!("{stem}.key");
            if !names.contains(&key_name) {
                return Err(pairing(format!(
                    "missing key {key_name} for client certificate {name}. Note that CA certificates should use the extension .crt"
                )));
            }
            out.client_certs.push((full.clone(), dir.join(&key_name)));
        }
        if let Some(stem) = name.strip_suffix(".key") {
            let cert_name = format!("{stem}.cert");
            if !names.contains(&cert_name) {
                return Err(pairing(format!(
                    "missing client certificate {cert_name} for key {name}"
                )));
            }
        }
    }
    out.client_cert = out.client_certs.first().cloned();
    Ok(out)
}
