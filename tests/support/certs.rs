//! Test PKI made with the `openssl` CLI (Debian package `openssl`).
//!
//! * a self-signed CA (`ca.crt` / `ca.key`);
//! * a server certificate for `127.0.0.1` and `localhost` signed by that CA
//!   (subjectAltName `IP:127.0.0.1,DNS:localhost`, extendedKeyUsage serverAuth);
//! * a client certificate signed by that CA (extendedKeyUsage clientAuth), for mutual TLS;
//! * an RSA key and a self-signed certificate for the token issuer (the registry's
//!   `auth.token.rootcertbundle`; the token server signs JWTs with the key, RS256).
//!
//! Everything lives in a `TempDir` owned by [`Certs`]; share it with `Arc<Certs>`.
//!
//! Include next to the other support modules (`registry.rs` and `token_server.rs` refer to this
//! one as `super::certs`).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

/// Paths of a freshly generated test PKI. The files are deleted when this is dropped.
pub struct Certs {
    dir: TempDir,
    /// Self-signed CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// CA private key (PEM).
    pub ca_key: PathBuf,
    /// Server certificate for 127.0.0.1 / localhost, signed by the CA (PEM).
    pub server_cert: PathBuf,
    /// Server private key (PEM, unencrypted).
    pub server_key: PathBuf,
    /// Client certificate (CN=skiff-client), signed by the CA (PEM).
    pub client_cert: PathBuf,
    /// Client private key (PEM, unencrypted).
    pub client_key: PathBuf,
    /// Token issuer's self-signed certificate (PEM); the registry's `rootcertbundle`.
    pub issuer_cert: PathBuf,
    /// Token issuer's RSA private key (PEM); signs the JWTs (RS256).
    pub issuer_key: PathBuf,
}

/// Run `openssl ARGS...` in `dir`; panic with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}); install it: apt-get install -y openssl")
        });
    assert!(
        out.status.success(),
        "openssl {:?} failed ({}):\n{}",
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    /// Generate the whole PKI into a new temporary directory (4 RSA-2048 keys, ~0.3 s).
    pub fn generate() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("skiff-certs-")
            .tempdir()
            .expect("create temp dir for certs");
        let d = dir.path().to_path_buf();
        let days = "3650";

        // CA
        openssl(
            &d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                days,
                "-subj",
                "/CN=skiff-test-ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );

        // Server certificate signed by the CA
        fs::write(
            d.join("server.ext"),
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(
            &d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        openssl(
            &d,
            &[
                "x509",
                "-req",
                "-sha256",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "2",
                "-days",
                days,
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );

        // Client certificate signed by the CA
        fs::write(
            d.join("client.ext"),
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        openssl(
            &d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-keyout",
                "client.key",
                "-out",
                "client.csr",
                "-subj",
                "/CN=skiff-client",
            ],
        );
        openssl(
            &d,
            &[
                "x509",
                "-req",
                "-sha256",
                "-in",
                "client.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "3",
                "-days",
                days,
                "-extfile",
                "client.ext",
                "-out",
                "client.crt",
            ],
        );

        // Token issuer: RSA key + self-signed certificate (no CA involved).
        openssl(
            &d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-keyout",
                "issuer.key",
                "-out",
                "issuer.crt",
                "-days",
                days,
                "-subj",
                "/CN=skiff-issuer",
            ],
        );

        Certs {
            ca_cert: d.join("ca.crt"),
            ca_key: d.join("ca.key"),
            server_cert: d.join("server.crt"),
            server_key: d.join("server.key"),
            client_cert: d.join("client.crt"),
            client_key: d.join("client.key"),
            issuer_cert: d.join("issuer.crt"),
            issuer_key: d.join("issuer.key"),
            dir,
        }
    }

    /// A self-signed server certificate made exactly as distribution's documentation makes
    /// one (`openssl req -newkey rsa:4096 -nodes -sha256 -keyout domain.key -x509 -days 365
    /// -out domain.crt -addext subjectAltName=DNS:NAME`; `-subj` answers the prompts). It is
    /// `CA:TRUE`. Every field points at `domain.crt` / `domain.key` (no CA, no client).
    pub fn self_signed_like_distribution_docs(dns_name: &str) -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("skiff-selfsigned-")
            .tempdir()
            .expect("create temp dir for certs");
        let d = dir.path().to_path_buf();
        openssl(
            &d,
            &[
                "req",
                "-newkey",
                "rsa:4096",
                "-nodes",
                "-sha256",
                "-keyout",
                "domain.key",
                "-x509",
                "-days",
                "365",
                "-out",
                "domain.crt",
                "-addext",
                &format!("subjectAltName=DNS:{dns_name}"),
                "-subj",
                &format!("/CN={dns_name}"),
            ],
        );
        let (crt, key) = (d.join("domain.crt"), d.join("domain.key"));
        Certs {
            ca_cert: crt.clone(),
            ca_key: key.clone(),
            server_cert: crt.clone(),
            server_key: key.clone(),
            client_cert: crt.clone(),
            client_key: key.clone(),
            issuer_cert: crt,
            issuer_key: key,
            dir,
        }
    }

    /// The directory holding all generated files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Lay out `ROOT/HOST:PORT/{ca.crt,client.cert,client.key}` as containers-certs.d(5)
    /// describes, and return `ROOT/HOST:PORT`.
    ///
    /// Pass the returned directory to `--src-cert-dir` / `--dest-cert-dir` / `--cert-dir`, or
    /// use `ROOT = $HOME/.config/containers/certs.d` to exercise the default per-host lookup.
    pub fn layout_certs_d(&self, root: &Path, host_port: &str) -> PathBuf {
        let d = self.layout_ca_only(root, host_port);
        fs::copy(&self.client_cert, d.join("client.cert")).unwrap();
        fs::copy(&self.client_key, d.join("client.key")).unwrap();
        d
    }

    /// Like [`Certs::layout_certs_d`] but only `ca.crt` (no client certificate).
    pub fn layout_ca_only(&self, root: &Path, host_port: &str) -> PathBuf {
        let d = root.join(host_port);
        fs::create_dir_all(&d).unwrap();
        fs::copy(&self.ca_cert, d.join("ca.crt")).unwrap();
        d
    }

    /// The issuer certificate's DER, base64 (standard alphabet, padded): the JWT `x5c` entry.
    /// (A PEM body *is* that base64 text, so no decoding is needed.)
    pub fn issuer_cert_der_base64(&self) -> String {
        pem_body(&fs::read_to_string(&self.issuer_cert).unwrap())
    }
}

/// Concatenate the base64 lines of the first PEM block in `pem`.
pub fn pem_body(pem: &str) -> String {
    pem.lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .map(str::trim)
        .collect()
}
