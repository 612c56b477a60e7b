//! The environment variables documented by the Python original, mapped onto
//! configuration keys so an existing setup keeps working. Values are checked
//! here (a typo in a boolean is an error, not `false`), and variables the
//! original knew but this version does not use are reported, never ignored
//! silently.

use std::collections::{BTreeMap, BTreeSet};

use figment::value::Value;

use crate::config::error::ConfigError;
use crate::config::layers::{ENVIRONMENT, KeyedLayer};

use self::not_used::NOT_USED;
use crate::location::{KeyPath, Origin};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Number,
    /// Comma-separated list.
    List,
    /// A JSON array of strings, or a comma-separated list.
    ListOrJson,
    /// JSON object of strings.
    JsonMap,
    /// POSIX-shell-like words.
    Words,
    /// A boolean stored as a template variable: "1" or "".
    FlagVar,
}

/// Server-wide variables.
const SERVER: &[(&str, &str, Kind)] = &[
    ("CODEX_GATEWAY_TOKEN", "server.token", Kind::Text),
    ("CODEX_HOST", "server.host", Kind::Text),
    ("CODEX_PORT", "server.port", Kind::Number),
    ("CODEX_PROVIDER", "server.provider", Kind::Text),
    (
        "CODEX_ALLOW_CLIENT_PROVIDER_OVERRIDE",
        "server.allow_client_provider_override",
        Kind::Bool,
    ),
    (
        "CODEX_ALLOW_CLIENT_MODEL_OVERRIDE",
        "server.allow_client_model_override",
        Kind::Bool,
    ),
    ("CODEX_MODEL_ALIASES", "aliases", Kind::JsonMap),
    (
        "CODEX_ADVERTISED_MODELS",
        "server.advertised_models",
        Kind::List,
    ),
    ("CODEX_WORKSPACE", "server.workspace", Kind::Text),
    (
        "CODEX_MAX_CONCURRENCY",
        "server.max_concurrency",
        Kind::Number,
    ),
    (
        "CODEX_TIMEOUT_SECONDS",
        "server.timeout_seconds",
        Kind::Number,
    ),
    (
        "CODEX_SSE_KEEPALIVE_SECONDS",
        "server.sse_keepalive_seconds",
        Kind::Number,
    ),
    (
        "CODEX_MAX_PROMPT_CHARS",
        "server.max_prompt_chars",
        Kind::Number,
    ),
    (
        "CODEX_SUBPROCESS_STREAM_LIMIT",
        "server.max_line_bytes",
        Kind::Number,
    ),
    ("CODEX_ENABLE_IMAGE_INPUT", "server.images", Kind::Bool),
    ("CODEX_MAX_IMAGE_COUNT", "server.max_images", Kind::Number),
    (
        "CODEX_MAX_IMAGE_BYTES",
        "server.max_image_bytes",
        Kind::Number,
    ),
    (
        "CODEX_FORCE_REASONING_EFFORT",
        "server.force_effort",
        Kind::Text,
    ),
    ("CODEX_LOG_MODE", "server.log_mode", Kind::Text),
    ("CODEX_LOG_REQUEST_CURL", "server.log_curl", Kind::Bool),
    ("CODEX_LOG_MAX_CHARS", "server.log_max_chars", Kind::Number),
    ("CODEX_LOG_EVENTS", "server.log_events", Kind::Bool),
    ("CODEX_CORS_ORIGINS", "server.cors_origins", Kind::List),
    (
        "CODEX_STRIP_ANSWER_TAGS",
        "server.strip_answer_tags",
        Kind::Bool,
    ),
];

/// Per-backend variables: (variable, backend, key under `backends.NAME`,
/// and the backend kinds the key belongs to; `None`: any kind). A variable
/// may have a row for each kind its backend can be (`codex` is the CLI, or
/// the ChatGPT backend of the `codex-fast` preset).
const BACKEND: &[(&str, &str, &str, Kind, Kinds)] = &[
    ("CODEX_BIN", "codex", "command", Kind::Text, PROCESS),
    ("CODEX_BIN", "codex", "instructions_from", Kind::Text, HTTP),
    ("CODEX_MODEL", "codex", "default_model", Kind::Text, None),
    (
        "CODEX_MODEL_REASONING_EFFORT",
        "codex",
        "default_effort",
        Kind::Text,
        None,
    ),
    (
        "CODEX_SANDBOX",
        "codex",
        "vars.sandbox",
        Kind::Text,
        PROCESS,
    ),
    (
        "CODEX_ENABLE_SEARCH",
        "codex",
        "web_search",
        Kind::Bool,
        HTTP,
    ),
    (
        "CODEX_ENABLE_IMAGE_GEN",
        "codex",
        "image_generation",
        Kind::Bool,
        HTTP,
    ),
    (
        "CODEX_EXTRA_ARGS",
        "codex",
        "extra_args",
        Kind::Words,
        PROCESS,
    ),
    (
        "CODEX_ADD_DIRS",
        "codex",
        "vars.add_dirs",
        Kind::ListOrJson,
        PROCESS,
    ),
    (
        "CODEX_ADD_DIRS",
        "claude",
        "vars.add_dirs",
        Kind::ListOrJson,
        PROCESS,
    ),
    ("CLAUDE_BIN", "claude", "command", Kind::Text, PROCESS),
    ("CLAUDE_MODEL", "claude", "default_model", Kind::Text, None),
    (
        "CLAUDE_EXTRA_ARGS",
        "claude",
        "extra_args",
        Kind::Words,
        PROCESS,
    ),
    ("GEMINI_BIN", "gemini", "command", Kind::Text, PROCESS),
    ("GEMINI_MODEL", "gemini", "default_model", Kind::Text, None),
    (
        "GEMINI_EXTRA_ARGS",
        "gemini",
        "extra_args",
        Kind::Words,
        PROCESS,
    ),
    (
        "CURSOR_AGENT_BIN",
        "cursor-agent",
        "command",
        Kind::Text,
        PROCESS,
    ),
    (
        "CURSOR_AGENT_MODEL",
        "cursor-agent",
        "default_model",
        Kind::Text,
        None,
    ),
    (
        "CURSOR_AGENT_WORKSPACE",
        "cursor-agent",
        "workspace",
        Kind::Text,
        PROCESS,
    ),
    (
        "CURSOR_AGENT_API_KEY",
        "cursor-agent",
        "env.CURSOR_API_KEY",
        Kind::Text,
        PROCESS,
    ),
    (
        "CURSOR_AGENT_EXTRA_ARGS",
        "cursor-agent",
        "extra_args",
        Kind::Words,
        PROCESS,
    ),
    (
        "CURSOR_AGENT_STREAM_PARTIAL_OUTPUT",
        "cursor-agent",
        "vars.stream_partial_output",
        Kind::FlagVar,
        PROCESS,
    ),
    (
        "CURSOR_AGENT_DISABLE_INDEXING",
        "cursor-agent",
        "vars.disable_indexing",
        Kind::FlagVar,
        PROCESS,
    ),
];

/// The backend kinds a key belongs to; `None`: every kind.
type Kinds = Option<&'static [&'static str]>;
/// Backends that start a process (`cli` and `session`) share these keys.
const PROCESS: Kinds = Some(&["cli", "session"]);
const HTTP: Kinds = Some(&["http"]);

/// Values taken from the environment.
#[derive(Debug, Default)]
pub struct EnvSettings {
    /// The figment layer.
    pub layer: KeyedLayer,
    /// Variables that were set but are not used, with the reason.
    pub not_used: Vec<String>,
}

/// Reads the environment. Backend variables apply only to backends that
/// exist, given by name with their kind; `read_by_backends` are the
/// variables loaded backends read themselves (`url_env`, `auth.env`, a
/// login's home), never reported as not used.
pub fn read(
    env: &BTreeMap<String, String>,
    backends: &BTreeMap<String, String>,
    read_by_backends: &BTreeSet<String>,
) -> Result<EnvSettings, ConfigError> {
    let mut out = EnvSettings {
        layer: KeyedLayer::new(ENVIRONMENT),
        ..EnvSettings::default()
    };
    // An empty variable is unset (so `CODEX_GATEWAY_TOKEN=` cannot remove a
    // token the file sets); only booleans read empty as false, as before.
    let value = |var: &str, kind: Kind| {
        env.get(var)
            .filter(|raw| !raw.trim().is_empty() || matches!(kind, Kind::Bool | Kind::FlagVar))
    };
    for (var, key, kind) in SERVER {
        if let Some(raw) = value(var, *kind) {
            out.layer.set(key, parse(var, key, raw, *kind)?, var);
        }
    }
    // A variable with rows for other backends or kinds is reported when no
    // row used it, once: its first reason.
    let mut unused: BTreeMap<&str, String> = BTreeMap::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for (var, backend, key, kind, backend_kind) in BACKEND {
        let Some(raw) = value(var, *kind) else {
            continue;
        };
        let full = format!("backends.{backend}.{key}");
        let why = match backends.get(*backend) {
            Some(is) if backend_kind.is_none_or(|kinds| kinds.contains(&is.as_str())) => {
                out.layer.set(&full, parse(var, &full, raw, *kind)?, var);
                used.insert(var);
                continue;
            }
            Some(is) => {
                format!("{var} is set but not used: the `{backend}` backend here is of kind `{is}`")
            }
            None => format!("{var} is set but no `{backend}` backend is loaded"),
        };
        unused.entry(var).or_insert(why);
    }
    out.not_used.extend(
        unused
            .into_iter()
            .filter(|(var, _)| !used.contains(var) && !read_by_backends.contains(*var))
            .map(|(_, why)| why),
    );
    for (var, reason) in NOT_USED {
        if env.contains_key(*var) && !read_by_backends.contains(*var) {
            out.not_used
                .push(format!("{var} is set but not used: {reason}"));
        }
    }
    Ok(out)
}

fn parse(var: &str, key: &str, raw: &str, kind: Kind) -> Result<Value, ConfigError> {
    let fail = |message: String| ConfigError {
        origin: Origin::Env(var.to_owned()),
        key: KeyPath::keys(key.split('.')),
        message,
    };
    Ok(match kind {
        Kind::Text => Value::from(raw.to_owned()),
        Kind::Bool => Value::from(parse_bool(raw).ok_or_else(|| {
            fail(format!(
                "{raw:?} is not a boolean: use 1/0, true/false, yes/no or on/off"
            ))
        })?),
        Kind::FlagVar => Value::from(
            if parse_bool(raw).ok_or_else(|| {
                fail(format!(
                    "{raw:?} is not a boolean: use 1/0, true/false, yes/no or on/off"
                ))
            })? {
                "1"
            } else {
                ""
            }
            .to_owned(),
        ),
        Kind::Number => Value::from(
            raw.trim()
                .parse::<u64>()
                .map_err(|_| fail(format!("{raw:?} is not a whole number")))?,
        ),
        Kind::ListOrJson if raw.trim_start().starts_with('[') => {
            let items: Vec<String> = serde_json::from_str(raw).map_err(|e| {
                fail(format!(
                    "expected a JSON array of strings like [\"/a\", \"/b\"], or a comma-separated list: {e}"
                ))
            })?;
            Value::from(items.into_iter().map(Value::from).collect::<Vec<_>>())
        }
        Kind::List | Kind::ListOrJson => Value::from(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::from(s.to_owned()))
                .collect::<Vec<_>>(),
        ),
        Kind::JsonMap => {
            let map: BTreeMap<String, String> = serde_json::from_str(raw).map_err(|e| {
                fail(format!(
                    "expected a JSON object of strings like {{\"gpt-4\": \"claude:sonnet\"}}: {e}"
                ))
            })?;
            let mut dict = figment::value::Dict::new();
            for (k, v) in map {
                dict.insert(k, Value::from(v));
            }
            Value::from(dict)
        }
        Kind::Words => Value::from(
            shlex::split(raw)
                .ok_or_else(|| fail("unbalanced quotes".to_owned()))?
                .into_iter()
                .map(Value::from)
                .collect::<Vec<_>>(),
        ),
    })
}

/// The original's booleans, but strict: anything else is an error.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "f" | "no" | "n" | "off" | "" => Some(false),
        _ => None,
    }
}

mod not_used;

#[cfg(test)]
mod tests;
