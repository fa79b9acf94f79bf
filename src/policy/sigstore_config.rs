//! The `sigstoreSigned` requirement as the newest containers/image parses it
//! (`signature/policy_config_sigstore.go`): exactly one key source (`keyPath`, `keyPaths`,
//! `keyData`, `keyDatas`, `fulcio`, `pki`), at most one Rekor key source
//! (`rekorPublicKeyPath`, `…Paths`, `…Data`, `…Datas`; required with `fulcio`, refused
//! with `pki`), and `signedIdentity` (default `matchRepoDigestOrExact`). c/image 5.23.1
//! knew only `keyPath`/`keyData`; the newer fields are accepted so current policies work.

use super::identity::{ReferenceMatch, signed_identity};
use super::json::{
    self, JValue, REQ_TYPE, go_bytes, go_string, go_string_list, paranoid_object, unexpected_type,
};

/// Where one kind of data comes from (c/image `configBytesSources`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BytesSource {
    Path(String),
    Paths(Vec<String>),
    /// Decoded from base64.
    Data(Vec<u8>),
    Datas(Vec<Vec<u8>>),
}

/// A parsed `sigstoreSigned` requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreSigned {
    /// Public keys (`keyPath`, `keyPaths`, `keyData`, `keyDatas`).
    pub keys: Option<BytesSource>,
    pub fulcio: Option<FulcioConfig>,
    pub pki: Option<PkiConfig>,
    /// Rekor's public keys.
    pub rekor_keys: Option<BytesSource>,
    pub signed_identity: ReferenceMatch,
}

/// `fulcio`: the CA (`caPath` or `caData`) and the identity its certificate must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulcioConfig {
    pub ca: BytesSource,
    pub oidc_issuer: String,
    pub subject_email: String,
}

/// `pki`: roots, optional intermediates, and the subject the certificate must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiConfig {
    pub roots: BytesSource,
    pub intermediates: Option<BytesSource>,
    pub subject_email: String,
    pub subject_hostname: String,
}

/// A Go `[][]byte` field; `null` leaves it nil.
fn go_bytes_list(v: &JValue) -> Result<Option<Vec<Vec<u8>>>, String> {
    match v {
        JValue::Null => Ok(None),
        JValue::Array(items) => items
            .iter()
            .map(|i| go_bytes(i).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(json::type_error(other, "[][]uint8")),
    }
}

fn string(v: &JValue) -> Result<String, String> {
    Ok(go_string(v, "string")?.unwrap_or_default())
}

/// Each of the four ways to give keys, as decoded (None: absent or `null`).
#[derive(Default)]
struct Sources {
    path: String,
    paths: Option<Vec<String>>,
    data: Option<Vec<u8>>,
    datas: Option<Vec<Vec<u8>>>,
}

impl Sources {
    /// The With… options' checks: a list given must not be empty.
    fn check_lists(&self, paths_name: &str, datas_name: &str) -> Result<(), String> {
        if self.paths.as_ref().is_some_and(Vec::is_empty) {
            return Err(format!("\"{paths_name}\" contains no entries"));
        }
        if self.datas.as_ref().is_some_and(Vec::is_empty) {
            return Err(format!("\"{datas_name}\" contains no entries"));
        }
        Ok(())
    }

    fn count(&self) -> usize {
        usize::from(!self.path.is_empty())
            + usize::from(self.paths.is_some())
            + usize::from(self.data.is_some())
            + usize::from(self.datas.is_some())
    }

    fn into_source(self) -> Option<BytesSource> {
        if !self.path.is_empty() {
            Some(BytesSource::Path(self.path))
        } else if let Some(p) = self.paths {
            Some(BytesSource::Paths(p))
        } else if let Some(d) = self.data {
            Some(BytesSource::Data(d))
        } else {
            self.datas.map(BytesSource::Datas)
        }
    }
}

/// `prSigstoreSigned.UnmarshalJSON` + `newPRSigstoreSigned`.
pub(super) fn parse(v: &JValue) -> Result<SigstoreSigned, String> {
    let mut ty = String::new();
    let (mut keys, mut rekor) = (Sources::default(), Sources::default());
    let (mut fulcio, mut pki) = (None, None);
    let mut identity = None;
    paranoid_object(v, |key, value| {
        match key {
            "type" => ty = go_string(value, REQ_TYPE)?.unwrap_or_default(),
            "keyPath" => keys.path = string(value)?,
            "keyPaths" => keys.paths = go_string_list(value)?,
            "keyData" => keys.data = go_bytes(value)?,
            "keyDatas" => keys.datas = go_bytes_list(value)?,
            "fulcio" => fulcio = Some(parse_fulcio(value)?),
            "pki" => pki = Some(parse_pki(value)?),
            "rekorPublicKeyPath" => rekor.path = string(value)?,
            "rekorPublicKeyPaths" => rekor.paths = go_string_list(value)?,
            "rekorPublicKeyData" => rekor.data = go_bytes(value)?,
            "rekorPublicKeyDatas" => rekor.datas = go_bytes_list(value)?,
            "signedIdentity" => identity = Some(value),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if ty != "sigstoreSigned" {
        return Err(unexpected_type(&ty));
    }
    let signed_identity = signed_identity(identity)?;
    keys.check_lists("keyPaths", "keyDatas")?;
    rekor.check_lists("rekorPublickeyPaths", "rekorPublickeyDatas")?;
    let key_sources = keys.count() + usize::from(fulcio.is_some()) + usize::from(pki.is_some());
    if key_sources != 1 {
        return Err(
            "exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified"
                .into(),
        );
    }
    let rekor_sources = rekor.count();
    if rekor_sources > 1 {
        return Err("at most one of rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas can be used simultaneously".into());
    }
    if fulcio.is_some() && rekor_sources == 0 {
        return Err("At least one of rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas must be specified if fulcio is used".into());
    }
    if pki.is_some() && rekor_sources > 0 {
        return Err("rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas are not supported for pki".into());
    }
    Ok(SigstoreSigned {
        keys: keys.into_source(),
        fulcio,
        pki,
        rekor_keys: rekor.into_source(),
        signed_identity,
    })
}

/// `prSigstoreSignedFulcio.UnmarshalJSON` + `newPRSigstoreSignedFulcio`.
fn parse_fulcio(v: &JValue) -> Result<FulcioConfig, String> {
    let (mut path, mut data) = (String::new(), None);
    let (mut issuer, mut email) = (String::new(), String::new());
    paranoid_object(v, |key, value| {
        match key {
            "caPath" => path = string(value)?,
            "caData" => data = go_bytes(value)?,
            "oidcIssuer" => issuer = string(value)?,
            "subjectEmail" => email = string(value)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let ca = required_path_or_data(path, data, ("caPath", "caData"))?;
    if issuer.is_empty() {
        return Err("oidcIssuer not specified".into());
    }
    if email.is_empty() {
        return Err("subjectEmail not specified".into());
    }
    Ok(FulcioConfig {
        ca,
        oidc_issuer: issuer,
        subject_email: email,
    })
}

/// `prSigstoreSignedPKI.UnmarshalJSON` + `newPRSigstoreSignedPKI`.
fn parse_pki(v: &JValue) -> Result<PkiConfig, String> {
    let (mut roots_path, mut roots_data) = (String::new(), None);
    let (mut mid_path, mut mid_data) = (String::new(), None);
    let (mut email, mut hostname) = (String::new(), String::new());
    paranoid_object(v, |key, value| {
        match key {
            "caRootsPath" => roots_path = string(value)?,
            "caRootsData" => roots_data = go_bytes(value)?,
            "caIntermediatesPath" => mid_path = string(value)?,
            "caIntermediatesData" => mid_data = go_bytes(value)?,
            "subjectEmail" => email = string(value)?,
            "subjectHostname" => hostname = string(value)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let roots = required_path_or_data(roots_path, roots_data, ("caRootsPath", "caRootsData"))?;
    let intermediates = path_or_data(
        mid_path,
        mid_data,
        ("caIntermediatesPath", "caIntermediatesData"),
    )?;
    if email.is_empty() && hostname.is_empty() {
        return Err("At least one of subjectEmail, subjectHostname must be specified".into());
    }
    Ok(PkiConfig {
        roots,
        intermediates,
        subject_email: email,
        subject_hostname: hostname,
    })
}

/// A file named by `names.0` or data given inline as `names.1`, at most one of them.
fn path_or_data(
    path: String,
    data: Option<Vec<u8>>,
    names: (&str, &str),
) -> Result<Option<BytesSource>, String> {
    match (path.is_empty(), data) {
        (false, Some(_)) => Err(format!(
            "{} and {} cannot be used simultaneously",
            names.0, names.1
        )),
        (true, None) => Ok(None),
        (false, None) => Ok(Some(BytesSource::Path(path))),
        (true, Some(d)) => Ok(Some(BytesSource::Data(d))),
    }
}

/// [`path_or_data`] where one of them is required.
fn required_path_or_data(
    path: String,
    data: Option<Vec<u8>>,
    names: (&str, &str),
) -> Result<BytesSource, String> {
    path_or_data(path, data, names)?.ok_or_else(|| {
        format!(
            "At least one of {} and {} must be specified",
            names.0, names.1
        )
    })
}
