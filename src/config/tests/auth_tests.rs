use std::path::{Path, PathBuf};

use super::{TempDir, env_in};
use crate::config::error::ConfigError;
use crate::config::{AuthLookup, Credentials, Env};

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub(super) fn auths(entries: &[(&str, &str)]) -> String {
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{k:?}: {{\"auth\": {:?}}}", b64(v)))
        .collect();
    format!("{{\"auths\": {{{}}}}}", body.join(","))
}

pub(super) fn basic(u: &str, p: &str) -> Credentials {
    Credentials::Basic {
        username: u.into(),
        password: p.into(),
    }
}

pub(super) fn found(l: &AuthLookup, host: &str, repo: &str) -> Option<(Credentials, String)> {
    l.lookup(host, repo).expect("lookup succeeds")
}

pub(super) fn user_of(l: &AuthLookup, host: &str, repo: &str) -> Option<String> {
    found(l, host, repo).map(|(c, _)| match c {
        Credentials::Basic { username, .. } => username,
        Credentials::IdentityToken { token, .. } => format!("token:{token}"),
    })
}

#[test]
fn default_file_order() {
    let t = TempDir::new("order");
    let mut env = env_in(&t);
    env.xdg_runtime_dir = Some(t.mkdir("run"));
    t.write(
        "run/containers/auth.json",
        &auths(&[("r1.example", "runtime:pw")]),
    );
    t.write(
        "home/.config/containers/auth.json",
        &auths(&[("r1.example", "cfg:pw"), ("r2.example", "cfg:pw")]),
    );
    t.write(
        "home/.docker/config.json",
        &auths(&[("r2.example", "docker:pw"), ("r3.example", "docker:pw")]),
    );
    t.write(
        "home/.dockercfg",
        &format!(
            "{{\"r3.example\": {{\"auth\": {:?}}}, \"r4.example\": {{\"auth\": {:?}}}}}",
            b64("legacy:pw"),
            b64("legacy:pw")
        ),
    );
    let l = AuthLookup::new(&env, None);
    assert_eq!(user_of(&l, "r1.example", "x").as_deref(), Some("runtime"));
    assert_eq!(user_of(&l, "r2.example", "x").as_deref(), Some("cfg"));
    assert_eq!(user_of(&l, "r3.example", "x").as_deref(), Some("docker"));
    assert_eq!(user_of(&l, "r4.example", "x").as_deref(), Some("legacy"));
    assert_eq!(user_of(&l, "r5.example", "x"), None);
    let (_, src) = found(&l, "r1.example", "x").expect("found");
    assert!(
        src.contains("run/containers/auth.json") && src.contains("\"r1.example\""),
        "{src}"
    );
}

#[test]
fn default_paths_without_xdg_runtime_dir() {
    let t = TempDir::new("paths");
    let env = env_in(&t);
    let files: Vec<PathBuf> = AuthLookup::new(&env, None)
        .files()
        .iter()
        .map(|f| f.path.clone())
        .collect();
    assert_eq!(
        files,
        [
            t.path().join("root/run/containers/1234/auth.json"),
            t.path().join("home/.config/containers/auth.json"),
            t.path().join("home/.docker/config.json"),
            t.path().join("home/.dockercfg"),
        ]
    );
    let env = Env {
        xdg_config_home: Some(t.path().join("xdg")),
        docker_config: Some(t.path().join("dc")),
        xdg_runtime_dir: Some(t.path().join("missing")),
        ..env_in(&t)
    };
    let l = AuthLookup::new(&env, None);
    let files: Vec<&Path> = l.files().iter().map(|f| f.path.as_path()).collect();
    assert_eq!(
        files[0],
        t.path().join("xdg/containers/auth.json"),
        "missing XDG_RUNTIME_DIR is skipped"
    );
    assert_eq!(files[1], t.path().join("dc/config.json"));
    assert!(l.files()[2].legacy_format);
}

#[test]
fn namespace_keys_beat_host_keys() {
    let t = TempDir::new("ns");
    let f = t.write(
        "a.json",
        &auths(&[
            ("reg.example", "host:pw"),
            ("reg.example/ns", "ns:pw"),
            ("reg.example/ns/img", "img:pw"),
        ]),
    );
    let l = AuthLookup::new(&env_in(&t), Some(&f));
    assert_eq!(user_of(&l, "reg.example", "ns/img").as_deref(), Some("img"));
    assert_eq!(
        user_of(&l, "reg.example", "ns/other").as_deref(),
        Some("ns")
    );
    assert_eq!(
        user_of(&l, "reg.example", "nsx/img").as_deref(),
        Some("host")
    );
    assert_eq!(user_of(&l, "reg.example", "").as_deref(), Some("host"));
}

#[test]
fn exact_entry_without_colon_moves_to_next_file() {
    // Verified with skopeo 1.9.3 `login --get-login`: the host key in the same
    // file is NOT tried; the next file is.
    let t = TempDir::new("nocolon");
    let f = t.write(
        "a.json",
        &auths(&[("reg.example/ns", "nocolon"), ("reg.example", "host:pw")]),
    );
    t.write(
        "home/.docker/config.json",
        &auths(&[("reg.example", "docker:pw")]),
    );
    let l = AuthLookup::new(&env_in(&t), Some(&f));
    assert_eq!(
        user_of(&l, "reg.example", "ns/x").as_deref(),
        Some("docker")
    );
}

#[test]
fn normalized_keys_match() {
    let t = TempDir::new("norm");
    let f = t.write(
        "a.json",
        &auths(&[
            ("https://index.docker.io/v1/", "hub:pw"),
            ("http://reg.example:5000/v2/", "port:pw"),
            ("registry-1.docker.io/x", "no:pw"),
        ]),
    );
    let l = AuthLookup::new(&env_in(&t), Some(&f));
    assert_eq!(
        user_of(&l, "docker.io", "library/busybox").as_deref(),
        Some("hub")
    );
    assert_eq!(
        user_of(&l, "reg.example:5000", "a").as_deref(),
        Some("port")
    );
    assert_eq!(user_of(&l, "reg.example", "a"), None);
}

#[test]
fn legacy_dockercfg_uses_only_host() {
    let t = TempDir::new("legacy");
    t.write("home/.dockercfg", &format!("{{\"https://reg.example/v1/\": {{\"auth\": {:?}}}, \"reg.example/ns\": {{\"auth\": {:?}}}}}", b64("legacy:pw"), b64("ns:pw")));
    let l = AuthLookup::new(&env_in(&t), None);
    // Both keys normalize to "reg.example"; c/image picks one at random (Go map
    // order), skiff deterministically takes the first key in byte order.
    assert_eq!(
        user_of(&l, "reg.example", "ns/img").as_deref(),
        Some("legacy")
    );
    assert_eq!(user_of(&l, "other.example", "ns/img"), None);
}

#[test]
fn bad_base64_error_is_clear_and_secret_free() {
    let t = TempDir::new("b64");
    let f = t.write(
        "a.json",
        r#"{"auths": {"reg.example": {"auth": "!!hunter2-secret"}}}"#,
    );
    let e = AuthLookup::new(&env_in(&t), Some(&f))
        .lookup("reg.example", "x")
        .expect_err("bad base64");
    let msg = e.to_string();
    assert!(msg.contains("illegal base64 data at input byte 0"), "{msg}");
    assert!(
        msg.contains("a.json") && msg.contains("reg.example"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(!format!("{e:?}").contains("hunter2"));
    let f = t.write(
        "b.json",
        r#"{"auths": {"reg.example": {"auth": "dTpwdw"}}}"#,
    );
    let e = AuthLookup::new(&env_in(&t), Some(&f))
        .lookup("reg.example", "x")
        .expect_err("missing padding");
    assert!(matches!(e, ConfigError::AuthDecode { .. }), "{e}");
}

#[test]
fn malformed_json_errors_never_echo_values() {
    let t = TempDir::new("json");
    let f = t.write("typ.json", r#"{"auths": {"reg.example": "user:hunter2"}}"#);
    let e = AuthLookup::new(&env_in(&t), Some(&f))
        .lookup("reg.example", "x")
        .expect_err("type error");
    assert!(
        e.to_string().contains("typ.json") && !e.to_string().contains("hunter2"),
        "{e}"
    );
    let f = t.write("syn.json", r#"{"auths": {"reg.example": {"auth": "hunter2"#);
    let e = AuthLookup::new(&env_in(&t), Some(&f))
        .lookup("reg.example", "x")
        .expect_err("syntax error");
    assert!(
        e.to_string().contains("syn.json") && !e.to_string().contains("hunter2"),
        "{e}"
    );
    let f = t.write("empty.json", "");
    let e = AuthLookup::new(&env_in(&t), Some(&f))
        .lookup("reg.example", "x")
        .expect_err("empty file");
    assert!(
        e.to_string().contains("unexpected end of JSON input"),
        "{e}"
    );
}

#[test]
fn json_keys_are_case_insensitive_like_go() {
    let t = TempDir::new("case");
    let f = t.write(
        "a.json",
        &format!(
            "{{\"Auths\": {{\"reg.example\": {{\"Auth\": {:?}}}}}}}",
            b64("upper:pw")
        ),
    );
    assert_eq!(
        user_of(&AuthLookup::new(&env_in(&t), Some(&f)), "reg.example", "x").as_deref(),
        Some("upper")
    );
}

#[test]
fn password_nul_padding_is_trimmed_and_colons_kept() {
    let t = TempDir::new("nul");
    let f = t.write("a.json", &auths(&[("reg.example", "u:p:w\0\0")]));
    let (c, _) = found(&AuthLookup::new(&env_in(&t), Some(&f)), "reg.example", "").expect("found");
    assert_eq!(c, basic("u", "p:w"));
}

#[test]
fn identity_token_with_auth() {
    let t = TempDir::new("idtok");
    let f = t.write(
        "a.json",
        &format!(
            "{{\"auths\": {{\"reg.example\": {{\"auth\": {:?}, \"identitytoken\": \"tok123\"}}}}}}",
            b64("me:pw")
        ),
    );
    let (c, _) = found(&AuthLookup::new(&env_in(&t), Some(&f)), "reg.example", "x").expect("found");
    assert_eq!(
        c,
        Credentials::IdentityToken {
            username: Some("me".into()),
            password: Some("pw".into()),
            token: "tok123".into()
        }
    );
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("tok123") && !dbg.contains("\"pw\"") && dbg.contains("<redacted>"),
        "{dbg}"
    );
}

#[test]
fn identity_token_without_auth_is_ignored_like_c_image() {
    let t = TempDir::new("idonly");
    let f = t.write(
        "a.json",
        r#"{"auths": {"reg.example": {"auth": "", "identitytoken": "tok"}}}"#,
    );
    assert_eq!(
        found(&AuthLookup::new(&env_in(&t), Some(&f)), "reg.example", "x"),
        None
    );
}

#[test]
fn debug_output_is_redacted() {
    let c = basic("alice", "hunter2");
    let dbg = format!("{c:?}");
    assert_eq!(dbg, "Basic { username: \"alice\", password: <redacted> }");
}

#[test]
fn authfile_flag_beats_registry_auth_file() {
    let t = TempDir::new("precedence");
    let flag = t.write("flag.json", &auths(&[("reg.example", "flag:pw")]));
    let envf = t.write("env.json", &auths(&[("reg.example", "env:pw")]));
    let env = Env {
        registry_auth_file: Some(envf),
        ..env_in(&t)
    };
    assert_eq!(
        user_of(&AuthLookup::new(&env, Some(&flag)), "reg.example", "").as_deref(),
        Some("flag")
    );
    assert_eq!(
        user_of(&AuthLookup::new(&env, None), "reg.example", "").as_deref(),
        Some("env")
    );
    assert_eq!(
        user_of(
            &AuthLookup::new(&env, Some(Path::new(""))),
            "reg.example",
            ""
        ),
        None
    );
}

#[test]
fn explicit_authfile_still_falls_back_to_docker_config() {
    // Verified with skopeo 1.9.3: --authfile empty.json still finds ~/.docker/config.json entries.
    let t = TempDir::new("fallback");
    let f = t.write("empty.json", r#"{"auths": {}}"#);
    t.write(
        "home/.docker/config.json",
        &auths(&[("docker.example", "dockuser:pw")]),
    );
    let l = AuthLookup::new(&env_in(&t), Some(&f));
    assert_eq!(
        user_of(&l, "docker.example", "x").as_deref(),
        Some("dockuser")
    );
    let missing = t.path().join("does-not-exist.json");
    assert_eq!(
        user_of(
            &AuthLookup::new(&env_in(&t), Some(&missing)),
            "docker.example",
            "x"
        )
        .as_deref(),
        Some("dockuser")
    );
}

#[test]
fn docker_config_env_replaces_home_docker() {
    let t = TempDir::new("dockerconfig");
    t.write(
        "home/.docker/config.json",
        &auths(&[("reg.example", "home:pw")]),
    );
    t.write("dc/config.json", &auths(&[("reg.example", "dc:pw")]));
    let env = Env {
        docker_config: Some(t.path().join("dc")),
        ..env_in(&t)
    };
    assert_eq!(
        user_of(&AuthLookup::new(&env, None), "reg.example", "").as_deref(),
        Some("dc")
    );
}

#[test]
fn invalid_keys_are_rejected() {
    let t = TempDir::new("keys");
    let l = AuthLookup::new(&env_in(&t), None);
    assert!(matches!(
        l.lookup("https://reg.example", ""),
        Err(ConfigError::AuthKey { .. })
    ));
    assert!(matches!(
        l.lookup("reg.example", "a@sha256:00"),
        Err(ConfigError::AuthKey { .. })
    ));
    assert!(matches!(
        l.lookup("reg.example", "a:tag"),
        Err(ConfigError::AuthKey { .. })
    ));
    assert!(l.lookup("localhost:5000", "a").is_ok());
}
