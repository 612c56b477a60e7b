//! `GET /healthz` (no auth) and `GET /debug/config`: the effective config,
//! where each value came from, the routes, each backend's load and the last
//! reload's outcome. Secrets are redacted.

use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::auth::Snapshot;
use crate::routes::Provider;
use crate::state::AppState;

pub(super) async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let mut body = json!({"ok": true});
    if let Some(error) = state.reloader.status().last_error {
        body["config_error"] = json!(error);
    }
    Json(body)
}

pub(super) async fn debug_config(
    State(state): State<AppState>,
    Extension(Snapshot(config)): Extension<Snapshot>,
) -> Json<Value> {
    let status = state.reloader.status();
    let routes: Vec<Value> = config
        .routes
        .routes
        .iter()
        .map(|r| {
            json!({
                "match": r.matcher.to_string(),
                "backend": r.backend,
                "rewrite": r.rewrite,
                "defined_at": r.origin.to_string(),
                "off": r.off,
            })
        })
        .collect();
    let load: serde_json::Map<String, Value> = config
        .routes
        .backends
        .values()
        .map(|backend| {
            let (running, queued) = state.limiters.load(&backend.name);
            (
                backend.name.clone(),
                json!({
                    "running": running,
                    "queued": queued,
                    "max_concurrency": backend.limits.max,
                }),
            )
        })
        .collect();
    let provider = match &config.routes.provider {
        Some(Provider::Fixed(name)) => name.clone(),
        _ => "auto".to_owned(),
    };
    Json(json!({
        "provider": provider,
        "files": config.report.files,
        "effective": config.report.effective,
        "sources": config.report.sources,
        "routes": routes,
        "models": config.routes.models(),
        "load": load,
        "pools": state.sessions.report(),
        "notes": config.report.notes,
        "warnings": config.report.warnings,
        "reload": {
            "last_error": status.last_error,
            "reloads": status.reloads,
            "loaded_at": status.loaded_at.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()),
        },
    }))
}
