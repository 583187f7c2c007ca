//! An app's `unreachableStrategy` in typed form, its validation with Marathon's messages, and
//! the pure decision of what an instance unreachable since some time is at `now`: still
//! counted (unreachable), replaced but kept (unreachable inactive), or expunged. Marathon 1.9:
//! `"disabled"` (never replaced: wait for the agent; the default of resident apps) or
//! `{"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}` (both default 0, both >= 0,
//! inactive <= expunge). 0/0 expunges at once, on the TASK_UNREACHABLE itself.

use serde_json::{json, Value};

/// `unreachableStrategy` as Marathon's core holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnreachableStrategy {
    /// Never replaced, never expunged: the instance waits for its agent.
    Disabled,
    /// Replaced after `inactive_after` seconds unreachable, expunged after `expunge_after`.
    Enabled {
        inactive_after: u64,
        expunge_after: u64,
    },
}

/// What an unreachable instance is at some time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Unreachable: it still counts towards the app's instances.
    Unreachable,
    /// Unreachable inactive: it no longer counts (a replacement is launched), but is kept and
    /// counts again if its task comes back.
    Inactive,
    /// Expunged: forgotten (and killed if it ever comes back).
    Expunge,
}

impl Default for UnreachableStrategy {
    fn default() -> Self {
        UnreachableStrategy::Enabled {
            inactive_after: 0,
            expunge_after: 0,
        }
    }
}

impl UnreachableStrategy {
    /// Marathon's default for an app: disabled for resident apps (with persistent volumes).
    pub fn default_for(resident: bool) -> Self {
        if resident {
            UnreachableStrategy::Disabled
        } else {
            UnreachableStrategy::default()
        }
    }

    /// The typed form of a stored (validated) app's `unreachableStrategy`; the default when
    /// absent or not understood.
    pub fn of(v: Option<&Value>) -> Self {
        v.and_then(|v| parse(v).ok()).unwrap_or_default()
    }

    /// The JSON Marathon shows.
    pub fn to_json(self) -> Value {
        match self {
            UnreachableStrategy::Disabled => json!("disabled"),
            UnreachableStrategy::Enabled {
                inactive_after,
                expunge_after,
            } => {
                json!({"inactiveAfterSeconds": inactive_after, "expungeAfterSeconds": expunge_after})
            }
        }
    }

    /// What an instance unreachable since `since` is at `now`.
    pub fn fate(self, since: f64, now: f64) -> Fate {
        match self {
            UnreachableStrategy::Disabled => Fate::Unreachable,
            UnreachableStrategy::Enabled {
                inactive_after,
                expunge_after,
            } => {
                let gone = (now - since).max(0.0);
                if gone >= expunge_after as f64 {
                    Fate::Expunge
                } else if gone >= inactive_after as f64 {
                    Fate::Inactive
                } else {
                    Fate::Unreachable
                }
            }
        }
    }
}

/// Parse (and validate) an `unreachableStrategy` value; `Err` holds (path under
/// `/unreachableStrategy`, message) pairs, as Marathon reports them.
pub fn parse(v: &Value) -> Result<UnreachableStrategy, Vec<(String, String)>> {
    const SHAPE: &str = "must be \"disabled\" or {\"inactiveAfterSeconds\": <seconds>, \"expungeAfterSeconds\": <seconds>}";
    let o = match v {
        Value::String(s) if s == "disabled" => return Ok(UnreachableStrategy::Disabled),
        Value::Object(o) => o,
        _ => return Err(vec![(String::new(), SHAPE.to_string())]),
    };
    let mut errors = Vec::new();
    let mut field = |name: &str| -> i64 {
        match o.get(name) {
            None | Some(Value::Null) => 0,
            Some(x) => match x.as_i64() {
                Some(n) if n >= 0 => n,
                Some(n) => {
                    errors.push((format!("/{name}"), format!("got {n}, expected 0 or more")));
                    0
                }
                None => {
                    errors.push((
                        format!("/{name}"),
                        "Invalid JSON: expected an integer (seconds)".to_string(),
                    ));
                    0
                }
            },
        }
    };
    let inactive = field("inactiveAfterSeconds");
    let expunge = field("expungeAfterSeconds");
    for k in o.keys() {
        if k != "inactiveAfterSeconds" && k != "expungeAfterSeconds" {
            errors.push((format!("/{k}"), "Unexpected field".to_string()));
        }
    }
    if errors.is_empty() && inactive > expunge {
        errors.push((
            "/inactiveAfterSeconds".into(),
            format!("inactiveAfterSeconds ({inactive}) must be less or equal to expungeAfterSeconds, which is {expunge}"),
        ));
    }
    if errors.is_empty() {
        Ok(UnreachableStrategy::Enabled {
            inactive_after: inactive as u64,
            expunge_after: expunge as u64,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use Fate::*;
    use UnreachableStrategy::*;

    #[test]
    fn fate_follows_the_strategy() {
        let e = |i, x| Enabled {
            inactive_after: i,
            expunge_after: x,
        };
        // (strategy, seconds unreachable, fate)
        let cases = [
            (e(0, 0), 0.0, Expunge),
            (e(0, 0), 100.0, Expunge),
            (e(0, 60), 0.0, Inactive),
            (e(0, 60), 59.9, Inactive),
            (e(0, 60), 60.0, Expunge),
            (e(10, 60), 0.0, Unreachable),
            (e(10, 60), 9.99, Unreachable),
            (e(10, 60), 10.0, Inactive),
            (e(10, 60), 61.0, Expunge),
            (e(10, 10), 10.0, Expunge),
            (e(10, 10), 5.0, Unreachable),
            // A clock that went back counts as no time.
            (e(10, 60), -5.0, Unreachable),
            (Disabled, 0.0, Unreachable),
            (Disabled, 1e9, Unreachable),
        ];
        for (s, gone, want) in cases {
            assert_eq!(s.fate(1000.0, 1000.0 + gone), want, "{s:?} after {gone}s");
        }
    }

    #[test]
    fn parse_and_validate_as_marathon() {
        let ok = [
            (json!("disabled"), Disabled),
            (json!({}), UnreachableStrategy::default()),
        ];
        for (v, want) in ok {
            assert_eq!(parse(&v), Ok(want), "{v}");
        }
        assert_eq!(
            parse(&json!({"inactiveAfterSeconds": 2, "expungeAfterSeconds": 2})),
            Ok(Enabled {
                inactive_after: 2,
                expunge_after: 2
            })
        );
        let bad = [
            (
                json!({"inactiveAfterSeconds": 2, "expungeAfterSeconds": 1}),
                "/inactiveAfterSeconds",
                "inactiveAfterSeconds (2) must be less or equal to expungeAfterSeconds, which is 1",
            ),
            (
                // The other field defaults to 0.
                json!({"inactiveAfterSeconds": 5}),
                "/inactiveAfterSeconds",
                "inactiveAfterSeconds (5) must be less or equal to expungeAfterSeconds, which is 0",
            ),
            (
                json!({"inactiveAfterSeconds": -1, "expungeAfterSeconds": 1}),
                "/inactiveAfterSeconds",
                "got -1, expected 0 or more",
            ),
            (
                json!({"expungeAfterSeconds": "x"}),
                "/expungeAfterSeconds",
                "Invalid JSON: expected an integer (seconds)",
            ),
            (json!("enabled"), "", "must be \"disabled\""),
            (json!({"inactive": 1}), "/inactive", "Unexpected field"),
        ];
        for (v, path, msg) in bad {
            let e = parse(&v).unwrap_err();
            assert!(
                e.iter().any(|(p, m)| p == path && m.starts_with(msg)),
                "{v}: {e:?}"
            );
        }
    }

    #[test]
    fn json_round_trips() {
        for s in [
            Disabled,
            Enabled {
                inactive_after: 3,
                expunge_after: 7,
            },
        ] {
            assert_eq!(parse(&s.to_json()), Ok(s));
            assert_eq!(UnreachableStrategy::of(Some(&s.to_json())), s);
        }
        assert_eq!(
            UnreachableStrategy::of(None),
            UnreachableStrategy::default()
        );
    }
}
