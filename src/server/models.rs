//! `GET /v1/models`: the model strings the current routes serve;
//! `GET /v1/models/{id}`: one of them, or any other string a route accepts.
//! In OpenAI's shape, or Anthropic's when the request says
//! `anthropic-version` (as Anthropic's SDKs do).

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::auth::Snapshot;
use crate::error::Error;

/// Whether the client is one of Anthropic's.
fn anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key("anthropic-version")
}

fn model_object(id: &str, anthropic: bool) -> Value {
    if anthropic {
        json!({"type": "model", "id": id, "display_name": id,
               "created_at": "1970-01-01T00:00:00Z"})
    } else {
        json!({"id": id, "object": "model", "created": 0, "owned_by": "agent-cli-to-api"})
    }
}

pub(super) async fn list(
    Extension(Snapshot(config)): Extension<Snapshot>,
    headers: HeaderMap,
) -> Json<Value> {
    let ids = config.routes.models();
    let anthropic = anthropic(&headers);
    let data: Vec<Value> = ids.iter().map(|id| model_object(id, anthropic)).collect();
    if anthropic {
        return Json(json!({
            "data": data,
            "has_more": false,
            "first_id": ids.first(),
            "last_id": ids.last(),
        }));
    }
    Json(json!({"object": "list", "data": data}))
}

/// The model if the routes would serve a request for it, else a 404.
pub(super) async fn retrieve(
    Extension(Snapshot(config)): Extension<Snapshot>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    match config.routes.resolve(&id) {
        Ok(_) => Ok(Json(model_object(&id, anthropic(&headers)))),
        // Whatever the reason (unsafe characters, no model to use), a model
        // the routes cannot serve does not exist here.
        Err(Error::UnknownModel { message }) => Err(Error::UnknownModel { message }),
        Err(error) => Err(Error::UnknownModel {
            message: format!(
                "model {} is not served here: {error}",
                crate::routes::shown_model(&id)
            ),
        }),
    }
}
