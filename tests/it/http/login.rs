//! A Claude subscription login (`oauth = "anthropic"`) in front of a local
//! token endpoint and a local Messages API that accepts only the current
//! token: refreshed before it expires and once when refused, by one refresh
//! however many requests wait, written back with every other field kept
//! and mode 0600; a failed refresh is a 502 saying how to log in again;
//! subscription requests carry the shape Anthropic requires of them.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{ask, error_message};
use crate::support::Gateway;

/// The token the token endpoint gives, which the Messages API accepts.
const FRESH: &str = "fresh-access-token";

/// A token endpoint and a Messages API on 127.0.0.1.
struct Provider {
    url: String,
    refreshes: Arc<AtomicUsize>,
    /// The `(authorization, anthropic-beta, first system text)` of each call.
    calls: Arc<Mutex<Vec<(String, String, String)>>>,
}

async fn provider(refresh_works: bool) -> Provider {
    let refreshes = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let counted = Arc::clone(&refreshes);
    let seen = Arc::clone(&calls);
    let token = move |Json(body): Json<Value>| {
        let counted = Arc::clone(&counted);
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            // Slow enough that concurrent requests find it in flight.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(body["grant_type"], "refresh_token");
            assert_eq!(body["client_id"], "test-client");
            if !refresh_works || body["refresh_token"] != "refresh-1" {
                let error =
                    json!({"error": "invalid_grant", "error_description": "refresh token revoked"});
                return (StatusCode::BAD_REQUEST, Json(error));
            }
            let fresh = json!({"access_token": FRESH, "refresh_token": "refresh-2",
                               "expires_in": 3600, "token_type": "Bearer"});
            (StatusCode::OK, Json(fresh))
        }
    };
    let messages = move |headers: HeaderMap, Json(body): Json<Value>| {
        let seen = Arc::clone(&seen);
        async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let auth = header("authorization");
            let system = body["system"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            seen.lock()
                .unwrap()
                .push((auth.clone(), header("anthropic-beta"), system));
            let known = [
                format!("Bearer {FRESH}"),
                "Bearer env-token".into(),
                "Bearer third-party".into(),
            ];
            if !known.contains(&auth) {
                let error = json!({"type": "error", "error": {"type": "authentication_error",
                                   "message": "OAuth token has expired"}});
                return (StatusCode::UNAUTHORIZED, Json(error));
            }
            let answer = json!({"type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": "hello from claude"}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 2}});
            (StatusCode::OK, Json(answer))
        }
    };
    let app = axum::Router::new()
        .route("/v1/oauth/token", axum::routing::post(token))
        .route("/v1/messages", axum::routing::post(messages));
    let url = crate::support::serve(app).await;
    Provider {
        url,
        refreshes,
        calls,
    }
}

fn config(provider: &Provider) -> String {
    format!(
        r#"use = []
[backends.claude]
kind = "http"
dialect = "anthropic-messages"
url = "{url}"
auth = {{ env = "TEST_CLAUDE_TOKEN", oauth = "anthropic", token_url = "{url}/v1/oauth/token", client_id = "test-client" }}
default_model = "claude-test"
retries = 0

[[routes]]
prefix = "claude:"
backend = "claude"
"#,
        url = provider.url
    )
}

/// Claude Code's credentials file, with fields the gateway must keep.
fn credentials(access: &str, expires_in: i64) -> String {
    let now_ms = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    json!({
        "claudeAiOauth": {"accessToken": access, "refreshToken": "refresh-1",
                          "expiresAt": now_ms + expires_in * 1000,
                          "scopes": ["user:inference"], "subscriptionType": "max"},
        "mcpOAuth": {"kept": true}
    })
    .to_string()
}

const CREDENTIALS: &str = ".claude/.credentials.json";

#[tokio::test]
async fn an_expiring_login_is_refreshed_once_for_twenty_requests_and_saved() {
    let provider = provider(true).await;
    let gw = Gateway::builder(&config(&provider))
        .file(CREDENTIALS, &credentials("old-token", 60))
        .start();
    let requests = (0..20).map(|i| gw.chat(ask("claude:", &format!("hello {i}"))));
    for (status, _, body) in futures_util::future::join_all(requests).await {
        assert_eq!(status, 200, "{body}\n{}", gw.logs());
        assert_eq!(
            body["choices"][0]["message"]["content"],
            "hello from claude"
        );
    }
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1, "one refresh");
    for (auth, beta, system) in provider.calls.lock().unwrap().iter() {
        assert_eq!(
            auth,
            &format!("Bearer {FRESH}"),
            "expiring within 5 min: never sent"
        );
        assert_eq!(beta, "oauth-2025-04-20");
        assert_eq!(
            system,
            "You are Claude Code, Anthropic's official CLI for Claude."
        );
    }
    let path = gw.dir.path().join(CREDENTIALS);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let login = &saved["claudeAiOauth"];
    assert_eq!(login["accessToken"], FRESH);
    assert_eq!(login["refreshToken"], "refresh-2");
    assert_eq!(login["scopes"], json!(["user:inference"]), "{saved}");
    assert_eq!(login["subscriptionType"], "max");
    assert_eq!(saved["mcpOAuth"], json!({"kept": true}));
    let expires_in = login["expiresAt"].as_u64().unwrap() / 1000
        - SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
    assert!((3500..=3600).contains(&expires_in), "{expires_in}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!gw.logs().contains(FRESH) && !gw.logs().contains("refresh-2"));
    assert!(
        gw.logs().contains("refreshed the login in"),
        "{}",
        gw.logs()
    );

    let (code, out, _) = gw.command("doctor", &[]);
    assert!(
        out.contains("login from") && out.contains("(expires in 5"),
        "{code} {out}"
    );
}

#[tokio::test]
async fn a_refused_token_is_refreshed_and_the_request_sent_again() {
    let provider = provider(true).await;
    let gw = Gateway::builder(&config(&provider))
        .file(CREDENTIALS, &credentials("revoked-but-unexpired", 7200))
        .start();
    let (status, _, body) = gw.chat(ask("claude:", "hi")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    let calls = provider.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].0, "Bearer revoked-but-unexpired");
    assert_eq!(calls[1].0, format!("Bearer {FRESH}"));
}

#[tokio::test]
async fn a_login_that_cannot_be_refreshed_is_a_502_saying_how_to_log_in() {
    let provider = provider(false).await;
    let gw = Gateway::builder(&config(&provider))
        .file(CREDENTIALS, &credentials("old-token", -60))
        .start();
    let (status, _, body) = gw.chat(ask("claude:", "hi")).await;
    assert_eq!(status, 502, "{body}");
    let message = error_message(&body);
    assert!(
        message.contains(".claude/.credentials.json could not be refreshed: HTTP 400")
            && message.contains("log in with `agent-cli-to-api login claude`"),
        "{message}"
    );
    assert!(
        provider.calls.lock().unwrap().is_empty(),
        "nothing sent with a dead token"
    );
    let (status, _, _) = gw.chat(ask("claude:", "hi")).await;
    assert_eq!(status, 502, "still serving, still clear");
}

#[tokio::test]
async fn a_token_from_the_environment_is_used_as_it_is_with_the_subscription_shape() {
    let provider = provider(true).await;
    let gw = Gateway::builder(&config(&provider))
        .env("TEST_CLAUDE_TOKEN", "env-token")
        .start();
    let (status, _, body) = gw.chat(ask("claude:", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 0);
    let calls = provider.calls.lock().unwrap().clone();
    assert_eq!(calls[0].0, "Bearer env-token");
    assert_eq!(calls[0].1, "oauth-2025-04-20");

    // Without the variable and without a login, it says what to do.
    let gw = Gateway::builder(&config(&provider)).start();
    let (status, _, body) = gw.chat(ask("claude:", "hi")).await;
    assert_eq!(status, 502);
    assert!(
        error_message(&body).contains("no login at") && error_message(&body).contains("`claude`"),
        "{body}"
    );
}

#[tokio::test]
async fn claude_codes_third_party_endpoint_in_settings_json_wins() {
    let provider = provider(true).await;
    let settings = json!({"env": {"ANTHROPIC_AUTH_TOKEN": "third-party",
                                  "ANTHROPIC_BASE_URL": format!("{}/", provider.url)},
                          "permissions": {"allow": []}});
    let gw = Gateway::builder(&config(&provider).replace(&provider.url, "https://nowhere.invalid"))
        .env("TEST_CLAUDE_TOKEN", "env-token")
        .file(".claude/settings.json", &settings.to_string())
        .start();
    let (status, _, body) = gw.chat(ask("claude:", "hi")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    let calls = provider.calls.lock().unwrap().clone();
    assert_eq!(calls[0].0, "Bearer third-party");
    assert_eq!(
        calls[0].1, "",
        "an API-style endpoint: no subscription beta"
    );
    assert_ne!(
        calls[0].2,
        "You are Claude Code, Anthropic's official CLI for Claude."
    );
    assert!(!gw.logs().contains("third-party\""), "{}", gw.logs());
    let (_, out, _) = gw.command("check", &[]);
    assert!(
        out.contains(&format!(
            "http anthropic-messages {} (key from",
            provider.url
        )) && out.contains(".claude/settings.json (env.ANTHROPIC_AUTH_TOKEN)"),
        "{out}"
    );
}

/// `login claude` against a local token endpoint: its stdout read for the
/// authorization URL, `answer(state)` typed in; returns (exit success,
/// stdout, stderr, the authorization URL, the token requests' bodies).
async fn run_login(
    home: &std::path::Path,
    answer: impl FnOnce(&str) -> String,
) -> (bool, String, reqwest::Url, Vec<Value>) {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    let token = move |Json(body): Json<Value>| {
        let recorded = Arc::clone(&recorded);
        async move {
            recorded.lock().unwrap().push(body);
            Json(json!({"access_token": FRESH, "refresh_token": "refresh-1",
                        "expires_in": 28800, "scope": "user:inference user:profile"}))
        }
    };
    let app = axum::Router::new().route("/v1/oauth/token", axum::routing::post(token));
    let url = crate::support::serve(app).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_agent-cli-to-api"))
        .args([
            "login",
            "claude",
            "--authorize-url",
            "https://claude.test/oauth/authorize",
        ])
        .args(["--token-url", &format!("{url}/v1/oauth/token")])
        .env_clear()
        .env("HOME", home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let authorize = loop {
        let line = tokio::time::timeout(Duration::from_secs(10), stdout.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("the authorization URL is printed");
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("https://claude.test/") {
            break reqwest::Url::parse(&line).unwrap();
        }
    };
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(answer(&state).as_bytes()).await.unwrap();
    drop(stdin);
    while let Ok(Some(line)) = stdout.next_line().await {
        printed.push_str(&line);
        printed.push('\n');
    }
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    printed.push_str(&stderr);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    let bodies = seen.lock().unwrap().clone();
    (status.success(), printed, authorize, bodies)
}

#[tokio::test]
async fn login_claude_runs_pkce_and_saves_the_login_the_preset_reads() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".claude")).unwrap();
    let existing = json!({"mcpOAuth": {"kept": true}});
    std::fs::write(home.path().join(CREDENTIALS), existing.to_string()).unwrap();
    let (ok, printed, authorize, bodies) =
        run_login(home.path(), |state| format!("the-code#{state}\n")).await;
    assert!(ok, "{printed}");
    let query: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");
    let body = &bodies[0];
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["code"], "the-code");
    assert_eq!(body["state"], query["state"].as_str());
    let verifier = body["code_verifier"].as_str().unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let challenge = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        digest.as_ref(),
    );
    assert_eq!(
        query["code_challenge"], challenge,
        "the verifier matches the challenge"
    );
    assert!(verifier.len() >= 43);

    let path = home.path().join(CREDENTIALS);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["mcpOAuth"], json!({"kept": true}));
    assert_eq!(saved["claudeAiOauth"]["accessToken"], FRESH);
    assert_eq!(saved["claudeAiOauth"]["refreshToken"], "refresh-1");
    assert_eq!(
        saved["claudeAiOauth"]["scopes"],
        json!(["user:inference", "user:profile"])
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // The saved login serves.
    let provider = provider(true).await;
    let gw = Gateway::builder(&config(&provider))
        .file(CREDENTIALS, &std::fs::read_to_string(&path).unwrap())
        .start();
    let (status, _, body) = gw.chat(ask("claude:", "hi")).await;
    assert_eq!(status, 200, "{body}");

    // A code from another attempt is refused, and nothing is saved.
    let other = tempfile::tempdir().unwrap();
    let (ok, printed, _, bodies) = run_login(other.path(), |_| "code#not-the-state\n".into()).await;
    assert!(!ok && bodies.is_empty());
    assert!(
        printed.contains("belongs to another login attempt"),
        "{printed}"
    );
    assert!(!other.path().join(CREDENTIALS).exists());
}

#[tokio::test]
async fn the_claude_oauth_preset_takes_the_originals_variables() {
    let provider = provider(true).await;
    let expired = json!({"access_token": "old", "refresh_token": "refresh-1",
                         "expires_at_s": 1, "token_type": "Bearer"});
    let gw = Gateway::builder("use = [\"claude-oauth\"]\n")
        .env("CLAUDE_API_BASE_URL", &provider.url)
        .env("CLAUDE_OAUTH_BASE_URL", &provider.url)
        .env("CLAUDE_OAUTH_CLIENT_ID", "test-client")
        .env("CLAUDE_OAUTH_CREDS_PATH", "~/oauth_creds.json")
        .env("CLAUDE_MODEL", "claude-from-env")
        .file("oauth_creds.json", &expired.to_string())
        .start();
    let (status, _, body) = gw.chat(ask("anything", "hi")).await;
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(body["model"], "claude-from-env");
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(gw.dir.path().join("oauth_creds.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["access_token"], FRESH, "the plain shape, kept");
    assert!(saved["expires_at_s"].as_u64().unwrap() > 1);
    assert!(!gw.logs().contains("is set but not used"), "{}", gw.logs());
}
