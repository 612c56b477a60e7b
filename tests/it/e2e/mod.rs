//! End to end through the real npm CLIs (Claude Code, Codex, Gemini CLI,
//! pinned in `tests/e2e/package.json` and installed by `scripts/test`),
//! each pointed at the mock model API on 127.0.0.1, behind the gateway.
//!
//! Every CLI gets the same scenarios: a plain answer, deltas that arrive as
//! the upstream produces them, reasoning, an upstream 400 and 500 surfacing
//! as proper errors, and a client disconnect that kills the CLI's process
//! group while the upstream is stalled mid-answer.

mod claude;
mod clients;
mod codex;
mod gemini;
mod warm;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mock_upstream::{MockUpstream, REPLY_TEXT};
use crate::support::sse::{SseEvent, chunks_with, content};
use crate::support::{Gateway, assert_processes_gone, eventually, processes_with_env, repo};

/// A real CLI installed by `scripts/test`; missing means a broken setup, not a skip.
pub(crate) fn cli(name: &str) -> PathBuf {
    let path = repo().join("tests/e2e/node_modules/.bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `scripts/test` (it installs the pinned CLIs)",
        path.display()
    );
    path
}

/// One CLI behind a gateway, with the mock upstream and a scratch home.
pub(crate) struct Rig {
    pub(crate) mock: MockUpstream,
    pub(crate) gateway: Gateway,
    /// Model string that routes to the CLI.
    pub(crate) model: &'static str,
    /// A value only this rig's CLI processes carry in their environment.
    pub(crate) marker: String,
    _scratch: tempfile::TempDir,
}

impl Rig {
    /// Starts the mock, then the gateway with the config `setup` writes
    /// (given the mock's URL, a scratch dir and the marker).
    pub(crate) async fn start(
        model: &'static str,
        setup: impl FnOnce(&str, &std::path::Path, &str) -> String,
    ) -> Rig {
        let mock = MockUpstream::start().await;
        let scratch = tempfile::Builder::new().prefix("e2e-").tempdir().unwrap();
        let marker = format!("e2e-{}", uuid::Uuid::new_v4().simple());
        let config = setup(&mock.base_url(), scratch.path(), &marker);
        let gateway = Gateway::builder(&config).start();
        Rig {
            mock,
            gateway,
            model,
            marker,
            _scratch: scratch,
        }
    }

    fn request(&self, prompt: &str, stream: bool) -> Value {
        json!({
            "model": self.model,
            "stream": stream,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": prompt}],
        })
    }

    /// A non-streaming chat with `body` (its model set to the rig's): (status, body).
    pub(crate) async fn chat(&self, mut body: Value) -> (u16, Value) {
        body["model"] = json!(self.model);
        let (status, _, body) = self.gateway.chat(body).await;
        (status, body)
    }

    /// A non-streaming request: (status, body).
    pub(crate) async fn ask(&self, prompt: &str) -> (u16, Value) {
        self.chat(self.request(prompt, false)).await
    }

    /// A streaming request, read to the end.
    pub(crate) async fn stream(&self, prompt: &str) -> Vec<SseEvent> {
        self.gateway.stream_events(self.request(prompt, true)).await
    }
}

/// Asks once, then resumes that session with the whole conversation and
/// `new_turn` (a user message's content). Checks that the same session
/// continues and that the history reached the model API once (from the CLI's
/// session, not from the prompt); returns the body the CLI sent last to
/// `upstream_path`, for the caller's checks of the new turn.
pub(crate) async fn resume_with(rig: &Rig, new_turn: Value, upstream_path: &str) -> String {
    let (status, first) = rig.ask("say hello").await;
    assert_eq!(status, 200, "{first}");
    let session = first["session_id"].as_str().unwrap().to_owned();
    let (status, second) = rig
        .chat(json!({
            "session_id": session,
            "messages": [
                {"role": "user", "content": "say hello"},
                {"role": "assistant", "content": REPLY_TEXT},
                {"role": "user", "content": new_turn},
            ],
        }))
        .await;
    assert_eq!(status, 200, "{second}\n{}", rig.gateway.logs());
    assert_eq!(
        second["session_id"],
        session.as_str(),
        "the same session continues"
    );
    let sent = rig.mock.last_request(upstream_path).body.to_string();
    assert_eq!(
        sent.matches("say hello").count(),
        1,
        "history comes from the session, once: {sent}"
    );
    sent
}

/// Plain answer, folded, with usage.
pub(crate) async fn plain_answer(rig: &Rig) {
    let (status, body) = rig.ask("say hello").await;
    assert_eq!(status, 200, "{body}\n{}", rig.gateway.logs());
    assert_eq!(
        body["choices"][0]["message"]["content"],
        crate::support::mock_upstream::REPLY_TEXT
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(
        body["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{body}"
    );
    // Gemini CLI one-shot runs cannot be resumed (its sessions live per
    // directory), so a client is not offered their session id.
    let resumable = !rig.model.starts_with("gemini:");
    assert_eq!(body["session_id"].is_string(), resumable, "{body}");
    assert!(
        !rig.mock.requests().is_empty(),
        "the CLI never called the mock upstream"
    );
}

/// Content reaches the client as the upstream sends it: the mock sends the
/// answer in 3 deltas 0.5 s apart, so they must not arrive together.
pub(crate) async fn deltas_arrive_incrementally(rig: &Rig) {
    let events = streamed_slowly(rig).await;
    let spread = spread(&events, "content");
    assert!(
        spread >= Duration::from_millis(700),
        "3 deltas 0.5 s apart arrived within {spread:?}"
    );
}

/// A slow streamed answer, checked for text, usage and `[DONE]`.
pub(crate) async fn streamed_slowly(rig: &Rig) -> Vec<SseEvent> {
    let events = rig.stream("SLOW_STREAM say hello").await;
    assert_eq!(
        content(&events),
        crate::support::mock_upstream::REPLY_TEXT,
        "{events:?}"
    );
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let usage = &events[events.len() - 2].json();
    assert!(
        usage["usage"]["total_tokens"].as_u64().unwrap() > 0,
        "usage chunk: {events:?}"
    );
    events
}

/// The spread between the first and the last chunk carrying `field`.
pub(crate) fn spread(events: &[SseEvent], field: &str) -> Duration {
    let chunks = chunks_with(events, &[field]);
    chunks.last().unwrap().at - chunks[0].at
}

/// An upstream error becomes an OpenAI error with the CLI's text and the right status.
pub(crate) async fn upstream_error(rig: &Rig, marker: &str, status: u16, cli_text: Option<&str>) {
    let (got, body) = rig.ask(&format!("{marker} please")).await;
    assert_eq!(got, status, "{body}\n{}", rig.gateway.logs());
    assert!(
        body.get("choices").is_none(),
        "an error must never look like an answer: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(!message.is_empty());
    if let Some(text) = cli_text {
        assert!(
            message.contains(text),
            "the CLI's own text is kept: {message}"
        );
    }
    let (got, _) = rig.ask("say hello").await;
    assert_eq!(got, 200, "the gateway keeps serving");
}

/// A client that hangs up while the upstream is stalled mid-answer takes
/// the CLI's whole process group with it.
pub(crate) async fn disconnect_kills_the_cli(rig: &Rig) {
    // Headers come with the first output, or after a few seconds for CLIs
    // (codex exec) that print nothing until an item completes.
    let reader = rig
        .gateway
        .chat_stream(rig.request("STALL_STREAM say hello", true))
        .await;
    assert!(
        eventually(Duration::from_secs(30), || rig.mock.open_streams() > 0).await,
        "the CLI never reached the upstream"
    );
    assert!(
        !processes_with_env(&rig.marker).is_empty(),
        "the CLI is not running"
    );
    drop(reader);
    assert_processes_gone(&rig.marker, Duration::from_secs(5)).await;
    assert!(
        eventually(Duration::from_secs(5), || rig.mock.open_streams() == 0).await,
        "the upstream stream stayed open"
    );
}

/// The scenarios every CLI shares, as tests of the calling module, which
/// provides `async fn rig() -> Rig`.
macro_rules! shared_scenarios {
    () => {
        #[tokio::test]
        async fn plain_answer() {
            super::plain_answer(&rig().await).await;
        }

        #[tokio::test]
        async fn upstream_400_and_500_are_errors() {
            let rig = rig().await;
            use $crate::support::mock_upstream::{FAIL_400_MARKER, FAIL_500_MARKER};
            let rejected = format!("fake upstream rejected the request ({FAIL_400_MARKER} marker)");
            super::upstream_error(&rig, FAIL_400_MARKER, 400, Some(&rejected)).await;
            super::upstream_error(&rig, FAIL_500_MARKER, 502, None).await;
        }

        #[tokio::test]
        async fn disconnect_kills_the_process_group() {
            super::disconnect_kills_the_cli(&rig().await).await;
        }
    };
}
use shared_scenarios;

/// TOML string literal.
pub(crate) fn quoted(value: &str) -> String {
    format!("{value:?}")
}
