//! The Gemini API: `GET /v1beta/models` (the routes' models as Gemini model
//! resources), `GET /v1beta/models/{model}`, and `POST
//! /v1beta/models/{model}:{action}` for `generateContent`,
//! `streamGenerateContent` (server-sent events with `alt=sse`, else one
//! JSON array written as it grows) and `countTokens`. The model may hold
//! `:` (`claude:sonnet`): the action is after the last one. A Gemini
//! upstream gets the request as sent.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::auth::Snapshot;
use super::pipeline::{self, Parsed};
use super::request_id::RequestId;
use super::{count_tokens, extract};
use crate::dialect::Framing;
use crate::dialect::gemini::{self, GeminiCodec, GenerateRequest};
use crate::error::Error;
use crate::state::AppState;
use crate::turn::{Native, Wire};

/// What a model answers to.
const METHODS: &[&str] = &["generateContent", "streamGenerateContent", "countTokens"];

fn resource(id: &str) -> Value {
    json!({
        "name": format!("models/{id}"),
        "baseModelId": id,
        "version": "gateway",
        "displayName": id,
        "supportedGenerationMethods": METHODS,
    })
}

pub(super) async fn list(Extension(Snapshot(config)): Extension<Snapshot>) -> Json<Value> {
    let models: Vec<Value> = config
        .routes
        .models()
        .iter()
        .map(|id| resource(id))
        .collect();
    Json(json!({"models": models}))
}

pub(super) async fn retrieve(
    Extension(Snapshot(config)): Extension<Snapshot>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    let id = id.strip_prefix("models/").unwrap_or(&id);
    config
        .routes
        .resolve(id)
        .map_err(|error| Error::UnknownModel {
            message: format!(
                "model {} is not served here: {error}",
                crate::routes::shown_model(id)
            ),
        })?;
    Ok(Json(resource(id)))
}

/// `POST /v1beta/models/{model}:{action}`.
pub(super) async fn act(
    state: State<AppState>,
    request_id: Extension<RequestId>,
    snapshot: Extension<Snapshot>,
    Path(target): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let Some((model, action)) = target.rsplit_once(':') else {
        return Error::NotFound(format!(
            "no action in models/{target}: use models/{{model}}:generateContent, \
             :streamGenerateContent or :countTokens"
        ))
        .into_response();
    };
    let model = model.strip_prefix("models/").unwrap_or(model).to_owned();
    // The path as it came (percent-encoded), for the log's curl command.
    let path = uri.path().to_owned();
    let sse = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|pair| pair == "alt=sse"));
    match action {
        "generateContent" => {
            let call = Call {
                model,
                path,
                stream: false,
                sse,
            };
            generate(state, request_id, snapshot, call, body).await
        }
        "streamGenerateContent" => {
            let call = Call {
                model,
                path,
                stream: true,
                sse,
            };
            generate(state, request_id, snapshot, call, body).await
        }
        "countTokens" => count(state, request_id, snapshot, model, body).await,
        other => Error::NotFound(format!(
            "no action `{other}`: use generateContent, streamGenerateContent or countTokens"
        ))
        .into_response(),
    }
}

/// One generate call: its model, the path it came on, and how it streams.
struct Call {
    model: String,
    path: String,
    stream: bool,
    sse: bool,
}

async fn generate(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(Snapshot(config)): Extension<Snapshot>,
    Call {
        model,
        path,
        stream,
        sse,
    }: Call,
    body: Body,
) -> Response {
    pipeline::serve(&state, config, request_id, body, &path, |bytes| {
        let request: GenerateRequest = extract::json(bytes)?;
        let include_thoughts = gemini::request::include_thoughts(&request);
        let mut turn = gemini::to_turn(request, &model, stream)?;
        turn.native = Some(Native {
            wire: Wire::Gemini,
            body: bytes.clone(),
            headers: Vec::new(),
        });
        let framing = if sse {
            Framing::Sse
        } else {
            Framing::JsonArray
        };
        Ok(Parsed {
            turn,
            codec: Box::new(GeminiCodec {
                include_thoughts,
                framing,
            }),
        })
    })
    .await
}

/// `countTokens`: the body, or its `generateContentRequest`, counted like
/// `/v1/messages/count_tokens`.
async fn count(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(Snapshot(config)): Extension<Snapshot>,
    model: String,
    body: Body,
) -> Response {
    let parse = |bytes: &[u8]| {
        let mut request: Map<String, Value> = extract::json(bytes)?;
        let inner = request
            .remove("generateContentRequest")
            .or_else(|| request.remove("generate_content_request"));
        let request: GenerateRequest =
            serde_json::from_value(inner.unwrap_or(Value::Object(request)))
                .map_err(|e| Error::InvalidRequest(format!("invalid JSON body: {e}")))?;
        gemini::to_turn(request, &model, false)
    };
    let answer = |tokens| json!({"totalTokens": tokens});
    count_tokens::serve(&state, config, request_id, body, parse, answer).await
}
