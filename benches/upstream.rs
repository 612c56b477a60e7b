//! HTTP-upstream benchmark (`cargo bench --bench upstream`; not part of the
//! test suite). Method and results: `docs/benchmarks.md`.
//!
//! OpenAI Chat Completions in, Anthropic Messages out: a mock Anthropic
//! upstream in this process answers `POST /v1/messages` at once (a JSON
//! message, or a stream of 50 text deltas), and the same request is made
//! two ways in the same run: **direct** (the Anthropic request to the mock)
//! and **through** the gateway (an OpenAI request, which the gateway
//! translates both ways). Measured:
//!
//! - at concurrency 1, interleaved pairs: added median and p99 latency of
//!   a JSON answer and added time to the first text of a stream;
//! - the gateway's CPU time per JSON answer and per 50-chunk stream (from
//!   `/proc/PID/stat`, over all the requests of a phase);
//! - at concurrency 64: throughput through the gateway as a ratio to direct,
//!   and the gateway's peak RSS (`VmHWM`).
//!
//! Targets: CPU ≤ 0.2 ms per JSON request and ≤ 0.5 ms per stream, added
//! median ≤ 0.3 ms and p99 ≤ 2 ms, added time to first token ≤ 0.3 ms, peak
//! RSS ≤ 30 MiB. Exits non-zero when one is missed.
//!
//! `UPSTREAM_BENCH_IN` picks what goes in and out (issue 10's pairs):
//! `chat` (the default, as above), `messages` (Anthropic Messages in, to
//! the Anthropic mock: the request and answer passed through) and
//! `messages-chat` (Anthropic Messages in, to a Chat Completions mock:
//! translated both ways; "direct" is then the Chat request to the mock).
//!
//! Another gateway is measured the same way: start the bench with
//! `UPSTREAM_BENCH_MOCK_PORT=PORT` (the mock listens there), point the other
//! gateway's Anthropic backend at `http://127.0.0.1:PORT`, and set
//! `UPSTREAM_BENCH_TARGET` to its OpenAI base URL (e.g.
//! `http://127.0.0.1:4000/v1`), `UPSTREAM_BENCH_MODEL` to the model it
//! routes there and `UPSTREAM_BENCH_PID` to its process id (for CPU and
//! RSS; several processes: measure the main one, or sum them by hand).
//! `UPSTREAM_BENCH_PHASES` picks phases (`json1,stream1,json64,stream64`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

#[allow(dead_code)]
#[path = "../tests/it/support/gateway_process.rs"]
mod gateway_process;
mod support;

use gateway_process::GatewayProcess;
use support::{Stats, check_target, cpu_split, cpu_time, ms, peak_rss_kib};

/// Text deltas of a streamed answer.
const STREAM_CHUNKS: usize = 50;
/// Interleaved direct/through pairs at concurrency 1, per answer kind.
const PAIRS: usize = 500;
/// Unmeasured pairs first.
const WARMUP: usize = 30;
/// Concurrent clients of the throughput phase.
const CONCURRENCY: usize = 64;
/// Requests each of them makes, per side.
const PER_CLIENT: usize = 25;

const CPU_PER_JSON: Duration = Duration::from_micros(200);
const CPU_PER_STREAM: Duration = Duration::from_micros(500);
const ADDED_MEDIAN: Duration = Duration::from_micros(300);
const ADDED_P99: Duration = Duration::from_millis(2);
const ADDED_FIRST_TOKEN: Duration = Duration::from_micros(300);
const PEAK_RSS_MIB: u64 = 30;

fn main() -> ExitCode {
    support::main("upstream", run)
}

/// What the client speaks, and what the upstream behind the gateway does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pair {
    /// OpenAI chat in, Anthropic Messages out.
    ChatToMessages,
    /// Anthropic Messages in and out (passed through).
    Messages,
    /// Anthropic Messages in, OpenAI chat out.
    MessagesToChat,
}

impl Pair {
    fn from_env() -> anyhow::Result<Pair> {
        Ok(match std::env::var("UPSTREAM_BENCH_IN").as_deref() {
            Err(_) | Ok("chat") => Pair::ChatToMessages,
            Ok("messages") => Pair::Messages,
            Ok("messages-chat") => Pair::MessagesToChat,
            Ok(other) => {
                anyhow::bail!("UPSTREAM_BENCH_IN={other:?}: use chat, messages or messages-chat")
            }
        })
    }

    fn describe(self) -> &'static str {
        match self {
            Pair::ChatToMessages => "OpenAI chat in, Anthropic Messages out",
            Pair::Messages => "Anthropic Messages in and out (passed through)",
            Pair::MessagesToChat => "Anthropic Messages in, OpenAI chat out",
        }
    }
}

/// The gateway under test: ours, started here, or another one.
struct Target {
    /// Its OpenAI base URL, e.g. `http://127.0.0.1:4000/v1`.
    base: String,
    /// The model it routes to the mock.
    model: String,
    /// Its process, for CPU and memory.
    pid: u32,
    /// Ours, kept running while measured.
    _own: Option<(GatewayProcess, tempfile::TempDir)>,
}

async fn run() -> anyhow::Result<bool> {
    let mock = MockAnthropic::start().await?;
    let target = match std::env::var("UPSTREAM_BENCH_TARGET") {
        Ok(base) => Target {
            base,
            model: std::env::var("UPSTREAM_BENCH_MODEL")
                .context("UPSTREAM_BENCH_MODEL: the model the target routes to the mock")?,
            pid: std::env::var("UPSTREAM_BENCH_PID")
                .context("UPSTREAM_BENCH_PID: the target's process id")?
                .parse()?,
            _own: None,
        },
        Err(_) => start_gateway(&mock.base)?,
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let pair = Pair::from_env()?;
    let sides = Sides {
        client: &client,
        mock: &mock.base,
        target: &target,
        pair,
    };
    println!(
        "upstream bench: {}; {} CPU(s); target {}",
        pair.describe(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        target.base
    );
    // `UPSTREAM_BENCH_PHASES=stream1,json64` runs only those (e.g. to profile one).
    let phases = std::env::var("UPSTREAM_BENCH_PHASES")
        .unwrap_or_else(|_| "json1,stream1,json64,stream64".to_owned());
    let mut met = true;
    for phase in phases.split(',') {
        met &= match phase.trim() {
            "json1" => sequential(&sides, false).await?,
            "stream1" => sequential(&sides, true).await?,
            "json64" => concurrent(&sides, false).await?,
            "stream64" => concurrent(&sides, true).await?,
            other => anyhow::bail!("unknown phase {other:?}: use json1, stream1, json64, stream64"),
        };
    }
    let peak = peak_rss_kib(target.pid)?;
    let rss_met = peak <= PEAK_RSS_MIB * 1024;
    println!(
        "\npeak RSS of the gateway: {:.1} MiB (target ≤ {PEAK_RSS_MIB} MiB): {}",
        peak as f64 / 1024.0,
        if rss_met { "met" } else { "MISSED" }
    );
    Ok(met && rss_met)
}

/// Starts our gateway with one Anthropic backend in front of the mock.
fn start_gateway(mock: &str) -> anyhow::Result<Target> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("routes.toml");
    std::fs::write(
        &config,
        format!(
            "use = []\n[backends.ant]\nkind = \"http\"\ndialect = \"anthropic-messages\"\n\
             url = \"{mock}\"\nmax_concurrency = {CONCURRENCY}\n\n\
             [backends.oai]\nkind = \"http\"\nurl = \"{mock}/v1\"\nmax_concurrency = {CONCURRENCY}\n\n\
             [[routes]]\nprefix = \"ant:\"\nbackend = \"ant\"\n\n\
             [[routes]]\nprefix = \"oai:\"\nbackend = \"oai\"\n"
        ),
    )?;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agent-cli-to-api"));
    command
        .arg("--config")
        .arg(&config)
        .args(["--port", "0"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path());
    let gateway = GatewayProcess::spawn(command).map_err(anyhow::Error::msg)?;
    Ok(Target {
        base: format!("{}/v1", gateway.base),
        model: "ant:bench-model".to_owned(),
        pid: gateway.pid(),
        _own: Some((gateway, dir)),
    })
}

// ------------------------------------------------------------------- the two sides

/// The two ways one request is made.
#[derive(Clone, Copy)]
struct Sides<'a> {
    client: &'a reqwest::Client,
    mock: &'a str,
    target: &'a Target,
    pair: Pair,
}

/// One answer's timings: until the first text, and until its end.
struct Timed {
    first_text: Duration,
    total: Duration,
}

impl Sides<'_> {
    /// The request the gateway's upstream gets, straight to the mock.
    async fn direct(&self, stream: bool) -> anyhow::Result<Timed> {
        let request = if self.pair == Pair::MessagesToChat {
            let body = json!({"model": "bench-model", "stream": stream,
                              "messages": [{"role": "user", "content": "hello"}]});
            self.client
                .post(format!("{}/v1/chat/completions", self.mock))
                .json(&body)
        } else {
            self.messages(format!("{}/v1/messages", self.mock), "bench-model", stream)
        };
        timed(request).await
    }

    /// The client's request, through the gateway.
    async fn through(&self, stream: bool) -> anyhow::Result<Timed> {
        let base = &self.target.base;
        let request = match self.pair {
            Pair::ChatToMessages => {
                let body = json!({"model": self.target.model, "stream": stream,
                                  "messages": [{"role": "user", "content": "hello"}]});
                self.client
                    .post(format!("{base}/chat/completions"))
                    .json(&body)
            }
            Pair::Messages => self.messages(format!("{base}/messages"), &self.target.model, stream),
            Pair::MessagesToChat => {
                let model = self.target.model.replacen("ant:", "oai:", 1);
                self.messages(format!("{base}/messages"), &model, stream)
            }
        };
        timed(request).await
    }

    /// An Anthropic Messages request for `model` to `url`.
    fn messages(&self, url: String, model: &str, stream: bool) -> reqwest::RequestBuilder {
        let body = json!({"model": model, "max_tokens": 1024, "stream": stream,
                          "messages": [{"role": "user", "content": "hello"}]});
        self.client
            .post(url)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
    }
}

/// Sends `request` and reads its answer to the end, noting when the first
/// text (`tok0`) arrived.
async fn timed(request: reqwest::RequestBuilder) -> anyhow::Result<Timed> {
    let started = Instant::now();
    let response = request.send().await?;
    ensure!(response.status().is_success(), "HTTP {}", response.status());
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    let mut first_text = None;
    while let Some(chunk) = body.next().await {
        seen.extend_from_slice(&chunk?);
        if first_text.is_none() && seen.windows(4).any(|w| w == b"tok0") {
            first_text = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let last = format!("tok{}", STREAM_CHUNKS - 1);
    ensure!(
        seen.windows(last.len()).any(|w| w == last.as_bytes()),
        "the answer is incomplete: {}",
        String::from_utf8_lossy(&seen)
    );
    Ok(Timed {
        first_text: first_text.unwrap_or(total),
        total,
    })
}

// ------------------------------------------------------------------- phases

/// Concurrency 1: interleaved pairs; added latency (JSON) or time to first
/// text (stream), and the gateway's CPU per request.
async fn sequential(sides: &Sides<'_>, stream: bool) -> anyhow::Result<bool> {
    let kind = if stream {
        "50-chunk stream"
    } else {
        "JSON answer"
    };
    for _ in 0..WARMUP {
        sides.direct(stream).await?;
        sides.through(stream).await?;
    }
    let mut direct = Vec::with_capacity(PAIRS);
    let mut through = Vec::with_capacity(PAIRS);
    // All the gateway's CPU over the phase, work after an answer included
    // (the direct requests leave it idle).
    let (cpu_before, split_before) = (cpu_time(sides.target.pid)?, cpu_split(sides.target.pid)?);
    for _ in 0..PAIRS {
        direct.push(sides.direct(stream).await?);
        through.push(sides.through(stream).await?);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let gateway_cpu = cpu_time(sides.target.pid)?.saturating_sub(cpu_before);
    let split_after = cpu_split(sides.target.pid)?;
    let user = split_after.0.saturating_sub(split_before.0);
    let system = split_after.1.saturating_sub(split_before.1);
    let totals = |t: &[Timed]| Stats::of(t.iter().map(|t| t.total).collect());
    let firsts = |t: &[Timed]| Stats::of(t.iter().map(|t| t.first_text).collect());
    println!("\n## {kind}, concurrency 1: {PAIRS} interleaved pairs after {WARMUP} warm-up pairs");
    println!("| {:<28} | {} |", "ms", Stats::HEADER);
    println!("|{:-<30}|{}", "", Stats::RULE);
    let (d, t) = (totals(&direct), totals(&through));
    println!("| {:<28} | {} |", "direct: whole answer", d.row());
    println!("| {:<28} | {} |", "through: whole answer", t.row());
    let (df, tf) = (firsts(&direct), firsts(&through));
    if stream {
        println!("| {:<28} | {} |", "direct: first text", df.row());
        println!("| {:<28} | {} |", "through: first text", tf.row());
    }
    let per_request = gateway_cpu / u32::try_from(PAIRS)?;
    let (cpu_target, what) = if stream {
        (CPU_PER_STREAM, "gateway CPU per stream")
    } else {
        (CPU_PER_JSON, "gateway CPU per JSON request")
    };
    let pairs = u32::try_from(PAIRS)?;
    println!(
        "(of which user {} ms + kernel {} ms, in clock ticks: ±{} ms)",
        ms(user / pairs),
        ms(system / pairs),
        ms(support::CPU_TICK / pairs)
    );
    let mut met = check_target(what, per_request, cpu_target);
    if stream {
        met &= check_target(
            "added median time to first token",
            tf.median.saturating_sub(df.median),
            ADDED_FIRST_TOKEN,
        );
    } else {
        met &= check_target(
            "added median latency",
            t.median.saturating_sub(d.median),
            ADDED_MEDIAN,
        );
        met &= check_target("added p99 latency", t.p99.saturating_sub(d.p99), ADDED_P99);
    }
    Ok(met)
}

/// Concurrency 64: throughput direct and through, and the gateway's CPU.
async fn concurrent(sides: &Sides<'_>, stream: bool) -> anyhow::Result<bool> {
    let kind = if stream {
        "50-chunk streams"
    } else {
        "JSON answers"
    };
    let total = CONCURRENCY * PER_CLIENT;
    let rate = |through: bool| async move {
        let started = Instant::now();
        let clients = (0..CONCURRENCY).map(|_| async move {
            for _ in 0..PER_CLIENT {
                if through {
                    sides.through(stream).await?;
                } else {
                    sides.direct(stream).await?;
                }
            }
            anyhow::Ok(())
        });
        for outcome in futures_util::future::join_all(clients).await {
            outcome?;
        }
        anyhow::Ok(total as f64 / started.elapsed().as_secs_f64())
    };
    let direct = rate(false).await?;
    let before = cpu_time(sides.target.pid)?;
    let through = rate(true).await?;
    let cpu = cpu_time(sides.target.pid)?.saturating_sub(before) / u32::try_from(total)?;
    println!(
        "\n## {kind}, concurrency {CONCURRENCY}: {total} requests per side\n\
         direct {direct:.0}/s, through the gateway {through:.0}/s: ratio {:.2}; \
         gateway CPU per request {} ms",
        through / direct,
        ms(cpu)
    );
    Ok(true)
}

// ------------------------------------------------------------------- the mock

/// A mock Anthropic (and Chat Completions) upstream whose answers are made once: the cost of
/// answering is the same for both sides, and small.
struct MockAnthropic {
    base: String,
}

impl MockAnthropic {
    async fn start() -> anyhow::Result<MockAnthropic> {
        let port: u16 = std::env::var("UPSTREAM_BENCH_MOCK_PORT")
            .ok()
            .map(|p| p.parse())
            .transpose()?
            .unwrap_or(0);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let answers = Arc::new(Answers::new());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: Bytes| {
            let answers = Arc::clone(&answers);
            async move { answers.answer(uri.path().ends_with("/chat/completions"), &body) }
        });
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(MockAnthropic { base })
    }
}

/// The answers, ready to send: Anthropic's and Chat Completions'.
struct Answers {
    json: Bytes,
    events: Vec<Bytes>,
    chat_json: Bytes,
    chat_events: Vec<Bytes>,
}

impl Answers {
    fn new() -> Answers {
        let text: String = (0..STREAM_CHUNKS).map(|i| format!("tok{i} ")).collect();
        let usage = json!({"input_tokens": 8, "output_tokens": STREAM_CHUNKS,
                           "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0});
        let json = json!({"id": "msg_bench", "type": "message", "role": "assistant",
                          "model": "bench-model", "stop_reason": "end_turn", "stop_sequence": null,
                          "content": [{"type": "text", "text": text}], "usage": usage});
        let event = |data: Value| {
            let name = data["type"].as_str().unwrap_or_default().to_owned();
            Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
        };
        let mut events = vec![
            event(
                json!({"type": "message_start", "message": {"id": "msg_bench",
                "type": "message", "role": "assistant", "model": "bench-model", "content": [],
                "stop_reason": null, "usage": {"input_tokens": 8, "output_tokens": 1}}}),
            ),
            event(json!({"type": "content_block_start", "index": 0,
                         "content_block": {"type": "text", "text": ""}})),
        ];
        events.extend((0..STREAM_CHUNKS).map(|i| {
            event(json!({"type": "content_block_delta", "index": 0,
                         "delta": {"type": "text_delta", "text": format!("tok{i} ")}}))
        }));
        events.push(event(json!({"type": "content_block_stop", "index": 0})));
        events.push(event(json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": STREAM_CHUNKS}})));
        events.push(event(json!({"type": "message_stop"})));
        let chat_json = json!({"id": "chatcmpl-bench", "object": "chat.completion", "created": 0,
            "model": "bench-model", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 8, "completion_tokens": STREAM_CHUNKS,
                      "total_tokens": 8 + STREAM_CHUNKS}});
        let chunk = |delta: Value, finish: Value| {
            let data = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                "created": 0, "model": "bench-model",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            Bytes::from(format!("data: {data}\n\n"))
        };
        let mut chat_events = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        chat_events.extend(
            (0..STREAM_CHUNKS).map(|i| chunk(json!({"content": format!("tok{i} ")}), Value::Null)),
        );
        chat_events.push(chunk(json!({}), json!("stop")));
        chat_events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        Answers {
            json: Bytes::from(json.to_string()),
            events,
            chat_json: Bytes::from(chat_json.to_string()),
            chat_events,
        }
    }

    fn answer(&self, chat: bool, request: &[u8]) -> Response {
        let stream = serde_json::from_slice::<Value>(request)
            .ok()
            .and_then(|body| body.get("stream")?.as_bool())
            .unwrap_or(false);
        let (json, events) = if chat {
            (&self.chat_json, &self.chat_events)
        } else {
            (&self.json, &self.events)
        };
        let (content_type, body) = if stream {
            let events = events.clone().into_iter().map(Ok::<_, std::io::Error>);
            (
                "text/event-stream",
                Body::from_stream(futures_util::stream::iter(events)),
            )
        } else {
            ("application/json", Body::from(json.clone()))
        };
        Response::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .unwrap_or_default()
    }
}
