//! Tests of reading the original's environment variables.

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn typos_in_booleans_are_errors_naming_the_variable() {
    let err = read(
        &env(&[("CODEX_LOG_EVENTS", "ture")]),
        &BTreeMap::new(),
        &BTreeSet::new(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment CODEX_LOG_EVENTS server.log_events: \"ture\" is not a boolean: use 1/0, true/false, yes/no or on/off"
    );
}

#[test]
fn empty_variables_are_unset() {
    let out = read(
        &env(&[("CODEX_GATEWAY_TOKEN", ""), ("CODEX_PORT", " ")]),
        &BTreeMap::new(),
        &BTreeSet::new(),
    )
    .unwrap();
    assert!(out.layer.is_empty());
}

#[test]
fn backend_variables_need_their_backend_and_unused_ones_are_reported() {
    let backends: BTreeMap<String, String> = [("claude".to_owned(), "cli".to_owned())].into();
    let out = read(
        &env(&[
            ("CLAUDE_BIN", "/opt/claude"),
            ("GEMINI_MODEL", "x"),
            ("CLAUDE_OAUTH_CREDS_PATH", "/x"),
        ]),
        &backends,
        &BTreeSet::new(),
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
            .any(|n| n.starts_with("CLAUDE_OAUTH_CREDS_PATH is set but not used"))
    );
}

#[test]
fn backend_variables_go_to_the_key_of_their_backends_kind() {
    let http: BTreeMap<String, String> = [("codex".to_owned(), "http".to_owned())].into();
    let vars = env(&[
        ("CODEX_BIN", "/opt/codex"),
        ("CODEX_MODEL", "gpt-x"),
        ("CODEX_SANDBOX", "workspace-write"),
    ]);
    let out = read(&vars, &http, &BTreeSet::new()).unwrap();
    assert_eq!(
        out.layer.source_of("backends.codex.instructions_from"),
        Some("CODEX_BIN")
    );
    assert_eq!(
        out.layer.source_of("backends.codex.default_model"),
        Some("CODEX_MODEL")
    );
    assert!(out.layer.source_of("backends.codex.command").is_none());
    assert_eq!(
        out.not_used,
        ["CODEX_SANDBOX is set but not used: the `codex` backend here is of kind `http`"]
    );
    let cli: BTreeMap<String, String> = [("codex".to_owned(), "cli".to_owned())].into();
    let out = read(&vars, &cli, &BTreeSet::new()).unwrap();
    assert_eq!(
        out.layer.source_of("backends.codex.command"),
        Some("CODEX_BIN")
    );
    assert!(out.not_used.is_empty(), "{:?}", out.not_used);
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
    let elsewhere = [
        "CODEX_LOG_LEVEL",
        "CODEX_PRESET",
        "CODEX_USE_CODEX_RESPONSES_API",
        "CLAUDE_USE_OAUTH_API",
        "GEMINI_USE_CLOUDCODE_API",
    ];
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
