//! Configuration sources: `routes.toml`, the preset files compiled into the
//! binary, and an optional `presets/` directory that overrides or adds to
//! them. Also turns byte offsets and key paths into `line:col`, so every
//! error can point at its place in its file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use crate::config::error::ConfigError;
use crate::config::raw::RawFile;
use crate::location::{KeyPath, Origin, Seg};

/// Presets compiled into the binary, by name.
pub const BUILTIN_PRESETS: &[(&str, &str)] = &[
    ("claude", include_str!("../../presets/claude.toml")),
    ("codex", include_str!("../../presets/codex.toml")),
    ("gemini", include_str!("../../presets/gemini.toml")),
    (
        "cursor-agent",
        include_str!("../../presets/cursor-agent.toml"),
    ),
    (
        "cursor-auto",
        include_str!("../../presets/cursor-auto.toml"),
    ),
    (
        "cursor-fast",
        include_str!("../../presets/cursor-fast.toml"),
    ),
    ("openai", include_str!("../../presets/openai.toml")),
    ("anthropic", include_str!("../../presets/anthropic.toml")),
    ("codex-fast", include_str!("../../presets/codex-fast.toml")),
    ("multi-fast", include_str!("../../presets/multi-fast.toml")),
    (
        "autoglm-phone",
        include_str!("../../presets/autoglm-phone.toml"),
    ),
    (
        "claude-oauth",
        include_str!("../../presets/claude-oauth.toml"),
    ),
    (
        "gemini-cloudcode",
        include_str!("../../presets/gemini-cloudcode.toml"),
    ),
    (
        "claude-warm",
        include_str!("../../presets/claude-warm.toml"),
    ),
    ("codex-warm", include_str!("../../presets/codex-warm.toml")),
    (
        "gemini-warm",
        include_str!("../../presets/gemini-warm.toml"),
    ),
    (
        "cursor-agent-warm",
        include_str!("../../presets/cursor-agent-warm.toml"),
    ),
];

/// One configuration file's text and where it came from.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// How errors name it: a path, or `presets/NAME.toml (built-in)`.
    pub name: String,
    /// The file on disk, if it is one.
    pub path: Option<PathBuf>,
    /// Its contents.
    pub text: String,
}

/// The text of `path` if it is a regular file, checked on the opened file
/// (opened without waiting, so a FIFO swapped in is refused, not waited on).
fn read_regular(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

impl SourceFile {
    /// Reads a file from disk: a regular file only (opening a FIFO or a
    /// device could block a reload for good).
    pub fn read(path: &Path) -> Result<SourceFile, ConfigError> {
        let error = |message: String| ConfigError {
            origin: Origin::File {
                file: path.display().to_string(),
                position: None,
            },
            key: KeyPath::default(),
            message,
        };
        let text = read_regular(path).map_err(|e| error(format!("cannot read: {e}")))?;
        Ok(SourceFile {
            name: path.display().to_string(),
            path: Some(path.to_path_buf()),
            text,
        })
    }

    /// Parses and type-checks the file; unknown keys are errors. An empty
    /// file is refused: it is far more often an editor half-way through a
    /// save (truncate, then write) than a config meant to say nothing.
    pub fn parse(&self) -> Result<(RawFile, toml::Table), ConfigError> {
        if self.text.trim().is_empty() {
            return Err(ConfigError {
                origin: Origin::File {
                    file: self.name.clone(),
                    position: None,
                },
                key: KeyPath::default(),
                message: "the file is empty (half-saved?): write at least a comment in a config \
                          meant to add nothing, or remove the file to run on the built-in presets"
                    .to_owned(),
            });
        }
        let raw: RawFile = toml::from_str(&self.text).map_err(|e| self.toml_error(&e))?;
        let table: toml::Table = toml::from_str(&self.text).map_err(|e| self.toml_error(&e))?;
        Ok((raw, table))
    }

    fn toml_error(&self, error: &toml::de::Error) -> ConfigError {
        let offset = error.span().map(|s| s.start);
        ConfigError {
            origin: Origin::File {
                file: self.name.clone(),
                position: offset.map(|o| line_col(&self.text, o)),
            },
            key: offset.map(|o| self.key_at(o)).unwrap_or_default(),
            message: error.message().trim().to_owned(),
        }
    }

    /// An error about `key` in this file.
    pub fn error(&self, key: &KeyPath, message: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: self.origin_of(key),
            key: key.clone(),
            message: message.into(),
        }
    }

    /// Where `key` is written in this file.
    pub fn origin_of(&self, key: &KeyPath) -> Origin {
        Origin::File {
            file: self.name.clone(),
            position: self.locate(key).map(|o| line_col(&self.text, o)),
        }
    }

    /// Byte offset of `key` (or of the deepest part of it that exists).
    pub fn locate(&self, key: &KeyPath) -> Option<usize> {
        let doc = DeTable::parse(&self.text).ok()?;
        let mut found = None;
        let mut table = doc.get_ref();
        let mut value: Option<&DeValue<'_>> = None;
        for seg in &key.0 {
            match (seg, value) {
                (Seg::Key(name), None | Some(DeValue::Table(_))) => {
                    if let Some(DeValue::Table(t)) = value {
                        table = t;
                    }
                    let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref() == name) else {
                        break;
                    };
                    found = Some(k.span().start);
                    value = Some(v.get_ref());
                    if let DeValue::Table(t) = v.get_ref() {
                        table = t;
                        value = Some(v.get_ref());
                    }
                }
                (Seg::Index(i), Some(DeValue::Array(items))) => {
                    let Some(item) = items.get(*i) else { break };
                    found = Some(item.span().start);
                    value = Some(item.get_ref());
                }
                _ => break,
            }
        }
        found
    }

    /// The key path of the deepest entry whose key or value spans `offset`.
    /// (Table and array-of-tables spans cover only their headers, so every
    /// branch is searched.)
    fn key_at(&self, offset: usize) -> KeyPath {
        let Ok(doc) = DeTable::parse(&self.text) else {
            return KeyPath::default();
        };
        let mut best = KeyPath::default();
        search_table(doc.get_ref(), offset, &mut KeyPath::default(), &mut best);
        best
    }
}

fn search_table(table: &DeTable<'_>, offset: usize, path: &mut KeyPath, best: &mut KeyPath) {
    for (key, value) in table.iter() {
        path.0.push(Seg::Key(key.get_ref().to_string()));
        let span = value.span();
        let here = key.span().contains(&offset)
            || span.contains(&offset)
            || (span.is_empty() && span.start == offset);
        if here && path.0.len() > best.0.len() {
            *best = path.clone();
        }
        search_value(value.get_ref(), offset, path, best);
        path.0.pop();
    }
}

fn search_value(value: &DeValue<'_>, offset: usize, path: &mut KeyPath, best: &mut KeyPath) {
    match value {
        DeValue::Table(table) => search_table(table, offset, path, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.0.push(Seg::Index(i));
                if item.span().contains(&offset) && path.0.len() > best.0.len() {
                    *best = path.clone();
                }
                search_value(item.get_ref(), offset, path, best);
                path.0.pop();
            }
        }
        _ => {}
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Where presets come from: the built-ins, overridden by a directory.
#[derive(Debug, Clone, Default)]
pub struct PresetLibrary {
    /// A directory of `NAME.toml` files, if any.
    pub dir: Option<PathBuf>,
}

impl PresetLibrary {
    /// The preset file for `name` (`_` and `-` are interchangeable).
    pub fn get(&self, name: &str) -> Result<SourceFile, String> {
        let name = canonical(name);
        if let Some(path) = self.file_of(&name) {
            return SourceFile::read(&path).map_err(|e| e.to_string());
        }
        builtin(&name)
            .map(|(n, text)| SourceFile {
                name: format!("presets/{n}.toml (built-in)"),
                path: None,
                text: (*text).to_owned(),
            })
            .ok_or_else(|| {
                format!(
                    "unknown preset `{name}`; available: {}",
                    self.names().join(", ")
                )
            })
    }

    /// Whether a preset called `name` exists (without reading it).
    pub fn has(&self, name: &str) -> bool {
        let name = canonical(name);
        self.file_of(&name).is_some() || builtin(&name).is_some()
    }

    /// The directory's file for a canonical `name`, if there is one.
    fn file_of(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.as_ref()?.join(format!("{name}.toml"));
        path.is_file().then_some(path)
    }

    /// Every preset name available.
    pub fn names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = BUILTIN_PRESETS
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        if let Some(dir) = &self.dir {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "toml")
                    && let Some(stem) = path.file_stem()
                {
                    names.insert(stem.to_string_lossy().into_owned());
                }
            }
        }
        names.into_iter().collect()
    }
}

/// A preset name as files and built-ins spell it.
fn canonical(name: &str) -> String {
    name.trim().replace('_', "-")
}

fn builtin(name: &str) -> Option<&'static (&'static str, &'static str)> {
    BUILTIN_PRESETS.iter().find(|(n, _)| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("routes.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Opening it to read would wait for a writer forever.
        let error = SourceFile::read(&fifo).unwrap_err();
        assert!(
            error.message.contains("not a regular file"),
            "{}",
            error.message
        );
        let error = SourceFile::read(dir.path()).unwrap_err();
        assert!(error.message.contains("cannot read"), "{}", error.message);
        let file = dir.path().join("real.toml");
        std::fs::write(&file, "use = []\n").unwrap();
        assert_eq!(SourceFile::read(&file).unwrap().text, "use = []\n");
    }

    fn file(text: &str) -> SourceFile {
        SourceFile {
            name: "routes.toml".into(),
            path: None,
            text: text.into(),
        }
    }

    #[test]
    fn unknown_keys_are_located() {
        let f = file("[server]\nport = 8000\n\n[[routes]]\nprefix = \"x:\"\nbakend = \"claude\"\n");
        let err = f.parse().unwrap_err();
        assert_eq!(
            err.origin,
            Origin::File {
                file: "routes.toml".into(),
                position: Some((6, 1))
            }
        );
        assert_eq!(err.key.to_string(), "routes[0].bakend");
        assert!(
            err.message.contains("unknown field `bakend`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn key_paths_resolve_to_positions() {
        let f = file("use = []\n[backends.x]\ncommand = \"x\"\nargs = [\"a\", \"{b}\"]\n");
        let at = |k: KeyPath| f.locate(&k).map(|o| line_col(&f.text, o));
        assert_eq!(
            at(KeyPath::keys(["backends", "x", "command"])),
            Some((3, 1))
        );
        assert_eq!(
            at(KeyPath::keys(["backends", "x", "args"]).index(1)),
            Some((4, 14))
        );
    }
}
