//! The binary's commands: serve (default), check, routes, doctor, login. Each
//! returns the process exit code.

pub mod check;
pub mod doctor;
pub mod login;
pub mod serve;

use std::fmt::Write as _;

use std::process::ExitCode;

use crate::config::{Config, LoadOptions, load};
use crate::routes::Provider;

/// Exit code of an invalid configuration.
pub const INVALID: u8 = 2;

/// Loads the configuration, or prints why it is invalid and gives the exit
/// code to end with.
pub fn load_or_exit(options: &LoadOptions) -> Result<Config, ExitCode> {
    load(options).map_err(|error| {
        eprintln!("{error}");
        ExitCode::from(INVALID)
    })
}

/// Renders the routing table: what each route matches, where it sends it, and why.
pub fn routes_table(config: &Config) -> String {
    let routes = &config.routes;
    let mut out = String::new();
    match &routes.provider {
        Some(Provider::Fixed(name)) => {
            let _ = writeln!(
                out,
                "provider: {name} (fixed) — every model goes to `{name}`{}{}",
                if routes.allow_model_override {
                    "; the client's model is passed on"
                } else {
                    "; the client's model is ignored"
                },
                if routes.allow_provider_override {
                    "; routes below may pick another backend"
                } else {
                    ""
                },
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "provider: auto — routes below decide (exact model, longest prefix, pattern, default)"
            );
        }
    }
    if !routes.aliases.is_empty() {
        let _ = writeln!(out, "aliases (applied first):");
        for (from, to) in &routes.aliases {
            let _ = writeln!(out, "  {from:?} → {to:?}");
        }
    }
    let _ = writeln!(out, "routes:");
    if routes.routes.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    let rows: Vec<(String, String, String)> = routes
        .routes
        .iter()
        .enumerate()
        .map(|(i, route)| {
            let target = match &route.rewrite {
                Some(rewrite) => format!("{} as {rewrite:?}", route.backend),
                None => route.backend.clone(),
            };
            let replaced = match (&route.off, routes.is_live(i)) {
                (Some(why), true) => format!(" (off: {why})"),
                (_, false) => " (replaced by a later route)".to_owned(),
                (None, true) => String::new(),
            };
            let about = route
                .description
                .as_deref()
                .map_or_else(String::new, |d| format!(" — {d}"));
            (
                route.matcher.to_string(),
                target,
                format!("{}{replaced}{about}", route.origin),
            )
        })
        .collect();
    let width = |f: fn(&(String, String, String)) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (w1, w2) = (
        width(|r| r.0.chars().count()),
        width(|r| r.1.chars().count()),
    );
    for (matcher, target, origin) in &rows {
        let _ = writeln!(out, "  {matcher:<w1$}  → {target:<w2$}  {origin}");
    }
    let _ = writeln!(
        out,
        "models advertised by /v1/models: {}",
        routes.models().join(", ")
    );
    out
}

/// Renders the notes and warnings of a loaded config.
pub fn notes(config: &Config) -> String {
    let mut out = String::new();
    for note in &config.report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for warning in &config.report.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}
