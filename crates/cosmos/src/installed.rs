//! Installed packages, read from Marathon's apps (the `DCOS_PACKAGE_*` labels are the only
//! record, so what is installed stays true across restarts and failovers): `list`, which apps an
//! uninstall removes, and which framework it tears down (the one whose web UI one of the app's
//! tasks serves, else the only one of its name; never the cluster's own Marathon). Pure: no I/O.

use crate::catalog::absolutize;
use crate::error::Error;
use crate::render::{
    decode_definition, DEFINITION_LABEL, FRAMEWORK_NAME_LABEL, NAME_LABEL, VERSION_LABEL,
};
use serde_json::{json, Map, Value};

/// A Marathon app that is an installed package.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    pub app_id: String,
    pub name: String,
    pub version: Option<String>,
    pub framework_name: Option<String>,
    /// The package definition of `DCOS_PACKAGE_DEFINITION`, when it decodes.
    pub definition: Option<Value>,
}

/// `web`, `/web/` → `/web`.
pub fn normalize_app_id(id: &str) -> String {
    format!("/{}", id.trim_matches('/'))
}

/// `id` normalized (`/a/b`) if it is a Marathon path id: segments separated by `/`, each one or
/// more dot-separated labels of `a-z`, `0-9` and `-`, a label neither starting nor ending with
/// `-` (so no empty, `.` or `..` segment); `InvalidAppId` naming the segment otherwise.
pub fn valid_app_id(id: &str) -> Result<String, Error> {
    let normalized = normalize_app_id(id);
    let invalid = |cause: String| Error::InvalidAppId {
        app_id: id.to_string(),
        cause,
    };
    if normalized == "/" {
        return Err(invalid("it is empty".into()));
    }
    for segment in normalized[1..].split('/') {
        let label_ok = |l: &str| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !segment.split('.').all(label_ok) {
            return Err(invalid(format!(
                "segment '{segment}' must be lowercase letters, digits, '-' and '.' \
                 (not at either end, nor two dots in a row)"
            )));
        }
    }
    Ok(normalized)
}

/// The installed packages among a Marathon `GET /v2/apps` answer: apps with `DCOS_PACKAGE_NAME`.
pub fn installed(apps: &Value) -> Vec<Installed> {
    let Some(list) = apps.get("apps").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|app| {
            let labels = app.get("labels")?.as_object()?;
            let label = |k: &str| labels.get(k).and_then(Value::as_str).map(str::to_string);
            Some(Installed {
                app_id: normalize_app_id(app.get("id")?.as_str()?),
                name: label(NAME_LABEL)?,
                version: label(VERSION_LABEL),
                framework_name: label(FRAMEWORK_NAME_LABEL).filter(|n| !n.is_empty()),
                definition: labels
                    .get(DEFINITION_LABEL)
                    .and_then(Value::as_str)
                    .and_then(|l| decode_definition(l).ok()),
            })
        })
        .collect()
}

/// The v1 `list` answer for the packages matching `name` and `app_id`, sorted by name and app.
pub fn list(apps: &[Installed], name: Option<&str>, app_id: Option<&str>, origin: &str) -> Value {
    let app_id = app_id.map(normalize_app_id);
    let mut hits: Vec<&Installed> = apps
        .iter()
        .filter(|a| name.is_none_or(|n| a.name == n))
        .filter(|a| app_id.as_ref().is_none_or(|id| &a.app_id == id))
        .collect();
    hits.sort_by(|a, b| (&a.name, &a.app_id).cmp(&(&b.name, &b.app_id)));
    let packages: Vec<Value> = hits
        .into_iter()
        .map(|a| json!({"appId": a.app_id, "packageInformation": information(a, origin)}))
        .collect();
    json!({ "packages": packages })
}

/// A package definition's details, in Cosmos' order (`list` shows them; describe v2 too).
pub(crate) const DETAILS: [&str; 14] = [
    "packagingVersion",
    "name",
    "version",
    "maintainer",
    "description",
    "tags",
    "selected",
    "scm",
    "website",
    "framework",
    "preInstallNotes",
    "postInstallNotes",
    "postUninstallNotes",
    "licenses",
];

/// `{packageDefinition: {…details…}, resourceDefinition?: {assets?, images?}}`.
fn information(a: &Installed, origin: &str) -> Value {
    let mut details = Map::new();
    let mut out = Map::new();
    match &a.definition {
        Some(def) => {
            for k in DETAILS {
                if let Some(v) = def.get(k).filter(|v| !v.is_null()) {
                    details.insert(k.into(), v.clone());
                }
            }
            if let Some(r) = def.get("resource") {
                let mut resource = Map::new();
                for k in ["assets", "images"] {
                    if let Some(v) = r.get(k).filter(|v| !v.is_null()) {
                        let mut v = v.clone();
                        absolutize(&mut v, origin);
                        resource.insert(k.into(), v);
                    }
                }
                if !resource.is_empty() {
                    out.insert("resourceDefinition".into(), Value::Object(resource));
                }
            }
        }
        None => {
            // An app labelled by hand, or by an older Cosmos: what the labels say.
            details.insert("packagingVersion".into(), json!("2.0"));
            details.insert("name".into(), json!(a.name));
            details.insert(
                "version".into(),
                json!(a.version.clone().unwrap_or_default()),
            );
            details.insert("maintainer".into(), json!(""));
            details.insert("description".into(), json!(""));
        }
    }
    details.entry("tags").or_insert_with(|| json!([]));
    out.insert("packageDefinition".into(), Value::Object(details));
    Value::Object(out)
}

/// The apps an uninstall of `name` removes: the one named `app_id`, or every app of the package
/// when `all`; several without either is ambiguous.
pub fn uninstall_targets<'a>(
    apps: &'a [Installed],
    all_apps: &[String],
    name: &str,
    app_id: Option<&str>,
    all: bool,
) -> Result<Vec<&'a Installed>, Error> {
    let app_id = app_id.map(normalize_app_id);
    if let Some(id) = &app_id {
        if !all_apps.iter().any(|a| &normalize_app_id(a) == id) {
            return Err(Error::UninstallNonExistentAppForPackage {
                name: name.into(),
                app_id: id.clone(),
            });
        }
    }
    let hits: Vec<&Installed> = apps
        .iter()
        .filter(|a| a.name == name)
        .filter(|a| app_id.as_ref().is_none_or(|id| &a.app_id == id))
        .collect();
    if hits.is_empty() {
        return Err(Error::PackageNotInstalled { name: name.into() });
    }
    if hits.len() > 1 && !all {
        return Err(Error::AmbiguousAppId {
            name: name.into(),
            app_ids: hits.iter().map(|a| a.app_id.clone()).collect(),
        });
    }
    Ok(hits)
}

/// One entry of the uninstall answer's `results`.
pub fn uninstall_result(a: &Installed) -> Value {
    let mut r = Map::new();
    r.insert("packageName".into(), json!(a.name));
    r.insert("appId".into(), json!(a.app_id));
    if let Some(v) = &a.version {
        r.insert("packageVersion".into(), json!(v));
    }
    if let Some(notes) = a
        .definition
        .as_ref()
        .and_then(|d| d.get("postUninstallNotes"))
        .filter(|n| n.is_string())
    {
        r.insert("postUninstallNotes".into(), notes.clone());
    }
    Value::Object(r)
}

/// The ids of the running frameworks named `name` in a master's `/master/state`.
#[cfg(test)]
pub fn framework_ids(state: &Value, name: &str) -> Vec<String> {
    named(state, name)
        .filter_map(|f| f.get("id").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The running frameworks named `name` in a master's `/master/state`.
fn named<'a>(state: &'a Value, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    state
        .get("frameworks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |f| f.get("name").and_then(Value::as_str) == Some(name))
}

/// What an uninstall tears down for an app whose package names a framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Teardown {
    /// No framework (none of that name runs, or only the cluster's Marathon has it).
    Nothing,
    /// The framework with this id.
    One(String),
    /// Several of that name and none told apart by the app's tasks: these ids.
    Ambiguous(Vec<String>),
}

/// `host:port` of a URL (`http://10.0.0.2:31000/ui` → `10.0.0.2:31000`), lowercased, the
/// scheme's default port when none is written.
fn endpoint(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url.trim()).ok()?;
    let host = u.host_str().filter(|h| !h.is_empty())?;
    Some(format!(
        "{}:{}",
        host.to_ascii_lowercase(),
        u.port_or_known_default()?
    ))
}

/// Every `host:port` an app's tasks listen on, from Marathon's `GET /v2/apps/<id>/tasks`
/// (`{"tasks": [{"host", "ports": […]}]}`).
pub fn task_endpoints(tasks: &Value) -> Vec<String> {
    tasks
        .get("tasks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|t| {
            let host = t.get("host").and_then(Value::as_str).unwrap_or_default();
            t.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .filter(move |_| !host.is_empty())
                .map(move |p| format!("{}:{p}", host.to_ascii_lowercase()))
        })
        .collect()
}

/// The framework named `name` that an uninstall of an app with tasks at `tasks` (`host:port`s)
/// tears down: the one whose `webui_url` is one of those (Drover's `marathon` package registers
/// `http://$HOST:$PORT0`), else the only one of that name (Cosmos' rule). A framework whose
/// `webui_url` is `cluster_marathon` (the Marathon the gateway uses) is never torn down.
pub fn framework_to_tear_down(
    state: &Value,
    name: &str,
    tasks: &[String],
    cluster_marathon: Option<&str>,
) -> Teardown {
    let cluster = cluster_marathon.and_then(endpoint);
    let id = |f: &Value| f.get("id").and_then(Value::as_str).map(str::to_string);
    let web = |f: &Value| {
        f.get("webui_url")
            .and_then(Value::as_str)
            .and_then(endpoint)
    };
    let candidates: Vec<&Value> = named(state, name)
        .filter(|f| cluster.is_none() || web(f) != cluster)
        .collect();
    let ours: Vec<String> = candidates
        .iter()
        .filter(|f| web(f).is_some_and(|w| tasks.contains(&w)))
        .filter_map(|f| id(f))
        .collect();
    let pick = |ids: Vec<String>| match ids.as_slice() {
        [] => Teardown::Nothing,
        [one] => Teardown::One(one.clone()),
        _ => Teardown::Ambiguous(ids),
    };
    if !ours.is_empty() {
        return pick(ours);
    }
    pick(candidates.iter().filter_map(|f| id(f)).collect())
}

/// The ids of every app in a Marathon `GET /v2/apps` answer.
pub fn app_ids(apps: &Value) -> Vec<String> {
    apps.get("apps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("id").and_then(Value::as_str).map(str::to_string))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::render;
    use crate::universe::tests::package;
    use base64::Engine;

    /// An installed app as Marathon lists it, rendered from a real package.
    fn app(id: &str, name: &str, framework: Option<&str>) -> Value {
        let template = match framework {
            Some(f) => {
                format!(r#"{{"id": "{id}", "labels": {{"DCOS_PACKAGE_FRAMEWORK_NAME": "{f}"}}}}"#)
            }
            None => format!(r#"{{"id": "{id}"}}"#),
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(template);
        let p = package(
            name,
            "1.0",
            0,
            json!({"marathon": {"v2AppMustacheTemplate": b64}, "postUninstallNotes": "bye",
                   "resource": {"images": {"icon-small": "/i.png"}}}),
        );
        let mut a = Value::Object(render(&p, "builtin:universe", None, None).unwrap().unwrap());
        a["tasksRunning"] = json!(1);
        a
    }

    fn apps() -> Value {
        json!({"apps": [
            app("/web-b", "web", None),
            app("/web-a", "web", None),
            app("/kafka", "kafka", Some("kafka-fw")),
            {"id": "/plain", "labels": {"x": "y"}},
            {"id": "/old", "labels": {"DCOS_PACKAGE_NAME": "old", "DCOS_PACKAGE_VERSION": "0.1"}},
        ]})
    }

    #[test]
    fn list_decodes_the_labels_of_package_apps_only() {
        let inst = installed(&apps());
        assert_eq!(inst.len(), 4);
        let all = list(&inst, None, None, "http://h");
        let ids: Vec<&str> = all["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["appId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["/kafka", "/old", "/web-a", "/web-b"]);
        let kafka = &all["packages"][0]["packageInformation"];
        assert_eq!(kafka["packageDefinition"]["name"], "kafka");
        assert_eq!(kafka["packageDefinition"]["version"], "1.0");
        assert_eq!(kafka["packageDefinition"]["maintainer"], "m@example.com");
        assert!(kafka["packageDefinition"].get("marathon").is_none());
        assert_eq!(
            kafka["resourceDefinition"]["images"]["icon-small"],
            "http://h/i.png"
        );
        let old = &all["packages"][1]["packageInformation"]["packageDefinition"];
        assert_eq!(
            (old["name"].as_str(), old["version"].as_str()),
            (Some("old"), Some("0.1"))
        );

        assert_eq!(
            list(&inst, Some("web"), None, "")["packages"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            list(&inst, None, Some("web-a"), "")["packages"][0]["appId"],
            "/web-a"
        );
        assert_eq!(list(&inst, Some("nope"), None, ""), json!({"packages": []}));
    }

    #[test]
    fn an_app_with_a_gzip_bomb_for_a_definition_does_not_stop_list() {
        use std::io::Write;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'['; 8 << 20]).unwrap();
        let bomb = gz.finish().unwrap();
        let label = b64.encode(
            json!({"metadata": {"Content-Encoding": "gzip"}, "data": b64.encode(bomb)}).to_string(),
        );
        let mut body = apps();
        body["apps"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "/bomb", "labels": {
            "DCOS_PACKAGE_NAME": "bomb", "DCOS_PACKAGE_VERSION": "6.6",
            "DCOS_PACKAGE_DEFINITION": label}}));
        let inst = installed(&body);
        assert_eq!(inst.len(), 5);
        let bomb = inst.iter().find(|a| a.app_id == "/bomb").unwrap();
        assert_eq!(bomb.definition, None);
        let all = list(&inst, None, None, "");
        let ids: Vec<&str> = all["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["appId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["/bomb", "/kafka", "/old", "/web-a", "/web-b"]);
        assert_eq!(
            all["packages"][0]["packageInformation"]["packageDefinition"]["version"],
            "6.6"
        );
    }

    #[test]
    fn uninstall_picks_apps_or_says_why_not() {
        let body = apps();
        let inst = installed(&body);
        let ids = app_ids(&body);
        let one = uninstall_targets(&inst, &ids, "kafka", None, false).unwrap();
        assert_eq!(one[0].framework_name.as_deref(), Some("kafka-fw"));
        assert_eq!(
            uninstall_result(one[0]),
            json!({"packageName": "kafka", "appId": "/kafka", "packageVersion": "1.0", "postUninstallNotes": "bye"})
        );
        let e = uninstall_targets(&inst, &ids, "web", None, false).unwrap_err();
        assert_eq!(e.kind(), "AmbiguousAppId");
        assert!(e.to_string().contains("/web-b, /web-a"), "{e}");
        assert_eq!(
            uninstall_targets(&inst, &ids, "web", None, true)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            uninstall_targets(&inst, &ids, "web", Some("web-a/"), false).unwrap()[0].app_id,
            "/web-a"
        );
        let cases = [
            ("nope", None, "PackageNotInstalled"),
            ("web", Some("/ghost"), "UninstallNonExistentAppForPackage"),
            ("web", Some("/plain"), "PackageNotInstalled"),
        ];
        for (name, id, kind) in cases {
            let e = uninstall_targets(&inst, &ids, name, id, false).unwrap_err();
            assert_eq!(e.kind(), kind, "{name} {id:?}");
        }
    }

    #[test]
    fn app_ids_follow_marathons_grammar() {
        let ok = [
            ("web", "/web"),
            ("/prod/web-1/", "/prod/web-1"),
            ("a.b/c0.d-e", "/a.b/c0.d-e"),
            ("9", "/9"),
        ];
        for (id, want) in ok {
            assert_eq!(valid_app_id(id).unwrap(), want, "{id}");
        }
        let bad = [
            ("../groups/prod", "segment '..'"),
            ("a/./b", "segment '.'"),
            ("a//b", "segment ''"),
            ("/", "empty"),
            ("", "empty"),
            ("Web", "segment 'Web'"),
            ("-a", "segment '-a'"),
            ("a-", "segment 'a-'"),
            ("a..b", "segment 'a..b'"),
            (".a", "segment '.a'"),
            ("a%2Fb", "segment 'a%2Fb'"),
            ("a?force=true", "segment 'a?force=true'"),
            ("a b", "segment 'a b'"),
        ];
        for (id, want) in bad {
            let e = valid_app_id(id).unwrap_err();
            assert_eq!(e.kind(), "InvalidAppId", "{id}");
            assert!(e.to_string().contains(want), "{id}: {e}");
            assert_eq!(e.data(), Some(json!({ "appId": id })));
        }
    }

    #[test]
    fn the_framework_torn_down_is_the_apps_own_and_never_the_clusters_marathon() {
        let fw =
            |id: &str, name: &str, web: &str| json!({"id": id, "name": name, "webui_url": web});
        let state = |fws: Vec<Value>| json!({ "frameworks": fws });
        let tasks = task_endpoints(&json!({"tasks": [
            {"host": "10.0.0.2", "ports": [31000, 31001]}, {"host": "", "ports": [1]}, {"ports": [2]}
        ]}));
        assert_eq!(tasks, vec!["10.0.0.2:31000", "10.0.0.2:31001"]);
        let cluster = Some("http://10.0.0.1:8080");
        let one = |id: &str| Teardown::One(id.into());
        let cases = [
            // Several of the name: the one the app's task serves.
            (
                vec![
                    fw("a", "mu", "http://10.0.0.3:31000"),
                    fw("b", "mu", "http://10.0.0.2:31001/"),
                ],
                one("b"),
            ),
            // No task matches: the only one of the name (Cosmos' rule), or none.
            (vec![fw("a", "mu", "http://10.0.0.3:31000")], one("a")),
            (
                vec![fw("a", "other", "http://10.0.0.2:31000")],
                Teardown::Nothing,
            ),
            (
                vec![fw("a", "mu", ""), fw("b", "mu", "http://x:1")],
                Teardown::Ambiguous(vec!["a".into(), "b".into()]),
            ),
            // The cluster's Marathon is never a candidate, whatever its name.
            (
                vec![fw("m", "mu", "http://10.0.0.1:8080")],
                Teardown::Nothing,
            ),
            (
                vec![
                    fw("m", "mu", "HTTP://10.0.0.1:8080/"),
                    fw("a", "mu", "http://10.0.0.9:1"),
                ],
                one("a"),
            ),
        ];
        for (i, (fws, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                framework_to_tear_down(&state(fws), "mu", &tasks, cluster),
                want,
                "case {i}"
            );
        }
        // The default port counts as written.
        let s = state(vec![fw("m", "mu", "http://10.0.0.1")]);
        assert_eq!(
            framework_to_tear_down(&s, "mu", &[], Some("http://10.0.0.1:80")),
            Teardown::Nothing
        );
        assert_eq!(framework_to_tear_down(&s, "mu", &[], None), one("m"));
    }

    #[test]
    fn frameworks_are_found_by_name() {
        let state = json!({"frameworks": [
            {"id": "f1", "name": "kafka-fw"}, {"id": "f2", "name": "marathon"}, {"id": "f3", "name": "kafka-fw"}
        ], "completed_frameworks": [{"id": "f0", "name": "kafka-fw"}]});
        assert_eq!(framework_ids(&state, "kafka-fw"), vec!["f1", "f3"]);
        assert!(framework_ids(&json!({}), "x").is_empty());
    }
}
