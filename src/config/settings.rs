//! Runtime settings of the gateway itself (the `[server]` table after
//! validation). Everything here is hot-reloadable except `host`, `port` and
//! the connection limits.

use std::fmt;
use std::time::Duration;

use subtle::ConstantTimeEq as _;

use crate::turn::Effort;

/// The gateway's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address (read once at startup).
    pub host: String,
    /// Listen port (read once at startup).
    pub port: u16,
    /// Required client token, if any.
    pub token: Option<Token>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Longest accepted flattened prompt, in characters.
    pub max_prompt_chars: usize,
    /// SSE keep-alive interval; `None` disables it.
    pub sse_keepalive: Option<Duration>,
    /// Image input limits.
    pub images: ImageLimits,
    /// Effort applied to every request, overriding the client's.
    pub force_effort: Option<Effort>,
    /// Logging.
    pub log: LogSettings,
    /// Allowed CORS origins (`*` for any); requests from other origins are refused.
    pub cors_origins: Vec<String>,
    /// Host names (besides loopback and `localhost`) requests may be addressed to.
    pub allowed_hosts: Vec<String>,
    /// Connection limits and timeouts (read once at startup).
    pub connections: ConnectionLimits,
    /// How long a client may take to send its request body.
    pub body_timeout: Duration,
    /// Largest answer collected for a non-streaming response.
    pub max_answer_bytes: usize,
    /// Remove `<think>`/`<answer>` tags from answer text (the original's default).
    pub strip_answer_tags: bool,
}

/// What keeps slow and idle connections from exhausting the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; past it a new one takes the place of the
    /// oldest one waiting for a request.
    pub max: usize,
    /// Time a connection gets to send complete request headers, from its
    /// start or the end of its previous answer (so also the keep-alive idle limit).
    pub header_timeout: Duration,
}

/// Image input limits.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    /// Whether images are accepted at all.
    pub enabled: bool,
    /// Most images per request.
    pub max_count: usize,
    /// Largest decoded image.
    pub max_bytes: usize,
}

/// What the request log shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    /// One line per request.
    Summary,
    /// Plus the user's question and the answer.
    Qa,
    /// Plus the whole prompt and answer.
    Full,
}

impl LogMode {
    /// Parses `summary`, `qa` or `full`.
    pub fn parse(value: &str) -> Option<LogMode> {
        match value.trim().to_ascii_lowercase().as_str() {
            "summary" | "" => Some(LogMode::Summary),
            "qa" => Some(LogMode::Qa),
            "full" => Some(LogMode::Full),
            _ => None,
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone, Copy)]
pub struct LogSettings {
    /// Detail of request logs.
    pub mode: LogMode,
    /// Log a replayable curl command per request (token redacted).
    pub curl: bool,
    /// Longest logged text.
    pub max_chars: usize,
    /// Log CLI stderr and warnings at info level.
    pub events: bool,
}

/// A secret compared in constant time and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    secret: String,
    var: String,
}

impl Token {
    /// Wraps a secret; `var` is the environment variable that holds it for
    /// logged commands (the one it came from, else `CODEX_GATEWAY_TOKEN`).
    pub fn new(var: &str, secret: String) -> Token {
        Token {
            secret,
            var: var.to_owned(),
        }
    }

    /// Constant-time comparison with what a client sent.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        bool::from(self.secret.as_bytes().ct_eq(candidate))
    }

    /// The secret, for redaction lists only.
    pub fn expose(&self) -> &str {
        &self.secret
    }

    /// The variable a replayed command should read the token from.
    pub fn variable(&self) -> &str {
        &self.var
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl Settings {
    /// Whether a browser `Origin` may call the API (`server.cors_origins`).
    pub fn origin_allowed(&self, origin: &[u8]) -> bool {
        self.cors_origins
            .iter()
            .any(|allowed| allowed == "*" || allowed.as_bytes().eq_ignore_ascii_case(origin))
    }
}

/// A host as requests and `server.allowed_hosts` are compared: lowercase,
/// without a port, brackets or a final dot (`Gateway.LAN.:8000` → `gateway.lan`,
/// `[::1]:8000` → `::1`).
pub fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    let without_port = if let Some(bracketed) = host.strip_prefix('[') {
        bracketed
            .split_once(']')
            .map_or(bracketed, |(address, _)| address)
    } else {
        host.rsplit_once(':')
            .map_or(host.as_str(), |(name, _)| name)
    };
    without_port.trim_end_matches('.').to_owned()
}

/// A `server.cors_origins` entry as browsers send origins: no final `/`.
pub fn origin_entry(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_owned()
}
