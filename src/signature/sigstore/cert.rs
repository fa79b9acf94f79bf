//! X.509 checks shared by the `fulcio` and `pki` policies, as c/image does them with
//! Go's x509: a leaf certificate (exactly one in its PEM) chains to the trusted roots at
//! a given time for code signing, through untrusted intermediates; then its subject
//! (email, hostname) and key. The chain is webpki's job (the same code that checks TLS
//! servers); the DER fields it does not expose are read here.

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::keys::PublicKey;
use super::oids;
use super::pem;
use crate::der::{self, Reader};
use crate::policy::json::go_quote;

/// Go's `CertPool.AppendCertsFromPEM`: every usable `CERTIFICATE` block, DER.
pub fn cert_pool(pem_data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = pem_data;
    while let Some((block, after)) = pem::decode(rest) {
        rest = after;
        if block.label == "CERTIFICATE"
            && webpki::anchor_from_trusted_cert(&CertificateDer::from(block.bytes.as_slice()))
                .is_ok()
        {
            out.push(block.bytes);
        }
    }
    out
}

/// The intermediates a signature carries (its chain annotation), less the last
/// certificate, the root, which must come from the policy instead.
pub fn untrusted_intermediates(chain_pem: Option<&[u8]>) -> Result<Vec<Vec<u8>>, String> {
    let Some(chain) = chain_pem.filter(|c| !c.is_empty()) else {
        return Ok(Vec::new());
    };
    let certs =
        pem::decode_all(chain).ok_or("loading certificate chain: error during PEM decoding")?;
    let keep = certs.len().saturating_sub(1);
    Ok(certs.into_iter().take(keep).map(|b| b.bytes).collect())
}

/// Go's `Certificate.Verify` with `KeyUsages: [CodeSigning]` at `time` (seconds).
pub fn verify_chain(
    roots: &[Vec<u8>],
    intermediates: &[Vec<u8>],
    leaf: &[u8],
    time: i64,
) -> Result<(), String> {
    let leaf_der = CertificateDer::from(leaf);
    let end_entity = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| format!("parsing leaf certificate: {}", go_x509_error(&e)))?;
    let anchors: Vec<_> = roots
        .iter()
        .filter_map(|c| {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(c.as_slice()))
                .ok()
                .map(|a| a.to_owned())
        })
        .collect();
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(time.max(0) as u64));
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            at,
            // Go accepts a certificate without an EKU extension for any usage.
            webpki::KeyUsage::required_if_present(oids::CODE_SIGNING),
            None,
            None,
        )
        .map(drop)
        .map_err(|e| format!("veryfing leaf certificate failed: {}", go_x509_error(&e)))
}

/// Go's `Certificate.VerifyHostname` for a DNS name (or IP address).
pub fn verify_hostname(leaf: &[u8], hostname: &str) -> Result<(), String> {
    let leaf_der = CertificateDer::from(leaf);
    let end_entity = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| format!("parsing leaf certificate: {}", go_x509_error(&e)))?;
    let name = ServerName::try_from(hostname)
        .map_err(|_| format!("x509: certificate is not valid for {hostname}"))?;
    end_entity
        .verify_is_valid_for_subject_name(&name)
        .map_err(|_| format!("x509: certificate is valid for other names, not {hostname}"))
}

/// `parseLeafCertFromPEM`: exactly one certificate.
pub fn parse_leaf(cert_pem: &[u8]) -> Result<Vec<u8>, String> {
    let blocks =
        pem::decode_all(cert_pem).ok_or("parsing leaf certificate: error during PEM decoding")?;
    let mut blocks = blocks.into_iter();
    match (blocks.next(), blocks.next()) {
        (None, _) => Err("no certificate found in signature certificate data".into()),
        (Some(b), None) => Ok(b.bytes),
        (Some(_), Some(_)) => {
            Err("unexpected multiple certificates present in signature certificate data".into())
        }
    }
}

/// `time.Unix(secs, 0).UTC().Format(time.RFC3339)`.
fn rfc3339(secs: u64) -> String {
    crate::gotime::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX), 0)
}

/// Go's x509 wording for webpki's findings, where there is an equivalent.
fn go_x509_error(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::CertExpired { time, not_after } => format!(
            "x509: certificate has expired or is not yet valid: current time {} is after {}",
            rfc3339(time.as_secs()),
            rfc3339(not_after.as_secs())
        ),
        E::CertNotValidYet { time, not_before } => format!(
            "x509: certificate has expired or is not yet valid: current time {} is before {}",
            rfc3339(time.as_secs()),
            rfc3339(not_before.as_secs())
        ),
        E::UnknownIssuer | E::InvalidSignatureForPublicKey => {
            "x509: certificate signed by unknown authority".into()
        }
        E::RequiredEkuNotFoundContext(_) => {
            "x509: certificate specifies an incompatible key usage".into()
        }
        other => format!("x509: {other:?}"),
    }
}

/// The certificate fields c/image looks at beyond the chain.
pub struct CertFields<'a> {
    spki: &'a [u8],
    /// (OID, value) of each extension.
    extensions: Vec<(&'a [u8], &'a [u8])>,
    emails: Vec<String>,
}

impl<'a> CertFields<'a> {
    /// The email check c/image makes (`Required email … not found (got […])`).
    pub fn require_email(&self, email: &str) -> Result<(), String> {
        if self.emails.iter().any(|e| e == email) {
            return Ok(());
        }
        let got: Vec<String> = self.emails.iter().map(|e| go_quote(e)).collect();
        Err(format!(
            "Required email {} not found (got [{}])",
            go_quote(email),
            got.join(" ")
        ))
    }

    /// The certificate's public key.
    pub fn public_key(&self) -> Result<PublicKey, String> {
        PublicKey::from_spki(self.spki).map_err(|e| format!("parsing leaf certificate: {e}"))
    }

    pub fn parse(cert: &'a [u8]) -> Result<CertFields<'a>, der::DerError> {
        let mut outer = Reader::new(cert);
        let mut certificate = outer.nested(der::SEQUENCE)?;
        let mut tbs = certificate.nested(der::SEQUENCE)?;
        tbs.optional(0xa0)?; // version
        tbs.expect(der::INTEGER)?; // serial
        tbs.expect(der::SEQUENCE)?; // signature algorithm
        tbs.expect(der::SEQUENCE)?; // issuer
        tbs.expect(der::SEQUENCE)?; // validity
        tbs.expect(der::SEQUENCE)?; // subject
        let spki = tbs.expect(der::SEQUENCE)?.raw;
        tbs.optional(0x81)?; // issuerUniqueID
        tbs.optional(0x82)?; // subjectUniqueID
        let mut extensions = Vec::new();
        let mut emails = Vec::new();
        if let Some(wrapper) = tbs.optional(0xa3)? {
            let mut list = Reader::new(wrapper.value).nested(der::SEQUENCE)?;
            while !list.is_empty() {
                let mut ext = list.nested(der::SEQUENCE)?;
                let oid = ext.expect(der::OID)?.value;
                ext.optional(der::BOOLEAN)?;
                let value = ext.expect(der::OCTET_STRING)?.value;
                ext.finish()?;
                if oid == oids::SUBJECT_ALT_NAME {
                    emails.extend(san_emails(value)?);
                }
                extensions.push((oid, value));
            }
        }
        Ok(CertFields {
            spki,
            extensions,
            emails,
        })
    }

    /// `fulcioIssuerInCertificate`: the v1 (raw) and v2 (UTF8String) issuer extensions,
    /// which must agree when both are present.
    pub fn oidc_issuer(&self) -> Result<String, String> {
        let mut v1: Option<String> = None;
        let mut v2: Option<String> = None;
        for (oid, value) in &self.extensions {
            if *oid == oids::FULCIO_ISSUER_V1 {
                if v1.is_some() {
                    return Err(
                        "Fulcio certificate has a duplicate OIDC issuer v1 extension".into(),
                    );
                }
                v1 = Some(String::from_utf8_lossy(value).into_owned());
            } else if *oid == oids::FULCIO_ISSUER_V2 {
                if v2.is_some() {
                    return Err(
                        "Fulcio certificate has a duplicate OIDC issuer v2 extension".into(),
                    );
                }
                let mut r = Reader::new(value);
                let s = r
                    .expect(der::UTF8_STRING)
                    .map_err(|e| format!("invalid ASN.1 in OIDC issuer v2 extension: {e}"))?;
                if !r.is_empty() {
                    return Err("invalid ASN.1 in OIDC issuer v2 extension, trailing data".into());
                }
                v2 = Some(String::from_utf8_lossy(s.value).into_owned());
            }
        }
        match (v1, v2) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "inconsistent OIDC issuer extension values: v1 {}, v2 {}",
                go_quote(&a),
                go_quote(&b)
            )),
            (Some(a), _) => Ok(a),
            (None, Some(b)) => Ok(b),
            (None, None) => Err("Fulcio certificate is missing the issuer extension".into()),
        }
    }
}

/// The rfc822Name entries of a SubjectAltName extension.
fn san_emails(value: &[u8]) -> Result<Vec<String>, der::DerError> {
    let mut names = Reader::new(value).nested(der::SEQUENCE)?;
    let mut out = Vec::new();
    while !names.is_empty() {
        let name = names.any()?;
        if name.tag == 0x81 {
            out.push(String::from_utf8_lossy(name.value).into_owned());
        }
    }
    Ok(out)
}
