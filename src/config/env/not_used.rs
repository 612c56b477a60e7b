//! The original's variables that this version recognises but does not
//! use, each with what to do instead: reported, never ignored silently.

const PRESET_NOT_LOADED: &str = "the preset that reads it (codex-fast, claude-oauth) is not loaded";
const NO_GEMINI_LOGIN: &str = "the gemini-cloudcode preset, which reads it, is not loaded";
const NO_AUDIT: &str =
    "failed requests are in the per-request summary line; headers are not audited";
const NO_AGY_PRESET: &str =
    "the Antigravity CLI has no preset; define it as a backend in routes.toml";
const NO_IP_BANS: &str = "IP bans are not implemented; bind 127.0.0.1 and use a token";
const PLAIN_LOGS: &str = "logs are plain lines";
const EDIT_CODEX_ARGS: &str = "edit backends.codex.args to change codex features";
const CODEX_HOME_IN_ENV: &str = "set CODEX_HOME in backends.codex.env instead";

/// Variables of the original that this version recognises but does not use.
pub(super) const NOT_USED: &[(&str, &str)] = &[
    ("CODEX_CODEX_BASE_URL", PRESET_NOT_LOADED),
    (
        "CODEX_CODEX_ALLOW_TOOLS",
        "client tools always reach the ChatGPT backend",
    ),
    (
        "CLAUDE_OAUTH_CREDS_PATH",
        "the claude-oauth preset, which reads it, is not loaded",
    ),
    ("GEMINI_OAUTH_CREDS_PATH", NO_GEMINI_LOGIN),
    ("GEMINI_PROJECT_ID", NO_GEMINI_LOGIN),
    (
        "CODEX_APPROVAL_POLICY",
        "`codex exec` always runs with approval policy `never`",
    ),
    (
        "CODEX_CLI_HOME",
        "it locates the ChatGPT login of codex-fast, which is not loaded; for the CLI, set CODEX_HOME in backends.codex.env",
    ),
    (
        "CODEX_STRICT_MODELS",
        "routing is always explicit: unknown models get 404",
    ),
    ("CODEX_MODEL_FALLBACK", "models are never silently replaced"),
    ("CODEX_DISABLE_SHELL_TOOL", EDIT_CODEX_ARGS),
    ("CODEX_DISABLE_VIEW_IMAGE_TOOL", EDIT_CODEX_ARGS),
    (
        "CODEX_SKIP_GIT_REPO_CHECK",
        "codex always runs with --skip-git-repo-check",
    ),
    (
        "CODEX_RICH_LOGS",
        "logs are plain lines; use RUST_LOG to filter",
    ),
    ("CODEX_LOG_RENDER_MARKDOWN", PLAIN_LOGS),
    ("CODEX_LOG_STREAM_INLINE", PLAIN_LOGS),
    (
        "CODEX_LOG_STREAM_DELTAS",
        "use RUST_LOG=agent_cli_to_api=trace",
    ),
    ("CODEX_DEBUG_LOG", "use RUST_LOG=debug"),
    ("CODEX_TMP_ROOT", "set TMPDIR instead"),
    ("CODEX_BAN_SUSPICIOUS_PATHS", NO_IP_BANS),
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
    ("CODEX_SUSPICIOUS_PATH_PREFIXES", NO_IP_BANS),
    ("CODEX_BAN_DURATION_SECONDS", NO_IP_BANS),
    (
        "CODEX_TRUST_PROXY_HEADERS",
        "client addresses are not used for decisions",
    ),
    ("CODEX_USE_SYSTEM_CODEX_HOME", CODEX_HOME_IN_ENV),
    (
        "CODEX_CODEX_VERSION",
        "the ChatGPT backend gets the version the installed Codex sends",
    ),
    (
        "CODEX_CODEX_USER_AGENT",
        "the ChatGPT backend gets the user agent the installed Codex sends",
    ),
    (
        "CLAUDE_OAUTH_BASE_URL",
        "the claude-oauth preset, which reads it, is not loaded",
    ),
    (
        "CLAUDE_OAUTH_CLIENT_ID",
        "the claude-oauth preset, which reads it, is not loaded",
    ),
    ("CLAUDE_API_BASE_URL", PRESET_NOT_LOADED),
    ("GEMINI_CLOUDCODE_BASE_URL", NO_GEMINI_LOGIN),
    ("GEMINI_OAUTH_CLIENT_ID", NO_GEMINI_LOGIN),
    ("GEMINI_OAUTH_CLIENT_SECRET", NO_GEMINI_LOGIN),
    (
        "GEMINI_CLOUDCODE_PERSIST_CACHE",
        "a refreshed Google token is always written back to the login's file (atomically, mode 0600)",
    ),
    (
        "GEMINI_CLOUDCODE_NO_PERSIST_CACHE",
        "a discovered Code Assist project is kept in memory, never written to the login's file",
    ),
    (
        "CODEX_LOG_REDACT_AUTHORIZATION",
        "the token is always redacted",
    ),
    ("CODEX_LOG_STREAM_INLINE_SUPPRESS_FINAL", PLAIN_LOGS),
    ("CODEX_AUDIT_FAILED_REQUESTS", NO_AUDIT),
    ("CODEX_AUDIT_FAILED_REQUESTS_CHARS", NO_AUDIT),
    ("CODEX_AUDIT_REQUEST_HEADERS", NO_AUDIT),
    ("CODEX_AUDIT_REQUEST_HEADER_STATUSES", NO_AUDIT),
    ("CODEX_AUDIT_REQUEST_HEADER_PREFIXES", NO_AUDIT),
    ("CODEX_AUDIT_REQUEST_HEADER_NAMES", NO_AUDIT),
    ("CODEX_AUDIT_REDACT_HEADERS", NO_AUDIT),
    ("AGY_BIN", NO_AGY_PRESET),
    ("AGY_MODEL", NO_AGY_PRESET),
    ("AGY_WORKSPACE", NO_AGY_PRESET),
    ("AGY_SANDBOX", NO_AGY_PRESET),
    ("AGY_EXTRA_ARGS", NO_AGY_PRESET),
];
