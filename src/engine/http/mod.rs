//! Runs an `http` backend for one request: the turn as the upstream
//! dialect's request, sent on a pooled client with the backend's auth and
//! headers, and the answer (streamed or whole) as events as they come.
//! Nothing is buffered that can flow: each upstream chunk becomes its
//! events at once. An upstream's error status reaches the client as the
//! same status with the upstream's message; after the answer started,
//! failures are an `Err` item of the stream.

mod client;
mod code_assist;
mod codex;
mod count;
mod dialects;
mod embeddings;
mod login;
mod stream;

use std::borrow::Cow;
use std::sync::Arc;

use tokio::time::Instant;

use crate::backend::http::{HttpTemplate, OAuthClient, Secret};
use crate::dialect::gemini;
use crate::dialect::openai_responses::codex::CodexPrompt;
use crate::dialect::upstream;
use crate::engine::{Prompt, Run, RunContext};
use crate::error::{Error, redact};
use crate::routes::Resolved;
use crate::turn::Turn;

pub use client::HttpClients;
pub use code_assist::CodeAssistProjects;
pub use codex::CodexPrompts;
pub(super) use count::count_tokens;
pub(super) use embeddings::embeddings;
pub use login::{Logins, token_answer, write_private};

/// The largest error body read from an upstream.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Sends `turn` to the upstream: waits for a slot, sends, and returns the
/// answer's events once its status and headers have come.
pub(super) async fn run(
    resolved: &Resolved,
    http: Arc<HttpTemplate>,
    turn: Turn,
    ctx: RunContext,
) -> Result<Run, Error> {
    let backend = Arc::clone(&resolved.backend);
    let effort = ctx
        .limits
        .force_effort
        .or(turn.effort)
        .or(backend.default_effort);
    // The ChatGPT backend answers only in a stream.
    let stream = turn.stream || http.codex.is_some();
    let endpoint = dialects::endpoint(&http, &resolved.model, stream)?;
    let mut upstream = Upstream::open(&backend, &http, endpoint, stream, &ctx).await?;
    let codex = match &http.codex {
        Some(codex) => Some(
            ctx.http
                .codex
                .prompt(&codex.instructions, &resolved.model, &backend)
                .await?,
        ),
        None => None,
    };
    // The ChatGPT backend keys its prompt cache by session.
    let session = codex.as_ref().map(|_| {
        turn.session
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    });
    upstream.codex = codex.as_deref().zip(session.as_deref());
    // A request in the upstream's own dialect goes as it came.
    if let Some(native) = backend.capabilities.passes_through(&turn) {
        upstream.client_headers = &native.headers;
        let body = dialects::native_request(&http, native, &resolved.model)?;
        return send(resolved, upstream, http.clone(), body, true, ctx).await;
    }
    let body = dialects::request(&http, &turn, &resolved.model, effort, upstream.codex)?;
    let body = match &http.code_assist {
        Some(code_assist) => {
            let project = ctx
                .http
                .code_assist
                .project(code_assist, &upstream, &ctx)
                .await?;
            gemini::code_assist::wrap(body, &resolved.model, &project)
        }
        None => body,
    };
    let body = serde_json::to_vec(&body)
        .map_err(|e| Error::Internal(format!("cannot encode the upstream request: {e}")))?;
    send(resolved, upstream, Arc::clone(&http), body, false, ctx).await
}

/// Sends `body` once a slot is free; the answer's events (with the
/// upstream's own frames when `verbatim`).
async fn send(
    resolved: &Resolved,
    mut upstream: Upstream<'_>,
    http: Arc<HttpTemplate>,
    body: Vec<u8>,
    verbatim: bool,
    ctx: RunContext,
) -> Result<Run, Error> {
    let backend = Arc::clone(&resolved.backend);
    let sent = ctx.keep_sent.then(|| Prompt {
        text: String::from_utf8_lossy(&body).into_owned(),
        system: None,
    });
    let permit = ctx.limiters.acquire(&backend).await?;
    let queued_at = Instant::now();
    let deadline = queued_at + backend.timeout;
    let response = upstream.send(body.into(), deadline, &ctx).await?;
    let started_at = Instant::now();
    let events = stream::events(backend, http, response, ctx, deadline, verbatim);
    Ok(Run {
        events,
        permit,
        sent,
        queued_at,
        started_at,
        conversation: None,
    })
}

/// Where and how one run's request is sent.
struct Upstream<'a> {
    backend: &'a crate::backend::Backend,
    http: &'a HttpTemplate,
    client: reqwest::Client,
    /// The URL the request is posted to.
    endpoint: Cow<'a, reqwest::Url>,
    /// Whether a stream is asked for.
    stream: bool,
    /// The Codex CLI's prompt and the session, for the ChatGPT backend.
    codex: Option<(&'a CodexPrompt, &'a str)>,
    /// The auth header's value, when the backend sends one.
    credential: Option<Credential>,
    /// The client's headers that go with a request passed through.
    client_headers: &'a [(String, String)],
}

/// What a request authenticates with.
struct Credential {
    /// The auth header's value.
    value: String,
    /// The login's account, for the provider's account header.
    account: Option<String>,
    /// The login's token in `value`, to name it when the upstream refuses it.
    login_token: Option<String>,
}

impl<'a> Upstream<'a> {
    /// Ready to send to `endpoint`: the backend's credentials are there,
    /// and read (a login's token fresh, refreshed if it must be).
    async fn open(
        backend: &'a crate::backend::Backend,
        http: &'a HttpTemplate,
        endpoint: Cow<'a, reqwest::Url>,
        stream: bool,
        ctx: &RunContext,
    ) -> Result<Upstream<'a>, Error> {
        if let Some(why) = http.missing() {
            return Err(Error::Backend {
                backend: backend.name.clone(),
                upstream_status: None,
                message: format!("no credentials: {why}"),
            });
        }
        let mut upstream = Upstream {
            backend,
            http,
            client: ctx.http.client(http.timeouts.connect)?,
            endpoint,
            stream,
            codex: None,
            credential: None,
            client_headers: &[],
        };
        upstream.credential = upstream.credential(ctx, None).await?;
        Ok(upstream)
    }

    /// The credential: the fixed one, or a login's token (fresh, and not
    /// `refused`).
    async fn credential(
        &self,
        ctx: &RunContext,
        refused: Option<&str>,
    ) -> Result<Option<Credential>, Error> {
        let Some(auth) = &self.http.auth else {
            return Ok(None);
        };
        let token = match &auth.secret {
            Secret::Fixed(value) => {
                return Ok(value.as_ref().ok().map(|value| Credential {
                    value: value.clone(),
                    account: None,
                    login_token: None,
                }));
            }
            Secret::Login(login) => {
                login_token(ctx, login, &self.client, &self.backend.name, refused).await?
            }
        };
        Ok(Some(Credential {
            value: match &auth.scheme {
                Some(scheme) => format!("{scheme} {}", token.access),
                None => token.access.clone(),
            },
            account: token.account,
            login_token: Some(token.access),
        }))
    }

    fn request(&self, body: bytes::Bytes) -> reqwest::RequestBuilder {
        let accept = if self.stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        self.request_to(self.endpoint.as_ref().clone(), accept, body)
    }

    /// A request to `url` with the backend's auth and headers.
    fn request_to(
        &self,
        url: reqwest::Url,
        accept: &str,
        body: bytes::Bytes,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, accept);
        if let (Some(auth), Some(credential)) = (&self.http.auth, &self.credential) {
            request = request.header(auth.header.as_str(), credential.value.as_str());
            let header = auth.subscription.and_then(|s| s.account_header());
            if let (Some(header), Some(account)) = (header, &credential.account) {
                request = request.header(header, account.as_str());
            }
        }
        if let Some((prompt, session)) = self.codex {
            let own = |name: &str| self.http.headers.iter().any(|(n, _)| n == name);
            let session = (prompt.session_header.as_str(), session);
            let identity = prompt.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            for (name, value) in identity.chain([session]).filter(|(n, _)| !own(n)) {
                request = request.header(name, value);
            }
        }
        let backends = |name: &str| {
            let mut own = self.http.headers.iter();
            own.find(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        for (name, value) in self.client_headers {
            if backends(name).is_none() {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        for (name, value) in &self.http.headers {
            // Betas are a list: the backend's and the client's both apply.
            let client = self.client_headers.iter();
            match client.clone().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((_, theirs)) if name.eq_ignore_ascii_case("anthropic-beta") => {
                    request = request.header(name.as_str(), format!("{value},{theirs}"));
                }
                _ => request = request.header(name.as_str(), value.as_str()),
            }
        }
        request.body(body)
    }

    /// Sends the request until the upstream accepts it: a 429, a 5xx or a
    /// failed connect is tried again (nothing has reached the client yet),
    /// after the upstream's `Retry-After` or a backoff, within the
    /// backend's retry policy.
    async fn send(
        &mut self,
        body: bytes::Bytes,
        deadline: Instant,
        ctx: &RunContext,
    ) -> Result<reqwest::Response, Error> {
        let name = &self.backend.name;
        let retry = self.http.retry;
        let first_byte = self.http.timeouts.first_byte;
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            let sent = tokio::select! {
                sent = tokio::time::timeout(first_byte, self.request(body.clone()).send()) => match sent {
                    Ok(sent) => sent,
                    Err(_) => return Err(Error::Timeout { backend: name.clone(), after: first_byte }),
                },
                () = tokio::time::sleep_until(deadline) => {
                    return Err(Error::Timeout { backend: name.clone(), after: self.backend.timeout });
                }
                () = ctx.shutdown.cancelled() => return Err(Error::ShuttingDown),
            };
            // A login's token the upstream refused is refreshed, once.
            if let Ok(response) = &sent
                && matches!(response.status().as_u16(), 401 | 403)
                && self.http.login().is_some()
                && !refreshed
            {
                refreshed = true;
                let refused = self.credential.take().and_then(|c| c.login_token);
                self.credential = self.credential(ctx, refused.as_deref()).await?;
                continue;
            }
            attempt += 1;
            let wait = match &sent {
                Ok(response) if response.status().is_success() => None,
                Ok(response) if response.status() == 429 || response.status().is_server_error() => {
                    Some(retry_after(response).unwrap_or_else(|| retry.backoff(attempt)))
                }
                Err(error) if error.is_connect() => Some(retry.backoff(attempt)),
                _ => None,
            };
            let retry_now = wait.filter(|w| attempt <= retry.retries && *w <= retry.max_wait);
            match (sent, retry_now) {
                (Ok(response), None) if response.status().is_success() => return Ok(response),
                (Ok(response), None) => {
                    return Err(status_error(
                        name,
                        response,
                        &self.backend.secrets,
                        self.http.timeouts.idle,
                    )
                    .await);
                }
                (Err(error), None) => {
                    return Err(send_error(name, self.http, &error, &self.backend.secrets));
                }
                (outcome, Some(wait)) => {
                    let why = match &outcome {
                        Ok(response) => format!("HTTP {}", response.status().as_u16()),
                        Err(_) => "cannot connect".to_owned(),
                    };
                    tracing::warn!(
                        request_id = %ctx.request_id,
                        backend = %name,
                        "upstream {why}; retry {attempt} of {} in {:.1}s",
                        retry.retries,
                        wait.as_secs_f64()
                    );
                    drop(outcome);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = tokio::time::sleep_until(deadline) => {
                            return Err(Error::Timeout { backend: name.clone(), after: self.backend.timeout });
                        }
                        () = ctx.shutdown.cancelled() => return Err(Error::ShuttingDown),
                    }
                }
            }
        }
    }
}

/// A login's token: the known one while it is fresh and not `refused`;
/// else what the login gives, in a task of its own (a refresh may come, and
/// a client that leaves mid-refresh must not lose the rotated refresh token
/// before it is saved).
async fn login_token(
    ctx: &RunContext,
    login: &Arc<crate::backend::http::Login>,
    client: &reqwest::Client,
    backend: &str,
    refused: Option<&str>,
) -> Result<login::Token, Error> {
    if refused.is_none()
        && let Some(token) = ctx.http.logins.known(login)
    {
        return Ok(token);
    }
    let (http, login, client) = (Arc::clone(&ctx.http), Arc::clone(login), client.clone());
    let (backend, refused) = (backend.to_owned(), refused.map(str::to_owned));
    tokio::spawn(async move {
        http.logins
            .token(&login, &client, &backend, refused.as_deref())
            .await
    })
    .await
    .map_err(|e| Error::Internal(format!("the login refresh stopped: {e}")))?
}

/// An upstream's `Retry-After`, in whole seconds.
fn retry_after(response: &reqwest::Response) -> Option<std::time::Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
}

/// A request that got no answer: no connection, or a broken one.
fn send_error(
    backend: &str,
    http: &HttpTemplate,
    error: &reqwest::Error,
    secrets: &[String],
) -> Error {
    let what = if error.is_connect() {
        "cannot connect to"
    } else {
        "no answer from"
    };
    Error::Backend {
        backend: backend.to_owned(),
        upstream_status: None,
        message: redact(
            &format!("{what} {}: {}", http.shown_url, error_chain(error)),
            secrets,
        ),
    }
}

/// An error with its causes, which say what really failed (refused, DNS, TLS).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An upstream's error status, with its message and `Retry-After`.
async fn status_error(
    backend: &str,
    response: reqwest::Response,
    secrets: &[String],
    idle: std::time::Duration,
) -> Error {
    let status = response.status().as_u16();
    let retry_after = retry_after(&response).map(|d| d.as_secs());
    if response.status().is_redirection() {
        let to = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nowhere said");
        return Error::Upstream {
            backend: backend.to_owned(),
            status,
            message: redact(
                &format!(
                    "the upstream redirects to {to} (HTTP {status}); redirects are not followed: \
                     point the backend's `url` there"
                ),
                secrets,
            ),
            retry_after: None,
        };
    }
    let body = tokio::time::timeout(idle, read_capped(response, MAX_ERROR_BODY))
        .await
        .unwrap_or_default();
    let mut message = upstream::error_message(&body);
    if message.is_empty() {
        message = format!("the upstream answered HTTP {status}");
    }
    Error::Upstream {
        backend: backend.to_owned(),
        status,
        message: redact(&message, secrets),
        retry_after,
    }
}

/// POSTs `body` to `url` for one whole answer, not a turn (a token
/// count, embeddings): under the backend's queue, credentials, retries and
/// deadline; the answer, at most `max` bytes.
pub(super) async fn exchange(
    backend: &crate::backend::Backend,
    http: &HttpTemplate,
    url: reqwest::Url,
    body: bytes::Bytes,
    max: usize,
    ctx: &RunContext,
) -> Result<Vec<u8>, Error> {
    let mut upstream = Upstream::open(backend, http, Cow::Owned(url), false, ctx).await?;
    let _permit = ctx.limiters.acquire(backend).await?;
    let deadline = Instant::now() + backend.timeout;
    let response = upstream.send(body, deadline, ctx).await?;
    let answer = tokio::time::timeout_at(deadline, read_capped(response, max + 1))
        .await
        .map_err(|_| Error::Timeout {
            backend: backend.name.clone(),
            after: backend.timeout,
        })?;
    if answer.len() > max {
        return Err(Error::Backend {
            backend: backend.name.clone(),
            upstream_status: None,
            message: format!("the upstream's answer is larger than {max} bytes"),
        });
    }
    Ok(answer)
}

/// At most `max` bytes of a body.
pub(super) async fn read_capped(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = max.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    body
}

/// What `doctor` says of an http backend without calling it: where it
/// sends requests and whether its key could be read.
pub(super) fn doctor(http: &HttpTemplate) -> Vec<(super::Health, String)> {
    use super::Health;
    let from = http
        .url_from
        .as_ref()
        .map_or_else(String::new, |var| format!(" (from {var})"));
    let mut findings = vec![(
        Health::Ok,
        format!(
            "sends {} requests to {}{from}",
            http.dialect.name(),
            http.shown_url
        ),
    )];
    findings.push(match &http.auth {
        None => (Health::Warn, "sends no credentials (no `auth`)".to_owned()),
        Some(auth) => match &auth.secret {
            Secret::Fixed(Ok(_)) => (
                Health::Ok,
                format!("key read from {} (header {})", auth.source, auth.header),
            ),
            Secret::Fixed(Err(why)) => (Health::Fail, format!("no key: {why}")),
            Secret::Login(login) => login::describe(login),
        },
    });
    if let Some(OAuthClient::Missing(why)) = http.login().map(|l| &l.client) {
        findings.push((
            Health::Warn,
            format!("the login cannot be refreshed: {why}"),
        ));
    }
    if let Some(code_assist) = &http.code_assist {
        let in_file = http.login().and_then(login::project_in);
        let project = match (&code_assist.project, in_file) {
            (Some(p), _) => format!("the Code Assist project: {p}"),
            (None, Some(p)) => format!("the Code Assist project: {p} (from the login's file)"),
            (None, None) => {
                "the Code Assist project: asked of loadCodeAssist on the first request".to_owned()
            }
        };
        findings.push((Health::Ok, project));
    }
    if let Some(codex) = &http.codex {
        findings.push(codex::describe(&codex.instructions));
    }
    findings
}
