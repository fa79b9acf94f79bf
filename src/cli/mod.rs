//! Command-line interface: skopeo's flags, parsed by clap, turned into plain settings.
//!
//! `flags` holds the definitions (each flag group defined once), `settings` reads the
//! values out. Nothing below this module knows about clap.

pub mod commands;
pub mod companions;
pub mod flags;
pub mod settings;
mod usage_errors;

use std::ffi::OsString;

use clap::{Command, error::ErrorKind};

pub use companions::{
    ImageCommandSettings, InspectSettings, LoginSettings, LogoutSettings, StandaloneSignSettings,
    StandaloneVerifySettings,
};
pub use settings::{CopySettings, DestSettings, GlobalSettings, ImageSettings};

/// The skopeo release whose command line skiff reproduces.
pub const SKOPEO_COMPAT_VERSION: &str = "1.9.3";

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    /// Help or version text to print on stdout, then exit 0.
    Print(String),
    Copy(GlobalSettings, Box<CopySettings>),
    Inspect(GlobalSettings, Box<InspectSettings>),
    ListTags(GlobalSettings, Box<ImageCommandSettings>),
    Delete(GlobalSettings, Box<ImageCommandSettings>),
    Login(GlobalSettings, Box<LoginSettings>),
    Logout(GlobalSettings, Box<LogoutSettings>),
    ManifestDigest(Vec<String>),
    StandaloneSign(Box<StandaloneSignSettings>),
    StandaloneVerify(Box<StandaloneVerifySettings>),
    UntrustedSignatureDump(Vec<String>),
    GenerateSigstoreKey(Box<GenerateKeySettings>),
}

/// `generate-sigstore-key`'s settings.
#[derive(Debug, Clone, Default)]
pub struct GenerateKeySettings {
    pub output_prefix: Option<String>,
    pub passphrase_file: Option<std::path::PathBuf>,
    /// Operands, which the command refuses.
    pub args: Vec<String>,
}

impl Invocation {
    /// The global options, for every command that has them.
    pub fn global(&self) -> Option<&GlobalSettings> {
        match self {
            Invocation::Copy(g, _)
            | Invocation::Inspect(g, _)
            | Invocation::ListTags(g, _)
            | Invocation::Delete(g, _)
            | Invocation::Login(g, _)
            | Invocation::Logout(g, _) => Some(g),
            Invocation::Print(_)
            | Invocation::ManifestDigest(_)
            | Invocation::StandaloneSign(_)
            | Invocation::StandaloneVerify(_)
            | Invocation::UntrustedSignatureDump(_)
            | Invocation::GenerateSigstoreKey(_) => None,
        }
    }
}

/// A command line that cannot be run; `message` names the cause.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    pub message: String,
}

/// The whole command tree. `name` is what the binary was invoked as (`skiff` or `skopeo`).
pub fn command(name: &str) -> Command {
    Command::new(name.to_string())
        .about("Copy container images between registries, directories, archives and local stores (skopeo-compatible)")
        .disable_version_flag(true)
        .args_override_self(true)
        .subcommand_required(false)
        .args(flags::global_args())
        .subcommand(flags::copy_command())
        .subcommand(commands::delete_command())
        .subcommand(commands::inspect_command())
        .subcommand(commands::list_tags_command())
        .subcommand(commands::login_command())
        .subcommand(commands::logout_command())
        .subcommand(commands::manifest_digest_command())
        .subcommand(commands::standalone_sign_command())
        .subcommand(commands::standalone_verify_command())
        .subcommand(commands::untrusted_signature_dump_command())
        .subcommand(commands::generate_sigstore_key_command())
        .subcommand(commands::completion_command())
}

/// The name the binary was invoked as; a `skopeo` symlink keeps skopeo's name in messages.
pub fn invoked_name(arg0: Option<&OsString>) -> String {
    arg0.and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n == "skopeo")
        .unwrap_or_else(|| "skiff".to_string())
}

pub fn version_text(name: &str) -> String {
    let own = env!("CARGO_PKG_VERSION");
    if name == "skopeo" {
        // Scripts parse the third word of `skopeo --version` to check features.
        format!("skopeo version {SKOPEO_COMPAT_VERSION} (skiff {own})\n")
    } else {
        format!("skiff version {own} (skopeo {SKOPEO_COMPAT_VERSION} compatible)\n")
    }
}

/// Parses argv. Errors carry clap's message (unknown flag, bad value) for exit code 1.
pub fn parse(args: Vec<OsString>) -> Result<Invocation, UsageError> {
    let name = invoked_name(args.first());
    let mut cmd = command(&name);
    let matches = match cmd.try_get_matches_from_mut(args) {
        Ok(m) => m,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    Ok(Invocation::Print(e.render().to_string()))
                }
                _ => Err(UsageError {
                    message: usage_errors::usage_error_text(&e),
                }),
            };
        }
    };
    if matches.get_flag("version") {
        return Ok(Invocation::Print(version_text(&name)));
    }
    let global = GlobalSettings::from_matches(&matches);
    match matches.subcommand() {
        Some(("copy", sub)) => Ok(Invocation::Copy(
            global,
            Box::new(CopySettings::from_matches(sub)),
        )),
        Some(("inspect", sub)) => Ok(Invocation::Inspect(
            global,
            Box::new(InspectSettings::from_matches(sub)),
        )),
        Some(("list-tags", sub)) => Ok(Invocation::ListTags(
            global,
            Box::new(ImageCommandSettings::from_matches(sub)),
        )),
        Some(("delete", sub)) => Ok(Invocation::Delete(
            global,
            Box::new(ImageCommandSettings::from_matches(sub)),
        )),
        Some(("login", sub)) => Ok(Invocation::Login(
            global,
            Box::new(LoginSettings::from_matches(sub)),
        )),
        Some(("logout", sub)) => Ok(Invocation::Logout(
            global,
            Box::new(LogoutSettings::from_matches(sub)),
        )),
        Some(("manifest-digest", sub)) => {
            Ok(Invocation::ManifestDigest(settings::strings(sub, "args")))
        }
        Some(("standalone-sign", sub)) => Ok(Invocation::StandaloneSign(Box::new(
            StandaloneSignSettings::from_matches(sub),
        ))),
        Some(("standalone-verify", sub)) => Ok(Invocation::StandaloneVerify(Box::new(
            StandaloneVerifySettings::from_matches(sub),
        ))),
        Some(("untrusted-signature-dump-without-verification", sub)) => Ok(
            Invocation::UntrustedSignatureDump(settings::strings(sub, "args")),
        ),
        Some(("generate-sigstore-key", sub)) => Ok(Invocation::GenerateSigstoreKey(Box::new(
            GenerateKeySettings {
                output_prefix: settings::string(sub, "output-prefix"),
                passphrase_file: settings::string(sub, "passphrase-file").map(Into::into),
                args: settings::strings(sub, "args"),
            },
        ))),
        Some(("completion", sub)) => {
            let shell = settings::string(sub, "shell").unwrap_or_default();
            completion_script(&name, &shell).map(Invocation::Print)
        }
        _ => Err(UsageError {
            message: format!(
                "Missing command '{name} COMMAND'\nTry '{name} --help' for more information"
            ),
        }),
    }
}

/// A shell completion script for `skiff` (or `skopeo`, when invoked through the symlink).
pub fn completion_script(name: &str, shell: &str) -> Result<String, UsageError> {
    use clap_complete::Shell;
    let shell = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => {
            return Err(UsageError {
                message: format!("unsupported shell {other:?}: choose bash, zsh or fish"),
            });
        }
    };
    let mut cmd = command(name);
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name.to_string(), &mut out);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The commands that have a man page, with the page's one-line description.
pub const MAN_PAGES: &[(&str, &str)] = &[
    (
        "copy",
        "Copy an image (manifest, layers, signatures) from one location to another",
    ),
    ("delete", "Delete an image from a registry"),
    (
        "inspect",
        "Return low-level information about an image or a repository in a registry",
    ),
    (
        "list-tags",
        "List the tags of a repository in a registry or of a docker-archive",
    ),
    ("login", "Login to a container registry"),
    ("logout", "Logout of a container registry"),
    ("manifest-digest", "Compute a manifest digest of a file"),
    (
        "standalone-sign",
        "Debugging tool - Sign an image manifest using local files",
    ),
    (
        "standalone-verify",
        "Debugging tool - Verify an image signature from local files",
    ),
    (
        "generate-sigstore-key",
        "Generate a sigstore public/private key pair",
    ),
];

/// The man page of `skiff-NAME`, rendered from the same definitions the parser uses.
pub fn man_page(name: &str) -> Option<Vec<u8>> {
    let about = MAN_PAGES.iter().find(|(n, _)| *n == name)?.1;
    let sub = command("skiff").find_subcommand(name)?.clone();
    // login's -v is --verbose; the global -v (--version) is left out of its page.
    let own_shorts: Vec<char> = sub.get_arguments().filter_map(|a| a.get_short()).collect();
    let cmd = sub
        .name(format!("skiff-{name}"))
        .version(env!("CARGO_PKG_VERSION"))
        .disable_version_flag(true)
        .about(about)
        .args(
            flags::global_args()
                .into_iter()
                .filter(|a| !a.is_hide_set())
                .filter(|a| a.get_short().is_none_or(|c| !own_shorts.contains(&c)))
                .map(|a| a.global(false)),
        );
    let mut out = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Invocation {
        parse(args.iter().map(OsString::from).collect()).expect("parses")
    }

    fn parse_err(args: &[&str]) -> String {
        parse(args.iter().map(OsString::from).collect())
            .expect_err("must fail")
            .message
    }

    fn copy_of(args: &[&str]) -> (GlobalSettings, CopySettings) {
        match parse_ok(args) {
            Invocation::Copy(g, c) => (g, *c),
            other => panic!("not a copy: {other:?}"),
        }
    }

    #[test]
    fn clap_definitions_are_consistent() {
        command("skiff").debug_assert();
    }

    #[test]
    fn go_style_bools_and_slices() {
        let (g, c) = copy_of(&[
            "skiff",
            "--insecure-policy",
            "--command-timeout",
            "2m",
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify",
            "-a",
            "--encrypt-layer",
            "0,-1",
            "--encrypt-layer=2",
            "--additional-tag",
            "a:1,b:2",
            "--additional-tag=c:3",
            "--decryption-key",
            "k1",
            "--decryption-key",
            "k2:pass",
            "-q",
            "-f",
            "oci",
            "dir:/a",
            "dir:/b",
        ]);
        assert!(g.insecure_policy);
        assert_eq!(g.command_timeout, Some(std::time::Duration::from_secs(120)));
        assert_eq!(c.src.tls_verify, Some(false));
        assert_eq!(c.dest.tls_verify, Some(true));
        assert!(c.all && c.quiet);
        assert_eq!(c.encrypt_layer, vec![0, -1, 2]);
        assert_eq!(c.additional_tags, vec!["a:1", "b:2", "c:3"]);
        assert_eq!(c.decryption_keys, vec!["k1", "k2:pass"]);
        assert_eq!(c.format.as_deref(), Some("oci"));
        assert_eq!(c.images, vec!["dir:/a", "dir:/b"]);
    }

    #[test]
    fn newer_skopeo_flags_parse() {
        let (g, c) = copy_of(&[
            "skiff",
            "--user-agent-prefix",
            "bot/1",
            "copy",
            "--image-parallel-copies",
            "2",
            "--retry-delay",
            "1m30s",
            "--dest-force-compress-format",
            "dir:/a",
            "dir:/b",
        ]);
        assert_eq!(g.user_agent_prefix.as_deref(), Some("bot/1"));
        assert_eq!(c.image_parallel_copies, Some(2));
        assert_eq!(c.retry_delay, Some(std::time::Duration::from_secs(90)));
        assert!(c.dest_only.force_compress_format);
        assert!(parse_err(&["skiff", "copy", "--retry-delay", "5", "a", "b"]).contains("5"));
    }

    #[test]
    fn bool_flags_do_not_swallow_the_next_word() {
        let (_, c) = copy_of(&["skiff", "copy", "--src-tls-verify", "dir:/a", "dir:/b"]);
        assert_eq!(c.src.tls_verify, Some(true));
        assert_eq!(c.images.len(), 2);
    }

    #[test]
    fn global_flags_may_follow_the_subcommand() {
        let (g, _) = copy_of(&[
            "skiff", "copy", "--debug", "--policy", "/p.json", "dir:/a", "dir:/b",
        ]);
        assert!(g.debug);
        assert_eq!(g.policy.as_deref(), Some(std::path::Path::new("/p.json")));
    }

    #[test]
    fn hidden_aliases_still_parse() {
        let (_, c) = copy_of(&[
            "skiff",
            "copy",
            "--screds",
            "u:p",
            "--dcreds=v:q",
            "dir:/a",
            "dir:/b",
        ]);
        assert_eq!(c.src.creds.as_deref(), Some("u:p"));
        assert_eq!(c.dest.creds.as_deref(), Some("v:q"));
    }

    #[test]
    fn bad_values_and_unknown_flags_name_the_cause() {
        assert!(parse_err(&["skiff", "copy", "--bogus", "a", "b"]).contains("--bogus"));
        assert!(
            parse_err(&["skiff", "copy", "--src-tls-verify=maybe", "a", "b"]).contains("maybe")
        );
        assert!(parse_err(&["skiff", "copy", "--retry-times=x", "a", "b"]).contains("x"));
        assert!(parse_err(&["skiff"]).contains("Missing command 'skiff COMMAND'"));
        assert!(parse_err(&["skopeo"]).contains("Missing command 'skopeo COMMAND'"));
    }

    #[test]
    fn version_names_both_tools() {
        match parse_ok(&["/usr/bin/skopeo", "--version"]) {
            Invocation::Print(t) => assert!(t.starts_with("skopeo version 1.9.3 (skiff ")),
            other => panic!("{other:?}"),
        }
        match parse_ok(&["skiff", "-v"]) {
            Invocation::Print(t) => assert!(t.starts_with("skiff version ")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn man_page_is_current() {
        let mut stale = Vec::new();
        for (name, _) in MAN_PAGES {
            let generated = man_page(name).expect("every listed command exists");
            let file = format!("man/skiff-{name}.1");
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&file);
            if std::env::var_os("SKIFF_UPDATE_MAN").is_some() {
                std::fs::write(&path, &generated).expect("write man page");
            }
            if std::fs::read(&path).unwrap_or_default() != generated {
                stale.push(file);
            }
        }
        assert!(
            stale.is_empty(),
            "{stale:?} out of date: run `SKIFF_UPDATE_MAN=1 cargo test man_page_is_current`"
        );
    }

    #[test]
    fn every_command_has_a_man_page() {
        let cmd = command("skiff");
        let names: Vec<&str> = cmd
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name())
            .filter(|n| *n != "completion")
            .collect();
        for n in names {
            assert!(
                MAN_PAGES.iter().any(|(m, _)| *m == n),
                "{n} has no man page"
            );
        }
    }

    #[test]
    fn companions_share_the_flag_groups() {
        match parse_ok(&[
            "skiff",
            "inspect",
            "--creds=u:p",
            "--tls-verify=false",
            "--cert-dir",
            "/c",
            "-n",
            "--retry-times",
            "2",
            "--format",
            "{{.Digest}}",
            "docker://x/y",
        ]) {
            Invocation::Inspect(_, s) => {
                assert_eq!(s.image.creds.as_deref(), Some("u:p"));
                assert_eq!(s.image.tls_verify, Some(false));
                assert!(s.no_tags);
                assert_eq!(s.retry_times, 2);
                assert_eq!(s.args, vec!["docker://x/y"]);
            }
            other => panic!("{other:?}"),
        }
        // list-tags has the registry flags but not --shared-blob-dir (as skopeo).
        assert!(
            parse_err(&[
                "skiff",
                "list-tags",
                "--shared-blob-dir",
                "/x",
                "docker://a/b"
            ])
            .contains("shared-blob-dir")
        );
        match parse_ok(&[
            "skiff",
            "login",
            "-u",
            "me",
            "-p",
            "pw",
            "-v",
            "--get-login",
            "r.io",
        ]) {
            Invocation::Login(_, s) => {
                assert_eq!(s.username.as_deref(), Some("me"));
                assert!(s.verbose && s.get_login);
            }
            other => panic!("{other:?}"),
        }
        match parse_ok(&["skiff", "completion", "bash"]) {
            Invocation::Print(t) => assert!(t.contains("list-tags")),
            other => panic!("{other:?}"),
        }
    }
}
