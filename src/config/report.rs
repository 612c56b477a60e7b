//! What a loaded config says about itself: the files it came from, notes
//! and warnings, the effective values (secrets redacted) and where each
//! came from — for `check`, `routes` and `/debug/config`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::layers::Layers;
use crate::config::raw::RawSettings;
use crate::location::KeyPath;

/// What was loaded and from where, for `check`, `routes` and `/debug/config`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Files, lowest layer first.
    pub files: Vec<String>,
    /// Things worth knowing (backends switched off because their CLI is missing).
    pub notes: Vec<String>,
    /// Things that are probably mistakes (variables set but not used).
    pub warnings: Vec<String>,
    /// Effective `server`, `backends` and `aliases`, secrets redacted.
    pub effective: Value,
    /// For each effective key, where its value came from.
    pub sources: BTreeMap<String, String>,
}

impl Report {
    pub(super) fn new(
        layers: &Layers,
        figment: &figment::Figment,
        raw: &RawSettings,
        notes: Vec<String>,
        warnings: Vec<String>,
        secrets: &[String],
    ) -> Report {
        let mut effective = serde_json::to_value(raw).unwrap_or(Value::Null);
        prune_nulls(&mut effective);
        redact_secrets(&mut effective, None, secrets);
        let mut sources = BTreeMap::new();
        collect_sources(&effective, &mut Vec::new(), layers, figment, &mut sources);
        Report {
            files: layers.files.iter().map(|f| f.source.name.clone()).collect(),
            notes,
            warnings,
            effective,
            sources,
        }
    }
}

impl Report {
    /// Logs the notes (info) and warnings (warn).
    pub fn log(&self) {
        for note in &self.notes {
            tracing::info!("{note}");
        }
        for warning in &self.warnings {
            tracing::warn!("{warning}");
        }
    }
}

fn prune_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(prune_nulls);
    }
}

/// Hides values of secret-looking keys, and known secret values anywhere.
fn redact_secrets(value: &mut Value, key: Option<&str>, secrets: &[String]) {
    match value {
        Value::Object(map) => map
            .iter_mut()
            .for_each(|(k, v)| redact_secrets(v, Some(k), secrets)),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| redact_secrets(v, key, secrets)),
        Value::String(s)
            if key.is_some_and(crate::backend::cli::looks_secret)
                && !s.is_empty()
                && !s.starts_with("env:") =>
        {
            *s = "[redacted]".to_owned();
        }
        Value::String(s) => *s = crate::error::redact(s, secrets),
        _ => {}
    }
}

/// Whether each entry below `path` gets its own source: the sections, and
/// the maps whose entries can each come from a different layer (aliases, a
/// backend's `vars` and `env`).
fn has_sources_per_entry(path: &[String]) -> bool {
    match path {
        [first, ..] if first == "aliases" => true,
        [first, _, map] if first == "backends" => map == "vars" || map == "env",
        _ => path.len() < 3,
    }
}

fn collect_sources(
    value: &Value,
    path: &mut Vec<String>,
    layers: &Layers,
    figment: &figment::Figment,
    out: &mut BTreeMap<String, String>,
) {
    match value {
        Value::Object(map) if has_sources_per_entry(path) => {
            for (k, v) in map {
                path.push(k.clone());
                collect_sources(v, path, layers, figment, out);
                path.pop();
            }
        }
        _ => {
            let key = KeyPath::keys(path.iter().cloned());
            out.insert(key.to_string(), layers.origin(figment, &key).to_string());
        }
    }
}
