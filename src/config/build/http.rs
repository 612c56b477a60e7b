//! Compiles an `http` backend's table (`[backends.NAME]` with
//! `kind = "http"`) into a [`Backend`]: the base URL (or the environment
//! variable that overrides it, as the official SDKs read theirs), the
//! upstream dialect, the auth header and its secret (read from the
//! environment or a file, never from the config itself), extra headers and
//! deadlines. A secret that cannot be read leaves the backend loaded but
//! not runnable, saying why, like a CLI that is not installed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::capabilities::HostedTools;
use crate::backend::cli::{expand_home, looks_secret};
use crate::backend::http::{
    Auth, CodeAssist, Codex, CodexInstructions, HttpTemplate, HttpTimeouts, Login, LoginProvider,
    OAuthClient, Retry, Secret, UpstreamDialect,
};
use crate::backend::{Backend, Capabilities, Kind};
use crate::config::raw::{RawAuth, RawBackend};
use crate::location::{FieldError, KeyPath};

use super::cli::BackendDefaults;
use super::common::{self, KindParts};

/// Deadline to open a connection, unless the backend sets one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for the answer's headers, and between stream events, unless set.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// Retries of a refused or unsent request, unless the backend sets them.
const DEFAULT_RETRIES: u32 = 2;

/// Compiles an `http` backend. `env` is the gateway's environment.
pub fn compile(
    name: &str,
    raw: &RawBackend,
    defaults: &BackendDefaults,
    env: &BTreeMap<String, String>,
) -> Result<Backend, FieldError> {
    let dialect = dialect(raw)?;
    // A Claude login gives way to Claude Code's own third-party endpoint.
    let third_party = match &raw.auth {
        Some(auth) if auth.oauth.as_deref() == Some("anthropic") => claude_settings(auth, env)?,
        _ => None,
    };
    let ((url, url_from), (auth, secret)) = match third_party {
        Some((url, auth, token)) => (url, (Some(auth), Some(token))),
        None => {
            let url = base_url(raw, env)?;
            match raw.auth.as_ref().map(|a| auth(a, env)).transpose()? {
                Some((auth, secret)) => (url, (Some(auth), secret)),
                None => (url, (None, None)),
            }
        }
    };
    let subscription = auth.as_ref().and_then(|a| a.subscription);
    let codex = codex(raw, dialect, subscription, env)?;
    let code_assist = code_assist(raw, dialect, subscription, env)?;
    let mut headers = headers(raw, dialect)?;
    if subscription == Some(LoginProvider::Anthropic)
        && !headers.iter().any(|(name, _)| name == "anthropic-beta")
    {
        // Anthropic takes a subscription's token only with this beta.
        headers.push(("anthropic-beta".into(), "oauth-2025-04-20".into()));
    }
    let mut secrets: Vec<String> = secret.into_iter().collect();
    secrets.extend(
        headers
            .iter()
            .filter(|(name, _)| looks_secret(name))
            .map(|(_, value)| value.clone()),
    );
    let seconds = |value: Option<u64>, default: Duration| {
        value.map_or(default, |s| Duration::from_secs(s.max(1)))
    };
    let endpoint = match &code_assist {
        Some(_) if url.ends_with("/v1internal") => url.clone(),
        Some(_) => format!("{url}/v1internal"),
        None => dialect.endpoint(&url),
    };
    let endpoint = reqwest::Url::parse(&endpoint).map_err(|e| {
        FieldError::new(
            KeyPath::keys(["url"]),
            format!("{endpoint:?} is not a URL: {e}"),
        )
    })?;
    let template = HttpTemplate {
        endpoint,
        url,
        url_from,
        dialect,
        auth,
        headers,
        timeouts: HttpTimeouts {
            connect: seconds(raw.connect_timeout_seconds, CONNECT_TIMEOUT),
            first_byte: seconds(raw.first_byte_timeout_seconds, ANSWER_TIMEOUT),
            idle: seconds(raw.idle_timeout_seconds, ANSWER_TIMEOUT),
        },
        retry: Retry {
            retries: raw
                .retries
                .map_or(DEFAULT_RETRIES, |n| u32::try_from(n.min(10)).unwrap_or(10)),
            max_wait: Duration::from_secs(raw.max_retry_wait_seconds.unwrap_or(10)),
        },
        codex,
        code_assist,
    };
    common::backend(
        name,
        raw,
        defaults,
        KindParts {
            secrets,
            capabilities: capabilities(dialect, template.codex.as_ref()),
            kind: Kind::Http(Arc::new(template)),
        },
    )
}

/// What an upstream of `dialect` honours: the vocabulary's tools, images,
/// reasoning and parameters, but no sessions (an API keeps no
/// conversation) and one answer per request. Only an OpenAI-compatible
/// upstream takes fields outside the vocabulary.
fn capabilities(dialect: UpstreamDialect, codex: Option<&Codex>) -> Capabilities {
    let api = Capabilities {
        system: true,
        sessions: false,
        effort: true,
        images: true,
        files: true,
        tools: true,
        sampling: true,
        unsupported_params: &[],
        signed_reasoning: true,
        redacted_reasoning: true,
        choices: false,
        pass_through: false,
        tool_fields: &[],
        session_affinity: false,
        hosted_tools: HostedTools::None,
        embeddings: false,
    };
    match dialect {
        UpstreamDialect::OpenAiChat => Capabilities {
            pass_through: true,
            hosted_tools: HostedTools::Any,
            embeddings: true,
            ..api
        },
        // Signed reasoning has no Responses form; Gemini keeps only signatures.
        // The ChatGPT backend takes no sampling or length settings, and a
        // session id as a cache key.
        UpstreamDialect::OpenAiResponses if let Some(codex) = codex => Capabilities {
            unsupported_params: &[
                "seed",
                "stop",
                "max_tokens",
                "max_completion_tokens",
                "max_output_tokens",
                "temperature",
                "top_p",
                "user",
            ],
            signed_reasoning: false,
            tool_fields: &["strict"],
            session_affinity: true,
            hosted_tools: HostedTools::Only {
                web_search: codex.web_search,
                image_generation: codex.image_generation,
            },
            ..api
        },
        UpstreamDialect::OpenAiResponses => Capabilities {
            unsupported_params: &["seed", "stop"],
            hosted_tools: HostedTools::Any,
            embeddings: true,
            signed_reasoning: false,
            tool_fields: &["strict"],
            ..api
        },
        UpstreamDialect::AnthropicMessages => Capabilities {
            unsupported_params: &["seed", "response_format"],
            ..api
        },
        UpstreamDialect::Gemini => Capabilities {
            unsupported_params: &["user"],
            redacted_reasoning: false,
            ..api
        },
    }
}

fn dialect(raw: &RawBackend) -> Result<UpstreamDialect, FieldError> {
    let at = KeyPath::keys(["dialect"]);
    match raw.dialect.as_deref() {
        None | Some("openai-chat") => Ok(UpstreamDialect::OpenAiChat),
        Some("anthropic-messages") => Ok(UpstreamDialect::AnthropicMessages),
        Some("openai-responses") => Ok(UpstreamDialect::OpenAiResponses),
        Some("gemini") => Ok(UpstreamDialect::Gemini),
        Some(other) => Err(FieldError::new(
            at,
            format!(
                "unknown dialect `{other}`: use one of {}",
                UpstreamDialect::NAMES.join(", ")
            ),
        )),
    }
}

/// The base URL: `url_env`'s variable when it is set, else `url`.
fn base_url(
    raw: &RawBackend,
    env: &BTreeMap<String, String>,
) -> Result<(String, Option<String>), FieldError> {
    let from_env = raw.url_env.as_ref().and_then(|var| {
        env.get(var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v.trim().to_owned(), Some(format!("${var}"))))
    });
    let (url, from) = match (from_env, &raw.url) {
        (Some(found), _) => found,
        (None, Some(url)) => (url.trim().to_owned(), None),
        (None, None) => {
            return Err(FieldError::new(
                KeyPath::keys(["url"]),
                "an http backend needs `url`, its base URL (e.g. \"https://api.openai.com/v1\")",
            ));
        }
    };
    let at = KeyPath::keys([if from.is_some() { "url_env" } else { "url" }]);
    let origin = from.as_deref().unwrap_or("url");
    let parsed = reqwest::Url::parse(&url).map_err(|e| {
        FieldError::new(at.clone(), format!("{origin} = {url:?} is not a URL: {e}"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(FieldError::new(
            at,
            format!("{origin} = {url:?} must be an http:// or https:// URL with a host"),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(FieldError::new(
            at,
            format!("{origin} = {url:?} is a base URL: leave out `?…` and `#…`"),
        ));
    }
    Ok((url.trim_end_matches('/').to_owned(), from))
}

/// The auth header, where its secret comes from (the environment variable
/// `env` when set, else the file `file`: its JSON value at `pointer`, or
/// its whole text), and the secret when it could be read.
fn auth(
    raw: &RawAuth,
    env: &BTreeMap<String, String>,
) -> Result<(Auth, Option<String>), FieldError> {
    let at = KeyPath::keys(["auth"]);
    let provider = match raw.oauth.as_deref() {
        None => None,
        Some(name) => Some(LoginProvider::named(name).ok_or_else(|| {
            FieldError::new(
                at.key("oauth"),
                format!(
                    "unknown login `{name}`: use one of {}",
                    LoginProvider::NAMES.join(", ")
                ),
            )
        })?),
    };
    if provider.is_none() && (raw.token_url.is_some() || raw.client_id.is_some()) {
        return Err(FieldError::new(
            at.key(if raw.token_url.is_some() {
                "token_url"
            } else {
                "client_id"
            }),
            "`token_url` and `client_id` belong to a refreshed login: set `oauth` too",
        ));
    }
    if raw.settings.is_some() && provider != Some(LoginProvider::Anthropic) {
        return Err(FieldError::new(
            at.key("settings"),
            "`settings` is Claude Code's settings.json, for a Claude login: set `oauth = \"anthropic\"` too",
        ));
    }
    if provider.is_some() && raw.pointer.is_some() {
        return Err(FieldError::new(
            at.key("pointer"),
            "a login's file is read in its CLI's own shape: leave out `pointer`",
        ));
    }
    let header = raw
        .header
        .clone()
        .unwrap_or_else(|| "authorization".to_owned())
        .to_ascii_lowercase();
    if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
        return Err(FieldError::new(
            at.key("header"),
            format!("{header:?} is not a header name"),
        ));
    }
    let scheme = match &raw.scheme {
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s.clone()),
        None => (header == "authorization").then(|| "Bearer".to_owned()),
    };
    if let Some(provider) = provider {
        let from_env = raw
            .env
            .as_ref()
            .and_then(|var| env.get(var).map(|v| (var, v.trim())))
            .filter(|(_, v)| !v.is_empty());
        if from_env.is_none() {
            let login = login(raw, provider, env)?;
            let source = login.file.display().to_string();
            let secret = if login.file.is_file() {
                Secret::Login(std::sync::Arc::new(login))
            } else {
                Secret::Fixed(Err(format!(
                    "no login at {source}: {}",
                    provider.how_to_log_in()
                )))
            };
            return Ok((
                Auth {
                    header,
                    scheme,
                    source,
                    secret,
                    subscription: Some(provider),
                },
                None,
            ));
        }
    }
    let (source, secret) = match (&raw.env, &raw.file) {
        (None, None) => {
            return Err(FieldError::new(
                at,
                "auth needs `env` (a variable holding the key) or `file` (a file holding it)",
            ));
        }
        (Some(var), file) => match env.get(var).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            Some(value) => (format!("${var}"), Ok(value.to_owned())),
            None => match file {
                Some(file) => read_secret(file, raw.pointer.as_deref(), env),
                None => (format!("${var}"), Err(format!("${var} is not set"))),
            },
        },
        (None, Some(file)) => read_secret(file, raw.pointer.as_deref(), env),
    };
    // Redacted even when it cannot be sent.
    let readable = secret.as_ref().ok().cloned();
    let value = secret.and_then(|secret| {
        let value = match &scheme {
            Some(scheme) => format!("{scheme} {secret}"),
            None => secret,
        };
        reqwest::header::HeaderValue::from_str(&value)
            .map(|_| value)
            .map_err(|_| format!("the key from {source} cannot be sent in a header (a line break or a control character?)"))
    });
    Ok((
        Auth {
            header,
            scheme,
            source,
            secret: Secret::Fixed(value),
            subscription: provider,
        },
        readable,
    ))
}

/// Where a refreshed login lives and is refreshed: the credentials file
/// (`file`, by default the provider's CLI's), the token endpoint and the
/// OAuth client.
fn login(
    raw: &RawAuth,
    provider: LoginProvider,
    env: &BTreeMap<String, String>,
) -> Result<Login, FieldError> {
    let set = |var: &str| env.get(var).map(|v| v.trim()).filter(|v| !v.is_empty());
    let (file, token_url, client_id) = match provider {
        // The original's variables name the file, the token host and the client.
        LoginProvider::Anthropic => (
            set("CLAUDE_OAUTH_CREDS_PATH")
                .unwrap_or("~/.claude/.credentials.json")
                .to_owned(),
            set("CLAUDE_OAUTH_BASE_URL").map_or_else(
                || "https://console.anthropic.com/v1/oauth/token".to_owned(),
                |host| format!("{}/v1/oauth/token", host.trim_end_matches('/')),
            ),
            // Claude Code's public OAuth client id.
            Some(set("CLAUDE_OAUTH_CLIENT_ID").unwrap_or("9d1c250a-e61b-44d9-88ed-5944d1962f5e")),
        ),
        LoginProvider::ChatGpt => (
            codex_auth_file(env),
            "https://auth.openai.com/oauth/token".to_owned(),
            // The Codex CLI's public OAuth client id.
            Some("app_EMoamEEZ73f0CkXaXp7hrann"),
        ),
        LoginProvider::Google => (
            set("GEMINI_OAUTH_CREDS_PATH")
                .unwrap_or("~/.gemini/oauth_creds.json")
                .to_owned(),
            "https://oauth2.googleapis.com/token".to_owned(),
            None,
        ),
    };
    let token_url = raw.token_url.clone().unwrap_or(token_url);
    if reqwest::Url::parse(&token_url).is_err() {
        return Err(FieldError::new(
            KeyPath::keys(["auth", "token_url"]),
            format!("{token_url:?} is not a URL"),
        ));
    }
    let client = match (raw.client_id.as_deref().or(client_id), provider) {
        (Some(id), LoginProvider::Anthropic | LoginProvider::ChatGpt) => OAuthClient::Known {
            id: id.to_owned(),
            secret: None,
        },
        (_, _) => google_client(raw, env)?,
    };
    Ok(Login {
        provider,
        file: expand_home(raw.file.as_deref().unwrap_or(&file), env).into(),
        token_url,
        client,
    })
}

/// A base URL with where it came from, an auth header, and its secret.
type ThirdParty = ((String, Option<String>), Auth, String);

/// The endpoint and token of Claude Code's `settings.json` (`settings`,
/// by default `~/.claude/settings.json`; `""` reads none) when its `env`
/// sets both `ANTHROPIC_BASE_URL` and `ANTHROPIC_AUTH_TOKEN`, as Claude
/// Code does for a third-party Anthropic-compatible endpoint: then they
/// are used, as a bearer token without a subscription's request shape.
fn claude_settings(
    raw: &RawAuth,
    env: &BTreeMap<String, String>,
) -> Result<Option<ThirdParty>, FieldError> {
    let file = raw.settings.as_deref().unwrap_or("~/.claude/settings.json");
    if file.is_empty() {
        return Ok(None);
    }
    let path = expand_home(file, env);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let value = |key: &str| {
        json.pointer(&format!("/env/{key}"))
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let (Some(url), Some(token)) = (value("ANTHROPIC_BASE_URL"), value("ANTHROPIC_AUTH_TOKEN"))
    else {
        return Ok(None);
    };
    let at = KeyPath::keys(["auth", "settings"]);
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if parsed.is_none() {
        return Err(FieldError::new(
            at,
            format!("{path}: env.ANTHROPIC_BASE_URL = {url:?} is not an http(s) URL"),
        ));
    }
    let value = format!("Bearer {token}");
    if reqwest::header::HeaderValue::from_str(&value).is_err() {
        return Err(FieldError::new(
            at,
            format!("{path}: env.ANTHROPIC_AUTH_TOKEN cannot be sent in a header"),
        ));
    }
    let auth = Auth {
        header: "authorization".into(),
        scheme: Some("Bearer".into()),
        source: format!("{path} (env.ANTHROPIC_AUTH_TOKEN)"),
        secret: Secret::Fixed(Ok(value)),
        subscription: None,
    };
    let url = url.trim_end_matches('/').to_owned();
    let from = Some(format!("{path} (env.ANTHROPIC_BASE_URL)"));
    Ok(Some(((url, from), auth, token.to_owned())))
}

/// The OAuth client of a Google login, as the original finds it: `client_id`
/// or `GEMINI_OAUTH_CLIENT_ID` with `GEMINI_OAUTH_CLIENT_SECRET` (both or
/// neither), else the installed Gemini CLI's (`GEMINI_BIN`, else `gemini`).
fn google_client(raw: &RawAuth, env: &BTreeMap<String, String>) -> Result<OAuthClient, FieldError> {
    let set = |var: &str| env.get(var).map(|v| v.trim()).filter(|v| !v.is_empty());
    let id = raw.client_id.as_deref().or(set("GEMINI_OAUTH_CLIENT_ID"));
    match (id, set("GEMINI_OAUTH_CLIENT_SECRET")) {
        (Some(id), Some(secret)) => Ok(OAuthClient::Known {
            id: id.to_owned(),
            secret: Some(secret.to_owned()),
        }),
        (Some(_), None) | (None, Some(_)) => Err(FieldError::new(
            KeyPath::keys(["auth", "client_id"]),
            "a Google login's client needs both an id (`client_id` or GEMINI_OAUTH_CLIENT_ID) and \
             GEMINI_OAUTH_CLIENT_SECRET, or neither (then the installed Gemini CLI's is used)",
        )),
        (None, None) => {
            let command = expand_home(set("GEMINI_BIN").unwrap_or("gemini"), env);
            Ok(
                match super::cli::find_program(&command, env.get("PATH").map(String::as_str)) {
                    Some(path) => OAuthClient::GeminiCli(path),
                    None => OAuthClient::Missing(format!(
                        "`{command}` is not installed, and the Google login's OAuth client is read from it; \
                         install the Gemini CLI or set GEMINI_OAUTH_CLIENT_ID and GEMINI_OAUTH_CLIENT_SECRET"
                    )),
                },
            )
        }
    }
}

/// Code Assist, for a Google login's backend: the project from `project`,
/// else the variable `project_env` names. Other backends take neither key.
fn code_assist(
    raw: &RawBackend,
    dialect: UpstreamDialect,
    subscription: Option<LoginProvider>,
    env: &BTreeMap<String, String>,
) -> Result<Option<CodeAssist>, FieldError> {
    if subscription != Some(LoginProvider::Google) {
        if raw.project.is_some() || raw.project_env.is_some() {
            let key = if raw.project.is_some() {
                "project"
            } else {
                "project_env"
            };
            return Err(FieldError::new(
                KeyPath::keys([key]),
                "a project is for Gemini through Code Assist: set `auth = { oauth = \"google\" }` too",
            ));
        }
        return Ok(None);
    }
    if dialect != UpstreamDialect::Gemini {
        return Err(FieldError::new(
            KeyPath::keys(["dialect"]),
            "a Google login reaches Gemini through Code Assist: use `dialect = \"gemini\"`",
        ));
    }
    let from_env = raw
        .project_env
        .as_ref()
        .and_then(|var| env.get(var))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty());
    Ok(Some(CodeAssist {
        project: raw.project.as_deref().or(from_env).map(str::to_owned),
    }))
}

/// Where the Codex CLI keeps its login: under `CODEX_CLI_HOME` (the
/// original's home for Codex), else `CODEX_HOME` (the CLI's own), else
/// `~/.codex`.
pub(crate) fn codex_auth_file(env: &BTreeMap<String, String>) -> String {
    let set = |var: &str| env.get(var).map(|v| v.trim()).filter(|v| !v.is_empty());
    match (set("CODEX_CLI_HOME"), set("CODEX_HOME")) {
        (Some(home), _) => format!("{}/.codex/auth.json", home.trim_end_matches('/')),
        (None, Some(codex_home)) => format!("{}/auth.json", codex_home.trim_end_matches('/')),
        (None, None) => "~/.codex/auth.json".to_owned(),
    }
}

/// The ChatGPT backend's settings, for a ChatGPT login's backend: where
/// the Codex CLI's instructions come from (`instructions_file`, else
/// captured from `instructions_from`, by default `codex`) and which of its
/// tools the operator allows. Other backends take none of these keys.
fn codex(
    raw: &RawBackend,
    dialect: UpstreamDialect,
    subscription: Option<LoginProvider>,
    env: &BTreeMap<String, String>,
) -> Result<Option<Codex>, FieldError> {
    let chatgpt = subscription == Some(LoginProvider::ChatGpt);
    if !chatgpt {
        let key = match (
            &raw.instructions_from,
            &raw.instructions_file,
            raw.web_search,
            raw.image_generation,
        ) {
            (Some(_), ..) => "instructions_from",
            (None, Some(_), ..) => "instructions_file",
            (None, None, Some(_), _) => "web_search",
            (None, None, None, Some(_)) => "image_generation",
            (None, None, None, None) => return Ok(None),
        };
        return Err(FieldError::new(
            KeyPath::keys([key]),
            "this is a setting of the ChatGPT backend: set `auth = { oauth = \"chatgpt\" }` too",
        ));
    }
    if dialect != UpstreamDialect::OpenAiResponses {
        return Err(FieldError::new(
            KeyPath::keys(["dialect"]),
            "a ChatGPT login reaches the ChatGPT backend's Responses API: use `dialect = \"openai-responses\"`",
        ));
    }
    let instructions = match (&raw.instructions_file, &raw.instructions_from) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                KeyPath::keys(["instructions_file"]),
                "set `instructions_file` or `instructions_from`, not both",
            ));
        }
        (Some(file), None) => {
            let path = expand_home(file, env);
            let text = std::fs::read_to_string(&path)
                .ok()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    FieldError::new(
                        KeyPath::keys(["instructions_file"]),
                        format!("{path} cannot be read, or is empty"),
                    )
                })?;
            CodexInstructions::File {
                path: path.into(),
                text,
            }
        }
        (None, command) => {
            let set = |var: &str| env.get(var).map(|v| v.trim()).filter(|v| !v.is_empty());
            let cache = match (set("XDG_CACHE_HOME"), set("HOME")) {
                (Some(dir), _) => Some(std::path::Path::new(dir).to_owned()),
                (None, Some(home)) => Some(std::path::Path::new(home).join(".cache")),
                (None, None) => None,
            };
            let command = expand_home(command.as_deref().unwrap_or("codex"), env);
            CodexInstructions::Captured {
                found: super::cli::find_program(&command, env.get("PATH").map(String::as_str)),
                command,
                cache: cache.map(|dir| dir.join("agent-cli-to-api")),
            }
        }
    };
    Ok(Some(Codex {
        instructions,
        web_search: raw.web_search.unwrap_or(false),
        image_generation: raw.image_generation.unwrap_or(false),
    }))
}

/// A secret read from `file`: the string at JSON `pointer`, or the whole text.
fn read_secret(
    file: &str,
    pointer: Option<&str>,
    env: &BTreeMap<String, String>,
) -> (String, Result<String, String>) {
    let path = expand_home(file, env);
    let source = match pointer {
        Some(pointer) => format!("{path} ({pointer})"),
        None => path.clone(),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return (source, Err(format!("cannot read {path}: {e}"))),
    };
    let secret = match pointer {
        None => Some(text.trim().to_owned()),
        Some(pointer) => serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|json| json.pointer(pointer)?.as_str().map(str::to_owned)),
    };
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{source} holds no key"));
    (source, secret)
}

/// The dialect's headers, then the backend's own (which replace them),
/// checked to be valid.
fn headers(
    raw: &RawBackend,
    dialect: UpstreamDialect,
) -> Result<Vec<(String, String)>, FieldError> {
    let own = |name: &str| {
        raw.headers
            .iter()
            .flatten()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let mut out: Vec<(String, String)> = dialect
        .headers()
        .iter()
        .filter(|(name, _)| !own(name))
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    for (name, value) in raw.headers.iter().flatten() {
        let at = KeyPath::keys(["headers", name.as_str()]);
        let lower = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(lower.as_bytes()).is_err() {
            return Err(FieldError::new(
                at,
                format!("{name:?} is not a header name"),
            ));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(FieldError::new(
                at,
                "a header value must be visible ASCII text",
            ));
        }
        out.push((lower, value.clone()));
    }
    Ok(out)
}
