//! Known fields taken out of a request body: each is moved into the
//! vocabulary when it has the expected shape and otherwise left as sent.
//! Shared by the inbound dialects.

use serde_json::{Map, Value};

use crate::error::Error;

/// Body fields that carry a session id to resume.
const SESSION_FIELDS: &[&str] = &[
    "session_id",
    "sessionId",
    "codex_session_id",
    "codexSessionId",
];

/// The body's fields outside the typed request, from which known ones are
/// taken: a value of the expected type moves into the vocabulary, one of
/// another type (or null) stays, as sent, for a backend that passes it on
/// or for the report of what is ignored. Nothing is refused or dropped here.
pub(crate) struct Fields {
    pub(crate) extra: Map<String, Value>,
    /// The generation parameters taken, by the client's name.
    pub(crate) named: Vec<String>,
}

impl Fields {
    /// Takes `name` if `parse` understands it.
    pub(crate) fn take<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Option<T>,
    ) -> Option<T> {
        let parsed = parse(self.extra.get(name)?)?;
        self.extra.remove(name);
        Some(parsed)
    }

    /// The names of the fields left (those set), for a dialect whose own
    /// fields mean nothing to another provider's API.
    pub(crate) fn left(&self) -> impl Iterator<Item = String> + '_ {
        let set = self.extra.iter().filter(|(_, v)| !v.is_null());
        set.map(|(k, _)| k.clone())
    }

    /// Takes the generation parameter `name` if it has type `T`.
    pub(crate) fn param<T: serde::de::DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        let parsed = self.take(name, |value| {
            (!value.is_null())
                .then(|| T::deserialize(value).ok())
                .flatten()
        })?;
        self.named.push(name.to_owned());
        Some(parsed)
    }
}

/// The session id to continue: from a header, else from a body field
/// (taken out of `extra`), checked to be a plain id.
///
/// # Errors
/// [`Error::InvalidRequest`] for a malformed id.
pub(crate) fn session_id(
    extra: &mut Map<String, Value>,
    header: Option<String>,
) -> Result<Option<String>, Error> {
    let mut found = header;
    for field in SESSION_FIELDS {
        match extra.remove(*field) {
            Some(Value::String(id)) if found.is_none() => found = Some(id),
            Some(Value::String(_) | Value::Null) | None => {}
            Some(_) => return Err(Error::InvalidRequest(format!("`{field}` must be a string"))),
        }
    }
    let Some(id) = found.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let valid = id.len() <= 128
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if valid {
        Ok(Some(id))
    } else {
        Err(Error::InvalidRequest(
            "a session id must be 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
                .into(),
        ))
    }
}

/// The bytes of base64 `data` (whitespace ignored, as clients wrap long
/// lines); `at` names it in the error.
///
/// # Errors
/// [`Error::InvalidRequest`] when it is not base64.
pub(crate) fn base64_bytes(data: &str, at: &str) -> Result<Vec<u8>, Error> {
    use base64::Engine as _;
    let cleaned: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| Error::InvalidRequest(format!("{at} is not valid base64: {e}")))
}

/// A request the client must mend (400).
pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidRequest(message.into())
}

/// A JSON object, held as a map or as a value that should be one.
pub(crate) trait Object {
    /// Its field `key`.
    fn field(&self, key: &str) -> Option<&Value>;
}

impl Object for Map<String, Value> {
    fn field(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

impl Object for Value {
    fn field(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

/// The string field `key` of `object`, which is at `at` in the request.
pub(crate) fn string_at(object: &impl Object, key: &str, at: &str) -> Result<String, Error> {
    match object.field(key) {
        Some(Value::String(text)) => Ok(text.clone()),
        _ => Err(invalid(format!("{at}.{key} must be a string"))),
    }
}
