//! Token counts: `POST /v1/messages/count_tokens` here, and Gemini's
//! `:countTokens` through [`serve`]. The request is parsed like its
//! endpoint's, routed by its model, and counted by the backend's provider
//! where it has a count endpoint, else estimated by the gateway's
//! tokenizer; `x-agent-cli-token-count` says which (`upstream` or
//! `estimate`). Not a turn: nothing runs.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Snapshot;
use super::extract;
use super::log::RequestLog;
use super::pipeline::{add_route_headers, parse_off_the_workers, run_context};
use super::request_id::RequestId;
use crate::config::Config;
use crate::dialect::anthropic::{self, MessagesRequest};
use crate::engine;
use crate::error::Error;
use crate::state::AppState;
use crate::turn::Turn;

pub(super) async fn count(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(Snapshot(config)): Extension<Snapshot>,
    body: Body,
) -> Response {
    let parse = |bytes: &[u8]| {
        let request: MessagesRequest = extract::json(bytes)?;
        anthropic::to_turn(request, None)
    };
    let answer = |tokens| json!({"input_tokens": tokens});
    serve(&state, config, request_id, body, parse, answer).await
}

/// Counts the turn `parse` reads from the body, answering `answer(count)`
/// or an error (in the path's envelope, `server/envelope.rs`).
pub(super) async fn serve(
    state: &AppState,
    config: Arc<Config>,
    request_id: String,
    body: Body,
    parse: impl FnOnce(&[u8]) -> Result<Turn, Error>,
    answer: impl FnOnce(u64) -> Value,
) -> Response {
    let settings = &config.settings;
    let mut log = RequestLog::start(request_id, settings.log, Arc::clone(&config.secrets));
    let counted = async {
        let bytes =
            extract::body_bytes(body, settings.max_body_bytes, settings.body_timeout).await?;
        let turn = parse_off_the_workers(&bytes, |bytes| parse(bytes))?;
        log.model.clone_from(&turn.model);
        let resolved = config.routes.resolve(&turn.model)?;
        log.backend = Some(resolved.backend.name.clone());
        log.backend_model = Some(resolved.model.clone());
        let ctx = run_context(state, &config, &log);
        let count = engine::count_tokens(&resolved, turn, &ctx).await?;
        Ok::<_, Error>((resolved, count))
    }
    .await;
    match counted {
        Ok((resolved, count)) => {
            log.finished(200);
            let mut response = axum::Json(answer(count.tokens)).into_response();
            let headers = response.headers_mut();
            add_route_headers(headers, &resolved, &[]);
            let source = if count.exact { "upstream" } else { "estimate" };
            headers.insert("x-agent-cli-token-count", HeaderValue::from_static(source));
            response
        }
        Err(error) => {
            log.failed(error.status().as_u16(), &error.to_string());
            error.into_response()
        }
    }
}
