//! Backend templates: compiled from `[backends.NAME]` by `config::build`,
//! shared behind an `Arc`, and replaced wholesale on reload. Pure data: no
//! live state (the engine keeps limiters and processes, keyed by backend
//! name) and no knowledge of the config files. What every kind shares sits
//! on [`Backend`]; the kind-specific template is in [`Kind`]. The engine is
//! the code that runs them.

pub mod argv;
pub mod capabilities;
pub mod cli;
pub mod decode;
pub mod http;
pub mod rules;
pub mod session;
pub mod spec;

use std::sync::Arc;
use std::time::Duration;

pub use capabilities::Capabilities;
pub use cli::CliTemplate;
pub use http::HttpTemplate;
pub use session::SessionTemplate;

/// A compiled backend.
#[derive(Debug)]
pub struct Backend {
    /// Its name in `[backends.NAME]`.
    pub name: String,
    /// What it is, for `check` and `routes`.
    pub description: Option<String>,
    /// The model used when the client's is empty or ignored.
    pub default_model: Option<String>,
    /// The reasoning effort used when the client sets none.
    pub default_effort: Option<crate::turn::Effort>,
    /// Models `/v1/models` lists for it.
    pub models: Vec<String>,
    /// Deadline of one run.
    pub timeout: Duration,
    /// How many runs at once, and how many may wait.
    pub limits: Limits,
    /// Values that must never reach a client or a log.
    pub secrets: Vec<String>,
    /// The backend its embeddings go to (`embeddings_backend`), with the
    /// client's model, when it has none of its own.
    pub embeddings_via: Option<String>,
    /// What of a request it can honour.
    pub capabilities: Capabilities,
    /// The kind-specific template.
    pub kind: Kind,
}

/// What runs a backend.
#[derive(Debug, Clone)]
pub enum Kind {
    /// One CLI process per request.
    Cli(Arc<CliTemplate>),
    /// A model API over HTTP.
    Http(Arc<HttpTemplate>),
    /// Warm CLI processes, pooled, one conversation each at a time.
    Session(Arc<SessionTemplate>),
}

/// A backend's concurrency limit and queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Runs at once.
    pub max: usize,
    /// Requests allowed to wait for a slot.
    pub queue_size: usize,
    /// How long a request may wait.
    pub queue_timeout: Duration,
}

/// The kind of a template variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// Text, replacing `{name}`; routes can set it.
    Text,
    /// A list, for `each` groups.
    List,
}

impl Backend {
    /// Models advertised for this backend (its default first).
    pub fn advertised_models(&self) -> Vec<String> {
        let mut models: Vec<String> = self.default_model.iter().cloned().collect();
        for model in &self.models {
            if !models.contains(model) {
                models.push(model.clone());
            }
        }
        models
    }

    /// The command line template of the processes it starts, if it starts any.
    pub fn process(&self) -> Option<&CliTemplate> {
        match &self.kind {
            Kind::Cli(cli) => Some(cli),
            Kind::Session(session) => Some(&session.process),
            Kind::Http(_) => None,
        }
    }

    /// Why this backend cannot run on this machine, if it cannot.
    pub fn missing(&self) -> Option<String> {
        match &self.kind {
            Kind::Http(http) => http.missing(),
            Kind::Cli(_) | Kind::Session(_) => {
                let process = self.process()?;
                process.program.is_none().then(|| {
                    format!(
                        "`{}` was not found on PATH (install it, or set backends.{}.command)",
                        process.command, self.name
                    )
                })
            }
        }
    }

    /// Whether its template has a variable `name`, and of which kind.
    pub fn variable(&self, name: &str) -> Option<VarKind> {
        let process = self.process()?;
        if process.vars.contains_key(name) {
            Some(VarKind::Text)
        } else if process.lists.contains_key(name) {
            Some(VarKind::List)
        } else {
            None
        }
    }

    /// The names of its text variables (the ones routes can set).
    pub fn text_variables(&self) -> Vec<&str> {
        self.process()
            .map(|p| p.vars.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// One line saying what runs it, for `check`.
    pub fn summary(&self) -> String {
        let found = |cli: &CliTemplate| {
            cli.program.as_ref().map_or_else(
                || "NOT FOUND on PATH".to_owned(),
                |p| p.display().to_string(),
            )
        };
        match &self.kind {
            Kind::Cli(cli) => format!("cli `{}` ({})", cli.command, found(cli)),
            Kind::Session(session) => format!(
                "session `{}` over {} ({}; {} warm, up to {})",
                session.process.command,
                session.protocol.name(),
                found(&session.process),
                session.pool.min_warm,
                self.limits.max
            ),
            Kind::Http(http) => {
                let auth = http.auth.as_ref().map_or_else(
                    || "no auth".to_owned(),
                    |a| match &a.secret {
                        http::Secret::Fixed(Ok(_)) => format!("key from {}", a.source),
                        http::Secret::Fixed(Err(why)) => format!("NO KEY: {why}"),
                        http::Secret::Login(_) => match http.missing() {
                            Some(why) => format!("NO LOGIN YET: {why}"),
                            None => format!("login from {}", a.source),
                        },
                    },
                );
                format!("http {} {} ({auth})", http.dialect.name(), http.shown_url)
            }
        }
    }
}
