//! Key material from the command line, read as ocicrypt's helpers read it:
//! `--encryption-key PROTOCOL:VALUE` (`jwe:` public key file, `pkcs7:` certificate file,
//! `pgp:` user ID or e-mail in the GnuPG keyring) and `--decryption-key FILE[:PASSWORD]`
//! (private keys, certificates for PKCS7, OpenPGP secret keys; each file sorted by what
//! it holds). The messages are ocicrypt's.

use std::path::{Path, PathBuf};

use sequoia_openpgp as pgp;
use sequoia_openpgp::parse::Parse;

use super::error::CryptError;
use super::keyfile::{self, PrivateKey, PublicKey};
use super::keywrap::pgp::{Recipient as PgpRecipient, SecretKeys as PgpSecretKeys};
use super::keywrap::pkcs7::Certificate;

/// Who may decrypt what `--encryption-key` encrypts.
#[derive(Default)]
pub struct Recipients {
    pub(super) jwe: Vec<PublicKey>,
    pub(super) pkcs7: Vec<Certificate>,
    pub(super) pgp: Vec<PgpRecipient>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Recipients {{ jwe: {}, pkcs7: {}, pgp: {} }}",
            self.jwe.len(),
            self.pkcs7.len(),
            self.pgp.len()
        )
    }
}

/// What `--decryption-key` gave.
#[derive(Default)]
pub struct DecryptionKeys {
    pub(super) private: Vec<PrivateKey>,
    pub(super) certs: Vec<Certificate>,
    pub(super) pgp: Vec<PgpSecretKeys>,
    /// Files that hold nothing usable (ocicrypt skips them silently; skiff warns).
    pub ignored: Vec<PathBuf>,
}

impl std::fmt::Debug for DecryptionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DecryptionKeys {{ private: {}, certs: {}, pgp: {} }}",
            self.private.len(),
            self.certs.len(),
            self.pgp.len()
        )
    }
}

/// Reads `--encryption-key` values.
pub fn parse_recipients(values: &[String]) -> Result<Recipients, CryptError> {
    let mut out = Recipients::default();
    let mut pgp_names = Vec::new();
    for value in values {
        let Some((protocol, rest)) = value.split_once(':') else {
            return Err(CryptError::Key("Invalid recipient format".into()));
        };
        match protocol {
            "pgp" => pgp_names.push(rest.to_string()),
            "jwe" => {
                let data = read(Path::new(rest))?;
                let key = keyfile::public_key(&data)
                    .ok_or_else(|| CryptError::Key("File provided is not a public key".into()))?;
                out.jwe.push(key);
            }
            "pkcs7" => {
                let data = read(Path::new(rest))?;
                let cert = Certificate::parse(&data)
                    .ok_or_else(|| CryptError::Key("File provided is not an x509 cert".into()))?;
                if !cert.has_rsa_key() {
                    // Refused now rather than after the first layer is written.
                    return Err(CryptError::Key(format!(
                        "PKCS7: {rest}: only certificates with RSA keys can be recipients"
                    )));
                }
                out.pkcs7.push(cert);
            }
            _ => return Err(CryptError::Key("Provided protocol not recognized".into())),
        }
    }
    if !pgp_names.is_empty() {
        out.pgp = super::keywrap::pgp::resolve(&pgp_names)?;
    }
    Ok(out)
}

/// Reads `--decryption-key` values.
pub fn parse_decryption_keys(values: &[String]) -> Result<DecryptionKeys, CryptError> {
    let mut out = DecryptionKeys::default();
    for value in values {
        // ocicrypt: FILE or FILE:PASSWORD, split at every colon (a third part drops the
        // password).
        let parts: Vec<&str> = value.split(':').collect();
        let password = match parts.as_slice() {
            [_, pw] => Some(password(pw)?),
            _ => None,
        };
        let path = PathBuf::from(parts[0]);
        let data = read(&path)?;
        if let Some(key) = keyfile::private_key(&data, password.as_deref())? {
            out.private.push(key);
        } else if let Some(cert) = Certificate::parse(&data) {
            out.certs.push(cert);
        } else if let Some(cert) = pgp_secret_key(&data) {
            out.pgp
                .push(PgpSecretKeys::unlock(&cert, password.as_deref(), path));
        } else {
            out.ignored.push(path);
        }
    }
    Ok(out)
}

fn read(path: &Path) -> Result<Vec<u8>, CryptError> {
    std::fs::read(path).map_err(|e| {
        CryptError::Key(format!(
            "Unable to read file: open {}: {}",
            path.display(),
            crate::reference::paths::go_errno_text(&e)
        ))
    })
}

/// ocicrypt's password forms: `file=PATH`, `pass=TEXT`, `fd=N` or the text itself.
fn password(spec: &str) -> Result<Vec<u8>, CryptError> {
    if let Some(path) = spec.strip_prefix("file=") {
        return read(Path::new(path));
    }
    if let Some(text) = spec.strip_prefix("pass=") {
        return Ok(text.as_bytes().to_vec());
    }
    if let Some(fd) = spec.strip_prefix("fd=") {
        let n: u32 = fd
            .parse()
            .map_err(|_| CryptError::Key(format!("could not parse file descriptor {fd}")))?;
        // As ocicrypt: one read of at most 64 bytes.
        use std::io::Read;
        let mut f = std::fs::File::open(format!("/dev/fd/{n}"))
            .map_err(|_| CryptError::Key(format!("{n} is not a valid file descriptor")))?;
        let mut buf = [0u8; 64];
        let got = f
            .read(&mut buf)
            .map_err(|e| CryptError::Key(format!("could not read from file descriptor: {e}")))?;
        return Ok(buf[..got].to_vec());
    }
    Ok(spec.as_bytes().to_vec())
}

/// An OpenPGP secret key (binary or ASCII-armored); public keys are not.
fn pgp_secret_key(data: &[u8]) -> Option<pgp::Cert> {
    let cert = pgp::Cert::from_bytes(data).ok()?;
    cert.is_tsk().then_some(cert)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    fn rsa_key() -> RsaPrivateKey {
        super::super::test_keys::rsa(0)
    }

    #[test]
    fn recipient_strings_fail_as_ocicrypts() {
        let msg = |v: &str| parse_recipients(&[v.to_string()]).unwrap_err().to_string();
        assert_eq!(msg("key.pem"), "Invalid recipient format");
        assert_eq!(msg("foo:key.pem"), "Provided protocol not recognized");
        assert!(
            msg("jwe:/nonexistent/k.pem")
                .starts_with("Unable to read file: open /nonexistent/k.pem: ")
        );
        let dir = tempfile::tempdir().unwrap();
        let key = rsa_key();
        let private = dir.path().join("k.pem");
        std::fs::write(&private, key.to_pkcs8_pem(LineEnding::LF).unwrap()).unwrap();
        let public = dir.path().join("k.pub");
        let pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        std::fs::write(&public, pem).unwrap();
        let p = |f: &Path| f.display().to_string();
        assert_eq!(
            msg(&format!("jwe:{}", p(&private))),
            "File provided is not a public key"
        );
        assert_eq!(
            msg(&format!("pkcs7:{}", p(&public))),
            "File provided is not an x509 cert"
        );
        let ok = parse_recipients(&[format!("jwe:{}", p(&public))]).unwrap();
        assert_eq!(ok.jwe.len(), 1);
    }

    #[test]
    fn decryption_keys_are_sorted_and_passwords_checked() {
        let dir = tempfile::tempdir().unwrap();
        let key = rsa_key();
        let plain = dir.path().join("plain.pem");
        std::fs::write(&plain, key.to_pkcs8_pem(LineEnding::LF).unwrap()).unwrap();
        let locked = dir.path().join("locked.pem");
        let pem = super::super::test_keys::encrypted_pem(&key, b"pw");
        std::fs::write(&locked, pem).unwrap();
        let junk = dir.path().join("junk.txt");
        std::fs::write(&junk, "hello").unwrap();
        let p = |f: &Path| f.display().to_string();
        let keys = parse_decryption_keys(&[
            p(&plain),
            format!("{}:pw", p(&locked)),
            format!("{}:pass=pw", p(&locked)),
            p(&junk),
        ])
        .unwrap();
        assert_eq!(keys.private.len(), 3);
        assert_eq!(keys.ignored, vec![junk.clone()]);
        let err = |v: String| parse_decryption_keys(&[v]).unwrap_err().to_string();
        assert_eq!(
            err(p(&locked)),
            "Missing password for encrypted private key"
        );
        assert_eq!(
            err(format!("{}:nope", p(&locked))),
            "Wrong password: could not decrypt private key"
        );
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "pw").unwrap();
        assert!(parse_decryption_keys(&[format!("{}:file={}", p(&locked), p(&pwfile))]).is_ok());
    }
}
