//! The OpenAI surface end to end through the real binary and the fake CLI:
//! answers, streaming, errors, auth, limits, and what reaches the CLI.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::sse::{chunks_with, content, reasoning};
use crate::support::{FAKE_BACKEND, FAKE_ROUTE, Gateway, info_of, user};

/// Model names routed to the fake CLI, and the template variables (its mode) they set.
const MODES: &[(&str, &str)] = &[
    ("stream", r#"mode = "stream", delay = "0.3""#),
    ("slow", r#"mode = "stream", delay = "1.6""#),
    ("info", r#"mode = "info""#),
    ("fail", r#"mode = "fail", exit = "3""#),
    ("rate-limited", r#"mode = "report-error", exit = "429""#),
    ("hang", r#"mode = "hang""#),
    ("no-bye", r#"mode = "no-bye""#),
    ("garbage", r#"mode = "garbage""#),
    ("bytes", r#"mode = "bytes""#),
    ("bytes-fail", r#"mode = "bytes-fail", exit = "3""#),
    ("big", r#"mode = "stream", chunks = "60""#),
];

/// A config with the fake CLI, `fake:` routes, one route per mode, and `extra`.
fn config(server: &str, extra: &str) -> String {
    let mut routes = String::from(FAKE_ROUTE);
    for (model, vars) in MODES {
        routes.push_str(&format!(
            "\n[[routes]]\nmodel = \"{model}\"\nbackend = \"fake\"\nvars = {{ {vars} }}\n"
        ));
    }
    format!("use = []\n[server]\n{server}\n\n{FAKE_BACKEND}\n{routes}{extra}\n")
}

/// Another backend running fake-cli, answering with its `say` lines, with
/// `settings` (args, env, …) and a route of the same name.
/// The argv `fake-cli --mode info` reported.
fn argv_of(info: &Value) -> Vec<&str> {
    info["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// A chat image part: a data URI of `size` bytes (not a real PNG; the
/// gateway only decodes base64).
fn image_part(size: usize) -> Value {
    use base64::Engine as _;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(size).collect();
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{data}")}})
}

fn text_backend(name: &str, settings: &str) -> String {
    format!(
        "[[routes]]\nmodel = \"{name}\"\nbackend = \"{name}\"\n\n\
         [backends.{name}]\ncommand = \"fake-cli\"\ndefault_model = \"m\"\n{settings}\n\n\
         [[backends.{name}.output]]\nwhen = {{ \"/kind\" = \"say\" }}\ntext = \"/text\"\n"
    )
}

#[tokio::test]
async fn health_and_models_list_the_routes() {
    let gw = Gateway::builder(&config("", "")).start();
    let health = gw.get_json("/healthz").await;
    assert_eq!(health, json!({"ok": true}));
    let ids = gw.model_ids().await;
    for id in ["fake:fake-1", "fake:fake-2", "stream"] {
        assert!(ids.iter().any(|m| m == id), "{id} missing from {ids:?}");
    }
    assert_eq!(
        gw.get_json("/models").await["data"]
            .as_array()
            .unwrap()
            .len(),
        ids.len(),
        "the alias lists the same models"
    );
    // One model: any string a route accepts, ids with `:` and `/` included.
    for (path, id) in [
        ("/v1/models/fake:fake-2", "fake:fake-2"),
        ("/models/fake:any/thing", "fake:any/thing"),
    ] {
        let model = gw.get_json(path).await;
        assert_eq!(model["id"], id, "{model}");
        assert_eq!(model["object"], "model");
    }
    for missing in ["no-such-model", "fake:--help"] {
        let response = reqwest::get(gw.url(&format!("/v1/models/{missing}")))
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{missing}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "model_not_found", "{body}");
    }
}

/// The fake CLI exists only as the TOML template in `FAKE_BACKEND`: serving it
/// proves a new CLI needs no code.
#[tokio::test]
async fn a_cli_defined_only_in_toml_answers_with_usage_and_session() {
    let gw = Gateway::builder(&config("", "")).start();
    let (status, headers, body) = gw
        .chat(json!({"model": "fake:fake-2", "messages": user("hello")}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "fake:fake-2");
    assert_eq!(body["choices"][0]["message"]["content"], "USER: hello");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 3);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
    assert_eq!(body["session_id"], "fake-session-1");
    assert_eq!(headers["x-agent-cli-backend"], "fake");
    assert_eq!(headers["x-agent-cli-model"], "fake-2");
    assert!(headers.contains_key("x-request-id"));
    // the non-/v1 alias serves the same endpoint
    let response = reqwest::Client::new()
        .post(gw.url("/chat/completions"))
        .json(&json!({"model": "fake:", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["model"], "fake-1",
        "an empty model uses the backend default and says so"
    );
}

#[tokio::test]
async fn streaming_sends_role_deltas_finish_usage_and_done_as_they_come() {
    let gw = Gateway::builder(&config("", "")).start();
    let events = gw
        .stream_events(json!({"model": "stream", "stream": true, "stream_options": {"include_usage": true}, "messages": user("go")})).await;
    let data: Vec<&str> = events
        .iter()
        .filter(|e| e.comment.is_none())
        .map(|e| e.data.as_str())
        .collect();
    let first = events[0].json();
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(reasoning(&events), "chunk0 ");
    assert_eq!(content(&events), "chunk1 chunk2 ");
    let finish = events
        .iter()
        .find(|e| e.json()["choices"][0]["finish_reason"] == "stop")
        .unwrap();
    assert_eq!(finish.json()["session_id"], "fake-session-1");
    let usage = &events[events.len() - 2].json();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 7);
    assert_eq!(data.last(), Some(&"[DONE]"));
    // The CLI prints its three deltas 0.3 s apart: each must arrive on its own.
    let deltas = chunks_with(&events, &["content", "reasoning_content"]);
    assert_eq!(deltas.len(), 3, "{events:?}");
    for pair in deltas.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(150),
            "deltas were buffered: {gap:?} apart"
        );
    }
}

#[tokio::test]
async fn usage_chunk_only_when_asked_and_keepalive_while_silent() {
    let gw = Gateway::builder(&config("sse_keepalive_seconds = 1", "")).start();
    let events = gw
        .stream_events(json!({"model": "slow", "stream": true, "messages": user("go")}))
        .await;
    assert_eq!(content(&events), "chunk1 chunk2 ", "{events:?}");
    assert!(
        events.iter().all(|e| e.json().get("usage").is_none()),
        "no usage chunk without include_usage"
    );
    let pings = events
        .iter()
        .filter(|e| e.comment.as_deref() == Some("ping"))
        .count();
    assert!(
        pings >= 1,
        "expected keep-alive comments during 1.6 s of silence: {events:?}"
    );
}

#[tokio::test]
async fn bad_requests_get_openai_errors_and_the_gateway_keeps_serving() {
    let gw = Gateway::builder(&config("max_body_bytes = 2000\nmax_prompt_chars = 500", "")).start();
    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(gw.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let check = |status: u16, body: &Value, kind: &str, needle: &str| {
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{status}: {body}"
        );
        assert!(body["error"].get("param").is_some() && body["error"].get("code").is_some());
    };
    let r = post("{not json".into()).await.unwrap();
    assert_eq!(r.status(), 400);
    check(
        400,
        &r.json().await.unwrap(),
        "invalid_request_error",
        "invalid JSON",
    );
    let r = post(json!({"model": "fake:x"}).to_string()).await.unwrap();
    assert_eq!(r.status(), 400);
    check(
        400,
        &r.json().await.unwrap(),
        "invalid_request_error",
        "`messages` is required",
    );
    let r =
        post(json!({"model": "fake:x", "messages": [{"role": "user", "content": 5}]}).to_string())
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    check(
        400,
        &r.json().await.unwrap(),
        "invalid_request_error",
        "messages[0].content",
    );
    let r = post(json!({"model": "gpt-4o", "messages": user("x")}).to_string())
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    check(404, &body, "invalid_request_error", "gpt-4o");
    assert_eq!(body["error"]["code"], "model_not_found");
    let big = json!({"model": "fake:x", "messages": user(&"x".repeat(5000))}).to_string();
    let r = post(big).await.unwrap();
    assert_eq!(r.status(), 413);
    check(
        413,
        &r.json().await.unwrap(),
        "invalid_request_error",
        "max_body_bytes",
    );
    // A declared length past the limit is refused before the body comes.
    let started = std::time::Instant::now();
    let answer = gw
        .raw(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Content-Type: application/json\r\nContent-Length: 2000000000\r\n\r\n{",
        )
        .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("max_body_bytes"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let long = json!({"model": "fake:x", "messages": user(&"y".repeat(600))}).to_string();
    let r = post(long).await.unwrap();
    assert_eq!(r.status(), 413);
    check(
        413,
        &r.json().await.unwrap(),
        "invalid_request_error",
        "max_prompt_chars",
    );
    let r = client.get(gw.url("/v1/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = client
        .get(gw.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    check(
        405,
        &r.json().await.unwrap(),
        "invalid_request_error",
        "GET is not allowed",
    );
    let (status, _, _) = gw
        .chat(json!({"model": "fake:x", "messages": user("still here")}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn token_is_required_in_either_header_and_compared_exactly() {
    let token = "s3cret-token-0123456789";
    let gw = Gateway::builder(&config(&format!("token = \"{token}\""), ""))
        .arg("--log-curl")
        .start();
    let client = reqwest::Client::new();
    let models = |auth: Option<(&'static str, String)>| {
        let mut request = client.get(gw.url("/v1/models"));
        if let Some((name, value)) = auth {
            request = request.header(name, value);
        }
        request.send()
    };
    let r = models(None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers().contains_key("x-request-id"),
        "every answer has a request id"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    let attempts = [
        ("authorization", format!("Bearer {token}x"), 401),
        ("authorization", "Bearer s3cret".to_owned(), 401),
        ("x-api-key", "wrong".to_owned(), 401),
        ("authorization", format!("Bearer {token}"), 200),
        ("authorization", format!("bearer {token}"), 200),
        ("x-api-key", token.to_owned(), 200),
    ];
    for (header, value, expected) in attempts {
        let status = models(Some((header, value.clone())))
            .await
            .unwrap()
            .status();
        assert_eq!(status, expected, "{header}: {value}");
    }
    assert_eq!(
        client
            .get(gw.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(token)
        .json(&json!({"model": "info", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info = info_of(&r.json().await.unwrap());
    let env = info["env"].as_object().unwrap();
    assert!(
        env.values().all(|v| v != token),
        "the gateway token reached the CLI"
    );
    assert!(gw.wait_for_log("curl -sS", Duration::from_secs(5)).await);
    assert!(
        gw.logs()
            .contains("Authorization: Bearer $CODEX_GATEWAY_TOKEN")
    );
    assert!(
        gw.logs()
            .contains(&format!("-X POST '{}/v1/chat/completions'", gw.base)),
        "the curl command targets the real address"
    );
    assert!(!gw.logs().contains(token), "the token was logged");
}

#[tokio::test]
async fn cli_failures_are_502_with_the_cli_text_and_secrets_redacted() {
    let secret = "sk-fake-secret-value-42";
    let gw = Gateway::builder(&config("", ""))
        .env("FAKE_SECRET_TOKEN", secret)
        .start();
    let (status, headers, body) = gw
        .chat(json!({"model": "fail", "messages": user("x")}))
        .await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("something broke"), "{message}");
    assert!(message.contains("exit status 3"), "{message}");
    assert!(
        !message.contains(secret) && message.contains("[redacted]"),
        "{message}"
    );
    assert_eq!(body["error"]["type"], "api_error");
    assert_eq!(
        headers["x-should-retry"], "false",
        "the SDKs must not run a failed CLI again"
    );

    let (status, headers, body) = gw
        .chat(json!({"model": "rate-limited", "messages": user("x")}))
        .await;
    assert_eq!(
        status, 429,
        "the CLI's reported upstream status decides: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upstream said no")
    );
    assert_eq!(headers["retry-after"], "5", "rate limits say when to retry");
    assert!(headers.get("x-should-retry").is_none());

    let (status, _, body) = gw
        .chat(json!({"model": "no-bye", "messages": user("x")}))
        .await;
    assert_eq!(status, 502);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("before finishing its answer"),
        "{body}"
    );

    let (status, _, body) = gw
        .chat(json!({"model": "garbage", "messages": user("x")}))
        .await;
    assert_eq!(
        (status, body["choices"][0]["message"]["content"].as_str()),
        (200, Some("ok"))
    );
}

#[tokio::test]
async fn a_backend_that_cannot_resume_returns_no_session_id() {
    // The CLI prints a session id, but the template has no `{session}`
    // (like Gemini CLI one-shot runs): a client must not be offered it.
    let extra = format!(
        "{}\n[[backends.no-resume.output]]\nwhen = {{ \"/kind\" = \"hello\" }}\nsession = \"/session\"\n",
        text_backend("no-resume", "args = [\"--mode\", \"echo\"]")
    );
    let gw = Gateway::builder(&config("", &extra)).start();
    let (status, _, body) = gw
        .chat(json!({"model": "no-resume", "messages": user("x")}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("session_id").is_none(), "{body}");
    let events = gw
        .stream_events(json!({"model": "no-resume", "stream": true, "messages": user("x")}))
        .await;
    assert!(
        events.iter().all(|e| e.json().get("session_id").is_none()),
        "{events:?}"
    );
    // The same CLI with `{session}` in its template does return it.
    let (_, _, body) = gw
        .chat(json!({"model": "fake:", "messages": user("x")}))
        .await;
    assert_eq!(body["session_id"], "fake-session-1");
}

#[tokio::test]
async fn a_folded_answer_has_a_size_cap_and_a_stream_has_none() {
    let gw = Gateway::builder(&config("max_answer_bytes = 200", "")).start();
    let (status, headers, body) = gw
        .chat(json!({"model": "big", "messages": user("x")}))
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(headers["x-should-retry"], "false");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("server.max_answer_bytes"), "{body}");
    assert!(message.contains("\"stream\": true"), "{body}");
    let events = gw
        .stream_events(json!({"model": "big", "stream": true, "messages": user("x")}))
        .await;
    let streamed = content(&events) + &reasoning(&events);
    assert!(streamed.len() > 400, "{}", streamed.len());
    assert!(streamed.contains("chunk59 "), "{streamed}");
}

#[tokio::test]
async fn a_nul_character_bound_for_argv_is_a_400() {
    let gw = Gateway::builder(&config("", "")).start();
    let (status, _, body) = gw
        .chat(json!({"model": "fake:", "messages": [
            {"role": "system", "content": "be\u{0}terse"},
            {"role": "user", "content": "hi"},
        ]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("NUL"),
        "{body}"
    );
    // In the prompt on stdin it is just a byte.
    let (status, _, body) = gw
        .chat(json!({"model": "fake:", "messages": user("a\u{0}b")}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn stray_bytes_from_a_cli_never_break_a_run() {
    let gw = Gateway::builder(&config("", "")).start();
    // Invalid UTF-8 in an answer line and in a junk line on stdout, and on
    // stderr before 100 KB more of it (more than a pipe holds).
    let (status, _, body) = gw
        .chat(json!({"model": "bytes", "messages": user("x")}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "caf\u{fffd} ok");
    let events = gw
        .stream_events(json!({"model": "bytes", "stream": true, "messages": user("x")}))
        .await;
    assert_eq!(crate::support::sse::content(&events), "caf\u{fffd} ok");
    assert!(
        gw.wait_for_log("not valid UTF-8", Duration::from_secs(5))
            .await,
        "the replaced bytes are counted in the log"
    );
    // A failing CLI's own last words survive a bad byte before them.
    let (status, _, body) = gw
        .chat(json!({"model": "bytes-fail", "messages": user("x")}))
        .await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("exit status 3"), "{body}");
    assert!(message.contains("fatal: the real reason"), "{body}");
}

#[tokio::test]
async fn an_output_line_over_the_limit_is_a_502_that_says_which_key_to_raise() {
    let extra = text_backend(
        "short-lines",
        "max_line_bytes = 64\nargs = [\"--mode\", \"echo\"]",
    );
    let gw = Gateway::builder(&config("", &extra)).start();
    let (status, _, body) = gw
        .chat(json!({"model": "short-lines", "messages": user("short")}))
        .await;
    assert_eq!(status, 200, "a line under the limit passes: {body}");
    let (status, _, body) = gw
        .chat(json!({"model": "short-lines", "messages": user(&"long ".repeat(40))}))
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        body["error"]["message"],
        "short-lines: an output line exceeded 64 bytes; raise backends.short-lines.max_line_bytes"
    );
}

#[tokio::test]
async fn a_stream_that_fails_before_any_output_gets_a_real_status() {
    let gw = Gateway::builder(&config("", "")).start();
    let (status, headers, body) = gw
        .chat(json!({"model": "fail", "stream": true, "messages": user("x")}))
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(headers["x-agent-cli-backend"], "fake");
    assert!(headers.contains_key("x-request-id"));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("something broke")
    );
}

#[tokio::test]
async fn errors_after_the_stream_started_are_error_events() {
    let gw = Gateway::builder(&config("", "")).start();
    let events = gw
        .stream_events(json!({"model": "rate-limited", "stream": true, "messages": user("x")}))
        .await;
    assert_eq!(content(&events), "partial ");
    let last = events.last().unwrap().json();
    assert_eq!(last["error"]["type"], "rate_limit_error", "{events:?}");
    assert!(events.iter().all(|e| e.data != "[DONE]"));
    assert!(
        events
            .iter()
            .all(|e| e.json()["choices"][0]["finish_reason"].is_null())
    );
}

#[tokio::test]
async fn timeouts_are_504() {
    let gw = Gateway::builder(&config("timeout_seconds = 1", "")).start();
    let started = std::time::Instant::now();
    let (status, headers, body) = gw
        .chat(json!({"model": "hang", "messages": user("x")}))
        .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["type"], "timeout_error");
    assert_eq!(headers["x-should-retry"], "false");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_full_backend_answers_429_with_retry_after() {
    let gw = Gateway::builder(&config("max_concurrency = 1\nqueue_size = 0", "")).start();
    let first = {
        let url = gw.url("/v1/chat/completions");
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({"model": "slow", "messages": user("x")}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let mut running = 0;
    let started = std::time::Instant::now();
    while running == 0 && started.elapsed() < Duration::from_secs(10) {
        let debug = gw.get_json("/debug/config").await;
        running = debug["load"]["fake"]["running"].as_u64().unwrap();
        assert_eq!(debug["load"]["fake"]["max_concurrency"], 1, "{debug}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(running, 1, "the slow request never started");
    let (status, headers, body) = gw
        .chat(json!({"model": "fake:x", "messages": user("y")}))
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(headers["retry-after"], "1");
    assert!(
        headers.get("x-should-retry").is_none(),
        "a full queue is worth retrying"
    );
    assert_eq!(first.await.unwrap(), 200);
}

#[tokio::test]
async fn what_reaches_the_cli_prompt_argv_env_workspace() {
    let extra = text_backend(
        "arg-info",
        r#"prompt = "arg"
args = ["--mode", "info", "--model", "{model}"]
env = { TEMPLATE_VAR = "from-template" }
env_remove = ["REMOVE_ME", "DROP_*"]"#,
    );
    let gw = Gateway::builder(&config("", &extra))
        .env("CODEX_GATEWAY_TOKEN", "gateway-token-abcdef")
        .env("REMOVE_ME", "1")
        .env("DROP_THIS", "1")
        .env("KEEP_ME", "1")
        .start();
    let client = reqwest::Client::new();
    let send = |model: &str, messages: Value, more: Value| {
        let mut body = json!({"model": model, "messages": messages});
        body.as_object_mut()
            .unwrap()
            .extend(more.as_object().unwrap().clone());
        client
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth("gateway-token-abcdef")
            .json(&body)
            .send()
    };
    // A session the gateway handed out (the CLI's own id).
    let r = send("info", user("hi"), json!({})).await.unwrap();
    let session = r.json::<Value>().await.unwrap()["session_id"].clone();
    assert_eq!(session, "fake-session-1");
    // stdin prompt, separate system prompt, effort, session, flag-like text
    let r = send(
        "info",
        json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "--help"}]),
        json!({"reasoning_effort": "high", "session_id": session, "temperature": 0.5}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-agent-cli-ignored-params"], "temperature");
    let info = info_of(&r.json().await.unwrap());
    assert_eq!(info["prompt"], "USER: --help");
    let argv = argv_of(&info);
    for pair in [
        ["--model", "info"],
        ["--effort", "high"],
        ["--resume", "fake-session-1"],
    ] {
        assert!(
            argv.windows(2).any(|w| w == pair),
            "{pair:?} not in {argv:?}"
        );
    }
    assert!(argv.contains(&"--system=be brief"), "{argv:?}");
    assert!(info["env"].get("CODEX_GATEWAY_TOKEN").is_none());
    assert_eq!(info["env"]["KEEP_ME"], "1");
    assert_eq!(info["workspace_mode"], "0o700");
    let workspace = std::path::PathBuf::from(info["cwd"].as_str().unwrap());
    assert!(
        crate::support::eventually(Duration::from_secs(5), || !workspace.exists()).await,
        "the per-request workspace must be removed"
    );

    // prompt as the last argument after `--`, env additions and removals
    let r = send("arg-info", user("-rf /"), json!({})).await.unwrap();
    let info = info_of(&r.json().await.unwrap());
    let argv = argv_of(&info);
    assert_eq!(&argv[argv.len() - 2..], ["--", "USER: -rf /"]);
    assert_eq!(info["env"]["TEMPLATE_VAR"], "from-template");
    assert!(info["env"].get("REMOVE_ME").is_none() && info["env"].get("DROP_THIS").is_none());

    // bad effort never reaches the CLI
    let r = send("info", user("x"), json!({"reasoning_effort": "extreme"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn images_become_private_files_or_a_clear_400() {
    let extra = text_backend("text-only", r#"args = ["--mode", "echo"]"#);
    let gw = Gateway::builder(&config("", &extra)).start();
    let message = json!([{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        image_part(3000),
        image_part(3000)
    ]}]);
    let (status, _, body) = gw.chat(json!({"model": "info", "messages": message})).await;
    assert_eq!(status, 200, "{body}");
    let info = info_of(&body);
    assert_eq!(
        info["prompt"],
        "USER: what is this?\n[image #1]\n[image #2]"
    );
    let images = info["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for image in images {
        assert_eq!(image["size"], 3000);
        assert_eq!(image["mode"], "0o600");
        // The workspace is removed off the answer path, so wait briefly.
        let path = std::path::PathBuf::from(image["path"].as_str().unwrap());
        assert!(
            crate::support::eventually(Duration::from_secs(5), || !path.exists()).await,
            "image files must be removed"
        );
    }
    let (status, _, body) = gw
        .chat(json!({"model": "text-only", "messages": message}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot take images"),
        "{body}"
    );
    let remote = json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]);
    let (status, _, body) = gw.chat(json!({"model": "info", "messages": remote})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("data: URI"),
        "{body}"
    );
}

#[tokio::test]
async fn a_resumed_session_gets_only_the_new_text_and_images() {
    let gw = Gateway::builder(&config("", "")).start();
    let messages = json!([
        {"role": "user", "content": [{"type": "text", "text": "old question"}, image_part(100)]},
        {"role": "assistant", "content": "old answer"},
        {"role": "user", "content": [{"type": "text", "text": "new question"}, image_part(200)]},
    ]);
    // A session id the gateway never handed out starts a new conversation
    // with the whole history (it is not passed to `--resume`, where the CLI
    // would fail on it), bound to the client's id.
    let (status, _, body) = gw
        .chat(json!({"model": "info", "session_id": "my-chat-9", "messages": messages}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["session_id"], "my-chat-9", "the client's id is kept");
    let info = info_of(&body);
    assert_eq!(
        info["prompt"],
        "USER: old question\n[image #1]\n\nASSISTANT: old answer\n\nUSER: new question\n[image #2]"
    );
    assert!(!argv_of(&info).contains(&"--resume"), "{info}");
    // Its next turn resumes the CLI session bound to it, with only the new messages.
    let (status, _, body) = gw
        .chat(json!({"model": "info", "session_id": "my-chat-9", "messages": messages}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["session_id"], "my-chat-9");
    let info = info_of(&body);
    let argv = argv_of(&info);
    assert!(
        argv.windows(2).any(|w| w == ["--resume", "fake-session-1"]),
        "{argv:?}"
    );
    assert_eq!(info["prompt"], "USER: new question\n[image #1]");
    let images = info["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[0]["size"], 200, "image #1 is the new image");
}
