//! What every upstream dialect's outbound side has in common: the decoder
//! of a streamed answer, one server-sent event at a time, and how it ends;
//! the message of an error body in any provider's envelope; and the small
//! readers and writers of JSON the translators share. Pure.

use base64::Engine as _;
use serde_json::Value;

use crate::event::{Event, FinishReason};
use crate::turn::Image;

/// Turns a streamed answer into events, one server-sent event at a time.
pub trait StreamDecoder: Send {
    /// The events of one server-sent event (its `event:` name, if any, and
    /// its data).
    ///
    /// # Errors
    /// A description of data that is not this dialect's, or the error the
    /// upstream sent inside the stream.
    fn event(&mut self, name: Option<&str>, data: &str) -> Result<Vec<Event>, String>;

    /// How the answer ends, as seen so far.
    fn ending(&self) -> &Ending;

    /// The same, to update.
    fn ending_mut(&mut self) -> &mut Ending;

    /// Whether the answer is complete, so the stream may close now.
    fn finished(&self) -> bool {
        self.ending().finished()
    }

    /// The end of the stream: the finish event, once.
    fn end(&mut self) -> Vec<Event> {
        self.ending_mut().end()
    }

    /// Whether the finish event has been given: nothing more to read.
    fn ended(&self) -> bool {
        self.ending().ended()
    }
}

/// How a streamed answer ends: its finish reason once the upstream gave it,
/// and whether the finish event was given (it is given once).
#[derive(Debug, Default)]
pub struct Ending {
    reason: Option<FinishReason>,
    done: bool,
}

impl Ending {
    /// The upstream said why the answer ends.
    pub fn set(&mut self, reason: FinishReason) {
        self.reason = Some(reason);
    }

    /// Whether a finish reason was given.
    pub fn finished(&self) -> bool {
        self.reason.is_some()
    }

    /// The finish event (a natural stop when no reason came), once.
    pub fn end(&mut self) -> Vec<Event> {
        if std::mem::replace(&mut self.done, true) {
            return Vec::new();
        }
        vec![Event::Finish(self.reason.unwrap_or(FinishReason::Stop))]
    }

    /// Whether the finish event was given.
    pub fn ended(&self) -> bool {
        self.done
    }
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

/// The string at `key`, or `""`.
pub fn str_at<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// One event made of `text`, none when it is empty.
pub fn text_event(make: fn(String) -> Event, text: &str) -> Vec<Event> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![make(text.to_owned())]
    }
}

/// A tool call's arguments as the JSON object an upstream wants (`{}` when
/// empty).
///
/// # Errors
/// A message naming the call when they are not a JSON object.
pub fn arguments_object(id: &str, arguments: &str, upstream: &str) -> Result<Value, String> {
    match arguments.trim() {
        "" => Ok(Value::Object(serde_json::Map::new())),
        text => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| {
                format!(
                    "the arguments of tool call `{id}` are not a JSON object, \
                     which {upstream} upstream needs: {text}"
                )
            }),
    }
}

/// Bytes as standard base64.
pub fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Bytes as a base64 `data:` URI.
pub fn data_uri(media_type: &str, data: &[u8]) -> String {
    format!("data:{media_type};base64,{}", base64(data))
}

/// Where an image is, as OpenAI's APIs take it: its URL, or its bytes as a
/// `data:` URI.
pub fn image_url(image: &Image) -> String {
    match image {
        Image::Inline { media_type, data } => data_uri(media_type, data),
        Image::Url(url) => url.clone(),
    }
}

/// What the upstream translators' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::StreamDecoder;
    use crate::dialect::sse::SseDecoder;
    use crate::event::Event;
    use crate::turn::Turn;

    /// A Chat Completions request body as a turn.
    pub(crate) fn chat_turn(body: serde_json::Value) -> Turn {
        crate::dialect::openai_chat::to_turn(serde_json::from_value(body).unwrap(), None).unwrap()
    }

    /// The events of `stream` fed to `decoder` in pieces of `size` bytes
    /// through the SSE decoder, up to the finish event.
    ///
    /// # Errors
    /// The decoder's first error.
    pub(crate) fn decode_in_pieces(
        decoder: &mut dyn StreamDecoder,
        stream: &str,
        size: usize,
    ) -> Result<Vec<Event>, String> {
        let mut sse = SseDecoder::new(1 << 20);
        let mut events = Vec::new();
        for piece in stream.as_bytes().chunks(size) {
            for event in sse.push(piece).unwrap() {
                events.extend(decoder.event(event.event.as_deref(), &event.data)?);
                if decoder.ended() {
                    return Ok(events);
                }
            }
        }
        Ok(events)
    }
}
