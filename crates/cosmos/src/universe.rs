//! The Universe repository format: `{"packages": […]}` (v3, v4 and v5 repositories), each package
//! kept as published — unknown fields included, so `describe` echoes them — with the fields
//! Cosmos reads checked when the repository is read.

use crate::error::Error;
use base64::Engine;
use serde_json::{Map, Value};

/// One package version of a repository.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    json: Map<String, Value>,
    name: String,
    version: String,
    release: u64,
}

/// A repository's packages, in the repository's order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Repository {
    pub packages: Vec<Package>,
}

impl Package {
    /// Check a package's required fields; `Err` says which is missing or wrong.
    pub fn from_json(v: Value) -> Result<Package, String> {
        let Value::Object(json) = v else {
            return Err("a package is not a JSON object".into());
        };
        let text = |k: &str| -> Result<String, String> {
            json.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("a package has no string `{k}`"))
        };
        let name = text("name")?;
        let version = text("version").map_err(|e| format!("{e} (package {name})"))?;
        let release = match json.get("releaseVersion") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("package {name} {version} has no integer `releaseVersion`"))?;
        for k in ["packagingVersion", "maintainer", "description"] {
            if json.get(k).and_then(Value::as_str).is_none() {
                return Err(format!("package {name} {version} has no string `{k}`"));
            }
        }
        Ok(Package {
            json,
            name,
            version,
            release,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn release_version(&self) -> u64 {
        self.release
    }

    /// The package as published.
    pub fn json(&self) -> &Map<String, Value> {
        &self.json
    }

    /// A top-level field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.json.get(key)
    }

    /// A top-level string field.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.json.get(key).and_then(Value::as_str)
    }

    pub fn packaging_version(&self) -> &str {
        self.text("packagingVersion").unwrap_or("4.0")
    }

    pub fn description(&self) -> &str {
        self.text("description").unwrap_or_default()
    }

    pub fn tags(&self) -> Vec<&str> {
        self.json
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| t.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    pub fn selected(&self) -> Option<bool> {
        self.json.get("selected").and_then(Value::as_bool)
    }

    pub fn framework(&self) -> bool {
        self.json
            .get("framework")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The config schema, when the package has one.
    pub fn config(&self) -> Option<&Value> {
        self.json.get("config").filter(|c| c.is_object())
    }

    pub fn resource(&self) -> Option<&Value> {
        self.json.get("resource").filter(|r| r.is_object())
    }

    /// The Marathon app template (`marathon.v2AppMustacheTemplate`, base64), decoded; `None`
    /// when the package has none, `Err` when it is not base64 of UTF-8.
    pub fn marathon_template(&self) -> Option<Result<String, String>> {
        let b64 = self
            .json
            .get("marathon")?
            .get("v2AppMustacheTemplate")?
            .as_str()?;
        if b64.is_empty() {
            return None;
        }
        Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| e.to_string())
                .and_then(|bytes| String::from_utf8(bytes).map_err(|e| e.to_string())),
        )
    }

    /// The media type of this package's definition: `…universe.package+json;…;version=v4` for a
    /// `4.0` package.
    pub fn media_type(&self) -> String {
        let major = self
            .packaging_version()
            .split('.')
            .next()
            .unwrap_or("4")
            .to_string();
        crate::media::universe("package", &format!("v{major}"))
    }
}

/// Read a repository's JSON. `what` names it in errors (`repository [Universe]`).
pub fn parse_repository(bytes: &[u8], what: &str) -> Result<Repository, Error> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::JsonParsingError {
        what: what.to_string(),
        cause: e.to_string(),
    })?;
    let decoding = |cause: String| Error::JsonDecodingError {
        what: what.to_string(),
        cause,
    };
    let list = v
        .get("packages")
        .and_then(Value::as_array)
        .ok_or_else(|| decoding("no `packages` array".into()))?;
    let packages = list
        .iter()
        .cloned()
        .map(Package::from_json)
        .collect::<Result<Vec<_>, _>>()
        .map_err(decoding)?;
    Ok(Repository { packages })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A package JSON with the required fields, `extra` merged over them.
    pub fn package_json(name: &str, version: &str, release: u64, extra: Value) -> Value {
        let mut v = json!({
            "packagingVersion": "4.0", "name": name, "version": version,
            "releaseVersion": release, "maintainer": "m@example.com",
            "description": format!("the {name} package"), "tags": ["demo"]
        });
        if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
            m.extend(e);
        }
        v
    }

    pub fn package(name: &str, version: &str, release: u64, extra: Value) -> Package {
        Package::from_json(package_json(name, version, release, extra)).unwrap()
    }

    #[test]
    fn repositories_keep_unknown_fields_and_name_what_is_wrong() {
        let repo =
            json!({"packages": [package_json("a", "1.0", 0, json!({"x-custom": {"k": 1}}))]});
        let r = parse_repository(repo.to_string().as_bytes(), "repository [t]").unwrap();
        assert_eq!(r.packages[0].get("x-custom"), Some(&json!({"k": 1})));
        assert_eq!(
            r.packages[0].media_type(),
            "application/vnd.dcos.universe.package+json;charset=utf-8;version=v4"
        );

        let e = parse_repository(b"<html>", "repository [t]").unwrap_err();
        assert_eq!(e.kind(), "JsonParsingError");
        let e = parse_repository(b"{\"packages\": 3}", "repository [t]").unwrap_err();
        assert_eq!(e.kind(), "JsonDecodingError");
        let bad = json!({"packages": [{"name": "a", "version": "1"}]});
        let e = parse_repository(bad.to_string().as_bytes(), "repository [t]").unwrap_err();
        assert!(e.to_string().contains("releaseVersion"), "{e}");
    }

    #[test]
    fn templates_are_decoded_from_base64() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("{\"id\": \"x\"}");
        let p = package(
            "a",
            "1",
            0,
            json!({"marathon": {"v2AppMustacheTemplate": b64}}),
        );
        assert_eq!(
            p.marathon_template(),
            Some(Ok("{\"id\": \"x\"}".to_string()))
        );
        assert_eq!(package("a", "1", 0, json!({})).marathon_template(), None);
        let p = package(
            "a",
            "1",
            0,
            json!({"marathon": {"v2AppMustacheTemplate": "!!"}}),
        );
        assert!(matches!(p.marathon_template(), Some(Err(_))));
    }
}
