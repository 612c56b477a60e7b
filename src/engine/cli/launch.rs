//! The blocking half of starting a CLI, run on a blocking thread so a slow
//! `mkdir`, image write or fork/exec never stalls an async worker: take a
//! workspace, write the images, render the argv, spawn the CLI as a marked
//! run in its own process group, and wrap it in its [`ChildGuard`] at once.
//! The guard is made on the same thread as the spawn, so a request dropped
//! meanwhile (client disconnect) still has its CLI stopped and cleaned up.

use std::process::Stdio;
use std::sync::Arc;

use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use super::RunRequest;
use super::workspace::{ImageFiles, Workspace, WorkspacePool};
use crate::backend::Backend;
use crate::backend::argv::ArgValues;
use crate::backend::cli::{CliTemplate, PromptVia};
use crate::engine::Reaper;
use crate::engine::process::ChildGuard;
use crate::error::Error;

/// What a blocking launch needs.
pub(super) struct Launch {
    pub(super) backend: Arc<Backend>,
    pub(super) cli: Arc<CliTemplate>,
    pub(super) run: RunRequest,
    pub(super) workspaces: Arc<WorkspacePool>,
    pub(super) reaper: Arc<Reaper>,
}

/// A started CLI: its guard (holding its workspace and images until the
/// group is dead), its pipes and the argv it was given.
pub(super) struct Launched {
    pub(super) guard: ChildGuard,
    pub(super) stdout: ChildStdout,
    pub(super) stderr: ChildStderr,
    pub(super) stdin: Option<ChildStdin>,
    pub(super) argv: Vec<String>,
}

impl Launch {
    /// Prepares and spawns the CLI. Blocks: call it where blocking is allowed.
    ///
    /// # Errors
    /// A workspace or image file that cannot be made ([`Error::Internal`]),
    /// a CLI that cannot be started ([`Error::Backend`]).
    pub(super) fn launch(self) -> Result<Launched, Error> {
        let Launch {
            backend,
            cli,
            run,
            workspaces,
            reaper,
        } = self;
        let workspace = Workspace::prepare(cli.workspace.as_deref(), &workspaces)
            .map_err(|e| Error::Internal(format!("cannot prepare the workspace: {e}")))?;
        if matches!(workspace, Workspace::Temp(_)) && workspaces.claim_refill() {
            reaper.track_blocking(move || workspaces.refill());
        }
        let images = ImageFiles::write(&run.images)
            .map_err(|e| Error::Internal(format!("cannot write image files: {e}")))?;
        let argv = render_argv(&cli, &run, &workspace, &images);
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
        let (mut child, mark) =
            Reaper::spawn(&mut command).map_err(|e| spawn_error(&backend, &cli, &e))?;
        let (stdout, stderr, stdin) =
            (child.stdout.take(), child.stderr.take(), child.stdin.take());
        let mut guard = ChildGuard::new(child, reaper, mark);
        guard.keep_until_dead((workspace, images));
        let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
            return Err(Error::Internal("the CLI's pipes are missing".to_owned()));
        };
        Ok(Launched {
            guard,
            stdout,
            stderr,
            stdin,
            argv,
        })
    }
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

#[cfg(test)]
mod tests;
