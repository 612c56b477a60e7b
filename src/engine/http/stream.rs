//! An upstream's answer read as it comes: server-sent events decoded
//! linearly and turned into events chunk by chunk, or a whole JSON body
//! turned into events at once. Each read has the idle deadline, the whole
//! answer the backend's; shutdown ends it. The timers are made once per
//! answer, not per chunk: a stream of many small chunks pays for none.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

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
    let mut reader = Reader::new(response, backend, http.timeouts.idle, deadline, ctx);
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
    deadlines: Deadlines,
    ctx: RunContext,
}

impl Reader {
    fn new(
        response: reqwest::Response,
        backend: Arc<Backend>,
        idle: Duration,
        deadline: Instant,
        ctx: RunContext,
    ) -> Reader {
        Reader {
            body: Box::pin(response.bytes_stream()),
            backend,
            deadlines: Deadlines::new(idle, deadline, ctx.shutdown.clone()),
            ctx,
        }
    }

    /// The next piece of the body, `None` at its end.
    async fn next(&mut self) -> Result<Option<Bytes>, Error> {
        match self.deadlines.read(self.body.next()).await {
            Ok(Some(Ok(bytes))) => Ok(Some(bytes)),
            Ok(Some(Err(e))) => Err(self.failed(&format!("the upstream's answer broke off: {e}"))),
            Ok(None) => Ok(None),
            Err(GaveUp::Idle) => Err(self.failed(&format!(
                "the upstream sent nothing for {}s (idle_timeout_seconds)",
                self.deadlines.idle.as_secs()
            ))),
            Err(GaveUp::Deadline) => Err(Error::Timeout {
                backend: self.backend.name.clone(),
                after: self.backend.timeout,
            }),
            Err(GaveUp::Shutdown) => Err(Error::ShuttingDown),
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

/// Why a read gave up.
#[derive(Debug, PartialEq, Eq)]
enum GaveUp {
    /// Nothing came for the idle time.
    Idle,
    /// The whole answer's deadline passed.
    Deadline,
    /// The gateway is shutting down.
    Shutdown,
}

/// The deadlines of one answer's reads, made once: a read costs one clock
/// read, not two timers and a shutdown waiter.
struct Deadlines {
    idle: Duration,
    /// Fires at or before the running read's idle deadline; moved to it
    /// only when it fires.
    idle_timer: Pin<Box<Sleep>>,
    deadline_at: Instant,
    deadline: Pin<Box<Sleep>>,
    shutdown_token: CancellationToken,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Deadlines {
    fn new(idle: Duration, deadline: Instant, shutdown: CancellationToken) -> Deadlines {
        let idle_at = Instant::now().checked_add(idle).unwrap_or(deadline);
        Deadlines {
            idle,
            idle_timer: Box::pin(tokio::time::sleep_until(idle_at.min(deadline))),
            deadline_at: deadline,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            shutdown: Box::pin(shutdown.clone().cancelled_owned()),
            shutdown_token: shutdown,
        }
    }

    /// `read`'s output, unless it waits longer than the idle time, the
    /// whole deadline passes or shutdown comes first. Only the read's own
    /// wait counts as idle: not the time the answer's reader took between
    /// reads (a slow client's).
    async fn read<F: Future>(&mut self, read: F) -> Result<F::Output, GaveUp> {
        let started = Instant::now();
        if started >= self.deadline_at {
            return Err(GaveUp::Deadline);
        }
        if self.shutdown_token.is_cancelled() {
            return Err(GaveUp::Shutdown);
        }
        let idle_at = started
            .checked_add(self.idle)
            .map_or(self.deadline_at, |at| at.min(self.deadline_at));
        tokio::pin!(read);
        loop {
            tokio::select! {
                // What has arrived is taken, whatever timer is due.
                biased;
                output = &mut read => return Ok(output),
                () = &mut self.deadline => return Err(GaveUp::Deadline),
                () = &mut self.shutdown => return Err(GaveUp::Shutdown),
                () = &mut self.idle_timer => {
                    if Instant::now() >= idle_at {
                        return Err(GaveUp::Idle);
                    }
                    self.idle_timer.as_mut().reset(idle_at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(1);

    fn deadlines(total: Duration) -> (Deadlines, CancellationToken) {
        let shutdown = CancellationToken::new();
        let deadlines = Deadlines::new(IDLE, Instant::now() + total, shutdown.clone());
        (deadlines, shutdown)
    }

    #[tokio::test(start_paused = true)]
    async fn reads_closer_together_than_the_idle_time_never_time_out() {
        let (mut deadlines, _shutdown) = deadlines(Duration::from_secs(60));
        for i in 0..10 {
            let read = deadlines.read(async {
                tokio::time::sleep(Duration::from_millis(900)).await;
                i
            });
            assert_eq!(read.await, Ok(i));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_stalls_gives_up_the_idle_time_after_the_last_one() {
        let (mut deadlines, _shutdown) = deadlines(Duration::from_secs(60));
        let first = deadlines.read(tokio::time::sleep(Duration::from_millis(700)));
        assert_eq!(first.await, Ok(()));
        let last = Instant::now();
        let stalled = deadlines.read(std::future::pending::<()>()).await;
        assert_eq!(stalled, Err(GaveUp::Idle));
        assert_eq!(Instant::now() - last, IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn the_whole_deadline_holds_even_while_reads_keep_coming() {
        let (mut deadlines, _shutdown) = deadlines(Duration::from_secs(3));
        let started = Instant::now();
        let outcome = loop {
            match deadlines
                .read(tokio::time::sleep(Duration::from_millis(100)))
                .await
            {
                Ok(()) => {}
                Err(gave_up) => break gave_up,
            }
        };
        assert_eq!(outcome, GaveUp::Deadline);
        assert_eq!(Instant::now() - started, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn time_spent_between_reads_is_not_idle_time() {
        let (mut deadlines, _shutdown) = deadlines(Duration::from_secs(60));
        assert_eq!(deadlines.read(async { 1 }).await, Ok(1));
        // The answer's reader is slow: the upstream is not idle meanwhile.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(deadlines.read(async { 2 }).await, Ok(2));
        let late = deadlines.read(async {
            tokio::time::sleep(Duration::from_millis(900)).await;
            3
        });
        assert_eq!(late.await, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_time_past_any_clock_never_overflows() {
        let shutdown = CancellationToken::new();
        let mut deadlines = Deadlines::new(Duration::MAX, Instant::now() + IDLE, shutdown);
        let stalled = deadlines.read(std::future::pending::<()>()).await;
        assert_eq!(stalled, Err(GaveUp::Deadline));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_a_read() {
        let (mut deadlines, shutdown) = deadlines(Duration::from_secs(60));
        shutdown.cancel();
        let read = deadlines.read(std::future::pending::<()>()).await;
        assert_eq!(read, Err(GaveUp::Shutdown));
    }
}
