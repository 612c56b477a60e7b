//! The CLI's output turned into events as it comes, and the end of the
//! run: success is decided from the terminal event and the exit status
//! together, never from the exit status alone; deadlines, shutdown and
//! over-long lines stop the whole process group.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::time::Instant;

use crate::backend::Backend;
use crate::backend::cli::CliTemplate;
use crate::backend::decode::Decoder;
use crate::engine::RunContext;
use crate::engine::output::{self, ByteLines, Line};
use crate::engine::process::ChildGuard;
use crate::error::{Error, redact, status_in_message};
use crate::event::{Event, EventStream, FinishReason};

/// A spawned CLI: its process, its output, and what to redact from it.
pub(super) struct Running {
    pub(super) guard: ChildGuard,
    pub(super) lines: ByteLines<tokio::process::ChildStdout>,
    pub(super) stderr_tail: tokio::task::JoinHandle<Vec<String>>,
    pub(super) secrets: Vec<String>,
}

/// After the terminal event, how long the CLI gets to exit on its own.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// After the leader exited, how long to keep reading output still buffered.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// What woke the reading loop.
enum Step {
    Line(Option<std::io::Result<Line>>),
    Exited,
    Deadline,
    GraceOver,
    Shutdown,
}

/// How the CLI's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Status(Option<i32>),
    /// Still running after its terminal event and grace period; it was killed.
    KilledAfterTerminal,
}

/// Where the reading of one run stands.
#[derive(Default)]
struct Reading {
    decoder: Decoder,
    /// When to stop waiting for more output (after the terminal event or the exit).
    grace_until: Option<Instant>,
    exited: bool,
    grace_over: bool,
    lossy_lines: usize,
}

/// The run's events: one per meaningful output line, then usage and the
/// finish, or the error that ended it.
pub(super) fn events(
    backend: Arc<Backend>,
    cli: Arc<CliTemplate>,
    ctx: RunContext,
    running: Running,
) -> EventStream {
    let Running {
        mut guard,
        mut lines,
        stderr_tail,
        secrets,
    } = running;
    Box::pin(async_stream::stream! {
        let deadline = Instant::now() + backend.timeout;
        let mut reading = Reading::default();
        loop {
            let step = tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => Step::Shutdown,
                () = tokio::time::sleep_until(deadline) => Step::Deadline,
                () = sleep_until_opt(reading.grace_until) => Step::GraceOver,
                _ = guard.wait(), if !reading.exited => Step::Exited,
                line = lines.next() => Step::Line(line),
            };
            let stop = match step {
                Step::Shutdown => Some(Error::ShuttingDown),
                Step::Deadline => Some(Error::Timeout { backend: backend.name.clone(), after: backend.timeout }),
                Step::GraceOver => {
                    reading.grace_over = true;
                    break;
                }
                Step::Exited => {
                    reading.exited = true;
                    let drain = Instant::now() + DRAIN_GRACE;
                    reading.grace_until = Some(reading.grace_until.map_or(drain, |g| g.min(drain)));
                    None
                }
                Step::Line(None) => break,
                Step::Line(Some(Ok(Line::TooLong))) => Some(Error::Backend {
                    backend: backend.name.clone(),
                    upstream_status: None,
                    message: format!(
                        "an output line exceeded {} bytes; raise backends.{}.max_line_bytes",
                        cli.max_line_bytes, backend.name
                    ),
                }),
                Step::Line(Some(Err(e))) => Some(Error::Internal(format!("reading the CLI's output: {e}"))),
                Step::Line(Some(Ok(Line::Bytes(line)))) => {
                    for event in reading.line(&line, &backend, &cli, &secrets, ctx.log_events) {
                        yield Ok(event);
                    }
                    None
                }
            };
            if let Some(error) = stop {
                guard.terminate().await;
                yield Err(error);
                return;
            }
        }
        let exit = reading.exit(&mut guard).await;
        let stderr = tokio::time::timeout(DRAIN_GRACE, stderr_tail).await.ok().and_then(Result::ok).unwrap_or_default();
        reading.log_oddities(&backend.name);
        match verdict(&backend, &cli, &reading.decoder, exit, &stderr, &secrets) {
            Ok(()) => {
                let usage = reading.decoder.usage();
                if !usage.is_empty() {
                    yield Ok(Event::Usage(usage));
                }
                yield Ok(Event::Finish(FinishReason::Stop));
            }
            Err(error) => yield Err(error),
        }
    })
}

impl Reading {
    /// The events of one output line.
    fn line(
        &mut self,
        line: &[u8],
        backend: &Backend,
        cli: &CliTemplate,
        secrets: &[String],
        log_events: bool,
    ) -> Vec<Event> {
        let (line, valid) = output::decode(line);
        if !valid {
            self.lossy_lines += 1;
        }
        let mut events = self.decoder.line(&cli.rules, &line);
        // A session a client could not resume with is not offered.
        if !backend.capabilities.sessions {
            events.retain(|e| !matches!(e, Event::Session(_)));
        }
        for warning in self.decoder.take_warnings() {
            output::log_cli_line(&backend.name, &redact(&warning, secrets), log_events);
        }
        if self.decoder.terminal() && self.grace_until.is_none() {
            self.grace_until = Some(Instant::now() + EXIT_GRACE);
        }
        events
    }

    /// How the process ended, once its output is over (EOF, or the grace
    /// after the terminal event or the exit ran out). A CLI still running
    /// now gets [`EXIT_GRACE`] at most.
    async fn exit(&self, guard: &mut ChildGuard) -> Exit {
        let waited = if self.exited || self.grace_over {
            guard.exit_status()
        } else {
            tokio::time::timeout(EXIT_GRACE, guard.wait())
                .await
                .ok()
                .flatten()
        };
        if let Some(status) = waited {
            return Exit::Status(status.code());
        }
        guard.terminate().await;
        if self.decoder.terminal() {
            Exit::KilledAfterTerminal
        } else {
            Exit::Status(guard.exit_status().and_then(|s| s.code()))
        }
    }

    /// Logs the lines that were not JSON or not UTF-8.
    fn log_oddities(&self, backend: &str) {
        let non_json = self.decoder.non_json_lines();
        if non_json > 0 {
            tracing::debug!(backend, lines = non_json, "ignored non-JSON output lines");
        }
        if self.lossy_lines > 0 {
            tracing::warn!(
                backend,
                lines = self.lossy_lines,
                "output lines were not valid UTF-8; invalid bytes were replaced"
            );
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Decides how a finished run ended.
fn verdict(
    backend: &Backend,
    cli: &CliTemplate,
    decoder: &Decoder,
    exit: Exit,
    stderr: &[String],
    secrets: &[String],
) -> Result<(), Error> {
    let fail = |message: String, status: Option<u16>| Error::Backend {
        backend: backend.name.clone(),
        upstream_status: status.or_else(|| status_in_message(&message)),
        message: redact(&message, secrets),
    };
    let exit_code = match exit {
        Exit::Status(code) => code,
        Exit::KilledAfterTerminal => Some(0),
    };
    let mapped = exit_code.and_then(|c| cli.exit_status.get(&c).copied());
    if let Some(reported) = decoder.error() {
        return Err(fail(reported.message.clone(), reported.status.or(mapped)));
    }
    let stderr_text = || {
        if stderr.is_empty() {
            String::new()
        } else {
            format!(": {}", stderr.join("\n"))
        }
    };
    let described = match exit_code {
        Some(code) => format!("exit status {code}"),
        None => "a signal".to_owned(),
    };
    if cli.rules.has_terminal() && !decoder.terminal() {
        return Err(fail(
            format!(
                "`{}` ended with {described} before finishing its answer{}",
                cli.command,
                stderr_text()
            ),
            mapped,
        ));
    }
    if exit_code != Some(0) {
        return Err(fail(
            format!("`{}` ended with {described}{}", cli.command, stderr_text()),
            mapped,
        ));
    }
    Ok(())
}
