//! The warm processes of one backend and the conversations bound to them.
//!
//! A process is idle (clean, ready for a new conversation), bound to a
//! conversation (a client's key, kept for its next turn), or in a turn.
//! A request with a key the pool knows gets that conversation's process;
//! any other gets an idle one, else a newly started one (up to the
//! backend's `max_concurrency`), else the least recently used bound one,
//! whose conversation is then forgotten. A process whose conversation
//! ends (a request without a key, an evicted or expired conversation) is
//! cleared before it is idle again, so nothing of one conversation reaches
//! another. Processes that crashed, are too old, have run `max_turns`, or
//! come from a replaced template are ended, and the pool is refilled to
//! `min_warm` in the background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Notify, OwnedMutexGuard};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::agent::{Agent, Opening, ProcessKey, TurnState};
use crate::backend::Backend;
use crate::backend::session::SessionTemplate;
use crate::engine::Reaper;
use crate::engine::cli::workspace::WorkspacePool;
use crate::error::Error;

/// How long an interrupted turn may take to end before its process is
/// killed and replaced.
pub(super) const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
/// After a process failed to start, how long before the pool tries again
/// on its own (requests still try at once).
const REFILL_BACKOFF: Duration = Duration::from_secs(30);

/// What the pools need to start processes.
#[derive(Debug, Clone)]
pub(super) struct Deps {
    pub(super) reaper: Arc<Reaper>,
    pub(super) workspaces: Arc<WorkspacePool>,
    pub(super) shutdown: CancellationToken,
}

/// One backend's pool.
#[derive(Debug)]
pub(super) struct Pool {
    name: String,
    state: Mutex<State>,
    /// Processes started or starting (each [`Agent`] holds a [`Live`]).
    live: Arc<AtomicUsize>,
    /// Wakes requests waiting for a process.
    changed: Arc<Notify>,
    /// The keys of processes being cleared or started ahead, which will be
    /// idle soon: a request for one of them waits rather than starts another.
    readying: Arc<Mutex<Vec<ProcessKey>>>,
    refilling: AtomicBool,
    deps: Deps,
}

#[derive(Debug)]
struct State {
    backend: Arc<Backend>,
    template: Arc<SessionTemplate>,
    idle: Vec<Agent>,
    conversations: HashMap<String, Arc<tokio::sync::Mutex<Slot>>>,
    /// The backend left the config: processes end as they come back.
    retired: bool,
    last_failure: Option<Instant>,
}

impl State {
    /// The key of processes started ahead of requests: the default model
    /// and effort, no instructions.
    fn default_key(&self) -> ProcessKey {
        ProcessKey::new(
            &self.template,
            &self.default_model(),
            self.backend.default_effort,
            None,
            &std::collections::BTreeMap::new(),
        )
    }

    /// The conversation opened ahead on an idle process.
    fn default_opening(&self) -> Opening {
        Opening {
            system: None,
            model: self.default_model(),
        }
    }

    fn default_model(&self) -> String {
        self.backend.default_model.clone().unwrap_or_default()
    }
}

/// A conversation: its process while it is not in a turn.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) agent: Option<Agent>,
    /// It has had a turn (if its process is gone, its history is replayed).
    pub(super) used: bool,
    last_used: Instant,
}

/// Counts a process for as long as it exists.
#[derive(Debug)]
pub(super) struct Live {
    count: Arc<AtomicUsize>,
    changed: Arc<Notify>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }
}

/// Background work that will make a process of `key` idle soon (a start
/// ahead of requests, a clearing): listed for as long as it runs (a panic
/// included), and the waiting requests are woken when it is done.
struct Busy {
    readying: Arc<Mutex<Vec<ProcessKey>>>,
    key: ProcessKey,
    changed: Arc<Notify>,
}

impl Busy {
    fn start(pool: &Pool, key: ProcessKey) -> Busy {
        lock(&pool.readying).push(key.clone());
        Busy {
            readying: Arc::clone(&pool.readying),
            key,
            changed: Arc::clone(&pool.changed),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut readying = lock(&self.readying);
        if let Some(at) = readying.iter().position(|k| *k == self.key) {
            readying.swap_remove(at);
        }
        drop(readying);
        self.changed.notify_waiters();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What to do to find a process.
enum Found {
    Agent(Box<Agent>),
    Start(Live),
    Wait,
}

impl Pool {
    pub(super) fn new(backend: Arc<Backend>, template: Arc<SessionTemplate>, deps: Deps) -> Pool {
        Pool {
            name: backend.name.clone(),
            state: Mutex::new(State {
                backend,
                template,
                idle: Vec::new(),
                conversations: HashMap::new(),
                retired: false,
                last_failure: None,
            }),
            live: Arc::new(AtomicUsize::new(0)),
            changed: Arc::new(Notify::new()),
            readying: Arc::default(),
            refilling: AtomicBool::new(false),
            deps,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the template of a (re)loaded config: processes of the old one
    /// end once idle, and the pool is warmed with the new one.
    pub(super) fn configure(
        self: &Arc<Self>,
        backend: Arc<Backend>,
        template: Arc<SessionTemplate>,
    ) {
        {
            let mut state = self.state();
            if !Arc::ptr_eq(&state.template, &template) {
                state
                    .idle
                    .retain(|agent| Arc::ptr_eq(&agent.template, &template));
            }
            state.backend = backend;
            state.template = template;
            state.retired = false;
            state.last_failure = None;
        }
        self.refill();
    }

    /// The backend left the config: ends its idle processes now, the
    /// others when their turn ends.
    pub(super) fn retire(&self) {
        let mut state = self.state();
        state.retired = true;
        state.idle.clear();
        state.conversations.clear();
    }

    /// A process for a turn of conversation `key` (none: a conversation of
    /// one request), with the conversation opened on it. `Ok` when the
    /// process already holds the conversation, which then gets only the
    /// new messages; else why a new one was opened.
    pub(super) async fn checkout(
        self: &Arc<Self>,
        key: Option<&str>,
        process: &ProcessKey,
        opening: &Opening,
    ) -> Result<(Lease, Result<(), &'static str>), Error> {
        let slot = match key {
            Some(key) => Some(self.locked_conversation(key).await),
            None => None,
        };
        let mut lease = Lease {
            pool: Arc::clone(self),
            slot,
            agent: None,
            turn: None,
            starting: false,
            process: process.clone(),
            opening: opening.clone(),
        };
        let current = Arc::clone(&self.state().template);
        let mut why = "the gateway does not hold it (a new key, or one forgotten after \
                       session_ttl_seconds or beyond max_sessions)";
        if let Some(slot) = lease.slot.as_mut() {
            match slot.agent.take() {
                Some(mut agent) => {
                    let alive = agent.alive();
                    if alive && agent.key == *process && Arc::ptr_eq(&agent.template, &current) {
                        lease.agent = Some(agent);
                        return Ok((lease, Ok(())));
                    }
                    why = if alive {
                        "its process was started for another model, instructions or config"
                    } else {
                        "its process ended"
                    };
                }
                None if slot.used => why = "its process was given to another conversation or ended",
                None => {}
            }
        }
        lease.renew().await?;
        Ok((lease, Err(why)))
    }

    /// The conversation `key`, locked for one turn. A conversation forgotten
    /// while this request waited for it (TTL, eviction) is made anew, so
    /// one key never runs on two processes.
    async fn locked_conversation(self: &Arc<Self>, key: &str) -> OwnedMutexGuard<Slot> {
        loop {
            let slot = self.conversation(key);
            let locked = Arc::clone(&slot).lock_owned().await;
            let current = self
                .state()
                .conversations
                .get(key)
                .is_some_and(|held| Arc::ptr_eq(held, &slot));
            if current {
                return locked;
            }
        }
    }

    /// The conversation `key`, made if new (forgetting the least recently
    /// used one beyond `max_sessions`).
    fn conversation(self: &Arc<Self>, key: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut state = self.state();
        if let Some(slot) = state.conversations.get(key) {
            return Arc::clone(slot);
        }
        let max = state.template.pool.max_sessions;
        while state.conversations.len() >= max {
            match self.take_bound(&mut state, None, true) {
                Some(Some(agent)) => self.reclaim(agent),
                Some(None) => {}
                None => break, // all in a turn
            }
        }
        let slot = Arc::new(tokio::sync::Mutex::new(Slot {
            agent: None,
            used: false,
            last_used: Instant::now(),
        }));
        state
            .conversations
            .insert(key.to_owned(), Arc::clone(&slot));
        slot
    }

    /// An idle process for `key`, else a new one, else one taken from the
    /// least recently used conversation; waits while all are in turns.
    async fn fresh(self: &Arc<Self>, key: &ProcessKey, model: &str) -> Result<Agent, Error> {
        loop {
            let changed = self.changed.notified();
            let found = self.find(key);
            match found {
                Found::Agent(agent) => return Ok(*agent),
                Found::Start(live) => return self.start(key.clone(), model, live).await,
                Found::Wait => {
                    // Bounded: a process that ends without a wake-up is seen next round.
                    let _ = tokio::time::timeout(Duration::from_millis(200), changed).await;
                }
            }
        }
    }

    fn find(self: &Arc<Self>, key: &ProcessKey) -> Found {
        let mut state = self.state();
        let template = Arc::clone(&state.template);
        state
            .idle
            .retain_mut(|agent| agent.alive() && Arc::ptr_eq(&agent.template, &template));
        if let Some(at) = state.idle.iter().position(|agent| agent.key == *key) {
            return Found::Agent(Box::new(state.idle.swap_remove(at)));
        }
        // A process being cleared or warmed is idle in a moment: cheaper
        // than a start of our own.
        if lock(&self.readying).contains(key) {
            return Found::Wait;
        }
        let max = state.backend.limits.max;
        if let Some(live) = self.reserve(max) {
            return Found::Start(live);
        }
        // Full: replace an idle process of another key, or take the least
        // recently used conversation's.
        if !state.idle.is_empty() {
            state.idle.remove(0);
        } else {
            match self.take_bound(&mut state, Some(key), false) {
                Some(Some(mut agent)) if agent.key == *key => {
                    if !agent.broken() && agent.alive() {
                        return Found::Agent(Box::new(agent));
                    }
                }
                Some(_) => {}
                None => return Found::Wait,
            }
        }
        drop(state);
        // The ended process freed its place.
        match self.reserve(max) {
            Some(live) => Found::Start(live),
            None => Found::Wait,
        }
    }

    /// Counts a process about to start, if fewer than `max` exist.
    fn reserve(&self, max: usize) -> Option<Live> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Live {
                count: Arc::clone(&self.live),
                changed: Arc::clone(&self.changed),
            })
    }

    /// Takes the process of the least recently used conversation not in a
    /// turn (preferring one of `key`) and forgets that conversation.
    /// `None`: every conversation is in a turn; `Some(None)`: one without a
    /// process was forgotten.
    fn take_bound(
        &self,
        state: &mut State,
        key: Option<&ProcessKey>,
        any_slot: bool,
    ) -> Option<Option<Agent>> {
        let mut oldest: Option<(bool, Instant, String)> = None;
        for (name, slot) in &state.conversations {
            let Ok(slot) = slot.try_lock() else { continue };
            if slot.agent.is_none() && !any_slot {
                continue;
            }
            let other = slot.agent.as_ref().is_some_and(|a| Some(&a.key) != key);
            let rank = (other, slot.last_used);
            if oldest.as_ref().is_none_or(|(o, t, _)| rank < (*o, *t)) {
                oldest = Some((other, slot.last_used, name.clone()));
            }
        }
        let (_, _, name) = oldest?;
        let slot = state.conversations.remove(&name)?;
        let agent = slot.try_lock().ok().and_then(|mut s| s.agent.take());
        tracing::debug!(backend = %self.name, session = %name, "conversation forgotten to free its process");
        Some(agent)
    }

    /// Starts a process for `key`, counted by `live`.
    async fn start(
        self: &Arc<Self>,
        key: ProcessKey,
        model: &str,
        live: Live,
    ) -> Result<Agent, Error> {
        let (backend, template) = {
            let state = self.state();
            (Arc::clone(&state.backend), Arc::clone(&state.template))
        };
        let started = Agent::start(
            &backend,
            &template,
            key,
            model,
            &self.deps.reaper,
            &self.deps.workspaces,
        )
        .await;
        match started {
            Ok(mut agent) => {
                agent.live = Some(live);
                Ok(agent)
            }
            Err(error) => {
                self.state().last_failure = Some(Instant::now());
                Err(error)
            }
        }
    }

    /// Takes back a process after its turn: into its conversation, or
    /// cleared and idle; ended when it should not serve again.
    pub(super) fn give_back(self: &Arc<Self>, slot: Option<OwnedMutexGuard<Slot>>, agent: Agent) {
        let mut agent = agent;
        let keep = {
            let state = self.state();
            let settings = &state.template.pool;
            !state.retired
                && !self.deps.shutdown.is_cancelled()
                && Arc::ptr_eq(&agent.template, &state.template)
                && agent.turns < settings.max_turns
                && agent.born.elapsed() < settings.max_age
                && !agent.broken()
                && agent.alive()
        };
        agent.idle_since = Instant::now();
        match (slot, keep) {
            (Some(mut slot), true) => {
                slot.agent = Some(agent);
                slot.used = true;
                slot.last_used = Instant::now();
            }
            (None, true) => self.reclaim(agent),
            (slot, false) => {
                if let Some(mut slot) = slot {
                    slot.used = true;
                    slot.last_used = Instant::now();
                }
                tracing::info!(
                    backend = %self.name,
                    pid = agent.pid(),
                    turns = agent.turns,
                    age_s = agent.born.elapsed().as_secs(),
                    "warm process retired (max_turns, max_age_seconds, a new config, or it ended)"
                );
                drop(agent);
                self.refill();
            }
        }
        self.changed.notify_waiters();
    }

    /// A process whose conversation is over becomes idle once cleared
    /// (Claude Code's `/clear`), with a new conversation opened ahead for
    /// the next request (a Codex thread, an ACP session), in the
    /// background. Requests wait for it rather than start another process.
    fn reclaim(self: &Arc<Self>, agent: Agent) {
        let clearing = Busy::start(self, agent.key.clone());
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            pool.make_ready(agent).await;
            drop(clearing);
        });
    }

    /// Opens a conversation for the next request on `agent`, then makes it
    /// idle; ends it if that fails.
    async fn make_ready(self: &Arc<Self>, mut agent: Agent) {
        let opening = self.state().default_opening();
        match agent.open(&opening).await {
            Ok(()) => {
                agent.idle_since = Instant::now();
                self.state().idle.push(agent);
            }
            Err(error) => {
                tracing::warn!(backend = %self.name, "a warm process could not open a conversation, so it was ended: {error}");
                drop(agent);
                self.refill();
            }
        }
    }

    /// A turn was cut short (client gone, deadline): interrupts it and
    /// waits for its end; the process goes back only if it ended within
    /// [`INTERRUPT_GRACE`], else it is killed.
    pub(super) fn interrupt(
        self: &Arc<Self>,
        slot: Option<OwnedMutexGuard<Slot>>,
        mut agent: Agent,
        mut turn: TurnState,
    ) {
        let pool = Arc::clone(self);
        if self.deps.shutdown.is_cancelled() {
            return; // the agent is dropped: its group is ended
        }
        self.deps.reaper.track(async move {
            let ended = tokio::time::timeout(INTERRUPT_GRACE, async {
                agent.interrupt(&turn).await?;
                loop {
                    if let super::agent::Step::End(..) = agent.step(&mut turn).await? {
                        return Ok::<(), Error>(());
                    }
                }
            })
            .await;
            match ended {
                Ok(Ok(())) => {
                    tracing::info!(backend = %pool.name, pid = agent.pid(), "turn interrupted; the process serves on");
                    pool.give_back(slot, agent);
                }
                _ => {
                    tracing::warn!(
                        backend = %pool.name,
                        pid = agent.pid(),
                        "an interrupted turn did not end within {}s: the process was killed",
                        INTERRUPT_GRACE.as_secs()
                    );
                    drop(agent);
                    drop(slot);
                    pool.refill();
                }
            }
        });
    }

    /// Starts processes in the background until `min_warm` exist.
    pub(super) fn refill(self: &Arc<Self>) {
        if self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let (min, key, model, backoff) = {
                    let state = pool.state();
                    let key = state.default_key();
                    let model = state.default_model();
                    let backoff = state
                        .last_failure
                        .is_some_and(|at| at.elapsed() < REFILL_BACKOFF);
                    let min = if state.retired {
                        0
                    } else {
                        state.template.pool.min_warm
                    };
                    (min, key, model, backoff)
                };
                if backoff || pool.deps.shutdown.is_cancelled() {
                    break;
                }
                let Some(live) = pool.reserve(min) else { break };
                let warming = Busy::start(&pool, key.clone());
                let started = match pool.start(key, &model, live).await {
                    Ok(agent) => {
                        pool.make_ready(agent).await;
                        Ok(())
                    }
                    Err(error) => Err(error),
                };
                drop(warming);
                if let Err(error) = started {
                    tracing::warn!(backend = %pool.name, "could not start a warm process: {error}");
                    break;
                }
            }
            pool.refilling.store(false, Ordering::Release);
        });
    }

    /// Ends what outlived its welcome: conversations unused for
    /// `session_ttl`, idle processes beyond `min_warm` unused for
    /// `idle_ttl`, and processes too old or dead. Then refills.
    pub(super) fn sweep(self: &Arc<Self>) {
        let mut expired = Vec::new();
        {
            let mut state = self.state();
            let settings = state.template.pool;
            state.conversations.retain(|_, slot| {
                let Ok(mut slot) = slot.try_lock() else {
                    return true;
                };
                if slot.last_used.elapsed() < settings.session_ttl {
                    return true;
                }
                expired.extend(slot.agent.take());
                false
            });
            state
                .idle
                .retain_mut(|agent| agent.alive() && agent.born.elapsed() < settings.max_age);
            let live = self.live.load(Ordering::Acquire);
            let mut spare = live.saturating_sub(settings.min_warm);
            state.idle.retain(|agent| {
                let stale = agent.idle_since.elapsed() >= settings.idle_ttl;
                if stale && spare > 0 {
                    spare -= 1;
                    tracing::info!(
                        backend = %agent.backend,
                        pid = agent.pid(),
                        turns = agent.turns,
                        "idle warm process ended (idle_ttl_seconds)"
                    );
                    return false;
                }
                true
            });
        }
        for agent in expired {
            self.reclaim(agent);
        }
        self.refill();
    }

    /// Ends every process (shutdown).
    pub(super) fn close(&self) {
        let mut state = self.state();
        state.retired = true;
        state.idle.clear();
        for slot in state.conversations.values() {
            if let Ok(mut slot) = slot.try_lock() {
                slot.agent = None;
            }
        }
        state.conversations.clear();
    }

    /// Its processes and conversations, for `/debug/config`.
    pub(super) fn report(&self) -> Value {
        let state = self.state();
        let process = |agent: &Agent, status: &str| {
            json!({
                "pid": agent.pid(),
                "state": status,
                "age_seconds": agent.born.elapsed().as_secs(),
                "turns": agent.turns,
            })
        };
        let mut processes: Vec<Value> = state.idle.iter().map(|a| process(a, "idle")).collect();
        let mut in_turn = 0;
        for slot in state.conversations.values() {
            match slot.try_lock() {
                Ok(slot) => processes.extend(slot.agent.as_ref().map(|a| process(a, "bound"))),
                Err(_) => in_turn += 1,
            }
        }
        json!({
            "protocol": state.template.protocol.name(),
            "live": self.live.load(Ordering::Acquire),
            "min_warm": state.template.pool.min_warm,
            "max": state.backend.limits.max,
            "conversations": state.conversations.len(),
            "conversations_in_a_turn": in_turn,
            "processes": processes,
        })
    }
}

/// A process lent to one turn. Given back when the turn ends; dropped
/// mid-turn (client gone, deadline), the turn is interrupted first.
pub(super) struct Lease {
    pool: Arc<Pool>,
    slot: Option<OwnedMutexGuard<Slot>>,
    pub(super) agent: Option<Agent>,
    pub(super) turn: Option<TurnState>,
    /// A turn is being sent: dropped now, the process is out of step.
    pub(super) starting: bool,
    process: ProcessKey,
    opening: Opening,
}

impl Lease {
    /// A fresh process with a new conversation, in place of the one held
    /// (which is ended).
    pub(super) async fn renew(&mut self) -> Result<(), Error> {
        self.turn = None;
        if self.agent.take().is_some() {
            self.pool.refill();
        }
        let mut agent = self.pool.fresh(&self.process, &self.opening.model).await?;
        if let Err(error) = agent.open(&self.opening).await {
            return Err(agent.failed(error).await);
        }
        self.agent = Some(agent);
        Ok(())
    }

    /// The turn is over: the process goes back now.
    pub(super) fn release(&mut self) {
        self.turn = None;
        if let Some(agent) = self.agent.take() {
            self.pool.give_back(self.slot.take(), agent);
        }
        self.slot = None;
    }

    /// The process broke: it is ended, with the last lines of its stderr
    /// added to `error`; the conversation loses it.
    pub(super) async fn broke(&mut self, error: Error) -> Error {
        self.turn = None;
        if let Some(mut slot) = self.slot.take() {
            slot.used = true;
        }
        match self.agent.take() {
            Some(agent) => {
                self.pool.refill();
                agent.failed(error).await
            }
            None => error,
        }
    }

    /// The process broke: it is ended, the conversation loses it.
    pub(super) fn discard(&mut self) {
        self.turn = None;
        if let Some(mut slot) = self.slot.take() {
            slot.used = true;
        }
        if self.agent.take().is_some() {
            self.pool.refill();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(agent) = self.agent.take() else {
            return;
        };
        if self.starting || agent.broken() {
            // Half a turn sent, or half a line written: it cannot be trusted.
            tracing::info!(backend = %agent.backend, pid = agent.pid(), "a warm process cut off mid-write was ended");
            drop(agent);
            if let Some(mut slot) = self.slot.take() {
                slot.used = true;
            }
            self.pool.refill();
            return;
        }
        match self.turn.take() {
            Some(turn) => self.pool.interrupt(self.slot.take(), agent, turn),
            None => self.pool.give_back(self.slot.take(), agent),
        }
    }
}
