//! `--sign-by`: a new simple-signing signature over each manifest the copy writes (every
//! instance and the list, as containers/image's `copy/sign.go`), claiming the
//! destination's docker reference or `--sign-identity`. Sigstore signers
//! (`--sign-by-sigstore`, `--sign-by-sigstore-private-key`) sign the same manifests, in
//! containers/image's order: the parameter file's, the GPG one, the private key's.

use super::context::Ctx;
use super::error::CopyError;
use crate::reference::{DockerRef, ImageName};
use crate::signature::Signature;
use crate::signature::sigstore::Signer as SigstoreSigner;
use crate::signature::simple::Payload;

/// The identity the signatures will claim, decided before anything is copied (skopeo
/// finds out only after writing the image). `identity` is `--sign-identity`.
pub fn identity_for(identity: Option<&DockerRef>, dest: &ImageName) -> Result<String, CopyError> {
    let identity = match identity {
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

/// Every new signature of `manifest` (the bytes about to be written), in
/// containers/image's signer order.
pub async fn new_signatures(ctx: &Ctx<'_>, manifest: &[u8]) -> Result<Vec<Signature>, CopyError> {
    let mut out = Vec::new();
    let sigstore = &ctx.opts.sigstore;
    if let Some(s) = &sigstore.from_params {
        out.push(sigstore_signature(ctx, s, manifest).await?);
    }
    out.extend(new_signature(ctx, manifest).await?);
    if let Some(s) = &sigstore.from_key {
        out.push(sigstore_signature(ctx, s, manifest).await?);
    }
    Ok(out)
}

async fn sigstore_signature(
    ctx: &Ctx<'_>,
    signer: &SigstoreSigner,
    manifest: &[u8],
) -> Result<Signature, CopyError> {
    let Some(identity) = &ctx.sign_identity else {
        return Err(CopyError::Internal("signing without an identity".into()));
    };
    ctx.report
        .step("Creating signature: Signing image using a sigstore signature");
    let identity = DockerRef::parse_named(identity)
        .map_err(|e| CopyError::Internal(format!("the signing identity {identity}: {e}")))?;
    let signature = signer
        .sign(manifest, &identity)
        .await
        .map_err(CopyError::SigstoreSign)?;
    Ok(Signature::Sigstore(signature))
}

/// Signs `manifest` (the bytes just written) if the copy signs.
async fn new_signature(ctx: &Ctx<'_>, manifest: &[u8]) -> Result<Option<Signature>, CopyError> {
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
