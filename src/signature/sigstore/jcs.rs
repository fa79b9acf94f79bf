//! JSON canonicalization (RFC 8785, "JCS"), which Rekor signs its entry timestamps over:
//! object members sorted by their UTF-16 code units, no whitespace, strings with minimal
//! escapes, numbers as ECMAScript prints a double.

use crate::policy::json::{self, JValue};

/// The canonical form of the JSON text `input`.
pub fn canonicalize(input: &[u8]) -> Result<Vec<u8>, String> {
    let value = json::parse_document(input)?;
    let mut out = String::new();
    write_value(&value, &mut out)?;
    Ok(out.into_bytes())
}

fn write_value(v: &JValue, out: &mut String) -> Result<(), String> {
    match v {
        JValue::Null => out.push_str("null"),
        JValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        JValue::Number(n) => out.push_str(&es6_number(*n)?),
        JValue::String(s) => write_string(s, out),
        JValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        JValue::Object(members) => {
            let mut sorted: Vec<&(String, JValue)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(format!("Duplicate key: {}", w[0].0));
            }
            out.push('{');
            for (i, (key, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(value, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// ECMAScript's Number.prototype.toString for a finite double (ECMA-262 7.1.12.1),
/// from the shortest round-trip digits Rust's `{:e}` gives.
fn es6_number(n: f64) -> Result<String, String> {
    if !n.is_finite() {
        return Err(format!("JSON number {n} cannot be canonicalized"));
    }
    if n == 0.0 {
        return Ok("0".into());
    }
    let sci = format!("{:e}", n.abs());
    let (mantissa, exp) = sci.split_once('e').ok_or("unexpected float format")?;
    let exp: i32 = exp.parse().map_err(|_| "unexpected float format")?;
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let point = exp + 1; // the value is 0.DIGITS × 10^point
    let body = if k <= point && point <= 21 {
        format!("{digits}{}", "0".repeat((point - k) as usize))
    } else if 0 < point && point <= 21 {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    } else if -6 < point && point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else {
        let e = point - 1;
        let sign = if e < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        if rest.is_empty() {
            format!("{first}e{sign}{}", e.abs())
        } else {
            format!("{first}.{rest}e{sign}{}", e.abs())
        }
    };
    Ok(if n < 0.0 { format!("-{body}") } else { body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_members_and_drops_whitespace() {
        let input = br#" { "b" : [ 1 , true, null ], "a": {"z": "x", "\u00e9": "\u0001\n/"} } "#;
        assert_eq!(
            String::from_utf8(canonicalize(input).unwrap()).unwrap(),
            "{\"a\":{\"z\":\"x\",\"\u{e9}\":\"\\u0001\\n/\"},\"b\":[1,true,null]}"
        );
    }

    #[test]
    fn numbers_print_as_ecmascript_does() {
        // Values from RFC 8785's appendix B.
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (9007199254740991.0, "9007199254740991"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (333333333.3333333, "333333333.3333333"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (295147905179352830000.0, "295147905179352830000"),
        ];
        for (n, want) in cases {
            assert_eq!(es6_number(n).unwrap(), want, "{n}");
        }
    }

    #[test]
    fn sorts_by_utf16_code_units() {
        // U+1F600 (surrogates D83D…) sorts before U+FB01 in UTF-16, after it in UTF-8.
        let input = "{\"\u{fb01}\":1,\"\u{1f600}\":2}";
        let out = String::from_utf8(canonicalize(input.as_bytes()).unwrap()).unwrap();
        assert_eq!(out, "{\"\u{1f600}\":2,\"\u{fb01}\":1}");
        assert!(canonicalize(b"{\"a\":1,\"a\":2}").is_err());
    }
}
