//! Tests for policy parsing (`parse.rs`), lookup and evaluation (`eval.rs`).
//! Expected error texts were taken from skopeo 1.9.3
//! (`skopeo --policy FILE copy ...`).

use std::path::Path;

use super::*;

mod eval;
mod parse;

pub(super) const MAN_LOCKED_DOWN: &str = include_str!("../testdata/man-locked-down.json");
pub(super) const MAN_ACCEPT_ALL: &str = r#"{ "default": [{"type": "insecureAcceptAnything"}] }"#;

pub(super) fn parse(s: &str) -> Result<Policy, PolicyError> {
    Policy::parse(s.as_bytes(), Path::new("p.json"))
}

/// The c/image cause of a parse failure, without the file prefix.
pub(super) fn cause(s: &str) -> String {
    match parse(s) {
        Err(PolicyError::Invalid { cause, .. }) => cause,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// A policy whose default rejects and whose `transports` is `transports`.
pub(super) fn with_transports(transports: &str) -> String {
    format!(r#"{{"default":[{{"type":"reject"}}],"transports":{transports}}}"#)
}

/// A policy whose only default requirement is `req`.
pub(super) fn with_req(req: &str) -> String {
    format!(r#"{{"default":[{req}]}}"#)
}

pub(super) fn ns(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub(super) fn image<'a>(
    transport: &'a str,
    identity: &'a str,
    namespaces: &'a [String],
) -> PolicyImage<'a> {
    PolicyImage {
        transport,
        identity,
        namespaces,
        display_name: "dir:/x",
        docker_reference: None,
        manifest: b"{}",
        signatures: &[],
    }
}

pub(super) fn eval_err(policy: &Policy, img: &PolicyImage<'_>) -> String {
    match policy.evaluate(img) {
        Ok(_) => panic!("expected rejection"),
        Err(e) => e.to_string(),
    }
}
