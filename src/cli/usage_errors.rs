//! Command-line errors in the words of skopeo's flag parser (spf13/pflag), which scripts
//! grep: `unknown flag: --x`, `flag needs an argument: --x`, `invalid argument "v" for
//! "--x" flag: …`. clap finds the error; this only words it. Errors pflag has no sentence
//! for keep clap's.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// The message for a command-line error, with a pointer to `--help` after it.
pub fn usage_error_text(e: &clap::Error) -> String {
    let first = pflag_sentence(e).unwrap_or_else(|| clap_sentence(e));
    format!("{first}\nTry '--help' for more information")
}

fn clap_sentence(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid command line");
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

fn context(e: &clap::Error, kind: ContextKind) -> Option<&str> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s),
        _ => None,
    }
}

/// `--retry-times <INT>`, `--src-tls-verify[=<BOOL>]` -> the flag alone; `-q` stays.
fn flag_name(arg: &str) -> &str {
    arg.split([' ', '=', '[']).next().unwrap_or(arg)
}

fn pflag_sentence(e: &clap::Error) -> Option<String> {
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = flag_name(context(e, ContextKind::InvalidArg)?);
            if let Some(long) = arg.strip_prefix("--") {
                Some(format!("unknown flag: --{long}"))
            } else {
                let short = arg.strip_prefix('-')?.chars().next()?;
                Some(format!("unknown shorthand flag: '{short}' in {arg}"))
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let flag = flag_name(context(e, ContextKind::InvalidArg)?);
            if !flag.starts_with('-') {
                return None;
            }
            let value = context(e, ContextKind::InvalidValue).unwrap_or_default();
            if value.is_empty() && e.kind() == ErrorKind::InvalidValue {
                return Some(format!("flag needs an argument: {flag}"));
            }
            let why = go_parse_error(e, value)?;
            Some(format!(
                "invalid argument \"{value}\" for \"{flag}\" flag: {why}"
            ))
        }
        _ => None,
    }
}

/// What Go's strconv says of a number it cannot parse; other validation errors keep
/// skiff's own reason.
fn go_parse_error(e: &clap::Error, value: &str) -> Option<String> {
    use std::error::Error as _;
    let source = e.source()?;
    if let Some(int) = source.downcast_ref::<std::num::ParseIntError>() {
        let why = match int.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        return Some(format!("strconv.ParseInt: parsing \"{value}\": {why}"));
    }
    Some(source.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(args: &[&str]) -> String {
        let mut cmd = crate::cli::command("skopeo");
        let e = cmd.try_get_matches_from_mut(args).unwrap_err();
        usage_error_text(&e)
    }

    #[test]
    fn flag_errors_are_worded_as_pflag_words_them() {
        let cases = [
            (
                vec!["skopeo", "copy", "--bogus", "a", "b"],
                "unknown flag: --bogus",
            ),
            (
                vec!["skopeo", "copy", "-Z", "a", "b"],
                "unknown shorthand flag: 'Z' in -Z",
            ),
            (
                vec!["skopeo", "copy", "a", "b", "--retry-times"],
                "flag needs an argument: --retry-times",
            ),
            (
                vec!["skopeo", "copy", "--retry-times", "x", "a", "b"],
                "invalid argument \"x\" for \"--retry-times\" flag: strconv.ParseInt: parsing \"x\": invalid syntax",
            ),
            (
                vec!["skopeo", "copy", "--src-tls-verify=maybe", "a", "b"],
                "invalid argument \"maybe\" for \"--src-tls-verify\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax",
            ),
        ];
        for (args, want) in cases {
            let text = error_of(&args);
            assert!(text.starts_with(want), "{args:?}: {text}");
            assert!(
                text.ends_with("Try '--help' for more information"),
                "{text}"
            );
        }
    }
}
