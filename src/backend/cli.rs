//! The `cli` backend template: everything needed to run one CLI for one
//! request. Data only: `config::build` compiles it, `engine::cli` runs it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::backend::argv::ArgvTemplate;
use crate::backend::rules::OutputRules;

/// How the prompt reaches the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptVia {
    /// Written to stdin, which is then closed.
    Stdin,
    /// The last argv element, after `--`; stdin is closed.
    Arg,
}

/// What `doctor` checks for a backend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoctorSpec {
    /// Arguments that print the CLI's version.
    pub version_args: Vec<String>,
    /// Any one of these proves a login: `env:NAME` or a file path (`~` allowed).
    pub credentials: Vec<String>,
    /// What to run to log in.
    pub login_hint: Option<String>,
}

/// A compiled `cli` template.
#[derive(Debug)]
pub struct CliTemplate {
    /// Program as configured (a name looked up on `PATH`, or a path).
    pub command: String,
    /// `command` resolved on the child's `PATH` when the config loaded, if
    /// it was found then. Spawning this absolute path lets the spawn use
    /// `posix_spawn` instead of `fork`; without it `command` is looked up at
    /// spawn time (a CLI installed later still works).
    pub program: Option<PathBuf>,
    /// Argument template, `extra_args` (e.g. from `*_EXTRA_ARGS`) included.
    pub argv: ArgvTemplate,
    /// How the prompt is passed.
    pub prompt_via: PromptVia,
    /// Template variables and their values.
    pub vars: BTreeMap<String, String>,
    /// List variables, for `each` groups.
    pub lists: BTreeMap<String, Vec<String>>,
    /// The child's full environment.
    pub env: Vec<(String, String)>,
    /// Fixed working directory; `None` means a fresh temporary one per request.
    pub workspace: Option<PathBuf>,
    /// Longest accepted stdout line.
    pub max_line_bytes: usize,
    /// Exit codes that encode a model-API HTTP status.
    pub exit_status: HashMap<i32, u16>,
    /// Output rules.
    pub rules: OutputRules,
    /// Doctor checks.
    pub doctor: DoctorSpec,
}

/// Names of environment variables that carry the gateway's own secrets.
pub const GATEWAY_SECRET_VARS: &[&str] = &["CODEX_GATEWAY_TOKEN", "AGENT_CLI_TO_API_TOKEN"];

impl CliTemplate {
    /// What to execute: the resolved path, else the command as configured.
    pub fn executable(&self) -> &std::path::Path {
        self.program
            .as_deref()
            .unwrap_or_else(|| std::path::Path::new(&self.command))
    }
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(path: &str, env: &BTreeMap<String, String>) -> String {
    match (path.strip_prefix("~/"), env.get("HOME")) {
        (Some(rest), Some(home)) => format!("{}/{rest}", home.trim_end_matches('/')),
        _ => path.to_owned(),
    }
}

/// Whether a variable or option name says its value is a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "CREDENTIAL",
        "AUTHORIZATION",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

/// Values given to secret-looking options in an argv: `--api-key VALUE`,
/// `--token=VALUE`, `-H "Authorization: Bearer VALUE"`.
pub fn secrets_in_argv(args: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let next = args.get(i + 1);
        match arg.split_once('=') {
            Some((option, value)) if option.starts_with('-') && looks_secret(option) => {
                found.push(value.to_owned());
            }
            _ if arg.starts_with('-') && looks_secret(arg) => found.extend(next.cloned()),
            _ if arg == "-H" || arg == "--header" => {
                if let Some((name, value)) = next.and_then(|h| h.split_once(':'))
                    && looks_secret(name)
                {
                    let value = value.trim();
                    found.push(value.rsplit(' ').next().unwrap_or(value).to_owned());
                }
            }
            _ => {}
        }
    }
    // An unrendered `{placeholder}` is not a secret; its value is found per run.
    let placeholder = |s: &str| {
        s.strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .is_some_and(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    };
    found.retain(|s| s.len() >= 8 && !placeholder(s));
    found
}
