//! The OAuth client a login refreshes as: given in the config, or read
//! from the installed Gemini CLI (`OAUTH_CLIENT_ID = "…"` and
//! `OAUTH_CLIENT_SECRET = "…"` in its JavaScript), as the original does:
//! the gateway ships no copy. What is read is kept per CLI path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::backend::http::OAuthClient;

/// Largest script searched for the client.
const MAX_SCRIPT_BYTES: u64 = 64 * 1024 * 1024;

/// An OAuth client's id and secret.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Client {
    pub(super) id: String,
    pub(super) secret: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The clients read from installed CLIs, by CLI path.
#[derive(Debug, Default)]
pub(super) struct Clients {
    read: Mutex<HashMap<PathBuf, Client>>,
}

impl Clients {
    /// The client of `oauth`, reading it from the Gemini CLI the first time
    /// (off the async workers: its scripts weigh tens of MB).
    pub(super) async fn of(&self, oauth: &OAuthClient) -> Result<Client, String> {
        let cli = match oauth {
            OAuthClient::Known { id, secret } => {
                return Ok(Client {
                    id: id.clone(),
                    secret: secret.clone(),
                });
            }
            OAuthClient::Missing(why) => return Err(why.clone()),
            OAuthClient::GeminiCli(cli) => cli,
        };
        if let Some(client) = self.lock().get(cli) {
            return Ok(client.clone());
        }
        let path = cli.clone();
        let client = tokio::task::spawn_blocking(move || from_gemini_cli(&path))
            .await
            .map_err(|e| format!("cannot search the Gemini CLI: {e}"))??;
        self.lock().insert(cli.clone(), client.clone());
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Client>> {
        self.read.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Searches the Gemini CLI installed at `cli` (a bundle of scripts beside
/// its entry point, or the older `gemini-cli-core` layout) for its client.
fn from_gemini_cli(cli: &Path) -> Result<Client, String> {
    let entry = std::fs::canonicalize(cli).unwrap_or_else(|_| cli.to_owned());
    let dir = entry.parent().unwrap_or(Path::new("."));
    let places = [
        dir.to_owned(),
        dir.join("../node_modules/@google/gemini-cli-core/dist/src/code_assist"),
        dir.join("../lib/node_modules/@google/gemini-cli/bundle"),
        dir.join("../libexec/lib/node_modules/@google/gemini-cli/bundle"),
    ];
    let id = regex::Regex::new(r#"OAUTH_CLIENT_ID\s*=\s*["']([^"']+)["']"#);
    let secret = regex::Regex::new(r#"OAUTH_CLIENT_SECRET\s*=\s*["']([^"']+)["']"#);
    let (Ok(id), Ok(secret)) = (id, secret) else {
        return Err("cannot search the Gemini CLI".into());
    };
    for place in places {
        let Ok(entries) = std::fs::read_dir(&place) else {
            continue;
        };
        for path in entries.filter_map(|e| Some(e.ok()?.path())) {
            let script = path.extension().is_some_and(|e| e == "js");
            let small = path
                .metadata()
                .is_ok_and(|m| m.is_file() && m.len() <= MAX_SCRIPT_BYTES);
            if !script || !small {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if !text.contains("OAUTH_CLIENT_SECRET") {
                continue;
            }
            let found = |re: &regex::Regex| Some(re.captures(&text)?.get(1)?.as_str().to_owned());
            if let (Some(id), Some(secret)) = (found(&id), found(&secret)) {
                return Ok(Client {
                    id,
                    secret: Some(secret),
                });
            }
        }
    }
    Err(format!(
        "the Gemini CLI at {} holds no OAuth client the gateway can read; set GEMINI_OAUTH_CLIENT_ID and GEMINI_OAUTH_CLIENT_SECRET",
        cli.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_client_is_read_from_the_gemini_clis_scripts() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bundle = dir.path().join("bundle");
        std::fs::create_dir(&bundle).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(bundle.join("gemini.js"), "import './chunk-A.js';")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            bundle.join("chunk-A.js"),
            "var OAUTH_CLIENT_ID = \"id-123.apps\";\nvar OAUTH_CLIENT_SECRET = 'sec-456';",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let clients = Clients::default();
        let cli = OAuthClient::GeminiCli(bundle.join("gemini.js"));
        let client = clients.of(&cli).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            client,
            Client {
                id: "id-123.apps".into(),
                secret: Some("sec-456".into())
            }
        );
        std::fs::remove_file(bundle.join("chunk-A.js")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(clients.of(&cli).await, Ok(client), "kept once read");
        let elsewhere = OAuthClient::GeminiCli(dir.path().join("none/gemini"));
        assert!(
            clients
                .of(&elsewhere)
                .await
                .is_err_and(|e| e.contains("GEMINI_OAUTH_CLIENT_ID"))
        );
    }
}
