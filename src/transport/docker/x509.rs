//! The two facts of an X.509 certificate that the trusted-leaf check needs and webpki does
//! not expose: its validity period and its extended key usages. A minimal DER walk over
//! `Certificate.tbsCertificate`; anything malformed is an error, never a guess.

/// What was read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFacts {
    /// notBefore and notAfter, in seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The ExtendedKeyUsage OIDs (DER contents), when the extension is present.
    pub ext_key_usage: Option<Vec<Vec<u8>>>,
}

/// id-kp-serverAuth, 1.3.6.1.5.5.7.3.1.
pub const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
/// anyExtendedKeyUsage, 2.5.29.37.0.
pub const ANY_EKU: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
/// id-ce-extKeyUsage, 2.5.29.37.
const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION_TAG: u8 = 0xa0;
const EXTENSIONS_TAG: u8 = 0xa3;

#[derive(Debug, thiserror::Error)]
#[error("malformed certificate: {0}")]
pub struct DerError(&'static str);

/// A cursor over DER bytes.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// Reads one TLV and returns (tag, contents).
    fn any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let (&tag, rest) = self.0.split_first().ok_or(DerError("truncated"))?;
        let (&first, rest) = rest.split_first().ok_or(DerError("truncated length"))?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(DerError("bad length"));
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return Err(DerError("truncated value"));
        }
        let (value, rest) = rest.split_at(len);
        self.0 = rest;
        Ok((tag, value))
    }

    fn expect(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        match self.any()? {
            (t, v) if t == tag => Ok(v),
            _ => Err(DerError("unexpected element")),
        }
    }
}

/// Reads validity and extended key usage from a DER certificate.
pub fn leaf_facts(cert: &[u8]) -> Result<LeafFacts, DerError> {
    let mut outer = Der(Der(cert).expect(SEQUENCE)?);
    let mut tbs = Der(outer.expect(SEQUENCE)?);
    if tbs.peek_tag() == Some(VERSION_TAG) {
        tbs.any()?;
    }
    tbs.expect(INTEGER)?; // serialNumber
    tbs.expect(SEQUENCE)?; // signature
    tbs.expect(SEQUENCE)?; // issuer
    let mut validity = Der(tbs.expect(SEQUENCE)?);
    let not_before = time(validity.any()?)?;
    let not_after = time(validity.any()?)?;
    tbs.expect(SEQUENCE)?; // subject
    tbs.expect(SEQUENCE)?; // subjectPublicKeyInfo
    let mut ext_key_usage = None;
    while !tbs.is_empty() {
        let (tag, value) = tbs.any()?;
        if tag == EXTENSIONS_TAG {
            ext_key_usage = eku(Der(value).expect(SEQUENCE)?)?;
        }
    }
    Ok(LeafFacts {
        not_before,
        not_after,
        ext_key_usage,
    })
}

fn eku(extensions: &[u8]) -> Result<Option<Vec<Vec<u8>>>, DerError> {
    let mut exts = Der(extensions);
    while !exts.is_empty() {
        let mut ext = Der(exts.expect(SEQUENCE)?);
        let id = ext.expect(OID)?;
        if ext.peek_tag() == Some(BOOLEAN) {
            ext.any()?;
        }
        let value = ext.expect(OCTET_STRING)?;
        if id == EXT_KEY_USAGE {
            let mut purposes = Der(Der(value).expect(SEQUENCE)?);
            let mut out = Vec::new();
            while !purposes.is_empty() {
                out.push(purposes.expect(OID)?.to_vec());
            }
            return Ok(Some(out));
        }
    }
    Ok(None)
}

/// UTCTime (YYMMDDHHMMSSZ; years 50-99 are 19xx) or GeneralizedTime (YYYYMMDDHHMMSSZ).
fn time((tag, value): (u8, &[u8])) -> Result<i64, DerError> {
    let text = std::str::from_utf8(value).map_err(|_| DerError("bad time"))?;
    let digits = text.strip_suffix('Z').ok_or(DerError("time not in UTC"))?;
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(&digits[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (number(&digits[..4])?, &digits[4..]),
        _ => return Err(DerError("bad time")),
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
        return Err(DerError("bad time"));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn number(s: &str) -> Result<i64, DerError> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().map_err(|_| DerError("bad time"))
    } else {
        Err(DerError("bad time"))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(time((UTC_TIME, b"491231235959Z")).unwrap(), 2_524_607_999);
        assert_eq!(time((GENERALIZED_TIME, b"19700101000000Z")).unwrap(), 0);
        assert!(time((UTC_TIME, b"701301000000Z")).is_err());
        assert!(time((UTC_TIME, b"700101000000+0100")).is_err());
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(leaf_facts(&[0x30, 0x05, 0x30]).is_err());
        assert!(leaf_facts(&[]).is_err());
    }
}
