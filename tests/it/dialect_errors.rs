//! Errors in each client's dialect, the same failures for every endpoint:
//! malformed JSON, an unknown model, a missing or wrong key, and an
//! upstream's 400, 429 and 500, each with its status and the dialect's
//! envelope (OpenAI's for chat and Responses, Anthropic's, Google's).

use serde_json::{Value, json};

use crate::support::Gateway;
use crate::support::mock_upstream::MockUpstream;

const TOKEN: &str = "errors-test-token-0123456789";

/// One inbound dialect: where it posts, how it asks, how it authenticates,
/// and the error class its envelope names for an HTTP status.
struct Dialect {
    name: &'static str,
    path: fn(&str) -> String,
    body: fn(&str, &str) -> Value,
    auth: (&'static str, &'static str),
    class: fn(&Value) -> String,
}

const BEARER: &str = "Bearer errors-test-token-0123456789";

fn openai_class(body: &Value) -> String {
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["type"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn dialects() -> [Dialect; 4] {
    [
        Dialect {
            name: "chat",
            path: |_| "/v1/chat/completions".into(),
            body: |model, text| json!({"model": model, "messages": [{"role": "user", "content": text}]}),
            auth: ("authorization", BEARER),
            class: openai_class,
        },
        Dialect {
            name: "responses",
            path: |_| "/v1/responses".into(),
            body: |model, text| json!({"model": model, "input": text}),
            auth: ("authorization", BEARER),
            class: openai_class,
        },
        Dialect {
            name: "messages",
            path: |_| "/v1/messages".into(),
            body: |model, text| json!({"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": text}]}),
            auth: ("x-api-key", TOKEN),
            class: |body| {
                assert_eq!(body["type"], "error", "{body}");
                assert!(body["error"]["message"].is_string(), "{body}");
                body["error"]["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            },
        },
        Dialect {
            name: "gemini",
            path: |model| format!("/v1beta/models/{model}:generateContent"),
            body: |_, text| json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
            auth: ("x-goog-api-key", TOKEN),
            class: |body| {
                assert!(body["error"]["code"].is_u64(), "{body}");
                assert!(body["error"]["message"].is_string(), "{body}");
                body["error"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            },
        },
    ]
}

/// The class each dialect names for a status.
fn expected(dialect: &str, status: u16) -> &'static str {
    match (dialect, status) {
        ("gemini", 400) => "INVALID_ARGUMENT",
        ("gemini", 401) => "UNAUTHENTICATED",
        ("gemini", 404) => "NOT_FOUND",
        ("gemini", 429) => "RESOURCE_EXHAUSTED",
        ("gemini", _) => "INTERNAL",
        ("messages", 404) => "not_found_error",
        ("messages", 429) => "rate_limit_error",
        ("messages", 500..) => "api_error",
        (_, 400 | 404) => "invalid_request_error",
        (_, 401) => "authentication_error",
        (_, 429) => "rate_limit_error",
        (_, _) => "api_error",
    }
}

#[tokio::test]
async fn every_dialect_answers_failures_in_its_own_envelope() {
    let mock = MockUpstream::start().await;
    let config = format!(
        "use = []\n[server]\ntoken = \"{TOKEN}\"\n\n[backends.up]\nkind = \"http\"\n\
         url = \"{}/v1\"\nretries = 0\nmax_retry_wait_seconds = 1\n\n\
         [[routes]]\nprefix = \"up:\"\nbackend = \"up\"\n",
        mock.base_url()
    );
    let gw = Gateway::builder(&config).start();
    let client = reqwest::Client::new();
    for dialect in dialects() {
        let name = dialect.name;
        let send = |model: &str, body: Option<String>, auth: bool| {
            let mut request = client
                .post(gw.url(&(dialect.path)(model)))
                .header("content-type", "application/json")
                .body(body.unwrap_or_else(|| (dialect.body)(model, "hi").to_string()));
            if auth {
                request = request.header(dialect.auth.0, dialect.auth.1);
            }
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let retry = response.headers().get("retry-after").cloned();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (status, retry, body)
            }
        };
        let cases: [(&str, String, Option<String>, bool, u16); 6] = [
            (
                "malformed JSON",
                "up:m".into(),
                Some("{\"model\": ".into()),
                true,
                400,
            ),
            ("unknown model", "nobody:knows".into(), None, true, 404),
            ("no key", "up:m".into(), None, false, 401),
            (
                "upstream 400",
                "up:m".into(),
                Some((dialect.body)("up:m", "FAIL_400").to_string()),
                true,
                400,
            ),
            (
                "upstream 429",
                "up:m".into(),
                Some((dialect.body)("up:m", "FAIL_429").to_string()),
                true,
                429,
            ),
            (
                "upstream 500",
                "up:m".into(),
                Some((dialect.body)("up:m", "FAIL_500").to_string()),
                true,
                502,
            ),
        ];
        for (what, model, body, auth, status) in cases {
            let (got, retry, body) = send(&model, body, auth).await;
            assert_eq!(got, status, "{name}, {what}: {body}");
            assert_eq!(
                (dialect.class)(&body),
                expected(name, status),
                "{name}, {what}: {body}"
            );
            if status == 429 {
                assert_eq!(retry.unwrap(), "7", "{name}: Retry-After kept");
            }
        }
    }
    assert!(gw.logs().contains("status=429"), "the gateway kept serving");
}
