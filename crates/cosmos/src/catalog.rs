//! The packages of every configured repository seen as one catalogue, as Cosmos merges them: a
//! name+version found in several repositories comes from the first; a name without a version
//! means the highest release of the first repository that has it. Search, describe (v3 and v2
//! shapes) and list-versions over it. Pure: no I/O.

use crate::error::Error;
use crate::universe::{Package, Repository};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A configured repository and its packages.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub uri: &'a str,
    pub repo: &'a Repository,
}

/// Every package once, with the URI of the repository it comes from, sorted by name, then
/// repository order, then release (newest first).
pub struct Catalog<'a> {
    entries: Vec<(&'a Package, &'a str)>,
}

impl<'a> Catalog<'a> {
    pub fn new(sources: &[Source<'a>]) -> Catalog<'a> {
        let mut all: Vec<(usize, &'a Package, &'a str)> = Vec::new();
        for (index, s) in sources.iter().enumerate() {
            for p in &s.repo.packages {
                let dup = all
                    .iter()
                    .any(|(_, q, _)| q.name() == p.name() && q.version() == p.version());
                if !dup {
                    all.push((index, p, s.uri));
                }
            }
        }
        all.sort_by(|(i, p, _), (j, q, _)| {
            (p.name(), i)
                .cmp(&(q.name(), j))
                .then(q.release_version().cmp(&p.release_version()))
        });
        Catalog {
            entries: all.into_iter().map(|(_, p, u)| (p, u)).collect(),
        }
    }

    /// The package `name` at `version` (or the current one) and its repository's URI.
    pub fn find(&self, name: &str, version: Option<&str>) -> Result<(&'a Package, &'a str), Error> {
        let mut named = self
            .entries
            .iter()
            .filter(|(p, _)| p.name() == name)
            .peekable();
        if named.peek().is_none() {
            return Err(Error::PackageNotFound { name: name.into() });
        }
        let found = match version {
            None => named.next(),
            Some(v) => named.find(|(p, _)| p.version() == v),
        };
        found.copied().ok_or_else(|| Error::VersionNotFound {
            name: name.into(),
            version: version.unwrap_or_default().into(),
        })
    }

    /// `{"packages": [...]}` for `query`: a lowercase substring of the name, description or a
    /// tag; with `*`, a pattern the whole of one of them must match. Selected packages first,
    /// then by name. `origin` makes relative URLs absolute.
    pub fn search(&self, query: Option<&str>, origin: &str) -> Value {
        // name → (the first, i.e. current, package; every version → release).
        let mut results: BTreeMap<&str, (&Package, Map<String, Value>)> = BTreeMap::new();
        for (p, _) in &self.entries {
            let e = results.entry(p.name()).or_insert((p, Map::new()));
            e.1.insert(p.version().into(), json!(p.release_version()));
        }
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        let mut hits: Vec<(&Package, Map<String, Value>)> = results
            .into_values()
            .filter(|(p, _)| query.is_none_or(|q| matches(p, q)))
            .collect();
        hits.sort_by_key(|(p, _)| (!p.selected().unwrap_or(false), p.name().to_string()));
        let packages: Vec<Value> = hits
            .into_iter()
            .map(|(p, versions)| {
                let mut r = Map::new();
                r.insert("name".into(), json!(p.name()));
                r.insert("currentVersion".into(), json!(p.version()));
                r.insert("versions".into(), Value::Object(versions));
                r.insert("description".into(), json!(p.description()));
                r.insert("framework".into(), json!(p.framework()));
                r.insert("tags".into(), json!(p.tags()));
                if let Some(s) = p.selected() {
                    r.insert("selected".into(), json!(s));
                }
                if let Some(images) = p.resource().and_then(|r| r.get("images")) {
                    let mut images = images.clone();
                    absolutize(&mut images, origin);
                    r.insert("images".into(), images);
                }
                Value::Object(r)
            })
            .collect();
        json!({ "packages": packages })
    }

    /// `{"results": {version: "releaseVersion"}}` for every version of `name`.
    pub fn list_versions(&self, name: &str) -> Result<Value, Error> {
        let results: Map<String, Value> = self
            .entries
            .iter()
            .filter(|(p, _)| p.name() == name)
            .map(|(p, _)| {
                (
                    p.version().to_string(),
                    json!(p.release_version().to_string()),
                )
            })
            .collect();
        if results.is_empty() {
            return Err(Error::PackageNotFound { name: name.into() });
        }
        Ok(json!({ "results": results }))
    }
}

/// Whether a package matches a search query.
fn matches(p: &Package, query: &str) -> bool {
    let mut fields = vec![p.name(), p.description()];
    fields.extend(p.tags());
    if query.contains('*') {
        let parts: Vec<&str> = query.split('*').collect();
        fields.iter().any(|f| glob(f, &parts))
    } else {
        let q = query.to_lowercase();
        fields.iter().any(|f| f.to_lowercase().contains(&q))
    }
}

/// `text` as a whole matches `parts` joined by `*` (any run of characters).
fn glob(text: &str, parts: &[&str]) -> bool {
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return true;
    };
    if parts.len() == 1 {
        return text == *first;
    }
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A package's definition as the v3 describe answer carries it, with relative URLs made absolute.
pub fn definition(p: &Package, origin: &str) -> Value {
    let mut v = Value::Object(p.json().clone());
    if let Some(r) = v.get_mut("resource") {
        absolutize(r, origin);
    }
    v
}

/// The v3 describe answer: `{"package": <definition>}`.
pub fn describe_v3(p: &Package, origin: &str) -> Value {
    json!({ "package": definition(p, origin) })
}

/// The v2 describe answer: the definition's v2 fields, flat.
pub fn describe_v2(p: &Package, origin: &str) -> Value {
    let def = definition(p, origin);
    let mut out = Map::new();
    // The details `list` shows too, then what a v2 describe adds.
    let keys = crate::installed::DETAILS.iter().chain(&[
        "minDcosReleaseVersion",
        "marathon",
        "resource",
        "config",
        "command",
    ]);
    for &key in keys {
        if let Some(v) = def.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    out.entry("tags").or_insert_with(|| json!([]));
    out.entry("selected").or_insert(json!(false));
    out.entry("framework").or_insert(json!(false));
    Value::Object(out)
}

/// Make every string of `v` that starts with `/` absolute under `origin` (`http://host:port`):
/// the built-in repository's CLI binaries are served by the gateway the client reached.
pub fn absolutize(v: &mut Value, origin: &str) {
    match v {
        Value::String(s) if s.starts_with('/') => *s = format!("{origin}{s}"),
        Value::Array(items) => items.iter_mut().for_each(|i| absolutize(i, origin)),
        Value::Object(m) => m.values_mut().for_each(|i| absolutize(i, origin)),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::universe::tests::package;

    fn repos() -> (Repository, Repository) {
        let first = Repository {
            packages: vec![
                package("web", "1.0", 1, json!({})),
                // The current version's tags are the ones searched.
                package("web", "2.0", 2, json!({"tags": ["http", "Static"]})),
                package(
                    "db",
                    "1.0",
                    0,
                    json!({"description": "A DATABASE", "framework": true}),
                ),
                package("zeta", "1.0", 0, json!({"selected": true})),
            ],
        };
        let second = Repository {
            packages: vec![
                package("web", "2.0", 7, json!({"description": "shadowed"})),
                package("web", "3.0", 9, json!({})),
                package("other", "0.1", 0, json!({})),
            ],
        };
        (first, second)
    }

    fn names(v: &Value) -> Vec<&str> {
        v["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn search_matches_substrings_and_patterns_selected_first() {
        let (a, b) = repos();
        let sources = [Source { uri: "a", repo: &a }, Source { uri: "b", repo: &b }];
        let c = Catalog::new(&sources);
        let cases: Vec<(Option<&str>, Vec<&str>)> = vec![
            (None, vec!["zeta", "db", "other", "web"]),
            (Some(""), vec!["zeta", "db", "other", "web"]),
            (Some("database"), vec!["db"]),
            (Some("STATIC"), vec!["web"]),
            (Some("we"), vec!["web"]),
            (Some("w*"), vec!["web"]),
            (Some("*eta"), vec!["zeta"]),
            (Some("e*"), vec![]),
            (Some("*"), vec!["zeta", "db", "other", "web"]),
            (Some("nothing"), vec![]),
        ];
        for (q, want) in cases {
            assert_eq!(names(&c.search(q, "http://h")), want, "{q:?}");
        }
        let web = &c.search(Some("web"), "http://h")["packages"][0];
        // The first repository's highest release is current; versions of both are listed.
        assert_eq!(web["currentVersion"], "2.0");
        assert_eq!(web["versions"], json!({"1.0": 1, "2.0": 2, "3.0": 9}));
        assert_eq!(web["framework"], false);
        assert!(web.get("selected").is_none());
        assert_eq!(c.search(Some("db"), "")["packages"][0]["framework"], true);
    }

    #[test]
    fn find_and_list_versions_follow_repository_order() {
        let (a, b) = repos();
        let sources = [Source { uri: "a", repo: &a }, Source { uri: "b", repo: &b }];
        let c = Catalog::new(&sources);
        let (p, uri) = c.find("web", None).unwrap();
        assert_eq!((p.version(), uri), ("2.0", "a"));
        let (p, uri) = c.find("web", Some("3.0")).unwrap();
        assert_eq!((p.version(), uri), ("3.0", "b"));
        assert_eq!(
            c.find("web", Some("2.0")).unwrap().0.description(),
            "the web package"
        );
        assert_eq!(c.find("nope", None).unwrap_err().kind(), "PackageNotFound");
        assert_eq!(
            c.find("web", Some("9")).unwrap_err().kind(),
            "VersionNotFound"
        );
        assert_eq!(
            c.list_versions("web").unwrap(),
            json!({"results": {"1.0": "1", "2.0": "2", "3.0": "9"}})
        );
        assert_eq!(
            c.list_versions("nope").unwrap_err().kind(),
            "PackageNotFound"
        );
    }

    #[test]
    fn describe_v3_wraps_and_v2_flattens() {
        let p = package(
            "cli",
            "1",
            0,
            json!({"x-extra": 1, "resource": {"cli": {"binaries": {"linux": {"x86-64": {
                "kind": "executable", "url": "/package/cli/cli/1/dcos-cli",
                "contentHash": [{"algo": "sha256", "value": "ab"}]}}}}}}),
        );
        let v3 = describe_v3(&p, "http://10.0.0.1:8000");
        assert_eq!(v3["package"]["x-extra"], 1);
        assert_eq!(
            v3["package"]["resource"]["cli"]["binaries"]["linux"]["x86-64"]["url"],
            "http://10.0.0.1:8000/package/cli/cli/1/dcos-cli"
        );
        let v2 = describe_v2(&p, "http://h");
        assert!(v2.get("package").is_none() && v2.get("x-extra").is_none());
        assert_eq!(v2["name"], "cli");
        assert_eq!(v2["selected"], false);
        assert_eq!(v2["framework"], false);
        assert_eq!(
            v2["resource"]["cli"]["binaries"]["linux"]["x86-64"]["url"],
            "http://h/package/cli/cli/1/dcos-cli"
        );
    }
}
