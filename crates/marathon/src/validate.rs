//! App ids and app validation with Marathon's semantics: every problem is reported with its JSON
//! path, all at once, so the 422 body tells the user everything that is wrong.

use drover_api::marathon::{App, FetchUri, PortDefinition, ValidationDetail};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Make an id absolute (`web` → `/web`, relative to `base`), resolving `.` and `..`.
pub fn canonical_id(id: &str, base: &str) -> String {
    let joined = if id.starts_with('/') {
        id.to_string()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), id)
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn valid_segment(s: &str) -> bool {
    // Marathon: ^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$
    !s.is_empty()
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

pub const CONSTRAINT_OPERATORS: &[&str] = &[
    "UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS",
];

struct Errors(BTreeMap<String, Vec<String>>);

impl Errors {
    fn add(&mut self, path: &str, msg: impl Into<String>) {
        self.0.entry(path.to_string()).or_default().push(msg.into());
    }
}

/// Validate and normalise an app (absolute id, defaults). `Err` carries Marathon's details.
pub fn validate_app(mut app: App, base: &str) -> Result<App, Vec<ValidationDetail>> {
    let mut e = Errors(BTreeMap::new());
    if app.id.trim().is_empty() {
        e.add("/id", "must not be empty");
    } else {
        app.id = canonical_id(app.id.trim(), base);
        if app.id == "/" {
            e.add("/id", "must not be the root group");
        }
        for seg in app.id.trim_start_matches('/').split('/') {
            if !valid_segment(seg) {
                e.add(
                    "/id",
                    format!("'{seg}' must contain only lowercase letters, digits, hyphens and dots, and start and end with a letter or digit"),
                );
                break;
            }
        }
    }
    let has_cmd = app
        .cmd
        .as_deref()
        .map(|c| !c.trim().is_empty())
        .unwrap_or(false);
    let has_args = app.args.as_ref().map(|a| !a.is_empty()).unwrap_or(false);
    let has_container = app
        .container
        .as_ref()
        .map(|c| {
            c.get("docker").is_some() || c.get("type").and_then(|t| t.as_str()) == Some("DOCKER")
        })
        .unwrap_or(false);
    if has_cmd && has_args {
        e.add(
            "/",
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.",
        );
        e.add("/cmd", "'cmd' and 'args' must not both be set");
    }
    if !has_cmd && !has_args && !has_container {
        e.add(
            "/",
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.",
        );
    }
    if app.instances < 0 {
        e.add(
            "/instances",
            "got -1, expected 0 or more".replace("-1", &app.instances.to_string()),
        );
    }
    for (field, v, min) in [
        ("/cpus", app.cpus, 0.0),
        ("/mem", app.mem, 0.0),
        ("/disk", app.disk, 0.0),
    ] {
        if !v.is_finite() || v < min {
            e.add(field, format!("got {v}, expected {min} or more"));
        }
    }
    if app.cpus == 0.0 && app.mem == 0.0 && app.disk == 0.0 && app.gpus == 0 {
        e.add(
            "/",
            "an app must use some resources (cpus, mem, disk or gpus)",
        );
    }
    if app.backoff_factor < 1.0 {
        e.add("/backoffFactor", "must be 1.0 or more");
    }
    let us = &app.upgrade_strategy;
    if !(0.0..=1.0).contains(&us.minimum_health_capacity) {
        e.add(
            "/upgradeStrategy/minimumHealthCapacity",
            "is not between 0 and 1",
        );
    }
    if !(0.0..=1.0).contains(&us.maximum_over_capacity) {
        e.add(
            "/upgradeStrategy/maximumOverCapacity",
            "is not between 0 and 1",
        );
    }
    if !["YOUNGEST_FIRST", "OLDEST_FIRST"].contains(&app.kill_selection.as_str()) {
        e.add("/killSelection", "must be YOUNGEST_FIRST or OLDEST_FIRST");
    }
    for (i, c) in app.constraints.iter().enumerate() {
        let path = format!("/constraints({i})");
        let field = c.first().and_then(|v| v.as_str());
        let op = c.get(1).and_then(|v| v.as_str());
        match (field, op) {
            (Some(f), Some(op)) if !f.is_empty() => {
                if !CONSTRAINT_OPERATORS.contains(&op) {
                    e.add(&path, format!("Constraint operator must be one of {}: got '{op}'", CONSTRAINT_OPERATORS.join(", ")));
                    continue;
                }
                let value = c.get(2).and_then(|v| v.as_str());
                match op {
                    "LIKE" | "UNLIKE" | "IS" | "CLUSTER" if value.is_none() && op != "CLUSTER" => {
                        e.add(&path, format!("{op} requires a value"))
                    }
                    "MAX_PER" if value.and_then(|v| v.parse::<u32>().ok()).is_none() => e.add(&path, "MAX_PER requires a positive integer value"),
                    "GROUP_BY" if value.is_some() && value.and_then(|v| v.parse::<u32>().ok()).is_none() => {
                        e.add(&path, "GROUP_BY takes an optional integer value")
                    }
                    "LIKE" | "UNLIKE" => {
                        if let Some(v) = value {
                            if crate::constraints::Pattern::compile(v).is_none() {
                                e.add(&path, format!("'{v}' is not a valid regular expression"));
                            }
                        }
                    }
                    _ => {}
                }
                if c.len() > 3 {
                    e.add(&path, "a constraint has at most 3 elements: [field, operator, value]");
                }
            }
            _ => e.add(&path, "each constraint must be [field, operator] or [field, operator, value] with string elements"),
        }
    }
    let defs = app.host_ports();
    let mut seen_ports = std::collections::BTreeSet::new();
    let mut seen_names = std::collections::BTreeSet::new();
    for (i, p) in defs.iter().enumerate() {
        if p.port != 0 && !seen_ports.insert(p.port) {
            e.add(
                &format!("/portDefinitions({i})/port"),
                format!("port {} is defined twice", p.port),
            );
        }
        if p.port > 65535 {
            e.add(
                &format!("/portDefinitions({i})/port"),
                "must be 65535 or less",
            );
        }
        if let Some(n) = &p.name {
            if !seen_names.insert(n.clone()) {
                e.add(
                    &format!("/portDefinitions({i})/name"),
                    format!("port name '{n}' is used twice"),
                );
            }
        }
        if !["tcp", "udp", "udp,tcp", "tcp,udp"].contains(&p.protocol.as_str()) {
            e.add(
                &format!("/portDefinitions({i})/protocol"),
                "must be tcp, udp or udp,tcp",
            );
        }
    }
    for (i, hc) in app.health_checks.iter().enumerate() {
        let path = format!("/healthChecks({i})");
        let protos = [
            "HTTP",
            "HTTPS",
            "TCP",
            "COMMAND",
            "MESOS_HTTP",
            "MESOS_HTTPS",
            "MESOS_TCP",
        ];
        if !protos.contains(&hc.protocol.as_str()) {
            e.add(
                &format!("{path}/protocol"),
                format!("must be one of {}", protos.join(", ")),
            );
        }
        if hc.protocol == "COMMAND" && hc.command.is_none() {
            e.add(
                &format!("{path}/command"),
                "a COMMAND health check needs a command",
            );
        }
        if let Some(ix) = hc.port_index {
            if ix as usize >= defs.len() && hc.protocol != "COMMAND" {
                e.add(
                    &format!("{path}/portIndex"),
                    format!("portIndex {ix} is out of range ({} ports)", defs.len()),
                );
            }
        }
        if hc.interval_seconds == 0 || hc.timeout_seconds == 0 {
            e.add(&path, "intervalSeconds and timeoutSeconds must be positive");
        }
    }
    if let Some(c) = &app.container {
        match c.get("type").and_then(|t| t.as_str()).unwrap_or("MESOS") {
            "DOCKER" => {
                if c.get("docker")
                    .and_then(|d| d.get("image"))
                    .and_then(|i| i.as_str())
                    .map(|s| s.is_empty())
                    .unwrap_or(true)
                {
                    e.add("/container/docker/image", "must not be empty");
                }
            }
            "MESOS" => {}
            other => e.add(
                "/container/type",
                format!("unknown container type '{other}' (DOCKER or MESOS)"),
            ),
        }
    }
    for (k, v) in &app.env {
        if !(v.is_string() || v.get("secret").is_some()) {
            e.add(&format!("/env/{k}"), "must be a string");
        }
    }
    for (i, d) in app.dependencies.iter().enumerate() {
        if d.trim().is_empty() {
            e.add(&format!("/dependencies({i})"), "must not be empty");
        }
    }
    // Resident apps: Marathon's default upgrade strategy for them is {0.5, 0} (a strategy
    // left at the general default {1, 1} is taken as not given).
    if is_resident(&app) && app.upgrade_strategy == Default::default() {
        app.upgrade_strategy.minimum_health_capacity = 0.5;
        app.upgrade_strategy.maximum_over_capacity = 0.0;
    }
    for (path, msg) in crate::resident::check(&app) {
        e.add(&path, msg);
    }
    if let Some(v) = &app.unreachable_strategy {
        if let Err(errors) = crate::unreachable::parse(v) {
            for (sub, msg) in errors {
                e.add(&format!("/unreachableStrategy{sub}"), msg);
            }
        }
    }
    app.dependencies = app
        .dependencies
        .iter()
        .map(|d| canonical_id(d, parent_of(&app.id)))
        .collect();
    if e.0.is_empty() {
        normalize(&mut app);
        Ok(app)
    } else {
        Err(e
            .0
            .into_iter()
            .map(|(path, errors)| ValidationDetail { path, errors })
            .collect())
    }
}

/// Marathon's normalisation of a valid app (`AppNormalization`): legacy `ports` become port
/// definitions and `uris` fetch artifacts; host networking gets its default port (`default`,
/// port 0: a service port is assigned when the app is deployed); container networks have
/// port mappings instead; `networks`, `unreachableStrategy`, health-check and container
/// defaults are filled in, so what is stored and shown is what Marathon would show. Running
/// it again changes nothing.
fn normalize(app: &mut App) {
    // The legacy `container.docker.network` says what `networks` says in Marathon 1.5+.
    let unset = app
        .networks
        .as_ref()
        .map(|n| n.as_array().map(|a| a.is_empty()).unwrap_or(false))
        .unwrap_or(true);
    if unset {
        let legacy = app
            .container
            .as_ref()
            .and_then(|c| c.get("docker"))
            .and_then(|d| d.get("network"))
            .and_then(|n| n.as_str())
            .map(|n| n.to_ascii_uppercase());
        app.networks = Some(match legacy.as_deref() {
            Some("BRIDGE") => json!([{"mode": "container/bridge"}]),
            Some("USER") => json!([{"mode": "container"}]),
            _ => json!([{"mode": "host"}]),
        });
    }
    if app.port_definitions.is_none() {
        if let Some(ports) = app.ports.take() {
            app.port_definitions = Some(
                ports
                    .into_iter()
                    .map(|port| PortDefinition {
                        port,
                        ..PortDefinition::default_tcp()
                    })
                    .collect(),
            );
        }
    }
    if app.uses_port_mappings() {
        app.port_definitions = None;
        app.require_ports = false;
    } else if app.port_definitions.is_none() {
        app.port_definitions = Some(vec![PortDefinition {
            name: Some("default".into()),
            ..PortDefinition::default_tcp()
        }]);
    }
    app.ports = None;
    for uri in std::mem::take(&mut app.uris) {
        let extract = [
            ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip",
        ]
        .iter()
        .any(|x| uri.ends_with(x));
        app.fetch.push(FetchUri {
            uri,
            extract,
            ..Default::default()
        });
    }
    app.store_urls.clear();
    // Given: written back in full (`{}` shows its defaults); absent: Marathon's default,
    // disabled for resident apps.
    let strategy = match &app.unreachable_strategy {
        Some(v) => crate::unreachable::UnreachableStrategy::of(Some(v)),
        None => crate::unreachable::UnreachableStrategy::default_for(is_resident(app)),
    };
    app.unreachable_strategy = Some(strategy.to_json());
    let has_ports = !app.host_ports().is_empty();
    for hc in &mut app.health_checks {
        let http = matches!(hc.protocol.as_str(), "HTTP" | "HTTPS");
        hc.ignore_http1xx = if http {
            Some(hc.ignore_http1xx.unwrap_or(false))
        } else {
            None
        };
        if hc.protocol != "COMMAND" && hc.port.is_none() && hc.port_index.is_none() && has_ports {
            hc.port_index = Some(0);
        }
    }
    if let Some(Value::Object(c)) = app.container.as_mut() {
        let docker = c.get("docker").is_some();
        c.entry("type")
            .or_insert_with(|| json!(if docker { "DOCKER" } else { "MESOS" }));
        c.entry("volumes").or_insert_with(|| json!([]));
        if let Some(Value::Object(d)) = c.get_mut("docker") {
            d.entry("forcePullImage").or_insert(json!(false));
            d.entry("privileged").or_insert(json!(false));
            d.entry("parameters").or_insert_with(|| json!([]));
        }
    }
}

/// Whether `app` is resident: it has a persistent volume (`container.volumes[].persistent`).
pub fn is_resident(app: &App) -> bool {
    app.container
        .as_ref()
        .and_then(|c| c.get("volumes"))
        .and_then(|v| v.as_array())
        .is_some_and(|vs| vs.iter().any(|v| v.get("persistent").is_some()))
}

/// A serde path (`healthChecks[0].intervalSeconds`) as Marathon writes it.
pub fn marathon_path(p: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in p.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("({index})")),
            Segment::Map { key } => out.push_str(&format!("/{key}")),
            Segment::Enum { variant } => out.push_str(&format!("/{variant}")),
            Segment::Unknown => {}
        }
    }
    if out.is_empty() {
        "/".into()
    } else {
        out
    }
}

/// An app from JSON; a value of the wrong type is a 422 naming its field.
pub fn app_from_value(v: Value) -> Result<App, Vec<ValidationDetail>> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        vec![ValidationDetail {
            path: marathon_path(e.path()),
            errors: vec![format!("Invalid JSON: {}", e.inner())],
        }]
    })
}

pub fn parent_of(id: &str) -> &str {
    match id.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &id[..i],
    }
}

/// The task-name form of an app id, as Marathon sets TaskInfo.name: `/prod/web` → `web.prod`.
pub fn hostname_of(id: &str) -> String {
    let mut parts: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    parts.reverse();
    parts.join(".")
}

/// The prefix of Marathon task ids for an app: `/prod/web` → `prod_web`.
pub fn task_prefix(id: &str) -> String {
    id.trim_start_matches('/').replace('/', "_")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn app(json: &str) -> App {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ids_are_made_absolute_and_normalised() {
        assert_eq!(canonical_id("web", "/"), "/web");
        assert_eq!(canonical_id("web", "/prod"), "/prod/web");
        assert_eq!(canonical_id("/prod/../dev/./api/", "/"), "/dev/api");
        assert_eq!(hostname_of("/prod/web"), "web.prod");
        assert_eq!(task_prefix("/prod/web"), "prod_web");
        assert_eq!(parent_of("/prod/web"), "/prod");
        assert_eq!(parent_of("/web"), "/");
    }

    #[test]
    fn a_good_app_passes_with_defaults() {
        let a = validate_app(app(r#"{"id":"prod/web","cmd":"sleep 100"}"#), "/").unwrap();
        assert_eq!(a.id, "/prod/web");
        assert_eq!(a.instances, 1);
        assert_eq!(a.cpus, 1.0);
        assert_eq!(a.mem, 128.0);
        assert_eq!(a.port_defs().len(), 1);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let e = validate_app(
            app(
                r#"{"id":"Bad_Id","cmd":"x","args":["y"],"instances":-1,"cpus":-1,
                   "constraints":[["hostname","SOMETIMES"],["rack","MAX_PER","x"]],
                   "portDefinitions":[{"port":80},{"port":80}],
                   "upgradeStrategy":{"minimumHealthCapacity":2}}"#,
            ),
            "/",
        )
        .unwrap_err();
        let paths: Vec<&str> = e.iter().map(|d| d.path.as_str()).collect();
        for p in [
            "/id",
            "/cmd",
            "/instances",
            "/cpus",
            "/constraints(0)",
            "/constraints(1)",
            "/portDefinitions(1)/port",
            "/upgradeStrategy/minimumHealthCapacity",
        ] {
            assert!(paths.contains(&p), "missing {p} in {paths:?}");
        }
        let ops = e.iter().find(|d| d.path == "/constraints(0)").unwrap();
        assert!(
            ops.errors[0].contains("UNIQUE"),
            "names the allowed operators"
        );
    }

    #[test]
    fn an_app_needs_a_command_or_a_container() {
        let e = validate_app(app(r#"{"id":"x"}"#), "/").unwrap_err();
        assert!(e.iter().any(|d| d.path == "/"));
        assert!(validate_app(
            app(r#"{"id":"x","container":{"type":"DOCKER","docker":{"image":"nginx"}}}"#),
            "/"
        )
        .is_ok());
        let e = validate_app(
            app(r#"{"id":"x","container":{"type":"DOCKER","docker":{"image":""}}}"#),
            "/",
        )
        .unwrap_err();
        assert!(e.iter().any(|d| d.path == "/container/docker/image"));
    }

    #[test]
    fn unreachable_strategy_is_checked_and_defaulted_as_marathon() {
        let e = validate_app(
            app(r#"{"id":"x","cmd":"y","unreachableStrategy":{"inactiveAfterSeconds":2,"expungeAfterSeconds":1}}"#),
            "/",
        )
        .unwrap_err();
        let d = e
            .iter()
            .find(|d| d.path == "/unreachableStrategy/inactiveAfterSeconds")
            .unwrap();
        assert_eq!(
            d.errors,
            vec![
                "inactiveAfterSeconds (2) must be less or equal to expungeAfterSeconds, which is 1"
            ]
        );
        let a = validate_app(app(r#"{"id":"x","cmd":"y"}"#), "/").unwrap();
        assert_eq!(
            a.unreachable_strategy,
            Some(json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}))
        );
        let a = validate_app(
            app(r#"{"id":"x","cmd":"y","unreachableStrategy":"disabled"}"#),
            "/",
        )
        .unwrap();
        assert_eq!(a.unreachable_strategy, Some(json!("disabled")));
    }
}
