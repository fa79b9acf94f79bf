//! Credential helpers: credHelpers entries, global credential-helpers, the
//! fake `docker-credential-test` script (found via Env.path, never via the
//! process-global PATH).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::auth_tests::{auths, basic, found, user_of};
use super::{TempDir, env_in};
use crate::config::auth::credential_helper_get_with_path;
use crate::config::{AuthLookup, RegistriesConf};

/// Writes the fake `docker-credential-test` helper into t/bin.
fn write_helper(t: &TempDir) -> PathBuf {
    let log = t.path().join("helper.log");
    let script = format!(
        r#"#!/bin/sh
read -r url
echo "$1 $url" >> '{}'
case "$url" in
  found.example) echo '{{"ServerURL":"found.example","Username":"helperuser","Secret":"s3cret"}}';;
  tok.example) echo '{{"username":"<token>","secret":"tkn"}}';;
  broken.example) echo 'boom: Secret=hunter2'; exit 3;;
  fail.example) echo 'backend unavailable'; exit 1;;
  slow.example) while :; do :; done;;
  *) echo "credentials not found in native keychain"; exit 1;;
esac
"#,
        log.display()
    );
    let p = t.write("bin/docker-credential-test", &script);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    log
}

#[test]
fn cred_helpers_entry_uses_helper() {
    let t = TempDir::new("credhelpers");
    let log = write_helper(&t);
    let f = t.write("a.json", r#"{"auths": {"found.example": {"auth": "bm86bm8="}}, "credHelpers": {"found.example": "test", "tok.example": "test", "nf.example": "test"}}"#);
    t.write(
        "home/.docker/config.json",
        &auths(&[("nf.example", "docker:pw")]),
    );
    let l = AuthLookup::new(&env_in(&t), Some(&f));
    let (c, src) = found(&l, "found.example", "ns/img").expect("helper creds");
    assert_eq!(c, basic("helperuser", "s3cret"));
    assert!(src.contains("credential helper test"), "{src}");
    assert_eq!(
        user_of(&l, "tok.example", "x").as_deref(),
        Some("token:tkn")
    );
    assert_eq!(
        user_of(&l, "nf.example", "x").as_deref(),
        Some("docker"),
        "not found → next file"
    );
    let logged = std::fs::read_to_string(log).expect("log");
    assert!(
        logged.contains("get found.example\n"),
        "helper gets the host only: {logged}"
    );
}

#[test]
fn creds_store_is_used_like_docker_after_cred_helpers() {
    let t = TempDir::new("credsstore");
    let log = write_helper(&t);
    let f = t.write(
        "a.json",
        r#"{"auths": {"found.example": {}}, "credsStore": "test", "credHelpers": {"other.example": "test"}}"#,
    );
    let lookup = AuthLookup::new(&env_in(&t), Some(&f));
    assert!(
        found(&lookup, "found.example", "x").is_some(),
        "credsStore answers for a registry without a credHelpers entry"
    );
    let logged = std::fs::read_to_string(log).expect("the helper ran");
    assert!(logged.contains("get found.example\n"), "{logged}");
}

#[test]
fn global_credential_helpers_from_registries_conf() {
    let t = TempDir::new("globalhelpers");
    write_helper(&t);
    let f = t.write("a.json", &auths(&[("file.example", "file:pw")]));
    let conf = RegistriesConf::parse(
        "credential-helpers = [\"test\", \"containers-auth.json\"]\n",
        Path::new("r.conf"),
    )
    .expect("conf");
    let l =
        AuthLookup::new(&env_in(&t), Some(&f)).with_credential_helpers(&conf.credential_helpers);
    assert_eq!(
        user_of(&l, "found.example", "a/b").as_deref(),
        Some("helperuser")
    );
    assert_eq!(user_of(&l, "file.example", "a/b").as_deref(), Some("file"));
    let e = l
        .lookup("fail.example", "x")
        .expect_err("helper failed, nothing found");
    assert!(e.to_string().contains("backend unavailable"), "{e}");
}

#[test]
fn helper_failure_and_missing_helper() {
    let t = TempDir::new("helperfail");
    write_helper(&t);
    let path = t.path().join("bin").into_os_string();
    let e =
        credential_helper_get_with_path("test", "broken.example", Some(&path)).expect_err("exit 3");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(e.to_string().contains("docker-credential-test"), "{e}");
    let e = credential_helper_get_with_path("nonexistent", "x.example", Some(&path))
        .expect_err("missing");
    assert!(
        e.to_string().contains("executable file not found in $PATH"),
        "{e}"
    );
    assert_eq!(
        credential_helper_get_with_path("test", "other.example", Some(&path)).expect("not found"),
        None
    );
}

#[test]
fn helper_timeout_kills_child() {
    let t = TempDir::new("slow");
    write_helper(&t);
    let f = t.write("a.json", r#"{"credHelpers": {"slow.example": "test"}}"#);
    let l = AuthLookup::new(&env_in(&t), Some(&f)).with_timeout(Duration::from_millis(200));
    let e = l.lookup("slow.example", "x").expect_err("timeout");
    assert!(e.to_string().contains("timed out"), "{e}");
}
