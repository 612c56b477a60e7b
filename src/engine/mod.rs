//! The code that runs backend templates. [`run`] takes the resolved backend
//! and the request's [`Turn`] and returns the [`Run`]: its events and its
//! concurrency permit. It is the only place that matches on the backend's
//! kind (with [`doctor`]); each kind's engine is a module below.

pub mod cli;
pub mod http;
pub mod limiter;
mod output;
mod process;
pub mod reaper;
pub mod session;

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::Kind;
use crate::config::settings::ImageLimits;
use crate::error::Error;
use crate::event::EventStream;
use crate::routes::Resolved;
use crate::turn::{Effort, Turn};

pub use cli::prompt::Prompt;
pub use cli::{Resumable, WorkspacePool};
pub use http::HttpClients;
pub use limiter::{Limiters, Permit};
pub use reaper::Reaper;
pub use session::Sessions;

/// What a run needs from the gateway.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The request's id, for logs and the `{request_id}` placeholder.
    pub request_id: String,
    /// Cancelled when the gateway shuts down.
    pub shutdown: CancellationToken,
    /// Log the backend's stderr and warnings at info level instead of debug.
    pub log_events: bool,
    /// Keep a copy of what the backend is sent, for the request log.
    pub keep_sent: bool,
    /// Limits on what a request may ask.
    pub limits: RequestLimits,
    /// The backends' concurrency limiters.
    pub limiters: Arc<Limiters>,
    /// Registers the CLIs' processes and cleans up after them.
    pub reaper: Arc<Reaper>,
    /// Fresh working directories, made ahead of time.
    pub workspaces: Arc<WorkspacePool>,
    /// Pooled clients of the HTTP upstreams.
    pub http: Arc<HttpClients>,
    /// The warm processes of `session` backends.
    pub sessions: Arc<Sessions>,
    /// The CLI sessions one-shot backends may resume.
    pub resumable: Arc<Resumable>,
}

/// Limits the gateway's settings put on one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Longest flattened prompt, in characters.
    pub max_prompt_chars: usize,
    /// Image input limits.
    pub images: ImageLimits,
    /// Effort applied to every request, overriding the client's.
    pub force_effort: Option<Effort>,
}

/// A started run.
pub struct Run {
    /// The backend's answer as it comes.
    pub events: EventStream,
    /// The backend's concurrency slot, held until the answer is delivered.
    pub permit: Permit,
    /// What the backend was sent (when [`RunContext::keep_sent`]).
    pub sent: Option<Prompt>,
    /// When the run got its slot.
    pub queued_at: Instant,
    /// When the backend started.
    pub started_at: Instant,
    /// The conversation the run continues on a warm process (the client's
    /// key), named in the `x-session-id` response header.
    pub conversation: Option<String>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("permit", &self.permit)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// Runs `turn` on the resolved backend: checks and prepares what the backend
/// is given (refusing what it cannot take), waits for a slot, starts it.
///
/// # Errors
/// Whatever prevents the run from starting; later failures arrive as `Err`
/// items of the stream.
pub async fn run(resolved: &Resolved, turn: Turn, ctx: RunContext) -> Result<Run, Error> {
    match &resolved.backend.kind {
        Kind::Cli(template) => cli::run(resolved, Arc::clone(template), turn, ctx).await,
        Kind::Http(template) => http::run(resolved, Arc::clone(template), turn, ctx).await,
        Kind::Session(template) => session::run(resolved, Arc::clone(template), turn, ctx).await,
    }
}

/// Embeddings of the request `body` (the client's, with the routed model)
/// from the resolved backend, as the upstream's JSON.
///
/// # Errors
/// [`Error::InvalidRequest`] for a backend that makes none (a CLI, or an
/// upstream dialect without embeddings); the upstream's errors as for a run.
pub async fn embeddings(
    resolved: &Resolved,
    body: bytes::Bytes,
    ctx: &RunContext,
) -> Result<bytes::Bytes, Error> {
    match &resolved.backend.kind {
        Kind::Http(template) => http::embeddings(resolved, template, body, ctx).await,
        Kind::Cli(_) | Kind::Session(_) => Err(Error::InvalidRequest(format!(
            "backend `{}` runs a CLI, which makes no embeddings; route the model to an http backend",
            resolved.backend.name
        ))),
    }
}

/// A count of a turn's input tokens, and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCount {
    /// The count.
    pub tokens: u64,
    /// Counted by the backend's provider (else estimated by the gateway,
    /// see [`crate::tokens`]).
    pub exact: bool,
}

/// The input tokens of `turn` on the resolved backend: its provider's
/// count where it has a count endpoint (an Anthropic or Gemini upstream),
/// else the gateway's estimate.
///
/// # Errors
/// The upstream's errors, as for a run.
pub async fn count_tokens(
    resolved: &Resolved,
    turn: Turn,
    ctx: &RunContext,
) -> Result<TokenCount, Error> {
    if let Kind::Http(template) = &resolved.backend.kind
        && let Some(tokens) = http::count_tokens(resolved, template, &turn, ctx).await?
    {
        return Ok(TokenCount {
            tokens,
            exact: true,
        });
    }
    // Two at a time: a client that leaves while waiting costs nothing.
    static ESTIMATES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let _turn = ESTIMATES
        .acquire()
        .await
        .map_err(|e| Error::Internal(format!("the token estimate failed: {e}")))?;
    let tokens = tokio::task::spawn_blocking(move || crate::tokens::estimate(&turn))
        .await
        .map_err(|e| Error::Internal(format!("the token estimate failed: {e}")))?;
    Ok(TokenCount {
        tokens,
        exact: false,
    })
}

/// One finding of `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// Fine.
    Ok,
    /// Works, but something is worth a look.
    Warn,
    /// Will not work.
    Fail,
}

/// Checks that a backend can run here (its program, version, login).
pub async fn doctor(
    backend: &crate::backend::Backend,
    env: &std::collections::BTreeMap<String, String>,
) -> Vec<(Health, String)> {
    match &backend.kind {
        Kind::Cli(template) => cli::doctor::check(backend, template, env).await,
        Kind::Session(template) => cli::doctor::check(backend, &template.process, env).await,
        Kind::Http(template) => http::doctor(template),
    }
}
