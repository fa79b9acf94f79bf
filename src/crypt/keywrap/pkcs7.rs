//! The `pkcs7` key wrapper: a CMS/PKCS#7 EnvelopedData as go.mozilla.org/pkcs7 writes it
//! (ocicrypt sets its content cipher to AES-128-GCM): one RecipientInfo (version 0,
//! issuer and serial, rsaEncryption with PKCS#1 v1.5) per certificate, the content
//! encrypted with a random 16-byte key and 12-byte nonce, ciphertext then tag in one
//! OCTET STRING inside `[0]`.
//!
//! Go's quirk, kept both ways because Go insists on it: the GCM parameters are a
//! primitive tag 0x10 wrapping `SEQUENCE { [4] IMPLICIT nonce, INTEGER 16 }`, the nonce
//! tagged 0x84 (OpenSSL's CMS parser refuses that; Go refuses a plain 0x04).

use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Padding;
use openssl::symm::{Cipher, decrypt, decrypt_aead, encrypt_aead};

use super::der::{self, Reader};

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
    key: PKey<Public>,
}

impl Certificate {
    /// A certificate in DER or PEM; `None` if `data` is not one.
    pub fn parse(data: &[u8]) -> Option<Certificate> {
        let x509 = openssl::x509::X509::from_der(data)
            .or_else(|_| openssl::x509::X509::from_pem(data))
            .ok()?;
        let der = x509.to_der().ok()?;
        let issuer_and_serial = issuer_and_serial(&der).ok()?;
        Some(Certificate {
            issuer_and_serial,
            key: x509.public_key().ok()?,
        })
    }
}

/// `SEQUENCE { issuer, serialNumber }` of a certificate, as Go compares them (raw bytes).
fn issuer_and_serial(cert: &[u8]) -> Result<Vec<u8>, String> {
    let outer = Reader::new(cert).expect(der::SEQUENCE, "certificate")?;
    let tbs = Reader::new(outer.content).expect(der::SEQUENCE, "tbsCertificate")?;
    let mut fields = Reader::new(tbs.content);
    let mut serial = fields.next()?;
    if serial.tag == 0xa0 {
        // [0] EXPLICIT version
        serial = fields.next()?;
    }
    if serial.tag != der::INTEGER {
        return Err("certificate: no serial number".into());
    }
    let _signature = fields.expect(der::SEQUENCE, "signature algorithm")?;
    let issuer = fields.expect(der::SEQUENCE, "issuer")?;
    Ok(der::cons(der::SEQUENCE, &[issuer.raw, serial.raw]))
}

/// Wraps `payload` for every certificate.
pub fn wrap(certs: &[Certificate], payload: &[u8]) -> Result<Vec<u8>, String> {
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    openssl::rand::rand_bytes(&mut cek).map_err(|e| e.to_string())?;
    openssl::rand::rand_bytes(&mut nonce).map_err(|e| e.to_string())?;
    let mut tag = [0u8; 16];
    let sealed = encrypt_aead(
        Cipher::aes_128_gcm(),
        &cek,
        Some(&nonce),
        &[],
        payload,
        &mut tag,
    );
    let mut recipients = Vec::new();
    for cert in certs {
        let rsa = cert
            .key
            .rsa()
            .map_err(|_| "PKCS7: only RSA certificates can be recipients".to_string())?;
        let mut wrapped = vec![0u8; rsa.size() as usize];
        let n = rsa
            .public_encrypt(&cek, &mut wrapped, Padding::PKCS1)
            .map_err(|e| e.to_string())?;
        wrapped.truncate(n);
        recipients.push(der::cons(
            der::SEQUENCE,
            &[
                &der::small_int(0),
                &cert.issuer_and_serial,
                &der::cons(der::SEQUENCE, &[&der::oid(RSA_ENCRYPTION)]),
                &der::tlv(der::OCTET_STRING, &wrapped),
            ],
        ));
    }
    super::super::options::wipe(&mut cek);
    let mut content = sealed.map_err(|e| e.to_string())?;
    content.extend_from_slice(&tag);
    let params = der::cons(
        der::SEQUENCE,
        &[&der::tlv(0x84, &nonce), &der::small_int(16)],
    );
    let algorithm = der::cons(
        der::SEQUENCE,
        &[&der::oid(AES128_GCM), &der::tlv(0x10, &params)],
    );
    let encrypted_content_info = der::cons(
        der::SEQUENCE,
        &[
            &der::oid(DATA),
            &algorithm,
            &der::cons(0xa0, &[&der::tlv(der::OCTET_STRING, &content)]),
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
    params: Option<der::Tlv<'a>>,
    content: Vec<u8>,
}

fn parse(data: &[u8]) -> Result<Envelope<'_>, String> {
    let info = Reader::new(data).expect(der::SEQUENCE, "ContentInfo")?;
    let mut r = Reader::new(info.content);
    let kind = r.expect(der::OID, "content type")?;
    if kind.raw != der::oid(ENVELOPED_DATA) {
        return Err("not a PKCS7 EnvelopedData".into());
    }
    let explicit = r.expect(0xa0, "content")?;
    let enveloped = Reader::new(explicit.content).expect(der::SEQUENCE, "EnvelopedData")?;
    let mut r = Reader::new(enveloped.content);
    let _version = r.expect(der::INTEGER, "version")?;
    let set = r.expect(der::SET, "recipientInfos")?;
    let mut recipients = Vec::new();
    let mut infos = Reader::new(set.content);
    while !infos.is_empty() {
        let info = infos.expect(der::SEQUENCE, "RecipientInfo")?;
        let mut f = Reader::new(info.content);
        let _version = f.expect(der::INTEGER, "RecipientInfo version")?;
        let id = f.expect(der::SEQUENCE, "issuerAndSerialNumber")?;
        let _alg = f.expect(der::SEQUENCE, "keyEncryptionAlgorithm")?;
        let key = f.expect(der::OCTET_STRING, "encryptedKey")?;
        recipients.push((id.raw, key.content));
    }
    let eci = r.expect(der::SEQUENCE, "EncryptedContentInfo")?;
    let mut r = Reader::new(eci.content);
    let _type = r.expect(der::OID, "content type")?;
    let alg = r.expect(der::SEQUENCE, "contentEncryptionAlgorithm")?;
    let mut a = Reader::new(alg.content);
    let algorithm = a.expect(der::OID, "content cipher")?.raw;
    let params = (!a.is_empty()).then(|| a.next()).transpose()?;
    let encrypted = r.next()?;
    let content = match encrypted.tag {
        // [0] IMPLICIT OCTET STRING, primitive...
        0x80 => encrypted.content.to_vec(),
        // ...or constructed from OCTET STRING pieces (Go's form).
        0xa0 => {
            let mut out = Vec::new();
            let mut pieces = Reader::new(encrypted.content);
            while !pieces.is_empty() {
                out.extend_from_slice(pieces.expect(der::OCTET_STRING, "content")?.content);
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
    keys: &[&PKey<Private>],
    certs: &[Certificate],
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let env = parse(data).map_err(|e| format!("could not parse PKCS7 packet: {e}"))?;
    let mut tried = 0;
    for key in keys {
        let Ok(rsa) = key.rsa() else { continue };
        for (id, wrapped) in &env.recipients {
            let named = certs
                .iter()
                .any(|c| c.issuer_and_serial == *id && c.key.public_eq(key));
            if !certs.is_empty() && !named {
                continue;
            }
            tried += 1;
            let mut cek = vec![0u8; rsa.size() as usize];
            let Ok(n) = rsa.private_decrypt(wrapped, &mut cek, Padding::PKCS1) else {
                continue;
            };
            cek.truncate(n);
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
    let gcm = if alg == der::oid(AES128_GCM) {
        Some(Cipher::aes_128_gcm())
    } else if alg == der::oid(AES256_GCM) {
        Some(Cipher::aes_256_gcm())
    } else {
        None
    };
    if let Some(cipher) = gcm {
        let (nonce, tag_len) = gcm_params(env.params)?;
        if env.content.len() < tag_len {
            return Err("content shorter than its tag".into());
        }
        let (body, tag) = env.content.split_at(env.content.len() - tag_len);
        return decrypt_aead(cipher, cek, Some(nonce), &[], body, tag).map_err(|e| e.to_string());
    }
    let cbc = if alg == der::oid(AES128_CBC) {
        Cipher::aes_128_cbc()
    } else if alg == der::oid(AES256_CBC) {
        Cipher::aes_256_cbc()
    } else if alg == der::oid(DES_EDE3_CBC) {
        Cipher::des_ede3_cbc()
    } else {
        return Err("unsupported content encryption algorithm".into());
    };
    let iv = env
        .params
        .filter(|p| p.tag == der::OCTET_STRING)
        .ok_or("CBC parameters are not an IV")?;
    decrypt(cbc, cek, Some(iv.content), &env.content).map_err(|e| e.to_string())
}

/// The nonce and tag length of GCM parameters, in Go's wrapping (tag 0x10) or plain DER.
fn gcm_params<'a>(params: Option<der::Tlv<'a>>) -> Result<(&'a [u8], usize), String> {
    let p = params.ok_or("GCM without parameters")?;
    let seq = match p.tag {
        0x10 => Reader::new(p.content).expect(der::SEQUENCE, "GCM parameters")?,
        der::SEQUENCE => p,
        other => return Err(format!("unexpected GCM parameters tag {other:#04x}")),
    };
    let mut r = Reader::new(seq.content);
    let nonce = r.next()?;
    if nonce.tag != 0x84 && nonce.tag != der::OCTET_STRING {
        return Err("GCM parameters have no nonce".into());
    }
    let tag_len = match r.is_empty() {
        true => 12,
        false => {
            let t = r.expect(der::INTEGER, "ICV length")?;
            t.content
                .iter()
                .fold(0usize, |v, b| (v << 8) | usize::from(*b))
        }
    };
    if !(12..=16).contains(&tag_len) {
        return Err(format!("unsupported GCM tag length {tag_len}"));
    }
    Ok((nonce.content, tag_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_and_key() -> (Certificate, PKey<Private>) {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "skiff test").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        let serial = openssl::bn::BigNum::from_u32(0x8123_4567).unwrap();
        b.set_serial_number(&serial.to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        let pem = b.build().to_pem().unwrap();
        (Certificate::parse(&pem).unwrap(), key)
    }

    #[test]
    fn wraps_for_several_recipients_in_gos_layout() {
        let (c1, k1) = cert_and_key();
        let (c2, k2) = cert_and_key();
        let (_, stranger) = cert_and_key();
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
        let (c1, k1) = cert_and_key();
        let (c2, _) = cert_and_key();
        let wrapped = wrap(std::slice::from_ref(&c1), b"secret").unwrap();
        assert_eq!(unwrap(&[&k1], &[c1], &wrapped).unwrap(), b"secret");
        let err = unwrap(&[&k1], &[c2], &wrapped).unwrap_err();
        assert!(err.contains("no enveloped recipient"), "{err}");
    }
}
