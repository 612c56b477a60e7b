//! Subscription logins kept fresh: the access token of a credentials file,
//! refreshed before it expires and once when the upstream refuses it.
//!
//! One refresh at a time per file: concurrent requests wait for the one in
//! flight and share its token. The file is read again before a refresh
//! (the CLI may have refreshed it meanwhile) and written back atomically
//! (a temporary file, mode 0600, renamed over it) with every other field
//! kept. Two shapes are read and written back as they are: Claude Code's
//! (`{"claudeAiOauth": {"accessToken", "refreshToken", "expiresAt": ms}}`)
//! and a plain one (`{"access_token", "refresh_token", "expires_at_s"}`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::backend::http::Login;
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

/// An access token and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    access: String,
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
    ) -> Result<String, Error> {
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
            return Ok(token.access.clone());
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
        let mut file = CredentialsFile::read(&login.file).map_err(&fail)?;
        let on_disk = file.token();
        if let Some(token) = on_disk.filter(|t| usable(t)) {
            *known = Some(token.clone());
            return Ok(token.access);
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
        Ok(token.access)
    }
}

/// Exchanges `refresh_token` at the login's token endpoint.
async fn refresh(
    login: &Login,
    client: &reqwest::Client,
    refresh_token: &str,
) -> Result<Value, String> {
    let body = json!({
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": login.client_id,
    });
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

/// A credentials file, parsed, in one of the two shapes.
struct CredentialsFile {
    path: PathBuf,
    json: Value,
    /// Claude Code's shape (camelCase under `claudeAiOauth`).
    nested: bool,
}

impl CredentialsFile {
    fn read(path: &Path) -> Result<CredentialsFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read ({e})"))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("is not JSON ({e})"))?;
        let nested = json.get("claudeAiOauth").is_some_and(Value::is_object);
        Ok(CredentialsFile {
            path: path.to_owned(),
            json,
            nested,
        })
    }

    fn fields(&self) -> &Value {
        if self.nested {
            &self.json["claudeAiOauth"]
        } else {
            &self.json
        }
    }

    fn token(&self) -> Option<Token> {
        let fields = self.fields();
        let (access, expires) = if self.nested {
            let ms = fields.get("expiresAt").and_then(Value::as_u64);
            ("accessToken", ms.map(Duration::from_millis))
        } else {
            let s = fields.get("expires_at_s").and_then(Value::as_u64);
            ("access_token", s.map(Duration::from_secs))
        };
        let access = fields.get(access)?.as_str()?.to_owned();
        Some(Token {
            access,
            expires_at: expires.map(|d| UNIX_EPOCH + d),
        })
        .filter(|t| !t.access.is_empty())
    }

    fn refresh_token(&self) -> Option<String> {
        let key = if self.nested {
            "refreshToken"
        } else {
            "refresh_token"
        };
        self.fields()
            .get(key)?
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    }

    /// Takes the token endpoint's answer into the file's fields.
    fn update(&mut self, answer: &Value, now: SystemTime) -> Result<Token, String> {
        let access = answer
            .get("access_token")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let expires_at = answer
            .get("expires_in")
            .and_then(Value::as_u64)
            .map(|s| now + Duration::from_secs(s));
        let since_epoch = |at: SystemTime| at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let nested = self.nested;
        let fields = if nested {
            &mut self.json["claudeAiOauth"]
        } else {
            &mut self.json
        };
        let Value::Object(fields) = fields else {
            return Err("is not a JSON object".into());
        };
        let (access_key, refresh_key) = if nested {
            ("accessToken", "refreshToken")
        } else {
            ("access_token", "refresh_token")
        };
        fields.insert(access_key.into(), json!(access));
        if let Some(refresh) = answer.get("refresh_token").and_then(Value::as_str) {
            fields.insert(refresh_key.into(), json!(refresh));
        }
        if let Some(at) = expires_at {
            if nested {
                let ms = u64::try_from(since_epoch(at).as_millis()).unwrap_or(u64::MAX);
                fields.insert("expiresAt".into(), json!(ms));
            } else {
                fields.insert("expires_at_s".into(), json!(since_epoch(at).as_secs()));
            }
        }
        Ok(Token { access, expires_at })
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

/// What `doctor` says of a login without refreshing it.
pub(super) fn describe(login: &Login) -> (super::super::Health, String) {
    use super::super::Health;
    let file = login.file.display();
    let Ok(read) = CredentialsFile::read(&login.file) else {
        return (
            Health::Fail,
            format!(
                "no readable login at {file}: {}",
                login.provider.how_to_log_in()
            ),
        );
    };
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
            (health, format!("login from {file} ({expiry})"))
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
