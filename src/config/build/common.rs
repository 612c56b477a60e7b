//! What every backend kind's table shares (`description`, `default_model`,
//! `default_effort`, `models`, `timeout_seconds`, the concurrency limit and
//! queue, `embeddings_backend`), compiled once for all kinds: each kind's compiler gives only its
//! own part.

use std::time::Duration;

use crate::backend::{Backend, Capabilities, Kind, Limits};
use crate::config::raw::RawBackend;
use crate::location::{FieldError, KeyPath};
use crate::turn::Effort;

use super::cli::BackendDefaults;
use super::to_usize;

/// What a kind's compiler made of its own keys.
pub(super) struct KindParts {
    /// Values to redact.
    pub(super) secrets: Vec<String>,
    /// What it can honour.
    pub(super) capabilities: Capabilities,
    /// The kind-specific template.
    pub(super) kind: Kind,
}

/// The backend: the shared keys of `raw`, with the kind's `parts`.
pub(super) fn backend(
    name: &str,
    raw: &RawBackend,
    defaults: &BackendDefaults,
    parts: KindParts,
) -> Result<Backend, FieldError> {
    Ok(Backend {
        name: name.to_owned(),
        description: raw.description.clone(),
        default_model: raw.default_model.clone().filter(|m| !m.is_empty()),
        default_effort: default_effort(raw)?,
        models: raw.models.clone().unwrap_or_default(),
        timeout: Duration::from_secs(
            raw.timeout_seconds
                .unwrap_or(defaults.timeout.as_secs())
                .max(1),
        ),
        limits: limits(raw, defaults)?,
        secrets: parts.secrets,
        embeddings_via: raw.embeddings_backend.clone().filter(|b| !b.is_empty()),
        capabilities: parts.capabilities,
        kind: parts.kind,
    })
}

fn default_effort(raw: &RawBackend) -> Result<Option<Effort>, FieldError> {
    raw.default_effort
        .as_deref()
        .filter(|e| !e.is_empty())
        .map(|e| {
            Effort::parse_setting(e)
                .map_err(|m| FieldError::new(KeyPath::keys(["default_effort"]), m))
        })
        .transpose()
}

/// The backend's concurrency limit and queue.
fn limits(raw: &RawBackend, defaults: &BackendDefaults) -> Result<Limits, FieldError> {
    Ok(Limits {
        max: positive(
            raw.max_concurrency,
            defaults.max_concurrency,
            &KeyPath::keys(["max_concurrency"]),
        )?,
        queue_size: raw.queue_size.map_or(defaults.queue_size, to_usize),
        queue_timeout: raw
            .queue_timeout_seconds
            .map_or(defaults.queue_timeout, Duration::from_secs),
    })
}

fn positive(value: Option<u64>, default: usize, at: &KeyPath) -> Result<usize, FieldError> {
    match value {
        Some(0) => Err(FieldError::new(at.clone(), "must be at least 1")),
        Some(n) => Ok(to_usize(n)),
        None => Ok(default.max(1)),
    }
}
