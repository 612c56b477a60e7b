//! `check`: validate the configuration and print what it resolves to.
//! Errors print as `file:line:col key.path: message` and exit 2.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::config::LoadOptions;

/// Runs `check`.
pub fn check(options: &LoadOptions) -> ExitCode {
    let config = match super::load_or_exit(options) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let mut out = String::new();
    let _ = writeln!(out, "config OK");
    let _ = writeln!(
        out,
        "files (lowest layer first): {}",
        if config.report.files.is_empty() {
            "(built-in defaults only)".to_owned()
        } else {
            config.report.files.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "listen: {}:{}",
        config.settings.host, config.settings.port
    );
    let _ = writeln!(out, "backends:");
    for (name, backend) in &config.routes.backends {
        let _ = writeln!(
            out,
            "  {name:<14} {}; default model {}; max {} at once{}",
            backend.summary(),
            backend.default_model.as_deref().unwrap_or("(none)"),
            backend.limits.max,
            backend
                .description
                .as_deref()
                .map_or_else(String::new, |d| format!(" — {d}"))
        );
    }
    out.push_str(&super::routes_table(&config));
    out.push_str(&super::notes(&config));
    print!("{out}");
    ExitCode::SUCCESS
}

/// Runs `routes`: the table, or how one model string resolves.
pub fn routes(options: &LoadOptions, model: Option<&str>) -> ExitCode {
    let config = match super::load_or_exit(options) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let Some(model) = model else {
        print!("{}{}", super::routes_table(&config), super::notes(&config));
        return ExitCode::SUCCESS;
    };
    match config.routes.resolve(model) {
        Ok(resolved) => {
            println!(
                "{model:?} → backend `{}` with model {:?}\n  because: {}",
                resolved.backend.name, resolved.model, resolved.reason
            );
            if !resolved.fallbacks.is_empty() {
                println!("  falls back to: {}", resolved.fallbacks.join(", "));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("{model:?} → {error}");
            ExitCode::FAILURE
        }
    }
}
