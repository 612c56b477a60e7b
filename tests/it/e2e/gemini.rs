//! Gemini CLI 0.61.0 (`gemini -o stream-json`) against the mock Gemini API.
//! Gemini CLI never prints thoughts, so reasoning cannot reach the client.

use super::{Rig, cli, quoted};
use crate::support::mock_upstream::REPLY_TEXT;
use crate::support::sse::{content, reasoning};

async fn rig() -> Rig {
    rig_with("gemini", "").await
}

/// The rig with preset `preset`, and `extra` keys for its backend.
pub(crate) async fn rig_with(preset: &str, extra: &str) -> Rig {
    Rig::start("gemini:gemini-2.5-flash", |upstream, scratch, marker| {
        let home = scratch.join("gemini-home");
        std::fs::create_dir_all(home.join(".gemini")).unwrap();
        std::fs::write(
            home.join(".gemini/settings.json"),
            r#"{"security":{"auth":{"selectedType":"gemini-api-key"}},
 "privacy":{"usageStatisticsEnabled":false},"telemetry":{"enabled":false},
 "general":{"enableAutoUpdate":false,"enableAutoUpdateNotification":false,"maxAttempts":1}}"#,
        )
        .unwrap();
        format!(
            r#"use = ["{preset}"]
[backends.gemini]
command = {command}
env = {{ GOOGLE_GEMINI_BASE_URL = {upstream}, GEMINI_API_KEY = "e2e-dummy-key", GEMINI_CLI_HOME = {home}, TMPDIR = {tmp}, E2E_MARKER = {marker} }}
{extra}
"#,
            command = quoted(&cli("gemini").display().to_string()),
            upstream = quoted(upstream),
            home = quoted(&home.display().to_string()),
            tmp = quoted(&scratch.display().to_string()),
            marker = quoted(marker),
        )
    })
    .await
}

super::shared_scenarios!();

#[tokio::test]
async fn gemini_streams_deltas_as_they_arrive() {
    super::deltas_arrive_incrementally(&rig().await).await;
}

#[tokio::test]
async fn gemini_answers_reasoning_prompts_without_thoughts() {
    let rig = rig().await;
    let events = rig.stream("THINK say hello").await;
    assert_eq!(content(&events), REPLY_TEXT);
    assert_eq!(
        reasoning(&events),
        "",
        "Gemini CLI drops thought parts; nothing may be invented"
    );
    let sent = rig.mock.last_request(":streamGenerateContent");
    assert!(
        sent.body.to_string().contains("THINK"),
        "the upstream was asked to think, so it sent a thought part"
    );
}
