//! The figment layers: built-in defaults < presets < `routes.toml` <
//! environment < command-line flags. Each layer is a figment `Provider` that
//! names itself, so the merged configuration can say where every value came
//! from (`check`, `/debug/config`).

use std::collections::BTreeMap;
use std::sync::Arc;

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

use crate::config::raw::RawServer;
use crate::config::source::SourceFile;
use crate::location::{KeyPath, Origin};

/// Metadata name of the environment layer.
pub const ENVIRONMENT: &str = "environment";
/// Metadata name of the command-line layer.
pub const FLAGS: &str = "command line";

/// The `server`, `backends` and `aliases` tables of one file.
#[derive(Debug, Clone)]
pub struct FileLayer {
    /// The file.
    pub source: SourceFile,
    /// Its layered tables.
    pub table: toml::Table,
}

impl FileLayer {
    /// Keeps the keys figment merges (routes and `use` are handled apart).
    pub fn new(source: SourceFile, mut table: toml::Table) -> FileLayer {
        table.retain(|k, _| matches!(k, "server" | "backends" | "aliases"));
        FileLayer { source, table }
    }
}

impl Provider for FileLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.source.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        figment::providers::Serialized::defaults(&self.table).data()
    }
}

/// Values set from the environment or the command line, each remembering
/// the variable or flag it came from.
#[derive(Debug, Clone, Default)]
pub struct KeyedLayer {
    /// [`ENVIRONMENT`] or [`FLAGS`].
    pub name: &'static str,
    values: BTreeMap<String, (Value, String)>,
}

impl KeyedLayer {
    /// An empty layer.
    pub fn new(name: &'static str) -> KeyedLayer {
        KeyedLayer {
            name,
            values: BTreeMap::new(),
        }
    }

    /// Sets `key` (dotted) to `value`, from `source` (a variable or flag name).
    pub fn set(&mut self, key: &str, value: Value, source: &str) {
        self.values
            .insert(key.to_owned(), (value, source.to_owned()));
    }

    #[cfg(test)]
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The variable or flag that set `key` or one of its parents.
    pub fn source_of(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .filter(|(k, _)| key == k.as_str() || key.starts_with(&format!("{k}.")))
            .map(|(_, (_, source))| source.as_str())
            .next_back()
    }
}

impl Provider for KeyedLayer {
    fn metadata(&self) -> Metadata {
        let sources: Arc<BTreeMap<String, String>> = Arc::new(
            self.values
                .iter()
                .map(|(k, (_, s))| (k.clone(), s.clone()))
                .collect(),
        );
        Metadata::named(self.name).interpolater(move |_profile, keys| {
            let key = keys.join(".");
            sources.get(&key).cloned().unwrap_or(key)
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut root = Dict::new();
        for (key, (value, _)) in &self.values {
            insert_dotted(&mut root, key, value.clone());
        }
        let mut map = Map::new();
        map.insert(Profile::Default, root);
        Ok(map)
    }
}

fn insert_dotted(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_dotted(inner, rest, value);
            }
        }
    }
}

/// The built-in server defaults, as the bottom layer.
pub fn defaults_layer() -> figment::providers::Serialized<RawServerDefaults> {
    figment::providers::Serialized::defaults(RawServerDefaults {
        server: default_server(),
    })
}

/// Wrapper so the defaults land under `server`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RawServerDefaults {
    server: RawServer,
}

/// Every `[server]` default in one place (documented in routes.example.toml).
pub fn default_server() -> RawServer {
    RawServer {
        host: Some("127.0.0.1".into()),
        port: Some(8000),
        token: None,
        provider: Some("auto".into()),
        allow_client_model_override: Some(false),
        allow_client_provider_override: Some(false),
        advertised_models: Some(Vec::new()),
        max_body_bytes: Some(32 * 1024 * 1024),
        max_prompt_chars: Some(1_000_000),
        sse_keepalive_seconds: Some(2),
        timeout_seconds: Some(600),
        max_concurrency: Some(8),
        queue_size: Some(64),
        queue_timeout_seconds: Some(120),
        workspace: None,
        max_line_bytes: Some(16 * 1024 * 1024),
        images: Some(true),
        max_images: Some(8),
        max_image_bytes: Some(8 * 1024 * 1024),
        force_effort: None,
        log_mode: Some("summary".into()),
        log_curl: Some(false),
        log_max_chars: Some(4000),
        log_events: Some(false),
        cors_origins: Some(Vec::new()),
        allowed_hosts: Some(Vec::new()),
        max_connections: Some(1024),
        header_timeout_seconds: Some(30),
        body_timeout_seconds: Some(60),
        max_answer_bytes: Some(64 * 1024 * 1024),
        strip_answer_tags: Some(false),
    }
}

/// The layers in merge order, for provenance lookups.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    /// Preset files, then `routes.toml`.
    pub files: Vec<FileLayer>,
    /// Environment layer.
    pub env: KeyedLayer,
    /// Command-line layer.
    pub flags: KeyedLayer,
}

impl Layers {
    /// Merges every layer with figment.
    pub fn figment(&self) -> figment::Figment {
        let mut figment = figment::Figment::from(defaults_layer());
        for file in &self.files {
            figment = figment.merge(file.clone());
        }
        figment.merge(self.env.clone()).merge(self.flags.clone())
    }

    /// Where the merged value at `key` came from: the layer that set it,
    /// or, for a missing key, the layer that set its nearest parent.
    pub fn origin(&self, figment: &figment::Figment, key: &KeyPath) -> Origin {
        let dotted = key.dotted_keys();
        let mut probe = dotted.as_str();
        let metadata = loop {
            if let Some(found) = figment.find_metadata(probe) {
                break Some(found);
            }
            match probe.rsplit_once('.') {
                Some((parent, _)) => probe = parent,
                None => break None,
            }
        };
        let Some(metadata) = metadata else {
            return Origin::Default;
        };
        match metadata.name.as_ref() {
            ENVIRONMENT => Origin::Env(self.env.source_of(&dotted).unwrap_or(&dotted).to_owned()),
            FLAGS => Origin::Flag(self.flags.source_of(&dotted).unwrap_or(&dotted).to_owned()),
            name => self
                .files
                .iter()
                .rev()
                .find(|f| f.source.name == name)
                .map_or(Origin::Default, |f| f.source.origin_of(key)),
        }
    }
}
