//! Claude Code 2.1.332 (`claude -p --output-format stream-json
//! --include-partial-messages`) against the mock Anthropic Messages API.

use super::{Rig, cli, quoted};
use crate::support::mock_upstream::REASONING_TEXT;
use crate::support::sse::reasoning;

async fn rig() -> Rig {
    rig_with("claude", "").await
}

/// The rig with preset `preset`, and `extra` keys for its backend.
pub(crate) async fn rig_with(preset: &str, extra: &str) -> Rig {
    Rig::start("claude:sonnet", |upstream, scratch, marker| {
        format!(
            r#"use = ["{preset}"]
[backends.claude]
command = {command}
env = {{ ANTHROPIC_BASE_URL = {upstream}, ANTHROPIC_API_KEY = "sk-ant-e2e-dummy", CLAUDE_CONFIG_DIR = {config}, CLAUDE_CODE_MAX_RETRIES = "0", E2E_MARKER = {marker} }}
{extra}
"#,
            command = quoted(&cli("claude").display().to_string()),
            upstream = quoted(upstream),
            config = quoted(&scratch.join("claude-config").display().to_string()),
            marker = quoted(marker),
        )
    })
    .await
}

super::shared_scenarios!();

#[tokio::test]
async fn claude_streams_token_deltas_as_they_arrive() {
    super::deltas_arrive_incrementally(&rig().await).await;
}

#[tokio::test]
async fn claude_reasoning_streams_as_reasoning_content() {
    let rig = rig().await;
    let events = rig.stream("THINK say hello").await;
    assert_eq!(reasoning(&events), REASONING_TEXT);
    let (_, body) = rig.ask("THINK say hello").await;
    assert_eq!(
        body["choices"][0]["message"]["reasoning_content"],
        REASONING_TEXT
    );
}

#[tokio::test]
async fn claude_resumes_its_session_with_only_the_new_messages() {
    let rig = rig().await;
    let sent = super::resume_with(&rig, serde_json::json!("and again"), "/v1/messages").await;
    assert!(sent.contains("USER: and again"), "{sent}");
}

#[tokio::test]
async fn claude_receives_the_system_prompt_as_its_own() {
    let rig = rig().await;
    let (status, body) = rig
        .chat(serde_json::json!({
            "messages": [
                {"role": "system", "content": "- Answer like a pirate."},
                {"role": "user", "content": "say hello"},
            ],
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = rig.mock.last_request("/v1/messages");
    assert!(
        sent.body["system"]
            .to_string()
            .contains("- Answer like a pirate."),
        "the system text reached Claude's system prompt, even starting with '-'"
    );
    assert!(
        !sent.body["messages"].to_string().contains("pirate"),
        "and not the prompt"
    );
}
