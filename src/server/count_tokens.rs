//! `POST /v1/messages/count_tokens`: the Messages request parsed like
//! `/v1/messages`, routed by its model, and counted by the backend's
//! provider where it has a count endpoint, else estimated by the gateway's
//! tokenizer. `x-agent-cli-token-count` says which (`upstream` or
//! `estimate`). Not a turn: nothing runs.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::Snapshot;
use super::extract;
use super::log::RequestLog;
use super::pipeline::{Endpoint, add_route_headers, error_response, run_context};
use super::request_id::RequestId;
use crate::dialect::anthropic::{self, MessagesRequest};
use crate::engine;
use crate::state::AppState;

const ENDPOINT: Endpoint = Endpoint {
    path: Cow::Borrowed("/v1/messages/count_tokens"),
    error_body: anthropic::error_body,
};

pub(super) async fn count(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(Snapshot(config)): Extension<Snapshot>,
    body: Body,
) -> Response {
    let settings = &config.settings;
    let mut log = RequestLog::start(
        request_id,
        settings.log,
        std::sync::Arc::clone(&config.secrets),
    );
    let answer = async {
        let bytes =
            extract::body_bytes(body, settings.max_body_bytes, settings.body_timeout).await?;
        let request: MessagesRequest = extract::json(&bytes)?;
        let turn = anthropic::to_turn(request, None)?;
        log.model.clone_from(&turn.model);
        let resolved = config.routes.resolve(&turn.model)?;
        log.backend = Some(resolved.backend.name.clone());
        log.backend_model = Some(resolved.model.clone());
        let ctx = run_context(&state, &config, &log);
        let count = engine::count_tokens(&resolved, turn, &ctx).await?;
        Ok::<_, crate::error::Error>((resolved, count))
    }
    .await;
    match answer {
        Ok((resolved, count)) => {
            log.finished(200);
            let mut response = axum::Json(json!({"input_tokens": count.tokens})).into_response();
            let headers = response.headers_mut();
            add_route_headers(headers, &resolved, &[]);
            let source = if count.exact { "upstream" } else { "estimate" };
            headers.insert("x-agent-cli-token-count", HeaderValue::from_static(source));
            response
        }
        Err(error) => {
            log.failed(error.status().as_u16(), &error.to_string());
            error_response(&error, &ENDPOINT)
        }
    }
}
