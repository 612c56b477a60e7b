//! The shapes of Chat Completions' known fields: `stop`, tools and tool
//! choice (taken out of the body by [`crate::dialect::fields::Fields`]).

use serde_json::Value;

use crate::turn::{Tool, ToolChoice};

/// `stop`: a string or a list of strings.
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(super) enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(stop) => vec![stop],
            Stop::Many(stops) => stops,
        }
    }
}

/// `tools`: the function tools, and the provider's own tools (an entry
/// with another `type`, as sent); `None` when an entry is neither.
pub(super) fn tools(value: &Value) -> Option<(Vec<Tool>, Vec<Value>)> {
    let mut functions = Vec::new();
    let mut hosted = Vec::new();
    for entry in value.as_array()? {
        match entry.get("type").and_then(Value::as_str) {
            Some(kind) if kind != "function" && !kind.is_empty() => hosted.push(entry.clone()),
            _ => functions.push(tool(entry)?),
        }
    }
    Some((functions, hosted))
}

/// One entry of `tools`: `{"type": "function", "function": {name, description, parameters, …}}`.
fn tool(value: &Value) -> Option<Tool> {
    let mut function = value.get("function")?.as_object()?.clone();
    if value.get("type").is_some_and(|t| t != "function") {
        return None;
    }
    let Some(Value::String(name)) = function.remove("name") else {
        return None;
    };
    let description = match function.remove("description") {
        Some(Value::String(text)) => Some(text),
        None | Some(Value::Null) => None,
        Some(_) => return None,
    };
    let parameters = function
        .remove("parameters")
        .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
    Some(Tool {
        name,
        description,
        parameters,
        extra: function,
    })
}

/// `tool_choice`: `"auto"`, `"none"`, `"required"` or `{"type": "function", "function": {"name"}}`.
pub(super) fn choice(value: &Value) -> Option<ToolChoice> {
    match value {
        Value::String(s) if s == "auto" => Some(ToolChoice::Auto),
        Value::String(s) if s == "none" => Some(ToolChoice::None),
        Value::String(s) if s == "required" => Some(ToolChoice::Required),
        Value::Object(obj) => obj
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Named(name.to_owned())),
        _ => None,
    }
}
