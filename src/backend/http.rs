//! The template of an `http` backend: a model API reached over HTTP, in one
//! of the upstream dialects, with its credentials and deadlines. Pure data,
//! compiled by `config::build::http`; `engine::http` runs it.

use std::time::Duration;

/// How the upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamDialect {
    /// OpenAI Chat Completions (`POST {url}/chat/completions`), as OpenAI,
    /// vLLM, Ollama, llama.cpp and most gateways serve it.
    OpenAiChat,
    /// OpenAI Responses (`POST {url}/responses`), stateless (`store: false`).
    OpenAiResponses,
    /// Anthropic Messages (`POST {url}/v1/messages`).
    AnthropicMessages,
    /// Google Gemini (`POST {url}/v1beta/models/{model}:generateContent`).
    Gemini,
}

impl UpstreamDialect {
    /// Every dialect's name in `dialect = "…"`.
    pub const NAMES: &[&str] = &[
        "openai-chat",
        "openai-responses",
        "anthropic-messages",
        "gemini",
    ];

    /// Its name in the config.
    pub fn name(self) -> &'static str {
        match self {
            UpstreamDialect::OpenAiChat => "openai-chat",
            UpstreamDialect::OpenAiResponses => "openai-responses",
            UpstreamDialect::AnthropicMessages => "anthropic-messages",
            UpstreamDialect::Gemini => "gemini",
        }
    }

    /// Where requests go below base URL `url`, taken as the provider's SDK
    /// takes its base URL: OpenAI's includes `/v1`, Anthropic's and
    /// Google's do not (one that does is not given a second). Gemini's
    /// adds the model and the action per request: this is its prefix.
    pub fn endpoint(self, url: &str) -> String {
        match self {
            UpstreamDialect::Gemini if url.ends_with("/v1beta") || url.ends_with("/v1") => {
                format!("{url}/models/")
            }
            UpstreamDialect::Gemini => format!("{url}/v1beta/models/"),
            UpstreamDialect::OpenAiChat => format!("{url}/chat/completions"),
            UpstreamDialect::OpenAiResponses => format!("{url}/responses"),
            UpstreamDialect::AnthropicMessages if url.ends_with("/v1") => {
                format!("{url}/messages")
            }
            UpstreamDialect::AnthropicMessages => format!("{url}/v1/messages"),
        }
    }

    /// Headers the dialect needs on every request, unless the backend sets
    /// them itself.
    pub fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            UpstreamDialect::OpenAiChat
            | UpstreamDialect::OpenAiResponses
            | UpstreamDialect::Gemini => &[],
            UpstreamDialect::AnthropicMessages => &[("anthropic-version", "2023-06-01")],
        }
    }
}

/// A compiled `http` backend.
#[derive(Debug, Clone)]
pub struct HttpTemplate {
    /// The base URL, without a trailing `/` (e.g. `https://api.openai.com/v1`).
    pub url: String,
    /// `url` as it may be shown: credentials in it (`user:pass@`) masked.
    pub shown_url: String,
    /// Where requests go: the base URL and the dialect's path, parsed once.
    pub endpoint: reqwest::Url,
    /// Where `url` came from when an environment variable set it.
    pub url_from: Option<String>,
    /// How the upstream speaks.
    pub dialect: UpstreamDialect,
    /// How requests authenticate, if they do.
    pub auth: Option<Auth>,
    /// Headers sent with every request, after the auth header.
    pub headers: Vec<(String, String)>,
    /// Deadlines of the connection and of the answer's stream.
    pub timeouts: HttpTimeouts,
    /// When a failed request is sent again.
    pub retry: Retry,
    /// The ChatGPT backend's settings (a ChatGPT login): requests then
    /// take the shape the Codex CLI gives them.
    pub codex: Option<Codex>,
    /// Gemini through Code Assist (a Google login): requests and answers
    /// are wrapped, and name a project.
    pub code_assist: Option<CodeAssist>,
}

/// Retries of a request the upstream refused or never got, made only
/// before anything reached the client: on 429, a 5xx or a failed connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// How many times a request is sent again.
    pub retries: u32,
    /// The longest wait before a retry; an upstream asking for longer
    /// (`Retry-After`) gets its error passed on instead.
    pub max_wait: Duration,
}

impl Retry {
    /// The wait before retry number `attempt` (1, 2, …) when the upstream
    /// did not say: 0.5 s, 1 s, 2 s, … up to `max_wait`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let millis = 500u64.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        Duration::from_millis(millis).min(self.max_wait)
    }
}

/// An auth header made from a secret.
#[derive(Clone)]
pub struct Auth {
    /// The header's name (`authorization`, `x-api-key`, …).
    pub header: String,
    /// Put before the secret in the header (`Bearer`), if anything.
    pub scheme: Option<String>,
    /// Where the secret is read from, for messages (`$OPENAI_API_KEY`).
    pub source: String,
    /// The secret.
    pub secret: Secret,
    /// The subscription the secret belongs to (`oauth = …`), whose tokens
    /// need their own request shape, from the login file or not.
    pub subscription: Option<LoginProvider>,
}

/// Where an auth header's secret comes from.
#[derive(Clone)]
pub enum Secret {
    /// Read when the config loaded: the header's value (scheme and
    /// secret), or why it could not be read.
    Fixed(Result<String, String>),
    /// A subscription login whose token the gateway refreshes.
    Login(std::sync::Arc<Login>),
}

/// A subscription login: an OAuth token in a file the gateway keeps fresh
/// (refreshed before it expires, and once when the upstream refuses it).
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// Whose login it is.
    pub provider: LoginProvider,
    /// The credentials file.
    pub file: std::path::PathBuf,
    /// Where a refresh token is exchanged for a new access token.
    pub token_url: String,
    /// The OAuth client the tokens were issued to.
    pub client: OAuthClient,
}

/// The OAuth client a login's tokens were issued to.
#[derive(Clone, PartialEq, Eq)]
pub enum OAuthClient {
    /// Given: an id, and a secret when the client has one.
    Known {
        /// The client id.
        id: String,
        /// The client secret (Google's installed-app clients have one).
        secret: Option<String>,
    },
    /// Read, on the first refresh, from the installed Gemini CLI found here
    /// (its `OAUTH_CLIENT_ID` and `OAUTH_CLIENT_SECRET`), as the original
    /// does: the gateway ships no copy.
    GeminiCli(std::path::PathBuf),
    /// Not known, and why.
    Missing(String),
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let client = match &self.client {
            OAuthClient::Known { id, .. } => format!("{id} (secret redacted)"),
            OAuthClient::GeminiCli(path) => format!("from {}", path.display()),
            OAuthClient::Missing(why) => format!("missing: {why}"),
        };
        f.debug_struct("Login")
            .field("provider", &self.provider)
            .field("file", &self.file)
            .field("token_url", &self.token_url)
            .field("client", &client)
            .finish()
    }
}

/// Gemini through Code Assist (`v1internal`), as the Gemini CLI reaches it
/// with a Google login: requests name a Google Cloud project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeAssist {
    /// The project, when the config or the environment names it; else it is
    /// read from the login's file or discovered (`loadCodeAssist`).
    pub project: Option<String>,
}

/// The providers whose logins the gateway can refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginProvider {
    /// Claude (Claude Code's login, or one saved by the gateway).
    Anthropic,
    /// ChatGPT (the Codex CLI's `codex login`).
    ChatGpt,
    /// Google (the Gemini CLI's login, for Code Assist).
    Google,
}

impl LoginProvider {
    /// Every provider's name in `oauth = "…"`.
    pub const NAMES: &[&str] = &["anthropic", "chatgpt", "google"];

    /// The provider named `name` in `oauth = "…"`.
    pub fn named(name: &str) -> Option<LoginProvider> {
        match name {
            "anthropic" => Some(LoginProvider::Anthropic),
            "chatgpt" => Some(LoginProvider::ChatGpt),
            "google" => Some(LoginProvider::Google),
            _ => None,
        }
    }

    /// What the user runs to log in (again).
    pub fn how_to_log_in(self) -> &'static str {
        match self {
            LoginProvider::Anthropic => {
                "log in with `agent-cli-to-api login claude`, or with `claude` (then `/login`)"
            }
            LoginProvider::ChatGpt => "log in with `codex login` (Sign in with ChatGPT)",
            LoginProvider::Google => "log in with `gemini` (Login with Google)",
        }
    }

    /// The environment variables a login of this provider reads (where its
    /// file is, its token endpoint and client, the CLI it reads a client from).
    pub fn env_vars(self) -> &'static [&'static str] {
        match self {
            LoginProvider::Anthropic => &[
                "CLAUDE_OAUTH_CREDS_PATH",
                "CLAUDE_OAUTH_BASE_URL",
                "CLAUDE_OAUTH_CLIENT_ID",
            ],
            LoginProvider::ChatGpt => &["CODEX_CLI_HOME", "CODEX_HOME"],
            LoginProvider::Google => &[
                "GEMINI_BIN",
                "GEMINI_OAUTH_CREDS_PATH",
                "GEMINI_OAUTH_CLIENT_ID",
                "GEMINI_OAUTH_CLIENT_SECRET",
            ],
        }
    }

    /// The header that names the login's account, for providers that want it.
    pub fn account_header(self) -> Option<&'static str> {
        match self {
            LoginProvider::Anthropic | LoginProvider::Google => None,
            LoginProvider::ChatGpt => Some("chatgpt-account-id"),
        }
    }
}

/// The ChatGPT backend's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codex {
    /// Where the Codex CLI's instructions come from.
    pub instructions: CodexInstructions,
    /// Its web search runs when a request asks for it.
    pub web_search: bool,
    /// Its image generation is offered to the model on every request.
    pub image_generation: bool,
}

/// Where the Codex CLI's instructions come from: the ChatGPT backend
/// takes a request only with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodexInstructions {
    /// Captured from this installed Codex command: run once against a
    /// loopback listener of the gateway, kept per Codex version.
    Captured {
        /// The command (a name on `PATH`, or a path).
        command: String,
        /// Where it was found when the config loaded, if it was.
        found: Option<std::path::PathBuf>,
        /// Where captures are kept across restarts, if anywhere.
        cache: Option<std::path::PathBuf>,
    },
    /// The operator's file, read when the config loaded.
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Its text.
        text: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = match &self.secret {
            Secret::Fixed(Ok(_)) => "<redacted>".to_owned(),
            Secret::Fixed(Err(why)) => format!("missing: {why}"),
            Secret::Login(login) => format!("login in {}", login.file.display()),
        };
        f.debug_struct("Auth")
            .field("header", &self.header)
            .field("source", &self.source)
            .field("secret", &secret)
            .finish()
    }
}

/// Deadlines of one upstream request. The whole run's deadline is the
/// backend's `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// To open the connection (TCP and TLS).
    pub connect: Duration,
    /// From sending the request to the answer's status and headers.
    pub first_byte: Duration,
    /// Between two pieces of a streamed answer.
    pub idle: Duration,
}

impl HttpTemplate {
    /// Why requests cannot be sent, if they cannot (a secret that is
    /// missing, a login not made yet).
    pub fn missing(&self) -> Option<String> {
        match &self.auth.as_ref()?.secret {
            Secret::Fixed(value) => value.as_ref().err().cloned(),
            Secret::Login(login) => (!login.file.is_file()).then(|| {
                format!(
                    "no login at {}: {}",
                    login.file.display(),
                    login.provider.how_to_log_in()
                )
            }),
        }
    }

    /// The subscription the backend's credentials belong to, if any.
    pub fn subscription(&self) -> Option<LoginProvider> {
        self.auth.as_ref()?.subscription
    }

    /// The subscription login the backend uses, if it does.
    pub fn login(&self) -> Option<&Login> {
        match &self.auth.as_ref()?.secret {
            Secret::Login(login) => Some(login),
            Secret::Fixed(_) => None,
        }
    }
}
