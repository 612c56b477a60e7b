//! The environment variables documented by the Python original, mapped onto
//! configuration keys so an existing setup keeps working. Values are checked
//! here (a typo in a boolean is an error, not `false`), and variables the
//! original knew but this version does not use are reported, never ignored
//! silently.

use std::collections::{BTreeMap, BTreeSet};

use figment::value::Value;

use crate::config::error::{ConfigError, KeyPath, Origin};
use crate::config::layers::{ENVIRONMENT, KeyedLayer};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Number,
    /// Comma-separated list.
    List,
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
];

/// Per-backend variables: (variable, backend, key under `backends.NAME`).
const BACKEND: &[(&str, &str, &str, Kind)] = &[
    ("CODEX_BIN", "codex", "command", Kind::Text),
    ("CODEX_MODEL", "codex", "default_model", Kind::Text),
    (
        "CODEX_MODEL_REASONING_EFFORT",
        "codex",
        "default_effort",
        Kind::Text,
    ),
    ("CODEX_SANDBOX", "codex", "vars.sandbox", Kind::Text),
    ("CODEX_EXTRA_ARGS", "codex", "extra_args", Kind::Words),
    ("CLAUDE_BIN", "claude", "command", Kind::Text),
    ("CLAUDE_MODEL", "claude", "default_model", Kind::Text),
    ("CLAUDE_EXTRA_ARGS", "claude", "extra_args", Kind::Words),
    ("GEMINI_BIN", "gemini", "command", Kind::Text),
    ("GEMINI_MODEL", "gemini", "default_model", Kind::Text),
    ("GEMINI_EXTRA_ARGS", "gemini", "extra_args", Kind::Words),
    ("CURSOR_AGENT_BIN", "cursor-agent", "command", Kind::Text),
    (
        "CURSOR_AGENT_MODEL",
        "cursor-agent",
        "default_model",
        Kind::Text,
    ),
    (
        "CURSOR_AGENT_WORKSPACE",
        "cursor-agent",
        "workspace",
        Kind::Text,
    ),
    (
        "CURSOR_AGENT_API_KEY",
        "cursor-agent",
        "env.CURSOR_API_KEY",
        Kind::Text,
    ),
    (
        "CURSOR_AGENT_EXTRA_ARGS",
        "cursor-agent",
        "extra_args",
        Kind::Words,
    ),
    (
        "CURSOR_AGENT_STREAM_PARTIAL_OUTPUT",
        "cursor-agent",
        "vars.stream_partial_output",
        Kind::FlagVar,
    ),
    (
        "CURSOR_AGENT_DISABLE_INDEXING",
        "cursor-agent",
        "vars.disable_indexing",
        Kind::FlagVar,
    ),
];

/// Variables of the original that this version recognises but does not use.
const NOT_USED: &[(&str, &str)] = &[
    (
        "CODEX_USE_CODEX_RESPONSES_API",
        "HTTP upstream backends are not available in this version; codex runs as `codex exec`",
    ),
    (
        "CODEX_CODEX_BASE_URL",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "CODEX_CODEX_ALLOW_TOOLS",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "CLAUDE_USE_OAUTH_API",
        "HTTP upstream backends are not available in this version; claude runs as the CLI",
    ),
    (
        "CLAUDE_OAUTH_CREDS_PATH",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "GEMINI_USE_CLOUDCODE_API",
        "HTTP upstream backends are not available in this version; gemini runs as the CLI",
    ),
    (
        "GEMINI_OAUTH_CREDS_PATH",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "GEMINI_PROJECT_ID",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "CODEX_APPROVAL_POLICY",
        "`codex exec` always runs with approval policy `never`",
    ),
    (
        "CODEX_CLI_HOME",
        "set CODEX_HOME in backends.codex.env instead",
    ),
    (
        "CODEX_ADD_DIRS",
        "add `--add-dir` to backends.NAME.extra_args instead",
    ),
    (
        "CODEX_STRIP_ANSWER_TAGS",
        "answers are passed through unchanged",
    ),
    (
        "CODEX_STRICT_MODELS",
        "routing is always explicit: unknown models get 404",
    ),
    ("CODEX_MODEL_FALLBACK", "models are never silently replaced"),
    (
        "CODEX_ENABLE_SEARCH",
        "web search needs HTTP upstream backends",
    ),
    (
        "CODEX_ENABLE_IMAGE_GEN",
        "image generation needs HTTP upstream backends",
    ),
    (
        "CODEX_DISABLE_SHELL_TOOL",
        "edit backends.codex.args to change codex features",
    ),
    (
        "CODEX_DISABLE_VIEW_IMAGE_TOOL",
        "edit backends.codex.args to change codex features",
    ),
    (
        "CODEX_SKIP_GIT_REPO_CHECK",
        "codex always runs with --skip-git-repo-check",
    ),
    (
        "CODEX_RICH_LOGS",
        "logs are plain lines; use RUST_LOG to filter",
    ),
    ("CODEX_LOG_RENDER_MARKDOWN", "logs are plain lines"),
    ("CODEX_LOG_STREAM_INLINE", "logs are plain lines"),
    (
        "CODEX_LOG_STREAM_DELTAS",
        "use RUST_LOG=agent_cli_to_api=trace",
    ),
    ("CODEX_DEBUG_LOG", "use RUST_LOG=debug"),
    ("CODEX_TMP_ROOT", "set TMPDIR instead"),
    (
        "CODEX_BAN_SUSPICIOUS_PATHS",
        "IP bans are not implemented; bind 127.0.0.1 and use a token",
    ),
    (
        "CLAUDE_ISOLATED",
        "edit backends.claude.args to change Claude Code's tools",
    ),
    (
        "CLAUDE_SYSTEM_PROMPT",
        "send a system message, or add --system-prompt to backends.claude.args",
    ),
    ("CODEX_NO_DOTENV", ".env files are never read"),
    (
        "CODEX_GATEWAY_HOST",
        "use --host, CODEX_HOST or server.host",
    ),
    (
        "CODEX_GATEWAY_PORT",
        "use --port, CODEX_PORT or server.port",
    ),
    (
        "CODEX_SUSPICIOUS_PATH_PREFIXES",
        "IP bans are not implemented; bind 127.0.0.1 and use a token",
    ),
    (
        "CODEX_BAN_DURATION_SECONDS",
        "IP bans are not implemented; bind 127.0.0.1 and use a token",
    ),
    (
        "CODEX_TRUST_PROXY_HEADERS",
        "client addresses are not used for decisions",
    ),
    (
        "CODEX_USE_SYSTEM_CODEX_HOME",
        "set CODEX_HOME in backends.codex.env instead",
    ),
    (
        "CODEX_CODEX_VERSION",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "CODEX_CODEX_USER_AGENT",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "CLAUDE_OAUTH_BASE_URL",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "CLAUDE_OAUTH_CLIENT_ID",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "CLAUDE_API_BASE_URL",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "GEMINI_CLOUDCODE_BASE_URL",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "GEMINI_OAUTH_CLIENT_ID",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "GEMINI_OAUTH_CLIENT_SECRET",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "GEMINI_CLOUDCODE_PERSIST_CACHE",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "GEMINI_CLOUDCODE_NO_PERSIST_CACHE",
        "HTTP upstream backends are not available in this version",
    ),
    (
        "CODEX_LOG_REDACT_AUTHORIZATION",
        "the token is always redacted",
    ),
    (
        "CODEX_LOG_STREAM_INLINE_SUPPRESS_FINAL",
        "logs are plain lines",
    ),
    (
        "CODEX_AUDIT_FAILED_REQUESTS",
        "failed requests are in the per-request summary line; headers are not audited",
    ),
    (
        "CODEX_AUDIT_FAILED_REQUESTS_CHARS",
        "failed requests are in the per-request summary line; headers are not audited",
    ),
    (
        "CODEX_AUDIT_REQUEST_HEADERS",
        "failed requests are in the per-request summary line; headers are not audited",
    ),
    (
        "CODEX_AUDIT_REQUEST_HEADER_STATUSES",
        "failed requests are in the per-request summary line; headers are not audited",
    ),
    (
        "CODEX_AUDIT_REQUEST_HEADER_PREFIXES",
        "failed requests are in the per-request summary line; headers are not audited",
    ),
    (
        "CODEX_AUDIT_REQUEST_HEADER_NAMES",
        "failed requests are in the per-request summary line; headers are not audited",
    ),
    (
        "CODEX_AUDIT_REDACT_HEADERS",
        "failed requests are in the per-request summary line; headers are not audited",
    ),
    (
        "AGY_BIN",
        "the Antigravity CLI has no preset; define it as a backend in routes.toml",
    ),
    (
        "AGY_MODEL",
        "the Antigravity CLI has no preset; define it as a backend in routes.toml",
    ),
    (
        "AGY_WORKSPACE",
        "the Antigravity CLI has no preset; define it as a backend in routes.toml",
    ),
    (
        "AGY_SANDBOX",
        "the Antigravity CLI has no preset; define it as a backend in routes.toml",
    ),
    (
        "AGY_EXTRA_ARGS",
        "the Antigravity CLI has no preset; define it as a backend in routes.toml",
    ),
];

/// Values taken from the environment.
#[derive(Debug, Default)]
pub struct EnvSettings {
    /// The figment layer.
    pub layer: KeyedLayer,
    /// `CODEX_PRESET`.
    pub preset: Option<String>,
    /// Variables that were set but are not used, with the reason.
    pub not_used: Vec<String>,
}

/// Reads the environment. Backend variables apply only to backends that exist.
pub fn read(
    env: &BTreeMap<String, String>,
    backends: &BTreeSet<String>,
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
    for (var, backend, key, kind) in BACKEND {
        if let Some(raw) = value(var, *kind) {
            let full = format!("backends.{backend}.{key}");
            if backends.contains(*backend) {
                out.layer.set(&full, parse(var, &full, raw, *kind)?, var);
            } else {
                out.not_used
                    .push(format!("{var} is set but no `{backend}` backend is loaded"));
            }
        }
    }
    out.preset = env
        .get("CODEX_PRESET")
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    for (var, reason) in NOT_USED {
        if env.contains_key(*var) {
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
        Kind::List => Value::from(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn typos_in_booleans_are_errors_naming_the_variable() {
        let err = read(&env(&[("CODEX_LOG_EVENTS", "ture")]), &BTreeSet::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment CODEX_LOG_EVENTS server.log_events: \"ture\" is not a boolean: use 1/0, true/false, yes/no or on/off"
        );
    }

    #[test]
    fn empty_variables_are_unset() {
        let out = read(
            &env(&[("CODEX_GATEWAY_TOKEN", ""), ("CODEX_PORT", " ")]),
            &BTreeSet::new(),
        )
        .unwrap();
        assert!(out.layer.is_empty());
    }

    #[test]
    fn backend_variables_need_their_backend_and_unused_ones_are_reported() {
        let backends: BTreeSet<String> = ["claude".to_owned()].into();
        let out = read(
            &env(&[
                ("CLAUDE_BIN", "/opt/claude"),
                ("GEMINI_MODEL", "x"),
                ("CLAUDE_USE_OAUTH_API", "1"),
            ]),
            &backends,
        )
        .unwrap();
        assert_eq!(
            out.layer.source_of("backends.claude.command"),
            Some("CLAUDE_BIN")
        );
        assert!(
            out.not_used
                .iter()
                .any(|n| n.starts_with("GEMINI_MODEL is set but no `gemini` backend"))
        );
        assert!(
            out.not_used
                .iter()
                .any(|n| n.starts_with("CLAUDE_USE_OAUTH_API is set but not used"))
        );
    }

    /// Every variable the original documents (`seed.md` §3, the CLI's own
    /// credentials aside, which reach the CLIs untouched) is either read or
    /// reported as not used: none is ignored silently.
    #[test]
    fn every_variable_of_the_original_is_read_or_reported() {
        const ORIGINAL: &[&str] = &[
            "AGY_BIN",
            "AGY_EXTRA_ARGS",
            "AGY_MODEL",
            "AGY_SANDBOX",
            "AGY_WORKSPACE",
            "CLAUDE_API_BASE_URL",
            "CLAUDE_BIN",
            "CLAUDE_ISOLATED",
            "CLAUDE_MODEL",
            "CLAUDE_OAUTH_BASE_URL",
            "CLAUDE_OAUTH_CLIENT_ID",
            "CLAUDE_OAUTH_CREDS_PATH",
            "CLAUDE_SYSTEM_PROMPT",
            "CLAUDE_USE_OAUTH_API",
            "CODEX_ADD_DIRS",
            "CODEX_ADVERTISED_MODELS",
            "CODEX_ALLOW_CLIENT_MODEL_OVERRIDE",
            "CODEX_ALLOW_CLIENT_PROVIDER_OVERRIDE",
            "CODEX_APPROVAL_POLICY",
            "CODEX_AUDIT_FAILED_REQUESTS",
            "CODEX_AUDIT_FAILED_REQUESTS_CHARS",
            "CODEX_AUDIT_REDACT_HEADERS",
            "CODEX_AUDIT_REQUEST_HEADERS",
            "CODEX_AUDIT_REQUEST_HEADER_NAMES",
            "CODEX_AUDIT_REQUEST_HEADER_PREFIXES",
            "CODEX_AUDIT_REQUEST_HEADER_STATUSES",
            "CODEX_BAN_DURATION_SECONDS",
            "CODEX_BAN_SUSPICIOUS_PATHS",
            "CODEX_CLI_HOME",
            "CODEX_CODEX_ALLOW_TOOLS",
            "CODEX_CODEX_BASE_URL",
            "CODEX_CODEX_USER_AGENT",
            "CODEX_CODEX_VERSION",
            "CODEX_CORS_ORIGINS",
            "CODEX_DEBUG_LOG",
            "CODEX_DISABLE_SHELL_TOOL",
            "CODEX_DISABLE_VIEW_IMAGE_TOOL",
            "CODEX_ENABLE_IMAGE_GEN",
            "CODEX_ENABLE_IMAGE_INPUT",
            "CODEX_ENABLE_SEARCH",
            "CODEX_FORCE_REASONING_EFFORT",
            "CODEX_GATEWAY_HOST",
            "CODEX_GATEWAY_PORT",
            "CODEX_GATEWAY_TOKEN",
            "CODEX_HOST",
            "CODEX_LOG_EVENTS",
            "CODEX_LOG_LEVEL",
            "CODEX_LOG_MAX_CHARS",
            "CODEX_LOG_MODE",
            "CODEX_LOG_REDACT_AUTHORIZATION",
            "CODEX_LOG_RENDER_MARKDOWN",
            "CODEX_LOG_REQUEST_CURL",
            "CODEX_LOG_STREAM_DELTAS",
            "CODEX_LOG_STREAM_INLINE",
            "CODEX_LOG_STREAM_INLINE_SUPPRESS_FINAL",
            "CODEX_MAX_CONCURRENCY",
            "CODEX_MAX_IMAGE_BYTES",
            "CODEX_MAX_IMAGE_COUNT",
            "CODEX_MAX_PROMPT_CHARS",
            "CODEX_MODEL",
            "CODEX_MODEL_ALIASES",
            "CODEX_MODEL_FALLBACK",
            "CODEX_MODEL_REASONING_EFFORT",
            "CODEX_NO_DOTENV",
            "CODEX_PORT",
            "CODEX_PROVIDER",
            "CODEX_RICH_LOGS",
            "CODEX_SANDBOX",
            "CODEX_SKIP_GIT_REPO_CHECK",
            "CODEX_SSE_KEEPALIVE_SECONDS",
            "CODEX_STRICT_MODELS",
            "CODEX_STRIP_ANSWER_TAGS",
            "CODEX_SUBPROCESS_STREAM_LIMIT",
            "CODEX_SUSPICIOUS_PATH_PREFIXES",
            "CODEX_TIMEOUT_SECONDS",
            "CODEX_TMP_ROOT",
            "CODEX_TRUST_PROXY_HEADERS",
            "CODEX_USE_CODEX_RESPONSES_API",
            "CODEX_USE_SYSTEM_CODEX_HOME",
            "CODEX_WORKSPACE",
            "CURSOR_AGENT_API_KEY",
            "CURSOR_AGENT_BIN",
            "CURSOR_AGENT_DISABLE_INDEXING",
            "CURSOR_AGENT_EXTRA_ARGS",
            "CURSOR_AGENT_MODEL",
            "CURSOR_AGENT_STREAM_PARTIAL_OUTPUT",
            "CURSOR_AGENT_WORKSPACE",
            "GEMINI_BIN",
            "GEMINI_CLOUDCODE_BASE_URL",
            "GEMINI_CLOUDCODE_NO_PERSIST_CACHE",
            "GEMINI_CLOUDCODE_PERSIST_CACHE",
            "GEMINI_MODEL",
            "GEMINI_OAUTH_CLIENT_ID",
            "GEMINI_OAUTH_CLIENT_SECRET",
            "GEMINI_OAUTH_CREDS_PATH",
            "GEMINI_PROJECT_ID",
            "GEMINI_USE_CLOUDCODE_API",
        ];
        // Read outside these tables: by clap and by `load`.
        let elsewhere = ["CODEX_LOG_LEVEL", "CODEX_PRESET"];
        for var in ORIGINAL {
            let known = SERVER.iter().any(|(v, ..)| v == var)
                || BACKEND.iter().any(|(v, ..)| v == var)
                || NOT_USED.iter().any(|(v, _)| v == var)
                || elsewhere.contains(var);
            assert!(known, "{var} is neither read nor reported");
        }
        for (var, _) in NOT_USED {
            assert!(
                !SERVER.iter().any(|(v, ..)| v == var) && !BACKEND.iter().any(|(v, ..)| v == var),
                "{var} is both read and reported as not used"
            );
        }
    }
}
