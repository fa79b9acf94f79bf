//! Just enough DER for what skiff reads and writes by hand: sigstore keys and certificates
//! (public key info, PKCS#8 algorithm identifiers, certificate extensions) and the PKCS#7
//! EnvelopedData of the `pkcs7` key wrapper (go.mozilla.org/pkcs7 writes GCM parameters
//! that OpenSSL's CMS parser refuses, so the envelope is built and read by hand). Chains
//! and signatures are checked by webpki and ring; this only finds fields in bytes they
//! already accept or that we are about to hand them.
//!
//! Single-byte tags and definite lengths only. Each caller words the errors its own way,
//! so `DerError` says what went wrong and carries the details.

pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0c;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// What is wrong with the bytes. The `Display` text is sigstore's (`malformed DER: …`);
/// the PKCS#7 reader words them its own way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    /// No bytes left where an element should start.
    #[error("malformed DER: truncated")]
    End,
    #[error("malformed DER: high tag numbers are not supported")]
    HighTag(u8),
    /// A tag and no length byte.
    #[error("malformed DER: truncated")]
    NoLength,
    /// A long-form length of 0 or more than 4 bytes, or cut short.
    #[error("malformed DER: bad length")]
    BadLength,
    /// A long-form length that a shorter form could have said (strict readers only).
    #[error("malformed DER: non-minimal length")]
    NonMinimalLength,
    /// The contents are shorter than the length says.
    #[error("malformed DER: truncated")]
    Truncated(usize),
    #[error("malformed DER: unexpected tag")]
    UnexpectedTag { expected: u8, found: u8 },
    #[error("malformed DER: trailing data")]
    TrailingData,
}

/// One element: its tag and contents.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    /// The whole encoding, header included.
    pub raw: &'a [u8],
}

/// Reads elements one after another from a byte slice.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
    /// Whether long-form lengths must be minimal (DER proper).
    strict: bool,
}

impl<'a> Reader<'a> {
    /// A reader that refuses non-minimal lengths.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            rest: bytes,
            strict: true,
        }
    }

    /// A reader that accepts non-minimal long-form lengths (the PKCS#7 reader's way).
    pub fn lenient(bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            rest: bytes,
            strict: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, DerError> {
        let bytes = self.rest;
        let (&tag, after_tag) = bytes.split_first().ok_or(DerError::End)?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::HighTag(tag));
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError::NoLength)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return Err(DerError::BadLength);
            }
            let len = after_len[..n]
                .iter()
                .fold(0usize, |l, b| (l << 8) | usize::from(*b));
            after_len = &after_len[n..];
            if self.strict && (len < 0x80 || (n > 1 && len >> ((n - 1) * 8) == 0)) {
                return Err(DerError::NonMinimalLength);
            }
            len
        };
        if after_len.len() < len {
            return Err(DerError::Truncated(len));
        }
        let header = bytes.len() - after_len.len();
        self.rest = &after_len[len..];
        Ok(Tlv {
            tag,
            value: &after_len[..len],
            raw: &bytes[..header + len],
        })
    }

    /// The next element, which must have `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        let tlv = self.any()?;
        if tlv.tag != tag {
            return Err(DerError::UnexpectedTag {
                expected: tag,
                found: tlv.tag,
            });
        }
        Ok(tlv)
    }

    /// The next element if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// A reader (as strict as this one) over the contents of the next element, which must
    /// have `tag`.
    pub fn nested(&mut self, tag: u8) -> Result<Reader<'a>, DerError> {
        Ok(Reader {
            rest: self.expect(tag)?.value,
            strict: self.strict,
        })
    }

    pub fn finish(&self) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError::TrailingData)
        }
    }
}

/// Encodes one element.
pub fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// Encodes a constructed element (a SEQUENCE, SET or context tag) from already-encoded
/// parts.
pub fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    encode(tag, &parts.concat())
}

/// Encodes an OBJECT IDENTIFIER from its arcs.
pub fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        body.extend(tmp);
    };
    push(arcs[0] * 40 + arcs[1]);
    arcs[2..].iter().for_each(|a| push(*a));
    encode(OID, &body)
}

/// Encodes a small non-negative INTEGER.
pub fn small_int(v: u8) -> Vec<u8> {
    if v < 0x80 {
        encode(INTEGER, &[v])
    } else {
        encode(INTEGER, &[0, v])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![0xab; len];
            let enc = cons(SEQUENCE, &[&encode(OCTET_STRING, &content)]);
            let mut r = Reader::new(&enc);
            let seq = r.expect(SEQUENCE).unwrap();
            assert!(r.is_empty());
            let inner = Reader::new(seq.value).expect(OCTET_STRING).unwrap();
            assert_eq!(inner.value, content.as_slice());
            assert_eq!(seq.raw, enc.as_slice());
        }
        assert!(Reader::new(&[0x30, 0x05, 1, 2]).any().is_err());
    }

    #[test]
    fn reads_what_it_writes() {
        let long = vec![7u8; 300];
        let seq = cons(
            SEQUENCE,
            &[&encode(INTEGER, &[1]), &encode(OCTET_STRING, &long)],
        );
        let mut r = Reader::new(&seq);
        let mut inner = r.nested(SEQUENCE).unwrap();
        r.finish().unwrap();
        assert_eq!(inner.expect(INTEGER).unwrap().value, &[1]);
        let os = inner.expect(OCTET_STRING).unwrap();
        assert_eq!(os.value.len(), 300);
        assert_eq!(&os.raw[..4], &[0x04, 0x82, 0x01, 0x2c]);
        inner.finish().unwrap();
    }

    #[test]
    fn refuses_bad_lengths() {
        assert_eq!(
            Reader::new(&[0x30, 0x05, 0x01]).any().unwrap_err(),
            DerError::Truncated(5)
        );
        assert_eq!(
            Reader::new(&[0x30, 0x85, 0, 0, 0, 0, 0]).any().unwrap_err(),
            DerError::BadLength
        );
        assert_eq!(Reader::new(&[0x30]).any().unwrap_err(), DerError::NoLength);
        assert_eq!(Reader::new(&[]).any().unwrap_err(), DerError::End);
        assert_eq!(
            Reader::new(&[0x1f, 0x00]).any().unwrap_err(),
            DerError::HighTag(0x1f)
        );
    }

    #[test]
    fn only_strict_readers_refuse_non_minimal_lengths() {
        let long_form = [0x30, 0x81, 0x05, 0, 0, 0, 0, 0];
        assert_eq!(
            Reader::new(&long_form).any().unwrap_err(),
            DerError::NonMinimalLength
        );
        assert_eq!(Reader::lenient(&long_form).any().unwrap().value.len(), 5);
        let padded = [0x04, 0x82, 0x00, 0x01, 0xaa];
        assert!(Reader::new(&padded).any().is_err());
        let mut outer = Reader::lenient(&[0x30, 0x05, 0x04, 0x81, 0x01, 0xaa, 0x00]);
        let mut inner = outer.nested(SEQUENCE).unwrap();
        assert_eq!(inner.expect(OCTET_STRING).unwrap().value, &[0xaa]);
    }

    #[test]
    fn encodes_oids_like_openssl() {
        // 1.2.840.113549.1.7.3 (pkcs7-envelopedData)
        assert_eq!(
            oid(&[1, 2, 840, 113549, 1, 7, 3]),
            [
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03
            ]
        );
        assert_eq!(small_int(16), [0x02, 0x01, 0x10]);
    }
}
