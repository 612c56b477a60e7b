//! One gateway config with every kind of backend, for the tests of the
//! inbound dialects: the fake CLI (`fake:`, and `fake-stream`, `fake-slow`,
//! `fake-fail`, `fake-late-error` for its modes) and one HTTP backend per
//! upstream dialect on the mock upstream: `anthropic:` (Anthropic
//! Messages), `chat:` (Chat Completions), `responses:` (Responses) and
//! `gem:` (Gemini), each with [`UPSTREAM_KEY`] and answering a long
//! `Retry-After` at once.

use super::mock_upstream::MockUpstream;
use super::{FAKE_BACKEND, Gateway};

/// The key the HTTP backends send upstream (from `$UP_KEY`).
pub(crate) const UPSTREAM_KEY: &str = "sk-upstream-0123456789";

/// The config, with `server` settings (TOML lines of `[server]`).
pub(crate) fn config(mock: &MockUpstream, server: &str) -> String {
    format!(
        r#"use = []
[server]
{server}

{FAKE_BACKEND}

[backends.claude-api]
kind = "http"
dialect = "anthropic-messages"
url = "{base}"
auth = {{ env = "UP_KEY", header = "x-api-key" }}
max_retry_wait_seconds = 1

[backends.chat-api]
kind = "http"
url = "{base}/v1"
auth = {{ env = "UP_KEY" }}
max_retry_wait_seconds = 1

[backends.responses-api]
kind = "http"
dialect = "openai-responses"
url = "{base}/v1"
auth = {{ env = "UP_KEY" }}
max_retry_wait_seconds = 1

[backends.gemini-api]
kind = "http"
dialect = "gemini"
url = "{base}"
auth = {{ env = "UP_KEY", header = "x-goog-api-key", scheme = "" }}
max_retry_wait_seconds = 1

[[routes]]
prefix = "fake:"
backend = "fake"

[[routes]]
model = "fake-stream"
backend = "fake"
vars = {{ mode = "stream", delay = "0" }}

[[routes]]
model = "fake-slow"
backend = "fake"
vars = {{ mode = "stream", delay = "1.6", chunks = "2" }}

[[routes]]
model = "fake-fail"
backend = "fake"
vars = {{ mode = "fail", exit = "3" }}

[[routes]]
model = "fake-late-error"
backend = "fake"
vars = {{ mode = "report-error", exit = "500" }}

[[routes]]
prefix = "anthropic:"
backend = "claude-api"

[[routes]]
prefix = "chat:"
backend = "chat-api"

[[routes]]
prefix = "responses:"
backend = "responses-api"

[[routes]]
prefix = "gem:"
backend = "gemini-api"
"#,
        base = mock.base_url()
    )
}

/// A gateway serving [`config`] in front of a new mock upstream.
pub(crate) async fn start(server: &str) -> (MockUpstream, Gateway) {
    let mock = MockUpstream::start().await;
    let gw = Gateway::builder(&config(&mock, server))
        .env("UP_KEY", UPSTREAM_KEY)
        .start();
    (mock, gw)
}
