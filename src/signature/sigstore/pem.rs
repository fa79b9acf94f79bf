//! PEM blocks as Go's `encoding/pem` reads and writes them: text before a block is
//! skipped, `Key: value` headers are allowed (and ignored here), the body is base64 with
//! any whitespace, and what follows the END line is returned for the next block.

use base64::Engine as _;

/// One decoded block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub label: String,
    pub bytes: Vec<u8>,
}

const BEGIN: &str = "-----BEGIN ";
const DASHES: &str = "-----";

/// `pem.Decode`: the first well-formed block and the bytes after it, or None.
pub fn decode(data: &[u8]) -> Option<(Block, &[u8])> {
    let mut rest = data;
    loop {
        let start = find_begin(rest)?;
        let after_begin = &rest[start + BEGIN.len()..];
        let (line, after_line) = split_line(after_begin);
        let line = std::str::from_utf8(line)
            .ok()?
            .trim_end_matches([' ', '\t', '\r']);
        let Some(label) = line.strip_suffix(DASHES) else {
            rest = after_line;
            continue;
        };
        let end_marker = format!("-----END {label}-----");
        let Some(end) = find(after_line, end_marker.as_bytes()) else {
            rest = after_line;
            continue;
        };
        let body = &after_line[..end];
        let (_, after_end) = split_line(&after_line[end + end_marker.len()..]);
        match decode_body(body) {
            Some(bytes) => {
                return Some((
                    Block {
                        label: label.to_string(),
                        bytes,
                    },
                    after_end,
                ));
            }
            None => rest = after_line,
        }
    }
}

/// Every block in `data`, in order; None if anything other than whitespace is left
/// between or after them (cryptoutils' `UnmarshalCertificatesFromPEM` rule).
pub fn decode_all(data: &[u8]) -> Option<Vec<Block>> {
    let mut out = Vec::new();
    let mut rest = data.trim_ascii();
    while !rest.is_empty() {
        let (block, after) = decode(rest)?;
        out.push(block);
        rest = after.trim_ascii();
    }
    Some(out)
}

/// `pem.EncodeToMemory`: 64-character lines.
pub fn encode(label: &str, bytes: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

fn find_begin(data: &[u8]) -> Option<usize> {
    if data.starts_with(BEGIN.as_bytes()) {
        return Some(0);
    }
    let marker = format!("\n{BEGIN}");
    find(data, marker.as_bytes()).map(|i| i + 1)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The base64 body after optional `Key: value` headers (ended by an empty line).
fn decode_body(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut lines: Vec<&str> = text.lines().collect();
    if lines.first().is_some_and(|l| l.contains(':')) {
        let blank = lines.iter().position(|l| l.trim().is_empty())?;
        lines.drain(..=blank);
    }
    let joined: String = lines
        .concat()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(joined)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_skips_text_around_blocks() {
        let bytes: Vec<u8> = (0..100u8).collect();
        let pem = encode("PUBLIC KEY", &bytes);
        let text = [b"junk before\n".as_slice(), &pem, b"after"].concat();
        let (block, rest) = decode(&text).unwrap();
        assert_eq!(block.label, "PUBLIC KEY");
        assert_eq!(block.bytes, bytes);
        assert_eq!(rest, b"after");
        let lines: Vec<&str> = std::str::from_utf8(&pem).unwrap().lines().collect();
        assert_eq!(lines[1].len(), 64);
    }

    #[test]
    fn reads_headers_and_several_blocks() {
        let one = encode("CERTIFICATE", b"one");
        let two = String::from_utf8(encode("CERTIFICATE", b"two"))
            .unwrap()
            .replacen("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1);
        let both = [one.as_slice(), b"\n", two.as_bytes()].concat();
        let blocks = decode_all(&both).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].bytes, b"two");
        assert!(decode_all(b"garbage").is_none());
        assert!(decode(b"-----BEGIN X-----\n!!!\n-----END X-----\n").is_none());
    }
}
