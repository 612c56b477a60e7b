//! Declarative output rules for JSON-lines CLIs: each rule matches events by
//! field values (RFC 6901 JSON pointers) and says what to extract from them.
//! Pure: compiled once when the config loads, applied to one parsed line at
//! a time. The stateful reading of a whole run lives in `backend::decode`.

use serde_json::Value;

use crate::backend::spec::{RawPointers, RawRule, RawUsage};
use crate::event::Usage;
use crate::location::{FieldError, KeyPath};

/// A backend's compiled output rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    when: Vec<(String, Value)>,
    present: Vec<String>,
    absent: Vec<String>,
    each: Option<(String, Vec<(String, Value)>)>,
    actions: Actions,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Actions {
    separator: Option<String>,
    text: Option<String>,
    snapshot: Option<String>,
    reasoning: Option<String>,
    session: Option<String>,
    error: Option<String>,
    status: Option<String>,
    warning: Option<String>,
    usage: Option<UsagePointers>,
    terminal: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct UsagePointers {
    input: Vec<String>,
    output: Vec<String>,
    cache_read: Vec<String>,
    cache_write: Vec<String>,
    reasoning: Vec<String>,
}

/// What a rule pulled out of one line, in rule order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extract {
    /// Insert this separator before the next text, if text was already emitted.
    Break(String),
    /// Text to append.
    Text(String),
    /// The whole answer so far; the decoder emits what is new.
    Snapshot(String),
    /// Reasoning to append.
    Reasoning(String),
    /// The CLI's session id.
    Session(String),
    /// Token counts.
    Usage(Usage),
    /// The run failed.
    Error {
        /// The CLI's message.
        message: String,
        /// HTTP status of the model API, when the line carries it.
        status: Option<u16>,
    },
    /// A non-fatal notice, logged.
    Warning(String),
    /// The turn is over.
    Terminal,
}

impl OutputRules {
    /// Compiles `raw` rules, checking every pointer.
    pub fn compile(raw: &[RawRule]) -> Result<OutputRules, FieldError> {
        let rules = raw
            .iter()
            .enumerate()
            .map(|(i, r)| compile_rule(r).map_err(|e| e.under(&KeyPath::default().index(i))))
            .collect::<Result<_, _>>()?;
        Ok(OutputRules { rules })
    }

    /// Whether some rule marks the end of a turn; when none does, the exit
    /// status alone ends a run.
    pub fn has_terminal(&self) -> bool {
        self.rules.iter().any(|r| r.actions.terminal)
    }

    /// Applies every matching rule to one parsed line.
    pub fn apply(&self, line: &Value, out: &mut Vec<Extract>) {
        for rule in &self.rules {
            if !rule.matches(line) {
                continue;
            }
            match &rule.each {
                None => rule.actions.extract(line, out),
                Some((pointer, filter)) => {
                    let Some(Value::Array(items)) = line.pointer(pointer) else {
                        continue;
                    };
                    for item in items.iter().filter(|item| all_equal(filter, item)) {
                        rule.actions.extract(item, out);
                    }
                }
            }
        }
    }
}

impl Rule {
    fn matches(&self, line: &Value) -> bool {
        all_equal(&self.when, line)
            && self
                .present
                .iter()
                .all(|p| line.pointer(p).is_some_and(|v| !v.is_null()))
            && self
                .absent
                .iter()
                .all(|p| line.pointer(p).is_none_or(Value::is_null))
    }
}

/// `expected = null` also matches a missing field.
fn all_equal(conditions: &[(String, Value)], value: &Value) -> bool {
    conditions
        .iter()
        .all(|(pointer, expected)| match value.pointer(pointer) {
            Some(actual) => actual == expected,
            None => expected.is_null(),
        })
}

impl Actions {
    fn extract(&self, root: &Value, out: &mut Vec<Extract>) {
        if let Some(sep) = &self.separator {
            out.push(Extract::Break(sep.clone()));
        }
        let string =
            |p: &Option<String>| p.as_ref().and_then(|p| root.pointer(p)).and_then(as_text);
        if let Some(text) = string(&self.text) {
            out.push(Extract::Text(text));
        }
        if let Some(text) = string(&self.snapshot) {
            out.push(Extract::Snapshot(text));
        }
        if let Some(text) = string(&self.reasoning) {
            out.push(Extract::Reasoning(text));
        }
        if let Some(id) = string(&self.session).filter(|s| !s.is_empty()) {
            out.push(Extract::Session(id));
        }
        if let Some(usage) = &self.usage {
            let usage = usage.read(root);
            if !usage.is_empty() {
                out.push(Extract::Usage(usage));
            }
        }
        if let Some(text) = string(&self.warning) {
            out.push(Extract::Warning(text));
        }
        if let Some(pointer) = &self.error {
            let message = root.pointer(pointer).and_then(as_text);
            let status = self
                .status
                .as_ref()
                .and_then(|p| root.pointer(p))
                .and_then(as_status);
            out.push(Extract::Error {
                message: message
                    .unwrap_or_else(|| "the CLI reported an error without a message".to_owned()),
                status,
            });
        }
        if self.terminal {
            out.push(Extract::Terminal);
        }
    }
}

impl UsagePointers {
    fn read(&self, root: &Value) -> Usage {
        let sum = |pointers: &[String]| {
            let found: Vec<u64> = pointers
                .iter()
                .filter_map(|p| root.pointer(p)?.as_u64())
                .collect();
            (!found.is_empty()).then(|| found.iter().sum())
        };
        Usage {
            input_tokens: sum(&self.input),
            output_tokens: sum(&self.output),
            cache_read_tokens: sum(&self.cache_read),
            cache_write_tokens: sum(&self.cache_write),
            reasoning_tokens: sum(&self.reasoning),
        }
    }
}

/// Strings as they are; numbers and booleans printed; objects as JSON.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn as_status(value: &Value) -> Option<u16> {
    let n = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    u16::try_from(n).ok().filter(|s| (100..=599).contains(s))
}

fn compile_rule(raw: &RawRule) -> Result<Rule, FieldError> {
    let here = KeyPath::default();
    let conditions = |map: &Option<std::collections::BTreeMap<String, Value>>, key: &str| {
        map.iter()
            .flatten()
            .map(|(p, v)| {
                check_pointer(p, &here.key(key).key(p.clone()))?;
                Ok((p.clone(), v.clone()))
            })
            .collect::<Result<Vec<_>, FieldError>>()
    };
    let pointers = |list: &Option<Vec<String>>, key: &str| {
        list.iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| check_pointer(p, &here.key(key).index(i)).map(|()| p.clone()))
            .collect::<Result<Vec<_>, FieldError>>()
    };
    let single = |p: &Option<String>, key: &str| -> Result<Option<String>, FieldError> {
        if let Some(p) = p {
            check_pointer(p, &here.key(key))?;
        }
        Ok(p.clone())
    };
    let when = conditions(&raw.when, "when")?;
    let each = match (&raw.each, &raw.where_) {
        (Some(p), _) => {
            check_pointer(p, &here.key("each"))?;
            Some((p.clone(), conditions(&raw.where_, "where")?))
        }
        (None, Some(_)) => {
            return Err(FieldError::new(
                here.key("where"),
                "`where` filters the items of `each`; add `each = \"/pointer/to/array\"`",
            ));
        }
        (None, None) => None,
    };
    if raw.status.is_some() && raw.error.is_none() {
        return Err(FieldError::new(
            here.key("status"),
            "`status` qualifies an `error`; add `error = \"/pointer\"`",
        ));
    }
    let actions = Actions {
        separator: raw.separator.clone(),
        text: single(&raw.text, "text")?,
        snapshot: single(&raw.snapshot, "snapshot")?,
        reasoning: single(&raw.reasoning, "reasoning")?,
        session: single(&raw.session, "session")?,
        error: single(&raw.error, "error")?,
        status: single(&raw.status, "status")?,
        warning: single(&raw.warning, "warning")?,
        usage: raw
            .usage
            .as_ref()
            .map(|u| compile_usage(u, &here.key("usage")))
            .transpose()?,
        terminal: raw.terminal.unwrap_or(false),
    };
    if actions == Actions::default() {
        return Err(FieldError::new(
            here,
            "the rule extracts nothing: set one of text, snapshot, reasoning, session, usage, error, warning or terminal",
        ));
    }
    Ok(Rule {
        when,
        present: pointers(&raw.present, "present")?,
        absent: pointers(&raw.absent, "absent")?,
        each,
        actions,
    })
}

fn compile_usage(raw: &RawUsage, at: &KeyPath) -> Result<UsagePointers, FieldError> {
    let list = |p: &Option<RawPointers>, key: &str| -> Result<Vec<String>, FieldError> {
        let list = match p {
            None => Vec::new(),
            Some(RawPointers::One(p)) => vec![p.clone()],
            Some(RawPointers::Sum(ps)) => ps.clone(),
        };
        for p in &list {
            check_pointer(p, &at.key(key))?;
        }
        Ok(list)
    };
    Ok(UsagePointers {
        input: list(&raw.input, "input")?,
        output: list(&raw.output, "output")?,
        cache_read: list(&raw.cache_read, "cache_read")?,
        cache_write: list(&raw.cache_write, "cache_write")?,
        reasoning: list(&raw.reasoning, "reasoning")?,
    })
}

fn check_pointer(pointer: &str, at: &KeyPath) -> Result<(), FieldError> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(FieldError::new(
            at.clone(),
            format!(
                "`{pointer}` is not a JSON pointer: write it like \"/message/content\" (RFC 6901)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
