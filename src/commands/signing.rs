//! `standalone-sign`, `standalone-verify` and `untrusted-signature-dump-without-verification`:
//! skopeo's debugging tools for simple-signing signatures in local files, with skopeo's
//! messages, output and exit codes.

use std::path::Path;

use super::{CommandError, invalid, print};
use crate::cli::{StandaloneSignSettings, StandaloneVerifySettings};
use crate::gotime;
use crate::manifest::gojson::write_str as go_json_string;
use crate::policy::go_io_cause;
use crate::policy::signed_by::manifest_matches;
use crate::reference::DockerRef;
use crate::signature::gpg::GpgSigner;
use crate::signature::keybox;
use crate::signature::openpgp::{Keyring, untrusted_contents};
use crate::signature::simple::Payload;

/// Go's `os.ReadFile` error text: `open PATH: no such file or directory`.
fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("open {}: {}", path.display(), go_io_cause(&e)))
}

/// `standalone-sign MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT -o SIGNATURE`.
pub async fn sign(s: &StandaloneSignSettings) -> Result<(), CommandError> {
    let ([manifest_path, reference, key], Some(output)) = (s.args.as_slice(), &s.output) else {
        return Err(invalid(
            "Usage: skopeo standalone-sign manifest docker-reference key-fingerprint -o signature",
        ));
    };
    let manifest = read(Path::new(manifest_path))
        .map_err(|e| invalid(format!("Error reading {manifest_path}: {e}")))?;
    let passphrase = match &s.passphrase_file {
        Some(p) => Some(super::passphrase::read_passphrase_file(p)?),
        None => None,
    };
    let digest = crate::manifest::manifest_digest(&manifest)
        .map_err(|e| invalid(format!("Error creating signature: {e}")))?;
    let payload = Payload::new(digest, reference.clone()).to_json();
    let signature = GpgSigner::new(passphrase)
        .sign(&payload, key)
        .await
        .map_err(|e| invalid(format!("Error creating signature: {e}")))?;
    write_0644(output, &signature).map_err(|e| {
        invalid(format!(
            "Error writing signature to {}: {e}",
            output.display()
        ))
    })
}

/// Writes a whole file with mode 0644 (as skopeo), replacing it atomically.
fn write_0644(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = |e: std::io::Error| format!("open {}: {}", path.display(), go_io_cause(&e));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.write_all(data).map_err(fail)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// `standalone-verify MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE
/// [--public-key-file F]`.
pub fn verify(s: &StandaloneVerifySettings) -> Result<(), CommandError> {
    let [manifest_path, expected_ref, fingerprints, signature_path] = s.args.as_slice() else {
        return Err(invalid(
            "Usage: skopeo standalone-verify manifest docker-reference key-fingerprint signature",
        ));
    };
    let mut expected: Vec<String> = fingerprints.split(',').map(str::to_string).collect();
    let any = expected.len() == 1 && expected[0] == "any";
    if any && s.public_key_file.is_none() {
        return Err(invalid(
            "Cannot use any fingerprint without a public key file",
        ));
    }
    let manifest = read(Path::new(manifest_path))
        .map_err(|e| invalid(format!("Error reading manifest from {manifest_path}: {e}")))?;
    let signature = read(Path::new(signature_path)).map_err(|e| {
        invalid(format!(
            "Error reading signature from {signature_path}: {e}"
        ))
    })?;
    let keyring = match &s.public_key_file {
        Some(p) => Keyring::from_blobs(&[read(p).map_err(|e| {
            invalid(format!(
                "Error reading public keys from {}: {e}",
                p.display()
            ))
        })?]),
        None => {
            keybox::user_keyring().map_err(|e| invalid(format!("Error initializing GPG: {e}")))?
        }
    };
    if any {
        expected = keyring.fingerprints();
    }
    let (digest, fingerprint) =
        verify_signature(&keyring, &signature, &manifest, expected_ref, &expected)
            .map_err(|e| invalid(format!("Error verifying signature: {e}")))?;
    // skopeo 1.9.3's line; the form newer skopeo prints when its newer options are used.
    let line = if s.public_key_file.is_none() && !fingerprints.contains(',') {
        format!("Signature verified, digest {digest}\n")
    } else {
        format!("Signature verified using fingerprint {fingerprint}, digest {digest}\n")
    };
    print(line.as_bytes())
}

/// c/image `VerifyImageManifestSignatureUsingKeyIdentityList`: returns the signed digest
/// and the accepted key.
fn verify_signature(
    keyring: &Keyring,
    signature: &[u8],
    manifest: &[u8],
    expected_ref: &str,
    expected_keys: &[String],
) -> Result<(String, String), String> {
    let expected = DockerRef::parse_normalized(expected_ref).map_err(|e| e.to_string())?;
    let verified = keyring.verify(signature).map_err(|e| e.to_string())?;
    let key = if expected_keys.contains(&verified.signing_fingerprint) {
        verified.signing_fingerprint.clone()
    } else if expected_keys.contains(&verified.key_fingerprint) {
        verified.key_fingerprint.clone()
    } else if verified.signing_fingerprint != verified.key_fingerprint {
        return Err(format!(
            "signature by key {} of {} is not accepted",
            verified.signing_fingerprint, verified.key_fingerprint
        ));
    } else {
        return Err(format!(
            "signature by key {} is not accepted",
            verified.key_fingerprint
        ));
    };
    let payload = Payload::parse(&verified.payload).map_err(|e| e.to_string())?;
    let digest = &payload.docker_manifest_digest;
    if !manifest_matches(manifest, digest)? {
        return Err(format!(
            "Signature for docker digest \"{digest}\" does not match"
        ));
    }
    let signed = &payload.docker_reference;
    let signed_ref = DockerRef::parse_normalized(signed)
        .map_err(|_| format!("Invalid docker reference \"{signed}\" in signature"))?;
    if signed_ref.to_string() != expected.to_string() {
        return Err(format!(
            "Docker reference \"{signed}\" does not match \"{expected_ref}\""
        ));
    }
    Ok((digest.to_string(), key))
}

/// `untrusted-signature-dump-without-verification SIGNATURE`: what the signature claims,
/// WITHOUT verifying anything, as skopeo prints it (Go's indented JSON).
pub fn dump(args: &[String]) -> Result<(), CommandError> {
    let [path] = args else {
        return Err(invalid(
            "Usage: skopeo untrusted-signature-dump-without-verification signature",
        ));
    };
    let signature = read(Path::new(path)).map_err(|e| {
        invalid(format!(
            "Error reading untrusted signature from {path}: {e}"
        ))
    })?;
    let decode = |e: String| invalid(format!("Error decoding untrusted signature: {e}"));
    let (content, key_id) = untrusted_contents(&signature).map_err(decode)?;
    let payload = Payload::parse(&content).map_err(|e| decode(e.to_string()))?;
    print(dump_json(&payload, &key_id).as_bytes())
}

/// `json.MarshalIndent(UntrustedSignatureInformation, "", "    ")` and a newline.
fn dump_json(p: &Payload, key_id: &str) -> String {
    let string = |s: &str| {
        let mut out = String::new();
        go_json_string(&mut out, s);
        out
    };
    let creator = p.creator.as_deref().map(string);
    let timestamp = p
        .timestamp
        .map(|t| format!("\"{}\"", gotime::rfc3339(t, gotime::local_offset(t))));
    format!(
        "{{\n    \"UntrustedDockerManifestDigest\": {},\n    \"UntrustedDockerReference\": {},\n    \"UntrustedCreatorID\": {},\n    \"UntrustedTimestamp\": {},\n    \"UntrustedShortKeyIdentifier\": {}\n}}\n",
        string(&p.docker_manifest_digest.to_string()),
        string(&p.docker_reference),
        creator.as_deref().unwrap_or("null"),
        timestamp.as_deref().unwrap_or("null"),
        string(key_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &[u8] = include_bytes!("../signature/testdata/manifest.json");
    const RSA_SIG: &[u8] = include_bytes!("../signature/testdata/skopeo-rsa.sig");
    const RSA: &str = "C560190E9E754AD05496AF5FBF0A6420376B5CE2";
    const REF: &str = "localhost:5000/test/img:v1";

    fn ring() -> Keyring {
        Keyring::from_blobs(&[include_bytes!("../signature/testdata/rsa.gpg")])
    }

    #[test]
    fn verifies_with_skopeos_rules_and_words() {
        let keys = [RSA.to_string()];
        let (digest, key) = verify_signature(&ring(), RSA_SIG, MANIFEST, REF, &keys).unwrap();
        assert_eq!(
            digest,
            "sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66"
        );
        assert_eq!(key, RSA);
        let other = ["0000".to_string()];
        assert_eq!(
            verify_signature(&ring(), RSA_SIG, MANIFEST, REF, &other).unwrap_err(),
            format!("signature by key {RSA} is not accepted")
        );
        assert_eq!(
            verify_signature(
                &ring(),
                RSA_SIG,
                MANIFEST,
                "localhost:5000/test/img:v2",
                &keys
            )
            .unwrap_err(),
            "Docker reference \"localhost:5000/test/img:v1\" does not match \"localhost:5000/test/img:v2\""
        );
        assert_eq!(
            verify_signature(&ring(), RSA_SIG, b"{}", REF, &keys).unwrap_err(),
            "Signature for docker digest \"sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66\" does not match"
        );
    }

    #[test]
    fn dump_is_gos_indented_json() {
        let (content, key_id) = untrusted_contents(RSA_SIG).unwrap();
        assert_eq!(key_id, "BF0A6420376B5CE2");
        let p = Payload::parse(&content).unwrap();
        let text = dump_json(
            &Payload {
                timestamp: None,
                ..p
            },
            &key_id,
        );
        assert_eq!(
            text,
            "{\n    \"UntrustedDockerManifestDigest\": \"sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66\",\n    \"UntrustedDockerReference\": \"localhost:5000/test/img:v1\",\n    \"UntrustedCreatorID\": \"atomic 5.23.1\",\n    \"UntrustedTimestamp\": null,\n    \"UntrustedShortKeyIdentifier\": \"BF0A6420376B5CE2\"\n}\n"
        );
    }
}
