//! The payload a sigstore signature signs: cosign's simple-signing JSON, which is the
//! simple-signing payload (`signature::simple`) with its own `critical.type` and, as
//! cosign writes it, `"optional": null` allowed (c/image `UntrustedSigstorePayload`).

use crate::digest::Digest;
use crate::signature::simple::{Format, Payload};

pub use crate::signature::simple::SIGSTORE_SIGNATURE_TYPE as SIGNATURE_TYPE;

/// The JSON of a new signature of `manifest_digest` as `docker_reference`, made now.
pub fn new_payload(manifest_digest: Digest, docker_reference: String) -> Vec<u8> {
    Payload::new(manifest_digest, docker_reference).to_json_as(Format::Sigstore)
}

/// Strict parsing with c/image's rules; errors are its texts.
pub fn parse(bytes: &[u8]) -> Result<Payload, String> {
    Payload::parse_as(bytes, Format::Sigstore).map_err(|e| e.0)
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
            docker_manifest_digest: digest(),
            docker_reference: "registry.example/ns/img:v1".into(),
            creator: Some("containers/image 5.23.1".into()),
            timestamp: Some(1_700_000_000),
        };
        let expected = format!(
            "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"registry.example/ns/img:v1\"}},\"image\":{{\"docker-manifest-digest\":\"{}\"}},\"type\":\"cosign container image signature\"}},\"optional\":{{\"creator\":\"containers/image 5.23.1\",\"timestamp\":1700000000}}}}",
            digest()
        );
        assert_eq!(
            String::from_utf8(p.to_json_as(Format::Sigstore)).unwrap(),
            expected
        );
        assert_eq!(parse(expected.as_bytes()).unwrap(), p);
    }

    #[test]
    fn reads_cosigns_null_optional_and_ignores_unknown_optional_keys() {
        let text = format!(
            "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"r/i\"}},\"image\":{{\"docker-manifest-digest\":\"{}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}",
            digest()
        );
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(p.docker_reference, "r/i");
        assert_eq!(p.creator, None);
        let with_extra = text.replace("null", "{\"sigstore\":\"x\",\"timestamp\":5}");
        assert_eq!(parse(with_extra.as_bytes()).unwrap().timestamp, Some(5));
        // Simple signing does not allow the null.
        assert!(
            Payload::parse(
                text.replace(
                    "cosign container image signature",
                    "atomic container signature"
                )
                .as_bytes()
            )
            .is_err()
        );
    }

    #[test]
    fn refuses_what_c_image_refuses() {
        let text = String::from_utf8(new_payload(digest(), "r/i:t".into())).unwrap();
        let cases = [
            (
                text.replace("\"critical\":{", "\"extra\":1,\"critical\":{"),
                "Unknown key \"extra\"",
            ),
            (
                text.replace(
                    "cosign container image signature",
                    "atomic container signature",
                ),
                "Unrecognized signature type atomic container signature",
            ),
            (
                text.replace(&digest().to_string(), "sha256:xyz"),
                "invalid docker-manifest-digest value \"sha256:xyz\"",
            ),
        ];
        for (input, want) in cases {
            let err = parse(input.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{input}: {err}");
        }
    }
}
