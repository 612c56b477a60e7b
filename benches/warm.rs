//! Warm-process benchmark (`cargo bench --bench warm`; not part of the test
//! suite; needs the pinned CLIs that `scripts/test` installs). Method and
//! results: `docs/benchmarks.md`.
//!
//! For each real CLI (Claude Code, Codex, Gemini CLI) against the project's
//! mock upstream, which answers at once, streaming requests
//! (`POST /v1/chat/completions`, "say hello") go through the gateway:
//!
//! - **cold**: the CLI's one-shot preset (a process per request), 20
//!   sequential requests;
//! - **warm**: its warm preset (`*-warm`, a pooled process), 50 requests,
//!   each paired with a **direct** turn: the same CLI in the same warm mode
//!   driven by this bench over stdio, a new conversation per turn as the
//!   gateway does, the pairs interleaved so drift hits both sides alike,
//!   with a pause around each direct turn so that neither side's
//!   background work (the gateway readies the next conversation after a
//!   turn, as a client thinks) runs into the other's timed turn.
//!
//! Reported per CLI: time to the first text and total time, median and
//! p90, for cold and warm; the gateway's own share of a warm request, timed
//! from its debug log (request in → turn line written, turn's end read →
//! answer complete), with the median of the paired differences (gateway
//! minus direct, which also holds how two CLI processes differ) beside it;
//! and its CPU time per warm request (`/proc/PID/stat`).
//! Targets: warm median total ≤ 150 ms (Claude), ≤ 100 ms (Codex),
//! ≤ 250 ms (Gemini); the gateway's share ≤ 1 ms. Exits non-zero when one
//! is missed. `WARM_BENCH_CLIS=claude,codex` picks CLIs;
//! `WARM_BENCH_LOG=agent_cli_to_api=debug` keeps each gateway's log in the
//! temporary directory.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

#[allow(dead_code)]
#[path = "../tests/it/support/gateway_process.rs"]
mod gateway_process;
#[allow(
    dead_code,
    unreachable_pub,
    unused_imports,
    clippy::expect_used,
    clippy::unwrap_used
)]
#[path = "../tests/it/support/mock_upstream/mod.rs"]
mod mock_upstream;
mod support;

use gateway_process::GatewayProcess;
use support::{Stats, check_target, cpu_time, ms};

/// Sequential cold requests.
const COLD: usize = 20;
/// Interleaved warm pairs (gateway, direct).
const WARM_PAIRS: usize = 50;
/// Unmeasured requests first, per side.
const WARMUP: usize = 3;
const PROMPT: &str = "say hello";
/// What the gateway makes of [`PROMPT`], sent as is by the direct driver.
const FLATTENED: &str = "USER: say hello (direct)";
const SHARE_TARGET: Duration = Duration::from_millis(1);
/// Pause around each direct turn of a warm pair.
const SETTLE: Duration = Duration::from_millis(150);

fn main() -> ExitCode {
    support::main("warm", run)
}

/// What differs per CLI.
#[derive(Clone, Copy)]
enum Cli {
    Claude,
    Codex,
    Gemini,
}

impl Cli {
    fn name(self) -> &'static str {
        match self {
            Cli::Claude => "claude",
            Cli::Codex => "codex",
            Cli::Gemini => "gemini",
        }
    }

    fn model(self) -> &'static str {
        match self {
            Cli::Claude => "claude:sonnet",
            Cli::Codex => "codex:gpt-5.5",
            Cli::Gemini => "gemini:gemini-2.5-flash",
        }
    }

    fn target(self) -> Duration {
        Duration::from_millis(match self {
            Cli::Claude => 150,
            Cli::Codex => 100,
            Cli::Gemini => 250,
        })
    }

    /// The CLI's environment (scratch config dirs written here), and extra
    /// backend keys.
    fn setup(
        self,
        upstream: &str,
        scratch: &Path,
    ) -> anyhow::Result<(Vec<(String, String)>, String)> {
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        Ok(match self {
            Cli::Claude => (
                vec![
                    pair("ANTHROPIC_BASE_URL", upstream),
                    pair("ANTHROPIC_API_KEY", "sk-ant-bench-dummy"),
                    pair(
                        "CLAUDE_CONFIG_DIR",
                        &scratch.join("claude").display().to_string(),
                    ),
                    pair("CLAUDE_CODE_MAX_RETRIES", "0"),
                    pair("DISABLE_AUTOUPDATER", "1"),
                    pair("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
                ],
                String::new(),
            ),
            Cli::Codex => {
                let home = scratch.join("codex-home");
                std::fs::create_dir_all(&home)?;
                std::fs::write(
                    home.join("config.toml"),
                    format!(
                        "model_provider = \"mock\"\n[model_providers.mock]\nname = \"mock\"\nbase_url = \"{upstream}/v1\"\n\
                         env_key = \"MOCK_API_KEY\"\nwire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n\
                         [analytics]\nenabled = false\n"
                    ),
                )?;
                (
                    vec![
                        pair("CODEX_HOME", &home.display().to_string()),
                        pair("MOCK_API_KEY", "sk-bench-dummy"),
                    ],
                    "extra_args = [\"--disable\", \"plugins\"]".to_owned(),
                )
            }
            Cli::Gemini => {
                let home = scratch.join("gemini-home");
                std::fs::create_dir_all(home.join(".gemini"))?;
                std::fs::write(
                    home.join(".gemini/settings.json"),
                    r#"{"security":{"auth":{"selectedType":"gemini-api-key"}},"privacy":{"usageStatisticsEnabled":false},
 "telemetry":{"enabled":false},"general":{"enableAutoUpdate":false,"enableAutoUpdateNotification":false,"maxAttempts":1}}"#,
                )?;
                (
                    vec![
                        pair("GOOGLE_GEMINI_BASE_URL", upstream),
                        pair("GEMINI_API_KEY", "bench-dummy-key"),
                        pair("GEMINI_CLI_HOME", &home.display().to_string()),
                        pair("GEMINI_CLI_NO_RELAUNCH", "true"),
                    ],
                    "default_model = \"gemini-2.5-flash\"".to_owned(),
                )
            }
        })
    }

    /// The command line of its warm mode, for the direct driver.
    fn warm_args(self) -> Vec<&'static str> {
        match self {
            Cli::Claude => vec![
                "-p",
                "--input-format",
                "stream-json",
                "--output-format",
                "stream-json",
                "--verbose",
                "--include-partial-messages",
                "--model",
                "sonnet",
                "--permission-prompt-tool",
                "stdio",
            ],
            Cli::Codex => vec!["app-server", "--disable", "plugins"],
            Cli::Gemini => vec!["--acp", "-m", "gemini-2.5-flash"],
        }
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn program(cli: Cli) -> anyhow::Result<PathBuf> {
    let path = repo().join("tests/e2e/node_modules/.bin").join(cli.name());
    if !path.exists() {
        bail!(
            "{} is missing: run scripts/test first (it installs the pinned CLIs)",
            path.display()
        );
    }
    Ok(path)
}

async fn run() -> anyhow::Result<bool> {
    let chosen = std::env::var("WARM_BENCH_CLIS").unwrap_or_else(|_| "claude,codex,gemini".into());
    let mock = mock_upstream::MockUpstream::start().await;
    let mut met = true;
    let mut table = Vec::new();
    for cli in [Cli::Claude, Cli::Codex, Cli::Gemini] {
        if !chosen.split(',').any(|c| c.trim() == cli.name()) {
            continue;
        }
        let scratch = tempfile::Builder::new().prefix("warm-bench-").tempdir()?;
        let (env, extra) = cli.setup(&mock.base_url(), scratch.path())?;
        let cold = through(cli, cli.name(), &env, &extra, scratch.path(), COLD, None).await?;
        let mut direct = Direct::start(cli, &env, scratch.path()).await?;
        let warm = through(
            cli,
            &format!("{}-warm", cli.name()),
            &env,
            &extra,
            scratch.path(),
            WARM_PAIRS,
            Some(&mut direct),
        )
        .await?;
        let direct_turns = std::mem::take(&mut direct.turns);
        direct.stop().await;
        // Informational: the median of the paired differences (gateway
        // minus direct). It also holds how two CLI processes differ.
        let mut differences: Vec<f64> = warm
            .totals
            .iter()
            .zip(&direct_turns)
            .map(|(through, direct)| through.as_secs_f64() - direct.1.as_secs_f64())
            .collect();
        differences.sort_by(f64::total_cmp);
        println!(
            "paired difference gateway - direct (median): {:.3} ms",
            differences[differences.len() / 2] * 1000.0
        );
        anyhow::ensure!(
            warm.own.len() >= WARM_PAIRS,
            "the gateway's debug log timed {} turns",
            warm.own.len()
        );
        let own = Stats::of(warm.own.clone());
        println!(
            "gateway's own share of a warm request: {} ms median, {} ms p90",
            ms(own.median),
            ms(own.p90)
        );
        let share = own.median;
        println!("\n{}", cli.name());
        println!(
            "| mode | first text median | p90 | total median | p90 |\n|---|---:|---:|---:|---:|"
        );
        for (mode, run) in [("cold (one-shot)", &cold), ("warm (gateway)", &warm)] {
            println!(
                "| {mode} | {} | {} | {} | {} |",
                ms(run.first.median),
                ms(run.first.p90),
                ms(run.total.median),
                ms(run.total.p90)
            );
        }
        let direct_first = Stats::of(direct_turns.iter().map(|t| t.0).collect());
        let direct_total = Stats::of(direct_turns.iter().map(|t| t.1).collect());
        println!(
            "| warm (direct, no gateway) | {} | {} | {} | {} |",
            ms(direct_first.median),
            ms(direct_first.p90),
            ms(direct_total.median),
            ms(direct_total.p90)
        );
        println!(
            "gateway CPU per warm request: {} ms",
            ms(warm.cpu_per_request)
        );
        met &= check_target(
            &format!("{} warm median total", cli.name()),
            warm.total.median,
            cli.target(),
        );
        met &= check_target(
            &format!("{} gateway share of a warm turn", cli.name()),
            share,
            SHARE_TARGET,
        );
        table.push((cli.name(), cold, warm, direct_total, share));
    }
    if std::env::var_os("WARM_BENCH_LOG").is_some() {
        for request in mock.requests().iter().rev().take(6) {
            let body = request.body.to_string();
            println!(
                "upstream {} messages={} bytes={} direct={}",
                request.path_and_query,
                request.body["messages"].as_array().map_or(0, Vec::len),
                body.len(),
                body.contains("(direct)")
            );
        }
    }
    println!("\nsummary (ms): CLI | cold total | warm total | direct warm total | gateway share");
    for (name, cold, warm, direct, share) in &table {
        println!(
            "{name} | {} | {} | {} | {}",
            ms(cold.total.median),
            ms(warm.total.median),
            ms(direct.median),
            ms(*share)
        );
    }
    Ok(met)
}

/// Timings of requests through the gateway.
struct Measured {
    /// The gateway's own time on each request's critical path (warm runs).
    own: Vec<Duration>,
    first: Stats,
    total: Stats,
    /// Each request's total, in order.
    totals: Vec<Duration>,
    cpu_per_request: Duration,
}

/// `count` streaming requests through a gateway on `preset`; with `direct`,
/// each is followed by a direct turn.
async fn through(
    cli: Cli,
    preset: &str,
    env: &[(String, String)],
    extra: &str,
    scratch: &Path,
    count: usize,
    mut direct: Option<&mut Direct>,
) -> anyhow::Result<Measured> {
    // Each gateway gets its own Claude config directory: one that served
    // other runs carries their history, which Claude Code reads.
    let own_config = scratch
        .join(format!("claude-{preset}"))
        .display()
        .to_string();
    let envs: Vec<String> = env
        .iter()
        .map(|(k, v)| match k.as_str() {
            "CLAUDE_CONFIG_DIR" => format!("{k} = {own_config:?}"),
            _ => format!("{k} = {v:?}"),
        })
        .collect();
    let warm_keys = if preset.ends_with("-warm") {
        "min_warm = 1\nmax_concurrency = 1"
    } else {
        ""
    };
    let config = format!(
        "use = [\"{preset}\"]\n[backends.{name}]\ncommand = {command:?}\nenv = {{ {envs} }}\n{extra}\n{warm_keys}\n",
        name = cli.name(),
        command = program(cli)?.display().to_string(),
        envs = envs.join(", "),
    );
    let dir = scratch.join(preset);
    std::fs::create_dir_all(dir.join("tmp"))?;
    std::fs::write(dir.join("routes.toml"), config)?;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agent-cli-to-api"));
    command
        .args(["--config", "routes.toml", "--port", "0"])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .env("TMPDIR", dir.join("tmp"))
        .env(
            "RUST_LOG",
            // The warm gateway's debug lines time its own part of each turn.
            std::env::var("WARM_BENCH_LOG").unwrap_or_else(|_| {
                if preset.ends_with("-warm") {
                    "info,agent_cli_to_api=debug"
                } else {
                    "info"
                }
                .into()
            }),
        );
    let gateway = GatewayProcess::spawn(command).map_err(anyhow::Error::msg)?;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", gateway.base);
    let mut first = Vec::new();
    let mut total = Vec::new();
    let mut cpu = Duration::ZERO;
    for n in 0..WARMUP + count {
        let cpu_before = cpu_time(gateway.pid())?;
        let (to_first, to_end) = stream_once(&client, &url, cli.model())
            .await
            .with_context(|| gateway.logs())?;
        if n >= WARMUP {
            first.push(to_first);
            total.push(to_end);
            cpu += cpu_time(gateway.pid())?.saturating_sub(cpu_before);
        }
        if let Some(direct) = direct.as_deref_mut() {
            // Both sides quiet before the pair's direct turn, and after it:
            // the gateway readies the process for the next conversation in
            // the background (a client's think time), which is no part of
            // a turn's latency.
            tokio::time::sleep(SETTLE).await;
            direct.turn(n >= WARMUP).await?;
            tokio::time::sleep(SETTLE).await;
        }
    }
    if std::env::var_os("WARM_BENCH_LOG").is_some() {
        let log = std::env::temp_dir().join(format!("warm-bench-{preset}.log"));
        std::fs::write(&log, gateway.logs())?;
        println!("gateway log: {}", log.display());
    }
    let mut own = own_share(&gateway.logs());
    own.drain(..own.len().min(WARMUP));
    Ok(Measured {
        own,
        first: Stats::of(first),
        totals: total.clone(),
        total: Stats::of(total),
        cpu_per_request: cpu / u32::try_from(count)?,
    })
}

/// The gateway's own time on each warm request's critical path, from its
/// debug log: from the request's arrival to the turn's line being written,
/// plus from reading the turn's end to the request being logged (its
/// answer complete). What lies between is the CLI's turn.
fn own_share(log: &str) -> Vec<Duration> {
    let at = |line: &str| {
        line.get(..27)
            .and_then(|t| humantime::parse_rfc3339(t).ok())
    };
    let mut shares = Vec::new();
    let (mut received, mut starting, mut ended) = (None, None, None);
    for line in log.lines() {
        if line.contains(" DEBUG received ") {
            received = at(line);
        } else if line.contains("turn starting") {
            starting = at(line);
        } else if line.contains("turn ended") {
            ended = at(line);
        } else if line.contains("INFO request id=") {
            if let (Some(r), Some(s), Some(e), Some(done)) = (received, starting, ended, at(line)) {
                let before = s.duration_since(r).unwrap_or_default();
                let after = done.duration_since(e).unwrap_or_default();
                shares.push(before + after);
            }
            (received, starting, ended) = (None, None, None);
        }
    }
    shares
}

/// One streamed request: time to the first text, and to the end.
async fn stream_once(
    client: &reqwest::Client,
    url: &str,
    model: &str,
) -> anyhow::Result<(Duration, Duration)> {
    let started = Instant::now();
    let response = client
        .post(url)
        .json(&json!({"model": model, "stream": true, "messages": [{"role": "user", "content": PROMPT}]}))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("status {}: {}", response.status(), response.text().await?);
    }
    let mut body = response.bytes_stream();
    let mut first = None;
    let mut text = String::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        text.push_str(&String::from_utf8_lossy(&chunk));
        if first.is_none() && text.contains("\"content\"") {
            first = Some(started.elapsed());
        }
    }
    if !text.contains(
        mock_upstream::REPLY_TEXT
            .split(' ')
            .next()
            .unwrap_or_default(),
    ) || !text.contains("[DONE]")
    {
        bail!("unexpected answer: {text}");
    }
    Ok((
        first.unwrap_or_else(|| started.elapsed()),
        started.elapsed(),
    ))
}

/// The CLI in its warm mode, driven over stdio by the bench itself.
struct Direct {
    cli: Cli,
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    next_id: u64,
    cwd: PathBuf,
    /// The conversation of the next turn (thread, session), opened ahead.
    conversation: Option<String>,
    used: bool,
    /// (first text, total) of each measured turn.
    turns: Vec<(Duration, Duration)>,
}

impl Direct {
    async fn start(cli: Cli, env: &[(String, String)], scratch: &Path) -> anyhow::Result<Direct> {
        let cwd = scratch.join("direct");
        std::fs::create_dir_all(&cwd)?;
        let mut child = tokio::process::Command::new(program(cli)?)
            .args(cli.warm_args())
            .current_dir(&cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", scratch)
            .envs(env.iter().map(|(k, v)| (k, v)))
            // Its own Claude config directory, as the gateway's process has.
            .env("CLAUDE_CONFIG_DIR", scratch.join("claude-direct"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut direct = Direct {
            cli,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            next_id: 0,
            cwd,
            conversation: None,
            used: false,
            turns: Vec::new(),
        };
        match cli {
            Cli::Claude => {
                direct.request("initialize", json!({})).await?;
            }
            Cli::Codex => {
                direct
                    .request(
                        "initialize",
                        json!({"clientInfo": {"name": "bench", "version": "1"}}),
                    )
                    .await?;
                direct.send(json!({"method": "initialized"})).await?;
            }
            Cli::Gemini => {
                direct
                    .request("initialize", json!({"protocolVersion": 1, "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}}}))
                    .await?;
            }
        }
        Ok(direct)
    }

    async fn send(&mut self, message: Value) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(&message)?;
        line.push(b'\n');
        self.stdin.write_all(&line).await?;
        Ok(self.stdin.flush().await?)
    }

    async fn next(&mut self) -> anyhow::Result<Value> {
        loop {
            let line = self.lines.next_line().await?.context("the CLI ended")?;
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                return Ok(value);
            }
        }
    }

    /// Sends a request and reads up to its answer.
    async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let message = match self.cli {
            Cli::Claude => {
                let mut request = params;
                request["subtype"] = json!(method);
                json!({"type": "control_request", "request_id": format!("b{id}"), "request": request})
            }
            Cli::Codex => json!({"id": id, "method": method, "params": params}),
            Cli::Gemini => json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        };
        self.send(message).await?;
        loop {
            let message = self.next().await?;
            let answered = match self.cli {
                Cli::Claude => message["response"]["request_id"] == format!("b{id}").as_str(),
                Cli::Codex | Cli::Gemini => message["id"] == id && message.get("method").is_none(),
            };
            if answered {
                return Ok(message);
            }
        }
    }

    /// A new conversation, opened ahead as the gateway does (not timed).
    async fn open(&mut self) -> anyhow::Result<()> {
        match self.cli {
            Cli::Claude if self.used => {
                self.send(
                    json!({"type": "user", "message": {"role": "user", "content": "/clear"}}),
                )
                .await?;
                while self.next().await?["type"] != "result" {}
            }
            Cli::Claude => {}
            Cli::Codex => {
                let cwd = self.cwd.display().to_string();
                let started = self
                    .request(
                        "thread/start",
                        json!({"cwd": cwd, "approvalPolicy": "never", "sandbox": "read-only", "ephemeral": true, "model": "gpt-5.5"}),
                    )
                    .await?;
                self.conversation = started["result"]["thread"]["id"]
                    .as_str()
                    .map(str::to_owned);
            }
            Cli::Gemini => {
                let cwd = self.cwd.display().to_string();
                let opened = self
                    .request("session/new", json!({"cwd": cwd, "mcpServers": []}))
                    .await?;
                self.conversation = opened["result"]["sessionId"].as_str().map(str::to_owned);
            }
        }
        Ok(())
    }

    /// One turn on the conversation opened ahead, timed (first text, end)
    /// when `measure`; then the next conversation is opened ahead, as the
    /// gateway does after a turn.
    async fn turn(&mut self, measure: bool) -> anyhow::Result<()> {
        if self.conversation.is_none() && !matches!(self.cli, Cli::Claude) {
            self.open().await?;
        }
        self.used = true;
        let conversation = self.conversation.clone().unwrap_or_default();
        let started = Instant::now();
        let mut first = None;
        self.next_id += 1;
        let id = self.next_id;
        match self.cli {
            Cli::Claude => {
                self.send(json!({"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": FLATTENED}]}})).await?;
            }
            Cli::Codex => {
                self.send(json!({"id": id, "method": "turn/start", "params": {"threadId": conversation, "input": [{"type": "text", "text": FLATTENED, "text_elements": []}], "model": "gpt-5.5"}})).await?;
            }
            Cli::Gemini => {
                self.send(json!({"jsonrpc": "2.0", "id": id, "method": "session/prompt", "params": {"sessionId": conversation, "prompt": [{"type": "text", "text": FLATTENED}]}})).await?;
            }
        }
        loop {
            let message = self.next().await?;
            let text = match self.cli {
                Cli::Claude => message["event"]["delta"]["type"] == "text_delta",
                Cli::Codex => message["method"] == "item/agentMessage/delta",
                Cli::Gemini => {
                    message["params"]["update"]["sessionUpdate"] == "agent_message_chunk"
                }
            };
            if text && first.is_none() {
                first = Some(started.elapsed());
            }
            let end = match self.cli {
                Cli::Claude => message["type"] == "result",
                Cli::Codex => message["method"] == "turn/completed",
                Cli::Gemini => message["id"] == id && message.get("method").is_none(),
            };
            if end {
                break;
            }
        }
        if measure {
            self.turns.push((
                first.unwrap_or_else(|| started.elapsed()),
                started.elapsed(),
            ));
        }
        self.open().await
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
