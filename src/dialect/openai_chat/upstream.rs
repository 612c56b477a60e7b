//! The outbound side of Chat Completions, for an OpenAI-compatible
//! upstream: a [`Turn`] as the request body it is sent, and its answer
//! (whole, or chunk by chunk) as [`Event`]s. Pure: no I/O; fields the
//! vocabulary has no place for are passed on as the client sent them.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::dialect::upstream::{Ending, StreamDecoder, data_uri, error_text, image_url};
use crate::event::{Event, FinishReason, Usage};
use crate::turn::{Effort, File, Image, Message, Part, Role, ToolChoice, Turn, text_of};

/// The request body for `model`. A streamed request asks for the usage
/// chunk, so the client's `include_usage` can be honoured.
pub fn request(turn: &Turn, model: &str, effort: Option<Effort>) -> Value {
    let mut body = Map::new();
    // Unknown fields first: what the vocabulary holds wins over them.
    body.extend(turn.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    body.insert("model".into(), json!(model));
    body.insert(
        "messages".into(),
        Value::Array(turn.messages.iter().flat_map(messages).collect()),
    );
    if turn.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(effort) = effort {
        body.insert("reasoning_effort".into(), json!(effort.as_str()));
    }
    if !turn.tools.is_empty() || !turn.hosted_tools.is_empty() {
        let tools = turn.tools.iter().map(|tool| {
            let mut function = tool.extra.clone();
            function.insert("name".into(), json!(tool.name));
            if let Some(description) = &tool.description {
                function.insert("description".into(), json!(description));
            }
            function.insert("parameters".into(), tool.parameters.clone());
            json!({"type": "function", "function": function})
        });
        let hosted = turn.hosted_tools.iter().cloned();
        body.insert("tools".into(), Value::Array(tools.chain(hosted).collect()));
    }
    if let Some(choice) = &turn.tool_choice {
        body.insert(
            "tool_choice".into(),
            match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(name) => json!({"type": "function", "function": {"name": name}}),
            },
        );
    }
    params(turn, &mut body);
    Value::Object(body)
}

/// The generation parameters, under the names the client used.
fn params(turn: &Turn, body: &mut Map<String, Value>) {
    let p = &turn.params;
    let max_tokens_name = if p.named.iter().any(|n| n == "max_completion_tokens") {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let set = [
        (max_tokens_name, p.max_tokens.map(|v| json!(v))),
        ("temperature", p.temperature.map(|v| json!(v))),
        ("top_p", p.top_p.map(|v| json!(v))),
        ("stop", (!p.stop.is_empty()).then(|| json!(p.stop))),
        ("seed", p.seed.map(|v| json!(v))),
        ("response_format", p.response_format.clone()),
        ("user", p.user.as_ref().map(|v| json!(v))),
        (
            "parallel_tool_calls",
            p.parallel_tool_calls.map(|v| json!(v)),
        ),
        ("n", p.n.map(|v| json!(v))),
    ];
    for (name, value) in set {
        if let Some(value) = value {
            body.insert(name.into(), value);
        }
    }
}

/// One message of the turn as Chat messages: tool results inside a
/// message (Anthropic's form) become `tool` messages of their own.
fn messages(message: &Message) -> Vec<Value> {
    let mut out = Vec::new();
    let mut content = Vec::new();
    let mut calls = Vec::new();
    let mut thinking = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text(text) => content.push(json!({"type": "text", "text": text})),
            Part::Image(image) => content.push(image_part(image)),
            Part::File(file) => content.push(file_part(file)),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => calls.push(json!({"id": id, "type": "function",
                                   "function": {"name": name, "arguments": arguments}})),
            Part::ToolResult { id, content, .. } => {
                let text = text_of(content);
                out.push(json!({"role": "tool", "tool_call_id": id, "content": text}));
            }
            // As the client sent them, for servers that take them back.
            Part::Reasoning { text, signature } => {
                thinking.push(json!({"type": "thinking", "thinking": text, "signature": signature}))
            }
            Part::RedactedReasoning(data) => {
                thinking.push(json!({"type": "redacted_thinking", "data": data}));
            }
        }
    }
    // A message that only carried tool results is those results.
    if !out.is_empty() && content.is_empty() && calls.is_empty() {
        return out;
    }
    let only_text = content.len() == 1 && content[0]["type"] == "text";
    let content = match content.len() {
        0 if !calls.is_empty() => Value::Null,
        0 => json!(""),
        _ if only_text => content[0]["text"].clone(),
        _ => Value::Array(content),
    };
    let mut wire = message.extra.clone();
    wire.insert("role".into(), json!(role(message.role)));
    wire.insert("content".into(), content);
    if !calls.is_empty() {
        wire.insert("tool_calls".into(), Value::Array(calls));
    }
    if !thinking.is_empty() {
        wire.insert("thinking_blocks".into(), Value::Array(thinking));
    }
    if let Some(id) = &message.tool_call_id {
        wire.insert("tool_call_id".into(), json!(id));
    }
    if let Some(name) = &message.name {
        wire.insert("name".into(), json!(name));
    }
    out.push(Value::Object(wire));
    out
}

fn role(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

fn image_part(image: &Image) -> Value {
    let url = image_url(image);
    json!({"type": "image_url", "image_url": {"url": url}})
}

fn file_part(file: &File) -> Value {
    match file {
        File::Id(id) => json!({"type": "file", "file": {"file_id": id}}),
        File::Inline {
            media_type,
            data,
            filename,
        } => {
            let mut fields = json!({"file_data": data_uri(media_type, data)});
            if let Some(name) = filename {
                fields["filename"] = json!(name);
            }
            json!({"type": "file", "file": fields})
        }
    }
}

/// A whole (non-streamed) answer as events.
///
/// # Errors
/// A description of what is missing when the body is not a completion.
pub fn answer(body: &Value) -> Result<Vec<Event>, String> {
    let choice = body
        .pointer("/choices/0")
        .ok_or("the upstream's answer has no choices")?;
    let message = choice
        .get("message")
        .ok_or("the upstream's answer has no message")?;
    let mut events = message_events(message);
    if let Some(usage) = body.get("usage").and_then(usage_of) {
        events.push(Event::Usage(usage));
    }
    events.push(Event::Finish(
        finish_of(choice).unwrap_or(FinishReason::Stop),
    ));
    Ok(events)
}

/// The chunks of a streamed answer, one `data:` payload at a time.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    /// The finish reason, held back until the usage chunk has been seen.
    ending: Ending,
}

impl StreamDecoder for ChunkDecoder {
    /// Events of one `data:` payload. `[DONE]` ends the answer.
    fn event(&mut self, _name: Option<&str>, data: &str) -> Result<Vec<Event>, String> {
        if data.trim() == "[DONE]" {
            return Ok(self.end());
        }
        if let Some(events) = self.plain(data) {
            return Ok(events);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| format!("the upstream sent a chunk that is not JSON ({e})"))?;
        if let Some(error) = chunk.get("error") {
            return Err(error_text(error));
        }
        let mut events = Vec::new();
        if let Some(choice) = chunk.pointer("/choices/0") {
            events = message_events(choice.get("delta").unwrap_or(&Value::Null));
            if let Some(reason) = finish_of(choice) {
                self.ending.set(reason);
            }
        }
        if let Some(usage) = chunk.get("usage").and_then(usage_of) {
            events.push(Event::Usage(usage));
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

impl ChunkDecoder {
    /// The events of a chunk of plain text or reasoning (most of a stream),
    /// read without building a JSON tree; `None` for any other chunk.
    fn plain(&mut self, data: &str) -> Option<Vec<Event>> {
        let chunk: PlainChunk<'_> = serde_json::from_str(data).ok()?;
        if chunk.usage.is_some() || chunk.error.is_some() || chunk.choices.len() > 1 {
            return None;
        }
        let Some(choice) = chunk.choices.into_iter().next() else {
            return Some(Vec::new());
        };
        let delta = choice.delta.unwrap_or_default();
        let mut events = Vec::new();
        if let Some(text) = delta
            .reasoning_content
            .or(delta.reasoning)
            .filter(|t| !t.is_empty())
        {
            events.push(Event::ReasoningDelta(text.into_owned()));
        }
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            events.push(Event::TextDelta(text.into_owned()));
        }
        if let Some(reason) = choice.finish_reason {
            self.ending.set(finish_reason(&reason));
        }
        Some(events)
    }
}

/// A chunk as [`ChunkDecoder::plain`] reads it.
#[derive(Deserialize)]
struct PlainChunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<PlainChoice<'a>>,
    #[serde(default, borrow)]
    usage: Option<&'a RawValue>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PlainChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<PlainDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

/// A delta of text or reasoning only: any other field that is set (tool
/// calls, thinking blocks…) makes it fail, and the chunk is read whole.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PlainDelta<'a> {
    #[serde(default, borrow, rename = "role")]
    _role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default, rename = "refusal")]
    _refusal: Option<Never>,
    #[serde(default, rename = "tool_calls")]
    _tool_calls: Option<Never>,
    #[serde(default, rename = "function_call")]
    _function_call: Option<Never>,
}

/// A field that must be absent or null.
#[derive(Deserialize)]
enum Never {}

/// The events of a whole message or of a chunk's `delta`, which have the
/// same shape: reasoning, text, and tool calls (whole, or in pieces).
fn message_events(message: &Value) -> Vec<Event> {
    let mut events = Vec::new();
    if let Some(text) = reasoning_of(message) {
        events.push(Event::ReasoningDelta(text.to_owned()));
    }
    if let Some(text) = message.get("content").and_then(Value::as_str)
        && !text.is_empty()
    {
        events.push(Event::TextDelta(text.to_owned()));
    }
    let calls = message.get("tool_calls").and_then(Value::as_array);
    for (position, call) in calls.into_iter().flatten().enumerate() {
        events.extend(call_delta(call, position));
    }
    events
}

/// A tool call, or its piece in a chunk: a start (it has an id or a name) and
/// an argument fragment, by the upstream's `index`.
fn call_delta(call: &Value, position: usize) -> Vec<Event> {
    let index = call
        .get("index")
        .and_then(Value::as_u64)
        .and_then(|i| usize::try_from(i).ok())
        .unwrap_or(position);
    let function = call.get("function");
    let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
    let id = call.get("id").and_then(Value::as_str);
    let mut events = Vec::new();
    if id.is_some() || name.is_some() {
        events.push(Event::ToolCallStart {
            index,
            id: id.unwrap_or_default().to_owned(),
            name: name.unwrap_or_default().to_owned(),
        });
    }
    if let Some(fragment) = function
        .and_then(|f| f.get("arguments"))
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        events.push(Event::ToolCallArguments {
            index,
            fragment: fragment.to_owned(),
        });
    }
    events
}

/// Reasoning text, under the names compatible servers use for it.
fn reasoning_of(message: &Value) -> Option<&str> {
    ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|k| message.get(*k).and_then(Value::as_str))
        .filter(|t| !t.is_empty())
}

fn finish_of(choice: &Value) -> Option<FinishReason> {
    Some(finish_reason(choice.get("finish_reason")?.as_str()?))
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

fn usage_of(usage: &Value) -> Option<Usage> {
    let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64);
    let usage = Usage {
        input_tokens: count("/prompt_tokens"),
        output_tokens: count("/completion_tokens"),
        cache_read_tokens: count("/prompt_tokens_details/cached_tokens"),
        cache_write_tokens: count("/prompt_tokens_details/cache_write_tokens"),
        reasoning_tokens: count("/completion_tokens_details/reasoning_tokens"),
    };
    (!usage.is_empty()).then_some(usage)
}

#[cfg(test)]
mod tests;
