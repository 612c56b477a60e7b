//! `POST /v1/responses`: the OpenAI Responses request parsed into a `Turn`
//! (after the conversation its `previous_response_id` continues), answered
//! through the shared pipeline with the Responses codec. Responses are kept
//! ([`store::ResponseStore`]) unless the client says `store: false`; a
//! continued conversation is keyed by its first response's id, so a warm
//! backend keeps one process on it. A Responses upstream gets the request
//! as sent, and an id the gateway does not know is left for it to resolve.

pub mod store;

use std::borrow::Cow;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::auth::Snapshot;
use super::chat::session_header;
use super::extract;
use super::pipeline::{self, Endpoint, Parsed};
use super::request_id::RequestId;
use crate::dialect::openai_responses::{self, ResponsesCodec, ResponsesRequest, response_id};
use crate::dialect::{AnswerMeta, Codec, Encoder, Folder, Frame, openai_chat};
use crate::error::Error;
use crate::event::Event;
use crate::state::AppState;
use crate::turn::{Message, Native, Part, Role, Wire};
use store::{ResponseStore, TTL};

const ENDPOINT: Endpoint = Endpoint {
    path: Cow::Borrowed("/v1/responses"),
    error_body: openai_chat::error_body,
};

pub(super) async fn create(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(Snapshot(config)): Extension<Snapshot>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let id = response_id(&request_id);
    let responses = Arc::clone(&state.responses);
    pipeline::serve(&state, config, request_id, body, &ENDPOINT, |bytes| {
        let mut request: ResponsesRequest = extract::json(bytes)?;
        let input = openai_responses::input(request.input.take())?;
        let store = request.store.unwrap_or(true);
        let previous = request
            .previous_response_id
            .clone()
            .filter(|p| !p.is_empty());
        let history = previous.as_deref().map(|p| (p, responses.history(p)));
        let (messages, chain, unknown) = match history {
            Some((_, Some(history))) => (history.messages, Some(history.chain), None),
            Some((p, None)) => (Vec::new(), None, Some(p.to_owned())),
            None => (Vec::new(), None, None),
        };
        let mut turn =
            openai_responses::to_turn(request, messages, input.clone(), session_header(&headers))?;
        if let Some(chain) = chain.clone().filter(|_| turn.session.is_none()) {
            turn.session = Some(chain);
            turn.implied_session = true;
        }
        // An id the gateway keeps is continued here; one it does not may
        // be a Responses upstream's own.
        if chain.is_none() {
            turn.native = Some(Native {
                wire: Wire::OpenAiResponses,
                body: bytes.clone(),
                headers: Vec::new(),
            });
        }
        turn.native_only = unknown.map(|p| {
            format!(
                "`previous_response_id` {p:?} is not a response the gateway keeps (they are \
                 kept for {} minutes unless sent with `store: false`); send the whole \
                 conversation in `input` instead",
                TTL.as_secs() / 60
            )
        });
        let codec = ResponsesCodec {
            previous_response_id: previous.clone(),
            store,
        };
        let codec: Box<dyn Codec> = if store {
            Box::new(Keeping {
                inner: codec,
                record: Arc::new(Record {
                    store: Arc::clone(&responses),
                    id: id.clone(),
                    chain: chain.unwrap_or_else(|| id.clone()),
                    previous,
                    input,
                }),
            })
        } else {
            Box::new(codec)
        };
        Ok(Parsed { turn, codec })
    })
    .await
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
        if answer.verbatim {
            // The upstream's own response, under its own id.
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

    fn verbatim(&self) -> Option<&str> {
        self.inner.verbatim()
    }
}

/// An answer as the assistant message it adds to the conversation.
#[derive(Debug, Default)]
struct Answer {
    parts: Vec<Part>,
    verbatim: bool,
}

impl Answer {
    /// Takes one event; true once the answer finished.
    fn push(&mut self, event: &Event) -> bool {
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
                self.parts.push(Part::RedactedReasoning(data.clone()))
            }
            Event::ToolCallStart { id, name, .. } => self.parts.push(Part::ToolCall {
                id: id.clone(),
                name: name.clone(),
                arguments: String::new(),
            }),
            Event::ToolCallArguments { index, fragment } => {
                let calls = self
                    .parts
                    .iter_mut()
                    .filter(|p| matches!(p, Part::ToolCall { .. }));
                if let Some(Part::ToolCall { arguments, .. }) = calls.into_iter().nth(*index) {
                    arguments.push_str(fragment);
                }
            }
            Event::Verbatim { .. } => self.verbatim = true,
            Event::Finish(_) => return true,
            Event::Session(_) | Event::Usage(_) => {}
        }
        false
    }
}
