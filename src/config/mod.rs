//! Configuration: where it comes from, how the layers merge, and the
//! validated snapshot the gateway serves from.
//!
//! `load` reads `routes.toml` (optional), the presets it uses (built-in or
//! from a `presets/` directory), the environment and the command-line flags,
//! and builds an immutable [`Config`]. `watch` reloads it on change. Nothing
//! here runs on the request path.

pub mod build;
pub mod env;
pub mod error;
pub mod layers;
pub mod raw;
pub mod report;
pub mod settings;
pub mod source;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::config::build::{BuildInput, LayeredRoute, normalize_provider};
use crate::config::error::ConfigError;
use crate::config::layers::{FLAGS, FileLayer, KeyedLayer, Layers};
use crate::config::raw::RawFile;
use crate::config::settings::Settings;
use crate::config::source::{PresetLibrary, SourceFile};

pub use self::report::Report;
use crate::backend::http::LoginProvider;
use crate::location::{KeyPath, Origin};
use crate::routes::Routes;

/// The presets loaded when nothing names any: one per CLI, each kept only
/// if its CLI is installed. Gemini CLI runs warm (see [`cli_preset`]).
pub const DEFAULT_PRESETS: &[&str] = &["codex", "claude", "gemini-warm", "cursor-agent"];

/// The preset that runs a provider's CLI by default. Gemini CLI's is the
/// warm one: a one-shot run costs it 1.3-2 s of start-up (warm turns take
/// ~15 ms, `docs/benchmarks.md`) and cannot continue a conversation, while
/// its ACP sessions can. Claude Code and Codex stay one-shot by default
/// (0.2-0.5 s): each request gets a fresh private workspace and a process
/// that leaves nothing running; `*-warm` presets make them warm.
fn cli_preset(provider: &str) -> String {
    match provider {
        "gemini" => "gemini-warm".to_owned(),
        other => other.to_owned(),
    }
}

/// A validated configuration snapshot. Requests hold one for their lifetime,
/// so a reload never changes a running request.
#[derive(Debug)]
pub struct Config {
    /// Gateway settings.
    pub settings: Settings,
    /// Backends and routes.
    pub routes: Routes,
    /// Where everything came from.
    pub report: Report,
    /// Every secret value known to this config (the gateway token, the
    /// backends' keys), for redacting logs.
    pub secrets: std::sync::Arc<[String]>,
}

/// Command-line values that override everything else.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `PROVIDER` positional argument.
    pub provider: Option<String>,
    /// `--preset`.
    pub preset: Option<String>,
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--log-curl`.
    pub log_curl: bool,
}

/// Everything `load` reads besides files.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config`: must exist when given. Otherwise `./routes.toml` if present.
    pub config: Option<PathBuf>,
    /// `--presets`: overrides `<config dir>/presets`.
    pub presets_dir: Option<PathBuf>,
    /// Command-line values.
    pub flags: Flags,
    /// The process environment.
    pub env: BTreeMap<String, String>,
}

impl LoadOptions {
    /// Options that read `text`, saved as `dir/routes.toml`, with `env` as
    /// the whole environment (unit tests).
    #[cfg(test)]
    pub(crate) fn for_text(dir: &Path, text: &str, env: &[(&str, String)]) -> LoadOptions {
        let path = dir.join("routes.toml");
        #[allow(clippy::unwrap_used)]
        std::fs::write(&path, text).unwrap();
        LoadOptions {
            config: Some(path),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            ..LoadOptions::default()
        }
    }

    /// The routes file that will be read, if any.
    pub fn config_path(&self) -> Option<PathBuf> {
        match &self.config {
            Some(path) => Some(path.clone()),
            None => Some(PathBuf::from("routes.toml")).filter(|p| p.is_file()),
        }
    }

    fn presets(&self, config: Option<&Path>) -> PresetLibrary {
        let beside = config
            .and_then(Path::parent)
            .map(|dir| {
                if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                }
            })
            .map(|dir| dir.join("presets"))
            .filter(|dir| dir.is_dir());
        PresetLibrary {
            dir: self.presets_dir.clone().or(beside),
        }
    }
}

/// Loads and validates the whole configuration.
///
/// # Errors
/// The first problem found, located in its file.
pub fn load(options: &LoadOptions) -> Result<Config, ConfigError> {
    let path = options.config_path();
    let file = path.as_deref().map(SourceFile::read).transpose()?;
    let parsed = file.as_ref().map(SourceFile::parse).transpose()?;
    let library = options.presets(path.as_deref());
    let explicit = match (&options.flags.preset, options.env.get("CODEX_PRESET")) {
        (Some(preset), _) => Some((preset.clone(), Origin::Flag("--preset".into()))),
        (None, Some(preset)) if !preset.trim().is_empty() => {
            Some((preset.trim().to_owned(), Origin::Env("CODEX_PRESET".into())))
        }
        _ => None,
    };
    let provider_hint = options
        .flags
        .provider
        .clone()
        .or_else(|| options.env.get("CODEX_PROVIDER").cloned())
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|(raw, _)| raw.server.as_ref()?.provider.clone())
        })
        .map(|p| normalize_provider(&p))
        .filter(|p| p != "auto");

    // Which presets, and who asked for them.
    let mut wanted: Vec<(String, AskedBy)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut direct_api_asked: Vec<&str> = Vec::new();
    let mut auto_detect = false;
    let file_use = parsed.as_ref().and_then(|(raw, _)| raw.use_presets.clone());
    match file.as_ref().zip(file_use) {
        Some((source, list)) => {
            wanted.extend(list.into_iter().enumerate().map(|(i, name)| {
                let key = KeyPath::keys(["use"]).index(i);
                (name, AskedBy::File(source.clone(), key))
            }));
        }
        None if explicit.is_some() => {}
        None => match &provider_hint {
            // The original's implicit preset for a fixed provider; a provider
            // that is no preset names a backend the file defines itself.
            Some(provider) => {
                let (preset, why, asked) = implicit_preset(provider, &options.env)?;
                if library.has(&preset) {
                    notes.extend(why);
                    direct_api_asked.extend(asked);
                    wanted.push((preset, AskedBy::Provider));
                }
            }
            None => {
                auto_detect = true;
                wanted.extend(
                    DEFAULT_PRESETS
                        .iter()
                        .map(|p| ((*p).to_owned(), AskedBy::Provider)),
                );
            }
        },
    }
    if let Some((preset, origin)) = explicit {
        wanted.push((preset, AskedBy::Origin(origin)));
    }

    let mut files: Vec<(SourceFile, RawFile, toml::Table)> = Vec::new();
    let mut loading = Vec::new();
    for (name, asked_by) in &wanted {
        load_preset(&library, name, asked_by, &mut files, &mut loading)?;
    }
    let optional_backends: BTreeSet<String> = if auto_detect {
        files
            .iter()
            .flat_map(|(_, raw, _)| raw.backends.keys().cloned())
            .collect()
    } else {
        BTreeSet::new()
    };
    if let (Some(source), Some((raw, table))) = (file, parsed) {
        files.push((source, raw, table));
    }

    let mut routes = Vec::new();
    let mut layer_files = Vec::new();
    for (layer, (source, raw, table)) in files.into_iter().enumerate() {
        routes.extend(
            raw.routes
                .into_iter()
                .enumerate()
                .map(|(index, raw)| LayeredRoute { layer, index, raw }),
        );
        layer_files.push(FileLayer::new(source, table));
    }
    // Each backend's kind: the last layer that says it (`cli` by default).
    let mut backend_kinds: BTreeMap<String, String> = BTreeMap::new();
    let tables = layer_files
        .iter()
        .filter_map(|f| f.table.get("backends")?.as_table());
    // And the variables they read themselves.
    let mut read_by_backends: BTreeSet<String> = BTreeSet::new();
    for (name, table) in tables.flat_map(|t| t.iter()) {
        let kind = table.get("kind").and_then(toml::Value::as_str);
        let known = backend_kinds
            .entry(name.clone())
            .or_insert_with(|| "cli".into());
        if let Some(kind) = kind {
            kind.clone_into(known);
        }
        let text =
            |value: Option<&toml::Value>| value.and_then(toml::Value::as_str).map(str::to_owned);
        let auth = table.get("auth");
        read_by_backends.extend(text(table.get("url_env")));
        read_by_backends.extend(text(auth.and_then(|a| a.get("env"))));
        read_by_backends.extend(text(table.get("project_env")));
        let login = text(auth.and_then(|a| a.get("oauth")));
        read_by_backends.extend(
            login
                .as_deref()
                .and_then(LoginProvider::named)
                .map(LoginProvider::env_vars)
                .unwrap_or_default()
                .iter()
                .map(|v| (*v).to_owned()),
        );
    }
    let env = env::read(&options.env, &backend_kinds, &read_by_backends)?;
    let mut warnings = env.not_used;
    for var in USE_DIRECT_API.iter().map(|(var, ..)| *var) {
        if options.env.contains_key(var) && !direct_api_asked.contains(&var) {
            warnings.push(format!(
                "{var} is set but not used: it picks the preset of a fixed provider \
                 (`agent-cli-to-api codex`, …) when no config file says `use`"
            ));
        }
    }
    let layers = Layers {
        files: layer_files,
        env: env.layer,
        flags: flags_layer(&options.flags),
    };
    build::build(BuildInput {
        layers,
        routes,
        optional_backends,
        env: &options.env,
        warnings,
        notes,
    })
}

/// The variables that make a fixed provider use its direct-API preset.
const USE_DIRECT_API: &[(&str, &str, &str)] = &[
    ("CODEX_USE_CODEX_RESPONSES_API", "codex", "codex-fast"),
    ("CLAUDE_USE_OAUTH_API", "claude", "claude-oauth"),
    ("GEMINI_USE_CLOUDCODE_API", "gemini", "gemini-cloudcode"),
];

/// The preset a fixed provider implies, as in the original: its direct-API
/// preset when its variable says so (Codex's also when a ChatGPT login is
/// there and the variable is unset), else its CLI's. Returns the preset,
/// why (for the start-up log) and the variable that decided.
fn implicit_preset(
    provider: &str,
    env: &BTreeMap<String, String>,
) -> Result<(String, Option<String>, Option<&'static str>), ConfigError> {
    if provider == "cursor-agent" {
        return Ok(("cursor-auto".into(), None, None));
    }
    let Some((var, _, direct)) = USE_DIRECT_API.iter().find(|(_, p, _)| *p == provider) else {
        return Ok((cli_preset(provider), None, None));
    };
    let asked = match env.get(*var).filter(|v| !v.trim().is_empty()) {
        None => None,
        Some(raw) => Some(env::parse_bool(raw).ok_or_else(|| ConfigError {
            origin: Origin::Env((*var).to_owned()),
            key: KeyPath::default(),
            message: format!("{raw:?} is not a boolean: use 1/0, true/false, yes/no or on/off"),
        })?),
    };
    Ok(match asked {
        Some(true) => (
            (*direct).to_owned(),
            Some(format!(
                "{var} is on: {provider} answers through the `{direct}` preset"
            )),
            Some(*var),
        ),
        Some(false) => (
            cli_preset(provider),
            Some(format!("{var} is off: {provider} runs as its CLI")),
            Some(*var),
        ),
        None if provider == "codex" => {
            let file = build::http::codex_auth_file(env);
            let path = crate::backend::cli::expand_home(&file, env);
            if chatgpt_login_in(Path::new(&path)) {
                let why = format!(
                    "a ChatGPT login is in {path}: codex answers through the ChatGPT backend (the \
                     `codex-fast` preset, no CLI per request); CODEX_USE_CODEX_RESPONSES_API=0 runs `codex exec`"
                );
                ("codex-fast".into(), Some(why), None)
            } else {
                let why = format!(
                    "no ChatGPT login in {path}: codex runs as `codex exec` (`codex login` makes one)"
                );
                ("codex".into(), Some(why), None)
            }
        }
        None => (cli_preset(provider), None, None),
    })
}

/// Whether `path` holds a ChatGPT login (tokens, not only an API key).
fn chatgpt_login_in(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    ["/tokens/access_token", "/tokens/refresh_token"]
        .iter()
        .any(|p| {
            json.pointer(p)
                .and_then(|v| v.as_str())
                .is_some_and(|t| !t.is_empty())
        })
}

/// Who asked for a preset, so that an error points there.
#[derive(Debug, Clone)]
enum AskedBy {
    /// A `use` entry in a file.
    File(SourceFile, KeyPath),
    /// A flag or an environment variable.
    Origin(Origin),
    /// The defaults (no file, or a fixed provider's implicit preset).
    Provider,
}

fn load_preset(
    library: &PresetLibrary,
    name: &str,
    asked_by: &AskedBy,
    files: &mut Vec<(SourceFile, RawFile, toml::Table)>,
    loading: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let locate = |message: String| match asked_by {
        AskedBy::File(source, key) => source.error(key, message),
        AskedBy::Origin(origin) => ConfigError {
            origin: origin.clone(),
            key: KeyPath::default(),
            message,
        },
        AskedBy::Provider => ConfigError {
            origin: Origin::Default,
            key: KeyPath::default(),
            message,
        },
    };
    let source = library.get(name).map_err(&locate)?;
    if files.iter().any(|(s, _, _)| s.name == source.name) {
        return Ok(());
    }
    if loading.contains(&source.name) {
        return Err(locate(format!(
            "presets use each other in a cycle: {} → {}",
            loading.join(" → "),
            source.name
        )));
    }
    let (raw, table) = source.parse()?;
    loading.push(source.name.clone());
    for (i, inner) in raw.use_presets.iter().flatten().enumerate() {
        let asked_by = AskedBy::File(source.clone(), KeyPath::keys(["use"]).index(i));
        load_preset(library, inner, &asked_by, files, loading)?;
    }
    loading.pop();
    files.push((source, raw, table));
    Ok(())
}

fn flags_layer(flags: &Flags) -> KeyedLayer {
    let mut layer = KeyedLayer::new(FLAGS);
    if let Some(provider) = &flags.provider {
        layer.set("server.provider", provider.clone().into(), "PROVIDER");
    }
    if let Some(host) = &flags.host {
        layer.set("server.host", host.clone().into(), "--host");
    }
    if let Some(port) = flags.port {
        layer.set("server.port", u64::from(port).into(), "--port");
    }
    if flags.log_curl {
        layer.set("server.log_curl", true.into(), "--log-curl");
    }
    layer
}
