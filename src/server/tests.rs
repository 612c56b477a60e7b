//! The router driven in-process (no binary, no socket): the edge, auth, the
//! pipeline's answers and errors, with a trivial shell CLI as the backend.

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::config::watch::Reloader;
use crate::config::{LoadOptions, load};
use crate::engine::Reaper;
use crate::state::AppState;

/// A backend that answers `hi` (the bench's CLI), and a token.
const CONFIG: &str = r#"
use = []
[server]
token = "in-process-token"

[backends.trivial]
command = "trivial-cli"
default_model = "t"

[[backends.trivial.output]]
when = { "/t" = "say" }
text = "/v"

[[backends.trivial.output]]
when = { "/t" = "end" }
terminal = true

[[routes]]
prefix = "t:"
backend = "trivial"
"#;

/// A router over [`CONFIG`], and the directory holding its file.
fn router() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bin");
    let env = [
        ("PATH", format!("{}:/usr/bin:/bin", bin.display())),
        ("TMPDIR", dir.path().display().to_string()),
    ];
    let options = LoadOptions::for_text(dir.path(), CONFIG, &env);
    let live = Arc::new(ArcSwap::from_pointee(load(&options).unwrap()));
    let reloader = Arc::new(Reloader::new(options, live));
    let state = AppState::new(
        reloader,
        CancellationToken::new(),
        "127.0.0.1:8000".parse().unwrap(),
        Arc::new(Reaper::default()),
    );
    (super::router(state), dir)
}

fn post(body: &Value) -> Request<Body> {
    Request::post("/v1/chat/completions")
        .header(header::HOST, "127.0.0.1:8000")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer in-process-token")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn send(
    router: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn ask(stream: bool) -> Value {
    json!({"model": "t:", "stream": stream, "temperature": 0.1,
           "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test]
async fn a_folded_answer_goes_through_every_stage() {
    let (router, _dir) = router();
    let (status, headers, body) = send(&router, post(&ask(false))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "hi");
    assert_eq!(body["model"], "t");
    assert_eq!(headers["x-agent-cli-backend"], "trivial");
    assert_eq!(headers["x-agent-cli-ignored-params"], "temperature");
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn a_streamed_answer_is_sse_frames_to_done() {
    let (router, _dir) = router();
    let (status, headers, body) = send(&router, post(&ask(true))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
    let data: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert!(data[0].contains("\"role\":\"assistant\""), "{body}");
    assert!(
        data.iter().any(|d| d.contains("\"content\":\"hi\"")),
        "{body}"
    );
    assert_eq!(data.last(), Some(&"[DONE]"), "{body}");
}

#[tokio::test]
async fn errors_come_from_each_stage_in_the_openai_envelope() {
    let (router, _dir) = router();
    let cases = [
        (
            post(&json!({"model": "nope:x", "messages": [{"role": "user", "content": "x"}]})),
            404,
            "model_not_found",
        ),
        (
            post(&json!({"model": "t:", "messages": []})),
            400,
            "invalid_request",
        ),
        (
            post(&json!({"model": "t:", "n": 2, "messages": [{"role": "user", "content": "x"}]})),
            400,
            "invalid_request",
        ),
        (
            Request::post("/v1/chat/completions")
                .header(header::HOST, "localhost")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(ask(false).to_string()))
                .unwrap(),
            415,
            "unsupported_media_type",
        ),
        (
            Request::get("/v1/models")
                .header(header::HOST, "localhost")
                .body(Body::empty())
                .unwrap(),
            401,
            "invalid_api_key",
        ),
    ];
    for (request, status, code) in cases {
        let (got, _, body) = send(&router, request).await;
        assert_eq!(got.as_u16(), status, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
    }
}
