//! Just enough of Go's encoding/json (Go 1.19, as Debian's skopeo 1.9.3 was built) to
//! reproduce containers/image's bytes: string escaping, `json.RawMessage` compaction,
//! `map[string]*json.RawMessage` round trips, struct-field matching on decode and
//! `time.Time` normalisation.

use serde_json::{Map, Value};

use super::error::ManifestError;
use crate::gotime::Fields;

/// Appends `s` as a JSON string the way Go's encoder writes it (HTML-safe).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Encodes a `Value` like Go marshals the equivalent `interface{}`-free struct: objects keep
/// the order they have (callers build them in Go field order, or sort them for Go maps).
/// Numbers are written as serde_json writes them; the conversions only emit integers.
pub fn encode(v: &Value) -> String {
    let mut out = String::new();
    encode_into(&mut out, v);
    out
}

fn encode_into(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode_into(out, x);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                encode_into(out, x);
            }
            out.push('}');
        }
    }
}

/// The members of a JSON object as (decoded key, raw value bytes), in document order, the
/// way Go fills a `map[string]*json.RawMessage` (a later duplicate key replaces an earlier).
pub fn raw_members(json: &[u8]) -> Result<Vec<(String, String)>, ManifestError> {
    let text = std::str::from_utf8(json)
        .map_err(|e| ManifestError::Invalid(format!("config is not UTF-8: {e}")))?;
    // Validate once with serde_json, then split with a small scanner.
    let _: Map<String, Value> = serde_json::from_str(text)?;
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    i += 1; // '{'
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        i = skip_ws(b, i);
        if b[i] == b'}' {
            break;
        }
        let kend = scan_value(b, i);
        let key: String = serde_json::from_str(&text[i..kend])?;
        i = skip_ws(b, kend);
        i += 1; // ':'
        i = skip_ws(b, i);
        let vend = scan_value(b, i);
        let value = compact(&text[i..vend]);
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            out.push((key, value));
        }
        i = skip_ws(b, vend);
        if b[i] == b',' {
            i += 1;
        }
    }
    Ok(out)
}

/// Encodes (key, raw value) pairs like Go marshals a `map[string]*json.RawMessage`:
/// keys sorted bytewise, values compacted.
pub fn encode_raw_map(mut members: Vec<(String, String)>) -> String {
    members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::from("{");
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(&mut out, k);
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// End of the (already validated) JSON value starting at `i`.
fn scan_value(b: &[u8], mut i: usize) -> usize {
    match b[i] {
        b'"' => {
            i += 1;
            while b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i + 1
        }
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match b[i] {
                    b'"' => {
                        i = scan_value(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            i
        }
    }
}

/// Go's `compact(dst, src, escapeHTML=true)`: drops insignificant whitespace and escapes
/// `<`, `>`, `&`, U+2028 and U+2029; every other byte, escape and number is kept verbatim.
pub fn compact(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut in_str = false;
    let mut escaped = false;
    for c in src.chars() {
        if in_str {
            if escaped {
                escaped = false;
                out.push(c);
                continue;
            }
            match c {
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_str = false;
                    out.push(c);
                }
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                }
                c => out.push(c),
            }
        } else {
            match c {
                ' ' | '\t' | '\n' | '\r' => {}
                '"' => {
                    in_str = true;
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }
    out
}

/// The object's members that Go would decode into the struct field named `name`: an exact
/// key match, or else a case-insensitive one; the last matching member wins, as in Go.
pub fn member<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let mut found = None;
    for (k, v) in obj {
        if k == name || k.eq_ignore_ascii_case(name) {
            found = Some(v);
        }
    }
    found
}

fn type_error(what: &str, field: &str, v: &Value) -> ManifestError {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    ManifestError::Invalid(format!(
        "json: cannot unmarshal {kind} into Go struct field {field} of type {what}"
    ))
}

/// A Go `string` field: absent or null is "".
pub fn get_string(obj: &Map<String, Value>, name: &str) -> Result<String, ManifestError> {
    match member(obj, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(type_error("string", name, v)),
    }
}

/// A Go `bool` field.
pub fn get_bool(obj: &Map<String, Value>, name: &str) -> Result<bool, ManifestError> {
    match member(obj, name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(type_error("bool", name, v)),
    }
}

/// A Go `[]string` field: `None` for absent/null (a nil slice), elements null → "".
pub fn get_strings(
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, ManifestError> {
    match member(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::Null => Ok(String::new()),
                Value::String(s) => Ok(s.clone()),
                v => Err(type_error("string", name, v)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(v) => Err(type_error("[]string", name, v)),
    }
}

/// A Go `map[string]string` (`values_are_strings`) or `map[string]struct{}` field, as a
/// sorted list of keys and values. `None` when absent or null.
pub fn get_map(
    obj: &Map<String, Value>,
    name: &str,
    values_are_strings: bool,
) -> Result<Option<Vec<(String, Value)>>, ManifestError> {
    match member(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => {
            let mut out: Vec<(String, Value)> = Vec::new();
            for (k, v) in o {
                let v = match (values_are_strings, v) {
                    (true, Value::Null) => Value::String(String::new()),
                    (true, Value::String(s)) => Value::String(s.clone()),
                    (false, Value::Null | Value::Object(_)) => Value::Object(Map::new()),
                    (true, v) => return Err(type_error("string", name, v)),
                    (false, v) => return Err(type_error("struct {}", name, v)),
                };
                out.push((k.clone(), v));
            }
            out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            Ok(Some(out))
        }
        Some(v) => Err(type_error("map", name, v)),
    }
}

/// A Go `map` as an ordered JSON object with Go's (sorted) key order.
pub fn map_value(entries: Vec<(String, Value)>) -> Value {
    Value::Object(entries.into_iter().collect())
}

/// A Go `time.Time` field decoded and re-encoded: `None` when absent/null.
pub fn get_time(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, ManifestError> {
    match member(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => go_time(s).map(Some),
        Some(v) => Err(type_error("time.Time", name, v)),
    }
}

/// The zero `time.Time` as Go marshals it.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Parses an RFC 3339 time as Go's `time.Time.UnmarshalJSON` does and formats it as its
/// `MarshalJSON` does (RFC 3339 with trailing fractional zeros dropped, `Z` for UTC).
pub fn go_time(s: &str) -> Result<String, ManifestError> {
    let bad = || {
        ManifestError::Invalid(format!(
            "parsing time {s:?} as \"2006-01-02T15:04:05Z07:00\": not RFC 3339"
        ))
    };
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let year = digits(0..4).ok_or_else(bad)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return Err(bad());
    }
    let month = digits(5..7).ok_or_else(bad)?;
    let day = digits(8..10).ok_or_else(bad)?;
    // Go 1.19 accepts a one-digit hour.
    let (hour, mut i) = match digits(11..13) {
        Some(h) => (h, 13),
        None => (digits(11..12).ok_or_else(bad)?, 12),
    };
    if b.get(i) != Some(&b':') || b.get(i + 3) != Some(&b':') {
        return Err(bad());
    }
    let minute = digits(i + 1..i + 3).ok_or_else(bad)?;
    let second = digits(i + 4..i + 6).ok_or_else(bad)?;
    i += 6;
    let mut frac = String::new();
    if matches!(b.get(i), Some(b'.') | Some(b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            frac.push(*c as char);
            i += 1;
        }
    }
    let zone = &s[i..];
    let offset = if zone == "Z" {
        0
    } else {
        let zb = zone.as_bytes();
        if zb.len() != 6 || !matches!(zb[0], b'+' | b'-') || zb[3] != b':' {
            return Err(bad());
        }
        let h = digits(i + 1..i + 3).ok_or_else(bad)?;
        let m = digits(i + 4..i + 6).ok_or_else(bad)?;
        if h > 24 || m > 60 {
            return Err(bad());
        }
        (h * 60 + m) as i32 * if zb[0] == b'-' { -1 } else { 1 }
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    // Go keeps nanoseconds (9 digits, truncating longer fractions).
    let nanos = format!("{:0<9.9}", frac).parse().map_err(|_| bad())?;
    Ok(Fields {
        year: year.into(),
        month: month.into(),
        day: day.into(),
        hour: hour.into(),
        minute: minute.into(),
        second: second.into(),
        nanos,
        offset_secs: i64::from(offset) * 60,
    }
    .rfc3339_nano())
}

/// `time.Time` in JSON of a Unix time; the formatters live in [`crate::gotime`].
pub use crate::gotime::rfc3339_nano;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_normalise_like_go() {
        assert_eq!(
            go_time("2024-05-06T07:08:09.123450000+02:00").unwrap(),
            "2024-05-06T07:08:09.12345+02:00"
        );
        assert_eq!(
            go_time("2024-01-01T00:00:00.000+00:00").unwrap(),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            go_time("2024-01-01T1:02:03Z").unwrap(),
            "2024-01-01T01:02:03Z"
        );
        assert!(go_time("2024-02-30T00:00:00Z").is_err());
        assert!(go_time("yesterday").is_err());
    }

    #[test]
    fn raw_maps_keep_values_verbatim() {
        let members =
            raw_members(br#"{ "b" : [1.50, "\u0041<"], "a":{"z":1, "y":2}, "b": 3 }"#).unwrap();
        assert_eq!(encode_raw_map(members), r#"{"a":{"z":1,"y":2},"b":3}"#);
        assert_eq!(
            compact(r#"[ 1e3 , "<\"x >" ]"#),
            r#"[1e3,"\u003c\"x \u003e"]"#
        );
    }
}
