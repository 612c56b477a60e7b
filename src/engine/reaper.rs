//! Every process a run starts ends with the run, even one that left the
//! run's process group (`setsid`, as daemons and some agent tool runners
//! do), and no cleanup is lost when the gateway exits.
//!
//! The gateway makes itself a child subreaper (Linux), so a process whose
//! parent died is re-parented to the gateway instead of init. Each CLI gets
//! a unique `AGENT_CLI_TO_API_RUN` value in its environment, which its
//! descendants inherit. When a run ends, its group is killed, then every
//! child of the gateway that is not a running CLI is looked at: one carrying
//! the run's mark (or the mark of a run that is over) is killed with its
//! group, one that carries no mark is killed once no other run is active,
//! and exited ones are reaped. Killing a process re-parents its own children
//! to the gateway, so this repeats until nothing of the run is left.
//!
//! Cleanups run on blocking threads, off the answer's path, and are tracked:
//! the gateway waits for them before it exits.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use tokio_util::task::TaskTracker;

/// The environment variable that marks a run's processes.
pub const RUN_MARK: &str = "AGENT_CLI_TO_API_RUN";
/// How long one cleanup keeps finding and killing a run's processes.
const CLEANUP_LIMIT: Duration = Duration::from_secs(2);
/// Pause between rounds while killed processes die.
const ROUND_PAUSE: Duration = Duration::from_millis(5);

/// Keeps track of running CLIs and cleans up after them.
#[derive(Debug, Default)]
pub struct Reaper {
    tasks: TaskTracker,
}

/// The CLIs and runs of this process. Children belong to the process, not
/// to one `Reaper`, so there is one registry per process: a second reaper
/// (in tests, several gateways in one process) must never take another's
/// CLI for an orphan.
static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    leaders: None,
    active: None,
});

#[derive(Debug)]
struct Registry {
    /// CLIs the async runtime has spawned and not yet reaped (their exit
    /// statuses belong to it), by pid, with their run's mark.
    leaders: Option<HashMap<i32, String>>,
    /// Marks of runs not yet cleaned up.
    active: Option<HashSet<String>>,
}

impl Registry {
    fn leaders(&mut self) -> &mut HashMap<i32, String> {
        self.leaders.get_or_insert_with(HashMap::new)
    }

    fn active(&mut self) -> &mut HashSet<String> {
        self.active.get_or_insert_with(HashSet::new)
    }

    fn is_leader(&self, pid: i32) -> bool {
        self.leaders.as_ref().is_some_and(|l| l.contains_key(&pid))
    }

    fn is_active(&self, mark: &str) -> bool {
        self.active.as_ref().is_some_and(|a| a.contains(mark))
    }

    /// Whether `mark` is the only run not yet cleaned up.
    fn alone(&self, mark: &str) -> bool {
        self.active.iter().flatten().all(|m| m == mark)
    }
}

/// The process's registry, locked.
fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the run marked `mark` has not been cleaned up yet.
#[cfg(test)]
pub(crate) fn is_active(mark: &str) -> bool {
    registry().is_active(mark)
}

/// One run's registration; ended by [`Reaper::finish`].
#[derive(Debug)]
pub struct Run {
    mark: String,
    leader: Option<i32>,
}

impl Reaper {
    /// Makes this process the reaper of its orphaned descendants. Without
    /// it (not Linux, or refused) runs are still cleaned up by group and mark,
    /// but a process that escaped while its parent lived is found only if
    /// the parent is still around when the run ends.
    pub fn adopt_orphans() -> bool {
        #[cfg(target_os = "linux")]
        {
            nix::sys::prctl::set_child_subreaper(true).is_ok()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Spawns `command` as a marked run. The registry stays locked across the
    /// spawn (a fork and exec: short, but on the calling thread), so a
    /// cleanup never takes the new CLI for an orphan.
    pub fn spawn(
        command: &mut tokio::process::Command,
    ) -> std::io::Result<(tokio::process::Child, Run)> {
        let mark = uuid::Uuid::new_v4().simple().to_string();
        command.env(RUN_MARK, &mark);
        let mut registry = registry();
        let child = command.spawn()?;
        let leader = child.id().and_then(|id| i32::try_from(id).ok());
        registry.active().insert(mark.clone());
        if let Some(pid) = leader {
            registry.leaders().insert(pid, mark.clone());
        }
        Ok((child, Run { mark, leader }))
    }

    /// The runtime has reaped the run's leader.
    fn leader_reaped(&self, run: &mut Run) {
        if let Some(pid) = run.leader.take() {
            let mut registry = registry();
            // Only this run's entry: the pid may already be another CLI's.
            if registry.leaders().get(&pid) == Some(&run.mark) {
                registry.leaders().remove(&pid);
            }
        }
    }

    /// Cleans up after a run whose leader is gone: kills what is left of it,
    /// then drops `keep` (its workspace), on a tracked blocking thread.
    pub fn finish(self: &Arc<Self>, mut run: Run, group: Option<i32>, keep: Vec<Box<dyn Send>>) {
        let reaper = Arc::clone(self);
        let cleanup = move || {
            reaper.leader_reaped(&mut run);
            reaper.clean_up(&run.mark, group);
            registry().active().remove(&run.mark);
            drop(keep);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(_) => drop(self.tasks.spawn_blocking(cleanup)),
            Err(_) => cleanup(),
        }
    }

    /// Runs blocking `work` on a thread the gateway waits for at exit.
    pub fn track_blocking(&self, work: impl FnOnce() + Send + 'static) {
        drop(self.tasks.spawn_blocking(work));
    }

    /// Runs `task` as part of a cleanup the gateway waits for at exit.
    pub fn track(&self, task: impl Future<Output = ()> + Send + 'static) {
        drop(self.tasks.spawn(task));
    }

    /// Reaps orphans that exited on their own (not the CLIs the runtime
    /// waits for). Called when a child's exit is signalled.
    pub fn reap_exited_orphans(&self) {
        let registry = registry();
        for child in children_of_this_process() {
            if child.exited && !registry.is_leader(child.pid) {
                let _ = waitpid(Pid::from_raw(child.pid), Some(WaitPidFlag::WNOHANG));
            }
        }
    }

    /// Waits (at most `limit`) for the cleanups in progress, then kills and
    /// reaps whatever the gateway's CLIs left. Called once, at exit.
    pub async fn wait_for_cleanups(self: &Arc<Self>, limit: Duration) {
        self.tasks.close();
        if tokio::time::timeout(limit, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "cleanups still running after {}s; killing what is left",
                limit.as_secs()
            );
        }
        let reaper = Arc::clone(self);
        let _ = tokio::task::spawn_blocking(move || reaper.kill_everything()).await;
    }

    /// Kills and reaps every process the run marked `mark` (in group
    /// `group`) left behind. Each round holds the registry, so no other
    /// cleanup or reap can make what it saw stale.
    fn clean_up(&self, mark: &str, mut group: Option<i32>) {
        let deadline = Instant::now() + CLEANUP_LIMIT;
        loop {
            let mut pending = false;
            {
                let registry = registry();
                // Once the group is empty its number may be reused: stop.
                if let Some(g) = group {
                    if killpg(Pid::from_raw(g), Signal::SIGKILL).is_ok() {
                        pending = true;
                    } else {
                        group = None;
                    }
                }
                let alone = registry.alone(mark);
                for child in children_of_this_process() {
                    if registry.is_leader(child.pid) {
                        continue;
                    }
                    if child.exited {
                        // Its own children have just been re-parented here.
                        pending |=
                            waitpid(Pid::from_raw(child.pid), Some(WaitPidFlag::WNOHANG)).is_ok();
                        continue;
                    }
                    let ours = match run_mark(child.pid) {
                        Some(owner) => owner == mark || !registry.is_active(&owner),
                        None => alone,
                    };
                    if ours {
                        tracing::debug!(pid = child.pid, "killing a process that escaped its run");
                        child.kill();
                        pending = true;
                    }
                }
            }
            if !pending || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(ROUND_PAUSE);
        }
    }

    /// At exit: every child and its group. Orphans are reaped here; CLIs the
    /// runtime still waits for are only killed (it reaps them).
    fn kill_everything(&self) {
        let deadline = Instant::now() + CLEANUP_LIMIT;
        loop {
            let registry = registry();
            let children = children_of_this_process();
            if children.is_empty() || Instant::now() >= deadline {
                return;
            }
            for child in &children {
                if !child.exited {
                    child.kill();
                } else if !registry.is_leader(child.pid) {
                    let _ = waitpid(Pid::from_raw(child.pid), Some(WaitPidFlag::WNOHANG));
                }
            }
            if children
                .iter()
                .all(|c| registry.is_leader(c.pid) && c.exited)
            {
                return;
            }
            drop(registry);
            std::thread::sleep(ROUND_PAUSE);
        }
    }
}

/// A child process of the gateway, as `/proc` shows it.
#[derive(Debug, Clone, Copy)]
struct Child {
    pid: i32,
    group: i32,
    exited: bool,
}

impl Child {
    /// SIGKILL to the process and, if it leads one, its group. A child that
    /// has not been reaped cannot have a recycled pid.
    fn kill(&self) {
        if self.group == self.pid {
            let _ = killpg(Pid::from_raw(self.group), Signal::SIGKILL);
        }
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
    }
}

/// The gateway's direct children (its CLIs, and orphans re-parented to it).
/// Where the kernel lists each thread's children (`CONFIG_PROC_CHILDREN`),
/// only those are read; otherwise every process's `stat` is.
fn children_of_this_process() -> Vec<Child> {
    match listed_children() {
        Some(pids) => pids.into_iter().filter_map(child_of_this_process).collect(),
        None => std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .filter_map(child_of_this_process)
            .collect(),
    }
}

/// The pids in `/proc/self/task/*/children`, if the kernel has them.
fn listed_children() -> Option<Vec<i32>> {
    if !std::path::Path::new("/proc/thread-self/children").exists() {
        return None;
    }
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        // A thread may end meanwhile; its children moved to another one.
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            pids.extend(
                list.split_whitespace()
                    .filter_map(|pid| pid.parse::<i32>().ok()),
            );
        }
    }
    Some(pids)
}

/// Process `pid`, if it is a child of this process.
fn child_of_this_process(pid: i32) -> Option<Child> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid pgrp …; comm may contain spaces and ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    let parent: u32 = fields.next()?.parse().ok()?;
    let group = fields.next()?.parse().ok()?;
    (parent == std::process::id()).then_some(Child {
        pid,
        group,
        exited: state == "Z" || state == "X",
    })
}

/// The run mark in a process's environment, if it can be read.
fn run_mark(pid: i32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{RUN_MARK}=");
    environ
        .split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|mark| String::from_utf8_lossy(mark).into_owned())
}

#[cfg(test)]
mod tests;
