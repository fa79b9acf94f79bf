//! The clap definitions, one builder per flag group, spelled exactly as skopeo 1.9.3 spells them.
//!
//! Go's pflag semantics are reproduced where scripts rely on them: boolean flags take an
//! optional `=VALUE` (`--src-tls-verify=false`) but never a separate value word, and slice
//! flags are both repeatable and comma-separated (`--encrypt-layer 0,-1`).

use std::time::Duration;

use clap::{Arg, ArgAction, Command};

/// Which image a flag group describes: one side of a copy, or the only image of
/// `inspect`, `delete` and `list-tags` (unprefixed flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
    Single,
}

impl Side {
    pub fn prefix(self) -> &'static str {
        match self {
            Side::Source => "src-",
            Side::Destination => "dest-",
            Side::Single => "",
        }
    }

    /// The hidden one-word credential alias skopeo keeps for old scripts.
    pub fn creds_alias(self) -> Option<&'static str> {
        match self {
            Side::Source => Some("screds"),
            Side::Destination => Some("dcreds"),
            Side::Single => None,
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
            Side::Single => "",
        }
    }

    /// "the source registry", "the destination registry", "the registry".
    fn registry(self) -> String {
        match self {
            Side::Single => "the registry".to_string(),
            _ => format!("the {} registry", self.noun()),
        }
    }
}

/// A boolean flag with pflag's syntax: `--flag`, `--flag=true`, `--flag=false`.
pub fn bool_flag(name: impl Into<String>, help: impl Into<String>) -> Arg {
    let name = name.into();
    Arg::new(name.clone())
        .long(name)
        .help(help.into())
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .value_name("BOOL")
        .hide_possible_values(true)
        .value_parser(parse_go_bool)
        .action(ArgAction::Set)
}

/// A string flag taking one value; given twice, the last one wins as in pflag.
pub fn string_flag(
    name: impl Into<String>,
    value_name: &'static str,
    help: impl Into<String>,
) -> Arg {
    let name = name.into();
    Arg::new(name.clone())
        .long(name)
        .value_name(value_name)
        .help(help.into())
        .action(ArgAction::Set)
}

/// A pflag StringSlice / IntSlice: repeatable and comma-separated.
pub fn list_flag(
    name: impl Into<String>,
    value_name: &'static str,
    help: impl Into<String>,
) -> Arg {
    let name = name.into();
    Arg::new(name.clone())
        .long(name)
        .value_name(value_name)
        .help(help.into())
        .action(ArgAction::Append)
        .value_delimiter(',')
}

/// strconv.ParseBool's accepted spellings.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

/// Go's time.ParseDuration for the units skopeo users write ("90s", "1m30s", "1.5h", "500ms").
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(format!("time: negative duration {s:?} is not allowed here"));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {s:?}"))?;
        let (num, tail) = rest.split_at(num_len);
        let value: f64 = num.parse().map_err(|_| invalid())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        total += value * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

/// The heading global options are listed under in every command's help, as newer
/// skopeo releases list them ("Global Flags"), apart from the command's own options.
pub const GLOBAL_HEADING: &str = "Global Options";

/// The options skopeo accepts before the subcommand name.
pub fn global_args() -> Vec<Arg> {
    global_arg_list()
        .into_iter()
        .map(|a| a.help_heading(GLOBAL_HEADING))
        .collect()
}

fn global_arg_list() -> Vec<Arg> {
    vec![
        Arg::new("command-timeout")
            .long("command-timeout")
            .value_name("DURATION")
            .help("timeout for the command execution")
            .value_parser(parse_go_duration)
            .global(true),
        bool_flag("debug", "enable debug output").global(true),
        bool_flag("insecure-policy", "run the tool without any policy check").global(true),
        string_flag(
            "override-arch",
            "ARCH",
            "use ARCH instead of the architecture of the machine for choosing images",
        )
        .global(true),
        string_flag(
            "override-os",
            "OS",
            "use OS instead of the running OS for choosing images",
        )
        .global(true),
        string_flag(
            "override-variant",
            "VARIANT",
            "use VARIANT instead of the running architecture variant for choosing images",
        )
        .global(true),
        string_flag("policy", "PATH", "Path to a trust policy file").global(true),
        string_flag(
            "registries.d",
            "DIR",
            "use registry configuration files in DIR (e.g. for container signature storage)",
        )
        .global(true),
        string_flag(
            "registries-conf",
            "PATH",
            "path to the registries.conf file",
        )
        .global(true)
        .hide(true),
        string_flag("tmpdir", "DIR", "directory used to store temporary files").global(true),
        string_flag(
            "user-agent-prefix",
            "PREFIX",
            "prefix to add to the user agent string",
        )
        .global(true),
        bool_flag(
            "tls-verify",
            "Require HTTPS and verify certificates when accessing the registry",
        )
        .hide(true),
        Arg::new("version")
            .short('v')
            .long("version")
            .help("Version for skiff (and the skopeo release it replaces)")
            .action(ArgAction::SetTrue),
    ]
}

/// The registry flags of one image (skopeo's dockerImageFlags), defined once for every
/// command: `--src-*`/`--dest-*` for copy, unprefixed for inspect, delete and list-tags.
/// The unprefixed group has no `--authfile` of its own: [`shared_authfile_arg`] is it.
pub fn docker_image_args(side: Side) -> Vec<Arg> {
    let p = side.prefix();
    let reg = side.registry();
    let mut args = Vec::new();
    if side != Side::Single {
        args.push(string_flag(
            format!("{p}authfile"),
            "PATH",
            format!(
                "path of the authentication file for {reg}. Default is ${{XDG_RUNTIME_DIR}}/containers/auth.json"
            ),
        ));
    }
    args.push(string_flag(
        format!("{p}creds"),
        "USERNAME[:PASSWORD]",
        format!("Use USERNAME[:PASSWORD] for accessing {reg}"),
    ));
    if let Some(alias) = side.creds_alias() {
        args.push(
            string_flag(
                alias,
                "USERNAME[:PASSWORD]",
                format!("Use USERNAME[:PASSWORD] for accessing {reg}"),
            )
            .hide(true),
        );
    }
    args.extend([
        string_flag(
            format!("{p}username"),
            "USERNAME",
            format!("Username for accessing {reg}"),
        ),
        string_flag(
            format!("{p}password"),
            "PASSWORD",
            format!("Password for accessing {reg}"),
        ),
        string_flag(
            format!("{p}registry-token"),
            "TOKEN",
            format!("Provide a Bearer token for accessing {reg}"),
        ),
        string_flag(
            format!("{p}cert-dir"),
            "PATH",
            format!(
                "use certificates at PATH (*.crt, *.cert, *.key) to connect to {reg} or daemon"
            ),
        ),
        bool_flag(
            format!("{p}tls-verify"),
            format!("require HTTPS and verify certificates when talking to {reg} or daemon"),
        ),
        bool_flag(format!("{p}no-creds"), format!("Access {reg} anonymously")),
    ]);
    args
}

/// Flags describing one image (skopeo's imageFlags): the registry flags plus the
/// `oci:` shared blob directory and the docker daemon host.
pub fn image_args(side: Side) -> Vec<Arg> {
    let p = side.prefix();
    let mut args = docker_image_args(side);
    args.push(string_flag(
        format!("{p}shared-blob-dir"),
        "DIRECTORY",
        "DIRECTORY to use to share blobs across OCI repositories",
    ));
    args.push(string_flag(
        format!("{p}daemon-host"),
        "HOST",
        match side {
            Side::Single => "use docker daemon host at HOST (docker-daemon: only)".to_string(),
            _ => format!(
                "use docker daemon host at HOST for the {} (docker-daemon: only)",
                side.noun()
            ),
        },
    ));
    args
}

/// `--authfile`, shared by both sides of a copy and the only one of the other commands;
/// defaults to $REGISTRY_AUTH_FILE as in skopeo.
pub fn shared_authfile_arg() -> Arg {
    string_flag(
        "authfile",
        "PATH",
        "path of the authentication file. Default is ${XDG_RUNTIME_DIR}/containers/auth.json",
    )
    .env("REGISTRY_AUTH_FILE")
    .hide_env(true)
}

/// `--retry-times`, shared by copy, inspect, delete and list-tags.
pub fn retry_times_arg() -> Arg {
    Arg::new("retry-times")
        .long("retry-times")
        .value_name("INT")
        .help("the number of times to possibly retry")
        .allow_negative_numbers(true)
        .value_parser(clap::value_parser!(i64))
}

/// `--retry-delay` (newer skopeo), beside every `--retry-times`.
pub fn retry_delay_arg() -> Arg {
    Arg::new("retry-delay")
        .long("retry-delay")
        .value_name("DURATION")
        .help("Fixed delay between retries. If not set, retry uses an exponential backoff delay.")
        .value_parser(parse_go_duration)
}

/// Flags that only make sense for the destination image.
pub fn dest_only_args() -> Vec<Arg> {
    vec![
        bool_flag(
            "dest-compress",
            "Compress tarball image layers when saving to directory using the 'dir' transport. (default is same compression type as source)",
        ),
        bool_flag(
            "dest-decompress",
            "Decompress tarball image layers when saving to directory using the 'dir' transport. (default is same compression type as source)",
        ),
        bool_flag(
            "dest-oci-accept-uncompressed-layers",
            "Allow uncompressed image layers when saving to an OCI image using the 'oci' transport. (default is to compress things that aren't compressed)",
        ),
        string_flag(
            "dest-compress-format",
            "FORMAT",
            "FORMAT to use for the compression (gzip, zstd or zstd:chunked)",
        ),
        Arg::new("dest-compress-level")
            .long("dest-compress-level")
            .value_name("LEVEL")
            .help("LEVEL to use for the compression (gzip 1-9, zstd 1-20)")
            .allow_negative_numbers(true)
            .value_parser(clap::value_parser!(i32)),
        bool_flag(
            "dest-force-compress-format",
            "Force exclusive use of the compression algorithm set in --dest-compress-format",
        ),
        bool_flag(
            "dest-precompute-digests",
            "Precompute digests to prevent uploading layers already on the registry using the 'docker' transport.",
        ),
    ]
}

/// `skiff copy`: its own flags plus both image groups.
pub fn copy_command() -> Command {
    let own = vec![
        list_flag("additional-tag", "TAG", "additional tags (supports docker-archive)"),
        bool_flag("all", "Copy all images if SOURCE-IMAGE is a list").short('a'),
        shared_authfile_arg(),
        list_flag("decryption-key", "KEY[:PASSPHRASE]", "*Experimental* key needed to decrypt the image"),
        string_flag("digestfile", "PATH", "Write the digest of the pushed image to the specified file"),
        list_flag("encrypt-layer", "INTS", "*Experimental* the 0-indexed layer indices, with support for negative indexing (e.g. 0 is the first layer, -1 is the last layer)")
            .allow_negative_numbers(true)
            .value_parser(clap::value_parser!(i64)),
        list_flag("encryption-key", "PROTOCOL:KEYFILE", "*Experimental* key with the encryption protocol to use needed to encrypt the image (e.g. jwe:/path/to/key.pem)"),
        string_flag("format", "MANIFEST-TYPE", "MANIFEST TYPE (oci, v2s1, or v2s2) to use in the destination (default is manifest type of source, with fallbacks)").short('f'),
        Arg::new("image-parallel-copies")
            .long("image-parallel-copies")
            .value_name("N")
            .help("Maximum number of image layers to be copied (pulled/pushed) simultaneously. Not setting this field will fall back to containers/image defaults.")
            .value_parser(clap::value_parser!(u64)),
        string_flag("multi-arch", "OPTION", "How to handle multi-architecture images (system, all, or index-only)"),
        bool_flag("preserve-digests", "Preserve digests of images and lists"),
        bool_flag("quiet", "Suppress output information when copying images").short('q'),
        bool_flag("remove-signatures", "Do not copy signatures from SOURCE-IMAGE"),
        retry_delay_arg(),
        retry_times_arg(),
        string_flag("sign-by", "FINGERPRINT", "Sign the image using a GPG key with the specified FINGERPRINT"),
        string_flag("sign-by-sigstore", "PARAM-FILE", "Sign the image using a sigstore parameter file at PARAM-FILE"),
        string_flag("sign-by-sigstore-private-key", "PATH", "Sign the image using a sigstore private key at PATH"),
        string_flag("sign-identity", "REFERENCE", "Identity of signed image, must be a fully specified docker reference. Defaults to the target docker reference."),
        string_flag("sign-passphrase-file", "PATH", "Read a passphrase for signing an image from PATH"),
        Arg::new("images")
            .value_name("IMAGE")
            .num_args(0..)
            .help("SOURCE-IMAGE DESTINATION-IMAGE, each TRANSPORT:DETAILS (see containers-transports(5))"),
    ];
    Command::new("copy")
        .about("Copy an IMAGE-NAME from one location to another")
        .args_override_self(true)
        .override_usage("skiff copy [command options] SOURCE-IMAGE DESTINATION-IMAGE")
        .after_help("Examples:\n  skiff copy docker://quay.io/skopeo/stable:latest docker://registry.example.com/skopeo:latest\n  skiff copy oci:examples/hello-oci:latest dir:/tmp/hello")
        .args(own)
        .args(image_args(Side::Source))
        .args(image_args(Side::Destination))
        .args(dest_only_args())
        .arg(bool_flag("tls-verify", "require HTTPS and verify certificates when accessing the container registry").hide(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bool_spellings() {
        for t in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(parse_go_bool(t), Ok(true));
        }
        for f in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(parse_go_bool(f), Ok(false));
        }
        assert!(
            parse_go_bool("maybe")
                .unwrap_err()
                .contains("invalid syntax")
        );
        assert!(parse_go_bool("yes").is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(
            parse_go_duration("10")
                .unwrap_err()
                .contains("missing unit")
        );
        assert!(
            parse_go_duration("5x")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("-1s").is_err());
    }
}
