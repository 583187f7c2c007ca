//! `drover master list`: the masters of an HA cluster and which one leads, from the `json.info_`
//! nodes in ZooKeeper (`--master zk://…/mesos`), or the leader a master names (`host:port`).

use crate::args::Common;
use crate::client::Client;
use crate::error::{Error, Server};
use crate::render::{outln, print_json, table};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(clap::Subcommand, Debug)]
pub enum MasterCmd {
    /// List the masters and which one leads.
    List(Common),
}

/// One master as the list shows it, from its MasterInfo.
fn row(info: &Value, leading: bool) -> Value {
    let address = match (&info["address"]["ip"], &info["address"]["port"]) {
        (Value::String(ip), Value::Number(p)) => format!("{ip}:{p}"),
        _ => info["pid"]
            .as_str()
            .and_then(|p| p.split_once('@'))
            .map(|(_, a)| a.to_string())
            .unwrap_or_default(),
    };
    json!({
        "id": info["id"],
        "address": address,
        "hostname": info["hostname"],
        "version": info["version"],
        "leading": leading,
    })
}

pub async fn master(cmd: MasterCmd) -> Result<(), Error> {
    let MasterCmd::List(c) = cmd;
    let rows: Vec<Value> = if drover_zk::ZkUrl::is_zk(&c.master) {
        let usage = |e: drover_zk::ZkError| Error::Usage {
            message: e.to_string(),
            hint: Some("--master takes host:port or zk://host:2181,…/mesos".into()),
        };
        let url = drover_zk::ZkUrl::parse(&c.master).map_err(usage)?;
        let sessions = drover_zk::Sessions::new(url, Duration::from_secs(10)).map_err(usage)?;
        let found = tokio::time::timeout(
            Duration::from_secs(15),
            drover_zk::members(&sessions, drover_zk::Layout::Mesos),
        )
        .await
        .map_err(|_| Error::Unreachable {
            server: Server::Master,
            addr: c.master.clone(),
            cause: "ZooKeeper did not answer within 15 s".into(),
        })?
        .map_err(|e| Error::Unreachable {
            server: Server::Master,
            addr: c.master.clone(),
            cause: e.to_string(),
        })?;
        found
            .iter()
            .enumerate()
            .map(|(i, (_, data))| {
                let info: Value = serde_json::from_slice(data).unwrap_or_default();
                row(&info, i == 0)
            })
            .collect()
    } else {
        // Without ZooKeeper only the leader is known: the one this master names.
        let m = Client::master(&c.master).await?;
        let state: Value = m.get("/master/state-summary").await?;
        let info = if state["leader_info"].is_object() {
            state["leader_info"].clone()
        } else {
            let s: Value = m.get("/master/state").await?;
            s["leader_info"].clone()
        };
        vec![row(&info, true)]
    };
    if c.json {
        print_json(&rows);
        return Ok(());
    }
    let mut t = table(&["ID", "ADDRESS", "HOSTNAME", "VERSION", "ROLE"]);
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
        t.add_row(vec![
            s("id"),
            s("address"),
            s("hostname"),
            s("version"),
            if r["leading"] == true {
                "leading"
            } else {
                "standby"
            }
            .to_string(),
        ]);
    }
    outln!("{t}");
    Ok(())
}
