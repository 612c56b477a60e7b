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
use crate::support::{Gateway, run_binary};

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
            if auth != format!("Bearer {FRESH}") && auth != "Bearer env-token" {
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
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

    let (code, out, _) = run_binary(
        gw.dir.path(),
        &[
            "doctor",
            "--config",
            gw.dir.path().join("routes.toml").to_str().unwrap(),
        ],
        &[],
    );
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
            && message.contains("log in again with `claude`"),
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
