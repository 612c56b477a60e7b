//! The `cli` backend template: everything needed to run one CLI for one
//! request, compiled from `[backends.NAME]`. Data only; `engine::cli` runs it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::argv::ArgvTemplate;
use crate::backend::rules::OutputRules;
use crate::config::raw::{RawBackend, RawVar};
use crate::engine::limiter::{Limiter, Shape};
use crate::location::{FieldError, KeyPath};
use crate::turn::Effort;

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

/// A compiled `cli` backend.
#[derive(Debug)]
pub struct CliBackend {
    /// Backend name.
    pub name: String,
    /// What it is.
    pub description: Option<String>,
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
    /// Model used when the client's model is empty or ignored.
    pub default_model: Option<String>,
    /// Effort used when the client asks for none.
    pub default_effort: Option<Effort>,
    /// Models advertised by `/v1/models`.
    pub models: Vec<String>,
    /// Template variables and their values.
    pub vars: BTreeMap<String, String>,
    /// List variables, for `each` groups.
    pub lists: BTreeMap<String, Vec<String>>,
    /// The child's full environment.
    pub env: Vec<(String, String)>,
    /// Values that must never reach a client or a log (from the child env).
    pub secrets: Vec<String>,
    /// Fixed working directory; `None` means a fresh temporary one per request.
    pub workspace: Option<PathBuf>,
    /// Deadline for one run.
    pub timeout: Duration,
    /// Concurrency limit and queue (shared with this backend's earlier configs).
    pub limiter: Arc<Limiter>,
    /// The limiter's settings in this config (see `Config::apply_limits`).
    pub limits: Shape,
    /// Longest accepted stdout line.
    pub max_line_bytes: usize,
    /// Exit codes that encode a model-API HTTP status.
    pub exit_status: HashMap<i32, u16>,
    /// Output rules.
    pub rules: OutputRules,
    /// Doctor checks.
    pub doctor: DoctorSpec,
}

/// Server-wide defaults a backend falls back to.
#[derive(Debug, Clone)]
pub struct BackendDefaults {
    /// Deadline for one run.
    pub timeout: Duration,
    /// Concurrent runs.
    pub max_concurrency: usize,
    /// Requests allowed to wait.
    pub queue_size: usize,
    /// How long a request may wait.
    pub queue_timeout: Duration,
    /// Working directory for all backends.
    pub workspace: Option<PathBuf>,
    /// Longest accepted stdout line.
    pub max_line_bytes: usize,
}

/// Names of environment variables that carry the gateway's own secrets.
pub const GATEWAY_SECRET_VARS: &[&str] = &["CODEX_GATEWAY_TOKEN", "AGENT_CLI_TO_API_TOKEN"];

impl CliBackend {
    /// Compiles `[backends.NAME]`. `env` is the gateway's environment,
    /// `gateway_secrets` the values that must not reach the child, and
    /// `previous` the limiter of the same backend before a reload.
    pub fn compile(
        name: &str,
        raw: &RawBackend,
        defaults: &BackendDefaults,
        env: &BTreeMap<String, String>,
        gateway_secrets: &[String],
        previous: Option<&Arc<Limiter>>,
    ) -> Result<CliBackend, FieldError> {
        let here = KeyPath::default();
        let command = raw
            .command
            .clone()
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| FieldError::new(here.key("command"), "a cli backend needs `command`"))?;
        let mut vars = BTreeMap::new();
        let mut lists = BTreeMap::new();
        for (name, value) in raw.vars.iter().flatten() {
            if super::argv::ALWAYS_SET.contains(&name.as_str())
                || super::argv::OPTIONAL.contains(&name.as_str())
                || [
                    "prompt",
                    super::argv::IMAGES.0,
                    super::argv::IMAGES.1,
                    super::argv::ITEM,
                ]
                .contains(&name.as_str())
            {
                return Err(FieldError::new(
                    here.key("vars").key(name.clone()),
                    format!("`{name}` is a built-in placeholder and cannot be redefined"),
                ));
            }
            match value {
                RawVar::Text(text) => {
                    vars.insert(name.clone(), text.clone());
                }
                RawVar::List(items) => {
                    lists.insert(name.clone(), items.clone());
                }
            }
        }
        let var_names: BTreeSet<String> = vars.keys().cloned().collect();
        let list_names: BTreeSet<String> = lists.keys().cloned().collect();
        let argv = ArgvTemplate::compile(
            raw.args.as_deref().unwrap_or_default(),
            &var_names,
            &list_names,
            raw.extra_args.as_deref().unwrap_or_default(),
        )
        .map_err(|e| e.under(&here.key("args")))?;
        let prompt_via = match raw.prompt.as_deref().unwrap_or("stdin") {
            "stdin" => PromptVia::Stdin,
            "arg" => PromptVia::Arg,
            other => {
                return Err(FieldError::new(
                    here.key("prompt"),
                    format!("unknown prompt mode `{other}`: use \"stdin\" or \"arg\""),
                ));
            }
        };
        let default_effort = raw
            .default_effort
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(|e| {
                Effort::parse(e).ok_or_else(|| {
                    FieldError::new(
                        here.key("default_effort"),
                        format!("unknown effort `{e}`: use low, medium, high, xhigh or max"),
                    )
                })
            })
            .transpose()?;
        let rules = OutputRules::compile(raw.output.as_deref().unwrap_or_default())
            .map_err(|e| e.under(&here.key("output")))?;
        let exit_status = raw
            .exit_status
            .iter()
            .flatten()
            .map(|(code, status)| {
                let at = here.key("exit_status").key(code.clone());
                let code = code.parse::<i32>().map_err(|_| {
                    FieldError::new(at.clone(), format!("`{code}` is not an exit code"))
                })?;
                if !(100..=599).contains(status) {
                    return Err(FieldError::new(
                        at,
                        format!("{status} is not an HTTP status"),
                    ));
                }
                Ok((code, *status))
            })
            .collect::<Result<_, _>>()?;
        let shape = Shape {
            max: positive(
                raw.max_concurrency,
                defaults.max_concurrency,
                &here.key("max_concurrency"),
            )?,
            queue_size: raw.queue_size.map_or(defaults.queue_size, to_usize),
            queue_timeout: raw
                .queue_timeout_seconds
                .map_or(defaults.queue_timeout, Duration::from_secs),
        };
        // The same backend keeps its limiter across reloads, so runs in
        // progress stay counted; new settings apply once the config is live.
        let limiter = match previous {
            Some(limiter) => Arc::clone(limiter),
            None => Arc::new(Limiter::new(shape)),
        };
        let child_env = child_env(env, raw, gateway_secrets);
        let command = expand_home(&command, env);
        let search_path = child_env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str());
        let program = find_program(&command, search_path);
        let mut secrets = secret_values(&child_env, gateway_secrets);
        secrets.extend(secrets_in_args(raw));
        secrets.extend(secret_vars(&vars));
        let doctor = raw.doctor.clone().unwrap_or_default();
        Ok(CliBackend {
            name: name.to_owned(),
            description: raw.description.clone(),
            command,
            program,
            argv,
            prompt_via,
            default_model: raw.default_model.clone().filter(|m| !m.is_empty()),
            default_effort,
            models: raw.models.clone().unwrap_or_default(),
            vars,
            lists,
            env: child_env,
            secrets,
            workspace: raw
                .workspace
                .as_deref()
                .filter(|w| !w.is_empty())
                .map(|w| PathBuf::from(expand_home(w, env)))
                .or_else(|| defaults.workspace.clone()),
            timeout: Duration::from_secs(
                raw.timeout_seconds
                    .unwrap_or(defaults.timeout.as_secs())
                    .max(1),
            ),
            limiter,
            limits: shape,
            max_line_bytes: raw.max_line_bytes.map_or(defaults.max_line_bytes, to_usize),
            exit_status,
            rules,
            doctor: DoctorSpec {
                version_args: doctor
                    .version_args
                    .unwrap_or_else(|| vec!["--version".to_owned()]),
                credentials: doctor.credentials.unwrap_or_default(),
                login_hint: doctor.login_hint,
            },
        })
    }

    /// Whether system messages go to a separate argument instead of the prompt.
    pub fn takes_system(&self) -> bool {
        self.argv.uses("system")
    }

    /// Whether the CLI can resume a session (`{session}` in its template).
    pub fn takes_session(&self) -> bool {
        self.argv.uses("session")
    }

    /// Whether the CLI takes a reasoning effort (`{effort}` in its template).
    pub fn takes_effort(&self) -> bool {
        self.argv.uses("effort")
    }

    /// What to execute: the resolved path, else the command as configured.
    pub fn executable(&self) -> &std::path::Path {
        self.program
            .as_deref()
            .unwrap_or_else(|| std::path::Path::new(&self.command))
    }

    /// Whether image files can be passed to the CLI.
    pub fn takes_images(&self) -> bool {
        self.argv.takes_images()
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn positive(value: Option<u64>, default: usize, at: &KeyPath) -> Result<usize, FieldError> {
    match value {
        Some(0) => Err(FieldError::new(at.clone(), "must be at least 1")),
        Some(n) => Ok(to_usize(n)),
        None => Ok(default.max(1)),
    }
}

/// Finds `program` the way `exec` would: a path is checked as is, a bare
/// name is looked up in `search_path` (the CLI's `PATH`).
pub fn find_program(program: &str, search_path: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |path: &std::path::Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        return executable(&path).then_some(path);
    }
    search_path?
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| PathBuf::from(dir).join(program))
        .find(|path| executable(path))
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(path: &str, env: &BTreeMap<String, String>) -> String {
    match (path.strip_prefix("~/"), env.get("HOME")) {
        (Some(rest), Some(home)) => format!("{}/{rest}", home.trim_end_matches('/')),
        _ => path.to_owned(),
    }
}

/// The gateway's environment minus its own secrets and the template's
/// removals, plus the template's additions.
fn child_env(
    env: &BTreeMap<String, String>,
    raw: &RawBackend,
    gateway_secrets: &[String],
) -> Vec<(String, String)> {
    let removed = raw.env_remove.clone().unwrap_or_default();
    let is_removed = |name: &str| {
        GATEWAY_SECRET_VARS.contains(&name)
            || removed
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => pattern == name,
                })
    };
    let mut out: BTreeMap<String, String> = env
        .iter()
        .filter(|(name, value)| {
            !is_removed(name)
                && !gateway_secrets
                    .iter()
                    .any(|s| s.len() >= 4 && value.contains(s.as_str()))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (name, value) in raw.env.iter().flatten() {
        out.insert(name.clone(), expand_home(value, env));
    }
    out.into_iter().collect()
}

/// Values of template variables named like secrets (`api_key`, `token`…).
pub fn secret_vars(vars: &BTreeMap<String, String>) -> impl Iterator<Item = String> + '_ {
    vars.iter()
        .filter(|(name, value)| looks_secret(name) && value.len() >= 8)
        .map(|(_, value)| value.clone())
}

fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL"]
        .iter()
        .any(|word| upper.contains(word))
}

/// Values given to secret-looking options in the template's literal
/// arguments (its `{placeholders}` are found per run, in the rendered argv).
fn secrets_in_args(raw: &RawBackend) -> Vec<String> {
    let literal = raw.args.iter().flatten().filter_map(|a| match a {
        crate::backend::spec::RawArg::Plain(text) => Some(text.clone()),
        crate::backend::spec::RawArg::Group(_) => None,
    });
    let args: Vec<String> = literal
        .chain(raw.extra_args.iter().flatten().cloned())
        .collect();
    secrets_in_argv(&args)
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
                    && (looks_secret(name) || name.eq_ignore_ascii_case("authorization"))
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

fn secret_values(child_env: &[(String, String)], gateway_secrets: &[String]) -> Vec<String> {
    let mut secrets: Vec<String> = gateway_secrets.to_vec();
    secrets.extend(
        child_env
            .iter()
            .filter(|(name, value)| looks_secret(name) && value.len() >= 8)
            .map(|(_, value)| value.clone()),
    );
    secrets
}
