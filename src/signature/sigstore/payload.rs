//! The payload a sigstore signature signs: cosign's simple-signing JSON, as c/image
//! writes it (`internal.NewUntrustedSigstorePayload`) and reads it strictly
//! (`UntrustedSigstorePayload.strictUnmarshalJSON`): exactly `critical` and `optional`;
//! `critical` exactly `type`, `image`, `identity`; `optional` may be `null` (cosign) and
//! may hold anything besides an integer `timestamp` and a string `creator`.

use crate::digest::Digest;
use crate::policy::json::{self, JValue};

/// `critical.type` of a sigstore payload.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The creator skiff records (c/image writes `containers/image <version>`).
pub fn creator() -> String {
    format!("skiff {}", env!("CARGO_PKG_VERSION"))
}

/// A parsed payload; untrusted until its signature has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub manifest_digest: Digest,
    pub docker_reference: String,
    pub creator: Option<String>,
    pub timestamp: Option<i64>,
}

impl Payload {
    /// The JSON for a new signature: keys sorted, no whitespace, as Go marshals a map.
    pub fn to_json(&self) -> Vec<u8> {
        let mut optional = serde_json::Map::new();
        if let Some(c) = &self.creator {
            optional.insert("creator".into(), c.clone().into());
        }
        if let Some(t) = self.timestamp {
            optional.insert("timestamp".into(), t.into());
        }
        let value = serde_json::json!({
            "critical": {
                "identity": {"docker-reference": self.docker_reference},
                "image": {"docker-manifest-digest": self.manifest_digest.to_string()},
                "type": SIGNATURE_TYPE,
            },
            "optional": serde_json::Value::Object(optional),
        });
        // Strings and integers always serialise; `json!` keeps insertion order here.
        serde_json::to_vec(&value).unwrap_or_default()
    }

    /// Strict parsing with c/image's rules; errors are its texts (an invalid signature).
    pub fn parse(bytes: &[u8]) -> Result<Payload, String> {
        let doc = json::parse_document(bytes)?;
        let [critical, optional] =
            json::exact_fields(&doc, ["critical", "optional"], |_, _| Ok(()))?;
        let (creator, timestamp) = parse_optional(optional)?;
        let [ty, image, identity] =
            json::exact_fields(critical, ["type", "image", "identity"], |_, _| Ok(()))?;
        let ty = go_string(ty)?;
        if ty != SIGNATURE_TYPE {
            return Err(format!("Unrecognized signature type {ty}"));
        }
        let [digest] = json::exact_fields(image, ["docker-manifest-digest"], |_, _| Ok(()))?;
        let digest = go_string(digest)?;
        let manifest_digest = Digest::parse(&digest).map_err(|e| {
            format!(
                "invalid docker-manifest-digest value {}: {e}",
                json::go_quote(&digest)
            )
        })?;
        let [reference] = json::exact_fields(identity, ["docker-reference"], |_, _| Ok(()))?;
        Ok(Payload {
            manifest_digest,
            docker_reference: go_string(reference)?,
            creator,
            timestamp,
        })
    }
}

/// A Go `string` destination (`null` leaves it empty).
fn go_string(v: &JValue) -> Result<String, String> {
    Ok(json::go_string(v, "string")?.unwrap_or_default())
}

fn parse_optional(v: &JValue) -> Result<(Option<String>, Option<i64>), String> {
    let (mut creator, mut timestamp) = (None, None);
    if matches!(v, JValue::Null) {
        return Ok((None, None));
    }
    json::paranoid_object(v, |key, value| {
        match key {
            "creator" => creator = Some(go_string(value)?),
            "timestamp" => {
                let n = match value {
                    JValue::Number(n) => *n,
                    JValue::Null => 0.0,
                    other => return Err(json::type_error(other, "float64")),
                };
                timestamp = Some(n);
            }
            _ => {}
        }
        Ok(true)
    })?;
    let timestamp = match timestamp {
        Some(t) if t.fract() != 0.0 || !t.is_finite() => {
            return Err("Field optional.timestamp is not an integer".to_string());
        }
        Some(t) => Some(t as i64),
        None => None,
    };
    Ok((creator, timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::sha256_of(b"manifest")
    }

    #[test]
    fn writes_c_images_form() {
        let p = Payload {
            manifest_digest: digest(),
            docker_reference: "registry.example/ns/img:v1".into(),
            creator: Some("containers/image 5.23.1".into()),
            timestamp: Some(1_700_000_000),
        };
        let expected = format!(
            "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"registry.example/ns/img:v1\"}},\"image\":{{\"docker-manifest-digest\":\"{}\"}},\"type\":\"cosign container image signature\"}},\"optional\":{{\"creator\":\"containers/image 5.23.1\",\"timestamp\":1700000000}}}}",
            digest()
        );
        assert_eq!(String::from_utf8(p.to_json()).unwrap(), expected);
        assert_eq!(Payload::parse(expected.as_bytes()).unwrap(), p);
    }

    #[test]
    fn reads_cosigns_null_optional_and_ignores_unknown_optional_keys() {
        let text = format!(
            "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"r/i\"}},\"image\":{{\"docker-manifest-digest\":\"{}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}",
            digest()
        );
        let p = Payload::parse(text.as_bytes()).unwrap();
        assert_eq!(p.docker_reference, "r/i");
        assert_eq!(p.creator, None);
        let with_extra = text.replace("null", "{\"sigstore\":\"x\",\"timestamp\":5}");
        assert_eq!(
            Payload::parse(with_extra.as_bytes()).unwrap().timestamp,
            Some(5)
        );
    }

    #[test]
    fn refuses_what_c_image_refuses() {
        let good = Payload {
            manifest_digest: digest(),
            docker_reference: "r/i:t".into(),
            creator: None,
            timestamp: None,
        };
        let text = String::from_utf8(good.to_json()).unwrap();
        let cases = [
            (
                text.replace("\"optional\":{}", "\"optional\":{},\"extra\":1"),
                "Unknown key \"extra\"",
            ),
            (
                text.replace(",\"optional\":{}", ""),
                "Key \"optional\" missing in a JSON object",
            ),
            (
                text.replace(
                    "cosign container image signature",
                    "atomic container signature",
                ),
                "Unrecognized signature type atomic container signature",
            ),
            (
                text.replace("\"optional\":{}", "\"optional\":{\"timestamp\":1.5}"),
                "Field optional.timestamp is not an integer",
            ),
            (
                text.replace(&digest().to_string(), "sha256:xyz"),
                "invalid docker-manifest-digest value \"sha256:xyz\"",
            ),
            (
                text.replace(
                    "{\"docker-reference\"",
                    "{\"docker-reference\":\"a\",\"docker-reference\"",
                ),
                "Duplicate key \"docker-reference\"",
            ),
        ];
        for (input, want) in cases {
            let err = Payload::parse(input.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{input}: {err}");
        }
    }
}
