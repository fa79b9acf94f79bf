//! The `skiff` binary (also run as `skopeo` through a symlink).

use std::io::Write;
use std::process::ExitCode;

use skiff::cli::{self, Invocation};

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    let invocation = match cli::parse(args) {
        Ok(i) => i,
        Err(e) => return fail(&e.to_string()),
    };
    match invocation {
        Invocation::Print(text) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Invocation::Copy(global, settings) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return fail(&format!("starting the async runtime: {e}")),
            };
            match runtime.block_on(run_copy(global, *settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.to_string()),
            }
        }
    }
}

async fn run_copy(global: cli::GlobalSettings, settings: cli::CopySettings) -> anyhow::Result<()> {
    // Each error's message already names its cause; printing the chain would repeat it.
    skiff::copy::command::run(&global, &settings)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// skopeo exits 1 on every failure; so does skiff.
fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "Error: {message}");
    ExitCode::from(1)
}
