use std::path::Path;

use crate::config::error::ConfigError;
use crate::config::{Endpoint, PullFromMirror, RegistriesConf};

const MAN_EXAMPLE: &str = r#"
unqualified-search-registries = ["example.com"]

[[registry]]
prefix = "example.com/foo"
insecure = false
blocked = false
location = "internal-registry-for-example.com/bar"

[[registry.mirror]]
location = "example-mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "example-mirror-1.local/mirrors/foo"
insecure = true

[[registry]]
location = "registry.com"

[[registry.mirror]]
location = "mirror.registry.com"
"#;

pub(super) const V1_EXAMPLE: &str = r#"
[registries.search]
registries = ['registry1.com', 'registry2.com']

[registries.insecure]
registries = ['registry3.com']

[registries.block]
registries = ['registry.untrusted.com', 'registry.unsafe.com']
"#;

fn parse(text: &str) -> RegistriesConf {
    RegistriesConf::parse(text, Path::new("/test/registries.conf")).expect("valid config")
}

fn parse_err(text: &str) -> String {
    match RegistriesConf::parse(text, Path::new("/test/registries.conf")) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn ep(host: &str, repo: &str, insecure: bool, is_mirror: bool) -> Endpoint {
    Endpoint {
        host: host.into(),
        repository: repo.into(),
        insecure,
        is_mirror,
    }
}

#[test]
fn man_page_example_parses() {
    let c = parse(MAN_EXAMPLE);
    let prefixes: Vec<&str> = c.registries.iter().map(|r| r.prefix.as_str()).collect();
    assert_eq!(prefixes, ["example.com/foo", "registry.com"]);
    assert_eq!(c.unqualified_search_registries, ["example.com"]);
    assert_eq!(c.credential_helpers, ["containers-auth.json"]);
    let foo = &c.registries[0];
    assert_eq!(foo.location, "internal-registry-for-example.com/bar");
    assert_eq!(foo.mirrors.len(), 2);
    assert!(foo.mirrors[1].insecure);
    assert_eq!(foo.mirrors[0].pull_from_mirror, PullFromMirror::All);
}

#[test]
fn man_page_example_pull_order() {
    let c = parse(MAN_EXAMPLE);
    let got = c
        .pull_sources("example.com/foo/image", false)
        .expect("sources");
    assert_eq!(
        got,
        [
            ep(
                "example-mirror-0.local",
                "mirror-for-foo/image",
                false,
                true
            ),
            ep("example-mirror-1.local", "mirrors/foo/image", true, true),
            ep(
                "internal-registry-for-example.com",
                "bar/image",
                false,
                false
            ),
        ]
    );
    let got = c
        .pull_sources("registry.com/image:latest", false)
        .expect("sources");
    assert_eq!(
        got,
        [
            ep("mirror.registry.com", "image", false, true),
            ep("registry.com", "image", false, false)
        ]
    );
}

#[test]
fn unconfigured_registry_is_used_as_is() {
    let c = parse(MAN_EXAMPLE);
    let got = c
        .pull_sources("other.example:5000/a/b@sha256:abcd", true)
        .expect("sources");
    assert_eq!(got, [ep("other.example:5000", "a/b", false, false)]);
}

#[test]
fn v1_format_is_converted() {
    let c = parse(V1_EXAMPLE);
    assert_eq!(
        c.unqualified_search_registries,
        ["registry1.com", "registry2.com"]
    );
    assert!(c.is_insecure("registry3.com"));
    assert!(!c.is_insecure("registry1.com"));
    assert!(c.find("registry.unsafe.com/x").is_some_and(|r| r.blocked));
    match c.pull_sources("registry.untrusted.com/x", false) {
        Err(ConfigError::Blocked { prefix, .. }) => assert_eq!(prefix, "registry.untrusted.com"),
        other => panic!("expected Blocked, got {other:?}"),
    }
}

#[test]
fn v1_and_v2_mixed_is_rejected() {
    let text = format!("{V1_EXAMPLE}\n[[registry]]\nlocation = \"x.example\"\n");
    let e = parse_err(&text);
    assert!(
        e.contains("mixing sysregistry v1/v2 is not supported"),
        "{e}"
    );
    assert!(e.contains("/test/registries.conf"), "{e}");
}

#[test]
fn empty_v1_lists_do_not_count_as_v1() {
    let c = parse("[registries.search]\nregistries = []\n[[registry]]\nlocation = \"x.example\"\n");
    assert_eq!(c.registries.len(), 1);
}

#[test]
fn longest_prefix_wins() {
    let c = parse(
        r#"
[[registry]]
location = "example.com"
[[registry]]
prefix = "example.com/foo"
location = "a.example/foo"
[[registry]]
prefix = "example.com/foo/bar"
location = "b.example/bar"
"#,
    );
    assert_eq!(
        c.find("example.com/foo/bar/baz").map(|r| r.prefix.as_str()),
        Some("example.com/foo/bar")
    );
    assert_eq!(
        c.find("example.com/foo/x").map(|r| r.prefix.as_str()),
        Some("example.com/foo")
    );
    assert_eq!(
        c.find("example.com/other").map(|r| r.prefix.as_str()),
        Some("example.com")
    );
    assert!(c.find("other.com/x").is_none());
}

#[test]
fn prefix_matches_only_at_path_boundaries() {
    let c = parse(
        "[[registry]]\nprefix = \"example.com/foo\"\nlocation = \"r.example/foo\"\ninsecure = true\n",
    );
    assert!(c.find("example.com/foobar").is_none());
    assert!(c.find("example.com/foo").is_some());
    assert!(c.find("example.com/foo/x").is_some());
    assert!(c.find("example.com/foo:tag").is_some());
    assert!(c.find("example.com/foo@sha256:aa").is_some());
    assert!(c.find("example.com").is_none());
}

#[test]
fn host_prefix_also_matches_host_with_port_quirk() {
    // c/image: "example.com:5000" matches prefix "example.com" (documented quirk).
    let c = parse("[[registry]]\nlocation = \"example.com\"\ninsecure = true\n");
    assert!(c.is_insecure("example.com:5000"));
    assert!(!c.is_insecure("example.community"));
}

#[test]
fn wildcard_prefix_matches_subdomains_only() {
    let c = parse("[[registry]]\nprefix = \"*.example.com\"\ninsecure = true\n");
    assert!(c.is_insecure("a.example.com"));
    assert!(c.is_insecure("a.b.example.com/x/y"));
    assert!(c.is_insecure("a.example.com:5000"));
    assert!(!c.is_insecure("example.com"));
    assert!(!c.is_insecure("a.example.community"));
    assert!(c.find("evil.com/a.example.com/x").is_none());
}

#[test]
fn wildcard_without_location_keeps_name_and_applies_settings() {
    let c = parse(
        "[[registry]]\nprefix = \"*.example.com\"\ninsecure = true\n[[registry.mirror]]\nlocation = \"m.local/x\"\n",
    );
    let got = c
        .pull_sources("reg.example.com/ns/img", false)
        .expect("sources");
    assert_eq!(
        got,
        [
            ep("m.local", "x/ns/img", false, true),
            ep("reg.example.com", "ns/img", true, false)
        ]
    );
}

#[test]
fn wildcard_prefix_with_path_is_rejected() {
    let e = parse_err("[[registry]]\nprefix = \"*.example.com/foo\"\nlocation = \"x.example\"\n");
    assert!(
        e.contains("Wildcarded prefix should be in the format: *.example.com"),
        "{e}"
    );
}

#[test]
fn location_with_scheme_is_rejected() {
    let e = parse_err("[[registry]]\nlocation = \"https://example.com\"\n");
    assert!(
        e.contains("invalid location 'https://example.com': URI schemes are not supported"),
        "{e}"
    );
}

#[test]
fn missing_prefix_and_location_is_rejected() {
    let e = parse_err("[[registry]]\ninsecure = true\n");
    assert!(e.contains("both location and prefix are unset"), "{e}");
    let e = parse_err("[[registry]]\nprefix = \"example.com\"\n");
    assert!(
        e.contains("location is unset and prefix is not in the format"),
        "{e}"
    );
}

#[test]
fn pull_from_mirror_validation() {
    let e = parse_err("[[registry]]\nlocation = \"a.example\"\npull-from-mirror = \"all\"\n");
    assert!(
        e.contains("pull-from-mirror must not be set for a non-mirror registry \"a.example\""),
        "{e}"
    );
    let e = parse_err(
        "[[registry]]\nlocation = \"a.example\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"tag-only\"\n",
    );
    assert!(
        e.contains("cannot set mirror usage mirror-by-digest-only"),
        "{e}"
    );
    let e = parse_err(
        "[[registry]]\nlocation = \"a.example\"\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"sometimes\"\n",
    );
    assert!(
        e.contains("unsupported pull-from-mirror value \"sometimes\""),
        "{e}"
    );
    let e =
        parse_err("[[registry]]\nlocation = \"a.example\"\n[[registry.mirror]]\ninsecure = true\n");
    assert!(e.contains("mirror location is unset"), "{e}");
}

const PER_MIRROR: &str = r#"
[[registry]]
location = "a.example"
[[registry.mirror]]
location = "digest.example"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tag.example"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "all.example"
pull-from-mirror = "all"
"#;

#[test]
fn per_mirror_pull_from_mirror_by_tag() {
    let c = parse(PER_MIRROR);
    let hosts: Vec<String> = c
        .pull_sources("a.example/img", false)
        .expect("sources")
        .into_iter()
        .map(|e| e.host)
        .collect();
    assert_eq!(hosts, ["tag.example", "all.example", "a.example"]);
}

#[test]
fn per_mirror_pull_from_mirror_by_digest() {
    let c = parse(PER_MIRROR);
    let hosts: Vec<String> = c
        .pull_sources("a.example/img", true)
        .expect("sources")
        .into_iter()
        .map(|e| e.host)
        .collect();
    assert_eq!(hosts, ["digest.example", "all.example", "a.example"]);
}

#[test]
fn mirror_by_digest_only_registry_setting() {
    let c = parse(
        "[[registry]]\nlocation = \"a.example\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.example\"\ninsecure = true\n",
    );
    assert_eq!(
        c.pull_sources("a.example/img", false).expect("tag"),
        [ep("a.example", "img", false, false)]
    );
    assert_eq!(
        c.pull_sources("a.example/img", true).expect("digest"),
        [
            ep("m.example", "img", true, true),
            ep("a.example", "img", false, false)
        ]
    );
}

#[test]
fn mirror_trailing_slash_breaks_rewrite_like_skopeo() {
    // skopeo 1.9.3: "rewriting reference: invalid reference format".
    let c = parse(
        "[[registry]]\nlocation = \"127.0.0.1:1/a\"\n[[registry.mirror]]\nlocation = \"127.0.0.1:2/m/\"\n",
    );
    match c.pull_sources("127.0.0.1:1/a/x", false) {
        Err(ConfigError::Rewrite { message, .. }) => {
            assert!(message.contains("invalid reference format"), "{message}")
        }
        other => panic!("expected Rewrite error, got {other:?}"),
    }
}

#[test]
fn registry_location_trailing_slash_is_trimmed() {
    let c = parse("[[registry]]\nprefix = \"a.example/foo\"\nlocation = \"b.example/bar/\"\n");
    assert_eq!(c.registries[0].location, "b.example/bar");
    assert_eq!(
        c.pull_sources("a.example/foo/img", false).expect("sources"),
        [ep("b.example", "bar/img", false, false)]
    );
}

#[test]
fn rewrite_to_non_canonical_name_is_an_error() {
    let c = parse("[[registry]]\nprefix = \"a.example/foo\"\nlocation = \"docker.io\"\n");
    let e = c
        .pull_sources("a.example/foo/busybox", false)
        .expect_err("non-canonical");
    assert!(
        e.to_string().contains("repository name must be canonical"),
        "{e}"
    );
}

#[test]
fn blocked_registry_errors_with_skopeo_text() {
    let c = parse("[[registry]]\nlocation = \"blocked.example\"\nblocked = true\n");
    let e = c
        .pull_sources("blocked.example/x", false)
        .expect_err("blocked");
    assert_eq!(
        e.to_string(),
        "registry blocked.example is blocked in /test/registries.conf"
    );
    let e = c.push_endpoint("blocked.example/x").expect_err("blocked");
    assert!(matches!(e, ConfigError::Blocked { .. }));
}

#[test]
fn blocked_primary_still_uses_mirrors() {
    let c = parse(
        "[[registry]]\nlocation = \"b.example/a\"\nblocked = true\n[[registry.mirror]]\nlocation = \"m.example/m\"\n",
    );
    assert_eq!(
        c.pull_sources("b.example/a/x", false).expect("mirror"),
        [ep("m.example", "m/x", false, true)]
    );
}

#[test]
fn push_ignores_rewrite_and_mirrors() {
    let c = parse(MAN_EXAMPLE);
    assert_eq!(
        c.push_endpoint("example.com/foo/image:tag").expect("push"),
        ep("example.com", "foo/image", false, false)
    );
    let c = parse(
        "[[registry]]\nprefix = \"a.example/ns\"\nlocation = \"a.example/ns\"\ninsecure = true\n",
    );
    assert!(c.push_endpoint("a.example/ns/x").expect("push").insecure);
    assert!(!c.push_endpoint("a.example/other").expect("push").insecure);
}

#[test]
fn unqualified_input_name_is_rejected() {
    let c = parse(MAN_EXAMPLE);
    assert!(matches!(
        c.pull_sources("busybox", false),
        Err(ConfigError::InvalidName { .. })
    ));
}

#[test]
fn conflicting_insecure_for_same_location_is_rejected() {
    let e = parse_err(
        "[[registry]]\nprefix = \"a.example/x\"\nlocation = \"r.example\"\ninsecure = true\n[[registry]]\nprefix = \"a.example/y\"\nlocation = \"r.example\"\n",
    );
    assert!(
        e.contains(
            "registry 'r.example' is defined multiple times with conflicting 'insecure' setting"
        ),
        "{e}"
    );
}

#[test]
fn duplicate_prefix_first_entry_wins() {
    let c = parse(
        "[[registry]]\nlocation = \"a.example\"\n[[registry.mirror]]\nlocation = \"first.example\"\n[[registry]]\nlocation = \"a.example\"\n[[registry.mirror]]\nlocation = \"second.example\"\n",
    );
    assert_eq!(c.registries.len(), 1);
    assert_eq!(c.registries[0].mirrors[0].location, "first.example");
}

#[test]
fn toml_syntax_error_names_file_and_line() {
    let e = parse_err("[[registry]]\nlocation = \"a.example\"\ninsecure = maybe\n");
    assert!(
        e.starts_with("loading registries configuration /test/registries.conf: line 3"),
        "{e}"
    );
    let e = parse_err("[[registry]]\nlocation = \"a.example\"\ninsecure = \"yes\"\n");
    assert!(e.contains("/test/registries.conf"), "{e}");
}

#[test]
fn short_names_and_search_registries_validation() {
    let c = parse(
        "short-name-mode = \"enforcing\"\n[aliases]\n\"fedora\" = \"registry.fedoraproject.org/fedora\"\n\"gone\" = \"\"\n",
    );
    assert_eq!(c.short_name_mode.as_deref(), Some("enforcing"));
    assert_eq!(
        c.aliases.get("fedora"),
        Some(&Some("registry.fedoraproject.org/fedora".to_string()))
    );
    assert_eq!(c.aliases.get("gone"), Some(&None));
    assert!(
        parse_err("short-name-mode = \"loose\"\n").contains("invalid short-name mode: \"loose\"")
    );
    assert!(parse_err("[aliases]\n\"x\" = \"x.example/y:tag\"\n").contains("must not contain tag"));
    assert!(
        parse_err("[aliases]\n\"x.example/y\" = \"x.example/y\"\n")
            .contains("must not contain registry")
    );
    assert!(
        parse_err("[aliases]\n\"y\" = \"y/z\"\n").contains("must contain registry and repository")
    );
    assert!(
        parse_err("unqualified-search-registries = [\"bad_host!\"]\n")
            .contains("Invalid unqualified-search-registries entry")
    );
}

#[test]
fn unknown_keys_are_ignored() {
    let c = parse("some-future-key = 3\n[[registry]]\nlocation = \"a.example\"\nfuture = true\n");
    assert_eq!(c.registries.len(), 1);
}
