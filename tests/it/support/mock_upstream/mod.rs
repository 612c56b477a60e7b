//! A fake model API that the real agent CLIs (Claude Code, Codex, Gemini CLI) are pointed at in the
//! end-to-end tests, so they run fully offline.
//!
//! It speaks just enough of three dialects to drive them: the Anthropic Messages API
//! ([`anthropic`]), the OpenAI Responses API ([`responses`]) plus Chat Completions ([`chat`]), and
//! the Gemini `generateContent` family ([`gemini`]). The behaviour follows
//! `shared/fixtures/cli/fake_upstream.py` and is decided per request from markers: `USE_TOOL`,
//! `THINK` (latest user-typed text, see [`decide`]), `FAIL_400`, `FAIL_429`, `FAIL_500`, `SLOW_STREAM` and
//! `STALL_STREAM` (anywhere in the raw body). Every request is recorded for assertions.
//!
//! This module holds the public API (markers and texts, [`MockUpstream`], [`RecordedRequest`])
//! and the router that records each request, answers the dialect-neutral cases (errors, model
//! list, token counts) and hands the rest to its dialect; [`stream`] puts answers on the wire.
//!
//! It must stay a dumb, stateless test double: no conversation memory, no real model logic, no
//! network access beyond its own 127.0.0.1 listener, and no panics on anything a client sends.

mod anthropic;
mod chat;
mod chatgpt;
mod decide;
mod gemini;
mod responses;
mod stream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};

pub(crate) use chatgpt::instructions as chatgpt_instructions;
use stream::{Answer, Pacing, sse_response};

/// The default answer, streamed as 3 text deltas.
pub(crate) const REPLY_TEXT: &str = "hello from fake upstream";
/// The reasoning text sent first when the prompt contains [`THINK_MARKER`].
pub(crate) const REASONING_TEXT: &str = "fake reasoning about the request";
/// The project `loadCodeAssist` names.
pub(crate) const CODE_ASSIST_PROJECT: &str = "mock-code-assist-project";
/// The `thoughtSignature` on the first answer part of a Gemini answer with reasoning.
pub(crate) const GEMINI_SIGNATURE: &str = "fake-gemini-signature";
/// The shell command of the single tool call made for [`TOOL_MARKER`].
pub(crate) const TOOL_COMMAND: &str = "echo tool-ok";
/// In the latest user-typed text: the shell tool is asked to run [`RISKY_COMMAND`]
/// instead, which writes a file (a CLI asks permission for it).
pub(crate) const RISKY_TOOL_MARKER: &str = "RISKY_TOOL";
/// The command of a [`RISKY_TOOL_MARKER`] call.
pub(crate) const RISKY_COMMAND: &str = "touch risky-file";
/// The answer once a tool result is in the conversation.
pub(crate) const TOOL_RESULT_REPLY: &str = "tool result seen: tool-ok";
/// In the latest user-typed text: answer with one shell tool call.
pub(crate) const TOOL_MARKER: &str = "USE_TOOL";
/// In a user message to a Responses upstream offering `image_generation`: generate an image.
pub(crate) const IMAGE_MARKER: &str = "DRAW_IMAGE";
/// The base64 of every generated image.
pub(crate) const IMAGE_BASE64: &str = "ZmFrZS1pbWFnZS1ieXRlcw==";
/// In the latest user-typed text: send a reasoning block before the answer.
pub(crate) const THINK_MARKER: &str = "THINK";
/// Anywhere in the body: answer HTTP 400 with the dialect's error JSON.
pub(crate) const FAIL_400_MARKER: &str = "FAIL_400";
/// Anywhere in the body: answer HTTP 500 with the dialect's error JSON.
pub(crate) const FAIL_500_MARKER: &str = "FAIL_500";
/// Anywhere in the body: answer HTTP 429 with `Retry-After: 7`.
pub(crate) const FAIL_429_MARKER: &str = "FAIL_429";
/// Anywhere in the body: delay every SSE event by [`SLOW_DELAY`].
pub(crate) const SLOW_MARKER: &str = "SLOW_STREAM";
/// Anywhere in the body: send nothing after the first text delta, for up to [`STALL_LIMIT`].
pub(crate) const STALL_MARKER: &str = "STALL_STREAM";
/// Delay before each SSE event of a `SLOW_STREAM` request.
pub(crate) const SLOW_DELAY: Duration = Duration::from_millis(500);
/// How long a `STALL_STREAM` response stays silent (connection open) before it ends.
pub(crate) const STALL_LIMIT: Duration = Duration::from_secs(120);

/// One HTTP request as the mock received it.
#[derive(Clone, Debug)]
pub(crate) struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub(crate) method: String,
    /// e.g. `/v1/messages?beta=true`
    pub(crate) path_and_query: String,
    /// Header names (lower-case) and values, in arrival order.
    pub(crate) headers: Vec<(String, String)>,
    /// The parsed JSON body, or `Null` when the body is empty or not JSON.
    pub(crate) body: Value,
}

/// A running fake upstream on 127.0.0.1; dropping it stops the server and ends open streams.
pub(crate) struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop_on_drop: DropGuard,
}

impl MockUpstream {
    /// Binds 127.0.0.1:0, serves on a spawned tokio task, returns once listening.
    pub(crate) async fn start() -> MockUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind mock upstream");
        let addr = listener.local_addr().expect("mock upstream address");
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared {
            requests: Mutex::default(),
            logins: Mutex::default(),
            open_streams: AtomicUsize::new(0),
            shutdown: shutdown.clone(),
        });
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&shared));
        // Nagle would hold back the small SSE frames.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let stop = shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await;
        });
        MockUpstream {
            addr,
            shared,
            _stop_on_drop: shutdown.drop_guard(),
        }
    }

    /// e.g. `http://127.0.0.1:41234` (no trailing slash, no `/v1`).
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests().clone()
    }

    /// The latest request whose path contains `path`.
    pub(crate) fn last_request(&self, path: &str) -> RecordedRequest {
        self.requests()
            .into_iter()
            .rev()
            .find(|r| r.path_and_query.contains(path))
            .unwrap_or_else(|| panic!("no request to {path} reached the mock"))
    }

    /// From now on the subscription endpoints (the ChatGPT backend, Code
    /// Assist) take only this access token (else 401, as for an expired one).
    pub(crate) fn accept_login_token(&self, token: &str) {
        self.shared.logins().token = Some(token.to_owned());
    }

    /// From now on the mock ChatGPT backend takes only requests whose
    /// instructions (the `instructions` field, or the first developer
    /// message) are exactly `text` (else 400, as the real one refuses
    /// instructions that are not the Codex CLI's).
    pub(crate) fn require_codex_instructions(&self, text: &str) {
        self.shared.logins().instructions = Some(text.to_owned());
    }

    /// SSE responses still being written; a stalled one counts until its client hangs up.
    pub(crate) fn open_streams(&self) -> usize {
        self.shared.open_streams.load(Ordering::SeqCst)
    }
}

struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    /// What the subscription endpoints (the ChatGPT backend, Code Assist) accept.
    logins: Mutex<chatgpt::Rules>,
    open_streams: AtomicUsize,
    shutdown: CancellationToken,
}

impl Shared {
    fn requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn logins(&self) -> MutexGuard<'_, chatgpt::Rules> {
        self.logins.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// ------------------------------------------------------------------------------------ routing

#[derive(Clone, Copy)]
enum Route {
    Messages,
    MessagesCountTokens,
    Responses,
    ChatCompletions,
    Embeddings,
    GeminiGenerate {
        stream: bool,
    },
    GeminiCountTokens,
    /// Code Assist (`…/v1internal:generateContent`), Gemini in an envelope.
    CodeAssist {
        stream: bool,
    },
    LoadCodeAssist,
}

impl Route {
    /// Matches the path's tail, like the Python reference, so any base-URL prefix works.
    fn from_path(path: &str) -> Option<Route> {
        if let Some((_, action)) = path.rsplit_once("/v1internal:") {
            return match action {
                "streamGenerateContent" => Some(Route::CodeAssist { stream: true }),
                "generateContent" => Some(Route::CodeAssist { stream: false }),
                "loadCodeAssist" => Some(Route::LoadCodeAssist),
                _ => None,
            };
        }
        if let Some((prefix, action)) = path.rsplit_once(':')
            && prefix.contains("/models/")
        {
            return match action {
                "streamGenerateContent" => Some(Route::GeminiGenerate { stream: true }),
                "generateContent" => Some(Route::GeminiGenerate { stream: false }),
                "countTokens" => Some(Route::GeminiCountTokens),
                _ => None,
            };
        }
        let routes = [
            ("/messages/count_tokens", Route::MessagesCountTokens),
            ("/messages", Route::Messages),
            ("/responses", Route::Responses),
            ("/chat/completions", Route::ChatCompletions),
            ("/embeddings", Route::Embeddings),
        ];
        routes
            .into_iter()
            .find_map(|(tail, route)| path.ends_with(tail).then_some(route))
    }

    fn dialect(self) -> Dialect {
        match self {
            Route::Messages | Route::MessagesCountTokens => Dialect::Anthropic,
            Route::Responses | Route::ChatCompletions | Route::Embeddings => Dialect::OpenAi,
            Route::GeminiGenerate { .. }
            | Route::GeminiCountTokens
            | Route::CodeAssist { .. }
            | Route::LoadCodeAssist => Dialect::Gemini,
        }
    }
}

#[derive(Clone, Copy)]
enum Dialect {
    Anthropic,
    OpenAi,
    Gemini,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    shared.requests().push(RecordedRequest {
        method: method.to_string(),
        path_and_query: uri
            .path_and_query()
            .map_or(uri.path(), |pq| pq.as_str())
            .to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), lossy(v.as_bytes())))
            .collect(),
        body: body.clone(),
    });
    let path = uri.path();
    if is_gzip(&headers) {
        let message = "mock upstream cannot decode Content-Encoding: gzip (no decompressor \
                       available in the test build); send an uncompressed body";
        let error = json!({"error": {"message": message, "type": "unsupported_media_type"}});
        return json_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, error.to_string());
    }
    if method == Method::GET && path.ends_with("/models") {
        return json_response(StatusCode::OK, model_list().to_string());
    }
    let Some(route) = Route::from_path(path).filter(|_| method == Method::POST) else {
        let error = json!({"error": {"message": format!("not found: {method} {path}"),
                                     "type": "not_found"}});
        return json_response(StatusCode::NOT_FOUND, error.to_string());
    };
    if path.contains(chatgpt::PATH)
        && let Some((status, refusal)) = chatgpt::refusal(&shared.logins(), &headers, &body)
    {
        return json_response(status, refusal.to_string());
    }
    if path.contains("/v1internal:")
        && let Some((status, refusal)) =
            chatgpt::code_assist_refusal(&shared.logins(), &headers, &body)
    {
        return json_response(status, refusal.to_string());
    }
    if contains_marker(&raw, FAIL_429_MARKER) {
        let status = StatusCode::TOO_MANY_REQUESTS;
        let mut response = json_response(status, error_body(route.dialect(), 429));
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("7"));
        return response;
    }
    for (marker, status) in [
        (FAIL_400_MARKER, StatusCode::BAD_REQUEST),
        (FAIL_500_MARKER, StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        if contains_marker(&raw, marker) {
            return json_response(status, error_body(route.dialect(), status.as_u16()));
        }
    }
    let token_estimate = (raw.len() / 4).max(1);
    let answer = match route {
        Route::MessagesCountTokens => Answer::Json(json!({"input_tokens": token_estimate})),
        Route::GeminiCountTokens => Answer::Json(json!({"totalTokens": token_estimate})),
        Route::Messages => anthropic::answer(&body),
        Route::Responses => responses::answer(&body),
        Route::ChatCompletions => chat::answer(&body),
        Route::Embeddings => Answer::Json(chat::embeddings(&body)),
        Route::GeminiGenerate { stream } => gemini::answer(&body, stream, false),
        Route::CodeAssist { stream } => gemini::answer(&body["request"], stream, true),
        Route::LoadCodeAssist => Answer::Json(json!({
            "cloudaicompanionProject": CODE_ASSIST_PROJECT,
            "currentTier": {"id": "free-tier"}})),
    };
    match answer {
        Answer::Json(value) => json_response(StatusCode::OK, value.to_string()),
        Answer::Sse(frames) => {
            let pacing = Pacing {
                slow: contains_marker(&raw, SLOW_MARKER),
                stall: contains_marker(&raw, STALL_MARKER),
            };
            sse_response(&shared, frames, pacing)
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn is_gzip(headers: &HeaderMap) -> bool {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| lossy(v.as_bytes()));
    encoding.is_some_and(|value| value.trim().eq_ignore_ascii_case("gzip"))
}

fn contains_marker(raw: &[u8], marker: &str) -> bool {
    raw.windows(marker.len())
        .any(|window| window == marker.as_bytes())
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Byte for byte what the Python reference sends: Codex and Gemini print the body verbatim, so
/// tests can compare error text with the recorded fixtures.
fn error_body(dialect: Dialect, code: u16) -> String {
    let message = json!(format!(
        "fake upstream rejected the request (FAIL_{code} marker)"
    ));
    let (kind, status) = match code {
        400 => ("invalid_request_error", "INVALID_ARGUMENT"),
        _ => ("api_error", "INTERNAL"),
    };
    match dialect {
        Dialect::Anthropic => {
            format!(r#"{{"type": "error", "error": {{"type": "{kind}", "message": {message}}}}}"#)
        }
        Dialect::Gemini => {
            format!(
                r#"{{"error": {{"code": {code}, "message": {message}, "status": "{status}"}}}}"#
            )
        }
        Dialect::OpenAi => format!(
            r#"{{"error": {{"message": {message}, "type": "{kind}", "param": null, "code": null}}}}"#
        ),
    }
}

fn model_list() -> Value {
    json!({
        "object": "list", "has_more": false, "first_id": "fake-model", "last_id": "fake-model",
        "data": [{"id": "fake-model", "object": "model", "created": decide::unix_now(),
                  "owned_by": "fake", "type": "model", "display_name": "Fake Model",
                  "created_at": "2025-01-01T00:00:00Z"}],
    })
}
