//! The `session` backend template: a CLI kept running between requests,
//! spoken to over its long-lived stdio protocol. Data only:
//! `config::build::session` compiles it, `engine::session` runs and pools
//! the processes.

use std::time::Duration;

use crate::backend::cli::CliTemplate;

/// The stdio protocol a warm CLI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Claude Code's `--input-format stream-json` with control requests.
    ClaudeStreamJson,
    /// `codex app-server`: JSON-RPC without the `jsonrpc` field.
    CodexAppServer,
    /// The Agent Client Protocol (`gemini --acp`, `cursor-agent acp`, …).
    Acp,
}

impl Protocol {
    /// Its name in `protocol = "…"`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::ClaudeStreamJson => "claude-stream-json",
            Protocol::CodexAppServer => "codex-app-server",
            Protocol::Acp => "acp",
        }
    }

    /// Every protocol, for error messages.
    pub const ALL: [Protocol; 3] = [
        Protocol::ClaudeStreamJson,
        Protocol::CodexAppServer,
        Protocol::Acp,
    ];

    /// The protocol named `name`.
    pub fn parse(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// How an agent's requests for permission (to run a command, to edit a
/// file) are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approvals {
    /// Refused (the default: a gateway has nobody to ask).
    Deny,
    /// Granted once each.
    Allow,
}

/// The pool of warm processes of one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Processes kept started and idle, ready for a request.
    pub min_warm: usize,
    /// A process idle this long is ended (down to `min_warm`).
    pub idle_ttl: Duration,
    /// A process is replaced after this many turns.
    pub max_turns: u32,
    /// A process is replaced once this old (after its current turn).
    pub max_age: Duration,
    /// A conversation unused this long is forgotten.
    pub session_ttl: Duration,
    /// Most conversations kept; the least recently used goes first.
    pub max_sessions: usize,
}

/// A compiled `session` template. Its `process.vars` may hold `sandbox`,
/// the sandbox of each Codex thread.
#[derive(Debug)]
pub struct SessionTemplate {
    /// How to start the process: command, argv (`{model}`, `{effort}` and
    /// `{system}` make processes differ), environment, working directory.
    pub process: CliTemplate,
    /// What it speaks.
    pub protocol: Protocol,
    /// ACP: the `authenticate` method to call after `initialize`, if any.
    pub auth_method: Option<String>,
    /// How permission requests are answered.
    pub approvals: Approvals,
    /// Pool and conversation limits.
    pub pool: PoolSettings,
}
