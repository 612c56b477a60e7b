//! `http` backends end to end: the gateway in front of the project's mock
//! upstream speaking Chat Completions. Asserts the exact request the
//! upstream gets (path, auth, headers, body) and what the client gets back,
//! streamed and not, tools, errors and credentials.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mock_upstream::{
    MockUpstream, REASONING_TEXT, REPLY_TEXT, RecordedRequest, TOOL_COMMAND,
};
use crate::support::sse::{content, reasoning};
use crate::support::{Gateway, run_binary, user};

const KEY: &str = "sk-test-upstream-0123456789";

fn config(mock: &MockUpstream) -> String {
    format!(
        r#"
use = []
[backends.up]
kind = "http"
url = "{}/v1"
auth = {{ env = "UP_KEY" }}
headers = {{ "X-Team" = "blue" }}
max_retry_wait_seconds = 5
default_model = "fake-model"
models = ["fake-model"]

[backends.nokey]
kind = "http"
url = "{}/v1"
auth = {{ env = "UNSET_KEY" }}

[[routes]]
prefix = "up:"
backend = "up"

[[routes]]
prefix = "nokey:"
backend = "nokey"
"#,
        mock.base_url(),
        mock.base_url()
    )
}

fn gateway(mock: &MockUpstream) -> Gateway {
    keyed(&config(mock))
}

/// A config of one http backend `name` at `url` (plus TOML `keys`), routed as `name:`.
fn one_backend(name: &str, url: &str, keys: &str) -> String {
    format!(
        "use = []\n[backends.{name}]\nkind = \"http\"\nurl = \"{url}\"\n{keys}\n\
         [[routes]]\nprefix = \"{name}:\"\nbackend = \"{name}\"\n"
    )
}

/// A gateway serving `config`, with [`KEY`] in `$UP_KEY`.
fn keyed(config: &str) -> Gateway {
    Gateway::builder(config).env("UP_KEY", KEY).start()
}

/// Asserts that the upstream's refusals reach the client through `prefix`
/// as they were: a 400 with its message, a 429 with its `Retry-After`.
async fn assert_refusals_pass_through(gw: &Gateway, prefix: &str) {
    let (status, _, body) = gw.chat(ask(prefix, "FAIL_400")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).contains("fake upstream rejected the request (FAIL_400 marker)"),
        "{body}"
    );
    let (status, headers, body) = gw.chat(ask(prefix, "FAIL_429")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "7");
}

/// A one-message chat request for `model`.
fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": user(text)})
}

/// The message of an OpenAI error envelope.
fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// Asserts the upstream got the gateway's key as a bearer token.
fn assert_bearer(request: &RecordedRequest) {
    assert_eq!(
        header(request, "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

fn header<'a>(request: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_json_answer_comes_from_the_upstream_with_the_request_kept() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let (status, headers, body) = gw
        .chat(json!({
            "model": "up:fake-model",
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "THINK hello"}],
            "temperature": 0.3,
            "max_completion_tokens": 50,
            "metadata": {"trace": "t-1"},
            "reasoning_effort": "high"
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], REPLY_TEXT);
    assert_eq!(
        body["choices"][0]["message"]["reasoning_content"],
        REASONING_TEXT
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 12);
    assert_eq!(body["usage"]["completion_tokens"], 5);
    assert_eq!(headers["x-agent-cli-backend"], "up");
    assert!(
        headers.get("x-agent-cli-ignored-params").is_none(),
        "an http backend honours everything: {headers:?}"
    );
    let sent = mock.last_request("/chat/completions");
    assert_eq!(sent.path_and_query, "/v1/chat/completions");
    assert_bearer(&sent);
    assert_eq!(header(&sent, "x-team"), Some("blue"));
    assert_eq!(header(&sent, "content-type"), Some("application/json"));
    assert_eq!(sent.body["model"], "fake-model");
    assert_eq!(sent.body["temperature"], 0.3);
    assert_eq!(sent.body["max_completion_tokens"], 50);
    assert_eq!(sent.body["metadata"], json!({"trace": "t-1"}));
    assert_eq!(sent.body["reasoning_effort"], "high");
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert!(sent.body.get("stream").is_none());
    // The key is nowhere the operator or a client can read it.
    let debug = reqwest::get(gw.url("/debug/config"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!debug.contains(KEY), "{debug}");
    assert!(!gw.logs().contains(KEY));
}

#[tokio::test]
async fn a_streamed_answer_flows_with_reasoning_and_usage() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let events = gw
        .stream_events(json!({
            "model": "up:", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "THINK hi"}]
        }))
        .await;
    assert_eq!(content(&events), REPLY_TEXT);
    assert_eq!(reasoning(&events), REASONING_TEXT);
    let text_chunks = events
        .iter()
        .filter(|e| {
            e.data != "[DONE]"
                && e.json()["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
        })
        .count();
    assert!(text_chunks >= 3, "the upstream's deltas stay deltas");
    let usage = events
        .iter()
        .find(|e| e.data != "[DONE]" && e.json().get("usage").is_some())
        .expect("a usage chunk");
    assert_eq!(usage.json()["usage"]["total_tokens"], 17);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let sent = mock.last_request("/chat/completions");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(
        sent.body["model"], "fake-model",
        "the backend's default model"
    );
}

#[tokio::test]
async fn tool_calls_go_round_trip_streamed_and_not() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let tools = json!([{"type": "function", "function": {"name": "shell",
        "description": "run a command", "parameters": {"type": "object"}}}]);
    let (status, _, body) = gw
        .chat(
            json!({"model": "up:fake-model", "tools": tools, "tool_choice": "auto",
                     "messages": [{"role": "user", "content": "USE_TOOL please"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(call["function"]["name"], "shell");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["command"][2], TOOL_COMMAND);
    assert_eq!(mock.last_request("/chat/completions").body["tools"], tools);

    let events = gw
        .stream_events(
            json!({"model": "up:fake-model", "tools": tools, "stream": true,
                              "messages": [{"role": "user", "content": "USE_TOOL please"}]}),
        )
        .await;
    let started = events
        .iter()
        .find(|e| {
            e.data != "[DONE]" && e.json()["choices"][0]["delta"]["tool_calls"][0]["id"].is_string()
        })
        .expect("a tool call chunk");
    assert_eq!(
        started.json()["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "shell"
    );
    let finish = events
        .iter()
        .find(|e| e.data != "[DONE]" && e.json()["choices"][0]["finish_reason"].is_string())
        .unwrap();
    assert_eq!(finish.json()["choices"][0]["finish_reason"], "tool_calls");

    // The result goes back; the upstream answers from it.
    let id = call["id"].as_str().unwrap();
    let (status, _, body) = gw
        .chat(
            json!({"model": "up:fake-model", "tools": tools, "messages": [
                {"role": "user", "content": "USE_TOOL please"},
                {"role": "assistant", "content": null, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": id, "content": "tool-ok"}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "tool result seen: tool-ok"
    );
    let sent = mock.last_request("/chat/completions");
    assert_eq!(sent.body["messages"][2]["tool_call_id"], id);
    assert_eq!(sent.body["messages"][1]["tool_calls"][0]["id"], id);
}

#[tokio::test]
async fn upstream_errors_keep_their_status_and_message() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let up = |text: &str| ask("up:fake-model", text);
    let (status, _, body) = gw.chat(up("FAIL_400")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).contains("fake upstream rejected"),
        "{body}"
    );
    let (status, headers, body) = gw.chat(up("FAIL_429")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(
        mock.requests().len(),
        2,
        "a Retry-After over max_retry_wait_seconds is passed on, not waited for"
    );
    let (status, _, body) = gw.chat(up("FAIL_500")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(mock.requests().len(), 5, "a 5xx is tried 3 times in all");
    // A stream that fails before its first byte is a plain error too.
    let response = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "up:fake-model", "stream": true,
                      "messages": [{"role": "user", "content": "FAIL_400"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Still serving.
    let (status, _, _) = gw.chat(up("hello")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_missing_key_or_unreachable_upstream_is_a_clear_502() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let before = mock.requests().len();
    let (status, _, body) = gw.chat(ask("nokey:m", "hi")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        error_message(&body).contains("$UNSET_KEY is not set"),
        "{body}"
    );
    assert_eq!(
        mock.requests().len(),
        before,
        "nothing was sent without a key"
    );

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // Credentials in the URL are used, and shown nowhere.
    let gw = Gateway::builder(&one_backend(
        "gone",
        &format!("http://proxy-user:PASSWORD-IN-URL@127.0.0.1:{closed}/v1"),
        "connect_timeout_seconds = 2",
    ))
    .start();
    let started = std::time::Instant::now();
    let (status, _, body) = gw.chat(ask("gone:m", "hi")).await;
    assert_eq!(status, 502, "{body}");
    assert!(error_message(&body).contains("cannot connect to"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let debug = gw.get_json("/debug/config").await.to_string();
    for shown in [body.to_string(), debug, gw.logs()] {
        assert!(!shown.contains("PASSWORD-IN-URL"), "{shown}");
    }
}

#[tokio::test]
async fn a_stream_that_stalls_ends_with_an_error_event_after_the_idle_timeout() {
    let mock = MockUpstream::start().await;
    let config = config(&mock).replace(
        "default_model = \"fake-model\"",
        "default_model = \"fake-model\"\nidle_timeout_seconds = 1",
    );
    let gw = Gateway::builder(&config).env("UP_KEY", KEY).start();
    let events = gw
        .stream_events(json!({"model": "up:", "stream": true,
                              "messages": [{"role": "user", "content": "STALL_STREAM"}]}))
        .await;
    let last_data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
    let error = events
        .iter()
        .find(|e| e.data != "[DONE]" && e.json().get("error").is_some())
        .unwrap_or_else(|| panic!("no error event: {last_data:?}"));
    assert!(
        error.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("idle_timeout_seconds")
    );
    assert!(
        crate::support::eventually(Duration::from_secs(5), || mock.open_streams() == 0).await,
        "the upstream stream was closed"
    );
}

#[test]
fn doctor_says_where_requests_go_and_whether_the_key_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OPENAI_API_KEY", KEY),
        ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
    ];
    let (code, out, err) = run_binary(dir.path(), &["doctor", "--preset", "openai"], &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("http://127.0.0.1:9/v1 (from $OPENAI_BASE_URL)"),
        "{out}"
    );
    assert!(out.contains("key read from $OPENAI_API_KEY"), "{out}");
    assert!(!out.contains(KEY) && !err.contains(KEY));
    let (code, out, _) = run_binary(dir.path(), &["doctor", "--preset", "openai"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[FAIL] openai: no key: $OPENAI_API_KEY is not set"),
        "{out}"
    );
}

#[tokio::test]
async fn the_openai_preset_reads_its_key_and_base_url_as_the_sdks_do() {
    let mock = MockUpstream::start().await;
    let gw = Gateway::without_config()
        .arg("--preset")
        .arg("openai")
        .env("OPENAI_API_KEY", KEY)
        .env("OPENAI_BASE_URL", &format!("{}/v1", mock.base_url()))
        .start();
    let (status, headers, body) = gw.chat(ask("openai:fake-model", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-agent-cli-backend"], "openai");
    assert_eq!(body["choices"][0]["message"]["content"], REPLY_TEXT);
    let sent = mock.last_request("/chat/completions");
    assert_bearer(&sent);
    assert_eq!(sent.body["model"], "fake-model");
}

/// The commented `[backends.NAME]` example of `routes.example.toml`, up to
/// its first empty comment line, uncommented.
fn example_backend(example: &str, name: &str) -> String {
    let start = example
        .find(&format!("# [backends.{name}]"))
        .unwrap_or_else(|| panic!("no example of backend {name}"));
    example[start..]
        .lines()
        .take_while(|line| line.trim() != "#")
        .map(|line| line.strip_prefix("# ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_commented_http_examples_of_routes_example_toml_are_valid_configs() {
    let example =
        std::fs::read_to_string(crate::support::repo().join("routes.example.toml")).unwrap();
    let mut config = String::from("use = []\n");
    for name in [
        "local",
        "claude-api",
        "claude-login",
        "chatgpt-login",
        "gemini-login",
        "gemini-api",
        "responses",
    ] {
        config.push_str(&example_backend(&example, name));
        config.push_str(&format!(
            "\n[[routes]]\nprefix = \"{name}:\"\nbackend = \"{name}\"\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.toml");
    std::fs::write(&path, &config).unwrap();
    let keys = [
        ("LOCAL_API_KEY", KEY),
        ("ANTHROPIC_API_KEY", KEY),
        ("GEMINI_API_KEY", KEY),
        ("OPENAI_API_KEY", KEY),
    ];
    let (code, out, err) = run_binary(
        dir.path(),
        &["check", "--config", path.to_str().unwrap()],
        &keys,
    );
    assert_eq!(code, 0, "{config}\n{out}{err}");
    for line in [
        "http openai-chat http://127.0.0.1:11434/v1 (key from $LOCAL_API_KEY)",
        "http anthropic-messages https://api.anthropic.com (key from $ANTHROPIC_API_KEY)",
        "http gemini https://generativelanguage.googleapis.com (key from $GEMINI_API_KEY)",
        "http openai-responses https://api.openai.com/v1 (key from $OPENAI_API_KEY)",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    assert!(out.contains("local:qwen3:8b"), "{out}");
}

#[tokio::test]
async fn a_reload_points_an_http_backend_at_its_new_upstream() {
    let first = MockUpstream::start().await;
    let second = MockUpstream::start().await;
    let gw = gateway(&first);
    let request = ask("up:fake-model", "hi");
    assert_eq!(gw.chat(request.clone()).await.0, 200);
    let tmp = gw.dir.path().join(".routes.toml.swp");
    std::fs::write(&tmp, config(&second)).unwrap();
    std::fs::rename(&tmp, gw.config_path()).unwrap();
    assert!(
        gw.wait_for_log("config reloaded", Duration::from_secs(5))
            .await,
        "{}",
        gw.logs()
    );
    let (status, _, body) = gw.chat(request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(first.requests().len(), 1);
    assert_eq!(second.requests().len(), 1, "the reloaded url is used");
    assert_bearer(&second.last_request("/chat/completions"));
}

/// An upstream that answers 503 (with `Retry-After: 1` the second time)
/// until its third request, then a completion; it counts what it got.
async fn flaky_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&count);
    let app = axum::Router::new().fallback(move || {
        let seen = std::sync::Arc::clone(&seen);
        async move {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let answer = json!({"choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "third time lucky"}}]});
            match n {
                0 => (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "0")],
                    "busy".to_owned(),
                ),
                1 => (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "1")],
                    "busy".to_owned(),
                ),
                _ => (
                    axum::http::StatusCode::OK,
                    [("content-type", "application/json")],
                    answer.to_string(),
                ),
            }
        }
    });
    let url = crate::support::serve(app).await;
    (url, count)
}

#[tokio::test]
async fn a_refused_request_is_retried_before_anything_reaches_the_client() {
    let (url, count) = flaky_upstream().await;
    let gw = Gateway::builder(&one_backend("flaky", &format!("{url}/v1"), "")).start();
    let started = std::time::Instant::now();
    let (status, _, body) = gw.chat(ask("flaky:m", "hi")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(body["choices"][0]["message"]["content"], "third time lucky");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert!(gw.logs().contains("retry 2 of 2"), "{}", gw.logs());

    let (url, count) = flaky_upstream().await;
    let gw = Gateway::builder(&one_backend("flaky", &format!("{url}/v1"), "retries = 0")).start();
    let (status, _, body) = gw.chat(ask("flaky:m", "hi")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "retries = 0"
    );
}
mod anthropic;

#[tokio::test]
async fn a_route_falls_back_when_its_backend_fails_before_answering() {
    let mock = MockUpstream::start().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = format!(
        r#"use = []
[backends.down]
kind = "http"
url = "http://127.0.0.1:{closed}/v1"
retries = 0

[backends.up]
kind = "http"
url = "{url}/v1"
retries = 0

[backends.ant]
kind = "http"
dialect = "anthropic-messages"
url = "{url}"
retries = 0

[[routes]]
prefix = "down:"
backend = "down"
fallbacks = ["up:second", "ant:third"]

[[routes]]
prefix = "up:"
backend = "up"
fallbacks = ["ant:fake-model"]

[[routes]]
prefix = "ant:"
backend = "ant"
"#,
        url = mock.base_url()
    );
    let gw = Gateway::builder(&config).start();
    let (status, headers, body) = gw.chat(ask("down:first", "hello")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers["x-agent-cli-backend"], "up",
        "the first fallback answered"
    );
    assert_eq!(headers["x-agent-cli-model"], "second");
    assert_eq!(body["choices"][0]["message"]["content"], REPLY_TEXT);
    assert!(
        gw.logs().contains("falling back to \"up:second\""),
        "{}",
        gw.logs()
    );
    let config_file = gw.dir.path().join("routes.toml");
    let (code, out, _) = run_binary(
        gw.dir.path(),
        &[
            "routes",
            "down:first",
            "--config",
            config_file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(out.contains("falls back to: up:second, ant:third"), "{out}");

    // A 5xx falls back too, streamed or not; the answer says who gave it.
    let before = mock.requests().len();
    let response = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "up:x", "stream": true, "messages": user("FAIL_500 once")}))
        .send()
        .await
        .unwrap();
    // The marker is in the fallback's request too: it fails the same way.
    assert_eq!(response.status(), 502);
    assert_eq!(mock.requests().len(), before + 2, "one try each, no more");
    assert_eq!(mock.requests()[before + 1].path_and_query, "/v1/messages");

    // A request the upstream refused as such is not sent elsewhere.
    let before = mock.requests().len();
    let (status, _, _) = gw.chat(ask("up:x", "FAIL_400")).await;
    assert_eq!(status, 400);
    assert_eq!(mock.requests().len(), before + 1);
}
mod bad_upstream;

#[tokio::test]
async fn embeddings_are_routed_by_model_and_proxied_to_the_upstream() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let post = |body: Value| {
        let url = gw.url("/v1/embeddings");
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            (status, headers, response.json::<Value>().await.unwrap())
        }
    };
    let (status, headers, body) =
        post(json!({"model": "up:text-embed", "input": ["ab", "c"], "dimensions": 3})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["embedding"], json!([2.0, 97.0, 0.5]));
    assert_eq!(body["data"][1]["index"], 1);
    assert_eq!(headers["x-agent-cli-backend"], "up");
    let sent = mock.last_request("/embeddings");
    assert_eq!(sent.path_and_query, "/v1/embeddings");
    assert_bearer(&sent);
    assert_eq!(header(&sent, "x-team"), Some("blue"));
    assert_eq!(
        sent.body,
        json!({"model": "text-embed", "input": ["ab", "c"], "dimensions": 3}),
        "the request as sent, with the routed model"
    );

    let (status, _, body) = post(json!({"model": "up:e", "input": "FAIL_400"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).contains("fake upstream rejected"),
        "{body}"
    );
    let (status, _, body) = post(json!({"input": "x"})).await;
    assert_eq!(status, 400);
    assert!(
        error_message(&body).contains("`model` is required"),
        "{body}"
    );
    let (status, _, body) = post(json!({"model": "nowhere:e", "input": "x"})).await;
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = post(json!({"model": "nokey:e", "input": "x"})).await;
    assert_eq!(status, 502, "{body}");

    let cli = crate::support::fake_config("", crate::support::FAKE_ROUTE);
    let gw = Gateway::builder(&cli).start();
    let response = reqwest::Client::new()
        .post(gw.url("/v1/embeddings"))
        .json(&json!({"model": "fake:e", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        error_message(&body).contains("backend `fake` runs a CLI, which makes no embeddings"),
        "{body}"
    );

    // A backend without embeddings may name one that has them.
    let mock = MockUpstream::start().await;
    let fake = crate::support::FAKE_BACKEND.replace(
        "[backends.fake]\n",
        "[backends.fake]\nembeddings_backend = \"up\"\n",
    );
    let via = format!("{}\n{fake}\n{}", config(&mock), crate::support::FAKE_ROUTE);
    let gw = keyed(&via);
    let response = reqwest::Client::new()
        .post(gw.url("/v1/embeddings"))
        .json(&json!({"model": "fake:whatever", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", gw.logs());
    assert_eq!(response.headers()["x-agent-cli-backend"], "up");
    assert_eq!(
        mock.last_request("/embeddings").body["model"],
        "fake:whatever"
    );

    // A name that is no backend with embeddings is refused at load, at its place.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.toml");
    std::fs::write(
        &path,
        via.replace(
            "embeddings_backend = \"up\"",
            "embeddings_backend = \"fake\"",
        ),
    )
    .unwrap();
    let (code, _, err) = run_binary(
        dir.path(),
        &["check", "--config", path.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("backends.fake.embeddings_backend: a backend cannot name itself"),
        "{err}"
    );
}
pub(crate) mod chatgpt;
mod code_assist;
mod gemini;
mod login;
mod responses;
