//! `POST {url}/embeddings` on an OpenAI-compatible upstream: the client's
//! request passed on (with the routed model), under the backend's queue,
//! credentials, retries and deadlines, and the upstream's answer passed
//! back as it is.

use std::sync::Arc;

use bytes::Bytes;

use super::exchange;
use crate::backend::http::HttpTemplate;
use crate::engine::RunContext;
use crate::error::Error;
use crate::routes::Resolved;

/// The largest embeddings answer read (a few thousand vectors).
const MAX_EMBEDDINGS_BYTES: usize = 64 * 1024 * 1024;

/// Sends `body` to the upstream's embeddings endpoint and returns its JSON.
pub(crate) async fn embeddings(
    resolved: &Resolved,
    http: &Arc<HttpTemplate>,
    body: Bytes,
    ctx: &RunContext,
) -> Result<Bytes, Error> {
    let backend = &resolved.backend;
    if !backend.capabilities.embeddings {
        return Err(Error::InvalidRequest(format!(
            "backend `{}` ({}) has no embeddings; route the model to an OpenAI-compatible backend, \
             or name one in its `embeddings_backend`",
            backend.name,
            http.dialect.name()
        )));
    }
    let endpoint = reqwest::Url::parse(&format!("{}/embeddings", http.url))
        .map_err(|e| Error::Internal(format!("the embeddings URL: {e}")))?;
    let answer = exchange(backend, http, endpoint, body, MAX_EMBEDDINGS_BYTES, ctx).await?;
    if serde_json::from_slice::<serde::de::IgnoredAny>(&answer).is_err() {
        let start = &answer[..answer.len().min(200)];
        return Err(Error::Backend {
            backend: backend.name.clone(),
            upstream_status: None,
            message: format!(
                "the upstream's embeddings answer is not JSON: {}",
                String::from_utf8_lossy(start)
            ),
        });
    }
    Ok(Bytes::from(answer))
}
