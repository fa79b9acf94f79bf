//! The simple-signing payload (containers-signature(5)): the JSON an OpenPGP signature
//! signs, built byte for byte as containers/image's `json.Marshal` writes it (keys sorted,
//! no whitespace, Go's escaping) and parsed as strictly as its `untrustedSignature`
//! parser: `critical` holds exactly `type`, `image` and `identity`, `image` exactly
//! `docker-manifest-digest`, `identity` exactly `docker-reference`; `optional` may hold
//! anything, of which `creator` (string) and `timestamp` (integer) are read.
//!
//! Sigstore signs the same JSON with another `critical.type` ([`Format::Sigstore`]), and
//! there `optional` may be `null` (cosign writes that).

use crate::digest::{Digest, DigestError};
use crate::manifest::gojson::write_str as go_json_string;
use crate::policy::json::{JValue, exact_fields, go_string, paranoid_object, parse_document};

/// `critical.type` of every simple-signing payload.
pub const SIGNATURE_TYPE: &str = "atomic container signature";

/// `critical.type` of a sigstore payload (cosign's simple-signing format).
pub const SIGSTORE_SIGNATURE_TYPE: &str = "cosign container image signature";

/// Which signature format a payload belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    SimpleSigning,
    Sigstore,
}

impl Format {
    fn signature_type(self) -> &'static str {
        match self {
            Format::SimpleSigning => SIGNATURE_TYPE,
            Format::Sigstore => SIGSTORE_SIGNATURE_TYPE,
        }
    }
}

/// `optional.creator` of the signatures skiff makes.
pub fn creator() -> String {
    format!("skiff {}", env!("CARGO_PKG_VERSION"))
}

/// A payload that does not follow containers-signature(5); the text is containers/image's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

/// The contents of a simple-signing payload. Untrusted until the signature around it has
/// been verified and its fields checked against what the verifier expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub docker_manifest_digest: Digest,
    pub docker_reference: String,
    pub creator: Option<String>,
    /// Seconds since the epoch.
    pub timestamp: Option<i64>,
}

impl Payload {
    /// A payload for a new signature of `manifest_digest` as `docker_reference`, made now.
    pub fn new(manifest_digest: Digest, docker_reference: String) -> Payload {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Payload {
            docker_manifest_digest: manifest_digest,
            docker_reference,
            creator: Some(creator()),
            timestamp: Some(now),
        }
    }

    /// The JSON containers/image writes for this payload.
    pub fn to_json(&self) -> Vec<u8> {
        self.to_json_as(Format::SimpleSigning)
    }

    /// The JSON containers/image writes for this payload in `format`.
    pub fn to_json_as(&self, format: Format) -> Vec<u8> {
        let mut out = String::from("{\"critical\":{\"identity\":{\"docker-reference\":");
        go_json_string(&mut out, &self.docker_reference);
        out.push_str("},\"image\":{\"docker-manifest-digest\":");
        go_json_string(&mut out, &self.docker_manifest_digest.to_string());
        out.push_str("},\"type\":");
        go_json_string(&mut out, format.signature_type());
        out.push_str("},\"optional\":{");
        if let Some(c) = &self.creator {
            out.push_str("\"creator\":");
            go_json_string(&mut out, c);
        }
        if let Some(t) = self.timestamp {
            if self.creator.is_some() {
                out.push(',');
            }
            out.push_str(&format!("\"timestamp\":{t}"));
        }
        out.push_str("}}");
        out.into_bytes()
    }

    /// Parses a payload with containers/image's strictness and error texts.
    pub fn parse(bytes: &[u8]) -> Result<Payload, PayloadError> {
        Payload::parse_as(bytes, Format::SimpleSigning)
    }

    /// Parses a payload of `format` (c/image's `untrustedSignature` or
    /// `UntrustedSigstorePayload`).
    pub fn parse_as(bytes: &[u8], format: Format) -> Result<Payload, PayloadError> {
        let doc = parse_document(bytes).map_err(PayloadError)?;
        let [critical, optional] =
            exact_fields(&doc, ["critical", "optional"], |_, _| Ok(())).map_err(PayloadError)?;
        let (creator, timestamp) = match optional {
            JValue::Null if format == Format::Sigstore => (None, None),
            _ => parse_optional(optional)?,
        };
        let [ty, image, identity] =
            exact_fields(critical, ["type", "image", "identity"], |k, v| {
                if k == "type" {
                    go_string(v, "string").map(drop)
                } else {
                    Ok(())
                }
            })
            .map_err(PayloadError)?;
        let ty = go_string(ty, "string")
            .map_err(PayloadError)?
            .unwrap_or_default();
        if ty != format.signature_type() {
            return Err(PayloadError(format!("Unrecognized signature type {ty}")));
        }
        let [digest] =
            exact_fields(image, ["docker-manifest-digest"], string_field).map_err(PayloadError)?;
        let digest = go_string(digest, "string")
            .map_err(PayloadError)?
            .unwrap_or_default();
        let docker_manifest_digest = Digest::parse(&digest).map_err(|e| {
            PayloadError(format!(
                "invalid docker-manifest-digest value \"{digest}\": {}",
                go_digest_error(&e)
            ))
        })?;
        let [reference] =
            exact_fields(identity, ["docker-reference"], string_field).map_err(PayloadError)?;
        let docker_reference = go_string(reference, "string")
            .map_err(PayloadError)?
            .unwrap_or_default();
        Ok(Payload {
            docker_manifest_digest,
            docker_reference,
            creator,
            timestamp,
        })
    }
}

fn string_field(_: &str, v: &JValue) -> Result<(), String> {
    go_string(v, "string").map(drop)
}

/// `optional`: `creator` a string, `timestamp` a whole number; other keys are ignored.
fn parse_optional(v: &JValue) -> Result<(Option<String>, Option<i64>), PayloadError> {
    let mut creator = None;
    let mut timestamp = None;
    paranoid_object(v, |key, value| {
        match key {
            "creator" => creator = Some(go_string(value, "string")?.unwrap_or_default()),
            "timestamp" => {
                let n = match value {
                    JValue::Number(n) => *n,
                    // Go leaves the float64 at zero for null.
                    JValue::Null => 0.0,
                    other => return Err(crate::policy::json::type_error(other, "float64")),
                };
                timestamp = Some(n);
            }
            _ => {}
        }
        Ok(true)
    })
    .map_err(PayloadError)?;
    let timestamp = match timestamp {
        Some(t) if t.fract() != 0.0 || !t.is_finite() || t.abs() >= 9.2e18 => {
            return Err(PayloadError(
                "Field optional.timestamp is not an integer".into(),
            ));
        }
        Some(t) => Some(t as i64),
        None => None,
    };
    Ok((creator, timestamp))
}

/// go-digest's words for a digest it cannot parse.
fn go_digest_error(e: &DigestError) -> &'static str {
    match e {
        DigestError::Malformed(_) => "invalid checksum digest format",
        DigestError::UnsupportedAlgorithm(_) => "unsupported digest algorithm",
        DigestError::BadHex(_) => "invalid checksum digest length",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66";

    /// The literal data of a signature skopeo 1.9.3 made (`gpg --list-packets`).
    const SKOPEO: &str = "{\"critical\":{\"identity\":{\"docker-reference\":\"localhost:5000/test/img:v1\"},\"image\":{\"docker-manifest-digest\":\"sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66\"},\"type\":\"atomic container signature\"},\"optional\":{\"creator\":\"atomic 5.23.1\",\"timestamp\":1796407759}}";

    fn payload() -> Payload {
        Payload {
            docker_manifest_digest: Digest::parse(DIGEST).unwrap(),
            docker_reference: "localhost:5000/test/img:v1".into(),
            creator: Some("atomic 5.23.1".into()),
            timestamp: Some(1796407759),
        }
    }

    #[test]
    fn writes_what_containers_image_writes() {
        assert_eq!(String::from_utf8(payload().to_json()).unwrap(), SKOPEO);
        let bare = Payload {
            creator: None,
            timestamp: None,
            ..payload()
        };
        assert!(
            String::from_utf8(bare.to_json())
                .unwrap()
                .ends_with("\"optional\":{}}")
        );
    }

    #[test]
    fn reads_what_it_writes_and_what_skopeo_writes() {
        assert_eq!(Payload::parse(SKOPEO.as_bytes()).unwrap(), payload());
        let ours = Payload::new(Digest::parse(DIGEST).unwrap(), "a.example/b:c".into());
        assert_eq!(Payload::parse(&ours.to_json()).unwrap(), ours);
        assert_eq!(ours.creator.as_deref(), Some(creator().as_str()));
    }

    fn err(json: &str) -> String {
        Payload::parse(json.as_bytes()).unwrap_err().0
    }

    #[test]
    fn rejects_what_containers_image_rejects() {
        let crit = "{\"identity\":{\"docker-reference\":\"r\"},\"image\":{\"docker-manifest-digest\":\"sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66\"},\"type\":\"atomic container signature\"}";
        // Extra, missing and duplicate keys in the exact objects.
        assert_eq!(
            err(&format!(
                "{{\"critical\":{crit},\"optional\":{{}},\"x\":1}}"
            )),
            "Unknown key \"x\""
        );
        assert_eq!(
            err(&format!("{{\"critical\":{crit}}}")),
            "Key \"optional\" missing in a JSON object"
        );
        assert_eq!(
            err(&format!(
                "{{\"critical\":{crit},\"critical\":{crit},\"optional\":{{}}}}"
            )),
            "Duplicate key \"critical\""
        );
        let with = |c: &str| format!("{{\"critical\":{c},\"optional\":{{}}}}");
        assert_eq!(
            err(&with(&crit.replace("atomic container signature", "cosign"))),
            "Unrecognized signature type cosign"
        );
        assert_eq!(
            err(&with(&crit.replace(
                "\"docker-reference\":\"r\"",
                "\"docker-reference\":\"r\",\"extra\":\"x\""
            ))),
            "Unknown key \"extra\""
        );
        assert_eq!(
            err(&with(&crit.replace("sha256:2616", "sha256:zz16"))),
            "invalid docker-manifest-digest value \"sha256:zz16bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66\": invalid checksum digest length"
        );
        assert_eq!(
            err(&with(&crit.replace("\"r\"", "7"))),
            "json: cannot unmarshal number into Go value of type string"
        );
        // optional: other keys are fine, a fractional timestamp is not.
        let ok = format!("{{\"critical\":{crit},\"optional\":{{\"other\":[1],\"timestamp\":5}}}}");
        assert_eq!(Payload::parse(ok.as_bytes()).unwrap().timestamp, Some(5));
        assert_eq!(
            err(&format!(
                "{{\"critical\":{crit},\"optional\":{{\"timestamp\":1.5}}}}"
            )),
            "Field optional.timestamp is not an integer"
        );
        assert_eq!(
            err(&format!("{{\"critical\":{crit},\"optional\":null}}")),
            "JSON object expected, got \"%!s(<nil>)\""
        );
        assert_eq!(err("{"), "unexpected end of JSON input");
    }
}
