//! A JSON value that keeps object members in document order, duplicates
//! included, so the policy parser can be as paranoid as c/image's
//! `ParanoidUnmarshalJSONObject` (duplicate and unknown keys are errors), and the
//! Go-decoding helpers the requirement parsers share (`[]byte`, `[]string`, type
//! discovery, c/image's unexpected-type text).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A parsed JSON value; objects keep every member, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JValue {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<JValue>),
    Object(Vec<(String, JValue)>),
}

impl JValue {
    /// The JSON kind as Go's `encoding/json` names it in `UnmarshalTypeError`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            JValue::Null => "null",
            JValue::Bool(_) => "bool",
            JValue::Number(_) => "number",
            JValue::String(_) => "string",
            JValue::Array(_) => "array",
            JValue::Object(_) => "object",
        }
    }

    /// How Go's `fmt.Sprintf("%s", token)` renders the first token of this value
    /// (used by c/image's "JSON object expected, got ..." message).
    fn go_token_repr(&self) -> String {
        match self {
            JValue::Null => "%!s(<nil>)".to_string(),
            JValue::Bool(b) => format!("%!s(bool={b})"),
            JValue::Number(n) => format!("%!s(float64={})", go_float(*n)),
            JValue::String(s) => s.clone(),
            JValue::Array(_) => "[".to_string(),
            JValue::Object(_) => "{".to_string(),
        }
    }
}

/// Go's `%v` rendering of a float64 (close enough for error messages).
fn go_float(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

/// Go's error text for decoding a JSON value of the wrong kind.
pub(crate) fn type_error(v: &JValue, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go value of type {go_type}",
        v.kind()
    )
}

impl<'de> Deserialize<'de> for JValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = JValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<JValue, E> {
        Ok(JValue::Null)
    }
    fn visit_none<E>(self) -> Result<JValue, E> {
        Ok(JValue::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<JValue, E> {
        Ok(JValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<JValue, E> {
        Ok(JValue::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<JValue, E> {
        Ok(JValue::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<JValue, E> {
        Ok(JValue::Number(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<JValue, E> {
        Ok(JValue::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<JValue, E> {
        Ok(JValue::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<JValue>()? {
            items.push(item);
        }
        Ok(JValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JValue, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, JValue>()? {
            members.push((k, v));
        }
        Ok(JValue::Object(members))
    }
}

/// Parses a whole document. Syntax errors come first, with Go's texts, as
/// Go's `json.Unmarshal` validates the entire input before decoding. Invalid
/// UTF-8 inside strings becomes U+FFFD, as in Go.
pub(crate) fn parse_document(bytes: &[u8]) -> Result<JValue, String> {
    super::syntax::check_valid(bytes)?;
    let text = String::from_utf8_lossy(bytes);
    serde_json::from_str::<JValue>(&text).map_err(|e| format!("invalid JSON: {e}"))
}

/// c/image `ParanoidUnmarshalJSONObject`: `v` must be an object; every key
/// must be unique and accepted by `field` (which returns `Ok(false)` to
/// reject a key as unknown). Members are visited in document order.
pub(crate) fn paranoid_object<'a, F>(v: &'a JValue, mut field: F) -> Result<(), String>
where
    F: FnMut(&'a str, &'a JValue) -> Result<bool, String>,
{
    let JValue::Object(members) = v else {
        return Err(format!(
            "JSON object expected, got \"{}\"",
            v.go_token_repr()
        ));
    };
    let mut seen: Vec<&str> = Vec::with_capacity(members.len());
    for (key, value) in members {
        if seen.contains(&key.as_str()) {
            return Err(format!("Duplicate key \"{key}\""));
        }
        seen.push(key);
        if !field(key, value)? {
            return Err(format!("Unknown key \"{key}\""));
        }
    }
    Ok(())
}

/// c/image `ParanoidUnmarshalJSONObjectExactFields`: exactly the keys in
/// `fields`, each once. `decode` is called for each member in document order
/// (as Go decodes each value when its key is read). Returns the values in the
/// order of `fields`.
pub(crate) fn exact_fields<'a, const N: usize>(
    v: &'a JValue,
    fields: [&str; N],
    mut decode: impl FnMut(&str, &JValue) -> Result<(), String>,
) -> Result<[&'a JValue; N], String> {
    let mut found: [Option<&'a JValue>; N] = [None; N];
    paranoid_object(v, |key, value| {
        match fields.iter().position(|f| *f == key) {
            Some(i) => {
                decode(key, value)?;
                found[i] = Some(value);
                Ok(true)
            }
            None => Ok(false),
        }
    })?;
    let mut out: [&'a JValue; N] = [&JValue::Null; N];
    for (i, slot) in found.iter().enumerate() {
        match slot {
            Some(value) => out[i] = value,
            None => return Err(format!("Key \"{}\" missing in a JSON object", fields[i])),
        }
    }
    Ok(out)
}

/// Decodes a Go `string` destination: `null` leaves it unset (`None`).
pub(crate) fn go_string(v: &JValue, go_type: &str) -> Result<Option<String>, String> {
    match v {
        JValue::Null => Ok(None),
        JValue::String(s) => Ok(Some(s.clone())),
        other => Err(type_error(other, go_type)),
    }
}

/// Go's `%q` for a string (strconv.Quote), enough for file paths.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `base64.StdEncoding.DecodeString` (padding required; `\r` and `\n`
/// are skipped). The error names the offending input byte, as Go does.
pub(crate) fn go_base64(s: &str) -> Result<Vec<u8>, String> {
    fn val(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let illegal = |i: usize| format!("illegal base64 data at input byte {i}");
    let chars: Vec<(usize, u8)> = s
        .bytes()
        .enumerate()
        .filter(|(_, c)| *c != b'\r' && *c != b'\n')
        .collect();
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    for (q, quad) in chars.chunks(4).enumerate() {
        let mut acc: u32 = 0;
        let mut n = 0usize;
        let mut pad = 0usize;
        for (j, &(i, c)) in quad.iter().enumerate() {
            if c == b'=' {
                // Padding only in positions 2 and 3 of the last quantum.
                if j < 2 || (j == 2 && quad.get(3).map(|x| x.1) != Some(b'=')) {
                    return Err(illegal(i));
                }
                if (q + 1) * 4 < chars.len() {
                    return Err(illegal(chars[(q + 1) * 4].0));
                }
                pad += 1;
                continue;
            }
            if pad > 0 {
                return Err(illegal(i));
            }
            let Some(d) = val(c) else {
                return Err(illegal(i));
            };
            acc = (acc << 6) | u32::from(d);
            n += 1;
        }
        if quad.len() < 4 {
            // Unpadded trailing quantum: Go reports where the quantum starts.
            return Err(illegal(quad[0].0));
        }
        acc <<= 6 * (4 - n) as u32;
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..n.saturating_sub(1)]);
    }
    Ok(out)
}

pub(super) const REQ_TYPE: &str = "signature.prTypeIdentifier";

pub(super) fn unexpected_type(t: &str) -> String {
    format!("Unexpected policy requirement type \"{t}\"")
}

/// The lenient first pass c/image uses to pick the implementation: Go's
/// `json.Unmarshal` into a one-field struct (case-insensitive key match, last
/// one wins, any kind mismatch is an error).
pub(super) fn discover_type(v: &JValue, go_struct: &str, go_type: &str) -> Result<String, String> {
    let mut found = String::new();
    match v {
        JValue::Object(members) => {
            for (k, val) in members {
                if !k.eq_ignore_ascii_case("type") {
                    continue;
                }
                match val {
                    JValue::String(s) => found = s.clone(),
                    JValue::Null => {}
                    other => {
                        return Err(format!(
                            "json: cannot unmarshal {} into Go struct field {go_struct}.type of type {go_type}",
                            other.kind()
                        ));
                    }
                }
            }
        }
        JValue::Null => {}
        other => return Err(type_error(other, &format!("signature.{go_struct}"))),
    }
    Ok(found)
}

/// A Go `[]byte` field: base64 text; `null` leaves it nil.
pub(super) fn go_bytes(v: &JValue) -> Result<Option<Vec<u8>>, String> {
    match v {
        JValue::Null => Ok(None),
        JValue::String(s) => go_base64(s).map(Some),
        other => Err(type_error(other, "[]uint8")),
    }
}

/// A Go `[]string` field; `null` leaves it nil.
pub(super) fn go_string_list(v: &JValue) -> Result<Option<Vec<String>>, String> {
    match v {
        JValue::Null => Ok(None),
        JValue::Array(items) => items
            .iter()
            .map(|i| go_string(i, "string").map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(type_error(other, "[]string")),
    }
}
