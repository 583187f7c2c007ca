//! `drover app update <id> key=value…`: the settings as a partial app definition. Values are
//! JSON when they parse, else strings; a dotted key sets one entry inside an object field,
//! starting from the app's current value of it. This works on the app's JSON as Marathon sent
//! it (a `serde_json::Value`), not a typed app: the keys are the user's, any path of the
//! definition, and what is not set must stay exactly as it was.

use crate::error::Error;
use serde_json::{json, Map, Value};

/// Fields of a Marathon app definition (a typo would otherwise be kept as an unknown field).
const APP_FIELDS: &[&str] = &[
    "id",
    "cmd",
    "args",
    "user",
    "env",
    "instances",
    "cpus",
    "mem",
    "disk",
    "gpus",
    "executor",
    "constraints",
    "uris",
    "fetch",
    "storeUrls",
    "backoffSeconds",
    "backoffFactor",
    "maxLaunchDelaySeconds",
    "container",
    "healthChecks",
    "readinessChecks",
    "dependencies",
    "upgradeStrategy",
    "labels",
    "acceptedResourceRoles",
    "role",
    "portDefinitions",
    "ports",
    "requirePorts",
    "killSelection",
    "taskKillGracePeriodSeconds",
    "networks",
    "unreachableStrategy",
    "secrets",
    "residency",
    "ipAddress",
];

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `key=value` arguments as a partial app body. Values are JSON when they parse, else strings
/// (under `env` and `labels` they stay strings unless they are JSON objects). A dotted key sets
/// one entry inside an object field, starting from the app's `current` value of that field, so
/// `env.FOO=bar` keeps the other variables.
pub(super) fn parse_settings(settings: &[String], current: &Value) -> Result<Value, Error> {
    let mut patch = Map::new();
    let mut seen: Vec<Vec<String>> = Vec::new();
    for arg in settings {
        let malformed = || {
            Error::usage(format!("malformed setting '{arg}': expected key=value, e.g. instances=3 cmd=\"sleep 10\" env.FOO=bar"))
        };
        let (key, raw) = arg.split_once('=').ok_or_else(malformed)?;
        let path: Vec<String> = key.trim().split('.').map(String::from).collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(malformed());
        }
        if let Some(other) = seen
            .iter()
            .find(|p| p.starts_with(&path) || path.starts_with(p))
        {
            return Err(Error::usage(format!(
                "'{key}' is set twice (it overlaps '{}')",
                other.join(".")
            )));
        }
        seen.push(path.clone());
        let top = &path[0];
        if !APP_FIELDS.contains(&top.as_str()) && current.get(top).is_none() {
            let near: Vec<&str> = APP_FIELDS
                .iter()
                .copied()
                .filter(|f| {
                    f.to_lowercase()
                        .starts_with(&top.to_lowercase()[..top.len().min(3)])
                })
                .collect();
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", near.join(", "))
            };
            return Err(Error::usage(format!(
                "'{top}' is not a field of a Marathon app{hint}"
            )));
        }
        let keep_string = path.len() > 1 && (top == "env" || top == "labels");
        let value = match serde_json::from_str::<Value>(raw) {
            Ok(v) if !keep_string || v.is_object() => v,
            _ => Value::String(raw.to_string()),
        };
        if path.len() == 1 {
            patch.insert(top.clone(), value);
            continue;
        }
        let slot = patch
            .entry(top.clone())
            .or_insert_with(|| match current.get(top) {
                Some(v) if !v.is_null() => v.clone(),
                _ => json!({}),
            });
        let mut node = slot;
        for (depth, seg) in path[1..].iter().enumerate() {
            let here = path[..=depth].join(".");
            if node.is_null() {
                *node = json!({});
            }
            let obj = match node {
                Value::Object(o) => o,
                other => {
                    return Err(Error::usage(format!(
                        "cannot set '{key}': '{here}' is {} in the app, not an object",
                        json_type(other)
                    )))
                }
            };
            if depth + 2 == path.len() {
                obj.insert(seg.clone(), value);
                break;
            }
            node = obj.entry(seg.clone()).or_insert_with(|| json!({}));
        }
    }
    Ok(Value::Object(patch))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn settings_parse_as_json_or_strings_and_dotted_keys_merge_into_the_current_object() {
        let current = json!({"id": "/web", "env": {"A": "1"}, "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}});
        let p = parse_settings(
            &args(&[
                "instances=3",
                "cmd=sleep 10",
                "env.FOO=bar",
                "env.N=1.0",
                "upgradeStrategy.minimumHealthCapacity=0.5",
                "requirePorts=true",
            ]),
            &current,
        )
        .unwrap();
        assert_eq!(
            p,
            json!({"instances": 3, "cmd": "sleep 10", "env": {"A": "1", "FOO": "bar", "N": "1.0"},
                   "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 1}, "requirePorts": true})
        );
        let p = parse_settings(
            &args(&[
                "labels.team=a=b",
                "constraints=[[\"hostname\",\"UNIQUE\"]]",
                "container.docker.image=nginx",
            ]),
            &json!({}),
        )
        .unwrap();
        assert_eq!(
            p,
            json!({"labels": {"team": "a=b"}, "constraints": [["hostname", "UNIQUE"]], "container": {"docker": {"image": "nginx"}}})
        );
    }

    #[test]
    fn malformed_settings_say_what_is_wrong() {
        let current = json!({"cmd": "x"});
        for bad in ["instances", "=3", "env..X=1", ".a=1", "env.=1"] {
            let e = parse_settings(&args(&[bad]), &current).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
            let e = e.to_string();
            assert!(
                e.contains("malformed setting") && e.contains("key=value"),
                "{bad}: {e}"
            );
        }
        let e = parse_settings(&args(&["instance=3"]), &current)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a field") && e.contains("instances"), "{e}");
        let e = parse_settings(&args(&["cmd.x=1"]), &current)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a string"), "{e}");
        let e = parse_settings(&args(&["env.A=1", "env=2"]), &current)
            .unwrap_err()
            .to_string();
        assert!(e.contains("set twice"), "{e}");
    }
}
