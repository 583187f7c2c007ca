//! `drover node list`: the agents, from the master's `/master/slaves`.

use crate::args::Common;
use crate::client::Client;
use crate::error::Error;
use crate::render::{opt_num, outln, print_json, table};
use crate::views::{Slaves, V0Agent};
use clap::Subcommand;
use comfy_table::Table;

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// List the agents.
    List,
}

pub async fn node(cmd: NodeCmd, c: Common) -> Result<(), Error> {
    let NodeCmd::List = cmd;
    let master = Client::master(&c.master).await?;
    let v: Slaves = master.get("/master/slaves").await?;
    if c.json {
        print_json(&v.slaves);
        return Ok(());
    }
    outln!("{}", agents_table(v.slaves.iter().map(|a| &a.view)));
    Ok(())
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
        "ACTIVE",
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
            a.active.to_string(),
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
                "true"
            ]]
        );
        let text = t.to_string();
        assert!(
            text.contains("USED CPUS") && text.contains("10.0.0.1:5051"),
            "{text}"
        );
    }
}
