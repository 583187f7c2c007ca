//! The `drover <noun> <verb>` commands. Each reads the master's public endpoints (the same ones
//! Mesos tools read), prints a table for people or the raw JSON with `--json`.
#![forbid(unsafe_code)]

pub mod app;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use serde_json::Value;

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The master, as host:port or a URL.
    #[arg(
        long,
        global = true,
        env = "DROVER_MASTER",
        default_value = "127.0.0.1:5050"
    )]
    pub master: String,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// List the agents.
    List,
}

#[derive(Subcommand, Debug)]
pub enum FrameworkCmd {
    /// List the frameworks.
    List {
        /// Include completed (torn down) frameworks.
        #[arg(long)]
        all: bool,
    },
}

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

fn base_url(master: &str) -> String {
    let m = master.trim_end_matches('/');
    if m.starts_with("http://") || m.starts_with("https://") {
        m.to_string()
    } else {
        format!("http://{m}")
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value> {
    let resp = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        bail!(
            "{url} answered {status}: {}",
            resp.text().await.unwrap_or_default()
        );
    }
    resp.json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))
}

fn client() -> Result<reqwest::Client> {
    drover_httpclient::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| anyhow!("HTTP client: {e}"))
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_header(header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    t
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn num(v: &Value) -> String {
    v.as_f64()
        .map(|f| {
            if f.fract() == 0.0 {
                format!("{}", f as i64)
            } else {
                format!("{f:.2}")
            }
        })
        .unwrap_or_default()
}

pub async fn node(cmd: NodeCmd, c: Common) -> Result<()> {
    let NodeCmd::List = cmd;
    let v = get_json(
        &client()?,
        &format!("{}/master/slaves", base_url(&c.master)),
    )
    .await?;
    if c.json {
        println!("{}", serde_json::to_string_pretty(&v["slaves"])?);
        return Ok(());
    }
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
    for a in v["slaves"].as_array().cloned().unwrap_or_default() {
        let attrs = a["attributes"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}:{}", s(v)))
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .unwrap_or_default();
        t.add_row(vec![
            s(&a["id"]),
            s(&a["hostname"]),
            s(&a["pid"])
                .split('@')
                .nth(1)
                .unwrap_or_default()
                .to_string(),
            num(&a["resources"]["cpus"]),
            num(&a["resources"]["mem"]),
            num(&a["resources"]["disk"]),
            num(&a["used_resources"]["cpus"]),
            num(&a["used_resources"]["mem"]),
            attrs,
            s(&a["active"]),
        ]);
    }
    println!("{t}");
    Ok(())
}

pub async fn framework(cmd: FrameworkCmd, c: Common) -> Result<()> {
    let FrameworkCmd::List { all } = cmd;
    let v = get_json(
        &client()?,
        &format!("{}/master/frameworks", base_url(&c.master)),
    )
    .await?;
    let mut list: Vec<Value> = v["frameworks"].as_array().cloned().unwrap_or_default();
    if all {
        list.extend(
            v["completed_frameworks"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    if c.json {
        for f in list.iter_mut() {
            if let Some(o) = f.as_object_mut() {
                o.remove("tasks");
                o.remove("completed_tasks");
            }
        }
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let mut t = table(&[
        "ID",
        "NAME",
        "ROLES",
        "ACTIVE",
        "CONNECTED",
        "TASKS",
        "CPUS",
        "MEM (MiB)",
    ]);
    for f in list {
        t.add_row(vec![
            s(&f["id"]),
            s(&f["name"]),
            f["roles"]
                .as_array()
                .map(|r| r.iter().map(s).collect::<Vec<_>>().join(","))
                .unwrap_or_else(|| s(&f["role"])),
            s(&f["active"]),
            s(&f["connected"]),
            f["tasks"]
                .as_array()
                .map(|a| a.len())
                .unwrap_or(0)
                .to_string(),
            num(&f["used_resources"]["cpus"]),
            num(&f["used_resources"]["mem"]),
        ]);
    }
    println!("{t}");
    Ok(())
}

async fn all_tasks(client: &reqwest::Client, master: &str) -> Result<Vec<Value>> {
    let v = get_json(
        client,
        &format!("{}/master/tasks?limit=-1&order=asc", base_url(master)),
    )
    .await?;
    Ok(v["tasks"].as_array().cloned().unwrap_or_default())
}

pub async fn task(cmd: TaskCmd, c: Common) -> Result<()> {
    let client = client()?;
    match cmd {
        TaskCmd::List { all } => {
            let mut tasks = all_tasks(&client, &c.master).await?;
            if !all {
                tasks.retain(|t| {
                    !matches!(
                        t["state"].as_str(),
                        Some(
                            "TASK_FINISHED"
                                | "TASK_FAILED"
                                | "TASK_KILLED"
                                | "TASK_LOST"
                                | "TASK_ERROR"
                                | "TASK_DROPPED"
                                | "TASK_GONE"
                                | "TASK_GONE_BY_OPERATOR"
                        )
                    )
                });
            }
            if c.json {
                println!("{}", serde_json::to_string_pretty(&tasks)?);
                return Ok(());
            }
            let agents =
                get_json(&client, &format!("{}/master/slaves", base_url(&c.master))).await?;
            let host_of = |id: &str| {
                agents["slaves"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["id"] == id))
                    .map(|x| s(&x["hostname"]))
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
                    s(&x["id"]),
                    s(&x["name"]),
                    s(&x["state"]),
                    host_of(x["slave_id"].as_str().unwrap_or_default()),
                    s(&x["framework_id"]),
                    num(&x["resources"]["cpus"]),
                    num(&x["resources"]["mem"]),
                ]);
            }
            println!("{t}");
            Ok(())
        }
        TaskCmd::Log {
            task,
            follow,
            stderr,
        } => log(&client, &c, &task, follow, stderr).await,
    }
}

/// Find the task's agent and sandbox, then read the file through the agent's `/files/read`.
async fn log(
    client: &reqwest::Client,
    c: &Common,
    task: &str,
    follow: bool,
    stderr: bool,
) -> Result<()> {
    let tasks = all_tasks(client, &c.master).await?;
    let exact: Vec<&Value> = tasks.iter().filter(|t| t["id"] == task).collect();
    let matches: Vec<&Value> = if exact.is_empty() {
        tasks
            .iter()
            .filter(|t| s(&t["id"]).starts_with(task))
            .collect()
    } else {
        exact
    };
    let t = match matches.as_slice() {
        [] => bail!("no task matches '{task}'"),
        [one] => *one,
        many => {
            // The same id may appear again (a relaunch); take the newest, unless ids differ.
            let ids: std::collections::BTreeSet<String> =
                many.iter().map(|t| s(&t["id"])).collect();
            if ids.len() > 1 {
                bail!(
                    "'{task}' matches several tasks: {}",
                    ids.into_iter().collect::<Vec<_>>().join(", ")
                );
            }
            many[many.len() - 1]
        }
    };
    let (agent_id, fid, tid) = (s(&t["slave_id"]), s(&t["framework_id"]), s(&t["id"]));
    let agents = get_json(client, &format!("{}/master/slaves", base_url(&c.master))).await?;
    let agent = agents["slaves"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == agent_id.as_str()).cloned())
        .ok_or_else(|| anyhow!("agent {agent_id} of task {tid} is not registered"))?;
    let addr = s(&agent["pid"])
        .split('@')
        .nth(1)
        .map(String::from)
        .ok_or_else(|| anyhow!("agent {agent_id} has no address"))?;
    let state = get_json(client, &format!("http://{addr}/state")).await?;
    let mut dir = None;
    for f in state["frameworks"].as_array().cloned().unwrap_or_default() {
        if f["id"] != fid.as_str() {
            continue;
        }
        for e in f["executors"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .chain(
                f["completed_executors"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            )
        {
            let has = ["tasks", "completed_tasks", "queued_tasks"]
                .iter()
                .any(|k| {
                    e[*k]
                        .as_array()
                        .map(|a| a.iter().any(|x| x["id"] == tid.as_str()))
                        .unwrap_or(false)
                });
            if has {
                dir = Some(s(&e["directory"]));
            }
        }
    }
    let dir =
        dir.ok_or_else(|| anyhow!("agent {agent_id} no longer has the sandbox of task {tid}"))?;
    let path = format!("{dir}/{}", if stderr { "stderr" } else { "stdout" });
    let mut offset: u64 = 0;
    loop {
        let resp = client
            .get(format!("http://{addr}/files/read"))
            .query(&[
                ("path", path.as_str()),
                ("offset", &offset.to_string()),
                ("length", "65536"),
            ])
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("reading {path} on {addr}: {}", resp.status());
        }
        let v: Value = resp.json().await?;
        let data = v["data"].as_str().unwrap_or_default();
        if !data.is_empty() {
            use std::io::Write;
            print!("{data}");
            std::io::stdout().flush()?;
            offset += data.len() as u64;
            continue;
        }
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
