//! `POST /v1/messages`: the Anthropic Messages request parsed into a
//! `Turn`, answered through the shared pipeline with the Messages codec.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::auth::Snapshot;
use super::chat::session_header;
use super::extract;
use super::pipeline::{self, Endpoint, Parsed};
use super::request_id::RequestId;
use crate::dialect::anthropic::{self, MessagesCodec, MessagesRequest};
use crate::state::AppState;

pub(super) const ENDPOINT: Endpoint = Endpoint {
    path: "/v1/messages",
    error_body: anthropic::error_body,
};

pub(super) async fn create(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(Snapshot(config)): Extension<Snapshot>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    pipeline::serve(&state, config, request_id, body, &ENDPOINT, |bytes| {
        let request: MessagesRequest = extract::json(bytes)?;
        Ok(Parsed {
            turn: anthropic::to_turn(request, session_header(&headers))?,
            codec: Box::new(MessagesCodec),
        })
    })
    .await
}
