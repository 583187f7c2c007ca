//! `drover reservation list|reserve|unreserve|create-volume|destroy-volume`: dynamic
//! reservations and persistent volumes made by an operator, through the master's operator API
//! (`RESERVE_RESOURCES`, `UNRESERVE_RESOURCES`, `CREATE_VOLUMES`, `DESTROY_VOLUMES`, as Mesos
//! 1.11 has them), and what agents hold reserved (`reserved_resources_full` of
//! `/master/slaves`, persistent volumes among them).

use crate::args::Common;
use crate::client::Client;
use crate::error::Error;
use crate::quota::{list_text, parse_list};
use crate::render::{outln, print_json, table};
use crate::views::Slaves;
use clap::Subcommand;
use comfy_table::Table;
use drover_api::{ReservationType, Resource};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Subcommand, Debug)]
pub enum ReservationCmd {
    /// List what each agent holds reserved, by role (static and dynamic; volumes by id).
    List,
    /// Reserve unallocated resources of an agent for a role (outstanding offers that hold
    /// them are rescinded; refused when the agent does not have them unallocated).
    Reserve {
        /// The agent's id (`drover node list`).
        agent: String,
        /// The role the resources are reserved for.
        role: String,
        /// What to reserve, e.g. cpus=2,mem=1024,disk=500.
        resources: String,
        /// The reservation's principal.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Give back dynamically reserved resources of a role on an agent (a volume on them
    /// must be destroyed first).
    Unreserve {
        /// The agent's id.
        agent: String,
        /// The role they are reserved for.
        role: String,
        /// What to unreserve, e.g. cpus=2.
        resources: String,
    },
    /// Make a persistent volume on disk reserved for a role (reserve the disk first); a task
    /// of the role that names it sees it at its container path.
    CreateVolume {
        /// The agent's id.
        agent: String,
        /// The role the disk is reserved for.
        role: String,
        /// The volume's persistence id.
        id: String,
        /// Its size in MiB.
        #[arg(long)]
        size: f64,
        /// Where tasks see it, relative to their sandbox.
        #[arg(long, default_value = "data")]
        path: String,
        /// Read-only for tasks.
        #[arg(long)]
        read_only: bool,
    },
    /// Destroy a persistent volume: its data is removed and its disk stays reserved.
    DestroyVolume {
        /// The agent's id.
        agent: String,
        /// The role it belongs to.
        role: String,
        /// The volume's persistence id.
        id: String,
    },
}

/// One line of `list`: an agent's reservations for one role.
struct Held<'a> {
    agent: &'a str,
    role: &'a str,
    resources: &'a [Resource],
}

fn value(r: &Resource) -> f64 {
    r.scalar.map(|s| s.value).unwrap_or(0.0)
}

fn held_table(rows: &[Held<'_>]) -> Table {
    let mut t = table(&["AGENT", "ROLE", "RESOURCES", "VOLUMES", "PRINCIPAL"]);
    for h in rows {
        let mut sums: BTreeMap<&String, f64> = BTreeMap::new();
        for r in h.resources.iter().filter(|r| r.scalar.is_some()) {
            *sums.entry(&r.name).or_default() += value(r);
        }
        let volumes: Vec<&str> = h
            .resources
            .iter()
            .filter_map(Resource::persistence_id)
            .collect();
        let mut principals: Vec<&str> = h
            .resources
            .iter()
            .filter_map(|r| r.reservations.last().and_then(|x| x.principal.as_deref()))
            .collect();
        principals.sort_unstable();
        principals.dedup();
        let or_dash = |v: Vec<&str>| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(",")
            }
        };
        t.add_row(vec![
            h.agent.to_string(),
            h.role.to_string(),
            list_text(sums.into_iter()),
            or_dash(volumes),
            or_dash(principals),
        ]);
    }
    t
}

/// The resources to reserve: each scalar with one DYNAMIC reservation for `role`.
fn to_reserve(role: &str, principal: Option<&str>, text: &str) -> Result<Vec<Value>, Error> {
    let list = parse_list("RESOURCES", text)?;
    if list.is_empty() {
        return Err(Error::usage("give what to reserve, e.g. cpus=2,mem=1024"));
    }
    Ok(list
        .into_iter()
        .map(|(name, s)| {
            let mut reservation = json!({"type": "DYNAMIC", "role": role});
            if let Some(p) = principal {
                reservation["principal"] = json!(p);
            }
            json!({"name": name, "type": "SCALAR", "scalar": {"value": s.value},
                   "reservations": [reservation]})
        })
        .collect())
}

/// The resources to unreserve: for each name, the amount asked with the reservation the agent
/// holds for `role` (its principal and labels must match for the master to find it).
fn to_unreserve(held: &[Resource], role: &str, text: &str) -> Result<Vec<Value>, Error> {
    let list = parse_list("RESOURCES", text)?;
    if list.is_empty() {
        return Err(Error::usage("give what to unreserve, e.g. cpus=2"));
    }
    let mut out = Vec::new();
    for (name, s) in list {
        let found = held.iter().find(|r| {
            r.name == name
                && r.persistence_id().is_none()
                && r.reservations
                    .last()
                    .is_some_and(|x| x.kind == Some(ReservationType::DYNAMIC))
        });
        let Some(r) = found else {
            return Err(Error::not_found(
                format!("no dynamic reservation of {name} for role {role} on this agent"),
                Some("'drover reservation list' shows what is reserved".into()),
            ));
        };
        let mut r = r.clone();
        r.role = None;
        r.reservation = None;
        r.allocation_info = None;
        if let Some(sc) = r.scalar.as_mut() {
            sc.value = s.value;
        }
        out.push(json!(r));
    }
    Ok(out)
}

/// The disk reserved for `role` that a new volume takes: `size` MiB with the reservation the
/// agent holds (its principal and labels must match for the master to find it).
fn to_volume(
    held: &[Resource],
    role: &str,
    id: &str,
    size: f64,
    path: &str,
    read_only: bool,
) -> Result<Value, Error> {
    if size.is_nan() || size <= 0.0 {
        return Err(Error::usage("--size must be a positive number of MiB"));
    }
    let found = held
        .iter()
        .find(|r| r.name == "disk" && r.persistence_id().is_none());
    let Some(disk) = found else {
        return Err(Error::not_found(
            format!("no reserved disk of role {role} on this agent"),
            Some(
                "reserve some first: 'drover reservation reserve <agent> <role> disk=<MiB>'".into(),
            ),
        ));
    };
    let mut v = disk.clone();
    v.role = None;
    v.reservation = None;
    v.allocation_info = None;
    if let Some(sc) = v.scalar.as_mut() {
        sc.value = size;
    }
    let mode = if read_only { "RO" } else { "RW" };
    let mut v = json!(v);
    v["disk"] =
        json!({"persistence": {"id": id}, "volume": {"container_path": path, "mode": mode}});
    Ok(v)
}

/// The held volume of `role` with persistence id `id`, as the master knows it.
fn held_volume(held: &[Resource], role: &str, id: &str) -> Result<Value, Error> {
    let found = held.iter().find(|r| r.persistence_id() == Some(id));
    let Some(v) = found else {
        return Err(Error::not_found(
            format!("no volume {id} of role {role} on this agent"),
            Some("'drover reservation list' shows the volumes".into()),
        ));
    };
    let mut v = v.clone();
    v.role = None;
    v.reservation = None;
    v.allocation_info = None;
    Ok(json!(v))
}

/// What `agent` holds reserved for `role`.
async fn held_by(master: &Client, agent: &str, role: &str) -> Result<Vec<Resource>, Error> {
    let v: Slaves = master.get("/master/slaves").await?;
    Ok(v.slaves
        .iter()
        .find(|a| a.view.id == agent)
        .ok_or_else(|| {
            Error::not_found(
                format!("no agent {agent}"),
                Some("'drover node list' lists the agents".into()),
            )
        })?
        .view
        .reserved_resources_full
        .get(role)
        .cloned()
        .unwrap_or_default())
}

pub async fn reservation(cmd: ReservationCmd, c: Common) -> Result<(), Error> {
    let master = Client::master(&c.master).await?;
    match cmd {
        ReservationCmd::List => {
            let v: Slaves = master.get("/master/slaves").await?;
            let rows: Vec<Held<'_>> = v
                .slaves
                .iter()
                .flat_map(|a| {
                    a.view
                        .reserved_resources_full
                        .iter()
                        .map(|(role, rs)| Held {
                            agent: &a.view.id,
                            role,
                            resources: rs,
                        })
                })
                .collect();
            if c.json {
                let out: Vec<Value> = rows
                    .iter()
                    .map(|h| json!({"agent_id": h.agent, "role": h.role, "resources": h.resources}))
                    .collect();
                print_json(&out);
            } else {
                outln!("{}", held_table(&rows));
            }
        }
        ReservationCmd::Reserve {
            agent,
            role,
            resources,
            principal,
        } => {
            let list = to_reserve(&role, principal.as_deref(), &resources)?;
            master
                .operator(&json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
                    "agent_id": {"value": agent}, "resources": list}}))
                .await?;
            outln!("reserved {resources} for role {role} on agent {agent}");
        }
        ReservationCmd::Unreserve {
            agent,
            role,
            resources,
        } => {
            let held = held_by(&master, &agent, &role).await?;
            let list = to_unreserve(&held, &role, &resources)?;
            master
                .operator(
                    &json!({"type": "UNRESERVE_RESOURCES", "unreserve_resources": {
                    "agent_id": {"value": agent}, "resources": list}}),
                )
                .await?;
            outln!("unreserved {resources} of role {role} on agent {agent}");
        }
        ReservationCmd::CreateVolume {
            agent,
            role,
            id,
            size,
            path,
            read_only,
        } => {
            let held = held_by(&master, &agent, &role).await?;
            let volume = to_volume(&held, &role, &id, size, &path, read_only)?;
            master
                .operator(&json!({"type": "CREATE_VOLUMES", "create_volumes": {
                    "agent_id": {"value": agent}, "volumes": [volume]}}))
                .await?;
            outln!("created volume {id} ({size} MiB, at {path}) for role {role} on agent {agent}");
        }
        ReservationCmd::DestroyVolume { agent, role, id } => {
            let held = held_by(&master, &agent, &role).await?;
            let volume = held_volume(&held, &role, &id)?;
            master
                .operator(&json!({"type": "DESTROY_VOLUMES", "destroy_volumes": {
                    "agent_id": {"value": agent}, "volumes": [volume]}}))
                .await?;
            outln!("destroyed volume {id} of role {role} on agent {agent}");
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;

    fn held() -> Vec<Resource> {
        serde_json::from_value(json!([
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, "role": "ads",
             "reservation": {"principal": "ops"},
             "reservations": [{"type": "DYNAMIC", "role": "ads", "principal": "ops"}]},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": 100}, "role": "ads",
             "disk": {"persistence": {"id": "v1"}, "volume": {"container_path": "data", "mode": "RW"}},
             "reservations": [{"type": "DYNAMIC", "role": "ads", "principal": "ops"}]},
        ]))
        .unwrap()
    }

    #[test]
    fn reserve_and_unreserve_build_what_the_master_takes() {
        let r = to_reserve("ads", Some("ops"), "cpus=2,mem=512").unwrap();
        assert_eq!(
            r[0],
            json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0},
                   "reservations": [{"type": "DYNAMIC", "role": "ads", "principal": "ops"}]})
        );
        assert_eq!(r[1]["name"], "mem");
        assert_eq!(to_reserve("ads", None, "").unwrap_err().exit_code(), 2);

        let u = to_unreserve(&held(), "ads", "cpus=1").unwrap();
        assert_eq!(
            u[0],
            json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0},
                   "reservations": [{"type": "DYNAMIC", "role": "ads", "principal": "ops"}]})
        );
        // A volume is not unreserved: destroy it first.
        let e = to_unreserve(&held(), "ads", "disk=100").unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
    }

    #[test]
    fn the_list_sums_by_name_and_names_volumes() {
        let rs = held();
        let rows = [Held {
            agent: "S1",
            role: "ads",
            resources: &rs,
        }];
        assert_eq!(
            cells(&held_table(&rows)),
            [["S1", "ads", "cpus=2,disk=100", "v1", "ops"]]
        );
    }

    #[test]
    fn a_volume_is_made_on_the_reserved_disk_and_destroyed_as_held() {
        let held = held();
        let mut disk_only = held.clone();
        disk_only[1].disk = None;
        let v = to_volume(&disk_only, "ads", "v2", 50.0, "state", true).unwrap();
        assert_eq!(
            v,
            json!({"name": "disk", "type": "SCALAR", "scalar": {"value": 50.0},
                   "reservations": [{"type": "DYNAMIC", "role": "ads", "principal": "ops"}],
                   "disk": {"persistence": {"id": "v2"},
                            "volume": {"container_path": "state", "mode": "RO"}}})
        );
        // Only plain reserved disk is taken (the held one is a volume already).
        assert_eq!(
            to_volume(&held, "ads", "v2", 50.0, "d", false)
                .unwrap_err()
                .exit_code(),
            3
        );
        assert_eq!(
            to_volume(&disk_only, "ads", "v2", 0.0, "d", false)
                .unwrap_err()
                .exit_code(),
            2
        );
        let d = held_volume(&held, "ads", "v1").unwrap();
        assert_eq!(d["disk"]["persistence"]["id"], "v1");
        assert!(d.get("role").is_none());
        assert_eq!(held_volume(&held, "ads", "v9").unwrap_err().exit_code(), 3);
    }
}
