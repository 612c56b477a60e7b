//! `POST /v1/responses`: the OpenAI Responses request parsed into a `Turn`
//! (after the conversation its `previous_response_id` continues), answered
//! through the shared pipeline with the Responses codec. Responses are kept
//! ([`store::ResponseStore`]) unless the client says `store: false`; a
//! continued conversation is keyed by its first response's id, so a warm
//! backend keeps one process on it. A Responses upstream gets the request
//! as sent, and an id the gateway does not know is left for it to resolve.

pub mod store;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::auth::Snapshot;
use super::chat::session_header;
use super::extract;
use super::pipeline::{self, Parsed};
use super::request_id::RequestId;
use crate::dialect::openai_responses::{
    self, ECHOED, ResponsesCodec, ResponsesRequest, new_response_id,
};
use crate::dialect::{AnswerMeta, Codec, Encoder, Folder, Frame};
use crate::error::Error;
use crate::event::Event;
use crate::state::AppState;
use crate::turn::{Message, Native, Part, Role, Wire};
use serde_json::{Map, Value};
use store::{Lookup, ResponseStore, TTL};

/// The path, for the log's replayable curl command.
const PATH: &str = "/v1/responses";
/// Longest `previous_response_id` taken (never echoed past it).
const MAX_ID_BYTES: usize = 256;

pub(super) async fn create(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(Snapshot(config)): Extension<Snapshot>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let store = Arc::clone(&state.responses);
    let max_bytes = config.settings.max_body_bytes;
    pipeline::serve(&state, config, request_id, body, PATH, |bytes| {
        parse(bytes, &store, max_bytes, session_header(&headers))
    })
    .await
}

/// The request as a turn after the conversation it continues, and the
/// codec that answers it (and keeps the answer, unless `store: false`). A
/// continued conversation may hold what one request body may (`max_bytes`).
fn parse(
    bytes: &Bytes,
    store: &Arc<ResponseStore>,
    max_bytes: usize,
    session: Option<String>,
) -> Result<Parsed, Error> {
    let mut request: ResponsesRequest = extract::json(bytes)?;
    let input = openai_responses::input(request.input.take())?;
    let id = new_response_id();
    let mut echo: Map<String, Value> = ECHOED
        .iter()
        .filter_map(|key| Some(((*key).to_owned(), request.extra.get(*key)?.clone())))
        .collect();
    if let Some(instructions) = &request.instructions {
        echo.insert("instructions".into(), instructions.clone().into());
    }
    let keep = request.store.unwrap_or(true);
    let previous = request
        .previous_response_id
        .clone()
        .filter(|p| !p.is_empty());
    if previous.as_ref().is_some_and(|p| p.len() > MAX_ID_BYTES) {
        return Err(Error::InvalidRequest(format!(
            "`previous_response_id` is longer than a response id may be ({MAX_ID_BYTES} bytes)"
        )));
    }
    let continued = Continued::look_up(store, previous.as_deref(), max_bytes)?;
    // The new input is kept with the answer, unless nothing is kept.
    let kept_input = if keep { input.clone() } else { Vec::new() };
    let mut turn = openai_responses::to_turn(request, continued.messages, input, session)?;
    if let Some(chain) = continued.chain.clone().filter(|_| turn.session.is_none()) {
        turn.session = Some(chain);
        turn.implied_session = true;
    }
    // An id the gateway keeps is continued here; one it does not may be a
    // Responses upstream's own, which only that upstream can continue.
    if continued.chain.is_none() {
        turn.native = Some(Native {
            wire: Wire::OpenAiResponses,
            body: bytes.clone(),
            headers: Vec::new(),
        });
    }
    turn.native_only = continued.unknown.map(|p| {
        format!(
            "`previous_response_id` {p:?} is not a response the gateway keeps (they are \
             kept for {} minutes unless sent with `store: false`); send the whole \
             conversation in `input` instead",
            TTL.as_secs() / 60
        )
    });
    let codec = ResponsesCodec {
        id: id.clone(),
        previous_response_id: previous.clone(),
        store: keep,
        echo,
    };
    if !keep {
        return Ok(Parsed {
            turn,
            codec: Box::new(codec),
        });
    }
    let record = Record {
        store: Arc::clone(store),
        chain: continued.chain.unwrap_or_else(|| id.clone()),
        id,
        previous,
        input: kept_input,
    };
    Ok(Parsed {
        turn,
        codec: Box::new(Keeping {
            inner: codec,
            record: Arc::new(record),
        }),
    })
}

/// The conversation a request continues.
struct Continued {
    /// Its messages so far.
    messages: Vec<Message>,
    /// Its key, when the gateway keeps it.
    chain: Option<String>,
    /// The id asked for, when the gateway does not keep it.
    unknown: Option<String>,
}

impl Continued {
    fn look_up(
        store: &ResponseStore,
        previous: Option<&str>,
        max_bytes: usize,
    ) -> Result<Continued, Error> {
        let Some(previous) = previous else {
            return Ok(Continued {
                messages: Vec::new(),
                chain: None,
                unknown: None,
            });
        };
        match store.history(previous, max_bytes) {
            Lookup::Found(history) => Ok(Continued {
                messages: history.messages,
                chain: Some(history.chain),
                unknown: None,
            }),
            Lookup::Unknown => Ok(Continued {
                messages: Vec::new(),
                chain: None,
                unknown: Some(previous.to_owned()),
            }),
            Lookup::TooLarge => Err(Error::TooLarge(format!(
                "the conversation up to this `previous_response_id` is larger than a request \
                 may be ({max_bytes} bytes, server.max_body_bytes); start a new one"
            ))),
        }
    }
}

/// What a kept response is filed with.
#[derive(Debug)]
struct Record {
    store: Arc<ResponseStore>,
    id: String,
    chain: String,
    previous: Option<String>,
    input: Vec<Message>,
}

impl Record {
    /// Keeps the response once its answer finished.
    fn keep(&self, answer: &Answer) {
        if answer.too_large {
            return;
        }
        let mut messages = self.input.clone();
        messages.push(Message {
            role: Role::Assistant,
            parts: answer.parts.clone(),
            tool_call_id: None,
            name: None,
            extra: serde_json::Map::new(),
        });
        self.store.keep(
            &self.id,
            self.previous.clone(),
            self.chain.clone(),
            messages,
        );
    }
}

/// The Responses codec, keeping each finished answer.
struct Keeping {
    inner: ResponsesCodec,
    record: Arc<Record>,
}

impl Codec for Keeping {
    fn encoder(&self, meta: AnswerMeta) -> Box<dyn Encoder> {
        Box::new(KeepingEncoder {
            inner: self.inner.encoder(meta),
            answer: Answer::default(),
            record: Arc::clone(&self.record),
        })
    }

    fn folder(&self, meta: AnswerMeta) -> Box<dyn Folder> {
        Box::new(KeepingFolder {
            inner: self.inner.folder(meta),
            answer: Answer::default(),
            record: Arc::clone(&self.record),
        })
    }
}

struct KeepingEncoder {
    inner: Box<dyn Encoder>,
    answer: Answer,
    record: Arc<Record>,
}

impl Encoder for KeepingEncoder {
    fn open(&mut self) -> Vec<Frame> {
        self.inner.open()
    }

    fn event(&mut self, event: &Event) -> Vec<Frame> {
        if self.answer.push(event) {
            self.record.keep(&self.answer);
        }
        self.inner.event(event)
    }

    fn error(&mut self, error: &Error) -> Frame {
        self.inner.error(error)
    }

    fn keepalive(&mut self) -> Vec<Frame> {
        self.inner.keepalive()
    }

    fn holds_answer(&self) -> bool {
        self.inner.holds_answer()
    }
}

struct KeepingFolder {
    inner: Box<dyn Folder>,
    answer: Answer,
    record: Arc<Record>,
}

impl Folder for KeepingFolder {
    fn push(&mut self, event: &Event) {
        if self.answer.push(event) {
            self.record.keep(&self.answer);
        }
        self.inner.push(event);
    }

    fn body(&self) -> serde_json::Value {
        self.inner.body()
    }
}

/// An answer as the assistant message it adds to the conversation.
#[derive(Debug, Default)]
struct Answer {
    parts: Vec<Part>,
    /// Where each tool call is in `parts`, by the call's index.
    calls: Vec<(usize, usize)>,
    bytes: usize,
    too_large: bool,
}

impl Answer {
    /// Takes one event; true once the answer finished.
    fn push(&mut self, event: &Event) -> bool {
        if self.too_large {
            return matches!(event, Event::Finish(_));
        }
        match event {
            Event::TextDelta(delta) => match self.parts.last_mut() {
                Some(Part::Text(text)) => text.push_str(delta),
                _ => self.parts.push(Part::Text(delta.clone())),
            },
            Event::ReasoningDelta(delta) => match self.parts.last_mut() {
                Some(Part::Reasoning {
                    text,
                    signature: None,
                }) => text.push_str(delta),
                _ => self.parts.push(Part::Reasoning {
                    text: delta.clone(),
                    signature: None,
                }),
            },
            Event::ReasoningSignature(signed) => match self.parts.last_mut() {
                Some(Part::Reasoning { signature, .. }) if signature.is_none() => {
                    *signature = Some(signed.clone());
                }
                _ => self.parts.push(Part::Reasoning {
                    text: String::new(),
                    signature: Some(signed.clone()),
                }),
            },
            Event::RedactedReasoning(data) => {
                self.parts.push(Part::RedactedReasoning(data.clone()));
            }
            Event::ToolCallStart { index, id, name } => {
                self.calls.push((*index, self.parts.len()));
                self.parts.push(Part::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            Event::ToolCallArguments { index, fragment } => {
                let at = self.calls.iter().rfind(|(call, _)| call == index);
                if let Some(Part::ToolCall { arguments, .. }) =
                    at.and_then(|(_, at)| self.parts.get_mut(*at))
                {
                    arguments.push_str(fragment);
                }
            }
            Event::Finish(_) => return true,
            // A passed-through answer never reaches a codec: the upstream's
            // own response, under its own id, is not kept here.
            Event::Verbatim { .. }
            | Event::Session(_)
            | Event::Usage(_)
            | Event::StopSequence(_) => {}
        }
        self.bytes += event_bytes(event);
        if self.bytes > store::MAX_RESPONSE_BYTES {
            tracing::warn!(
                "a response grew past {} bytes: it is answered, not kept",
                store::MAX_RESPONSE_BYTES
            );
            self.too_large = true;
            self.parts = Vec::new();
        }
        false
    }
}

/// The bytes an event adds to an answer.
fn event_bytes(event: &Event) -> usize {
    match event {
        Event::TextDelta(text)
        | Event::ReasoningDelta(text)
        | Event::ReasoningSignature(text)
        | Event::RedactedReasoning(text) => text.len(),
        Event::ToolCallStart { id, name, .. } => id.len() + name.len(),
        Event::ToolCallArguments { fragment, .. } => fragment.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_keeps_each_calls_arguments_with_its_latest_start() {
        let mut answer = Answer::default();
        let start = |id: &str| Event::ToolCallStart {
            index: 0,
            id: id.into(),
            name: "f".into(),
        };
        let args = |text: &str| Event::ToolCallArguments {
            index: 0,
            fragment: text.into(),
        };
        for event in [start("a"), args("{1}"), start("b"), args("{2}")] {
            assert!(!answer.push(&event));
        }
        assert!(answer.push(&Event::Finish(crate::event::FinishReason::ToolCalls)));
        let arguments: Vec<&str> = answer
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::ToolCall { arguments, .. } => Some(arguments.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(arguments, ["{1}", "{2}"]);
    }
}
