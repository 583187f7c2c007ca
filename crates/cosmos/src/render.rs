//! Rendering a package into a Marathon app, as Cosmos does: the schema's defaults merged with the
//! user's options, validated (draft 4), plus `resource`, fill the mustache template; the result
//! must be a JSON object; then the `DCOS_PACKAGE_*` labels that make the app an installed package
//! (name, version, source, options, and the whole definition in a gzip storage envelope) are set
//! over the template's own labels. Also the envelope's decoding, for `list`. Pure: no I/O.

use crate::error::Error;
use crate::mustache;
use crate::schema;
use crate::universe::Package;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::{json, Map, Value};
use std::io::{Read, Write};

pub const NAME_LABEL: &str = "DCOS_PACKAGE_NAME";
pub const VERSION_LABEL: &str = "DCOS_PACKAGE_VERSION";
pub const SOURCE_LABEL: &str = "DCOS_PACKAGE_SOURCE";
pub const OPTIONS_LABEL: &str = "DCOS_PACKAGE_OPTIONS";
pub const DEFINITION_LABEL: &str = "DCOS_PACKAGE_DEFINITION";
pub const FRAMEWORK_NAME_LABEL: &str = "DCOS_PACKAGE_FRAMEWORK_NAME";
/// Drover's own label (not Cosmos'): a nonce each install sets, so that the cleanup of an install
/// whose answer was lost removes only the app this install made.
pub const INSTALL_ID_LABEL: &str = "DROVER_PACKAGE_INSTALL_ID";

/// The Marathon app for `pkg` from repository `source_uri` with the user's `options`, its id
/// replaced by `app_id` if given; `None` for a package without a Marathon template. Outside a
/// cluster's context (the tests' shorthand for [`render_in`]).
#[cfg(test)]
pub fn render(
    pkg: &Package,
    source_uri: &str,
    options: Option<&Map<String, Value>>,
    app_id: Option<&str>,
) -> Result<Option<Map<String, Value>>, Error> {
    render_in(pkg, source_uri, options, app_id, &Cluster::default())
}

/// What the cluster adds to a template's context beyond Cosmos' own (a Drover extension):
/// where a package's relative resource URLs are served (the gateway as the agents reach it, or
/// as the client did when that is unknown), and `{{cluster.master}}`, how tasks find the master.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// `http://host:port`; empty leaves relative URLs as they are.
    pub origin: String,
    pub master: Option<String>,
}

/// The Marathon app for `pkg` from repository `source_uri` with the user's `options`, its id
/// replaced by `app_id` if given, in `cluster`'s context; `None` for a package without a
/// Marathon template.
pub fn render_in(
    pkg: &Package,
    source_uri: &str,
    options: Option<&Map<String, Value>>,
    app_id: Option<&str>,
    cluster: &Cluster,
) -> Result<Option<Map<String, Value>>, Error> {
    let template = match pkg.marathon_template() {
        None => return Ok(None),
        Some(Err(cause)) => {
            return Err(Error::MarathonTemplateInvalid {
                name: pkg.name().into(),
                cause: format!(
                    "marathon.v2AppMustacheTemplate is not base64 of UTF-8 text: {cause}"
                ),
            })
        }
        Some(Ok(t)) => t,
    };
    let mut merged = pkg.config().map(schema::defaults).unwrap_or_default();
    if let Some(o) = options {
        schema::merge(&mut merged, o);
    }
    match (pkg.config(), merged.is_empty()) {
        (_, true) => {}
        (None, false) => return Err(Error::OptionsNotAllowed),
        (Some(s), false) => schema::validate(s, &Value::Object(merged.clone()), pkg.name())?,
    }
    let mut context = merged;
    if let Some(r) = pkg.resource() {
        let mut r = r.clone();
        if !cluster.origin.is_empty() {
            crate::catalog::absolutize(&mut r, &cluster.origin);
        }
        schema::merge(&mut context, &Map::from_iter([("resource".to_string(), r)]));
    }
    if let Some(m) = &cluster.master {
        // Only where the package's own options have no `cluster`.
        context
            .entry("cluster")
            .or_insert_with(|| serde_json::json!({ "master": m }));
    }
    let text = mustache::render(&template, &Value::Object(context)).map_err(|e| {
        Error::MarathonTemplateInvalid {
            name: pkg.name().into(),
            cause: e.0,
        }
    })?;
    let rendered: Value = serde_json::from_str(&text).map_err(|e| Error::JsonParsingError {
        what: format!("the rendered Marathon app of package [{}]", pkg.name()),
        cause: e.to_string(),
    })?;
    let Value::Object(mut app) = rendered else {
        return Err(Error::MarathonTemplateMustBeJsonObject);
    };
    let mut labels = match app.remove("labels") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(l)) if l.values().all(Value::is_string) => l,
        Some(other) => {
            return Err(Error::JsonDecodingError {
                what: format!(
                    "the labels of the rendered Marathon app of package [{}]",
                    pkg.name()
                ),
                cause: format!("labels must be an object of strings, got {other}"),
            })
        }
    };
    if let Some(id) = app_id {
        app.insert("id".into(), json!(crate::installed::valid_app_id(id)?));
    } else if let Some(id) = app.get("id").and_then(Value::as_str) {
        let id = crate::installed::valid_app_id(id)?;
        app.insert("id".into(), json!(id));
    }
    let user_options = options.cloned().map(Value::Object).unwrap_or(json!({}));
    labels.insert(NAME_LABEL.into(), json!(pkg.name()));
    labels.insert(VERSION_LABEL.into(), json!(pkg.version()));
    labels.insert(SOURCE_LABEL.into(), json!(source_uri));
    labels.insert(
        OPTIONS_LABEL.into(),
        json!(B64.encode(compact(&user_options))),
    );
    labels.insert(DEFINITION_LABEL.into(), json!(encode_definition(pkg)));
    app.insert("labels".into(), Value::Object(labels));
    Ok(Some(app))
}

/// JSON without spaces and without null-valued fields, as Cosmos prints labels.
fn compact(v: &Value) -> String {
    fn drop_nulls(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(_, x)| !x.is_null())
                    .map(|(k, x)| (k.clone(), drop_nulls(x)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(drop_nulls).collect()),
            other => other.clone(),
        }
    }
    drop_nulls(v).to_string()
}

/// `DCOS_PACKAGE_DEFINITION`: base64 of the storage envelope
/// `{"metadata": {"Content-Type", "Content-Encoding": "gzip"}, "data": base64(gzip(package))}`.
pub fn encode_definition(pkg: &Package) -> String {
    let raw = compact(&Value::Object(pkg.json().clone()));
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let zipped = gz
        .write_all(raw.as_bytes())
        .and_then(|_| gz.finish())
        .unwrap_or_default();
    let mut metadata = Map::new();
    metadata.insert("Content-Type".into(), json!(pkg.media_type()));
    metadata.insert("Content-Encoding".into(), json!("gzip"));
    let envelope = json!({"metadata": metadata, "data": B64.encode(zipped)});
    B64.encode(compact(&envelope))
}

/// The longest `DCOS_PACKAGE_DEFINITION` label decoded (any Marathon app's labels reach
/// `list`; a real definition is tens of KiB).
const MAX_DEFINITION_LABEL: usize = 1 << 20;
/// The most a definition inflates to (a gzip bomb stops here).
const MAX_DEFINITION: u64 = 4 << 20;

/// The package definition in a `DCOS_PACKAGE_DEFINITION` label; `Err` says what is wrong
/// (also a label or an inflated definition past its limit).
pub fn decode_definition(label: &str) -> Result<Value, String> {
    if label.len() > MAX_DEFINITION_LABEL {
        return Err(format!(
            "the label is longer than {} KiB",
            MAX_DEFINITION_LABEL >> 10
        ));
    }
    let envelope = B64
        .decode(label.trim())
        .map_err(|e| format!("the label is not base64: {e}"))?;
    let envelope: Value =
        serde_json::from_slice(&envelope).map_err(|e| format!("the envelope is not JSON: {e}"))?;
    let data = envelope
        .get("data")
        .and_then(Value::as_str)
        .ok_or("the envelope has no `data`")?;
    let data = B64
        .decode(data)
        .map_err(|e| format!("the envelope's data is not base64: {e}"))?;
    let encoding = envelope
        .pointer("/metadata/Content-Encoding")
        .and_then(Value::as_str);
    let raw = match encoding {
        None => data,
        Some("gzip") => {
            let mut out = Vec::new();
            GzDecoder::new(data.as_slice())
                .take(MAX_DEFINITION + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("the envelope's data is not gzip: {e}"))?;
            if out.len() as u64 > MAX_DEFINITION {
                return Err(format!(
                    "the definition inflates to more than {} MiB",
                    MAX_DEFINITION >> 20
                ));
            }
            out
        }
        Some(other) => return Err(format!("unsupported Content-Encoding {other}")),
    };
    serde_json::from_slice(&raw).map_err(|e| format!("the definition is not JSON: {e}"))
}

/// The user's options recorded in a `DCOS_PACKAGE_OPTIONS` label.
#[cfg(test)]
pub fn decode_options(label: &str) -> Option<Value> {
    let bytes = B64.decode(label.trim()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::universe::tests::package;

    fn helloworld() -> Package {
        let template = r#"{"id": "/helloworld", "cpus": 0.1, "mem": 32, "instances": 1,
            "cmd": "python3 -m http.server {{port}}",
            "labels": {"DCOS_PACKAGE_FRAMEWORK_NAME": "hello", "DCOS_PACKAGE_NAME": "spoof"}}"#;
        package(
            "helloworld",
            "0.1.0",
            0,
            json!({
                "config": {"type": "object", "additionalProperties": false,
                           "properties": {"port": {"type": "integer", "default": 8080}}},
                "marathon": {"v2AppMustacheTemplate": B64.encode(template)},
                "resource": {"assets": {"uris": {"x": "http://x"}}}
            }),
        )
    }

    #[test]
    fn renders_with_defaults_options_and_labels() {
        let p = helloworld();
        let app = render(&p, "builtin:universe", None, None).unwrap().unwrap();
        assert_eq!(app["cmd"], "python3 -m http.server 8080");
        let labels = app["labels"].as_object().unwrap();
        assert_eq!(labels[NAME_LABEL], "helloworld");
        assert_eq!(labels[VERSION_LABEL], "0.1.0");
        assert_eq!(labels[SOURCE_LABEL], "builtin:universe");
        assert_eq!(labels[FRAMEWORK_NAME_LABEL], "hello");
        assert_eq!(
            decode_options(labels[OPTIONS_LABEL].as_str().unwrap()),
            Some(json!({}))
        );

        let opts = json!({"port": 9090}).as_object().cloned().unwrap();
        let app = render(&p, "u", Some(&opts), Some("/hw2")).unwrap().unwrap();
        assert_eq!(app["cmd"], "python3 -m http.server 9090");
        assert_eq!(app["id"], "/hw2");
        assert_eq!(
            decode_options(app["labels"][OPTIONS_LABEL].as_str().unwrap()),
            Some(json!({"port": 9090}))
        );
    }

    #[test]
    fn the_definition_envelope_round_trips() {
        let p = helloworld();
        let label = encode_definition(&p);
        let envelope: Value = serde_json::from_slice(&B64.decode(&label).unwrap()).unwrap();
        assert_eq!(
            envelope["metadata"],
            json!({"Content-Type": "application/vnd.dcos.universe.package+json;charset=utf-8;version=v4",
                   "Content-Encoding": "gzip"})
        );
        assert_eq!(
            decode_definition(&label).unwrap(),
            Value::Object(p.json().clone())
        );
        assert!(decode_definition("!!").is_err());
        assert!(decode_definition(
            &B64.encode("{\"data\": \"AAAA\", \"metadata\": {\"Content-Encoding\": \"gzip\"}}")
        )
        .is_err());
    }

    #[test]
    fn oversized_definitions_are_refused_not_inflated() {
        let envelope = |data: &[u8]| {
            B64.encode(
                json!({"metadata": {"Content-Encoding": "gzip"}, "data": B64.encode(data)})
                    .to_string(),
            )
        };
        let gzip = |raw: &[u8]| {
            let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(raw).unwrap();
            gz.finish().unwrap()
        };
        // A gzip bomb: a few KiB that inflate past the limit.
        let bomb = gzip(&vec![b' '; (MAX_DEFINITION as usize) + 1]);
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let e = decode_definition(&envelope(&bomb)).unwrap_err();
        assert!(e.contains("more than 4 MiB"), "{e}");
        // Right at the limit it still decodes (JSON padded with spaces).
        let mut at_limit = b"{}".to_vec();
        at_limit.resize(MAX_DEFINITION as usize, b' ');
        assert_eq!(
            decode_definition(&envelope(&gzip(&at_limit))).unwrap(),
            json!({})
        );
        // An over-long label is refused before it is decoded.
        let e = decode_definition(&"A".repeat(MAX_DEFINITION_LABEL + 1)).unwrap_err();
        assert!(e.contains("longer than 1024 KiB"), "{e}");
    }

    #[test]
    fn options_are_checked_before_rendering() {
        let p = helloworld();
        let bad = json!({"port": "80", "extra": 1})
            .as_object()
            .cloned()
            .unwrap();
        let Err(Error::JsonSchemaMismatch { errors }) = render(&p, "u", Some(&bad), None) else {
            panic!("expected a schema mismatch");
        };
        let keywords: Vec<&str> = errors
            .iter()
            .map(|e| e["keyword"].as_str().unwrap())
            .collect();
        assert!(
            keywords.contains(&"type") && keywords.contains(&"additionalProperties"),
            "{errors:?}"
        );

        let no_schema = package(
            "n",
            "1",
            0,
            json!({"marathon": {"v2AppMustacheTemplate": B64.encode("{}")}}),
        );
        let opts = json!({"a": 1}).as_object().cloned().unwrap();
        assert_eq!(
            render(&no_schema, "u", Some(&opts), None).unwrap_err(),
            Error::OptionsNotAllowed
        );
        assert!(render(&no_schema, "u", None, None).unwrap().is_some());
        assert_eq!(
            render(&package("n", "1", 0, json!({})), "u", None, None).unwrap(),
            None
        );
    }

    #[test]
    fn templates_that_do_not_render_to_an_object_are_named() {
        let t = |s: &str| {
            package(
                "t",
                "1",
                0,
                json!({"marathon": {"v2AppMustacheTemplate": B64.encode(s)}}),
            )
        };
        let cases = [
            ("[1]", "MarathonTemplateMustBeJsonObject"),
            ("{\"id\": }", "JsonParsingError"),
            ("{{#x}}", "MarathonTemplateInvalid"),
            ("{\"labels\": {\"a\": 1}}", "JsonDecodingError"),
        ];
        for (template, kind) in cases {
            let e = render(&t(template), "u", None, None).unwrap_err();
            assert_eq!(e.kind(), kind, "{template}");
        }
        let e = render(&t("{\"id\": }"), "u", None, None).unwrap_err();
        assert!(e.to_string().contains("package [t]"), "{e}");
    }

    #[test]
    fn a_clusters_context_makes_assets_absolute_and_names_the_master() {
        let repo = crate::builtin::repository().unwrap();
        let p = repo
            .packages
            .iter()
            .find(|p| p.name() == "marathon")
            .unwrap();
        let cluster = Cluster {
            origin: "http://10.0.0.1:8000".into(),
            master: Some("zk://z1:2181/mesos".into()),
        };
        let app = render_in(p, "builtin:universe", None, None, &cluster)
            .unwrap()
            .unwrap();
        assert_eq!(app["id"], "/marathon-user");
        assert_eq!(
            app["fetch"][0]["uri"],
            "http://10.0.0.1:8000/package/assets/drover"
        );
        let cmd = app["cmd"].as_str().unwrap();
        assert!(
            cmd.contains("--master zk://z1:2181/mesos --framework-name marathon-user"),
            "{cmd}"
        );
        assert_eq!(
            app["labels"]["DCOS_PACKAGE_FRAMEWORK_NAME"],
            "marathon-user"
        );
        // `marathon` is the cluster Marathon's own framework name: refused, names near it not.
        let named = |n: &str| {
            json!({"service": {"name": n}})
                .as_object()
                .cloned()
                .unwrap()
        };
        let Err(Error::JsonSchemaMismatch { errors }) =
            render_in(p, "u", Some(&named("marathon")), None, &cluster)
        else {
            panic!("service.name marathon must be refused");
        };
        assert_eq!(
            errors[0]["instance"]["pointer"], "/service/name",
            "{errors:?}"
        );
        for ok in ["marathon-2", "marathons", "my-marathon"] {
            let app = render_in(p, "u", Some(&named(ok)), None, &cluster).unwrap();
            assert_eq!(app.unwrap()["labels"]["DCOS_PACKAGE_FRAMEWORK_NAME"], ok);
        }
        // Without a cluster, URLs stay relative and the master is empty.
        let bare = render(p, "u", None, None).unwrap().unwrap();
        assert_eq!(bare["fetch"][0]["uri"], "/package/assets/drover");
    }
}
