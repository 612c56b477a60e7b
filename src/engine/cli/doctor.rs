//! `doctor` for a `cli` backend: its program is found, answers its version
//! command, and one of its login sources exists.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use crate::backend::Backend;
use crate::backend::cli::{CliTemplate, expand_home};
use crate::engine::Health as Level;

/// How long the version command may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// The findings for one CLI backend.
pub async fn check(
    backend: &Backend,
    cli: &CliTemplate,
    env: &BTreeMap<String, String>,
) -> Vec<(Level, String)> {
    let mut out = Vec::new();
    let Some(path) = &cli.program else {
        out.push((
            Level::Fail,
            format!(
                "`{}` not found on PATH (install it, or set backends.{}.command)",
                cli.command, backend.name
            ),
        ));
        return out;
    };
    out.push((Level::Ok, format!("binary {}", path.display())));
    out.push(version(cli).await);
    if let Some(credentials) = credentials(cli, env) {
        out.push(credentials);
    }
    if let Some(dir) = &cli.workspace
        && !dir.is_dir()
    {
        out.push((
            Level::Warn,
            format!(
                "workspace {} does not exist yet; it will be created",
                dir.display()
            ),
        ));
    }
    out
}

async fn version(cli: &CliTemplate) -> (Level, String) {
    let run = tokio::process::Command::new(&cli.command)
        .args(&cli.doctor.version_args)
        .env_clear()
        .envs(cli.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(VERSION_TIMEOUT, run).await {
        Ok(Ok(output)) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout);
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_owned();
            (Level::Ok, format!("version {first}"))
        }
        Ok(Ok(output)) => (
            Level::Fail,
            format!(
                "`{} {}` failed ({}): {}",
                cli.command,
                cli.doctor.version_args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ),
        Ok(Err(e)) => (Level::Fail, format!("cannot run `{}`: {e}", cli.command)),
        Err(_) => (
            Level::Fail,
            format!(
                "`{} {}` did not answer within {}s",
                cli.command,
                cli.doctor.version_args.join(" "),
                VERSION_TIMEOUT.as_secs()
            ),
        ),
    }
}

fn credentials(cli: &CliTemplate, env: &BTreeMap<String, String>) -> Option<(Level, String)> {
    if cli.doctor.credentials.is_empty() {
        return None;
    }
    let child_env: std::collections::BTreeMap<&str, &str> = cli
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for source in &cli.doctor.credentials {
        if let Some(var) = source.strip_prefix("env:") {
            if child_env.get(var).is_some_and(|v| !v.is_empty()) {
                return Some((Level::Ok, format!("credentials from ${var}")));
            }
        } else {
            let path = expand_home(source, env);
            if std::path::Path::new(&path).exists() {
                return Some((Level::Ok, format!("credentials in {path}")));
            }
        }
    }
    let hint = cli
        .doctor
        .login_hint
        .as_deref()
        .map(|h| format!("; {h}"))
        .unwrap_or_default();
    Some((
        Level::Warn,
        format!(
            "no login found (looked for {}){hint}",
            cli.doctor.credentials.join(", ")
        ),
    ))
}
