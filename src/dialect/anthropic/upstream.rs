//! The outbound side of Anthropic Messages: a [`Turn`] as the `POST
//! /v1/messages` body, and its answer (whole, or as named server-sent
//! events) as [`Event`]s. Pure.
//!
//! System and developer messages become `system`; tool results, in a `tool`
//! message or inside one, become `tool_result` blocks of a user message;
//! consecutive messages of one side are merged, as the API wants them
//! alternating. Reasoning the client sends back with its signature becomes
//! `thinking` again (unsigned reasoning cannot be, and is left out), and the
//! answer's signatures and redacted blocks come out as their own events.
//! Usage has OpenAI's meaning: the prompt count includes cache reads and
//! writes.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::dialect::upstream::{
    CallIndexes, Ending, StreamDecoder, arguments_object, base64, error_text, str_at, text_event,
};
use crate::event::{Event, FinishReason, Usage};
use crate::turn::{Effort, File, Image, Message, Part, Role, ToolChoice, Turn};

/// `max_tokens` when the client sets none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 8192;
/// The largest `max_tokens` the gateway picks by itself with thinking on.
const MAX_DEFAULT_WITH_THINKING: u64 = 32_000;
/// The smallest thinking budget the API takes.
const MIN_THINKING_BUDGET: u64 = 1024;

/// The thinking budget for an effort, in tokens.
pub fn thinking_budget(effort: Effort) -> u64 {
    match effort {
        Effort::Low => 1024,
        Effort::Medium => 4096,
        Effort::High => 10_000,
        Effort::XHigh => 16_000,
        Effort::Max => 24_000,
    }
}

/// The request body for `model`.
///
/// # Errors
/// A message naming what cannot be sent (a tool call whose arguments are
/// not a JSON object).
pub fn request(turn: &Turn, model: &str, effort: Option<Effort>) -> Result<Value, String> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let system: Vec<Value> = turn
        .messages
        .iter()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
        .map(Message::text)
        .filter(|text| !text.is_empty())
        .map(|text| json!({"type": "text", "text": text}))
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    body.insert("messages".into(), Value::Array(messages(&turn.messages)?));
    let p = &turn.params;
    let budget = effort.map(thinking_budget);
    let max_tokens = match (p.max_tokens, budget) {
        (Some(max), _) => max,
        (None, Some(budget)) => (budget + DEFAULT_MAX_TOKENS).min(MAX_DEFAULT_WITH_THINKING),
        (None, None) => DEFAULT_MAX_TOKENS,
    };
    body.insert("max_tokens".into(), json!(max_tokens));
    // The budget must stay below max_tokens; too small a max leaves no room.
    if let Some(budget) = budget.map(|b| b.min(max_tokens.saturating_sub(1)))
        && budget >= MIN_THINKING_BUDGET
    {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    if turn.stream {
        body.insert("stream".into(), json!(true));
    }
    let set = [
        ("temperature", p.temperature.map(|v| json!(v))),
        ("top_p", p.top_p.map(|v| json!(v))),
        (
            "stop_sequences",
            (!p.stop.is_empty()).then(|| json!(p.stop)),
        ),
        ("metadata", p.user.as_ref().map(|u| json!({"user_id": u}))),
    ];
    for (name, value) in set {
        if let Some(value) = value {
            body.insert(name.into(), value);
        }
    }
    if !turn.tools.is_empty() {
        let tools = turn.tools.iter().map(|tool| {
            let mut wire = Map::new();
            wire.insert("name".into(), json!(tool.name));
            if let Some(description) = &tool.description {
                wire.insert("description".into(), json!(description));
            }
            let schema = match &tool.parameters {
                Value::Object(schema) if !schema.is_empty() => tool.parameters.clone(),
                _ => json!({"type": "object", "properties": {}}),
            };
            wire.insert("input_schema".into(), schema);
            Value::Object(wire)
        });
        body.insert("tools".into(), Value::Array(tools.collect()));
        if let Some(choice) = tool_choice(turn.tool_choice.as_ref(), p.parallel_tool_calls) {
            body.insert("tool_choice".into(), choice);
        }
    }
    Ok(Value::Object(body))
}

/// `tool_choice`, with `parallel_tool_calls: false` as
/// `disable_parallel_tool_use`.
fn tool_choice(choice: Option<&ToolChoice>, parallel: Option<bool>) -> Option<Value> {
    let mut wire = match choice {
        None if parallel == Some(false) => json!({"type": "auto"}),
        None => return None,
        Some(ToolChoice::Auto) => json!({"type": "auto"}),
        Some(ToolChoice::None) => return Some(json!({"type": "none"})),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::Named(name)) => json!({"type": "tool", "name": name}),
    };
    if parallel == Some(false) {
        wire["disable_parallel_tool_use"] = json!(true);
    }
    Some(wire)
}

/// The conversation as alternating user and assistant messages of blocks.
fn messages(turn: &[Message]) -> Result<Vec<Value>, String> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in turn {
        let (side, blocks) = match message.role {
            Role::System | Role::Developer => continue,
            Role::User => ("user", blocks(&message.parts)?),
            Role::Assistant => ("assistant", blocks(&message.parts)?),
            Role::Tool => ("user", vec![tool_result(message)?]),
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, merged)) if *last == side => merged.extend(blocks),
            _ => out.push((side, blocks)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect())
}

/// A `tool` message (OpenAI's form of a tool result) as a `tool_result`.
fn tool_result(message: &Message) -> Result<Value, String> {
    let content = content_blocks(&message.parts)?;
    let mut block = json!({
        "type": "tool_result",
        "tool_use_id": message.tool_call_id.clone().unwrap_or_default(),
    });
    if !content.is_empty() {
        block["content"] = Value::Array(content);
    }
    Ok(block)
}

/// The text, images and documents among `parts`, as blocks.
fn content_blocks(parts: &[Part]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for part in parts {
        out.extend(content_block(part)?);
    }
    Ok(out)
}

/// The blocks of a message's parts; empty text is left out (the API
/// refuses it).
fn blocks(parts: &[Part]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                let input = arguments_object(id, arguments, "an Anthropic")?;
                out.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
            }
            Part::ToolResult {
                id,
                content,
                is_error,
            } => {
                let mut block = json!({"type": "tool_result", "tool_use_id": id});
                let content = content_blocks(content)?;
                if !content.is_empty() {
                    block["content"] = Value::Array(content);
                }
                if *is_error {
                    block["is_error"] = json!(true);
                }
                out.push(block);
            }
            Part::Reasoning {
                text,
                signature: Some(signature),
            } => out.push(json!({"type": "thinking", "thinking": text, "signature": signature})),
            // The API takes reasoning back only with its signature.
            Part::Reasoning {
                signature: None, ..
            } => {}
            Part::RedactedReasoning(data) => {
                out.push(json!({"type": "redacted_thinking", "data": data}));
            }
            Part::Text(_) | Part::Image(_) | Part::File(_) => out.extend(content_block(part)?),
        }
    }
    Ok(out)
}

/// Text, images and documents, which may also stand inside a tool result.
fn content_block(part: &Part) -> Result<Option<Value>, String> {
    Ok(match part {
        Part::Text(text) if !text.is_empty() => Some(json!({"type": "text", "text": text})),
        Part::Image(Image::Inline { media_type, data }) => Some(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": base64(data)},
        })),
        Part::Image(Image::Url(url)) => {
            Some(json!({"type": "image", "source": {"type": "url", "url": url}}))
        }
        Part::File(file) => Some(document(file)?),
        _ => None,
    })
}

/// A file as a `document` block: a PDF as base64, text as text, an image
/// as an image; a provider file by its id.
fn document(file: &File) -> Result<Value, String> {
    let (media_type, data, filename) = match file {
        File::Id(id) => {
            return Ok(json!({"type": "document", "source": {"type": "file", "file_id": id}}));
        }
        File::Inline {
            media_type,
            data,
            filename,
        } => (media_type.as_str(), data, filename),
    };
    let source = if media_type == "application/pdf" {
        json!({"type": "base64", "media_type": media_type,
               "data": base64(data)})
    } else if media_type.starts_with("text/") {
        let text = String::from_utf8(data.clone())
            .map_err(|_| format!("the {media_type} file is not UTF-8 text"))?;
        json!({"type": "text", "media_type": "text/plain", "data": text})
    } else if media_type.starts_with("image/") {
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type,
                          "data": base64(data)}}),
        );
    } else {
        return Err(format!(
            "an Anthropic upstream takes PDF, text and image files, not {media_type}"
        ));
    };
    let mut block = json!({"type": "document", "source": source});
    if let Some(name) = filename {
        block["title"] = json!(name);
    }
    Ok(block)
}

/// A whole (non-streamed) answer as events.
///
/// # Errors
/// A description of what is missing when the body is not a message.
pub fn answer(body: &Value) -> Result<Vec<Event>, String> {
    if body.get("type").and_then(Value::as_str) == Some("error") {
        return Err(error_text(body.get("error").unwrap_or(body)));
    }
    let content = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or("the upstream's answer has no content")?;
    let mut calls = CallIndexes::default();
    let mut events = Vec::new();
    for (position, block) in (0u64..).zip(content) {
        match str_at(block, "type") {
            "text" => {
                let text = str_at(block, "text");
                if !text.is_empty() {
                    events.push(Event::TextDelta(text.to_owned()));
                }
            }
            "thinking" => {
                events.push(Event::ReasoningDelta(str_at(block, "thinking").to_owned()));
                let signature = str_at(block, "signature");
                if !signature.is_empty() {
                    events.push(Event::ReasoningSignature(signature.to_owned()));
                }
            }
            "redacted_thinking" => {
                events.push(Event::RedactedReasoning(str_at(block, "data").to_owned()));
            }
            "tool_use" => {
                let index = calls.start(position);
                events.push(Event::ToolCallStart {
                    index,
                    id: str_at(block, "id").to_owned(),
                    name: str_at(block, "name").to_owned(),
                });
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                events.push(Event::ToolCallArguments {
                    index,
                    fragment: input.to_string(),
                });
            }
            // Server tools' blocks (web search…) have no place in a chat answer.
            _ => {}
        }
    }
    let mut usage = RawUsage::default();
    if let Some(reported) = body.get("usage") {
        usage.update(reported);
    }
    if let Some(usage) = usage.to_usage() {
        events.push(Event::Usage(usage));
    }
    if let Some(sequence) = body.get("stop_sequence").and_then(Value::as_str) {
        events.push(Event::StopSequence(sequence.to_owned()));
    }
    events.push(Event::Finish(
        body.get("stop_reason")
            .and_then(Value::as_str)
            .map_or(FinishReason::Stop, stop_reason),
    ));
    Ok(events)
}

/// The events of a streamed answer: `message_start`, content blocks with
/// their deltas, `message_delta` (stop reason, usage), `message_stop`.
#[derive(Debug, Default)]
pub struct MessageDecoder {
    calls: CallIndexes,
    usage: RawUsage,
    ending: Ending,
}

/// One server-sent event, read without building a JSON tree for the
/// frequent ones (text, reasoning and argument deltas).
#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: u64,
    #[serde(default, borrow)]
    delta: Option<WireDelta<'a>>,
    #[serde(default)]
    content_block: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// A block's delta, or the message's (`stop_reason`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct WireDelta<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    stop_sequence: Option<Cow<'a, str>>,
}

impl StreamDecoder for MessageDecoder {
    fn event(&mut self, _name: Option<&str>, data: &str) -> Result<Vec<Event>, String> {
        // The data names its own type; the `event:` line repeats it.
        let event: WireEvent<'_> = serde_json::from_str(data).map_err(|e| {
            format!("the upstream sent an event that is not an Anthropic event ({e})")
        })?;
        let mut events = Vec::new();
        match &*event.kind {
            "content_block_delta" => {
                if let Some(delta) = &event.delta {
                    events.extend(self.block_delta(event.index, delta));
                }
            }
            "message_start" => {
                if let Some(usage) = event.message.as_ref().and_then(|m| m.get("usage")) {
                    self.usage.update(usage);
                    events.extend(self.usage.to_usage().map(Event::Usage));
                }
            }
            "content_block_start" => {
                let block = event.content_block.as_ref().unwrap_or(&Value::Null);
                events.extend(self.block_start(event.index, block));
            }
            "message_delta" => {
                if let Some(reason) = event.delta.as_ref().and_then(|d| d.stop_reason.as_deref()) {
                    self.ending.set(stop_reason(reason));
                }
                let sequence = event
                    .delta
                    .as_ref()
                    .and_then(|d| d.stop_sequence.as_deref());
                if let Some(sequence) = sequence {
                    events.push(Event::StopSequence(sequence.to_owned()));
                }
                if let Some(usage) = &event.usage {
                    self.usage.update(usage);
                    events.extend(self.usage.to_usage().map(Event::Usage));
                }
            }
            "message_stop" => events.extend(self.end()),
            "error" => {
                let error = event.error.unwrap_or(Value::Null);
                return Err(error_text(&error));
            }
            // `ping`, `content_block_stop`, and types added later.
            _ => {}
        }
        Ok(events)
    }

    fn ending(&self) -> &Ending {
        &self.ending
    }

    fn ending_mut(&mut self) -> &mut Ending {
        &mut self.ending
    }
}

impl MessageDecoder {
    fn block_start(&mut self, position: u64, block: &Value) -> Vec<Event> {
        match str_at(block, "type") {
            "tool_use" => {
                let index = self.calls.start(position);
                let mut events = vec![Event::ToolCallStart {
                    index,
                    id: str_at(block, "id").to_owned(),
                    name: str_at(block, "name").to_owned(),
                }];
                // Arguments usually stream as deltas; some servers send them whole.
                if let Some(input) = block.get("input").filter(|i| !is_empty_object(i)) {
                    events.push(Event::ToolCallArguments {
                        index,
                        fragment: input.to_string(),
                    });
                }
                events
            }
            "redacted_thinking" => vec![Event::RedactedReasoning(str_at(block, "data").to_owned())],
            "text" => text_event(Event::TextDelta, str_at(block, "text")),
            "thinking" => text_event(Event::ReasoningDelta, str_at(block, "thinking")),
            _ => Vec::new(),
        }
    }

    fn block_delta(&self, position: u64, delta: &WireDelta<'_>) -> Vec<Event> {
        let text = |field: &Option<Cow<'_, str>>| field.as_deref().unwrap_or_default().to_owned();
        let (make, value): (fn(String) -> Event, String) = match &*delta.kind {
            "text_delta" => (Event::TextDelta, text(&delta.text)),
            "thinking_delta" => (Event::ReasoningDelta, text(&delta.thinking)),
            "signature_delta" => (Event::ReasoningSignature, text(&delta.signature)),
            "input_json_delta" => match self.calls.get(position) {
                Some(index) => {
                    let fragment = text(&delta.partial_json);
                    return if fragment.is_empty() {
                        Vec::new()
                    } else {
                        vec![Event::ToolCallArguments { index, fragment }]
                    };
                }
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        };
        if value.is_empty() {
            Vec::new()
        } else {
            vec![make(value)]
        }
    }
}

fn is_empty_object(value: &Value) -> bool {
    value.as_object().is_some_and(Map::is_empty)
}

/// Anthropic's counts as reported so far: `message_start` has the input,
/// `message_delta` the output (and, from some servers, the input again).
#[derive(Debug, Default, Clone, Copy)]
struct RawUsage {
    input: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    output: Option<u64>,
}

impl RawUsage {
    fn update(&mut self, usage: &Value) {
        let take = |field: &mut Option<u64>, key: &str| {
            if let Some(n) = usage.get(key).and_then(Value::as_u64) {
                *field = Some(n);
            }
        };
        take(&mut self.input, "input_tokens");
        take(&mut self.cache_read, "cache_read_input_tokens");
        take(&mut self.cache_write, "cache_creation_input_tokens");
        take(&mut self.output, "output_tokens");
    }

    /// In OpenAI's terms: the prompt count is every input token, cached
    /// ones included.
    fn to_usage(self) -> Option<Usage> {
        let any_input = self.input.or(self.cache_read).or(self.cache_write);
        let usage = Usage {
            input_tokens: any_input.map(|_| {
                self.input
                    .unwrap_or(0)
                    .saturating_add(self.cache_read.unwrap_or(0))
                    .saturating_add(self.cache_write.unwrap_or(0))
            }),
            output_tokens: self.output,
            cache_read_tokens: self.cache_read,
            cache_write_tokens: self.cache_write,
            reasoning_tokens: None,
        };
        (!usage.is_empty()).then_some(usage)
    }
}

fn stop_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn
        _ => FinishReason::Stop,
    }
}

#[cfg(test)]
mod tests;
