//! The serde mirror of `routes.toml` and preset files. Every field is
//! optional so that a file can override just one value of a lower layer;
//! unknown keys are rejected. No logic lives here: `config::build` validates
//! and compiles these into runtime types.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::backend::spec::{RawArg, RawRule};

/// One configuration file: `routes.toml` or a preset.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Presets to load below this file, in order.
    #[serde(rename = "use")]
    pub use_presets: Option<Vec<String>>,
    /// What a preset is for (shown by `check`).
    pub description: Option<String>,
    /// Process and request-handling settings.
    pub server: Option<RawServer>,
    /// Backend templates by name.
    #[serde(default)]
    pub backends: BTreeMap<String, RawBackend>,
    /// Model aliases, applied once before routing.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Routing rules.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

/// The layered part of the configuration (what figment merges).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RawSettings {
    /// Merged `[server]`.
    #[serde(default)]
    pub server: RawServer,
    /// Merged `[backends.*]`.
    #[serde(default)]
    pub backends: BTreeMap<String, RawBackend>,
    /// Merged `[aliases]`.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
}

/// `[server]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // every key is documented in routes.example.toml
pub struct RawServer {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub token: Option<String>,
    pub provider: Option<String>,
    pub allow_client_model_override: Option<bool>,
    pub allow_client_provider_override: Option<bool>,
    pub advertised_models: Option<Vec<String>>,
    pub max_body_bytes: Option<u64>,
    pub max_prompt_chars: Option<u64>,
    pub sse_keepalive_seconds: Option<u64>,
    pub timeout_seconds: Option<u64>,
    pub max_concurrency: Option<u64>,
    pub queue_size: Option<u64>,
    pub queue_timeout_seconds: Option<u64>,
    pub workspace: Option<String>,
    pub max_line_bytes: Option<u64>,
    pub images: Option<bool>,
    pub max_images: Option<u64>,
    pub max_image_bytes: Option<u64>,
    pub force_effort: Option<String>,
    pub log_mode: Option<String>,
    pub log_curl: Option<bool>,
    pub log_max_chars: Option<u64>,
    pub log_events: Option<bool>,
    pub cors_origins: Option<Vec<String>>,
    pub allowed_hosts: Option<Vec<String>>,
    pub max_connections: Option<u64>,
    pub header_timeout_seconds: Option<u64>,
    pub body_timeout_seconds: Option<u64>,
    pub max_answer_bytes: Option<u64>,
    pub strip_answer_tags: Option<bool>,
}

/// `[backends.NAME]`: a backend template.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // every key is documented in routes.example.toml
pub struct RawBackend {
    pub kind: Option<String>,
    pub description: Option<String>,
    // `cli` backends
    pub command: Option<String>,
    pub args: Option<Vec<RawArg>>,
    pub extra_args: Option<Vec<String>>,
    pub prompt: Option<String>,
    pub default_model: Option<String>,
    pub default_effort: Option<String>,
    pub models: Option<Vec<String>>,
    pub vars: Option<BTreeMap<String, RawVar>>,
    pub env: Option<BTreeMap<String, String>>,
    pub env_remove: Option<Vec<String>>,
    pub workspace: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub max_concurrency: Option<u64>,
    pub queue_size: Option<u64>,
    pub queue_timeout_seconds: Option<u64>,
    pub embeddings_backend: Option<String>,
    pub max_line_bytes: Option<u64>,
    pub exit_status: Option<BTreeMap<String, u16>>,
    pub output: Option<Vec<RawRule>>,
    pub doctor: Option<RawDoctor>,
    // `http` backends
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub dialect: Option<String>,
    pub auth: Option<RawAuth>,
    pub headers: Option<BTreeMap<String, String>>,
    pub connect_timeout_seconds: Option<u64>,
    pub first_byte_timeout_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
    pub retries: Option<u64>,
    pub max_retry_wait_seconds: Option<u64>,
    pub instructions_from: Option<String>,
    pub instructions_file: Option<String>,
    pub project: Option<String>,
    pub project_env: Option<String>,
    pub web_search: Option<bool>,
    pub image_generation: Option<bool>,
    // `session` backends (and `command`, `args`, `vars`, `env`… as `cli`)
    pub protocol: Option<String>,
    pub auth_method: Option<String>,
    pub approvals: Option<String>,
    pub min_warm: Option<u64>,
    pub idle_ttl_seconds: Option<u64>,
    pub max_turns: Option<u64>,
    pub max_age_seconds: Option<u64>,
    pub session_ttl_seconds: Option<u64>,
    pub max_sessions: Option<u64>,
}

/// A template variable's default: text, or a list for `each` groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RawVar {
    /// Replaces `{name}`.
    Text(String),
    /// Repeated over by `{ each = "name", args = [...] }`.
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for RawVar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VarVisitor;
        impl<'de> serde::de::Visitor<'de> for VarVisitor {
            type Value = RawVar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawVar, E> {
                Ok(RawVar::Text(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<RawVar, A::Error> {
                Vec::<String>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(RawVar::List)
            }
        }
        deserializer.deserialize_any(VarVisitor)
    }
}

/// `[backends.NAME.doctor]`: what `doctor` checks.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawDoctor {
    pub version_args: Option<Vec<String>>,
    pub credentials: Option<Vec<String>>,
    pub login_hint: Option<String>,
}

/// `auth` of an `http` backend.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawAuth {
    pub env: Option<String>,
    pub file: Option<String>,
    pub pointer: Option<String>,
    pub header: Option<String>,
    pub scheme: Option<String>,
    pub oauth: Option<String>,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub settings: Option<String>,
}

/// `[[routes]]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // every key is documented in routes.example.toml
pub struct RawRoute {
    pub model: Option<String>,
    pub prefix: Option<String>,
    pub pattern: Option<String>,
    pub default: Option<bool>,
    pub backend: Option<String>,
    pub rewrite: Option<String>,
    pub vars: Option<BTreeMap<String, String>>,
    pub description: Option<String>,
    pub fallbacks: Option<Vec<String>>,
}
