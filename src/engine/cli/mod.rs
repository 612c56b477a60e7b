//! Runs a `cli` backend for one request: prepares a private workspace and
//! image files, spawns the CLI in its own process group with the template's
//! argv and environment, feeds the prompt, and turns stdout lines into events
//! through the output rules. Success is decided from the terminal event and
//! the exit status together, never from the exit status alone.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::backend::Backend;
use crate::backend::argv::ArgValues;
use crate::backend::cli::{CliTemplate, PromptVia, secrets_in_argv};
use crate::backend::decode::Decoder;
use crate::engine::{Run, RunContext};
use crate::error::{Error, redact, status_in_message};
use crate::event::{Event, EventStream, FinishReason};
use crate::routes::Resolved;
use crate::turn::{Effort, Turn};

use self::output::{ByteLines, Line};
use self::process::ChildGuard;
use self::prompt::Prompt;
pub use self::workspace::WorkspacePool;
use self::workspace::{ImageFiles, Workspace};

pub mod doctor;
mod output;
mod plan;
mod process;
pub mod prompt;
mod workspace;

/// After the terminal event, how long the CLI gets to exit on its own.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// After the leader exited, how long to keep reading output still buffered.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// Linux refuses a single argv element longer than this (MAX_ARG_STRLEN).
const MAX_ARG_BYTES: usize = 128 * 1024 - 1;

/// What one run needs from the request.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// Id used in logs and the `{request_id}` placeholder.
    pub request_id: String,
    /// Model passed to the CLI.
    pub model: String,
    /// The flattened conversation.
    pub prompt: Prompt,
    /// Reasoning effort.
    pub effort: Option<Effort>,
    /// Session to resume.
    pub session: Option<String>,
    /// Decoded images: media type and bytes.
    pub images: Vec<(String, Vec<u8>)>,
    /// Route-level values for template variables.
    pub vars: BTreeMap<String, String>,
}

/// Runs `turn` on a CLI backend: plans what the CLI is given (refusing
/// what it cannot take), waits for a slot, spawns it.
pub(super) async fn run(
    resolved: &Resolved,
    cli: Arc<CliTemplate>,
    mut turn: Turn,
    ctx: RunContext,
) -> Result<Run, Error> {
    let request = plan::plan(&ctx.limits, resolved, &cli, &mut turn, &ctx.request_id)?;
    let sent = ctx.keep_sent.then(|| request.prompt.clone());
    let permit = ctx.limiters.acquire(&resolved.backend).await?;
    let queued_at = Instant::now();
    let events = start(Arc::clone(&resolved.backend), cli, request, ctx).await?;
    Ok(Run {
        events,
        permit,
        sent,
        queued_at,
        started_at: Instant::now(),
    })
}

/// Spawns the CLI and returns its events as they come.
///
/// # Errors
/// A prompt too long for argv ([`Error::TooLarge`]), a workspace that cannot
/// be created ([`Error::Internal`]) or a CLI that cannot be started
/// ([`Error::Backend`]).
async fn start(
    backend: Arc<Backend>,
    cli: Arc<CliTemplate>,
    mut run: RunRequest,
    ctx: RunContext,
) -> Result<EventStream, Error> {
    if cli.prompt_via == PromptVia::Arg && run.prompt.text.len() > MAX_ARG_BYTES {
        return Err(Error::TooLarge(format!(
            "the prompt is {} bytes, but backend `{}` takes it as one argument and Linux limits that to 128 KiB; \
             use `prompt = \"stdin\"` for this backend",
            run.prompt.text.len(),
            backend.name
        )));
    }
    // Text bound for the command line cannot hold a NUL: refuse it before
    // anything is prepared.
    let on_command_line = [
        run.prompt.system.as_deref(),
        run.session.as_deref(),
        (cli.prompt_via == PromptVia::Arg).then_some(run.prompt.text.as_str()),
    ];
    if on_command_line
        .into_iter()
        .flatten()
        .any(|text| text.contains('\0'))
    {
        return Err(Error::InvalidRequest(format!(
            "the request contains a NUL character, which cannot reach `{}` on its command line \
             (a system message, or the prompt of a backend with prompt = \"arg\"): remove it",
            cli.command
        )));
    }
    let workspace = Workspace::prepare(cli.workspace.as_deref(), &ctx.workspaces)
        .map_err(|e| Error::Internal(format!("cannot prepare the workspace: {e}")))?;
    if ctx.workspaces.wants_refill() {
        let pool = Arc::clone(&ctx.workspaces);
        ctx.reaper.track_blocking(move || pool.refill());
    }
    let images = write_images(std::mem::take(&mut run.images)).await?;
    let argv = render_argv(&cli, &run, &workspace, &images);
    // Values the template passed to secret options (`--api-key {key}`) are
    // as secret as the backend's own.
    let mut secrets = backend.secrets.clone();
    secrets.extend(secrets_in_argv(&argv));

    let mut command = tokio::process::Command::new(cli.executable());
    command
        .args(&argv)
        .current_dir(workspace.path())
        .env_clear()
        .envs(cli.env.iter().map(|(k, v)| (k, v)))
        .stdin(match cli.prompt_via {
            PromptVia::Stdin => Stdio::piped(),
            PromptVia::Arg => Stdio::null(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let (mut child, run_mark) = ctx
        .reaper
        .spawn(&mut command)
        .map_err(|e| spawn_error(&backend, &cli, &e))?;
    let pipes = (child.stdout.take(), child.stderr.take(), child.stdin.take());
    let guard = ChildGuard::new(child, Arc::clone(&ctx.reaper), run_mark);
    let (Some(stdout), Some(stderr), stdin) = pipes else {
        return Err(Error::Internal("the CLI's pipes are missing".to_owned()));
    };
    if let Some(mut stdin) = stdin {
        let prompt = std::mem::take(&mut run.prompt.text).into_bytes();
        tokio::spawn(async move {
            // A CLI that exits early closes the pipe; its exit status tells why.
            let _ = stdin.write_all(&prompt).await;
            let _ = stdin.shutdown().await;
        });
    }
    tracing::debug!(
        request_id = %run.request_id,
        backend = %backend.name,
        pgid = guard.pgid(),
        argv = ?argv.iter().map(|a| redact(a, &secrets)).collect::<Vec<_>>(),
        "spawned"
    );
    let stderr_tail = tokio::spawn(output::drain_stderr(
        stderr,
        backend.name.clone(),
        secrets.clone(),
        ctx.log_events,
    ));
    let mut guard = guard;
    guard.keep_until_dead((workspace, images));
    let running = Running {
        guard,
        lines: output::byte_lines(stdout, cli.max_line_bytes),
        stderr_tail,
        secrets,
    };
    Ok(events(backend, cli, ctx, running))
}

/// A spawned CLI: its process, its output, and what to redact from it.
struct Running {
    guard: ChildGuard,
    lines: ByteLines<tokio::process::ChildStdout>,
    stderr_tail: tokio::task::JoinHandle<Vec<String>>,
    secrets: Vec<String>,
}

async fn write_images(images: Vec<(String, Vec<u8>)>) -> Result<ImageFiles, Error> {
    if images.is_empty() {
        return Ok(ImageFiles::default());
    }
    tokio::task::spawn_blocking(move || ImageFiles::write(&images))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::Internal(format!("cannot write image files: {e}")))
}

fn render_argv(
    cli: &CliTemplate,
    run: &RunRequest,
    workspace: &Workspace,
    images: &ImageFiles,
) -> Vec<String> {
    let mut values = ArgValues::default();
    values.scalars.extend(cli.vars.clone());
    values.scalars.extend(run.vars.clone());
    values.scalars.insert("model".into(), run.model.clone());
    values.scalars.insert(
        "workspace".into(),
        workspace.path().to_string_lossy().into_owned(),
    );
    values
        .scalars
        .insert("request_id".into(), run.request_id.clone());
    if let Some(system) = &run.prompt.system {
        values.scalars.insert("system".into(), system.clone());
    }
    if let Some(session) = &run.session {
        values.scalars.insert("session".into(), session.clone());
    }
    if let Some(effort) = run.effort {
        values
            .scalars
            .insert("effort".into(), effort.as_str().into());
    }
    values.lists.extend(cli.lists.clone());
    values.lists.insert(
        crate::backend::argv::IMAGES.0.to_owned(),
        images.paths.clone(),
    );
    let mut argv = cli.argv.render(&values);
    if cli.prompt_via == PromptVia::Arg {
        argv.push("--".to_owned());
        argv.push(run.prompt.text.clone());
    }
    argv
}

fn spawn_error(backend: &Backend, cli: &CliTemplate, error: &std::io::Error) -> Error {
    let hint = if error.kind() == std::io::ErrorKind::NotFound {
        format!(
            " (is it installed and on PATH? set backends.{}.command to its path)",
            backend.name
        )
    } else {
        String::new()
    };
    Error::Backend {
        backend: backend.name.clone(),
        upstream_status: None,
        message: format!("cannot start `{}`: {error}{hint}", cli.command),
    }
}

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

fn events(
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
        let mut decoder = Decoder::default();
        let mut grace_until: Option<Instant> = None;
        let mut exited = false;
        let mut grace_over = false;
        let mut lossy_lines = 0_usize;
        loop {
            let step = tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => Step::Shutdown,
                () = tokio::time::sleep_until(deadline) => Step::Deadline,
                () = sleep_until_opt(grace_until) => Step::GraceOver,
                _ = guard.wait(), if !exited => Step::Exited,
                line = lines.next() => Step::Line(line),
            };
            match step {
                Step::Shutdown => {
                    guard.terminate().await;
                    yield Err(Error::ShuttingDown);
                    return;
                }
                Step::Deadline => {
                    guard.terminate().await;
                    yield Err(Error::Timeout { backend: backend.name.clone(), after: backend.timeout });
                    return;
                }
                Step::GraceOver => {
                    grace_over = true;
                    break;
                }
                Step::Exited => {
                    exited = true;
                    grace_until = Some(grace_until.map_or(Instant::now() + DRAIN_GRACE, |g| g.min(Instant::now() + DRAIN_GRACE)));
                }
                Step::Line(None) => break,
                Step::Line(Some(Ok(Line::TooLong))) => {
                    guard.terminate().await;
                    yield Err(Error::Backend {
                        backend: backend.name.clone(),
                        upstream_status: None,
                        message: format!(
                            "an output line exceeded {} bytes; raise backends.{}.max_line_bytes",
                            cli.max_line_bytes, backend.name
                        ),
                    });
                    return;
                }
                Step::Line(Some(Err(e))) => {
                    guard.terminate().await;
                    yield Err(Error::Internal(format!("reading the CLI's output: {e}")));
                    return;
                }
                Step::Line(Some(Ok(Line::Bytes(line)))) => {
                    let (line, valid) = output::decode(&line);
                    if !valid {
                        lossy_lines += 1;
                    }
                    for event in decoder.line(&cli.rules, &line) {
                        // A session a client could not resume with is not offered.
                        if matches!(event, Event::Session(_)) && !backend.capabilities.sessions {
                            continue;
                        }
                        yield Ok(event);
                    }
                    for warning in decoder.take_warnings() {
                        output::log_cli_line(&backend.name, &redact(&warning, &secrets), ctx.log_events);
                    }
                    if decoder.terminal() && grace_until.is_none() {
                        grace_until = Some(Instant::now() + EXIT_GRACE);
                    }
                }
            }
        }
        // Output is over (EOF, or the grace after the terminal event or the
        // exit ran out). A CLI still running now gets EXIT_GRACE at most.
        let waited = if exited || grace_over {
            guard.exit_status()
        } else {
            tokio::time::timeout(EXIT_GRACE, guard.wait()).await.ok().flatten()
        };
        let exit = match waited {
            Some(status) => Exit::Status(status.code()),
            None => {
                guard.terminate().await;
                if decoder.terminal() {
                    Exit::KilledAfterTerminal
                } else {
                    Exit::Status(guard.exit_status().and_then(|s| s.code()))
                }
            }
        };
        let stderr = tokio::time::timeout(DRAIN_GRACE, stderr_tail).await.ok().and_then(Result::ok).unwrap_or_default();
        if decoder.non_json_lines() > 0 {
            tracing::debug!(backend = %backend.name, lines = decoder.non_json_lines(), "ignored non-JSON output lines");
        }
        if lossy_lines > 0 {
            tracing::warn!(backend = %backend.name, lines = lossy_lines, "output lines were not valid UTF-8; invalid bytes were replaced");
        }
        match verdict(&backend, &cli, &decoder, exit, &stderr, &secrets) {
            Ok(()) => {
                let usage = decoder.usage();
                if !usage.is_empty() {
                    yield Ok(Event::Usage(usage));
                }
                yield Ok(Event::Finish(FinishReason::Stop));
            }
            Err(error) => yield Err(error),
        }
    })
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
