//! Making sigstore signatures, as c/image's `SigstoreSigner`: a payload for the manifest
//! as written and the destination's identity, signed with a private key from a file or
//! with a short-lived key certified by Fulcio, optionally logged in Rekor (its SET goes
//! into the signature). Keys and certificates are set up once, before anything is copied.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use base64::Engine as _;

use super::error::SigstoreError;
use super::fulcio;
use super::keys::{self, PrivateKey};
use super::oidc;
use super::params::{FulcioParams, SigningParams};
use super::payload::new_payload;
use super::rekor;
use super::verify::{CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SET_ANNOTATION};
use crate::policy::json::go_quote;
use crate::signature::{SIGSTORE_PAYLOAD_TYPE, SIGSTORE_SIGNATURE_ANNOTATION, SigstoreSignature};

/// A ready signer.
pub struct Signer {
    key: PrivateKey,
    /// The PEM Rekor records: the public key, or the Fulcio certificate.
    key_or_cert: Vec<u8>,
    certificate: Option<Vec<u8>>,
    chain: Option<Vec<u8>>,
    rekor: Option<url::Url>,
}

/// How `--sign-by-sigstore` gets a passphrase for a params file's private key when the
/// file names no passphrase file (skopeo: a prompt on the terminal).
pub type PassphrasePrompt<'a> = &'a dyn Fn(&Path) -> Result<String, String>;

impl Signer {
    /// `WithPrivateKeyFile`.
    pub fn with_private_key_file(path: &Path, passphrase: &[u8]) -> Result<Signer, SigstoreError> {
        let pem = std::fs::read(path).map_err(|e| {
            SigstoreError::Setup(format!("reading private key from {}: {e}", path.display()))
        })?;
        let key = keys::decrypt_private_key(&pem, passphrase)
            .map_err(|e| SigstoreError::Setup(format!("initializing private key: {e}")))?;
        Ok(Signer::from_key(key))
    }

    fn from_key(key: PrivateKey) -> Signer {
        Signer {
            key_or_cert: key.public_key().to_pem(),
            key,
            certificate: None,
            chain: None,
            rekor: None,
        }
    }

    /// `NewSignerFromParameterFile`, in c/image's order: the private key (and its
    /// passphrase), the Fulcio settings, the Rekor URL; then the Fulcio sign-in.
    pub async fn from_params_file(
        path: &Path,
        prompt: PassphrasePrompt<'_>,
        out: &mut (dyn Write + Send),
    ) -> Result<Signer, SigstoreError> {
        let params = SigningParams::load(path).map_err(|e| {
            SigstoreError::Setup(format!(
                "setting up signing using parameter file {}: {e}",
                go_quote(&path.to_string_lossy())
            ))
        })?;
        Signer::from_params(&params, prompt, out).await
    }

    pub async fn from_params(
        params: &SigningParams,
        prompt: PassphrasePrompt<'_>,
        out: &mut (dyn Write + Send),
    ) -> Result<Signer, SigstoreError> {
        let setup = |e: String| SigstoreError::Setup(e);
        let mut key = None;
        if !params.private_key_file.is_empty() {
            let key_path = Path::new(&params.private_key_file);
            let passphrase = if params.private_key_passphrase_file.is_empty() {
                prompt(key_path).map_err(setup)?
            } else {
                read_passphrase_file(Path::new(&params.private_key_passphrase_file))
                    .map_err(setup)?
            };
            key = Some(Signer::with_private_key_file(
                key_path,
                passphrase.as_bytes(),
            )?);
        }
        let fulcio_url = params
            .fulcio
            .as_ref()
            .map(fulcio_settings)
            .transpose()
            .map_err(setup)?;
        let rekor = match params.rekor_url.as_str() {
            "" => None,
            u => Some(
                url::Url::parse(u)
                    .map_err(|e| setup(format!("parsing rekorURL {}: {e}", go_quote(u))))?,
            ),
        };
        let mut signer = match (key, fulcio_url, &params.fulcio) {
            (Some(_), Some(_), _) => {
                return Err(setup(
                    "multiple private key sources specified when preparing to create sigstore signatures"
                        .into(),
                ));
            }
            (Some(k), None, _) => k,
            (None, Some(url), Some(f)) => with_fulcio(&url, f, out).await?,
            _ => {
                return Err(setup(
                    "no private key source provided (neither a private key nor Fulcio) when preparing to create sigstore signatures"
                        .into(),
                ));
            }
        };
        signer.rekor = rekor;
        Ok(signer)
    }

    /// A signature of `manifest` claiming `docker_reference` (which must carry a tag or
    /// a digest).
    pub async fn sign(
        &self,
        manifest: &[u8],
        docker_reference: &crate::reference::DockerRef,
    ) -> Result<SigstoreSignature, SigstoreError> {
        if docker_reference.is_name_only() {
            return Err(SigstoreError::Sign(format!(
                "reference {docker_reference} can’t be signed, it has neither a tag nor a digest"
            )));
        }
        let manifest_digest = crate::manifest::manifest_digest(manifest)
            .map_err(|e| SigstoreError::Sign(e.to_string()))?;
        let payload = new_payload(manifest_digest, docker_reference.to_string());
        let signature = self
            .key
            .sign(&payload)
            .map_err(|e| SigstoreError::Sign(e.to_string()))?;
        let mut annotations = BTreeMap::new();
        annotations.insert(
            SIGSTORE_SIGNATURE_ANNOTATION.to_string(),
            base64::engine::general_purpose::STANDARD.encode(&signature),
        );
        if let Some(c) = &self.certificate {
            annotations.insert(
                CERTIFICATE_ANNOTATION.into(),
                String::from_utf8_lossy(c).into(),
            );
        }
        if let Some(c) = &self.chain {
            annotations.insert(CHAIN_ANNOTATION.into(), String::from_utf8_lossy(c).into());
        }
        if let Some(url) = &self.rekor {
            let set = rekor::upload(url, &self.key_or_cert, &signature, &payload).await?;
            annotations.insert(SET_ANNOTATION.into(), String::from_utf8_lossy(&set).into());
        }
        Ok(SigstoreSignature {
            mime_type: SIGSTORE_PAYLOAD_TYPE.to_string(),
            payload,
            annotations,
        })
    }
}

/// `fulcioOption`'s checks; returns the Fulcio URL.
fn fulcio_settings(f: &FulcioParams) -> Result<url::Url, String> {
    if f.fulcio_url.is_empty() {
        return Err("missing fulcioURL".into());
    }
    let url = url::Url::parse(&f.fulcio_url)
        .map_err(|e| format!("parsing fulcioURL {}: {e}", go_quote(&f.fulcio_url)))?;
    match f.oidc_mode.as_str() {
        "staticToken" if f.oidc_id_token.is_empty() => Err("missing oidcToken".into()),
        "staticToken" => Ok(url),
        _ if f.oidc_issuer_url.is_empty() => Err("missing oidcIssuerURL".into()),
        "deviceGrant" | "interactive" => {
            url::Url::parse(&f.oidc_issuer_url).map_err(|e| {
                format!(
                    "parsing oidcIssuerURL {}: {e}",
                    go_quote(&f.oidc_issuer_url)
                )
            })?;
            Ok(url)
        }
        "" => Err("missing oidcMode".into()),
        other => Err(format!("unknown oidcMode value {}", go_quote(other))),
    }
}

/// `setupSignerWithFulcio`: a new P-256 key certified for the token's subject.
async fn with_fulcio(
    fulcio_url: &url::Url,
    f: &FulcioParams,
    out: &mut (dyn Write + Send),
) -> Result<Signer, SigstoreError> {
    let token = match f.oidc_mode.as_str() {
        "staticToken" => oidc::static_token(&f.oidc_id_token).map_err(SigstoreError::Setup)?,
        mode => {
            let flow = oidc::Flow {
                issuer: &f.oidc_issuer_url,
                client_id: &f.oidc_client_id,
                client_secret: &f.oidc_client_secret,
                out,
            };
            let got = if mode == "deviceGrant" {
                oidc::device_grant(flow).await
            } else {
                oidc::interactive(flow).await
            };
            got.map_err(|e| SigstoreError::Setup(format!("Error authenticating with OIDC: {e}")))?
        }
    };
    let (key, _) = PrivateKey::generate_p256()
        .map_err(|e| SigstoreError::Setup(format!("generating short-term private key: {e}")))?;
    let (certificate, chain) =
        fulcio::request_certificate(fulcio_url, &token.raw, &token.subject, &key).await?;
    Ok(Signer {
        key,
        key_or_cert: certificate.clone(),
        certificate: Some(certificate),
        chain: (!chain.is_empty()).then_some(chain),
        rekor: None,
    })
}

/// c/image's `cli.ReadPassphraseFile` (the first line), with Go's error text.
pub fn read_passphrase_file(path: &Path) -> Result<String, String> {
    crate::signature::gpg::read_passphrase_file(path).map_err(|e| {
        format!(
            "open {}: {}",
            path.display(),
            crate::policy::go_io_cause(&e)
        )
    })
}
