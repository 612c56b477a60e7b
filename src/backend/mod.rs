//! Backend templates: compiled from `[backends.NAME]`, cheap to share, and
//! replaced wholesale on reload. The code that runs them is `engine`.

pub mod argv;
pub mod cli;
pub mod decode;
pub mod rules;
pub mod spec;

use std::sync::Arc;

pub use cli::CliBackend;

/// A compiled backend. Only `cli` backends run in this version; `http`
/// templates parse but are refused by `config::build` with an explanation.
#[derive(Debug, Clone)]
pub enum Backend {
    /// One CLI process per request.
    Cli(Arc<CliBackend>),
}

impl Backend {
    /// The backend's name.
    pub fn name(&self) -> &str {
        match self {
            Backend::Cli(cli) => &cli.name,
        }
    }

    /// The model used when the client's is empty or ignored.
    pub fn default_model(&self) -> Option<&str> {
        match self {
            Backend::Cli(cli) => cli.default_model.as_deref(),
        }
    }

    /// Models advertised for this backend (its default first).
    pub fn advertised_models(&self) -> Vec<String> {
        match self {
            Backend::Cli(cli) => {
                let mut models: Vec<String> = cli.default_model.iter().cloned().collect();
                for model in &cli.models {
                    if !models.contains(model) {
                        models.push(model.clone());
                    }
                }
                models
            }
        }
    }
}
