//! The companion commands (login, logout, inspect, list-tags, delete, manifest-digest,
//! completion), built from the flag groups in `flags`, spelled as skopeo 1.9.3 spells them.

use clap::{Arg, ArgAction, Command};

use super::flags::{
    Side, bool_flag, docker_image_args, image_args, retry_delay_arg, retry_times_arg,
    shared_authfile_arg, string_flag,
};

fn operands(value_name: &'static str, help: &'static str) -> Arg {
    Arg::new("args")
        .value_name(value_name)
        .num_args(0..)
        .help(help)
}

/// `--tls-verify` as login and logout define it.
fn login_tls_verify() -> Arg {
    bool_flag(
        "tls-verify",
        "require HTTPS and verify certificates when accessing the registry",
    )
}

/// login's and logout's `--authfile` (containers/common: $REGISTRY_AUTH_FILE, else
/// $DOCKER_CONFIG/config.json; the fallback is applied when the command runs).
fn login_authfile() -> Arg {
    string_flag(
        "authfile",
        "PATH",
        "path of the authentication file. Use REGISTRY_AUTH_FILE environment variable to override",
    )
}

pub fn login_command() -> Command {
    Command::new("login")
        .about("Login to a container registry")
        .long_about("Login to a container registry on a specified server.")
        .args_override_self(true)
        .override_usage("skiff login [command options] REGISTRY")
        .after_help("Examples:\n  skiff login quay.io")
        .args([
            login_authfile(),
            string_flag(
                "cert-dir",
                "PATH",
                "use certificates at the specified path to access the registry",
            ),
            bool_flag(
                "get-login",
                "Return the current login user for the registry",
            ),
            string_flag("password", "PASSWORD", "Password for registry").short('p'),
            bool_flag("password-stdin", "Take the password from stdin"),
            login_tls_verify(),
            string_flag("username", "USERNAME", "Username for registry").short('u'),
            bool_flag("verbose", "Write more detailed information to stdout").short('v'),
            operands(
                "REGISTRY",
                "host[:port], optionally with a repository path, or an http(s):// URL",
            ),
        ])
}

pub fn logout_command() -> Command {
    Command::new("logout")
        .about("Logout of a container registry")
        .long_about("Logout of a container registry on a specified server.")
        .args_override_self(true)
        .override_usage("skiff logout [command options] REGISTRY")
        .after_help("Examples:\n  skiff logout quay.io")
        .args([
            login_authfile(),
            bool_flag(
                "all",
                "Remove the cached credentials for all registries in the auth file",
            )
            .short('a'),
            login_tls_verify(),
            operands(
                "REGISTRY",
                "host[:port], optionally with a repository path, or an http(s):// URL",
            ),
        ])
}

pub fn inspect_command() -> Command {
    Command::new("inspect")
        .about("Inspect image IMAGE-NAME")
        .long_about(
            "Return low-level information about \"IMAGE-NAME\" in a registry/transport\n\
             Supported transports:\n\
             dir, docker, docker-archive, docker-daemon, oci, oci-archive\n\n\
             See skopeo(1) section \"IMAGE NAMES\" for the expected format",
        )
        .args_override_self(true)
        .override_usage("skiff inspect [command options] IMAGE-NAME")
        .after_help(
            "Examples:\n  skiff inspect docker://registry.fedoraproject.org/fedora\n  skiff inspect --config docker://docker.io/alpine\n  skiff inspect --format \"Name: {{.Name}} Digest: {{.Digest}}\" docker://registry.access.redhat.com/ubi8",
        )
        .args([
            bool_flag("raw", "output raw manifest or configuration"),
            bool_flag("config", "output configuration"),
            string_flag("format", "TEMPLATE", "Format the output to a Go template").short('f'),
            bool_flag(
                "no-tags",
                "Do not list the available tags from the repository in the output",
            )
            .short('n'),
            shared_authfile_arg(),
        ])
        .args(image_args(Side::Single))
        .arg(retry_delay_arg())
        .arg(retry_times_arg())
        .arg(operands("IMAGE-NAME", "TRANSPORT:DETAILS (see containers-transports(5))"))
}

pub fn list_tags_command() -> Command {
    Command::new("list-tags")
        .about("List tags in the transport/repository specified by the SOURCE-IMAGE")
        .long_about(
            "Return the list of tags from the transport/repository \"SOURCE-IMAGE\"\n\n\
             Supported transports:\n\
             docker docker-archive\n\n\
             See skopeo-list-tags(1) section \"REPOSITORY NAMES\" for the expected format",
        )
        .args_override_self(true)
        .override_usage("skiff list-tags [command options] SOURCE-IMAGE")
        .after_help("Examples:\n  skiff list-tags docker://docker.io/fedora")
        .arg(shared_authfile_arg())
        .args(docker_image_args(Side::Single))
        .arg(retry_delay_arg())
        .arg(retry_times_arg())
        .arg(operands(
            "SOURCE-IMAGE",
            "docker://NAME (no tag or digest) or docker-archive:PATH",
        ))
}

pub fn delete_command() -> Command {
    Command::new("delete")
        .about("Delete image IMAGE-NAME")
        .long_about(
            "Delete an \"IMAGE_NAME\" from a transport\n\
             Supported transports:\n\
             docker\n\
             See skopeo(1) section \"IMAGE NAMES\" for the expected format",
        )
        .args_override_self(true)
        .override_usage("skiff delete [command options] IMAGE-NAME")
        .after_help("Examples:\n  skiff delete docker://registry.example.com/example/pause:latest")
        .arg(shared_authfile_arg())
        .args(image_args(Side::Single))
        .arg(retry_delay_arg())
        .arg(retry_times_arg())
        .arg(operands(
            "IMAGE-NAME",
            "docker://NAME:TAG or docker://NAME@DIGEST",
        ))
}

pub fn manifest_digest_command() -> Command {
    Command::new("manifest-digest")
        .about("Compute a manifest digest of a file")
        .args_override_self(true)
        .override_usage("skiff manifest-digest MANIFEST-FILE")
        .after_help("Examples:\n  skiff manifest-digest manifest.json")
        .arg(operands("MANIFEST-FILE", "a manifest (any schema)"))
}

pub fn generate_sigstore_key_command() -> Command {
    Command::new("generate-sigstore-key")
        .about("Generate a sigstore public/private key pair")
        .args_override_self(true)
        .override_usage("skiff generate-sigstore-key [command options] --output-prefix PREFIX")
        .after_help("Examples:\n  skiff generate-sigstore-key --output-prefix my-key")
        .args([
            string_flag(
                "output-prefix",
                "PREFIX",
                "Write the keys to PREFIX.pub and PREFIX.private",
            ),
            string_flag(
                "passphrase-file",
                "PATH",
                "Read a passphrase for the private key from PATH",
            ),
            operands("ARGS", "none"),
        ])
}

pub fn completion_command() -> Command {
    Command::new("completion")
        .about("Print a shell completion script (bash, zsh or fish)")
        .override_usage("skiff completion bash|zsh|fish")
        .after_help("Examples:\n  skiff completion bash > /etc/bash_completion.d/skiff")
        .arg(
            Arg::new("shell")
                .value_name("SHELL")
                .required(true)
                .value_parser(["bash", "zsh", "fish"])
                .action(ArgAction::Set),
        )
}

pub fn standalone_sign_command() -> Command {
    Command::new("standalone-sign")
        .about("Create a signature using local files")
        .long_about(
            "Create a signature using local files\n\n\
             A debugging tool: sign MANIFEST as DOCKER-REFERENCE with the GnuPG key\n\
             KEY-FINGERPRINT ($GNUPGHOME, else ~/.gnupg) and write the signature to\n\
             SIGNATURE. Use `copy --sign-by` to publish and sign an image in one step.",
        )
        .args_override_self(true)
        .override_usage(
            "skiff standalone-sign [command options] MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT --output|-o SIGNATURE",
        )
        .after_help("Examples:\n  skiff standalone-sign busybox-manifest.json registry.example.com/example/busybox 1D8230F6CDB6A06716E414C1DB72F2188BB46CC8 --output busybox.signature")
        .args([
            string_flag("output", "SIGNATURE", "output the signature to SIGNATURE").short('o'),
            string_flag(
                "passphrase-file",
                "PATH",
                "file that contains a passphrase for the --sign-by key",
            ),
            operands(
                "MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT",
                "the manifest file, the identity to sign it as, the key to sign with",
            ),
        ])
}

pub fn standalone_verify_command() -> Command {
    Command::new("standalone-verify")
        .about("Verify a signature using local files")
        .long_about(
            "Verify a signature using local files\n\n\
             KEY-FINGERPRINTS can be a comma separated list of fingerprints, or \"any\" if you trust all the keys in the public key file.",
        )
        .args_override_self(true)
        .override_usage(
            "skiff standalone-verify [command options] MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE",
        )
        .after_help("Examples:\n  skiff standalone-verify busybox-manifest.json registry.example.com/example/busybox 1D8230F6CDB6A06716E414C1DB72F2188BB46CC8 busybox.signature")
        .args([
            string_flag(
                "public-key-file",
                "PATH",
                "File containing public keys. If not specified, will use local GPG keys.",
            ),
            operands(
                "MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE",
                "the manifest file, the identity it must be signed as, the trusted keys, the signature file",
            ),
        ])
}

pub fn untrusted_signature_dump_command() -> Command {
    Command::new("untrusted-signature-dump-without-verification")
        .about("Dump contents of a signature WITHOUT VERIFYING IT")
        .hide(true)
        .args_override_self(true)
        .override_usage("skiff untrusted-signature-dump-without-verification SIGNATURE")
        .arg(operands("SIGNATURE", "a signature file"))
}
