//! `doctor`: checks every backend of the active config — binary found,
//! version answers, login or credential files present — and prints
//! OK / WARN / FAIL per check. Exits 1 on any FAIL, like the original.

use std::process::ExitCode;

use crate::config::LoadOptions;
use crate::engine::Health as Level;

/// Runs `doctor`.
pub async fn doctor(options: &LoadOptions) -> ExitCode {
    let config = match super::load_or_exit(options) {
        Ok(config) => config,
        Err(code) => return code,
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
        for (level, message) in crate::engine::doctor(backend, &options.env).await {
            let tag = match level {
                Level::Ok => "OK  ",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            println!("[{tag}] {}: {message}", backend.name);
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
