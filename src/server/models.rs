//! `GET /v1/models`: the model strings the current routes serve;
//! `GET /v1/models/{id}`: one of them, or any other string a route accepts.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::error::Error;
use crate::state::AppState;

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "agent-cli-to-api"})
}

pub(super) async fn list(State(state): State<AppState>) -> Json<Value> {
    let config = state.config.load();
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
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    match state.config.load().routes.resolve(&id) {
        Ok(_) => Ok(Json(model_object(&id))),
        // Whatever the reason (unsafe characters, no model to use), a model
        // the routes cannot serve does not exist here.
        Err(Error::UnknownModel { message }) => Err(Error::UnknownModel { message }),
        Err(error) => Err(Error::UnknownModel {
            message: format!("model {id:?} is not served here: {error}"),
        }),
    }
}
