//! Cursor Agent, which cannot run offline, through a replaying fake
//! executable (`tests/fixtures/bin/cursor-agent`) that checks its argv and
//! replays a `stream-json` transcript. Also the zero-config start: with no
//! routes file the gateway serves whichever CLIs are installed.

use std::time::Duration;

use serde_json::json;

use crate::support::sse::{chunks_with, content, reasoning};
use crate::support::{Gateway, user};

/// Where the fake records its argv: one JSON array per run.
struct ArgvLog(tempfile::TempDir);

impl ArgvLog {
    fn new() -> ArgvLog {
        ArgvLog(tempfile::tempdir().unwrap())
    }

    fn path(&self) -> String {
        self.0.path().join("argv.log").display().to_string()
    }

    fn last(&self) -> Vec<String> {
        runs(&self.path()).pop().expect("cursor-agent was not run")
    }
}

fn runs(path: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The argument that follows `flag`.
fn arg_after<'a>(argv: &'a [String], flag: &str) -> &'a str {
    let at = argv
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} missing: {argv:?}"));
    &argv[at + 1]
}

#[tokio::test]
async fn with_no_config_the_installed_cli_is_served_and_streams_deltas() {
    let log = ArgvLog::new();
    let gw = Gateway::without_config()
        .env("CLAUDE_BIN", crate::support::ABSENT_CLI)
        .env("FAKE_CURSOR_DELAY", "0.15")
        .env("FAKE_CURSOR_ARGV_LOG", &log.path())
        .start();
    let ids = gw.model_ids().await;
    assert!(ids.iter().any(|m| m == "cursor:auto"), "{ids:?}");
    assert!(
        !ids.iter().any(|m| m.starts_with("claude")),
        "claude is not installed here: {ids:?}"
    );

    let events = gw
        .stream_events(
            json!({"model": "cursor:auto", "stream": true, "messages": user("say hello")}),
        )
        .await;
    assert_eq!(content(&events), "hello from fake upstream");
    assert_eq!(reasoning(&events), "fake reasoning about the request");
    let deltas = chunks_with(&events, &["content"]);
    assert_eq!(
        deltas.len(),
        3,
        "one chunk per partial delta, duplicates skipped: {events:?}"
    );
    assert!(
        deltas[2].at - deltas[0].at >= Duration::from_millis(250),
        "deltas arrived together"
    );
    assert_eq!(events.last().unwrap().data, "[DONE]");

    let argv = log.last();
    let prompt_at = argv.iter().position(|a| a == "--").unwrap();
    assert_eq!(
        argv[prompt_at + 1..],
        ["USER: say hello".to_owned()],
        "the prompt is one argument after --"
    );
    for flag in [
        "-p",
        "--trust",
        "--stream-partial-output",
        "--disable-indexing",
    ] {
        assert!(
            argv[..prompt_at].contains(&flag.to_owned()),
            "{flag} missing: {argv:?}"
        );
    }
    assert!(
        !argv.contains(&"--force".to_owned()),
        "no auto-approved actions by default"
    );
    assert_eq!(arg_after(&argv, "--model"), "auto");
    let workspace = &arg_after(&argv, "--workspace");
    assert!(
        workspace.contains("agent-cli-to-api-ws-"),
        "a fresh workspace per request: {workspace}"
    );

    let (status, _, body) = gw
        .chat(json!({"model": "cursor", "messages": user("again")}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "hello from fake upstream"
    );
    assert_eq!(
        body["choices"][0]["message"]["reasoning_content"],
        "fake reasoning about the request"
    );
    // The preset cannot resume a Cursor chat, so its id is not offered.
    assert!(body.get("session_id").is_none(), "{body}");
}

#[tokio::test]
async fn a_fixed_provider_takes_every_model_like_the_original() {
    let log = ArgvLog::new();
    let gw = Gateway::without_config()
        .arg("cursor")
        .env("FAKE_CURSOR_ARGV_LOG", &log.path())
        .env(
            "CURSOR_AGENT_EXTRA_ARGS",
            "--approve-mcps --endpoint 'https://example.test'",
        )
        .start();
    let (status, headers, body) = gw
        .chat(json!({"model": "gpt-4o", "messages": user("hi"), "reasoning_effort": "high", "session_id": "s-1"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers["x-agent-cli-ignored-params"], "session_id,reasoning_effort",
        "what the template has no place for is reported"
    );
    assert_eq!(headers["x-agent-cli-backend"], "cursor-agent");
    assert_eq!(
        body["model"], "auto",
        "the response names the model that answered"
    );
    let argv = log.last();
    assert!(
        argv.windows(3)
            .any(|w| w == ["--approve-mcps", "--endpoint", "https://example.test"]),
        "{argv:?}"
    );
    assert_eq!(gw.model_ids().await, ["auto"]);
}

#[tokio::test]
async fn presets_and_legacy_variables_pick_the_model() {
    let log = ArgvLog::new();
    let gw = Gateway::without_config()
        .arg("--preset")
        .arg("cursor-fast")
        .env("FAKE_CURSOR_ARGV_LOG", &log.path())
        .start();
    let (status, _, body) = gw
        .chat(json!({"model": "anything", "messages": user("hi")}))
        .await;
    assert_eq!(status, 200, "{body}");
    let argv = log.last();
    assert_eq!(arg_after(&argv, "--model"), "gpt-5.3-codex");

    let gw = Gateway::without_config()
        .env("CODEX_PROVIDER", "cursor-agent")
        .env("CURSOR_AGENT_MODEL", "composer-2")
        .env("CURSOR_AGENT_STREAM_PARTIAL_OUTPUT", "0")
        .env("FAKE_CURSOR_ARGV_LOG", &log.path())
        .start();
    let (status, _, body) = gw.chat(json!({"model": "x", "messages": user("hi")})).await;
    assert_eq!(status, 200, "{body}");
    let argv = log.last();
    assert_eq!(arg_after(&argv, "--model"), "composer-2");
    assert!(!argv.contains(&"--stream-partial-output".to_owned()));
}

#[tokio::test]
async fn a_failing_cursor_agent_is_a_502_with_its_message() {
    let gw = Gateway::without_config()
        .env("FAKE_CURSOR_EXIT", "1")
        .start();
    let (status, _, body) = gw
        .chat(json!({"model": "cursor:auto", "messages": user("hi")}))
        .await;
    assert_eq!(status, 502);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("unauthorized (run cursor-agent login)"),
        "{message}"
    );
    assert!(message.contains("before finishing its answer"), "{message}");
}

#[tokio::test]
async fn an_error_result_is_an_error_even_when_streaming() {
    let transcript = crate::support::fixture("cli/cursor-stream-json-error.jsonl");
    let gw = Gateway::without_config()
        .env("FAKE_CURSOR_TRANSCRIPT", transcript.to_str().unwrap())
        .start();
    for stream in [false, true] {
        let (status, headers, body) = gw
            .chat(json!({"model": "cursor:auto", "stream": stream, "messages": user("hi")}))
            .await;
        assert_eq!(status, 429, "stream={stream}: {body}");
        assert_eq!(headers["retry-after"], "5");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("rate limited"), "{message}");
    }
}
