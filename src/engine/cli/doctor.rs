//! `doctor` for a `cli` backend: its program is found, only its owner can
//! replace it, it answers its version command, and one of its login
//! sources exists.

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
    if let Some(open) = writable_by_everyone(path) {
        out.push((
            Level::Warn,
            format!(
                "{} is writable by everyone: anyone on this machine could replace what \
                 the gateway runs, with the gateway's logins",
                open.display()
            ),
        ));
    }
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

/// The file, or a directory it sits in without the sticky bit (which
/// would keep others from replacing it), that everyone can write to.
fn writable_by_everyone(program: &std::path::Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    const OTHERS_WRITE: u32 = 0o002;
    const STICKY: u32 = 0o1000;
    let program = std::fs::canonicalize(program).ok()?;
    let mode = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.permissions().mode());
    if mode(&program).ok()? & OTHERS_WRITE != 0 {
        return Some(program);
    }
    program
        .ancestors()
        .skip(1)
        .find(|dir| mode(dir).is_ok_and(|m| m & OTHERS_WRITE != 0 && m & STICKY == 0))
        .map(std::path::Path::to_path_buf)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_program_others_can_replace_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        let program = open.join("cli");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        let set = |path: &std::path::Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        set(&program, 0o755);
        set(&open, 0o755);
        assert_eq!(writable_by_everyone(&program), None);
        set(&open, 0o777);
        assert_eq!(
            writable_by_everyone(&program),
            Some(open.canonicalize().unwrap())
        );
        // Like /tmp: others may add files, not replace this one.
        set(&open, 0o1777);
        assert_eq!(writable_by_everyone(&program), None);
        set(&program, 0o757);
        assert_eq!(
            writable_by_everyone(&program),
            Some(program.canonicalize().unwrap())
        );
    }
}
