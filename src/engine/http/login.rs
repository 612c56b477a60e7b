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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::backend::http::{Login, LoginProvider};
use crate::error::Error;

/// A token this close to its expiry is refreshed before use.
const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// The longest wait for the token endpoint.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// The logins in use, by credentials file.
#[derive(Debug, Default)]
pub struct Logins {
    states: std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<Option<Token>>>>>,
}

/// An access token, the account it acts for, and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token, sent after the auth scheme.
    pub access: String,
    /// The account the login acts for, when the provider wants it said
    /// (ChatGPT's `chatgpt-account-id`).
    pub account: Option<String>,
    expires_at: Option<SystemTime>,
}

impl Token {
    fn fresh(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|at| at > now + REFRESH_AHEAD)
    }
}

impl Logins {
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
        let mut known = state.lock().await;
        let now = SystemTime::now();
        let usable = |token: &Token| token.fresh(now) && Some(token.access.as_str()) != refused;
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
        let answer = refresh(login, client, &refresh_token)
            .await
            .map_err(|why| fail(format!("could not be refreshed: {why}")))?;
        let token = file.update(&answer, now).map_err(&fail)?;
        file.write()
            .map_err(|e| fail(format!("could not be saved: {e}")))?;
        tracing::info!(backend, "refreshed the login in {}", login.file.display());
        *known = Some(token.clone());
        Ok(token)
    }
}

/// Exchanges `refresh_token` at the login's token endpoint.
async fn refresh(
    login: &Login,
    client: &reqwest::Client,
    refresh_token: &str,
) -> Result<Value, String> {
    let mut body = json!({
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": login.client_id,
    });
    if login.provider == LoginProvider::ChatGpt {
        // As the Codex CLI asks.
        body["scope"] = json!("openid profile email");
    }
    let sent = client
        .post(&login.token_url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .timeout(REFRESH_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("{}: {e}", login.token_url))?;
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

/// Where a credentials file keeps its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Claude Code's: camelCase under `claudeAiOauth`, expiry in ms.
    ClaudeCode,
    /// The Codex CLI's `auth.json`: `tokens.*`, expiry in the access
    /// token (a JWT), the account beside it, and an API key that wins.
    Codex,
    /// `access_token`, `refresh_token` and `expires_at_s` at the top.
    Plain,
}

impl Shape {
    /// The JSON pointers of the access and the refresh token.
    fn pointers(self) -> (&'static str, &'static str) {
        match self {
            Shape::ClaudeCode => ("/claudeAiOauth/accessToken", "/claudeAiOauth/refreshToken"),
            Shape::Codex => ("/tokens/access_token", "/tokens/refresh_token"),
            Shape::Plain => ("/access_token", "/refresh_token"),
        }
    }
}

/// A credentials file, parsed, in one of the shapes.
struct CredentialsFile {
    path: PathBuf,
    json: Value,
    shape: Shape,
}

impl CredentialsFile {
    fn read(path: &Path, provider: LoginProvider) -> Result<CredentialsFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read ({e})"))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("is not JSON ({e})"))?;
        let shape = match provider {
            LoginProvider::ChatGpt => Shape::Codex,
            LoginProvider::Anthropic if json.get("claudeAiOauth").is_some_and(Value::is_object) => {
                Shape::ClaudeCode
            }
            LoginProvider::Anthropic => Shape::Plain,
        };
        Ok(CredentialsFile {
            path: path.to_owned(),
            json,
            shape,
        })
    }

    fn string(&self, pointer: &str) -> Option<String> {
        self.json
            .pointer(pointer)?
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_owned())
    }

    /// An API key the file holds instead of a login (Codex's
    /// `OPENAI_API_KEY`): used as it is, never refreshed.
    fn api_key(&self) -> Option<String> {
        (self.shape == Shape::Codex)
            .then(|| self.string("/OPENAI_API_KEY"))
            .flatten()
    }

    fn token(&self) -> Option<Token> {
        if let Some(key) = self.api_key() {
            return Some(Token {
                access: key,
                account: None,
                expires_at: None,
            });
        }
        let access = self.string(self.shape.pointers().0)?;
        Some(self.token_of(access))
    }

    /// `access` with its expiry and account, as the file's shape keeps them.
    fn token_of(&self, access: String) -> Token {
        let at = |pointer: &str| self.json.pointer(pointer).and_then(Value::as_u64);
        let (expires_at, account) = match self.shape {
            Shape::ClaudeCode => (
                at("/claudeAiOauth/expiresAt").map(Duration::from_millis),
                None,
            ),
            Shape::Plain => (at("/expires_at_s").map(Duration::from_secs), None),
            Shape::Codex => {
                let claims = jwt_claims(&access);
                let exp = claims.as_ref().and_then(|c| c.get("exp")?.as_u64());
                let account = self.string("/tokens/account_id").or_else(|| {
                    let auth = claims.as_ref()?.get("https://api.openai.com/auth")?;
                    Some(auth.get("chatgpt_account_id")?.as_str()?.to_owned())
                });
                (exp.map(Duration::from_secs), account)
            }
        };
        Token {
            access,
            account,
            expires_at: expires_at.map(|d| UNIX_EPOCH + d),
        }
    }

    fn refresh_token(&self) -> Option<String> {
        self.string(self.shape.pointers().1)
    }

    /// Takes the token endpoint's answer into the file's fields.
    fn update(&mut self, answer: &Value, now: SystemTime) -> Result<Token, String> {
        let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
        let access = text("access_token").unwrap_or_default();
        let (access_at, refresh_at) = self.shape.pointers();
        set(&mut self.json, access_at, json!(access))?;
        if let Some(refresh) = text("refresh_token") {
            set(&mut self.json, refresh_at, json!(refresh))?;
        }
        let expires_at = answer
            .get("expires_in")
            .and_then(Value::as_u64)
            .map(|s| now + Duration::from_secs(s));
        let since_epoch = |at: SystemTime| at.duration_since(UNIX_EPOCH).unwrap_or_default();
        match (self.shape, expires_at) {
            (Shape::ClaudeCode, Some(at)) => {
                let ms = u64::try_from(since_epoch(at).as_millis()).unwrap_or(u64::MAX);
                set(&mut self.json, "/claudeAiOauth/expiresAt", json!(ms))?;
            }
            (Shape::Plain, Some(at)) => {
                set(
                    &mut self.json,
                    "/expires_at_s",
                    json!(since_epoch(at).as_secs()),
                )?;
            }
            (Shape::Codex, _) => {
                if let Some(id_token) = text("id_token") {
                    set(&mut self.json, "/tokens/id_token", json!(id_token))?;
                }
                let stamp = humantime::format_rfc3339_seconds(now).to_string();
                set(&mut self.json, "/last_refresh", json!(stamp))?;
            }
            (_, None) => {}
        }
        let mut token = self.token_of(access);
        if token.expires_at.is_none() {
            token.expires_at = expires_at;
        }
        Ok(token)
    }

    /// Replaces the file at once: a temporary file beside it, readable by
    /// its owner only, renamed over it.
    fn write(&self) -> std::io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let name = self.path.file_name().map_or_else(
            || "credentials".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(&self.json).map_err(std::io::Error::other)?;
        // A new file, never one found there (a stale one, or a link).
        let _ = std::fs::remove_file(&temporary);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)
    }
}

/// Sets the value at `pointer`, making the objects on the way.
fn set(json: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let mut at = json;
    let mut keys = pointer.trim_start_matches('/').split('/').peekable();
    while let Some(key) = keys.next() {
        let Value::Object(fields) = at else {
            return Err(format!("is not in the expected shape (at {pointer})"));
        };
        if keys.peek().is_none() {
            fields.insert(key.to_owned(), value);
            return Ok(());
        }
        at = fields
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
    Ok(())
}

/// The claims of a JWT, read without checking its signature (the
/// upstream checks it; the gateway only wants its expiry and account).
fn jwt_claims(token: &str) -> Option<Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
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
