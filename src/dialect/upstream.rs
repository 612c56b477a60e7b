//! What every upstream dialect's outbound side has in common: the decoder
//! of a streamed answer, one server-sent event at a time, and the message
//! of an error body in any provider's envelope. Pure.

use serde_json::Value;

use crate::event::Event;

/// Turns a streamed answer into events, one server-sent event at a time.
pub trait StreamDecoder: Send {
    /// The events of one server-sent event (its `event:` name, if any, and
    /// its data).
    ///
    /// # Errors
    /// A description of data that is not this dialect's, or the error the
    /// upstream sent inside the stream.
    fn event(&mut self, name: Option<&str>, data: &str) -> Result<Vec<Event>, String>;

    /// Whether the answer is complete, so the stream may close now.
    fn finished(&self) -> bool;

    /// The end of the stream: the finish event, once.
    fn end(&mut self) -> Vec<Event>;

    /// Whether the finish event has been given: nothing more to read.
    fn ended(&self) -> bool;
}

/// The message of an upstream's error body (OpenAI, Anthropic and Google
/// envelopes, or a bare string), or its text.
pub fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(json) => json.get("error").map_or_else(
            || {
                json.get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| json.to_string(), str::to_owned)
            },
            error_text,
        ),
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    }
}

/// The text of an `error` value: a string, or an object's `message`.
pub fn error_text(error: &Value) -> String {
    match error {
        Value::String(text) => text.clone(),
        _ => error
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| error.to_string(), str::to_owned),
    }
}

/// The index of a tool call among the answer's calls, for content blocks
/// or items whose positions count other kinds too.
#[derive(Debug, Default)]
pub struct CallIndexes {
    /// By the upstream's position of the block: the call's index.
    by_position: std::collections::HashMap<u64, usize>,
}

impl CallIndexes {
    /// Numbers a new call at `position`.
    pub fn start(&mut self, position: u64) -> usize {
        let index = self.by_position.len();
        self.by_position.insert(position, index);
        index
    }

    /// The call at `position`, if one was started there.
    pub fn get(&self, position: u64) -> Option<usize> {
        self.by_position.get(&position).copied()
    }

    /// Whether any call was started.
    pub fn any(&self) -> bool {
        !self.by_position.is_empty()
    }
}
