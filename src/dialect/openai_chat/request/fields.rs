//! Known fields taken out of a Chat Completions body: tools, tool choice
//! and the generation parameters, each moved into the vocabulary when it
//! has the expected shape and otherwise left as sent.

use serde_json::{Map, Value};

use crate::turn::{Tool, ToolChoice};

/// The body's fields outside the typed request, from which known ones are
/// taken: a value of the expected type moves into the vocabulary, one of
/// another type (or null) stays, as sent, for a backend that passes it on
/// or for the report of what is ignored. Nothing is refused or dropped here.
pub(super) struct Fields {
    pub(super) extra: Map<String, Value>,
    /// The generation parameters taken, by the client's name.
    pub(super) named: Vec<String>,
}

impl Fields {
    /// Takes `name` if `parse` understands it.
    pub(super) fn take<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Option<T>,
    ) -> Option<T> {
        let parsed = parse(self.extra.get(name)?)?;
        self.extra.remove(name);
        Some(parsed)
    }

    /// Takes the generation parameter `name` if it has type `T`.
    pub(super) fn param<T: serde::de::DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        let parsed = self.take(name, |value| {
            (!value.is_null())
                .then(|| T::deserialize(value).ok())
                .flatten()
        })?;
        self.named.push(name.to_owned());
        Some(parsed)
    }
}

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
