//! A Google login (`oauth = "google"`, the Gemini CLI's `oauth_creds.json`)
//! in front of a local token endpoint and the mock Code Assist: the
//! `gemini-cloudcode` preset refreshes the token with the OAuth client read
//! from the installed Gemini CLI (one refresh for concurrent requests,
//! written back keeping every other field), finds the project once
//! (`GEMINI_PROJECT_ID`, the login's file, else `loadCodeAssist`), and
//! wraps requests and unwraps answers, tools and reasoning included.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::{Form, Json};
use serde_json::{Value, json};

use super::{ask, error_message, header};
use crate::support::mock_upstream::{
    CODE_ASSIST_PROJECT, MockUpstream, REASONING_TEXT, REPLY_TEXT, TOOL_COMMAND,
};
use crate::support::sse::{content, reasoning};
use crate::support::{Gateway, GatewayBuilder};

const CREDS: &str = ".gemini/oauth_creds.json";
const FRESH: &str = "google-fresh-token";

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The Gemini CLI's `oauth_creds.json`, expiring in `seconds`, with
/// fields the gateway must keep (and `extra` merged in).
fn creds(access: &str, seconds: i64, extra: Value) -> String {
    let mut creds = json!({"access_token": access, "refresh_token": "refresh-1",
        "expiry_date": now_ms().saturating_add_signed(seconds * 1000),
        "scope": "https://www.googleapis.com/auth/cloud-platform", "token_type": "Bearer",
        "id_token": "kept-id-token"});
    for (key, value) in extra.as_object().into_iter().flatten() {
        creds[key] = value.clone();
    }
    creds.to_string()
}

/// A Gemini CLI installed in a scratch directory, as npm lays it out: an
/// entry point linked from `bin/`, and a script holding its OAuth client.
fn gemini_cli() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("lib/gemini-cli/bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let entry = bundle.join("gemini.js");
    std::fs::write(&entry, "#!/usr/bin/env node\nimport './chunk-TEST.js';\n").unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        bundle.join("chunk-TEST.js"),
        "var OAUTH_CLIENT_ID = \"test-google-client.apps.googleusercontent.com\";\n\
         var OAUTH_CLIENT_SECRET = \"test-google-secret\";\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    let link = dir.path().join("bin/gemini");
    std::os::unix::fs::symlink(&entry, &link).unwrap();
    (dir, link.display().to_string())
}

/// A Google token endpoint on 127.0.0.1, taking forms as Google does.
async fn token_endpoint() -> (String, Arc<AtomicUsize>) {
    let refreshes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&refreshes);
    let token = move |headers: HeaderMap, Form(form): Form<Vec<(String, String)>>| {
        let counted = Arc::clone(&counted);
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let field = |name: &str| {
                form.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            assert!(
                header_of(&headers, "content-type")
                    .starts_with("application/x-www-form-urlencoded")
            );
            assert_eq!(field("grant_type"), "refresh_token");
            assert_eq!(
                field("client_id"),
                "test-google-client.apps.googleusercontent.com"
            );
            assert_eq!(field("client_secret"), "test-google-secret");
            if field("refresh_token") != "refresh-1" {
                let error = json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."});
                return (StatusCode::BAD_REQUEST, Json(error));
            }
            let answer = json!({"access_token": FRESH, "expires_in": 3599, "token_type": "Bearer",
                                "scope": "https://www.googleapis.com/auth/cloud-platform"});
            (StatusCode::OK, Json(answer))
        }
    };
    let app = axum::Router::new().route("/token", axum::routing::post(token));
    let url = format!("{}/token", crate::support::serve(app).await);
    (url, refreshes)
}

fn header_of(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The `gemini-cloudcode` preset in front of `mock`, refreshing at
/// `token_url` with the client of the Gemini CLI at `gemini`.
fn preset(mock: &MockUpstream, token_url: &str, gemini: &str) -> GatewayBuilder {
    let config = format!(
        "use = [\"gemini-cloudcode\"]\n[backends.gemini]\n\
         auth = {{ oauth = \"google\", token_url = \"{token_url}\" }}\nretries = 0\n"
    );
    Gateway::builder(&config)
        .env("GEMINI_CLOUDCODE_BASE_URL", &mock.base_url())
        .env("GEMINI_BIN", gemini)
}

fn code_assist_calls(
    mock: &MockUpstream,
    action: &str,
) -> Vec<crate::support::mock_upstream::RecordedRequest> {
    mock.requests()
        .into_iter()
        .filter(|r| {
            r.path_and_query
                .starts_with(&format!("/v1internal:{action}"))
        })
        .collect()
}

#[tokio::test]
async fn an_expiring_google_login_is_refreshed_once_and_the_project_found_once() {
    let (_cli, gemini) = gemini_cli();
    let mock = MockUpstream::start().await;
    mock.accept_login_token(FRESH);
    let (token_url, refreshes) = token_endpoint().await;
    let gw = preset(&mock, &token_url, &gemini)
        .file(CREDS, &creds("old-google-token", 30, json!({})))
        .start();
    let requests =
        (0..10).map(|i| gw.chat(ask("gemini-3-flash-preview", &format!("say hello {i}"))));
    for (status, _, body) in futures_util::future::join_all(requests).await {
        assert_eq!(status, 200, "{body}\n{}", gw.logs());
        assert_eq!(body["choices"][0]["message"]["content"], REPLY_TEXT);
        assert_eq!(body["usage"]["total_tokens"], 17);
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1, "one refresh");
    assert_eq!(
        code_assist_calls(&mock, "loadCodeAssist").len(),
        1,
        "the project is asked once"
    );
    let calls = code_assist_calls(&mock, "generateContent");
    assert_eq!(calls.len(), 10);
    for call in &calls {
        assert_eq!(
            header(call, "authorization"),
            Some(format!("Bearer {FRESH}").as_str())
        );
        assert_eq!(call.body["project"], CODE_ASSIST_PROJECT);
        assert_eq!(call.body["model"], "gemini-3-flash-preview");
        assert!(call.body["request"]["contents"].is_array(), "{}", call.body);
    }

    let path = gw.dir.path().join(CREDS);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["access_token"], FRESH);
    assert_eq!(
        saved["refresh_token"], "refresh-1",
        "kept: Google sent none"
    );
    assert_eq!(saved["id_token"], "kept-id-token");
    let left = saved["expiry_date"]
        .as_u64()
        .unwrap()
        .saturating_sub(now_ms())
        / 1000;
    assert!((3500..=3599).contains(&left), "{left}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!gw.logs().contains(FRESH) && !gw.logs().contains("test-google-secret"));
    assert!(
        gw.logs()
            .contains("Code Assist project: mock-code-assist-project"),
        "{}",
        gw.logs()
    );

    let (_, out, _) = gw.command("doctor", &[("GEMINI_BIN", gemini.as_str())]);
    assert!(
        out.contains("login from") && out.contains("(expires in 59 min"),
        "{out}"
    );
}

#[tokio::test]
async fn a_named_project_is_used_and_tools_and_reasoning_go_through_code_assist() {
    let (_cli, gemini) = gemini_cli();
    let mock = MockUpstream::start().await;
    let (token_url, refreshes) = token_endpoint().await;
    let gw = preset(&mock, &token_url, &gemini)
        .env("GEMINI_PROJECT_ID", "my-project")
        .file(
            CREDS,
            &creds("current-token", 3600, json!({"project_id": "file-project"})),
        )
        .start();
    let events = gw
        .stream_events(json!({"model": "gemini-3-flash-preview", "stream": true,
                              "messages": [{"role": "user", "content": "THINK say hello"}]}))
        .await;
    assert_eq!(content(&events), REPLY_TEXT, "{}", gw.logs());
    assert_eq!(reasoning(&events), REASONING_TEXT);
    let tools = json!([{"type": "function", "function": {"name": "run_shell_command",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}]);
    let (status, _, body) = gw
        .chat(json!({"model": "gemini-3-flash-preview", "tools": tools,
                     "messages": [{"role": "user", "content": "USE_TOOL"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "run_shell_command");
    assert!(
        call["function"]["arguments"]
            .as_str()
            .unwrap()
            .contains(TOOL_COMMAND),
        "{call}"
    );
    assert_eq!(refreshes.load(Ordering::SeqCst), 0);
    assert!(code_assist_calls(&mock, "loadCodeAssist").is_empty());
    let streamed = mock.last_request("/v1internal:streamGenerateContent");
    assert_eq!(
        streamed.path_and_query,
        "/v1internal:streamGenerateContent?alt=sse"
    );
    assert_eq!(streamed.body["project"], "my-project");
    let sent = mock.last_request("/v1internal:generateContent");
    let declared = &sent.body["request"]["tools"][0]["functionDeclarations"][0];
    assert_eq!(
        declared["name"], "run_shell_command",
        "tools are sent: {}",
        sent.body
    );

    // Without the variable, the login file's project.
    let gw = preset(&mock, &token_url, &gemini)
        .file(
            CREDS,
            &creds("current-token", 3600, json!({"project_id": "file-project"})),
        )
        .start();
    let (status, _, body) = gw.chat(ask("gemini-3-flash-preview", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        mock.last_request("/v1internal:generateContent").body["project"],
        "file-project"
    );
    let (_, out, _) = gw.command("doctor", &[("GEMINI_BIN", gemini.as_str())]);
    assert!(
        out.contains("the Code Assist project: file-project (from the login's file)"),
        "{out}"
    );
}

#[tokio::test]
async fn a_google_login_without_an_oauth_client_is_a_502_saying_what_to_set() {
    let mock = MockUpstream::start().await;
    let (token_url, refreshes) = token_endpoint().await;
    let gw = preset(&mock, &token_url, "/nonexistent/gemini").start();
    let (status, _, body) = gw.chat(ask("gemini-3-flash-preview", "hi")).await;
    assert_eq!(status, 502, "{body}");
    assert!(error_message(&body).contains("no login at"), "{body}");
    drop(gw);

    let gw = preset(&mock, &token_url, "/nonexistent/gemini")
        .file(CREDS, &creds("expired", -60, json!({})))
        .start();
    let (status, _, body) = gw.chat(ask("gemini-3-flash-preview", "hi")).await;
    assert_eq!(status, 502, "{body}");
    let message = error_message(&body);
    assert!(
        message.contains("could not be refreshed")
            && message.contains("GEMINI_OAUTH_CLIENT_ID and GEMINI_OAUTH_CLIENT_SECRET"),
        "{message}"
    );
    assert_eq!(refreshes.load(Ordering::SeqCst), 0);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn a_failed_project_discovery_is_clear_and_not_asked_again_at_once() {
    let (_cli, gemini) = gemini_cli();
    let mock = MockUpstream::start().await;
    mock.accept_login_token("a-token-this-login-does-not-have");
    let (token_url, _) = token_endpoint().await;
    let gw = preset(&mock, &token_url, &gemini)
        .file(CREDS, &creds("current-token", 3600, json!({})))
        .start();
    for _ in 0..3 {
        let (status, _, body) = gw.chat(ask("gemini-3-flash-preview", "hi")).await;
        assert_eq!(status, 502, "{body}");
        let message = error_message(&body);
        assert!(
            message.contains("no Code Assist project: loadCodeAssist answered HTTP 401")
                && message.contains("GEMINI_PROJECT_ID"),
            "{message}"
        );
    }
    assert_eq!(code_assist_calls(&mock, "loadCodeAssist").len(), 1);
}
