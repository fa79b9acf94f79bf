//! Fulcio, the certificate authority for keyless signing: checking a Fulcio-issued
//! certificate offline as c/image does (`signature/fulcio_cert.go`: the chain to the
//! configured CAs at the Rekor integration time, code-signing usage, the OIDC issuer
//! extension, the subject email), and asking a Fulcio server for a certificate when
//! signing (`signature/sigstore/fulcio`, the v1 `signingCert` API).

use base64::Engine as _;

use super::cert::{self, CertFields};
use super::error::SigstoreError;
use super::http::http_client;
use super::keys::{PrivateKey, PublicKey};
use super::pem;
use crate::policy::json::go_quote;

/// What a `fulcio` policy section trusts.
#[derive(Debug, Clone)]
pub struct FulcioTrustRoot {
    /// DER of every CA certificate given.
    ca_certs: Vec<Vec<u8>>,
    oidc_issuer: String,
    subject_email: String,
}

impl FulcioTrustRoot {
    /// `prepareTrustRoot`: the CA PEM must hold at least one certificate (Go's
    /// `AppendCertsFromPEM` skips blocks it cannot use).
    pub fn new(
        ca_pem: &[u8],
        oidc_issuer: &str,
        subject_email: &str,
    ) -> Result<FulcioTrustRoot, String> {
        let ca_certs = cert::cert_pool(ca_pem);
        if ca_certs.is_empty() {
            return Err("error loading Fulcio CA certificates".into());
        }
        if oidc_issuer.is_empty() {
            return Err("Internal inconsistency: Fulcio use set up without OIDC issuer".into());
        }
        if subject_email.is_empty() {
            return Err("Internal inconsistency: Fulcio use set up without subject email".into());
        }
        Ok(FulcioTrustRoot {
            ca_certs,
            oidc_issuer: oidc_issuer.to_string(),
            subject_email: subject_email.to_string(),
        })
    }

    /// `verifyFulcioCertificateAtTime`: the public key of `cert_pem` if it chains to the
    /// CAs at `time` (through the untrusted intermediates of `chain_pem`, whose last
    /// certificate, the root, is dropped) for code signing, and names the expected OIDC
    /// issuer and email.
    pub fn verify_at(
        &self,
        time: i64,
        cert_pem: &[u8],
        chain_pem: Option<&[u8]>,
    ) -> Result<PublicKey, String> {
        let intermediates = cert::untrusted_intermediates(chain_pem)?;
        let leaf = cert::parse_leaf(cert_pem)?;
        cert::verify_chain(&self.ca_certs, &intermediates, &leaf, time)?;
        let fields =
            CertFields::parse(&leaf).map_err(|e| format!("parsing leaf certificate: x509: {e}"))?;
        let issuer = fields.oidc_issuer()?;
        if issuer != self.oidc_issuer {
            return Err(format!(
                "Unexpected Fulcio OIDC issuer {}",
                go_quote(&issuer)
            ));
        }
        fields.require_email(&self.subject_email)?;
        fields.public_key()
    }
}

/// A certificate for `key` from the Fulcio server at `fulcio_url`, proving the key with
/// a signature of the token's subject. Returns (certificate PEM, chain PEM).
pub async fn request_certificate(
    fulcio_url: &url::Url,
    id_token: &str,
    subject: &str,
    key: &PrivateKey,
) -> Result<(Vec<u8>, Vec<u8>), SigstoreError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let proof = key
        .sign(subject.as_bytes())
        .map_err(|e| SigstoreError::Fulcio(format!("Error signing key ownership proof: {e}")))?;
    let request = serde_json::json!({
        "publicKey": {"content": b64.encode(key.public_key().to_spki()), "algorithm": "ecdsa"},
        "signedEmailAddress": b64.encode(proof),
        "certificateSigningRequest": null,
    });
    let url = format!(
        "{}/api/v1/signingCert",
        fulcio_url.as_str().trim_end_matches('/')
    );
    let fail = |e: String| SigstoreError::Fulcio(format!("obtaining certificate from Fulcio: {e}"));
    let response = http_client()?
        .post(&url)
        .bearer_auth(id_token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(request.to_string())
        .send()
        .await
        .map_err(|e| fail(format!("client: {e}")))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| fail(format!("{url} read: {e}")))?;
    if status != reqwest::StatusCode::CREATED {
        return Err(fail(format!(
            "POST {url} returned {status}: {}",
            go_quote(&String::from_utf8_lossy(&body))
        )));
    }
    let (cert, chain) =
        pem::decode(&body).ok_or_else(|| fail("did not find a cert from Fulcio".into()))?;
    Ok((pem::encode(&cert.label, &cert.bytes), chain.to_vec()))
}
