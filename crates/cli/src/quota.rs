//! `drover quota list|set|remove`: roles' quotas through the master's operator API —
//! `GET_QUOTA` for what is set, `UPDATE_QUOTA` to set or remove one (as Mesos 1.11 removes a
//! quota: a config with no guarantees and no limits) — and what counts against each from
//! `/master/roles` (the quota's `consumed`, which Mesos' `GET_QUOTA` does not carry).

use crate::args::Common;
use crate::client::Client;
use crate::error::Error;
use crate::render::{num, outln, print_json, table};
use crate::views::Roles;
use clap::Subcommand;
use comfy_table::Table;
use drover_api::operator::{self, UpdateQuota};
use drover_api::quota::QuotaConfig;
use drover_api::Scalar;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Subcommand, Debug)]
pub enum QuotaCmd {
    /// List the roles with quota: guarantees, limits and what counts against them (what their
    /// tasks hold and what is reserved to them; offers do not count).
    List,
    /// Set a role's quota. It replaces the one the role has: a resource not given is not
    /// guaranteed (--guarantee) or not limited (--limit).
    Set {
        /// The role (a top-level one: quota on `eng/web` is refused, as in Mesos 1.11).
        role: String,
        /// What the role is guaranteed, e.g. cpus=2,mem=1024 (cpus, mem, disk, gpus).
        #[arg(long, value_name = "NAME=VALUE,…")]
        guarantee: Option<String>,
        /// What the role may never exceed, e.g. cpus=4.
        #[arg(long, value_name = "NAME=VALUE,…")]
        limit: Option<String>,
        /// Set it even when the role already consumes more than the limits, or when all
        /// guarantees together exceed the cluster.
        #[arg(long)]
        force: bool,
    },
    /// Remove a role's quota: no guarantees, no limits.
    Remove {
        /// The role.
        role: String,
    },
}

/// `cpus=2,mem=1024` as scalars by name; `flag` names the flag in errors.
pub(crate) fn parse_list(flag: &str, text: &str) -> Result<BTreeMap<String, Scalar>, Error> {
    let mut out = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = || {
            Error::usage(format!(
                "{flag}: '{item}' is not NAME=VALUE (e.g. {flag} cpus=2,mem=1024)"
            ))
        };
        let (name, value) = item.split_once('=').ok_or_else(bad)?;
        let value: f64 = value.trim().parse().map_err(|_| bad())?;
        let name = name.trim();
        if name.is_empty() || out.insert(name.to_string(), Scalar { value }).is_some() {
            return Err(bad());
        }
    }
    Ok(out)
}

/// `cpus=2,mem=1024`, or `-` for nothing.
pub(crate) fn list_text<'a>(m: impl IntoIterator<Item = (&'a String, f64)>) -> String {
    let parts: Vec<String> = m
        .into_iter()
        .map(|(k, v)| format!("{k}={}", num(v)))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(",")
    }
}

fn scalars_text(m: &BTreeMap<String, Scalar>) -> String {
    list_text(m.iter().map(|(k, s)| (k, s.value)))
}

/// What counts against each role's quota, from `/master/roles`.
fn consumption(roles: &Roles) -> BTreeMap<&str, &BTreeMap<String, f64>> {
    roles
        .roles
        .iter()
        .filter_map(|r| r.quota.as_ref().map(|q| (r.name.as_str(), &q.consumed)))
        .collect()
}

fn quota_table(configs: &[QuotaConfig], roles: &Roles) -> Table {
    let consumed = consumption(roles);
    let mut t = table(&["ROLE", "GUARANTEE", "LIMIT", "CONSUMED"]);
    for c in configs {
        t.add_row(vec![
            c.role.clone(),
            scalars_text(&c.guarantees),
            scalars_text(&c.limits),
            consumed
                .get(c.role.as_str())
                .map(|m| list_text(m.iter().map(|(k, &v)| (k, v))))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    t
}

/// `--json`: GET_QUOTA's configs, each with its `consumed`.
fn quota_json(configs: &[QuotaConfig], roles: &Roles) -> Vec<Value> {
    let consumed = consumption(roles);
    configs
        .iter()
        .map(|c| {
            let mut v = json!(c);
            v["consumed"] = json!(consumed
                .get(c.role.as_str())
                .copied()
                .unwrap_or(&BTreeMap::new()));
            v
        })
        .collect()
}

async fn update(master: &Client, u: &UpdateQuota) -> Result<(), Error> {
    master
        .operator(&json!({"type": "UPDATE_QUOTA", "update_quota": u}))
        .await
}

pub async fn quota(cmd: QuotaCmd, c: Common) -> Result<(), Error> {
    let master = Client::master(&c.master).await?;
    match cmd {
        QuotaCmd::List => {
            let call = json!({"type": "GET_QUOTA"}).to_string().into_bytes();
            let r: operator::Response = master
                .call(Method::POST, "/api/v1", &[], Some(call))
                .await?;
            let configs = r.get_quota.map(|g| g.status.configs).unwrap_or_default();
            let roles: Roles = master.get("/master/roles").await?;
            if c.json {
                print_json(&quota_json(&configs, &roles));
            } else {
                outln!("{}", quota_table(&configs, &roles));
            }
        }
        QuotaCmd::Set {
            role,
            guarantee,
            limit,
            force,
        } => {
            if guarantee.is_none() && limit.is_none() {
                return Err(Error::Usage {
                    message: "give --guarantee, --limit or both".into(),
                    hint: Some(format!("'drover quota remove {role}' removes its quota")),
                });
            }
            let config = QuotaConfig {
                role,
                guarantees: parse_list("--guarantee", guarantee.as_deref().unwrap_or(""))?,
                limits: parse_list("--limit", limit.as_deref().unwrap_or(""))?,
            };
            update(
                &master,
                &UpdateQuota {
                    force,
                    quota_configs: vec![config.clone()],
                },
            )
            .await?;
            if c.json {
                print_json(&config);
            } else {
                outln!(
                    "quota of role {} set: guarantee {}, limit {}",
                    config.role,
                    scalars_text(&config.guarantees),
                    scalars_text(&config.limits)
                );
            }
        }
        QuotaCmd::Remove { role } => {
            let config = QuotaConfig {
                role,
                ..Default::default()
            };
            update(
                &master,
                &UpdateQuota {
                    force: false,
                    quota_configs: vec![config.clone()],
                },
            )
            .await?;
            if c.json {
                print_json(&config);
            } else {
                outln!("quota of role {} removed", config.role);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;

    #[test]
    fn lists_of_name_value_parse_or_say_what_is_wrong() {
        let m = parse_list("--guarantee", "cpus=2, mem=1024.5,").unwrap();
        assert_eq!(m["cpus"].value, 2.0);
        assert_eq!(m["mem"].value, 1024.5);
        assert!(parse_list("--limit", "").unwrap().is_empty());
        for bad in ["cpus", "cpus=x", "=2", "cpus=1,cpus=2"] {
            let e = parse_list("--limit", bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().starts_with("--limit: '"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_table_and_the_json_show_quota_beside_consumption() {
        let configs: Vec<QuotaConfig> = serde_json::from_value(json!([
            {"role": "ads", "guarantees": {"cpus": {"value": 1}}, "limits": {"cpus": {"value": 2}, "mem": {"value": 512}}},
            {"role": "web", "limits": {"mem": {"value": 64}}},
        ]))
        .unwrap();
        let roles: Roles = serde_json::from_value(json!({"roles": [
            {"name": "ads", "weight": 1.0, "quota": {"role": "ads", "guarantee": {"cpus": 1.0}, "limit": {}, "consumed": {"cpus": 0.5, "mem": 128.0}}},
            {"name": "web", "weight": 1.0, "quota": {"role": "web", "guarantee": {}, "limit": {}, "consumed": {}}},
            {"name": "old", "weight": 1.0},
        ]}))
        .unwrap();
        assert_eq!(
            cells(&quota_table(&configs, &roles)),
            [
                ["ads", "cpus=1", "cpus=2,mem=512", "cpus=0.50,mem=128"],
                ["web", "-", "mem=64", "-"],
            ]
        );
        let v = quota_json(&configs, &roles);
        assert_eq!(v[0]["consumed"], json!({"cpus": 0.5, "mem": 128.0}));
        assert_eq!(v[0]["limits"]["mem"], json!({"value": 512.0}));
        assert_eq!(v[1]["consumed"], json!({}));
    }
}
