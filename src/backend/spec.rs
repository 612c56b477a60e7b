//! The TOML syntax of a template's parts that compiled templates are built
//! from: argv elements and output rules. Serde types only; `config::raw`
//! embeds them in a backend's table, `backend::argv` and `backend::rules`
//! compile them.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// One argv element: a string, or a conditional/repeated group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RawArg {
    /// A single argv element with `{placeholders}`.
    Plain(String),
    /// `{ when = "var", args = [...] }` or `{ each = "images", args = [...] }`.
    Group(RawArgGroup),
}

/// A group of argv elements.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawArgGroup {
    /// Include the group only when this variable is set and not empty.
    pub when: Option<String>,
    /// Repeat the group once per item of this list (`images`).
    pub each: Option<String>,
    /// The group's elements.
    pub args: Vec<String>,
}

impl<'de> Deserialize<'de> for RawArg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgVisitor;
        impl<'de> serde::de::Visitor<'de> for ArgVisitor {
            type Value = RawArg;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a table like { when = \"var\", args = [...] }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawArg, E> {
                Ok(RawArg::Plain(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawArg, A::Error> {
                RawArgGroup::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawArg::Group)
            }
        }
        deserializer.deserialize_any(ArgVisitor)
    }
}

/// A JSON-pointer, or a list of pointers whose numbers are added.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawPointers {
    /// One pointer.
    One(String),
    /// Several pointers, summed.
    Sum(Vec<String>),
}

/// `[[backends.NAME.output]]`: one output rule for JSON-lines CLIs.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // every key is documented in routes.example.toml
pub struct RawRule {
    pub when: Option<BTreeMap<String, serde_json::Value>>,
    pub present: Option<Vec<String>>,
    pub absent: Option<Vec<String>>,
    pub each: Option<String>,
    #[serde(rename = "where")]
    pub where_: Option<BTreeMap<String, serde_json::Value>>,
    pub text: Option<String>,
    pub snapshot: Option<String>,
    pub reasoning: Option<String>,
    pub session: Option<String>,
    pub error: Option<String>,
    pub status: Option<String>,
    pub warning: Option<String>,
    pub usage: Option<RawUsage>,
    pub separator: Option<String>,
    pub terminal: Option<bool>,
}

/// Where a rule finds token counts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawUsage {
    pub input: Option<RawPointers>,
    pub output: Option<RawPointers>,
    pub cache_read: Option<RawPointers>,
    pub cache_write: Option<RawPointers>,
    pub reasoning: Option<RawPointers>,
}
