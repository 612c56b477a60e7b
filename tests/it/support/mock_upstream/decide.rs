//! The dialect-neutral half of every answer: what a conversation asks for (plain reply, one
//! shell tool call, the reply after a tool result, reasoning first or not), decided from the
//! latest user-typed text, plus the small JSON helpers the dialect modules share.
//!
//! It must stay stateless and know no wire format: each dialect reads its own request shape
//! into a [`Transcript`] and renders the [`Decision`] itself.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{
    REPLY_TEXT, RISKY_COMMAND, RISKY_TOOL_MARKER, THINK_MARKER, TOOL_COMMAND, TOOL_MARKER,
    TOOL_RESULT_REPLY,
};

/// The answer proper: text, or one call of the shell tool the request advertised.
pub(super) enum Reply {
    Text(String),
    Tool { name: &'static str, args: Value },
}

/// What to answer, and whether a reasoning block comes first.
pub(super) struct Decision {
    pub(super) reply: Reply,
    pub(super) think: bool,
}

impl Decision {
    /// Whether the reply is a tool call.
    pub(super) fn is_tool(&self) -> bool {
        matches!(self.reply, Reply::Tool { .. })
    }
}

/// What matters in a conversation: the latest user-typed text and any tool output after it.
#[derive(Default)]
pub(super) struct Transcript {
    last_typed: String,
    tool_output: Option<String>,
}

impl Transcript {
    /// A user text part; context the CLI injected (see [`is_user_typed`]) is ignored.
    pub(super) fn saw_user_text(&mut self, text: &str) {
        if is_user_typed(text) {
            self.last_typed = text.to_owned();
            self.tool_output = None;
        }
    }

    /// A tool result, in conversation order.
    pub(super) fn saw_tool_output(&mut self, output: String) {
        self.tool_output = Some(output);
    }

    /// `shell_tool`: the first shell tool the request advertised, with `echo tool-ok` arguments.
    pub(super) fn decide(self, shell_tool: Option<(&'static str, Value)>) -> Decision {
        let think = self.last_typed.contains(THINK_MARKER);
        let reply = match (self.tool_output, shell_tool) {
            (Some(output), _) => Reply::Text(tool_result_reply(&output)),
            (None, Some((name, mut args))) if self.last_typed.contains(RISKY_TOOL_MARKER) => {
                if args["command"].is_string() {
                    args["command"] = Value::from(RISKY_COMMAND);
                }
                Reply::Tool { name, args }
            }
            (None, Some((name, args))) if self.last_typed.contains(TOOL_MARKER) => {
                Reply::Tool { name, args }
            }
            _ => Reply::Text(REPLY_TEXT.to_owned()),
        };
        Decision { reply, think }
    }
}

/// CLIs inject context (`<system-reminder>`, `<environment_context>`, ...) as user text; only
/// text that does not start with `<` counts as typed by the user.
fn is_user_typed(text: &str) -> bool {
    let text = text.trim_start();
    !text.is_empty() && !text.starts_with('<')
}

/// The answer once a tool ran: [`TOOL_RESULT_REPLY`], or the head of unexpected output.
fn tool_result_reply(output: &str) -> String {
    if output.contains("tool-ok") {
        return TOOL_RESULT_REPLY.to_owned();
    }
    let head: String = output.trim().chars().take(80).collect();
    format!("tool result seen: {head}")
}

// ------------------------------------------------------------------------------ JSON helpers

/// Flattens the text out of Anthropic / OpenAI / Gemini style content.
pub(super) fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().map(text_of).collect::<Vec<_>>().join(" "),
        Value::Object(map) => ["text", "input_text", "output_text"]
            .iter()
            .find_map(|key| map.get(*key).and_then(Value::as_str).map(str::to_owned))
            .or_else(|| map.get("content").map(text_of))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The array at `key`, or an empty slice.
pub(super) fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The string at `key`, or `""`.
pub(super) fn str_at<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The request's `stream` flag (default false).
pub(super) fn wants_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

/// The requested model, echoed back (default `fake-model`).
pub(super) fn model_of(body: &Value) -> Value {
    body.get("model")
        .cloned()
        .unwrap_or_else(|| json!("fake-model"))
}

/// Message content as a list of parts; a plain string becomes one `{type, text}` part.
pub(super) fn content_parts(content: Option<&Value>, text_kind: &str) -> Vec<Value> {
    match content {
        Some(Value::Array(parts)) => parts.clone(),
        other => vec![json!({"type": text_kind, "text": other.and_then(Value::as_str)})],
    }
}

/// A Responses tool's `name`, or a Chat Completions tool's `function.name`.
pub(super) fn tool_name(tool: &Value) -> &str {
    match str_at(tool, "name") {
        "" => tool
            .get("function")
            .map_or("", |function| str_at(function, "name")),
        name => name,
    }
}

/// The first shell tool the request advertised, in Codex's order of
/// preference, then Claude Code's `Bash` and Gemini CLI's
/// `run_shell_command` (those CLIs as clients of a gateway that routes
/// them to an OpenAI upstream).
pub(super) fn openai_shell_tool(names: &[&str]) -> Option<(&'static str, Value)> {
    let candidates = [
        ("exec_command", json!({"cmd": TOOL_COMMAND})),
        ("shell_command", json!({"command": TOOL_COMMAND})),
        ("shell", json!({"command": ["bash", "-lc", TOOL_COMMAND]})),
        (
            "Bash",
            json!({"command": TOOL_COMMAND, "description": "Echo a marker"}),
        ),
        (
            "run_shell_command",
            json!({"command": TOOL_COMMAND, "description": "Echo a marker"}),
        ),
    ];
    candidates
        .into_iter()
        .find(|(name, _)| names.contains(name))
}

/// The shell tool call for Claude (`Bash`) or Gemini (`run_shell_command`), when advertised.
pub(super) fn described_shell_tool(
    name: &'static str,
    offered: bool,
) -> Option<(&'static str, Value)> {
    offered.then(|| {
        (
            name,
            json!({"command": TOOL_COMMAND, "description": "Echo a marker"}),
        )
    })
}

/// `text` cut into `pieces` roughly equal parts, so streams have more than one delta.
pub(super) fn split_in(text: &str, pieces: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(pieces).max(1);
    chars
        .chunks(size)
        .map(|piece| piece.iter().collect())
        .collect()
}

/// `prefix` + `len` random hex digits.
pub(super) fn new_id(prefix: &str, len: usize) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &hex[..len.min(hex.len())])
}

/// Seconds since the Unix epoch.
pub(super) fn unix_now() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
    since_epoch.map_or(0, |elapsed| elapsed.as_secs())
}

/// `base` with the fields of `extra` added or replaced (both JSON objects).
pub(super) fn merged(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(base_map), Value::Object(extra_map)) = (&mut base, extra) {
        base_map.extend(extra_map);
    }
    base
}
