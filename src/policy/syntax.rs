//! A JSON syntax check equivalent to Go's `encoding/json` `checkValid`, so
//! malformed policies fail with the same text skopeo prints (e.g.
//! `invalid character '}' after top-level value`).

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    ObjectKey,
    ObjectValue,
    Array,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    InStringEscU(u8),
    Neg,
    Int,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Remaining bytes of a literal (`true`, `false`, `null`) and its name.
    Literal(&'static [u8], &'static str),
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Go's `quoteChar`.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        0x07 => "'\\a'".to_string(),
        0x08 => "'\\b'".to_string(),
        0x0c => "'\\f'".to_string(),
        b'\n' => "'\\n'".to_string(),
        b'\r' => "'\\r'".to_string(),
        b'\t' => "'\\t'".to_string(),
        0x0b => "'\\v'".to_string(),
        b'\\' => "'\\\\'".to_string(),
        c if c < 0x20 || c == 0x7f => format!("'\\x{c:02x}'"),
        c if (0x80..0xa1).contains(&c) => format!("'\\u{c:04x}'"),
        c => format!("'{}'", char::from(c)),
    }
}

fn invalid(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_char(c))
}

/// Returns Go's error text if `data` is not one valid JSON value.
pub(crate) fn check_valid(data: &[u8]) -> Result<(), String> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut state = State::BeginValue;
    for &c in data {
        state = step(state, &mut stack, c)?;
    }
    if state == State::EndTop {
        return Ok(());
    }
    // Go feeds a final space so that a complete top-level number ends; an
    // error from that step is reported as is (e.g. `tru` at the end).
    match step(state, &mut stack, b' ')? {
        State::EndTop => Ok(()),
        _ => Err("unexpected end of JSON input".to_string()),
    }
}

fn end_value(stack: &mut Vec<Frame>, c: u8) -> Result<State, String> {
    let Some(top) = stack.last_mut() else {
        return end_top(c);
    };
    if is_space(c) {
        return Ok(State::EndValue);
    }
    match (*top, c) {
        (Frame::ObjectKey, b':') => {
            *top = Frame::ObjectValue;
            Ok(State::BeginValue)
        }
        (Frame::ObjectKey, _) => Err(invalid(c, "after object key")),
        (Frame::ObjectValue, b',') => {
            *top = Frame::ObjectKey;
            Ok(State::BeginString)
        }
        (Frame::ObjectValue, b'}') | (Frame::Array, b']') => {
            stack.pop();
            Ok(if stack.is_empty() {
                State::EndTop
            } else {
                State::EndValue
            })
        }
        (Frame::ObjectValue, _) => Err(invalid(c, "after object key:value pair")),
        (Frame::Array, b',') => Ok(State::BeginValue),
        (Frame::Array, _) => Err(invalid(c, "after array element")),
    }
}

fn end_top(c: u8) -> Result<State, String> {
    if is_space(c) {
        Ok(State::EndTop)
    } else {
        Err(invalid(c, "after top-level value"))
    }
}

fn begin_value(stack: &mut Vec<Frame>, c: u8) -> Result<State, String> {
    Ok(match c {
        c if is_space(c) => State::BeginValue,
        b'{' => {
            stack.push(Frame::ObjectKey);
            State::BeginStringOrEmpty
        }
        b'[' => {
            stack.push(Frame::Array);
            State::BeginValueOrEmpty
        }
        b'"' => State::InString,
        b'-' => State::Neg,
        b'0' => State::Zero,
        b'1'..=b'9' => State::Int,
        b't' => State::Literal(b"rue", "true"),
        b'f' => State::Literal(b"alse", "false"),
        b'n' => State::Literal(b"ull", "null"),
        c => return Err(invalid(c, "looking for beginning of value")),
    })
}

fn step(state: State, stack: &mut Vec<Frame>, c: u8) -> Result<State, String> {
    let digit = c.is_ascii_digit();
    Ok(match state {
        State::BeginValue => return begin_value(stack, c),
        State::BeginValueOrEmpty => match c {
            c if is_space(c) => state,
            b']' => return end_value(stack, c),
            c => return begin_value(stack, c),
        },
        State::BeginStringOrEmpty => match c {
            c if is_space(c) => state,
            b'}' => {
                if let Some(top) = stack.last_mut() {
                    *top = Frame::ObjectValue;
                }
                return end_value(stack, c);
            }
            c => return step(State::BeginString, stack, c),
        },
        State::BeginString => match c {
            c if is_space(c) => state,
            b'"' => State::InString,
            c => return Err(invalid(c, "looking for beginning of object key string")),
        },
        State::EndValue => return end_value(stack, c),
        State::EndTop => return end_top(c),
        State::InString => match c {
            b'"' => State::EndValue,
            b'\\' => State::InStringEsc,
            c if c < 0x20 => return Err(invalid(c, "in string literal")),
            _ => state,
        },
        State::InStringEsc => match c {
            b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => State::InString,
            b'u' => State::InStringEscU(4),
            c => return Err(invalid(c, "in string escape code")),
        },
        State::InStringEscU(n) => {
            if !c.is_ascii_hexdigit() {
                return Err(invalid(c, "in \\u hexadecimal character escape"));
            }
            if n == 1 {
                State::InString
            } else {
                State::InStringEscU(n - 1)
            }
        }
        State::Neg => match c {
            b'0' => State::Zero,
            b'1'..=b'9' => State::Int,
            c => return Err(invalid(c, "in numeric literal")),
        },
        State::Int if digit => state,
        State::Int | State::Zero => match c {
            b'.' => State::Dot,
            b'e' | b'E' => State::E,
            c => return end_value(stack, c),
        },
        State::Dot if digit => State::Dot0,
        State::Dot => return Err(invalid(c, "after decimal point in numeric literal")),
        State::Dot0 if digit => state,
        State::Dot0 => match c {
            b'e' | b'E' => State::E,
            c => return end_value(stack, c),
        },
        State::E if c == b'+' || c == b'-' => State::ESign,
        State::E | State::ESign if digit => State::E0,
        State::E | State::ESign => return Err(invalid(c, "in exponent of numeric literal")),
        State::E0 if digit => state,
        State::E0 => return end_value(stack, c),
        State::Literal(rest, name) => match rest.split_first() {
            Some((want, tail)) if *want == c => {
                if tail.is_empty() {
                    State::EndValue
                } else {
                    State::Literal(tail, name)
                }
            }
            Some((want, _)) => {
                return Err(invalid(
                    c,
                    &format!("in literal {name} (expecting {})", quote_char(*want)),
                ));
            }
            None => return end_value(stack, c),
        },
    })
}
