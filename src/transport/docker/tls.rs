//! TLS settings for one registry: the system's roots plus the CAs of `--*-cert-dir` /
//! certs.d, a client certificate, and how the server's certificate is checked.
//!
//! rustls (webpki) refuses a server certificate that is itself a CA (`CaUsedAsEndEntity`),
//! which is what the usual self-signed registry certificate is (`openssl req -x509 …`
//! marks it `CA:TRUE`). Go accepts a server certificate that is identical to one of the
//! trusted certificates, and skopeo users rely on that. [`TrustedLeafVerifier`] does the
//! same: everything goes to rustls' WebPKI verifier first; only when that fails and the
//! presented certificate is byte-for-byte one of the trusted ones is it accepted, after its
//! name, validity period and extended key usage are checked as Go checks them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::error::RegistryError;
use super::x509;

/// What one registry connection trusts and presents.
pub struct TlsSettings<'a> {
    pub host: &'a str,
    /// Extra CA files (`*.crt`), trusted beside the system's roots.
    pub ca_certs: &'a [PathBuf],
    pub client_cert: Option<&'a (PathBuf, PathBuf)>,
    /// Verification off (`--tls-verify=false`, registries.conf `insecure`).
    pub insecure: bool,
}

/// The rustls configuration for one registry (HTTP/1.1 only, see `client::build_http`).
pub fn client_config(s: &TlsSettings<'_>) -> Result<rustls::ClientConfig, RegistryError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::tls(format!("setting up TLS for {}", s.host), e))?;
    let verifier = ServerVerifier {
        leaf: if s.insecure {
            None
        } else {
            Some(TrustedLeafVerifier::new(
                s.host,
                s.ca_certs,
                provider.clone(),
            )?)
        },
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match s.client_cert {
        Some((cert, key)) => {
            let chain = read_certs(cert, "client certificate")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                RegistryError::tls(format!("reading client key {}", key.display()), e)
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                RegistryError::tls(format!("loading client certificate {}", cert.display()), e)
            })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Every certificate in a PEM file.
fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, RegistryError> {
    let context = |verb: &str| format!("{verb} {what} {}", path.display());
    let pem = std::fs::read(path).map_err(|e| RegistryError::tls(context("reading"), e))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RegistryError::tls(context("parsing"), e))?;
    if certs.is_empty() {
        return Err(RegistryError::tls(
            context("parsing"),
            "no certificate in the file".to_string(),
        ));
    }
    Ok(certs)
}

/// WebPKI verification, plus Go's acceptance of a server certificate that is itself
/// trusted (see the module comment).
#[derive(Debug)]
pub struct TrustedLeafVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// DER of every trusted certificate (system roots and extra CAs).
    trusted: Vec<CertificateDer<'static>>,
}

impl TrustedLeafVerifier {
    pub fn new(
        host: &str,
        ca_files: &[PathBuf],
        provider: Arc<CryptoProvider>,
    ) -> Result<TrustedLeafVerifier, RegistryError> {
        let mut trusted = Vec::new();
        for file in ca_files {
            trusted.extend(read_certs(file, "CA certificate")?);
        }
        let extra = trusted.len();
        // $SSL_CERT_FILE / $SSL_CERT_DIR, else the distribution's bundle (openssl-probe).
        trusted.extend(rustls_native_certs::load_native_certs().certs);
        let mut roots = RootCertStore::empty();
        for (i, cert) in trusted.iter().enumerate() {
            match roots.add(cert.clone()) {
                Ok(()) => {}
                // A CA given on purpose must be usable; a broken system root is skipped.
                Err(e) if i < extra => {
                    return Err(RegistryError::tls(
                        format!("parsing CA certificate for {host}"),
                        e,
                    ));
                }
                Err(_) => {}
            }
        }
        if roots.is_empty() {
            return Err(RegistryError::tls(
                format!("setting up TLS for {host}"),
                "no CA certificates were found in the system store or the certs.d directory"
                    .to_string(),
            ));
        }
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| RegistryError::tls(format!("setting up TLS for {host}"), e))?;
        Ok(TrustedLeafVerifier { inner, trusted })
    }

    /// Go's checks of a leaf found among the roots: its name, its validity period and,
    /// when it lists extended key usages, server authentication among them.
    fn check_trusted_leaf(
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::NotValidForName))?;
        let facts = x509::leaf_facts(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now < facts.not_before {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYet,
            ));
        }
        if now > facts.not_after {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
        }
        if let Some(usages) = &facts.ext_key_usage
            && !usages
                .iter()
                .any(|u| u == x509::SERVER_AUTH || u == x509::ANY_EKU)
        {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::InvalidPurpose,
            ));
        }
        Ok(())
    }
}

impl TrustedLeafVerifier {
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            Err(webpki_error) => {
                if !self
                    .trusted
                    .iter()
                    .any(|t| t.as_ref() == end_entity.as_ref())
                {
                    return Err(webpki_error);
                }
                Self::check_trusted_leaf(end_entity, server_name, now)?;
                Ok(ServerCertVerified::assertion())
            }
        }
    }
}

/// The verifier rustls is given: the server's certificate through [`TrustedLeafVerifier`],
/// or (`--tls-verify=false`) any certificate; either way the handshake's signatures are
/// checked against the certificate presented, with the provider's algorithms (as
/// rustls' WebPKI verifier checks them).
#[derive(Debug)]
struct ServerVerifier {
    /// None: `--tls-verify=false`.
    leaf: Option<TrustedLeafVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.leaf {
            Some(v) => v.verify(end_entity, intermediates, server_name, ocsp_response, now),
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/transport/docker/testdata");

    fn pem(name: &str) -> PathBuf {
        Path::new(DIR).join(name)
    }

    fn der(name: &str) -> CertificateDer<'static> {
        read_certs(&pem(name), "test certificate")
            .unwrap()
            .remove(0)
    }

    fn verifier(trusted: &[&str]) -> TrustedLeafVerifier {
        let files: Vec<PathBuf> = trusted.iter().map(|n| pem(n)).collect();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        TrustedLeafVerifier::new("localhost", &files, provider).unwrap()
    }

    /// 2030-01-01, inside the test certificates' ten years (made 2026-12).
    fn in_2030() -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_893_456_000))
    }

    fn check(
        v: &TrustedLeafVerifier,
        cert: &str,
        name: &str,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name.to_string()).unwrap();
        v.verify(&der(cert), &[], &name, &[], now).map(|_| ())
    }

    const CA_TRUE: &str = "self-signed-ca-true.pem";

    #[test]
    fn a_trusted_self_signed_ca_certificate_is_accepted_for_its_name() {
        let v = verifier(&[CA_TRUE]);
        check(&v, CA_TRUE, "localhost", in_2030()).unwrap();
        // The name, validity and purpose are still checked.
        assert_eq!(
            check(&v, CA_TRUE, "other.example", in_2030()).unwrap_err(),
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
        );
        let in_2040 = UnixTime::since_unix_epoch(std::time::Duration::from_secs(2_208_988_800));
        assert_eq!(
            check(&v, CA_TRUE, "localhost", in_2040).unwrap_err(),
            rustls::Error::InvalidCertificate(CertificateError::Expired)
        );
        let in_2020 = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_577_836_800));
        assert_eq!(
            check(&v, CA_TRUE, "localhost", in_2020).unwrap_err(),
            rustls::Error::InvalidCertificate(CertificateError::NotValidYet)
        );
    }

    #[test]
    fn a_trusted_certificate_for_clients_only_is_refused() {
        let only_client = "self-signed-client-only.pem";
        let v = verifier(&[only_client]);
        assert_eq!(
            check(&v, only_client, "localhost", in_2030()).unwrap_err(),
            rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose)
        );
    }

    #[test]
    fn an_untrusted_self_signed_certificate_keeps_webpkis_error() {
        let v = verifier(&["self-signed-client-only.pem"]);
        let err = check(&v, CA_TRUE, "localhost", in_2030()).unwrap_err();
        assert!(
            matches!(err, rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
    }

    #[test]
    fn leaf_facts_read_the_test_certificate() {
        let facts = x509::leaf_facts(der(CA_TRUE).as_ref()).unwrap();
        assert!(facts.not_before < facts.not_after);
        assert_eq!(facts.not_after - facts.not_before, 3650 * 86_400);
        assert_eq!(facts.ext_key_usage, None);
        let client = x509::leaf_facts(der("self-signed-client-only.pem").as_ref()).unwrap();
        assert_eq!(client.ext_key_usage.unwrap().len(), 1);
    }
}
