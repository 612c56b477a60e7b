//! The routing table: which backend serves a model string, and with which
//! model. Resolution order: aliases (once), then exact model, longest
//! prefix, patterns in order, and the default route. A fixed provider
//! (`agent-cli-to-api claude`) sends everything to one backend, as the
//! original did. Pure: built by `config::build`, read by the server.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use regex::Regex;

use crate::backend::Backend;
use crate::error::Error;
use crate::location::Origin;

use self::listing::{example_model, listing_key};

/// How a route recognises model strings.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Exactly this string.
    Exact(String),
    /// Strings starting with this; `{model}` is the rest.
    Prefix(String),
    /// Strings matching this regular expression.
    Pattern(Regex),
    /// Anything not matched otherwise.
    Default,
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(model) => write!(f, "model {model:?}"),
            Matcher::Prefix(prefix) => write!(f, "prefix {prefix:?}"),
            Matcher::Pattern(regex) => write!(f, "pattern {:?}", regex.as_str()),
            Matcher::Default => write!(f, "default"),
        }
    }
}

/// One `[[routes]]` entry.
#[derive(Debug, Clone)]
pub struct Route {
    /// What it matches.
    pub matcher: Matcher,
    /// Backend name.
    pub backend: String,
    /// Model sent to the backend; `{model}` is the matched name (without prefix).
    pub rewrite: Option<String>,
    /// Values for the backend's template variables.
    pub vars: BTreeMap<String, String>,
    /// Where the route is defined.
    pub origin: Origin,
    /// Its layer: 0 for the first preset, higher for later files.
    pub layer: usize,
    /// Free text shown by `routes`.
    pub description: Option<String>,
    /// Why its backend is off (its CLI is not installed), if it is: the
    /// route then answers its models with that, never with another backend.
    pub off: Option<String>,
    /// Model strings tried in order when this route's backend fails before
    /// answering (429, 5xx, no connection); each is routed like a request's.
    pub fallbacks: Vec<String>,
}

/// Who picks the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// The routes do.
    Auto,
    /// This backend serves everything.
    Fixed(String),
}

/// The outcome of routing one model string.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Backend to run.
    pub backend: Arc<Backend>,
    /// Model passed to the backend.
    pub model: String,
    /// Model named in the response: the client's string when it was used,
    /// otherwise the backend model that replaced it.
    pub echo_model: String,
    /// Route variables.
    pub vars: BTreeMap<String, String>,
    /// Why this backend, for logs and `routes`.
    pub reason: String,
    /// The model strings to try next if this backend fails before answering.
    pub fallbacks: Vec<String>,
}

/// The compiled routing table of one config snapshot.
#[derive(Debug, Default)]
pub struct Routes {
    /// Backends by name.
    pub backends: BTreeMap<String, Arc<Backend>>,
    /// Routes in definition order (lowest layer first).
    pub routes: Vec<Route>,
    /// Aliases applied before matching.
    pub aliases: BTreeMap<String, String>,
    /// Fixed provider or auto.
    pub provider: Option<Provider>,
    /// Let the client's model string reach a fixed provider.
    pub allow_model_override: bool,
    /// Let model prefixes pick another backend than a fixed provider.
    pub allow_provider_override: bool,
    /// Replaces the `/v1/models` list when not empty.
    pub advertised: Vec<String>,
    exact: HashMap<String, usize>,
    prefixes: Vec<usize>,
    patterns: Vec<usize>,
    default: Option<usize>,
    /// Live routes in the order their model or prefix was first defined.
    listing: Vec<usize>,
}

impl Routes {
    /// Builds the lookup tables. Within one layer `routes` must not repeat a
    /// model or prefix (checked by the caller); across layers the later wins.
    pub fn new(backends: BTreeMap<String, Arc<Backend>>, routes: Vec<Route>) -> Routes {
        let mut exact = HashMap::new();
        let mut by_prefix: HashMap<String, usize> = HashMap::new();
        let mut patterns = Vec::new();
        let mut default = None;
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        for (i, route) in routes.iter().enumerate() {
            first_seen
                .entry(listing_key(&route.matcher, i))
                .or_insert(i);
            match &route.matcher {
                Matcher::Exact(model) => {
                    exact.insert(model.clone(), i);
                }
                Matcher::Prefix(prefix) => {
                    by_prefix.insert(prefix.clone(), i);
                }
                Matcher::Pattern(_) => patterns.push(i),
                Matcher::Default => default = Some(i),
            }
        }
        // Later layers first among patterns, like every other override;
        // within a file, in the file's order.
        patterns.sort_by_key(|&i| (std::cmp::Reverse(routes[i].layer), i));
        let mut prefixes: Vec<usize> = by_prefix.into_values().collect();
        prefixes.sort_by_key(|&i| match &routes[i].matcher {
            Matcher::Prefix(p) => std::cmp::Reverse(p.len()),
            _ => std::cmp::Reverse(0),
        });
        let mut listing: Vec<usize> = exact
            .values()
            .chain(&prefixes)
            .chain(&patterns)
            .chain(&default)
            .copied()
            .collect();
        listing.sort_by_key(|&i| {
            first_seen
                .get(&listing_key(&routes[i].matcher, i))
                .copied()
                .unwrap_or(i)
        });
        Routes {
            backends,
            routes,
            exact,
            prefixes,
            patterns,
            default,
            listing,
            ..Routes::default()
        }
    }

    /// Whether the route at `index` is in effect (not replaced by a later one).
    pub fn is_live(&self, index: usize) -> bool {
        self.listing.contains(&index)
    }

    /// The route that matches `model`, with the part of it `{model}` stands for.
    pub fn matching(&self, model: &str) -> Option<(&Route, String)> {
        if let Some(&i) = self.exact.get(model) {
            return Some((&self.routes[i], model.to_owned()));
        }
        for &i in &self.prefixes {
            if let Matcher::Prefix(prefix) = &self.routes[i].matcher
                && let Some(rest) = model.strip_prefix(prefix.as_str())
            {
                return Some((&self.routes[i], rest.to_owned()));
            }
        }
        for &i in &self.patterns {
            if let Matcher::Pattern(regex) = &self.routes[i].matcher
                && regex.is_match(model)
            {
                return Some((&self.routes[i], model.to_owned()));
            }
        }
        self.default.map(|i| (&self.routes[i], model.to_owned()))
    }

    /// Picks the backend and model for a requested model string.
    ///
    /// # Errors
    /// [`Error::UnknownModel`] when nothing serves it, [`Error::InvalidRequest`]
    /// when the resulting model name is unusable.
    pub fn resolve(&self, requested: &str) -> Result<Resolved, Error> {
        let requested = requested.trim();
        // Never echoed whole: an error repeats the name it could not route.
        if requested.len() > MAX_REQUESTED_MODEL_BYTES {
            return Err(Error::InvalidRequest(format!(
                "the model name is {} bytes long; at most {MAX_REQUESTED_MODEL_BYTES}",
                requested.len()
            )));
        }
        let (aliased, alias_note) = match self.aliases.get(requested) {
            Some(target) => (
                target.as_str(),
                format!("alias {requested:?} → {target:?}, "),
            ),
            None => (requested, String::new()),
        };
        let Choice {
            backend: route_backend,
            model: model_part,
            reason,
            vars,
            fallbacks,
        } = self.choose(requested, aliased, &alias_note)?;
        let backend = self.backends.get(route_backend).cloned().ok_or_else(|| {
            Error::Internal(format!(
                "route names backend `{route_backend}`, which is not loaded"
            ))
        })?;
        let used_client_model = !model_part.is_empty();
        let model = if used_client_model {
            model_part
        } else {
            backend.default_model.clone().ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "backend `{route_backend}` has no default model; name one, e.g. \"{}\"",
                    example_model(self, route_backend)
                ))
            })?
        };
        check_model_name(&model)?;
        Ok(Resolved {
            backend,
            echo_model: if used_client_model && !requested.is_empty() {
                requested.to_owned()
            } else {
                model.clone()
            },
            model,
            vars,
            reason,
            fallbacks,
        })
    }

    /// The route (or fixed provider) a model string picks: the backend, the
    /// model part (empty: the backend's default), why, and route variables.
    fn choose<'a>(
        &'a self,
        requested: &str,
        aliased: &'a str,
        alias_note: &str,
    ) -> Result<Choice<'a>, Error> {
        let matched = self.matching(aliased);
        let fixed = match &self.provider {
            Some(Provider::Fixed(name)) => Some(name.as_str()),
            _ => None,
        };
        if let Some((route, _)) = matched
            && let Some(why) = &route.off
            && (fixed.is_none()
                || (self.allow_provider_override && !matches!(route.matcher, Matcher::Default)))
        {
            return Err(Error::UnknownModel {
                message: format!(
                    "the model `{requested}` is routed to backend `{}` ({alias_note}{}, {}), which is off: {why}",
                    route.backend, route.matcher, route.origin
                ),
            });
        }
        let fallbacks = matched.as_ref().map(|(r, _)| r.fallbacks.clone());
        let (backend, model, reason, vars) = match (fixed, matched) {
            (None, Some((route, part))) => (
                route.backend.as_str(),
                route_model(route, &part),
                format!("{alias_note}{} ({})", route.matcher, route.origin),
                route.vars.clone(),
            ),
            (None, None) => return Err(self.unknown(requested)),
            (Some(_), Some((route, part)))
                if self.allow_provider_override && !matches!(route.matcher, Matcher::Default) =>
            {
                (
                    route.backend.as_str(),
                    route_model(route, &part),
                    format!(
                        "{alias_note}{} ({}), provider override allowed",
                        route.matcher, route.origin
                    ),
                    route.vars.clone(),
                )
            }
            (Some(provider), matched) => {
                let model = if self.allow_model_override {
                    match matched {
                        Some((route, ref part)) if route.backend == provider => {
                            route_model(route, part)
                        }
                        _ => aliased.to_owned(),
                    }
                } else {
                    String::new()
                };
                let vars = matched
                    .map(|(r, _)| r.vars.clone())
                    .filter(|_| self.allow_model_override);
                (
                    provider,
                    model,
                    format!("{alias_note}fixed provider {provider:?}"),
                    vars.unwrap_or_default(),
                )
            }
        };
        // A fixed provider answers everything itself.
        let fallbacks = match fixed {
            Some(provider) if provider == backend => Vec::new(),
            _ => fallbacks.unwrap_or_default(),
        };
        Ok(Choice {
            backend,
            model,
            reason,
            vars,
            fallbacks,
        })
    }
}

/// What [`Routes::choose`] picked.
struct Choice<'a> {
    backend: &'a str,
    model: String,
    reason: String,
    vars: BTreeMap<String, String>,
    fallbacks: Vec<String>,
}

fn route_model(route: &Route, part: &str) -> String {
    match &route.rewrite {
        Some(rewrite) => rewrite.replace("{model}", part),
        None => part.to_owned(),
    }
}

/// Longest model string a client may send: a routed name (at most 200) and
/// a prefix.
const MAX_REQUESTED_MODEL_BYTES: usize = 256;

/// A requested model name as an error may repeat it: quoted whole up to
/// the longest a client may send, else only its length.
pub fn shown_model(model: &str) -> String {
    if model.len() <= MAX_REQUESTED_MODEL_BYTES {
        format!("{model:?}")
    } else {
        format!("of {} bytes", model.len())
    }
}

/// Model names reach argv as one element; they must not look like a flag
/// or carry control characters.
pub fn check_model_name(model: &str) -> Result<(), Error> {
    let valid = !model.is_empty()
        && model.len() <= 200
        && !model.starts_with('-')
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/@+[]-= ".contains(c));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "model name {model:?} is not allowed: use letters, digits and . _ : / @ + [ ] - = (at most 200, not starting with -)"
        )))
    }
}

mod listing;

#[cfg(test)]
mod tests;
