//! One warm process: started in its own process group with the template's
//! argv and environment, greeted with its protocol's handshake, then given
//! conversations and turns one at a time. What differs per protocol is in
//! `claude`, `codex` and `acp`; this module holds what they share: the
//! launch, requests and their answers, the agent's permission requests,
//! and the reading of one turn.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::wire::{Incoming, Wire, WireError, error_text};
use super::{acp, claude, codex};
use crate::backend::Backend;
use crate::backend::cli::secrets_in_argv;
use crate::backend::session::{Protocol, SessionTemplate};
use crate::engine::Reaper;
use crate::engine::cli::launch::{self, Spawned};
use crate::engine::cli::workspace::{Workspace, WorkspacePool};
use crate::engine::output;
use crate::engine::process::ChildGuard;
use crate::error::{Error, redact};
use crate::event::{Event, FinishReason};
use crate::turn::Effort;

/// How long a new process may take to answer its handshake.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Most bytes of messages kept while waiting for an answer (a flooding
/// agent is refused, not buffered without end).
const MAX_BACKLOG_BYTES: usize = 8 * 1024 * 1024;
/// How long opening a conversation may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// What makes two processes of one template differ: the values of the
/// placeholders their command line uses, and the route's `vars`.
/// Processes with equal keys are interchangeable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ProcessKey {
    pub(super) model: Option<String>,
    pub(super) effort: Option<Effort>,
    pub(super) system: Option<String>,
    /// The route's values of template variables (`vars` of a `[[routes]]`).
    pub(super) vars: BTreeMap<String, String>,
}

impl ProcessKey {
    /// The key of a request for `model`, `effort` and `system` on a route
    /// with `vars`, keeping only what the template's command line uses.
    pub(super) fn new(
        template: &SessionTemplate,
        model: &str,
        effort: Option<Effort>,
        system: Option<&str>,
        vars: &BTreeMap<String, String>,
    ) -> ProcessKey {
        let argv = &template.process.argv;
        // Claude Code switches models in place (`set_model`).
        let switchable = template.protocol == Protocol::ClaudeStreamJson;
        ProcessKey {
            model: (argv.uses("model") && !switchable).then(|| model.to_owned()),
            effort: effort.filter(|_| argv.uses("effort")),
            system: system.filter(|_| argv.uses("system")).map(str::to_owned),
            vars: vars.clone(),
        }
    }
}

/// What a new conversation is opened with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Opening {
    /// Instructions, for protocols that take them per conversation.
    pub(super) system: Option<String>,
    /// The model, for protocols that take it per conversation.
    pub(super) model: String,
}

/// One turn's input.
#[derive(Debug, Clone, Default)]
pub(super) struct Input {
    /// The text of the new messages.
    pub(super) text: String,
    /// Images: media type and bytes.
    pub(super) images: Vec<(String, Vec<u8>)>,
    /// The model, for protocols that take it per turn.
    pub(super) model: String,
    /// Reasoning effort, for protocols that take it per turn.
    pub(super) effort: Option<Effort>,
}

/// A turn in progress, in its protocol's terms.
pub(super) enum TurnState {
    Claude(claude::Turn),
    Codex(codex::Turn),
    Acp(acp::Turn),
}

/// What one message meant for the turn.
pub(super) enum Step {
    /// Events to pass on; the turn goes on.
    Events(Vec<Event>),
    /// The turn ended, after these events.
    End(Vec<Event>, Ending),
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ending {
    /// Completed.
    Finished(FinishReason),
    /// Stopped by our interrupt.
    Interrupted,
    /// Failed, with the agent's message and the model API's status if known.
    Failed(String, Option<u16>),
}

/// A warm process.
pub(super) struct Agent {
    pub(super) wire: Wire,
    guard: ChildGuard,
    stderr: Option<tokio::task::JoinHandle<Vec<String>>>,
    pub(super) template: Arc<SessionTemplate>,
    pub(super) backend: String,
    pub(super) key: ProcessKey,
    /// The model it runs now.
    pub(super) model: String,
    /// Its working directory.
    pub(super) cwd: PathBuf,
    /// Where fresh directories come from, and the current conversation's
    /// own (none with a configured `workspace`).
    workspaces: Arc<WorkspacePool>,
    conversation_dir: Option<Workspace>,
    pub(super) born: Instant,
    /// Turns run so far.
    pub(super) turns: u32,
    /// The protocol's id of its current conversation.
    pub(super) conversation: Option<String>,
    /// What its current conversation was opened with, while it has had no turn.
    opened: Option<Opening>,
    /// Since when it waits for a request.
    pub(super) idle_since: Instant,
    /// Counts it in its pool while it exists.
    pub(super) live: Option<super::pool::Live>,
    /// Messages read while waiting for an answer, for the turn to read,
    /// with their sizes.
    backlog: VecDeque<(Incoming, usize)>,
    backlog_bytes: usize,
    broken: std::cell::Cell<bool>,
    secrets: Vec<String>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("backend", &self.backend)
            .field("pid", &self.guard.pgid())
            .field("turns", &self.turns)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Starts a process of `template` for `key` and waits for its handshake.
    pub(super) async fn start(
        backend: &Arc<Backend>,
        template: &Arc<SessionTemplate>,
        key: ProcessKey,
        model: &str,
        reaper: &Arc<Reaper>,
        workspaces: &Arc<WorkspacePool>,
    ) -> Result<Agent, Error> {
        let launched = {
            let template = Arc::clone(template);
            let (reaper, workspaces) = (Arc::clone(reaper), Arc::clone(workspaces));
            let key = key.clone();
            let model = model.to_owned();
            let backend = Arc::clone(backend);
            // A fork and exec can stall for long under I/O pressure: not on a worker.
            tokio::task::spawn_blocking(move || {
                launch(&backend, &template, &key, &model, &reaper, &workspaces)
            })
            .await
            .map_err(|e| Error::Internal(format!("starting the CLI: {e}")))??
        };
        let Launched {
            spawned:
                Spawned {
                    guard,
                    stdin,
                    stdout,
                    stderr,
                },
            argv,
            cwd,
        } = launched;
        let stdin =
            stdin.ok_or_else(|| Error::Internal("the CLI's stdin is missing".to_owned()))?;
        let mut secrets = backend.secrets.clone();
        secrets.extend(secrets_in_argv(&argv));
        tracing::info!(
            backend = %backend.name,
            pid = guard.pgid(),
            argv = ?argv.iter().map(|a| redact(a, &secrets)).collect::<Vec<_>>(),
            "warm process started"
        );
        let stderr = tokio::spawn(output::drain_stderr(
            stderr,
            backend.name.clone(),
            secrets.clone(),
            false,
        ));
        let mut agent = Agent {
            wire: Wire::new(
                template.protocol,
                stdin,
                stdout,
                template.process.max_line_bytes,
            ),
            guard,
            stderr: Some(stderr),
            template: Arc::clone(template),
            backend: backend.name.clone(),
            key,
            model: model.to_owned(),
            cwd,
            workspaces: Arc::clone(workspaces),
            conversation_dir: None,
            born: Instant::now(),
            turns: 0,
            conversation: None,
            opened: None,
            idle_since: Instant::now(),
            live: None,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            broken: std::cell::Cell::new(false),
            secrets,
        };
        let handshake = async {
            match agent.template.protocol {
                Protocol::ClaudeStreamJson => claude::handshake(&mut agent).await,
                Protocol::CodexAppServer => codex::handshake(&mut agent).await,
                Protocol::Acp => acp::handshake(&mut agent).await,
            }
        };
        match tokio::time::timeout(READY_TIMEOUT, handshake).await {
            Ok(Ok(())) => Ok(agent),
            Ok(Err(error)) => Err(agent.failed(error).await),
            Err(_) => Err(agent
                .failed(agent_error(
                    &backend.name,
                    format!(
                        "it did not finish its handshake within {}s",
                        READY_TIMEOUT.as_secs()
                    ),
                ))
                .await),
        }
    }

    /// The working directory of a new conversation: a fresh private one
    /// (the last conversation's is removed), or the configured workspace.
    pub(super) fn conversation_cwd(&mut self) -> Result<PathBuf, Error> {
        if self.template.process.workspace.is_some() {
            return Ok(self.cwd.clone());
        }
        let fresh = Workspace::prepare(None, &self.workspaces)
            .map_err(|e| Error::Internal(format!("cannot prepare a workspace: {e}")))?;
        let cwd = fresh.path().to_path_buf();
        if let Some(old) = self.conversation_dir.replace(fresh) {
            tokio::task::spawn_blocking(move || drop(old));
        }
        Ok(cwd)
    }

    /// It has held a conversation (a turn since the last one was opened),
    /// which must be cleared before another.
    pub(super) fn dirty(&self) -> bool {
        self.turns > 0 && self.opened.is_none()
    }

    /// Whether the process is still running.
    pub(super) fn alive(&mut self) -> bool {
        self.guard.running()
    }

    /// The process group id.
    pub(super) fn pid(&self) -> Option<i32> {
        self.guard.pgid()
    }

    /// Opens a new conversation, clearing the last one first; one opened
    /// ahead with the same instructions and model, still without a turn,
    /// is used as it is.
    pub(super) async fn open(&mut self, opening: &Opening) -> Result<(), Error> {
        // Claude Code's instructions are on its command line (the key),
        // and it switches models with the turn.
        let claude = self.template.protocol == Protocol::ClaudeStreamJson;
        if self.opened.as_ref().is_some_and(|o| claude || o == opening) {
            return Ok(());
        }
        self.opened = None;
        self.backlog.clear();
        self.backlog_bytes = 0;
        let opened = async {
            match self.template.protocol {
                Protocol::ClaudeStreamJson => claude::open(self).await,
                Protocol::CodexAppServer => codex::open(self, opening).await,
                Protocol::Acp => acp::open(self).await,
            }
        };
        let native = match tokio::time::timeout(OPEN_TIMEOUT, opened).await {
            Ok(opened) => opened?,
            Err(_) => {
                return Err(self.error(format!(
                    "it did not open a conversation within {}s",
                    OPEN_TIMEOUT.as_secs()
                )));
            }
        };
        self.conversation = native;
        self.opened = Some(opening.clone());
        Ok(())
    }

    /// Sends a turn.
    pub(super) async fn send_turn(&mut self, input: &Input) -> Result<TurnState, Error> {
        self.turns += 1;
        self.opened = None;
        match self.template.protocol {
            Protocol::ClaudeStreamJson => claude::start(self, input).await.map(TurnState::Claude),
            Protocol::CodexAppServer => codex::start(self, input).await.map(TurnState::Codex),
            Protocol::Acp => acp::start(self, input).await.map(TurnState::Acp),
        }
    }

    /// The next step of `turn`: reads messages (answering the agent's
    /// requests) until one means something for the turn.
    pub(super) async fn step(&mut self, turn: &mut TurnState) -> Result<Step, Error> {
        loop {
            let message = match self.backlog.pop_front() {
                Some((message, size)) => {
                    self.backlog_bytes -= size;
                    message
                }
                None => self.read().await?,
            };
            let step = match (&mut *turn, message) {
                (_, Incoming::Request { id, method, params }) => {
                    self.permission(id, &method, &params).await?;
                    continue;
                }
                (TurnState::Claude(turn), message) => claude::step(turn, message),
                (TurnState::Codex(turn), message) => codex::step(turn, message),
                (TurnState::Acp(turn), message) => acp::step(turn, message),
            };
            match step {
                Some(step) => return Ok(step),
                None => continue,
            }
        }
    }

    /// Asks the agent to stop `turn`; its end still has to be read.
    pub(super) async fn interrupt(&mut self, turn: &TurnState) -> Result<(), Error> {
        match turn {
            TurnState::Claude(_) => claude::interrupt(self).await,
            TurnState::Codex(turn) => codex::interrupt(self, turn).await,
            TurnState::Acp(turn) => acp::interrupt(self, turn).await,
        }
    }

    /// Sends request `method` and waits for its answer, keeping what else
    /// arrives meanwhile for the turn.
    pub(super) async fn call(&mut self, method: &str, params: Value) -> Result<Value, Error> {
        let id = self
            .wire
            .request(method, params)
            .await
            .map_err(|e| self.wire_error(&e))?;
        loop {
            match self.read().await? {
                Incoming::Response { id: got, result } if got == id => {
                    return result.map_err(|error| {
                        self.error(format!("`{method}` failed: {}", error_text(&error)))
                    });
                }
                Incoming::Request { id, method, params } => {
                    self.permission(id, &method, &params).await?;
                }
                _ if self.backlog_bytes > MAX_BACKLOG_BYTES => {
                    self.broken.set(true);
                    return Err(self.error(format!(
                        "it sent more than {MAX_BACKLOG_BYTES} bytes without answering `{method}`"
                    )));
                }
                other => {
                    let size = self.wire.last_len();
                    self.backlog_bytes += size;
                    self.backlog.push_back((other, size));
                }
            }
        }
    }

    /// Sends request `method` without waiting: its answer, when it comes,
    /// is read as part of the turn (an interrupt's).
    pub(super) async fn send_request(&mut self, method: &str, params: Value) -> Result<(), Error> {
        match self.wire.request(method, params).await {
            Ok(_) => Ok(()),
            Err(error) => Err(self.wire_error(&error)),
        }
    }

    /// Reads one message.
    pub(super) async fn read(&mut self) -> Result<Incoming, Error> {
        self.wire.next().await.map_err(|e| self.wire_error(&e))
    }

    /// Answers the agent's request for a permission by the template's
    /// policy; other requests are refused as not supported.
    async fn permission(&mut self, id: Value, method: &str, params: &Value) -> Result<(), Error> {
        let approvals = self.template.approvals;
        let answer = match self.template.protocol {
            Protocol::ClaudeStreamJson => claude::permission(method, params, approvals),
            Protocol::CodexAppServer => codex::permission(method, params, approvals),
            Protocol::Acp => acp::permission(method, params, approvals),
        };
        tracing::debug!(backend = %self.backend, method, policy = ?approvals, supported = answer.is_ok(), "agent request answered");
        self.wire
            .answer(id, answer)
            .await
            .map_err(|e| self.wire_error(&e))
    }

    /// A failure of this process, its message redacted.
    pub(super) fn error(&self, message: String) -> Error {
        agent_error(&self.backend, redact(&message, &self.secrets))
    }

    /// A failure of the pipes: the process is broken (ended, or out of step).
    pub(super) fn wire_error(&self, error: &WireError) -> Error {
        self.broken.set(true);
        self.error(format!("`{}`: {error}", self.template.process.command))
    }

    /// Its pipes failed, or a write to it was cut short: it cannot serve again.
    pub(super) fn broken(&self) -> bool {
        self.broken.get() || self.wire.cut()
    }

    /// `error`, with the last lines the process printed on stderr if it
    /// has ended. The process is ended.
    pub(super) async fn failed(mut self, error: Error) -> Error {
        self.guard.terminate().await;
        let tail = match self.stderr.take() {
            Some(tail) => tokio::time::timeout(Duration::from_millis(500), tail)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        match error {
            Error::Backend {
                backend,
                upstream_status,
                message,
            } if !tail.is_empty() => Error::Backend {
                backend,
                upstream_status,
                message: format!("{message}: {}", tail.join("\n")),
            },
            other => other,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // The conversation's directory goes once the process group is dead,
        // off the async workers, as the process's own workspace does.
        if let Some(dir) = self.conversation_dir.take() {
            self.guard.keep_until_dead(dir);
        }
    }
}

/// A failure of a warm process of `backend`.
pub(super) fn agent_error(backend: &str, message: String) -> Error {
    Error::Backend {
        backend: backend.to_owned(),
        upstream_status: crate::error::status_in_message(&message),
        message,
    }
}

/// A started process, before its handshake.
struct Launched {
    spawned: Spawned,
    argv: Vec<String>,
    cwd: PathBuf,
}

/// Prepares the working directory and spawns the process, as a one-shot
/// CLI is (`engine::cli::launch`). Blocks.
fn launch(
    backend: &Backend,
    template: &SessionTemplate,
    key: &ProcessKey,
    model: &str,
    reaper: &Arc<Reaper>,
    workspaces: &Arc<WorkspacePool>,
) -> Result<Launched, Error> {
    let process = &template.process;
    let workspace = launch::workspace(process, workspaces, reaper)?;
    let cwd = workspace.path().to_path_buf();
    let mut values = launch::base_values(process, &key.vars, &cwd);
    for (name, value) in [
        ("model", Some(model.to_owned()).filter(|m| !m.is_empty())),
        ("effort", key.effort.map(|e| e.as_str().to_owned())),
        ("system", key.system.clone()),
    ] {
        if let Some(value) = value {
            values.scalars.insert(name.into(), value);
        }
    }
    let argv = process.argv.render(&values);
    let spawned = launch::spawn(
        backend,
        process,
        &argv,
        &cwd,
        Stdio::piped(),
        reaper,
        workspace,
    )?;
    Ok(Launched { spawned, argv, cwd })
}

/// The usage event of a turn's end, when it reported any.
pub(super) fn usage_events(usage: crate::event::Usage) -> Vec<Event> {
    if usage.is_empty() {
        Vec::new()
    } else {
        vec![Event::Usage(usage)]
    }
}

/// Usage numbers at JSON pointers of `value`.
pub(super) fn count(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}
