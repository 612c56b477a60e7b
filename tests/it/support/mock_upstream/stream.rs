//! How an answer goes on the wire: a whole JSON body, or SSE frames written one by one, paced by
//! the `SLOW_STREAM` and `STALL_STREAM` markers, with every open stream counted for
//! [`MockUpstream::open_streams`](super::MockUpstream::open_streams).
//!
//! It only frames and paces what a dialect produced: it must not build or change event payloads,
//! and no task it starts may outlive its client connection or the server.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{SLOW_DELAY, STALL_LIMIT, Shared};

/// What a dialect handler produced: a whole JSON body, or SSE frames to write one by one.
pub(super) enum Answer {
    Json(Value),
    Sse(Vec<SseFrame>),
}

/// Which pacing markers the request carried.
#[derive(Clone, Copy)]
pub(super) struct Pacing {
    /// Delay every frame by [`SLOW_DELAY`].
    pub(super) slow: bool,
    /// Go silent after the first text delta, for up to [`STALL_LIMIT`].
    pub(super) stall: bool,
}

/// One encoded SSE event, and whether it carries answer text (a stall starts after the first).
pub(super) struct SseFrame {
    bytes: Bytes,
    is_text_delta: bool,
}

impl SseFrame {
    fn new(text: String) -> Self {
        SseFrame {
            bytes: text.into(),
            is_text_delta: false,
        }
    }

    /// `event: <name>` + `data:` lines, as Anthropic and the Responses API send them.
    pub(super) fn named(event: &str, data: &Value) -> Self {
        Self::new(format!("event: {event}\ndata: {data}\n\n"))
    }

    /// A bare `data:` line (Chat Completions).
    pub(super) fn data(data: &str) -> Self {
        Self::new(format!("data: {data}\n\n"))
    }

    /// A bare `data:` line ended by CRLF CRLF (Gemini).
    pub(super) fn data_crlf(data: &Value) -> Self {
        Self::new(format!("data: {data}\r\n\r\n"))
    }

    /// Marks the frame as carrying answer text when `is_text_delta` holds.
    pub(super) fn text_delta_if(mut self, is_text_delta: bool) -> Self {
        self.is_text_delta = is_text_delta;
        self
    }
}

/// Counts one open SSE response for as long as its body stream lives.
struct OpenStream(Arc<Shared>);

impl OpenStream {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.open_streams.fetch_add(1, Ordering::SeqCst);
        OpenStream(Arc::clone(shared))
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Writes each frame as soon as it is due. A client hang-up drops the body stream, and with it
/// any pending sleep, so no task outlives its connection.
pub(super) fn sse_response(
    shared: &Arc<Shared>,
    frames: Vec<SseFrame>,
    pacing: Pacing,
) -> Response {
    let open = OpenStream::new(shared);
    let stream = async_stream::stream! {
        let _open = open;
        let shutdown = _open.0.shutdown.clone();
        for frame in frames {
            if pacing.slow && !sleep_unless_shut_down(&shutdown, SLOW_DELAY).await {
                return;
            }
            yield Ok::<Bytes, Infallible>(frame.bytes);
            if pacing.stall && frame.is_text_delta {
                sleep_unless_shut_down(&shutdown, STALL_LIMIT).await;
                return;
            }
        }
    };
    let headers = [
        (header::CONTENT_TYPE, "text/event-stream"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, Body::from_stream(stream)).into_response()
}

/// Returns false when the server shuts down before `delay` has passed.
async fn sleep_unless_shut_down(shutdown: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = shutdown.cancelled() => false,
    }
}
