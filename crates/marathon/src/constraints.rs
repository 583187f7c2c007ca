//! Placement constraints (`UNIQUE`, `CLUSTER`, `GROUP_BY`, `LIKE`, `UNLIKE`, `MAX_PER`, `IS`) over
//! `hostname` and agent attributes. Pure: an offer's agent and where the app's instances already
//! run go in; yes, or the reason why not, comes out.

use serde_json::Value;

/// What the matcher needs to know about an agent.
#[derive(Clone, Debug, Default)]
pub struct AgentFacts {
    pub agent_id: String,
    pub hostname: String,
    pub attributes: Vec<(String, String)>,
}

impl AgentFacts {
    pub fn field(&self, name: &str) -> Option<String> {
        if name == "hostname" {
            return Some(self.hostname.clone());
        }
        if name == "@region" || name == "@zone" {
            return None;
        }
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// A whole-string regular expression, as Marathon's LIKE/UNLIKE use (Java's `matches`).
pub struct Pattern(regex::Regex);

impl Pattern {
    pub fn compile(s: &str) -> Option<Pattern> {
        regex::Regex::new(&format!("^(?:{s})$")).ok().map(Pattern)
    }
    pub fn is_match(&self, s: &str) -> bool {
        self.0.is_match(s)
    }
}

/// A constraint an agent does not meet, and why (shown with the offers an app did not use).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("constraint [{constraint}] unmet: {why}")]
pub struct Unmet {
    /// As the app wrote it: `rack, CLUSTER, r1`.
    pub constraint: String,
    pub why: String,
}

/// Check one app's constraints for an offer's agent. `placed` lists the agents the app's
/// active instances run on (with repeats). Returns the first unmet constraint, described.
pub fn check(
    constraints: &[Vec<Value>],
    agent: &AgentFacts,
    placed: &[&AgentFacts],
) -> Result<(), Unmet> {
    for c in constraints {
        let field = c.first().and_then(|v| v.as_str()).unwrap_or_default();
        let op = c.get(1).and_then(|v| v.as_str()).unwrap_or_default();
        let value = c.get(2).and_then(|v| v.as_str());
        let mine = agent.field(field);
        let unmet = |why: String| {
            Err(Unmet {
                constraint: format!(
                    "{field}, {op}{}",
                    value.map(|v| format!(", {v}")).unwrap_or_default()
                ),
                why,
            })
        };
        match op {
            "UNIQUE" => {
                let Some(v) = mine else {
                    return unmet(format!("agent has no '{field}'"));
                };
                if placed
                    .iter()
                    .any(|p| p.field(field).as_deref() == Some(v.as_str()))
                {
                    return unmet(format!("an instance already runs where {field} = {v}"));
                }
            }
            "CLUSTER" => {
                let Some(v) = mine else {
                    return unmet(format!("agent has no '{field}'"));
                };
                let target = value
                    .map(String::from)
                    .or_else(|| placed.first().and_then(|p| p.field(field)));
                if let Some(t) = target {
                    if t != v {
                        return unmet(format!("{field} is {v}, instances cluster on {t}"));
                    }
                }
            }
            "IS" => {
                if mine.as_deref() != value {
                    return unmet(format!(
                        "{field} is {}",
                        mine.unwrap_or_else(|| "unset".into())
                    ));
                }
            }
            "LIKE" | "UNLIKE" => {
                let Some(p) = value.and_then(Pattern::compile) else {
                    return unmet("invalid pattern".into());
                };
                let m = mine.as_deref().map(|v| p.is_match(v)).unwrap_or(false);
                if (op == "LIKE") != m {
                    return unmet(format!(
                        "{field} is {}",
                        mine.unwrap_or_else(|| "unset".into())
                    ));
                }
            }
            "MAX_PER" => {
                let Some(v) = mine else {
                    return unmet(format!("agent has no '{field}'"));
                };
                let max: usize = value.and_then(|x| x.parse().ok()).unwrap_or(1);
                let n = placed
                    .iter()
                    .filter(|p| p.field(field).as_deref() == Some(v.as_str()))
                    .count();
                if n >= max {
                    return unmet(format!("{n} instances already run where {field} = {v}"));
                }
            }
            "GROUP_BY" => {
                let Some(v) = mine else {
                    return unmet(format!("agent has no '{field}'"));
                };
                // Spread evenly: this value may not hold more than the least-used value known.
                let mut counts: std::collections::BTreeMap<String, usize> =
                    std::collections::BTreeMap::new();
                for p in placed {
                    if let Some(x) = p.field(field) {
                        *counts.entry(x).or_default() += 1;
                    }
                }
                let expected: usize = value.and_then(|x| x.parse().ok()).unwrap_or(0);
                let here = counts.get(&v).copied().unwrap_or(0);
                let distinct_known = counts.len().max(expected);
                let min = if counts.len() < distinct_known {
                    0
                } else {
                    counts.values().copied().min().unwrap_or(0)
                };
                if here > min {
                    return unmet(format!(
                        "{here} instances already run where {field} = {v}, fewer elsewhere"
                    ));
                }
            }
            other => return unmet(format!("unknown operator {other}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agent(host: &str, attrs: &[(&str, &str)]) -> AgentFacts {
        AgentFacts {
            agent_id: host.into(),
            hostname: host.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn c(v: Value) -> Vec<Vec<Value>> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn unique_hostname_allows_one_per_host() {
        let a = agent("a", &[]);
        let b = agent("b", &[]);
        let cs = c(json!([["hostname", "UNIQUE"]]));
        assert!(check(&cs, &a, &[]).is_ok());
        assert!(check(&cs, &a, &[&a])
            .unwrap_err()
            .to_string()
            .contains("already runs"));
        assert!(check(&cs, &b, &[&a]).is_ok());
    }

    #[test]
    fn cluster_is_like_max_per_and_group_by() {
        let r1 = agent("a", &[("rack", "r1"), ("zone", "z1")]);
        let r1b = agent("b", &[("rack", "r1"), ("zone", "z1")]);
        let r2 = agent("c", &[("rack", "r2"), ("zone", "z2")]);
        assert!(check(&c(json!([["rack", "CLUSTER", "r1"]])), &r2, &[]).is_err());
        assert!(check(&c(json!([["rack", "CLUSTER"]])), &r2, &[&r1]).is_err());
        assert!(check(&c(json!([["rack", "CLUSTER"]])), &r1b, &[&r1]).is_ok());
        assert!(check(&c(json!([["zone", "IS", "z2"]])), &r2, &[]).is_ok());
        assert!(check(&c(json!([["zone", "IS", "z2"]])), &r1, &[]).is_err());
        assert!(check(&c(json!([["rack", "LIKE", "r[0-1]"]])), &r1, &[]).is_ok());
        assert!(check(&c(json!([["rack", "LIKE", "r[0-1]"]])), &r2, &[]).is_err());
        assert!(check(&c(json!([["rack", "UNLIKE", "r1|r3"]])), &r2, &[]).is_ok());
        assert!(check(&c(json!([["hostname", "LIKE", ".*"]])), &r2, &[]).is_ok());
        let mp = c(json!([["rack", "MAX_PER", "2"]]));
        assert!(check(&mp, &r1, &[&r1]).is_ok());
        assert!(check(&mp, &r1, &[&r1, &r1b]).is_err());
        let gb = c(json!([["zone", "GROUP_BY", "2"]]));
        assert!(check(&gb, &r1, &[]).is_ok());
        assert!(
            check(&gb, &r1b, &[&r1]).is_err(),
            "z2 has none yet: z1 must wait"
        );
        assert!(check(&gb, &r2, &[&r1]).is_ok());
        assert!(check(&gb, &r1b, &[&r1, &r2]).is_ok());
    }

    #[test]
    fn missing_attribute_fails_with_a_reason() {
        let a = agent("a", &[]);
        assert!(check(&c(json!([["rack", "UNIQUE"]])), &a, &[])
            .unwrap_err()
            .to_string()
            .contains("no 'rack'"));
    }

    #[test]
    fn patterns_match_whole_strings() {
        let p = Pattern::compile("web-[0-9]+(\\.prod)?").unwrap();
        assert!(p.is_match("web-12"));
        assert!(p.is_match("web-1.prod"));
        assert!(!p.is_match("web-"));
        assert!(!p.is_match("xweb-1"));
        assert!(Pattern::compile("a(b").is_none());
        assert!(Pattern::compile("*a").is_none());
    }
}
