//! The `skiff` binary (also run as `skopeo` through a symlink).

use std::io::Write;
use std::process::ExitCode;

use skiff::cli::{self, Invocation};

fn main() -> ExitCode {
    limit_malloc_arenas();
    let args: Vec<_> = std::env::args_os().collect();
    let invocation = match cli::parse(args) {
        Ok(i) => i,
        Err(e) => return fail(&e.to_string()),
    };
    if let Invocation::Print(text) = &invocation {
        let _ = std::io::stdout().write_all(text.as_bytes());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("starting the async runtime: {e}")),
    };
    match runtime.block_on(run(invocation)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { message, code }) => {
            // Control characters a server or a file put in the message are escaped.
            let message = skiff::report::escape_controls(&message);
            let _ = writeln!(std::io::stderr(), "Error: {message}");
            ExitCode::from(code)
        }
    }
}

/// A failed command: its message (which already names its cause; printing the chain would
/// repeat it) and skopeo's exit status for it.
struct Failure {
    message: String,
    code: u8,
}

impl From<skiff::commands::CommandError> for Failure {
    fn from(e: skiff::commands::CommandError) -> Failure {
        Failure {
            message: e.to_string(),
            code: e.exit_code(),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure {
            message: e.to_string(),
            code: 1,
        }
    }
}

async fn run(invocation: Invocation) -> Result<(), Failure> {
    use skiff::commands::{inspect, login, repo, signing, sigstore_key};
    if let Some(global) = invocation.global() {
        skiff::commands::warn_deprecated_global(global);
    }
    match invocation {
        Invocation::Print(_) => Ok(()),
        Invocation::Copy(global, settings) => run_copy(global, *settings).await,
        Invocation::Inspect(g, s) => Ok(inspect::run(&g, &s).await?),
        Invocation::ListTags(g, s) => Ok(repo::list_tags(&g, &s).await?),
        Invocation::Delete(g, s) => Ok(repo::delete(&g, &s).await?),
        Invocation::Login(g, s) => Ok(login::login(&g, &s).await?),
        Invocation::Logout(g, s) => Ok(login::logout(&g, &s).await?),
        Invocation::ManifestDigest(args) => Ok(repo::manifest_digest(&args)?),
        Invocation::StandaloneSign(s) => Ok(signing::sign(&s).await?),
        Invocation::StandaloneVerify(s) => Ok(signing::verify(&s)?),
        Invocation::UntrustedSignatureDump(args) => Ok(signing::dump(&args)?),
        Invocation::GenerateSigstoreKey(s) => Ok(sigstore_key::run(&s)?),
    }
}

async fn run_copy(global: cli::GlobalSettings, settings: cli::CopySettings) -> Result<(), Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    // On SIGINT/SIGTERM the copy future is dropped, which runs the destinations'
    // rollback (staging directories and added blobs are removed) before exiting.
    let (mut int, mut term) = (
        signal(SignalKind::interrupt())?,
        signal(SignalKind::terminate())?,
    );
    let stopped = |message: &str| Failure {
        message: message.to_string(),
        code: 1,
    };
    tokio::select! {
        result = skiff::commands::copy::run(&global, &settings) => Ok(result?),
        _ = int.recv() => Err(stopped("interrupted; the destination was left as it was")),
        _ = term.recv() => Err(stopped("terminated; the destination was left as it was")),
    }
}

/// glibc gives each thread that allocates its own arena and keeps freed chunks there;
/// with blobs streaming through a dozen threads that cost ~4 MB of peak RSS for nothing
/// (measured: 25 MB -> 22 MB on a 336 MB registry pull, same speed).
fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// A usage error or a runtime that cannot start: exit 1, as skopeo. The message may quote
/// what a server or a file said: control characters are escaped before it reaches the
/// terminal.
fn fail(message: &str) -> ExitCode {
    let message = skiff::report::escape_controls(message);
    let _ = writeln!(std::io::stderr(), "Error: {message}");
    ExitCode::from(1)
}
