//! A package's config schema: the defaults it declares, merging them with a user's options, and
//! validating the result as JSON Schema draft 4 (as Cosmos does), with each broken rule reported
//! in the json-schema-validator shape the `dcos` CLI prints (`instance.pointer`, `keyword`,
//! `message`, and `found`/`expected`/`unwanted`/`missing`/`minimum`/… by keyword).

use crate::error::Error;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::ValidationError;
use serde_json::{json, Map, Value};

/// The `default`s of a schema's `properties`, nested as the properties nest. A property with a
/// `default` takes it whole; one without takes the defaults of its own `properties`, if any.
pub fn defaults(schema: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return out;
    };
    for (name, prop) in props {
        if let Some(d) = prop.get("default") {
            out.insert(name.clone(), d.clone());
        } else {
            let nested = defaults(prop);
            if !nested.is_empty() {
                out.insert(name.clone(), Value::Object(nested));
            }
        }
    }
    out
}

/// `fragment` over `target`: objects merge key by key, recursively; anything else replaces.
pub fn merge(target: &mut Map<String, Value>, fragment: &Map<String, Value>) {
    for (k, v) in fragment {
        match (target.get_mut(k), v) {
            (Some(Value::Object(t)), Value::Object(f)) => merge(t, f),
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Validate `options` against `schema` as draft 4. `package` names the package in the error for
/// a schema that is not one.
pub fn validate(schema: &Value, options: &Value, package: &str) -> Result<(), Error> {
    let mut schema = schema.clone();
    if let Some(m) = schema.as_object_mut() {
        // Never fetch a meta-schema: the draft is fixed below.
        m.remove("$schema");
    }
    let validator = jsonschema::draft4::new(&schema).map_err(|e| Error::JsonDecodingError {
        what: format!("the config schema of package [{package}]"),
        cause: e.to_string(),
    })?;
    let mut reports: Vec<Value> = Vec::new();
    for e in validator.iter_errors(options) {
        let report = report(&e, &schema);
        // One `required` report per object, listing every missing property.
        if let (Some(missing), Some(prev)) = (
            report.get("missing").and_then(Value::as_array),
            reports.iter_mut().find(|r| {
                r["keyword"] == "required"
                    && r["instance"] == report["instance"]
                    && r["schema"] == report["schema"]
            }),
        ) {
            if let Some(list) = prev.get_mut("missing").and_then(Value::as_array_mut) {
                list.extend(missing.iter().cloned());
            }
            let all: Vec<String> = prev["missing"]
                .as_array()
                .map(|l| l.iter().map(|m| m.to_string()).collect())
                .unwrap_or_default();
            prev["message"] = json!(format!(
                "object has missing required properties ([{}])",
                all.join(",")
            ));
            continue;
        }
        reports.push(report);
    }
    if reports.is_empty() {
        Ok(())
    } else {
        Err(Error::JsonSchemaMismatch { errors: reports })
    }
}

/// json-schema-validator's name for a value's type.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn strings(items: &[String]) -> String {
    items
        .iter()
        .map(|s| Value::String(s.clone()).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// One broken rule as a json-schema-validator report.
fn report(e: &ValidationError<'_>, schema: &Value) -> Value {
    let keyword = e.kind().keyword();
    let schema_path = e.schema_path().as_str();
    // The report names the schema object holding the keyword, not the keyword itself.
    let schema_pointer = schema_path
        .rsplit_once('/')
        .map(|(p, _)| p)
        .unwrap_or_default();
    let instance = e.instance();
    let mut r = Map::new();
    r.insert("level".into(), json!("error"));
    r.insert(
        "schema".into(),
        json!({"loadingURI": "#", "pointer": schema_pointer}),
    );
    r.insert(
        "instance".into(),
        json!({"pointer": e.instance_path().as_str()}),
    );
    r.insert("domain".into(), json!("validation"));
    r.insert("keyword".into(), json!(keyword));
    let message = match e.kind() {
        ValidationErrorKind::Type { kind } => {
            let mut expected: Vec<String> = match kind {
                TypeKind::Single(t) => vec![t.to_string()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
            };
            expected.sort();
            let found = type_name(instance);
            r.insert("found".into(), json!(found));
            r.insert("expected".into(), json!(expected));
            format!(
                "instance type ({found}) does not match any allowed primitive type (allowed: [{}])",
                strings(&expected)
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            r.insert("unwanted".into(), json!(unexpected));
            format!(
                "object instance has properties which are not allowed by the schema: [{}]",
                strings(unexpected)
            )
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default().to_string();
            let required = schema
                .pointer(schema_pointer)
                .and_then(|s| s.get("required"))
                .cloned()
                .unwrap_or_else(|| json!([name]));
            r.insert("required".into(), required);
            r.insert("missing".into(), json!([name]));
            format!(
                "object has missing required properties ([{}])",
                strings(&[name])
            )
        }
        ValidationErrorKind::Minimum { limit } => {
            r.insert("minimum".into(), limit.clone());
            r.insert("found".into(), instance.as_ref().clone());
            format!("numeric instance is lower than the required minimum (minimum: {limit}, found: {instance})")
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            r.insert("minimum".into(), limit.clone());
            r.insert("exclusiveMinimum".into(), json!(true));
            r.insert("found".into(), instance.as_ref().clone());
            format!("numeric instance is not strictly greater than the required minimum {limit}")
        }
        ValidationErrorKind::Maximum { limit } => {
            r.insert("maximum".into(), limit.clone());
            r.insert("found".into(), instance.as_ref().clone());
            format!("numeric instance is greater than the required maximum (maximum: {limit}, found: {instance})")
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            r.insert("maximum".into(), limit.clone());
            r.insert("exclusiveMaximum".into(), json!(true));
            r.insert("found".into(), instance.as_ref().clone());
            format!("numeric instance is not strictly lower than the required maximum {limit}")
        }
        ValidationErrorKind::Enum { options } => {
            r.insert("value".into(), instance.as_ref().clone());
            r.insert("enum".into(), options.as_ref().clone());
            format!("instance value ({instance}) not found in enum (possible values: {options})")
        }
        ValidationErrorKind::MinLength { limit } => {
            let len = instance.as_str().map(|s| s.chars().count()).unwrap_or(0);
            r.insert("value".into(), instance.as_ref().clone());
            r.insert("found".into(), json!(len));
            r.insert("minLength".into(), json!(limit));
            format!("string {instance} is too short (length: {len}, required minimum: {limit})")
        }
        ValidationErrorKind::MaxLength { limit } => {
            let len = instance.as_str().map(|s| s.chars().count()).unwrap_or(0);
            r.insert("value".into(), instance.as_ref().clone());
            r.insert("found".into(), json!(len));
            r.insert("maxLength".into(), json!(limit));
            format!("string {instance} is too long (length: {len}, maximum allowed: {limit})")
        }
        ValidationErrorKind::Pattern { pattern } => {
            r.insert("regex".into(), json!(pattern));
            r.insert("string".into(), instance.as_ref().clone());
            format!(
                "ECMA 262 regex {} does not match input string {instance}",
                json!(pattern)
            )
        }
        ValidationErrorKind::MinItems { limit } => {
            let n = instance.as_array().map(Vec::len).unwrap_or(0);
            r.insert("minItems".into(), json!(limit));
            r.insert("found".into(), json!(n));
            format!("array is too short: must have at least {limit} elements but instance has {n} elements")
        }
        ValidationErrorKind::MaxItems { limit } => {
            let n = instance.as_array().map(Vec::len).unwrap_or(0);
            r.insert("maxItems".into(), json!(limit));
            r.insert("found".into(), json!(n));
            format!("array is too long: must have at most {limit} elements but instance has {n} elements")
        }
        _ => e.to_string(),
    };
    r.insert("message".into(), json!(message));
    Value::Object(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({
            "$schema": "http://json-schema.org/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "port": {"type": "integer", "default": 8080, "minimum": 1},
                "service": {
                    "type": "object",
                    "required": ["name", "cpus"],
                    "properties": {
                        "name": {"type": "string", "default": "web", "pattern": "^[a-z]"},
                        "cpus": {"type": "number", "default": 0.1},
                        "mode": {"type": "string", "enum": ["a", "b"]},
                        "nested": {"type": "object", "properties": {"deep": {"default": true}}}
                    }
                },
                "nodefault": {"type": "string"}
            }
        })
    }

    #[test]
    fn defaults_nest_and_merge_under_the_options() {
        let d = defaults(&schema());
        assert_eq!(
            Value::Object(d.clone()),
            json!({"port": 8080, "service": {"name": "web", "cpus": 0.1, "nested": {"deep": true}}})
        );
        let mut merged = d;
        let user = json!({"service": {"name": "api", "nested": {"extra": 1}}, "port": 9000});
        merge(&mut merged, user.as_object().unwrap());
        assert_eq!(
            Value::Object(merged),
            json!({"port": 9000, "service": {"name": "api", "cpus": 0.1, "nested": {"deep": true, "extra": 1}}})
        );
    }

    #[test]
    fn broken_rules_are_reported_as_the_cli_prints_them() {
        let s = schema();
        assert!(validate(
            &s,
            &json!({"port": 80, "service": {"name": "a", "cpus": 1}}),
            "p"
        )
        .is_ok());
        let cases: Vec<(Value, &str, Value)> = vec![
            (
                json!({"port": "80"}),
                "type",
                json!({"instance": {"pointer": "/port"}, "found": "string", "expected": ["integer"]}),
            ),
            (
                json!({"prot": 80}),
                "additionalProperties",
                json!({"instance": {"pointer": ""}, "unwanted": ["prot"]}),
            ),
            (
                json!({"port": 0}),
                "minimum",
                json!({"instance": {"pointer": "/port"}, "minimum": 1, "found": 0}),
            ),
            (
                json!({"service": {}}),
                "required",
                json!({"instance": {"pointer": "/service"}, "missing": ["name", "cpus"], "required": ["name", "cpus"],
                    "schema": {"loadingURI": "#", "pointer": "/properties/service"}}),
            ),
            (
                json!({"service": {"name": "a", "cpus": 1, "mode": "c"}}),
                "enum",
                json!({"instance": {"pointer": "/service/mode"}, "value": "c", "enum": ["a", "b"]}),
            ),
            (
                json!({"service": {"name": "A", "cpus": 1}}),
                "pattern",
                json!({"instance": {"pointer": "/service/name"}, "regex": "^[a-z]", "string": "A"}),
            ),
        ];
        for (options, keyword, want) in cases {
            let Err(Error::JsonSchemaMismatch { errors }) = validate(&s, &options, "p") else {
                panic!("{options} should fail");
            };
            assert_eq!(errors.len(), 1, "{options}: {errors:?}");
            let got = &errors[0];
            assert_eq!(got["keyword"], keyword, "{got}");
            assert_eq!(got["level"], "error");
            assert!(got["message"].as_str().is_some_and(|m| !m.is_empty()));
            for (k, v) in want.as_object().unwrap() {
                assert_eq!(&got[k], v, "{keyword}.{k} in {got}");
            }
        }
    }

    #[test]
    fn a_schema_that_is_not_one_is_named() {
        let e = validate(&json!({"type": 12}), &json!({}), "p").unwrap_err();
        assert_eq!(e.kind(), "JsonDecodingError");
        assert!(e.to_string().contains("package [p]"), "{e}");
    }
}
