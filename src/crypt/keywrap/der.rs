//! Just enough DER for PKCS#7 EnvelopedData: a reader over definite-length TLVs and a
//! writer. (go.mozilla.org/pkcs7 writes GCM parameters that OpenSSL's CMS parser
//! refuses, so the envelope is built and read by hand.)

/// One TLV: its tag byte, its content and the whole encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
}

pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// Reads consecutive TLVs.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { rest: data }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next TLV (single-byte tags, definite lengths only).
    pub fn next(&mut self) -> Result<Tlv<'a>, String> {
        let data = self.rest;
        let (&tag, after_tag) = data.split_first().ok_or("unexpected end of data")?;
        if tag & 0x1f == 0x1f {
            return Err(format!("multi-byte tag {tag:#x} not supported"));
        }
        let (&first, mut after) = after_tag.split_first().ok_or("truncated length")?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after.len() < n {
                return Err("unsupported or truncated length".into());
            }
            let len = after[..n]
                .iter()
                .fold(0usize, |l, b| (l << 8) | usize::from(*b));
            after = &after[n..];
            len
        };
        if after.len() < len {
            return Err(format!("element of {len} bytes is truncated"));
        }
        let header = data.len() - after.len();
        let tlv = Tlv {
            tag,
            content: &after[..len],
            raw: &data[..header + len],
        };
        self.rest = &after[len..];
        Ok(tlv)
    }

    /// The next TLV, which must have `tag`.
    pub fn expect(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
        let t = self.next().map_err(|e| format!("{what}: {e}"))?;
        if t.tag != tag {
            return Err(format!(
                "{what}: expected tag {tag:#04x}, found {:#04x}",
                t.tag
            ));
        }
        Ok(t)
    }
}

/// Encodes one TLV.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Encodes a constructed TLV from already-encoded parts.
pub fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
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
    tlv(OID, &body)
}

/// Encodes a small non-negative INTEGER.
pub fn small_int(v: u8) -> Vec<u8> {
    if v < 0x80 {
        tlv(INTEGER, &[v])
    } else {
        tlv(INTEGER, &[0, v])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![0xab; len];
            let enc = cons(SEQUENCE, &[&tlv(OCTET_STRING, &content)]);
            let mut r = Reader::new(&enc);
            let seq = r.expect(SEQUENCE, "outer").unwrap();
            assert!(r.is_empty());
            let inner = Reader::new(seq.content)
                .expect(OCTET_STRING, "inner")
                .unwrap();
            assert_eq!(inner.content, content.as_slice());
            assert_eq!(seq.raw, enc.as_slice());
        }
        assert!(Reader::new(&[0x30, 0x05, 1, 2]).next().is_err());
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
