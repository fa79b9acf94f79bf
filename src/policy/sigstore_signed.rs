//! The `sigstoreSigned` requirement (c/image `policy_eval_sigstore.go`): the image is
//! admitted when one of its sigstore signatures verifies under the configured trust root
//! (keys, Fulcio + Rekor, or PKI), signs this manifest, and claims an identity the
//! `signedIdentity` rule accepts. Rejections carry c/image's texts.

use super::image::PolicyImage;
use super::signed_by::{manifest_matches, read_key_file};
use super::sigstore_config::{BytesSource, SigstoreSigned};
use crate::digest::Digest;
use crate::signature::sigstore::fulcio::FulcioTrustRoot;
use crate::signature::sigstore::verify::{PkiTrustRoot, Rules};
use crate::signature::sigstore::{PublicKey, TrustRoot, verify};
use crate::signature::{SIGSTORE_PAYLOAD_TYPE, Signature};

/// Why `sigstoreSigned` does not admit the image, as c/image words it.
pub type Rejection = String;

/// `prSigstoreSigned.isRunningImageAllowed`.
pub fn check(req: &SigstoreSigned, image: &PolicyImage<'_>) -> Result<(), Rejection> {
    let (mut not_sigstore, mut not_signatures) = (0, 0);
    // Prepared once, at the first signature to check (c/image prepares it per signature,
    // with the same outcome).
    let mut root: Option<Result<TrustRoot, Rejection>> = None;
    let mut rejections = Vec::new();
    for sig in image.signatures {
        let Signature::Sigstore(sig) = sig else {
            not_sigstore += 1;
            continue;
        };
        if sig.mime_type != SIGSTORE_PAYLOAD_TYPE {
            not_signatures += 1;
            continue;
        }
        let root = root.get_or_insert_with(|| trust_root(req));
        let verdict = match root {
            Ok(root) => accept(root, req, sig, image),
            Err(e) => Err(e.clone()),
        };
        match verdict {
            Ok(()) => return Ok(()),
            Err(reason) => rejections.push(reason),
        }
    }
    Err(match rejections.len() {
        0 if not_sigstore == 0 && not_signatures == 0 => {
            "A signature was required, but no signature exists".to_string()
        }
        0 => format!(
            "A signature was required, but no signature exists ({not_sigstore} non-sigstore signatures, {not_signatures} sigstore non-signature attachments)"
        ),
        1 => rejections.remove(0),
        _ => format!(
            "None of the signatures were accepted, reasons: {}",
            rejections.join("; ")
        ),
    })
}

fn accept(
    root: &TrustRoot,
    req: &SigstoreSigned,
    sig: &crate::signature::SigstoreSignature,
    image: &PolicyImage<'_>,
) -> Result<(), Rejection> {
    let digest_rule = |d: &Digest| {
        if manifest_matches(image.manifest, d)? {
            Ok(())
        } else {
            Err(format!("Signature for digest {d} does not match"))
        }
    };
    let identity_rule = |signed: &str| {
        if req
            .signed_identity
            .matches_docker_reference(image.docker_reference, signed)
        {
            Ok(())
        } else {
            Err(format!(
                "Signature for identity \"{signed}\" is not accepted"
            ))
        }
    };
    verify(
        root,
        sig,
        &Rules {
            manifest_digest: &digest_rule,
            docker_reference: &identity_rule,
        },
    )
    .map(drop)
}

/// `loadBytesFromConfigSources`.
fn load(source: &BytesSource) -> Result<Vec<Vec<u8>>, Rejection> {
    match source {
        BytesSource::Path(p) => Ok(vec![read_key_file(p)?]),
        BytesSource::Paths(ps) => ps.iter().map(|p| read_key_file(p)).collect(),
        BytesSource::Data(d) => Ok(vec![d.clone()]),
        BytesSource::Datas(ds) => Ok(ds.clone()),
    }
}

/// `prSigstoreSigned.prepareTrustRoot`.
fn trust_root(req: &SigstoreSigned) -> Result<TrustRoot, Rejection> {
    let mut root = TrustRoot::default();
    if let Some(keys) = &req.keys {
        let keys = load(keys)?
            .iter()
            .enumerate()
            .map(|(i, pem)| {
                PublicKey::from_pem(pem).map_err(|e| format!("parsing public key {}: {e}", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err("Internal inconsistency: \"keyPath\", \"keyPaths\", \"keyData\" and \"keyDatas\" produced no public keys".into());
        }
        root.public_keys = Some(keys);
    }
    if let Some(f) = &req.fulcio {
        let ca = load(&f.ca)?;
        let [ca] = ca.as_slice() else {
            return Err("Internal inconsistency: Fulcio specified with not exactly one of \"caPath\" nor \"caData\"".into());
        };
        root.fulcio = Some(FulcioTrustRoot::new(ca, &f.oidc_issuer, &f.subject_email)?);
    }
    if let Some(rekor) = &req.rekor_keys {
        let keys = load(rekor)?
            .iter()
            .enumerate()
            .map(|(i, pem)| {
                let key = PublicKey::from_pem(pem)
                    .map_err(|e| format!("parsing Rekor public key {}: {e}", i + 1))?;
                match key {
                    PublicKey::EcdsaP256(_) | PublicKey::EcdsaP384(_) => Ok(key),
                    _ => Err(format!("Rekor public key {} is not using ECDSA", i + 1)),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err("Internal inconsistency: \"rekorPublicKeyPath\", \"rekorPublicKeyPaths\", \"rekorPublicKeyData\" and \"rekorPublicKeyDatas\" produced no public keys".into());
        }
        root.rekor_keys = Some(keys);
    }
    if let Some(p) = &req.pki {
        let roots = load(&p.roots)?;
        let [roots] = roots.as_slice() else {
            return Err("Internal inconsistency: PKI specified with not exactly one of \"caRootsPath\" nor \"caRootsData\"".into());
        };
        let roots = crate::signature::sigstore::verify::cert_pool(roots);
        if roots.is_empty() {
            return Err("error loading PKI CA Roots certificates".into());
        }
        let intermediates = match &p.intermediates {
            None => Vec::new(),
            Some(source) => {
                let pems = load(source)?;
                let [pem] = pems.as_slice() else {
                    return Err("Internal inconsistency: PKI specified with invalid value from \"caIntermediatesPath\" or \"caIntermediatesData\"".into());
                };
                crate::signature::sigstore::verify::certificates(pem)
                    .map_err(|e| format!("loading trusted intermediate certificates: {e}"))?
            }
        };
        root.pki = Some(PkiTrustRoot {
            roots,
            intermediates,
            subject_email: p.subject_email.clone(),
            subject_hostname: p.subject_hostname.clone(),
        });
    }
    Ok(root)
}
