//! The Codex CLI's prompt for the ChatGPT backend, which takes a request
//! only with the CLI's own instructions. The gateway vendors no prompt:
//! it reads the operator's file, or captures what the installed Codex
//! sends (see [`capture`]) once per Codex version and model, keeps it in
//! memory and in the cache directory, and lays it over every request.

mod capture;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::backend::http::CodexInstructions;
use crate::dialect::openai_responses::codex::{CodexPrompt, Placement};
use crate::error::Error;

/// The most models whose prompts are kept: each costs one Codex run.
const MAX_MODELS: usize = 64;
/// How long a failed capture is answered from memory before Codex is run
/// again (a missing or broken Codex is not run for every request).
const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(30);

/// A prompt once captured; captured by the first request that needs it.
type Captured = Arc<tokio::sync::OnceCell<Arc<CodexPrompt>>>;

/// Captured prompts, by Codex command (and when it was installed) and
/// model, and recent failures.
#[derive(Debug, Default)]
pub struct CodexPrompts {
    known: Mutex<HashMap<(String, String), Captured>>,
    failed: Arc<Mutex<Failures>>,
}

/// Captures that failed recently, and why.
type Failures = HashMap<(String, String), (std::time::Instant, String)>;

impl CodexPrompts {
    /// The prompt for `model` from `source`: the operator's file, or the
    /// installed Codex's, captured on first use, one capture at a time per
    /// model, in a task of its own (a client that leaves does not cut it
    /// short); a failed capture is tried again 30 s later. Only the
    /// backend's advertised models and its default get a capture of their
    /// own; another model uses the default model's, so clients cannot make
    /// the gateway run Codex for every name they invent.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a model name Codex cannot be asked
    /// for; [`Error::Backend`] saying how to make instructions available
    /// when they cannot be captured.
    pub async fn prompt(
        &self,
        source: &CodexInstructions,
        model: &str,
        backend: &crate::backend::Backend,
    ) -> Result<Arc<CodexPrompt>, Error> {
        let default = backend.default_model.as_deref();
        let known = backend.models.iter().any(|m| m == model) || Some(model) == default;
        let model = if known {
            model
        } else {
            default.unwrap_or(model)
        };
        let backend = backend.name.as_str();
        let (command, cache) = match source {
            CodexInstructions::File { text, .. } => {
                return Ok(Arc::new(CodexPrompt {
                    instructions: text.clone(),
                    placement: Placement::Instructions,
                    headers: vec![("originator".into(), "codex_cli_rs".into())],
                    session_header: "session_id".into(),
                    web_search_tool: None,
                }));
            }
            CodexInstructions::Captured {
                command,
                found,
                cache,
            } => (
                found
                    .as_ref()
                    .map_or(command.as_str(), |p| p.to_str().unwrap_or(command)),
                cache,
            ),
        };
        if model.is_empty()
            || model.len() > 100
            || !model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(Error::InvalidRequest(format!(
                "{model:?} is not a Codex model name (letters, digits, '.', '-', '_')"
            )));
        }
        // The installed CLI's change time is in the key: an upgraded Codex
        // (a new version, new instructions) is captured again.
        let installed = std::fs::metadata(command)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let key = (format!("{command}@{installed}"), model.to_owned());
        let fail = |why: &str| Error::Backend {
            backend: backend.to_owned(),
            upstream_status: None,
            message: format!(
                "the ChatGPT backend needs the Codex CLI's instructions, and they could not be \
                 captured from `{command}`: {why}. Install Codex (`npm install -g @openai/codex`), \
                 set `instructions_from` to its path, or name a file with `instructions_file`"
            ),
        };
        let failures = || {
            self.failed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((at, why)) = failures().get(&key)
            && at.elapsed() < RETRY_AFTER_FAILURE
        {
            return Err(fail(why));
        }
        let cell = {
            let mut known = self
                .known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !known.contains_key(&key) && known.len() >= MAX_MODELS {
                return Err(Error::InvalidRequest(format!(
                    "backend `{backend}` already keeps the Codex instructions of {MAX_MODELS} models; \
                     use one of those, or restart the gateway"
                )));
            }
            Arc::clone(known.entry(key.clone()).or_default())
        };
        if let Some(prompt) = cell.get() {
            return Ok(Arc::clone(prompt));
        }
        let failed = Arc::clone(&self.failed);
        let (command, model, cache) = (command.to_owned(), model.to_owned(), cache.clone());
        let capture = tokio::spawn(async move {
            let captured = cell
                .get_or_try_init(|| async {
                    capture::prompt(&command, &model, cache.as_deref())
                        .await
                        .map(Arc::new)
                })
                .await
                .map(Arc::clone);
            if let Err(why) = &captured {
                let mut failed = failed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                failed.insert(key, (std::time::Instant::now(), why.clone()));
            }
            captured
        });
        match capture.await {
            Ok(captured) => captured.map_err(|why| fail(&why)),
            Err(gone) => Err(fail(&format!("the capture stopped ({gone})"))),
        }
    }
}

/// What `doctor` says of where the instructions come from.
pub(super) fn describe(source: &CodexInstructions) -> (super::super::Health, String) {
    use super::super::Health;
    match source {
        CodexInstructions::File { path, text } => (
            Health::Ok,
            format!(
                "Codex instructions from {} ({} bytes)",
                path.display(),
                text.len()
            ),
        ),
        CodexInstructions::Captured {
            command,
            found: Some(path),
            cache,
        } => {
            let kept = cache.as_ref().map_or_else(
                || "kept in memory".to_owned(),
                |dir| format!("kept in {}", dir.display()),
            );
            (
                Health::Ok,
                format!(
                    "Codex instructions captured from `{command}` ({}) on first use per model ({kept})",
                    path.display()
                ),
            )
        }
        CodexInstructions::Captured { command, .. } => (
            Health::Fail,
            format!(
                "`{command}` is not installed, and the ChatGPT backend needs the Codex CLI's instructions: \
                 install Codex (`npm install -g @openai/codex`), set `instructions_from` to its path, \
                 or name a file with `instructions_file`"
            ),
        ),
    }
}
