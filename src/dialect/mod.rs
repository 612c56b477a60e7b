//! Wire dialects: pure translators between a protocol's JSON and the
//! `Turn`/`Event` vocabulary. No I/O, no clock: ids and timestamps are
//! passed in. Each dialect has its request parsing, its error envelope, and
//! a [`Codec`] that makes, per answer, a stateful [`Encoder`] (events in,
//! SSE frames out) and a [`Folder`] (events in, one body out). The request
//! pipeline (`server::pipeline`) drives them and knows no wire format.

pub mod anthropic;
pub mod fields;
pub mod gemini;
pub mod openai_chat;
pub mod openai_responses;
pub mod splice;
pub mod sse;
pub mod upstream;

#[cfg(test)]
pub(crate) mod testing;

use std::borrow::Cow;

use serde_json::Value;

use crate::error::Error;
use crate::event::Event;

/// What the pipeline knows about an answer before it starts.
#[derive(Debug, Clone)]
pub struct AnswerMeta {
    /// The request's id, for the answer's own id.
    pub request_id: String,
    /// Unix time of the answer, in seconds.
    pub created: u64,
    /// The model the answer is reported as.
    pub model: String,
}

/// One server-sent event: an optional event name and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// `event:` line, for dialects with named events.
    pub event: Option<Cow<'static, str>>,
    /// `data:` payload.
    pub data: String,
}

impl Frame {
    /// A frame of unnamed JSON data.
    pub fn data(value: &Value) -> Frame {
        Frame {
            event: None,
            data: value.to_string(),
        }
    }
}

/// Writes one streamed answer in a dialect. An answer passed through as
/// the upstream wrote it ([`Event::Verbatim`]) is the pipeline's to write:
/// its encoder is only asked for a failure or a keep-alive.
pub trait Encoder: Send {
    /// The frames that open the stream, written with the first event's.
    fn open(&mut self) -> Vec<Frame>;
    /// The frames for one event; [`Event::Finish`] gives the closing ones.
    fn event(&mut self, event: &Event) -> Vec<Frame>;
    /// The frame that reports a failure after the stream started.
    fn error(&mut self, error: &Error) -> Frame;
    /// The frames that keep a silent stream alive; none means an SSE
    /// comment (`: ping`), which every client skips.
    fn keepalive(&mut self) -> Vec<Frame> {
        Vec::new()
    }
    /// Whether it holds the whole answer until the end (Responses repeats
    /// it in its last event): the stream is then capped like a folded
    /// answer (`server.max_answer_bytes`).
    fn holds_answer(&self) -> bool {
        false
    }
}

/// Writes one non-streamed answer in a dialect.
pub trait Folder: Send {
    /// Takes one event of the answer.
    fn push(&mut self, event: &Event);
    /// The whole answer, once it finished.
    fn body(&self) -> Value;
}

/// A dialect's answers to one request (it knows the request's options,
/// such as whether a usage chunk was asked for).
pub trait Codec: Send + Sync {
    /// The writer of a streamed answer.
    fn encoder(&self, meta: AnswerMeta) -> Box<dyn Encoder>;
    /// The writer of a folded answer.
    fn folder(&self, meta: AnswerMeta) -> Box<dyn Folder>;
    /// How a streamed answer's frames go on the wire.
    fn framing(&self) -> Framing {
        Framing::Sse
    }
}

/// How a stream's frames go on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Server-sent events (`text/event-stream`).
    Sse,
    /// One JSON array whose elements are the frames' data, written as it
    /// grows (`application/json`; Gemini's stream without `alt=sse`).
    JsonArray,
}

/// A tool call's arguments as the JSON object the dialects that write them
/// whole need (Anthropic's `input`, Gemini's `args`); arguments that are
/// not one (a backend's slip) are kept whole under `arguments`.
pub fn arguments_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(object @ Value::Object(_)) => object,
        _ => {
            tracing::warn!("a tool call's arguments are not a JSON object; sent as `arguments`");
            serde_json::json!({"arguments": arguments})
        }
    }
}
