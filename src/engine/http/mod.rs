//! Runs an `http` backend for one request: the turn as the upstream
//! dialect's request, sent on a pooled client with the backend's auth and
//! headers, and the answer (streamed or whole) as events as they come.
//! Nothing is buffered that can flow: each upstream chunk becomes its
//! events at once. An upstream's error status reaches the client as the
//! same status with the upstream's message; after the answer started,
//! failures are an `Err` item of the stream.

mod client;
mod stream;

use std::sync::Arc;

use tokio::time::Instant;

use crate::backend::http::{HttpTemplate, UpstreamDialect};
use crate::dialect::openai_chat::upstream;
use crate::engine::{Prompt, Run, RunContext};
use crate::error::{Error, redact};
use crate::routes::Resolved;
use crate::turn::Turn;

pub use client::HttpClients;

/// The largest error body read from an upstream.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Sends `turn` to the upstream: waits for a slot, sends, and returns the
/// answer's events once its status and headers have come.
pub(super) async fn run(
    resolved: &Resolved,
    http: Arc<HttpTemplate>,
    turn: Turn,
    ctx: RunContext,
) -> Result<Run, Error> {
    let backend = Arc::clone(&resolved.backend);
    let effort = ctx
        .limits
        .force_effort
        .or(turn.effort)
        .or(http.default_effort);
    let (path, body) = match http.dialect {
        UpstreamDialect::OpenAiChat => (
            "/chat/completions",
            upstream::request(&turn, &resolved.model, effort),
        ),
    };
    let body = serde_json::to_vec(&body)
        .map_err(|e| Error::Internal(format!("cannot encode the upstream request: {e}")))?;
    let sent = ctx.keep_sent.then(|| Prompt {
        text: String::from_utf8_lossy(&body).into_owned(),
        system: None,
    });
    let auth = http
        .auth
        .as_ref()
        .map(|a| a.value().map(|v| (a.header.clone(), v)))
        .transpose()
        .map_err(|why| Error::Backend {
            backend: backend.name.clone(),
            upstream_status: None,
            message: format!("no credentials: {why}"),
        })?;
    let client = ctx.http.client(http.timeouts.connect)?;
    let permit = ctx.limiters.acquire(&backend).await?;
    let queued_at = Instant::now();
    let mut request = client
        .post(http.endpoint(path))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            reqwest::header::ACCEPT,
            if turn.stream {
                "text/event-stream"
            } else {
                "application/json"
            },
        );
    if let Some((header, value)) = &auth {
        request = request.header(header.as_str(), value.as_str());
    }
    for (name, value) in &http.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let deadline = queued_at + backend.timeout;
    let response = tokio::select! {
        sent = tokio::time::timeout(http.timeouts.first_byte, request.body(body).send()) => match sent {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(send_error(&backend.name, &http, &e, &backend.secrets)),
            Err(_) => return Err(Error::Timeout { backend: backend.name.clone(), after: http.timeouts.first_byte }),
        },
        () = tokio::time::sleep_until(deadline) => {
            return Err(Error::Timeout { backend: backend.name.clone(), after: backend.timeout });
        }
        () = ctx.shutdown.cancelled() => return Err(Error::ShuttingDown),
    };
    let status = response.status();
    if !status.is_success() {
        return Err(status_error(
            &backend.name,
            response,
            &backend.secrets,
            http.timeouts.idle,
        )
        .await);
    }
    let started_at = Instant::now();
    let events = stream::events(backend, http, response, ctx, deadline);
    Ok(Run {
        events,
        permit,
        sent,
        queued_at,
        started_at,
    })
}

/// A request that got no answer: no connection, or a broken one.
fn send_error(
    backend: &str,
    http: &HttpTemplate,
    error: &reqwest::Error,
    secrets: &[String],
) -> Error {
    let what = if error.is_connect() {
        "cannot connect to"
    } else {
        "no answer from"
    };
    Error::Backend {
        backend: backend.to_owned(),
        upstream_status: None,
        message: redact(
            &format!("{what} {}: {}", http.url, error_chain(error)),
            secrets,
        ),
    }
}

/// An error with its causes, which say what really failed (refused, DNS, TLS).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An upstream's error status, with its message and `Retry-After`.
async fn status_error(
    backend: &str,
    response: reqwest::Response,
    secrets: &[String],
    idle: std::time::Duration,
) -> Error {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = tokio::time::timeout(idle, read_capped(response, MAX_ERROR_BODY))
        .await
        .unwrap_or_default();
    let mut message = upstream::error_message(&body);
    if message.is_empty() {
        message = format!("the upstream answered HTTP {status}");
    }
    Error::Upstream {
        backend: backend.to_owned(),
        status,
        message: redact(&message, secrets),
        retry_after,
    }
}

/// At most `max` bytes of a body.
async fn read_capped(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = max.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    body
}

/// What `doctor` says of an http backend without calling it: where it
/// sends requests and whether its key could be read.
pub(super) fn doctor(http: &HttpTemplate) -> Vec<(super::Health, String)> {
    use super::Health;
    let from = http
        .url_from
        .as_ref()
        .map_or_else(String::new, |var| format!(" (from {var})"));
    let mut findings = vec![(
        Health::Ok,
        format!(
            "sends {} requests to {}{from}",
            http.dialect.name(),
            http.url
        ),
    )];
    findings.push(match &http.auth {
        None => (Health::Warn, "sends no credentials (no `auth`)".to_owned()),
        Some(auth) => match &auth.secret {
            Ok(_) => (
                Health::Ok,
                format!("key read from {} (header {})", auth.source, auth.header),
            ),
            Err(why) => (Health::Fail, format!("no key: {why}")),
        },
    });
    findings
}
