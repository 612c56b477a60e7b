//! JSON Schema cleaned for Gemini's `Schema` (an OpenAPI 3.0 subset), which
//! refuses a request whose tool parameters use a keyword it does not know.
//!
//! Kept, as the Gemini API reference lists them for `Schema`: `type`,
//! `format`, `title`, `description`, `nullable`, `enum`, `maxItems`,
//! `minItems`, `properties`, `required`, `minProperties`, `maxProperties`,
//! `minLength`, `maxLength`, `pattern`, `example`, `anyOf`,
//! `propertyOrdering`, `default`, `items`, `minimum`, `maximum`. Rewritten:
//! local `$ref`s are inlined, `type: [T, "null"]` becomes `type: T,
//! nullable: true` (several types: `anyOf`), `oneOf` becomes `anyOf`, a
//! one-schema `allOf` its schema, a string `const` a one-value `enum`,
//! `examples` its first value as `example`. Dropped: everything else
//! (`$schema`, `additionalProperties`, `$defs`, `exclusiveMinimum`,
//! `patternProperties`, `if`/`then`/`else`, `not`, non-string enums, formats
//! other than `enum` and `date-time` for strings and `int32`, `int64`,
//! `float`, `double` for numbers…).

use serde_json::{Map, Value, json};

/// Keys Gemini's `Schema` takes as they are.
const KEPT: &[&str] = &[
    "type",
    "title",
    "description",
    "nullable",
    "maxItems",
    "minItems",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
];

/// How deep `$ref`s are followed (a recursive schema is cut there).
const MAX_DEPTH: usize = 16;

/// `schema` as Gemini takes it.
pub fn clean_schema(schema: &Value) -> Value {
    clean(schema, schema, 0)
}

fn clean(schema: &Value, root: &Value, depth: usize) -> Value {
    let Value::Object(fields) = schema else {
        return json!({});
    };
    if depth > MAX_DEPTH {
        return json!({"type": "object"});
    }
    if let Some(target) = fields
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(root, r))
    {
        // The reference's own description wins over the target's.
        let mut inlined = clean(target, root, depth + 1);
        if let (Some(text), Value::Object(out)) = (fields.get("description"), &mut inlined) {
            out.insert("description".into(), text.clone());
        }
        return inlined;
    }
    if let Some(Value::Array(all)) = fields.get("allOf")
        && all.len() == 1
    {
        return clean(&all[0], root, depth + 1);
    }
    let mut out = Map::new();
    for key in KEPT {
        if let Some(value) = fields.get(*key) {
            out.insert((*key).to_owned(), value.clone());
        }
    }
    types(fields, &mut out, root, depth);
    if let Some(Value::Object(properties)) = fields.get("properties") {
        let cleaned = properties
            .iter()
            .map(|(name, property)| (name.clone(), clean(property, root, depth + 1)))
            .collect();
        out.insert("properties".into(), Value::Object(cleaned));
    }
    if let Some(items) = fields.get("items") {
        out.insert("items".into(), clean(items, root, depth + 1));
    }
    let alternatives = fields.get("anyOf").or_else(|| fields.get("oneOf"));
    if let Some(Value::Array(alternatives)) = alternatives {
        let cleaned = alternatives
            .iter()
            .map(|alternative| clean(alternative, root, depth + 1));
        out.insert("anyOf".into(), Value::Array(cleaned.collect()));
    }
    enumeration(fields, &mut out);
    format(fields, &mut out);
    if !out.contains_key("example")
        && let Some(Value::Array(examples)) = fields.get("examples")
        && let Some(first) = examples.first()
    {
        out.insert("example".into(), first.clone());
    }
    Value::Object(out)
}

/// `type` as one type name, with `nullable` for a `"null"` in a list.
fn types(fields: &Map<String, Value>, out: &mut Map<String, Value>, root: &Value, depth: usize) {
    let Some(Value::Array(names)) = fields.get("type") else {
        return;
    };
    let (nulls, others): (Vec<&Value>, Vec<&Value>) =
        names.iter().partition(|name| name.as_str() == Some("null"));
    if !nulls.is_empty() {
        out.insert("nullable".into(), json!(true));
    }
    match others.as_slice() {
        [] => {
            out.remove("type");
        }
        [one] => {
            out.insert("type".into(), (*one).clone());
        }
        several => {
            out.remove("type");
            let alternatives = several.iter().map(|name| {
                let mut alone = fields.clone();
                alone.insert("type".into(), (*name).clone());
                clean(&Value::Object(alone), root, depth + 1)
            });
            out.insert("anyOf".into(), Value::Array(alternatives.collect()));
        }
    }
}

/// `enum` of strings only; a string `const` as a one-value `enum`.
fn enumeration(fields: &Map<String, Value>, out: &mut Map<String, Value>) {
    let values = match (fields.get("enum"), fields.get("const")) {
        (Some(Value::Array(values)), _) => values.clone(),
        (None, Some(value)) => vec![value.clone()],
        _ => return,
    };
    if !values.is_empty() && values.iter().all(Value::is_string) {
        out.insert("enum".into(), Value::Array(values));
        out.entry("type").or_insert_with(|| json!("string"));
    }
}

/// The formats Gemini knows, for the type they belong to.
fn format(fields: &Map<String, Value>, out: &mut Map<String, Value>) {
    let Some(format) = fields.get("format").and_then(Value::as_str) else {
        return;
    };
    let kind = out.get("type").and_then(Value::as_str).unwrap_or_default();
    let known = match kind {
        "string" => matches!(format, "enum" | "date-time"),
        "integer" | "number" => matches!(format, "int32" | "int64" | "float" | "double"),
        _ => false,
    };
    if known {
        out.insert("format".into(), json!(format));
    }
}

/// The schema a local reference (`#/$defs/X`, `#/definitions/X`) points at.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_realistic_schema_is_cleaned_keyword_by_keyword() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "required": ["path", "mode"],
            "properties": {
                "path": {"type": "string", "description": "where", "format": "uri", "examples": ["/tmp"]},
                "mode": {"const": "read"},
                "limit": {"type": ["integer", "null"], "format": "int32", "exclusiveMinimum": 0},
                "level": {"type": "integer", "enum": [1, 2, 3]},
                "when": {"type": "string", "format": "date-time"},
                "target": {"$ref": "#/$defs/Target", "description": "the target"},
                "either": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                "wrapped": {"allOf": [{"type": "boolean"}]},
                "mixed": {"type": ["string", "number"]},
                "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"},
                         "uniqueItems": true}
            },
            "$defs": {"Target": {"type": "object", "title": "Target",
                                 "properties": {"id": {"type": "string"}},
                                 "patternProperties": {"^x-": {}}}}
        });
        assert_eq!(
            clean_schema(&schema),
            json!({
                "type": "object",
                "required": ["path", "mode"],
                "properties": {
                    "path": {"type": "string", "description": "where", "example": "/tmp"},
                    "mode": {"enum": ["read"], "type": "string"},
                    "limit": {"type": "integer", "nullable": true, "format": "int32"},
                    "level": {"type": "integer"},
                    "when": {"type": "string", "format": "date-time"},
                    "target": {"type": "object", "title": "Target", "description": "the target",
                               "properties": {"id": {"type": "string"}}},
                    "either": {"anyOf": [{"type": "string"}, {"type": "number"}]},
                    "wrapped": {"type": "boolean"},
                    "mixed": {"anyOf": [{"type": "string"}, {"type": "number"}]},
                    "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}}
                }
            })
        );
    }

    #[test]
    fn a_recursive_reference_is_cut_instead_of_looping() {
        let schema = json!({"$defs": {"Node": {"type": "object",
            "properties": {"next": {"$ref": "#/$defs/Node"}}}},
            "$ref": "#/$defs/Node"});
        let cleaned = clean_schema(&schema);
        let mut depth = 0;
        let mut at = &cleaned;
        while let Some(next) = at.pointer("/properties/next") {
            depth += 1;
            at = next;
        }
        assert!(depth > 3 && depth <= MAX_DEPTH + 1, "{depth}");
        assert_eq!(clean_schema(&json!(true)), json!({}));
    }
}
