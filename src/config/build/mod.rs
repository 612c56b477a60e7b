//! Raw layers → runtime `Config`: merges the layers with figment, validates
//! every value, compiles backend templates and routes, and records where
//! each effective value came from. Every failure names file, line, column
//! and key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use crate::backend::cli::expand_home;
use crate::backend::{Backend, VarKind};
use crate::config::error::ConfigError;
use crate::config::layers::Layers;
use crate::config::raw::{RawRoute, RawServer, RawSettings};
use crate::config::source::SourceFile;
use crate::config::{Config, Report};
use crate::location::{FieldError, KeyPath};
use crate::routes::{Matcher, Provider, Route, Routes};

pub mod cli;
mod common;
pub mod http;
mod kinds;
pub mod session;
mod settings;

use self::cli::{BackendDefaults, secret_vars};
use self::settings::settings;

/// A route and the file that defines it.
#[derive(Debug, Clone)]
pub struct LayeredRoute {
    /// Index of the file in `Layers::files`.
    pub layer: usize,
    /// Index within that file's `[[routes]]`.
    pub index: usize,
    /// The route.
    pub raw: RawRoute,
}

/// Everything `build` needs.
#[derive(Debug)]
pub struct BuildInput<'a> {
    /// The merged layers.
    pub layers: Layers,
    /// Routes of every file, lowest layer first.
    pub routes: Vec<LayeredRoute>,
    /// Backends that came from the implicit default presets: dropped (with
    /// their routes) when their CLI is not installed.
    pub optional_backends: BTreeSet<String>,
    /// The gateway's environment.
    pub env: &'a BTreeMap<String, String>,
    /// Warnings collected while loading (variables set but not used…).
    pub warnings: Vec<String>,
    /// Notes collected while loading (which preset a provider implied, and why).
    pub notes: Vec<String>,
}

/// Validates and compiles.
pub fn build(input: BuildInput<'_>) -> Result<Config, ConfigError> {
    let figment = input.layers.figment();
    let raw: RawSettings = figment
        .extract()
        .map_err(|e| figment_error(&input.layers, &figment, &e))?;
    let at = |key: KeyPath, message: String| ConfigError {
        origin: input.layers.origin(&figment, &key),
        key,
        message,
    };
    let server = raw.server.clone();
    let token_var = match input
        .layers
        .origin(&figment, &KeyPath::keys(["server", "token"]))
    {
        crate::location::Origin::Env(var) => var,
        _ => "CODEX_GATEWAY_TOKEN".to_owned(),
    };
    let settings = settings(&server, input.env, &token_var, &at)?;
    let mut warnings = input.warnings;
    if settings.token.is_none() && settings.cors_origins.iter().any(|o| o == "*") {
        warnings.push(
            "server.cors_origins = [\"*\"] without a token: any web page you visit can make the CLIs \
             run; list the origins you use, or set server.token"
                .to_owned(),
        );
    }
    let defaults = backend_defaults(&server, input.env);
    let mut notes = input.notes;

    let gateway_secrets: Vec<String> = settings
        .token
        .iter()
        .map(|t| t.expose().to_owned())
        .collect();
    let mut backends = BTreeMap::new();
    // Backends of the default presets whose CLI is missing, and why.
    let mut off = BTreeMap::new();
    for (name, raw_backend) in &raw.backends {
        let here = KeyPath::keys(["backends", name.as_str()]);
        if !valid_name(name) {
            return Err(at(
                here,
                "backend names use lowercase letters, digits, - and _".into(),
            ));
        }
        let kind = raw_backend.kind.as_deref().unwrap_or("cli");
        kinds::check(&input.layers, name, kind)?;
        let backend = match kind {
            "cli" => cli::compile(name, raw_backend, &defaults, input.env, &gateway_secrets),
            "http" => http::compile(name, raw_backend, &defaults, input.env),
            "session" => {
                session::compile(name, raw_backend, &defaults, input.env, &gateway_secrets)
            }
            other => {
                return Err(at(
                    here.key("kind"),
                    format!("unknown backend kind `{other}`: use \"cli\", \"http\" or \"session\""),
                ));
            }
        }
        .map_err(|e: FieldError| at(here.join(&e.at), e.message))?;
        if input.optional_backends.contains(name)
            && let Some(why) = backend.missing()
        {
            notes.push(format!("backend `{name}` is off: {why}"));
            off.insert(name.clone(), why);
            continue;
        }
        backends.insert(name.clone(), Arc::new(backend));
    }

    for backend in backends.values() {
        let Some(target) = &backend.embeddings_via else {
            continue;
        };
        let here = KeyPath::keys(["backends", backend.name.as_str(), "embeddings_backend"]);
        let why = match backends.get(target) {
            None => Some(format!("no backend `{target}` is loaded")),
            Some(other) if other.name == backend.name => {
                Some("a backend cannot name itself".into())
            }
            Some(other) if !other.capabilities.embeddings => Some(format!(
                "backend `{target}` has no embeddings: name an http backend of dialect openai-chat or openai-responses"
            )),
            Some(_) => None,
        };
        if let Some(why) = why {
            return Err(at(here, why));
        }
    }
    let routes = compile_routes(&input.layers, &input.routes, &raw, &backends, &off)?;
    let mut routes = Routes::new(backends, routes);
    routes.aliases = raw.aliases.clone();
    routes.allow_model_override = server.allow_client_model_override.unwrap_or(false);
    routes.allow_provider_override = server.allow_client_provider_override.unwrap_or(false);
    routes.advertised = server.advertised_models.clone().unwrap_or_default();
    check_fallbacks(&input.layers, &input.routes, &routes)?;
    let provider = normalize_provider(server.provider.as_deref().unwrap_or("auto"));
    routes.provider = Some(if provider == "auto" {
        Provider::Auto
    } else if routes.backends.contains_key(&provider) {
        Provider::Fixed(provider)
    } else {
        let known: Vec<&String> = raw.backends.keys().collect();
        return Err(at(
            KeyPath::keys(["server", "provider"]),
            format!(
                "provider `{provider}` is not a loaded backend; use \"auto\" or one of {known:?}"
            ),
        ));
    });

    // Each backend's secrets include the gateway's own: keep one of each.
    let secrets: Vec<String> = routes
        .backends
        .values()
        .flat_map(|b| b.secrets.iter().cloned())
        .chain(routes.routes.iter().flat_map(|r| secret_vars(&r.vars)))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let report = Report::new(&input.layers, &figment, &raw, notes, warnings, &secrets);
    Ok(Config {
        settings,
        routes,
        report,
        secrets: secrets.into(),
    })
}

fn backend_defaults(server: &RawServer, env: &BTreeMap<String, String>) -> BackendDefaults {
    BackendDefaults {
        timeout: Duration::from_secs(server.timeout_seconds.unwrap_or(600).max(1)),
        max_concurrency: to_usize(server.max_concurrency.unwrap_or(8).max(1)),
        queue_size: to_usize(server.queue_size.unwrap_or(64)),
        queue_timeout: Duration::from_secs(server.queue_timeout_seconds.unwrap_or(120)),
        workspace: server
            .workspace
            .as_deref()
            .filter(|w| !w.is_empty())
            .map(|w| PathBuf::from(expand_home(w, env))),
        max_line_bytes: to_usize(server.max_line_bytes.unwrap_or(16 << 20)),
    }
}

fn compile_routes(
    layers: &Layers,
    raw_routes: &[LayeredRoute],
    raw: &RawSettings,
    backends: &BTreeMap<String, Arc<Backend>>,
    off: &BTreeMap<String, String>,
) -> Result<Vec<Route>, ConfigError> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<(usize, String), KeyPath> = BTreeMap::new();
    for route in raw_routes {
        let source: &SourceFile = &layers.files[route.layer].source;
        let here = KeyPath::keys(["routes"]).index(route.index);
        let fail = |key: KeyPath, message: String| Err(source.error(&key, message));
        let r = &route.raw;
        let matcher = match (&r.model, &r.prefix, &r.pattern, r.default.unwrap_or(false)) {
            (Some(model), None, None, false) if !model.is_empty() => Matcher::Exact(model.clone()),
            (None, Some(prefix), None, false) if !prefix.is_empty() => {
                Matcher::Prefix(prefix.clone())
            }
            (None, None, Some(pattern), false) => match Regex::new(pattern) {
                Ok(regex) => Matcher::Pattern(regex),
                Err(e) => {
                    return fail(
                        here.key("pattern"),
                        format!("invalid regular expression: {e}"),
                    );
                }
            },
            (None, None, None, true) => Matcher::Default,
            _ => {
                return fail(
                    here,
                    "a route needs exactly one of `model = \"…\"`, `prefix = \"…\"`, `pattern = \"…\"` or `default = true`"
                        .into(),
                );
            }
        };
        let identity = match &matcher {
            Matcher::Exact(m) => format!("model {m:?}"),
            Matcher::Prefix(p) => format!("prefix {p:?}"),
            Matcher::Pattern(p) => format!("pattern {:?}", p.as_str()),
            Matcher::Default => "default".to_owned(),
        };
        if let Some(first) = seen.insert((route.layer, identity.clone()), here.clone()) {
            return fail(
                here,
                format!("{identity} is already routed by {first} in this file"),
            );
        }
        let Some(backend) = r.backend.clone() else {
            return fail(
                here.key("backend"),
                "a route needs `backend = \"name\"`".into(),
            );
        };
        // A route to a backend that is off stays, so that its models are
        // answered "off" instead of falling through to another backend.
        let off = off.get(&backend).cloned();
        if !backends.contains_key(&backend) && off.is_none() {
            let known: Vec<&String> = raw.backends.keys().collect();
            return fail(
                here.key("backend"),
                format!("unknown backend `{backend}`; defined backends: {known:?}"),
            );
        }
        if let Some(rewrite) = &r.rewrite
            && rewrite.replace("{model}", "").contains(['{', '}'])
        {
            return fail(
                here.key("rewrite"),
                "only `{model}` can be used in `rewrite`".into(),
            );
        }
        if let Some(target) = backends.get(&backend)
            && let Some(var) = r
                .vars
                .iter()
                .flatten()
                .map(|(k, _)| k)
                .find(|k| target.variable(k) != Some(VarKind::Text))
        {
            let message = if target.variable(var) == Some(VarKind::List) {
                format!(
                    "`{var}` is a list variable of backend `{backend}`; a route can only set text variables"
                )
            } else {
                format!(
                    "backend `{backend}` has no variable `{var}`; its variables: {:?}",
                    target.text_variables()
                )
            };
            return fail(here.key("vars").key(var.clone()), message);
        }
        out.push(Route {
            matcher,
            backend,
            rewrite: r.rewrite.clone(),
            vars: r.vars.clone().unwrap_or_default(),
            origin: source.origin_of(&here),
            layer: route.layer,
            description: r.description.clone(),
            off,
            fallbacks: r.fallbacks.clone().unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Each route's fallbacks must be model strings the routes serve.
fn check_fallbacks(
    layers: &Layers,
    raw_routes: &[LayeredRoute],
    routes: &Routes,
) -> Result<(), ConfigError> {
    for (route, raw) in routes.routes.iter().zip(raw_routes) {
        let source: &SourceFile = &layers.files[raw.layer].source;
        for (j, model) in route.fallbacks.iter().enumerate() {
            let here = KeyPath::keys(["routes"])
                .index(raw.index)
                .key("fallbacks")
                .index(j);
            routes
                .resolve(model)
                .map_err(|e| source.error(&here, format!("fallback {model:?}: {e}")))?;
        }
    }
    Ok(())
}

fn figment_error(
    layers: &Layers,
    figment: &figment::Figment,
    error: &figment::Error,
) -> ConfigError {
    let key = KeyPath::keys(error.path.iter().cloned());
    ConfigError {
        origin: layers.origin(figment, &key),
        key,
        message: error.kind.to_string(),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A count from the config, saturating on 32-bit targets.
fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The original's provider aliases.
pub fn normalize_provider(name: &str) -> String {
    match name.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => "auto".into(),
        "cursor" | "cursor_agent" | "cursoragent" | "cursor-agent" => "cursor-agent".into(),
        "claude" | "claude-code" | "claude_code" | "claudecode" => "claude".into(),
        other => other.to_owned(),
    }
}
