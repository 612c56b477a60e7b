//! The Google Cloud project Code Assist requests name: the config's (or
//! its variable's), else the one the login's file names, else the one
//! `loadCodeAssist` names for the login, asked once per login and
//! remembered for the gateway's life (a failure, for 30 s).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::backend::http::CodeAssist;
use crate::dialect::gemini::code_assist::{load_request, project_of};
use crate::engine::RunContext;
use crate::error::Error;

use super::Upstream;

/// How long a failed discovery is answered from memory before
/// `loadCodeAssist` is asked again.
const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(30);

/// Projects found, by login file and endpoint, and recent failures.
#[derive(Debug, Default)]
pub struct CodeAssistProjects {
    known: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<String>>>>,
    failed: Mutex<HashMap<String, (std::time::Instant, String)>>,
}

impl CodeAssistProjects {
    /// The project for `upstream`'s requests (its credential set).
    pub(super) async fn project(
        &self,
        code_assist: &CodeAssist,
        upstream: &Upstream<'_>,
        ctx: &RunContext,
    ) -> Result<String, Error> {
        if let Some(project) = &code_assist.project {
            return Ok(project.clone());
        }
        let login = upstream.http.login();
        let key = format!(
            "{}|{}",
            login
                .map(|l| l.file.display().to_string())
                .unwrap_or_default(),
            upstream.endpoint
        );
        let failures = || self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, why)) = failures().get(&key)
            && at.elapsed() < RETRY_AFTER_FAILURE
        {
            return Err(Error::Backend {
                backend: upstream.backend.name.clone(),
                upstream_status: None,
                message: why.clone(),
            });
        }
        let cell = {
            let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(known.entry(key.clone()).or_default())
        };
        let project = cell
            .get_or_try_init(|| async {
                if let Some(project) = login.and_then(super::login::project_in) {
                    return Ok(project);
                }
                discover(upstream, ctx).await
            })
            .await;
        match project {
            Ok(project) => Ok(project.clone()),
            Err(error) => {
                if let Error::Backend { message, .. } = &error {
                    failures().insert(key, (std::time::Instant::now(), message.clone()));
                }
                Err(error)
            }
        }
    }
}

/// Asks `loadCodeAssist` which project the login works in.
async fn discover(upstream: &Upstream<'_>, ctx: &RunContext) -> Result<String, Error> {
    let backend = &upstream.backend.name;
    let fail = |why: String| Error::Backend {
        backend: backend.clone(),
        upstream_status: None,
        message: format!(
            "no Code Assist project: {why}; set GEMINI_PROJECT_ID (or `project` in the backend), \
             or run `gemini` once to set one up"
        ),
    };
    // The backend's endpoint is Code Assist's base (`…/v1internal`).
    let mut url = upstream.http.endpoint.clone();
    url.set_path(&format!("{}:loadCodeAssist", url.path()));
    let body = serde_json::to_vec(&load_request()).unwrap_or_default();
    let sent = upstream
        .request_to(url.clone(), "application/json", body.into())
        .timeout(upstream.http.timeouts.first_byte)
        .send();
    let response = tokio::select! {
        sent = sent => sent.map_err(|e| fail(format!("{url}: {e}")))?,
        () = ctx.shutdown.cancelled() => return Err(Error::ShuttingDown),
    };
    let status = response.status();
    let answer = super::read_capped(response, super::MAX_ERROR_BODY).await;
    if !status.is_success() {
        let message = crate::dialect::upstream::error_message(&answer);
        return Err(fail(format!(
            "loadCodeAssist answered HTTP {} ({message})",
            status.as_u16()
        )));
    }
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
    let project = project_of(&answer).ok_or_else(|| fail("loadCodeAssist named none".into()))?;
    tracing::info!(backend = %backend, "Code Assist project: {project} (from loadCodeAssist)");
    Ok(project)
}
