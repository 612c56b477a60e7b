//! Shared test support: the gateway binary started on port 0 with its own
//! config and environment, an SSE reader that keeps arrival times, the mock
//! model upstream, and the template of the fake CLI.

pub(crate) mod every_backend;
pub(crate) mod gateway_process;
pub(crate) mod mock_upstream;
pub(crate) mod sse;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use self::gateway_process::GatewayProcess;

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/...`
pub(crate) fn fixture(path: &str) -> PathBuf {
    repo().join("tests/fixtures").join(path)
}

/// Polls `check` until it holds or `limit` passes.
pub(crate) async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    check()
}

/// A one-message conversation from the user.
pub(crate) fn user(text: &str) -> serde_json::Value {
    serde_json::json!([{"role": "user", "content": text}])
}

/// What `fake-cli --mode info` reported about its run, from a chat answer.
pub(crate) fn info_of(body: &serde_json::Value) -> serde_json::Value {
    serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap()
}

/// [`FAKE_BACKEND`] with more keys (TOML lines) in its table.
pub(crate) fn fake_backend_with(keys: &str) -> String {
    FAKE_BACKEND.replacen(
        "[backends.fake]\n",
        &format!("[backends.fake]\n{keys}\n"),
        1,
    )
}

/// A config of only the fake CLI with `server` settings (TOML lines) and
/// `routes`; `fake_config("", FAKE_ROUTE)` is the usual one.
pub(crate) fn fake_config(server: &str, routes: &str) -> String {
    format!("use = []\n[server]\n{server}\n{FAKE_BACKEND}\n{routes}")
}

/// A route sending `fake:<model>` to [`FAKE_BACKEND`].
pub(crate) const FAKE_ROUTE: &str = "[[routes]]\nprefix = \"fake:\"\nbackend = \"fake\"\n";

/// The backend template of `tests/fixtures/bin/fake-cli`, a CLI with its
/// own JSON shape, defined only here: the proof that a new CLI needs no code.
pub(crate) const FAKE_BACKEND: &str = r#"
[backends.fake]
command = "fake-cli"
default_model = "fake-1"
models = ["fake-1", "fake-2"]
vars = { mode = "echo", delay = "0", exit = "3", chunks = "3" }
args = [
  "--mode", "{mode}", "--delay", "{delay}", "--exit", "{exit}", "--chunks", "{chunks}",
  "--model", "{model}",
  { each = "images", args = ["--image", "{image}"] },
  { when = "session", args = ["--resume", "{session}"] },
  { when = "effort", args = ["--effort", "{effort}"] },
  { when = "system", args = ["--system={system}"] },
]

[[backends.fake.output]]
when = { "/kind" = "hello" }
session = "/session"

[[backends.fake.output]]
when = { "/kind" = "say" }
text = "/text"

[[backends.fake.output]]
when = { "/kind" = "muse" }
reasoning = "/text"

[[backends.fake.output]]
when = { "/kind" = "oops" }
error = "/message"
status = "/code"

[[backends.fake.output]]
when = { "/kind" = "bye" }
usage = { input = "/tokens/in", output = "/tokens/out", cache_read = "/tokens/cached" }
terminal = true
"#;

/// A gateway process started from a temporary `routes.toml`.
pub(crate) struct Gateway {
    /// `http://127.0.0.1:PORT`
    pub(crate) base: String,
    /// Scratch directory holding `routes.toml` (and anything a test puts there).
    pub(crate) dir: TempDir,
    process: GatewayProcess,
}

/// How to start a [`Gateway`].
#[derive(Default)]
pub(crate) struct GatewayBuilder {
    config: Option<String>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    files: Vec<(String, String)>,
    links: Vec<(String, String)>,
    soft_nofile: Option<u64>,
}

impl Gateway {
    /// A gateway serving `routes_toml`.
    pub(crate) fn builder(routes_toml: &str) -> GatewayBuilder {
        GatewayBuilder {
            config: Some(routes_toml.to_owned()),
            ..GatewayBuilder::default()
        }
    }

    /// A gateway started with no config file at all.
    pub(crate) fn without_config() -> GatewayBuilder {
        GatewayBuilder::default()
    }

    /// `base` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the gateway logged so far.
    pub(crate) fn logs(&self) -> String {
        self.process.logs()
    }

    /// `host:port` of the gateway.
    pub(crate) fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Sends `request` as raw bytes on a new connection and returns what
    /// the gateway answered before it closed the connection (at most 10 s).
    pub(crate) async fn raw(&self, request: &str) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(self.address())
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
        assert!(
            read.await.is_ok(),
            "the gateway kept the connection open: {}",
            String::from_utf8_lossy(&answer)
        );
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// The gateway's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Path of the config file.
    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.path().join("routes.toml")
    }

    /// Waits until the logs contain `needle`.
    pub(crate) async fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        eventually(limit, || self.process.logs().contains(needle)).await
    }

    /// GETs `path` (no token) and returns its JSON body.
    pub(crate) async fn get_json(&self, path: &str) -> serde_json::Value {
        reqwest::get(self.url(path))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The ids `/v1/models` lists.
    pub(crate) async fn model_ids(&self) -> Vec<String> {
        let body = self.get_json("/v1/models").await;
        assert_eq!(body["object"], "list", "{body}");
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// POSTs a chat completion and returns status, headers and JSON body.
    pub(crate) async fn chat(
        &self,
        body: serde_json::Value,
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        self.post("/v1/chat/completions", body, &[]).await
    }

    /// POSTs `body` to `path` with `headers`; returns status, headers and
    /// the JSON body (`{"raw": text}` when it is not JSON).
    pub(crate) async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let mut request = reqwest::Client::new().post(self.url(path)).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({"raw": text}));
        (status, headers, json)
    }

    /// Runs `agent-cli-to-api COMMAND --config <this gateway's routes.toml>`
    /// (`check`, `doctor`…) in its directory: (exit code, stdout, stderr).
    pub(crate) fn command(&self, command: &str, env: &[(&str, &str)]) -> (i32, String, String) {
        let config = self.dir.path().join("routes.toml");
        let args = [command, "--config", config.to_str().unwrap()];
        run_binary(self.dir.path(), &args, env)
    }

    /// POSTs a streaming chat completion and returns the open SSE reader.
    pub(crate) async fn chat_stream(&self, body: serde_json::Value) -> sse::SseReader {
        self.stream_at("/v1/chat/completions", body).await
    }

    /// POSTs a streaming request to `path` and returns the open SSE reader.
    pub(crate) async fn stream_at(&self, path: &str, body: serde_json::Value) -> sse::SseReader {
        let response = reqwest::Client::new()
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "stream refused: {:?}",
            response.headers()
        );
        sse::SseReader::new(response)
    }

    /// A streaming chat completion, read to the end.
    pub(crate) async fn stream_events(&self, body: serde_json::Value) -> Vec<sse::SseEvent> {
        self.chat_stream(body).await.collect().await
    }
}

impl GatewayBuilder {
    /// Adds an environment variable for the gateway process.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Writes a file (path relative to the config's directory) before starting.
    pub(crate) fn file(mut self, path: &str, text: &str) -> Self {
        self.files.push((path.to_owned(), text.to_owned()));
        self
    }

    /// Makes a symbolic link `link` → `target` (relative to the config's
    /// directory) before starting, after the files.
    pub(crate) fn symlink(mut self, link: &str, target: &str) -> Self {
        self.links.push((link.to_owned(), target.to_owned()));
        self
    }

    /// Adds a command-line argument.
    pub(crate) fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Starts the gateway with this soft limit on open files (`ulimit -Sn`).
    pub(crate) fn soft_nofile(mut self, limit: u64) -> Self {
        self.soft_nofile = Some(limit);
        self
    }

    /// Starts the gateway and waits until it listens.
    pub(crate) fn start(self) -> Gateway {
        let dir = tempfile::Builder::new()
            .prefix("gw-test-")
            .tempdir()
            .unwrap();
        // Per-request workspaces go to TMPDIR: keep them out of the watched config directory.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        for (path, text) in &self.files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        for (link, target) in &self.links {
            std::os::unix::fs::symlink(dir.path().join(target), dir.path().join(link)).unwrap();
        }
        let binary = env!("CARGO_BIN_EXE_agent-cli-to-api");
        let mut command = match self.soft_nofile {
            // The shell execs the gateway, which keeps its pid and the limit.
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -Sn {limit} && exec \"$0\" \"$@\""))
                    .arg(binary);
                sh
            }
            None => Command::new(binary),
        };
        if let Some(config) = &self.config {
            let path = dir.path().join("routes.toml");
            std::fs::write(&path, config).unwrap();
            command.arg("--config").arg(&path);
        }
        command
            .args(["--port", "0"])
            .args(&self.args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", test_path())
            .env("HOME", dir.path())
            .env("TMPDIR", &tmp)
            .env("RUST_LOG", "agent_cli_to_api=debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let process = GatewayProcess::spawn(command).unwrap_or_else(|e| panic!("{e}"));
        Gateway {
            base: process.base.clone(),
            dir,
            process,
        }
    }
}

/// Serves `app` on 127.0.0.1 for the rest of the test: its base URL
/// (`http://127.0.0.1:PORT`).
pub(crate) async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A CLI name found on no machine, for tests about CLIs that are not installed.
pub(crate) const ABSENT_CLI: &str = "claude-not-installed-in-tests";

/// PATH for gateways under test: the fake CLIs first, then the test's own PATH.
fn test_path() -> String {
    let bin = fixture("bin");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs the binary with `args` in `dir` (no config unless given) and returns
/// (exit code, stdout, stderr).
pub(crate) fn run_binary(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_agent-cli-to-api"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", test_path())
        .env("HOME", dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts that within `limit` no process carries `marker` any more.
pub(crate) async fn assert_processes_gone(marker: &str, limit: Duration) {
    assert!(
        eventually(limit, || processes_with_env(marker).is_empty()).await,
        "left behind: {:?}",
        processes_with_env(marker)
    );
}

/// Processes whose environment mentions `marker` (the process group of a
/// CLI started with a unique value in its environment).
pub(crate) fn processes_with_env(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let is_zombie = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        });
        if !is_zombie
            && environ
                .windows(marker.len())
                .any(|w| w == marker.as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

/// Children of process `parent` that have exited but were not reaped.
pub(crate) fn zombie_children(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        if fields.first() == Some(&"Z") && fields.get(1) == Some(&parent.to_string().as_str()) {
            found.push(pid);
        }
    }
    found
}

/// Asserts that within `limit` the gateway has reaped every child that exited.
pub(crate) async fn assert_no_zombies(gateway: &Gateway, limit: Duration) {
    let pid = gateway.pid();
    assert!(
        eventually(limit, || zombie_children(pid).is_empty()).await,
        "unreaped children of the gateway: {:?}",
        zombie_children(pid)
    );
}
