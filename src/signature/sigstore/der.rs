//! A minimal DER reader and writer: just what sigstore keys and certificates need (public
//! key info, PKCS#8 algorithm identifiers, certificate extensions). Chains and signatures
//! are checked by webpki and ring; this only finds fields in bytes they already accept or
//! that we are about to hand them.

/// Universal tags used here.
pub const SEQUENCE: u8 = 0x30;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0c;
pub const BOOLEAN: u8 = 0x01;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed DER: {0}")]
pub struct DerError(pub &'static str);

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
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
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
        let (&tag, after_tag) = bytes.split_first().ok_or(DerError("truncated"))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("high tag numbers are not supported"));
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError("truncated"))?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || after_len.len() < n {
                return Err(DerError("bad length"));
            }
            let mut len = 0usize;
            for &b in &after_len[..n] {
                len = (len << 8) | b as usize;
            }
            after_len = &after_len[n..];
            if len < 0x80 || (n > 1 && len >> ((n - 1) * 8) == 0) {
                return Err(DerError("non-minimal length"));
            }
            len
        };
        if after_len.len() < len {
            return Err(DerError("truncated"));
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
            return Err(DerError("unexpected tag"));
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

    /// A reader over the contents of the next element, which must have `tag`.
    pub fn nested(&mut self, tag: u8) -> Result<Reader<'a>, DerError> {
        Ok(Reader::new(self.expect(tag)?.value))
    }

    pub fn finish(&self) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError("trailing data"))
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

/// Encodes a SEQUENCE of already-encoded elements.
pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    encode(SEQUENCE, &parts.concat())
}

/// Well-known object identifiers, as DER contents (without tag and length).
pub mod oids {
    /// id-ecPublicKey 1.2.840.10045.2.1
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// prime256v1 1.2.840.10045.3.1.7
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// secp384r1 1.3.132.0.34
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    /// rsaEncryption 1.2.840.113549.1.1.1
    pub const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// id-Ed25519 1.3.101.112
    pub const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    /// id-ce-subjectAltName 2.5.29.17
    pub const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
    /// Fulcio's OIDC issuer (v1, raw string) 1.3.6.1.4.1.57264.1.1
    pub const FULCIO_ISSUER_V1: &[u8] =
        &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x01];
    /// Fulcio's OIDC issuer (v2, DER UTF8String) 1.3.6.1.4.1.57264.1.8
    pub const FULCIO_ISSUER_V2: &[u8] =
        &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x08];
    /// id-kp-codeSigning 1.3.6.1.5.5.7.3.3
    pub const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let long = vec![7u8; 300];
        let seq = sequence(&[&encode(INTEGER, &[1]), &encode(OCTET_STRING, &long)]);
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
        assert!(Reader::new(&[0x30, 0x05, 0x01]).any().is_err());
        assert!(
            Reader::new(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0])
                .any()
                .is_err()
        );
        assert!(Reader::new(&[0x30]).any().is_err());
    }
}
