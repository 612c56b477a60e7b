//! Runs a `cli` backend for one request: prepares a private workspace and
//! image files, spawns the CLI in its own process group with the template's
//! argv and environment, feeds the prompt, and turns stdout lines into events
//! through the output rules. Success is decided from the terminal event and
//! the exit status together, never from the exit status alone.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::backend::Backend;
use crate::backend::argv::ArgValues;
use crate::backend::cli::{CliTemplate, PromptVia, secrets_in_argv};
use crate::engine::{Reaper, Run, RunContext};
use crate::error::{Error, redact};
use crate::event::EventStream;
use crate::routes::Resolved;
use crate::turn::{Effort, Turn};

use self::process::ChildGuard;
use self::prompt::Prompt;
pub use self::workspace::WorkspacePool;
use self::workspace::{ImageFiles, Workspace};

pub mod doctor;
mod events;
mod output;
mod plan;
mod process;
pub mod prompt;
mod workspace;

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
    // A fork and exec can stall for long under I/O pressure: not on a worker.
    let (mut child, run_mark) = tokio::task::spawn_blocking(move || Reaper::spawn(&mut command))
        .await
        .map_err(|e| Error::Internal(format!("spawning the CLI: {e}")))?
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
    let running = events::Running {
        guard,
        lines: output::byte_lines(stdout, cli.max_line_bytes),
        stderr_tail,
        secrets,
    };
    Ok(events::events(backend, cli, ctx, running))
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
