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
use crate::backend::cli::looks_secret;
use crate::backend::http::{
    Codex, HttpTemplate, HttpTimeouts, LoginProvider, Retry, UpstreamDialect,
};
use crate::backend::{Backend, Capabilities, Kind};
use crate::config::raw::RawBackend;
use crate::location::{FieldError, KeyPath};
use crate::turn::Wire;

use super::cli::BackendDefaults;
use super::common::{self, KindParts};

mod auth;
mod shapes;

pub(crate) use auth::codex_auth_file;
use auth::{auth, claude_settings};
use shapes::{code_assist, codex};

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
    secrets.extend(url_credentials(&url));
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
            format!("the URL with the dialect's path is not a URL: {e}"),
        )
    })?;
    let template = HttpTemplate {
        endpoint,
        shown_url: masked(&url),
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
            capabilities: capabilities(
                dialect,
                template.codex.as_ref(),
                template.code_assist.is_some(),
            ),
            kind: Kind::Http(Arc::new(template)),
        },
    )
}

/// What an upstream of `dialect` honours: the vocabulary's tools, images,
/// reasoning and parameters, but no sessions (an API keeps no
/// conversation) and one answer per request. Only an OpenAI-compatible
/// upstream takes fields outside the vocabulary.
/// What an upstream of `dialect` honours; `codex` for the ChatGPT backend,
/// `code_assist` for Gemini through a Google login (whose requests are
/// wrapped, so never passed through).
fn capabilities(
    dialect: UpstreamDialect,
    codex: Option<&Codex>,
    code_assist: bool,
) -> Capabilities {
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
        native: None,
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
            native: Some(Wire::OpenAiResponses),
            ..api
        },
        UpstreamDialect::AnthropicMessages => Capabilities {
            unsupported_params: &["seed", "response_format"],
            native: Some(Wire::AnthropicMessages),
            ..api
        },
        UpstreamDialect::Gemini => Capabilities {
            unsupported_params: &["user"],
            redacted_reasoning: false,
            native: (!code_assist).then_some(Wire::Gemini),
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

/// The value of variable `name`, trimmed, when it is set and not empty.
fn var<'e>(env: &'e BTreeMap<String, String>, name: &str) -> Option<&'e str> {
    env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// The base URL: `url_env`'s variable when it is set, else `url`.
fn base_url(
    raw: &RawBackend,
    env: &BTreeMap<String, String>,
) -> Result<(String, Option<String>), FieldError> {
    let from_env = raw
        .url_env
        .as_ref()
        .and_then(|name| var(env, name).map(|v| (v.to_owned(), Some(format!("${name}")))));
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
    // Errors are shown where a token is not needed (`/healthz`): never
    // with credentials or a query (a `?key=`), nor a value that is not a URL.
    let parsed = reqwest::Url::parse(&url)
        .map_err(|e| FieldError::new(at.clone(), format!("{origin} is not a URL: {e}")))?;
    let mut shown = parsed.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let shown = masked(shown.as_str());
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(FieldError::new(
            at,
            format!("{origin} = {shown:?} must be an http:// or https:// URL with a host"),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(FieldError::new(
            at,
            format!(
                "{origin} = {shown:?}… is a base URL: leave out `?…` and `#…` (a key goes in `auth`)"
            ),
        ));
    }
    Ok((url.trim_end_matches('/').to_owned(), from))
}

/// `url` with its credentials (`user:pass@`) masked.
fn masked(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_password(None);
            let _ = parsed.set_username("***");
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// What of `url`'s credentials could show up in a message (as the URL is
/// written out): `user:pass` and the password; a user name alone only when
/// it is the whole credential (a key as the user). A user name beside a
/// password is no secret, and redacting it would hide every `"user"`.
fn url_credentials(url: &str) -> Vec<String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Vec::new();
    };
    let user = parsed.username();
    match parsed.password() {
        Some(password) => vec![format!("{user}:{password}"), password.to_owned()],
        None => vec![user.to_owned()],
    }
    .into_iter()
    .filter(|secret| !secret.is_empty())
    .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_credentials_are_masked_and_kept_as_secrets() {
        let url = "https://gateway-user:s3cret-pass@llm.example/v1";
        assert_eq!(masked(url), "https://***@llm.example/v1");
        assert_eq!(
            url_credentials(url),
            ["gateway-user:s3cret-pass", "s3cret-pass"]
        );
        assert_eq!(masked("http://KEY-1234@h:8080"), "http://***@h:8080/");
        assert_eq!(url_credentials("http://KEY-1234@h:8080"), ["KEY-1234"]);
        // Spellings the URL standard also reads as credentials.
        for odd in [
            "http:user:s3cret@h/v1",
            "http:/user:s3cret@h/v1",
            "http:\\\\user:s3cret@h/v1",
        ] {
            assert_eq!(masked(odd), "http://***@h/v1", "{odd}");
            assert!(url_credentials(odd).contains(&"s3cret".to_owned()), "{odd}");
        }
        // An `@` in the path is not a credential.
        assert_eq!(masked("http://h/v1/@x"), "http://h/v1/@x");
        assert!(url_credentials("http://localhost:11434/v1").is_empty());
    }

    #[test]
    fn an_error_about_a_url_never_shows_its_credentials_or_query() {
        let raw = RawBackend {
            url: Some("http://user:PASSWORD-IN-URL@127.0.0.1/v1?key=QUERYKEY-555".into()),
            ..RawBackend::default()
        };
        let error = base_url(&raw, &BTreeMap::new()).unwrap_err().message;
        assert!(error.contains("is a base URL"), "{error}");
        assert!(
            !error.contains("PASSWORD") && !error.contains("QUERYKEY"),
            "{error}"
        );
    }
}
