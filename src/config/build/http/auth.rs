//! The auth of an `http` backend: a key read from the environment or a
//! file, or a subscription login (`oauth = …`) with its file, token
//! endpoint and OAuth client, and Claude Code's third-party endpoint in its
//! `settings.json`.

use std::collections::BTreeMap;

use crate::backend::cli::expand_home;
use crate::backend::http::{Auth, Login, LoginProvider, OAuthClient, Secret};
use crate::config::raw::RawAuth;
use crate::location::{FieldError, KeyPath};

use super::var;

/// The auth header, where its secret comes from (the environment variable
/// `env` when set, else the file `file`: its JSON value at `pointer`, or
/// its whole text), and the secret when it could be read.
pub(super) fn auth(
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
        let from_env = raw.env.as_ref().and_then(|name| var(env, name));
        if from_env.is_none() {
            let login = login(raw, provider, env)?;
            let source = login.file.display().to_string();
            // Looked for at each request: a login made later is used at once.
            let secret = Secret::Login(std::sync::Arc::new(login));
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
        (Some(name), file) => match var(env, name) {
            Some(value) => (format!("${name}"), Ok(value.to_owned())),
            None => match file {
                Some(file) => read_secret(file, raw.pointer.as_deref(), env),
                None => (format!("${name}"), Err(format!("${name} is not set"))),
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
    let (file, token_url, client_id) = match provider {
        // The original's variables name the file, the token host and the client.
        LoginProvider::Anthropic => (
            var(env, "CLAUDE_OAUTH_CREDS_PATH")
                .unwrap_or("~/.claude/.credentials.json")
                .to_owned(),
            var(env, "CLAUDE_OAUTH_BASE_URL").map_or_else(
                || "https://console.anthropic.com/v1/oauth/token".to_owned(),
                |host| format!("{}/v1/oauth/token", host.trim_end_matches('/')),
            ),
            // Claude Code's public OAuth client id.
            Some(
                var(env, "CLAUDE_OAUTH_CLIENT_ID")
                    .unwrap_or("9d1c250a-e61b-44d9-88ed-5944d1962f5e"),
            ),
        ),
        LoginProvider::ChatGpt => (
            codex_auth_file(env),
            "https://auth.openai.com/oauth/token".to_owned(),
            // The Codex CLI's public OAuth client id.
            Some("app_EMoamEEZ73f0CkXaXp7hrann"),
        ),
        LoginProvider::Google => (
            var(env, "GEMINI_OAUTH_CREDS_PATH")
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
pub(super) type ThirdParty = ((String, Option<String>), Auth, String);

/// The endpoint and token of Claude Code's `settings.json` (`settings`,
/// by default `~/.claude/settings.json`; `""` reads none) when its `env`
/// sets both `ANTHROPIC_BASE_URL` and `ANTHROPIC_AUTH_TOKEN`, as Claude
/// Code does for a third-party Anthropic-compatible endpoint: then they
/// are used, as a bearer token without a subscription's request shape.
pub(super) fn claude_settings(
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
    let id = raw
        .client_id
        .as_deref()
        .or(var(env, "GEMINI_OAUTH_CLIENT_ID"));
    match (id, var(env, "GEMINI_OAUTH_CLIENT_SECRET")) {
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
            let command = expand_home(var(env, "GEMINI_BIN").unwrap_or("gemini"), env);
            Ok(
                match super::super::cli::find_program(&command, env.get("PATH").map(String::as_str))
                {
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

/// Where the Codex CLI keeps its login: under `CODEX_CLI_HOME` (the
/// original's home for Codex), else `CODEX_HOME` (the CLI's own), else
/// `~/.codex`.
pub(crate) fn codex_auth_file(env: &BTreeMap<String, String>) -> String {
    match (var(env, "CODEX_CLI_HOME"), var(env, "CODEX_HOME")) {
        (Some(home), _) => format!("{}/.codex/auth.json", home.trim_end_matches('/')),
        (None, Some(codex_home)) => format!("{}/auth.json", codex_home.trim_end_matches('/')),
        (None, None) => "~/.codex/auth.json".to_owned(),
    }
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
