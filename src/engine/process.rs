//! A CLI child process that lives in its own process group, and is always
//! cleaned up: when it is dropped before it finished (client disconnect,
//! timeout, shutdown) the whole group gets SIGTERM, then SIGKILL, and the
//! leader is reaped; after a normal exit, stragglers in the group (shells,
//! MCP servers) get SIGKILL at once. Then the [`Reaper`] finds and kills
//! what escaped the group, and only after that is the workspace removed.
//!
//! The group is signalled only while its leader is unreaped or right after
//! reaping it, so a recycled pid can never be hit.

use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::sync::Arc;

use tokio::process::Child;

use crate::engine::reaper::{Reaper, Run};

/// How long a cancelled CLI gets to exit after SIGTERM before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_millis(500);

/// Owns a spawned CLI and its process group.
pub struct ChildGuard {
    child: Option<Child>,
    /// The group while it may be signalled.
    pgid: Option<Pid>,
    /// The group's id, for the cleanup that looks for what it left.
    group: Option<i32>,
    exit: Option<ExitStatus>,
    /// Dropped only once the group is dead (the CLI's workspace, its files).
    keep: Vec<Box<dyn Send>>,
    run: Option<(Arc<Reaper>, Run)>,
}

impl std::fmt::Debug for ChildGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildGuard")
            .field("pgid", &self.pgid)
            .field("group", &self.group)
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}

impl ChildGuard {
    /// Takes ownership of a child that `reaper` spawned with `process_group(0)`.
    pub fn new(child: Child, reaper: Arc<Reaper>, run: Run) -> ChildGuard {
        let group = child.id().and_then(|id| i32::try_from(id).ok());
        ChildGuard {
            child: Some(child),
            pgid: group.map(Pid::from_raw),
            group,
            exit: None,
            keep: Vec::new(),
            run: Some((reaper, run)),
        }
    }

    /// The leader's exit status was collected.
    fn reaped(&mut self, status: Option<ExitStatus>) {
        self.exit = status;
        if let Some((reaper, run)) = self.run.as_mut() {
            reaper.leader_reaped(run);
        }
    }

    /// Keeps `item` alive until the process group is gone, e.g. the
    /// directory the CLI works in, so it is never removed under a live CLI.
    pub fn keep_until_dead(&mut self, item: impl Send + 'static) {
        self.keep.push(Box::new(item));
    }

    /// The process group id (the leader's pid).
    pub fn pgid(&self) -> Option<i32> {
        self.pgid.map(Pid::as_raw)
    }

    /// Waits for the leader to exit, then kills whatever is left in its group.
    /// Returns the exit status, or `None` if waiting failed.
    pub async fn wait(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.exit {
            return Some(status);
        }
        let child = self.child.as_mut()?;
        let status = child.wait().await.ok();
        self.reaped(status);
        self.sweep();
        status
    }

    /// The exit status, if the leader has been seen to exit.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.exit
    }

    /// Kills what is left of the group after the leader exited.
    fn sweep(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    /// Terminates the group now and reaps the leader (bounded by [`TERM_GRACE`]).
    pub async fn terminate(&mut self) {
        if self.exit.is_some() {
            return;
        }
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, Signal::SIGTERM);
        }
        if let Some(child) = self.child.as_mut()
            && let Ok(Ok(status)) = tokio::time::timeout(TERM_GRACE, child.wait()).await
        {
            self.reaped(Some(status));
            self.sweep();
            return;
        }
        if let Some(pgid) = self.pgid.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        if let Some(child) = self.child.as_mut() {
            let status = child.wait().await.ok();
            self.reaped(status);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let Some((reaper, run)) = self.run.take() else {
            return;
        };
        let child = self.child.take();
        let keep = std::mem::take(&mut self.keep);
        match (child, self.exit, tokio::runtime::Handle::try_current()) {
            // Still running (client disconnect, a dropped answer): stop it
            // first, as a cleanup the gateway waits for at exit.
            (Some(child), None, Ok(_)) => {
                let mut orphan = ChildGuard {
                    child: Some(child),
                    pgid: self.pgid.take(),
                    group: self.group,
                    exit: None,
                    keep,
                    run: Some((Arc::clone(&reaper), run)),
                };
                reaper.track(async move { orphan.terminate().await });
            }
            (child, exit, _) => {
                // No runtime left (process exit): no time for a grace period.
                if exit.is_none()
                    && let Some(pgid) = self.pgid.take()
                {
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
                drop(child);
                reaper.finish(run, self.group, keep);
            }
        }
    }
}
