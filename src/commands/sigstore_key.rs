//! `skiff generate-sigstore-key --output-prefix PREFIX [--passphrase-file F]`: a new
//! ECDSA P-256 key pair for sigstore signing, as skopeo's command writes it:
//! `PREFIX.private` (encrypted with the passphrase, mode 0600) and `PREFIX.pub`. Existing
//! files are never overwritten.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::passphrase::{prompt_for_passphrase, read_passphrase_file};
use super::{CommandError, invalid};
use crate::cli::GenerateKeySettings;
use crate::policy::json::go_quote;
use crate::report;
use crate::signature::sigstore::keys::{self, PrivateKey};

pub fn run(s: &GenerateKeySettings) -> Result<(), CommandError> {
    let prefix = match (&s.output_prefix, s.args.is_empty()) {
        (Some(p), true) if !p.is_empty() => p,
        _ => {
            return Err(invalid(
                "Usage: generate-sigstore-key --output-prefix PREFIX",
            ));
        }
    };
    let public_path = PathBuf::from(format!("{prefix}.pub"));
    let private_path = PathBuf::from(format!("{prefix}.private"));
    ensure_absent(&public_path)?;
    ensure_absent(&private_path)?;
    let passphrase = match &s.passphrase_file {
        Some(f) => read_passphrase_file(f)?,
        None => prompt_for_passphrase(&private_path).map_err(CommandError::Invalid)?,
    };
    let generated = PrivateKey::generate_p256().and_then(|(key, pkcs8)| {
        let private = keys::encrypt_private_key(
            &pkcs8,
            passphrase.as_bytes(),
            keys::COSIGN_PRIVATE_KEY_LABEL,
        )?;
        Ok((private, key.public_key().to_pem()))
    });
    let (private, public) =
        generated.map_err(|e| invalid(format!("Error generating key pair: {e}")))?;
    write_new(&private_path, &private, 0o600).map_err(|e| {
        invalid(format!(
            "Error writing private key to {}: {e}",
            quote(&private_path)
        ))
    })?;
    if let Err(e) = write_new(&public_path, &public, 0o644) {
        // Leave nothing half-made behind.
        let _ = std::fs::remove_file(&private_path);
        return Err(invalid(format!(
            "Error writing public key to {}: {e}",
            quote(&public_path)
        )));
    }
    report::output(
        format!(
            "Key written to {} and {}\n",
            quote(&private_path),
            quote(&public_path)
        )
        .as_bytes(),
    )
    .map_err(|source| CommandError::Io {
        context: "writing to standard output".into(),
        source,
    })
}

fn quote(path: &Path) -> String {
    go_quote(&path.to_string_lossy())
}

/// skopeo's `ensurePathDoesNotExist`.
fn ensure_absent(path: &Path) -> Result<(), CommandError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(invalid(format!(
            "Refusing to overwrite existing {}",
            quote(path)
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(invalid(format!(
            "Error checking existence of {}: {e}",
            quote(path)
        ))),
    }
}

/// Creates `path` (never replacing a file that appeared meanwhile) with `mode`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}
