//! The gateway's HTTP clients for upstream backends: one pooled client per
//! connect deadline (backends rarely differ, so usually one), reused across
//! requests and reloads, with keep-alive and `TCP_NODELAY` (without it a
//! stream of small chunks waits on Nagle and delayed ACKs).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::Error;

/// Pooled clients by connect deadline, the subscription logins in use,
/// the Codex prompts captured and the Code Assist projects found.
#[derive(Debug, Default)]
pub struct HttpClients {
    clients: Mutex<HashMap<Duration, reqwest::Client>>,
    /// Logins' tokens, refreshed one at a time per file.
    pub logins: super::Logins,
    /// The Codex CLI's prompts, for the ChatGPT backend.
    pub codex: super::CodexPrompts,
    /// The projects of Code Assist logins.
    pub code_assist: super::CodeAssistProjects,
}

impl HttpClients {
    /// The client whose connections open within `connect`.
    ///
    /// # Errors
    /// [`Error::Internal`] when no client can be built (no TLS roots).
    pub fn client(&self, connect: Duration) -> Result<reqwest::Client, Error> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(&connect) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .connect_timeout(connect)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            // An API answers; it does not redirect. Following one would send
            // the request (and its body) elsewhere, and costs a URL parse per
            // request even when none comes.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("agent-cli-to-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
        clients.insert(connect, client.clone());
        Ok(client)
    }
}
