//! What every handler shares: the live config snapshot, the reloader that
//! replaces it, the shutdown signal and the reaper of the CLIs' processes.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::config::watch::Reloader;
use crate::engine::{HttpClients, Limiters, Reaper, Resumable, Sessions, WorkspacePool};
use crate::server::responses::store::ResponseStore;

/// Shared handler state; cheap to clone (one reference count).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    /// The live config. Handlers take one snapshot per request.
    pub config: Arc<ArcSwap<Config>>,
    /// Reloads `config`; also knows the last reload error.
    pub reloader: Arc<Reloader>,
    /// Cancelled when the gateway shuts down.
    pub shutdown: CancellationToken,
    /// Where the gateway actually listens (`--port 0` picks a port).
    pub local_addr: std::net::SocketAddr,
    /// Tracks the CLIs' processes and the cleanups after them.
    pub reaper: Arc<Reaper>,
    /// The backends' concurrency limiters, kept across reloads.
    pub limiters: Arc<Limiters>,
    /// Fresh working directories for the CLIs, made ahead of time.
    pub workspaces: Arc<WorkspacePool>,
    /// Pooled clients of the HTTP upstreams.
    pub http: Arc<HttpClients>,
    /// The warm processes of `session` backends, kept across reloads.
    pub sessions: Arc<Sessions>,
    /// The CLI sessions one-shot backends may resume.
    pub resumable: Arc<Resumable>,
    /// The Responses kept to be continued (`previous_response_id`).
    pub responses: Arc<ResponseStore>,
}

impl AppState {
    /// State serving `reloader`'s live config.
    pub fn new(
        reloader: Arc<Reloader>,
        shutdown: CancellationToken,
        local_addr: std::net::SocketAddr,
        reaper: Arc<Reaper>,
    ) -> AppState {
        let limiters = Arc::new(Limiters::default());
        let on_reload = Arc::clone(&limiters);
        reloader.on_reload(move |config| on_reload.apply(config.routes.backends.values()));
        let workspaces = Arc::new(WorkspacePool::default());
        let sessions = Sessions::new(
            Arc::clone(&reaper),
            Arc::clone(&workspaces),
            shutdown.clone(),
        );
        sessions.apply(reloader.live().load().routes.backends.values());
        let warm = Arc::clone(&sessions);
        reloader.on_reload(move |config| warm.apply(config.routes.backends.values()));
        AppState(Arc::new(Shared {
            config: Arc::clone(reloader.live()),
            reloader,
            shutdown,
            local_addr,
            reaper,
            limiters,
            workspaces,
            http: Arc::new(HttpClients::default()),
            sessions,
            resumable: Arc::new(Resumable::default()),
            responses: Arc::new(ResponseStore::default()),
        }))
    }
}
