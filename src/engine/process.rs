//! A CLI child process that lives in its own process group, and is always
//! cleaned up: when it is dropped before it finished (client disconnect,
//! timeout, shutdown) the whole group gets SIGTERM, then SIGKILL, and the
//! leader is reaped; after a normal exit, stragglers in the group (shells,
//! MCP servers) get SIGKILL at once. Then the [`Reaper`] finds and kills
//! what escaped the group, and only after that is the workspace removed.
//!
//! The group is signalled here only while its leader is unreaped or right
//! after reaping it, so a recycled pid can never be hit; the reaper's later
//! rounds stop signalling it as soon as it is empty.

use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::sync::Arc;

use tokio::process::Child;

use crate::engine::reaper::{Reaper, Run};

/// How long a cancelled CLI gets to exit after SIGTERM before SIGKILL.
pub(crate) const TERM_GRACE: Duration = Duration::from_millis(500);

/// Owns a spawned CLI and its process group.
pub(crate) struct ChildGuard {
    child: Option<Child>,
    /// The group while it may be signalled.
    pgid: Option<Pid>,
    /// The group's id, for the cleanup that looks for what it left.
    group: Option<i32>,
    /// The leader has been waited for (its status, if waiting succeeded).
    reaped: Option<Option<ExitStatus>>,
    /// Dropped only once the group is dead (the CLI's workspace, its files).
    keep: Vec<Box<dyn Send>>,
    run: Option<(Arc<Reaper>, Run)>,
    /// Already the cleanup of a dropped guard: if this is dropped unfinished
    /// too (the runtime is shutting down), it must not start another one.
    cleaning_up: bool,
}

impl std::fmt::Debug for ChildGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildGuard")
            .field("pgid", &self.pgid)
            .field("group", &self.group)
            .field("reaped", &self.reaped)
            .finish_non_exhaustive()
    }
}

impl ChildGuard {
    /// Takes ownership of a child that `reaper` spawned with `process_group(0)`.
    pub(crate) fn new(child: Child, reaper: Arc<Reaper>, run: Run) -> ChildGuard {
        let group = child.id().and_then(|id| i32::try_from(id).ok());
        ChildGuard {
            child: Some(child),
            pgid: group.map(Pid::from_raw),
            group,
            reaped: None,
            keep: Vec::new(),
            run: Some((reaper, run)),
            cleaning_up: false,
        }
    }

    /// Keeps `item` alive until the process group is gone, e.g. the
    /// directory the CLI works in, so it is never removed under a live CLI.
    pub(crate) fn keep_until_dead(&mut self, item: impl Send + 'static) {
        self.keep.push(Box::new(item));
    }

    /// The process group id (the leader's pid).
    pub(crate) fn pgid(&self) -> Option<i32> {
        self.group
    }

    /// Waits for the leader to exit, then kills whatever is left in its group.
    /// Returns the exit status, or `None` if waiting failed.
    pub(crate) async fn wait(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.reaped {
            return status;
        }
        let status = match self.child.as_mut() {
            Some(child) => child.wait().await.ok(),
            None => None,
        };
        self.collected(status);
        status
    }

    /// Whether the leader is still running (if it exited, it is reaped
    /// and what is left of its group killed).
    pub(crate) fn running(&mut self) -> bool {
        if self.reaped.is_some() {
            return false;
        }
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(status))) => {
                self.collected(Some(status));
                false
            }
            Some(Err(_)) | None => false,
        }
    }

    /// The exit status, if the leader has been seen to exit.
    pub(crate) fn exit_status(&self) -> Option<ExitStatus> {
        self.reaped.flatten()
    }

    /// The leader was waited for: kill what is left of its group at once.
    fn collected(&mut self, status: Option<ExitStatus>) {
        // The registry forgets the leader in the run's cleanup, on a
        // blocking thread: a spawn may hold it for as long as a fork takes.
        self.reaped = Some(status);
        if let Some(pgid) = self.pgid.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    /// Terminates the group now and reaps the leader (SIGTERM, then SIGKILL
    /// after [`TERM_GRACE`]).
    pub(crate) async fn terminate(&mut self) {
        if self.reaped.is_some() {
            return;
        }
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, Signal::SIGTERM);
        }
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let status = match tokio::time::timeout(TERM_GRACE, child.wait()).await {
            Ok(waited) => waited.ok(),
            Err(_) => {
                if let Some(pgid) = self.pgid {
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
                child.wait().await.ok()
            }
        };
        self.collected(status);
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let Some((reaper, run)) = self.run.take() else {
            return;
        };
        let child = self.child.take();
        let keep = std::mem::take(&mut self.keep);
        match (child, self.reaped, tokio::runtime::Handle::try_current()) {
            // Still running (client disconnect, a dropped answer): stop it
            // first, as a cleanup the gateway waits for at exit. `terminate`
            // always marks it reaped, so this happens once.
            (Some(child), None, Ok(_)) if !self.cleaning_up => {
                let mut orphan = ChildGuard {
                    child: Some(child),
                    pgid: self.pgid.take(),
                    group: self.group,
                    reaped: None,
                    keep,
                    run: Some((Arc::clone(&reaper), run)),
                    cleaning_up: true,
                };
                reaper.track(async move { orphan.terminate().await });
            }
            (child, reaped, _) => {
                // No runtime left, or no time (process exit): no grace period.
                if reaped.is_none()
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
