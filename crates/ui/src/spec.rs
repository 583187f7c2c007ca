//! The spec editor's logic, pure (no I/O): an app's definition from what Marathon answers, the
//! form's fields rendered from a definition, a submitted form applied back onto it, Marathon's
//! validation errors placed at the fields, and the line diff of two definitions.
//!
//! The rule the editor keeps (Marathon's and DC/OS' forms broke it, marathon #2049, #3215,
//! #3293, #3790, dcos-ui #3311, #4713): a field the user did not change is not touched. A save
//! renders every field from the definition the form was rendered from (the *base*, carried in
//! the page), compares each with what came back, and writes only the fields that differ onto
//! the base; every other key — ones the form does not know, nested unknown keys, untouched
//! known ones — goes back as it came, so saving an unchanged form sends the definition back.

mod diff;

pub use diff::{diff, pretty, DiffRow, MAX_DIFF_LINES};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// What Marathon adds to an app in its answers and takes no part of a definition: counts,
/// tasks, deployments, failures, readiness, and the bookkeeping of versions. `version` above
/// all: in a `PUT`, Marathon reads it as "roll back to that version".
pub const READ_ONLY: &[&str] = &[
    "version",
    "versionInfo",
    "tasksStaged",
    "tasksRunning",
    "tasksHealthy",
    "tasksUnhealthy",
    "deployments",
    "tasks",
    "lastTaskFailure",
    "readinessCheckResults",
    "taskStats",
    "killGovernor",
];

/// The definition of an app as Marathon answered it (`GET /v2/apps/<id>`'s `app`, or a
/// version): the same value without [`READ_ONLY`] keys.
pub fn definition(app: &Value) -> Value {
    let mut v = app.clone();
    if let Some(o) = v.as_object_mut() {
        for k in READ_ONLY {
            o.remove(*k);
        }
    }
    v
}

/// What a new app's form starts from (Marathon's defaults, a small CPU share).
pub fn new_app() -> Value {
    json!({"id": "", "cpus": 0.1, "mem": 128, "disk": 0, "instances": 1})
}

/// The form's fields, in the order they are shown and applied (the health check's protocol
/// before its path and port, which apply to the check it makes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Id,
    Cmd,
    Args,
    Cpus,
    Mem,
    Disk,
    Instances,
    Image,
    Env,
    Labels,
    Ports,
    HcProtocol,
    HcPath,
    HcPortIndex,
    Constraints,
}

/// The protocols the form offers for a health check; others are kept, and edited in JSON.
pub const HC_PROTOCOLS: &[&str] = &["HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"];

impl Field {
    pub const ALL: [Field; 15] = [
        Field::Id,
        Field::Cmd,
        Field::Args,
        Field::Cpus,
        Field::Mem,
        Field::Disk,
        Field::Instances,
        Field::Image,
        Field::Env,
        Field::Labels,
        Field::Ports,
        Field::HcProtocol,
        Field::HcPath,
        Field::HcPortIndex,
        Field::Constraints,
    ];

    /// The form control's name.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Cmd => "cmd",
            Field::Args => "args",
            Field::Cpus => "cpus",
            Field::Mem => "mem",
            Field::Disk => "disk",
            Field::Instances => "instances",
            Field::Image => "image",
            Field::Env => "env",
            Field::Labels => "labels",
            Field::Ports => "ports",
            Field::HcProtocol => "hc_protocol",
            Field::HcPath => "hc_path",
            Field::HcPortIndex => "hc_port_index",
            Field::Constraints => "constraints",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the control holds lines (a textarea): line ends are compared as LF.
    pub fn multiline(self) -> bool {
        matches!(
            self,
            Field::Cmd | Field::Args | Field::Env | Field::Labels | Field::Constraints
        )
    }

    /// The text the control shows for `def`.
    pub fn render(self, def: &Value) -> String {
        match self {
            Field::Id | Field::Cmd => def[self.name()].as_str().unwrap_or_default().to_string(),
            Field::Args => strings(&def["args"]).unwrap_or_default().join("\n"),
            Field::Cpus | Field::Mem | Field::Disk | Field::Instances => match &def[self.name()] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            },
            Field::Image => def["container"]["docker"]["image"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            Field::Env | Field::Labels => pairs(&def[self.name()]).0.join("\n"),
            Field::Ports => match port_numbers(def) {
                Some(ps) => ps.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
                None => String::new(),
            },
            Field::HcProtocol => match first_check(def) {
                Check::None => "none".into(),
                Check::Http(hc) => hc["protocol"].as_str().unwrap_or("HTTP").to_string(),
                Check::Other(p) => format!("{p} (edit it in JSON)"),
            },
            Field::HcPath => match first_check(def) {
                Check::Http(hc) => hc["path"].as_str().unwrap_or_default().to_string(),
                _ => String::new(),
            },
            Field::HcPortIndex => match first_check(def) {
                Check::Http(hc) => match &hc["portIndex"] {
                    Value::Null => String::new(),
                    v => v.to_string(),
                },
                _ => String::new(),
            },
            Field::Constraints => constraint_lines(def).unwrap_or_default().join("\n"),
        }
    }

    /// Why the form cannot edit this field of `def` (it is shown read-only, and kept as it
    /// is): a value the control cannot say without changing it.
    pub fn locked(self, def: &Value) -> Option<String> {
        match self {
            Field::Args if !def["args"].is_null() && strings(&def["args"]).is_none() => Some(
                "Its arguments hold line breaks or empty ones, which lines cannot show: edit them in JSON."
                    .into(),
            ),
            Field::Cmd if def["cmd"].as_str().is_some_and(|c| c.contains('\r')) => {
                Some("The command holds carriage returns: edit it in JSON.".into())
            }
            Field::Cmd if !def["cmd"].is_null() && !def["cmd"].is_string() => {
                Some("The command is not a string: edit it in JSON.".into())
            }
            Field::Ports if port_numbers(def).is_none() => Some(
                "This app's ports are its container's port mappings (or not plain numbers): edit them in JSON."
                    .into(),
            ),
            Field::HcProtocol | Field::HcPath | Field::HcPortIndex => match first_check(def) {
                Check::Other(p) => Some(format!(
                    "The first health check is {p}, which this form does not edit: edit health checks in JSON."
                )),
                _ => None,
            },
            Field::Constraints if constraint_lines(def).is_none() => Some(
                "A constraint here is not [field, operator, value] of plain strings: edit them in JSON."
                    .into(),
            ),
            Field::Image
                if !def["container"].is_null()
                    && !def["container"]["docker"]["image"].is_null()
                    && !def["container"]["docker"]["image"].is_string() =>
            {
                Some("The image is not a string: edit it in JSON.".into())
            }
            _ => None,
        }
    }

    /// What the form keeps of this field without showing it (secrets, values over several
    /// lines), said to the user.
    pub fn kept(self, def: &Value) -> Option<String> {
        match self {
            Field::Env | Field::Labels => {
                let kept = pairs(&def[self.name()]).1;
                (!kept.is_empty()).then(|| {
                    format!(
                        "Kept as they are, not shown here (secrets, values over several lines): {}. Edit them in JSON.",
                        kept.join(", ")
                    )
                })
            }
            Field::HcProtocol => {
                let n = def["healthChecks"].as_array().map_or(0, Vec::len);
                (n > 1).then(|| {
                    format!(
                        "Only the first of {n} health checks is shown; the others are kept. Edit them in JSON."
                    )
                })
            }
            _ => None,
        }
    }

    /// Write `text` (what the user entered) into `def`.
    fn apply(self, def: &mut Value, text: &str) -> Result<(), String> {
        let o = object(def);
        match self {
            Field::Id | Field::Cmd => {
                let v = if self == Field::Cmd {
                    text.replace("\r\n", "\n")
                } else {
                    text.trim().to_string()
                };
                if v.trim().is_empty() {
                    o.remove(self.name());
                } else {
                    o.insert(self.name().into(), json!(v));
                }
            }
            Field::Args => {
                let args: Vec<String> = lines(text).map(str::to_string).collect();
                if args.is_empty() {
                    o.remove("args");
                } else {
                    o.insert("args".into(), json!(args));
                }
            }
            Field::Cpus | Field::Mem | Field::Disk | Field::Instances => {
                let t = text.trim();
                if t.is_empty() {
                    o.remove(self.name());
                } else {
                    o.insert(self.name().into(), number(t, self == Field::Instances)?);
                }
            }
            Field::Image => set_image(o, text.trim()),
            Field::Env | Field::Labels => {
                let mut m: Map<String, Value> = match o.get(self.name()) {
                    // What the form does not show stays.
                    Some(Value::Object(old)) => old
                        .iter()
                        .filter(|(k, v)| !shown_pair(k, v))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    _ => Map::new(),
                };
                let mut seen = std::collections::BTreeSet::new();
                for line in lines(text) {
                    let (k, v) = line
                        .split_once('=')
                        .ok_or_else(|| format!("'{line}' is not NAME=value"))?;
                    let k = k.trim();
                    if k.is_empty() {
                        return Err(format!("'{line}' has no name before the ="));
                    }
                    if !seen.insert(k.to_string()) {
                        return Err(format!("{k} is given twice"));
                    }
                    m.insert(k.to_string(), json!(v));
                }
                o.insert(self.name().into(), Value::Object(m));
            }
            Field::Ports => {
                let mut ports = Vec::new();
                for p in text.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
                    match p.parse::<u64>() {
                        Ok(n) if n <= 65535 => ports.push(n),
                        _ => return Err(format!("'{p}' is not a port (0 to 65535)")),
                    }
                }
                let old = o
                    .get("portDefinitions")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                // Each port keeps what its definition said besides the number (name,
                // protocol, labels, keys the form does not know).
                let defs: Vec<Value> = ports
                    .iter()
                    .enumerate()
                    .map(|(i, p)| match old.get(i) {
                        Some(Value::Object(d)) => {
                            let mut d = d.clone();
                            d.insert("port".into(), json!(p));
                            Value::Object(d)
                        }
                        _ => json!({"port": p, "protocol": "tcp"}),
                    })
                    .collect();
                o.insert("portDefinitions".into(), Value::Array(defs));
                // Marathon's legacy mirror of the ports would now contradict them.
                o.remove("ports");
            }
            Field::HcProtocol => {
                let p = text.trim();
                let checks = o
                    .entry("healthChecks")
                    .or_insert_with(|| json!([]))
                    .as_array_mut();
                let Some(checks) = checks else {
                    return Err("the app's healthChecks is not a list: edit it in JSON".into());
                };
                if p == "none" || p.is_empty() {
                    if !checks.is_empty() {
                        checks.remove(0);
                    }
                } else if !HC_PROTOCOLS.contains(&p) {
                    return Err(format!("'{p}' is not one of {}", HC_PROTOCOLS.join(", ")));
                } else if let Some(Value::Object(first)) = checks.first_mut() {
                    first.insert("protocol".into(), json!(p));
                } else {
                    checks.insert(0, json!({"protocol": p, "path": "/"}));
                }
                if checks.is_empty() {
                    o.remove("healthChecks");
                }
            }
            Field::HcPath | Field::HcPortIndex => {
                let t = text.trim();
                let first = o
                    .get_mut("healthChecks")
                    .and_then(Value::as_array_mut)
                    .and_then(|c| c.first_mut())
                    .and_then(Value::as_object_mut)
                    .filter(|hc| is_http(hc.get("protocol")));
                let Some(hc) = first else {
                    if t.is_empty() {
                        return Ok(());
                    }
                    return Err(
                        "choose the health check's protocol first, or leave this empty".into(),
                    );
                };
                let key = if self == Field::HcPath {
                    "path"
                } else {
                    "portIndex"
                };
                if t.is_empty() {
                    hc.remove(key);
                } else if self == Field::HcPath {
                    hc.insert(key.into(), json!(t));
                } else {
                    let n = t
                        .parse::<u64>()
                        .map_err(|_| format!("'{t}' is not a port index (0, 1, …)"))?;
                    hc.insert(key.into(), json!(n));
                }
            }
            Field::Constraints => {
                let mut cs = Vec::new();
                for line in lines(text) {
                    let mut parts = line.splitn(3, ':');
                    let field = parts.next().unwrap_or_default().trim();
                    let Some(op) = parts.next().map(|o| o.trim().to_ascii_uppercase()) else {
                        return Err(format!(
                            "'{line}' is not field:OPERATOR or field:OPERATOR:value"
                        ));
                    };
                    let mut c = vec![json!(field), json!(op)];
                    if let Some(v) = parts.next() {
                        c.push(json!(v));
                    }
                    cs.push(Value::Array(c));
                }
                o.insert("constraints".into(), Value::Array(cs));
            }
        }
        Ok(())
    }
}

/// `def` as an object (made one if it is not), to write fields into.
fn object(def: &mut Value) -> &mut Map<String, Value> {
    if !def.is_object() {
        *def = json!({});
    }
    match def {
        Value::Object(o) => o,
        _ => unreachable!("made an object above"),
    }
}

/// The non-blank lines of a textarea's text, without their line ends.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
}

/// A field's text as compared: line ends as LF and blank lines dropped for textareas, trimmed
/// for one-line inputs (browsers send CRLF, and inputs cannot hold line breaks).
fn normal(field: Field, text: &str) -> String {
    if field.multiline() {
        if field == Field::Cmd {
            return text
                .replace("\r\n", "\n")
                .trim_end_matches('\n')
                .to_string();
        }
        lines(text).collect::<Vec<_>>().join("\n")
    } else {
        text.trim().to_string()
    }
}

/// A list of strings lines can show (none empty, none with a line break).
fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Null => Some(vec![]),
        Value::Array(a) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .filter(|s| !s.trim().is_empty() && !s.contains(['\n', '\r']))
                    .map(str::to_string)
            })
            .collect(),
        _ => None,
    }
}

/// Whether an env variable or label is one the form shows as a `NAME=value` line (and reads
/// back the same).
fn shown_pair(k: &str, v: &Value) -> bool {
    !k.is_empty()
        && k.trim() == k
        && !k.contains(['=', '\n', '\r'])
        && v.as_str().is_some_and(|s| !s.contains(['\n', '\r']))
}

/// `NAME=value` lines of what the form shows, and the names of what it keeps unshown.
fn pairs(v: &Value) -> (Vec<String>, Vec<String>) {
    let (mut shown, mut kept) = (Vec::new(), Vec::new());
    if let Some(m) = v.as_object() {
        for (k, v) in m {
            match v.as_str().filter(|_| shown_pair(k, v)) {
                Some(s) => shown.push(format!("{k}={s}")),
                None if v.get("secret").is_some() => kept.push(format!("{k} (a secret)")),
                None => kept.push(k.clone()),
            }
        }
    }
    (shown, kept)
}

/// The port numbers of the app's port definitions (none: the form cannot show them).
fn port_numbers(def: &Value) -> Option<Vec<u64>> {
    match &def["portDefinitions"] {
        Value::Array(a) => a.iter().map(|d| d["port"].as_u64()).collect(),
        // No definitions: an app on a container network (its ports are port mappings), or one
        // that never had ports.
        Value::Null => {
            let mapped = !def["container"]["portMappings"].is_null()
                || !def["container"]["docker"]["portMappings"].is_null();
            (!mapped).then(Vec::new)
        }
        _ => None,
    }
}

enum Check<'a> {
    None,
    Http(&'a Value),
    Other(String),
}

fn is_http(p: Option<&Value>) -> bool {
    match p {
        None | Some(Value::Null) => true, // Marathon's default protocol
        Some(v) => v.as_str().is_some_and(|p| HC_PROTOCOLS.contains(&p)),
    }
}

fn first_check(def: &Value) -> Check<'_> {
    match &def["healthChecks"] {
        Value::Null => Check::None,
        Value::Array(a) => match a.first() {
            None => Check::None,
            Some(hc) if hc.is_object() && is_http(hc.get("protocol")) => Check::Http(hc),
            Some(hc) => Check::Other(hc["protocol"].as_str().unwrap_or("unknown").to_string()),
        },
        _ => Check::Other("not a list".into()),
    }
}

/// Constraints as `field:OPERATOR[:value]` lines (none: one the lines cannot say).
fn constraint_lines(def: &Value) -> Option<Vec<String>> {
    match &def["constraints"] {
        Value::Null => Some(vec![]),
        Value::Array(cs) => cs
            .iter()
            .map(|c| {
                let parts: Vec<&str> = c
                    .as_array()?
                    .iter()
                    .map(Value::as_str)
                    .collect::<Option<_>>()?;
                let ok = (2..=3).contains(&parts.len())
                    && !parts[0].contains(':')
                    && !parts[0].trim().is_empty()
                    && !parts[1].contains(':')
                    && parts.iter().all(|p| !p.contains(['\n', '\r']))
                    && parts[..2].iter().all(|p| p.trim() == *p);
                ok.then(|| parts.join(":"))
            })
            .collect(),
        _ => None,
    }
}

/// A number as typed: JSON's integer when it is one (or must be), else a float.
fn number(t: &str, integer: bool) -> Result<Value, String> {
    if let Ok(n) = t.parse::<i64>() {
        return Ok(json!(n));
    }
    if integer {
        return Err(format!("'{t}' is not a whole number"));
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(json!(f)),
        _ => Err(format!("'{t}' is not a number")),
    }
}

/// Set (or clear) `container.docker.image`, making a Docker container when there was none
/// and removing what only held the image.
fn set_image(o: &mut Map<String, Value>, image: &str) {
    if image.is_empty() {
        let Some(Value::Object(c)) = o.get_mut("container") else {
            return;
        };
        if let Some(Value::Object(d)) = c.get_mut("docker") {
            d.remove("image");
            let defaults_only = d.iter().all(|(k, v)| {
                matches!(
                    (k.as_str(), v),
                    ("forcePullImage" | "privileged", Value::Bool(false))
                ) || (k == "parameters" && v.as_array().is_some_and(Vec::is_empty))
            });
            if defaults_only {
                c.remove("docker");
            }
        }
        // What is left says nothing beyond "a container" (Marathon's defaults): no container.
        let bare = c.iter().all(|(k, v)| {
            k == "type" || (k == "volumes" && v.as_array().is_some_and(Vec::is_empty))
        });
        if bare {
            o.remove("container");
        }
        return;
    }
    let c = o
        .entry("container")
        .or_insert_with(|| json!({"type": "DOCKER"}));
    if !c.is_object() {
        *c = json!({"type": "DOCKER"});
    }
    let c = object(c);
    let d = c.entry("docker").or_insert_with(|| json!({}));
    object(d).insert("image".into(), json!(image));
}

/// Errors of a form: at its fields, and those no field shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Errors {
    pub fields: BTreeMap<Field, Vec<String>>,
    pub general: Vec<String>,
}

impl Errors {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    pub fn at(&mut self, f: Field, msg: impl Into<String>) {
        self.fields.entry(f).or_default().push(msg.into());
    }

    /// Every message, each with where it is (for the JSON mode, which has one textarea).
    pub fn all(&self) -> Vec<String> {
        self.fields
            .iter()
            .flat_map(|(f, ms)| ms.iter().map(move |m| format!("{}: {m}", f.name())))
            .chain(self.general.iter().cloned())
            .collect()
    }

    /// Marathon's 422 body (`details: [{path, errors}]`; Marathon before 1.4:
    /// `errors: [{attribute, error}]`) placed at the fields; what no field shows is general,
    /// with its path.
    pub fn from_marathon(body: &Value) -> Errors {
        let mut e = Errors::default();
        let mut put = |path: &str, msg: &str| match Field::of_path(path) {
            Some(f) => e.at(f, msg),
            None if path.is_empty() || path == "/" => e.general.push(msg.to_string()),
            None => e.general.push(format!("{path}: {msg}")),
        };
        for d in body["details"].as_array().into_iter().flatten() {
            let path = d["path"].as_str().unwrap_or_default();
            for m in d["errors"].as_array().into_iter().flatten() {
                put(path, m.as_str().unwrap_or("is invalid"));
            }
        }
        for d in body["errors"].as_array().into_iter().flatten() {
            let path = format!("/{}", d["attribute"].as_str().unwrap_or_default());
            put(&path, d["error"].as_str().unwrap_or("is invalid"));
        }
        if e.is_empty() {
            let msg = body["message"]
                .as_str()
                .unwrap_or("Marathon refused the app");
            e.general.push(msg.to_string());
        }
        e
    }
}

impl Field {
    /// The field a path of Marathon's errors (`/cpus`, `/healthChecks(0)/path`,
    /// `/env/FOO`) is about, if the form shows it.
    pub fn of_path(path: &str) -> Option<Field> {
        let p = path.replace('(', "/").replace(')', "");
        let segs: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
        Some(match segs.as_slice() {
            ["id", ..] => Field::Id,
            ["cmd", ..] => Field::Cmd,
            ["args", ..] => Field::Args,
            ["cpus"] => Field::Cpus,
            ["mem"] => Field::Mem,
            ["disk"] => Field::Disk,
            ["instances"] => Field::Instances,
            ["container", "docker", "image"] => Field::Image,
            ["env", ..] => Field::Env,
            ["labels", ..] => Field::Labels,
            ["portDefinitions", ..] | ["ports", ..] => Field::Ports,
            ["healthChecks", "0", "path"] => Field::HcPath,
            ["healthChecks", "0", "portIndex" | "port"] => Field::HcPortIndex,
            ["healthChecks", "0", ..] => Field::HcProtocol,
            ["constraints", ..] => Field::Constraints,
            _ => return None,
        })
    }
}

/// The fields whose submitted text differs from what `base` renders (missing ones, and locked
/// ones, are unchanged), with that text.
pub fn changed<'a>(base: &Value, submitted: &'a HashMap<String, String>) -> Vec<(Field, &'a str)> {
    Field::ALL
        .into_iter()
        .filter(|f| f.locked(base).is_none())
        .filter_map(|f| {
            let text = submitted.get(f.name())?;
            (normal(f, text) != normal(f, &f.render(base))).then_some((f, text.as_str()))
        })
        .collect()
}

/// The definition a submitted form asks for: `base` with only the changed fields written
/// (with `fixed_id`, the id is not the form's to change). Each field's error, when its text
/// cannot be written.
pub fn apply(
    base: &Value,
    submitted: &HashMap<String, String>,
    fixed_id: bool,
) -> Result<Value, Errors> {
    let mut def = base.clone();
    let mut errors = Errors::default();
    for (f, text) in changed(base, submitted) {
        if fixed_id && f == Field::Id {
            continue;
        }
        if let Err(e) = f.apply(&mut def, text) {
            errors.at(f, e);
        }
    }
    if errors.is_empty() {
        Ok(def)
    } else {
        Err(errors)
    }
}

/// The form's texts after a rebase: `new_base`'s values, except the fields the user changed
/// against `old_base`, which keep what the user entered (a save that found the app changed
/// since the form was opened shows this, and saves only the user's changes onto the new one).
pub fn rebase(
    old_base: &Value,
    new_base: &Value,
    submitted: &HashMap<String, String>,
) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = Field::ALL
        .into_iter()
        .map(|f| (f.name().to_string(), f.render(new_base)))
        .collect();
    for (f, text) in changed(old_base, submitted) {
        out.insert(f.name().to_string(), text.to_string());
    }
    out
}

/// The JSON a user typed, as a definition to send: an object, without [`READ_ONLY`] keys.
pub fn parse_json(text: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    if !v.is_object() {
        return Err("an app is a JSON object ({ … })".into());
    }
    Ok(definition(&v))
}

#[cfg(test)]
mod tests;
