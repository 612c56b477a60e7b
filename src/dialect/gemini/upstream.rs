//! The outbound side of the Gemini API: a [`Turn`] as the body of `POST
//! …/models/{model}:generateContent` (or `:streamGenerateContent?alt=sse`),
//! and its answer (whole, or chunk by chunk) as [`Event`]s. Pure.
//!
//! System and developer messages become `systemInstruction`; assistant
//! messages are the `model` role; tool calls are `functionCall` parts and
//! tool results `functionResponse` parts, which Gemini pairs by function
//! name (found from the call with the same id). Tool parameters and
//! response schemas are cleaned of what Gemini refuses
//! ([`clean_schema`](super::schema::clean_schema)).
//!
//! **Thought signatures.** Gemini signs its reasoning on a part of its
//! answer (the first function call of a step, or the last text part) and
//! requires the signature back on that part. A part's `thoughtSignature`
//! comes out as [`Event::ReasoningSignature`] just before the part's own
//! events, so the client gets it in `thinking_blocks`; when the message
//! comes back, its signatures go on its function calls in order, or, with
//! none, on its last text part. Reasoning text itself is not sent back.

use serde_json::{Map, Value, json};

use super::schema::clean_schema;
use crate::dialect::upstream::{
    Ending, StreamDecoder, arguments_object, base64, error_text, str_at,
};
use crate::event::{Event, FinishReason, Usage};
use crate::turn::{Effort, File, Image, Message, Part, Role, ToolChoice, Turn, text_of};

/// The thinking budget for an effort, in tokens.
pub fn thinking_budget(effort: Effort) -> u64 {
    match effort {
        Effort::Low => 1024,
        Effort::Medium => 4096,
        Effort::High => 16_384,
        Effort::XHigh => 24_576,
        Effort::Max => 32_768,
    }
}

/// The request body (the model is in the URL).
///
/// # Errors
/// A message naming what cannot be sent: a tool call whose arguments are
/// not a JSON object, or a tool result whose call is not in the
/// conversation (Gemini needs the function's name).
pub fn request(turn: &Turn, effort: Option<Effort>) -> Result<Value, String> {
    let mut body = Map::new();
    let system: Vec<Value> = turn
        .messages
        .iter()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
        .map(Message::text)
        .filter(|text| !text.is_empty())
        .map(|text| json!({"text": text}))
        .collect();
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    body.insert("contents".into(), Value::Array(contents(&turn.messages)?));
    if !turn.tools.is_empty() {
        let declarations = turn.tools.iter().map(|tool| {
            let mut declaration = Map::new();
            declaration.insert("name".into(), json!(tool.name));
            if let Some(description) = &tool.description {
                declaration.insert("description".into(), json!(description));
            }
            let has_parameters = tool
                .parameters
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| !p.is_empty());
            if has_parameters {
                declaration.insert("parameters".into(), clean_schema(&tool.parameters));
            }
            Value::Object(declaration)
        });
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations.collect::<Vec<_>>()}]),
        );
        if let Some(choice) = &turn.tool_choice {
            let config = match choice {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Named(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            };
            body.insert(
                "toolConfig".into(),
                json!({"functionCallingConfig": config}),
            );
        }
    }
    let config = generation_config(turn, effort);
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(body))
}

fn generation_config(turn: &Turn, effort: Option<Effort>) -> Map<String, Value> {
    let p = &turn.params;
    let mut config = Map::new();
    let set = [
        ("maxOutputTokens", p.max_tokens.map(|v| json!(v))),
        ("temperature", p.temperature.map(|v| json!(v))),
        ("topP", p.top_p.map(|v| json!(v))),
        ("stopSequences", (!p.stop.is_empty()).then(|| json!(p.stop))),
        ("seed", p.seed.map(|v| json!(v))),
        (
            "thinkingConfig",
            effort.map(|e| json!({"thinkingBudget": thinking_budget(e), "includeThoughts": true})),
        ),
    ];
    for (name, value) in set {
        if let Some(value) = value {
            config.insert(name.into(), value);
        }
    }
    if let Some(format) = &p.response_format {
        match format.get("type").and_then(Value::as_str) {
            Some("json_object") => {
                config.insert("responseMimeType".into(), json!("application/json"));
            }
            Some("json_schema") => {
                config.insert("responseMimeType".into(), json!("application/json"));
                if let Some(schema) = format.pointer("/json_schema/schema") {
                    config.insert("responseSchema".into(), clean_schema(schema));
                }
            }
            _ => {}
        }
    }
    config
}

/// The conversation as `user` and `model` contents, consecutive ones of a
/// side merged.
fn contents(messages: &[Message]) -> Result<Vec<Value>, String> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in messages {
        let (side, parts) = match message.role {
            Role::System | Role::Developer => continue,
            Role::User => ("user", user_parts(&message.parts, messages)?),
            Role::Tool => ("user", tool_message(message, messages)?),
            Role::Assistant => ("model", model_parts(&message.parts)?),
        };
        if parts.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, merged)) if *last == side => merged.extend(parts),
            _ => out.push((side, parts)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect())
}

/// A user's parts: text, images, files, and tool results inside them.
fn user_parts(parts: &[Part], messages: &[Message]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            Part::ToolResult {
                id,
                content,
                is_error,
            } => {
                let name = call_name(id, None, messages)?;
                out.push(function_response(id, &name, content, *is_error));
                out.extend(content.iter().filter_map(media_part));
            }
            other => out.extend(content_part(other)),
        }
    }
    Ok(out)
}

/// A `tool` message (OpenAI's form of a tool result).
fn tool_message(message: &Message, messages: &[Message]) -> Result<Vec<Value>, String> {
    let id = message.tool_call_id.clone().unwrap_or_default();
    let name = call_name(&id, message.name.as_deref(), messages)?;
    let mut out = vec![function_response(&id, &name, &message.parts, false)];
    out.extend(message.parts.iter().filter_map(media_part));
    Ok(out)
}

/// The name of the function call `id` answers: the message's own name, or
/// the call's in the conversation.
fn call_name(id: &str, named: Option<&str>, messages: &[Message]) -> Result<String, String> {
    if let Some(name) = named.filter(|n| !n.is_empty()) {
        return Ok(name.to_owned());
    }
    messages
        .iter()
        .flat_map(|m| &m.parts)
        .find_map(|part| match part {
            Part::ToolCall { id: call, name, .. } if call == id => Some(name.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "the tool result for call `{id}` has no matching tool call in the conversation; \
                 a Gemini upstream needs the function's name"
            )
        })
}

/// A `functionResponse`: a result that is a JSON object as it is, other
/// text under `result` (or `error`).
fn function_response(id: &str, name: &str, content: &[Part], is_error: bool) -> Value {
    let text = text_of(content);
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) if !is_error => object,
        _ if is_error => json!({"error": text}),
        _ => json!({"result": text}),
    };
    json!({"functionResponse": {"id": id, "name": name, "response": response}})
}

/// The model's parts: text and function calls, with its signatures put
/// back on the parts that carried them.
fn model_parts(parts: &[Part]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut signatures = Vec::new();
    for part in parts {
        match part {
            Part::Reasoning {
                signature: Some(signature),
                ..
            } => signatures.push(signature.clone()),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                let args = arguments_object(id, arguments, "a Gemini")?;
                out.push(json!({"functionCall": {"id": id, "name": name, "args": args}}));
            }
            other => out.extend(content_part(other)),
        }
    }
    let calls: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].get("functionCall").is_some())
        .collect();
    let targets: Vec<usize> = if calls.is_empty() {
        out.iter()
            .rposition(|p| p.get("text").is_some())
            .into_iter()
            .collect()
    } else {
        calls
    };
    for (signature, at) in signatures.into_iter().zip(targets) {
        out[at]["thoughtSignature"] = json!(signature);
    }
    Ok(out)
}

/// Text, images and files.
fn content_part(part: &Part) -> Option<Value> {
    match part {
        Part::Text(text) if !text.is_empty() => Some(json!({"text": text})),
        _ => media_part(part),
    }
}

/// Images and files, as inline data or a file URI.
fn media_part(part: &Part) -> Option<Value> {
    match part {
        Part::Image(Image::Inline { media_type, data })
        | Part::File(File::Inline {
            media_type, data, ..
        }) => Some(json!({"inlineData": {"mimeType": media_type, "data": base64(data)}})),
        Part::Image(Image::Url(url)) => {
            Some(json!({"fileData": {"mimeType": media_type_of(url), "fileUri": url}}))
        }
        Part::File(File::Id(uri)) => {
            Some(json!({"fileData": {"mimeType": media_type_of(uri), "fileUri": uri}}))
        }
        _ => None,
    }
}

/// An image's media type from its URL's extension (JPEG when unknown).
fn media_type_of(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let types = [
        (".png", "image/png"),
        (".webp", "image/webp"),
        (".gif", "image/gif"),
        (".heic", "image/heic"),
        (".pdf", "application/pdf"),
    ];
    types
        .iter()
        .find(|(ext, _)| path.ends_with(ext))
        .map_or("image/jpeg", |(_, t)| t)
}

/// A whole answer as events; tool calls without an id get
/// `call_{id_prefix}_{n}`.
///
/// # Errors
/// The upstream's error, a blocked prompt, or what is missing.
pub fn answer(body: &Value, id_prefix: &str) -> Result<Vec<Event>, String> {
    ContentDecoder::new(id_prefix).whole(body)
}

/// The chunks of a streamed answer, each a whole `GenerateContentResponse`;
/// the one with a `finishReason` completes it.
#[derive(Debug, Default)]
pub struct ContentDecoder {
    id_prefix: String,
    calls: usize,
    ending: Ending,
    /// Each chunk comes wrapped as `{"response": …}` (Code Assist).
    enveloped: bool,
}

impl ContentDecoder {
    /// A decoder naming id-less tool calls `call_{id_prefix}_{n}`.
    pub fn new(id_prefix: &str) -> ContentDecoder {
        ContentDecoder {
            id_prefix: id_prefix.to_owned(),
            ..ContentDecoder::default()
        }
    }

    /// A whole answer, read as the one chunk of a stream.
    pub(crate) fn whole(mut self, body: &Value) -> Result<Vec<Event>, String> {
        let mut events = self.chunk(body)?;
        if !self.finished() {
            return Err("the upstream's answer has no finish reason".into());
        }
        events.extend(self.end());
        Ok(events)
    }

    /// A decoder of Code Assist's answers, each wrapped as `{"response": …}`.
    pub fn enveloped(id_prefix: &str) -> ContentDecoder {
        ContentDecoder {
            enveloped: true,
            ..ContentDecoder::new(id_prefix)
        }
    }

    fn chunk(&mut self, chunk: &Value) -> Result<Vec<Event>, String> {
        let chunk = match chunk.get("response") {
            Some(inner) if self.enveloped && inner.is_object() => inner,
            _ => chunk,
        };
        if let Some(error) = chunk.get("error") {
            return Err(error_text(error));
        }
        let candidate = chunk.pointer("/candidates/0");
        if candidate.is_none()
            && let Some(reason) = chunk
                .pointer("/promptFeedback/blockReason")
                .and_then(Value::as_str)
        {
            return Err(format!("Gemini blocked the prompt ({reason})"));
        }
        let mut events = Vec::new();
        let parts = candidate
            .and_then(|c| c.pointer("/content/parts"))
            .and_then(Value::as_array);
        for part in parts.into_iter().flatten() {
            self.part(part, &mut events);
        }
        events.extend(
            chunk
                .get("usageMetadata")
                .and_then(usage_of)
                .map(Event::Usage),
        );
        if let Some(reason) = candidate
            .and_then(|c| c.get("finishReason"))
            .and_then(Value::as_str)
        {
            self.ending.set(finish_reason(reason, self.calls > 0)?);
        }
        Ok(events)
    }

    fn part(&mut self, part: &Value, events: &mut Vec<Event>) {
        if let Some(signature) = part
            .get("thoughtSignature")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            events.push(Event::ReasoningSignature(signature.to_owned()));
        }
        if let Some(call) = part.get("functionCall") {
            let index = self.calls;
            self.calls += 1;
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map_or_else(|| format!("call_{}_{index}", self.id_prefix), str::to_owned);
            events.push(Event::ToolCallStart {
                index,
                id,
                name: str_at(call, "name").to_owned(),
            });
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            events.push(Event::ToolCallArguments {
                index,
                fragment: args.to_string(),
            });
            return;
        }
        let text = str_at(part, "text");
        if text.is_empty() {
            return;
        }
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            events.push(Event::ReasoningDelta(text.to_owned()));
        } else {
            events.push(Event::TextDelta(text.to_owned()));
        }
    }
}

impl StreamDecoder for ContentDecoder {
    fn event(&mut self, _name: Option<&str>, data: &str) -> Result<Vec<Event>, String> {
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| format!("the upstream sent a chunk that is not JSON ({e})"))?;
        self.chunk(&chunk)
    }

    fn ending(&self) -> &Ending {
        &self.ending
    }

    fn ending_mut(&mut self) -> &mut Ending {
        &mut self.ending
    }
}

/// Gemini's counts in OpenAI's terms: the prompt includes cached tokens,
/// the output includes the thoughts.
fn usage_of(usage: &Value) -> Option<Usage> {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64);
    let thoughts = count("thoughtsTokenCount");
    let candidates = count("candidatesTokenCount");
    let output = match (candidates, thoughts) {
        (None, None) => None,
        (c, t) => Some(c.unwrap_or(0).saturating_add(t.unwrap_or(0))),
    };
    let usage = Usage {
        input_tokens: count("promptTokenCount"),
        output_tokens: output,
        cache_read_tokens: count("cachedContentTokenCount"),
        cache_write_tokens: None,
        reasoning_tokens: thoughts,
    };
    (!usage.is_empty()).then_some(usage)
}

/// A `finishReason`; a malformed function call is an error.
fn finish_reason(reason: &str, called: bool) -> Result<FinishReason, String> {
    Ok(match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY"
        | "LANGUAGE" => FinishReason::ContentFilter,
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" => {
            return Err(format!(
                "Gemini ended the answer with {reason}: the model's tool call could not be read"
            ));
        }
        _ if called => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    })
}

#[cfg(test)]
mod tests;
