//! What a routing table says about itself: the models `/v1/models` lists,
//! and the explanation of an unknown model.

use super::{Matcher, Provider, Routes};
use crate::error::Error;

impl Routes {
    /// The 404 for a model nothing serves, listing what is routed.
    pub(super) fn unknown(&self, requested: &str) -> Error {
        let mut known: Vec<String> = self
            .routes
            .iter()
            .filter_map(|r| match &r.matcher {
                Matcher::Exact(m) => Some(format!("{m:?}")),
                Matcher::Prefix(p) => Some(format!("\"{p}…\"")),
                Matcher::Pattern(re) => Some(format!("/{}/", re.as_str())),
                Matcher::Default => None,
            })
            .collect();
        known.dedup();
        let available = if known.is_empty() {
            "no routes are configured (are the CLIs installed? see `agent-cli-to-api doctor`)"
                .to_owned()
        } else {
            format!("routed models: {}", known.join(", "))
        };
        Error::UnknownModel {
            message: format!("the model `{requested}` does not exist on this gateway: {available}"),
        }
    }

    /// The model ids `/v1/models` lists.
    pub fn models(&self) -> Vec<String> {
        if !self.advertised.is_empty() {
            return dedup(self.advertised.clone());
        }
        let mut out = Vec::new();
        if let Some(Provider::Fixed(name)) = &self.provider {
            if let Some(backend) = self.backends.get(name) {
                out.extend(backend.advertised_models());
            }
            if !self.allow_provider_override {
                out.extend(self.aliases.keys().cloned());
                return dedup(out);
            }
        }
        let mut expanded = std::collections::HashSet::new();
        for &i in &self.listing {
            let route = &self.routes[i];
            if route.off.is_some() {
                continue;
            }
            let models = self
                .backends
                .get(&route.backend)
                .map(|b| b.advertised_models())
                .unwrap_or_default();
            match &route.matcher {
                Matcher::Exact(model) => out.push(model.clone()),
                // One prefix per backend lists its models; the others are aliases.
                Matcher::Prefix(prefix) if expanded.insert(route.backend.as_str()) => {
                    out.extend(models.iter().map(|m| format!("{prefix}{m}")));
                }
                Matcher::Prefix(_) => {}
                Matcher::Pattern(regex) => {
                    out.extend(models.into_iter().filter(|m| regex.is_match(m)))
                }
                Matcher::Default => out.extend(models),
            }
        }
        out.extend(self.aliases.keys().cloned());
        dedup(out)
    }
}

/// Identifies what a route matches, so overrides keep the original's place.
pub(super) fn listing_key(matcher: &Matcher, index: usize) -> String {
    match matcher {
        Matcher::Exact(model) => format!("={model}"),
        Matcher::Prefix(prefix) => format!("^{prefix}"),
        Matcher::Pattern(_) => format!("~{index}"),
        Matcher::Default => "*".to_owned(),
    }
}

pub(super) fn example_model(routes: &Routes, backend: &str) -> String {
    routes
        .routes
        .iter()
        .find(|r| r.backend == backend)
        .map(|r| match &r.matcher {
            Matcher::Prefix(p) => format!("{p}<model>"),
            Matcher::Exact(m) => m.clone(),
            _ => "<model>".to_owned(),
        })
        .unwrap_or_else(|| "<model>".to_owned())
}

fn dedup(models: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    models
        .into_iter()
        .filter(|m| !m.is_empty() && seen.insert(m.clone()))
        .collect()
}
