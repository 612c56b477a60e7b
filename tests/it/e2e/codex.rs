//! Codex CLI 0.169.0 (`codex exec --json`) against the mock OpenAI
//! Responses API. `codex exec` prints whole items, so "incremental" here
//! means each item is forwarded the moment Codex prints it.

use super::{Rig, cli, quoted};
use crate::support::mock_upstream::REASONING_TEXT;
use crate::support::sse::{chunks_with, reasoning};

async fn rig() -> Rig {
    rig_with("codex", "").await
}

/// The rig with preset `preset`, and `extra` keys for its backend.
pub(crate) async fn rig_with(preset: &str, extra: &str) -> Rig {
    Rig::start("codex:gpt-5.5", |upstream, scratch, marker| {
        let home = scratch.join("codex-home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join("config.toml"),
            format!(
                r#"model_provider = "mock"
[model_providers.mock]
name = "mock upstream"
base_url = "{upstream}/v1"
env_key = "MOCK_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
[analytics]
enabled = false
"#
            ),
        )
        .unwrap();
        format!(
            r#"use = ["{preset}"]
[backends.codex]
command = {command}
extra_args = ["--disable", "plugins"]
env = {{ CODEX_HOME = {home}, MOCK_API_KEY = "sk-e2e-dummy", E2E_MARKER = {marker} }}
{extra}
"#,
            command = quoted(&cli("codex").display().to_string()),
            home = quoted(&home.display().to_string()),
            marker = quoted(marker),
        )
    })
    .await
}

super::shared_scenarios!();

#[tokio::test]
async fn codex_streams_items_as_they_arrive() {
    let rig = rig().await;
    let events = rig.stream("THINK SLOW_STREAM say hello").await;
    assert_eq!(reasoning(&events), REASONING_TEXT);
    let first = |field: &str| chunks_with(&events, &[field])[0].at;
    let gap = first("content") - first("reasoning_content");
    assert!(
        gap >= std::time::Duration::from_millis(900),
        "the reasoning item was held back: {gap:?}"
    );
    super::streamed_slowly(&rig).await;
}

#[tokio::test]
async fn codex_reasoning_and_effort() {
    let rig = rig().await;
    let (status, body) = rig
        .chat(serde_json::json!({
            "reasoning_effort": "high",
            "messages": [{"role": "user", "content": "THINK say hello"}],
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["reasoning_content"],
        REASONING_TEXT
    );
    assert_eq!(
        body["usage"]["completion_tokens_details"]["reasoning_tokens"],
        2
    );
    let sent = rig.mock.last_request("/responses");
    assert_eq!(
        sent.body["reasoning"]["effort"], "high",
        "the effort reached the model API"
    );
}

/// A 4×4 red PNG.
const RED_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGP4z8AARwzEcQCukw/x0F8jngAAAABJRU5ErkJggg==";

#[tokio::test]
async fn codex_sends_the_clients_image_to_the_model() {
    let rig = rig().await;
    let (status, body) = rig
        .chat(serde_json::json!({
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what colour is this?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{RED_PNG}")}},
            ]}],
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = rig.mock.last_request("/responses");
    let parts: Vec<&serde_json::Value> = sent.body["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["content"].as_array())
        .flatten()
        .collect();
    let images: Vec<&str> = parts
        .iter()
        .filter(|p| p["type"] == "input_image")
        .filter_map(|p| p["image_url"].as_str())
        .collect();
    assert_eq!(
        images.len(),
        1,
        "one image reached the model API: {parts:?}"
    );
    assert_eq!(
        images[0],
        format!("data:image/png;base64,{RED_PNG}"),
        "the image arrived unchanged"
    );
    assert!(
        parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .any(|t| t.contains("what colour is this?")),
        "{parts:?}"
    );
}

#[tokio::test]
async fn codex_resumes_its_thread_with_only_the_new_messages_and_images() {
    let rig = rig().await;
    let new_turn = serde_json::json!([
        {"type": "text", "text": "and again"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{RED_PNG}")}},
    ]);
    let sent = super::resume_with(&rig, new_turn, "/responses").await;
    assert!(sent.contains("and again"), "{sent}");
    assert_eq!(sent.matches(RED_PNG).count(), 1, "the new image is sent");
}
