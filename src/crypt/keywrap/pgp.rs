//! The `pgp` key wrapper: an OpenPGP message (one PKESK per recipient, SEIPD v1 with
//! MDC, a literal packet holding the private options), as Go's x/crypto/openpgp writes
//! it for ocicrypt.
//!
//! Recipients come from the user's GnuPG keyring as skopeo finds them: `gpg --batch
//! --export` (gpg2 first), then every certificate with a user ID whose name or e-mail
//! address equals the recipient string. Wrapping uses sequoia's writer, forced to SEIPD
//! v1 and AES-256 so Go can read it.
//!
//! Unwrapping reads the message itself, with sequoia only for the secret keys and the
//! PKESK decryption: x/crypto/openpgp writes MPIs whose bit count includes leading zero
//! bits and partial body lengths below 512 bytes, both of which sequoia's message parser
//! (rightly, per RFC 9580) refuses. The session key opens the SEIPD packet with OpenPGP's
//! CFB mode, and the MDC (SHA-1 over prefix and plaintext) is checked before anything
//! is used.

use std::io::Write;
use std::path::PathBuf;

use sequoia_openpgp as pgp;
use sequoia_openpgp::packet::PKESK;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::policy::StandardPolicy;
use sequoia_openpgp::serialize::stream::{Encryptor, LiteralWriter, Message};
use sequoia_openpgp::types::{Features, SymmetricAlgorithm};

use super::super::error::CryptError;

/// A certificate from the keyring that a recipient string chose.
pub struct Recipient {
    cert: pgp::Cert,
}

/// The certificates in the GnuPG keyring that the recipient strings name.
pub fn resolve(names: &[String]) -> Result<Vec<Recipient>, CryptError> {
    let exported = export_keyring()?;
    let certs: Vec<pgp::Cert> = pgp::cert::CertParser::from_bytes(&exported)
        .map_err(|e| CryptError::Key(format!("PGP: reading the GnuPG keyring: {e}")))?
        .filter_map(Result::ok)
        .collect();
    let mut found: Vec<Recipient> = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        let mut any = false;
        for cert in &certs {
            if names_match(cert, name) {
                any = true;
                if !found
                    .iter()
                    .any(|r| r.cert.fingerprint() == cert.fingerprint())
                {
                    encryption_key(cert)?;
                    found.push(Recipient { cert: cert.clone() });
                }
            }
        }
        if !any {
            missing.push(name.as_str());
        }
    }
    if !missing.is_empty() {
        return Err(CryptError::Key(format!(
            "PGP: No key found for the following recipients: {}",
            missing.join(", ")
        )));
    }
    Ok(found)
}

/// `gpg2 --batch --export`, or `gpg --batch --export` without gpg2 (GNUPGHOME applies).
fn export_keyring() -> Result<Vec<u8>, CryptError> {
    let gpg = ["gpg2", "gpg"]
        .into_iter()
        .find(|g| {
            std::process::Command::new(g)
                .arg("--version")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .ok_or_else(|| {
            CryptError::Key("PGP: gpg is not installed: pgp: recipients need it".into())
        })?;
    let out = std::process::Command::new(gpg)
        .args(["--batch", "--export"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| CryptError::Key(format!("PGP: running {gpg} --export: {e}")))?;
    if !out.status.success() {
        return Err(CryptError::Key(format!(
            "PGP: {gpg} --export failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// ocicrypt's rule: a user ID parsed as an address, whose name or address is `name`.
fn names_match(cert: &pgp::Cert, name: &str) -> bool {
    cert.userids().any(|u| {
        let uid = u.userid();
        uid.name().ok().flatten() == Some(name)
            || uid.email().ok().flatten() == Some(name)
            || uid.value() == name.as_bytes()
    })
}

/// The newest valid encryption-capable key of `cert` (what x/crypto/openpgp picks).
fn encryption_key(
    cert: &pgp::Cert,
) -> Result<
    pgp::packet::Key<pgp::packet::key::PublicParts, pgp::packet::key::UnspecifiedRole>,
    CryptError,
> {
    let policy = StandardPolicy::new();
    let no_key = || {
        CryptError::Key(format!(
            "openpgp: invalid argument: cannot encrypt a message to key id {:x} because it has no encryption keys",
            u64::from_be_bytes(cert.keyid().as_bytes().try_into().unwrap_or([0; 8]))
        ))
    };
    let valid = cert.with_policy(&policy, None).map_err(|_| no_key())?;
    valid
        .keys()
        .supported()
        .alive()
        .revoked(false)
        .for_storage_encryption()
        .for_transport_encryption()
        .max_by_key(|k| k.key().creation_time())
        .map(|k| k.key().clone().role_into_unspecified())
        .ok_or_else(no_key)
}

/// Wraps `payload` for every recipient, in one message.
pub fn wrap(recipients: &[Recipient], payload: &[u8]) -> Result<Vec<u8>, String> {
    let keys = recipients
        .iter()
        .map(|r| encryption_key(&r.cert).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sink = Vec::new();
    let mut run = || -> pgp::Result<()> {
        let targets = keys.iter().map(|k| {
            // SEIPD v1: what x/crypto/openpgp (ocicrypt) can read.
            pgp::serialize::stream::Recipient::new(
                Features::empty().set_seipdv1(),
                pgp::KeyHandle::from(k.keyid()),
                k,
            )
        });
        let message = Message::new(&mut sink);
        let message = Encryptor::for_recipients(message, targets)
            .symmetric_algo(SymmetricAlgorithm::AES256)
            .build()?;
        let mut w = LiteralWriter::new(message).build()?;
        w.write_all(payload)?;
        w.finalize()
    };
    run().map_err(|e| format!("PGP: encrypting: {e}"))?;
    Ok(sink)
}

/// One packet: its tag and its whole body (partial lengths joined).
struct Packet {
    tag: u8,
    body: Vec<u8>,
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if data.len() < n {
        return Err("truncated OpenPGP packet".into());
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

fn be(bytes: &[u8]) -> usize {
    bytes.iter().fold(0, |v, b| (v << 8) | usize::from(*b))
}

/// Reads the next packet (old or new format, any length encoding).
fn next_packet(data: &mut &[u8]) -> Result<Packet, String> {
    let ctb = take(data, 1)?[0];
    if ctb & 0x80 == 0 {
        return Err(format!("not an OpenPGP packet (ctb {ctb:#04x})"));
    }
    if ctb & 0x40 == 0 {
        let tag = (ctb >> 2) & 0x0f;
        let len = match ctb & 3 {
            0 => be(take(data, 1)?),
            1 => be(take(data, 2)?),
            2 => be(take(data, 4)?),
            _ => data.len(),
        };
        let body = take(data, len)?.to_vec();
        return Ok(Packet { tag, body });
    }
    let tag = ctb & 0x3f;
    let mut body = Vec::new();
    loop {
        let o1 = take(data, 1)?[0];
        let (len, last) = match o1 {
            0..=191 => (usize::from(o1), true),
            192..=223 => (
                (usize::from(o1 - 192) << 8) + be(take(data, 1)?) + 192,
                true,
            ),
            255 => (be(take(data, 4)?), true),
            _ => (1usize << (o1 & 0x1f), false),
        };
        body.extend_from_slice(take(data, len)?);
        if last {
            return Ok(Packet { tag, body });
        }
    }
}

fn packets(mut data: &[u8]) -> Result<Vec<Packet>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        out.push(next_packet(&mut data)?);
    }
    Ok(out)
}

/// A v3 PKESK body with its MPIs re-encoded minimally (x/crypto/openpgp counts leading
/// zero bits), parsed by sequoia.
fn pkesk(body: &[u8]) -> Result<PKESK, String> {
    let fixed = match body {
        [3, rest @ ..] if rest.len() > 9 => {
            let (head, mut mpis) = body.split_at(10);
            let count = match head[9] {
                1..=3 => 1,
                16 => 2,
                _ => 0,
            };
            let mut out = head.to_vec();
            for _ in 0..count {
                let bits = be(take(&mut mpis, 2)?);
                let value = take(&mut mpis, bits.div_ceil(8))?;
                let value = &value[value.iter().take_while(|b| **b == 0).count()..];
                let bits = match value.first() {
                    Some(b) => (value.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
                    None => 0,
                };
                out.extend_from_slice(&(bits as u16).to_be_bytes());
                out.extend_from_slice(value);
            }
            out.extend_from_slice(mpis);
            out
        }
        _ => body.to_vec(),
    };
    PKESK::from_bytes(&fixed).map_err(|e| format!("unreadable PKESK packet: {e}"))
}

/// The secret keys of one `--decryption-key` file that can decrypt, unlocked once (an
/// S2K derivation costs ~65 MB of SHA-1 with gpg's defaults).
pub struct SecretKeys {
    path: PathBuf,
    keys: Vec<SecretKey>,
    /// Why a key could not be unlocked.
    locked: Vec<String>,
}

type SecretKey = pgp::packet::Key<pgp::packet::key::SecretParts, pgp::packet::key::UnspecifiedRole>;

impl SecretKeys {
    /// Unlocks the encryption-capable secret keys of `cert` (all of them, if the policy
    /// finds none) with `password`.
    pub fn unlock(cert: &pgp::Cert, password: Option<&[u8]>, path: PathBuf) -> SecretKeys {
        let policy = StandardPolicy::new();
        let mut candidates: Vec<SecretKey> = cert
            .with_policy(&policy, None)
            .map(|valid| {
                valid
                    .keys()
                    .secret()
                    .for_storage_encryption()
                    .for_transport_encryption()
                    .map(|k| k.key().clone().role_into_unspecified())
                    .collect()
            })
            .unwrap_or_default();
        if candidates.is_empty() {
            candidates = cert
                .keys()
                .secret()
                .map(|k| k.key().clone().role_into_unspecified())
                .collect();
        }
        let password = password.map(pgp::crypto::Password::from);
        let mut out = SecretKeys {
            path,
            keys: Vec::new(),
            locked: Vec::new(),
        };
        for key in candidates {
            if key.has_unencrypted_secret() {
                out.keys.push(key);
                continue;
            }
            let keyid = key.keyid();
            match &password {
                None => out.locked.push(format!(
                    "{}: key {keyid} is protected by a passphrase (give it as --decryption-key FILE:PASSPHRASE)",
                    out.path.display()
                )),
                Some(pw) => match key.decrypt_secret(pw) {
                    Ok(k) => out.keys.push(k),
                    Err(_) => out.locked.push(format!(
                        "{}: wrong passphrase for key {keyid}",
                        out.path.display()
                    )),
                },
            }
        }
        out
    }

    /// The unlocked keys `esk` may be for.
    fn keypairs_for(&self, esk: &PKESK) -> impl Iterator<Item = pgp::crypto::KeyPair> + '_ {
        let wanted = esk.recipient();
        self.keys
            .iter()
            .filter(move |key| match &wanted {
                None => true,
                Some(h) => {
                    h.aliases(pgp::KeyHandle::from(key.keyid()))
                        || h.aliases(pgp::KeyHandle::from(key.fingerprint()))
                }
            })
            .filter_map(|key| key.clone().into_keypair().ok())
    }
}

/// The payload of `message`, opened by the first secret key that fits a recipient.
pub fn unwrap(secrets: &[&SecretKeys], message: &[u8]) -> Result<Vec<u8>, String> {
    let packets = packets(message)?;
    let data = packets
        .iter()
        .find(|p| p.tag == 18)
        .ok_or("the OpenPGP message has no integrity-protected data packet (SEIPD)")?;
    for p in packets.iter().filter(|p| p.tag == 1) {
        let Ok(esk) = pkesk(&p.body) else { continue };
        for secret in secrets {
            for mut pair in secret.keypairs_for(&esk) {
                if let Some((algo, key)) = esk.decrypt(&mut pair, None) {
                    return open_seipd(algo, &key, &data.body);
                }
            }
        }
    }
    let mut problems = vec!["PGP: No suitable key found to unwrap key".to_string()];
    problems.extend(secrets.iter().flat_map(|s| s.locked.iter().cloned()));
    Err(problems.join("; "))
}

/// OpenPGP's CFB mode (no resynchronisation: plain CFB with a zero IV) with AES.
fn cfb_decrypt(
    algo: Option<SymmetricAlgorithm>,
    key: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, String> {
    use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
    let iv = [0u8; 16];
    let mut out = data.to_vec();
    let bad = |_| "PGP: bad session key length".to_string();
    match algo {
        Some(SymmetricAlgorithm::AES128) => {
            cfb_mode::Decryptor::<aes::Aes128>::new_from_slices(key, &iv)
                .map_err(bad)?
                .decrypt(&mut out)
        }
        Some(SymmetricAlgorithm::AES192) => {
            cfb_mode::Decryptor::<aes::Aes192>::new_from_slices(key, &iv)
                .map_err(bad)?
                .decrypt(&mut out)
        }
        Some(SymmetricAlgorithm::AES256) => {
            cfb_mode::Decryptor::<aes::Aes256>::new_from_slices(key, &iv)
                .map_err(bad)?
                .decrypt(&mut out)
        }
        other => return Err(format!("PGP: unsupported session cipher {other:?}")),
    }
    Ok(out)
}

/// Decrypts a SEIPD v1 body, checks its MDC and returns the literal data inside.
fn open_seipd(
    algo: Option<SymmetricAlgorithm>,
    key: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let Some((1, encrypted)) = body.split_first().map(|(v, rest)| (*v, rest)) else {
        return Err("PGP: only version 1 SEIPD packets are supported".into());
    };
    let plain = cfb_decrypt(algo, key, encrypted)?;
    let bs = 16;
    let n = plain.len();
    if n < bs + 2 + 22 || plain[bs - 2..bs] != plain[bs..bs + 2] {
        return Err("PGP: session key does not decrypt the data".into());
    }
    let (hashed, mdc) = plain.split_at(n - 20);
    use sha1::Digest as _;
    use subtle::ConstantTimeEq as _;
    let hash = sha1::Sha1::digest(hashed);
    if hashed[n - 22..] != [0xd3, 0x14] || !bool::from(hash.as_slice().ct_eq(mdc)) {
        return Err("PGP: the message's integrity check (MDC) failed".into());
    }
    literal(&plain[bs + 2..n - 22], 0)
}

/// The data of the literal packet in `data` (inside at most one compressed packet).
fn literal(data: &[u8], depth: u8) -> Result<Vec<u8>, String> {
    for p in packets(data)? {
        match p.tag {
            11 => {
                let b = &p.body;
                let name_len = usize::from(*b.get(1).ok_or("short literal packet")?);
                let start = 2 + name_len + 4;
                return b
                    .get(start..)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| "short literal packet".into());
            }
            8 if depth == 0 => {
                let (algo, rest) = p.body.split_first().ok_or("empty compressed packet")?;
                let mut out = Vec::new();
                use std::io::Read;
                match algo {
                    0 => out.extend_from_slice(rest),
                    1 => flate2::read::DeflateDecoder::new(rest)
                        .read_to_end(&mut out)
                        .map(drop)
                        .map_err(|e| e.to_string())?,
                    2 => flate2::read::ZlibDecoder::new(rest)
                        .read_to_end(&mut out)
                        .map(drop)
                        .map_err(|e| e.to_string())?,
                    other => return Err(format!("PGP: unsupported compression {other}")),
                }
                return literal(&out, 1);
            }
            _ => {}
        }
    }
    Err("PGP: the message holds no literal data".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_unwraps_for_a_sequoia_key() {
        use pgp::cert::CertBuilder;
        let (cert, _) = CertBuilder::general_purpose(Some("Test <t@example.com>"))
            .set_password(Some("pw".into()))
            .generate()
            .unwrap();
        let recipient = Recipient {
            cert: cert.clone().strip_secret_key_material(),
        };
        let message = wrap(&[recipient], b"the options").unwrap();
        let secret = |password: Option<&str>| {
            SecretKeys::unlock(&cert, password.map(str::as_bytes), "k.gpg".into())
        };
        let good = secret(Some("pw"));
        assert_eq!(unwrap(&[&good], &message).unwrap(), b"the options");
        let err = unwrap(&[&secret(None)], &message).unwrap_err();
        assert!(err.contains("protected by a passphrase"), "{err}");
        let err = unwrap(&[&secret(Some("wrong"))], &message).unwrap_err();
        assert!(err.contains("wrong passphrase"), "{err}");
        let mut tampered = message.clone();
        let last = tampered.len() - 5;
        tampered[last] ^= 1;
        assert!(unwrap(&[&good], &tampered).is_err());
    }

    #[test]
    fn reads_old_and_new_format_lengths_and_joins_partial_bodies() {
        // New format, partial lengths of 128 (0xe7) as x/crypto/openpgp writes, then 3 bytes.
        let mut msg = vec![0xcb, 0xe7];
        msg.extend(vec![b'a'; 128]);
        msg.extend([3, b'x', b'y', b'z']);
        // Old format, tag 11, one-byte length.
        msg.extend([0x80 | (11 << 2), 2, b'o', b'k']);
        let p = packets(&msg).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].tag, p[0].body.len()), (11, 131));
        assert_eq!(&p[0].body[128..], b"xyz");
        assert_eq!((p[1].tag, p[1].body.as_slice()), (11, &b"ok"[..]));
        assert!(packets(&[0xcb, 10, 1]).is_err());
    }

    #[test]
    fn literal_data_is_found_inside_compression() {
        let lit = |data: &[u8]| {
            let mut b = vec![b'b', 0, 0, 0, 0, 0];
            b.extend_from_slice(data);
            let mut p = vec![0xcb, b.len() as u8];
            p.extend(b);
            p
        };
        assert_eq!(literal(&lit(b"opts"), 0).unwrap(), b"opts");
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&lit(b"zipped")).unwrap();
        let mut body = vec![2];
        body.extend(z.finish().unwrap());
        let mut compressed = vec![0xc8, body.len() as u8];
        compressed.extend(body);
        assert_eq!(literal(&compressed, 0).unwrap(), b"zipped");
    }
}
