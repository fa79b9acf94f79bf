//! Rekor, the transparency log: uploading a `hashedrekord` entry when signing, and
//! checking a signed entry timestamp (SET) offline when verifying, as c/image does
//! (`signature/sigstore/rekor`, `signature/internal/rekor_set.go`). Error texts are
//! c/image's.

use base64::Engine as _;
use serde::Deserialize;
use sha2::Digest as _;

use super::error::SigstoreError;
use super::http::http_client;
use super::jcs;
use super::keys::PublicKey;
use super::pem;
use crate::policy::json::{self, JValue};

const HASHEDREKORD_VERSION: &str = "0.0.1";
/// Tries for an upload, as c/image's retryable client (3 retries).
const UPLOAD_ATTEMPTS: u32 = 4;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// c/image's `VerifyRekorSET`: `set` is signed by one of `rekor_keys` and records exactly
/// this key or certificate (PEM), signature and payload. Returns the entry's integration
/// time (seconds since the epoch).
pub fn verify_set(
    rekor_keys: &[PublicKey],
    set: &[u8],
    key_or_cert_pem: &[u8],
    base64_signature: &str,
    payload: &[u8],
) -> Result<i64, String> {
    let doc = json::parse_document(set)?;
    let [timestamp, set_payload] =
        json::exact_fields(&doc, ["SignedEntryTimestamp", "Payload"], |_, _| Ok(()))?;
    let timestamp = go_bytes(timestamp)?;
    let raw_payload = raw_json(set_payload);
    let canonical = jcs::canonicalize(raw_payload.as_bytes())
        .map_err(|e| format!("canonicalizing Rekor SET JSON: {e}"))?;
    if !rekor_keys
        .iter()
        .any(|k| k.verify(&canonical, &timestamp).is_ok())
    {
        return Err("cryptographic signature verification of Rekor SET failed".into());
    }
    let entry = parse_entry(&canonical).map_err(|e| format!("parsing Rekor SET payload: {e}"))?;
    let spec = parse_body(&entry.body)?;
    match_key_or_cert(&spec, key_or_cert_pem)?;
    let signature =
        json::go_base64(base64_signature).map_err(|e| format!("decoding signature base64: {e}"))?;
    let recorded = spec
        .signature
        .as_ref()
        .and_then(|s| s.content.as_deref())
        .unwrap_or_default();
    if recorded != signature.as_slice() {
        return Err("signature in Rekor SET does not match".into());
    }
    match_payload(&spec, payload)?;
    Ok(entry.integrated_time)
}

/// A Go `[]byte` field: base64 text.
fn go_bytes(v: &JValue) -> Result<Vec<u8>, String> {
    match v {
        JValue::Null => Ok(Vec::new()),
        JValue::String(s) => json::go_base64(s),
        other => Err(json::type_error(other, "[]uint8")),
    }
}

/// A `json.RawMessage` member, re-serialised (canonicalization reorders it anyway).
fn raw_json(v: &JValue) -> String {
    let mut out = String::new();
    write_raw(v, &mut out);
    out
}

fn write_raw(v: &JValue, out: &mut String) {
    match v {
        JValue::Null => out.push_str("null"),
        JValue::Bool(b) => out.push_str(&b.to_string()),
        JValue::Number(n) => out.push_str(
            &serde_json::Number::from_f64(*n).map_or_else(|| "null".to_string(), |n| n.to_string()),
        ),
        JValue::String(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
        JValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_raw(item, out);
            }
            out.push(']');
        }
        JValue::Object(members) => {
            out.push('{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                write_raw(item, out);
            }
            out.push('}');
        }
    }
}

/// `UntrustedRekorPayload`, strictly.
struct Entry {
    body: Vec<u8>,
    integrated_time: i64,
}

fn parse_entry(canonical: &[u8]) -> Result<Entry, String> {
    let doc = json::parse_document(canonical)?;
    let [body, time, index, log_id] = json::exact_fields(
        &doc,
        ["body", "integratedTime", "logIndex", "logID"],
        |_, _| Ok(()),
    )?;
    let int = |v: &JValue| match v {
        JValue::Number(n) if n.fract() == 0.0 => Ok(*n as i64),
        JValue::Null => Ok(0),
        other => Err(json::type_error(other, "int64")),
    };
    int(index)?;
    json::go_string(log_id, "string")?;
    Ok(Entry {
        body: go_bytes(body)?,
        integrated_time: int(time)?,
    })
}

/// The parts of a `hashedrekord` v0.0.1 spec that are checked (Go decodes leniently).
#[derive(Deserialize, Default)]
struct Spec {
    data: Option<Data>,
    signature: Option<SpecSignature>,
}

#[derive(Deserialize)]
struct Data {
    hash: Option<Hash>,
}

#[derive(Deserialize)]
struct Hash {
    algorithm: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct SpecSignature {
    #[serde(default, with = "opt_b64")]
    content: Option<Vec<u8>>,
    #[serde(rename = "publicKey")]
    public_key: Option<SpecKey>,
}

#[derive(Deserialize)]
struct SpecKey {
    #[serde(default, with = "opt_b64")]
    content: Option<Vec<u8>>,
}

fn parse_body(body: &[u8]) -> Result<Spec, String> {
    #[derive(Deserialize)]
    struct Record {
        #[serde(default)]
        kind: String,
        #[serde(rename = "apiVersion")]
        api_version: Option<String>,
        spec: Option<serde_json::Value>,
    }
    let record: Record = serde_json::from_slice(body)
        .map_err(|e| format!("decoding the body of a Rekor SET payload: {e}"))?;
    if record.kind != "hashedrekord" {
        return Err(format!(
            "decoding the body of a Rekor SET payload: invalid kind value: {}",
            json::go_quote(&record.kind)
        ));
    }
    let Some(version) = record.api_version else {
        return Err("missing Rekor SET Payload API version".into());
    };
    if version != HASHEDREKORD_VERSION {
        return Err(format!(
            "unsupported Rekor SET Payload hashedrekord version {}",
            json::go_quote(&version)
        ));
    }
    match record.spec {
        None | Some(serde_json::Value::Null) => Ok(Spec::default()),
        Some(v) => serde_json::from_value(v).map_err(|e| format!("decoding hashedrekod spec: {e}")),
    }
}

fn match_key_or_cert(spec: &Spec, key_or_cert_pem: &[u8]) -> Result<(), String> {
    let Some(signature) = &spec.signature else {
        return Err("Missing \"signature\" field in hashedrekord".into());
    };
    let Some(key) = &signature.public_key else {
        return Err("Missing \"signature.publicKey\" field in hashedrekord".into());
    };
    let recorded = key.content.as_deref().unwrap_or_default();
    let (recorded, rest) =
        pem::decode(recorded).ok_or("publicKey in Rekor SET is not in PEM format")?;
    if !rest.is_empty() {
        return Err("publicKey in Rekor SET has trailing data".into());
    }
    let (ours, rest) = pem::decode(key_or_cert_pem).ok_or(
        "public key or cert to be matched against publicKey in Rekor SET is not in PEM format",
    )?;
    if !rest.is_empty() {
        return Err(
            "public key or cert to be matched against publicKey in Rekor SET has trailing data"
                .into(),
        );
    }
    if recorded.bytes != ours.bytes {
        return Err("publicKey in Rekor SET does not match".into());
    }
    Ok(())
}

fn match_payload(spec: &Spec, payload: &[u8]) -> Result<(), String> {
    let hash = spec
        .data
        .as_ref()
        .ok_or("Missing \"data\" field in hashedrekord")?
        .hash
        .as_ref()
        .ok_or("Missing \"data.hash\" field in hashedrekord")?;
    let algorithm = hash
        .algorithm
        .as_deref()
        .ok_or("Missing \"data.hash.algorithm\" field in hashedrekord")?;
    if algorithm != "sha256" {
        return Err(format!(
            "Unexpected \"data.hash.algorithm\" value {}",
            json::go_quote(algorithm)
        ));
    }
    let value = hash
        .value
        .as_deref()
        .ok_or("Missing \"data.hash.value\" field in hashedrekord")?;
    let recorded = hex::decode(value)
        .map_err(|e| format!("Invalid \"data.hash.value\" field in hashedrekord: {e}"))?;
    if recorded != sha2::Sha256::digest(payload).as_slice() {
        return Err("payload in Rekor SET does not match".into());
    }
    Ok(())
}

mod opt_b64 {
    use super::*;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => json::go_base64(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Uploads a `hashedrekord` entry for this signature and returns the SET annotation's
/// JSON (c/image's `uploadKeyOrCert`).
pub async fn upload(
    rekor_url: &url::Url,
    key_or_cert_pem: &[u8],
    signature: &[u8],
    payload: &[u8],
) -> Result<Vec<u8>, SigstoreError> {
    let proposed = serde_json::json!({
        "kind": "hashedrekord",
        "apiVersion": HASHEDREKORD_VERSION,
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(payload))}},
            "signature": {
                "content": b64().encode(signature),
                "publicKey": {"content": b64().encode(key_or_cert_pem)},
            },
        },
    });
    let client = http_client()?;
    let entries_url = endpoint(rekor_url, "api/v1/log/entries");
    let mut attempt = 0;
    let response = loop {
        attempt += 1;
        let sent = client
            .post(&entries_url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(proposed.to_string())
            .send()
            .await;
        match sent {
            // Retried as a registry request would be: timeouts, throttling, server errors.
            Ok(r)
                if !crate::transport::docker::is_retryable_status(r.status().as_u16())
                    || attempt >= UPLOAD_ATTEMPTS =>
            {
                break r;
            }
            Err(e) if attempt >= UPLOAD_ATTEMPTS => {
                return Err(SigstoreError::Rekor(format!(
                    "Error uploading a log entry: {e}"
                )));
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await,
        }
    };
    let status = response.status();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response
        .bytes()
        .await
        .map_err(|e| SigstoreError::Rekor(format!("Error uploading a log entry: {e}")))?;
    let entries = match status.as_u16() {
        201 => body.to_vec(),
        409 if location.as_deref().is_some_and(|l| l.contains('/')) => {
            // The entry exists already: fetch it by its UUID.
            let location = location.unwrap_or_default();
            let uuid = &location[location.rfind('/').map_or(0, |i| i + 1)..];
            fetch_entry(&client, rekor_url, uuid).await?
        }
        code => {
            return Err(SigstoreError::Rekor(format!(
                "Error uploading a log entry: Rekor /api/v1/log/entries failed with unexpected status {code}: {}",
                String::from_utf8_lossy(&body).trim()
            )));
        }
    };
    entry_to_set(&entries)
}

async fn fetch_entry(
    client: &reqwest::Client,
    rekor_url: &url::Url,
    uuid: &str,
) -> Result<Vec<u8>, SigstoreError> {
    let url = endpoint(rekor_url, &format!("api/v1/log/entries/{uuid}"));
    let fail = |e: String| {
        SigstoreError::Rekor(format!(
            "Error re-loading previously-created log entry with UUID {uuid}: {e}"
        ))
    };
    let r = client
        .get(&url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| fail(e.to_string()))?;
    if status != reqwest::StatusCode::OK {
        return Err(fail(format!(
            "Rekor /api/v1/log/entries/{{entryUUID}} failed with unexpected status {}",
            status.as_u16()
        )));
    }
    Ok(body.to_vec())
}

/// `<base>/<path>`, keeping a base path (c/image keeps the URL's path as the API base).
fn endpoint(base: &url::Url, path: &str) -> String {
    format!("{}/{path}", base.as_str().trim_end_matches('/'))
}

/// `rekorEntryToSET`: the one entry of Rekor's answer as c/image's SET JSON.
fn entry_to_set(entries: &[u8]) -> Result<Vec<u8>, SigstoreError> {
    #[derive(Deserialize)]
    struct LogEntry {
        body: serde_json::Value,
        #[serde(rename = "integratedTime")]
        integrated_time: Option<i64>,
        #[serde(rename = "logID")]
        log_id: Option<String>,
        #[serde(rename = "logIndex")]
        log_index: Option<i64>,
        verification: Option<Verification>,
    }
    #[derive(Deserialize)]
    struct Verification {
        #[serde(rename = "signedEntryTimestamp")]
        signed_entry_timestamp: Option<String>,
    }
    let bad = |what: String| SigstoreError::Rekor(what);
    let map: std::collections::BTreeMap<String, LogEntry> = serde_json::from_slice(entries)
        .map_err(|e| bad(format!("decoding Rekor's answer: {e}")))?;
    if map.len() != 1 {
        return Err(bad(format!("expected 1 Rekor entry, got {}", map.len())));
    }
    let Some(entry) = map.into_values().next() else {
        return Err(bad("expected 1 Rekor entry, got 0".into()));
    };
    let (Some(time), Some(index), Some(log_id), Some(set)) = (
        entry.integrated_time,
        entry.log_index,
        entry.log_id,
        entry.verification.and_then(|v| v.signed_entry_timestamp),
    ) else {
        return Err(bad("invalid Rekor entry (missing data)".into()));
    };
    let serde_json::Value::String(body) = entry.body else {
        return Err(bad("unexpected Rekor entry body type".into()));
    };
    let body = b64()
        .decode(body)
        .map_err(|e| bad(format!("error parsing Rekor entry body: {e}")))?;
    b64()
        .decode(&set)
        .map_err(|e| bad(format!("error parsing Rekor SET: {e}")))?;
    // Go marshals maps with sorted keys; the SET bytes go back to base64 unchanged.
    let out = serde_json::json!({
        "Payload": {
            "body": b64().encode(&body),
            "integratedTime": time,
            "logID": log_id,
            "logIndex": index,
        },
        "SignedEntryTimestamp": set,
    });
    serde_json::to_vec(&out).map_err(|e| bad(e.to_string()))
}
