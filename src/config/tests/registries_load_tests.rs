//! RegistriesConf::load: file selection and drop-in merging.

use super::registries_tests::V1_EXAMPLE;
use super::{TempDir, env_in};
use crate::config::RegistriesConf;
use crate::config::error::ConfigError;

#[test]
fn load_merges_dropins_in_lexical_order() {
    let t = TempDir::new("dropins");
    let env = env_in(&t);
    t.write("root/etc/containers/registries.conf", "unqualified-search-registries = [\"main.example\"]\n[[registry]]\nlocation = \"a.example\"\ninsecure = true\n");
    t.write(
        "root/etc/containers/registries.conf.d/20-b.conf",
        "[[registry]]\nlocation = \"a.example\"\nblocked = true\n",
    );
    t.write("root/etc/containers/registries.conf.d/10-a.conf", "unqualified-search-registries = []\ncredential-helpers = [\"pass\"]\n[[registry]]\nlocation = \"a.example\"\n[[registry]]\nlocation = \"c.example\"\n");
    t.write(
        "root/etc/containers/registries.conf.d/30-ignored.conf.bak",
        "not toml [",
    );
    t.mkdir("root/etc/containers/registries.conf.d/40-dir.conf");
    let c = RegistriesConf::load(&env, None).expect("load");
    let a = c.find("a.example/x").expect("a");
    assert!(
        a.blocked && !a.insecure,
        "20-b.conf replaces the whole a.example entry"
    );
    assert!(c.find("c.example/x").is_some());
    assert!(c.unqualified_search_registries.is_empty());
    assert_eq!(c.credential_helpers, ["pass"]);
    assert_eq!(c.sources.len(), 3);
}

#[test]
fn load_user_file_replaces_system_config() {
    let t = TempDir::new("userconf");
    let env = env_in(&t);
    t.write(
        "root/etc/containers/registries.conf",
        "[[registry]]\nlocation = \"sys.example\"\nblocked = true\n",
    );
    t.write(
        "root/etc/containers/registries.conf.d/a.conf",
        "[[registry]]\nlocation = \"sysd.example\"\nblocked = true\n",
    );
    t.write(
        "home/.config/containers/registries.conf",
        "[[registry]]\nlocation = \"user.example\"\ninsecure = true\n",
    );
    t.write(
        "home/.config/containers/registries.conf.d/a.conf",
        "[[registry]]\nlocation = \"userd.example\"\ninsecure = true\n",
    );
    let c = RegistriesConf::load(&env, None).expect("load");
    assert!(c.find("sys.example/x").is_none());
    assert!(c.find("sysd.example/x").is_none());
    assert!(c.is_insecure("user.example"));
    assert!(c.is_insecure("userd.example"));
}

#[test]
fn load_system_and_user_dropins_without_user_file() {
    let t = TempDir::new("bothdirs");
    let env = env_in(&t);
    t.write(
        "root/etc/containers/registries.conf.d/z.conf",
        "[[registry]]\nlocation = \"a.example\"\nblocked = true\n",
    );
    t.write(
        "home/.config/containers/registries.conf.d/a.conf",
        "[[registry]]\nlocation = \"a.example\"\ninsecure = true\n",
    );
    let c = RegistriesConf::load(&env, None).expect("load");
    let a = c.find("a.example").expect("a");
    assert!(
        a.insecure && !a.blocked,
        "user drop-in dir is read after the system one"
    );
}

#[test]
fn load_override_keeps_dropins_and_must_exist() {
    let t = TempDir::new("override");
    let env = env_in(&t);
    let over = t.write(
        "b.conf",
        "[[registry]]\nlocation = \"blocked.example\"\nblocked = true\n",
    );
    t.write(
        "root/etc/containers/registries.conf",
        "[[registry]]\nlocation = \"ignored.example\"\nblocked = true\n",
    );
    t.write(
        "root/etc/containers/registries.conf.d/x.conf",
        "[[registry]]\nlocation = \"dropin.example\"\ninsecure = true\n",
    );
    let c = RegistriesConf::load(&env, Some(&over)).expect("load");
    assert!(c.find("ignored.example/x").is_none());
    assert!(c.is_insecure("dropin.example"));
    let e = c
        .pull_sources("blocked.example/x", false)
        .expect_err("blocked");
    let expected = format!(
        "registry blocked.example is blocked in {} or {}",
        over.display(),
        t.path()
            .join("home/.config/containers/registries.conf.d")
            .display()
    );
    assert_eq!(e.to_string(), expected);
    let missing = t.path().join("nope.conf");
    match RegistriesConf::load(&env, Some(&missing)) {
        Err(ConfigError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected Io error, got {other:?}"),
    }
}

#[test]
fn load_without_any_file_is_empty() {
    let t = TempDir::new("empty");
    let c = RegistriesConf::load(&env_in(&t), None).expect("load");
    assert!(c.registries.is_empty());
    assert_eq!(c.credential_helpers, ["containers-auth.json"]);
}

#[test]
fn load_rejects_v1_dropin() {
    let t = TempDir::new("v1dropin");
    t.write("root/etc/containers/registries.conf.d/v1.conf", V1_EXAMPLE);
    let e = RegistriesConf::load(&env_in(&t), None).expect_err("v1 drop-in");
    assert!(
        e.to_string()
            .contains("registry must be in v2 format but is in v1"),
        "{e}"
    );
    assert!(e.to_string().contains("v1.conf"), "{e}");
}

#[test]
fn containers_registries_conf_env_is_ignored_like_skopeo() {
    let t = TempDir::new("envconf");
    let f = t.write(
        "env.conf",
        "[[registry]]\nlocation = \"x.example\"\nblocked = true\n",
    );
    let env = crate::config::Env {
        containers_registries_conf: Some(f),
        ..env_in(&t)
    };
    let c = RegistriesConf::load(&env, None).expect("load");
    assert!(!c.is_blocked("x.example/y"));
}
