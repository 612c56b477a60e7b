//! Errors in the client's dialect, the one place that picks the envelope:
//! a request that fails before its answer starts, anywhere (the edge
//! guard, the token check, an unknown path, the pipeline), gets the
//! envelope of its path's dialect (Anthropic's on `/v1/messages*`, and on
//! `/v1/models*` when the request has `anthropic-version`, as the Anthropic
//! SDKs send; Google's on `/v1beta/*`; OpenAI's elsewhere) with the same status and
//! retry headers. Errors are answered in OpenAI's envelope where they
//! happen ([`Error`]'s `IntoResponse`), which keeps the error beside the
//! body; this layer rewrites the body for the other dialects.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use crate::dialect::{anthropic, gemini, openai_chat};
use crate::error::Error;

/// An error answered in OpenAI's envelope, kept for a rewrite (a response
/// extension).
#[derive(Debug, Clone)]
pub(super) struct Answered(pub(super) Error);

/// Whose error envelope a path's clients read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Envelope {
    OpenAi,
    Anthropic,
    Google,
}

impl Envelope {
    fn of(request: &Request) -> Envelope {
        let path = request.uri().path();
        let models = path == "/v1/models" || path.starts_with("/v1/models/");
        if path == "/v1/messages"
            || path.starts_with("/v1/messages/")
            || (models && request.headers().contains_key("anthropic-version"))
        {
            Envelope::Anthropic
        } else if path.starts_with("/v1beta/") {
            Envelope::Google
        } else {
            Envelope::OpenAi
        }
    }

    fn body(self, error: &Error) -> Value {
        match self {
            Envelope::OpenAi => openai_chat::error_body(error),
            Envelope::Anthropic => anthropic::error_body(error),
            Envelope::Google => gemini::error_body(error),
        }
    }
}

/// Rewrites an error answered in OpenAI's envelope into the path's.
pub(super) async fn in_dialect(request: Request, next: Next) -> Response {
    let envelope = Envelope::of(&request);
    let response = next.run(request).await;
    if envelope == Envelope::OpenAi {
        return response;
    }
    match response.extensions().get::<Answered>() {
        Some(Answered(error)) => super::error_response(error, envelope.body(error)),
        None => response,
    }
}
