//! `POST /v1/embeddings`: routed by `model` like a chat request, and
//! proxied to the chosen backend's OpenAI-compatible upstream with the
//! routed model; the upstream's JSON comes back as it is. Not a turn: no
//! dialect translation, so it skips the chat pipeline's codec. A backend
//! without embeddings may name one that has them (`embeddings_backend`).

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::auth::Snapshot;
use super::extract;
use super::log::RequestLog;
use super::pipeline::{add_route_headers, run_context};
use super::request_id::RequestId;
use crate::engine;
use crate::error::Error;
use crate::state::AppState;

pub(super) async fn create(
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
        let mut request: Map<String, Value> = extract::json(&bytes)?;
        let model = match request.get("model") {
            Some(Value::String(model)) => model.clone(),
            _ => {
                return Err(Error::InvalidRequest(
                    "`model` is required: a string naming the embeddings model".into(),
                ));
            }
        };
        log.model.clone_from(&model);
        let resolved = via_embeddings_backend(config.routes.resolve(&model)?, &config, &model);
        log.backend = Some(resolved.backend.name.clone());
        log.backend_model = Some(resolved.model.clone());
        request.insert("model".into(), Value::String(resolved.model.clone()));
        let body = serde_json::to_vec(&request)
            .map_err(|e| Error::Internal(format!("cannot encode the request: {e}")))?;
        let ctx = run_context(&state, &config, &log);
        let json = engine::embeddings(&resolved, body.into(), &ctx).await?;
        Ok((resolved, json))
    }
    .await;
    match answer {
        Ok((resolved, json)) => {
            log.finished(200);
            let mut response = (
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(json),
            )
                .into_response();
            add_route_headers(response.headers_mut(), &resolved, &[]);
            response
        }
        Err(error) => {
            log.failed(error.status().as_u16(), &error.to_string());
            error.into_response()
        }
    }
}

/// The backend embeddings of `resolved` go to, when its own backend names
/// one (`embeddings_backend`): that one, with the client's model.
fn via_embeddings_backend(
    resolved: crate::routes::Resolved,
    config: &crate::config::Config,
    model: &str,
) -> crate::routes::Resolved {
    let Some(target) = resolved
        .backend
        .embeddings_via
        .as_ref()
        .and_then(|name| config.routes.backends.get(name))
    else {
        return resolved;
    };
    crate::routes::Resolved {
        reason: format!(
            "the embeddings of `{}` go to `{}`",
            resolved.backend.name, target.name
        ),
        backend: std::sync::Arc::clone(target),
        model: model.to_owned(),
        echo_model: model.to_owned(),
        vars: std::collections::BTreeMap::new(),
        fallbacks: Vec::new(),
    }
}
