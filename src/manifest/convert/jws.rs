//! The JWS envelope libtrust (docker/libtrust as vendored by skopeo 1.9.3) wraps around a
//! schema 1 manifest: `NewJSONSignature(manifest)`, `Sign(key)`, `PrettySignature("signatures")`.
//! c/image signs with a fresh random P-256 key each time, so these bytes can never match
//! skopeo's; everything up to `"signatures"` does, and the envelope has the same shape.

use serde_json::{Map, Value};

use super::api::Schema1Signer;
use crate::manifest::error::ManifestError;
use crate::manifest::gojson;

/// Unpadded URL-safe base64, as libtrust's `joseBase64UrlEncode`.
pub fn base64url(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// Signs a compact (unindented) manifest and appends the `signatures` member.
pub fn sign(content: &[u8], signer: &dyn Schema1Signer) -> Result<Vec<u8>, ManifestError> {
    let not_space = |b: &u8| !matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let close = content
        .iter()
        .rposition(not_space)
        .filter(|&i| content[i] == b'}')
        .ok_or_else(|| ManifestError::Update("invalid JSON content".into()))?;
    let last = content[..close]
        .iter()
        .rposition(not_space)
        .ok_or_else(|| ManifestError::Update("invalid JSON content".into()))?;
    if content[last] == b',' {
        return Err(ManifestError::Update("invalid JSON content".into()));
    }
    let format_length = last + 1;
    let format_tail = &content[format_length..];
    let payload = base64url(content);
    // Go marshals the protected header from a map: keys sorted.
    let mut header = Map::new();
    header.insert("formatLength".into(), Value::from(format_length));
    header.insert("formatTail".into(), Value::String(base64url(format_tail)));
    header.insert("time".into(), Value::String(signer.time()));
    let protected = base64url(gojson::encode(&Value::Object(header)).as_bytes());
    let signing_input = format!("{protected}.{payload}");
    let (jwk, signature) = signer
        .sign(signing_input.as_bytes())
        .map_err(|e| ManifestError::Update(format!("signing schema 1 manifest: {e}")))?;
    let mut h = Map::new();
    h.insert("jwk".into(), jwk);
    h.insert("alg".into(), Value::String("ES256".into()));
    let mut sig = Map::new();
    sig.insert("header".into(), Value::Object(h));
    sig.insert("signature".into(), Value::String(base64url(&signature)));
    sig.insert("protected".into(), Value::String(protected));
    let sigs = gojson::encode(&Value::Array(vec![Value::Object(sig)]));
    let mut out = content[..format_length].to_vec();
    out.extend_from_slice(b",\"signatures\":");
    out.extend_from_slice(sigs.as_bytes());
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::base64url;

    #[test]
    fn base64url_matches_rfc4648() {
        assert_eq!(base64url(b"}"), "fQ");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(b"fooba"), "Zm9vYmE");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
