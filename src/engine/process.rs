//! A CLI child process that lives in its own process group, and is always
//! cleaned up: when it is dropped before it finished (client disconnect,
//! timeout, shutdown) the whole group gets SIGTERM, then SIGKILL, and the
//! leader is reaped; after a normal exit, stragglers in the group (shells,
//! MCP servers) get SIGKILL at once.
//!
//! The group is signalled only while its leader is unreaped or right after
//! reaping it, so a recycled pid can never be hit.

use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Child;

/// How long a cancelled CLI gets to exit after SIGTERM before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_millis(500);

/// Owns a spawned CLI and its process group.
pub struct ChildGuard {
    child: Option<Child>,
    pgid: Option<Pid>,
    exit: Option<ExitStatus>,
    /// Dropped only once the group is dead (the CLI's workspace, its files).
    keep: Vec<Box<dyn Send>>,
}

impl std::fmt::Debug for ChildGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildGuard")
            .field("pgid", &self.pgid)
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}

impl ChildGuard {
    /// Takes ownership of a child spawned with `process_group(0)`.
    pub fn new(child: Child) -> ChildGuard {
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        ChildGuard {
            child: Some(child),
            pgid,
            exit: None,
            keep: Vec::new(),
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
        self.exit = status;
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
            self.exit = Some(status);
            self.sweep();
            return;
        }
        if let Some(pgid) = self.pgid.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        if let Some(child) = self.child.as_mut() {
            self.exit = child.wait().await.ok();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let runtime = tokio::runtime::Handle::try_current().ok();
        let child = self.child.take();
        let (Some(child), None, Some(_)) = (child, self.exit, self.pgid) else {
            // The group is gone: remove what was kept for it (file-system
            // work) off the async threads, and off the answer's path.
            let keep = std::mem::take(&mut self.keep);
            if let Some(runtime) = runtime.filter(|_| !keep.is_empty()) {
                runtime.spawn_blocking(move || drop(keep));
            }
            return;
        };
        let mut orphan = ChildGuard {
            child: Some(child),
            pgid: self.pgid.take(),
            exit: None,
            keep: std::mem::take(&mut self.keep),
        };
        match runtime {
            Some(runtime) => {
                runtime.spawn(async move { orphan.terminate().await });
            }
            None => {
                // No runtime left (process exit): no time for a grace period.
                if let Some(pgid) = orphan.pgid.take() {
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
            }
        }
    }
}
