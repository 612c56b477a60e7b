//! The real agent CLIs as clients of the gateway: Claude Code pointed at
//! `/v1/messages` (`ANTHROPIC_BASE_URL`), Codex with the gateway as its
//! model provider (`/v1/responses`) and the Gemini CLI pointed at
//! `/v1beta` (`GOOGLE_GEMINI_BASE_URL`), each running its own shell tool on
//! answers the gateway gets from other backends.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use super::cli;
use crate::support::Gateway;
use crate::support::every_backend;
use crate::support::mock_upstream::TOOL_RESULT_REPLY;

const TOKEN: &str = "clients-e2e-token-0123456789";

/// How long one CLI run may take.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// Runs `command` in `dir` with nothing of the caller's environment but
/// `PATH` (and `HOME` = `dir`) plus what the caller set, within
/// [`RUN_LIMIT`]; returns its stdout, or panics with its output and the
/// gateway's logs when it fails.
async fn run_client(gw: &Gateway, dir: &Path, name: &str, mut command: Command) -> String {
    let output = command
        .current_dir(dir)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_LIMIT, output)
        .await
        .unwrap_or_else(|_| panic!("{name} ran over {RUN_LIMIT:?}\n{}", gw.logs()))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name} failed\n--- stdout\n{stdout}\n--- stderr\n{}\n--- gateway\n{}",
        String::from_utf8_lossy(&output.stderr),
        gw.logs()
    );
    stdout
}

/// `stdout`'s JSON lines (others skipped).
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect()
}

/// A command with an empty environment.
fn bare(program: std::path::PathBuf) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    command
}

/// Runs `claude -p PROMPT --model MODEL --output-format json` against the
/// gateway with only `echo` allowed, in `dir`; returns its result object.
async fn claude_code(gw: &Gateway, dir: &Path, model: &str, prompt: &str) -> Value {
    let mut command = bare(cli("claude"));
    command
        .args(["-p", prompt, "--model", model, "--output-format", "json"])
        .args(["--allowedTools", "Bash(echo:*)"])
        .env("CLAUDE_CONFIG_DIR", dir.join("claude-config"))
        .env("ANTHROPIC_BASE_URL", gw.url(""))
        .env("ANTHROPIC_API_KEY", TOKEN)
        // Its side requests (titles, quick checks) go to the same model.
        .env("ANTHROPIC_SMALL_FAST_MODEL", model)
        .env("ANTHROPIC_DEFAULT_HAIKU_MODEL", model)
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1");
    let stdout = run_client(gw, dir, "claude", command).await;
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("claude's output is not JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn claude_code_runs_on_a_cli_backend_and_its_bash_tool_on_http_backends() {
    let (mock, gw) = every_backend::start(&format!("token = \"{TOKEN}\"")).await;
    let dir = tempfile::tempdir().unwrap();
    // A plain turn answered by a CLI (the fake one echoes its prompt).
    let result = claude_code(&gw, dir.path(), "fake:fake-1", "say hi to the gateway").await;
    assert_eq!(result["is_error"], false, "{result}");
    let text = result["result"].as_str().unwrap();
    assert!(text.contains("say hi to the gateway"), "{result}");

    // A tool turn: the upstream asks for Bash `echo tool-ok`, Claude Code
    // runs it and sends the result back, the upstream reads it.
    for model in ["anthropic:claude-test", "responses:gpt-test"] {
        let result = claude_code(&gw, dir.path(), model, "USE_TOOL please").await;
        assert_eq!(result["result"], TOOL_RESULT_REPLY, "{model}: {result}");
        assert!(result["num_turns"].as_u64().unwrap() >= 2, "{result}");
    }
    let sent_back = |path: &str, kind: &str| {
        mock.requests().iter().any(|r| {
            r.path_and_query.contains(path)
                && r.body.to_string().contains(kind)
                && r.body.to_string().contains("tool-ok")
        })
    };
    assert!(
        sent_back("/v1/messages", "\"tool_result\"")
            && sent_back("/v1/responses", "\"function_call_output\""),
        "each upstream got the tool's output back"
    );
}

/// Runs `codex exec --json PROMPT --model MODEL` with the gateway as its
/// model provider, in `dir`; returns its JSON lines.
async fn codex(gw: &Gateway, dir: &Path, model: &str, prompt: &str) -> Vec<Value> {
    let home = dir.join("codex-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!(
            r#"model_provider = "gateway"
[model_providers.gateway]
name = "agent-cli-to-api"
base_url = "{}"
env_key = "GATEWAY_TOKEN"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
[analytics]
enabled = false
"#,
            gw.url("/v1")
        ),
    )
    .unwrap();
    let mut command = bare(cli("codex"));
    command
        .args([
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--color",
            "never",
        ])
        .args([
            "--dangerously-bypass-approvals-and-sandbox",
            "--disable",
            "plugins",
        ])
        .args(["--model", model, prompt])
        .env("CODEX_HOME", &home)
        .env("GATEWAY_TOKEN", TOKEN);
    json_lines(&run_client(gw, dir, "codex", command).await)
}

#[tokio::test]
async fn codex_runs_its_shell_tool_on_answers_from_other_dialects() {
    let (mock, gw) = every_backend::start(&format!("token = \"{TOKEN}\"")).await;
    let dir = tempfile::tempdir().unwrap();
    // Chat Completions behind a Responses client.
    let lines = codex(&gw, dir.path(), "chat:gpt-test", "USE_TOOL please").await;
    let items: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "item.completed")
        .map(|l| &l["item"])
        .collect();
    let ran = items
        .iter()
        .find(|i| i["type"] == "command_execution")
        .unwrap_or_else(|| panic!("codex ran no command: {lines:?}"));
    assert!(
        ran["command"].as_str().unwrap().contains("echo tool-ok"),
        "{ran}"
    );
    assert!(
        ran["aggregated_output"]
            .as_str()
            .unwrap()
            .contains("tool-ok"),
        "{ran}"
    );
    let said = items
        .iter()
        .rfind(|i| i["type"] == "agent_message")
        .unwrap_or_else(|| panic!("no answer: {lines:?}"));
    assert_eq!(said["text"], TOOL_RESULT_REPLY);
    let sent = mock.last_request("/v1/chat/completions");
    let tool = sent.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .cloned()
        .unwrap_or_else(|| panic!("the tool output went back: {}", sent.body));
    assert!(tool["content"].to_string().contains("tool-ok"), "{tool}");
    // A plain turn answered by a CLI backend.
    let lines = codex(&gw, dir.path(), "fake:fake-1", "say hi to the gateway").await;
    let said = lines
        .iter()
        .rfind(|l| l["type"] == "item.completed" && l["item"]["type"] == "agent_message")
        .unwrap_or_else(|| panic!("no answer: {lines:?}"));
    assert!(
        said["item"]["text"]
            .as_str()
            .unwrap()
            .contains("say hi to the gateway")
    );
}

/// Runs `gemini -p PROMPT -m MODEL -o stream-json --yolo` against the
/// gateway, in `dir`; returns its JSON lines.
async fn gemini_cli(gw: &Gateway, dir: &Path, model: &str, prompt: &str) -> Vec<Value> {
    let home = dir.join("gemini-home");
    std::fs::create_dir_all(home.join(".gemini")).unwrap();
    std::fs::write(
        home.join(".gemini/settings.json"),
        r#"{"security":{"auth":{"selectedType":"gemini-api-key"}},
 "privacy":{"usageStatisticsEnabled":false},"telemetry":{"enabled":false},
 "general":{"enableAutoUpdate":false,"enableAutoUpdateNotification":false,"maxAttempts":1}}"#,
    )
    .unwrap();
    let mut command = bare(cli("gemini"));
    command
        .args(["--skip-trust", "--yolo", "-o", "stream-json"])
        .args(["-m", model, "-p", prompt])
        .env("GEMINI_CLI_HOME", &home)
        .env("GEMINI_CLI_NO_RELAUNCH", "true")
        .env("GOOGLE_GEMINI_BASE_URL", gw.url(""))
        .env("GEMINI_API_KEY", TOKEN)
        .env("TMPDIR", dir);
    json_lines(&run_client(gw, dir, "gemini", command).await)
}

/// The assistant's text in Gemini CLI's stream-json lines.
fn gemini_said(lines: &[Value]) -> String {
    lines
        .iter()
        .filter(|l| l["type"] == "message" && l["role"] == "assistant")
        .filter_map(|l| l["content"].as_str())
        .collect()
}

#[tokio::test]
async fn gemini_cli_runs_its_shell_tool_on_answers_from_another_dialect() {
    let (_mock, gw) = every_backend::start(&format!("token = \"{TOKEN}\"")).await;
    let dir = tempfile::tempdir().unwrap();
    // Chat Completions behind a Gemini client.
    let lines = gemini_cli(&gw, dir.path(), "chat:gpt-test", "USE_TOOL please").await;
    let used = lines
        .iter()
        .find(|l| l["type"] == "tool_use")
        .unwrap_or_else(|| panic!("no tool call: {lines:?}"));
    assert_eq!(used["tool_name"], "run_shell_command", "{used}");
    let result = lines
        .iter()
        .find(|l| l["type"] == "tool_result")
        .unwrap_or_else(|| panic!("no tool result: {lines:?}"));
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(gemini_said(&lines), TOOL_RESULT_REPLY, "{lines:?}");
    // A plain turn answered by a CLI backend.
    let lines = gemini_cli(&gw, dir.path(), "fake:fake-1", "say hi to the gateway").await;
    assert!(
        gemini_said(&lines).contains("say hi to the gateway"),
        "{lines:?}"
    );
}
