//! The JSON of app definitions and group trees as Marathon writes them in events and
//! deployment plans: an app's stored bookkeeping (`lastScalingAt`, `lastConfigChangeAt`)
//! becomes its `versionInfo`; a group tree nests groups by id, each with exactly Marathon's
//! keys (`id`, `apps`, `pods`, `groups`, `dependencies`, `version`).

use drover_api::marathon::App;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// An app's definition as Marathon writes it (no counts, tasks or deployments).
pub fn definition(app: &App) -> Value {
    let mut v = serde_json::to_value(app).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        let scaling = o.remove("lastScalingAt");
        let config = o.remove("lastConfigChangeAt");
        if scaling.is_some() || config.is_some() {
            o.insert(
                "versionInfo".into(),
                json!({"lastScalingAt": scaling, "lastConfigChangeAt": config}),
            );
        }
    }
    v
}

/// The root group holding `apps`, every group between, at `version`.
pub fn group_tree(apps: &[&App], version: &str) -> Value {
    #[derive(Default)]
    struct Node {
        apps: Vec<Value>,
        groups: BTreeMap<String, Node>,
    }
    let mut root = Node::default();
    for app in apps {
        let parts: Vec<&str> = app.id.trim_start_matches('/').split('/').collect();
        let mut node = &mut root;
        let mut path = String::new();
        for p in &parts[..parts.len().saturating_sub(1)] {
            path.push('/');
            path.push_str(p);
            node = node.groups.entry(path.clone()).or_default();
        }
        node.apps.push(definition(app));
    }
    fn write(id: &str, n: Node, version: &str) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(id));
        o.insert("apps".into(), Value::Array(n.apps));
        o.insert("pods".into(), json!([]));
        o.insert(
            "groups".into(),
            Value::Array(
                n.groups
                    .into_iter()
                    .map(|(gid, g)| write(&gid, g, version))
                    .collect(),
            ),
        );
        o.insert("dependencies".into(), json!([]));
        o.insert("version".into(), json!(version));
        Value::Object(o)
    }
    write("/", root, version)
}
