//! A ChatGPT login (`oauth = "chatgpt"`, the Codex CLI's `auth.json`) in
//! front of a local token endpoint and the mock ChatGPT backend, which
//! takes only the current token, an account header and the Codex CLI's
//! instructions: refreshed before the JWT expires and once when refused,
//! by one refresh for twenty waiting requests, written back keeping every
//! other field; and the `codex-fast` preset with the instructions captured
//! from the real pinned Codex CLI, offline.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::{Value, json};

use super::{ask, error_message, header};
use crate::e2e::cli;
use crate::support::Gateway;
use crate::support::mock_upstream::{
    IMAGE_BASE64, MockUpstream, REASONING_TEXT, REPLY_TEXT, chatgpt_instructions,
};
use crate::support::sse::content;

const AUTH_FILE: &str = ".codex/auth.json";
const ACCOUNT: &str = "acct-test-1";
const PROMPT: &str = "You are Codex, the operator's copy of the instructions.";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A JWT (unsigned: only the gateway reads it) expiring in `seconds`.
pub(crate) fn jwt(name: &str, seconds: i64) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = now().saturating_add_signed(seconds);
    let claims = json!({"exp": exp, "sub": name,
        "https://api.openai.com/auth": {"chatgpt_account_id": ACCOUNT}});
    format!("{}.{}.sig", b64(json!({"alg": "RS256"})), b64(claims))
}

/// The Codex CLI's `auth.json`, with fields the gateway must keep.
pub(crate) fn auth_json(access: &str, refresh: &str) -> String {
    json!({
        "OPENAI_API_KEY": null,
        "tokens": {"id_token": "old-id-token", "access_token": access,
                   "refresh_token": refresh, "account_id": ACCOUNT},
        "last_refresh": "2026-01-01T00:00:00Z",
        "agent_identity": {"kept": true}
    })
    .to_string()
}

/// A token endpoint on 127.0.0.1 that answers `refresh-1` with `fresh`.
async fn token_endpoint(fresh: String) -> (String, Arc<AtomicUsize>) {
    let refreshes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&refreshes);
    let token = move |Json(body): Json<Value>| {
        let counted = Arc::clone(&counted);
        let fresh = fresh.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            // Slow enough that concurrent requests find it in flight.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(body["grant_type"], "refresh_token");
            assert_eq!(body["client_id"], "test-client");
            assert_eq!(body["scope"], "openid profile email");
            if body["refresh_token"] != "refresh-1" {
                let error = json!({"error": "invalid_grant",
                                   "error_description": "refresh token reused"});
                return (StatusCode::BAD_REQUEST, Json(error));
            }
            let answer = json!({"access_token": fresh, "refresh_token": "refresh-2",
                                "id_token": "new-id-token"});
            (StatusCode::OK, Json(answer))
        }
    };
    let app = axum::Router::new().route("/oauth/token", axum::routing::post(token));
    let url = format!("{}/oauth/token", crate::support::serve(app).await);
    (url, refreshes)
}

fn config(mock: &MockUpstream, token_url: &str, extra: &str) -> String {
    backend_config(
        mock,
        &format!("instructions_file = \"~/codex-prompt.md\"\n{extra}"),
        token_url,
    )
}

/// A ChatGPT backend `chatgpt` in front of `mock` with `keys`, refreshing
/// at `token_url`, routed as `chatgpt:`.
fn backend_config(mock: &MockUpstream, keys: &str, token_url: &str) -> String {
    format!(
        r#"use = []
[backends.chatgpt]
kind = "http"
dialect = "openai-responses"
url = "{mock}/backend-api/codex"
auth = {{ oauth = "chatgpt", token_url = "{token_url}", client_id = "test-client" }}
default_model = "gpt-5.5"
default_effort = "low"
retries = 0
{keys}

[[routes]]
prefix = "chatgpt:"
backend = "chatgpt"
"#,
        mock = mock.base_url()
    )
}

/// [`backend_config`] with the instructions captured from `codex`.
fn captured_from(mock: &MockUpstream, codex: &std::path::Path) -> String {
    let keys = format!("instructions_from = \"{}\"", codex.display());
    backend_config(mock, &keys, "http://127.0.0.1:9/oauth/token")
}

/// The mock ChatGPT backend taking only `fresh` and [`PROMPT`], and a gateway
/// whose login holds `access` (refreshable with `refresh`).
async fn rig(access: &str, refresh: &str) -> (MockUpstream, Gateway, Arc<AtomicUsize>, String) {
    rig_with(access, refresh, "").await
}

/// [`rig`], with more keys for the backend.
async fn rig_with(
    access: &str,
    refresh: &str,
    extra: &str,
) -> (MockUpstream, Gateway, Arc<AtomicUsize>, String) {
    let fresh = jwt("fresh", 3600);
    let mock = MockUpstream::start().await;
    mock.accept_login_token(&fresh);
    mock.require_codex_instructions(PROMPT);
    let (token_url, refreshes) = token_endpoint(fresh.clone()).await;
    let gw = Gateway::builder(&config(&mock, &token_url, extra))
        .file(AUTH_FILE, &auth_json(access, refresh))
        .file("codex-prompt.md", PROMPT)
        .start();
    (mock, gw, refreshes, fresh)
}

#[tokio::test]
async fn an_expiring_chatgpt_login_is_refreshed_once_for_twenty_requests_and_saved() {
    let (mock, gw, refreshes, fresh) = rig(&jwt("old", 60), "refresh-1").await;
    let requests = (0..20).map(|i| gw.chat(ask("chatgpt:gpt-5.5", &format!("say hello {i}"))));
    for (status, _, body) in futures_util::future::join_all(requests).await {
        assert_eq!(status, 200, "{body}\n{}", gw.logs());
        assert_eq!(body["choices"][0]["message"]["content"], REPLY_TEXT);
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1, "one refresh");
    let calls: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query == "/backend-api/codex/responses")
        .collect();
    assert_eq!(calls.len(), 20, "the expiring token was never sent");
    for call in &calls {
        assert_eq!(
            header(call, "authorization"),
            Some(format!("Bearer {fresh}").as_str())
        );
        assert_eq!(header(call, "chatgpt-account-id"), Some(ACCOUNT));
        assert_eq!(header(call, "originator"), Some("codex_cli_rs"));
        assert!(header(call, "session_id").is_some_and(|s| s.len() >= 32));
        assert_eq!(
            call.body["prompt_cache_key"],
            header(call, "session_id").unwrap()
        );
        assert_eq!(chatgpt_instructions(&call.body).as_deref(), Some(PROMPT));
        assert_eq!(
            call.body["reasoning"],
            json!({"effort": "low", "summary": "auto"})
        );
        assert_eq!(call.body["include"], json!(["reasoning.encrypted_content"]));
    }

    let path = gw.dir.path().join(AUTH_FILE);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["tokens"]["access_token"], fresh.as_str());
    assert_eq!(saved["tokens"]["refresh_token"], "refresh-2");
    assert_eq!(saved["tokens"]["id_token"], "new-id-token");
    assert_eq!(saved["tokens"]["account_id"], ACCOUNT);
    assert_eq!(saved["OPENAI_API_KEY"], Value::Null);
    assert_eq!(saved["agent_identity"], json!({"kept": true}));
    let stamp = saved["last_refresh"].as_str().unwrap();
    let refreshed_at = humantime::parse_rfc3339(stamp).unwrap();
    let age = SystemTime::now().duration_since(refreshed_at).unwrap();
    assert!(age < Duration::from_secs(60), "{stamp}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!gw.logs().contains(&fresh) && !gw.logs().contains("refresh-2"));

    let (code, out, _) = gw.command("doctor", &[]);
    assert!(
        out.contains("(expires in 59 min, account acct-test-1)")
            && out.contains("Codex instructions from"),
        "{code} {out}"
    );
}

#[tokio::test]
async fn a_refused_chatgpt_token_is_refreshed_and_a_stream_still_flows() {
    let (mock, gw, refreshes, fresh) = rig(&jwt("revoked", 7200), "refresh-1").await;
    let events = gw
        .stream_events(json!({"model": "chatgpt:gpt-5.5", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "THINK say hello"}]}))
        .await;
    assert_eq!(content(&events), REPLY_TEXT, "{}", gw.logs());
    assert_eq!(crate::support::sse::reasoning(&events), REASONING_TEXT);
    let usage = events
        .iter()
        .find(|e| e.data != "[DONE]" && e.json()["usage"].is_object())
        .expect("a usage chunk");
    assert_eq!(usage.json()["usage"]["prompt_tokens"], 12);
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    let calls: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query == "/backend-api/codex/responses")
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        header(&calls[1], "authorization"),
        Some(format!("Bearer {fresh}").as_str())
    );
    let input = calls[1].body["input"].as_array().unwrap();
    assert_eq!(
        input[0]["role"], "developer",
        "the client's system text follows the instructions"
    );
    assert_eq!(input[0]["content"][0]["text"], "Be brief.");
    assert_eq!(calls[1].body["instructions"], PROMPT);

    // Settings the ChatGPT backend refuses are named, not sent.
    let (status, headers, body) = gw
        .chat(
            json!({"model": "chatgpt:gpt-5.5", "temperature": 0.3, "max_tokens": 9,
                     "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers["x-agent-cli-ignored-params"],
        "max_tokens,temperature"
    );
    let sent = mock.last_request("/backend-api/codex/responses").body;
    assert!(sent.get("temperature").is_none() && sent.get("max_output_tokens").is_none());
}

#[tokio::test]
async fn a_chatgpt_login_that_cannot_be_refreshed_is_a_502_naming_codex_login() {
    let (mock, gw, _, _) = rig(&jwt("old", -60), "reused-refresh-token").await;
    let (status, _, body) = gw.chat(ask("chatgpt:gpt-5.5", "hi")).await;
    assert_eq!(status, 502, "{body}");
    let message = error_message(&body);
    assert!(
        message.contains(".codex/auth.json could not be refreshed: HTTP 400")
            && message.contains("`codex login`"),
        "{message}"
    );
    assert!(mock.requests().is_empty(), "nothing sent with a dead token");
    let (status, _, _) = gw.chat(ask("chatgpt:gpt-5.5", "hi")).await;
    assert_eq!(status, 502, "still serving, still clear");
}

/// What the real Codex CLI sends as its instructions (and its identity
/// headers), run straight against `mock` as an OpenAI-compatible provider.
async fn codex_sends(mock: &MockUpstream) -> (String, Vec<(String, String)>) {
    let home = tempfile::Builder::new()
        .prefix("codex-direct-")
        .tempdir()
        .unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "model_provider = \"mock\"\n[model_providers.mock]\nname = \"mock\"\n\
             base_url = \"{}/v1\"\nenv_key = \"MOCK_API_KEY\"\nwire_api = \"responses\"\n\
             request_max_retries = 0\nstream_max_retries = 0\n[analytics]\nenabled = false\n",
            mock.base_url()
        ),
    )
    .unwrap();
    let run = tokio::process::Command::new(cli("codex"))
        .args([
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--ephemeral",
            "--disable",
            "plugins",
        ])
        .args(["--model=gpt-5.5", "--", "say hello"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("CODEX_HOME", home.path())
        .env("MOCK_API_KEY", "sk-direct")
        .current_dir(home.path())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent = mock.last_request("/v1/responses");
    let identity = sent
        .headers
        .iter()
        .filter(|(name, _)| matches!(name.as_str(), "originator" | "user-agent" | "version"))
        .cloned()
        .collect();
    (
        chatgpt_instructions(&sent.body).expect("Codex sends instructions"),
        identity,
    )
}

#[tokio::test]
async fn the_codex_fast_preset_serves_with_the_installed_codex_instructions() {
    let mock = MockUpstream::start().await;
    let (instructions, identity) = codex_sends(&mock).await;
    assert!(
        instructions.len() > 1000,
        "the base prompt: {instructions:.200}"
    );
    let token = jwt("current", 3600);
    mock.accept_login_token(&token);
    mock.require_codex_instructions(&instructions);

    let codex_dir = cli("codex").parent().unwrap().display().to_string();
    let path = format!("{codex_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let gw = Gateway::builder("use = [\"codex-fast\"]\n")
        .env("PATH", &path)
        .env(
            "CODEX_CODEX_BASE_URL",
            &format!("{}/backend-api/codex", mock.base_url()),
        )
        .env("OPENAI_BASE_URL", &format!("{}/v1", mock.base_url()))
        .env("OPENAI_API_KEY", "sk-embeddings-key")
        .file(AUTH_FILE, &auth_json(&token, "refresh-1"))
        .start();
    let (status, _, body) = gw.chat(ask("gpt-5.5", "say hello")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(body["choices"][0]["message"]["content"], REPLY_TEXT);
    let sent = mock.last_request("/backend-api/codex/responses");
    for (name, value) in &identity {
        assert_eq!(
            header(&sent, name),
            Some(value.as_str()),
            "{name} as Codex sends it"
        );
    }
    assert_eq!(header(&sent, "chatgpt-account-id"), Some(ACCOUNT));
    assert!(
        gw.logs().contains("captured the instructions of Codex"),
        "{}",
        gw.logs()
    );

    // Kept per Codex version and model, readable by the owner only.
    let cache = gw.dir.path().join(".cache/agent-cli-to-api");
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("codex-0.169.0-gpt-5.5"), "{name}");
    let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Streamed, with the capture reused.
    let events = gw
        .stream_events(json!({"model": "gpt-5.5", "stream": true,
                              "messages": [{"role": "user", "content": "say hello"}]}))
        .await;
    assert_eq!(content(&events), REPLY_TEXT);
    assert_eq!(
        gw.logs()
            .matches("captured the instructions of Codex")
            .count(),
        1
    );
    // A model the backend does not list uses its default model's capture:
    // clients cannot make the gateway run Codex for names they invent.
    let passed_on =
        Gateway::builder("use = [\"codex-fast\"]\n[server]\nallow_client_model_override = true\n")
            .env("PATH", &path)
            .env(
                "CODEX_CODEX_BASE_URL",
                &format!("{}/backend-api/codex", mock.base_url()),
            )
            .file(AUTH_FILE, &auth_json(&token, "refresh-1"))
            .start();
    let (status, _, body) = passed_on.chat(ask("gpt-imaginary-9", "say hello")).await;
    assert_eq!(status, 200, "{body}\n{}", passed_on.logs());
    let sent = mock.last_request("/backend-api/codex/responses");
    assert_eq!(sent.body["model"], "gpt-imaginary-9");
    let kept: Vec<_> = std::fs::read_dir(passed_on.dir.path().join(".cache/agent-cli-to-api"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        kept,
        ["codex-0.169.0-gpt-5.5.json"],
        "the default model's capture"
    );

    // Embeddings go to the preset's OpenAI backend, with the client's model.
    let response = reqwest::Client::new()
        .post(gw.url("/v1/embeddings"))
        .json(&json!({"model": "text-embedding-3-small", "input": "ab"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-agent-cli-backend"],
        "openai-embeddings"
    );
    let sent = mock.last_request("/v1/embeddings");
    assert_eq!(sent.body["model"], "text-embedding-3-small");
    assert_eq!(
        header(&sent, "authorization"),
        Some("Bearer sk-embeddings-key")
    );
}

#[tokio::test]
async fn image_generation_and_web_search_run_as_the_operator_allows() {
    let token = jwt("current", 3600);
    let keys = "image_generation = true\nweb_search = true";
    let (mock, gw, _, _) = rig_with(&token, "refresh-1", keys).await;
    mock.accept_login_token(&token);
    // The client's own image tool: its size, quality and format are used.
    let image_tool = json!({"type": "image_generation", "size": "1024x1024",
                            "quality": "low", "output_format": "webp"});
    let (status, headers, body) = gw
        .chat(json!({"model": "chatgpt:gpt-5.5", "tools": [image_tool],
                     "messages": [{"role": "user", "content": "DRAW_IMAGE a cat"}]}))
        .await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert!(
        headers.get("x-agent-cli-ignored-params").is_none(),
        "{headers:?}"
    );
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    let image = format!("![a fake image (1024x1024, low)](data:image/webp;base64,{IMAGE_BASE64})");
    assert!(
        text.contains(&image) && text.ends_with(REPLY_TEXT),
        "{text}"
    );
    let sent = mock.last_request("/backend-api/codex/responses").body;
    assert_eq!(sent["tools"], json!([image_tool]));

    // Streamed, with the plain tool offered: the image arrives as a delta.
    let events = gw
        .stream_events(json!({"model": "chatgpt:gpt-5.5", "stream": true,
                              "messages": [{"role": "user", "content": "DRAW_IMAGE"}]}))
        .await;
    let streamed = content(&events);
    assert!(
        streamed.contains(&format!("(data:image/png;base64,{IMAGE_BASE64})")),
        "{streamed}"
    );
    let sent = mock.last_request("/backend-api/codex/responses").body;
    assert_eq!(sent["tools"], json!([{"type": "image_generation"}]));

    // Web search, asked the Chat way, with its options.
    let (status, headers, _) = gw
        .chat(json!({"model": "chatgpt:gpt-5.5",
                     "web_search_options": {"search_context_size": "low"},
                     "messages": [{"role": "user", "content": "news?"}]}))
        .await;
    assert_eq!(status, 200);
    assert!(
        headers.get("x-agent-cli-ignored-params").is_none(),
        "{headers:?}"
    );
    let sent = mock.last_request("/backend-api/codex/responses").body;
    assert_eq!(
        sent["tools"],
        json!([{"type": "web_search", "external_web_access": true, "search_context_size": "low"},
               {"type": "image_generation"}])
    );

    // Not allowed: named, not sent.
    let (mock, gw, _, _) = rig_with(&token, "refresh-1", "").await;
    mock.accept_login_token(&token);
    let (status, headers, _) = gw
        .chat(json!({"model": "chatgpt:gpt-5.5", "web_search_options": {},
                     "tools": [{"type": "web_search"}, {"type": "image_generation"}],
                     "messages": [{"role": "user", "content": "DRAW_IMAGE news?"}]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["x-agent-cli-ignored-params"],
        "tools[image_generation],tools[web_search],web_search_options"
    );
    let sent = mock.last_request("/backend-api/codex/responses").body;
    assert_eq!(sent["tools"], json!([]));
}

#[tokio::test]
async fn without_codex_instructions_requests_get_a_502_saying_how_and_codex_is_not_rerun() {
    let scratch = tempfile::tempdir().unwrap();
    let calls = scratch.path().join("calls");
    let broken = scratch.path().join("codex");
    std::fs::write(
        &broken,
        format!("#!/bin/sh\necho \"$@\" >> {}\nexit 1\n", calls.display()),
    )
    .unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mock = MockUpstream::start().await;
    let config = captured_from(&mock, &broken);
    let gw = Gateway::builder(&config)
        .file(AUTH_FILE, &auth_json(&jwt("current", 3600), "refresh-1"))
        .start();
    for _ in 0..3 {
        let (status, _, body) = gw.chat(ask("chatgpt:gpt-5.5", "hi")).await;
        assert_eq!(status, 502, "{body}");
        let message = error_message(&body);
        assert!(
            message.contains("could not be captured") && message.contains("instructions_file"),
            "{message}"
        );
    }
    let runs = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "one run, then the failure is remembered: {runs}"
    );
    assert!(mock.requests().is_empty());

    // A Codex that runs but fails says why, in its own words.
    std::fs::write(
        &broken,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'codex-cli 9.9.9'; exit 0; fi\n\
         echo 'error: this Codex cannot start' >&2\nexit 2\n",
    )
    .unwrap();
    let gw = Gateway::builder(&config)
        .file(AUTH_FILE, &auth_json(&jwt("current", 3600), "refresh-1"))
        .start();
    let (status, _, body) = gw.chat(ask("chatgpt:gpt-5.5", "hi")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        error_message(&body).contains("Codex ended (exit status: 2) without sending a request")
            && error_message(&body).contains("this Codex cannot start"),
        "{body}"
    );
}

#[tokio::test]
async fn a_login_made_after_start_is_used_without_a_reload() {
    let token = jwt("current", 3600);
    let mock = MockUpstream::start().await;
    mock.accept_login_token(&token);
    let gw = Gateway::builder(&config(&mock, "http://127.0.0.1:9/oauth/token", ""))
        .file("codex-prompt.md", PROMPT)
        .start();
    let (status, _, body) = gw.chat(ask("chatgpt:gpt-5.5", "hi")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        error_message(&body).contains("no login at")
            && error_message(&body).contains("`codex login`"),
        "{body}"
    );
    let (_, out, _) = gw.command("check", &[]);
    assert!(out.contains("NO LOGIN YET"), "{out}");

    std::fs::create_dir_all(gw.dir.path().join(".codex")).unwrap();
    std::fs::write(
        gw.dir.path().join(AUTH_FILE),
        auth_json(&token, "refresh-1"),
    )
    .unwrap();
    let (status, _, body) = gw.chat(ask("chatgpt:gpt-5.5", "hi")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert!(!gw.logs().contains("config reloaded"), "{}", gw.logs());
}

#[tokio::test]
async fn a_token_refused_again_right_after_a_refresh_is_not_refreshed_again() {
    let (mock, gw, refreshes, _) = rig(&jwt("old", 7200), "refresh-1").await;
    mock.accept_login_token("a-token-this-login-never-gets");
    for _ in 0..3 {
        let (status, _, body) = gw.chat(ask("chatgpt:gpt-5.5", "hi")).await;
        assert_eq!(status, 401, "the upstream's refusal passes through: {body}");
    }
    assert_eq!(
        refreshes.load(Ordering::SeqCst),
        1,
        "one refresh, not one per request"
    );
}

/// A stand-in for an installed Codex of `version` whose base prompt is
/// `prompt`: it answers `--version`, and otherwise posts a request to the
/// provider its `config.toml` names, as Codex does.
fn fake_codex(path: &std::path::Path, version: &str, prompt: &str) {
    let script = format!(
        r#"#!/usr/bin/env python3
import json, os, re, sys, urllib.request
if sys.argv[1:] == ["--version"]:
    print("codex-cli {version}"); sys.exit(0)
home = os.environ["CODEX_HOME"]
config = open(os.path.join(home, "config.toml")).read()
url = re.search(r'base_url = "([^"]+)"', config).group(1) + "/responses"
var = re.search(r'env_key = "([^"]+)"', config).group(1)
body = json.dumps({{"input": [{{"type": "message", "role": "developer",
    "content": [{{"type": "input_text", "text": "{prompt}"}}]}}], "stream": True}}).encode()
request = urllib.request.Request(url, body, {{"authorization": "Bearer " + os.environ[var],
    "content-type": "application/json", "originator": "codex_exec"}})
try:
    urllib.request.urlopen(request)
except Exception:
    pass
"#
    );
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn an_upgraded_codex_is_captured_again() {
    let scratch = tempfile::tempdir().unwrap();
    let codex = scratch.path().join("codex");
    fake_codex(&codex, "1.0.0", "prompt of version one");
    let token = jwt("current", 3600);
    let mock = MockUpstream::start().await;
    mock.accept_login_token(&token);
    mock.require_codex_instructions("prompt of version one");
    let config = captured_from(&mock, &codex);
    let gw = Gateway::builder(&config)
        .file(AUTH_FILE, &auth_json(&token, "refresh-1"))
        .start();
    let (status, _, body) = gw.chat(ask("chatgpt:gpt-5.5", "hi")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());

    // The operator upgrades Codex while the gateway runs.
    std::thread::sleep(std::time::Duration::from_millis(20));
    fake_codex(&codex, "2.0.0", "prompt of version two");
    mock.require_codex_instructions("prompt of version two");
    let (status, _, body) = gw.chat(ask("chatgpt:gpt-5.5", "hi")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    let cache = gw.dir.path().join(".cache/agent-cli-to-api");
    let mut kept: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        ["codex-1.0.0-gpt-5.5.json", "codex-2.0.0-gpt-5.5.json"]
    );
}
