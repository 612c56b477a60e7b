//! Subscription logins kept fresh: the access token of a credentials file,
//! refreshed before it expires and once when the upstream refuses it.
//!
//! One refresh at a time per file: concurrent requests wait for the one in
//! flight and share its token. The file is read again before a refresh
//! (the CLI may have refreshed it meanwhile) and written back atomically
//! (a temporary file, mode 0600, renamed over it) with every other field
//! kept. Three shapes are read and written back as they are: Claude Code's
//! (`{"claudeAiOauth": {"accessToken", "refreshToken", "expiresAt": ms}}`),
//! the Codex CLI's `auth.json` (`{"OPENAI_API_KEY", "tokens": {"access_token",
//! "refresh_token", "id_token", "account_id"}, "last_refresh"}`, the expiry
//! read from the access token's JWT `exp`) and a plain one
//! (`{"access_token", "refresh_token", "expires_at_s"}`).

mod client;
mod file;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::backend::http::{Login, LoginProvider};
use crate::error::Error;

use file::CredentialsFile;
pub use file::write_private;

/// A token this close to its expiry is refreshed before use.
const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// The longest wait for the token endpoint.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// A refused token is not refreshed again this soon after a refresh: the
/// upstream refuses it for another reason (a 403 of a proxy, an account
/// without access), and each refresh rotates the refresh token.
const REFRESH_AGAIN_AFTER: Duration = Duration::from_secs(60);

/// A login's last known token, and when the gateway last refreshed it;
/// locked across a refresh.
type Known = Arc<tokio::sync::Mutex<(Option<Token>, Option<std::time::Instant>)>>;

/// The logins in use, by credentials file, and the OAuth clients read
/// from installed CLIs.
#[derive(Debug, Default)]
pub struct Logins {
    states: std::sync::Mutex<HashMap<PathBuf, Known>>,
    clients: client::Clients,
}

/// An access token, the account it acts for, and when it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The token, sent after the auth scheme.
    pub access: String,
    /// The account the login acts for, when the provider wants it said
    /// (ChatGPT's `chatgpt-account-id`).
    pub account: Option<String>,
    pub(super) expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access", &"[redacted]")
            .field("account", &self.account)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Token {
    fn fresh(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|at| at > now + REFRESH_AHEAD)
    }
}

impl Logins {
    /// The known token of `login` when it is fresh and no refresh is under
    /// way: what most requests need, without waiting or reading the file.
    pub fn known(&self, login: &Login) -> Option<Token> {
        let state = {
            let states = self
                .states
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(states.get(&login.file)?)
        };
        let known = state.try_lock().ok()?;
        known
            .0
            .clone()
            .filter(|token| token.fresh(SystemTime::now()))
    }

    /// A usable access token of `login`: the one known, unless it expires
    /// soon or is `refused` (the upstream said 401/403 to it), in which
    /// case it is refreshed.
    ///
    /// # Errors
    /// [`Error::Backend`] naming the file and how to log in again, when
    /// there is no token and it cannot be refreshed.
    pub async fn token(
        &self,
        login: &Login,
        client: &reqwest::Client,
        backend: &str,
        refused: Option<&str>,
    ) -> Result<Token, Error> {
        let state = {
            let mut states = self
                .states
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(states.entry(login.file.clone()).or_default())
        };
        // Held across the refresh: one refresh at a time for this file.
        let mut guard = state.lock().await;
        let (known, refreshed_at) = &mut *guard;
        let now = SystemTime::now();
        let just_refreshed = refreshed_at.is_some_and(|at| at.elapsed() < REFRESH_AGAIN_AFTER);
        let usable = |token: &Token| {
            token.fresh(now) && (just_refreshed || Some(token.access.as_str()) != refused)
        };
        if let Some(token) = known.as_ref().filter(|t| usable(t)) {
            return Ok(token.clone());
        }
        let fail = |why: String| Error::Backend {
            backend: backend.to_owned(),
            upstream_status: None,
            message: format!(
                "the login in {} {why}; {}",
                login.file.display(),
                login.provider.how_to_log_in()
            ),
        };
        let mut file = CredentialsFile::read(&login.file, login.provider).map_err(&fail)?;
        let on_disk = file.token();
        if let Some(token) = on_disk.filter(|t| usable(t)) {
            *known = Some(token.clone());
            return Ok(token);
        }
        let refresh_token = file
            .refresh_token()
            .ok_or_else(|| fail("has no refresh token and its access token expired".into()))?;
        let oauth = self
            .clients
            .of(&login.client)
            .await
            .map_err(|why| fail(format!("could not be refreshed: {why}")))?;
        let answer = refresh(login, client, &oauth, &refresh_token)
            .await
            .map_err(|why| fail(format!("could not be refreshed: {why}")))?;
        let token = file.update(&answer, now).map_err(&fail)?;
        file.write()
            .map_err(|e| fail(format!("could not be saved: {e}")))?;
        tracing::info!(backend, "refreshed the login in {}", login.file.display());
        *known = Some(token.clone());
        *refreshed_at = Some(std::time::Instant::now());
        Ok(token)
    }
}

/// Exchanges `refresh_token` at the login's token endpoint: JSON for
/// Anthropic and ChatGPT (as their CLIs send it), a form with the client's
/// secret for Google.
async fn refresh(
    login: &Login,
    client: &reqwest::Client,
    oauth: &client::Client,
    refresh_token: &str,
) -> Result<Value, String> {
    let request = client.post(&login.token_url).timeout(REFRESH_TIMEOUT);
    let request = match login.provider {
        LoginProvider::Google => request.form(&[
            ("client_id", oauth.id.as_str()),
            ("client_secret", oauth.secret.as_deref().unwrap_or_default()),
            ("refresh_token", refresh_token),
            ("grant_type", "refresh_token"),
        ]),
        LoginProvider::Anthropic | LoginProvider::ChatGpt => {
            let mut body = json!({
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": oauth.id,
            });
            if login.provider == LoginProvider::ChatGpt {
                // As the Codex CLI asks.
                body["scope"] = json!("openid profile email");
            }
            request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
        }
    };
    token_answer(request, &login.token_url).await
}

/// Sends a request to the token endpoint at `url` and reads its answer: a
/// JSON object with an access token, or why not (the endpoint's message).
///
/// # Errors
/// No answer, an error status, or an answer without an access token.
pub async fn token_answer(request: reqwest::RequestBuilder, url: &str) -> Result<Value, String> {
    let sent = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = sent.status();
    let answer: Value = sent
        .bytes()
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    if !status.is_success() {
        let why = crate::dialect::upstream::error_message(answer.to_string().as_bytes());
        return Err(format!("HTTP {} ({why})", status.as_u16()));
    }
    if answer.get("access_token").and_then(Value::as_str).is_none() {
        return Err("the token endpoint answered without an access token".into());
    }
    Ok(answer)
}

/// The Google Cloud project a login's file names, if it does.
pub(super) fn project_in(login: &Login) -> Option<String> {
    CredentialsFile::read(&login.file, login.provider)
        .ok()?
        .project()
}

/// What `doctor` says of a login without refreshing it.
pub(super) fn describe(login: &Login) -> (super::super::Health, String) {
    use super::super::Health;
    let file = login.file.display();
    let Ok(read) = CredentialsFile::read(&login.file, login.provider) else {
        return (
            Health::Fail,
            format!(
                "no readable login at {file}: {}",
                login.provider.how_to_log_in()
            ),
        );
    };
    if read.api_key().is_some() {
        return (
            Health::Ok,
            format!("API key from {file} (its OPENAI_API_KEY, used instead of the login)"),
        );
    }
    let refreshable = read.refresh_token().is_some();
    match read.token() {
        Some(token) => {
            let left = token
                .expires_at
                .and_then(|at| at.duration_since(SystemTime::now()).ok());
            let expiry = match (token.expires_at, left) {
                (None, _) => "no expiry given".to_owned(),
                (Some(_), Some(left)) => format!("expires in {} min", left.as_secs() / 60),
                (Some(_), None) if refreshable => "expired; refreshed on the next request".into(),
                (Some(_), None) => "expired, and no refresh token".into(),
            };
            let health = if left.is_some() || refreshable || token.expires_at.is_none() {
                Health::Ok
            } else {
                Health::Fail
            };
            let account = token
                .account
                .map_or_else(String::new, |a| format!(", account {a}"));
            (health, format!("login from {file} ({expiry}{account})"))
        }
        None if refreshable => (
            Health::Ok,
            format!("login from {file} (no access token yet; refreshed on the next request)"),
        ),
        None => (
            Health::Fail,
            format!("{file} holds no token: {}", login.provider.how_to_log_in()),
        ),
    }
}
