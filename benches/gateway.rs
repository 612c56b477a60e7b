//! Gateway benchmarks (`cargo bench --bench gateway`; not part of the test
//! suite). Method and results: `docs/benchmarks.md`.
//!
//! 1. **CLI-path overhead.** `tests/fixtures/bin/trivial-cli` is run 200
//!    times directly, the way the gateway runs it (tokio process, prompt on
//!    stdin, stdout and stderr read to the end, wait), then 200 sequential
//!    non-streaming `POST /v1/chat/completions` go through the gateway
//!    binary on one keep-alive HTTP connection. The direct run is the
//!    baseline: it is the part of a request's time that the CLI itself
//!    costs, so the difference of the medians is what the gateway adds.
//!    Target: ≤ 3 ms. Informational rows help locate the overhead: the
//!    direct run by absolute path (`posix_spawn` instead of fork + exec),
//!    the direct run in a fresh private temp dir (as the gateway's
//!    per-request workspace), and a bare HTTP round trip (`GET /healthz`).
//! 2. **Queueing.** 50 concurrent requests against a backend with
//!    `max_concurrency = 8` whose CLI sleeps 75 ms and logs its start and
//!    end times. Target: all 50 answer 200 with the right content, and the
//!    CLI never runs more than 8 at once. Reports wall time, p50/p99 latency
//!    and the highest concurrency the CLI saw.
//!
//! Exits non-zero when a target is missed, so a regression is visible.
//! Without `--bench` (as under `cargo test --all-targets`) it does nothing.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

// Shared with the integration tests; the bench does not need `pid`.
#[allow(dead_code)]
#[path = "../tests/it/support/gateway_process.rs"]
mod gateway_process;

use gateway_process::GatewayProcess;

mod support;

use support::{Stats, check_target, ms};

/// Requests per side of the overhead comparison.
const SEQUENTIAL_RUNS: usize = 500;
/// Unmeasured runs per side before measuring.
const WARMUP_RUNS: usize = 20;
/// The overhead target: median gateway time minus median direct time.
const OVERHEAD_TARGET: Duration = Duration::from_micros(250);
/// The tail target: p99 gateway time minus p99 direct time.
const P99_TARGET: Duration = Duration::from_millis(1);
/// Concurrent requests of the queueing run.
const CONCURRENT_REQUESTS: usize = 50;
/// `max_concurrency` of the queued backend.
const MAX_CONCURRENCY: usize = 8;
/// How long each CLI run of the queueing bench sleeps (seconds, for `sleep`).
const QUEUED_CLI_SLEEP: &str = "0.075";
/// The user message sent, and the prompt the gateway makes of it.
const USER_TEXT: &str = "hello";
const PROMPT: &str = "USER: hello";
/// What trivial-cli answers.
const ANSWER: &str = "hi";

fn main() -> ExitCode {
    support::main("gateway", run)
}

/// Runs both benchmarks; `Ok(false)` when a target is missed.
async fn run() -> anyhow::Result<bool> {
    let scratch = Scratch::new()?;
    let env = child_env(&scratch);
    let config = write_config(&scratch)?;
    let gateway = Gateway::start(&config, &env, &scratch.home)?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(CONCURRENT_REQUESTS)
        .build()?;
    print_header();
    let overhead_ok = overhead_bench(&client, &gateway, &env, &scratch).await?;
    let queue_ok = queue_bench(&client, &gateway, &scratch.cli_log).await?;
    let sse_ok = sse_bench();
    println!("gateway stderr: {} log lines", gateway.log_lines());
    Ok(overhead_ok && queue_ok && sse_ok)
}

fn print_header() {
    println!(
        "gateway bench: {} {}, {} CPU(s)",
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
}

/// Scratch directories, removed on drop. The config lives alone in its own
/// directory: the gateway watches that directory for hot reload, and must not
/// be woken by the workspaces it creates in `TMPDIR` on every request.
struct Scratch {
    _root: tempfile::TempDir,
    /// Holds only `routes.toml`.
    config_dir: PathBuf,
    /// `HOME`, and the working directory of the gateway and the direct runs.
    home: PathBuf,
    /// `TMPDIR`: where the gateway makes its per-request workspaces.
    tmp: PathBuf,
    /// Where the queued CLI logs its start and end times.
    cli_log: PathBuf,
}

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        let root = tempfile::Builder::new().prefix("gw-bench-").tempdir()?;
        let dir = |name: &str| -> anyhow::Result<PathBuf> {
            let path = root.path().join(name);
            std::fs::create_dir(&path)?;
            Ok(path)
        };
        Ok(Scratch {
            config_dir: dir("config")?,
            home: dir("home")?,
            tmp: dir("tmp")?,
            cli_log: root.path().join("queued-cli.log"),
            _root: root,
        })
    }
}

/// The environment of the gateway, which passes it on to the CLI unchanged:
/// the fixtures first on `PATH`, and a scratch `HOME` and `TMPDIR`.
fn child_env(scratch: &Scratch) -> Vec<(String, String)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bin");
    let path = format!(
        "{}:{}",
        fixtures.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        ("PATH".to_owned(), path),
        ("HOME".to_owned(), scratch.home.display().to_string()),
        ("TMPDIR".to_owned(), scratch.tmp.display().to_string()),
    ]
}

/// Writes `routes.toml`: `trivial` (answers at once) and `queued` (sleeps,
/// logs its start and end, at most 8 at once), one route each.
fn write_config(scratch: &Scratch) -> anyhow::Result<PathBuf> {
    let rules = |backend: &str| {
        format!(
            r#"
[[backends.{backend}.output]]
when = {{ "/t" = "say" }}
text = "/v"

[[backends.{backend}.output]]
when = {{ "/t" = "end" }}
terminal = true
"#
        )
    };
    let config = format!(
        r#"use = []

[backends.trivial]
command = "trivial-cli"
default_model = "trivial-1"
{trivial_rules}
[backends.queued]
command = "trivial-cli"
default_model = "queued-1"
max_concurrency = {MAX_CONCURRENCY}
queue_size = {queue_size}
env = {{ TRIVIAL_CLI_SLEEP = "{QUEUED_CLI_SLEEP}", TRIVIAL_CLI_LOG = "{log}" }}
{queued_rules}
[[routes]]
model = "trivial"
backend = "trivial"

[[routes]]
model = "queued"
backend = "queued"
"#,
        trivial_rules = rules("trivial"),
        queued_rules = rules("queued"),
        queue_size = CONCURRENT_REQUESTS * 2,
        log = scratch.cli_log.display(),
    );
    let path = scratch.config_dir.join("routes.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// The gateway under test: the shared test-harness process wrapper.
struct Gateway(GatewayProcess);

impl Gateway {
    /// Starts the release-built binary and waits for its `listening on` line.
    /// Its stderr (default `info` logs, one summary line per request) is
    /// collected by a thread for as long as it runs.
    fn start(config: &Path, env: &[(String, String)], dir: &Path) -> anyhow::Result<Gateway> {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agent-cli-to-api"));
        command
            .arg("--config")
            .arg(config)
            .args(["--port", "0"])
            .current_dir(dir)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)));
        GatewayProcess::spawn(command)
            .map(Gateway)
            .map_err(anyhow::Error::msg)
    }

    fn base(&self) -> &str {
        &self.0.base
    }

    fn chat_url(&self) -> String {
        format!("{}/v1/chat/completions", self.base())
    }

    fn log_lines(&self) -> usize {
        self.0.logs().lines().count()
    }

    /// CPU time the gateway process has used.
    fn cpu_time(&self) -> anyhow::Result<Duration> {
        support::cpu_time(self.0.pid())
    }
}

// ---------------------------------------------------------------- overhead

/// Benchmark 1; `Ok(false)` when the median overhead exceeds the target.
async fn overhead_bench(
    client: &reqwest::Client,
    gateway: &Gateway,
    env: &[(String, String)],
    scratch: &Scratch,
) -> anyhow::Result<bool> {
    println!(
        "\n## CLI-path overhead: {SEQUENTIAL_RUNS} runs each way, interleaved, after {WARMUP_RUNS} warm-up runs"
    );
    let absolute = resolve_on_path("trivial-cli", env)?;
    let baseline = Spawn {
        program: "trivial-cli",
        env,
        cwd: &scratch.home,
        fresh_workspace_in: None,
    };
    let by_path = Spawn {
        program: &absolute,
        ..baseline
    };
    let with_workspace = Spawn {
        fresh_workspace_in: Some(&scratch.tmp),
        ..baseline
    };
    let chat_url = gateway.chat_url();
    for _ in 0..WARMUP_RUNS {
        run_direct(&baseline).await?;
        timed_chat(client, &chat_url, "trivial").await?;
        run_direct(&by_path).await?;
        run_direct(&with_workspace).await?;
        http_round_trip(client, gateway).await?;
    }
    // Interleaved, each pair in alternating order, so that the VM's noise
    // (other tenants, frequency changes) falls on both sides alike.
    let cpu_before = gateway.cpu_time()?;
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for i in 0..SEQUENTIAL_RUNS {
        if i % 2 == 0 {
            direct.push(run_direct(&baseline).await?);
            through.push(timed_chat(client, &chat_url, "trivial").await?);
        } else {
            through.push(timed_chat(client, &chat_url, "trivial").await?);
            direct.push(run_direct(&baseline).await?);
        }
    }
    let (direct, through) = (Stats::of(direct), Stats::of(through));
    // Cleanups run just after each answer: let the last one finish.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let gateway_cpu = gateway.cpu_time()?.saturating_sub(cpu_before) / SEQUENTIAL_RUNS as u32;
    let direct_by_path = Stats::of(repeat(|| run_direct(&by_path)).await?);
    let direct_workspace = Stats::of(repeat(|| run_direct(&with_workspace)).await?);
    let http_only = Stats::of(repeat(|| http_round_trip(client, gateway)).await?);
    println!("| {:<40} | {} |", "ms", Stats::HEADER);
    println!("|{:-<42}|{}", "", Stats::RULE);
    for (name, stats) in [
        ("direct CLI (baseline)", &direct),
        ("through gateway", &through),
        ("info: direct, by absolute path", &direct_by_path),
        ("info: direct, fresh 0700 temp dir", &direct_workspace),
        ("info: HTTP only (GET /healthz)", &http_only),
    ] {
        println!("| {name:<40} | {} |", stats.row());
    }
    println!(
        "gateway CPU per request (its own process; the CLI's is not counted): {} ms",
        ms(gateway_cpu)
    );
    let median_met = check_target(
        "median overhead",
        through.median.saturating_sub(direct.median),
        OVERHEAD_TARGET,
    );
    let tail_met = check_target(
        "p99 overhead",
        through.p99.saturating_sub(direct.p99),
        P99_TARGET,
    );
    Ok(median_met && tail_met)
}

/// Times `run` [`SEQUENTIAL_RUNS`] times in a row.
async fn repeat<F, Fut>(mut run: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Duration>>,
{
    let mut samples = Vec::with_capacity(SEQUENTIAL_RUNS);
    for _ in 0..SEQUENTIAL_RUNS {
        samples.push(run().await?);
    }
    Ok(samples)
}

/// `program`'s absolute path on the `PATH` of `env`. Spawning by absolute
/// path lets the standard library use `posix_spawn` (vfork); a bare name
/// with a `PATH` set for the child makes it fall back to fork + exec, which
/// is what the gateway does today. Shown as an informational row.
fn resolve_on_path(program: &str, env: &[(String, String)]) -> anyhow::Result<String> {
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    path.split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
        .map(|found| found.display().to_string())
        .with_context(|| format!("`{program}` is not on PATH"))
}

/// How [`run_direct`] starts trivial-cli.
#[derive(Clone, Copy)]
struct Spawn<'a> {
    /// A bare name looked up on the child's `PATH` (as the gateway does),
    /// or an absolute path.
    program: &'a str,
    env: &'a [(String, String)],
    /// Working directory, unless a fresh workspace is made.
    cwd: &'a Path,
    /// Make a fresh 0700 temporary directory here per run and run in it, as
    /// the gateway's `engine::workspace` does (informational row).
    fresh_workspace_in: Option<&'a Path>,
}

/// Runs trivial-cli once the way the gateway does, minus the gateway: same
/// environment, own process group, prompt written to stdin then closed,
/// stdout and stderr read to the end, exit status awaited. The baseline
/// runs in a fixed directory (the gateway makes a fresh one per request,
/// which is part of what it adds).
async fn run_direct(spawn: &Spawn<'_>) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let workspace = spawn
        .fresh_workspace_in
        .map(private_tempdir_in)
        .transpose()?;
    let cwd = workspace
        .as_ref()
        .map_or(spawn.cwd, tempfile::TempDir::path);
    let mut child = tokio::process::Command::new(spawn.program)
        .current_dir(cwd)
        .env_clear()
        .envs(spawn.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .context("starting trivial-cli")?;
    let (mut stdin, mut stdout, mut stderr) = (
        child.stdin.take().context("stdin")?,
        child.stdout.take().context("stdout")?,
        child.stderr.take().context("stderr")?,
    );
    let feed = async move {
        stdin.write_all(PROMPT.as_bytes()).await?;
        stdin.shutdown().await
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (fed, read_out, read_err) = tokio::join!(
        feed,
        stdout.read_to_end(&mut out),
        stderr.read_to_end(&mut err)
    );
    fed?;
    read_out?;
    read_err?;
    let status = child.wait().await?;
    drop(workspace);
    let elapsed = start.elapsed();
    ensure!(status.success(), "trivial-cli exited with {status}");
    ensure!(
        String::from_utf8_lossy(&out).contains(ANSWER),
        "trivial-cli printed {:?}",
        String::from_utf8_lossy(&out)
    );
    Ok(elapsed)
}

/// What `engine::workspace` does per request: a fresh directory, created 0700.
fn private_tempdir_in(parent: &Path) -> anyhow::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt as _;
    Ok(tempfile::Builder::new()
        .prefix("agent-cli-to-api-ws-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)?)
}

/// One non-streaming chat completion for `model` at `url`, timed from
/// before the request is built until its body has been read; then checked.
async fn timed_chat(client: &reqwest::Client, url: &str, model: &str) -> anyhow::Result<Duration> {
    let body = json!({"model": model, "messages": [{"role": "user", "content": USER_TEXT}]});
    let start = Instant::now();
    let response = client.post(url).json(&body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    let elapsed = start.elapsed();
    ensure!(status == 200, "status {status}: {text}");
    let answer: Value = serde_json::from_str(&text)?;
    let content = &answer["choices"][0]["message"]["content"];
    ensure!(content == ANSWER, "unexpected content {content} in {text}");
    Ok(elapsed)
}

/// `GET /healthz`: the HTTP round trip alone (client, loopback, axum), for
/// the breakdown of the overhead. Shown as an informational row.
async fn http_round_trip(client: &reqwest::Client, gateway: &Gateway) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let response = client
        .get(format!("{}/healthz", gateway.base()))
        .send()
        .await?;
    let status = response.status();
    let _ = response.bytes().await?;
    let elapsed = start.elapsed();
    ensure!(status == 200, "healthz: status {status}");
    Ok(elapsed)
}

// ---------------------------------------------------------------- queueing

/// Benchmark 2; `Ok(false)` when a request is lost or the limit is exceeded.
async fn queue_bench(
    client: &reqwest::Client,
    gateway: &Gateway,
    cli_log: &Path,
) -> anyhow::Result<bool> {
    println!(
        "\n## Queueing: {CONCURRENT_REQUESTS} concurrent requests, max_concurrency = {MAX_CONCURRENCY}, CLI sleeps {QUEUED_CLI_SLEEP} s"
    );
    let _ = std::fs::remove_file(cli_log);
    let start = Instant::now();
    let requests: Vec<_> = (0..CONCURRENT_REQUESTS)
        .map(|_| {
            let client = client.clone();
            let url = gateway.chat_url();
            tokio::spawn(async move { timed_chat(&client, &url, "queued").await })
        })
        .collect();
    let mut latencies = Vec::with_capacity(CONCURRENT_REQUESTS);
    let mut failures = Vec::new();
    for request in requests {
        match request.await? {
            Ok(latency) => latencies.push(latency),
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    let wall = start.elapsed();
    let cli_runs = read_cli_log(cli_log)?;
    let peak = max_overlap(&cli_runs);
    let ok = latencies.len();
    let waves = CONCURRENT_REQUESTS.div_ceil(MAX_CONCURRENCY);
    println!(
        "succeeded: {ok}/{CONCURRENT_REQUESTS}; CLI runs logged: {}",
        cli_runs.len()
    );
    for failure in &failures {
        println!("  failed: {failure}");
    }
    println!(
        "wall time: {} ms ({waves} waves of {MAX_CONCURRENCY} × {QUEUED_CLI_SLEEP} s sleep ≥ {} ms)",
        ms(wall),
        waves as f64 * QUEUED_CLI_SLEEP.parse::<f64>().unwrap_or(0.0) * 1000.0
    );
    if !latencies.is_empty() {
        let stats = Stats::of(latencies);
        println!("latency ms: {}", Stats::HEADER);
        println!("            {}", stats.row());
    }
    println!("max concurrent CLI runs observed: {peak} (limit {MAX_CONCURRENCY})");
    Ok(failures.is_empty()
        && ok == CONCURRENT_REQUESTS
        && cli_runs.len() == CONCURRENT_REQUESTS
        && peak <= MAX_CONCURRENCY)
}

/// The (start, end) nanosecond timestamps of each queued CLI run, paired
/// in order of appearance (pairing does not matter for the overlap count).
fn read_cli_log(path: &Path) -> anyhow::Result<Vec<(u128, u128)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the CLI log {}", path.display()))?;
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for line in text.lines() {
        let (kind, nanos) = line.split_once(' ').context("malformed CLI log line")?;
        let nanos: u128 = nanos.trim().parse()?;
        match kind {
            "start" => starts.push(nanos),
            "end" => ends.push(nanos),
            other => bail!("unknown CLI log entry `{other}`"),
        }
    }
    ensure!(
        starts.len() == ends.len(),
        "{} starts but {} ends",
        starts.len(),
        ends.len()
    );
    Ok(starts.into_iter().zip(ends).collect())
}

/// The most runs alive at one instant (an end at the same instant as a
/// start counts first).
fn max_overlap(runs: &[(u128, u128)]) -> usize {
    let mut edges: Vec<(u128, i32)> = runs
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    edges.sort_unstable();
    let (mut alive, mut peak) = (0_i32, 0_i32);
    for (_, delta) in edges {
        alive += delta;
        peak = peak.max(alive);
    }
    usize::try_from(peak).unwrap_or(0)
}

/// Largest time to decode one 8 MiB SSE event arriving in TCP-sized chunks.
const SSE_TARGET: Duration = Duration::from_millis(50);

/// The upstream SSE decoder on one large `data:` event (a base64 image)
/// delivered in 1,460-byte chunks, at three sizes: the time must grow
/// linearly, and 8 MiB must decode within [`SSE_TARGET`].
fn sse_bench() -> bool {
    use agent_cli_to_api::dialect::sse::SseDecoder;
    println!("\n## Upstream SSE decoding: one data: event in 1,460-byte chunks (best of 5)");
    let mut eight = Duration::ZERO;
    for mib in [1usize, 4, 8] {
        let mut event = b"data: ".to_vec();
        event.extend(std::iter::repeat_n(b'A', mib << 20));
        event.extend_from_slice(b"\n\n");
        let best = (0..5)
            .map(|_| {
                let started = Instant::now();
                let mut decoder = SseDecoder::new(64 << 20);
                let mut events = 0;
                for chunk in event.chunks(1460) {
                    events += decoder.push(chunk).map_or(0, |e| e.len());
                }
                assert_eq!(events, 1);
                started.elapsed()
            })
            .min()
            .unwrap_or_default();
        println!("{mib} MiB: {} ms", ms(best));
        if mib == 8 {
            eight = best;
        }
    }
    check_target("8 MiB event", eight, SSE_TARGET)
}
