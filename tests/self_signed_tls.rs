//! A registry whose TLS certificate is self-signed the way distribution's documentation
//! makes it (`openssl req … -x509 …`, so `CA:TRUE`): trusted through `--*-cert-dir`,
//! certs.d and the system store ($SSL_CERT_FILE), as skopeo 1.9.3 trusts it; an untrusted
//! self-signed certificate, or a trusted one presented for another name, still fails.

#![allow(dead_code, unused_imports)]

include!("support/registry_env.rs");

use std::sync::Arc;

use certs::Certs;

const NAME: &str = "localhost";

struct SelfSigned {
    certs: Arc<Certs>,
    reg: Registry,
}

impl SelfSigned {
    fn start() -> SelfSigned {
        let certs = Arc::new(Certs::self_signed_like_distribution_docs(NAME));
        let reg = Registry::start(RegistryOpts::plain().with_tls(certs.clone()));
        SelfSigned { certs, reg }
    }

    /// `localhost:PORT`, the name the certificate is for.
    fn host(&self) -> String {
        format!("{NAME}:{}", self.reg.port())
    }

    fn image(&self, repo_tag: &str) -> String {
        format!("docker://{}/{repo_tag}", self.host())
    }

    /// The registry's certificate in `ROOT/HOST:PORT` (see [`cert_dir_for`]).
    fn cert_dir(&self, root: &Path) -> PathBuf {
        cert_dir_for(root, &self.host(), &self.certs.server_cert)
    }
}

/// `ROOT/HOST/domain.crt` holding `cert`, as a cert dir (any `*.crt` is a CA for
/// containers-certs.d(5)); returns the directory.
fn cert_dir_for(root: &Path, host: &str, cert: &Path) -> PathBuf {
    let d = root.join(host);
    fs::create_dir_all(&d).unwrap();
    fs::copy(cert, d.join("domain.crt")).unwrap();
    d
}

/// skiff and skopeo both fail to push hello-oci to `dest` trusting `cert_dir`; skiff says
/// it is the certificate.
#[track_caller]
fn both_refuse_the_push(cx: &Ctx, cert_dir: &Path, dest: &str) {
    let dir = cert_dir.to_str().unwrap();
    let ours = cx.copy(&["--dest-cert-dir", dir], &hello_src(), dest);
    ours.assert_fails_with("certificate");
    let args = ["--insecure-policy", "copy", "--dest-cert-dir", dir];
    let theirs = cx.skopeo(&[&args[..], &[&hello_src(), dest]].concat());
    assert_eq!(theirs.code, Some(1), "{theirs:?}");
}

fn skiff(cx: &Ctx, args: &[&str], env: &[(&str, OsString)]) -> Out {
    cx.run(env!("CARGO_BIN_EXE_skiff"), args, env)
}

#[test]
fn self_signed_certificate_in_cert_dir_works_both_ways_with_skopeo() {
    let cx = Ctx::new();
    let s = SelfSigned::start();
    let dir = s.cert_dir(&cx.path("certs"));
    let dir = dir.to_str().unwrap();
    let pushed = cx.copy(
        &["--dest-cert-dir", dir],
        &hello_src(),
        &s.image("skiff/hello:v1"),
    );
    assert!(pushed.ok(), "{pushed:?}");
    assert_tag_is_hello(&s.reg, "skiff/hello", "v1");
    // skopeo trusts the same directory and reads what skiff wrote ...
    let theirs = cx.skopeo(&[
        "--insecure-policy",
        "copy",
        "--src-cert-dir",
        dir,
        "--dest-cert-dir",
        dir,
        &s.image("skiff/hello:v1"),
        &s.image("skiff/hello:skopeo"),
    ]);
    assert!(theirs.ok(), "{theirs:?}");
    // ... and skiff reads what skopeo wrote.
    cx.pull_hello_to_oci(
        &["--src-cert-dir", dir],
        &s.image("skiff/hello:skopeo"),
        "back",
        "v1",
    );
    for command in ["inspect", "list-tags"] {
        let target = if command == "inspect" {
            s.image("skiff/hello:v1")
        } else {
            s.image("skiff/hello")
        };
        let out = skiff(&cx, &[command, "--cert-dir", dir, &target], &[]);
        assert!(out.ok(), "{out:?}");
    }
}

#[test]
fn self_signed_certificate_in_certs_d_and_in_the_system_store() {
    let cx = Ctx::new();
    let s = SelfSigned::start();
    s.cert_dir(&cx.home().join(".config/containers/certs.d"));
    let out = cx.copy(&[], &hello_src(), &s.image("skiff/hello:certsd"));
    assert!(out.ok(), "{out:?}");
    assert_tag_is_hello(&s.reg, "skiff/hello", "certsd");
    fs::remove_dir_all(cx.home().join(".config/containers/certs.d")).unwrap();

    // The system store: a bundle named by $SSL_CERT_FILE (Go and rustls-native-certs both
    // read it), holding the distribution's roots and the registry's certificate.
    let bundle = cx.path("bundle.pem");
    let mut pem = fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    pem.extend(fs::read(&s.certs.server_cert).unwrap());
    fs::write(&bundle, pem).unwrap();
    let env = [("SSL_CERT_FILE", bundle.clone().into_os_string())];
    let target = s.image("skiff/hello:certsd");
    let ours = skiff(&cx, &["inspect", "--raw", &target], &env);
    assert!(ours.ok(), "{ours:?}");
    let theirs = cx.run("skopeo", &["inspect", "--raw", &target], &env);
    assert!(theirs.ok(), "{theirs:?}");
    assert_eq!(ours.stdout, theirs.stdout);
    // Without it, the certificate is not trusted.
    let out = skiff(&cx, &["inspect", "--raw", &target], &[]);
    assert_eq!(out.code, Some(1), "{out:?}");
}

#[test]
fn untrusted_or_misnamed_self_signed_certificates_still_fail_as_in_skopeo() {
    let cx = Ctx::new();
    let s = SelfSigned::start();
    // A different self-signed certificate for the same name is trusted instead.
    let other = Certs::self_signed_like_distribution_docs(NAME);
    let wrong = cert_dir_for(&cx.path("other"), &s.host(), &other.server_cert);
    let dest = s.image("skiff/hello:v1");
    both_refuse_the_push(&cx, &wrong, &dest);
    // No certificate given at all.
    let ours = cx.copy(&[], &hello_src(), &dest);
    assert_eq!(ours.code, Some(1), "{ours:?}");
    // The trusted certificate, reached by a name it is not for (127.0.0.1).
    let by_ip = cert_dir_for(&cx.path("by-ip"), &s.reg.host(), &s.certs.server_cert);
    both_refuse_the_push(&cx, &by_ip, &s.reg.docker_ref("skiff/hello:v1"));
    assert!(s.reg.tags("skiff/hello").is_empty());
}
