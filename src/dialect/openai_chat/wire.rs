//! Serde types of the Chat Completions request. Responses are built with
//! `serde_json::json!` in `response.rs`, where their shape is visible.

use serde::Deserialize;
use serde_json::{Map, Value};

/// `POST /v1/chat/completions` body.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    /// Requested model.
    pub model: Option<String>,
    /// The conversation.
    pub messages: Option<Vec<ChatMessage>>,
    /// Responses-style input, accepted when `messages` is absent.
    pub input: Option<Value>,
    /// Responses-style instructions (a system message).
    pub instructions: Option<String>,
    /// Stream the answer as SSE.
    pub stream: Option<bool>,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// `low` | `medium` | `high` | …
    pub reasoning_effort: Option<String>,
    /// `{ "effort": "…" }`.
    pub reasoning: Option<Value>,
    /// Number of choices.
    pub n: Option<u64>,
    // Tools, tool choice and the generation parameters stay in `extra`:
    // `request.rs` takes out those of the expected type and leaves the
    // rest, as sent, for the backend to take or the report to name.
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a final usage chunk.
    #[serde(default)]
    pub include_usage: bool,
}

/// One message.
#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    /// `system` | `developer` | `user` | `assistant` | `tool`.
    pub role: String,
    /// A string, an array of parts, or null.
    #[serde(default)]
    pub content: Value,
    /// Calls the assistant made.
    pub tool_calls: Option<Vec<ToolCall>>,
    /// For `tool` messages.
    pub tool_call_id: Option<String>,
    /// Author or tool name.
    pub name: Option<String>,
    /// The legacy form of a single tool call.
    pub function_call: Option<FunctionCall>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An assistant tool call.
#[derive(Debug, Deserialize)]
pub struct ToolCall {
    /// Call id.
    #[serde(default)]
    pub id: String,
    /// The function called.
    pub function: FunctionCall,
}

/// The function of a tool call.
#[derive(Debug, Deserialize)]
pub struct FunctionCall {
    /// Name.
    pub name: String,
    /// Arguments (a JSON string).
    #[serde(default)]
    pub arguments: Value,
}
