//! Chat Completions request → `Turn`. Pure: validates and translates,
//! naming the offending field in every error, and keeps everything the
//! client sent; what a backend cannot honour is the capability review's
//! business, not the dialect's.

use serde_json::Value;

use self::fields::{Stop, choice, tools};
use crate::dialect::fields::invalid;
use crate::dialect::fields::{Fields, base64_bytes, session_id};
use crate::dialect::openai_chat::wire::{ChatMessage, ChatRequest};
use crate::error::Error;
use crate::turn::{Effort, File, Image, Message, Params, Part, Role, Turn};

/// Translates a request, keeping everything it carries: what the chosen
/// backend cannot honour is decided later, by the capability review.
/// `header_session` is a session id sent as a header.
///
/// # Errors
/// [`Error::InvalidRequest`] naming the field at fault.
pub fn to_turn(request: ChatRequest, header_session: Option<String>) -> Result<Turn, Error> {
    let ChatRequest {
        model,
        messages,
        input,
        instructions,
        stream,
        stream_options: _,
        reasoning_effort,
        reasoning,
        n,
        extra,
    } = request;
    let mut fields = Fields {
        extra,
        named: Vec::new(),
    };
    let mut unused = Vec::new();
    let messages = match messages {
        Some(list) if !list.is_empty() => {
            let mut messages = Vec::with_capacity(list.len() + 1);
            if let Some(text) = instructions.filter(|t| !t.trim().is_empty()) {
                messages.push(Message::text_message(Role::System, text));
            }
            if input.as_ref().is_some_and(|i| !i.is_null()) {
                unused.push("input".to_owned());
            }
            for (i, m) in list.into_iter().enumerate() {
                messages.push(message(m, i)?);
            }
            messages
        }
        Some(_) => return Err(invalid("`messages` must not be empty")),
        None => responses_input(input, instructions)?,
    };
    let effort = match (
        reasoning_effort,
        reasoning.as_ref().and_then(|r| r.get("effort")),
    ) {
        (Some(e), _) => Some(parse_effort(&e, "reasoning_effort")?),
        (None, Some(Value::String(e))) => Some(parse_effort(e, "reasoning.effort")?),
        (None, Some(other)) if !other.is_null() => {
            return Err(invalid("`reasoning.effort` must be a string"));
        }
        _ => None,
    };
    if let Some(Value::Object(fields)) = &reasoning {
        // Only `reasoning.effort` has a place in the vocabulary.
        let others = fields
            .iter()
            .filter(|(k, v)| *k != "effort" && !v.is_null());
        unused.extend(others.map(|(k, _)| format!("reasoning.{k}")));
    }
    let session = session_id(&mut fields.extra, header_session)?;
    let (tools, hosted_tools) = fields.take("tools", tools).unwrap_or_default();
    let tool_choice = fields.take("tool_choice", choice);
    let params = Params {
        max_tokens: fields
            .param::<u64>("max_completion_tokens")
            .or_else(|| fields.param("max_tokens")),
        temperature: fields.param("temperature"),
        top_p: fields.param("top_p"),
        stop: fields
            .param::<Stop>("stop")
            .map(Stop::into_vec)
            .unwrap_or_default(),
        seed: fields.param("seed"),
        response_format: fields.param("response_format"),
        user: fields.param("user"),
        parallel_tool_calls: fields.param("parallel_tool_calls"),
        n,
        named: std::mem::take(&mut fields.named),
    };
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
        extra: fields.extra,
        unused,
        ..Turn::default()
    })
}

fn parse_effort(value: &str, field: &str) -> Result<Effort, Error> {
    Effort::parse(value).ok_or_else(|| {
        invalid(format!(
            "`{field}` = {value:?} is not one of none, minimal, low, medium, high, xhigh, max"
        ))
    })
}

/// A message's role by its name; `at` names the message.
pub(crate) fn role(name: &str, at: &str) -> Result<Role, Error> {
    Ok(match name {
        "system" => Role::System,
        "developer" => Role::Developer,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" | "function" => Role::Tool,
        other => {
            return Err(invalid(format!(
                "{at}.role = {other:?} is not one of system, developer, user, assistant, tool"
            )));
        }
    })
}

/// One message, with the fields this vocabulary has no place for kept.
fn message(m: ChatMessage, index: usize) -> Result<Message, Error> {
    let at = format!("messages[{index}]");
    let role = role(&m.role, &at)?;
    let mut extra = m.extra;
    let mut parts = match extra.remove("thinking_blocks") {
        Some(blocks) if role == Role::Assistant && !blocks.is_null() => {
            thinking_blocks(blocks, &format!("{at}.thinking_blocks"))?
        }
        Some(other) if !other.is_null() => {
            return Err(invalid(format!(
                "{at}.thinking_blocks is only taken in assistant messages"
            )));
        }
        _ => Vec::new(),
    };
    parts.extend(content(m.content, &format!("{at}.content"))?);
    let legacy = m
        .function_call
        .map(|f| crate::dialect::openai_chat::wire::ToolCall {
            id: String::new(),
            function: f,
        });
    for (i, call) in m.tool_calls.into_iter().flatten().chain(legacy).enumerate() {
        parts.push(Part::ToolCall {
            id: if call.id.is_empty() {
                format!("call_{i}")
            } else {
                call.id
            },
            name: call.function.name,
            arguments: match call.function.arguments {
                Value::String(s) => s,
                Value::Null => "{}".to_owned(),
                other => other.to_string(),
            },
        });
    }
    Ok(Message {
        role,
        parts,
        tool_call_id: m.tool_call_id,
        name: m.name,
        extra,
    })
}

/// An assistant message's `thinking_blocks`, as the gateway gave them:
/// signed reasoning and redacted reasoning, to send back unchanged.
fn thinking_blocks(blocks: Value, at: &str) -> Result<Vec<Part>, Error> {
    let Value::Array(blocks) = blocks else {
        return Err(invalid(format!("{at} must be an array")));
    };
    let text = |block: &Value, key: &str, i: usize| match block.get(key) {
        Some(Value::String(text)) => Ok(text.clone()),
        _ => Err(invalid(format!("{at}[{i}].{key} must be a string"))),
    };
    blocks
        .iter()
        .enumerate()
        .map(
            |(i, block)| match block.get("type").and_then(Value::as_str) {
                Some("thinking") => Ok(Part::Reasoning {
                    text: text(block, "thinking", i)?,
                    signature: match block.get("signature") {
                        None | Some(Value::Null) => None,
                        Some(_) => Some(text(block, "signature", i)?),
                    },
                }),
                Some("redacted_thinking") => Ok(Part::RedactedReasoning(text(block, "data", i)?)),
                _ => Err(invalid(format!(
                    "{at}[{i}].type must be \"thinking\" or \"redacted_thinking\""
                ))),
            },
        )
        .collect()
}

/// Message content: a string, null, one part, or an array of parts.
fn content(value: Value, at: &str) -> Result<Vec<Part>, Error> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(vec![Part::Text(text)]),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| content_part(item, &format!("{at}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(|parts| parts.into_iter().flatten().collect()),
        Value::Object(_) => Ok(content_part(value, at)?.into_iter().collect()),
        other => Err(invalid(format!(
            "{at} must be a string or an array of parts, not {other}"
        ))),
    }
}

/// One content part (`text`, `image_url`, `file`, and the Responses
/// names of the same); `at` names it.
pub(crate) fn content_part(item: Value, at: &str) -> Result<Option<Part>, Error> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("text")
        .to_owned();
    match kind.as_str() {
        "text" | "input_text" | "output_text" => match item.get("text") {
            Some(Value::String(text)) => Ok(Some(Part::Text(text.clone()))),
            _ => Err(invalid(format!("{at}.text must be a string"))),
        },
        "refusal" => Ok(item
            .get("refusal")
            .and_then(Value::as_str)
            .map(|t| Part::Text(t.to_owned()))),
        "image_url" | "input_image" => {
            let url = match item.get("image_url") {
                Some(Value::String(url)) => url.clone(),
                Some(Value::Object(obj)) => obj
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                _ => String::new(),
            };
            if url.is_empty() {
                return Err(invalid(format!("{at}.image_url.url is missing")));
            }
            image(&url, at).map(|i| Some(Part::Image(i)))
        }
        "file" | "input_file" => file(&item, at).map(|f| Some(Part::File(f))),
        other => Err(invalid(format!(
            "{at}.type = {other:?} is not supported: use text, image_url or file parts"
        ))),
    }
}

/// A `file` part: `{"file": {"file_data": "data:…;base64,…", "filename"}}`
/// or `{"file": {"file_id"}}` (Responses' `input_file` has them at the top).
fn file(item: &Value, at: &str) -> Result<File, Error> {
    let fields = item.get("file").unwrap_or(item);
    let text = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    if let Some(id) = text("file_id") {
        return Ok(File::Id(id.to_owned()));
    }
    let Some(uri) = text("file_data") else {
        return Err(invalid(format!(
            "{at}.file needs `file_data` (a base64 data URI) or `file_id`"
        )));
    };
    let (media_type, data) = data_uri(uri, at)?;
    Ok(File::Inline {
        media_type,
        data,
        filename: text("filename").map(str::to_owned),
    })
}

/// Decodes a `data:` URI; other URLs are kept for the backend to refuse or fetch.
fn image(url: &str, at: &str) -> Result<Image, Error> {
    if !url.starts_with("data:") {
        return Ok(Image::Url(url.to_owned()));
    }
    let (media_type, data) = data_uri(url, at)?;
    Ok(Image::Inline { media_type, data })
}

/// The media type and bytes of a base64 `data:` URI.
fn data_uri(uri: &str, at: &str) -> Result<(String, Vec<u8>), Error> {
    let Some(rest) = uri.strip_prefix("data:") else {
        return Err(invalid(format!("{at}: expected a base64 data: URI")));
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(invalid(format!("{at}: malformed data URI")));
    };
    let Some(media_type) = meta.strip_suffix(";base64") else {
        return Err(invalid(format!(
            "{at}: only base64 data URIs are supported"
        )));
    };
    let bytes = base64_bytes(data, &format!("{at}: the data"))?;
    let media_type = if media_type.is_empty() {
        "application/octet-stream".to_owned()
    } else {
        media_type.to_owned()
    };
    Ok((media_type, bytes))
}

/// Responses-style `input` + `instructions`, accepted by the original here
/// too, read as the Responses endpoint reads them.
fn responses_input(
    input: Option<Value>,
    instructions: Option<String>,
) -> Result<Vec<Message>, Error> {
    let mut messages = Vec::new();
    if let Some(text) = instructions.filter(|t| !t.trim().is_empty()) {
        messages.push(Message::text_message(Role::System, text));
    }
    if !matches!(input, None | Some(Value::Null)) {
        messages.extend(crate::dialect::openai_responses::input(input)?);
    }
    if messages.iter().all(|m| m.role != Role::User) {
        return Err(invalid("`messages` is required: send at least one message"));
    }
    Ok(messages)
}

mod fields;
#[cfg(test)]
mod tests;
