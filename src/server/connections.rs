//! Accepting connections: HTTP/1.1 with a bounded number of connections
//! served at once and a deadline for each request's headers, so that slow
//! and idle sockets cannot exhaust descriptors (axum's own `serve` has
//! neither). The request body's deadline is applied where it is read
//! (`extract::body_bytes`).
//!
//! Connections beyond the cap wait in the listen backlog until one closes.
//! The header deadline starts when a connection opens and again when its
//! previous answer ends, so it also closes idle keep-alive connections.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::settings::ConnectionLimits;

/// How long to pause accepting after the process ran out of descriptors.
const OUT_OF_DESCRIPTORS_PAUSE: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown`, then waits for the open
/// connections to finish their requests (idle ones are closed at once).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    loop {
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = Arc::clone(&slots).acquire_owned() => slot,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                if is_out_of_descriptors(&error) {
                    tracing::warn!("cannot accept a connection: {error}; pausing");
                    tokio::time::sleep(OUT_OF_DESCRIPTORS_PAUSE).await;
                }
                continue;
            }
        };
        // Small SSE frames must leave at once: Nagle plus delayed ACKs cost ~40 ms each.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("connection closed: {error}");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

fn is_out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(code) if code == nix::errno::Errno::EMFILE as i32 || code == nix::errno::Errno::ENFILE as i32
    )
}

/// Raises the soft limit on open descriptors to the hard limit (or the
/// kernel's ceiling, `fs.nr_open`, when the hard limit is unlimited), so the
/// connection cap and the CLIs' pipes fit; returns the limit now in force.
/// The CLIs inherit it, as they would under a service manager's limit.
pub fn raise_descriptor_limit() -> Option<u64> {
    use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|n| n.trim().parse::<u64>().ok());
    let target = match (hard, ceiling) {
        (RLIM_INFINITY, Some(ceiling)) => ceiling,
        _ => hard,
    };
    if soft < target && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
        return Some(target);
    }
    Some(soft)
}
