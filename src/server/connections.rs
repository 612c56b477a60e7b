//! Accepting connections: HTTP/1.1 with a bounded number of connections
//! served at once and a deadline for each request's headers, so that slow
//! and idle sockets cannot exhaust descriptors (axum's own `serve` has
//! neither). The request body's deadline is applied where it is read
//! (`extract::body_bytes`).
//!
//! At the cap, a new connection takes the place of the oldest one that is
//! waiting for a request (idle, or still sending its headers), so slow
//! sockets cannot keep others out; with every connection answering a
//! request, it waits for one to end. The header deadline starts when a
//! connection opens and again when its previous answer ends, so it also
//! closes idle keep-alive connections.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::settings::ConnectionLimits;

/// How long to pause accepting after the process ran out of descriptors.
const OUT_OF_DESCRIPTORS_PAUSE: Duration = Duration::from_millis(100);
/// How long a connection closed to make room may take to finish sending an
/// answer already made (a slow reader's), before it is cut.
const CLOSING_GRACE: Duration = Duration::from_secs(1);
/// How often a connection waiting at the cap looks again for one to close
/// (while every connection is answering a request).
const CAP_RECHECK: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown`, then waits for the open
/// connections to finish their requests (idle ones are closed at once).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max));
    let tasks = TaskTracker::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let open = Arc::new(Open::default());
    loop {
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
        let Some(slot) = take_slot(&slots, &open, &shutdown).await else {
            break;
        };
        // Small SSE frames must leave at once: Nagle plus delayed ACKs cost ~40 ms each.
        let _ = stream.set_nodelay(true);
        let connection = open.add(slot);
        let service = Counted {
            app: TowerToHyperService::new(app.clone()),
            connection: Arc::clone(&connection),
        };
        let (builder, open, shutdown) = (Arc::clone(&builder), Arc::clone(&open), shutdown.clone());
        tasks.spawn(async move {
            let serving = builder.serve_connection(TokioIo::new(stream), service);
            serve_one(serving, &connection, &shutdown).await;
            open.remove(&connection);
        });
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
}

/// A free slot; at the cap, the one of the oldest connection waiting for a
/// request, closed for it. `None` at shutdown.
async fn take_slot(
    slots: &Arc<Semaphore>,
    open: &Open,
    shutdown: &CancellationToken,
) -> Option<OwnedSemaphorePermit> {
    loop {
        if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
            return Some(slot);
        }
        open.close_oldest_waiting();
        tokio::select! {
            () = shutdown.cancelled() => return None,
            slot = Arc::clone(slots).acquire_owned() => return slot.ok(),
            // Every connection is answering: one may be done by now.
            () = tokio::time::sleep(CAP_RECHECK) => {}
        }
    }
}

/// Serves one connection to its end. Closed to make room or at shutdown,
/// it finishes the answer it is sending (hyper's graceful shutdown); one
/// closed to make room and still idle or half-way through its headers
/// after [`CLOSING_GRACE`] is cut.
async fn serve_one<S>(
    serving: hyper::server::conn::http1::Connection<TokioIo<tokio::net::TcpStream>, S>,
    connection: &Connection,
    shutdown: &CancellationToken,
) where
    S: hyper::service::HttpService<Incoming>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(serving);
    let closing = tokio::select! {
        served = serving.as_mut() => return log_end(served),
        () = connection.close.cancelled() => true,
        () = shutdown.cancelled() => false,
    };
    serving.as_mut().graceful_shutdown();
    if !closing {
        return log_end(serving.await);
    }
    loop {
        match tokio::time::timeout(CLOSING_GRACE, serving.as_mut()).await {
            Ok(served) => return log_end(served),
            // A request that began just as it was picked ends normally.
            Err(_) if connection.in_flight.load(Ordering::Acquire) > 0 => {}
            Err(_) => {
                tracing::debug!("connection closed to make room for a new one");
                return;
            }
        }
    }
}

fn log_end(served: hyper::Result<()>) {
    if let Err(error) = served {
        tracing::debug!("connection closed: {error}");
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Open(Mutex<Vec<Arc<Connection>>>);

/// One open connection.
struct Connection {
    /// Requests it is answering; none: it waits for a request.
    in_flight: AtomicUsize,
    /// Closes it.
    close: CancellationToken,
    /// Its place under the cap, given up when it is picked to make room.
    slot: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Open {
    fn list(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Connection>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, slot: OwnedSemaphorePermit) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            in_flight: AtomicUsize::new(0),
            close: CancellationToken::new(),
            slot: Mutex::new(Some(slot)),
        });
        self.list().push(Arc::clone(&connection));
        connection
    }

    fn remove(&self, connection: &Arc<Connection>) {
        self.list().retain(|c| !Arc::ptr_eq(c, connection));
    }

    /// Closes the oldest connection waiting for a request, if one is, and
    /// frees its slot at once (it finishes within [`CLOSING_GRACE`]).
    fn close_oldest_waiting(&self) {
        let list = self.list();
        let waiting = list
            .iter()
            .find(|c| c.in_flight.load(Ordering::Acquire) == 0 && !c.close.is_cancelled());
        if let Some(connection) = waiting {
            connection.close.cancel();
            drop(
                connection
                    .slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take(),
            );
        }
    }
}

/// The app, counting the requests a connection is answering: from the
/// request's headers to the end of its answer's body.
struct Counted {
    app: TowerToHyperService<Router>,
    connection: Arc<Connection>,
}

impl hyper::service::Service<axum::http::Request<Incoming>> for Counted {
    type Response = axum::http::Response<CountedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: axum::http::Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::start(&self.connection);
        let answer = self.app.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| CountedBody {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// One request being answered.
struct InFlight(Arc<Connection>);

impl InFlight {
    fn start(connection: &Arc<Connection>) -> InFlight {
        connection.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(connection))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body, its request counted until it is dropped.
struct CountedBody {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for CountedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
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
