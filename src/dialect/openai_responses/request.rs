//! OpenAI Responses request → `Turn`. Pure: validates and translates,
//! naming the offending field in every error.
//!
//! `instructions` becomes a system message; `input` (a string, or items)
//! becomes the conversation after `history` (what `previous_response_id`
//! continues, given by the caller): `message` items with their parts,
//! `function_call` items as the assistant's tool calls,
//! `function_call_output` items as tool results, `reasoning` items as the
//! assistant's reasoning (encrypted content, to be sent back as it is, or
//! its summary). Consecutive assistant items make one assistant message.
//! Function tools become tools, others the provider's hosted tools;
//! `max_output_tokens`, `text.format`, `reasoning.effort` and the sampling
//! parameters take their places. The Responses API's own fields (`store`,
//! `include`, `truncation`…) are read by the caller or named.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::dialect::fields::Fields;
use crate::dialect::fields::{invalid, string_at};
use crate::dialect::openai_chat::request::{content_part, role};
use crate::error::Error;
use crate::turn::{Effort, Message, Params, Part, Role, Tool, ToolChoice, Turn};

/// A `POST /v1/responses` body: the fields read here, the rest kept.
#[derive(Debug, Deserialize)]
pub struct ResponsesRequest {
    /// The model string, routed like any other.
    #[serde(default)]
    pub model: Option<String>,
    /// The new input: a string or items.
    #[serde(default)]
    pub input: Option<Value>,
    /// Instructions, as a system message first.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Stream the answer as `response.*` events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// The response this one continues.
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// Whether the gateway keeps the response to be continued (default yes).
    #[serde(default)]
    pub store: Option<bool>,
    /// Everything else, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Fields the gateway reads or answers itself (nothing to pass on).
const OWN_FIELDS: &[&str] = &["include", "stream_options", "metadata"];

/// The messages of `input`: a string, or items.
///
/// # Errors
/// [`Error::InvalidRequest`] naming the item at fault, or for no input.
pub fn input(input: Option<Value>) -> Result<Vec<Message>, Error> {
    let messages = match input {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => vec![Message::text_message(Role::User, text)],
        Some(Value::Array(items)) => items_to_messages(items)?,
        Some(other) => {
            return Err(invalid(format!(
                "`input` must be a string or an array of items, not {other}"
            )));
        }
    };
    if messages.is_empty() {
        return Err(invalid(
            "`input` is required: send a string or at least one item",
        ));
    }
    Ok(messages)
}

/// Translates a request whose `input` was read ([`input`]) after
/// `history` (the conversation it continues). `header_session` is a
/// session id sent as a header.
///
/// # Errors
/// [`Error::InvalidRequest`] naming the field at fault.
pub fn to_turn(
    request: ResponsesRequest,
    history: Vec<Message>,
    input: Vec<Message>,
    header_session: Option<String>,
) -> Result<Turn, Error> {
    let ResponsesRequest {
        model,
        input: _,
        instructions,
        stream,
        previous_response_id: _,
        store: _,
        extra,
    } = request;
    let mut messages = Vec::new();
    if let Some(text) = instructions.filter(|t| !t.trim().is_empty()) {
        messages.push(Message::text_message(Role::System, text));
    }
    messages.extend(history);
    messages.extend(input);
    let mut fields = Fields {
        extra,
        named: Vec::new(),
    };
    let mut unused = Vec::new();
    let (tools, hosted_tools) = match fields.extra.remove("tools") {
        None | Some(Value::Null) => (Vec::new(), Vec::new()),
        Some(value) => tools(value)?,
    };
    let tool_choice = match fields.extra.remove("tool_choice") {
        None | Some(Value::Null) => None,
        Some(value) => tool_choice(&value, &mut unused)?,
    };
    let effort = effort(&mut fields.extra, &mut unused)?;
    let response_format = text_format(&mut fields.extra, &mut unused)?;
    let mut params = Params {
        max_tokens: fields.param("max_output_tokens"),
        temperature: fields.param("temperature"),
        top_p: fields.param("top_p"),
        user: fields
            .param("safety_identifier")
            .or_else(|| fields.param("user")),
        parallel_tool_calls: fields.param("parallel_tool_calls"),
        ..Params::default()
    };
    if response_format.is_some() {
        params.response_format = response_format;
        fields.named.push("text.format".into());
    }
    params.named = std::mem::take(&mut fields.named);
    let session = crate::dialect::fields::session_id(&mut fields.extra, header_session)?;
    for name in OWN_FIELDS {
        fields.extra.remove(*name);
    }
    // The Responses API's own fields mean nothing to another provider.
    unused.extend(fields.left());
    Ok(Turn {
        model: model.unwrap_or_default(),
        messages,
        stream: stream.unwrap_or(false),
        effort,
        session,
        tools,
        hosted_tools,
        tool_choice,
        params,
        unused,
        ..Turn::default()
    })
}

/// `input` items as messages, consecutive assistant items merged.
fn items_to_messages(items: Vec<Value>) -> Result<Vec<Message>, Error> {
    let mut messages: Vec<Message> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("input[{i}]");
        let Value::Object(item) = item else {
            return Err(invalid(format!("{at} must be an object")));
        };
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        let (role, parts, call) = match kind {
            "message" => {
                // An item without a role is the user's.
                let role_name = match item.get("role") {
                    None => "user".to_owned(),
                    Some(_) => string_at(&item, "role", &at)?,
                };
                let role = role(&role_name, &at)?;
                (role, content(item.get("content"), &at)?, None)
            }
            "function_call" => (
                Role::Assistant,
                vec![Part::ToolCall {
                    id: string_at(&item, "call_id", &at)?,
                    name: string_at(&item, "name", &at)?,
                    arguments: match item.get("arguments") {
                        Some(Value::String(arguments)) => arguments.clone(),
                        None | Some(Value::Null) => "{}".into(),
                        Some(other) => other.to_string(),
                    },
                }],
                None,
            ),
            "function_call_output" => {
                let output = match item.get("output") {
                    Some(Value::String(output)) => vec![Part::Text(output.clone())],
                    other => content(other, &format!("{at}.output"))?,
                };
                (Role::Tool, output, Some(string_at(&item, "call_id", &at)?))
            }
            "reasoning" => (Role::Assistant, reasoning(&item), None),
            other => {
                return Err(invalid(format!(
                    "{at}.type = {other:?} is not supported: use message, function_call, \
                     function_call_output or reasoning items"
                )));
            }
        };
        match messages.last_mut() {
            Some(last) if role == Role::Assistant && last.role == Role::Assistant => {
                last.parts.extend(parts);
            }
            _ => messages.push(Message {
                role,
                parts,
                tool_call_id: call,
                name: None,
                extra: Map::new(),
            }),
        }
    }
    Ok(messages)
}

/// A `reasoning` item: its summary's text, and its encrypted content, to
/// go back as it is to a Responses upstream (a backend that cannot take it
/// names it as ignored; the summary still reads).
fn reasoning(item: &Map<String, Value>) -> Vec<Part> {
    let summary: Vec<&str> = item
        .get("summary")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|part| part.get("text")?.as_str())
        .collect();
    let mut parts = Vec::new();
    if !summary.is_empty() {
        parts.push(Part::Reasoning {
            text: summary.join("\n\n"),
            signature: None,
        });
    }
    if let Some(data) = item
        .get("encrypted_content")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        parts.push(Part::RedactedReasoning(data.to_owned()));
    }
    parts
}

/// A message's `content`: a string, or parts.
fn content(value: Option<&Value>, at: &str) -> Result<Vec<Part>, Error> {
    let at = format!("{at}.content");
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![Part::Text(text.clone())]),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (i, part) in parts.iter().enumerate() {
                out.extend(content_part(part.clone(), &format!("{at}[{i}]"))?);
            }
            Ok(out)
        }
        Some(other) => Err(invalid(format!(
            "{at} must be a string or an array of parts, not {other}"
        ))),
    }
}

/// `tools`: function tools (flat: `name`, `description`, `parameters`,
/// `strict`), and the provider's own (`web_search`, `custom`…) as sent.
fn tools(value: Value) -> Result<(Vec<Tool>, Vec<Value>), Error> {
    let Value::Array(entries) = value else {
        return Err(invalid("`tools` must be an array"));
    };
    let mut tools = Vec::new();
    let mut hosted = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let at = format!("tools[{i}]");
        let Value::Object(mut entry) = entry else {
            return Err(invalid(format!("{at} must be an object")));
        };
        if entry.get("type").and_then(Value::as_str) != Some("function") {
            hosted.push(Value::Object(entry));
            continue;
        }
        entry.remove("type");
        let name = string_at(&entry, "name", &at)?;
        entry.remove("name");
        let description = match entry.remove("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text),
            Some(_) => return Err(invalid(format!("{at}.description must be a string"))),
        };
        let parameters = match entry.remove("parameters") {
            Some(schema @ Value::Object(_)) => schema,
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(_) => return Err(invalid(format!("{at}.parameters must be an object"))),
        };
        entry.retain(|_, v| !v.is_null());
        tools.push(Tool {
            name,
            description,
            parameters,
            extra: entry,
        });
    }
    Ok((tools, hosted))
}

/// `tool_choice`: `"auto"`, `"none"`, `"required"` or `{"type":
/// "function", "name"}`; a hosted tool's choice is named.
fn tool_choice(value: &Value, unused: &mut Vec<String>) -> Result<Option<ToolChoice>, Error> {
    Ok(Some(match value {
        Value::String(s) if s == "auto" => ToolChoice::Auto,
        Value::String(s) if s == "none" => ToolChoice::None,
        Value::String(s) if s == "required" => ToolChoice::Required,
        Value::Object(choice) if choice.get("type").and_then(Value::as_str) == Some("function") => {
            ToolChoice::Named(string_at(choice, "name", "tool_choice")?)
        }
        Value::Object(_) => {
            unused.push("tool_choice".into());
            return Ok(None);
        }
        other => {
            return Err(invalid(format!(
                "`tool_choice` must be auto, none, required or a function, not {other}"
            )));
        }
    }))
}

/// `reasoning.effort`; a `summary` other than `auto` is named.
fn effort(
    extra: &mut Map<String, Value>,
    unused: &mut Vec<String>,
) -> Result<Option<Effort>, Error> {
    let Some(reasoning) = extra.remove("reasoning") else {
        return Ok(None);
    };
    let Value::Object(reasoning) = reasoning else {
        if reasoning.is_null() {
            return Ok(None);
        }
        return Err(invalid("`reasoning` must be an object"));
    };
    for (key, value) in &reasoning {
        match (key.as_str(), value) {
            ("effort", _) | (_, Value::Null) => {}
            ("summary", Value::String(s)) if s == "auto" => {}
            _ => unused.push(format!("reasoning.{key}")),
        }
    }
    match reasoning.get("effort") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Effort::parse(value).map(Some).ok_or_else(|| {
            invalid(format!(
                "`reasoning.effort` = {value:?} is not one of none, minimal, low, medium, high, xhigh"
            ))
        }),
        Some(_) => Err(invalid("`reasoning.effort` must be a string")),
    }
}

/// `text.format` as Chat's `response_format` (the vocabulary's shape);
/// `text.verbosity` is named.
fn text_format(
    extra: &mut Map<String, Value>,
    unused: &mut Vec<String>,
) -> Result<Option<Value>, Error> {
    let Some(text) = extra.remove("text") else {
        return Ok(None);
    };
    let Value::Object(text) = text else {
        if text.is_null() {
            return Ok(None);
        }
        return Err(invalid("`text` must be an object"));
    };
    for key in text.keys().filter(|k| *k != "format") {
        unused.push(format!("text.{key}"));
    }
    let Some(Value::Object(format)) = text.get("format") else {
        return Ok(None);
    };
    Ok(match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => {
            let mut schema = format.clone();
            schema.remove("type");
            Some(json!({"type": "json_schema", "json_schema": schema}))
        }
        Some("json_object") => Some(json!({"type": "json_object"})),
        Some("text") | None => None,
        Some(other) => {
            return Err(invalid(format!(
                "`text.format.type` = {other:?} is not one of text, json_object, json_schema"
            )));
        }
    })
}

#[cfg(test)]
mod tests;
