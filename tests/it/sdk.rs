//! The gateway through official client SDKs, streaming and not, errors
//! included: `tests/sdk/openai_python.py` drives a gateway serving the fake CLI
//! with the pinned `openai` Python SDK (`tests/sdk/requirements.txt`, installed
//! into `tests/e2e/.venv` by `scripts/test`), and `tests/sdk/openai_node.mjs`
//! does the same with the pinned `openai` Node SDK (`tests/e2e/package.json`,
//! installed into `tests/e2e/node_modules` by `scripts/test`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::mock_upstream::MockUpstream;
use crate::support::{FAKE_BACKEND, Gateway, repo};

/// The gateway token the SDK is given.
const TOKEN: &str = "sdk-test-token-0123456789";

/// The Python SDK scripts' environment.
const PYTHON_ENV: &[(&str, &str)] = &[("PYTHONUTF8", "1"), ("PYTHONDONTWRITEBYTECODE", "1")];

/// How long a whole SDK script may take.
const SCRIPT_LIMIT: Duration = Duration::from_secs(60);

/// The fake CLI and the routes the SDK scripts expect (see their headers).
fn config() -> String {
    format!(
        r#"use = []
[server]
token = "{TOKEN}"

{FAKE_BACKEND}

[[routes]]
prefix = "fake:"
backend = "fake"

[[routes]]
model = "sdk-stream"
backend = "fake"
vars = {{ mode = "stream", delay = "0.05" }}

[[routes]]
model = "sdk-fail"
backend = "fake"
vars = {{ mode = "fail", exit = "3" }}

[[routes]]
model = "sdk-late-error"
backend = "fake"
vars = {{ mode = "report-error", exit = "429" }}
"#
    )
}

/// The Python of the SDK virtualenv. Missing means the setup step was
/// skipped: a failure, not a skip, so the SDK checks cannot silently vanish.
fn sdk_python() -> PathBuf {
    let python = repo().join("tests/e2e/.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/test` (it creates the venv and installs \
         tests/sdk/requirements.txt), or by hand: python3 -m venv tests/e2e/.venv && \
         tests/e2e/.venv/bin/pip install -r tests/sdk/requirements.txt",
        python.display()
    );
    python
}

/// Checks that the pinned Node SDK is installed. Missing means the setup step
/// was skipped: a failure, not a skip, like the Python SDK.
fn assert_node_sdk() {
    let sdk = repo().join("tests/e2e/node_modules/openai/package.json");
    assert!(
        sdk.exists(),
        "{} is missing: run `scripts/test` (it installs tests/e2e/package.json), \
         or by hand: npm ci --prefix tests/e2e",
        sdk.display()
    );
}

/// Runs `program script --base-url URL --api-key TOKEN` against a fresh
/// gateway serving [`config`], with nothing of the caller's environment but
/// `PATH` (and `HOME` pointed at the gateway's temporary directory) plus
/// `env`, within [`SCRIPT_LIMIT`]. Panics with the script's output and the
/// gateway's logs unless it exits 0 after printing `all checks passed`.
async fn run_sdk_script(program: impl AsRef<OsStr>, script: &str, env: &[(&str, &str)]) {
    run_sdk_script_on(&config(), program, &[script], env).await;
}

/// [`run_sdk_script`] against a gateway serving `routes_toml`.
async fn run_sdk_script_on(
    routes_toml: &str,
    program: impl AsRef<OsStr>,
    script_and_args: &[&str],
    env: &[(&str, &str)],
) {
    let program = program.as_ref();
    let (script, script_args) = script_and_args.split_first().expect("a script");
    let script: &Path = &repo().join(script);
    let gw = Gateway::builder(routes_toml).start();
    let stdout_path = gw.dir.path().join("sdk.stdout");
    let stderr_path = gw.dir.path().join("sdk.stderr");
    let mut child = tokio::process::Command::new(program)
        .arg(script)
        .args(["--base-url", &gw.url("/v1"), "--api-key", TOKEN])
        .args(script_args)
        .current_dir(gw.dir.path())
        // Nothing from the caller's environment (OPENAI_*, proxies,
        // NODE_OPTIONS) may change what the SDK does.
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", gw.dir.path())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.to_string_lossy()));
    let started = Instant::now();
    let status = tokio::time::timeout(SCRIPT_LIMIT, child.wait())
        .await
        .ok()
        .map(Result::unwrap);
    if status.is_none() {
        let _ = child.kill().await;
    }
    let elapsed = started.elapsed();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let report = format!(
        "--- stdout\n{stdout}--- stderr\n{stderr}--- gateway logs\n{}",
        gw.logs()
    );
    let name = script.display();
    let status = status.unwrap_or_else(|| panic!("{name} ran over {SCRIPT_LIMIT:?}\n{report}"));
    assert!(
        status.success(),
        "{name} failed ({status}) after {elapsed:?}\n{report}"
    );
    assert!(
        stdout.contains("all checks passed"),
        "{name} exited 0 without finishing its checks\n{report}"
    );
    println!("{stdout}(in {elapsed:?})");
}

#[tokio::test]
async fn openai_python_sdk_end_to_end() {
    let python = sdk_python();
    run_sdk_script(python, "tests/sdk/openai_python.py", PYTHON_ENV).await;
}

#[tokio::test]
async fn openai_node_sdk_end_to_end() {
    assert_node_sdk();
    run_sdk_script("node", "tests/sdk/openai_node.mjs", &[]).await;
}

/// One `http` backend per upstream dialect in front of the mock upstream,
/// behind the same token: `up:` (Chat Completions), `resp:` (Responses),
/// `ant:` (Anthropic Messages), `gem:` (Gemini).
fn http_config(mock: &MockUpstream, logins: &Path) -> String {
    let url = mock.base_url();
    let login = logins.join("auth.json");
    let login = login.display();
    let google = logins.join("oauth_creds.json");
    let google = google.display();
    let claude = logins.join("claude.json");
    let claude = claude.display();
    let codex = crate::e2e::cli("codex");
    let codex = codex.display();
    format!(
        r#"use = []
[server]
token = "{TOKEN}"

[backends.up]
kind = "http"
url = "{url}/v1"

[backends.resp]
kind = "http"
dialect = "openai-responses"
url = "{url}/v1"

[backends.ant]
kind = "http"
dialect = "anthropic-messages"
url = "{url}"
# A 429's `Retry-After: 7` is answered at once, not waited for.
max_retry_wait_seconds = 1

[backends.gem]
kind = "http"
dialect = "gemini"
url = "{url}"

[backends.cgpt]
kind = "http"
dialect = "openai-responses"
url = "{url}/backend-api/codex"
auth = {{ oauth = "chatgpt", file = "{login}" }}
instructions_from = "{codex}"

[backends.csub]
kind = "http"
dialect = "anthropic-messages"
url = "{url}"
auth = {{ oauth = "anthropic", file = "{claude}", settings = "" }}

[backends.gca]
kind = "http"
dialect = "gemini"
url = "{url}"
auth = {{ oauth = "google", file = "{google}" }}
project = "sdk-project"

[[routes]]
prefix = "up:"
backend = "up"

[[routes]]
prefix = "resp:"
backend = "resp"

[[routes]]
prefix = "ant:"
backend = "ant"

[[routes]]
prefix = "gem:"
backend = "gem"

[[routes]]
prefix = "cgpt:"
backend = "cgpt"

[[routes]]
prefix = "gca:"
backend = "gca"

[[routes]]
prefix = "csub:"
backend = "csub"
"#
    )
}

/// The models the tool round trip scripts take through it: one per
/// dialect, and each subscription login's backend: the ChatGPT backend
/// (the mock's, with the instructions captured from the pinned Codex CLI),
/// Code Assist (a Google login) and Anthropic with a Claude login.
const HTTP_MODELS: &str = "up:fake-model,resp:fake-model,ant:fake-model,gem:fake-model,\
                           cgpt:gpt-5.5,gca:gemini-3-flash-preview,csub:claude-test";

/// A ChatGPT login's `auth.json`, a Google login's `oauth_creds.json` and a
/// Claude login in a scratch directory, all valid for an hour.
fn logins() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let auth =
        crate::http::chatgpt::auth_json(&crate::http::chatgpt::jwt("sdk", 3600), "refresh-1");
    std::fs::write(dir.path().join("auth.json"), auth).unwrap();
    let in_an_hour = std::time::SystemTime::now() + Duration::from_secs(3600);
    let ms = in_an_hour
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let google = format!(r#"{{"access_token": "g", "refresh_token": "r", "expiry_date": {ms}}}"#);
    std::fs::write(dir.path().join("oauth_creds.json"), google).unwrap();
    let claude = format!(
        r#"{{"claudeAiOauth": {{"accessToken": "c", "refreshToken": "r", "expiresAt": {ms}}}}}"#
    );
    std::fs::write(dir.path().join("claude.json"), claude).unwrap();
    dir
}

#[tokio::test]
async fn openai_python_sdk_tool_round_trip_over_an_http_backend() {
    let python = sdk_python();
    let mock = MockUpstream::start().await;
    let login = logins();
    run_sdk_script_on(
        &http_config(&mock, login.path()),
        python,
        &[
            "tests/sdk/openai_python_tools.py",
            "--models",
            HTTP_MODELS,
            "--embeddings-model",
            "up:text-embed",
        ],
        PYTHON_ENV,
    )
    .await;
}

#[tokio::test]
async fn openai_node_sdk_tool_round_trip_over_an_http_backend() {
    assert_node_sdk();
    let mock = MockUpstream::start().await;
    let login = logins();
    run_sdk_script_on(
        &http_config(&mock, login.path()),
        "node",
        &["tests/sdk/openai_node_tools.mjs", "--models", HTTP_MODELS],
        &[],
    )
    .await;
}

/// The models the Anthropic and Responses scripts put through a tool round
/// trip: one HTTP backend per upstream dialect, each answering the
/// client's own dialect.
const DIALECT_MODELS: &str = "ant:fake-model,up:fake-model,resp:fake-model,gem:fake-model";

/// Runs `script --plain-model fake:fake-1 --models MODELS` with the Python
/// SDKs against the HTTP backends of [`http_config`] and the fake CLI.
async fn run_python_dialect_script(script: &str, models: &str) {
    let python = sdk_python();
    let mock = MockUpstream::start().await;
    let login = logins();
    let config = format!(
        "{}\n{FAKE_BACKEND}\n[[routes]]\nprefix = \"fake:\"\nbackend = \"fake\"\n",
        http_config(&mock, login.path())
    );
    let args = [script, "--plain-model", "fake:fake-1", "--models", models];
    run_sdk_script_on(&config, python, &args, PYTHON_ENV).await;
}

#[tokio::test]
async fn anthropic_python_sdk_end_to_end() {
    run_python_dialect_script("tests/sdk/anthropic_python.py", DIALECT_MODELS).await;
}

#[tokio::test]
async fn openai_python_sdk_responses_end_to_end() {
    run_python_dialect_script("tests/sdk/openai_python_responses.py", DIALECT_MODELS).await;
}
