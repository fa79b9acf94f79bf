//! Accepting one sigstore signature, as c/image's `prSigstoreSigned.isSignatureAccepted`:
//! find the key that must have signed (a configured public key, possibly proven present
//! in Rekor; a Fulcio certificate proven by a Rekor SET; a certificate chaining to PKI
//! roots), verify the signature over the exact payload bytes, then let the caller's rules
//! judge the payload's manifest digest and identity. Messages are c/image's.

use super::cert::{self, CertFields};
use super::fulcio::FulcioTrustRoot;
use super::keys::PublicKey;
use super::payload;
use super::rekor;
use crate::digest::Digest;
use crate::signature::simple::Payload;
use crate::signature::{SIGSTORE_SIGNATURE_ANNOTATION, SigstoreSignature};

/// The Fulcio certificate of a keyless signature (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Its intermediate chain (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The Rekor SET (JSON).
pub const SET_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// What a `pki` policy section trusts.
#[derive(Debug, Clone)]
pub struct PkiTrustRoot {
    pub roots: Vec<Vec<u8>>,
    pub intermediates: Vec<Vec<u8>>,
    pub subject_email: String,
    pub subject_hostname: String,
}

/// A prepared `sigstoreSigned` requirement (`sigstoreSignedTrustRoot`).
#[derive(Debug, Clone, Default)]
pub struct TrustRoot {
    pub public_keys: Option<Vec<PublicKey>>,
    pub fulcio: Option<FulcioTrustRoot>,
    pub rekor_keys: Option<Vec<PublicKey>>,
    pub pki: Option<PkiTrustRoot>,
}

/// Go's `CertPool.AppendCertsFromPEM`: the usable certificates of a PEM bundle, DER.
pub fn cert_pool(pem_data: &[u8]) -> Vec<Vec<u8>> {
    cert::cert_pool(pem_data)
}

/// cryptoutils' `UnmarshalCertificatesFromPEM`: every block must be a certificate.
pub fn certificates(pem_data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let blocks = super::pem::decode_all(pem_data).ok_or("error during PEM decoding")?;
    blocks
        .into_iter()
        .map(|b| {
            CertFields::parse(&b.bytes)
                .map(|_| b.bytes.clone())
                .map_err(|e| format!("x509: {e}"))
        })
        .collect()
}

/// How the caller judges a payload whose signature verified.
pub struct Rules<'a> {
    pub manifest_digest: &'a dyn Fn(&Digest) -> Result<(), String>,
    pub docker_reference: &'a dyn Fn(&str) -> Result<(), String>,
}

/// Accepts `sig` or says why not.
pub fn verify(
    root: &TrustRoot,
    sig: &SigstoreSignature,
    rules: &Rules<'_>,
) -> Result<Payload, String> {
    let annotations = &sig.annotations;
    let base64_signature = annotations
        .get(SIGSTORE_SIGNATURE_ANNOTATION)
        .ok_or_else(|| format!("missing {SIGSTORE_SIGNATURE_ANNOTATION} annotation"))?;
    let annotation = |key: &str| {
        annotations
            .get(key)
            .map(|v| v.as_bytes())
            .ok_or_else(|| format!("missing {key} annotation"))
    };
    let sources = [
        root.public_keys.is_some(),
        root.fulcio.is_some(),
        root.pki.is_some(),
    ];
    let keys: Vec<PublicKey> = match sources {
        [true, false, false] => {
            let keys = root.public_keys.clone().unwrap_or_default();
            match &root.rekor_keys {
                None => keys,
                Some(rekor_keys) => {
                    let set = annotation(SET_ANNOTATION)?;
                    vec![key_in_rekor(
                        rekor_keys,
                        keys,
                        set,
                        base64_signature,
                        &sig.payload,
                    )?]
                }
            }
        }
        [false, true, false] => {
            let (Some(fulcio), Some(rekor_keys)) = (&root.fulcio, &root.rekor_keys) else {
                return Err(
                    "Internal inconsistency: Fulcio CA specified without a Rekor public key".into(),
                );
            };
            let set = annotation(SET_ANNOTATION)?;
            let cert = annotation(CERTIFICATE_ANNOTATION)?;
            let chain = annotations.get(CHAIN_ANNOTATION).map(|c| c.as_bytes());
            let time = rekor::verify_set(rekor_keys, set, cert, base64_signature, &sig.payload)?;
            vec![fulcio.verify_at(time, cert, chain)?]
        }
        [false, false, true] => {
            if root.rekor_keys.is_some() {
                return Err("Internal inconsistency: PKI specified with a Rekor public key".into());
            }
            let pki = root.pki.as_ref().ok_or("Internal inconsistency: no PKI")?;
            let cert = annotation(CERTIFICATE_ANNOTATION)?;
            let chain = annotations.get(CHAIN_ANNOTATION).map(|c| c.as_bytes());
            vec![verify_pki(pki, cert, chain)?]
        }
        [false, false, false] => {
            return Err(
                "Internal inconsistency: A public key, Fulcio, or PKI must be specified.".into(),
            );
        }
        _ => {
            return Err(
                "Internal inconsistency: More than one of public key, Fulcio, or PKI specified"
                    .into(),
            );
        }
    };
    verify_payload(&keys, &sig.payload, base64_signature, rules)
}

/// The one configured key a Rekor SET records for this signature.
fn key_in_rekor(
    rekor_keys: &[PublicKey],
    keys: Vec<PublicKey>,
    set: &[u8],
    base64_signature: &str,
    payload: &[u8],
) -> Result<PublicKey, String> {
    let mut failures = Vec::new();
    for key in keys {
        match rekor::verify_set(rekor_keys, set, &key.to_pem(), base64_signature, payload) {
            Ok(_) => return Ok(key),
            Err(e) => failures.push(e),
        }
    }
    Err(format!(
        "No public key verified against the RekorSET: {}",
        failures.join(", ")
    ))
}

/// `verifyPKI`: the certificate chains to the roots now, for code signing, and names the
/// required email and/or hostname.
fn verify_pki(
    pki: &PkiTrustRoot,
    cert_pem: &[u8],
    chain: Option<&[u8]>,
) -> Result<PublicKey, String> {
    let mut intermediates = pki.intermediates.clone();
    intermediates.extend(cert::untrusted_intermediates(chain)?);
    let leaf = cert::parse_leaf(cert_pem)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    cert::verify_chain(&pki.roots, &intermediates, &leaf, now)?;
    let fields =
        CertFields::parse(&leaf).map_err(|e| format!("parsing leaf certificate: x509: {e}"))?;
    if !pki.subject_email.is_empty() {
        fields.require_email(&pki.subject_email)?;
    }
    if !pki.subject_hostname.is_empty() {
        cert::verify_hostname(&leaf, &pki.subject_hostname)
            .map_err(|e| format!("Unexpected subject hostname: {e}"))?;
    }
    fields.public_key()
}

/// `VerifySigstorePayload`: a signature by any of `keys` over the exact payload bytes,
/// then the payload's claims through `rules`.
fn verify_payload(
    keys: &[PublicKey],
    payload: &[u8],
    base64_signature: &str,
    rules: &Rules<'_>,
) -> Result<Payload, String> {
    // Go's StdEncoding, which skips line breaks (cosign wraps long signatures).
    let signature = crate::policy::json::go_base64(base64_signature)
        .map_err(|e| format!("base64 decoding: {e}"))?;
    if keys.is_empty() {
        return Err(
            "Need at least one public key to verify the sigstore payload, but got 0".into(),
        );
    }
    let mut failures = Vec::new();
    if !keys.iter().any(|k| match k.verify(payload, &signature) {
        Ok(()) => true,
        Err(e) => {
            failures.push(e);
            false
        }
    }) {
        return Err(format!(
            "cryptographic signature verification failed: {}",
            failures.join(", ")
        ));
    }
    let parsed = payload::parse(payload)?;
    (rules.manifest_digest)(&parsed.docker_manifest_digest)?;
    (rules.docker_reference)(&parsed.docker_reference)?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::Signature;

    const DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/signature/sigstore/testdata"
    );

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(format!("{DIR}/{name}")).unwrap()
    }

    fn fixture(image: &str) -> (Vec<u8>, SigstoreSignature) {
        let manifest = read(&format!("{image}/manifest.json"));
        let Signature::Sigstore(sig) =
            Signature::from_blob(&read(&format!("{image}/signature-1"))).unwrap()
        else {
            panic!("not a sigstore signature")
        };
        (manifest, sig)
    }

    fn check(root: &TrustRoot, image: &str, reference: &str) -> Result<Payload, String> {
        let (manifest, sig) = fixture(image);
        let digest_rule = |d: &Digest| {
            let actual = crate::manifest::manifest_digest(&manifest).map_err(|e| e.to_string())?;
            if *d == actual {
                Ok(())
            } else {
                Err(format!("Signature for digest {d} does not match"))
            }
        };
        let reference_rule = |r: &str| {
            if r == reference {
                Ok(())
            } else {
                Err(format!("Signature for identity {r:?} is not accepted"))
            }
        };
        verify(
            root,
            &sig,
            &Rules {
                manifest_digest: &digest_rule,
                docker_reference: &reference_rule,
            },
        )
    }

    fn key(name: &str) -> PublicKey {
        PublicKey::from_pem(&read(name)).unwrap()
    }

    fn keys(names: &[&str]) -> TrustRoot {
        TrustRoot {
            public_keys: Some(names.iter().map(|n| key(n)).collect()),
            ..TrustRoot::default()
        }
    }

    #[test]
    fn accepts_cosigns_key_signature_and_rejects_another_key() {
        let image = "cosign-valid";
        let reference = "192.168.64.2:5000/cosign-signed-single-sample";
        check(&keys(&["cosign.pub"]), image, reference).unwrap();
        check(&keys(&["cosign2.pub", "cosign.pub"]), image, reference).unwrap();
        let err = check(&keys(&["cosign2.pub"]), image, reference).unwrap_err();
        assert_eq!(
            err,
            "cryptographic signature verification failed: invalid signature when validating ASN.1 encoded signature"
        );
        let err = check(&keys(&["cosign.pub"]), image, "other/ref").unwrap_err();
        assert!(err.contains("is not accepted"), "{err}");
    }

    #[test]
    fn accepts_a_key_signature_logged_in_rekor() {
        let mut root = keys(&["cosign.pub", "cosign2.pub"]);
        root.rekor_keys = Some(vec![key("rekor.pub")]);
        check(
            &root,
            "cosign-key-rekor-valid",
            "192.168.64.2:5000/cosign-signed/key-1",
        )
        .unwrap();
        // The other key is not the one Rekor logged; with only it, no key matches.
        let mut root = keys(&["cosign.pub"]);
        root.rekor_keys = Some(vec![key("rekor.pub")]);
        let err = check(
            &root,
            "cosign-key-rekor-valid",
            "192.168.64.2:5000/cosign-signed/key-1",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "No public key verified against the RekorSET: publicKey in Rekor SET does not match"
        );
        // A SET is required once Rekor keys are configured.
        let mut root = keys(&["cosign.pub"]);
        root.rekor_keys = Some(vec![key("rekor.pub")]);
        let err = check(
            &root,
            "cosign-valid",
            "192.168.64.2:5000/cosign-signed-single-sample",
        )
        .unwrap_err();
        assert_eq!(err, "missing dev.sigstore.cosign/bundle annotation");
    }

    fn fulcio_root(issuer: &str, email: &str) -> TrustRoot {
        TrustRoot {
            fulcio: Some(FulcioTrustRoot::new(&read("fulcio_v1.crt.pem"), issuer, email).unwrap()),
            rekor_keys: Some(vec![key("rekor.pub")]),
            ..TrustRoot::default()
        }
    }

    #[test]
    fn accepts_a_keyless_fulcio_signature_with_its_rekor_set() {
        let (image, reference) = (
            "cosign-fulcio-rekor-valid",
            "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
        );
        let root = fulcio_root("https://github.com/login/oauth", "mitr@redhat.com");
        check(&root, image, reference).unwrap();
        let err = check(
            &fulcio_root("https://accounts.example", "mitr@redhat.com"),
            image,
            reference,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "Unexpected Fulcio OIDC issuer \"https://github.com/login/oauth\""
        );
        let err = check(
            &fulcio_root("https://github.com/login/oauth", "x@example.com"),
            image,
            reference,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "Required email \"x@example.com\" not found (got [\"mitr@redhat.com\"])"
        );
        // A CA that did not issue the certificate.
        let mut root = fulcio_root("https://github.com/login/oauth", "mitr@redhat.com");
        root.fulcio = Some(
            FulcioTrustRoot::new(
                &read("pki_root_crts.pem"),
                "https://github.com/login/oauth",
                "mitr@redhat.com",
            )
            .unwrap(),
        );
        let err = check(&root, image, reference).unwrap_err();
        assert_eq!(
            err,
            "veryfing leaf certificate failed: x509: certificate signed by unknown authority"
        );
    }

    #[test]
    fn a_tampered_set_is_refused() {
        let (manifest, mut sig) = fixture("cosign-fulcio-rekor-valid");
        let set = sig.annotations[SET_ANNOTATION].replace("\"logIndex\":", "\"logIndex\":1");
        sig.annotations.insert(SET_ANNOTATION.into(), set);
        let ok = |_: &Digest| Ok(());
        let ok_ref = |_: &str| Ok(());
        let _ = manifest;
        let err = verify(
            &fulcio_root("https://github.com/login/oauth", "mitr@redhat.com"),
            &sig,
            &Rules {
                manifest_digest: &ok,
                docker_reference: &ok_ref,
            },
        )
        .unwrap_err();
        assert_eq!(
            err,
            "cryptographic signature verification of Rekor SET failed"
        );
    }

    #[test]
    fn accepts_a_pki_certificate_signature() {
        let pki = |email: &str, host: &str| TrustRoot {
            pki: Some(PkiTrustRoot {
                roots: cert::cert_pool(&read("pki_root_crts.pem")),
                intermediates: cert::cert_pool(&read("pki_intermediate_crts.pem")),
                subject_email: email.into(),
                subject_hostname: host.into(),
            }),
            ..TrustRoot::default()
        };
        let (image, reference) = ("cosign-pki-valid", "localhost:5000/test");
        check(
            &pki("qiwan@redhat.com", "myhost.example.com"),
            image,
            reference,
        )
        .unwrap();
        check(&pki("", "myhost.example.com"), image, reference).unwrap();
        let err = check(&pki("", "other.example.com"), image, reference).unwrap_err();
        assert!(err.starts_with("Unexpected subject hostname: "), "{err}");
    }
}
