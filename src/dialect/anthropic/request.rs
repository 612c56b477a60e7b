//! Anthropic Messages request → `Turn`. Pure: validates and translates,
//! naming the offending field in every error, and keeps everything the
//! client sent (what a backend cannot honour is the capability review's
//! business).
//!
//! `system` (a string or text blocks) becomes system messages; content
//! blocks become parts (`tool_use` a tool call, `tool_result` a tool
//! result inside the user message, `thinking` signed reasoning,
//! `redacted_thinking` encrypted reasoning); `thinking.budget_tokens` or
//! `output_config.effort` become the effort; `stop_sequences`,
//! `metadata.user_id`, `tool_choice.disable_parallel_tool_use` their
//! parameters. Tools with a `type` of their own (`web_search_20250305`,
//! `bash_20250124`…) are the provider's hosted tools. `cache_control`
//! marks are cache hints: a backend without Anthropic's cache ignores them,
//! named once as `cache_control`. Anthropic's own fields (`top_k`,
//! `context_management`, a tool's `defer_loading`…) are named, not kept:
//! only an Anthropic upstream reads them, and it gets the request as sent.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::upstream::thinking_budget;
use crate::dialect::fields::{Fields, base64_bytes};
use crate::dialect::fields::{invalid, string_at};
use crate::error::Error;
use crate::turn::{Effort, File, Image, Message, Params, Part, Role, Tool, ToolChoice, Turn};

/// A `POST /v1/messages` body: the fields read here, the rest kept as sent.
#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    /// The model string, routed like any other.
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation.
    pub messages: Vec<WireMessage>,
    /// Instructions: a string or text blocks.
    #[serde(default)]
    pub system: Option<Value>,
    /// Stream the answer as server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Everything else, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One message of `messages`.
#[derive(Debug, Deserialize)]
pub struct WireMessage {
    /// `user` or `assistant` (Claude Code also sends `system`).
    pub role: String,
    /// A string or content blocks.
    pub content: Value,
    /// Other fields, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The name a `cache_control` mark anywhere in the request is reported by.
const CACHE_CONTROL: &str = "cache_control";

/// Translates a request, keeping everything it carries. `header_session`
/// is a session id sent as a header.
///
/// # Errors
/// [`Error::InvalidRequest`] naming the field at fault.
pub fn to_turn(request: MessagesRequest, header_session: Option<String>) -> Result<Turn, Error> {
    let MessagesRequest {
        model,
        messages: wire,
        system,
        stream,
        extra,
    } = request;
    if wire.is_empty() {
        return Err(invalid("`messages` must not be empty"));
    }
    let mut reader = Reader::default();
    let mut messages = Vec::with_capacity(wire.len() + 1);
    if let Some(system) = system {
        messages.extend(reader.system(system)?);
    }
    for (i, message) in wire.into_iter().enumerate() {
        messages.push(reader.message(message, i)?);
    }
    let mut fields = Fields {
        extra,
        named: Vec::new(),
    };
    let (tools, hosted_tools) = match fields.extra.remove("tools") {
        None | Some(Value::Null) => (Vec::new(), Vec::new()),
        Some(value) => reader.tools(value)?,
    };
    let (tool_choice, parallel) = match fields.extra.remove("tool_choice") {
        None | Some(Value::Null) => (None, None),
        Some(value) => tool_choice(&value)?,
    };
    let effort = effort(&mut fields.extra)?;
    let user = fields.take("metadata", metadata_user);
    let mut params = Params {
        max_tokens: fields.param("max_tokens"),
        temperature: fields.param("temperature"),
        top_p: fields.param("top_p"),
        stop: fields.param("stop_sequences").unwrap_or_default(),
        user,
        parallel_tool_calls: parallel,
        ..Params::default()
    };
    if params.user.is_some() {
        fields.named.push("metadata.user_id".into());
    }
    if parallel.is_some() {
        fields
            .named
            .push("tool_choice.disable_parallel_tool_use".into());
    }
    params.named = std::mem::take(&mut fields.named);
    let session = crate::dialect::fields::session_id(&mut fields.extra, header_session)?;
    // Fields of Anthropic's own (`top_k`, `context_management`…) mean
    // nothing to another provider: an Anthropic upstream gets them with the
    // request as sent, the others name them as ignored.
    let mut unused = reader.unused;
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

/// Reads blocks, noting what has no place in the vocabulary.
#[derive(Default)]
struct Reader {
    unused: Vec<String>,
}

impl Reader {
    fn note(&mut self, name: impl Into<String>) {
        let name = name.into();
        if !self.unused.contains(&name) {
            self.unused.push(name);
        }
    }

    /// Notes a block's cache mark.
    fn cache_mark(&mut self, block: &Map<String, Value>) {
        if block.get(CACHE_CONTROL).is_some_and(|v| !v.is_null()) {
            self.note(CACHE_CONTROL);
        }
    }

    /// `system`: a string, or text blocks (one system message each).
    fn system(&mut self, value: Value) -> Result<Vec<Message>, Error> {
        match value {
            Value::Null => Ok(Vec::new()),
            Value::String(text) => Ok(vec![Message::text_message(Role::System, text)]),
            Value::Array(blocks) => blocks
                .into_iter()
                .enumerate()
                .map(|(i, block)| {
                    let at = format!("system[{i}]");
                    let block = object(block, &at)?;
                    if kind(&block, &at)? != "text" {
                        return Err(invalid(format!("{at}.type must be \"text\"")));
                    }
                    self.cache_mark(&block);
                    Ok(Message::text_message(
                        Role::System,
                        string_at(&block, "text", &at)?,
                    ))
                })
                .collect(),
            other => Err(invalid(format!(
                "`system` must be a string or an array of text blocks, not {other}"
            ))),
        }
    }

    fn message(&mut self, message: WireMessage, index: usize) -> Result<Message, Error> {
        let at = format!("messages[{index}]");
        let role = match message.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            other => {
                return Err(invalid(format!(
                    "{at}.role = {other:?} is not one of user, assistant (or system)"
                )));
            }
        };
        let parts = self.content(message.content, role, &format!("{at}.content"))?;
        for (key, _) in message.extra.iter().filter(|(_, v)| !v.is_null()) {
            self.note(format!("messages[].{key}"));
        }
        Ok(Message {
            role,
            parts,
            tool_call_id: None,
            name: None,
            extra: Map::new(),
        })
    }

    /// Message content: a string or blocks.
    fn content(&mut self, value: Value, role: Role, at: &str) -> Result<Vec<Part>, Error> {
        match value {
            Value::String(text) => Ok(vec![Part::Text(text)]),
            Value::Array(blocks) => {
                let mut parts = Vec::with_capacity(blocks.len());
                for (i, block) in blocks.into_iter().enumerate() {
                    let at = format!("{at}[{i}]");
                    parts.extend(self.block(object(block, &at)?, role, &at)?);
                }
                Ok(parts)
            }
            other => Err(invalid(format!(
                "{at} must be a string or an array of content blocks, not {other}"
            ))),
        }
    }

    fn block(
        &mut self,
        block: Map<String, Value>,
        role: Role,
        at: &str,
    ) -> Result<Option<Part>, Error> {
        self.cache_mark(&block);
        let kind = kind(&block, at)?;
        let part = match kind.as_str() {
            "text" => Part::Text(string_at(&block, "text", at)?),
            "image" => Part::Image(image(&block, at)?),
            "document" => Part::File(document(&block, at)?),
            "tool_use" if role == Role::Assistant => Part::ToolCall {
                id: string_at(&block, "id", at)?,
                name: string_at(&block, "name", at)?,
                arguments: block
                    .get("input")
                    .filter(|v| !v.is_null())
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            },
            "tool_result" if role == Role::User => Part::ToolResult {
                id: string_at(&block, "tool_use_id", at)?,
                content: self.tool_result_content(&block, at)?,
                is_error: block.get("is_error").and_then(Value::as_bool) == Some(true),
            },
            "thinking" if role == Role::Assistant => Part::Reasoning {
                text: string_at(&block, "thinking", at)?,
                signature: block
                    .get("signature")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            },
            "redacted_thinking" if role == Role::Assistant => {
                Part::RedactedReasoning(string_at(&block, "data", at)?)
            }
            "tool_use" | "thinking" | "redacted_thinking" => {
                return Err(invalid(format!(
                    "{at}: a {kind} block belongs in an assistant message"
                )));
            }
            "tool_result" => {
                return Err(invalid(format!(
                    "{at}: a tool_result block belongs in a user message"
                )));
            }
            // The provider's own tools' calls and results (web search…),
            // which only an Anthropic upstream knows.
            other if other.starts_with("server_tool_use") || other.ends_with("_tool_result") => {
                self.note(format!("messages[].content[{other}]"));
                return Ok(None);
            }
            other => {
                return Err(invalid(format!(
                    "{at}.type = {other:?} is not supported: use text, image, document, \
                     tool_use, tool_result, thinking or redacted_thinking blocks"
                )));
            }
        };
        Ok(Some(part))
    }

    /// A tool result's `content`: a string, or text and image blocks.
    fn tool_result_content(
        &mut self,
        block: &Map<String, Value>,
        at: &str,
    ) -> Result<Vec<Part>, Error> {
        match block.get("content") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(content) => {
                let parts = self.content(content.clone(), Role::User, &format!("{at}.content"))?;
                if let Some(bad) = parts
                    .iter()
                    .find(|p| !matches!(p, Part::Text(_) | Part::Image(_) | Part::File(_)))
                {
                    return Err(invalid(format!(
                        "{at}.content holds a block a tool result cannot hold ({bad:?})"
                    )));
                }
                Ok(parts)
            }
        }
    }

    /// `tools`: client tools (`name`, `description`, `input_schema`), and
    /// the provider's own (an entry with a `type` other than `custom`).
    fn tools(&mut self, value: Value) -> Result<(Vec<Tool>, Vec<Value>), Error> {
        let Value::Array(entries) = value else {
            return Err(invalid("`tools` must be an array"));
        };
        let mut tools = Vec::new();
        let mut hosted = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let at = format!("tools[{i}]");
            let mut entry = object(entry, &at)?;
            match entry.get("type").and_then(Value::as_str) {
                Some(kind) if kind != "custom" => {
                    hosted.push(Value::Object(entry));
                    continue;
                }
                _ => {}
            }
            entry.remove("type");
            let name = string_at(&entry, "name", &at)?;
            entry.remove("name");
            let description = match entry.remove("description") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(text),
                Some(_) => return Err(invalid(format!("{at}.description must be a string"))),
            };
            let parameters = match entry.remove("input_schema") {
                Some(schema @ Value::Object(_)) => schema,
                None | Some(Value::Null) => serde_json::json!({"type": "object", "properties": {}}),
                Some(_) => return Err(invalid(format!("{at}.input_schema must be an object"))),
            };
            // A cache mark on a tool is a hint like the others, not a field
            // of it; `strict` means the same to OpenAI; the rest are
            // Anthropic's own.
            if entry.remove(CACHE_CONTROL).is_some_and(|v| !v.is_null()) {
                self.note(CACHE_CONTROL);
            }
            let mut extra = Map::new();
            for (key, value) in entry {
                match key.as_str() {
                    _ if value.is_null() => {}
                    "strict" => {
                        extra.insert(key, value);
                    }
                    _ => self.note(format!("tools[].{key}")),
                }
            }
            tools.push(Tool {
                name,
                description,
                parameters,
                extra,
            });
        }
        Ok((tools, hosted))
    }
}

/// `tool_choice`: `{"type": "auto" | "any" | "tool" | "none"}`, with
/// `disable_parallel_tool_use` as the parallel-calls parameter.
fn tool_choice(value: &Value) -> Result<(Option<ToolChoice>, Option<bool>), Error> {
    let at = "tool_choice";
    let Value::Object(choice) = value else {
        return Err(invalid("`tool_choice` must be an object with a `type`"));
    };
    let parsed = match kind(choice, at)?.as_str() {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => ToolChoice::Named(string_at(choice, "name", at)?),
        other => {
            return Err(invalid(format!(
                "tool_choice.type = {other:?} is not one of auto, any, tool, none"
            )));
        }
    };
    let parallel = match choice.get("disable_parallel_tool_use") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(disable)) => Some(!disable),
        Some(_) => {
            return Err(invalid(
                "tool_choice.disable_parallel_tool_use must be a boolean",
            ));
        }
    };
    Ok((Some(parsed), parallel))
}

/// The effort: `output_config.effort`, else `thinking.budget_tokens` (an
/// enabled budget, mapped to the nearest effort at or below it). The fields
/// are taken when fully read; `thinking: {"type": "disabled"}` and
/// `{"type": "adaptive"}` (the model decides) ask for no effort.
fn effort(extra: &mut Map<String, Value>) -> Result<Option<Effort>, Error> {
    let mut effort = None;
    if let Some(Value::Object(config)) = extra.get("output_config")
        && let Some(value) = config.get("effort").filter(|v| !v.is_null())
    {
        let value = value
            .as_str()
            .ok_or_else(|| invalid("output_config.effort must be a string"))?;
        effort = Some(Effort::parse(value).ok_or_else(|| {
            invalid(format!(
                "output_config.effort = {value:?} is not one of low, medium, high, max"
            ))
        })?);
        if config.len() == 1 {
            extra.remove("output_config");
        }
    }
    let Some(Value::Object(thinking)) = extra.get("thinking") else {
        return Ok(effort);
    };
    let read = match thinking.get("type").and_then(Value::as_str) {
        Some("enabled") => {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid("thinking.budget_tokens must be a positive integer"))?;
            effort = effort.or(Some(Effort::for_budget(budget, thinking_budget)));
            true
        }
        Some("disabled" | "adaptive") => true,
        _ => false,
    };
    if read && thinking.keys().all(|k| k == "type" || k == "budget_tokens") {
        extra.remove("thinking");
    }
    Ok(effort)
}

/// `metadata: {"user_id": …}` as the end-user id, when that is all it holds.
fn metadata_user(value: &Value) -> Option<String> {
    let metadata = value.as_object()?;
    if metadata.len() != 1 {
        return None;
    }
    metadata.get("user_id")?.as_str().map(str::to_owned)
}

/// An `image` block's source: base64 or a URL.
fn image(block: &Map<String, Value>, at: &str) -> Result<Image, Error> {
    let (source, at) = source(block, at)?;
    match kind(source, &at)?.as_str() {
        "base64" => Ok(Image::Inline {
            media_type: string_at(source, "media_type", &at)?,
            data: base64(source, &at)?,
        }),
        "url" => Ok(Image::Url(string_at(source, "url", &at)?)),
        other => Err(invalid(format!(
            "{at}.type = {other:?} is not supported for images: use base64 or url"
        ))),
    }
}

/// A `document` block's source: a base64 PDF, plain text, or a provider file.
fn document(block: &Map<String, Value>, at: &str) -> Result<File, Error> {
    let (source, source_at) = source(block, at)?;
    let filename = block
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match kind(source, &source_at)?.as_str() {
        "base64" => Ok(File::Inline {
            media_type: string_at(source, "media_type", &source_at)?,
            data: base64(source, &source_at)?,
            filename,
        }),
        "text" => Ok(File::Inline {
            media_type: "text/plain".into(),
            data: string_at(source, "data", &source_at)?.into_bytes(),
            filename,
        }),
        "file" => Ok(File::Id(string_at(source, "file_id", &source_at)?)),
        other => Err(invalid(format!(
            "{source_at}.type = {other:?} is not supported for documents: use base64, text or file"
        ))),
    }
}

fn source<'a>(
    block: &'a Map<String, Value>,
    at: &str,
) -> Result<(&'a Map<String, Value>, String), Error> {
    let at = format!("{at}.source");
    match block.get("source") {
        Some(Value::Object(source)) => Ok((source, at)),
        _ => Err(invalid(format!("{at} must be an object"))),
    }
}

fn base64(source: &Map<String, Value>, at: &str) -> Result<Vec<u8>, Error> {
    base64_bytes(&string_at(source, "data", at)?, &format!("{at}.data"))
}

fn object(value: Value, at: &str) -> Result<Map<String, Value>, Error> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(invalid(format!("{at} must be an object, not {other}"))),
    }
}

fn kind(block: &Map<String, Value>, at: &str) -> Result<String, Error> {
    string_at(block, "type", at)
}

#[cfg(test)]
mod tests;
