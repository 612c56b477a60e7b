//! `GET /v1/models`: the model strings the current routes serve;
//! `GET /v1/models/{id}`: one of them, or any other string a route accepts.

use axum::extract::Path;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::auth::Snapshot;
use crate::error::Error;

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "agent-cli-to-api"})
}

pub(super) async fn list(Extension(Snapshot(config)): Extension<Snapshot>) -> Json<Value> {
    let data: Vec<Value> = config
        .routes
        .models()
        .into_iter()
        .map(|id| model_object(&id))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// The model if the routes would serve a request for it, else a 404.
pub(super) async fn retrieve(
    Extension(Snapshot(config)): Extension<Snapshot>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    match config.routes.resolve(&id) {
        Ok(_) => Ok(Json(model_object(&id))),
        // Whatever the reason (unsafe characters, no model to use), a model
        // the routes cannot serve does not exist here.
        Err(Error::UnknownModel { message }) => Err(Error::UnknownModel { message }),
        Err(error) => Err(Error::UnknownModel {
            message: format!("model {id:?} is not served here: {error}"),
        }),
    }
}
