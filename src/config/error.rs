//! Configuration errors that point at the file, line, column and key that
//! caused them: `routes.toml:12:10 routes[2].backend: unknown backend "clude"`.

use std::fmt;

use crate::location::{KeyPath, Origin};

/// A configuration error, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the offending value came from.
    pub origin: Origin,
    /// The offending key.
    pub key: KeyPath,
    /// What is wrong, and how to fix it when that is known.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.0.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{} {}: {}", self.origin, self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}
