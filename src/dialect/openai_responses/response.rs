//! Events → OpenAI Responses answers: the `response.*` events of a stream
//! (each with its `sequence_number`), or one `response` object. Pure: the
//! ids and time are made from the request's id and the given creation time.
//!
//! Output items follow one another: reasoning (its summary text, and its
//! encrypted content when the backend gives one), a message with one
//! `output_text` part, and one `function_call` item per tool call. A stream
//! ends with `response.completed` (or `response.incomplete` when the
//! output limit or a content filter cut it), whose response holds the whole
//! output, and a failure after the start with `response.failed`. Errors
//! before the start take OpenAI's envelope.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use crate::dialect::{AnswerMeta, Codec, Encoder, Folder, Frame};
use crate::error::Error;
use crate::event::{Event, FinishReason, Usage};

/// Responses answers to one request: the response's id and what it
/// echoes of the request.
#[derive(Debug, Clone, Default)]
pub struct ResponsesCodec {
    /// The response's id (`resp_…`), random: it is what continues it.
    pub id: String,
    /// The response it continues.
    pub previous_response_id: Option<String>,
    /// Whether the gateway keeps it to be continued.
    pub store: bool,
    /// Request fields the response object repeats ([`ECHOED`], and
    /// `instructions`), as sent.
    pub echo: Map<String, Value>,
}

/// The request fields kept apart from the vocabulary's that a response
/// object repeats (`instructions`, read by the request, is repeated too).
pub const ECHOED: &[&str] = &[
    "max_output_tokens",
    "metadata",
    "parallel_tool_calls",
    "reasoning",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_p",
    "truncation",
    "user",
];

impl Codec for ResponsesCodec {
    fn encoder(&self, meta: AnswerMeta) -> Box<dyn Encoder> {
        Box::new(EventEncoder {
            output: Output::new(meta, self.clone()),
            sequence: 0,
            open_item: None,
        })
    }

    fn folder(&self, meta: AnswerMeta) -> Box<dyn Folder> {
        Box::new(ResponseFolder {
            output: Output::new(meta, self.clone()),
        })
    }
}

/// One output item.
#[derive(Debug, Clone)]
enum Item {
    Reasoning {
        summary: String,
        encrypted: Option<String>,
    },
    Message {
        text: String,
    },
    Call {
        /// The tool call's index in the answer.
        index: usize,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// The whole answer as it grows, and what the response says of itself.
#[derive(Debug)]
struct Output {
    meta: AnswerMeta,
    request: ResponsesCodec,
    items: Vec<Item>,
    usage: Usage,
    finish: Option<FinishReason>,
}

impl Output {
    fn new(meta: AnswerMeta, request: ResponsesCodec) -> Output {
        Output {
            meta,
            request,
            items: Vec::new(),
            usage: Usage::default(),
            finish: None,
        }
    }

    /// Takes one event; says which item it went to, and whether that item
    /// is new.
    fn push(&mut self, event: &Event) -> Option<(usize, bool)> {
        let last = self.items.len().wrapping_sub(1);
        match event {
            Event::ReasoningDelta(text) => match self.items.last_mut() {
                Some(Item::Reasoning {
                    summary,
                    encrypted: None,
                }) => {
                    summary.push_str(text);
                    Some((last, false))
                }
                _ => Some(self.add(Item::Reasoning {
                    summary: text.clone(),
                    encrypted: None,
                })),
            },
            Event::RedactedReasoning(data) => match self.items.last_mut() {
                Some(Item::Reasoning { encrypted, .. }) if encrypted.is_none() => {
                    *encrypted = Some(data.clone());
                    Some((last, false))
                }
                _ => Some(self.add(Item::Reasoning {
                    summary: String::new(),
                    encrypted: Some(data.clone()),
                })),
            },
            Event::TextDelta(delta) => match self.items.last_mut() {
                Some(Item::Message { text }) => {
                    text.push_str(delta);
                    Some((last, false))
                }
                _ => Some(self.add(Item::Message {
                    text: delta.clone(),
                })),
            },
            Event::ToolCallStart { index, id, name } => Some(self.add(Item::Call {
                index: *index,
                call_id: id.clone(),
                name: name.clone(),
                arguments: String::new(),
            })),
            Event::ToolCallArguments { index, fragment } => {
                let position = self
                    .items
                    .iter()
                    .rposition(|item| matches!(item, Item::Call { index: i, .. } if i == index))?;
                if let Item::Call { arguments, .. } = &mut self.items[position] {
                    arguments.push_str(fragment);
                }
                Some((position, false))
            }
            Event::Usage(usage) => {
                self.usage.update(usage);
                None
            }
            Event::Finish(reason) => {
                self.finish = Some(*reason);
                None
            }
            // Signed reasoning has no Responses form (its text is kept).
            Event::ReasoningSignature(_)
            | Event::Session(_)
            | Event::StopSequence(_)
            | Event::Verbatim { .. } => None,
        }
    }

    fn add(&mut self, item: Item) -> (usize, bool) {
        self.items.push(item);
        (self.items.len() - 1, true)
    }

    fn item_id(&self, position: usize) -> String {
        let prefix = match self.items[position] {
            Item::Reasoning { .. } => "rs",
            Item::Message { .. } => "msg",
            Item::Call { .. } => "fc",
        };
        let id = &self.request.id;
        format!(
            "{prefix}_{}_{position}",
            id.strip_prefix("resp_").unwrap_or(id)
        )
    }

    /// Item `position` as the output holds it (`done`: completed).
    fn item(&self, position: usize, done: bool) -> Value {
        let id = self.item_id(position);
        let status = if done { "completed" } else { "in_progress" };
        match &self.items[position] {
            Item::Reasoning { summary, encrypted } => {
                let mut item = json!({"id": id, "type": "reasoning", "summary": []});
                if done && !summary.is_empty() {
                    item["summary"] = json!([{"type": "summary_text", "text": summary}]);
                }
                if let Some(data) = encrypted.as_ref().filter(|_| done) {
                    item["encrypted_content"] = json!(data);
                }
                item
            }
            Item::Message { text } => json!({
                "id": id, "type": "message", "status": status, "role": "assistant",
                "content": if done { json!([output_text(text)]) } else { json!([]) },
            }),
            Item::Call {
                call_id,
                name,
                arguments,
                ..
            } => json!({
                "id": id, "type": "function_call", "status": status, "call_id": call_id,
                "name": name, "arguments": if done { arguments.as_str() } else { "" },
            }),
        }
    }

    /// The response object: `status` and, once done, the whole output.
    fn response(&self, status: &str, error: Option<Value>) -> Value {
        let done = status != "in_progress";
        let output: Vec<Value> = if done {
            (0..self.items.len()).map(|i| self.item(i, true)).collect()
        } else {
            Vec::new()
        };
        let incomplete = match self.finish {
            Some(FinishReason::Length) => json!({"reason": "max_output_tokens"}),
            Some(FinishReason::ContentFilter) => json!({"reason": "content_filter"}),
            _ => Value::Null,
        };
        let mut response = json!({
            "id": self.request.id,
            "object": "response",
            "created_at": self.meta.created,
            "status": status,
            "error": error,
            "incomplete_details": incomplete,
            "model": self.meta.model,
            "output": output,
            "parallel_tool_calls": true,
            "previous_response_id": self.request.previous_response_id,
            "store": self.request.store,
            "tool_choice": "auto",
            "tools": [],
            "usage": Value::Null,
        });
        for (key, value) in &self.request.echo {
            response[key] = value.clone();
        }
        if done && !self.usage.is_empty() {
            response["usage"] = usage_json(&self.usage);
        }
        response
    }

    /// `completed`, or `incomplete` when the answer was cut.
    fn final_status(&self) -> &'static str {
        match self.finish {
            Some(FinishReason::Length | FinishReason::ContentFilter) => "incomplete",
            _ => "completed",
        }
    }
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A new response's id: random, as it is what continues the response.
pub fn new_response_id() -> String {
    format!("resp_{}", uuid::Uuid::new_v4().simple())
}

/// The events of one streamed response.
#[derive(Debug)]
struct EventEncoder {
    output: Output,
    sequence: u64,
    /// The item being written.
    open_item: Option<usize>,
}

impl EventEncoder {
    fn frame(&mut self, kind: &'static str, mut data: Value) -> Frame {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        Frame {
            event: Some(Cow::Borrowed(kind)),
            data: data.to_string(),
        }
    }

    /// The frames that close the open item.
    fn close(&mut self, frames: &mut Vec<Frame>) {
        let Some(position) = self.open_item.take() else {
            return;
        };
        let id = self.output.item_id(position);
        let at = json!(position);
        match self.output.items[position].clone() {
            Item::Reasoning { summary, .. } => {
                if !summary.is_empty() {
                    let base = json!({"item_id": id, "output_index": at, "summary_index": 0});
                    let mut done = base.clone();
                    done["text"] = json!(summary);
                    frames.push(self.frame("response.reasoning_summary_text.done", done));
                    let mut part = base;
                    part["part"] = json!({"type": "summary_text", "text": summary});
                    frames.push(self.frame("response.reasoning_summary_part.done", part));
                }
            }
            Item::Message { text } => {
                let base = json!({"item_id": id, "output_index": at, "content_index": 0});
                let mut done = base.clone();
                done["text"] = json!(text);
                done["logprobs"] = json!([]);
                frames.push(self.frame("response.output_text.done", done));
                let mut part = base;
                part["part"] = output_text(&text);
                frames.push(self.frame("response.content_part.done", part));
            }
            Item::Call {
                arguments, name, ..
            } => {
                let done = json!({"item_id": id, "output_index": at, "name": name,
                                  "arguments": arguments});
                frames.push(self.frame("response.function_call_arguments.done", done));
            }
        }
        let item = self.output.item(position, true);
        frames.push(self.frame(
            "response.output_item.done",
            json!({"output_index": at, "item": item}),
        ));
    }

    /// The frames that open item `position`.
    fn open_item(&mut self, position: usize, frames: &mut Vec<Frame>) {
        self.close(frames);
        self.open_item = Some(position);
        let item = self.output.item(position, false);
        let id = self.output.item_id(position);
        frames.push(self.frame(
            "response.output_item.added",
            json!({"output_index": position, "item": item}),
        ));
        let base = json!({"item_id": id, "output_index": position});
        match &self.output.items[position] {
            Item::Reasoning { summary, .. } if !summary.is_empty() => {
                let mut part = base;
                part["summary_index"] = json!(0);
                part["part"] = json!({"type": "summary_text", "text": ""});
                frames.push(self.frame("response.reasoning_summary_part.added", part));
            }
            Item::Message { .. } => {
                let mut part = base;
                part["content_index"] = json!(0);
                part["part"] = output_text("");
                frames.push(self.frame("response.content_part.added", part));
            }
            _ => {}
        }
    }

    /// The delta frame of `event` in item `position`.
    fn delta(&mut self, position: usize, event: &Event) -> Option<Frame> {
        let id = self.output.item_id(position);
        let (kind, mut data) = match event {
            Event::TextDelta(text) => (
                "response.output_text.delta",
                json!({"content_index": 0, "delta": text, "logprobs": []}),
            ),
            Event::ReasoningDelta(text) => (
                "response.reasoning_summary_text.delta",
                json!({"summary_index": 0, "delta": text}),
            ),
            Event::ToolCallArguments { fragment, .. } => (
                "response.function_call_arguments.delta",
                json!({"delta": fragment}),
            ),
            _ => return None,
        };
        data["item_id"] = json!(id);
        data["output_index"] = json!(position);
        Some(self.frame(kind, data))
    }
}

impl Encoder for EventEncoder {
    fn open(&mut self) -> Vec<Frame> {
        let response = self.output.response("in_progress", None);
        vec![
            self.frame("response.created", json!({"response": response})),
            self.frame("response.in_progress", json!({"response": response})),
        ]
    }

    fn event(&mut self, event: &Event) -> Vec<Frame> {
        let mut frames = Vec::new();
        if let Event::Finish(_) = event {
            self.output.push(event);
            self.close(&mut frames);
            let status = self.output.final_status();
            let response = self.output.response(status, None);
            let kind = if status == "completed" {
                "response.completed"
            } else {
                "response.incomplete"
            };
            frames.push(self.frame(kind, json!({"response": response})));
            return frames;
        }
        let Some((position, new)) = self.output.push(event) else {
            return frames;
        };
        if new {
            self.open_item(position, &mut frames);
        }
        frames.extend(self.delta(position, event));
        if matches!(event, Event::RedactedReasoning(_)) {
            self.close(&mut frames);
        }
        frames
    }

    fn holds_answer(&self) -> bool {
        true
    }

    fn error(&mut self, error: &Error) -> Frame {
        let body = crate::dialect::openai_chat::error_body(error);
        let failure = json!({"code": error.code(), "message": body["error"]["message"]});
        let response = self.output.response("failed", Some(failure));
        self.frame("response.failed", json!({"response": response}))
    }
}

/// One response object folded from the events.
#[derive(Debug)]
struct ResponseFolder {
    output: Output,
}

impl Folder for ResponseFolder {
    fn push(&mut self, event: &Event) {
        self.output.push(event);
    }

    fn body(&self) -> Value {
        self.output.response(self.output.final_status(), None)
    }
}

/// Responses `usage`: cached tokens are part of the input, reasoning
/// tokens part of the output.
pub fn usage_json(usage: &Usage) -> Value {
    let input = usage.input_tokens.unwrap_or(0);
    let output = usage.output_tokens.unwrap_or(0);
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens.unwrap_or(0)},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens.unwrap_or(0)},
        "total_tokens": input.saturating_add(output),
    })
}

#[cfg(test)]
mod tests;
