//! A package's install form, made from its config JSON schema, and back: the schema (with the
//! values to show) becomes a flat list of form items — fieldsets for objects, a control per
//! property — and a submitted form becomes the typed options object Cosmos is sent. Cosmos'
//! validation reports (`JsonSchemaMismatch`) are placed at the field their JSON pointer names.
//! Pure: no HTML, no I/O; the packages page renders the items and talks to Cosmos.
//!
//! A property's input is named `options` + its JSON pointer (`options/service/name`), so a
//! report's `instance.pointer` leads straight to its input. Objects with `properties` become
//! fieldsets; strings text inputs (`enum`: a select); integers and numbers number inputs;
//! booleans checkboxes (unchecked is `false`, as a form omits it); anything else (arrays, free
//! objects, untyped) a JSON textarea. Keys the schema does not describe travel in a hidden
//! `extra` input, so options opened in the form and sent unchanged keep them.

use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// The prefix of every option input's name; the rest is the property's JSON pointer.
pub const PREFIX: &str = "options";
/// The hidden input carrying the options the schema does not describe (JSON).
pub const EXTRA: &str = "extra";

/// Messages by JSON pointer (`""` is the options as a whole).
pub type Errors = BTreeMap<String, Vec<String>>;

/// What kind of control a property gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Text,
    /// The schema's `enum`, each value as its JSON text (a string as itself).
    Select(Vec<Choice>),
    Integer,
    Number,
    Checkbox,
    /// Arrays, objects without `properties`, untyped values: JSON in a textarea.
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub value: String,
    pub selected: bool,
}

/// One property's control, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The property's JSON pointer in the options (`/service/name`).
    pub pointer: String,
    /// The input's name: [`PREFIX`] + `pointer`.
    pub name: String,
    /// The input's element id (unique in the form, the same for the same schema).
    pub id: String,
    /// The property's name (its `title` when it has one).
    pub label: String,
    /// The schema's `description`.
    pub hint: String,
    pub required: bool,
    pub control: Control,
    /// The text shown (a number as written, JSON pretty-printed); empty for a checkbox.
    pub value: String,
    pub checked: bool,
    /// The schema's `default`, as text, when it has one.
    pub default: Option<String>,
    pub min: Option<String>,
    pub max: Option<String>,
    /// A number field whose value is not a number (shown as text, so the user sees it).
    pub not_numeric: bool,
    /// What is wrong with the value, when something is.
    pub error: Option<String>,
}

/// An object with `properties`: a fieldset.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub pointer: String,
    pub id: String,
    pub legend: String,
    pub hint: String,
    pub required: bool,
    pub error: Option<String>,
}

/// The form, flat: a group's fields come between its `Open` and `Close`.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Open(Group),
    Field(Field),
    Close,
}

impl Field {
    /// The ids of the hint and the error, for `aria-describedby` (empty when neither).
    pub fn described_by(&self) -> String {
        described_by(
            &self.id,
            !self.hint.is_empty() || self.default.is_some(),
            self.error.is_some(),
        )
    }
}

impl Group {
    pub fn described_by(&self) -> String {
        described_by(&self.id, !self.hint.is_empty(), self.error.is_some())
    }
}

fn described_by(id: &str, hint: bool, error: bool) -> String {
    let mut ids = Vec::new();
    if hint {
        ids.push(format!("{id}-hint"));
    }
    if error {
        ids.push(format!("{id}-err"));
    }
    ids.join(" ")
}

/// A JSON pointer's segment: `~` as `~0`, `/` as `~1`.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The type a property's schema declares: its `type` (the first that is not `null`), else
/// `object` when it has `properties`.
fn kind(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => schema.get("properties").map(|_| "object"),
    }
}

fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

fn required_names(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// What control a property gets; `None` for an object shown as a fieldset.
fn control(prop: &Value) -> Option<Control> {
    if let Some(options) = prop.get("enum").and_then(Value::as_array) {
        let scalar = options
            .iter()
            .all(|o| matches!(o, Value::String(_) | Value::Number(_) | Value::Bool(_)));
        if scalar && !options.is_empty() {
            return Some(Control::Select(
                options
                    .iter()
                    .map(|o| Choice {
                        value: text(o),
                        selected: false,
                    })
                    .collect(),
            ));
        }
    }
    Some(match kind(prop) {
        Some("string") => Control::Text,
        Some("integer") => Control::Integer,
        Some("number") => Control::Number,
        Some("boolean") => Control::Checkbox,
        Some("object") if properties(prop).is_some() => return None,
        _ => Control::Json,
    })
}

/// A value as a control shows it: a string as itself, anything else as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `default`s of a schema's properties, nested as they nest (as Cosmos merges them under
/// the options): a property with a `default` takes it whole, one without takes its own
/// properties' defaults.
pub fn defaults(schema: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, prop) in properties(schema).into_iter().flatten() {
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

/// `fragment` over `target`: objects merge key by key, anything else replaces.
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

/// The form for `schema` showing `current` (the options: defaults, or what was sent), with
/// `errors` at the fields they name (see [`place`]).
pub fn form(schema: &Value, current: &Value, errors: &Errors) -> Vec<Item> {
    let mut items = Vec::new();
    let mut n = 0;
    walk(schema, "", current, errors, &mut items, &mut n);
    items
}

fn message(errors: &Errors, pointer: &str) -> Option<String> {
    errors.get(pointer).map(|m| m.join("; "))
}

fn walk(
    schema: &Value,
    at: &str,
    current: &Value,
    errors: &Errors,
    items: &mut Vec<Item>,
    n: &mut usize,
) {
    let required = required_names(schema);
    for (name, prop) in properties(schema).into_iter().flatten() {
        let pointer = format!("{at}/{}", escape(name));
        *n += 1;
        let id = format!("opt-{n}");
        let label = prop
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string();
        let hint = prop
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let is_required = required.contains(&name.as_str());
        let Some(mut control) = control(prop) else {
            items.push(Item::Open(Group {
                id,
                legend: label,
                hint,
                required: is_required,
                error: message(errors, &pointer),
                pointer: pointer.clone(),
            }));
            walk(prop, &pointer, current, errors, items, n);
            items.push(Item::Close);
            continue;
        };
        let value = current.pointer(&pointer).filter(|v| !v.is_null());
        let mut shown = String::new();
        let mut checked = false;
        let mut not_numeric = false;
        match &mut control {
            Control::Text => shown = value.map(text).unwrap_or_default(),
            Control::Integer | Control::Number => {
                shown = value.map(text).unwrap_or_default();
                not_numeric = value.is_some_and(|v| !v.is_number());
            }
            Control::Checkbox => checked = value == Some(&Value::Bool(true)),
            Control::Select(choices) => {
                if let Some(v) = value {
                    let t = text(v);
                    match choices.iter_mut().find(|c| c.value == t) {
                        Some(c) => c.selected = true,
                        // A value outside the enum stays in the form, to be seen and changed.
                        None => choices.push(Choice {
                            value: t,
                            selected: true,
                        }),
                    }
                }
            }
            Control::Json => {
                shown = value
                    .map(|v| serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()))
                    .unwrap_or_default()
            }
        }
        items.push(Item::Field(Field {
            name: format!("{PREFIX}{pointer}"),
            id,
            label,
            hint,
            required: is_required,
            value: shown,
            checked,
            default: prop.get("default").map(text),
            min: prop.get("minimum").map(text),
            max: prop.get("maximum").map(text),
            not_numeric,
            error: message(errors, &pointer),
            control,
            pointer,
        }));
    }
}

/// The options a submitted form says, and what is wrong in it (by pointer) before Cosmos is
/// asked. A value that does not parse stays in the options as the text typed, so the form
/// shown again has it.
pub struct Built {
    pub options: Map<String, Value>,
    pub errors: Errors,
}

/// The options object of a submitted form (`form`: its name/value pairs in order). Every
/// field the schema describes is sent (as the DC/OS UI does), except blanks with nothing to
/// say: an empty text without a default, an empty number, an empty JSON box, no choice.
pub fn options(schema: &Value, form: &[(String, String)]) -> Built {
    let mut errors = Errors::new();
    let mut options = match get(form, EXTRA).map(str::trim).filter(|e| !e.is_empty()) {
        None => Map::new(),
        Some(e) => match serde_json::from_str::<Value>(e) {
            Ok(Value::Object(m)) => m,
            _ => {
                errors.entry(String::new()).or_default().push(
                    "the options the form does not show were lost (not a JSON object)".into(),
                );
                Map::new()
            }
        },
    };
    let from_form = collect(schema, "", form, &mut errors);
    merge(&mut options, &from_form);
    Built { options, errors }
}

/// The first value of the control named `name`.
fn get<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn collect(
    schema: &Value,
    at: &str,
    form: &[(String, String)],
    errors: &mut Errors,
) -> Map<String, Value> {
    let required = required_names(schema);
    let mut out = Map::new();
    for (name, prop) in properties(schema).into_iter().flatten() {
        let pointer = format!("{at}/{}", escape(name));
        let is_required = required.contains(&name.as_str());
        let Some(control) = control(prop) else {
            let nested = collect(prop, &pointer, form, errors);
            if !nested.is_empty() || is_required {
                out.insert(name.clone(), Value::Object(nested));
            }
            continue;
        };
        let mut fail = |msg: String| errors.entry(pointer.clone()).or_default().push(msg);
        let submitted = get(form, &format!("{PREFIX}{pointer}"));
        let value = match control {
            // A form leaves an unchecked box out.
            Control::Checkbox => Some(Value::Bool(submitted.is_some())),
            Control::Text => submitted.and_then(|s| {
                let keep = !s.is_empty() || is_required || prop.get("default").is_some();
                keep.then(|| Value::String(s.to_string()))
            }),
            Control::Integer | Control::Number => match submitted.map(str::trim) {
                None | Some("") => {
                    if is_required {
                        fail("required: enter a number".into());
                    }
                    None
                }
                Some(s) => match number(s, control == Control::Integer) {
                    Ok(n) => Some(Value::Number(n)),
                    Err(why) => {
                        fail(why);
                        Some(Value::String(s.to_string()))
                    }
                },
            },
            Control::Select(choices) => match submitted {
                None | Some("") => None,
                Some(s) => {
                    let options = prop.get("enum").and_then(Value::as_array);
                    let typed = options
                        .into_iter()
                        .flatten()
                        .zip(&choices)
                        .find(|(_, c)| c.value == s)
                        .map(|(v, _)| v.clone());
                    Some(typed.unwrap_or_else(|| Value::String(s.to_string())))
                }
            },
            Control::Json => match submitted.map(str::trim) {
                None | Some("") => None,
                Some(s) => match serde_json::from_str::<Value>(s) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        fail(format!("not valid JSON: {e}"));
                        Some(Value::String(s.to_string()))
                    }
                },
            },
        };
        if let Some(v) = value {
            out.insert(name.clone(), v);
        }
    }
    out
}

/// A number typed into a form: an integer field takes whole numbers only (`8080`, `1e3`),
/// a number field any finite one.
fn number(s: &str, integer: bool) -> Result<Number, String> {
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Number::from(i));
    }
    let f = s
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .ok_or_else(|| format!("“{s}” is not a number"))?;
    if integer {
        if f.fract() != 0.0 || f.abs() > 9.0e15 {
            return Err(format!("“{s}” is not a whole number"));
        }
        return Ok(Number::from(f as i64));
    }
    Number::from_f64(f).ok_or_else(|| format!("“{s}” is not a number"))
}

/// The options the schema does not describe: keys of `current` not among an object's
/// `properties` (kept whole), recursively through the objects the form shows as fieldsets.
pub fn unknown(schema: &Value, current: &Map<String, Value>) -> Map<String, Value> {
    let props = properties(schema);
    let mut out = Map::new();
    for (k, v) in current {
        match props.and_then(|p| p.get(k)) {
            None => {
                out.insert(k.clone(), v.clone());
            }
            Some(prop) if control(prop).is_none() => {
                if let Value::Object(inner) = v {
                    let nested = unknown(prop, inner);
                    if !nested.is_empty() {
                        out.insert(k.clone(), Value::Object(nested));
                    }
                }
            }
            Some(_) => {}
        }
    }
    out
}

/// Cosmos' validation reports (a `JsonSchemaMismatch`'s `data`) as (pointer, message): the
/// report's `instance.pointer` (or `instancePath`/`pointer`, as other validators say it); a
/// `required` report once per missing property, at that property.
pub fn reports(data: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in data
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let pointer = r
            .pointer("/instance/pointer")
            .or_else(|| r.get("instancePath"))
            .or_else(|| r.get("pointer"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let msg = r
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("is not valid")
            .to_string();
        let missing: Vec<&str> = match r.get("keyword").and_then(Value::as_str) {
            Some("required") => r
                .get("missing")
                .and_then(Value::as_array)
                .map(|m| m.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if missing.is_empty() {
            out.push((pointer, msg));
        } else {
            for m in missing {
                out.push((
                    format!("{pointer}/{}", escape(m)),
                    "required: enter a value".into(),
                ));
            }
        }
    }
    out
}

/// Every pointer the form has an element for (fields and fieldsets).
pub fn pointers(schema: &Value) -> Vec<String> {
    form(schema, &Value::Null, &Errors::new())
        .into_iter()
        .filter_map(|i| match i {
            Item::Open(g) => Some(g.pointer),
            Item::Field(f) => Some(f.pointer),
            Item::Close => None,
        })
        .collect()
}

/// The element a pointer's message goes to: the field or fieldset it names, else the closest
/// one holding it (an array item's report goes to the array's box), else `""` (the options
/// as a whole).
pub fn locate(pointers: &[String], pointer: &str) -> String {
    pointers
        .iter()
        .filter(|p| pointer == p.as_str() || pointer.starts_with(&format!("{p}/")))
        .max_by_key(|p| p.len())
        .cloned()
        .unwrap_or_default()
}

/// `found` (pointer, message) pairs placed at the form's elements (see [`locate`]).
pub fn place(schema: &Value, found: Vec<(String, String)>) -> Errors {
    let known = pointers(schema);
    let mut errors = Errors::new();
    for (p, msg) in found {
        let at = locate(&known, &p);
        // A message placed above where it was found says where.
        let msg = if at == p || p.is_empty() {
            msg
        } else {
            format!("{}: {msg}", &p[at.len()..].trim_start_matches('/'))
        };
        errors.entry(at).or_default().push(msg);
    }
    errors
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "schema_form_tests.rs"]
mod tests;
