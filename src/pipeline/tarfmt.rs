//! What both tar readers here (containers-storage's layer reader and zstd:chunked's TOC
//! builder) parse the way Go's `archive/tar` does: PAX records and PAX times.

/// A PAX extended header's `LEN key=value\n` records, in order (Go's `parsePAXRecord`:
/// a record without its newline or its `=` is malformed). None for a malformed header.
pub fn pax_records(mut data: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let space = data.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()?
            .parse()
            .ok()
            .filter(|&l| l > space + 1 && l <= data.len())?;
        let record = data[space + 1..len].strip_suffix(b"\n")?;
        let eq = record.iter().position(|&b| b == b'=')?;
        out.push((&record[..eq], &record[eq + 1..]));
        data = &data[len..];
    }
    Some(out)
}

/// A PAX time, `SECS[.FRACTION]`, as seconds and nanoseconds (Go's `parsePAXTime`: digits
/// past nine are dropped, and a negative time with a fraction counts back from the second
/// below, so `-1.5` is -2 s + 0.5 s). None when it is not such a number.
pub fn pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut secs: i64 = whole.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().take(9).collect();
    let mut nanos: u32 = format!("{digits:0<9}").parse().ok()?;
    if whole.starts_with('-') && nanos != 0 {
        secs -= 1;
        nanos = 1_000_000_000 - nanos;
    }
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_follow_go() {
        assert_eq!(pax_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(pax_time(b"1.5"), Some((1, 500_000_000)));
        assert_eq!(pax_time(b"-1.5"), Some((-2, 500_000_000)));
        assert_eq!(pax_time(b"-1"), Some((-1, 0)));
        assert_eq!(pax_time(b"1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(pax_time(b"1.x"), None);
        assert_eq!(pax_time(b"x"), None);
    }

    #[test]
    fn pax_records_need_their_length_newline_and_equals_sign() {
        let ok = b"12 path=a/b\n18 mtime=1.000001\n";
        assert_eq!(
            pax_records(ok).unwrap(),
            vec![
                (&b"path"[..], &b"a/b"[..]),
                (&b"mtime"[..], &b"1.000001"[..])
            ]
        );
        assert!(pax_records(b"11 path=a/bX").is_none(), "no newline");
        assert!(pax_records(b"11 path-ab\n").is_none(), "no equals sign");
        assert!(pax_records(b"99 path=a\n").is_none(), "past the end");
    }
}
