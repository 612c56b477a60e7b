//! Gemini `generateContent` request → `Turn`. Pure: validates and
//! translates, naming the offending field in every error. Fields are read
//! in camelCase and snake_case, as Google's API takes both.
//!
//! `systemInstruction` becomes system messages; `contents` the
//! conversation (`model` is the assistant): text, `thought` text as
//! reasoning, a part's `thoughtSignature` as signed reasoning just before
//! it, `inlineData` as images and files, `functionCall` as tool calls (an
//! id made when the call has none) and `functionResponse` as tool results,
//! paired with their call by id, else by name in order. Function
//! declarations become tools (OpenAPI type names lower-cased into JSON
//! Schema), other tools the provider's hosted tools; `toolConfig` the tool
//! choice; `generationConfig` the parameters and, by `thinkingConfig`, the
//! effort. Google's own fields (`safetySettings`, `cachedContent`…) are
//! named.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::dialect::fields::base64_bytes;
use crate::dialect::fields::{invalid, string_at};
use crate::error::Error;
use crate::turn::{Effort, File, Image, Message, Params, Part, Role, Tool, ToolChoice, Turn};

/// A `generateContent` body: the fields read here, the rest kept.
#[derive(Debug, Default, Deserialize)]
pub struct GenerateRequest {
    /// The conversation.
    #[serde(default)]
    pub contents: Option<Value>,
    /// Instructions.
    #[serde(default, alias = "system_instruction")]
    #[serde(rename = "systemInstruction")]
    pub system_instruction: Option<Value>,
    /// Function declarations and the provider's own tools.
    #[serde(default)]
    pub tools: Option<Value>,
    /// How tools may be called.
    #[serde(default, alias = "tool_config")]
    #[serde(rename = "toolConfig")]
    pub tool_config: Option<Value>,
    /// Generation parameters.
    #[serde(default, alias = "generation_config")]
    #[serde(rename = "generationConfig")]
    pub generation_config: Option<Value>,
    /// Everything else, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Translates a request for `model` (from the URL); `stream` says which
/// action was asked for.
///
/// # Errors
/// [`Error::InvalidRequest`] naming the field at fault.
pub fn to_turn(request: GenerateRequest, model: &str, stream: bool) -> Result<Turn, Error> {
    let GenerateRequest {
        contents,
        system_instruction,
        tools,
        tool_config,
        generation_config,
        extra,
    } = request;
    let mut messages = Vec::new();
    let mut reader = Reader::default();
    if let Some(system) = system_instruction.filter(|s| !s.is_null()) {
        messages.push(reader.system(&system)?);
    }
    let Some(Value::Array(contents)) = contents else {
        return Err(invalid("`contents` is required: an array of contents"));
    };
    for (i, content) in contents.iter().enumerate() {
        reader.content(content, &format!("contents[{i}]"), &mut messages)?;
    }
    if !messages
        .iter()
        .any(|m| matches!(m.role, Role::User | Role::Tool))
    {
        return Err(invalid("`contents` needs at least one user turn"));
    }
    let (tools, hosted_tools) = match tools {
        None | Some(Value::Null) => (Vec::new(), Vec::new()),
        Some(tools) => read_tools(&tools)?,
    };
    let tool_choice = match tool_config {
        None | Some(Value::Null) => None,
        Some(config) => choice(&config, &mut reader.unused)?,
    };
    let mut unused = reader.unused;
    let (params, effort) = match generation_config {
        None | Some(Value::Null) => (Params::default(), None),
        Some(config) => generation(&config, &mut unused)?,
    };
    unused.extend(
        extra
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k.clone()),
    );
    Ok(Turn {
        model: model.to_owned(),
        messages,
        stream,
        effort,
        tools,
        hosted_tools,
        tool_choice,
        params,
        unused,
        ..Turn::default()
    })
}

/// Reads contents, keeping the calls a later response answers.
#[derive(Default)]
struct Reader {
    /// Calls made so far: id and name, the unanswered ones in order.
    calls: Vec<(String, String, bool)>,
    unused: Vec<String>,
}

impl Reader {
    /// `systemInstruction`: a content (`{"parts": [{"text"}]}`) or a
    /// string; parts other than text are named.
    fn system(&mut self, system: &Value) -> Result<Message, Error> {
        if let Value::String(text) = system {
            return Ok(Message::text_message(Role::System, text.clone()));
        }
        let parts = system
            .get("parts")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("`systemInstruction.parts` must be an array"))?;
        let mut text = Vec::new();
        for part in parts {
            match part.get("text").and_then(Value::as_str) {
                Some(piece) => text.push(piece),
                None => self.note("systemInstruction.parts[]".into()),
            }
        }
        Ok(Message::text_message(Role::System, text.join("\n")))
    }

    fn note(&mut self, name: String) {
        if !self.unused.contains(&name) {
            self.unused.push(name);
        }
    }

    /// One content: a message (or several: function responses are tool
    /// results, each its own message, ahead of the rest of a user turn).
    fn content(&mut self, content: &Value, at: &str, out: &mut Vec<Message>) -> Result<(), Error> {
        let role = match content.get("role").and_then(Value::as_str) {
            None | Some("user") => Role::User,
            Some("model") => Role::Assistant,
            Some("function" | "tool") => Role::Tool,
            Some(other) => {
                return Err(invalid(format!(
                    "{at}.role = {other:?} is not one of user, model"
                )));
            }
        };
        let parts = content
            .get("parts")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(format!("{at}.parts must be an array")))?;
        let mut message = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let at = format!("{at}.parts[{i}]");
            if let Some(response) = part.get("functionResponse") {
                out.push(self.function_response(response, &at)?);
                continue;
            }
            if let Some(signature) = part.get("thoughtSignature").and_then(Value::as_str) {
                message.push(Part::Reasoning {
                    text: String::new(),
                    signature: Some(signature.to_owned()),
                });
            }
            message.extend(self.part(part, role, &at)?);
        }
        if !message.is_empty() {
            out.push(Message {
                role: if role == Role::Tool { Role::User } else { role },
                parts: message,
                tool_call_id: None,
                name: None,
                extra: Map::new(),
            });
        }
        Ok(())
    }

    fn part(&mut self, part: &Value, role: Role, at: &str) -> Result<Option<Part>, Error> {
        if let Some(text) = part.get("text") {
            let text = text
                .as_str()
                .ok_or_else(|| invalid(format!("{at}.text must be a string")))?;
            let thought = part.get("thought").and_then(Value::as_bool) == Some(true);
            return Ok(Some(if thought {
                Part::Reasoning {
                    text: text.to_owned(),
                    signature: None,
                }
            } else {
                Part::Text(text.to_owned())
            }));
        }
        if let Some(data) = part.get("inlineData").or_else(|| part.get("inline_data")) {
            return inline(data, &format!("{at}.inlineData")).map(Some);
        }
        if let Some(call) = part
            .get("functionCall")
            .or_else(|| part.get("function_call"))
        {
            if role != Role::Assistant {
                return Err(invalid(format!(
                    "{at}: a functionCall belongs in a model turn"
                )));
            }
            let name = string_at(call, "name", &format!("{at}.functionCall"))?;
            let id = match call.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => format!("call_{}", self.calls.len()),
            };
            self.calls.push((id.clone(), name.clone(), false));
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            return Ok(Some(Part::ToolCall {
                id,
                name,
                arguments: args.to_string(),
            }));
        }
        if let Some(data) = part.get("fileData").or_else(|| part.get("file_data")) {
            let uri = string_at(data, "fileUri", &format!("{at}.fileData"))?;
            let media = data.get("mimeType").and_then(Value::as_str).unwrap_or("");
            if media.starts_with("image/") || media.is_empty() {
                return Ok(Some(Part::Image(Image::Url(uri))));
            }
            return Err(invalid(format!(
                "{at}.fileData: a {media} file by URI cannot be passed on; send it as inlineData"
            )));
        }
        let kind = part
            .as_object()
            .and_then(|p| p.keys().find(|k| *k != "thoughtSignature"))
            .cloned()
            .unwrap_or_else(|| "empty part".into());
        self.note(format!("contents[].parts[].{kind}"));
        Ok(None)
    }

    /// A `functionResponse` as a tool result, paired with its call.
    fn function_response(&mut self, response: &Value, at: &str) -> Result<Message, Error> {
        let at = format!("{at}.functionResponse");
        let name = string_at(response, "name", &at)?;
        let given = response
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| !i.is_empty());
        let call = match given {
            Some(id) => self.calls.iter_mut().find(|(call, ..)| call == id),
            None => self
                .calls
                .iter_mut()
                .find(|(_, call, answered)| *call == name && !answered),
        };
        let id = match call {
            Some((id, _, answered)) => {
                *answered = true;
                id.clone()
            }
            None => given.map_or_else(|| format!("call_{name}"), str::to_owned),
        };
        let output = match response.get("response") {
            Some(Value::Object(fields)) => match fields.get("output").or(fields.get("result")) {
                Some(Value::String(text)) if fields.len() == 1 => text.clone(),
                _ => Value::Object(fields.clone()).to_string(),
            },
            Some(other) => other.to_string(),
            None => String::new(),
        };
        Ok(Message {
            role: Role::Tool,
            parts: vec![Part::Text(output)],
            tool_call_id: Some(id),
            name: Some(name),
            extra: Map::new(),
        })
    }
}

/// `inlineData`: an image, or another file.
fn inline(data: &Value, at: &str) -> Result<Part, Error> {
    let media_type = data
        .get("mimeType")
        .or_else(|| data.get("mime_type"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{at}.mimeType must be a string")))?
        .to_owned();
    let bytes = base64_bytes(&string_at(data, "data", at)?, &format!("{at}.data"))?;
    Ok(if media_type.starts_with("image/") {
        Part::Image(Image::Inline {
            media_type,
            data: bytes,
        })
    } else {
        Part::File(File::Inline {
            media_type,
            data: bytes,
            filename: None,
        })
    })
}

/// The fields of a function declaration a [`Tool`] has a place for.
const DECLARATION_FIELDS: &[&str] = &[
    "name",
    "description",
    "parameters",
    "parametersJsonSchema",
    "parameters_json_schema",
];

/// `tools`: function declarations, and the provider's own tools as sent.
fn read_tools(tools: &Value) -> Result<(Vec<Tool>, Vec<Value>), Error> {
    let entries = tools
        .as_array()
        .ok_or_else(|| invalid("`tools` must be an array"))?;
    let mut functions = Vec::new();
    let mut hosted = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let declarations = entry
            .get("functionDeclarations")
            .or_else(|| entry.get("function_declarations"));
        let Some(declarations) = declarations else {
            hosted.push(entry.clone());
            continue;
        };
        // The provider's own tools beside the declarations (`googleSearch`…).
        if let Value::Object(entry) = entry {
            let others: Map<String, Value> = entry
                .iter()
                .filter(|(key, _)| {
                    !matches!(
                        key.as_str(),
                        "functionDeclarations" | "function_declarations"
                    )
                })
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            if !others.is_empty() {
                hosted.push(Value::Object(others));
            }
        }
        let declarations = declarations
            .as_array()
            .ok_or_else(|| invalid(format!("tools[{i}].functionDeclarations must be an array")))?;
        for (j, declaration) in declarations.iter().enumerate() {
            let at = format!("tools[{i}].functionDeclarations[{j}]");
            let parameters = match declaration
                .get("parametersJsonSchema")
                .or_else(|| declaration.get("parameters_json_schema"))
            {
                Some(schema) => schema.clone(),
                None => declaration
                    .get("parameters")
                    .map_or_else(|| json!({"type": "object", "properties": {}}), json_schema),
            };
            functions.push(Tool {
                name: string_at(declaration, "name", &at)?,
                description: declaration
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                parameters,
                // `response`, `behavior`…: kept, as a tool's own fields are.
                extra: declaration
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(key, _)| !DECLARATION_FIELDS.contains(&key.as_str()))
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
            });
        }
    }
    Ok((functions, hosted))
}

/// An OpenAPI-style schema (`"type": "OBJECT"`) as JSON Schema.
fn json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| {
                    let value = match (key.as_str(), value) {
                        ("type", Value::String(kind)) => Value::String(kind.to_ascii_lowercase()),
                        _ => json_schema(value),
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(json_schema).collect()),
        other => other.clone(),
    }
}

/// `toolConfig.functionCallingConfig`; what has no place in a tool choice
/// (other `toolConfig` keys, several allowed names) is named.
fn choice(config: &Value, unused: &mut Vec<String>) -> Result<Option<ToolChoice>, Error> {
    let mut calling = None;
    for (key, value) in config.as_object().into_iter().flatten() {
        match key.as_str() {
            "functionCallingConfig" | "function_calling_config" => calling = Some(value),
            _ if value.is_null() => {}
            _ => unused.push(format!("toolConfig.{key}")),
        }
    }
    let Some(calling) = calling else {
        return Ok(None);
    };
    let allowed: Vec<&str> = calling
        .get("allowedFunctionNames")
        .or_else(|| calling.get("allowed_function_names"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mode = calling.get("mode").and_then(Value::as_str);
    let named = matches!(mode, Some("ANY" | "VALIDATED")) && allowed.len() == 1;
    if !allowed.is_empty() && !named {
        unused.push("toolConfig.functionCallingConfig.allowedFunctionNames".into());
    }
    Ok(Some(match mode {
        None | Some("AUTO" | "MODE_UNSPECIFIED") => ToolChoice::Auto,
        Some("NONE") => ToolChoice::None,
        Some("ANY" | "VALIDATED") if named => ToolChoice::Named(allowed[0].into()),
        Some("ANY" | "VALIDATED") => ToolChoice::Required,
        Some(other) => {
            return Err(invalid(format!(
                "toolConfig.functionCallingConfig.mode = {other:?} is not one of AUTO, ANY, NONE, VALIDATED"
            )));
        }
    }))
}

/// `generationConfig`: the parameters and the effort; what has no place
/// is named.
fn generation(config: &Value, unused: &mut Vec<String>) -> Result<(Params, Option<Effort>), Error> {
    let Value::Object(config) = config else {
        return Err(invalid("`generationConfig` must be an object"));
    };
    let mut params = Params::default();
    let mut effort = None;
    for (key, value) in config {
        if value.is_null() {
            continue;
        }
        let named = format!("generationConfig.{key}");
        let wrong = || invalid(format!("`{named}` has the wrong type"));
        match key.as_str() {
            "maxOutputTokens" | "max_output_tokens" => {
                params.max_tokens = Some(value.as_u64().ok_or_else(wrong)?);
            }
            "temperature" => params.temperature = Some(value.as_f64().ok_or_else(wrong)?),
            "topP" | "top_p" => params.top_p = Some(value.as_f64().ok_or_else(wrong)?),
            "seed" => params.seed = Some(value.as_i64().ok_or_else(wrong)?),
            "candidateCount" | "candidate_count" => {
                params.n = Some(value.as_u64().ok_or_else(wrong)?);
                continue;
            }
            "stopSequences" | "stop_sequences" => {
                params.stop = serde_json::from_value(value.clone()).map_err(|_| wrong())?;
            }
            "responseMimeType" | "response_mime_type" => {
                if value == "text/plain" {
                    continue;
                }
                if value != "application/json" {
                    unused.push(named);
                    continue;
                }
                // A schema given too says more.
                params
                    .response_format
                    .get_or_insert_with(|| json!({"type": "json_object"}));
            }
            "responseJsonSchema"
            | "response_json_schema"
            | "responseSchema"
            | "response_schema" => {
                let schema = if key.contains("json") || key.contains("Json") {
                    value.clone()
                } else {
                    json_schema(value)
                };
                params.response_format = Some(json!({"type": "json_schema",
                    "json_schema": {"name": "response", "schema": schema}}));
            }
            "thinkingConfig" | "thinking_config" => {
                effort = thinking(value)?;
                continue;
            }
            _ => {
                unused.push(named);
                continue;
            }
        }
        params.named.push(named);
    }
    Ok((params, effort))
}

/// Whether the answer should show the model's thoughts
/// (`thinkingConfig.includeThoughts`).
pub fn include_thoughts(request: &GenerateRequest) -> bool {
    let config = request.generation_config.as_ref();
    let thinking =
        config.and_then(|c| c.get("thinkingConfig").or_else(|| c.get("thinking_config")));
    thinking
        .and_then(|t| {
            t.get("includeThoughts")
                .or_else(|| t.get("include_thoughts"))
        })
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// `thinkingConfig`: `thinkingLevel`, else `thinkingBudget` (0 or -1, the
/// model's own choice, ask for none).
fn thinking(config: &Value) -> Result<Option<Effort>, Error> {
    if let Some(level) = config
        .get("thinkingLevel")
        .or_else(|| config.get("thinking_level"))
        .and_then(Value::as_str)
    {
        return Effort::parse(level).map(Some).ok_or_else(|| {
            invalid(format!(
                "generationConfig.thinkingConfig.thinkingLevel = {level:?} is not one of MINIMAL, LOW, MEDIUM, HIGH"
            ))
        });
    }
    let budget = config
        .get("thinkingBudget")
        .or_else(|| config.get("thinking_budget"))
        .and_then(Value::as_i64);
    Ok(match budget {
        None | Some(..=0) => None,
        Some(budget) => Some(Effort::for_budget(
            budget.unsigned_abs(),
            super::upstream::thinking_budget,
        )),
    })
}

#[cfg(test)]
mod tests;
