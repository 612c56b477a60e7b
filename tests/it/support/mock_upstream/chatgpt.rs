//! The subscription endpoints' checks. The ChatGPT backend's Codex endpoint
//! (`…/backend-api/codex/responses`) is the Responses dialect behind the
//! checks the real one makes of a subscription's request (an account
//! header, the current token, the Codex CLI's instructions, always
//! streamed, never stored); Code Assist (`…/v1internal:…`) is Gemini's,
//! with the current token and a project and model in the envelope.
//! Answers are the dialects' ([`super::responses`], [`super::gemini`]).

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

/// The path prefix of the mock ChatGPT backend.
pub(super) const PATH: &str = "/backend-api/codex/";

/// What the mock ChatGPT backend accepts; `None` accepts anything.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    pub(crate) token: Option<String>,
    pub(crate) instructions: Option<String>,
}

/// Why the request is refused, as the status and body to send, if it is.
pub(super) fn refusal(
    rules: &Rules,
    headers: &HeaderMap,
    body: &Value,
) -> Option<(StatusCode, Value)> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let detail = |status: StatusCode, text: &str| Some((status, json!({"detail": text})));
    if header("chatgpt-account-id").is_empty() {
        return detail(StatusCode::BAD_REQUEST, "missing chatgpt-account-id");
    }
    let bearer = header("authorization")
        .strip_prefix("Bearer ")
        .unwrap_or_default();
    if bearer.is_empty() || rules.token.as_deref().is_some_and(|t| t != bearer) {
        return detail(
            StatusCode::UNAUTHORIZED,
            "Your authentication token has expired.",
        );
    }
    if body["stream"] != true {
        return detail(StatusCode::BAD_REQUEST, "Stream must be set to true");
    }
    if body["store"] != false {
        return detail(StatusCode::BAD_REQUEST, "Store must be set to false");
    }
    if let Some(expected) = &rules.instructions
        && instructions(body).as_deref() != Some(expected.as_str())
    {
        return detail(StatusCode::BAD_REQUEST, "Instructions are not valid");
    }
    None
}

/// The request's instructions: the field, or the first developer message's text.
pub(crate) fn instructions(body: &Value) -> Option<String> {
    if let Some(text) = body["instructions"].as_str() {
        return Some(text.to_owned());
    }
    let input = body["input"].as_array()?;
    let first = input.iter().find(|item| item["role"] == "developer")?;
    let parts = first["content"].as_array()?;
    Some(parts.iter().filter_map(|p| p["text"].as_str()).collect())
}

/// Why a Code Assist request is refused, if it is.
pub(super) fn code_assist_refusal(
    rules: &Rules,
    headers: &HeaderMap,
    body: &Value,
) -> Option<(StatusCode, Value)> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let error = |status: StatusCode, message: &str| {
        Some((
            status,
            json!({"error": {"code": status.as_u16(), "message": message}}),
        ))
    };
    if bearer.is_empty() || rules.token.as_deref().is_some_and(|t| t != bearer) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials.",
        );
    }
    if body.get("metadata").is_some() {
        return None; // loadCodeAssist
    }
    let named = |key: &str| body[key].as_str().is_some_and(|v| !v.is_empty());
    if !named("project") || !named("model") || !body["request"].is_object() {
        return error(
            StatusCode::BAD_REQUEST,
            "a Code Assist request names a project and a model, and wraps the request",
        );
    }
    None
}
