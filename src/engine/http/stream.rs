//! An upstream's answer read as it comes: server-sent events decoded
//! linearly and turned into events chunk by chunk, or a whole JSON body
//! turned into events at once. Each read has the idle deadline, the whole
//! answer the backend's; shutdown ends it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::time::Instant;

use crate::backend::Backend;
use crate::backend::http::HttpTemplate;
use crate::dialect::sse::SseDecoder;
use crate::engine::RunContext;
use crate::error::{Error, redact};
use crate::event::{Event, EventStream};

/// Largest single event of a stream: a chunk is a few tokens; 16 MiB is
/// room for an image, and a bound on what a broken upstream can make the
/// gateway hold.
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// Largest whole (non-streamed) answer.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The answer's events; with `verbatim`, each server-sent event (or the
/// whole body) first as the upstream sent it.
pub(super) fn events(
    backend: Arc<Backend>,
    http: Arc<HttpTemplate>,
    response: reqwest::Response,
    ctx: RunContext,
    deadline: Instant,
    verbatim: bool,
) -> EventStream {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type")
        .trim()
        .to_owned();
    let is_sse = content_type.starts_with("text/event-stream");
    let mut reader = Reader {
        body: Box::pin(response.bytes_stream()),
        backend,
        idle: http.timeouts.idle,
        deadline,
        ctx,
    };
    Box::pin(async_stream::stream! {
        if is_sse {
            let mut sse = SseDecoder::new(MAX_EVENT_BYTES);
            let mut chunks = super::dialects::decoder(&http, &reader.ctx.request_id);
            loop {
                let bytes = match reader.next().await {
                    Ok(Some(bytes)) => bytes,
                    Ok(None) if chunks.finished() => {
                        for event in chunks.end() {
                            yield Ok(event);
                        }
                        return;
                    }
                    Ok(None) => {
                        yield Err(reader.failed("the upstream closed its stream before the answer was complete"));
                        return;
                    }
                    Err(error) => {
                        yield Err(error);
                        return;
                    }
                };
                let decoded = match sse.push(&bytes) {
                    Ok(decoded) => decoded,
                    Err(too_large) => {
                        yield Err(reader.failed(&too_large.to_string()));
                        return;
                    }
                };
                for sse_event in decoded {
                    match chunks.event(sse_event.event.as_deref(), &sse_event.data) {
                        Ok(events) => {
                            if verbatim {
                                yield Ok(Event::Verbatim { event: sse_event.event, data: sse_event.data });
                            }
                            for event in events {
                                yield Ok(event);
                            }
                            if chunks.ended() {
                                return;
                            }
                        }
                        Err(message) => {
                            yield Err(reader.failed(&message));
                            return;
                        }
                    }
                }
            }
        } else {
            let mut body = Vec::new();
            loop {
                match reader.next().await {
                    Ok(Some(bytes)) if body.len() + bytes.len() > MAX_ANSWER_BYTES => {
                        yield Err(reader.failed(&format!("the upstream's answer is larger than {MAX_ANSWER_BYTES} bytes")));
                        return;
                    }
                    Ok(Some(bytes)) => body.extend_from_slice(&bytes),
                    Ok(None) => break,
                    Err(error) => {
                        yield Err(error);
                        return;
                    }
                }
            }
            let parsed = serde_json::from_slice(&body)
                .map_err(|e| format!("the upstream's answer ({content_type}) is not JSON: {e}"))
                .and_then(|json| super::dialects::answer(&http, &json, &reader.ctx.request_id));
            match parsed {
                Ok(events) => {
                    if verbatim {
                        let data = String::from_utf8_lossy(&body).into_owned();
                        yield Ok(Event::Verbatim { event: None, data });
                    }
                    for event in events {
                        yield Ok(event);
                    }
                }
                Err(message) => yield Err(reader.failed(&message)),
            }
        }
    })
}

/// The body, read under the deadlines.
struct Reader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    backend: Arc<Backend>,
    idle: std::time::Duration,
    deadline: Instant,
    ctx: RunContext,
}

impl Reader {
    /// The next piece of the body, `None` at its end.
    async fn next(&mut self) -> Result<Option<Bytes>, Error> {
        let idle = self.idle;
        tokio::select! {
            next = tokio::time::timeout(idle, self.body.next()) => match next {
                Ok(Some(Ok(bytes))) => Ok(Some(bytes)),
                Ok(Some(Err(e))) => Err(self.failed(&format!("the upstream's answer broke off: {e}"))),
                Ok(None) => Ok(None),
                Err(_) => Err(self.failed(&format!(
                    "the upstream sent nothing for {}s (idle_timeout_seconds)",
                    idle.as_secs()
                ))),
            },
            () = tokio::time::sleep_until(self.deadline) => Err(Error::Timeout {
                backend: self.backend.name.clone(),
                after: self.backend.timeout,
            }),
            () = self.ctx.shutdown.cancelled() => Err(Error::ShuttingDown),
        }
    }

    fn failed(&self, message: &str) -> Error {
        Error::Backend {
            backend: self.backend.name.clone(),
            upstream_status: None,
            message: redact(message, &self.backend.secrets),
        }
    }
}
