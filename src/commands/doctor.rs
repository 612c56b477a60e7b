//! `doctor`: checks every backend of the active config — binary found,
//! version answers, login or credential files present — and prints
//! OK / WARN / FAIL per check. Exits 1 on any FAIL, like the original.

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use crate::backend::Backend;
use crate::backend::cli::{CliBackend, expand_home};
use crate::config::{LoadOptions, load};

const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Warn,
    Fail,
}

/// Runs `doctor`.
pub async fn doctor(options: &LoadOptions) -> ExitCode {
    let config = match load(options, None) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(super::check::INVALID);
        }
    };
    for note in &config.report.notes {
        println!("[NOTE] {note}");
    }
    let mut worst = Level::Ok;
    for warning in &config.report.warnings {
        println!("[WARN] {warning}");
        worst = Level::Warn;
    }
    if config.routes.backends.is_empty() {
        println!(
            "[FAIL] no backend is configured or installed (install a CLI, or see `agent-cli-to-api check`)"
        );
        worst = Level::Fail;
    }
    for backend in config.routes.backends.values() {
        let Backend::Cli(cli) = backend;
        for (level, message) in check_backend(cli, options).await {
            let tag = match level {
                Level::Ok => "OK  ",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            println!("[{tag}] {}: {message}", cli.name);
            worst = worst.max(level);
        }
    }
    match worst {
        Level::Ok => println!("Result: OK"),
        Level::Warn => println!("Result: OK (with warnings)"),
        Level::Fail => println!("Result: FAIL"),
    }
    if worst == Level::Fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn check_backend(cli: &CliBackend, options: &LoadOptions) -> Vec<(Level, String)> {
    let mut out = Vec::new();
    let Some(path) = &cli.program else {
        out.push((
            Level::Fail,
            format!(
                "`{}` not found on PATH (install it, or set backends.{}.command)",
                cli.command, cli.name
            ),
        ));
        return out;
    };
    out.push((Level::Ok, format!("binary {}", path.display())));
    out.push(version(cli).await);
    if let Some(credentials) = credentials(cli, options) {
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

async fn version(cli: &CliBackend) -> (Level, String) {
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

fn credentials(cli: &CliBackend, options: &LoadOptions) -> Option<(Level, String)> {
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
            let path = expand_home(source, &options.env);
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
