//! Compiles a `session` backend's table (`kind = "session"`): the process
//! keys as for a `cli` backend, then the protocol, how permission requests
//! are answered, and the pool's limits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::session::{Approvals, PoolSettings, Protocol, SessionTemplate};
use crate::backend::{Backend, Capabilities, Kind};
use crate::config::raw::RawBackend;
use crate::location::{FieldError, KeyPath};

use super::cli::{BackendDefaults, process};
use super::common::{self, KindParts};
use super::to_usize;

/// Placeholders a warm process cannot take: it serves many requests.
const PER_REQUEST: &[&str] = &["request_id", "session"];

/// Compiles a `session` backend.
pub fn compile(
    name: &str,
    raw: &RawBackend,
    defaults: &BackendDefaults,
    env: &BTreeMap<String, String>,
    gateway_secrets: &[String],
) -> Result<Backend, FieldError> {
    let here = KeyPath::default();
    let (template, secrets) = process("session", raw, defaults, env, gateway_secrets)?;
    if let Some(placeholder) = PER_REQUEST.iter().find(|p| template.argv.uses(p)) {
        return Err(FieldError::new(
            here.key("args"),
            format!(
                "`{{{placeholder}}}` differs per request, but a session backend's process serves many; \
                 remove it"
            ),
        ));
    }
    if template.argv.takes_images() {
        return Err(FieldError::new(
            here.key("args"),
            "a session backend's images go with each turn, not on its command line: remove the `images` group",
        ));
    }
    let protocol = raw.protocol.as_deref().unwrap_or_default();
    let protocol = Protocol::parse(protocol).ok_or_else(|| {
        let known: Vec<&str> = Protocol::ALL.iter().map(|p| p.name()).collect();
        FieldError::new(
            here.key("protocol"),
            format!(
                "a session backend needs `protocol`, one of \"{}\"",
                known.join("\", \"")
            ),
        )
    })?;
    let approvals = match raw.approvals.as_deref().unwrap_or("deny") {
        "deny" => Approvals::Deny,
        "allow" => Approvals::Allow,
        other => {
            return Err(FieldError::new(
                here.key("approvals"),
                format!("unknown approvals `{other}`: use \"deny\" or \"allow\""),
            ));
        }
    };
    let seconds = |value: Option<u64>, default: u64, key: &str| match value {
        Some(0) => Err(FieldError::new(here.key(key), "must be at least 1")),
        value => Ok(Duration::from_secs(value.unwrap_or(default))),
    };
    let pool = PoolSettings {
        min_warm: raw.min_warm.map_or(0, to_usize),
        idle_ttl: seconds(raw.idle_ttl_seconds, 600, "idle_ttl_seconds")?,
        max_turns: raw
            .max_turns
            .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX))
            .max(1),
        max_age: seconds(raw.max_age_seconds, 4 * 3600, "max_age_seconds")?,
        session_ttl: seconds(raw.session_ttl_seconds, 3600, "session_ttl_seconds")?,
        max_sessions: raw.max_sessions.map_or(256, to_usize).max(1),
    };
    let backend_max = raw
        .max_concurrency
        .map_or(defaults.max_concurrency, to_usize);
    if pool.min_warm > backend_max {
        return Err(FieldError::new(
            here.key("min_warm"),
            format!(
                "{} warm processes, but at most {backend_max} may run (max_concurrency)",
                pool.min_warm
            ),
        ));
    }
    let argv = &template.argv;
    let capabilities = Capabilities {
        // Codex takes instructions per thread; Claude on its command line.
        system: match protocol {
            Protocol::CodexAppServer => true,
            Protocol::ClaudeStreamJson => argv.uses("system"),
            Protocol::Acp => false,
        },
        sessions: true,
        effort: protocol == Protocol::CodexAppServer || argv.uses("effort"),
        images: true,
        ..Capabilities::default()
    };
    let template = SessionTemplate {
        process: template,
        protocol,
        auth_method: raw.auth_method.clone().filter(|m| !m.is_empty()),
        approvals,
        pool,
    };
    common::backend(
        name,
        raw,
        defaults,
        KindParts {
            secrets,
            capabilities,
            kind: Kind::Session(Arc::new(template)),
        },
    )
}
