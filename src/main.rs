//! The `agent-cli-to-api` binary: parse the command line, set up logging,
//! run the command.

use std::process::ExitCode;

/// Many small, short-lived allocations per request (JSON, frames): mimalloc
/// serves them with less CPU than the system allocator (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser as _;

use agent_cli_to_api::cli::{Cli, Command};
use agent_cli_to_api::commands::{check, doctor, login, serve};
use agent_cli_to_api::config::Flags;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // RUST_LOG wins when it says something; otherwise --log-level / CODEX_LOG_LEVEL.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| {
            let level = &cli.serve.log_level;
            let others = if level == "info" || level == "debug" || level == "trace" {
                "warn"
            } else {
                level
            };
            tracing_subscriber::EnvFilter::new(format!("agent_cli_to_api={level},{others}"))
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // The gateway's own work per request is small; the CLIs and upstreams
    // do the heavy part. Half the CPUs keeps requests on fewer threads, so
    // fewer cross-thread wake-ups (measured: docs/benchmarks.md), and
    // leaves the rest to the CLIs. TOKIO_WORKER_THREADS overrides it.
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        builder.worker_threads((cpus / 2).max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        None => runtime.block_on(serve::serve(
            cli.serve.config.load_options(cli.serve.flags()),
        )),
        Some(Command::Check(config)) => check::check(&config.load_options(Flags::default())),
        Some(Command::Routes { model, config }) => {
            check::routes(&config.load_options(Flags::default()), model.as_deref())
        }
        Some(Command::Doctor(config)) => {
            runtime.block_on(doctor::doctor(&config.load_options(Flags::default())))
        }
        Some(Command::Login(args)) => runtime.block_on(login::login(&args)),
    }
}
