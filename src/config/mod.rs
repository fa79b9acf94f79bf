//! TEMPORARY STUB until the config module lands.
use std::path::{Path, PathBuf};
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);
pub struct Endpoint {
    pub host: String,
    pub repository: String,
    pub insecure: bool,
}
pub struct Conf;
impl Conf {
    pub fn pull_sources(&self, name: &str, _d: bool) -> Result<Vec<Endpoint>, ConfigError> {
        Ok(vec![self.push_endpoint(name)?])
    }
    pub fn push_endpoint(&self, name: &str) -> Result<Endpoint, ConfigError> {
        let (h, r) = name
            .split_once('/')
            .ok_or_else(|| ConfigError("bad".into()))?;
        Ok(Endpoint {
            host: h.into(),
            repository: r.into(),
            insecure: false,
        })
    }
}
pub fn registries(_o: Option<&Path>) -> Result<Conf, ConfigError> {
    Ok(Conf)
}
pub fn credentials_for(
    _a: Option<&Path>,
    _h: &str,
    _r: &str,
) -> Result<Option<(crate::transport::docker::Credentials, String)>, ConfigError> {
    Ok(None)
}
pub struct TlsFiles {
    pub ca_certs: Vec<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
}
pub fn tls_files(_h: &str, d: Option<&Path>) -> Result<TlsFiles, ConfigError> {
    let mut ca = vec![];
    if let Some(d) = d {
        for e in std::fs::read_dir(d).map_err(|e| ConfigError(e.to_string()))? {
            let p = e.map_err(|e| ConfigError(e.to_string()))?.path();
            if p.extension().is_some_and(|x| x == "crt") {
                ca.push(p)
            }
        }
    }
    Ok(TlsFiles {
        ca_certs: ca,
        client_cert: None,
    })
}
