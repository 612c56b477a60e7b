//! Credentials files in the shapes the CLIs keep them, read and written
//! back field by field: Claude Code's, the Codex CLI's `auth.json`, the
//! Gemini CLI's `oauth_creds.json`, and a plain one.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::Token;
use crate::backend::http::LoginProvider;

/// Where a credentials file keeps its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Claude Code's: camelCase under `claudeAiOauth`, expiry in ms.
    ClaudeCode,
    /// The Codex CLI's `auth.json`: `tokens.*`, expiry in the access
    /// token (a JWT), the account beside it, and an API key that wins.
    Codex,
    /// The Gemini CLI's `oauth_creds.json`: `access_token`,
    /// `refresh_token` and `expiry_date` (ms) at the top.
    GeminiCli,
    /// `access_token`, `refresh_token` and `expires_at_s` at the top.
    Plain,
}

impl Shape {
    /// The JSON pointers of the access and the refresh token.
    fn pointers(self) -> (&'static str, &'static str) {
        match self {
            Shape::ClaudeCode => ("/claudeAiOauth/accessToken", "/claudeAiOauth/refreshToken"),
            Shape::Codex => ("/tokens/access_token", "/tokens/refresh_token"),
            Shape::Plain | Shape::GeminiCli => ("/access_token", "/refresh_token"),
        }
    }
}

/// A credentials file, parsed, in one of the shapes.
pub(super) struct CredentialsFile {
    path: PathBuf,
    json: Value,
    shape: Shape,
}

impl CredentialsFile {
    pub(super) fn read(path: &Path, provider: LoginProvider) -> Result<CredentialsFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read ({e})"))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("is not JSON ({e})"))?;
        let shape = match provider {
            LoginProvider::ChatGpt => Shape::Codex,
            LoginProvider::Anthropic if json.get("claudeAiOauth").is_some_and(Value::is_object) => {
                Shape::ClaudeCode
            }
            LoginProvider::Anthropic => Shape::Plain,
            LoginProvider::Google => Shape::GeminiCli,
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
    pub(super) fn api_key(&self) -> Option<String> {
        (self.shape == Shape::Codex)
            .then(|| self.string("/OPENAI_API_KEY"))
            .flatten()
    }

    pub(super) fn token(&self) -> Option<Token> {
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
            Shape::GeminiCli => (at("/expiry_date").map(Duration::from_millis), None),
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

    /// The Google Cloud project the file names (the Gemini CLI's, or one
    /// the original saved there).
    pub(super) fn project(&self) -> Option<String> {
        self.string("/project_id")
            .or_else(|| self.string("/projectId"))
    }

    pub(super) fn refresh_token(&self) -> Option<String> {
        self.string(self.shape.pointers().1)
    }

    /// Takes the token endpoint's answer into the file's fields.
    pub(super) fn update(&mut self, answer: &Value, now: SystemTime) -> Result<Token, String> {
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
            (Shape::ClaudeCode | Shape::GeminiCli, Some(at)) => {
                let ms = u64::try_from(since_epoch(at).as_millis()).unwrap_or(u64::MAX);
                let key = if self.shape == Shape::GeminiCli {
                    "/expiry_date"
                } else {
                    "/claudeAiOauth/expiresAt"
                };
                set(&mut self.json, key, json!(ms))?;
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
    pub(super) fn write(&self) -> std::io::Result<()> {
        write_private(&self.path, &self.json)
    }
}

/// Replaces the file at `path` with `json` at once: a new temporary file
/// beside it, readable by its owner only, renamed over it. A missing
/// directory is made, readable by its owner only.
///
/// # Errors
/// When the file cannot be written.
pub fn write_private(path: &Path, json: &Value) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path.file_name().map_or_else(
        || "credentials".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let text = serde_json::to_string_pretty(json).map_err(std::io::Error::other)?;
    // A new file, never one found there (a stale one, or a link).
    let _ = std::fs::remove_file(&temporary);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        // No copy of the tokens is left behind.
        let _ = std::fs::remove_file(&temporary);
    }
    written
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
