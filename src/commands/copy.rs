//! `skiff copy`: interprets the settings in the order skopeo 1.9.3 does (so the first
//! error reported is the same), then runs the engine with retries and a timeout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{CommandError, invalid, with_retries, with_timeout};
use crate::cli::flags::Side;
use crate::cli::{CopySettings, GlobalSettings, ImageSettings};
use crate::copy::{
    CopyOptions, CryptOptions, ListSelection, SignOptions, SigstoreSigners, copy_image,
};
use crate::manifest::convert::Target;
use crate::manifest::platform::WantedPlatform;
use crate::pipeline::Compression;
use crate::policy::{self, Policy};
use crate::reference::{DockerRef, ImageName};
use crate::report::Reporter;
use crate::transport::daemon::DaemonOptions;
use crate::transport::docker::RegistryOptions;
use crate::transport::{self, OpenOptions};

/// Runs `skiff copy`.
pub async fn run(global: &GlobalSettings, s: &CopySettings) -> Result<(), CommandError> {
    let report = Reporter::new(s.quiet, global.debug);
    let request = read_settings(global, s, &report)?;
    let mut opts = copy_options(global, s, &request, &report);
    // Keys are decrypted and Fulcio certificates obtained once, before anything is copied.
    opts.sigstore = read_sigstore_signing(s, &report).await?;
    let attempts = with_retries(s.retry_times, s.retry_delay, &report, || {
        copy_image(&request.src, &request.dest, &request.policy, &opts, &report)
    });
    let written =
        with_timeout(global, async { attempts.await.map_err(CommandError::Copy) }).await?;
    match &s.digestfile {
        Some(path) => write_digestfile(path, &written),
        None => Ok(()),
    }
}

/// What the settings say, checked, before anything is opened.
struct Request {
    policy: Policy,
    src: ImageName,
    dest: ImageName,
    compress_format: Option<Compression>,
    format: Option<Target>,
    additional_tags: Vec<DockerRef>,
    selection: ListSelection,
    crypt: Option<CryptOptions>,
    sign: Option<SignOptions>,
}

/// Interprets the settings in the order skopeo 1.9.3 does, so the first error reported is
/// the same.
fn read_settings(
    global: &GlobalSettings,
    s: &CopySettings,
    report: &Reporter,
) -> Result<Request, CommandError> {
    if s.images.len() != 2 {
        return Err(invalid(format!(
            "Exactly two arguments expected (SOURCE-IMAGE DESTINATION-IMAGE), got {}\nTry 'copy --help' for more information",
            s.images.len()
        )));
    }
    if s.tls_verify.is_some() {
        report
            .warn("'--tls-verify' is deprecated, instead use: --src-tls-verify, --dest-tls-verify");
    }
    let policy = load_policy(global)?;
    let src = ImageName::parse(&s.images[0])
        .map_err(|e| e.to_string())
        .and_then(|n| transport::resolve_name(n, &s.images[0]).map_err(|e| e.to_string()))
        .map_err(|e| invalid(format!("Invalid source name {}: {e}", s.images[0])))?;
    let dest = ImageName::parse(&s.images[1])
        .map_err(|e| e.to_string())
        .and_then(|n| transport::resolve_name(n, &s.images[1]).map_err(|e| e.to_string()))
        .map_err(|e| invalid(format!("Invalid destination name {}: {e}", s.images[1])))?;
    s.src.validate().map_err(CommandError::Invalid)?;
    s.dest.validate().map_err(CommandError::Invalid)?;
    let compress_format = parse_compress_format(s.dest_only.compress_format.as_deref())?;
    let format = s.format.as_deref().map(parse_format).transpose()?;
    let additional_tags = parse_additional_tags(&s.additional_tags)?;
    let selection = parse_selection(s)?;
    let crypt = read_crypto_flags(s, report)?;
    if matches!(crypt, Some(CryptOptions::Encrypt { .. }))
        && compress_format == Some(Compression::ZstdChunked)
    {
        // Newer containers/image's refusal: the TOC would be encrypted with the layer.
        return Err(invalid(
            "explicitly requested to combine zstd:chunked with encryption, which is not beneficial; use plain zstd instead",
        ));
    }
    let sign = read_signing(s)?;
    check_level(compress_format, s.dest_only.compress_level)?;
    if s.dest_only.force_compress_format && compress_format.is_none() {
        // containers/image's copy.Options check, worded as it words it.
        return Err(invalid(
            "cannot use ForceCompressionFormat with undefined default compression format",
        ));
    }
    warn_without_effect(s, &src, &dest, report);
    Ok(Request {
        policy,
        src,
        dest,
        compress_format,
        format,
        additional_tags,
        selection,
        crypt,
        sign,
    })
}

/// The engine's options: each side's transport settings and what to do on the way.
fn copy_options(
    global: &GlobalSettings,
    s: &CopySettings,
    r: &Request,
    report: &Reporter,
) -> CopyOptions {
    let tmpdir = super::tmpdir(global);
    CopyOptions {
        src: OpenOptions {
            tmpdir: tmpdir.clone(),
            shared_blob_dir: s.src.shared_blob_dir.clone(),
            registry: copy_registry_options(global, s, &s.src, report),
            daemon: daemon_options(&s.src),
            ..Default::default()
        },
        dest: OpenOptions {
            tmpdir,
            shared_blob_dir: s.dest.shared_blob_dir.clone(),
            dir_force_compress: s.dest_only.compress,
            dir_force_decompress: s.dest_only.decompress,
            oci_accept_uncompressed_layers: s.dest_only.oci_accept_uncompressed_layers,
            registry: RegistryOptions {
                precompute_digests: s.dest_only.precompute_digests,
                ..copy_registry_options(global, s, &s.dest, report)
            },
            mount_source: match &r.src {
                ImageName::Docker(d) => Some(d.clone()),
                // A stored image's name says where it was pulled from; its layers' blobs
                // may be mounted from there.
                ImageName::ContainersStorage(s) => s.reference.clone(),
                _ => None,
            },
            additional_tags: r.additional_tags.clone(),
            // `--format oci` asks docker-archive for the Docker 25+ layout (skopeo refuses
            // the combination, so the meaning is free).
            docker_archive_oci_layout: matches!(r.dest, ImageName::DockerArchive { .. })
                && r.format == Some(Target::Oci),
            daemon: daemon_options(&s.dest),
        },
        compress_format: r.compress_format,
        compress_level: s.dest_only.compress_level,
        remove_signatures: s.remove_signatures,
        preserve_digests: s.preserve_digests,
        selection: r.selection,
        platform: WantedPlatform::host(
            global.override_os.as_deref(),
            global.override_arch.as_deref(),
            global.override_variant.as_deref(),
        ),
        format: r.format,
        sign: r.sign.clone(),
        sigstore: SigstoreSigners::default(),
        force_compress_format: s.dest_only.force_compress_format,
        // skopeo passes 0 (unset) on to containers/image, which then copies 6 at once.
        parallel: match s.image_parallel_copies {
            None | Some(0) => DEFAULT_PARALLEL_COPIES,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        },
        crypt: r.crypt.clone(),
    }
}

/// Layers copied at once without `--image-parallel-copies` (containers/image's
/// maxParallelDownloads).
const DEFAULT_PARALLEL_COPIES: usize = 6;

/// `--digestfile`: the digest of the manifest written at the top.
fn write_digestfile(path: &Path, written: &[u8]) -> Result<(), CommandError> {
    // As skopeo: a signed schema 1 manifest is digested without its signatures.
    let digest = crate::manifest::manifest_digest(written)
        .unwrap_or_else(|_| crate::digest::Digest::sha256_of(written));
    std::fs::write(path, digest.to_string()).map_err(|source| CommandError::DigestFile {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_compress_format(name: Option<&str>) -> Result<Option<Compression>, CommandError> {
    match name {
        None | Some("") => Ok(None),
        Some(name) => Compression::from_name(name)
            .map(Some)
            .ok_or_else(|| invalid(format!("cannot find compressor for {name:?}"))),
    }
}

fn parse_additional_tags(tags: &[String]) -> Result<Vec<DockerRef>, CommandError> {
    let mut out = Vec::new();
    for tag in tags {
        let parsed = DockerRef::parse_normalized(tag)
            .map_err(|e| invalid(format!("error parsing additional-tag '{tag}': {e}")))?;
        if parsed.tag().is_none() || parsed.digest().is_some() {
            return Err(invalid(format!(
                "additional-tag '{tag}' must be a tagged reference"
            )));
        }
        out.push(parsed);
    }
    Ok(out)
}

fn parse_selection(s: &CopySettings) -> Result<ListSelection, CommandError> {
    if s.multi_arch.is_some() && s.all {
        return Err(invalid("Cannot use --all and --multi-arch flags together"));
    }
    match (s.all, s.multi_arch.as_deref()) {
        (true, _) => Ok(ListSelection::All),
        (false, None) => Ok(ListSelection::System),
        (false, Some(m)) => parse_multi_arch(m),
    }
}

/// The encryption and signing flags, checked (and the keys read) in skopeo's order.
fn read_crypto_flags(
    s: &CopySettings,
    report: &Reporter,
) -> Result<Option<CryptOptions>, CommandError> {
    if !s.encryption_keys.is_empty() && !s.decryption_keys.is_empty() {
        return Err(invalid(
            "--encryption-key and --decryption-key cannot be specified together",
        ));
    }
    if !s.encrypt_layer.is_empty() && s.encryption_keys.is_empty() {
        return Err(invalid(
            "--encrypt-layer can only be used with --encryption-key",
        ));
    }
    let mut crypt = None;
    if !s.encryption_keys.is_empty() {
        let recipients = crate::crypt::parse_recipients(&s.encryption_keys)
            .map_err(|e| invalid(format!("Invalid encryption keys: {e}")))?;
        crypt = Some(CryptOptions::Encrypt {
            recipients: Arc::new(recipients),
            layers: s.encrypt_layer.clone(),
        });
    }
    if !s.decryption_keys.is_empty() {
        let keys = crate::crypt::parse_decryption_keys(&s.decryption_keys)
            .map_err(|e| invalid(format!("Invalid decryption keys: {e}")))?;
        for path in &keys.ignored {
            report.warn(&format!(
                "--decryption-key {}: neither a private key, an X.509 certificate nor an OpenPGP secret key; ignored",
                path.display()
            ));
        }
        crypt = Some(CryptOptions::Decrypt(Arc::new(keys)));
    }
    check_signing_flags(s)?;
    Ok(crypt)
}

/// The signing flags' combinations skopeo refuses, in its order.
fn check_signing_flags(s: &CopySettings) -> Result<(), CommandError> {
    if s.sign_passphrase_file.is_some()
        && s.sign_by.is_some()
        && s.sign_by_sigstore_private_key.is_some()
    {
        return Err(invalid(
            "Only one of --sign-by and sign-by-sigstore-private-key can be used with sign-passphrase-file",
        ));
    }
    Ok(())
}

/// `--sign-by` with its passphrase (the file's first line, read now as skopeo reads it,
/// so a missing file fails before anything is copied) and `--sign-identity` (which must
/// be canonical: `docker.io/library/busybox:1`, not `busybox:1`).
fn read_signing(s: &CopySettings) -> Result<Option<SignOptions>, CommandError> {
    let passphrase = match s.sign_passphrase_file.as_deref() {
        Some(path) if !path.as_os_str().is_empty() => {
            Some(super::passphrase::read_passphrase_file(path)?)
        }
        _ => None,
    };
    let identity = sign_identity(s)?;
    Ok(s.sign_by
        .as_ref()
        .filter(|k| !k.is_empty())
        .map(|key| SignOptions {
            key: key.clone(),
            signer: crate::signature::gpg::GpgSigner::new(passphrase),
            identity,
        }))
}

/// `--sign-by-sigstore PARAM-FILE` and `--sign-by-sigstore-private-key PATH`, in skopeo's
/// order: the private key's passphrase (`--sign-passphrase-file`'s first line, else a
/// prompt on the terminal), the parameter file's signer (which may sign in to Fulcio),
/// then the private key.
async fn read_sigstore_signing(
    s: &CopySettings,
    report: &Reporter,
) -> Result<SigstoreSigners, CommandError> {
    use crate::signature::sigstore::Signer;
    use std::sync::Arc;
    let given = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
    let (params, key) = (
        given(&s.sign_by_sigstore),
        given(&s.sign_by_sigstore_private_key),
    );
    if params.is_none() && key.is_none() {
        return Ok(SigstoreSigners::default());
    }
    let passphrase = match (&key, given(&s.sign_passphrase_file)) {
        (_, Some(file)) => Some(super::passphrase::read_passphrase_file(&file)?),
        (Some(key), None) => {
            Some(super::passphrase::prompt_for_passphrase(key).map_err(CommandError::Invalid)?)
        }
        (None, None) => None,
    };
    let from_params = match &params {
        Some(file) => {
            let prompt = |key: &Path| super::passphrase::prompt_for_passphrase(key);
            // Sign-in instructions (device codes, URLs) go to stderr: stdout stays clean.
            let signer = Signer::from_params_file(file, &prompt, &mut std::io::stderr())
                .await
                .map_err(|e| invalid(format!("Error using --sign-by-sigstore: {e}")))?;
            Some(Arc::new(signer))
        }
        None => None,
    };
    let from_key = match &key {
        Some(key) => {
            let passphrase = passphrase.unwrap_or_default();
            let started = std::time::Instant::now();
            let signer = Signer::with_private_key_file(key, passphrase.as_bytes())
                .map_err(|e| invalid(e.to_string()))?;
            report.debug(|| {
                format!(
                    "sigstore private key {} decrypted in {:.1} ms",
                    key.display(),
                    started.elapsed().as_secs_f64() * 1000.0
                )
            });
            Some(Arc::new(signer))
        }
        None => None,
    };
    Ok(SigstoreSigners {
        from_params,
        from_key,
        identity: sign_identity(s)?,
    })
}

/// `--sign-identity`, which must be canonical (`docker.io/library/busybox:1`).
fn sign_identity(s: &CopySettings) -> Result<Option<DockerRef>, CommandError> {
    match s.sign_identity.as_deref() {
        Some(i) if !i.is_empty() => DockerRef::parse_named(i)
            .map(Some)
            .map_err(|e| invalid(format!("Could not parse --sign-identity: {e}"))),
        _ => Ok(None),
    }
}

/// One side's docker-daemon: settings (skopeo's dockerImageOptions).
fn daemon_options(side: &ImageSettings) -> DaemonOptions {
    DaemonOptions {
        host: side.daemon_host.clone(),
        cert_dir: side.cert_dir.clone(),
        tls_verify: side.tls_verify,
    }
}

/// One side's registry settings; copy's `--authfile` and `--tls-verify` apply to both.
fn copy_registry_options(
    global: &GlobalSettings,
    s: &CopySettings,
    side: &ImageSettings,
    report: &Reporter,
) -> RegistryOptions {
    super::registry_options(global, side, s.authfile.clone(), s.tls_verify, report)
}

fn load_policy(global: &GlobalSettings) -> Result<Policy, CommandError> {
    if global.insecure_policy {
        return Ok(Policy::insecure_accept_anything());
    }
    let path = match &global.policy {
        Some(p) => p.clone(),
        None => policy::default_policy_path(std::env::var_os("HOME").map(PathBuf::from).as_deref()),
    };
    // The policy's messages already read "Error loading trust policy: …", as skopeo's do.
    Policy::load(&path).map_err(|e| invalid(e.to_string()))
}

fn parse_format(f: &str) -> Result<Target, CommandError> {
    Target::from_format(f).ok_or_else(|| {
        invalid(format!(
            "unknown format {f:?}. Choose one of the supported formats: 'oci', 'v2s1', or 'v2s2'"
        ))
    })
}

fn parse_multi_arch(m: &str) -> Result<ListSelection, CommandError> {
    match m {
        "system" => Ok(ListSelection::System),
        "all" => Ok(ListSelection::All),
        "index-only" => Ok(ListSelection::IndexOnly),
        other => Err(invalid(format!(
            "unknown multi-arch option {other:?}. Choose one of the supported options: 'system', 'all', or 'index-only'"
        ))),
    }
}

/// Levels the compressor would refuse, refused before anything is copied.
fn check_level(format: Option<Compression>, level: Option<i32>) -> Result<(), CommandError> {
    let Some(level) = level else { return Ok(()) };
    match format.unwrap_or(Compression::Gzip) {
        Compression::Gzip if !(-2..=9).contains(&level) => {
            Err(invalid(format!("gzip: invalid compression level: {level}")))
        }
        Compression::Zstd | Compression::ZstdChunked if !(1..=22).contains(&level) => Err(invalid(
            format!("zstd: invalid compression level: {level} (1-22)"),
        )),
        _ => Ok(()),
    }
}

/// skopeo silently ignores flags that do not apply to the transports in use; skiff says so.
fn warn_without_effect(s: &CopySettings, src: &ImageName, dest: &ImageName, report: &Reporter) {
    let remote = |n: &ImageName| matches!(n, ImageName::Docker(_) | ImageName::DockerDaemon(_));
    let mut ignored: Vec<String> = Vec::new();
    let mut side = |settings: &ImageSettings, side: Side, name: &ImageName| {
        if !remote(name) {
            ignored.extend(settings.given_flags(side));
        }
        if settings.shared_blob_dir.is_some() && !matches!(name, ImageName::Oci { .. }) {
            ignored.push(format!("--{}shared-blob-dir", side.prefix()));
        }
    };
    side(&s.src, Side::Source, src);
    side(&s.dest, Side::Destination, dest);
    if !s.additional_tags.is_empty()
        && !matches!(
            dest,
            ImageName::DockerArchive { .. } | ImageName::DockerDaemon(_)
        )
    {
        ignored.push("--additional-tag".into());
    }
    if s.dest_only.precompute_digests && !matches!(dest, ImageName::Docker(_)) {
        ignored.push("--dest-precompute-digests".into());
    }
    if (s.dest_only.compress || s.dest_only.decompress) && !matches!(dest, ImageName::Dir { .. }) {
        ignored.push(
            if s.dest_only.compress {
                "--dest-compress"
            } else {
                "--dest-decompress"
            }
            .into(),
        );
    }
    let key_signing = s.sign_by.is_some() || s.sign_by_sigstore_private_key.is_some();
    if s.sign_identity.is_some() && !key_signing && s.sign_by_sigstore.is_none() {
        ignored.push("--sign-identity".into());
    } else if s.sign_passphrase_file.is_some() && !key_signing {
        ignored.push("--sign-passphrase-file".into());
    }
    for flag in ignored {
        report.warn(&format!("{flag} has no effect for {src} -> {dest}"));
    }
}
