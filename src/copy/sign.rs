//! `--sign-by`: a new simple-signing signature over each manifest the copy writes (every
//! instance and the list, as containers/image's `copy/sign.go`), claiming the
//! destination's docker reference or `--sign-identity`.

use super::{CopyError, Ctx};
use crate::reference::{DockerRef, ImageName};
use crate::signature::Signature;
use crate::signature::gpg::GpgSigner;
use crate::signature::simple::Payload;

/// What `--sign-by`, `--sign-passphrase-file` and `--sign-identity` ask for.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// The key, as `--sign-by` gives it (a fingerprint).
    pub key: String,
    /// gpg, with the passphrase if one was given.
    pub signer: GpgSigner,
    /// `--sign-identity`; the destination's reference when absent.
    pub identity: Option<DockerRef>,
}

/// The identity the signatures will claim, decided before anything is copied (skopeo
/// finds out only after writing the image).
pub fn identity_for(opts: &SignOptions, dest: &ImageName) -> Result<String, CopyError> {
    let identity = match &opts.identity {
        Some(i) => i,
        None => dest.docker_reference().ok_or_else(|| {
            CopyError::Refused(format!(
                "Cannot determine canonical Docker reference for destination {dest} (use --sign-identity to name one)"
            ))
        })?,
    };
    if identity.is_name_only() {
        return Err(CopyError::Refused(format!(
            "Sign identity must be a fully specified reference {identity}"
        )));
    }
    Ok(identity.to_string())
}

/// Signs `manifest` (the bytes just written) if the copy signs.
pub async fn new_signature(ctx: &Ctx<'_>, manifest: &[u8]) -> Result<Option<Signature>, CopyError> {
    let (Some(opts), Some(identity)) = (&ctx.opts.sign, &ctx.sign_identity) else {
        return Ok(None);
    };
    ctx.report.step("Signing manifest using simple signing");
    let digest = crate::manifest::manifest_digest(manifest)?;
    let payload = Payload::new(digest, identity.clone()).to_json();
    let signed = opts
        .signer
        .sign(&payload, &opts.key)
        .await
        .map_err(CopyError::Sign)?;
    Ok(Some(Signature::SimpleSigning(signed)))
}
