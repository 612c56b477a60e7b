//! An upstream's own token count: `POST {url}/v1/messages/count_tokens` on
//! an Anthropic upstream (the turn as its request, only the fields the
//! count endpoint takes; `input_tokens` back), `…/models/{model}:countTokens`
//! on a Gemini one (the request as `generateContentRequest`; `totalTokens`
//! back), under the backend's queue, credentials and retries. Other
//! upstreams (and Gemini through a Google login) have no count endpoint
//! here: `None`, and the caller estimates.

use std::sync::Arc;

use serde_json::Value;

use super::{dialects, exchange};
use crate::backend::http::{HttpTemplate, UpstreamDialect};
use crate::engine::RunContext;
use crate::error::Error;
use crate::routes::Resolved;
use crate::turn::Turn;

/// The fields of a Messages request the count endpoint takes.
const COUNTED: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
];

/// The largest count answer read.
const MAX_COUNT_BYTES: usize = 64 * 1024;

/// The upstream's count of `turn`'s input tokens, when its dialect has a
/// count endpoint.
pub(crate) async fn count_tokens(
    resolved: &Resolved,
    http: &Arc<HttpTemplate>,
    turn: &Turn,
    ctx: &RunContext,
) -> Result<Option<u64>, Error> {
    let backend = &resolved.backend;
    let effort = ctx
        .limits
        .force_effort
        .or(turn.effort)
        .or(backend.default_effort);
    let (endpoint, body, answer_field) = match http.dialect {
        UpstreamDialect::AnthropicMessages => {
            let mut body = dialects::request(http, turn, &resolved.model, effort, None)?;
            if let Value::Object(fields) = &mut body {
                fields.retain(|key, _| COUNTED.contains(&key.as_str()));
            }
            let url = format!("{}/count_tokens", http.endpoint);
            (url, body, "input_tokens")
        }
        UpstreamDialect::Gemini if http.code_assist.is_none() => {
            let mut request = dialects::request(http, turn, &resolved.model, effort, None)?;
            let model = resolved
                .model
                .strip_prefix("models/")
                .unwrap_or(&resolved.model);
            request["model"] = Value::from(format!("models/{model}"));
            let mut url = dialects::endpoint(http, &resolved.model, false)?.into_owned();
            let path = url.path().replace(":generateContent", ":countTokens");
            url.set_path(&path);
            let body = serde_json::json!({"generateContentRequest": request});
            (url.to_string(), body, "totalTokens")
        }
        _ => return Ok(None),
    };
    let body = serde_json::to_vec(&body)
        .map_err(|e| Error::Internal(format!("cannot encode the count request: {e}")))?;
    let endpoint = reqwest::Url::parse(&endpoint)
        .map_err(|e| Error::Internal(format!("the count URL: {e}")))?;
    let answer = exchange(backend, http, endpoint, body.into(), MAX_COUNT_BYTES, ctx).await?;
    let count = serde_json::from_slice::<Value>(&answer)
        .ok()
        .and_then(|v| v.get(answer_field)?.as_u64());
    match count {
        Some(count) => Ok(Some(count)),
        None => Err(Error::Backend {
            backend: backend.name.clone(),
            upstream_status: None,
            message: format!(
                "the upstream's count answer has no `{answer_field}`: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(200)])
            ),
        }),
    }
}
