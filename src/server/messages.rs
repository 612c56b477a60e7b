//! `POST /v1/messages`: the Anthropic Messages request parsed into a
//! `Turn`, answered through the shared pipeline with the Messages codec.
//! The request as sent goes with the turn: an Anthropic upstream gets it
//! byte for byte (its model routed), with the client's `anthropic-beta`.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::auth::Snapshot;
use super::chat::session_header;
use super::extract;
use super::pipeline::{self, Parsed};
use super::request_id::RequestId;
use crate::dialect::anthropic::{self, MessagesCodec, MessagesRequest};
use crate::state::AppState;
use crate::turn::{Native, Wire};

/// The path, for the log's replayable curl command.
const PATH: &str = "/v1/messages";

pub(super) async fn create(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(Snapshot(config)): Extension<Snapshot>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    pipeline::serve(&state, config, request_id, body, PATH, |bytes| {
        let request: MessagesRequest = extract::json(bytes)?;
        let mut turn = anthropic::to_turn(request, session_header(&headers))?;
        let native_headers = request_headers(&headers);
        // Betas switch on features of Anthropic's own API: another
        // backend names them as ignored.
        if native_headers
            .iter()
            .any(|(name, _)| name == "anthropic-beta")
        {
            turn.unused.push("anthropic-beta".into());
        }
        turn.native = Some(Native {
            wire: Wire::AnthropicMessages,
            body: bytes.clone(),
            headers: native_headers,
        });
        Ok(Parsed {
            turn,
            codec: Box::new(MessagesCodec),
        })
    })
    .await
}

/// The client's betas, which an Anthropic upstream reads with the request
/// (Claude Code's betas enable fields of its body); several headers are
/// joined. (Its `anthropic-version` is the backend's own.)
fn request_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let betas: Vec<&str> = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    if betas.is_empty() {
        Vec::new()
    } else {
        vec![("anthropic-beta".to_owned(), betas.join(","))]
    }
}
