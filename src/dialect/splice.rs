//! A JSON object's top-level fields, changed one by one while every other
//! value stays byte for byte as it was sent (and the fields in their
//! order): how a request passed through to an upstream of the client's own
//! dialect gets its routed model and nothing else changed. Pure.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON object as its fields, in order, each value as sent.
#[derive(Debug)]
pub struct Fields(Vec<(String, Box<RawValue>)>);

impl Fields {
    /// Reads the object in `bytes`.
    ///
    /// # Errors
    /// What is wrong when `bytes` is not one JSON object.
    pub fn parse(bytes: &[u8]) -> Result<Fields, String> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let fields = deserializer
            .deserialize_map(FieldsVisitor)
            .map_err(|e| e.to_string())?;
        deserializer.end().map_err(|e| e.to_string())?;
        Ok(fields)
    }

    /// The value of `key`, as sent.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }

    /// Sets `key` to `value`: in its place, or last when it was not there.
    pub fn set(&mut self, key: &str, value: &Value) {
        // A `Value` always serializes (the default, `null`, is never used).
        let raw = serde_json::value::to_raw_value(value).unwrap_or_default();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => *old = raw,
            None => self.0.push((key.to_owned(), raw)),
        }
    }

    /// The object again.
    pub fn to_bytes(&self) -> Vec<u8> {
        let size = self.0.iter().map(|(k, v)| k.len() + v.get().len() + 4);
        let mut out = Vec::with_capacity(size.sum::<usize>() + 2);
        out.push(b'{');
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Writing a string as JSON into memory cannot fail.
            let _ = serde_json::to_writer(&mut out, key);
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        }
        out.push(b'}');
        out
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
            fields.push((key, value));
        }
        Ok(Fields(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_field_changes_and_every_other_byte_stays() {
        let sent =
            br#"{"z":1, "model" : "anthropic:claude-x","messages":[{"a" : 1.50}],"b":"\u00e9"}"#;
        let mut fields = Fields::parse(sent).unwrap();
        assert_eq!(fields.get("b").unwrap().get(), r#""\u00e9""#);
        fields.set("model", &Value::from("claude-x"));
        fields.set("new", &serde_json::json!({"k": true}));
        assert_eq!(
            String::from_utf8(fields.to_bytes()).unwrap(),
            r#"{"z":1,"model":"claude-x","messages":[{"a" : 1.50}],"b":"\u00e9","new":{"k":true}}"#
        );
    }

    #[test]
    fn only_an_object_is_read() {
        assert!(Fields::parse(b"[1]").is_err());
        assert!(Fields::parse(b"{} x").is_err());
        assert!(Fields::parse(b"{\"a\":").is_err());
    }
}
