//! Reads an SSE response as it arrives, keeping each event's arrival time
//! and the keep-alive comments, so tests can assert on incremental delivery.

use std::time::Instant;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use serde_json::Value;

/// One SSE block.
#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    /// `event:` name, if any.
    pub(crate) event: Option<String>,
    /// The `data:` payload (lines joined), empty for comments.
    pub(crate) data: String,
    /// Comment lines (`: ping`).
    pub(crate) comment: Option<String>,
    /// When it arrived.
    pub(crate) at: Instant,
}

impl SseEvent {
    /// The payload as JSON (`Null` if it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// An SSE response being read.
pub(crate) struct SseReader {
    bytes: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    /// Reads `response`'s body.
    pub(crate) fn new(response: reqwest::Response) -> SseReader {
        SseReader {
            bytes: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event or comment; `None` at the end of the body.
    pub(crate) async fn next(&mut self) -> Option<SseEvent> {
        loop {
            let normalized = self.buffer.replace("\r\n", "\n");
            if let Some((block, rest)) = normalized.split_once("\n\n") {
                let block = block.to_owned();
                self.buffer = rest.to_owned();
                return Some(parse(&block));
            }
            match self.bytes.next().await {
                Some(Ok(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => {
                    if self.buffer.trim().is_empty() {
                        return None;
                    }
                    let block = std::mem::take(&mut self.buffer);
                    return Some(parse(&block));
                }
            }
        }
    }

    /// Every remaining event, until the body ends.
    pub(crate) async fn collect(mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(event) = self.next().await {
            out.push(event);
        }
        out
    }
}

fn parse(block: &str) -> SseEvent {
    let mut event = SseEvent {
        event: None,
        data: String::new(),
        comment: None,
        at: Instant::now(),
    };
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            event.comment = Some(comment.trim().to_owned());
        } else if let Some(name) = line.strip_prefix("event:") {
            event.event = Some(name.trim().to_owned());
        } else if let Some(data) = line.strip_prefix("data:") {
            if !event.data.is_empty() {
                event.data.push('\n');
            }
            event.data.push_str(data.strip_prefix(' ').unwrap_or(data));
        }
    }
    event
}

/// The text of chat chunks' `delta.content`, concatenated.
pub(crate) fn content(events: &[SseEvent]) -> String {
    delta_field(events, "content")
}

/// The text of chat chunks' `delta.reasoning_content`, concatenated.
pub(crate) fn reasoning(events: &[SseEvent]) -> String {
    delta_field(events, "reasoning_content")
}

/// The chat chunks whose `delta` has non-empty text in any of `fields`.
pub(crate) fn chunks_with<'a>(events: &'a [SseEvent], fields: &[&str]) -> Vec<&'a SseEvent> {
    events
        .iter()
        .filter(|e| {
            let delta = &e.json()["choices"][0]["delta"];
            fields
                .iter()
                .any(|field| delta[field].as_str().is_some_and(|t| !t.is_empty()))
        })
        .collect()
}

fn delta_field(events: &[SseEvent], field: &str) -> String {
    events
        .iter()
        .filter_map(|e| {
            e.json()["choices"][0]["delta"][field]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}
