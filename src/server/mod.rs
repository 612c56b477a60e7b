//! The HTTP surface: routes, auth, body extraction and error responses.
//! One file per endpoint; handlers translate with `dialect::*`, route with
//! `routes`, and run with `engine`.

mod answer;
mod auth;
mod chat;
pub mod connections;
mod count_tokens;
mod edge;
mod embeddings;
mod envelope;
mod extract;
mod gemini;
mod health;
mod log;
mod messages;
mod models;
mod pipeline;
mod request_id;
pub mod responses;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::dialect::openai_chat;
use crate::error::Error;
use crate::state::AppState;

/// The gateway's router. From the outside in: CORS (answers preflights),
/// the request id, errors in the path's dialect, the edge guard (host,
/// origin, body type), then the token check for everything but `/healthz`,
/// unknown paths included.
pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state);
    let api = Router::new()
        .route("/v1/models", get(models::list))
        .route("/models", get(models::list))
        .route("/v1/models/{*id}", get(models::retrieve))
        .route("/models/{*id}", get(models::retrieve))
        .route("/v1/chat/completions", post(chat::completions))
        .route("/chat/completions", post(chat::completions))
        .route("/v1/messages", post(messages::create))
        .route("/v1/responses", post(responses::create))
        .route("/responses", post(responses::create))
        .route("/v1/messages/count_tokens", post(count_tokens::count))
        .route("/v1beta/models", get(gemini::list))
        .route(
            "/v1beta/models/{*target}",
            get(gemini::retrieve).post(gemini::act),
        )
        .route("/v1/embeddings", post(embeddings::create))
        .route("/embeddings", post(embeddings::create))
        .route("/debug/config", get(health::debug_config))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .merge(api)
        .layer(middleware::from_fn_with_state(state.clone(), edge::guard))
        .layer(middleware::from_fn(envelope::in_dialect))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
        .layer(cors)
}

/// CORS for the browser origins in `server.cors_origins` (`"*"` for any),
/// read from the live config on each request, so a reload changes them.
/// Only a listed origin gets `Access-Control-Allow-Origin`; preflight
/// `OPTIONS` requests are answered here, without a token, as browsers send
/// them. The headers a preflight asks for are allowed by name (a `*` never
/// covers `Authorization`, which the OpenAI SDKs send). Scripts may read
/// the headers that say when and whether to retry.
fn cors_layer(state: &AppState) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
    let config = std::sync::Arc::clone(&state.config);
    let allowed = move |origin: &HeaderValue, _: &axum::http::request::Parts| {
        config.load().settings.origin_allowed(origin.as_bytes())
    };
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(allowed))
        .allow_methods(Any)
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::RETRY_AFTER,
            HeaderName::from_static(SHOULD_RETRY),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-agent-cli-backend"),
            HeaderName::from_static("x-agent-cli-model"),
            HeaderName::from_static("x-agent-cli-ignored-params"),
            HeaderName::from_static("x-agent-cli-token-count"),
        ])
}

async fn not_found(uri: axum::http::Uri) -> Error {
    Error::NotFound(format!("no endpoint at {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Error {
    Error::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// The header the official OpenAI and Anthropic SDKs read before retrying.
const SHOULD_RETRY: &str = "x-should-retry";

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = openai_chat::error_body(&self);
        let mut response = error_response(&self, body);
        response.extensions_mut().insert(envelope::Answered(self));
        response
    }
}

/// An error's status, its envelope `body`, and the headers that say when and
/// whether to retry.
fn error_response(error: &Error, body: serde_json::Value) -> Response {
    let mut response = (error.status(), axum::Json(body)).into_response();
    if let Some(secs) = error.retry_after()
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    if !error.worth_retrying() {
        response.headers_mut().insert(
            HeaderName::from_static(SHOULD_RETRY),
            HeaderValue::from_static("false"),
        );
    }
    response
}

#[cfg(test)]
mod tests;
