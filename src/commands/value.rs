//! Values shaped like the Go structs skopeo prints, so one tree serves both outputs:
//! `encoding/json` (field names, `omitempty`, nil as null) and `text/template` with
//! `fmt`'s `%v` (`map[k:v]`, `[a b]`, `2024-01-01 00:00:00 +0000 UTC`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One Go value.
#[derive(Debug, Clone, PartialEq)]
pub enum GoValue {
    /// A nil pointer (`*time.Time`), printed `<nil>`, encoded `null`.
    Nil,
    Str(String),
    Bool(bool),
    Int(i64),
    /// A `time.Time`, kept as RFC 3339 text (already in Go's `MarshalJSON` form).
    Time(String),
    /// A slice; `None` is a nil slice (`null` in JSON, `[]` in templates).
    List(Option<Vec<GoValue>>),
    /// A map with string keys (iterated sorted, as Go does); `None` is a nil map.
    Map(Option<BTreeMap<String, GoValue>>),
    Struct(Vec<Field>),
}

/// A struct field: Go name (for templates), JSON name, value, and `omitempty`.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub go: &'static str,
    pub json: &'static str,
    pub value: GoValue,
    pub omitempty: bool,
}

pub fn field(go: &'static str, json: &'static str, value: GoValue) -> Field {
    Field {
        go,
        json,
        value,
        omitempty: false,
    }
}

pub fn omitempty(go: &'static str, json: &'static str, value: GoValue) -> Field {
    Field {
        go,
        json,
        value,
        omitempty: true,
    }
}

impl GoValue {
    pub fn str(s: impl Into<String>) -> GoValue {
        GoValue::Str(s.into())
    }

    pub fn strings(v: Option<Vec<String>>) -> GoValue {
        GoValue::List(v.map(|v| v.into_iter().map(GoValue::Str).collect()))
    }

    pub fn string_map(m: Option<BTreeMap<String, String>>) -> GoValue {
        GoValue::Map(m.map(|m| m.into_iter().map(|(k, v)| (k, GoValue::Str(v))).collect()))
    }

    /// What `omitempty` omits and `{{if}}` treats as false.
    pub fn is_empty(&self) -> bool {
        match self {
            GoValue::Nil => true,
            GoValue::Str(s) => s.is_empty(),
            GoValue::Bool(b) => !b,
            GoValue::Int(i) => *i == 0,
            GoValue::Time(_) => false,
            GoValue::List(l) => l.as_ref().is_none_or(Vec::is_empty),
            GoValue::Map(m) => m.as_ref().is_none_or(BTreeMap::is_empty),
            // encoding/json never omits a struct; templates treat a struct as true.
            GoValue::Struct(_) => false,
        }
    }

    /// The type name Go's errors would use.
    pub fn type_name(&self) -> &'static str {
        match self {
            GoValue::Nil => "nil",
            GoValue::Str(_) => "string",
            GoValue::Bool(_) => "bool",
            GoValue::Int(_) => "int",
            GoValue::Time(_) => "time.Time",
            GoValue::List(_) => "slice",
            GoValue::Map(_) => "map",
            GoValue::Struct(_) => "struct",
        }
    }

    /// The value as `encoding/json` encodes it.
    pub fn to_json(&self) -> Value {
        match self {
            GoValue::Nil => Value::Null,
            GoValue::Str(s) | GoValue::Time(s) => Value::String(s.clone()),
            GoValue::Bool(b) => Value::Bool(*b),
            GoValue::Int(i) => Value::from(*i),
            GoValue::List(None) | GoValue::Map(None) => Value::Null,
            GoValue::List(Some(items)) => {
                Value::Array(items.iter().map(GoValue::to_json).collect())
            }
            GoValue::Map(Some(m)) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect::<Map<_, _>>(),
            ),
            GoValue::Struct(fields) => Value::Object(
                fields
                    .iter()
                    .filter(|f| !(f.omitempty && f.value.is_empty()))
                    .map(|f| (f.json.to_string(), f.value.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// `fmt.Sprint(v)`.
    pub fn to_text(&self) -> String {
        match self {
            GoValue::Nil => "<nil>".into(),
            GoValue::Str(s) => s.clone(),
            GoValue::Bool(b) => b.to_string(),
            GoValue::Int(i) => i.to_string(),
            GoValue::Time(t) => go_time_string(t),
            GoValue::List(items) => format!(
                "[{}]",
                items
                    .iter()
                    .flatten()
                    .map(GoValue::to_text)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            GoValue::Map(m) => format!(
                "map[{}]",
                m.iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}:{}", v.to_text()))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            GoValue::Struct(fields) => format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|f| f.value.to_text())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }

    /// A struct field by its Go name.
    pub fn field(&self, name: &str) -> Option<&GoValue> {
        match self {
            GoValue::Struct(fields) => fields.iter().find(|f| f.go == name).map(|f| &f.value),
            _ => None,
        }
    }
}

/// Go's `json.MarshalIndent(v, "", "    ")` (with its HTML escaping) plus a newline,
/// as skopeo prints inspect output.
pub fn indented_json(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serializing a Value into a Vec cannot fail.
    let _ = serde::Serialize::serialize(value, &mut ser);
    let mut text = go_escape(&String::from_utf8_lossy(&out));
    text.push('\n');
    text
}

/// encoding/json's HTML-safe escaping; these characters only occur inside strings.
pub fn go_escape(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// An RFC 3339 time as Go re-encodes it after parsing: fraction without trailing zeros,
/// a zero offset as `Z`. Text that is not RFC 3339 is returned unchanged.
pub fn normalize_time(s: &str) -> String {
    let Some((date_time, offset)) = split_offset(s) else {
        return s.to_string();
    };
    let (whole, fraction) = match date_time.split_once('.') {
        Some((w, f)) => (w, f.trim_end_matches('0')),
        None => (date_time, ""),
    };
    let whole = whole.replacen(['t', ' '], "T", 1);
    let offset = match offset {
        "Z" | "z" | "+00:00" | "-00:00" => "Z",
        o => o,
    };
    if fraction.is_empty() {
        format!("{whole}{offset}")
    } else {
        format!("{whole}.{fraction}{offset}")
    }
}

/// `2024-01-01T10:00:00.5+02:00` -> (`2024-01-01T10:00:00.5`, `+02:00`).
fn split_offset(s: &str) -> Option<(&str, &str)> {
    if s.len() < 20 || !s.is_char_boundary(19) {
        return None;
    }
    if let Some(rest) = s.strip_suffix(['Z', 'z']) {
        return Some((rest, &s[rest.len()..]));
    }
    let i = s.len().checked_sub(6)?;
    // Outside text: the cut may fall inside a character (found by fuzzing).
    let (head, off) = s.split_at_checked(i)?;
    (off.starts_with(['+', '-']) && off.as_bytes().get(3) == Some(&b':')).then_some((head, off))
}

/// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST` (UTC for offset 0).
fn go_time_string(rfc3339: &str) -> String {
    let Some((date_time, offset)) = split_offset(rfc3339) else {
        return rfc3339.to_string();
    };
    let date_time = date_time.replacen('T', " ", 1);
    if offset.eq_ignore_ascii_case("z") || offset == "+00:00" {
        return format!("{date_time} +0000 UTC");
    }
    let compact = offset.replace(':', "");
    format!("{date_time} {compact} {compact}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz target image_config's crash input: a `created` whose last six bytes start
    /// inside a three-byte character panicked in split_offset.
    #[test]
    fn a_time_cut_inside_a_character_is_left_as_it_is() {
        for s in [
            "2024-0ca@example.com\u{83e} & co",
            "2024-01-01T10:00:00\u{83e}0:00",
        ] {
            assert_eq!(normalize_time(s), s);
            assert_eq!(go_time_string(s), s);
        }
    }

    #[test]
    fn times_like_go() {
        assert_eq!(
            normalize_time("2024-01-01T00:00:00Z"),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            normalize_time("2024-01-01T00:00:00.120000000Z"),
            "2024-01-01T00:00:00.12Z"
        );
        assert_eq!(
            normalize_time("2024-01-01T00:00:00+00:00"),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            normalize_time("2024-01-01T02:00:00.0+02:00"),
            "2024-01-01T02:00:00+02:00"
        );
        assert_eq!(
            GoValue::Time("2024-01-01T00:00:00Z".into()).to_text(),
            "2024-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(
            GoValue::Time("2024-01-01T02:00:00.5+02:00".into()).to_text(),
            "2024-01-01 02:00:00.5 +0200 +0200"
        );
    }

    #[test]
    fn prints_like_fmt() {
        let m: BTreeMap<String, String> = [
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string()),
        ]
        .into();
        assert_eq!(GoValue::string_map(Some(m)).to_text(), "map[a:1 b:2]");
        assert_eq!(GoValue::string_map(None).to_text(), "map[]");
        assert_eq!(
            GoValue::strings(Some(vec!["x".into(), "y".into()])).to_text(),
            "[x y]"
        );
        assert_eq!(GoValue::strings(None).to_json(), Value::Null);
        assert_eq!(GoValue::Nil.to_text(), "<nil>");
    }

    #[test]
    fn json_like_encoding_json() {
        let v = GoValue::Struct(vec![
            omitempty("Name", "Name", GoValue::str("")),
            field("Digest", "Digest", GoValue::str("sha256:x")),
            field("Labels", "Labels", GoValue::string_map(None)),
            field("Env", "Env", GoValue::strings(Some(vec!["A=<b>".into()]))),
        ]);
        assert_eq!(
            indented_json(&v.to_json()),
            "{\n    \"Digest\": \"sha256:x\",\n    \"Labels\": null,\n    \"Env\": [\n        \"A=\\u003cb\\u003e\"\n    ]\n}\n"
        );
    }
}
