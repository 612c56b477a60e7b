//! Captures the installed Codex CLI's prompt: runs `codex exec` once,
//! offline, with a provider that points at a loopback listener of the
//! gateway, and keeps the instructions and identity headers of the request
//! it sends (the listener then refuses it, and the run is ended). The
//! listener takes only a request that carries a one-time key given to that
//! Codex run. Results are cached per Codex version and model, in files of
//! mode 0600.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::dialect::openai_responses::codex::{CodexPrompt, from_request};

/// The longest a capture may take (Node start-up, Codex start-up, one request).
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest `codex --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(15);
/// The variable the one-time key is given to Codex in.
const KEY_VAR: &str = "AGENT_CLI_TO_API_CAPTURE_KEY";

/// The prompt of `command` for `model`: from the cache when this Codex
/// version's is there, else captured (and cached).
pub(super) async fn prompt(
    command: &str,
    model: &str,
    cache: Option<&Path>,
) -> Result<CodexPrompt, String> {
    let version = version(command).await?;
    let cached = cache.map(|dir| dir.join(format!("codex-{version}-{model}.json")));
    if let Some(prompt) = cached.as_deref().and_then(read_cached) {
        return Ok(prompt);
    }
    let prompt = capture(command, model, &version).await?;
    if let Some(path) = &cached {
        match write_cached(path, &prompt) {
            Ok(()) => tracing::info!(
                "captured the instructions of Codex {version} for {model}; kept in {}",
                path.display()
            ),
            Err(e) => tracing::warn!(
                "cannot keep the Codex instructions in {}: {e}",
                path.display()
            ),
        }
    }
    Ok(prompt)
}

/// The `x.y.z` that `codex --version` prints.
async fn version(command: &str) -> Result<String, String> {
    let run = tokio::process::Command::new(command)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(VERSION_TIMEOUT, run)
        .await
        .map_err(|_| format!("`{command} --version` did not answer"))?
        .map_err(|e| format!("cannot run it ({e})"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find(|word| {
            word.split('.').count() >= 3
                && word
                    .split('.')
                    .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "`{command} --version` printed no version ({:?})",
                text.trim()
            )
        })
}

/// Runs Codex against the listener and returns what it sent.
async fn capture(command: &str, model: &str, version: &str) -> Result<CodexPrompt, String> {
    let home = tempfile::Builder::new()
        .prefix("codex-capture-")
        .tempdir()
        .map_err(|e| format!("no scratch directory: {e}"))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| format!("no loopback port: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("no loopback port: {e}"))?
        .port();
    let key = uuid::Uuid::new_v4().simple().to_string();
    let config = format!(
        "model = {model:?}\nmodel_provider = \"gateway\"\n\n\
         [model_providers.gateway]\nname = \"agent-cli-to-api capture\"\n\
         base_url = \"http://127.0.0.1:{port}/v1\"\nenv_key = \"{KEY_VAR}\"\n\
         wire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n\n\
         [analytics]\nenabled = false\n"
    );
    std::fs::write(home.path().join("config.toml"), config)
        .map_err(|e| format!("cannot write Codex's config: {e}"))?;

    let (sent, mut received) = tokio::sync::mpsc::channel::<(Vec<(String, String)>, Value)>(1);
    let expected = format!("Bearer {key}");
    let app = axum::Router::new()
        .fallback(move |headers: HeaderMap, body: bytes::Bytes| {
            let sent = sent.clone();
            let expected = expected.clone();
            async move {
                let authorized = headers
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes() == expected.as_bytes());
                if let (true, Ok(body)) = (authorized, serde_json::from_slice::<Value>(&body)) {
                    let pairs = headers
                        .iter()
                        .filter_map(|(n, v)| {
                            Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned()))
                        })
                        .collect();
                    let _ = sent.try_send((pairs, body));
                }
                let refusal = json!({"error": {"type": "invalid_request_error",
                    "message": "agent-cli-to-api captured this request; it is not answered"}});
                (StatusCode::BAD_REQUEST, axum::Json(refusal))
            }
        })
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut codex = tokio::process::Command::new(command);
    codex
        .args(["exec", "--json", "--skip-git-repo-check", "--ephemeral"])
        .args(["--disable", "plugins", "--sandbox", "read-only"])
        .arg(format!("--model={model}"))
        .args(["--", "Say hello."])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("CODEX_HOME", home.path())
        .env(KEY_VAR, &key)
        .current_dir(home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = codex.spawn().map_err(|e| format!("cannot run it ({e})"))?;
    let group = child.id();
    // Read as it comes, so a chatty Codex never blocks on a full pipe.
    let stderr = child.stderr.take().map(|mut err| {
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let mut kept = Vec::new();
            let mut buffer = [0u8; 4096];
            while let Ok(n) = err.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                if kept.len() < 2000 {
                    kept.extend_from_slice(&buffer[..n]);
                }
            }
            String::from_utf8_lossy(&kept)
                .chars()
                .take(500)
                .collect::<String>()
        })
    });
    let outcome = tokio::select! {
        got = received.recv() => got.ok_or_else(|| "the capture listener stopped".to_owned()),
        status = child.wait() => {
            let said = match stderr {
                Some(task) => tokio::time::timeout(Duration::from_secs(1), task)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default(),
                None => String::new(),
            };
            Err(format!("Codex ended ({}) without sending a request: {}",
                status.map_or_else(|e| e.to_string(), |s| s.to_string()), said.trim()))
        }
        () = tokio::time::sleep(CAPTURE_TIMEOUT) => Err(format!("Codex sent no request within {}s", CAPTURE_TIMEOUT.as_secs())),
    };
    if let Some(group) = group.and_then(|pid| i32::try_from(pid).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(group),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.wait().await;
    server.abort();
    let (headers, body) = outcome?;
    from_request(&body, &headers)
        .map_err(|why| format!("Codex {version} sent a request, but {why}"))
}

fn read_cached(path: &Path) -> Option<CodexPrompt> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Keeps `prompt` at `path`, as the credentials files are kept.
fn write_cached(path: &Path, prompt: &CodexPrompt) -> std::io::Result<()> {
    let json = serde_json::to_value(prompt).map_err(std::io::Error::other)?;
    super::super::write_private(path, &json)
}
