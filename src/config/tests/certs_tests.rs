use super::{TempDir, env_in};
use crate::config::certs::scan_cert_dir;
use crate::config::error::ConfigError;
use crate::config::tls_files_for;

#[test]
fn explicit_cert_dir_is_the_only_dir() {
    let t = TempDir::new("certdir");
    let d = t.mkdir("mine");
    t.write("mine/ca.crt", "x");
    t.write("root/etc/docker/certs.d/reg.example:5000/other.crt", "x");
    let files = tls_files_for(&env_in(&t), "reg.example:5000", Some(&d)).expect("files");
    assert_eq!(files.ca_certs, [d.join("ca.crt")]);
    assert_eq!(files.dir.as_deref(), Some(d.as_path()));
}

#[test]
fn first_existing_host_dir_wins_home_first() {
    let t = TempDir::new("order");
    let env = env_in(&t);
    t.write("root/etc/docker/certs.d/reg.example:5000/docker.crt", "x");
    let f = tls_files_for(&env, "reg.example:5000", None).expect("docker dir");
    assert_eq!(
        f.ca_certs,
        [t.path()
            .join("root/etc/docker/certs.d/reg.example:5000/docker.crt")]
    );
    t.write(
        "root/etc/containers/certs.d/reg.example:5000/containers.crt",
        "x",
    );
    let f = tls_files_for(&env, "reg.example:5000", None).expect("containers dir");
    assert_eq!(
        f.ca_certs,
        [t.path()
            .join("root/etc/containers/certs.d/reg.example:5000/containers.crt")]
    );
    t.mkdir("home/.config/containers/certs.d/reg.example:5000");
    let f = tls_files_for(&env, "reg.example:5000", None).expect("home dir");
    assert!(
        f.ca_certs.is_empty(),
        "an existing but empty home dir still wins"
    );
    assert_eq!(
        f.dir,
        Some(
            t.path()
                .join("home/.config/containers/certs.d/reg.example:5000")
        )
    );
}

#[test]
fn no_dir_means_no_files() {
    let t = TempDir::new("none");
    let f = tls_files_for(&env_in(&t), "reg.example", None).expect("files");
    assert!(f.ca_certs.is_empty() && f.client_cert.is_none());
    assert_eq!(
        f.dir,
        Some(t.path().join("root/etc/docker/certs.d/reg.example"))
    );
}

#[test]
fn pairs_and_cas_are_collected() {
    let t = TempDir::new("pairs");
    let d = t.mkdir("d");
    for name in [
        "b.crt",
        "a.crt",
        "client.cert",
        "client.key",
        "z.cert",
        "z.key",
        "README",
        "x.pem",
    ] {
        t.write(&format!("d/{name}"), "x");
    }
    let f = scan_cert_dir(&d).expect("scan");
    assert_eq!(f.ca_certs, [d.join("a.crt"), d.join("b.crt")]);
    assert_eq!(
        f.client_cert,
        Some((d.join("client.cert"), d.join("client.key")))
    );
    assert_eq!(f.client_certs.len(), 2);
}

#[test]
fn cert_without_key_is_an_error() {
    let t = TempDir::new("nokey");
    let d = t.mkdir("d");
    t.write("d/client.cert", "x");
    let e = scan_cert_dir(&d).expect_err("missing key");
    assert!(matches!(e, ConfigError::CertPairing { .. }));
    assert!(
        e.to_string().starts_with("missing key client.key for client certificate client.cert. Note that CA certificates should use the extension .crt"),
        "{e}"
    );
    assert!(e.to_string().contains(&d.display().to_string()), "{e}");
}

#[test]
fn key_without_cert_is_an_error() {
    let t = TempDir::new("nocert");
    let d = t.mkdir("d");
    t.write("d/client.key", "x");
    t.write("d/client.crt", "x");
    let e = tls_files_for(&env_in(&t), "reg.example", Some(&d)).expect_err("missing cert");
    assert!(
        e.to_string()
            .starts_with("missing client certificate client.cert for key client.key"),
        "{e}"
    );
}
