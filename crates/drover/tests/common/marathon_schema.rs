//! Checks Marathon answers and events against `tests/marathon/schema.json` (written from
//! Marathon's RAML and what marathon-python accepts): every violation, with its path.

use serde_json::Value;
use std::sync::OnceLock;

fn schema() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| {
        serde_json::from_str(include_str!("../../../../tests/marathon/schema.json"))
            .expect("the schema is JSON")
    })
}

/// The ways `v` breaks the type expression `ty`, each with its path (empty: none).
pub fn violations(ty: &str, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(ty, v, "", &mut out);
    out
}

/// The ways an event breaks its type's schema; an event type the schema does not know is one.
pub fn event_violations(kind: &str, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(spec) = schema()["events"].get(kind) else {
        return vec![format!("{kind}: not an event type Marathon has")];
    };
    for k in ["eventType", "timestamp"] {
        if !v.get(k).map(|x| x.is_string()).unwrap_or(false) {
            out.push(format!("{kind}/{k}: missing or not a string"));
        }
    }
    if v["eventType"] != kind {
        out.push(format!("{kind}: eventType is {}", v["eventType"]));
    }
    check_object(spec, v, kind, &mut out);
    out
}

fn check(ty: &str, v: &Value, path: &str, out: &mut Vec<String>) {
    if ty.contains('|') {
        let alts: Vec<&str> = ty.split('|').collect();
        let fits = alts.iter().any(|a| {
            let mut e = Vec::new();
            check(a, v, path, &mut e);
            e.is_empty()
        });
        if !fits {
            out.push(format!("{path}: {v} is not {ty}"));
        }
        return;
    }
    let ok = match ty {
        "int" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "bool" => v.is_boolean(),
        "null" => v.is_null(),
        "any" => true,
        "object" => v.is_object(),
        _ if ty.starts_with('[') => {
            let Some(items) = v.as_array() else {
                out.push(format!("{path}: {v} is not an array ({ty})"));
                return;
            };
            let inner = &ty[1..ty.len() - 1];
            for (i, x) in items.iter().enumerate() {
                check(inner, x, &format!("{path}[{i}]"), out);
            }
            true
        }
        _ if ty.starts_with('{') => {
            let Some(o) = v.as_object() else {
                out.push(format!("{path}: {v} is not an object ({ty})"));
                return;
            };
            let inner = &ty[1..ty.len() - 1];
            for (k, x) in o {
                check(inner, x, &format!("{path}/{k}"), out);
            }
            true
        }
        name => {
            let spec = &schema()["types"][name];
            assert!(spec.is_object(), "the schema has no type {name}");
            check_object(spec, v, path, out);
            true
        }
    };
    if !ok {
        out.push(format!("{path}: {v} is not {ty}"));
    }
}

fn check_object(spec: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    let Some(o) = v.as_object() else {
        out.push(format!("{path}: {v} is not an object"));
        return;
    };
    let req = spec["required"].as_object().cloned().unwrap_or_default();
    let opt = spec["optional"].as_object().cloned().unwrap_or_default();
    for (k, t) in &req {
        match o.get(k) {
            Some(x) => check(t.as_str().unwrap_or("any"), x, &format!("{path}/{k}"), out),
            None => out.push(format!("{path}/{k}: missing")),
        }
    }
    for (k, x) in o {
        if req.contains_key(k) {
            continue;
        }
        match opt.get(k) {
            Some(t) => check(t.as_str().unwrap_or("any"), x, &format!("{path}/{k}"), out),
            None if spec["closed"] == true => {
                out.push(format!("{path}/{k}: not a field Marathon has here"))
            }
            None => {}
        }
    }
}
