//! The real CLIs kept warm (`claude-warm`, `codex-warm`, `gemini-warm`)
//! against the mock upstream. One gateway per CLI runs every scenario in
//! order, so each CLI starts once: unrelated requests on one process share
//! nothing; a client's key keeps a conversation, whose later turns send
//! only the new message; a client that hangs up mid-stream interrupts the
//! turn without killing the process; a killed process is replaced and its
//! conversation replayed; more requests than processes queue.

use std::time::Duration;

use serde_json::{Value, json};

use super::Rig;
use crate::support::eventually;
use crate::support::mock_upstream::REPLY_TEXT;
use crate::support::sse::content;

/// A warm CLI's rig: its backend, and the upstream path its turns call.
struct Warm {
    rig: Rig,
    backend: &'static str,
    upstream: &'static str,
    /// Another model this CLI switches to in place, and what of it the
    /// model API sees (none: its processes differ by model).
    other_model: Option<(&'static str, &'static str)>,
}

/// Two processes at most, so that four requests at once must queue.
const POOL: &str = "max_concurrency = 2\nmin_warm = 1";

impl Warm {
    /// The pool's state from `/debug/config`.
    async fn pool(&self) -> Value {
        self.rig.gateway.get_json("/debug/config").await["pools"][self.backend].clone()
    }

    /// The pids of the pool's processes not in a turn.
    async fn pids(&self) -> Vec<i64> {
        let pool = self.pool().await;
        let mut pids: Vec<i64> = pool["processes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["pid"].as_i64())
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Waits until the pool has `n` processes, none in a turn or being readied.
    async fn settled(&self, n: usize) -> Vec<i64> {
        let limit = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let pids = self.pids().await;
            let pool = self.pool().await;
            if pids.len() == n && pool["live"] == n && pool["conversations_in_a_turn"] == 0 {
                return pids;
            }
            assert!(
                std::time::Instant::now() < limit,
                "the pool never settled at {n}: {pool}\n{}",
                self.rig.gateway.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A chat with `messages`, in conversation `key` when given: (status, body, x-session-id).
    async fn chat(&self, key: Option<&str>, messages: Value) -> (u16, Value, Option<String>) {
        self.chat_with(self.rig.model, key, messages).await
    }

    /// [`Warm::chat`] with model `model`.
    async fn chat_with(
        &self,
        model: &str,
        key: Option<&str>,
        messages: Value,
    ) -> (u16, Value, Option<String>) {
        let mut request = reqwest::Client::new()
            .post(self.rig.gateway.url("/v1/chat/completions"))
            .json(&json!({"model": model, "messages": messages}));
        if let Some(key) = key {
            request = request.header("x-session-id", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let header = response
            .headers()
            .get("x-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, response.json().await.unwrap(), header)
    }

    /// The body of the last call the CLI made to the model API.
    fn last_upstream_body(&self) -> String {
        self.rig.mock.last_request(self.upstream).body.to_string()
    }
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

/// Two requests without a key on one process: the second's call to the
/// model API carries nothing of the first.
async fn unrelated_requests_share_nothing(warm: &Warm) {
    let before = warm.settled(1).await;
    let (status, body, _) = warm.chat(None, user("say hello ALPHA-SEVEN")).await;
    assert_eq!(status, 200, "{body}\n{}", warm.rig.gateway.logs());
    assert_eq!(body["choices"][0]["message"]["content"], REPLY_TEXT);
    assert!(warm.last_upstream_body().contains("ALPHA-SEVEN"));
    let (status, body, _) = warm.chat(None, user("say hello BRAVO-EIGHT")).await;
    assert_eq!(status, 200, "{body}");
    let sent = warm.last_upstream_body();
    assert!(sent.contains("BRAVO-EIGHT"), "{sent}");
    assert!(
        !sent.contains("ALPHA-SEVEN"),
        "an unrelated request saw another's conversation: {sent}"
    );
    assert_eq!(
        warm.settled(1).await,
        before,
        "both ran on the one warm process"
    );
}

/// A client's own key keeps its conversation: the answer names it, and the
/// next turn sends only the new message (the history reaches the model
/// API once, from the CLI's own memory).
async fn a_keyed_conversation_continues(warm: &Warm, key: &str) {
    let (status, body, header) = warm.chat(Some(key), user("say hello CHARLIE-NINE")).await;
    assert_eq!(status, 200, "{body}\n{}", warm.rig.gateway.logs());
    assert_eq!(header.as_deref(), Some(key), "the bound key is returned");
    assert_eq!(body["session_id"], key);
    let history = json!([
        {"role": "user", "content": "say hello CHARLIE-NINE"},
        {"role": "assistant", "content": REPLY_TEXT},
        {"role": "user", "content": "and again DELTA-TEN"},
    ]);
    let (status, body, _) = warm.chat(Some(key), history).await;
    assert_eq!(status, 200, "{body}");
    let sent = warm.last_upstream_body();
    assert!(sent.contains("DELTA-TEN"), "{sent}");
    assert_eq!(
        sent.matches("CHARLIE-NINE").count(),
        1,
        "the history came from the CLI's conversation, once: {sent}"
    );
}

/// A client that hangs up mid-stream interrupts the turn; the process
/// serves the next request.
async fn a_disconnect_interrupts_without_killing(warm: &Warm) {
    let before = warm.settled(1).await;
    let mut reader = warm
        .rig
        .gateway
        .chat_stream(json!({
            "model": warm.rig.model,
            "stream": true,
            "messages": user("STALL_STREAM say hello"),
        }))
        .await;
    let mut streamed = String::new();
    while streamed.is_empty() {
        let event = reader
            .next()
            .await
            .expect("the stream ended before any text");
        streamed.push_str(content(std::slice::from_ref(&event)).as_str());
    }
    drop(reader);
    assert!(
        eventually(Duration::from_secs(10), || warm.rig.mock.open_streams()
            == 0)
        .await,
        "the interrupted turn's upstream call stayed open"
    );
    assert_eq!(
        warm.settled(1).await,
        before,
        "the process was interrupted, not killed\n{}",
        warm.rig.gateway.logs()
    );
    let (status, body, _) = warm.chat(None, user("say hello")).await;
    assert_eq!(status, 200, "{body}\n{}", warm.rig.gateway.logs());
    assert_eq!(body["choices"][0]["message"]["content"], REPLY_TEXT);
}

/// The process of a conversation is killed: the next request is served by
/// a new one, and the conversation goes on from the history the client
/// sent.
async fn a_killed_process_is_replaced(warm: &Warm, key: &str) {
    let pids = warm.settled(1).await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", pids[0])])
        .status()
        .unwrap();
    assert!(killed.success());
    let history = json!([
        {"role": "user", "content": "say hello CHARLIE-NINE"},
        {"role": "assistant", "content": REPLY_TEXT},
        {"role": "user", "content": "and again DELTA-TEN"},
        {"role": "assistant", "content": REPLY_TEXT},
        {"role": "user", "content": "once more ECHO-ELEVEN"},
    ]);
    let (status, body, header) = warm.chat(Some(key), history).await;
    assert_eq!(status, 200, "{body}\n{}", warm.rig.gateway.logs());
    assert_eq!(header.as_deref(), Some(key));
    let sent = warm.last_upstream_body();
    assert!(
        sent.contains("CHARLIE-NINE") && sent.contains("ECHO-ELEVEN"),
        "the conversation was replayed on the new process: {sent}"
    );
    assert!(
        warm.rig
            .gateway
            .wait_for_log("replaying its history", Duration::from_secs(5))
            .await,
        "the log says the history was replayed"
    );
    let now = warm.settled(1).await;
    assert_ne!(now, pids, "a new process serves");
}

/// Four requests at once on two processes: they queue, none is lost.
async fn more_requests_than_processes_queue(warm: &Warm) {
    let asks = (0..4).map(|i| warm.chat(None, user(&format!("say hello FOXTROT-{i}"))));
    for (status, body, _) in futures_util::future::join_all(asks).await {
        assert_eq!(status, 200, "{body}\n{}", warm.rig.gateway.logs());
        assert_eq!(body["choices"][0]["message"]["content"], REPLY_TEXT);
    }
    let pool = warm.pool().await;
    assert!(pool["live"].as_u64().unwrap() <= 2, "{pool}");
}

/// Another model on the same process (Claude Code's `set_model`, a Codex
/// turn's own model).
async fn another_model_runs_on_the_same_process(warm: &Warm) {
    let Some((model, seen)) = warm.other_model else {
        return;
    };
    let before = warm.settled(1).await;
    let (status, body, _) = warm.chat_with(model, None, user("say hello")).await;
    assert_eq!(status, 200, "{body}\n{}", warm.rig.gateway.logs());
    let sent = warm.rig.mock.last_request(warm.upstream);
    assert!(
        sent.body["model"]
            .as_str()
            .unwrap_or_default()
            .contains(seen),
        "the model API was asked for {seen}: {}",
        sent.body["model"]
    );
    assert_eq!(
        warm.settled(1).await,
        before,
        "no process was started for it"
    );
}

/// Every scenario, in order, on one gateway.
async fn scenarios(warm: Warm) {
    unrelated_requests_share_nothing(&warm).await;
    another_model_runs_on_the_same_process(&warm).await;
    a_disconnect_interrupts_without_killing(&warm).await;
    a_keyed_conversation_continues(&warm, "my-own-conversation-1").await;
    a_killed_process_is_replaced(&warm, "my-own-conversation-1").await;
    more_requests_than_processes_queue(&warm).await;
}

#[tokio::test]
async fn claude_warm() {
    let rig = super::claude::rig_with("claude-warm", POOL).await;
    scenarios(Warm {
        rig,
        backend: "claude",
        upstream: "/v1/messages",
        other_model: Some(("claude:opus", "opus")),
    })
    .await;
}

/// Claude Code asks the gateway's permission to run a tool that writes
/// (`--permission-prompt-tool stdio` in `claude-warm`); `approvals = "deny"`
/// refuses it, and Claude tells the model so.
#[tokio::test]
async fn claude_warm_asks_the_gateway_for_tool_permissions() {
    let rig = super::claude::rig_with("claude-warm", "").await;
    let (status, body) = rig.ask("RISKY_TOOL please").await;
    assert_eq!(status, 200, "{body}\n{}", rig.gateway.logs());
    let sent = rig.mock.last_request("/v1/messages").body.to_string();
    assert!(
        sent.contains("refuses tool permissions"),
        "the refusal reached the model as the tool's result: {sent}"
    );
    let logs = rig.gateway.logs();
    let answered = logs
        .lines()
        .find(|l| l.contains("agent request answered"))
        .unwrap_or_else(|| panic!("Claude Code asked nothing: {logs}"));
    assert!(
        answered.contains("method=\"can_use_tool\"") && answered.contains("policy=Deny"),
        "{answered}"
    );
}

#[tokio::test]
async fn codex_warm() {
    let rig = super::codex::rig_with("codex-warm", POOL).await;
    scenarios(Warm {
        rig,
        backend: "codex",
        upstream: "/responses",
        other_model: Some(("codex:gpt-5.6-sol", "gpt-5.6-sol")),
    })
    .await;
}

#[tokio::test]
async fn gemini_warm() {
    let rig = super::gemini::rig_with(
        "gemini-warm",
        &format!("{POOL}\ndefault_model = \"gemini-2.5-flash\""),
    )
    .await;
    scenarios(Warm {
        rig,
        backend: "gemini",
        upstream: ":streamGenerateContent",
        other_model: None,
    })
    .await;
}
