//! `POST /v1/chat/completions`: the OpenAI Chat Completions request parsed
//! into a `Turn`, answered through the shared pipeline with the chat codec.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::auth::Snapshot;
use super::extract;
use super::pipeline::{self, Parsed};
use super::request_id::RequestId;
use crate::dialect::openai_chat::{self, ChatCodec, wire::ChatRequest};
use crate::state::AppState;

/// Headers that may carry a session id to resume.
const SESSION_HEADERS: &[&str] = &[
    "x-codex-session-id",
    "x-session-id",
    "session-id",
    "session_id",
];

/// The path, for the log's replayable curl command.
const PATH: &str = "/v1/chat/completions";

pub(super) async fn completions(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(Snapshot(config)): Extension<Snapshot>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    pipeline::serve(&state, config, request_id, body, PATH, |bytes| {
        let request: ChatRequest = extract::json(bytes)?;
        let include_usage = request
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage);
        Ok(Parsed {
            turn: openai_chat::to_turn(request, session_header(&headers))?,
            codec: Box::new(ChatCodec { include_usage }),
        })
    })
    .await
}

pub(super) fn session_header(headers: &HeaderMap) -> Option<String> {
    SESSION_HEADERS
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok().map(str::to_owned))
}
