//! Runs a `cli` backend for one request: prepares a private workspace and
//! image files, spawns the CLI in its own process group with the template's
//! argv and environment, feeds the prompt, and turns stdout lines into events
//! through the output rules. Success is decided from the terminal event and
//! the exit status together, never from the exit status alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::backend::Backend;
use crate::backend::cli::{CliTemplate, PromptVia, secrets_in_argv};
use crate::engine::{Run, RunContext};
use crate::error::{Error, redact};
use crate::event::{Event, EventStream};
use crate::routes::Resolved;
use crate::turn::{Effort, Turn};

use self::launch::{Launch, Launched};
use self::prompt::Prompt;
pub use self::resume::Resumable;
pub use self::workspace::WorkspacePool;
use crate::engine::output;

pub mod doctor;
mod events;
pub(crate) mod launch;

pub(crate) mod plan;

pub mod prompt;
mod resume;
pub(crate) mod workspace;

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
    let backend = &resolved.backend;
    let key = turn
        .session
        .take()
        .filter(|_| backend.capabilities.sessions);
    if let Some(key) = &key {
        turn.session = ctx.resumable.native(&backend.name, key);
        if turn.session.is_none() {
            tracing::info!(
                backend = %backend.name,
                session = %key,
                "a session id this gateway did not hand out: a new conversation starts with the whole history, bound to it"
            );
        }
    }
    let request = plan::plan(&ctx.limits, resolved, &mut turn, &ctx.request_id)?;
    let sent = ctx.keep_sent.then(|| request.prompt.clone());
    let permit = ctx.limiters.acquire(&resolved.backend).await?;
    let queued_at = Instant::now();
    let resumable = Arc::clone(&ctx.resumable);
    let events = start(Arc::clone(&resolved.backend), cli, request, ctx).await?;
    let events = bind_sessions(events, key, resolved.backend.name.clone(), resumable);
    Ok(Run {
        events,
        permit,
        sent,
        queued_at,
        started_at: Instant::now(),
        conversation: None,
    })
}

/// The CLI's session ids, bound to the client's key (or to themselves),
/// which the answer names instead.
fn bind_sessions(
    events: EventStream,
    key: Option<String>,
    backend: String,
    resumable: Arc<Resumable>,
) -> EventStream {
    use futures_util::StreamExt as _;
    Box::pin(events.map(move |event| match event {
        Ok(Event::Session(native)) => {
            let key = key.clone().unwrap_or_else(|| native.clone());
            resumable.bind(&backend, &key, &native);
            Ok(Event::Session(key))
        }
        other => other,
    }))
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
    check_command_line(&backend, &cli, &run)?;
    let stdin_prompt = (cli.prompt_via == PromptVia::Stdin)
        .then(|| std::mem::take(&mut run.prompt.text).into_bytes());
    let request_id = run.request_id.clone();
    let launch = Launch {
        backend: Arc::clone(&backend),
        cli: Arc::clone(&cli),
        run,
        workspaces: Arc::clone(&ctx.workspaces),
        reaper: Arc::clone(&ctx.reaper),
    };
    // A fork and exec can stall for long under I/O pressure: not on a worker.
    let Launched {
        guard,
        stdout,
        stderr,
        stdin,
        argv,
    } = tokio::task::spawn_blocking(move || launch.launch())
        .await
        .map_err(|e| Error::Internal(format!("starting the CLI: {e}")))??;
    // Values the template passed to secret options (`--api-key {key}`) are
    // as secret as the backend's own.
    let mut secrets = backend.secrets.clone();
    secrets.extend(secrets_in_argv(&argv));
    if let (Some(mut stdin), Some(prompt)) = (stdin, stdin_prompt) {
        tokio::spawn(async move {
            // A CLI that exits early closes the pipe; its exit status tells why.
            let _ = stdin.write_all(&prompt).await;
            let _ = stdin.shutdown().await;
        });
    }
    tracing::debug!(
        request_id = %request_id,
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
    let running = events::Running {
        guard,
        lines: output::byte_lines(stdout, cli.max_line_bytes),
        stderr_tail,
        secrets,
    };
    Ok(events::events(backend, cli, ctx, running))
}

/// Refuses what cannot go on the CLI's command line: a prompt longer than
/// one argument may be, text with a NUL in it.
fn check_command_line(backend: &Backend, cli: &CliTemplate, run: &RunRequest) -> Result<(), Error> {
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
    Ok(())
}
