//! schema_form's tests: schemas as the shipped packages write them, forms as a browser
//! submits them, reports as Drover's Cosmos words them.

use super::*;
use serde_json::json;

fn schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "port": {"type": "integer", "description": "The port", "default": 8080,
                     "minimum": 1, "maximum": 65535},
            "service": {
                "type": "object",
                "description": "The app",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "default": "web"},
                    "cpus": {"type": "number", "default": 0.1},
                    "mode": {"type": "string", "enum": ["fast", "slow"], "default": "slow"},
                    "level": {"type": "integer", "enum": [1, 2, 3]},
                    "check": {"type": "boolean", "default": true},
                    "debug": {"type": "boolean"}
                }
            },
            "args": {"type": "array", "items": {"type": "string"}, "default": ["-v"]},
            "labels": {"type": "object"},
            "a/b": {"type": "string"}
        }
    })
}

/// What a browser submits for `items`: each control's name and value, checkboxes only when
/// checked, a select's selected choice (or its first).
fn submitted(items: &[Item]) -> Vec<(String, String)> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Field(f) => match &f.control {
                Control::Checkbox => f.checked.then(|| (f.name.clone(), "true".into())),
                Control::Select(cs) => {
                    let c = cs.iter().find(|c| c.selected).map_or("", |c| &c.value);
                    Some((f.name.clone(), c.to_string()))
                }
                _ => Some((f.name.clone(), f.value.clone())),
            },
            _ => None,
        })
        .collect()
}

fn field<'a>(items: &'a [Item], pointer: &str) -> &'a Field {
    items
        .iter()
        .find_map(|i| match i {
            Item::Field(f) if f.pointer == pointer => Some(f),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no field {pointer}"))
}

#[test]
fn objects_become_fieldsets_and_properties_controls_with_defaults_filled() {
    let s = schema();
    let current = Value::Object(defaults(&s));
    let items = form(&s, &current, &Errors::new());
    // Properties in the schema's (alphabetical) order, a group's fields inside it.
    let shape: Vec<String> = items
        .iter()
        .map(|i| match i {
            Item::Open(g) => format!("[{}", g.pointer),
            Item::Field(f) => f.pointer.clone(),
            Item::Close => "]".into(),
        })
        .collect();
    assert_eq!(
        shape,
        [
            "/a~1b",
            "/args",
            "/labels",
            "/port",
            "[/service",
            "/service/check",
            "/service/cpus",
            "/service/debug",
            "/service/level",
            "/service/mode",
            "/service/name",
            "]"
        ]
    );
    let Item::Open(g) = &items[4] else {
        panic!("{:?}", items[4])
    };
    assert_eq!((g.legend.as_str(), g.hint.as_str()), ("service", "The app"));

    let port = field(&items, "/port");
    assert_eq!(port.control, Control::Integer);
    assert_eq!(
        (port.name.as_str(), port.value.as_str()),
        ("options/port", "8080")
    );
    assert_eq!(
        (port.min.as_deref(), port.max.as_deref()),
        (Some("1"), Some("65535"))
    );
    assert_eq!(port.default.as_deref(), Some("8080"));
    assert_eq!(port.described_by(), format!("{0}-hint", port.id));
    assert!(!port.required && !port.not_numeric);

    let name = field(&items, "/service/name");
    assert!(name.required && name.control == Control::Text && name.value == "web");
    assert_eq!(field(&items, "/service/cpus").control, Control::Number);
    assert!(field(&items, "/service/check").checked);
    assert!(!field(&items, "/service/debug").checked);
    let Control::Select(mode) = &field(&items, "/service/mode").control else {
        panic!("mode is a select")
    };
    assert_eq!(
        mode,
        &[
            Choice {
                value: "fast".into(),
                selected: false
            },
            Choice {
                value: "slow".into(),
                selected: true
            }
        ]
    );
    assert_eq!(field(&items, "/args").control, Control::Json);
    assert_eq!(field(&items, "/args").value, "[\n  \"-v\"\n]");
    assert_eq!(field(&items, "/labels").control, Control::Json);
    assert_eq!(field(&items, "/a~1b").name, "options/a~1b");
    // Ids are unique.
    let mut ids: Vec<&str> = items
        .iter()
        .filter_map(|i| match i {
            Item::Field(f) => Some(f.id.as_str()),
            Item::Open(g) => Some(g.id.as_str()),
            Item::Close => None,
        })
        .collect();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n);
}

#[test]
fn the_defaults_sent_back_unchanged_are_the_defaults() {
    let s = schema();
    let d = defaults(&s);
    let items = form(&s, &Value::Object(d.clone()), &Errors::new());
    let built = options(&s, &submitted(&items));
    assert!(built.errors.is_empty(), "{:?}", built.errors);
    // Everything the form shows is sent, typed; an unchecked box is false.
    let mut want = d;
    want["service"]["debug"] = json!(false);
    assert_eq!(Value::Object(built.options), Value::Object(want));
}

#[test]
fn typed_values_are_parsed_and_unchecked_boxes_are_false() {
    let s = schema();
    let form_ = [
        ("options/port", "9000"),
        ("options/service/name", "api"),
        ("options/service/cpus", "0.5"),
        ("options/service/mode", "fast"),
        ("options/service/level", "2"),
        // check and debug unchecked: absent.
        ("options/args", "[\"-q\", \"-x\"]"),
        ("options/labels", ""),
        ("options/a~1b", ""),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let built = options(&s, &form_);
    assert!(built.errors.is_empty(), "{:?}", built.errors);
    assert_eq!(
        Value::Object(built.options),
        json!({"port": 9000, "args": ["-q", "-x"],
               "service": {"name": "api", "cpus": 0.5, "mode": "fast", "level": 2,
                           "check": false, "debug": false}})
    );
    // Whole numbers however written; a number field keeps integers integral.
    let one = |k: &str, v: &str| options(&s, &[(format!("options{k}"), v.to_string())]).options;
    assert_eq!(one("/port", " 1e3 ")["port"], json!(1000));
    assert_eq!(one("/service/cpus", "2")["service"]["cpus"], json!(2));
}

#[test]
fn a_bad_number_is_reported_at_its_field_and_kept_as_typed() {
    let s = schema();
    let form_ = [
        ("options/port", "abc"),
        ("options/service/cpus", "1.5.2"),
        ("options/service/name", "web"),
        ("options/args", "[oops"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let built = options(&s, &form_);
    assert_eq!(
        built.errors.keys().collect::<Vec<_>>(),
        ["/args", "/port", "/service/cpus"]
    );
    assert_eq!(built.errors["/port"], ["“abc” is not a number"]);
    assert!(built.errors["/args"][0].starts_with("not valid JSON"));
    assert_eq!(
        options(&s, &[("options/port".into(), "80.5".into())]).errors["/port"],
        ["“80.5” is not a whole number"]
    );
    // Shown again: the text typed, in a text box (a number box would drop it), with its error.
    let items = form(&s, &Value::Object(built.options), &built.errors);
    let port = field(&items, "/port");
    assert_eq!(port.value, "abc");
    assert!(port.not_numeric);
    assert_eq!(port.error.as_deref(), Some("“abc” is not a number"));
    assert_eq!(port.described_by(), format!("{0}-hint {0}-err", port.id));
}

#[test]
fn a_required_number_left_blank_is_reported() {
    let s = json!({"properties": {"n": {"type": "integer"}, "o": {"type": "number"}},
                   "required": ["n"]});
    let built = options(
        &s,
        &[
            ("options/n".into(), "".into()),
            ("options/o".into(), "".into()),
        ],
    );
    assert_eq!(built.errors["/n"], ["required: enter a number"]);
    assert!(built.options.is_empty());
}

#[test]
fn options_the_form_does_not_show_travel_in_extra() {
    let s = schema();
    let current = json!({"port": 1, "zzz": {"keep": true},
                         "service": {"name": "x", "other": 5}, "labels": {"a": "b"}});
    let extra = unknown(&s, current.as_object().unwrap());
    assert_eq!(
        Value::Object(extra.clone()),
        json!({"zzz": {"keep": true}, "service": {"other": 5}})
    );
    let mut form_ = submitted(&form(&s, &current, &Errors::new()));
    form_.push((EXTRA.into(), Value::Object(extra).to_string()));
    let built = options(&s, &form_);
    assert_eq!(built.options["zzz"], json!({"keep": true}));
    assert_eq!(built.options["service"]["other"], json!(5));
    assert_eq!(built.options["service"]["name"], json!("x"));
    assert_eq!(built.options["labels"], json!({"a": "b"}));
}

#[test]
fn a_value_outside_the_enum_stays_selected() {
    let s = schema();
    let items = form(&s, &json!({"service": {"mode": "warp"}}), &Errors::new());
    let Control::Select(cs) = &field(&items, "/service/mode").control else {
        panic!()
    };
    assert_eq!(
        cs.iter()
            .filter(|c| c.selected)
            .map(|c| &c.value)
            .collect::<Vec<_>>(),
        ["warp"]
    );
}

#[test]
fn cosmos_reports_land_at_the_fields_they_name() {
    let s = schema();
    // As Drover's Cosmos words a JsonSchemaMismatch's data.
    let data = json!({"errors": [
        {"level": "error", "keyword": "type", "instance": {"pointer": "/port"},
         "schema": {"loadingURI": "#", "pointer": "/properties/port"},
         "found": "string", "expected": ["integer"],
         "message": "instance type (string) does not match any allowed primitive type (allowed: [\"integer\"])"},
        {"level": "error", "keyword": "required", "instance": {"pointer": "/service"},
         "missing": ["name"], "required": ["name"],
         "message": "object has missing required properties ([\"name\"])"},
        {"level": "error", "keyword": "additionalProperties", "instance": {"pointer": ""},
         "unwanted": ["prot"],
         "message": "object instance has properties which are not allowed by the schema: [\"prot\"]"},
        {"level": "error", "keyword": "type", "instance": {"pointer": "/args/1"},
         "message": "instance type (integer) does not match any allowed primitive type (allowed: [\"string\"])"},
        {"keyword": "minimum", "instancePath": "/service/cpus", "message": "too small"}
    ]});
    let found = reports(&data);
    assert_eq!(
        found[1],
        (
            "/service/name".to_string(),
            "required: enter a value".to_string()
        )
    );
    let errors = place(&s, found);
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        ["", "/args", "/port", "/service/cpus", "/service/name"]
    );
    assert!(errors["/port"][0].starts_with("instance type (string)"));
    assert!(errors[""][0].contains("\"prot\""));
    assert!(
        errors["/args"][0].starts_with("1: instance type (integer)"),
        "{:?}",
        errors["/args"]
    );
    let items = form(&s, &Value::Object(defaults(&s)), &errors);
    let port = field(&items, "/port");
    assert!(port.error.as_deref().is_some_and(|e| e.contains("allowed")));
    assert!(field(&items, "/service/name").error.is_some());
    assert!(field(&items, "/service/cpus").error.is_some());
    assert!(field(&items, "/service/mode").error.is_none());
}

#[test]
fn pointers_are_located_at_segment_boundaries() {
    let known = vec!["/a".to_string(), "/ab".to_string(), "/a/b".to_string()];
    assert_eq!(locate(&known, "/a/b/3"), "/a/b");
    assert_eq!(locate(&known, "/ab"), "/ab");
    assert_eq!(locate(&known, "/abc"), "");
    assert_eq!(locate(&known, ""), "");
    assert_eq!(escape("a~b/c"), "a~0b~1c");
}
