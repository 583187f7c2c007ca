//! `drover app versions <id>`: the app's stored versions, newest first, each with what changed
//! from the one before it.

use super::{app_call, command_of};
use crate::args::MarathonArgs;
use crate::client::Client;
use crate::error::Error;
use crate::render::{num, outln, print_json, table, truncate, value_text};
use crate::views::{AppStatus, Received, Versions};
use reqwest::Method;
use serde_json::Value;

/// Versions shown in the table (`--json` lists them all).
const SHOWN: usize = 20;

/// The top-level fields that differ between two versions, as `instances 2→3` or `cmd`. A diff
/// of the definitions as Marathon sent them, whatever fields they have.
fn changes(new: &Value, old: &Value) -> String {
    let skip = [
        "version",
        "versionInfo",
        "lastScalingAt",
        "lastConfigChangeAt",
    ];
    let (Some(n), Some(o)) = (new.as_object(), old.as_object()) else {
        return String::new();
    };
    let mut keys: Vec<&String> = n
        .keys()
        .chain(o.keys())
        .filter(|k| !skip.contains(&k.as_str()))
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        let (a, b) = (
            o.get(k).unwrap_or(&Value::Null),
            n.get(k).unwrap_or(&Value::Null),
        );
        if a == b {
            continue;
        }
        let scalar = |v: &Value| !v.is_object() && !v.is_array() && v.to_string().len() <= 24;
        if scalar(a) && scalar(b) {
            out.push(format!("{k} {}→{}", value_text(a), value_text(b)));
        } else {
            out.push(k.clone());
        }
    }
    out.join(", ")
}

pub(super) async fn versions(api: &Client, c: &MarathonArgs, id: &str) -> Result<(), Error> {
    let v: Versions = app_call(api, id, Method::GET, "/versions", &[], None).await?;
    let list = v.versions;
    if c.json {
        print_json(&list);
        return Ok(());
    }
    // One more than shown, to say what the oldest shown one changed; one that cannot be read
    // shows empty.
    let mut defs: Vec<Option<Received<AppStatus>>> = Vec::new();
    for ver in list.iter().take(SHOWN + 1) {
        defs.push(
            app_call(api, id, Method::GET, &format!("/versions/{ver}"), &[], None)
                .await
                .ok(),
        );
    }
    let mut t = table(&[
        "VERSION",
        "INSTANCES",
        "CPUS",
        "MEM (MiB)",
        "CMD",
        "CHANGES",
    ]);
    for (i, ver) in list.iter().take(SHOWN).enumerate() {
        let d = defs[i].as_ref();
        let what = match defs.get(i + 1) {
            Some(older) => match (d, older) {
                (Some(d), Some(older)) => changes(&d.raw, &older.raw),
                _ => String::new(),
            },
            None if i + 1 == list.len() => "created".into(),
            None => String::new(),
        };
        let label = if i == 0 {
            format!("{ver} (current)")
        } else {
            ver.clone()
        };
        let cell = |f: &dyn Fn(&AppStatus) -> String| d.map(|d| f(d)).unwrap_or_default();
        t.add_row(vec![
            label,
            cell(&|d| d.def.instances.to_string()),
            cell(&|d| num(d.def.cpus)),
            cell(&|d| num(d.def.mem)),
            cell(&|d| truncate(&command_of(d), 30)),
            truncate(&what, 50),
        ]);
    }
    outln!("{t}");
    if list.len() > SHOWN {
        outln!(
            "{} older versions not shown (--json lists them all)",
            list.len() - SHOWN
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_changes_name_the_fields() {
        let old = json!({"instances": 2, "cmd": "sleep 600", "env": {}, "version": "a"});
        let new = json!({"instances": 3, "cmd": "sleep 600", "env": {"A": "1"}, "version": "b"});
        assert_eq!(changes(&new, &old), "env, instances 2→3");
    }
}
