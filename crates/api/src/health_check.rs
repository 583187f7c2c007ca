//! Mesos v1 `HealthCheck` (`TaskInfo.health_check`): read from its JSON with the proto's
//! defaults and validated with the rules (and messages) of Mesos' `validateHealthCheck`, so the
//! master can refuse a bad one at launch and the agent can run a good one.

use crate::mesos::CommandInfo;
use serde_json::Value;

/// What a health check probes.
#[derive(Clone, Debug, PartialEq)]
pub enum HealthCheckKind {
    /// Run a command next to the task; exit status 0 is healthy.
    Command(CommandInfo),
    /// `GET <scheme>://127.0.0.1:<port><path>`; 200-399 is healthy (redirects are followed).
    Http {
        scheme: String,
        port: u16,
        path: String,
        ipv6: bool,
    },
    /// Connect to 127.0.0.1:<port>; an established connection is healthy.
    Tcp { port: u16, ipv6: bool },
}

#[derive(Clone, Debug, PartialEq)]
pub struct HealthCheck {
    pub kind: HealthCheckKind,
    /// Wait this long after the task is running before the first check (default 15).
    pub delay_seconds: f64,
    /// Wait this long after a check finished (or timed out) before the next one (default 10).
    pub interval_seconds: f64,
    /// A check taking longer fails; 0 means no timeout (default 20).
    pub timeout_seconds: f64,
    /// Kill the task after this many failures in a row (default 3).
    pub consecutive_failures: u32,
    /// Failures this soon after the task started are ignored until the first success (default 10).
    pub grace_period_seconds: f64,
}

/// Why a `HealthCheck` is refused, in Mesos' words (each names the field that is wrong).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum HealthCheckError {
    #[error("HealthCheck must be a JSON object")]
    NotAnObject,
    #[error("HealthCheck must specify 'type'")]
    NoType,
    #[error("'{0}' is not a valid health check type")]
    UnknownType(String),
    #[error("Health check's `CommandInfo` is invalid: {0}")]
    BadCommand(String),
    /// `what`: `'shell command'` or `'executable path'`.
    #[error("Command health check must contain {0}")]
    EmptyCommand(&'static str),
    #[error("Unsupported HTTP health check scheme: '{0}'")]
    BadScheme(String),
    #[error("The path '{0}' of HTTP health check must start with '/'")]
    RelativePath(String),
    #[error("'http.path' of HTTP health check must be a string")]
    PathNotAString,
    #[error("Expecting '{field}' to be set for {kind} health check")]
    Missing { field: String, kind: &'static str },
    #[error("Expecting '{0}.port' to be a port number")]
    PortNotANumber(&'static str),
    #[error("Expecting '{field}.port' to be between 1 and 65535, not {value}")]
    PortOutOfRange { field: &'static str, value: f64 },
    #[error("Expecting '{0}' to be a number")]
    NotANumber(&'static str),
    #[error("Expecting '{0}' to be non-negative")]
    Negative(&'static str),
    #[error("Expecting 'consecutive_failures' to be a non-negative integer")]
    BadConsecutiveFailures,
}

impl HealthCheck {
    /// Read and validate `TaskInfo.health_check`. The error is Mesos' wording, naming the field.
    pub fn from_json(v: &Value) -> Result<HealthCheck, HealthCheckError> {
        use HealthCheckError as E;
        let obj = v.as_object().ok_or(E::NotAnObject)?;
        let kind = match obj.get("type") {
            None | Some(Value::Null) => return Err(E::NoType),
            Some(Value::String(s)) => s.clone(),
            // Protobuf JSON parsers accept an enum's number too.
            Some(Value::Number(n)) => match n.as_u64() {
                Some(1) => "COMMAND".into(),
                Some(2) => "HTTP".into(),
                Some(3) => "TCP".into(),
                _ => "UNKNOWN".into(),
            },
            Some(other) => return Err(E::UnknownType(other.to_string())),
        };
        let kind = match kind.as_str() {
            "COMMAND" => {
                let c = obj
                    .get("command")
                    .filter(|c| !c.is_null())
                    .ok_or(E::Missing {
                        field: "command".into(),
                        kind: "COMMAND",
                    })?;
                let cmd: CommandInfo =
                    serde_json::from_value(c.clone()).map_err(|e| E::BadCommand(e.to_string()))?;
                if cmd.value.is_none() {
                    return Err(E::EmptyCommand(if cmd.shell.unwrap_or(true) {
                        "'shell command'"
                    } else {
                        "'executable path'"
                    }));
                }
                HealthCheckKind::Command(cmd)
            }
            "HTTP" => {
                let h = sub_object(obj, "http", "HTTP")?;
                let scheme = match h.get("scheme") {
                    None | Some(Value::Null) => "http".to_string(),
                    Some(Value::String(s)) if s == "http" || s == "https" => s.clone(),
                    Some(Value::String(s)) => return Err(E::BadScheme(s.clone())),
                    Some(other) => return Err(E::BadScheme(other.to_string())),
                };
                let path = match h.get("path") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(p)) if p.starts_with('/') => p.clone(),
                    Some(Value::String(p)) => return Err(E::RelativePath(p.clone())),
                    Some(_) => return Err(E::PathNotAString),
                };
                HealthCheckKind::Http {
                    scheme,
                    port: port(h, "http", "HTTP")?,
                    path,
                    ipv6: ipv6(h),
                }
            }
            "TCP" => {
                let t = sub_object(obj, "tcp", "TCP")?;
                HealthCheckKind::Tcp {
                    port: port(t, "tcp", "TCP")?,
                    ipv6: ipv6(t),
                }
            }
            other => return Err(E::UnknownType(other.to_string())),
        };
        Ok(HealthCheck {
            kind,
            delay_seconds: seconds(obj, "delay_seconds", 15.0)?,
            grace_period_seconds: seconds(obj, "grace_period_seconds", 10.0)?,
            interval_seconds: seconds(obj, "interval_seconds", 10.0)?,
            timeout_seconds: seconds(obj, "timeout_seconds", 20.0)?,
            consecutive_failures: match number(obj, "consecutive_failures")? {
                None => 3,
                Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64 => n as u32,
                Some(_) => return Err(E::BadConsecutiveFailures),
            },
        })
    }
}

type Object = serde_json::Map<String, Value>;

fn sub_object<'a>(
    obj: &'a Object,
    field: &'static str,
    kind: &'static str,
) -> Result<&'a Object, HealthCheckError> {
    obj.get(field)
        .and_then(Value::as_object)
        .ok_or(HealthCheckError::Missing {
            field: field.into(),
            kind,
        })
}

fn port(obj: &Object, parent: &'static str, kind: &'static str) -> Result<u16, HealthCheckError> {
    match number(obj, "port").map_err(|_| HealthCheckError::PortNotANumber(parent))? {
        None => Err(HealthCheckError::Missing {
            field: format!("{parent}.port"),
            kind,
        }),
        Some(n) if (1.0..=65535.0).contains(&n) && n.fract() == 0.0 => Ok(n as u16),
        Some(value) => Err(HealthCheckError::PortOutOfRange {
            field: parent,
            value,
        }),
    }
}

fn ipv6(obj: &Object) -> bool {
    obj.get("protocol").and_then(Value::as_str) == Some("IPv6")
}

/// A numeric field; protobuf JSON also writes numbers as strings.
fn number(obj: &Object, field: &'static str) -> Result<Option<f64>, HealthCheckError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or(()),
        Some(_) => Err(()),
    }
    .map_err(|()| HealthCheckError::NotANumber(field))
}

fn seconds(obj: &Object, field: &'static str, default: f64) -> Result<f64, HealthCheckError> {
    match number(obj, field)? {
        None => Ok(default),
        Some(n) if n < 0.0 => Err(HealthCheckError::Negative(field)),
        Some(n) => Ok(n),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        HealthCheck::from_json(&v).expect_err("invalid").to_string()
    }

    #[test]
    fn defaults_are_the_protos() {
        let hc = HealthCheck::from_json(&json!({"type": "TCP", "tcp": {"port": 8080}})).unwrap();
        assert_eq!(
            hc.kind,
            HealthCheckKind::Tcp {
                port: 8080,
                ipv6: false
            }
        );
        assert_eq!(
            (
                hc.delay_seconds,
                hc.interval_seconds,
                hc.timeout_seconds,
                hc.consecutive_failures,
                hc.grace_period_seconds
            ),
            (15.0, 10.0, 20.0, 3, 10.0)
        );
    }

    #[test]
    fn http_and_command_shapes() {
        let hc = HealthCheck::from_json(&json!({"type": "HTTP", "http": {"port": "80", "path": "/health", "scheme": "https"},
            "delay_seconds": 0.5, "interval_seconds": "1", "timeout_seconds": 0, "consecutive_failures": 7, "grace_period_seconds": 0}))
        .unwrap();
        assert_eq!(
            hc.kind,
            HealthCheckKind::Http {
                scheme: "https".into(),
                port: 80,
                path: "/health".into(),
                ipv6: false
            }
        );
        assert_eq!(
            (
                hc.delay_seconds,
                hc.interval_seconds,
                hc.timeout_seconds,
                hc.consecutive_failures
            ),
            (0.5, 1.0, 0.0, 7)
        );
        let hc = HealthCheck::from_json(
            &json!({"type": "HTTP", "http": {"port": 80, "protocol": "IPv6"}}),
        )
        .unwrap();
        assert_eq!(
            hc.kind,
            HealthCheckKind::Http {
                scheme: "http".into(),
                port: 80,
                path: String::new(),
                ipv6: true
            }
        );
        let hc = HealthCheck::from_json(&json!({"type": "COMMAND", "command": {"value": "true"}}))
            .unwrap();
        assert!(
            matches!(hc.kind, HealthCheckKind::Command(c) if c.value.as_deref() == Some("true"))
        );
        assert!(HealthCheck::from_json(&json!({"type": 3, "tcp": {"port": 1}})).is_ok());
    }

    #[test]
    fn invalid_shapes_name_the_field() {
        assert_eq!(
            err(json!({"http": {"port": 1}})),
            "HealthCheck must specify 'type'"
        );
        assert_eq!(
            err(json!({"type": "UNKNOWN"})),
            "'UNKNOWN' is not a valid health check type"
        );
        assert_eq!(
            err(json!({"type": "GRPC"})),
            "'GRPC' is not a valid health check type"
        );
        assert_eq!(
            err(json!({"type": "COMMAND"})),
            "Expecting 'command' to be set for COMMAND health check"
        );
        assert_eq!(
            err(json!({"type": "COMMAND", "command": {"shell": false}})),
            "Command health check must contain 'executable path'"
        );
        assert_eq!(
            err(json!({"type": "COMMAND", "command": {}})),
            "Command health check must contain 'shell command'"
        );
        assert!(err(json!({"type": "COMMAND", "command": {"value": 3}}))
            .starts_with("Health check's `CommandInfo` is invalid"));
        assert_eq!(
            err(json!({"type": "HTTP"})),
            "Expecting 'http' to be set for HTTP health check"
        );
        assert_eq!(
            err(json!({"type": "HTTP", "http": {"path": "/"}})),
            "Expecting 'http.port' to be set for HTTP health check"
        );
        assert_eq!(
            err(json!({"type": "HTTP", "http": {"port": 70000}})),
            "Expecting 'http.port' to be between 1 and 65535, not 70000"
        );
        assert_eq!(
            err(json!({"type": "HTTP", "http": {"port": 1, "scheme": "ftp"}})),
            "Unsupported HTTP health check scheme: 'ftp'"
        );
        assert_eq!(
            err(json!({"type": "HTTP", "http": {"port": 1, "path": "x"}})),
            "The path 'x' of HTTP health check must start with '/'"
        );
        assert_eq!(
            err(json!({"type": "TCP", "tcp": {}})),
            "Expecting 'tcp.port' to be set for TCP health check"
        );
        assert_eq!(
            err(json!({"type": "TCP"})),
            "Expecting 'tcp' to be set for TCP health check"
        );
        let tcp = |k: &str, v: Value| {
            let mut o = json!({"type": "TCP", "tcp": {"port": 1}});
            o[k] = v;
            err(o)
        };
        assert_eq!(
            tcp("interval_seconds", json!(-1)),
            "Expecting 'interval_seconds' to be non-negative"
        );
        assert_eq!(
            tcp("delay_seconds", json!(-0.5)),
            "Expecting 'delay_seconds' to be non-negative"
        );
        assert_eq!(
            tcp("timeout_seconds", json!(-2)),
            "Expecting 'timeout_seconds' to be non-negative"
        );
        assert_eq!(
            tcp("grace_period_seconds", json!(-3)),
            "Expecting 'grace_period_seconds' to be non-negative"
        );
        assert_eq!(
            tcp("interval_seconds", json!("soon")),
            "Expecting 'interval_seconds' to be a number"
        );
        assert_eq!(
            tcp("consecutive_failures", json!(-1)),
            "Expecting 'consecutive_failures' to be a non-negative integer"
        );
        assert_eq!(
            tcp("consecutive_failures", json!(1.5)),
            "Expecting 'consecutive_failures' to be a non-negative integer"
        );
    }
}
