//! An upstream that sends what it should not: a body that is not JSON, a
//! web page, a stream cut off (cleanly or not), one huge event and one too
//! large. Each is a clear error for that request, after a first byte never
//! retried, and the gateway keeps serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use futures_util::StreamExt as _;
use serde_json::json;

use super::{ask, error_message, one_backend};
use crate::support::Gateway;
use crate::support::sse::content;

/// One chunk of text, as a Chat Completions stream event.
fn text_event(text: &str) -> String {
    let chunk = json!({"choices": [{"index": 0, "delta": {"content": text}}]});
    format!("data: {chunk}\n\n")
}

fn sse(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(body)
        .unwrap()
}

/// What the hostile upstream answers for the marker in the request.
fn misbehave(request: &str) -> Response {
    let finish = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    if request.contains("NOT_JSON") {
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"choices\": [oops"))
            .unwrap();
    }
    if request.contains("WEB_PAGE") {
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/html")
            .body(Body::from("<html><body>Sign in</body></html>"))
            .unwrap();
    }
    if request.contains("REDIRECT") {
        return Response::builder()
            .status(307)
            .header(
                header::LOCATION,
                "https://elsewhere.example/v1/chat/completions",
            )
            .body(Body::empty())
            .unwrap();
    }
    if request.contains("CUT_CLEANLY") {
        return sse(Body::from(text_event("half an ")));
    }
    if request.contains("CUT_HARD") {
        // The first piece goes out before the connection breaks.
        let first = futures_util::stream::iter([Ok(Bytes::from(text_event("half an ")))]);
        let reset = futures_util::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            Err(std::io::Error::other("connection reset"))
        });
        return sse(Body::from_stream(first.chain(reset)));
    }
    if request.contains("BAD_CHUNK") {
        return sse(Body::from(format!(
            "{}data: {{oops\n\n",
            text_event("so far ")
        )));
    }
    if let Some(mib) = ["HUGE_8", "HUGE_17"]
        .iter()
        .find(|m| request.contains(*m))
        .map(|m| if *m == "HUGE_8" { 8 } else { 17 })
    {
        let text = "x".repeat(mib * 1024 * 1024);
        return sse(Body::from(format!("{}{finish}", text_event(&text))));
    }
    sse(Body::from(format!("{}{finish}", text_event("fine"))))
}

/// The hostile upstream's base URL, and how many requests it got.
async fn hostile_upstream() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let app = axum::Router::new().fallback(move |body: Bytes| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move { misbehave(&String::from_utf8_lossy(&body)) }
    });
    let url = format!("{}/v1", crate::support::serve(app).await);
    (url, count)
}

/// A streamed request's text and the message of its error event, if any.
async fn streamed(gw: &Gateway, text: &str) -> (String, Option<String>) {
    let events = gw
        .stream_events(json!({"model": "bad:m", "stream": true,
                              "messages": [{"role": "user", "content": text}]}))
        .await;
    let error = events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .find_map(|e| e.json()["error"]["message"].as_str().map(str::to_owned));
    (content(&events), error)
}

#[tokio::test]
async fn bad_upstream_data_is_a_clear_error_and_the_gateway_keeps_serving() {
    let (url, count) = hostile_upstream().await;
    let gw = Gateway::builder(&one_backend("bad", &url, "")).start();

    let (status, _, body) = gw.chat(ask("bad:m", "NOT_JSON")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        error_message(&body).contains("the upstream's answer (application/json) is not JSON"),
        "{body}"
    );
    let (status, _, body) = gw.chat(ask("bad:m", "WEB_PAGE")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        error_message(&body).contains("(text/html) is not JSON"),
        "{body}"
    );

    let before = count.load(Ordering::SeqCst);
    let (text, error) = streamed(&gw, "CUT_CLEANLY").await;
    assert_eq!(text, "half an ", "what came is passed on as it came");
    let error = error.expect("an error event");
    assert!(
        error.contains("closed its stream before the answer was complete"),
        "{error}"
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        before + 1,
        "no retry after the first byte"
    );

    let (text, error) = streamed(&gw, "CUT_HARD").await;
    assert_eq!(text, "half an ");
    let error = error.expect("an error event");
    assert!(error.contains("broke off"), "{error}");

    let (text, error) = streamed(&gw, "BAD_CHUNK").await;
    assert_eq!(text, "so far ");
    assert!(error.expect("an error event").contains("not JSON"));

    let (status, _, body) = gw.chat(ask("bad:m", "CUT_HARD")).await;
    assert_eq!(status, 502, "{body}");

    // One 8 MiB event flows through whole; past 16 MiB it is refused.
    let (text, error) = streamed(&gw, "HUGE_8").await;
    assert_eq!(error, None);
    assert_eq!(text.len(), 8 * 1024 * 1024);
    // Refused before anything reached the client: a plain 502.
    let (status, _, body) = gw
        .chat(json!({"model": "bad:m", "stream": true,
                     "messages": [{"role": "user", "content": "HUGE_17"}]}))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        error_message(&body).contains("larger than 16777216 bytes"),
        "{body}"
    );

    // A redirect is not followed (the request and its key stay here).
    let before = count.load(Ordering::SeqCst);
    let (status, _, body) = gw.chat(ask("bad:m", "REDIRECT")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        error_message(&body).contains("redirects to https://elsewhere.example/v1/chat/completions")
            && error_message(&body).contains("not followed"),
        "{body}"
    );
    assert_eq!(count.load(Ordering::SeqCst), before + 1);

    let (status, _, body) = gw.chat(ask("bad:m", "hello")).await;
    assert_eq!(status, 200, "still serving: {body}");
    assert_eq!(body["choices"][0]["message"]["content"], "fine");
}
