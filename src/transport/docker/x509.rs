//! The two facts of an X.509 certificate that the trusted-leaf check needs and webpki does
//! not expose: its validity period and its extended key usages. A walk over
//! `Certificate.tbsCertificate` with skiff's DER reader; anything malformed is an error,
//! never a guess.

/// What was read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFacts {
    /// notBefore and notAfter, in seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The ExtendedKeyUsage OIDs (DER contents), when the extension is present.
    pub ext_key_usage: Option<Vec<Vec<u8>>>,
}

use crate::der::{self, DerError, Reader, Tlv};
use crate::gotime::days_from_civil;

/// id-kp-serverAuth, 1.3.6.1.5.5.7.3.1.
pub const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
/// anyExtendedKeyUsage, 2.5.29.37.0.
pub const ANY_EKU: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
/// id-ce-extKeyUsage, 2.5.29.37.
const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];

const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION_TAG: u8 = 0xa0;
const EXTENSIONS_TAG: u8 = 0xa3;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error(transparent)]
    Der(#[from] DerError),
    #[error("malformed certificate: {0}")]
    Field(&'static str),
}

/// Reads validity and extended key usage from a DER certificate.
pub fn leaf_facts(cert: &[u8]) -> Result<LeafFacts, CertError> {
    let mut certificate = Reader::new(cert).nested(der::SEQUENCE)?;
    let mut tbs = certificate.nested(der::SEQUENCE)?;
    tbs.optional(VERSION_TAG)?;
    tbs.expect(der::INTEGER)?; // serialNumber
    tbs.expect(der::SEQUENCE)?; // signature
    tbs.expect(der::SEQUENCE)?; // issuer
    let mut validity = tbs.nested(der::SEQUENCE)?;
    let not_before = time(validity.any()?)?;
    let not_after = time(validity.any()?)?;
    tbs.expect(der::SEQUENCE)?; // subject
    tbs.expect(der::SEQUENCE)?; // subjectPublicKeyInfo
    let mut ext_key_usage = None;
    while !tbs.is_empty() {
        let field = tbs.any()?;
        if field.tag == EXTENSIONS_TAG {
            ext_key_usage = eku(Reader::new(field.value).nested(der::SEQUENCE)?)?;
        }
    }
    Ok(LeafFacts {
        not_before,
        not_after,
        ext_key_usage,
    })
}

fn eku(mut extensions: Reader<'_>) -> Result<Option<Vec<Vec<u8>>>, CertError> {
    while !extensions.is_empty() {
        let mut ext = extensions.nested(der::SEQUENCE)?;
        let id = ext.expect(der::OID)?.value;
        ext.optional(der::BOOLEAN)?; // critical
        let value = ext.expect(der::OCTET_STRING)?.value;
        if id == EXT_KEY_USAGE {
            let mut purposes = Reader::new(value).nested(der::SEQUENCE)?;
            let mut out = Vec::new();
            while !purposes.is_empty() {
                out.push(purposes.expect(der::OID)?.value.to_vec());
            }
            return Ok(Some(out));
        }
    }
    Ok(None)
}

/// UTCTime (YYMMDDHHMMSSZ; years 50-99 are 19xx) or GeneralizedTime (YYYYMMDDHHMMSSZ).
fn time(tlv: Tlv<'_>) -> Result<i64, CertError> {
    let text = std::str::from_utf8(tlv.value).map_err(|_| CertError::Field("bad time"))?;
    let digits = text
        .strip_suffix('Z')
        .ok_or(CertError::Field("time not in UTC"))?;
    let (year, rest) = match (tlv.tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(&digits[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (number(&digits[..4])?, &digits[4..]),
        _ => return Err(CertError::Field("bad time")),
    };
    let field = |i: usize| number(&rest[i..i + 2]);
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(CertError::Field("bad time"));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn number(s: &str) -> Result<i64, CertError> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().map_err(|_| CertError::Field("bad time"))
    } else {
        Err(CertError::Field("bad time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_from_the_epoch() {
        let tlv = |tag, value: &'static [u8]| Tlv {
            tag,
            value,
            raw: value,
        };
        assert_eq!(
            time(tlv(UTC_TIME, b"491231235959Z")).unwrap(),
            2_524_607_999
        );
        assert_eq!(time(tlv(GENERALIZED_TIME, b"19700101000000Z")).unwrap(), 0);
        assert!(time(tlv(UTC_TIME, b"701301000000Z")).is_err());
        assert!(time(tlv(UTC_TIME, b"700101000000+0100")).is_err());
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(leaf_facts(&[0x30, 0x05, 0x30]).is_err());
        assert!(leaf_facts(&[]).is_err());
    }
}
