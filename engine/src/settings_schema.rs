//! A policy's settings checked against the JSON Schema the policy exports (ABI 1.2), before
//! the policy's own `validate-settings` runs: the operator gets the offending field's path
//! and what the schema says of it, for a module in any language, and `portcullis inspect`
//! shows the schema.

use serde_json::Value;

use crate::workload::pointer_to_field;

/// A compiled settings schema.
pub struct SettingsSchema {
    text: String,
    validator: jsonschema::Validator,
}

/// One way settings fail their schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Dotted path of the offending setting (`allowedPaths[2].prefix`), empty for the whole.
    pub field: String,
    pub message: String,
}

impl SettingsSchema {
    /// Compiles the schema a module exported. No remote or file `$ref` is resolved: a schema
    /// must be self-contained.
    pub fn compile(text: &str) -> Result<SettingsSchema, String> {
        let schema: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
        Ok(SettingsSchema {
            text: text.to_string(),
            validator,
        })
    }

    /// The schema as the module exported it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every way `settings` fail the schema, ordered by field; empty when they match.
    pub fn check(&self, settings: &Value) -> Vec<SchemaViolation> {
        let mut violations: Vec<SchemaViolation> = Vec::new();
        for error in self.validator.iter_errors(settings) {
            let field = pointer_to_field(error.instance_path().as_str());
            if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } =
                error.kind()
            {
                // Named as serde names it, on the unknown field itself, with what the
                // schema allows there.
                let expected = self.allowed_fields(error.schema_path().as_str());
                for name in unexpected {
                    violations.push(SchemaViolation {
                        field: join(&field, name),
                        message: format!("unknown field `{name}`{}", expected_list(&expected)),
                    });
                }
                continue;
            }
            violations.push(SchemaViolation {
                field,
                message: error.to_string(),
            });
        }
        violations.sort_by(|a, b| a.field.cmp(&b.field));
        violations.dedup();
        violations
    }
}

impl SettingsSchema {
    /// The property names the schema object holding `…/additionalProperties` declares,
    /// following local `$ref`s on the way.
    fn allowed_fields(&self, schema_path: &str) -> Vec<String> {
        let Ok(root) = serde_json::from_str::<Value>(&self.text) else {
            return Vec::new();
        };
        let Some(parent) = schema_path.strip_suffix("/additionalProperties") else {
            return Vec::new();
        };
        let mut node = &root;
        for token in parent.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            let next = if token == "$ref" {
                node.get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix('#'))
                    .and_then(|pointer| root.pointer(pointer))
            } else {
                node.get(&token)
                    .or_else(|| token.parse::<usize>().ok().and_then(|i| node.get(i)))
            };
            match next {
                Some(next) => node = next,
                None => return Vec::new(),
            }
        }
        node.get("properties")
            .and_then(Value::as_object)
            .map(|properties| properties.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn join(field: &str, name: &str) -> String {
    if field.is_empty() {
        name.to_string()
    } else {
        format!("{field}.{name}")
    }
}

/// `, expected one of `a`, `b`` as serde words it; empty when nothing is known.
fn expected_list(fields: &[String]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => format!(", expected {}", quoted[0]),
        _ => format!(", expected one of {}", quoted.join(", ")),
    }
}

impl std::fmt::Debug for SettingsSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsSchema")
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn violations_name_their_field() {
        let schema = SettingsSchema::compile(
            &json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "allowedPaths": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"prefix": {"type": "string"}}
                    }},
                    "readOnly": {"type": "boolean"}
                }
            })
            .to_string(),
        )
        .unwrap();
        assert!(schema.check(&json!({"readOnly": true})).is_empty());
        let violations = schema.check(&json!({
            "allowedPaths": [{"prefix": "/a"}, {"prefix": "/b"}, {"prefix": 3}],
            "readOnly": "yes",
        }));
        assert_eq!(violations.len(), 2, "{violations:?}");
        assert_eq!(violations[0].field, "allowedPaths[2].prefix");
        assert!(
            violations[0].message.contains("not of type \"string\""),
            "{violations:?}"
        );
        assert_eq!(violations[1].field, "readOnly");
        let unknown = schema.check(&json!({"readonly": true}));
        assert_eq!(unknown[0].field, "readonly");
        assert_eq!(
            unknown[0].message,
            "unknown field `readonly`, expected one of `allowedPaths`, `readOnly`"
        );
    }

    #[test]
    fn unknown_fields_inside_referenced_definitions_are_named() {
        let schema = SettingsSchema::compile(
            &json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {"kubernetes": {"$ref": "#/$defs/Door"}},
                "$defs": {"Door": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {"allowedPaths": {"type": "array"}}
                }}
            })
            .to_string(),
        )
        .unwrap();
        let unknown = schema.check(&json!({"kubernetes": {"allowedPath": []}}));
        assert_eq!(unknown.len(), 1, "{unknown:?}");
        assert_eq!(unknown[0].field, "kubernetes.allowedPath");
        assert_eq!(
            unknown[0].message,
            "unknown field `allowedPath`, expected `allowedPaths`"
        );
    }

    #[test]
    fn a_schema_that_reaches_out_is_refused() {
        let err =
            SettingsSchema::compile(r#"{"$ref": "https://example.com/schema.json"}"#).unwrap_err();
        assert!(!err.is_empty());
        assert!(
            SettingsSchema::compile("not json")
                .unwrap_err()
                .starts_with("not JSON")
        );
    }
}
