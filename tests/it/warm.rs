//! `session` backends over ACP through the scripted agent
//! (`tests/fixtures/bin/fake-acp`): an ACP agent added by TOML alone,
//! Cursor Agent's warm preset (`cursor-agent acp`, which cannot run
//! offline), permissions by policy, conversations evicted and expired, a
//! crash, a reload that replaces the processes, and shutdown.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::sse::{content, reasoning};
use crate::support::{Gateway, assert_processes_gone, fixture, processes_with_env};

/// A `session` backend of the scripted agent, named `echo-agent`, with
/// `extra` keys.
fn agent_config(marker: &str, extra: &str) -> String {
    format!(
        r#"use = []
[backends.echo-agent]
kind = "session"
protocol = "acp"
command = {command:?}
args = ["--flavour", "{{model}}"]
default_model = "plain"
models = ["plain"]
auth_method = "token-login"
env = {{ FAKE_ACP_NAME = "echo-agent", FAKE_ACP_REQUIRE_AUTH = "token-login", E2E_MARKER = {marker:?} }}
{extra}

[[routes]]
prefix = "echo:"
backend = "echo-agent"
"#,
        command = fixture("bin/fake-acp").display().to_string(),
    )
}

fn marker() -> String {
    format!("warm-{}", uuid::Uuid::new_v4().simple())
}

/// The answer's text.
fn text(body: &Value) -> &str {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
}

/// A chat in conversation `key` (when given): (status, body).
async fn chat(gw: &Gateway, key: Option<&str>, messages: Value) -> (u16, Value) {
    let mut body = json!({"model": "echo:plain", "messages": messages});
    if let Some(key) = key {
        body["session_id"] = json!(key);
    }
    let (status, _, body) = gw.chat(body).await;
    (status, body)
}

/// The working directory the agent reported for the conversation.
fn cwd_of(body: &Value) -> String {
    let text = text(body);
    let start = text.find("; cwd ").map(|i| i + 6).unwrap_or_default();
    let end = start + text[start..].find(';').unwrap_or_default();
    text[start..end].to_owned()
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

#[tokio::test]
async fn an_acp_agent_is_added_by_toml_alone() {
    let marker = marker();
    let gw = Gateway::builder(&agent_config(&marker, "")).start();
    // Unrelated requests: each a new session of its own.
    let (status, body) = chat(&gw, None, user("say hello")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert!(
        text(&body).starts_with("[echo-agent] turn 1 of echo-agent-session-"),
        "{body}"
    );
    assert!(
        text(&body).ends_with("heard: USER: say hello; earlier: nothing"),
        "{body}"
    );
    assert!(
        body["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{body}"
    );
    let first_dir = cwd_of(&body);
    assert!(first_dir.starts_with('/'), "{body}");
    let (_, body) = chat(&gw, None, user("something else")).await;
    assert!(text(&body).contains("turn 1 of"), "{body}");
    assert!(
        text(&body).contains("earlier: nothing"),
        "nothing leaked: {body}"
    );
    // Each conversation works in a fresh private directory; the last one's is removed.
    assert_ne!(cwd_of(&body), first_dir, "{body}");
    assert!(
        crate::support::eventually(Duration::from_secs(5), || {
            !std::path::Path::new(&first_dir).exists()
        })
        .await,
        "{first_dir} was left behind"
    );
    // Streamed, with the agent's thoughts as reasoning.
    let events = gw
        .stream_events(
            json!({"model": "echo:plain", "stream": true, "messages": user("THINK now")}),
        )
        .await;
    assert_eq!(reasoning(&events), "thinking it over");
    assert!(content(&events).contains("heard: USER: THINK now"));
    // A conversation of the client's own key: the next turn sends only the new message.
    let (_, first) = chat(&gw, Some("mine"), user("first words")).await;
    assert_eq!(first["session_id"], "mine");
    let (_, second) = chat(
        &gw,
        Some("mine"),
        json!([
            {"role": "user", "content": "first words"},
            {"role": "assistant", "content": text(&first)},
            {"role": "user", "content": "second words"},
        ]),
    )
    .await;
    assert!(text(&second).contains("turn 2 of"), "{second}");
    assert!(
        text(&second).ends_with("heard: USER: second words; earlier: USER: first words"),
        "only the new message was sent: {second}"
    );
    // Permission requests are refused by default.
    let (_, body) = chat(&gw, None, user("ASK_PERMISSION please")).await;
    assert!(text(&body).contains("permission: no;"), "{body}");
    // One process holds "mine"; another served the requests without a key.
    assert_eq!(processes_with_env(&marker).len(), 2, "{}", gw.logs());
}

#[tokio::test]
async fn approvals_allow_grants_permission_requests() {
    let gw = Gateway::builder(&agent_config(&marker(), "approvals = \"allow\"")).start();
    let (status, body) = chat(&gw, None, user("ASK_PERMISSION please")).await;
    assert_eq!(status, 200, "{body}");
    assert!(text(&body).contains("permission: yes;"), "{body}");
}

#[tokio::test]
async fn cursor_agent_warm_runs_cursor_agent_acp() {
    let marker = marker();
    let config = format!(
        r#"use = ["cursor-agent-warm"]
[backends.cursor-agent]
env = {{ E2E_MARKER = {marker:?} }}
"#
    );
    // The original's variables apply to warm backends as to one-shot ones.
    let gw = Gateway::builder(&config)
        .env(
            "CURSOR_AGENT_BIN",
            &fixture("bin/cursor-agent").display().to_string(),
        )
        .start();
    let (status, _, body) = gw
        .chat(json!({"model": "cursor:auto", "messages": user("say hello")}))
        .await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert!(
        text(&body).starts_with("[cursor-agent] turn 1 of cursor-agent-session-"),
        "{body}"
    );
    let events = gw
        .stream_events(
            json!({"model": "cursor:auto", "stream": true, "messages": user("SLOW words")}),
        )
        .await;
    let chunks = events
        .iter()
        .filter(|e| e.data.contains("\"content\""))
        .count();
    assert!(chunks > 5, "the answer streamed word by word: {events:?}");
}

#[tokio::test]
async fn conversations_are_evicted_and_expire() {
    let gw = Gateway::builder(&agent_config(
        &marker(),
        "max_sessions = 1\nsession_ttl_seconds = 1\nmax_concurrency = 1",
    ))
    .start();
    let (_, a) = chat(&gw, Some("a"), user("from a")).await;
    assert!(text(&a).contains("turn 1 of"), "{a}");
    // A second conversation beyond max_sessions = 1 evicts the first.
    let (_, b) = chat(&gw, Some("b"), user("from b")).await;
    assert!(
        text(&b).ends_with("earlier: nothing"),
        "b is a new session: {b}"
    );
    let history = json!([
        {"role": "user", "content": "from a"},
        {"role": "assistant", "content": text(&a)},
        {"role": "user", "content": "a again"},
    ]);
    let (_, again) = chat(&gw, Some("a"), history).await;
    assert!(
        text(&again).contains("turn 1 of") && text(&again).contains("heard: USER: from a"),
        "an evicted conversation is replayed on a cleared process: {again}"
    );
    assert!(
        text(&again).ends_with("earlier: nothing"),
        "nothing of b: {again}"
    );
    // Unused past session_ttl_seconds, it is forgotten.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let history = json!([
        {"role": "user", "content": "from a"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": "a again"},
        {"role": "assistant", "content": text(&again)},
        {"role": "user", "content": "a third time"},
    ]);
    let (_, third) = chat(&gw, Some("a"), history).await;
    assert!(
        text(&third).contains("turn 1 of"),
        "expired, replayed: {third}"
    );
    assert!(
        gw.wait_for_log("replaying its history", Duration::from_secs(1))
            .await,
        "{}",
        gw.logs()
    );
}

#[tokio::test]
async fn a_crash_is_an_error_and_the_next_request_gets_a_new_process() {
    let gw = Gateway::builder(&agent_config(&marker(), "")).start();
    let (status, body) = chat(&gw, None, user("CRASH now")).await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("fake-acp: crashing as asked"),
        "the agent's stderr is kept: {message}"
    );
    let (status, body) = chat(&gw, None, user("say hello")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
}

#[tokio::test]
async fn a_reload_replaces_the_processes_and_shutdown_ends_them() {
    let marker = marker();
    let gw = Gateway::builder(&agent_config(&marker, "")).start();
    let (_, body) = chat(&gw, None, user("say hello")).await;
    assert!(text(&body).starts_with("[echo-agent]"), "{body}");
    let config = agent_config(&marker, "").replace(
        "FAKE_ACP_NAME = \"echo-agent\"",
        "FAKE_ACP_NAME = \"renamed-agent\"",
    );
    std::fs::write(gw.config_path(), config).unwrap();
    assert!(
        gw.wait_for_log("config reloaded", Duration::from_secs(5))
            .await,
        "{}",
        gw.logs()
    );
    let (_, body) = chat(&gw, None, user("say hello")).await;
    assert!(
        text(&body).starts_with("[renamed-agent]"),
        "the new template serves: {body}"
    );
    assert!(
        crate::support::eventually(Duration::from_secs(5), || processes_with_env(&marker).len()
            == 1)
        .await,
        "the old process was retired"
    );
    let pid = nix::unistd::Pid::from_raw(i32::try_from(gw.pid()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_processes_gone(&marker, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn gemini_cli_runs_warm_by_default() {
    // `agent-cli-to-api gemini` with no config: Gemini CLI over ACP, warm.
    let gw = Gateway::without_config()
        .arg("gemini")
        .env("GEMINI_BIN", &fixture("bin/fake-acp").display().to_string())
        .env("FAKE_ACP_NAME", "gemini")
        .start();
    let (status, _, body) = gw
        .chat(json!({"model": "gemini:auto", "messages": user("say hello")}))
        .await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert!(text(&body).starts_with("[gemini] turn 1 of"), "{body}");
    let config = gw.get_json("/debug/config").await;
    assert_eq!(config["pools"]["gemini"]["protocol"], "acp", "{config}");
}

#[tokio::test]
async fn processes_are_retired_after_max_turns_and_end_when_idle() {
    let marker = marker();
    let gw = Gateway::builder(&agent_config(
        &marker,
        "max_turns = 2\nidle_ttl_seconds = 1",
    ))
    .start();
    let mut sessions = Vec::new();
    for prompt in ["one", "two", "three"] {
        let (status, body) = chat(&gw, None, user(prompt)).await;
        assert_eq!(status, 200, "{body}");
        let answer = text(&body);
        let at = answer.find("echo-agent-session-").unwrap();
        sessions.push(answer[at..].split(';').next().unwrap().to_owned());
    }
    // Two turns on the first process, then a new one, whose sessions count anew.
    assert_eq!(
        sessions,
        [
            "echo-agent-session-1",
            "echo-agent-session-2",
            "echo-agent-session-1"
        ],
        "{}",
        gw.logs()
    );
    assert!(gw.logs().contains("warm process retired"), "{}", gw.logs());
    // min_warm = 0: unused past idle_ttl_seconds, no process is left.
    assert!(
        crate::support::eventually(Duration::from_secs(6), || {
            processes_with_env(&marker).is_empty()
        })
        .await,
        "{}",
        gw.logs()
    );
    assert!(
        gw.wait_for_log("idle warm process ended", Duration::from_secs(5))
            .await,
        "{}",
        gw.logs()
    );
    // A process list read while a process starts can miss it: look again.
    assert!(
        crate::support::eventually(Duration::from_secs(3), || {
            processes_with_env(&marker).is_empty()
        })
        .await,
        "{}",
        gw.logs()
    );
    let (status, body) = chat(&gw, None, user("four")).await;
    assert_eq!(status, 200, "a new one starts on demand: {body}");
}

#[tokio::test]
async fn shutdown_mid_turn_ends_the_stream_and_the_process() {
    let marker = marker();
    let gw = Gateway::builder(&agent_config(&marker, "")).start();
    let mut reader = gw
        .chat_stream(json!({"model": "echo:plain", "stream": true, "messages": user("SLOW words")}))
        .await;
    let _ = reader.next().await;
    assert_eq!(processes_with_env(&marker).len(), 1, "{}", gw.logs());
    let pid = nix::unistd::Pid::from_raw(i32::try_from(gw.pid()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let events = tokio::time::timeout(Duration::from_secs(5), reader.collect())
        .await
        .expect("the stream did not end");
    let last = events.last().map(|e| e.json()).unwrap_or_default();
    assert_eq!(last["error"]["code"], "shutting_down", "{events:?}");
    assert_processes_gone(&marker, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_routes_vars_reach_the_warm_command_line() {
    let log = tempfile::tempdir().unwrap();
    let log_path = log.path().join("acp.log").display().to_string();
    let config = format!(
        r#"use = []
[backends.echo-agent]
kind = "session"
protocol = "acp"
command = {command:?}
vars = {{ flavour = "plain" }}
args = ["--flavour", "{{flavour}}"]
env = {{ FAKE_ACP_LOG = {log_path:?} }}

[[routes]]
prefix = "echo:"
backend = "echo-agent"

[[routes]]
prefix = "spicy:"
backend = "echo-agent"
vars = {{ flavour = "spicy" }}
"#,
        command = fixture("bin/fake-acp").display().to_string(),
    );
    let gw = Gateway::builder(&config).start();
    for model in ["echo:x", "spicy:x"] {
        let (status, _, body) = gw
            .chat(json!({"model": model, "messages": user("say hello")}))
            .await;
        assert_eq!(status, 200, "{body}\n{}", gw.logs());
    }
    let argvs: std::collections::BTreeSet<String> = std::fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["argv"].to_string())
        .collect();
    assert_eq!(
        argvs.into_iter().collect::<Vec<_>>(),
        [r#"["--flavour","plain"]"#, r#"["--flavour","spicy"]"#],
        "each route's process has its own command line"
    );
}

#[tokio::test]
async fn a_responses_chain_keeps_one_warm_conversation() {
    let marker = marker();
    let gw = Gateway::builder(&agent_config(&marker, "")).start();
    let create = |body: Value| {
        let gw = &gw;
        async move { gw.post("/v1/responses", body, &[]).await }
    };
    let said = |body: &Value| {
        body["output"][0]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (status, _, first) = create(json!({"model": "echo:plain", "input": "first words"})).await;
    assert_eq!(status, 200, "{first}\n{}", gw.logs());
    // Continued: a conversation keyed by the chain starts with the whole history…
    let (status, headers, second) = create(json!({"model": "echo:plain", "input": "second words",
        "previous_response_id": first["id"]}))
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(headers["x-session-id"], first["id"].as_str().unwrap());
    assert!(said(&second).contains("turn 1 of"), "{second}");
    assert!(said(&second).contains("first words") && said(&second).contains("second words"));
    // …and keeps its process: the next turn sends only the new input.
    let (status, _, third) = create(json!({"model": "echo:plain", "input": "third words",
        "previous_response_id": second["id"]}))
    .await;
    assert_eq!(status, 200, "{third}");
    let text = said(&third);
    assert!(text.contains("turn 2 of"), "{third}");
    assert!(
        text.contains("heard: USER: third words; earlier:"),
        "only the new input: {third}"
    );
}
