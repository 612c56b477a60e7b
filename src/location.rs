//! Where a configured value is: its key path in a TOML document, the file,
//! variable or flag it came from, and an error at a key relative to the item
//! being compiled. A leaf: shared by `config`, `backend` and `routes`.

use std::fmt;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A path into a TOML document, e.g. `backends.claude.args[3]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// The path made of these table keys.
    pub fn keys<I: IntoIterator<Item = S>, S: Into<String>>(keys: I) -> KeyPath {
        KeyPath(keys.into_iter().map(|k| Seg::Key(k.into())).collect())
    }

    /// This path followed by a key.
    pub fn key(&self, key: impl Into<String>) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Seg::Key(key.into()));
        path
    }

    /// This path followed by an index.
    pub fn index(&self, index: usize) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Seg::Index(index));
        path
    }

    /// This path followed by `rest`.
    pub fn join(&self, rest: &KeyPath) -> KeyPath {
        let mut path = self.clone();
        path.0.extend(rest.0.iter().cloned());
        path
    }

    /// The dotted keys figment tracks values by: up to the first array
    /// index (figment tags an array as a whole).
    pub fn dotted_keys(&self) -> String {
        self.0
            .iter()
            .map_while(|s| match s {
                Seg::Key(k) => Some(k.as_str()),
                Seg::Index(_) => None,
            })
            .collect::<Vec<_>>()
            .join(".")
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// An error in one field, relative to the thing being compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where, relative to the compiled item.
    pub at: KeyPath,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// An error at `at`.
    pub fn new(at: KeyPath, message: impl Into<String>) -> FieldError {
        FieldError {
            at,
            message: message.into(),
        }
    }

    /// The same error, under `prefix`.
    pub fn under(self, prefix: &KeyPath) -> FieldError {
        FieldError {
            at: prefix.join(&self.at),
            message: self.message,
        }
    }
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file, with a position when it is known.
    File {
        /// Display name of the file.
        file: String,
        /// 1-based line and column.
        position: Option<(usize, usize)>,
    },
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
    /// A built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File {
                file,
                position: Some((line, col)),
            } => write!(f, "{file}:{line}:{col}"),
            Origin::File {
                file,
                position: None,
            } => write!(f, "{file}"),
            Origin::Env(var) => write!(f, "environment {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Default => write!(f, "built-in default"),
        }
    }
}
