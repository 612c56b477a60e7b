//! The default command: load the config, bind, serve until SIGINT/SIGTERM,
//! reload on file change or SIGHUP.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::config::LoadOptions;
use crate::config::watch::Reloader;
use crate::engine::reaper::Reaper;
use crate::state::AppState;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);
/// How long the cleanups after the last CLIs get before the gateway exits.
const CLEANUP_WAIT: Duration = Duration::from_secs(5);

/// Runs the gateway.
pub async fn serve(options: LoadOptions) -> ExitCode {
    let config = match super::load_or_exit(&options) {
        Ok(config) => config,
        Err(code) => return code,
    };
    config.report.log();
    check_descriptor_limit(config.settings.connections.max);
    let address = format!("{}:{}", config.settings.host, config.settings.port);
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {address}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(error) => {
            eprintln!("cannot read the listening address: {error}");
            return ExitCode::FAILURE;
        }
    };
    let loopback = local.ip().is_loopback();
    if !loopback && config.settings.token.is_none() {
        tracing::warn!(
            "listening on {local} without a token: anyone who can reach it can make the CLIs run on this machine; set CODEX_GATEWAY_TOKEN or server.token"
        );
    }
    let models = config.routes.models();
    let shutdown = CancellationToken::new();
    let live = Arc::new(ArcSwap::from_pointee(config));
    let reloader = Arc::new(Reloader::new(options, live));
    if let Err(error) = reloader.spawn(shutdown.clone()) {
        tracing::warn!("hot reload is off: cannot handle SIGHUP: {error}");
    }
    tokio::spawn(stop_on_signal(shutdown.clone()));
    // Announced once reloads and signals are handled: a save or a signal
    // that follows this line is never missed.
    tracing::info!(
        "agent-cli-to-api {} listening on http://{local} — {} model(s): {}",
        env!("CARGO_PKG_VERSION"),
        models.len(),
        models.join(", ")
    );
    let reaper = Arc::new(Reaper::default());
    if Reaper::adopt_orphans() {
        reap_orphans_on_exit_signals(&reaper, shutdown.clone());
    } else {
        tracing::warn!(
            "cannot become the subreaper of the CLIs: a process that leaves its run's group \
             and outlives its parent may outlive the run"
        );
    }
    let state = AppState::new(reloader, shutdown.clone(), local, Arc::clone(&reaper));
    let workspaces = Arc::clone(&state.workspaces);
    let sessions = Arc::clone(&state.sessions);
    if workspaces.claim_refill() {
        let warm = Arc::clone(&workspaces);
        reaper.track_blocking(move || warm.refill());
    }
    let served = crate::serve(listener, state);
    tokio::pin!(served);
    tokio::select! {
        () = &mut served => {}
        () = async { shutdown.cancelled().await; tokio::time::sleep(DRAIN).await } => {
            tracing::warn!("requests still running after {}s; exiting", DRAIN.as_secs());
        }
    }
    // Warm processes end, workspaces are removed, and what the CLIs left
    // is killed, before exit.
    sessions.close();
    reaper.wait_for_cleanups(CLEANUP_WAIT).await;
    workspaces.drain();
    ExitCode::SUCCESS
}

/// Raises the descriptor limit and warns when it cannot hold the
/// connection cap plus the CLIs' pipes.
fn check_descriptor_limit(max_connections: usize) {
    // Each CLI run takes a handful of descriptors; keep room for them.
    const RESERVE: u64 = 256;
    let Some(limit) = crate::server::connections::raise_descriptor_limit() else {
        return;
    };
    let wanted = max_connections as u64 + RESERVE;
    if limit < wanted {
        tracing::warn!(
            "this process may open {limit} files, fewer than server.max_connections ({max_connections}) \
             plus room for the CLIs ({RESERVE}); raise `ulimit -n` or lower server.max_connections"
        );
    }
}

/// Cancels `shutdown` on SIGTERM or SIGINT. The handlers are installed
/// before this returns; the future it returns waits for the signal.
fn stop_on_signal(shutdown: CancellationToken) -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let received = async |signal: std::io::Result<tokio::signal::unix::Signal>| match signal {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        };
        tokio::select! {
            () = received(terminate) => {},
            () = received(interrupt) => {},
        }
        tracing::info!("shutting down");
        shutdown.cancel();
    }
}

/// Orphans re-parented to the gateway that exit on their own between runs
/// are reaped within a second of their exit signal (one scan per second at
/// most, however many CLIs exit meanwhile).
fn reap_orphans_on_exit_signals(reaper: &Arc<Reaper>, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut exits) = signal(SignalKind::child()) else {
        return;
    };
    let reaper = Arc::clone(reaper);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                Some(()) = exits.recv() => {}
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            let reaper = Arc::clone(&reaper);
            let _ = tokio::task::spawn_blocking(move || reaper.reap_exited_orphans()).await;
        }
    });
}
