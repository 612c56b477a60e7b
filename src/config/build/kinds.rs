//! Which keys of `[backends.NAME]` belong to which backend kind. Files are
//! merged key by key (a file may change one value of a preset's backend),
//! so the kind is known only once the layers are merged; then every file's
//! keys are checked against it, and a key of another kind is an error at
//! its place, like an unknown key.

use crate::config::error::ConfigError;
use crate::config::layers::Layers;
use crate::location::KeyPath;

/// Keys every kind has.
const COMMON: &[&str] = &[
    "kind",
    "description",
    "default_model",
    "default_effort",
    "models",
    "timeout_seconds",
    "max_concurrency",
    "queue_size",
    "queue_timeout_seconds",
    "embeddings_backend",
];

/// Keys of the kinds that start a process (`cli` and `session`).
const PROCESS: &[&str] = &[
    "command",
    "args",
    "extra_args",
    "vars",
    "env",
    "env_remove",
    "workspace",
    "max_line_bytes",
    "doctor",
];

/// Keys by kind, in groups.
const KINDS: &[(&str, &[&[&str]])] = &[
    ("cli", &[PROCESS, &["prompt", "exit_status", "output"]]),
    (
        "http",
        &[&[
            "url",
            "url_env",
            "dialect",
            "auth",
            "headers",
            "connect_timeout_seconds",
            "first_byte_timeout_seconds",
            "idle_timeout_seconds",
            "retries",
            "max_retry_wait_seconds",
            "instructions_from",
            "instructions_file",
            "project",
            "project_env",
            "web_search",
            "image_generation",
        ]],
    ),
    (
        "session",
        &[
            PROCESS,
            &[
                "protocol",
                "auth_method",
                "approvals",
                "min_warm",
                "idle_ttl_seconds",
                "max_turns",
                "max_age_seconds",
                "session_ttl_seconds",
                "max_sessions",
            ],
        ],
    ),
];

/// Whether `key` is one of `groups`.
fn has(groups: &[&[&str]], key: &str) -> bool {
    groups.iter().any(|keys| keys.contains(&key))
}

/// Checks that each file's table for backend `name` (of kind `kind`) only
/// uses keys of that kind.
pub(super) fn check(layers: &Layers, name: &str, kind: &str) -> Result<(), ConfigError> {
    let Some((_, own)) = KINDS.iter().find(|(k, _)| *k == kind) else {
        return Ok(()); // an unknown kind is reported by the caller
    };
    for file in &layers.files {
        let table = file
            .table
            .get("backends")
            .and_then(|b| b.get(name))
            .and_then(toml::Value::as_table);
        for key in table.into_iter().flat_map(|t| t.keys()) {
            if COMMON.contains(&key.as_str()) || has(own, key) {
                continue;
            }
            let owners: Vec<String> = KINDS
                .iter()
                .filter(|(_, groups)| has(groups, key))
                .map(|(other, _)| format!("`{other}`"))
                .collect();
            let belongs = if owners.is_empty() {
                String::new()
            } else {
                format!(" (it belongs to {} backends)", owners.join(" and "))
            };
            return Err(file.source.error(
                &KeyPath::keys(["backends", name, key.as_str()]),
                format!("`{key}` is not a key of `{kind}` backends{belongs}"),
            ));
        }
    }
    Ok(())
}
