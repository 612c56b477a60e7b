//! The command line (clap). With no subcommand the gateway serves; the
//! optional PROVIDER fixes the backend like the original's positional
//! argument (`agent-cli-to-api claude`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Flags, LoadOptions};

/// One OpenAI-compatible API in front of agent CLIs.
#[derive(Debug, Parser)]
#[command(
    name = "agent-cli-to-api",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; serving is the default.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Serve options.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and print the resolved routes (exit 2 on error).
    Check(ConfigArgs),
    /// List which model strings go to which backend, and why; with MODEL, resolve it.
    Routes {
        /// A model string to resolve.
        model: Option<String>,
        /// Config options.
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Check every backend: binary, version, login (exit 1 on FAIL).
    Doctor(ConfigArgs),
    /// Log in to a subscription and save the login where its preset reads it.
    Login(LoginArgs),
}

/// `login` arguments.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Whose login: `claude` (your Claude subscription, for `claude-oauth`).
    #[arg(value_parser = ["claude"])]
    pub provider: String,
    /// Where to save it (default: Claude Code's ~/.claude/.credentials.json).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// The authorization page (tests and proxies).
    #[arg(long, default_value = "https://claude.ai/oauth/authorize")]
    pub authorize_url: String,
    /// The token endpoint (tests and proxies).
    #[arg(long, default_value = "https://console.anthropic.com/v1/oauth/token")]
    pub token_url: String,
    /// The OAuth client (default: Claude Code's).
    #[arg(long, default_value = "9d1c250a-e61b-44d9-88ed-5944d1962f5e")]
    pub client_id: String,
}

/// `serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Fixed provider: codex, claude, gemini, cursor-agent (or an alias, or any
    /// backend name), or `auto` to route by model prefix.
    pub provider: Option<String>,
    /// `curl` logs a replayable curl command per request (same as --log-curl).
    #[arg(value_parser = ["curl"])]
    pub mode: Option<String>,
    /// Address to listen on.
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on.
    #[arg(long)]
    pub port: Option<u16>,
    /// Log a replayable curl command per request (token redacted).
    #[arg(long)]
    pub log_curl: bool,
    /// Log level: trace, debug, info, warn(ing), error or critical (or set RUST_LOG).
    #[arg(long, env = "CODEX_LOG_LEVEL", default_value = "info", value_parser = log_level)]
    pub log_level: String,
    /// Config options.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Where the configuration comes from.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Routing file (default: ./routes.toml if it exists).
    #[arg(long, short = 'c', env = "AGENT_CLI_TO_API_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of preset files (default: presets/ beside the config).
    #[arg(long)]
    pub presets: Option<PathBuf>,
    /// Preset to load (built-in or from the presets directory).
    #[arg(long)]
    pub preset: Option<String>,
}

impl ConfigArgs {
    /// Load options for these arguments and the process environment.
    pub fn load_options(&self, flags: Flags) -> LoadOptions {
        LoadOptions {
            config: self.config.clone(),
            presets_dir: self.presets.clone(),
            flags: Flags {
                preset: self.preset.clone(),
                ..flags
            },
            env: std::env::vars().collect(),
        }
    }
}

impl ServeArgs {
    /// The command-line layer of the configuration.
    pub fn flags(&self) -> Flags {
        // `agent-cli-to-api curl`: the mode alone, as the original allowed.
        let (provider, curl_mode) = match (self.provider.as_deref(), &self.mode) {
            (Some("curl"), None) => (None, true),
            (provider, mode) => (provider.map(str::to_owned), mode.is_some()),
        };
        Flags {
            provider,
            preset: None,
            host: self.host.clone(),
            port: self.port,
            log_curl: self.log_curl || curl_mode,
        }
    }
}

/// A log level as tracing names it, from its name or the Python original's
/// (`warning`, `critical`), in any case.
fn log_level(value: &str) -> Result<String, String> {
    let level = match value.trim().to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "critical" | "fatal" => "error",
        "off" => "off",
        other => {
            return Err(format!(
                "unknown log level `{other}`: use trace, debug, info, warning, error or critical"
            ));
        }
    };
    Ok(level.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_level_names_are_understood() {
        assert_eq!(log_level("WARNING").unwrap(), "warn");
        assert_eq!(log_level("critical").unwrap(), "error");
        assert_eq!(log_level("Debug").unwrap(), "debug");
        assert!(
            log_level("verbose")
                .unwrap_err()
                .contains("unknown log level")
        );
    }
}
