//! Runs a `session` backend: a turn on a warm process from the backend's
//! pool instead of a CLI started per request. A client's conversation key
//! (`X-Session-Id`, `X-Codex-Session-Id` or a `session_id` field) binds a
//! conversation to its process, so later turns send only the new
//! messages; a key the gateway has not seen starts a conversation bound to
//! it (a lost one is continued by replaying the history the client sent).
//! A client that goes away interrupts the turn; the process serves on.
//!
//! [`Sessions`] holds the pools across config reloads, keyed by backend
//! name; `pool` keeps the processes and conversations of one backend,
//! `agent` is one process, `wire` its framing, and `claude`, `codex` and
//! `acp` the three protocols.

mod acp;
mod agent;
mod claude;
mod codex;
mod pool;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::agent::{Ending, Input, Opening, ProcessKey, Step};
use self::pool::{Deps, Lease, Pool};
use crate::backend::session::SessionTemplate;
use crate::backend::{Backend, Kind};
use crate::engine::cli::{RunRequest, plan};
use crate::engine::{Reaper, Run, RunContext, WorkspacePool};
use crate::error::Error;
use crate::event::{Event, EventStream};
use crate::routes::Resolved;
use crate::turn::Turn;

/// How often pools drop expired conversations and idle processes.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The pools of every `session` backend, kept across reloads.
#[derive(Debug)]
pub struct Sessions {
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    /// The session backends of the live config (see [`Sessions::apply`]).
    configured: Mutex<Vec<String>>,
    deps: Deps,
}

impl Sessions {
    /// No pools yet; they are made by [`Sessions::apply`] and on first use.
    /// Call within the runtime: it starts the sweeper, which ends with
    /// `shutdown` (the processes end with [`Sessions::close`]).
    pub fn new(
        reaper: Arc<Reaper>,
        workspaces: Arc<WorkspacePool>,
        shutdown: CancellationToken,
    ) -> Arc<Sessions> {
        let sessions = Arc::new(Sessions {
            pools: Mutex::default(),
            configured: Mutex::default(),
            deps: Deps {
                reaper,
                workspaces,
                shutdown: shutdown.clone(),
            },
        });
        let sweeper = Arc::downgrade(&sessions);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(SWEEP_EVERY) => {}
                }
                let Some(sessions) = sweeper.upgrade() else {
                    return;
                };
                for pool in sessions.all() {
                    pool.sweep();
                }
            }
        });
        sessions
    }

    fn all(&self) -> Vec<Arc<Pool>> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Pool>>> {
        self.pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a (re)loaded config's backends: each `session` backend's pool
    /// gets its template and is warmed; pools of backends that left end
    /// their processes.
    pub fn apply<'a>(&self, backends: impl Iterator<Item = &'a Arc<Backend>>) {
        let mut seen = Vec::new();
        for backend in backends {
            if let Kind::Session(template) = &backend.kind {
                self.pool(backend, template);
                seen.push(backend.name.clone());
            }
        }
        if let Ok(mut configured) = self.configured.lock() {
            configured.clone_from(&seen);
        }
        let mut pools = self.lock();
        pools.retain(|name, pool| {
            let keep = seen.contains(name);
            if !keep {
                pool.retire();
            }
            keep
        });
    }

    /// The pool of `backend`, made or updated to `template`.
    fn pool(&self, backend: &Arc<Backend>, template: &Arc<SessionTemplate>) -> Arc<Pool> {
        let mut pools = self.lock();
        if let Some(pool) = pools.get(&backend.name) {
            let pool = Arc::clone(pool);
            drop(pools);
            pool.configure(Arc::clone(backend), Arc::clone(template));
            return pool;
        }
        let pool = Arc::new(Pool::new(
            Arc::clone(backend),
            Arc::clone(template),
            self.deps.clone(),
        ));
        pools.insert(backend.name.clone(), Arc::clone(&pool));
        drop(pools);
        pool.refill();
        pool
    }

    /// Ends every warm process (shutdown).
    pub fn close(&self) {
        for pool in self.all() {
            pool.close();
        }
    }

    /// Each pool's processes and conversations, for `/debug/config`.
    pub fn report(&self) -> serde_json::Map<String, serde_json::Value> {
        let pools = self.lock();
        pools
            .iter()
            .map(|(name, pool)| (name.clone(), pool.report()))
            .collect()
    }
}

/// Runs `turn` on a warm process of the resolved backend.
pub(super) async fn run(
    resolved: &Resolved,
    template: Arc<SessionTemplate>,
    mut turn: Turn,
    ctx: RunContext,
) -> Result<Run, Error> {
    let backend = &resolved.backend;
    let pool = ctx.sessions.pool_for(backend, &template);
    let key = turn.session.take();
    // A conversation the process may hold gets only its new messages,
    // planned from this copy once the process is known.
    let mut new_part = key.as_ref().map(|_| turn.clone());
    // The whole conversation, checked before a process is taken: what a
    // new process is given, and the instructions, model and effort.
    let whole = plan::plan(&ctx.limits, resolved, &mut turn, &ctx.request_id)?;
    let model = if whole.model.is_empty() {
        backend.default_model.clone().unwrap_or_default()
    } else {
        whole.model.clone()
    };
    let effort = whole.effort;
    let system = whole.prompt.system.clone();
    let process = ProcessKey::new(&template, &model, effort, system.as_deref(), &resolved.vars);
    let opening = Opening {
        system,
        model: model.clone(),
    };
    let permit = ctx.limiters.acquire(backend).await?;
    let queued_at = Instant::now();
    // Starting a process and opening a conversation count against the deadline.
    let checkout = pool.checkout(key.as_deref(), &process, &opening);
    let (lease, held) = tokio::time::timeout(backend.timeout, checkout)
        .await
        .map_err(|_| Error::Timeout {
            backend: backend.name.clone(),
            after: backend.timeout,
        })??;
    let earlier = turn.first_new_message();
    let input = |planned: RunRequest| Input {
        text: planned.prompt.text,
        images: planned.images,
        model: model.clone(),
        effort,
    };
    // A process that ends before its turn starts answering is replaced,
    // once, and given the whole conversation.
    let (planned, replay) = match (held, new_part.as_mut()) {
        (Ok(()), Some(new_part)) => {
            new_part.session.clone_from(&key);
            let planned = plan::plan(&ctx.limits, resolved, new_part, &ctx.request_id)?;
            (planned, Some(input(whole)))
        }
        (held, _) => {
            if let Err(why) = held
                && earlier > 0
            {
                tracing::info!(
                    backend = %backend.name,
                    session = key.as_deref().unwrap_or_default(),
                    "conversation continues on a new process by replaying its history ({earlier} earlier messages): {why}"
                );
            }
            (whole, None)
        }
    };
    let sent = ctx.keep_sent.then(|| planned.prompt.clone());
    Ok(Run {
        conversation: key.clone(),
        events: events(lease, input(planned), replay, key, Arc::clone(backend), ctx),
        permit,
        sent,
        queued_at,
        started_at: Instant::now(),
    })
}

impl Sessions {
    /// The pool a request runs on. A request that began under a config
    /// whose backend has left since gets a pool of its own, retired: its
    /// process ends with its turn.
    fn pool_for(&self, backend: &Arc<Backend>, template: &Arc<SessionTemplate>) -> Arc<Pool> {
        if let Some(pool) = self.lock().get(&backend.name) {
            return Arc::clone(pool);
        }
        let configured = self
            .configured
            .lock()
            .is_ok_and(|names| names.contains(&backend.name));
        if configured {
            return self.pool(backend, template);
        }
        let pool = Arc::new(Pool::new(
            Arc::clone(backend),
            Arc::clone(template),
            self.deps.clone(),
        ));
        pool.retire();
        pool
    }
}

/// The turn's events: the conversation key first (when there is one),
/// then the answer as the process streams it, until its end. A process
/// that ends before it answers anything is replaced once, and given
/// `replay` (the whole conversation, when `input` holds only its new
/// messages) or `input` again.
fn events(
    mut lease: Lease,
    input: Input,
    replay: Option<Input>,
    key: Option<String>,
    backend: Arc<Backend>,
    ctx: RunContext,
) -> EventStream {
    Box::pin(async_stream::stream! {
        if let Some(key) = &key {
            yield Ok(Event::Session(key.clone()));
        }
        let deadline = Instant::now() + backend.timeout;
        let mut input = input;
        let mut replay = replay;
        let mut retried = false;
        'attempt: loop {
            let mut answered = false;
            let Some(agent) = lease.agent.as_mut() else {
                yield Err(Error::Internal("a lease without a process".into()));
                return;
            };
            tracing::debug!(backend = %backend.name, "turn starting");
            lease.starting = true;
            let sent = match tokio::time::timeout_at(deadline, agent.send_turn(&input)).await {
                Ok(sent) => sent,
                Err(_) => Err(Error::Timeout { backend: backend.name.clone(), after: backend.timeout }),
            };
            lease.starting = false;
            let failure = match sent {
                Ok(turn) => {
                    tracing::debug!(backend = %backend.name, "turn sent");
                    lease.turn = Some(turn);
                    None
                }
                Err(error) => Some(error),
            };
            let failure = match failure {
                Some(error) => error,
                None => loop {
                    let (Some(agent), Some(turn)) = (lease.agent.as_mut(), lease.turn.as_mut()) else {
                        return;
                    };
                    let step = tokio::select! {
                        biased;
                        () = ctx.shutdown.cancelled() => Err(Error::ShuttingDown),
                        () = tokio::time::sleep_until(deadline) => Err(Error::Timeout { backend: backend.name.clone(), after: backend.timeout }),
                        step = agent.step(turn) => step,
                    };
                    match step {
                        Ok(Step::Events(events)) => {
                            answered |= !events.is_empty();
                            for event in events {
                                yield Ok(event);
                            }
                        }
                        Ok(Step::End(events, ending)) => {
                            tracing::debug!(backend = %backend.name, ?ending, "turn ended");
                            lease.release();
                            for event in events {
                                yield Ok(event);
                            }
                            yield finish(ending, &backend);
                            return;
                        }
                        // A deadline or shutdown: dropping the lease interrupts the turn.
                        Err(error @ (Error::Timeout { .. } | Error::ShuttingDown)) => {
                            yield Err(error);
                            return;
                        }
                        Err(error) => break error,
                    }
                },
            };
            let broken = lease.agent.as_ref().is_some_and(agent::Agent::broken);
            if broken && !answered && !retried {
                retried = true;
                tracing::info!(
                    backend = %backend.name,
                    session = key.as_deref().unwrap_or_default(),
                    "conversation continues on a new process by replaying its history: its process ended ({failure})"
                );
                let renewed = tokio::time::timeout_at(deadline, lease.renew())
                    .await
                    .unwrap_or_else(|_| Err(Error::Timeout { backend: backend.name.clone(), after: backend.timeout }));
                match renewed {
                    Ok(()) => {
                        if let Some(whole) = replay.take() {
                            input = whole;
                        }
                        continue 'attempt;
                    }
                    Err(error) => {
                        yield Err(error);
                        return;
                    }
                }
            }
            let failure = if broken { lease.broke(failure).await } else { lease.discard(); failure };
            yield Err(failure);
            return;
        }
    })
}

/// The last item of a turn that ended.
fn finish(ending: Ending, backend: &Backend) -> Result<Event, Error> {
    match ending {
        Ending::Finished(reason) => Ok(Event::Finish(reason)),
        Ending::Interrupted => Err(agent::agent_error(
            &backend.name,
            "the turn was interrupted".into(),
        )),
        Ending::Failed(message, status) => Err(Error::Backend {
            backend: backend.name.clone(),
            upstream_status: status.or_else(|| crate::error::status_in_message(&message)),
            message: crate::error::redact(&message, &backend.secrets),
        }),
    }
}
