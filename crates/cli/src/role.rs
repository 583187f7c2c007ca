//! `drover role list|weight`: roles as the master's `/master/roles` shows them (Mesos 1.11's:
//! weight, quota, and what each role's sub-tree has allocated, offered and reserved), with each
//! role's dominant share of the cluster (from `/master/slaves`' totals), and a
//! role's weight set through `PUT /weights` (all or nothing; a refusal is the master's message).

use crate::args::Common;
use crate::client::Client;
use crate::error::Error;
use crate::quota::list_text;
use crate::render::{num, outln, print_json, table};
use crate::views::{Roles, Slaves, V0Role};
use clap::Subcommand;
use comfy_table::Table;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Subcommand, Debug)]
pub enum RoleCmd {
    /// List the roles the master knows (with frameworks, a weight, a quota or a reservation,
    /// and the roles above them): weight, what the role and the roles under it have allocated
    /// to tasks, offered and reserved, and its quota.
    List,
    /// Set a role's weight (its share of the cluster is divided by it: a role of weight 2 is
    /// offered twice as much as one of weight 1).
    Weight {
        /// The role.
        role: String,
        /// The weight, greater than 0.
        weight: f64,
    },
}

fn text(m: &BTreeMap<String, f64>) -> String {
    list_text(m.iter().map(|(k, &v)| (k, v)))
}

/// `guarantee cpus=1 limit cpus=2,mem=512`, the part with nothing left out; `-` for no quota.
fn quota_text(r: &V0Role) -> String {
    let Some(q) = &r.quota else {
        return "-".into();
    };
    let mut parts = Vec::new();
    if !q.guarantee.is_empty() {
        parts.push(format!("guarantee {}", text(&q.guarantee)));
    }
    if !q.limit.is_empty() {
        parts.push(format!("limit {}", text(&q.limit)));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

/// A role's dominant share (DRF's): the largest fraction of the cluster's cpus, mem or disk
/// allocated to it and the roles under it, with the resource it is of; `-` with nothing.
fn share_text(allocated: &BTreeMap<String, f64>, cluster: &BTreeMap<&str, f64>) -> String {
    let mut best: Option<(f64, &str)> = None;
    for (name, total) in cluster {
        let used = allocated.get(*name).copied().unwrap_or(0.0);
        if *total > 0.0 && used > 0.0 {
            let s = used / total;
            if best.is_none_or(|(b, _)| s > b) {
                best = Some((s, name));
            }
        }
    }
    match best {
        Some((s, name)) => format!("{}% {name}", num((s * 1000.0).round() / 10.0)),
        None => "-".into(),
    }
}

/// The cluster's cpus, mem and disk (what the agents have, revocable resources apart).
fn cluster_total(slaves: &Slaves) -> BTreeMap<&'static str, f64> {
    let mut t = BTreeMap::from([("cpus", 0.0), ("mem", 0.0), ("disk", 0.0)]);
    for a in slaves.slaves.iter().filter(|a| a.view.active) {
        let r = &a.view.resources;
        for (name, v) in [("cpus", r.cpus), ("mem", r.mem), ("disk", r.disk)] {
            *t.entry(name).or_default() += v.unwrap_or(0.0);
        }
    }
    t
}

fn roles_table(roles: &Roles, cluster: &BTreeMap<&str, f64>) -> Table {
    let mut t = table(&[
        "ROLE",
        "WEIGHT",
        "SHARE",
        "ALLOCATED",
        "OFFERED",
        "RESERVED",
        "QUOTA",
    ]);
    for r in &roles.roles {
        t.add_row(vec![
            r.name.clone(),
            num(r.weight),
            share_text(&r.allocated, cluster),
            text(&r.allocated),
            text(&r.offered),
            text(&r.reserved),
            quota_text(r),
        ]);
    }
    t
}

/// `PUT /weights` with one role's weight; the master's refusal (400) is an error with its
/// message.
async fn set_weight(master: &Client, role: &str, weight: f64) -> Result<(), Error> {
    if !weight.is_finite() || weight <= 0.0 {
        return Err(Error::usage(format!(
            "the weight of role {role} must be a number greater than 0, not {weight}"
        )));
    }
    let body = json!([{"role": role, "weight": weight}]).to_string();
    master
        .send_ok(Method::PUT, "/weights", &[], Some(body.into_bytes()))
        .await?;
    Ok(())
}

pub async fn role(cmd: RoleCmd, c: Common) -> Result<(), Error> {
    let master = Client::master(&c.master).await?;
    match cmd {
        RoleCmd::List => {
            if c.json {
                let v: Value = master.get("/master/roles").await?;
                print_json(&v["roles"]);
            } else {
                let roles: Roles = master.get("/master/roles").await?;
                let slaves: Slaves = master.get("/master/slaves").await?;
                outln!("{}", roles_table(&roles, &cluster_total(&slaves)));
            }
        }
        RoleCmd::Weight { role, weight } => {
            set_weight(&master, &role, weight).await?;
            if c.json {
                print_json(&json!({"role": role, "weight": weight}));
            } else {
                outln!("weight of role {role} set to {}", num(weight));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::Server;
    use crate::render::cells;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_table_shows_weights_amounts_and_quota() {
        let roles: Roles = serde_json::from_value(json!({"roles": [
            {"name": "eng", "weight": 2.0, "frameworks": [],
             "allocated": {"cpus": 1.0, "mem": 256.0}, "offered": {"cpus": 3.0, "mem": 3840.0, "ports": 100.0},
             "reserved": {"cpus": 1.0},
             "quota": {"role": "eng", "guarantee": {"cpus": 1.0}, "limit": {"cpus": 2.0, "mem": 512.0}, "consumed": {}}},
            {"name": "eng/web", "weight": 1.0,
             "quota": {"role": "eng/web", "guarantee": {}, "limit": {}, "consumed": {}}},
            {"name": "old", "weight": 1.5, "resources": {"cpus": 1.0}},
        ]}))
        .unwrap();
        let cluster = BTreeMap::from([("cpus", 4.0), ("mem", 4096.0), ("disk", 0.0)]);
        assert_eq!(
            cells(&roles_table(&roles, &cluster)),
            [
                [
                    "eng",
                    "2",
                    "25% cpus",
                    "cpus=1,mem=256",
                    "cpus=3,mem=3840,ports=100",
                    "cpus=1",
                    "guarantee cpus=1 limit cpus=2,mem=512"
                ],
                ["eng/web", "1", "-", "-", "-", "-", "-"],
                ["old", "1.50", "-", "-", "-", "-", "-"],
            ]
        );
    }

    /// A master that answers one request with `status` and `body`; the request it got comes
    /// back through the handle.
    async fn one_answer(status: &str, body: &str) -> (Client, tokio::task::JoinHandle<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the body its content-length says.
            loop {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if rest.len() >= len || n == 0 {
                        break;
                    }
                }
            }
            s.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&got).to_string()
        });
        let c = Client::new(Server::Master, &addr.to_string()).unwrap();
        (c, h)
    }

    #[tokio::test]
    async fn a_weight_is_put_as_mesos_takes_it() {
        let (c, h) = one_answer("200 OK", "").await;
        set_weight(&c, "eng/web", 2.5).await.unwrap();
        let got = h.await.unwrap();
        assert!(got.starts_with("PUT /weights "), "{got}");
        assert!(
            got.ends_with(r#"[{"role":"eng/web","weight":2.5}]"#),
            "{got}"
        );
    }

    #[tokio::test]
    async fn a_refused_weight_is_the_masters_message_and_exits_1() {
        let msg = "Invalid role: Role 'a b' is invalid";
        let (c, h) = one_answer("400 Bad Request", msg).await;
        let e = set_weight(&c, "a b", 2.0).await.unwrap_err();
        h.await.unwrap();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains(msg), "{e}");
    }

    #[tokio::test]
    async fn a_weight_not_above_0_is_a_usage_error_before_any_request() {
        let c = Client::new(Server::Master, "127.0.0.1:9").unwrap();
        for w in [0.0, -1.0, f64::NAN] {
            let e = set_weight(&c, "eng", w).await.unwrap_err();
            assert_eq!(e.exit_code(), 2, "{w}");
        }
    }
}
