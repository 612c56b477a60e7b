//! The request pipeline every endpoint shares: read the body, parse it (the
//! endpoint's dialect), route, review what the backend can honour (one
//! capability review for every dialect), run it
//! (the engine plans, queues and starts), then stream or fold the answer,
//! and log. An endpoint gives only its parser and, per
//! request, its [`Codec`]; nothing here knows a wire format.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse as _, Response};

use super::log::RequestLog;
use super::{answer, extract};
use crate::config::Config;
use crate::config::settings::Token;
use crate::dialect::{AnswerMeta, Codec};
use crate::engine::{self, RequestLimits, RunContext};
use crate::error::Error;
use crate::routes::Resolved;
use crate::state::AppState;
use crate::turn::Turn;

/// A request parsed by its endpoint.
pub(super) struct Parsed {
    /// The request, normalised.
    pub(super) turn: Turn,
    /// How to write the answer.
    pub(super) codec: Box<dyn Codec>,
}

/// Answers one request to `path`: a JSON body or an SSE stream, or an
/// error (in the path's envelope, `server/envelope.rs`).
pub(super) async fn serve(
    state: &AppState,
    config: Arc<Config>,
    request_id: String,
    body: Body,
    path: &str,
    parse: impl FnOnce(&Bytes) -> Result<Parsed, Error>,
) -> Response {
    tracing::debug!(id = %request_id, "received");
    let mut log = RequestLog::start(request_id, config.settings.log, Arc::clone(&config.secrets));
    match start(state, &config, body, path, parse, &mut log).await {
        Ok(started) => answer::respond(started, log).await,
        Err(error) => {
            log.failed(error.status().as_u16(), &error.to_string());
            error.into_response()
        }
    }
}

/// A run that started, with what answering it needs.
pub(super) struct Started {
    /// The backend's answer.
    pub(super) run: engine::Run,
    /// How to write it.
    pub(super) codec: Box<dyn Codec>,
    /// Who answers.
    pub(super) resolved: Resolved,
    /// Stream the answer.
    pub(super) stream: bool,
    /// Request parameters the backend could not honour.
    pub(super) ignored: Vec<String>,
    /// SSE keep-alive interval.
    pub(super) sse_keepalive: Option<std::time::Duration>,
    /// Largest folded answer.
    pub(super) max_answer_bytes: usize,
}

impl Started {
    /// What the answer says about itself.
    pub(super) fn meta(&self, request_id: &str) -> AnswerMeta {
        AnswerMeta {
            request_id: request_id.to_owned(),
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            model: self.resolved.echo_model.clone(),
        }
    }
}

/// Everything up to the backend's start: read, parse, route, check, run.
async fn start(
    state: &AppState,
    config: &Arc<Config>,
    body: Body,
    path: &str,
    parse: impl FnOnce(&Bytes) -> Result<Parsed, Error>,
    log: &mut RequestLog,
) -> Result<Started, Error> {
    let settings = &config.settings;
    let bytes = extract::body_bytes(body, settings.max_body_bytes, settings.body_timeout).await?;
    let Parsed { mut turn, codec } = parse_off_the_workers(&bytes, parse)?;
    // What the operator imposes on every answer cannot apply to one passed
    // through as the upstream sent it.
    if settings.force_effort.is_some() || settings.strip_answer_tags {
        turn.native = None;
    }
    log.model.clone_from(&turn.model);
    log.stream = turn.stream;
    log.curl(
        state.local_addr,
        path,
        settings.token.as_ref().map(Token::variable),
        &bytes,
        turn.stream,
    );
    let resolved = config.routes.resolve(&turn.model)?;
    let stream = turn.stream;
    let ctx = run_context(state, config, log);
    let (resolved, ignored, mut run) = run_or_fall_back(config, resolved, turn, ctx, log).await?;
    log.run_started(run.queued_at, run.started_at);
    if let Some(sent) = &run.sent {
        log.sent(sent);
    }
    if settings.strip_answer_tags {
        run.events = crate::answer_tags::strip(run.events);
    }
    Ok(Started {
        run,
        codec,
        resolved,
        stream,
        ignored,
        sse_keepalive: settings.sse_keepalive,
        max_answer_bytes: settings.max_answer_bytes,
    })
}

/// What a run needs from the gateway, for this request.
pub(super) fn run_context(state: &AppState, config: &Config, log: &RequestLog) -> RunContext {
    let settings = &config.settings;
    RunContext {
        request_id: log.id.clone(),
        shutdown: state.shutdown.clone(),
        log_events: settings.log.events,
        keep_sent: log.wants_sent(),
        limits: RequestLimits {
            max_prompt_chars: settings.max_prompt_chars,
            images: settings.images,
            force_effort: settings.force_effort,
        },
        limiters: Arc::clone(&state.limiters),
        sessions: Arc::clone(&state.sessions),
        resumable: Arc::clone(&state.resumable),
        reaper: Arc::clone(&state.reaper),
        workspaces: Arc::clone(&state.workspaces),
        http: Arc::clone(&state.http),
    }
}

/// Runs the turn on `resolved`'s backend, or, when it fails before
/// answering in a way another backend might not (see
/// [`Error::falls_back`]), on its route's fallbacks in order. A fallback
/// that cannot honour the request (images, a forced tool call) is passed
/// over. The last failure is the answer when every one fails.
async fn run_or_fall_back(
    config: &Config,
    resolved: Resolved,
    turn: Turn,
    ctx: RunContext,
    log: &mut RequestLog,
) -> Result<(Resolved, Vec<String>, engine::Run), Error> {
    let review = |r: &Resolved, turn: &Turn| r.backend.capabilities.review(turn, &r.backend.name);
    let ignored = review(&resolved, &turn)?;
    log.question(&turn);
    if resolved.fallbacks.is_empty() {
        let run = run_on(&resolved, &ignored, turn, ctx, log).await?;
        return Ok((resolved, ignored, run));
    }
    let mut error = match run_on(&resolved, &ignored, turn.clone(), ctx.clone(), log).await {
        Ok(run) => return Ok((resolved, ignored, run)),
        Err(error) => error,
    };
    for model in &resolved.fallbacks {
        if !error.falls_back() {
            break;
        }
        let fallback = config.routes.resolve(model)?;
        let name = &fallback.backend.name;
        let ignored = match review(&fallback, &turn) {
            Ok(ignored) => ignored,
            Err(refused) => {
                tracing::warn!(request_id = %log.id, "fallback {model:?} passed over: {refused}");
                continue;
            }
        };
        tracing::warn!(request_id = %log.id, "{error}; falling back to {model:?} (backend `{name}`)");
        match run_on(&fallback, &ignored, turn.clone(), ctx.clone(), log).await {
            Ok(run) => return Ok((fallback, ignored, run)),
            Err(failed) => error = failed,
        }
    }
    Err(error)
}

/// Runs the turn on one backend, noting it in the log.
async fn run_on(
    resolved: &Resolved,
    ignored: &[String],
    turn: Turn,
    ctx: RunContext,
    log: &mut RequestLog,
) -> Result<engine::Run, Error> {
    log.backend = Some(resolved.backend.name.clone());
    log.backend_model = Some(resolved.model.clone());
    log.ignored = ignored.to_vec();
    engine::run(resolved, turn, ctx).await
}

/// Bodies this large (images as base64) are parsed where blocking is
/// allowed, so one big request never stalls the others on its worker.
const LARGE_BODY: usize = 256 * 1024;

/// Runs `parse`, on a blocking-allowed thread when the body is large.
pub(super) fn parse_off_the_workers<T>(
    bytes: &Bytes,
    parse: impl FnOnce(&Bytes) -> Result<T, Error>,
) -> Result<T, Error> {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if bytes.len() > LARGE_BODY && multi_thread {
        tokio::task::block_in_place(|| parse(bytes))
    } else {
        parse(bytes)
    }
}

/// Says who answered and what was ignored.
pub(super) fn add_route_headers(headers: &mut HeaderMap, resolved: &Resolved, ignored: &[String]) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-agent-cli-backend", &resolved.backend.name);
    set("x-agent-cli-model", &resolved.model);
    if !ignored.is_empty() {
        set("x-agent-cli-ignored-params", &ignored.join(","));
    }
}
