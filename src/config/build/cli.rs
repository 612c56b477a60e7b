//! Compiles a `cli` backend's table (`[backends.NAME]` with `kind = "cli"`)
//! into a [`Backend`]: validates every key (errors name it), resolves the
//! program on the CLI's `PATH`, builds its environment without the
//! gateway's secrets, and finds the values that must be redacted.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::argv::{self, ArgvTemplate};
use crate::backend::cli::{
    CliTemplate, DoctorSpec, GATEWAY_SECRET_VARS, PromptVia, expand_home, looks_secret,
    secrets_in_argv,
};
use crate::backend::rules::OutputRules;
use crate::backend::{Backend, Capabilities, Kind};
use crate::config::raw::{RawBackend, RawVar};
use crate::location::{FieldError, KeyPath};

use super::common::{self, KindParts};
use super::to_usize;

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

/// Compiles a `cli` backend. `env` is the gateway's environment and
/// `gateway_secrets` the values that must not reach the child.
pub fn compile(
    name: &str,
    raw: &RawBackend,
    defaults: &BackendDefaults,
    env: &BTreeMap<String, String>,
    gateway_secrets: &[String],
) -> Result<Backend, FieldError> {
    let here = KeyPath::default();
    let (mut template, secrets) = process("cli", raw, defaults, env, gateway_secrets)?;
    template.prompt_via = match raw.prompt.as_deref().unwrap_or("stdin") {
        "stdin" => PromptVia::Stdin,
        "arg" => PromptVia::Arg,
        other => {
            return Err(FieldError::new(
                here.key("prompt"),
                format!("unknown prompt mode `{other}`: use \"stdin\" or \"arg\""),
            ));
        }
    };
    template.rules = OutputRules::compile(raw.output.as_deref().unwrap_or_default())
        .map_err(|e| e.under(&here.key("output")))?;
    template.exit_status = exit_statuses(raw)?;
    let argv = &template.argv;
    let capabilities = Capabilities {
        system: argv.uses("system"),
        sessions: argv.uses("session"),
        effort: argv.uses("effort"),
        images: argv.takes_images(),
        // A CLI runs its own tools and sampling; it reads only the prompt.
        ..Capabilities::default()
    };
    common::backend(
        name,
        raw,
        defaults,
        KindParts {
            secrets,
            capabilities,
            kind: Kind::Cli(Arc::new(template)),
        },
    )
}

/// How to start the process of a `cli` or `session` backend: command,
/// argv, environment (without the gateway's secrets), working directory,
/// doctor checks; and the values that must be redacted. Output rules are
/// left empty, the prompt goes to stdin.
pub(super) fn process(
    kind: &str,
    raw: &RawBackend,
    defaults: &BackendDefaults,
    env: &BTreeMap<String, String>,
    gateway_secrets: &[String],
) -> Result<(CliTemplate, Vec<String>), FieldError> {
    let here = KeyPath::default();
    let command = raw
        .command
        .clone()
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| {
            FieldError::new(
                here.key("command"),
                format!("a {kind} backend needs `command`"),
            )
        })?;
    let (vars, lists) = template_vars(raw)?;
    let argv = ArgvTemplate::compile(
        raw.args.as_deref().unwrap_or_default(),
        &vars.keys().cloned().collect(),
        &lists.keys().cloned().collect(),
        raw.extra_args.as_deref().unwrap_or_default(),
    )
    .map_err(|e| e.under(&here.key("args")))?;
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
    let template = CliTemplate {
        command,
        program,
        argv,
        prompt_via: PromptVia::Stdin,
        vars,
        lists,
        env: child_env,
        workspace: raw
            .workspace
            .as_deref()
            .filter(|w| !w.is_empty())
            .map(|w| PathBuf::from(expand_home(w, env)))
            .or_else(|| defaults.workspace.clone()),
        max_line_bytes: raw.max_line_bytes.map_or(defaults.max_line_bytes, to_usize),
        exit_status: HashMap::new(),
        rules: OutputRules::default(),
        doctor: DoctorSpec {
            version_args: doctor
                .version_args
                .unwrap_or_else(|| vec!["--version".to_owned()]),
            credentials: doctor.credentials.unwrap_or_default(),
            login_hint: doctor.login_hint,
        },
    };
    Ok((template, secrets))
}

/// A template's text variables and list variables.
type Variables = (BTreeMap<String, String>, BTreeMap<String, Vec<String>>);

/// The template's text and list variables, none redefining a built-in.
fn template_vars(raw: &RawBackend) -> Result<Variables, FieldError> {
    let mut vars = BTreeMap::new();
    let mut lists = BTreeMap::new();
    for (name, value) in raw.vars.iter().flatten() {
        if argv::ALWAYS_SET.contains(&name.as_str())
            || argv::OPTIONAL.contains(&name.as_str())
            || ["prompt", argv::IMAGES.0, argv::IMAGES.1, argv::ITEM].contains(&name.as_str())
        {
            return Err(FieldError::new(
                KeyPath::keys(["vars", name.as_str()]),
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
    Ok((vars, lists))
}

/// `exit_status`: exit codes that carry the model API's HTTP status.
fn exit_statuses(raw: &RawBackend) -> Result<HashMap<i32, u16>, FieldError> {
    raw.exit_status
        .iter()
        .flatten()
        .map(|(code, status)| {
            let at = KeyPath::keys(["exit_status", code.as_str()]);
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
        .collect()
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
