//! The outbound side of the OpenAI Responses API: a [`Turn`] as the
//! `POST /responses` body, and its answer (a whole `response`, or its named
//! `response.*` events) as [`Event`]s. Pure.
//!
//! The gateway keeps no state, so requests say `store: false` and carry the
//! whole conversation as `input` items: the leading system and developer
//! messages become `instructions`, later ones developer messages; tool
//! calls and results become `function_call` and `function_call_output`
//! items. Reasoning comes back as its summary (`reasoning_content`) and, when
//! an effort was asked for, its encrypted content, which the client gets in
//! `thinking_blocks` as a `redacted_thinking` block and which goes back as a
//! `reasoning` item; signed (Anthropic) reasoning has no Responses form and
//! is left out.

use serde_json::{Map, Value, json};

use crate::dialect::upstream::{
    CallIndexes, Ending, StreamDecoder, data_uri, error_text, image_url, str_at, text_event,
};
use crate::event::{Event, FinishReason, Usage};
use crate::turn::{Effort, File, Image, Message, Part, Role, ToolChoice, Turn, text_of};

/// The request body for `model`.
///
/// # Errors
/// Never, today; kept fallible like the other dialects' requests.
pub fn request(turn: &Turn, model: &str, effort: Option<Effort>) -> Result<Value, String> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let leading = turn
        .messages
        .iter()
        .take_while(|m| matches!(m.role, Role::System | Role::Developer))
        .count();
    let instructions: Vec<String> = turn.messages[..leading]
        .iter()
        .map(Message::text)
        .filter(|t| !t.is_empty())
        .collect();
    if !instructions.is_empty() {
        body.insert("instructions".into(), json!(instructions.join("\n\n")));
    }
    let input: Vec<Value> = turn.messages[leading..].iter().flat_map(items).collect();
    body.insert("input".into(), Value::Array(input));
    body.insert("store".into(), json!(false));
    if turn.stream {
        body.insert("stream".into(), json!(true));
    }
    if let Some(effort) = effort {
        body.insert(
            "reasoning".into(),
            json!({"effort": effort_name(effort), "summary": "auto"}),
        );
        body.insert("include".into(), json!(["reasoning.encrypted_content"]));
    }
    if !turn.tools.is_empty() || !turn.hosted_tools.is_empty() {
        let tools = turn.tools.iter().map(|tool| {
            let mut wire = Map::new();
            wire.insert("type".into(), json!("function"));
            wire.insert("name".into(), json!(tool.name));
            if let Some(description) = &tool.description {
                wire.insert("description".into(), json!(description));
            }
            wire.insert("parameters".into(), tool.parameters.clone());
            if let Some(strict) = tool.extra.get("strict") {
                wire.insert("strict".into(), strict.clone());
            }
            Value::Object(wire)
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
                ToolChoice::Named(name) => json!({"type": "function", "name": name}),
            },
        );
    }
    let p = &turn.params;
    let set = [
        ("max_output_tokens", p.max_tokens.map(|v| json!(v))),
        ("temperature", p.temperature.map(|v| json!(v))),
        ("top_p", p.top_p.map(|v| json!(v))),
        ("user", p.user.as_ref().map(|v| json!(v))),
        (
            "parallel_tool_calls",
            p.parallel_tool_calls.map(|v| json!(v)),
        ),
        (
            "text",
            p.response_format
                .as_ref()
                .map(|f| json!({"format": text_format(f)})),
        ),
    ];
    for (name, value) in set {
        if let Some(value) = value {
            body.insert(name.into(), value);
        }
    }
    Ok(Value::Object(body))
}

/// The API's effort names: `max` is its highest, `xhigh`.
fn effort_name(effort: Effort) -> &'static str {
    match effort {
        Effort::Low => "low",
        Effort::Medium => "medium",
        Effort::High => "high",
        Effort::XHigh | Effort::Max => "xhigh",
    }
}

/// Chat's `response_format` in the Responses shape: a JSON schema's
/// `json_schema` object is flattened into the format.
fn text_format(format: &Value) -> Value {
    match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => {
            let mut flat = json!({"type": "json_schema"});
            if let Some(Value::Object(schema)) = format.get("json_schema") {
                for (key, value) in schema {
                    flat[key] = value.clone();
                }
            }
            flat
        }
        _ => format.clone(),
    }
}

/// One message as input items: its content as a message item, its tool
/// calls, results and encrypted reasoning as items of their own, in order.
fn items(message: &Message) -> Vec<Value> {
    let role = match message.role {
        Role::System | Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => {
            let output = message.text();
            let id = message.tool_call_id.clone().unwrap_or_default();
            let mut out =
                vec![json!({"type": "function_call_output", "call_id": id, "output": output})];
            out.extend(attached_media(&message.parts));
            return out;
        }
    };
    let mut out = Vec::new();
    let mut content = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text(text) if message.role == Role::Assistant => {
                if !text.is_empty() {
                    content.push(json!({"type": "output_text", "text": text}));
                }
            }
            Part::Text(text) => content.push(json!({"type": "input_text", "text": text})),
            Part::Image(image) => content.push(image_part(image)),
            Part::File(file) => content.push(file_part(file)),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => out.push(json!({"type": "function_call", "call_id": id, "name": name,
                                 "arguments": arguments})),
            Part::ToolResult { id, content, .. } => {
                let output = text_of(content);
                out.push(json!({"type": "function_call_output", "call_id": id, "output": output}));
                out.extend(attached_media(content));
            }
            Part::RedactedReasoning(data) => {
                out.push(json!({"type": "reasoning", "encrypted_content": data, "summary": []}))
            }
            Part::Reasoning { .. } => {}
        }
    }
    if !content.is_empty() {
        // Reasoning goes before the answer it led to.
        let at = out
            .iter()
            .position(|item| item["type"] != "reasoning")
            .unwrap_or(out.len());
        out.insert(
            at,
            json!({"type": "message", "role": role, "content": content}),
        );
    }
    out
}

/// Images and files of a tool result, which a `function_call_output`'s
/// text has no room for: a user message right after it.
fn attached_media(parts: &[Part]) -> Option<Value> {
    let media: Vec<Value> = parts
        .iter()
        .filter_map(|part| match part {
            Part::Image(image) => Some(image_part(image)),
            Part::File(file) => Some(file_part(file)),
            _ => None,
        })
        .collect();
    (!media.is_empty()).then(|| json!({"type": "message", "role": "user", "content": media}))
}

fn image_part(image: &Image) -> Value {
    let url = image_url(image);
    json!({"type": "input_image", "image_url": url})
}

fn file_part(file: &File) -> Value {
    match file {
        File::Id(id) => json!({"type": "input_file", "file_id": id}),
        File::Inline {
            media_type,
            data,
            filename,
        } => {
            let mut part = json!({"type": "input_file", "file_data": data_uri(media_type, data)});
            if let Some(name) = filename {
                part["filename"] = json!(name);
            }
            part
        }
    }
}

/// A whole `response` object as events.
///
/// # Errors
/// The error of a failed response, or what is missing when the body is not
/// a response.
pub fn answer(body: &Value) -> Result<Vec<Event>, String> {
    if body.get("status").and_then(Value::as_str) == Some("failed") {
        return Err(failure(body));
    }
    let output = body
        .get("output")
        .and_then(Value::as_array)
        .ok_or("the upstream's answer has no output")?;
    let mut calls = CallIndexes::default();
    let mut refused = false;
    let mut events = Vec::new();
    for (position, item) in (0u64..).zip(output) {
        match str_at(item, "type") {
            "message" => {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let (text, refusal) = match str_at(part, "type") {
                        "refusal" => (str_at(part, "refusal"), true),
                        _ => (str_at(part, "text"), false),
                    };
                    refused |= refusal;
                    if !text.is_empty() {
                        events.push(Event::TextDelta(text.to_owned()));
                    }
                }
            }
            "reasoning" => events.extend(reasoning_item(item, true)),
            "function_call" => {
                let index = calls.start(position);
                events.push(Event::ToolCallStart {
                    index,
                    id: str_at(item, "call_id").to_owned(),
                    name: str_at(item, "name").to_owned(),
                });
                let arguments = str_at(item, "arguments");
                if !arguments.is_empty() {
                    events.push(Event::ToolCallArguments {
                        index,
                        fragment: arguments.to_owned(),
                    });
                }
            }
            "image_generation_call" => events.extend(image_item(item)),
            // Other built-in tools' items (web search…) have no place in a chat answer.
            _ => {}
        }
    }
    events.extend(body.get("usage").and_then(usage_of).map(Event::Usage));
    events.push(Event::Finish(finish_of(body, refused)));
    Ok(events)
}

/// A reasoning item's events: its summary (and reasoning text) when
/// `with_text`, then its encrypted content.
fn reasoning_item(item: &Value, with_text: bool) -> Vec<Event> {
    let mut events = Vec::new();
    if with_text {
        let texts = ["summary", "content"]
            .iter()
            .filter_map(|key| item.get(*key).and_then(Value::as_array))
            .flatten()
            .map(|part| str_at(part, "text"))
            .filter(|t| !t.is_empty());
        let text = texts.collect::<Vec<_>>().join("\n\n");
        if !text.is_empty() {
            events.push(Event::ReasoningDelta(text));
        }
    }
    let encrypted = str_at(item, "encrypted_content");
    if !encrypted.is_empty() {
        events.push(Event::RedactedReasoning(encrypted.to_owned()));
    }
    events
}

/// Why a response ended: an incomplete one says why; a refusal is a
/// content filter.
fn finish_of(response: &Value, refused: bool) -> FinishReason {
    let reason = response
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str);
    match (str_at(response, "status"), reason) {
        ("incomplete", Some("max_output_tokens")) => FinishReason::Length,
        ("incomplete", Some("content_filter")) => FinishReason::ContentFilter,
        _ if refused => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

fn failure(response: &Value) -> String {
    response
        .get("error")
        .filter(|e| !e.is_null())
        .map_or_else(|| "the upstream's response failed".to_owned(), error_text)
}

/// The events of a streamed response, one `response.*` event at a time.
#[derive(Debug, Default)]
pub struct ResponseDecoder {
    calls: CallIndexes,
    /// Calls (by index) whose arguments came as deltas.
    streamed_arguments: std::collections::HashSet<usize>,
    refused: bool,
    ending: Ending,
}

impl StreamDecoder for ResponseDecoder {
    fn event(&mut self, _name: Option<&str>, data: &str) -> Result<Vec<Event>, String> {
        // The data names its own type; the `event:` line repeats it.
        let event: Value = serde_json::from_str(data)
            .map_err(|e| format!("the upstream sent an event that is not JSON ({e})"))?;
        let position = event
            .get("output_index")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let delta = || str_at(&event, "delta");
        let events = match str_at(&event, "type") {
            "response.output_text.delta" => text_event(Event::TextDelta, delta()),
            "response.refusal.delta" => {
                self.refused = true;
                text_event(Event::TextDelta, delta())
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                text_event(Event::ReasoningDelta, delta())
            }
            // Summary parts after the first are new paragraphs.
            "response.reasoning_summary_part.added"
                if event.get("summary_index").and_then(Value::as_u64) > Some(0) =>
            {
                vec![Event::ReasoningDelta("\n\n".into())]
            }
            "response.output_item.added" => self.item_added(position, &event),
            "response.function_call_arguments.delta" => match self.calls.get(position) {
                Some(index) if !delta().is_empty() => {
                    self.streamed_arguments.insert(index);
                    vec![Event::ToolCallArguments {
                        index,
                        fragment: delta().to_owned(),
                    }]
                }
                _ => Vec::new(),
            },
            "response.output_item.done" => self.item_done(position, &event),
            "response.completed" | "response.incomplete" => {
                let response = event.get("response").unwrap_or(&Value::Null);
                self.ending.set(finish_of(response, self.refused));
                let mut events: Vec<Event> = response
                    .get("usage")
                    .and_then(usage_of)
                    .map(Event::Usage)
                    .into_iter()
                    .collect();
                events.extend(self.end());
                events
            }
            "response.failed" => {
                return Err(failure(event.get("response").unwrap_or(&Value::Null)));
            }
            "error" => return Err(error_text(event.get("error").unwrap_or(&event))),
            _ => Vec::new(),
        };
        Ok(events)
    }

    fn ending(&self) -> &Ending {
        &self.ending
    }

    fn ending_mut(&mut self) -> &mut Ending {
        &mut self.ending
    }
}

impl ResponseDecoder {
    fn item_added(&mut self, position: u64, event: &Value) -> Vec<Event> {
        let item = event.get("item").unwrap_or(&Value::Null);
        if str_at(item, "type") != "function_call" {
            return Vec::new();
        }
        let index = self.calls.start(position);
        vec![Event::ToolCallStart {
            index,
            id: str_at(item, "call_id").to_owned(),
            name: str_at(item, "name").to_owned(),
        }]
    }

    /// A finished item: a call's arguments if none streamed; a reasoning
    /// item's encrypted content.
    fn item_done(&mut self, position: u64, event: &Value) -> Vec<Event> {
        let item = event.get("item").unwrap_or(&Value::Null);
        match str_at(item, "type") {
            "function_call" => {
                let Some(index) = self.calls.get(position) else {
                    return Vec::new();
                };
                let arguments = str_at(item, "arguments");
                if self.streamed_arguments.contains(&index) || arguments.is_empty() {
                    return Vec::new();
                }
                vec![Event::ToolCallArguments {
                    index,
                    fragment: arguments.to_owned(),
                }]
            }
            "reasoning" => reasoning_item(item, false),
            "image_generation_call" => image_item(item).into_iter().collect(),
            _ => Vec::new(),
        }
    }
}

/// A generated image as answer text: a markdown image whose source is a
/// `data:` URI, alt text its revised prompt, apart from the text around it.
fn image_item(item: &Value) -> Option<Event> {
    let result = str_at(item, "result");
    if result.is_empty() {
        return None;
    }
    let format = match str_at(item, "output_format") {
        "" => "png",
        format => format,
    };
    let alt: String = str_at(item, "revised_prompt")
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | '\n' | '\r'))
        .take(200)
        .collect();
    let alt = if alt.trim().is_empty() {
        "image".to_owned()
    } else {
        alt
    };
    Some(Event::TextDelta(format!(
        "\n\n![{alt}](data:image/{format};base64,{result})\n\n"
    )))
}

/// Responses usage: the input count includes cached tokens, the output
/// count reasoning tokens, as in Chat's.
fn usage_of(usage: &Value) -> Option<Usage> {
    let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64);
    let usage = Usage {
        input_tokens: count("/input_tokens"),
        output_tokens: count("/output_tokens"),
        cache_read_tokens: count("/input_tokens_details/cached_tokens"),
        cache_write_tokens: None,
        reasoning_tokens: count("/output_tokens_details/reasoning_tokens"),
    };
    (!usage.is_empty()).then_some(usage)
}

#[cfg(test)]
mod tests;
