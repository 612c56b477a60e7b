//! `GET /v1/models`: the model strings the current routes serve.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::state::AppState;

pub(super) async fn list(State(state): State<AppState>) -> Json<Value> {
    let config = state.config.load();
    let data: Vec<Value> = config
        .routes
        .models()
        .into_iter()
        .map(
            |id| json!({"id": id, "object": "model", "created": 0, "owned_by": "agent-cli-to-api"}),
        )
        .collect();
    Json(json!({"object": "list", "data": data}))
}
