//! `drover task list` (from the master's `/master/tasks`, hosts from `/master/slaves`) and
//! `drover task log` (the task's agent and sandbox found through the master, the file read
//! through the agent's `/files/read`).

use crate::args::Common;
use crate::client::Client;
use crate::error::{Error, Server};
use crate::render::{opt_num, outln, print_json, table};
use crate::views::{AgentState, FileChunk, Received, Slaves, V0Agent, V0Task, V0Tasks};
use clap::Subcommand;
use comfy_table::Table;
use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum TaskCmd {
    /// List tasks (running ones unless --all).
    List {
        /// Include finished, failed, killed and lost tasks.
        #[arg(long)]
        all: bool,
    },
    /// Print a task's stdout (or stderr) from its sandbox.
    Log {
        /// Task id (or a unique prefix of it).
        task: String,
        /// Keep printing as the file grows.
        #[arg(long, short)]
        follow: bool,
        /// Read stderr instead of stdout.
        #[arg(long)]
        stderr: bool,
    },
}

async fn all_tasks(master: &Client) -> Result<Vec<Received<V0Task>>, Error> {
    let v: V0Tasks = master.get("/master/tasks?limit=-1&order=asc").await?;
    Ok(v.tasks)
}

pub async fn task(cmd: TaskCmd, c: Common) -> Result<(), Error> {
    let master = Client::master(&c.master).await?;
    match cmd {
        TaskCmd::List { all } => {
            let mut tasks = all_tasks(&master).await?;
            if !all {
                tasks.retain(|t| !t.state.is_terminal());
            }
            if c.json {
                print_json(&tasks);
                return Ok(());
            }
            let agents: Slaves = master.get("/master/slaves").await?;
            let agents: Vec<&V0Agent> = agents.slaves.iter().map(|a| &a.view).collect();
            outln!("{}", tasks_table(tasks.iter().map(|t| &t.view), &agents));
            Ok(())
        }
        TaskCmd::Log {
            task,
            follow,
            stderr,
        } => log(&master, &task, follow, stderr).await,
    }
}

fn tasks_table<'a>(tasks: impl Iterator<Item = &'a V0Task>, agents: &[&V0Agent]) -> Table {
    let host_of = |id: &str| {
        agents
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.hostname.clone())
            .unwrap_or_default()
    };
    let mut t = table(&[
        "ID",
        "NAME",
        "STATE",
        "HOST",
        "FRAMEWORK",
        "CPUS",
        "MEM (MiB)",
    ]);
    for x in tasks {
        t.add_row(vec![
            x.id.clone(),
            x.name.clone(),
            x.state.as_str().to_string(),
            host_of(&x.slave_id),
            x.framework_id.clone(),
            opt_num(x.resources.cpus),
            opt_num(x.resources.mem),
        ]);
    }
    t
}

/// The task `wanted` names: its exact id, else the one task whose id starts with it. The same id
/// may appear again (a relaunch): the newest counts.
fn pick<'a>(tasks: &'a [Received<V0Task>], wanted: &str) -> Result<&'a V0Task, Error> {
    let exact: Vec<&V0Task> = tasks
        .iter()
        .map(|t| &t.view)
        .filter(|t| t.id == wanted)
        .collect();
    let matches: Vec<&V0Task> = if exact.is_empty() {
        tasks
            .iter()
            .map(|t| &t.view)
            .filter(|t| t.id.starts_with(wanted))
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [] => Err(Error::not_found(
            format!("no task matches '{wanted}'"),
            Some("`drover task list --all` shows the tasks".into()),
        )),
        [one] => Ok(one),
        many => {
            let ids: BTreeSet<&str> = many.iter().map(|t| t.id.as_str()).collect();
            if ids.len() > 1 {
                return Err(Error::Usage {
                    message: format!(
                        "'{wanted}' matches several tasks: {}",
                        ids.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                    hint: Some("give more of the task id".into()),
                });
            }
            Ok(many[many.len() - 1])
        }
    }
}

/// Find the task's agent and sandbox, then read the file through the agent's `/files/read`.
async fn log(master: &Client, task: &str, follow: bool, stderr: bool) -> Result<(), Error> {
    let tasks = all_tasks(master).await?;
    let t = pick(&tasks, task)?;
    let (agent_id, fid, tid) = (&t.slave_id, &t.framework_id, &t.id);
    let agents: Slaves = master.get("/master/slaves").await?;
    let agent = agents
        .slaves
        .iter()
        .find(|a| a.id == *agent_id)
        .ok_or_else(|| {
            Error::not_found(
                format!("agent {agent_id} of task {tid} is not registered"),
                None,
            )
        })?;
    let addr = agent.address().ok_or_else(|| Error::InvalidResponse {
        server: Server::Master,
        addr: master.addr().to_string(),
        request: "GET /master/slaves".into(),
        cause: format!("agent {agent_id} has no address (pid '{}')", agent.pid),
    })?;
    let agent = Client::new(Server::Agent, addr)?;
    let state: AgentState = agent.get("/state").await?;
    let mut dir = None;
    for f in state.frameworks.iter().filter(|f| f.id == *fid) {
        for e in f.executors.iter().chain(&f.completed_executors) {
            if e.has_task(tid) {
                dir = Some(e.directory.clone());
            }
        }
    }
    let dir = dir.ok_or_else(|| {
        Error::not_found(
            format!("agent {agent_id} no longer has the sandbox of task {tid}"),
            None,
        )
    })?;
    let path = format!("{dir}/{}", if stderr { "stderr" } else { "stdout" });
    let mut offset: u64 = 0;
    loop {
        let chunk: FileChunk = agent
            .call(
                reqwest::Method::GET,
                "/files/read",
                &[
                    ("path", path.as_str()),
                    ("offset", &offset.to_string()),
                    ("length", "65536"),
                ],
                None,
            )
            .await?;
        if !chunk.data.is_empty() {
            let mut out = std::io::stdout();
            if out
                .write_all(chunk.data.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                // stdout closed (`drover task log t | head`): done.
                return Ok(());
            }
            offset += chunk.data.len() as u64;
            continue;
        }
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;
    use serde_json::json;

    fn tasks(ids: &[&str]) -> Vec<Received<V0Task>> {
        ids.iter()
            .map(|id| {
                serde_json::from_value(json!({"id": id, "name": "n", "state": "TASK_RUNNING",
                    "slave_id": "a1", "framework_id": "f1", "resources": {"cpus": 0.1, "mem": 32}}))
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn tasks_are_picked_by_id_or_unique_prefix() {
        let list = tasks(&["web.1", "web.2", "db.1", "db.1"]);
        assert_eq!(pick(&list, "web.2").unwrap().id, "web.2");
        assert_eq!(pick(&list, "db").unwrap().id, "db.1");
        let e = pick(&list, "web").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("web.1, web.2"), "{e}");
        assert_eq!(pick(&list, "nope").unwrap_err().exit_code(), 3);
    }

    #[test]
    fn the_tasks_table_names_each_tasks_host() {
        let agent: V0Agent = serde_json::from_value(json!({"id": "a1", "hostname": "h1"})).unwrap();
        let list = tasks(&["web.1"]);
        let t = tasks_table(list.iter().map(|t| &t.view), &[&agent]);
        assert_eq!(
            cells(&t),
            [["web.1", "n", "TASK_RUNNING", "h1", "f1", "0.10", "32"]]
        );
    }
}
