//! `POST /v1/chat/completions`: OpenAI request → `Turn` → route → CLI run →
//! SSE chunks or one completion. Errors before the stream starts are HTTP
//! errors in the OpenAI envelope; after it started they are an error event.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use super::auth::Snapshot;
use super::log::RequestLog;
use super::request_id::RequestId;
use super::{extract, plan};
use crate::backend::Backend;
use crate::config::Config;
use crate::config::settings::Token;
use crate::dialect::openai_chat::{self, ChunkEncoder, Collector, wire::ChatRequest};
use crate::engine::limiter::Permit;
use crate::engine::{self, RunContext};
use crate::error::Error;
use crate::event::{Event, EventStream};
use crate::routes::Resolved;
use crate::state::AppState;
use crate::turn::Turn;

/// How long a stream's headers wait for the CLI's first output.
const FIRST_OUTPUT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Headers that may carry a session id to resume.
const SESSION_HEADERS: &[&str] = &[
    "x-codex-session-id",
    "x-session-id",
    "session-id",
    "session_id",
];

pub(super) async fn completions(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(Snapshot(config)): Extension<Snapshot>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut log = RequestLog::start(
        request_id,
        config.settings.log,
        std::sync::Arc::clone(&config.secrets),
    );
    match prepare(&state, &config, &headers, body, &mut log).await {
        Ok(run) => respond(run, log).await,
        Err(error) => {
            log.failed(error.status().as_u16(), &error.to_string());
            error.into_response()
        }
    }
}

/// A started run, ready to be answered.
struct Started {
    turn: Turn,
    resolved: Resolved,
    events: EventStream,
    permit: Permit,
    sse_keepalive: Option<std::time::Duration>,
    max_answer_bytes: usize,
}

/// Everything up to the CLI's start: parse, route, check, queue, spawn.
async fn prepare(
    state: &AppState,
    config: &Arc<Config>,
    headers: &HeaderMap,
    body: Body,
    log: &mut RequestLog,
) -> Result<Started, Error> {
    let bytes = extract::body_bytes(
        body,
        config.settings.max_body_bytes,
        config.settings.body_timeout,
    )
    .await?;
    let request: ChatRequest = extract::json(&bytes)?;
    let mut turn = openai_chat::to_turn(request, session_header(headers))?;
    log.model.clone_from(&turn.model);
    log.stream = turn.stream;
    log.ignored.clone_from(&turn.ignored);
    log.curl(
        state.local_addr,
        config.settings.token.as_ref().map(Token::variable),
        &bytes,
        turn.stream,
    );
    let resolved = config.routes.resolve(&turn.model)?;
    let unsupported = plan::unsupported(&turn, &resolved.backend);
    log.ignored.extend_from_slice(&unsupported);
    turn.ignored.extend(unsupported);
    log.backend = Some(resolved.backend.name().to_owned());
    log.backend_model = Some(resolved.model.clone());
    let run = plan::plan(config, &resolved, &mut turn, &log.id)?;
    log.request_text(&turn, &run.prompt);
    let Backend::Cli(cli) = &resolved.backend;
    let permit = cli.limiter.acquire(&cli.name).await?;
    log.queued();
    let ctx = RunContext {
        shutdown: state.shutdown.clone(),
        log_events: config.settings.log.events,
        reaper: Arc::clone(&state.reaper),
    };
    let mut events = engine::run(&resolved.backend, run, ctx).await?;
    if config.settings.strip_answer_tags {
        events = crate::answer_tags::strip(events);
    }
    log.spawned();
    Ok(Started {
        turn,
        resolved,
        events,
        permit,
        sse_keepalive: config.settings.sse_keepalive,
        max_answer_bytes: config.settings.max_answer_bytes,
    })
}

/// Streams or folds the answer. The log goes with the answer, so a stream
/// is logged when it ends.
async fn respond(run: Started, mut log: RequestLog) -> Response {
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let completion_id = format!("chatcmpl-{}", log.id);
    let Started {
        turn,
        resolved,
        events,
        permit,
        sse_keepalive,
        max_answer_bytes,
    } = run;
    let mut response = if turn.stream {
        match first_output(events).await {
            Ok(events) => {
                let encoder =
                    ChunkEncoder::new(completion_id, created, resolved.echo_model.clone());
                let sse = Sse::new(sse_stream(events, encoder, turn.include_usage, permit, log));
                match sse_keepalive {
                    Some(interval) => sse
                        .keep_alive(KeepAlive::new().interval(interval).text("ping"))
                        .into_response(),
                    None => sse.into_response(),
                }
            }
            Err(error) => {
                log.failed(error.status().as_u16(), &error.to_string());
                error.into_response()
            }
        }
    } else {
        let collected = collect(events, &mut log, &resolved, max_answer_bytes).await;
        drop(permit);
        match collected {
            Ok(collected) => {
                log.usage = collected.usage;
                log.finished(200);
                axum::Json(collected.completion(&completion_id, created, &resolved.echo_model))
                    .into_response()
            }
            Err(error) => {
                log.failed(error.status().as_u16(), &error.to_string());
                error.into_response()
            }
        }
    };
    add_route_headers(response.headers_mut(), &resolved, &turn);
    response
}

/// Waits (at most [`FIRST_OUTPUT_WAIT`]) for the CLI's first output before
/// the stream is committed with `200 OK`, so that a CLI failing at once is
/// answered with its real HTTP status instead of an error event.
async fn first_output(mut events: EventStream) -> Result<EventStream, Error> {
    let deadline = tokio::time::Instant::now() + FIRST_OUTPUT_WAIT;
    let mut head = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Ok(event @ (Event::Session(_) | Event::Usage(_))))) => head.push(Ok(event)),
            Ok(Some(Ok(event))) => {
                head.push(Ok(event));
                break;
            }
            Ok(Some(Err(error))) => return Err(error),
            Ok(None) | Err(_) => break,
        }
    }
    Ok(futures_util::stream::iter(head).chain(events).boxed())
}

/// Folds the events into one answer of at most `max_bytes` of text (the
/// stream is dropped past it, which stops the CLI).
async fn collect(
    mut events: EventStream,
    log: &mut RequestLog,
    resolved: &Resolved,
    max_bytes: usize,
) -> Result<Collector, Error> {
    let mut collector = Collector::default();
    let mut bytes = 0_usize;
    while let Some(event) = events.next().await {
        let event = event?;
        match &event {
            Event::TextDelta(text) => {
                log.text(text);
                bytes += text.len();
            }
            Event::ReasoningDelta(text) => {
                log.reasoning();
                bytes += text.len();
            }
            _ => {}
        }
        if bytes > max_bytes {
            return Err(Error::Backend {
                backend: resolved.backend.name().to_owned(),
                upstream_status: None,
                message: format!(
                    "the answer grew past {max_bytes} bytes (server.max_answer_bytes) and was stopped; \
                     ask for it with \"stream\": true, which has no such limit"
                ),
            });
        }
        collector.push(&event);
        if matches!(event, Event::Finish(_)) {
            break;
        }
    }
    if collector.finish.is_none() {
        return Err(Error::Internal(
            "the backend's answer ended without finishing".into(),
        ));
    }
    Ok(collector)
}

fn sse_stream(
    mut events: EventStream,
    encoder: ChunkEncoder,
    include_usage: bool,
    permit: Permit,
    mut log: RequestLog,
) -> impl futures_util::Stream<Item = Result<SseEvent, Infallible>> {
    let data = |value: serde_json::Value| Ok(SseEvent::default().data(value.to_string()));
    async_stream::stream! {
        let _permit = permit;
        yield data(encoder.role());
        let mut usage = crate::event::Usage::default();
        let mut session = None;
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Finish(reason)) => {
                    yield data(encoder.finish(reason, session.as_deref()));
                    if include_usage && !usage.is_empty() {
                        yield data(encoder.usage(&usage));
                    }
                    yield Ok(SseEvent::default().data("[DONE]"));
                    log.usage = usage;
                    log.finished(200);
                    return;
                }
                Ok(Event::Usage(u)) => usage.update(&u),
                Ok(Event::Session(id)) => session = Some(id),
                Ok(event) => {
                    match &event {
                        Event::TextDelta(text) => log.text(text),
                        _ => log.reasoning(),
                    }
                    if let Some(chunk) = encoder.event(&event) {
                        yield data(chunk);
                    }
                }
                Err(error) => {
                    log.failed_in_stream(error.status().as_u16(), &error.to_string());
                    yield data(openai_chat::error_body(&error));
                    return;
                }
            }
        }
        let error = Error::Internal("the backend's answer ended without finishing".into());
        log.failed_in_stream(error.status().as_u16(), &error.to_string());
        yield data(openai_chat::error_body(&error));
    }
}

fn session_header(headers: &HeaderMap) -> Option<String> {
    SESSION_HEADERS
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok().map(str::to_owned))
}

fn add_route_headers(headers: &mut HeaderMap, resolved: &Resolved, turn: &Turn) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-agent-cli-backend", resolved.backend.name());
    set("x-agent-cli-model", &resolved.model);
    if !turn.ignored.is_empty() {
        set("x-agent-cli-ignored-params", &turn.ignored.join(","));
    }
}
