//! `POST /v1/messages` (Anthropic Messages in) over every backend kind: the
//! fake CLI, and the mock upstream speaking Anthropic Messages and Chat
//! Completions. Asserts the exact event sequence, the answer's blocks,
//! usage and stop reasons, what the upstream receives, and errors in
//! Anthropic's envelope.

use serde_json::{Value, json};

use crate::support::Gateway;
use crate::support::every_backend::{self, UPSTREAM_KEY};
use crate::support::mock_upstream::{
    MockUpstream, REASONING_TEXT, REPLY_TEXT, TOOL_COMMAND, TOOL_RESULT_REPLY,
};
use crate::support::sse::SseEvent;

const TOKEN: &str = "messages-test-token-0123456789";

/// The gateway's server settings here: a token, and quick keep-alives.
fn server() -> String {
    format!("token = \"{TOKEN}\"\nsse_keepalive_seconds = 1")
}

async fn rig() -> (MockUpstream, Gateway) {
    every_backend::start(&server()).await
}

const AUTH: &[(&str, &str)] = &[("x-api-key", TOKEN), ("anthropic-version", "2023-06-01")];

async fn post(gw: &Gateway, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    gw.post("/v1/messages", body, AUTH).await
}

/// A streamed answer, every event.
async fn stream(gw: &Gateway, mut body: Value) -> Vec<SseEvent> {
    body["stream"] = json!(true);
    let response = reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    crate::support::sse::SseReader::new(response)
        .collect()
        .await
}

fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": text}]})
}

/// The names of the events (not comments), each checked to match its data's `type`.
fn names(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.comment.is_none())
        .map(|e| {
            let name = e.event.clone().expect("every event is named");
            assert_eq!(e.json()["type"], name.as_str(), "{e:?}");
            name
        })
        .collect()
}

/// The concatenated deltas of `kind` (`text_delta` → `text`…).
fn deltas(events: &[SseEvent], kind: &str, field: &str) -> String {
    events
        .iter()
        .map(SseEvent::json)
        .filter(|d| d["delta"]["type"] == kind)
        .map(|d| d["delta"][field].as_str().unwrap().to_owned())
        .collect()
}

fn event(events: &[SseEvent], name: &str) -> Value {
    events
        .iter()
        .find(|e| e.event.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {events:?}"))
        .json()
}

#[tokio::test]
async fn a_cli_backend_answers_a_message_with_anthropic_usage() {
    let (_mock, gw) = rig().await;
    let (status, headers, body) = post(
        &gw,
        json!({
            "model": "fake:fake-1",
            "max_tokens": 256,
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "metadata": {"user_id": "u-1"},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "say hi"}]}],
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "fake:fake-1");
    assert!(body["id"].as_str().unwrap().starts_with("msg_"), "{body}");
    assert_eq!(body["content"][0]["type"], "text");
    assert!(
        body["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("say hi"),
        "the fake CLI echoes its prompt: {body}"
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["stop_sequence"], Value::Null);
    // The fake CLI reports 3 prompt tokens, 1 of them read from the cache.
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 2, "cache_read_input_tokens": 1, "output_tokens": 4})
    );
    let ignored = headers["x-agent-cli-ignored-params"].to_str().unwrap();
    for name in ["cache_control", "max_tokens", "metadata.user_id"] {
        assert!(ignored.split(',').any(|n| n == name), "{name} in {ignored}");
    }
    assert_eq!(headers["x-agent-cli-backend"], "fake");
}

#[tokio::test]
async fn a_cli_backend_streams_the_full_event_sequence() {
    let (_mock, gw) = rig().await;
    let events = stream(&gw, ask("fake-stream", "go")).await;
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let data: Vec<Value> = events.iter().map(SseEvent::json).collect();
    assert_eq!(data[1]["content_block"]["type"], "thinking");
    assert_eq!(data[1]["index"], 0);
    assert_eq!(deltas(&events, "thinking_delta", "thinking"), "chunk0 ");
    assert_eq!(
        data[4]["content_block"],
        json!({"type": "text", "text": ""})
    );
    assert_eq!(data[4]["index"], 1);
    assert_eq!(data[7]["index"], 1);
    assert_eq!(deltas(&events, "text_delta", "text"), "chunk1 chunk2 ");
    let delta = event(&events, "message_delta");
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 4);
    assert_eq!(delta["usage"]["input_tokens"], 2);
    let start = event(&events, "message_start");
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["model"], "fake-stream");
}

#[tokio::test]
async fn a_silent_stream_is_kept_alive_with_ping_events() {
    let (_mock, gw) = rig().await;
    let events = stream(&gw, ask("fake-slow", "go")).await;
    let names = names(&events);
    assert!(names.contains(&"ping".to_owned()), "{names:?}");
    assert_eq!(names[0], "message_start", "{names:?}");
    assert_eq!(names.last().unwrap(), "message_stop");
    assert!(
        events.iter().all(|e| e.comment.is_none()),
        "pings are events, not comments"
    );
}

#[tokio::test]
async fn errors_come_in_anthropic_envelopes_with_their_status() {
    let (_mock, gw) = rig().await;
    let envelope = |body: &Value, kind: &str| {
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    };
    // No key, a wrong key.
    let (status, _, body) = gw.post("/v1/messages", ask("fake:fake-1", "hi"), &[]).await;
    assert_eq!(status, 401);
    envelope(&body, "authentication_error");
    let (status, _, body) = gw
        .post(
            "/v1/messages",
            ask("fake:fake-1", "hi"),
            &[("x-api-key", "wrong")],
        )
        .await;
    assert_eq!(status, 401);
    envelope(&body, "authentication_error");
    // Bearer works as well as x-api-key.
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, body) = gw
        .post(
            "/v1/messages",
            ask("fake:fake-1", "hi"),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Malformed JSON.
    let response = reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", TOKEN)
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    envelope(&response.json().await.unwrap(), "invalid_request_error");
    // A block this dialect does not have, named with its place.
    let (status, _, body) = post(
        &gw,
        json!({"model": "fake:fake-1", "max_tokens": 5,
               "messages": [{"role": "user", "content": [{"type": "video"}]}]}),
    )
    .await;
    assert_eq!(status, 400);
    envelope(&body, "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages[0].content[0].type"),
        "{body}"
    );
    // Unknown model, unknown path below /v1/messages.
    let (status, _, body) = post(&gw, ask("nobody:knows", "hi")).await;
    assert_eq!(status, 404);
    envelope(&body, "not_found_error");
    let (status, _, body) = gw.post("/v1/messages/nothing", json!({}), AUTH).await;
    assert_eq!(status, 404);
    envelope(&body, "not_found_error");
    // The Anthropic SDK's models.retrieve of a model nobody serves.
    let response = reqwest::Client::new()
        .get(gw.url("/v1/models/nobody:knows"))
        .header("x-api-key", TOKEN)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    envelope(&response.json().await.unwrap(), "not_found_error");
    // A backend that fails.
    let (status, _, body) = post(&gw, ask("fake-fail", "hi")).await;
    assert_eq!(status, 502, "{body}");
    envelope(&body, "api_error");
    // The chat endpoint keeps OpenAI's envelope.
    let (status, _, body) = gw.chat(json!({"model": "x", "messages": []})).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    assert!(body.get("type").is_none(), "{body}");
}

/// Claude Code's request shape: the `Bash` tool, cache marks, betas.
fn tool_request(model: &str, text: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 1024,
        "system": "You run commands.",
        "tools": [{
            "name": "Bash",
            "description": "Runs a shell command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"},
                             "description": {"type": "string"}}, "required": ["command"]},
            "cache_control": {"type": "ephemeral"},
        }],
        "messages": [{"role": "user", "content": text}],
    })
}

/// The conversation after the tool call `call` ran and printed `tool-ok`.
fn with_tool_result(mut request: Value, call: &Value) -> Value {
    let messages = request["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": [call]}));
    messages.push(json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": call["id"], "content": "tool-ok\n"},
    ]}));
    request
}

/// A tool round trip through `prefix`, streamed then whole.
async fn tool_round_trip(gw: &Gateway, prefix: &str) {
    let request = tool_request(&format!("{prefix}model-x"), "USE_TOOL please");
    let events = stream(gw, request.clone()).await;
    let start = events
        .iter()
        .map(SseEvent::json)
        .find(|d| d["content_block"]["type"] == "tool_use")
        .unwrap_or_else(|| panic!("no tool_use block: {events:?}"));
    assert_eq!(start["content_block"]["name"], "Bash");
    assert_eq!(start["content_block"]["input"], json!({}));
    let arguments = deltas(&events, "input_json_delta", "partial_json");
    let input: Value = serde_json::from_str(&arguments).unwrap();
    assert_eq!(input["command"], TOOL_COMMAND);
    assert_eq!(
        event(&events, "message_delta")["delta"]["stop_reason"],
        "tool_use"
    );
    // Whole, the same call.
    let (status, _, body) = post(gw, request.clone()).await;
    assert_eq!(status, 200, "{body}");
    let call = body["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap_or_else(|| panic!("no tool_use: {body}"))
        .clone();
    assert_eq!(call["input"]["command"], TOOL_COMMAND);
    assert_eq!(body["stop_reason"], "tool_use");
    // The result goes back; the answer reads it.
    let (status, _, body) = post(gw, with_tool_result(request, &call)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"][0]["text"], TOOL_RESULT_REPLY, "{body}");
    assert_eq!(body["stop_reason"], "end_turn");
}

#[tokio::test]
async fn an_anthropic_upstream_runs_a_tool_round_trip_with_thinking_signed() {
    let (mock, gw) = rig().await;
    tool_round_trip(&gw, "anthropic:").await;
    let sent = mock.last_request("/v1/messages");
    assert_eq!(sent.body["model"], "model-x");
    assert_eq!(header(&sent, "x-api-key").as_deref(), Some(UPSTREAM_KEY));
    let result = &sent.body["messages"][2]["content"][0];
    assert_eq!(result["type"], "tool_result", "{}", sent.body);

    // Thinking with its signature, streamed and whole.
    let events = stream(&gw, ask("anthropic:model-x", "THINK then answer")).await;
    assert_eq!(
        deltas(&events, "thinking_delta", "thinking"),
        REASONING_TEXT
    );
    assert_eq!(
        deltas(&events, "signature_delta", "signature"),
        "fake-signature"
    );
    assert_eq!(deltas(&events, "text_delta", "text"), REPLY_TEXT);
    let (_, _, body) = post(&gw, ask("anthropic:model-x", "THINK then answer")).await;
    assert_eq!(
        body["content"][0],
        json!({"type": "thinking", "thinking": REASONING_TEXT, "signature": "fake-signature"})
    );
    // The signed block goes back to the upstream unchanged.
    let mut next = ask("anthropic:model-x", "THINK then answer");
    next["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": body["content"]}),
        json!({"role": "user", "content": "and?"}),
    ]);
    let (status, _, _) = post(&gw, next).await;
    assert_eq!(status, 200);
    let sent = mock.last_request("/v1/messages");
    assert_eq!(
        sent.body["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": REASONING_TEXT, "signature": "fake-signature"})
    );
    // The mock reports 12 input tokens and 5 output.
    assert_eq!(body["usage"]["input_tokens"], 12, "{body}");
    assert_eq!(body["usage"]["output_tokens"], 5, "{body}");
}

fn header(sent: &crate::support::mock_upstream::RecordedRequest, name: &str) -> Option<String> {
    sent.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// Claude Code's fields this vocabulary has no place for.
fn with_claude_code_fields(mut request: Value) -> Value {
    request["context_management"] = json!({"edits": [{"type": "clear_thinking_20251015"}]});
    request["thinking"] = json!({"type": "adaptive", "display": "summarized"});
    request["top_k"] = json!(5);
    request["messages"][0]["content"] =
        json!([{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]);
    request
}

#[tokio::test]
async fn an_anthropic_upstream_gets_the_request_as_sent_and_answers_as_it_said() {
    let (mock, gw) = rig().await;
    let request = with_claude_code_fields(ask("anthropic:model-x", "hi"));
    let beta = ("anthropic-beta", "context-management-2025-06-27");
    let mut sending = reqwest::Client::new().post(gw.url("/v1/messages"));
    for (name, value) in AUTH.iter().chain([&beta]) {
        sending = sending.header(*name, *value);
    }
    let response = sending.json(&request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("x-agent-cli-ignored-params")
            .is_none(),
        "nothing is ignored: {:?}",
        response.headers()
    );
    let raw = response.text().await.unwrap();
    let sent = mock.last_request("/v1/messages");
    let mut expected = request.clone();
    expected["model"] = json!("model-x");
    assert_eq!(sent.body, expected, "every field as sent, the model routed");
    assert_eq!(header(&sent, "anthropic-beta").as_deref(), Some(beta.1));
    assert_eq!(header(&sent, "x-api-key").as_deref(), Some(UPSTREAM_KEY));
    // The answer is the upstream's own: its id and model.
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(body["model"], "model-x", "{raw}");
    assert_eq!(
        body["id"].as_str().unwrap().len(),
        "msg_".len() + 24,
        "{raw}"
    );
    // Streamed: the upstream's events, its ping included, as they came.
    let events = stream(&gw, request).await;
    let start = event(&events, "message_start");
    assert_eq!(start["message"]["model"], "model-x");
    let names = names(&events);
    assert_eq!(names[0], "message_start");
    assert_eq!(names[2], "ping", "{names:?}");
    assert_eq!(names.last().unwrap(), "message_stop");
    assert_eq!(deltas(&events, "text_delta", "text"), REPLY_TEXT);
    // Another backend gets the same request translated, and says what it ignored.
    let request = with_claude_code_fields(ask("chat:m", "hi"));
    let (status, headers, _) = gw
        .post("/v1/messages", request, &[AUTH[0], AUTH[1], beta])
        .await;
    assert_eq!(status, 200);
    let ignored = headers["x-agent-cli-ignored-params"].to_str().unwrap();
    assert!(
        ["context_management", "top_k", "anthropic-beta"]
            .iter()
            .all(|name| ignored.split(',').any(|n| n == *name)),
        "{ignored}"
    );
}

#[tokio::test]
async fn a_chat_upstream_runs_a_tool_round_trip() {
    let (mock, gw) = rig().await;
    // The chat mock calls a shell tool by one of Codex's names.
    let mut request = tool_request("chat:model-y", "USE_TOOL please");
    request["tools"][0]["name"] = json!("shell_command");
    let events = stream(&gw, request.clone()).await;
    let arguments = deltas(&events, "input_json_delta", "partial_json");
    let input: Value = serde_json::from_str(&arguments).unwrap();
    assert_eq!(input["command"], TOOL_COMMAND);
    let (status, _, body) = post(&gw, request.clone()).await;
    assert_eq!(status, 200, "{body}");
    let call = body["content"][0].clone();
    assert_eq!(call["type"], "tool_use", "{body}");
    let (status, _, body) = post(&gw, with_tool_result(request, &call)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"][0]["text"], TOOL_RESULT_REPLY, "{body}");
    let sent = mock.last_request("/v1/chat/completions");
    let messages = sent.body["messages"].as_array().unwrap();
    assert_eq!(
        messages[0],
        json!({"role": "system", "content": "You run commands."})
    );
    let tool = messages.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(tool["tool_call_id"], call["id"]);
    assert_eq!(sent.body["tools"][0]["function"]["name"], "shell_command");
    assert_eq!(sent.body["max_tokens"], 1024);
}

#[tokio::test]
async fn upstream_refusals_keep_their_status_in_anthropic_envelopes() {
    let (_mock, gw) = rig().await;
    for prefix in ["anthropic:", "chat:"] {
        let (status, _, body) = post(&gw, ask(&format!("{prefix}m"), "FAIL_400")).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("FAIL_400 marker"),
            "{body}"
        );
        let (status, headers, body) = post(&gw, ask(&format!("{prefix}m"), "FAIL_429")).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(headers["retry-after"], "7");
        let (status, _, body) = post(&gw, ask(&format!("{prefix}m"), "FAIL_500")).await;
        assert!(status >= 500, "{status} {body}");
        assert_eq!(body["type"], "error", "{body}");
    }
}

#[tokio::test]
async fn token_counts_come_from_the_upstream_or_the_tokenizer() {
    let (mock, gw) = rig().await;
    let request = |model: &str| {
        json!({"model": model, "system": "be brief",
               "messages": [{"role": "user", "content": "count these words please"}],
               "tools": [{"name": "Bash", "input_schema": {"type": "object"}}]})
    };
    // A CLI has no count: the gateway's tokenizer estimates.
    let (status, headers, body) = gw
        .post("/v1/messages/count_tokens", request("fake:fake-1"), AUTH)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-agent-cli-token-count"], "estimate");
    // 2 + 4 words of text, "Bash" and its schema, and the framing.
    let estimate = body["input_tokens"].as_u64().unwrap();
    assert!((15..40).contains(&estimate), "{body}");
    // An Anthropic upstream counts itself, with only the fields it takes.
    let (status, headers, body) = gw
        .post(
            "/v1/messages/count_tokens",
            request("anthropic:model-x"),
            AUTH,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-agent-cli-token-count"], "upstream");
    let sent = mock.last_request("/v1/messages/count_tokens");
    let mut keys: Vec<&String> = sent.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["messages", "model", "system", "tools"]);
    let raw = serde_json::to_vec(&sent.body).unwrap().len() as u64;
    assert_eq!(body["input_tokens"], (raw / 4).max(1), "the mock's count");
    // Errors in Anthropic's envelope.
    let (status, _, body) = gw
        .post(
            "/v1/messages/count_tokens",
            json!({"model": "fake:x"}),
            AUTH,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
}

#[tokio::test]
async fn an_operators_forced_effort_is_not_passed_over() {
    let server = format!("{}\nforce_effort = \"high\"", server());
    let (mock, gw) = every_backend::start(&server).await;
    let mut request = with_claude_code_fields(ask("anthropic:m", "hi"));
    request["max_tokens"] = json!(20_000);
    let (status, headers, _) = post(&gw, request).await;
    assert_eq!(status, 200);
    let sent = mock.last_request("/v1/messages");
    assert_eq!(
        sent.body["thinking"],
        json!({"type": "enabled", "budget_tokens": 10_000}),
        "the forced effort, not the client's thinking"
    );
    assert!(
        sent.body.get("context_management").is_none(),
        "{}",
        sent.body
    );
    let ignored = headers["x-agent-cli-ignored-params"].to_str().unwrap();
    assert!(ignored.contains("context_management"), "{ignored}");
}
