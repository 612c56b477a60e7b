//! The blocking half of starting a CLI, run on a blocking thread so a slow
//! `mkdir`, image write or fork/exec never stalls an async worker: take a
//! workspace, write the images, render the argv, spawn the CLI as a marked
//! run in its own process group, and wrap it in its [`ChildGuard`] at once.
//! The guard is made on the same thread as the spawn, so a request dropped
//! meanwhile (client disconnect) still has its CLI stopped and cleaned up.
//! Warm processes (`engine::session`) are started with the same pieces:
//! [`workspace`], [`base_values`] and [`spawn`].

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
        let workspace = workspace(&cli, &workspaces, &reaper)?;
        let images = ImageFiles::write(&run.images)
            .map_err(|e| Error::Internal(format!("cannot write image files: {e}")))?;
        let argv = render_argv(&cli, &run, &workspace, &images);
        let stdin = match cli.prompt_via {
            PromptVia::Stdin => Stdio::piped(),
            PromptVia::Arg => Stdio::null(),
        };
        let cwd = workspace.path().to_path_buf();
        let Spawned {
            guard,
            stdin,
            stdout,
            stderr,
        } = spawn(
            &backend,
            &cli,
            &argv,
            &cwd,
            stdin,
            &reaper,
            (workspace, images),
        )?;
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
    let mut values = base_values(cli, &run.vars, workspace.path());
    values.scalars.insert("model".into(), run.model.clone());
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

/// The working directory of a process of `cli`: its configured workspace,
/// or a fresh private one (the pool of them refilled in the background).
///
/// # Errors
/// [`Error::Internal`] when it cannot be made.
pub(crate) fn workspace(
    cli: &CliTemplate,
    workspaces: &Arc<WorkspacePool>,
    reaper: &Reaper,
) -> Result<Workspace, Error> {
    let workspace = Workspace::prepare(cli.workspace.as_deref(), workspaces)
        .map_err(|e| Error::Internal(format!("cannot prepare the workspace: {e}")))?;
    if matches!(workspace, Workspace::Temp(_)) && workspaces.claim_refill() {
        let refill = Arc::clone(workspaces);
        reaper.track_blocking(move || refill.refill());
    }
    Ok(workspace)
}

/// The placeholder values every process of `cli` has: its variables and
/// lists, the route's `vars` over them, and `{workspace}`.
pub(crate) fn base_values(
    cli: &CliTemplate,
    route_vars: &std::collections::BTreeMap<String, String>,
    workspace: &std::path::Path,
) -> ArgValues {
    let mut values = ArgValues::default();
    values.scalars.extend(cli.vars.clone());
    values.scalars.extend(route_vars.clone());
    values.lists.extend(cli.lists.clone());
    values
        .scalars
        .insert("workspace".into(), workspace.to_string_lossy().into_owned());
    values
}

/// A spawned process: its guard and its pipes.
pub(crate) struct Spawned {
    pub(crate) guard: ChildGuard,
    pub(crate) stdin: Option<ChildStdin>,
    pub(crate) stdout: ChildStdout,
    pub(crate) stderr: ChildStderr,
}

/// Spawns `cli` with `argv` in `cwd`: its environment only, its own
/// process group, marked for the reaper, wrapped in its guard at once;
/// `keep` (its workspace, its files) lives until the group is dead.
/// Blocks (fork and exec): call it where blocking is allowed.
///
/// # Errors
/// [`Error::Backend`] when it cannot be started.
pub(crate) fn spawn(
    backend: &Backend,
    cli: &CliTemplate,
    argv: &[String],
    cwd: &std::path::Path,
    stdin: Stdio,
    reaper: &Arc<Reaper>,
    keep: impl Send + 'static,
) -> Result<Spawned, Error> {
    let mut command = tokio::process::Command::new(cli.executable());
    command
        .args(argv)
        .current_dir(cwd)
        .env_clear()
        .envs(cli.env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let (mut child, mark) =
        Reaper::spawn(&mut command).map_err(|e| spawn_error(backend, cli, &e))?;
    let (stdout, stderr, stdin) = (child.stdout.take(), child.stderr.take(), child.stdin.take());
    let mut guard = ChildGuard::new(child, Arc::clone(reaper), mark);
    guard.keep_until_dead(keep);
    let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
        return Err(Error::Internal("the CLI's pipes are missing".to_owned()));
    };
    Ok(Spawned {
        guard,
        stdin,
        stdout,
        stderr,
    })
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
