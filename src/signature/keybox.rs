//! The public keys of the user's GnuPG home (`$GNUPGHOME`, else `~/.gnupg`), for
//! `standalone-verify` without `--public-key-file` (gpgme verifies with that keyring).
//! `pubring.kbx` (GnuPG 2.1+) and `pubring.gpg` (older) are read directly; a home that
//! keeps its keys elsewhere (keyboxd) is asked through `gpg --export`.

use std::path::{Path, PathBuf};

use super::openpgp::Keyring;

/// The GnuPG home gpg itself would use.
pub fn gnupg_home() -> Option<PathBuf> {
    match std::env::var_os("GNUPGHOME").filter(|v| !v.is_empty()) {
        Some(h) => Some(PathBuf::from(h)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".gnupg")),
    }
}

/// Every public key of the user's keyring.
pub fn user_keyring() -> Result<Keyring, String> {
    let home = gnupg_home().ok_or("no GnuPG home: neither $GNUPGHOME nor $HOME is set")?;
    let kbx = home.join("pubring.kbx");
    if let Some(bytes) = read_if_exists(&kbx)? {
        return Ok(Keyring::from_blobs(&openpgp_blocks(&bytes)));
    }
    if let Some(bytes) = read_if_exists(&home.join("pubring.gpg"))? {
        return Ok(Keyring::from_blobs(&[bytes]));
    }
    let out = std::process::Command::new("gpg")
        .args(["--batch", "--no-tty", "--export"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "reading the GnuPG keyring in {}: running gpg: {e}",
                home.display()
            )
        })?;
    Ok(Keyring::from_blobs(&[out.stdout]))
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// The OpenPGP key blocks of a keybox file. Each blob: u32 length (of the whole blob),
/// u8 type (2 = OpenPGP), u8 version, u16 flags, u32 offset and u32 length of the key
/// block, both relative to the blob's start. Anything malformed ends the scan.
fn openpgp_blocks(kbx: &[u8]) -> Vec<Vec<u8>> {
    let be32 = |b: &[u8], at: usize| -> Option<usize> {
        b.get(at..at + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(len) = be32(kbx, pos) {
        let Some(blob) = kbx.get(pos..pos.saturating_add(len)).filter(|_| len >= 16) else {
            break;
        };
        if blob[4] == 2
            && let (Some(off), Some(n)) = (be32(blob, 8), be32(blob, 12))
            && let Some(block) = blob.get(off..off.saturating_add(n))
        {
            out.push(block.to_vec());
        }
        pos += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_key_blocks_out_of_a_keybox() {
        let key = include_bytes!("testdata/rsa.gpg");
        // A header blob (type 1), then one OpenPGP blob with its key block at offset 20.
        let mut kbx = Vec::new();
        kbx.extend_from_slice(&32u32.to_be_bytes());
        kbx.extend_from_slice(&[1, 1, 0, 2]);
        kbx.extend_from_slice(b"KBXf");
        kbx.extend_from_slice(&[0; 20]);
        let len = 20 + key.len();
        kbx.extend_from_slice(&(len as u32).to_be_bytes());
        kbx.extend_from_slice(&[2, 1, 0, 0]);
        kbx.extend_from_slice(&20u32.to_be_bytes());
        kbx.extend_from_slice(&(key.len() as u32).to_be_bytes());
        kbx.extend_from_slice(&[0; 4]);
        kbx.extend_from_slice(key);
        let blocks = openpgp_blocks(&kbx);
        assert_eq!(blocks, vec![key.to_vec()]);
        assert_eq!(
            Keyring::from_blobs(&blocks).fingerprints(),
            vec!["C560190E9E754AD05496AF5FBF0A6420376B5CE2"]
        );
        // Truncated input ends the scan without panicking.
        assert_eq!(openpgp_blocks(&kbx[..40]), Vec::<Vec<u8>>::new());
    }
}
