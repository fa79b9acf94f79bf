//! The `pkcs7` key wrapper: a CMS/PKCS#7 EnvelopedData as go.mozilla.org/pkcs7 writes it
//! (ocicrypt sets its content cipher to AES-128-GCM): one RecipientInfo (version 0,
//! issuer and serial, rsaEncryption with PKCS#1 v1.5) per certificate, the content
//! encrypted with a random 16-byte key and 12-byte nonce, ciphertext then tag in one
//! OCTET STRING inside `[0]`.
//!
//! Go's quirk, kept both ways because Go insists on it: the GCM parameters are a
//! primitive tag 0x10 wrapping `SEQUENCE { [4] IMPLICIT nonce, INTEGER 16 }`, the nonce
//! tagged 0x84 (OpenSSL's CMS parser refuses that; Go refuses a plain 0x04).

use aes_gcm::aead::{Aead, KeyInit};
use cbc::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use rand_core::{OsRng, RngCore};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};

use super::super::keyfile;
use crate::der::{self, DerError, Reader, Tlv};

const ENVELOPED_DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 3];
const DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 1];
const RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const AES128_GCM: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 6];
const AES256_GCM: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 46];
const AES128_CBC: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 2];
const AES256_CBC: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 42];
const DES_EDE3_CBC: &[u64] = &[1, 2, 840, 113549, 3, 7];

/// A recipient's certificate: what a RecipientInfo names, and its public key.
pub struct Certificate {
    /// `SEQUENCE { issuer, serialNumber }`, from the certificate's own bytes.
    issuer_and_serial: Vec<u8>,
    /// Only RSA keys can be recipients (PKCS#1 v1.5 key transport, as Go's pkcs7).
    key: Option<RsaPublicKey>,
}

impl Certificate {
    /// A certificate in DER or PEM; `None` if `data` is not one.
    pub fn parse(data: &[u8]) -> Option<Certificate> {
        if let Some(c) = Certificate::from_der(data) {
            return Some(c);
        }
        keyfile::pem_blocks(data)
            .iter()
            .filter(|b| b.label == "CERTIFICATE")
            .find_map(|b| Certificate::from_der(&b.der))
    }

    /// Whether it can be a recipient (Go's pkcs7 transports keys with RSA only).
    pub fn has_rsa_key(&self) -> bool {
        self.key.is_some()
    }

    fn from_der(der: &[u8]) -> Option<Certificate> {
        let (issuer_and_serial, spki) = certificate_fields(der).ok()?;
        Some(Certificate {
            issuer_and_serial,
            key: RsaPublicKey::from_public_key_der(spki).ok(),
        })
    }
}

/// `SEQUENCE { issuer, serialNumber }` of a certificate (raw bytes, as Go compares them)
/// and its SubjectPublicKeyInfo.
fn certificate_fields(cert: &[u8]) -> Result<(Vec<u8>, &[u8]), String> {
    let mut whole = Reader::lenient(cert);
    let outer = expect(&mut whole, der::SEQUENCE, "certificate")?;
    if !whole.is_empty() {
        return Err("certificate: trailing data".into());
    }
    let mut parts = Reader::lenient(outer.value);
    let tbs = expect(&mut parts, der::SEQUENCE, "tbsCertificate")?;
    let _algorithm = expect(&mut parts, der::SEQUENCE, "signatureAlgorithm")?;
    let mut fields = Reader::lenient(tbs.value);
    let mut serial = next(&mut fields)?;
    if serial.tag == 0xa0 {
        // [0] EXPLICIT version
        serial = next(&mut fields)?;
    }
    if serial.tag != der::INTEGER {
        return Err("certificate: no serial number".into());
    }
    let _signature = expect(&mut fields, der::SEQUENCE, "signature algorithm")?;
    let issuer = expect(&mut fields, der::SEQUENCE, "issuer")?;
    let _validity = expect(&mut fields, der::SEQUENCE, "validity")?;
    let _subject = expect(&mut fields, der::SEQUENCE, "subject")?;
    let spki = expect(&mut fields, der::SEQUENCE, "subjectPublicKeyInfo")?;
    Ok((
        der::cons(der::SEQUENCE, &[issuer.raw, serial.raw]),
        spki.raw,
    ))
}

/// Wraps `payload` for every certificate.
pub fn wrap(certs: &[Certificate], payload: &[u8]) -> Result<Vec<u8>, String> {
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut cek);
    OsRng.fill_bytes(&mut nonce);
    let sealed = aes_gcm::Aes128Gcm::new(&cek.into()).encrypt(&nonce.into(), payload);
    let mut recipients = Vec::new();
    for cert in certs {
        let rsa = cert
            .key
            .as_ref()
            .ok_or_else(|| "PKCS7: only RSA certificates can be recipients".to_string())?;
        let wrapped = rsa
            .encrypt(&mut OsRng, Pkcs1v15Encrypt, &cek)
            .map_err(|e| e.to_string())?;
        recipients.push(der::cons(
            der::SEQUENCE,
            &[
                &der::small_int(0),
                &cert.issuer_and_serial,
                &der::cons(der::SEQUENCE, &[&der::oid(RSA_ENCRYPTION)]),
                &der::encode(der::OCTET_STRING, &wrapped),
            ],
        ));
    }
    super::super::options::wipe(&mut cek);
    // Ciphertext then tag, as Go's pkcs7 stores them.
    let content = sealed.map_err(|_| "PKCS7: encrypting failed".to_string())?;
    let params = der::cons(
        der::SEQUENCE,
        &[&der::encode(0x84, &nonce), &der::small_int(16)],
    );
    let algorithm = der::cons(
        der::SEQUENCE,
        &[&der::oid(AES128_GCM), &der::encode(0x10, &params)],
    );
    let encrypted_content_info = der::cons(
        der::SEQUENCE,
        &[
            &der::oid(DATA),
            &algorithm,
            &der::cons(0xa0, &[&der::encode(der::OCTET_STRING, &content)]),
        ],
    );
    let recipient_refs: Vec<&[u8]> = recipients.iter().map(Vec::as_slice).collect();
    let enveloped = der::cons(
        der::SEQUENCE,
        &[
            &der::small_int(0),
            &der::cons(der::SET, &recipient_refs),
            &encrypted_content_info,
        ],
    );
    Ok(der::cons(
        der::SEQUENCE,
        &[&der::oid(ENVELOPED_DATA), &der::cons(0xa0, &[&enveloped])],
    ))
}

/// The parts of an EnvelopedData that decryption needs.
struct Envelope<'a> {
    /// (issuer and serial, wrapped content key) per recipient.
    recipients: Vec<(&'a [u8], &'a [u8])>,
    algorithm: &'a [u8],
    params: Option<Tlv<'a>>,
    content: Vec<u8>,
}

fn parse(data: &[u8]) -> Result<Envelope<'_>, String> {
    let info = expect(&mut Reader::lenient(data), der::SEQUENCE, "ContentInfo")?;
    let mut r = Reader::lenient(info.value);
    let kind = expect(&mut r, der::OID, "content type")?;
    if kind.raw != der::oid(ENVELOPED_DATA) {
        return Err("not a PKCS7 EnvelopedData".into());
    }
    let explicit = expect(&mut r, 0xa0, "content")?;
    let enveloped = expect(
        &mut Reader::lenient(explicit.value),
        der::SEQUENCE,
        "EnvelopedData",
    )?;
    let mut r = Reader::lenient(enveloped.value);
    let _version = expect(&mut r, der::INTEGER, "version")?;
    let set = expect(&mut r, der::SET, "recipientInfos")?;
    let mut recipients = Vec::new();
    let mut infos = Reader::lenient(set.value);
    while !infos.is_empty() {
        let info = expect(&mut infos, der::SEQUENCE, "RecipientInfo")?;
        let mut f = Reader::lenient(info.value);
        let _version = expect(&mut f, der::INTEGER, "RecipientInfo version")?;
        let id = expect(&mut f, der::SEQUENCE, "issuerAndSerialNumber")?;
        let _alg = expect(&mut f, der::SEQUENCE, "keyEncryptionAlgorithm")?;
        let key = expect(&mut f, der::OCTET_STRING, "encryptedKey")?;
        recipients.push((id.raw, key.value));
    }
    let eci = expect(&mut r, der::SEQUENCE, "EncryptedContentInfo")?;
    let mut r = Reader::lenient(eci.value);
    let _type = expect(&mut r, der::OID, "content type")?;
    let alg = expect(&mut r, der::SEQUENCE, "contentEncryptionAlgorithm")?;
    let mut a = Reader::lenient(alg.value);
    let algorithm = expect(&mut a, der::OID, "content cipher")?.raw;
    let params = (!a.is_empty()).then(|| next(&mut a)).transpose()?;
    let encrypted = next(&mut r)?;
    let content = match encrypted.tag {
        // [0] IMPLICIT OCTET STRING, primitive...
        0x80 => encrypted.value.to_vec(),
        // ...or constructed from OCTET STRING pieces (Go's form).
        0xa0 => {
            let mut out = Vec::new();
            let mut pieces = Reader::lenient(encrypted.value);
            while !pieces.is_empty() {
                out.extend_from_slice(expect(&mut pieces, der::OCTET_STRING, "content")?.value);
            }
            out
        }
        other => return Err(format!("unexpected encryptedContent tag {other:#04x}")),
    };
    Ok(Envelope {
        recipients,
        algorithm,
        params,
        content,
    })
}

/// Unwraps with the first key that opens a RecipientInfo: matched by certificate when
/// certificates were given (as Go requires), else every RSA key against every recipient.
pub fn unwrap(
    keys: &[&RsaPrivateKey],
    certs: &[Certificate],
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let env = parse(data).map_err(|e| format!("could not parse PKCS7 packet: {e}"))?;
    let mut tried = 0;
    for key in keys {
        for (id, wrapped) in &env.recipients {
            let named = certs
                .iter()
                .any(|c| c.issuer_and_serial == *id && c.key.as_ref() == Some(key.as_ref()));
            if !certs.is_empty() && !named {
                continue;
            }
            tried += 1;
            let Ok(mut cek) = key.decrypt(Pkcs1v15Encrypt, wrapped) else {
                continue;
            };
            let opened = open(&env, &cek);
            super::super::options::wipe(&mut cek);
            if let Ok(plain) = opened {
                return Ok(plain);
            }
        }
    }
    Err(if tried == 0 {
        "PKCS7: no enveloped recipient for the provided certificates and keys".into()
    } else {
        "PKCS7: No suitable private key found for decryption".into()
    })
}

/// Decrypts the content with the content key.
fn open(env: &Envelope<'_>, cek: &[u8]) -> Result<Vec<u8>, String> {
    let alg = env.algorithm;
    let fail = |_| "PKCS7: decrypting the content failed".to_string();
    if alg == der::oid(AES128_GCM) || alg == der::oid(AES256_GCM) {
        let (nonce, tag_len) = gcm_params(env.params)?;
        if nonce.len() != 12 || tag_len != 16 {
            return Err(format!(
                "unsupported GCM nonce/tag length {}/{tag_len}",
                nonce.len()
            ));
        }
        let nonce = aes_gcm::Nonce::from_slice(nonce);
        let content = env.content.as_slice();
        return if alg == der::oid(AES128_GCM) {
            aes_gcm::Aes128Gcm::new_from_slice(cek)
                .map_err(|_| "bad content key length".to_string())?
                .decrypt(nonce, content)
                .map_err(fail)
        } else {
            aes_gcm::Aes256Gcm::new_from_slice(cek)
                .map_err(|_| "bad content key length".to_string())?
                .decrypt(nonce, content)
                .map_err(fail)
        };
    }
    let iv = env
        .params
        .filter(|p| p.tag == der::OCTET_STRING)
        .ok_or("CBC parameters are not an IV")?
        .value;
    let bad_key = |_| "bad content key or IV length".to_string();
    let unpad = |_| "PKCS7: decrypting the content failed".to_string();
    let data = &env.content;
    if alg == der::oid(AES128_CBC) {
        cbc::Decryptor::<aes::Aes128>::new_from_slices(cek, iv)
            .map_err(bad_key)?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(unpad)
    } else if alg == der::oid(AES256_CBC) {
        cbc::Decryptor::<aes::Aes256>::new_from_slices(cek, iv)
            .map_err(bad_key)?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(unpad)
    } else if alg == der::oid(DES_EDE3_CBC) {
        cbc::Decryptor::<des::TdesEde3>::new_from_slices(cek, iv)
            .map_err(bad_key)?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(unpad)
    } else {
        Err("unsupported content encryption algorithm".into())
    }
}

/// The nonce and tag length of GCM parameters, in Go's wrapping (tag 0x10) or plain DER.
fn gcm_params<'a>(params: Option<Tlv<'a>>) -> Result<(&'a [u8], usize), String> {
    let p = params.ok_or("GCM without parameters")?;
    let seq = match p.tag {
        0x10 => expect(
            &mut Reader::lenient(p.value),
            der::SEQUENCE,
            "GCM parameters",
        )?,
        der::SEQUENCE => p,
        other => return Err(format!("unexpected GCM parameters tag {other:#04x}")),
    };
    let mut r = Reader::lenient(seq.value);
    let nonce = next(&mut r)?;
    if nonce.tag != 0x84 && nonce.tag != der::OCTET_STRING {
        return Err("GCM parameters have no nonce".into());
    }
    let tag_len = match r.is_empty() {
        true => 12,
        false => {
            let t = expect(&mut r, der::INTEGER, "ICV length")?;
            t.value
                .iter()
                .fold(0usize, |v, b| (v << 8) | usize::from(*b))
        }
    };
    if !(12..=16).contains(&tag_len) {
        return Err(format!("unsupported GCM tag length {tag_len}"));
    }
    Ok((nonce.value, tag_len))
}

/// The next element, in this reader's wording of DER errors.
fn next<'a>(r: &mut Reader<'a>) -> Result<Tlv<'a>, String> {
    r.any().map_err(describe)
}

/// The next element, which must have `tag`; errors name `what` was expected.
fn expect<'a>(r: &mut Reader<'a>, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
    r.expect(tag)
        .map_err(|e| format!("{what}: {}", describe(e)))
}

/// PKCS#7 parse errors keep their own wording (not sigstore's `malformed DER: …`).
fn describe(e: DerError) -> String {
    match e {
        DerError::End => "unexpected end of data".into(),
        DerError::HighTag(tag) => format!("multi-byte tag {tag:#x} not supported"),
        DerError::NoLength => "truncated length".into(),
        DerError::BadLength | DerError::NonMinimalLength => {
            "unsupported or truncated length".into()
        }
        DerError::Truncated(len) => format!("element of {len} bytes is truncated"),
        DerError::UnexpectedTag { expected, found } => {
            format!("expected tag {expected:#04x}, found {found:#04x}")
        }
        DerError::TrailingData => "trailing data".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate: its DER built by hand, signed with a dummy signature
    /// (only the recipient fields and the key matter here).
    fn cert_and_key(i: usize) -> (Certificate, RsaPrivateKey) {
        use rsa::pkcs8::EncodePublicKey;
        let key = super::super::super::test_keys::rsa(i);
        let spki = key.to_public_key().to_public_key_der().unwrap();
        let mut serial = [0u8; 8];
        OsRng.fill_bytes(&mut serial);
        serial[0] &= 0x7f;
        let name = der::cons(
            der::SEQUENCE,
            &[&der::cons(
                der::SET,
                &[&der::cons(
                    der::SEQUENCE,
                    &[&der::oid(&[2, 5, 4, 3]), &der::encode(0x0c, b"skiff test")],
                )],
            )],
        );
        let sha256_rsa = der::cons(der::SEQUENCE, &[&der::oid(&[1, 2, 840, 113549, 1, 1, 11])]);
        let time = der::encode(0x17, b"250101000000Z");
        let tbs = der::cons(
            der::SEQUENCE,
            &[
                &der::cons(0xa0, &[&der::small_int(2)]),
                &der::encode(der::INTEGER, &serial),
                &sha256_rsa,
                &name,
                &der::cons(der::SEQUENCE, &[&time, &time]),
                &name,
                spki.as_bytes(),
            ],
        );
        let cert = der::cons(
            der::SEQUENCE,
            &[&tbs, &sha256_rsa, &der::encode(0x03, &[0, 1, 2])],
        );
        (Certificate::parse(&cert).unwrap(), key)
    }

    #[test]
    fn wraps_for_several_recipients_in_gos_layout() {
        let (c1, k1) = cert_and_key(0);
        let (c2, k2) = cert_and_key(1);
        let (_, stranger) = cert_and_key(2);
        let payload = br#"{"symkey":"x"}"#;
        let wrapped = wrap(&[c1, c2], payload).unwrap();
        // The Go GCM parameter form: 0x10 wrapper, nonce tagged 0x84, ICV length 16.
        let at = wrapped
            .windows(4)
            .position(|w| w == [0x10, 0x13, 0x30, 0x11])
            .expect("Go's GCM parameter wrapping");
        assert_eq!(wrapped[at + 4..at + 6], [0x84, 0x0c]);
        assert!(Certificate::parse(b"not a certificate").is_none());
        assert_eq!(unwrap(&[&k2], &[], &wrapped).unwrap(), payload);
        assert_eq!(unwrap(&[&k1], &[], &wrapped).unwrap(), payload);
        assert!(unwrap(&[&stranger], &[], &wrapped).is_err());
    }

    #[test]
    fn certificates_select_the_recipient() {
        let (c1, k1) = cert_and_key(0);
        let (c2, _) = cert_and_key(1);
        let wrapped = wrap(std::slice::from_ref(&c1), b"secret").unwrap();
        assert_eq!(unwrap(&[&k1], &[c1], &wrapped).unwrap(), b"secret");
        let err = unwrap(&[&k1], &[c2], &wrapped).unwrap_err();
        assert!(err.contains("no enveloped recipient"), "{err}");
    }

    #[test]
    fn parse_errors_keep_their_wording() {
        let err = |data: &[u8]| unwrap(&[], &[], data).unwrap_err();
        assert_eq!(
            err(&[0x30, 0x05, 0x01]),
            "could not parse PKCS7 packet: ContentInfo: element of 5 bytes is truncated"
        );
        assert_eq!(
            err(&[0x31, 0x00]),
            "could not parse PKCS7 packet: ContentInfo: expected tag 0x30, found 0x31"
        );
        assert_eq!(
            err(&[]),
            "could not parse PKCS7 packet: ContentInfo: unexpected end of data"
        );
    }
}
