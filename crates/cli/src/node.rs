//! `drover node`: the agents (`list`, from the master's `/master/slaves`), and what an operator
//! does to one — `drain` (Mesos' `DRAIN_AGENT`, waiting with a live line until it is DRAINED),
//! `deactivate`, `reactivate` and `gone` (`MARK_AGENT_GONE`) — and to machines: `maintenance`
//! (the schedule and each machine's mode), `schedule` (a machine's maintenance window),
//! `down` and `up`.

use crate::args::Common;
use crate::client::Client;
use crate::error::Error;
use crate::render::{num, opt_num, outln, print_json, table, Live};
use crate::views::{Slaves, V0Agent};
use clap::Subcommand;
use comfy_table::Table;
use drover_api::maintenance::{ClusterStatus, MachineID, Schedule};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// List the agents.
    List,
    /// Drain an agent: offer nothing more on it and kill its tasks (their frameworks start
    /// them elsewhere); it is DRAINED once every task has ended.
    Drain {
        /// The agent's id (`drover node list`).
        agent: String,
        /// Kill tasks with at most this grace period, in seconds.
        #[arg(long)]
        max_grace_period: Option<f64>,
        /// Mark the agent gone once drained.
        #[arg(long)]
        mark_gone: bool,
        /// Return at once instead of waiting until the agent is drained.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this many seconds (exit 6).
        #[arg(long, default_value_t = 300.0)]
        timeout: f64,
    },
    /// Offer nothing on an agent; what runs there keeps running.
    Deactivate { agent: String },
    /// Offer an agent again (after deactivate, or once drained).
    Reactivate { agent: String },
    /// Mark an agent gone for good: its tasks end, and it may never register again.
    Gone { agent: String },
    /// Show the maintenance schedule and each scheduled machine's mode.
    Maintenance,
    /// Put machines (hostnames or IPs) in the maintenance schedule: they go DRAINING, offers
    /// of their agents carry the window and their frameworks are asked to move off.
    Schedule {
        /// Hostnames or IPv4 addresses.
        #[arg(required = true)]
        machines: Vec<String>,
        /// When the window starts, in seconds from now.
        #[arg(long, default_value_t = 0.0)]
        start_in: f64,
        /// How long the machines are unavailable, in seconds.
        #[arg(long)]
        duration: Option<f64>,
    },
    /// Bring DRAINING machines DOWN: their agents are shut down.
    Down {
        #[arg(required = true)]
        machines: Vec<String>,
    },
    /// Bring DOWN machines back UP (they leave the schedule).
    Up {
        #[arg(required = true)]
        machines: Vec<String>,
    },
}

/// A machine named by a hostname or an IPv4 address.
fn machine(name: &str) -> MachineID {
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        MachineID {
            hostname: None,
            ip: Some(name.to_string()),
        }
    } else {
        MachineID {
            hostname: Some(name.to_string()),
            ip: None,
        }
    }
}

fn agent_call(kind: &str, field: &str, agent: &str) -> Value {
    json!({"type": kind, field: {"agent_id": {"value": agent}}})
}

pub async fn node(cmd: NodeCmd, c: Common) -> Result<(), Error> {
    let master = Client::master(&c.master).await?;
    match cmd {
        NodeCmd::List => {
            let v: Slaves = master.get("/master/slaves").await?;
            if c.json {
                print_json(&v.slaves);
                return Ok(());
            }
            outln!("{}", agents_table(v.slaves.iter().map(|a| &a.view)));
        }
        NodeCmd::Drain {
            agent,
            max_grace_period,
            mark_gone,
            no_wait,
            timeout,
        } => {
            let mut drain = json!({"agent_id": {"value": agent}, "mark_gone": mark_gone});
            if let Some(g) = max_grace_period {
                let secs = g.max(0.0);
                drain["max_grace_period"] =
                    json!({"seconds": secs.trunc() as i64, "nanos": (secs.fract() * 1e9) as i32});
            }
            master
                .operator(&json!({"type": "DRAIN_AGENT", "drain_agent": drain}))
                .await?;
            if no_wait {
                outln!("draining agent {agent}");
                return Ok(());
            }
            wait_drained(&master, &agent, mark_gone, timeout, !c.json).await?;
            outln!(
                "agent {agent} {}",
                if mark_gone {
                    "drained and gone"
                } else {
                    "drained"
                }
            );
        }
        NodeCmd::Deactivate { agent } => {
            let call = agent_call("DEACTIVATE_AGENT", "deactivate_agent", &agent);
            master.operator(&call).await?;
            outln!("agent {agent} deactivated");
        }
        NodeCmd::Reactivate { agent } => {
            let call = agent_call("REACTIVATE_AGENT", "reactivate_agent", &agent);
            master.operator(&call).await?;
            outln!("agent {agent} reactivated");
        }
        NodeCmd::Gone { agent } => {
            let call = agent_call("MARK_AGENT_GONE", "mark_agent_gone", &agent);
            master.operator(&call).await?;
            outln!("agent {agent} marked gone");
        }
        NodeCmd::Maintenance => {
            let schedule: Schedule = master.get("/master/maintenance/schedule").await?;
            let status: ClusterStatus = master.get("/master/maintenance/status").await?;
            if c.json {
                print_json(&json!({"schedule": schedule, "status": status}));
                return Ok(());
            }
            outln!("{}", maintenance_table(&schedule, &status));
        }
        NodeCmd::Schedule {
            machines,
            start_in,
            duration,
        } => {
            let mut schedule: Schedule = master.get("/master/maintenance/schedule").await?;
            let ids: Vec<MachineID> = machines.iter().map(|m| machine(m)).collect();
            // A machine is in one window: it moves to the new one.
            for w in &mut schedule.windows {
                w.machine_ids.retain(|m| !ids.contains(m));
            }
            schedule.windows.retain(|w| !w.machine_ids.is_empty());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            let mut unavailability =
                json!({"start": {"nanoseconds": ((now + start_in) * 1e9) as i64}});
            if let Some(d) = duration {
                unavailability["duration"] = json!({"nanoseconds": (d * 1e9) as i64});
            }
            let mut body = serde_json::to_value(&schedule).unwrap_or_else(|_| json!({}));
            let windows = body
                .as_object_mut()
                .map(|o| o.entry("windows").or_insert_with(|| json!([])));
            if let Some(Value::Array(ws)) = windows {
                ws.push(json!({"machine_ids": ids, "unavailability": unavailability}));
            }
            master
                .operator(&json!({"type": "UPDATE_MAINTENANCE_SCHEDULE",
                    "update_maintenance_schedule": {"schedule": body}}))
                .await?;
            outln!("scheduled: {}", machines.join(", "));
        }
        NodeCmd::Down { machines } => {
            let ids: Vec<MachineID> = machines.iter().map(|m| machine(m)).collect();
            master
                .operator(
                    &json!({"type": "START_MAINTENANCE", "start_maintenance": {"machines": ids}}),
                )
                .await?;
            outln!("down: {}", machines.join(", "));
        }
        NodeCmd::Up { machines } => {
            let ids: Vec<MachineID> = machines.iter().map(|m| machine(m)).collect();
            master
                .operator(
                    &json!({"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": ids}}),
                )
                .await?;
            outln!("up: {}", machines.join(", "));
        }
    }
    Ok(())
}

/// Wait, with a live line, until the agent is DRAINED (or gone, when marked gone).
async fn wait_drained(
    master: &Client,
    agent: &str,
    mark_gone: bool,
    timeout: f64,
    show: bool,
) -> Result<(), Error> {
    let live = Live::new(show);
    let mut line = live.line(&format!("draining agent {agent}"));
    let start = Instant::now();
    loop {
        let v: Slaves = master.get("/master/slaves").await?;
        let a = v.slaves.iter().find(|a| a.view.id == agent);
        match a {
            None if mark_gone => break,
            None => {
                line.finish();
                return Err(Error::not_found(
                    format!("agent {agent}"),
                    Some("it left the cluster while draining; see `drover node list`".into()),
                ));
            }
            Some(a) if a.view.drain_state() == Some("DRAINED") => break,
            Some(a) => {
                line.set(format!(
                    "draining agent {agent}: {} cpus still used, {}s",
                    opt_num(a.view.used_resources.cpus),
                    start.elapsed().as_secs()
                ));
            }
        }
        if start.elapsed().as_secs_f64() > timeout {
            line.finish();
            return Err(Error::TimedOut {
                message: format!("agent {agent} is not drained after {timeout} s"),
                hint: "it drains on: watch it with `drover node list`".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    line.finish();
    Ok(())
}

fn mode_of(status: &ClusterStatus, m: &MachineID) -> &'static str {
    if status.down_machines.contains(m) {
        "DOWN"
    } else {
        "DRAINING"
    }
}

fn maintenance_table(schedule: &Schedule, status: &ClusterStatus) -> Table {
    let mut t = table(&[
        "MACHINE",
        "MODE",
        "START (UTC)",
        "DURATION",
        "FRAMEWORKS' ANSWERS",
    ]);
    for w in &schedule.windows {
        for m in &w.machine_ids {
            let name = m
                .hostname
                .clone()
                .or_else(|| m.ip.clone())
                .unwrap_or_default();
            let start =
                jiff::Timestamp::from_nanosecond(i128::from(w.unavailability.start.nanoseconds))
                    .map(|t| {
                        t.round(jiff::Unit::Second)
                            .map(|t| t.to_string())
                            .unwrap_or_default()
                    })
                    .unwrap_or_default();
            let duration = w
                .unavailability
                .duration
                .map(|d| format!("{}s", num(d.nanoseconds as f64 / 1e9)))
                .unwrap_or_else(|| "indefinite".into());
            let answers = status
                .draining_machines
                .iter()
                .find(|d| &d.id == m)
                .map(|d| {
                    d.statuses
                        .iter()
                        .map(|s| format!("{}: {:?}", s.framework_id.value, s.status))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            t.add_row(vec![
                name,
                mode_of(status, m).to_string(),
                start,
                duration,
                answers,
            ]);
        }
    }
    t
}

fn agents_table<'a>(agents: impl Iterator<Item = &'a V0Agent>) -> Table {
    let mut t = table(&[
        "ID",
        "HOSTNAME",
        "ADDRESS",
        "CPUS",
        "MEM (MiB)",
        "DISK (MiB)",
        "USED CPUS",
        "USED MEM",
        "ATTRIBUTES",
        "STATE",
    ]);
    for a in agents {
        let attrs = a
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(";");
        t.add_row(vec![
            a.id.clone(),
            a.hostname.clone(),
            a.address().unwrap_or_default().to_string(),
            opt_num(a.resources.cpus),
            opt_num(a.resources.mem),
            opt_num(a.resources.disk),
            opt_num(a.used_resources.cpus),
            opt_num(a.used_resources.mem),
            attrs,
            a.state().to_string(),
        ]);
    }
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;
    use serde_json::json;

    #[test]
    fn the_agents_table_shows_address_resources_and_attributes() {
        let v: Slaves = serde_json::from_value(json!({"slaves": [{
            "id": "a1-S0", "hostname": "h1", "pid": "slave(1)@10.0.0.1:5051", "active": true,
            "resources": {"cpus": 4, "mem": 1024.0, "disk": 500, "ports": "[31000-32000]"},
            "used_resources": {"cpus": 0.5, "mem": 64},
            "attributes": {"rack": "r1", "zone": 2}
        }]}))
        .unwrap();
        let t = agents_table(v.slaves.iter().map(|a| &a.view));
        assert_eq!(
            cells(&t),
            [[
                "a1-S0",
                "h1",
                "10.0.0.1:5051",
                "4",
                "1024",
                "500",
                "0.50",
                "64",
                "rack:r1;zone:2",
                "active"
            ]]
        );
        let text = t.to_string();
        assert!(
            text.contains("USED CPUS") && text.contains("10.0.0.1:5051"),
            "{text}"
        );
    }
}
