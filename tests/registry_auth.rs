//! Registry authentication: every credential source skopeo knows (flags, auth files,
//! Docker configs, credential helpers) against htpasswd Basic auth, and Bearer tokens from
//! a JWT token server, with real docker-registry and skopeo 1.9.3.

#![allow(dead_code, unused_imports)]

include!("support/registry_env.rs");

// ---------------------------------------------------------------------------------------
// htpasswd (Basic) authentication: every credential source
// ---------------------------------------------------------------------------------------

/// Push hello-oci to an htpasswd registry (user/pass) with `flags` + `env` from `setup`
/// and assert it was published. Returns the sandbox and registry for further checks.
fn basic_push_with(
    setup: impl FnOnce(&Ctx, &Registry) -> (Vec<String>, Vec<(&'static str, OsString)>),
) -> (Ctx, Registry) {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::htpasswd("user", "pass"));
    let (flags, env) = setup(&cx, &reg);
    let mut all = vec!["--dest-tls-verify=false"];
    all.extend(flags.iter().map(String::as_str));
    let out = cx.copy_env(&all, &hello_src(), &reg.docker_ref("skiff/hello:v1"), &env);
    assert!(out.ok(), "{out:?}");
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
    (cx, reg)
}

#[test]
fn basic_auth_dest_creds() {
    basic_push_with(|_, _| (vec!["--dest-creds".into(), "user:pass".into()], vec![]));
}

#[test]
fn basic_auth_dest_username_and_password() {
    basic_push_with(|_, _| {
        (
            vec![
                "--dest-username".into(),
                "user".into(),
                "--dest-password".into(),
                "pass".into(),
            ],
            vec![],
        )
    });
}

#[test]
fn basic_auth_authfile_flag() {
    basic_push_with(|cx, reg| {
        let f = write_file(
            &cx.path("auth.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (vec!["--authfile".into(), f.display().to_string()], vec![])
    });
}

#[test]
fn basic_auth_dest_authfile_flag() {
    basic_push_with(|cx, reg| {
        let f = write_file(
            &cx.path("auth.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (
            vec!["--dest-authfile".into(), f.display().to_string()],
            vec![],
        )
    });
}

#[test]
fn basic_auth_registry_auth_file_env() {
    basic_push_with(|cx, reg| {
        let f = write_file(
            &cx.path("auth.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (vec![], vec![("REGISTRY_AUTH_FILE", f.into_os_string())])
    });
}

#[test]
fn basic_auth_xdg_runtime_dir_auth_json() {
    basic_push_with(|cx, reg| {
        write_file(
            &cx.xdg().join("containers/auth.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (vec![], vec![])
    });
}

#[test]
fn basic_auth_home_docker_config_json() {
    basic_push_with(|cx, reg| {
        write_file(
            &cx.home().join(".docker/config.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (vec![], vec![])
    });
}

#[test]
fn basic_auth_docker_config_env() {
    basic_push_with(|cx, reg| {
        let d = cx.path("docker-config");
        write_file(
            &d.join("config.json"),
            &auth_json(&[(&reg.host(), "user:pass")]),
        );
        (vec![], vec![("DOCKER_CONFIG", d.into_os_string())])
    });
}

#[test]
fn basic_auth_namespace_key_beats_host_key() {
    basic_push_with(|cx, reg| {
        let host = reg.host();
        let ns = format!("{host}/skiff");
        let f = write_file(
            &cx.path("auth.json"),
            &auth_json(&[(&host, "user:wrong"), (&ns, "user:pass")]),
        );
        (vec!["--authfile".into(), f.display().to_string()], vec![])
    });
}

#[test]
fn basic_auth_cred_helper_from_cred_helpers() {
    let (cx, reg) = basic_push_with(|cx, reg| {
        let (path, _) = credential_helper(&cx.path("helper"), "user", "pass");
        write_file(
            &cx.xdg().join("containers/auth.json"),
            &serde_json::to_string(&json!({"auths": {}, "credHelpers": {reg.host(): "skifftest"}}))
                .unwrap(),
        );
        (vec![], vec![("PATH", path.into_os_string())])
    });
    let host = reg.host();
    let log = fs::read_to_string(cx.path("helper/helper.log")).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.starts_with("get ") && l.contains(&host)),
        "helper not asked for {host}: {log:?}"
    );
}

#[test]
fn basic_auth_cred_helper_from_creds_store() {
    let (cx, _reg) = basic_push_with(|cx, _| {
        let (path, _) = credential_helper(&cx.path("helper"), "user", "pass");
        write_file(
            &cx.home().join(".docker/config.json"),
            r#"{"auths": {}, "credsStore": "skifftest"}"#,
        );
        (vec![], vec![("PATH", path.into_os_string())])
    });
    let log = fs::read_to_string(cx.path("helper/helper.log")).unwrap_or_default();
    assert!(
        log.lines().any(|l| l.starts_with("get ")),
        "helper not used: {log:?}"
    );
}

#[test]
fn basic_auth_wrong_password_fails_and_publishes_nothing() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::htpasswd("user", "pass"));
    let out = cx.copy(
        &["--dest-tls-verify=false", "--dest-creds", "user:wrong"],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_failed_unpublished(&out, &reg, "skiff/hello");
    let err = out.stderr.to_lowercase();
    assert!(
        err.contains("unauthorized")
            || err.contains("authentication required")
            || err.contains("invalid username"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains(&reg.host()),
        "the message names the registry\n{out:?}"
    );
    assert_eq!(reg.blob_count(), 0);
}

#[test]
fn basic_auth_dest_no_creds_ignores_authfile() {
    let cx = Ctx::new();
    let reg = Registry::start(RegistryOpts::htpasswd("user", "pass"));
    write_file(
        &cx.xdg().join("containers/auth.json"),
        &auth_json(&[(&reg.host(), "user:pass")]),
    );
    let out = cx.copy(
        &["--dest-tls-verify=false", "--dest-no-creds"],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_failed_unpublished(&out, &reg, "skiff/hello");
    assert_eq!(reg.blob_count(), 0);
    // The same authfile without --dest-no-creds is accepted.
    cx.push_hello_v1(&reg);
    assert_eq!(reg.tags("skiff/hello"), ["v1"]);
}

// ---------------------------------------------------------------------------------------
// Bearer token authentication
// ---------------------------------------------------------------------------------------

#[test]
fn token_auth_push_and_pull() {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false", "--dest-creds", &ts.creds()],
    );
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
    let reqs = ts.requests();
    assert!(
        reqs.iter().any(|r| r.authenticated
            && r.service.as_deref() == Some(token_server::SERVICE)
            && r.scopes
                .iter()
                .any(|s| s == "repository:skiff/hello:pull,push")),
        "{reqs:#?}"
    );
    assert!(reqs.iter().all(|r| r.status == 200), "{reqs:#?}");

    cx.pull_hello_to_oci(
        &["--src-tls-verify=false", "--src-creds", &ts.creds()],
        &reg.docker_ref("skiff/hello:v1"),
        "back",
        "v1",
    );
    assert!(
        ts.scopes_seen()
            .iter()
            .any(|s| s == "repository:skiff/hello:pull"),
        "{:#?}",
        ts.requests()
    );
}

#[test]
fn token_auth_same_registry_mount_asks_for_source_pull_scope() {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false", "--dest-creds", &ts.creds()],
    );
    ts.clear_requests();
    let out = cx.copy(
        &[
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            &ts.creds(),
            "--dest-creds",
            &ts.creds(),
        ],
        &reg.docker_ref("skiff/hello:v1"),
        &reg.docker_ref("skiff/copy:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_tag_is_hello(&reg, "skiff/copy", "v1");
    let reqs = ts.requests();
    assert!(
        reqs.iter().any(|r| r
            .scopes
            .iter()
            .any(|s| s == "repository:skiff/copy:pull,push")
            && r.scopes.iter().any(|s| s == "repository:skiff/hello:pull")),
        "no token asked for both the destination push and the source pull scope: {reqs:#?}"
    );
    let mounts: Vec<_> = reg
        .mounts()
        .into_iter()
        .filter(|m| m.repo == "skiff/copy")
        .collect();
    assert_eq!(mounts.len(), 4, "{mounts:?}");
    assert!(mounts.iter().all(|m| m.mounted()), "{mounts:?}");
    assert!(
        reg.uploads().iter().all(|u| u.repo != "skiff/copy"),
        "{:?}",
        reg.uploads()
    );
}

#[test]
fn token_auth_wrong_password_fails() {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    let out = cx.copy(
        &["--dest-tls-verify=false", "--dest-creds", "user:wrong"],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_failed_unpublished(&out, &reg, "skiff/hello");
    assert!(
        ts.requests()
            .iter()
            .any(|r| r.had_credentials && !r.authenticated && r.status == 401),
        "{:#?}",
        ts.requests()
    );
    assert_eq!(reg.blob_count(), 0);
}

#[test]
fn src_registry_token_is_used_as_is_for_a_pull() {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    cx.push_hello(
        &reg.docker_ref("skiff/hello:v1"),
        &["--dest-tls-verify=false", "--dest-creds", &ts.creds()],
    );
    let token = ts.issue(
        "user",
        &[(
            "repository".into(),
            "skiff/hello".into(),
            vec!["pull".into()],
        )],
    );
    ts.clear_requests();
    cx.pull_hello_to_oci(
        &["--src-tls-verify=false", "--src-registry-token", &token],
        &reg.docker_ref("skiff/hello:v1"),
        "back",
        "v1",
    );
    assert!(
        ts.requests().is_empty(),
        "the given token should be sent as is, not exchanged: {:#?}",
        ts.requests()
    );
}

// ---------------------------------------------------------------------------------------
// Credentials stay on the registry's own scheme, host and port
// ---------------------------------------------------------------------------------------

/// Pushes hello with `creds` to `reg` through proxy A, whose upload `Location` answers name
/// another loopback port: proxy B, a storage host that authorizes uploads itself (with
/// `b_auth`) and answers with relative Locations. Checks that the image landed, that B never
/// saw the client's credentials, and that B's relative Locations were resolved against B.
fn push_through_another_upload_host(reg: &Registry, creds: &str, b_auth: &str) {
    let cx = Ctx::new();
    let a = FaultProxy::start(&reg.host(), vec![]);
    let b = FaultProxy::start(&reg.host(), vec![]);
    a.rewrite_location(&a.url(), &b.url());
    b.rewrite_location(&b.url(), "");
    b.authorize_upstream(b_auth);
    let out = cx.copy(
        &["--dest-tls-verify=false", "--dest-creds", creds],
        &hello_src(),
        &a.docker_ref("skiff/hello:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_tag_is_hello(reg, "skiff/hello", "v1");

    let at_a = a.requests();
    assert!(
        at_a.iter()
            .any(|r| r.method == "POST" && r.authorization.is_some()),
        "the registry itself got no credentials: {at_a:#?}"
    );
    let at_b = b.requests();
    // 3 layers and a config: each a PATCH and a completing PUT, all at B.
    assert_eq!(
        b.count("PATCH", "/v2/skiff/hello/blobs/uploads/*"),
        4,
        "{at_b:#?}"
    );
    assert_eq!(
        b.count("PUT", "/v2/skiff/hello/blobs/uploads/*"),
        4,
        "{at_b:#?}"
    );
    assert_eq!(
        a.count("PUT", "/v2/skiff/hello/blobs/uploads/*"),
        0,
        "{at_a:#?}"
    );
    let leaked: Vec<_> = at_b.iter().filter(|r| r.authorization.is_some()).collect();
    assert!(
        leaked.is_empty(),
        "credentials sent to another host than the registry's: {leaked:#?}"
    );
}

#[test]
fn basic_credentials_never_follow_an_upload_location_to_another_host() {
    let reg = Registry::start(RegistryOpts::htpasswd("user", "pass"));
    push_through_another_upload_host(&reg, "user:pass", &format!("Basic {}", b64("user:pass")));
}

#[test]
fn bearer_tokens_never_follow_an_upload_location_to_another_host() {
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    let actions = vec!["pull".to_string(), "push".to_string()];
    let token = ts.issue(
        "user",
        &[("repository".into(), "skiff/hello".into(), actions)],
    );
    push_through_another_upload_host(&reg, &ts.creds(), &format!("Bearer {token}"));
}

// ---------------------------------------------------------------------------------------
// A token server that fails once is asked again, as any safe request
// ---------------------------------------------------------------------------------------

fn push_with_a_token_server_failing_once(fault: TokenFault) {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(RegistryOpts::token(&ts));
    ts.fail_next(fault);
    let out = cx.copy(
        &["--dest-tls-verify=false", "--dest-creds", &ts.creds()],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
    let statuses: Vec<u16> = ts.requests().iter().map(|r| r.status).collect();
    let failed = if fault == TokenFault::Reset { 0 } else { 503 };
    assert_eq!(statuses.first(), Some(&failed), "{statuses:?}");
    assert_eq!(statuses.get(1), Some(&200), "{statuses:?}");
    assert!(out.stderr.contains("retrying"), "{out:?}");
}

#[test]
fn a_token_server_answering_503_once_is_asked_again() {
    push_with_a_token_server_failing_once(TokenFault::Status(503));
}

#[test]
fn a_token_server_resetting_the_connection_once_is_asked_again() {
    push_with_a_token_server_failing_once(TokenFault::Reset);
}

// ---------------------------------------------------------------------------------------
// Credentials and a token realm over plain http on another host
// ---------------------------------------------------------------------------------------

/// Registry options whose token realm is `ts` under the name `localhost` (the registry is
/// reached as 127.0.0.1: another host), over plain http.
fn realm_on_localhost(ts: &TokenServer) -> RegistryOpts {
    let mut opts = RegistryOpts::token(ts);
    if let registry::Auth::Token { realm, .. } = &mut opts.auth {
        *realm = realm.replace("127.0.0.1", "localhost");
    }
    opts
}

/// containers/image sends them anyway; skiff refuses when the registry speaks https.
#[test]
fn credentials_never_go_in_clear_text_to_a_realm_when_the_registry_uses_https() {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let certs = std::sync::Arc::new(certs::Certs::generate());
    let reg = Registry::start(realm_on_localhost(&ts).with_tls(certs));
    let out = cx.copy(
        &["--dest-tls-verify=false", "--dest-creds", &ts.creds()],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert_failed_unpublished(&out, &reg, "skiff/hello");
    assert!(
        out.stderr.contains("refusing to send the credentials for")
            && out
                .stderr
                .contains("it is plain http, while the registry is reached over https"),
        "{out:?}"
    );
    let sent: Vec<_> = ts
        .requests()
        .into_iter()
        .filter(|r| r.had_credentials)
        .collect();
    assert!(sent.is_empty(), "credentials reached the realm: {sent:#?}");
}

#[test]
fn a_plain_http_registry_with_a_realm_on_another_host_is_warned_about() {
    let cx = Ctx::new();
    let ts = TokenServer::start(TokenServerOpts::default());
    let reg = Registry::start(realm_on_localhost(&ts));
    let out = cx.copy(
        &["--dest-tls-verify=false", "--dest-creds", &ts.creds()],
        &hello_src(),
        &reg.docker_ref("skiff/hello:v1"),
    );
    assert!(out.ok(), "{out:?}");
    assert_tag_is_hello(&reg, "skiff/hello", "v1");
    let warning = "in clear text (plain http) to the token realm http://localhost:";
    assert_eq!(out.stderr.matches(warning).count(), 1, "{out:?}");
}
