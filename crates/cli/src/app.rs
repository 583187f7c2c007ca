//! `drover app ...` and `drover deployment ...`: Marathon's REST v2 API for people (tables, a
//! live status line while a deployment runs) and for machines (`--json`: Marathon's own JSON).
//!
//! Every command that starts a deployment waits for it by default. Progress comes from polling
//! `/v2/deployments` and `/v2/apps`; the outcome (success, or failure when the deployment was
//! superseded or rolled back) comes from Marathon's event stream, subscribed to before the
//! change is sent so that a deployment finishing at once is not missed.

use super::{base_url, num, s, table};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `println!` that ignores a closed stdout (`drover app list | head`).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

#[derive(Args, Debug, Clone)]
pub struct MarathonArgs {
    /// Marathon, as host:port or a URL (`drover up` prints it).
    #[arg(
        long,
        global = true,
        env = "DROVER_MARATHON",
        default_value = "127.0.0.1:8080"
    )]
    pub marathon: String,
    /// Print Marathon's JSON instead of tables, and no progress.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct WaitArgs {
    /// Return once Marathon accepted the change, without waiting for the deployment.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the deployment before failing (it goes on in Marathon).
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub timeout: f64,
}

#[derive(Subcommand, Debug)]
pub enum AppCmd {
    /// List the apps: instances running/target, health, resources, deployments, command.
    List,
    /// Show an app: its definition, its tasks, the kill governor and its last task failure.
    Show {
        /// App id, e.g. /prod/web (the leading / is optional).
        id: String,
    },
    /// Create an app from a JSON file (Marathon's app definition; `-` reads stdin).
    Add {
        /// The app definition (JSON), or - for stdin.
        file: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Change some fields: key=value, values parsed as JSON when they parse, else strings.
    ///
    /// Examples: instances=3 cmd="sleep 10" env.FOO=bar upgradeStrategy.minimumHealthCapacity=0.5
    ///
    /// A dotted key changes one entry of an object (the rest of it is kept); values under env
    /// and labels stay strings.
    Update {
        /// App id, e.g. /prod/web (the leading / is optional).
        id: String,
        /// Fields to set, e.g. instances=3 cmd="sleep 10" env.FOO=bar.
        #[arg(required = true, value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Override a deployment that holds the app.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Set the number of instances.
    Scale {
        /// App id, e.g. /prod/web (the leading / is optional).
        id: String,
        /// The number of instances wanted.
        instances: u32,
        /// Override a deployment that holds the app.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Replace every instance (rolling, by the app's upgrade strategy).
    Restart {
        /// App id, e.g. /prod/web (the leading / is optional).
        id: String,
        /// Override a deployment that holds the app.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Remove an app and kill its tasks.
    Remove {
        /// App id, e.g. /prod/web (the leading / is optional).
        id: String,
        /// Override a deployment that holds the app.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// The app's stored versions, newest first, with what changed in each.
    Versions {
        /// App id.
        id: String,
    },
    /// Why an app's instances are not launched: the offers Marathon refused, and why.
    Why {
        /// App id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeploymentCmd {
    /// List running deployments.
    List,
    /// Follow a deployment (or all running ones) until it ends.
    Watch {
        /// Deployment id or a unique prefix of it (default: every running deployment).
        id: Option<String>,
        /// Seconds to wait before failing.
        #[arg(long, default_value_t = 300.0, value_name = "SECS")]
        timeout: f64,
    },
    /// Roll a deployment back to the apps' previous versions (a new deployment).
    Rollback {
        /// Deployment id or a unique prefix of it.
        id: String,
        /// Only cancel it: leave the apps as they are now, start no rollback.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

// -------------------------------------------------------------------------------- HTTP

struct Api {
    http: reqwest::Client,
    /// No overall timeout: the event stream stays open.
    stream: reqwest::Client,
    base: String,
}

impl Api {
    fn new(addr: &str) -> Result<Api> {
        let http = drover_httpclient::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| anyhow!("HTTP client: {e}"))?;
        let stream = drover_httpclient::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| anyhow!("HTTP client: {e}"))?;
        Ok(Api {
            http,
            stream,
            base: base_url(addr),
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let mut rb = self.http.request(method, &url).query(query);
        if let Some(b) = body {
            rb = rb.header(CONTENT_TYPE, "application/json").body(b);
        }
        let resp = rb.send().await.map_err(|e| {
            anyhow!("cannot reach Marathon at {} ({e}): is `drover up` running? Point at it with --marathon HOST:PORT or DROVER_MARATHON", self.base)
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let v = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, v))
    }

    /// The JSON of a successful answer; anything else as a readable error.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Value> {
        let (status, v) = self.send(method, path, query, body).await?;
        if status.is_success() {
            Ok(v)
        } else {
            Err(refusal(status, &v))
        }
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.call(Method::GET, path, &[], None).await
    }

    /// A call on an app's path: a 404 means the app does not exist.
    async fn app_call(
        &self,
        id: &str,
        method: Method,
        sub: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Value> {
        let (status, v) = self
            .send(method, &format!("/v2/apps{id}{sub}"), query, body)
            .await?;
        match status {
            s if s.is_success() => Ok(v),
            StatusCode::NOT_FOUND => bail!(
                "no app {id} in Marathon at {} (`drover app list` shows the apps)",
                self.base
            ),
            s => Err(refusal(s, &v)),
        }
    }
}

/// Marathon's refusal as a person reads it: 422 details one per line with their JSON paths, a
/// deployment lock with what to do about it, else Marathon's message.
fn refusal(status: StatusCode, v: &Value) -> anyhow::Error {
    let msg = match (&v["message"], v) {
        (Value::String(m), _) => m.clone(),
        (_, Value::Null) => String::new(),
        (_, Value::String(t)) => t.clone(),
        (_, other) => other.to_string(),
    };
    match status {
        StatusCode::UNPROCESSABLE_ENTITY => {
            let mut out = format!(
                "Marathon refused it (422 {}):",
                if msg.is_empty() { "invalid" } else { &msg }
            );
            for d in v["details"].as_array().into_iter().flatten() {
                let path = d["path"].as_str().unwrap_or("/");
                let errors: Vec<String> = d["errors"]
                    .as_array()
                    .map(|a| a.iter().map(s).collect())
                    .unwrap_or_default();
                if errors.is_empty() {
                    out.push_str(&format!("\n  {path}: invalid"));
                }
                for e in errors {
                    out.push_str(&format!("\n  {path}: {e}"));
                }
            }
            anyhow!(out)
        }
        StatusCode::CONFLICT => match v["deployments"].as_array().filter(|a| !a.is_empty()) {
            Some(ds) => {
                let ids: Vec<String> = ds.iter().map(|d| s(&d["id"])).collect();
                let first = &ids[0];
                anyhow!(
                    "the app is locked by deployment {}: wait for it (drover deployment watch {first}), roll it back (drover deployment rollback {first}), or pass --force to override it",
                    ids.join(", ")
                )
            }
            None => anyhow!("Marathon refused it (409): {msg}"),
        },
        _ => anyhow!("Marathon answered {status}: {msg}"),
    }
}

/// `web` → `/web`, `/prod/web/` → `/prod/web`.
fn app_id(id: &str) -> String {
    format!("/{}", id.trim_matches('/'))
}

fn print_json(v: &Value) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

fn has_health_checks(app: &Value) -> bool {
    app["healthChecks"]
        .as_array()
        .map(|a| !a.is_empty())
        .unwrap_or(false)
}

fn command_of(app: &Value) -> String {
    if let Some(c) = app["cmd"].as_str() {
        return c.to_string();
    }
    if let Some(a) = app["args"].as_array() {
        return a.iter().map(s).collect::<Vec<_>>().join(" ");
    }
    match app["container"]["docker"]["image"].as_str() {
        Some(img) => format!("(image {img})"),
        None => String::new(),
    }
}

// -------------------------------------------------------------------------------- app commands

pub async fn app(cmd: AppCmd, c: MarathonArgs) -> Result<()> {
    let api = Api::new(&c.marathon)?;
    match cmd {
        AppCmd::List => list(&api, &c).await,
        AppCmd::Show { id } => show(&api, &c, &app_id(&id)).await,
        AppCmd::Add { file, wait } => add(&api, &c, &file, &wait).await,
        AppCmd::Update {
            id,
            settings,
            force,
            wait,
        } => {
            let id = app_id(&id);
            let current = api.app_call(&id, Method::GET, "", &[], None).await?;
            let patch = parse_settings(&settings, &current["app"])?;
            change(
                &api,
                &c,
                &id,
                Method::PUT,
                "",
                force,
                Some(patch),
                &wait,
                "updated",
            )
            .await
        }
        AppCmd::Scale {
            id,
            instances,
            force,
            wait,
        } => {
            // PUT would create a missing app: make sure it exists.
            let id = app_id(&id);
            api.app_call(&id, Method::GET, "", &[], None).await?;
            change(
                &api,
                &c,
                &id,
                Method::PUT,
                "",
                force,
                Some(json!({ "instances": instances })),
                &wait,
                "scaled",
            )
            .await
        }
        AppCmd::Restart { id, force, wait } => {
            change(
                &api,
                &c,
                &app_id(&id),
                Method::POST,
                "/restart",
                force,
                None,
                &wait,
                "restarted",
            )
            .await
        }
        AppCmd::Remove { id, force, wait } => {
            change(
                &api,
                &c,
                &app_id(&id),
                Method::DELETE,
                "",
                force,
                None,
                &wait,
                "removed",
            )
            .await
        }
        AppCmd::Versions { id } => versions(&api, &c, &app_id(&id)).await,
        AppCmd::Why { id } => why(&api, &c, &app_id(&id)).await,
    }
}

async fn list(api: &Api, c: &MarathonArgs) -> Result<()> {
    let v = api.get("/v2/apps").await?;
    let mut apps = v["apps"].as_array().cloned().unwrap_or_default();
    apps.sort_by_key(|a| s(&a["id"]));
    if c.json {
        return print_json(&Value::Array(apps));
    }
    let mut t = table(&[
        "ID",
        "INSTANCES",
        "HEALTH",
        "CPUS",
        "MEM (MiB)",
        "DEPLOYMENTS",
        "CMD",
    ]);
    for a in &apps {
        let health = if has_health_checks(a) {
            format!(
                "{} ok, {} bad",
                num(&a["tasksHealthy"]),
                num(&a["tasksUnhealthy"])
            )
        } else {
            "-".into()
        };
        let deps: Vec<String> = a["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| short(d["id"].as_str().unwrap_or_default()).to_string())
            .collect();
        t.add_row(vec![
            s(&a["id"]),
            format!("{}/{}", num(&a["tasksRunning"]), num(&a["instances"])),
            health,
            num(&a["cpus"]),
            num(&a["mem"]),
            if deps.is_empty() {
                "-".into()
            } else {
                deps.join(",")
            },
            truncate(&command_of(a), 40),
        ]);
    }
    outln!("{t}");
    if apps.is_empty() {
        outln!("no apps (add one with `drover app add app.json`)");
    }
    Ok(())
}

fn health_of(task: &Value, app_has_checks: bool) -> String {
    let results = task["healthCheckResults"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !app_has_checks {
        return "-".into();
    }
    if results.is_empty() {
        return "unknown".into();
    }
    if results.iter().all(|r| r["alive"] == true) {
        return "healthy".into();
    }
    let r = results
        .iter()
        .find(|r| r["alive"] != true)
        .cloned()
        .unwrap_or_default();
    let mut out = format!("unhealthy ({} failures", num(&r["consecutiveFailures"]));
    if let Some(cause) = r["lastFailureCause"].as_str() {
        out.push_str(&format!(": {}", truncate(cause, 40)));
    }
    out.push(')');
    out
}

async fn show(api: &Api, c: &MarathonArgs, id: &str) -> Result<()> {
    let v = api
        .app_call(
            id,
            Method::GET,
            "",
            &[("embed", "app.tasks"), ("embed", "app.lastTaskFailure")],
            None,
        )
        .await?;
    let a = &v["app"];
    if c.json {
        return print_json(a);
    }
    let mut rows: Vec<(&str, String)> = Vec::new();
    rows.push(("id", s(&a["id"])));
    rows.push(("cmd", command_of(a)));
    let mut inst = format!(
        "{}/{} running",
        num(&a["tasksRunning"]),
        num(&a["instances"])
    );
    if a["tasksStaged"].as_u64().unwrap_or(0) > 0 {
        inst.push_str(&format!(", {} staging", num(&a["tasksStaged"])));
    }
    if has_health_checks(a) {
        inst.push_str(&format!(
            ", {} healthy, {} unhealthy",
            num(&a["tasksHealthy"]),
            num(&a["tasksUnhealthy"])
        ));
    }
    rows.push(("instances", inst));
    let mut res = format!(
        "cpus {}, mem {} MiB, disk {} MiB",
        num(&a["cpus"]),
        num(&a["mem"]),
        num(&a["disk"])
    );
    if a["gpus"].as_f64().unwrap_or(0.0) > 0.0 {
        res.push_str(&format!(", gpus {}", num(&a["gpus"])));
    }
    rows.push(("resources", res));
    let ports: Vec<String> = a["portDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let mut d = format!(
                "{}/{}",
                num(&p["port"]),
                p["protocol"].as_str().unwrap_or("tcp")
            );
            if let Some(n) = p["name"].as_str() {
                d.push_str(&format!(" ({n})"));
            }
            d
        })
        .collect();
    if !ports.is_empty() {
        rows.push(("ports", ports.join(", ")));
    }
    if let Some(img) = a["container"]["docker"]["image"].as_str() {
        rows.push(("image", img.to_string()));
    }
    if a["constraints"]
        .as_array()
        .map(|c| !c.is_empty())
        .unwrap_or(false)
    {
        rows.push(("constraints", a["constraints"].to_string()));
    }
    for (i, hc) in a["healthChecks"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let what = match hc["protocol"].as_str().unwrap_or("HTTP") {
            p @ ("COMMAND" | "MESOS_COMMAND") => format!("{p} {}", s(&hc["command"]["value"])),
            p => format!("{p} {}", s(&hc["path"])),
        };
        rows.push((
            if i == 0 { "health check" } else { "" },
            format!(
                "{} every {} s, timeout {} s, {} failures allowed",
                what.trim(),
                num(&hc["intervalSeconds"]),
                num(&hc["timeoutSeconds"]),
                num(&hc["maxConsecutiveFailures"])
            ),
        ));
    }
    let kv = |o: &Value| {
        o.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", s(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    if a["env"].as_object().map(|m| !m.is_empty()).unwrap_or(false) {
        rows.push(("env", kv(&a["env"])));
    }
    if a["labels"]
        .as_object()
        .map(|m| !m.is_empty())
        .unwrap_or(false)
    {
        rows.push(("labels", kv(&a["labels"])));
    }
    rows.push(("version", s(&a["version"])));
    let vi = &a["versionInfo"];
    if !vi["lastConfigChangeAt"].is_null() {
        rows.push(("config changed", s(&vi["lastConfigChangeAt"])));
    }
    let deps: Vec<String> = a["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| s(&d["id"]))
        .collect();
    rows.push((
        "deployments",
        if deps.is_empty() {
            "none".into()
        } else {
            deps.join(", ")
        },
    ));
    if !a["killGovernor"].is_null() {
        let g = &a["killGovernor"];
        let state = if g["engaged"] == true {
            "ENGAGED"
        } else {
            "released"
        };
        rows.push(("kill governor", format!("{state}: {}", s(&g["reason"]))));
    }
    if !a["lastTaskFailure"].is_null() {
        let f = &a["lastTaskFailure"];
        let mut line = format!(
            "{} on {} at {}",
            s(&f["state"]),
            s(&f["host"]),
            s(&f["timestamp"])
        );
        if let Some(m) = f["message"].as_str().filter(|m| !m.is_empty()) {
            line.push_str(&format!(": {m}"));
        }
        line.push_str(&format!(" (task {})", s(&f["taskId"])));
        rows.push(("last failure", line));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in &rows {
        let label = if k.is_empty() {
            String::new()
        } else {
            format!("{k}:")
        };
        outln!("{label:width$}  {v}", width = width + 1);
    }
    let mut tasks = a["tasks"].as_array().cloned().unwrap_or_default();
    tasks.sort_by_key(|t| s(&t["stagedAt"]));
    outln!();
    if tasks.is_empty() {
        outln!("no tasks");
        return Ok(());
    }
    let checks = has_health_checks(a);
    let current = s(&vi["lastConfigChangeAt"]);
    let mut t = table(&[
        "TASK", "HOST", "PORTS", "STATE", "HEALTH", "STARTED", "VERSION",
    ]);
    for x in &tasks {
        let ports: Vec<String> = x["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(num)
            .collect();
        let version = s(&x["version"]);
        let old = !current.is_empty() && version.as_str() < current.as_str();
        t.add_row(vec![
            s(&x["id"]),
            s(&x["host"]),
            ports.join(","),
            s(&x["state"]),
            health_of(x, checks),
            s(&x["startedAt"]),
            if old {
                format!("{version} (old)")
            } else {
                version
            },
        ]);
    }
    outln!("{t}");
    Ok(())
}

async fn add(api: &Api, c: &MarathonArgs, file: &std::path::Path, wait: &WaitArgs) -> Result<()> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .context("reading the app definition from stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let def: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", file.display()))?;
    if !def.is_object() {
        bail!(
            "{} must hold one app definition (a JSON object with id, cmd, instances, ...)",
            file.display()
        );
    }
    let feed = if wait.no_wait {
        EventFeed::none()
    } else {
        EventFeed::subscribe(api).await
    };
    let (status, v) = api
        .send(Method::POST, "/v2/apps", &[], Some(text.into_bytes()))
        .await?;
    if !status.is_success() {
        return Err(refusal(status, &v));
    }
    let id = s(&v["id"]);
    let dep = v["deployments"]
        .as_array()
        .and_then(|d| d.first())
        .map(|d| s(&d["id"]))
        .unwrap_or_default();
    if c.json {
        print_json(&v)?;
    } else {
        outln!("created {id}: deployment {dep}");
    }
    finish(api, c, &feed, wait, &dep, vec![id], "deployed").await
}

/// A change that starts a deployment: send it, print its id, wait for it unless --no-wait.
#[allow(clippy::too_many_arguments)]
async fn change(
    api: &Api,
    c: &MarathonArgs,
    id: &str,
    method: Method,
    sub: &str,
    force: bool,
    body: Option<Value>,
    wait: &WaitArgs,
    done: &str,
) -> Result<()> {
    let feed = if wait.no_wait {
        EventFeed::none()
    } else {
        EventFeed::subscribe(api).await
    };
    let query: Vec<(&str, &str)> = if force {
        vec![("force", "true")]
    } else {
        vec![]
    };
    let body = body.map(|b| serde_json::to_vec(&b)).transpose()?;
    let v = api.app_call(id, method, sub, &query, body).await?;
    let dep = s(&v["deploymentId"]);
    if c.json {
        print_json(&v)?;
    } else {
        outln!("{id}: deployment {dep}");
    }
    finish(api, c, &feed, wait, &dep, vec![id.to_string()], done).await
}

async fn finish(
    api: &Api,
    c: &MarathonArgs,
    feed: &EventFeed,
    wait: &WaitArgs,
    dep: &str,
    apps: Vec<String>,
    done: &str,
) -> Result<()> {
    if dep.is_empty() {
        return Ok(());
    }
    if wait.no_wait {
        if !c.json {
            outln!("not waiting: follow it with `drover deployment watch {dep}`");
        }
        return Ok(());
    }
    let w = Watched::new(dep.to_string(), apps, done);
    wait_for(api, feed, vec![w], secs(wait.timeout)?, !c.json)
        .await
        .map(|_| ())
}

fn secs(t: f64) -> Result<Duration> {
    if !(t > 0.0 && t.is_finite()) {
        bail!("--timeout must be a positive number of seconds, got {t}");
    }
    Ok(Duration::from_secs_f64(t))
}

// -------------------------------------------------------------------------------- update settings

/// Fields of a Marathon app definition (a typo would otherwise be kept as an unknown field).
const APP_FIELDS: &[&str] = &[
    "id",
    "cmd",
    "args",
    "user",
    "env",
    "instances",
    "cpus",
    "mem",
    "disk",
    "gpus",
    "executor",
    "constraints",
    "uris",
    "fetch",
    "storeUrls",
    "backoffSeconds",
    "backoffFactor",
    "maxLaunchDelaySeconds",
    "container",
    "healthChecks",
    "readinessChecks",
    "dependencies",
    "upgradeStrategy",
    "labels",
    "acceptedResourceRoles",
    "role",
    "portDefinitions",
    "ports",
    "requirePorts",
    "killSelection",
    "taskKillGracePeriodSeconds",
    "networks",
    "unreachableStrategy",
    "secrets",
    "residency",
    "ipAddress",
];

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `key=value` arguments as a partial app body. Values are JSON when they parse, else strings
/// (under `env` and `labels` they stay strings unless they are JSON objects). A dotted key sets
/// one entry inside an object field, starting from the app's `current` value of that field, so
/// `env.FOO=bar` keeps the other variables.
pub fn parse_settings(settings: &[String], current: &Value) -> Result<Value> {
    let mut patch = Map::new();
    let mut seen: Vec<Vec<String>> = Vec::new();
    for arg in settings {
        let malformed = || {
            anyhow!("malformed setting '{arg}': expected key=value, e.g. instances=3 cmd=\"sleep 10\" env.FOO=bar")
        };
        let (key, raw) = arg.split_once('=').ok_or_else(malformed)?;
        let path: Vec<String> = key.trim().split('.').map(String::from).collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(malformed());
        }
        if let Some(other) = seen
            .iter()
            .find(|p| p.starts_with(&path) || path.starts_with(p))
        {
            bail!("'{key}' is set twice (it overlaps '{}')", other.join("."));
        }
        seen.push(path.clone());
        let top = &path[0];
        if !APP_FIELDS.contains(&top.as_str()) && current.get(top).is_none() {
            let near: Vec<&str> = APP_FIELDS
                .iter()
                .copied()
                .filter(|f| {
                    f.to_lowercase()
                        .starts_with(&top.to_lowercase()[..top.len().min(3)])
                })
                .collect();
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", near.join(", "))
            };
            bail!("'{top}' is not a field of a Marathon app{hint}");
        }
        let keep_string = path.len() > 1 && (top == "env" || top == "labels");
        let value = match serde_json::from_str::<Value>(raw) {
            Ok(v) if !keep_string || v.is_object() => v,
            _ => Value::String(raw.to_string()),
        };
        if path.len() == 1 {
            patch.insert(top.clone(), value);
            continue;
        }
        let slot = patch
            .entry(top.clone())
            .or_insert_with(|| match current.get(top) {
                Some(v) if !v.is_null() => v.clone(),
                _ => json!({}),
            });
        let mut node = slot;
        for (depth, seg) in path[1..].iter().enumerate() {
            let here = path[..=depth].join(".");
            let obj = match node {
                Value::Object(o) => o,
                Value::Null => {
                    *node = json!({});
                    node.as_object_mut()
                        .ok_or_else(|| anyhow!("internal: not an object"))?
                }
                other => bail!(
                    "cannot set '{key}': '{here}' is {} in the app, not an object",
                    json_type(other)
                ),
            };
            if depth + 2 == path.len() {
                obj.insert(seg.clone(), value);
                break;
            }
            node = obj.entry(seg.clone()).or_insert_with(|| json!({}));
        }
    }
    Ok(Value::Object(patch))
}

// -------------------------------------------------------------------------------- versions, why

/// The top-level fields that differ between two versions, as `instances 2→3` or `cmd`.
fn changes(new: &Value, old: &Value) -> String {
    let skip = [
        "version",
        "versionInfo",
        "lastScalingAt",
        "lastConfigChangeAt",
    ];
    let (Some(n), Some(o)) = (new.as_object(), old.as_object()) else {
        return String::new();
    };
    let mut keys: Vec<&String> = n
        .keys()
        .chain(o.keys())
        .filter(|k| !skip.contains(&k.as_str()))
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        let (a, b) = (
            o.get(k).unwrap_or(&Value::Null),
            n.get(k).unwrap_or(&Value::Null),
        );
        if a == b {
            continue;
        }
        let scalar = |v: &Value| !v.is_object() && !v.is_array() && v.to_string().len() <= 24;
        if scalar(a) && scalar(b) {
            out.push(format!("{k} {}→{}", s(a), s(b)));
        } else {
            out.push(k.clone());
        }
    }
    out.join(", ")
}

async fn versions(api: &Api, c: &MarathonArgs, id: &str) -> Result<()> {
    let v = api
        .app_call(id, Method::GET, "/versions", &[], None)
        .await?;
    let list: Vec<String> = v["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    if c.json {
        return print_json(&json!(list));
    }
    const SHOWN: usize = 20;
    // One more than shown, to say what the oldest shown one changed.
    let mut defs = Vec::new();
    for ver in list.iter().take(SHOWN + 1) {
        defs.push(
            api.app_call(id, Method::GET, &format!("/versions/{ver}"), &[], None)
                .await
                .unwrap_or(Value::Null),
        );
    }
    let mut t = table(&[
        "VERSION",
        "INSTANCES",
        "CPUS",
        "MEM (MiB)",
        "CMD",
        "CHANGES",
    ]);
    for (i, ver) in list.iter().take(SHOWN).enumerate() {
        let d = &defs[i];
        let what = match defs.get(i + 1) {
            Some(older) => changes(d, older),
            None if i + 1 == list.len() => "created".into(),
            None => String::new(),
        };
        let label = if i == 0 {
            format!("{ver} (current)")
        } else {
            ver.clone()
        };
        t.add_row(vec![
            label,
            num(&d["instances"]),
            num(&d["cpus"]),
            num(&d["mem"]),
            truncate(&command_of(d), 30),
            truncate(&what, 50),
        ]);
    }
    outln!("{t}");
    if list.len() > SHOWN {
        outln!(
            "{} older versions not shown (--json lists them all)",
            list.len() - SHOWN
        );
    }
    Ok(())
}

/// An offer's resources as `cpus 4, mem 1024, disk 500`: from Marathon's list of resources, or
/// from a name → value map.
fn offered(res: &Value) -> String {
    let mut have: HashMap<String, Value> = HashMap::new();
    match res {
        Value::Array(a) => a.iter().for_each(|r| {
            have.insert(s(&r["name"]), r["scalar"].clone());
        }),
        Value::Object(o) => o.iter().for_each(|(k, v)| {
            have.insert(k.clone(), v.clone());
        }),
        _ => {}
    }
    ["cpus", "mem", "disk", "gpus"]
        .iter()
        .filter_map(|name| {
            have.get(*name)
                .filter(|v| v.as_f64().unwrap_or(0.0) > 0.0 || *name != "gpus")
                .map(|v| format!("{name} {}", num(v)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn why(api: &Api, c: &MarathonArgs, id: &str) -> Result<()> {
    let q = api
        .call(
            Method::GET,
            "/v2/queue",
            &[("embed", "lastUnusedOffers")],
            None,
        )
        .await?;
    let item = q["queue"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["app"]["id"] == id)
        .cloned();
    let Some(item) = item else {
        // Not queued: say so, or that the app does not exist.
        let a = api.app_call(id, Method::GET, "", &[], None).await?;
        if c.json {
            return print_json(&Value::Null);
        }
        let a = &a["app"];
        outln!(
            "{id} is not waiting for offers: {}/{} running, nothing to launch.",
            num(&a["tasksRunning"]),
            num(&a["instances"])
        );
        return Ok(());
    };
    if c.json {
        return print_json(&item);
    }
    let app = &item["app"];
    outln!(
        "{id} is waiting to launch {} instance(s); each needs cpus {}, mem {} MiB, disk {} MiB, {} port(s).",
        num(&item["count"]),
        num(&app["cpus"]),
        num(&app["mem"]),
        num(&app["disk"]),
        app["portDefinitions"].as_array().map(|p| p.len()).unwrap_or(0)
    );
    let delay = item["delay"]["timeLeftSeconds"].as_i64().unwrap_or(0);
    if delay > 0 {
        outln!("launches are delayed {delay} s more (backoff after failed tasks; `drover app show {id}` has the last failure).");
    }
    // Per agent: how many of its recent offers were refused, and for what.
    let mut per_agent: BTreeMap<String, (String, BTreeMap<String, u64>, String)> = BTreeMap::new();
    for u in item["lastUnusedOffers"].as_array().into_iter().flatten() {
        let o = &u["offer"];
        let e = per_agent
            .entry(s(&o["agentId"]))
            .or_insert_with(|| (s(&o["hostname"]), BTreeMap::new(), String::new()));
        for r in u["reason"].as_array().into_iter().flatten() {
            *e.1.entry(s(r)).or_default() += 1;
        }
        e.2 = offered(&o["resources"]);
    }
    let summary = &item["processedOffersSummary"];
    if per_agent.is_empty() {
        outln!("no offer has been refused for it yet (is an agent with free resources registered? offers come every few seconds).");
    } else {
        let mut t = table(&["AGENT", "HOST", "REASONS", "LAST OFFER"]);
        for (agent, (host, reasons, last)) in &per_agent {
            let r: Vec<String> = reasons.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            t.add_row(vec![
                agent.clone(),
                host.clone(),
                r.join(", "),
                last.clone(),
            ]);
        }
        outln!("{t}");
    }
    let totals: Vec<String> = summary["rejectSummaryLastOffers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["declined"].as_u64().unwrap_or(0) > 0)
        .map(|r| format!("{} {}", s(&r["reason"]), num(&r["declined"])))
        .collect();
    outln!(
        "offers processed: {}, unused: {}{}",
        num(&summary["processedOffersCount"]),
        num(&summary["unusedOffersCount"]),
        if totals.is_empty() {
            String::new()
        } else {
            format!("; refused for: {}", totals.join(", "))
        }
    );
    Ok(())
}

// -------------------------------------------------------------------------------- deployments

pub async fn deployment(cmd: DeploymentCmd, c: MarathonArgs) -> Result<()> {
    let api = Api::new(&c.marathon)?;
    match cmd {
        DeploymentCmd::List => {
            let v = api.get("/v2/deployments").await?;
            let list = v.as_array().cloned().unwrap_or_default();
            if c.json {
                return print_json(&Value::Array(list));
            }
            let mut t = table(&["ID", "APPS", "STEP", "CURRENT ACTIONS", "VERSION"]);
            for d in &list {
                let apps: Vec<String> = d["affectedApps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(s)
                    .collect();
                let actions: Vec<String> = d["currentActions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| format!("{} {}", s(&a["action"]), s(&a["app"])))
                    .collect();
                t.add_row(vec![
                    s(&d["id"]),
                    apps.join(", "),
                    format!("{}/{}", num(&d["currentStep"]), num(&d["totalSteps"])),
                    actions.join(", "),
                    s(&d["version"]),
                ]);
            }
            outln!("{t}");
            if list.is_empty() {
                outln!("no deployment is running");
            }
            Ok(())
        }
        DeploymentCmd::Watch { id, timeout } => {
            let timeout = secs(timeout)?;
            let feed = EventFeed::subscribe(&api).await;
            let list = api
                .get("/v2/deployments")
                .await?
                .as_array()
                .cloned()
                .unwrap_or_default();
            let chosen: Vec<Value> = match id {
                Some(p) => vec![resolve(&list, &p)?],
                None => list,
            };
            if chosen.is_empty() {
                if c.json {
                    return print_json(&json!([]));
                }
                outln!("no deployment is running");
                return Ok(());
            }
            let watched = chosen
                .iter()
                .map(|d| {
                    Watched::new(
                        s(&d["id"]),
                        d["affectedApps"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(s)
                            .collect(),
                        "deployed",
                    )
                })
                .collect();
            let outcomes = wait_for(&api, &feed, watched, timeout, !c.json).await?;
            if c.json {
                print_json(&json!(outcomes
                    .iter()
                    .map(|id| json!({"id": id, "result": "success"}))
                    .collect::<Vec<_>>()))?;
            }
            Ok(())
        }
        DeploymentCmd::Rollback { id, force, wait } => {
            let list = api
                .get("/v2/deployments")
                .await?
                .as_array()
                .cloned()
                .unwrap_or_default();
            let d = resolve(&list, &id)?;
            let did = s(&d["id"]);
            let apps: Vec<String> = d["affectedApps"]
                .as_array()
                .into_iter()
                .flatten()
                .map(s)
                .collect();
            let feed = if wait.no_wait || force {
                EventFeed::none()
            } else {
                EventFeed::subscribe(&api).await
            };
            let query: Vec<(&str, &str)> = if force {
                vec![("force", "true")]
            } else {
                vec![]
            };
            let (status, v) = api
                .send(
                    Method::DELETE,
                    &format!("/v2/deployments/{did}"),
                    &query,
                    None,
                )
                .await?;
            match status {
                StatusCode::NOT_FOUND => bail!("deployment {did} has already ended"),
                s if !s.is_success() => return Err(refusal(s, &v)),
                _ => {}
            }
            if c.json {
                print_json(&if v.is_null() {
                    json!({"cancelled": did})
                } else {
                    v.clone()
                })?;
            }
            let new = s(&v["deploymentId"]);
            if force || new.is_empty() {
                if !c.json {
                    let what = if apps.len() == 1 {
                        format!("{} stays as it is", apps[0])
                    } else {
                        format!("{} stay as they are", apps.join(", "))
                    };
                    outln!("cancelled deployment {did}; {what} now");
                }
                return Ok(());
            }
            if !c.json {
                outln!("rolling back deployment {did}: deployment {new}");
            }
            finish(&api, &c, &feed, &wait, &new, apps, "rolled back").await
        }
    }
}

/// A deployment by id or unique id prefix.
fn resolve(list: &[Value], p: &str) -> Result<Value> {
    if let Some(d) = list.iter().find(|d| d["id"] == p) {
        return Ok(d.clone());
    }
    let m: Vec<&Value> = list.iter().filter(|d| s(&d["id"]).starts_with(p)).collect();
    match m.as_slice() {
        [one] => Ok((*one).clone()),
        [] if list.is_empty() => bail!("no deployment matches '{p}': none is running"),
        [] => bail!(
            "no deployment matches '{p}' (running: {})",
            list.iter()
                .map(|d| s(&d["id"]))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        many => bail!(
            "'{p}' matches several deployments: {}",
            many.iter()
                .map(|d| s(&d["id"]))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

// -------------------------------------------------------------------------------- waiting

type Outcome = std::result::Result<(), String>;

/// Deployment outcomes from Marathon's event stream (`deployment_success`/`deployment_failed`).
struct EventFeed {
    outcomes: Arc<Mutex<HashMap<String, Outcome>>>,
    live: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for EventFeed {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl EventFeed {
    fn none() -> EventFeed {
        EventFeed {
            outcomes: Default::default(),
            live: Default::default(),
            task: None,
        }
    }

    /// Subscribe; once this returns with the stream open, no later outcome is missed. Without
    /// the stream, waiting still works by polling (a vanished deployment counts as done).
    async fn subscribe(api: &Api) -> EventFeed {
        let mut feed = EventFeed::none();
        let req = api
            .stream
            .get(format!("{}/v2/events", api.base))
            .query(&[
                ("event_type", "deployment_success"),
                ("event_type", "deployment_failed"),
            ])
            .header(ACCEPT, "text/event-stream")
            .send();
        let Ok(Ok(mut resp)) = tokio::time::timeout(Duration::from_secs(5), req).await else {
            return feed;
        };
        if !resp.status().is_success() {
            return feed;
        }
        feed.live.store(true, Ordering::SeqCst);
        let (outcomes, live) = (feed.outcomes.clone(), feed.live.clone());
        feed.task = Some(tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.extend(chunk.iter().filter(|b| **b != b'\r'));
                while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
                    let block: Vec<u8> = buf.drain(..pos + 2).collect();
                    if let Some((id, outcome)) = parse_sse(&String::from_utf8_lossy(&block)) {
                        if let Ok(mut m) = outcomes.lock() {
                            m.insert(id, outcome);
                        }
                    }
                }
            }
            live.store(false, Ordering::SeqCst);
        }));
        feed
    }

    fn outcome(&self, id: &str) -> Option<Outcome> {
        self.outcomes.lock().ok().and_then(|m| m.get(id).cloned())
    }

    fn live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }
}

/// One SSE block → (deployment id, outcome), for deployment_success and deployment_failed.
fn parse_sse(block: &str) -> Option<(String, Outcome)> {
    let mut kind = String::new();
    let mut data = String::new();
    for line in block.lines() {
        if let Some(k) = line.strip_prefix("event:") {
            kind = k.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    let v: Value = serde_json::from_str(&data).ok()?;
    if kind.is_empty() {
        kind = s(&v["eventType"]);
    }
    let id = v["id"].as_str().or(v["plan"]["id"].as_str())?.to_string();
    match kind.as_str() {
        "deployment_success" => Some((id, Ok(()))),
        "deployment_failed" => Some((
            id,
            Err(v["reason"].as_str().unwrap_or("it failed").to_string()),
        )),
        _ => None,
    }
}

struct Watched {
    id: String,
    apps: Vec<String>,
    done_verb: String,
    line: String,
    gone_since: Option<Instant>,
    bar: Option<indicatif::ProgressBar>,
    result: Option<Outcome>,
}

impl Watched {
    fn new(id: String, apps: Vec<String>, done_verb: &str) -> Watched {
        Watched {
            id,
            apps,
            done_verb: done_verb.to_string(),
            line: String::new(),
            gone_since: None,
            bar: None,
            result: None,
        }
    }
}

/// The counts of one app for a status line: `3/5 running, 2 healthy`.
fn counts(app: &Value) -> String {
    let mut out = format!(
        "{}/{} running",
        num(&app["tasksRunning"]),
        num(&app["instances"])
    );
    if has_health_checks(app) {
        out.push_str(&format!(", {} healthy", num(&app["tasksHealthy"])));
    }
    if app["tasksStaged"].as_u64().unwrap_or(0) > 0 {
        out.push_str(&format!(", {} staging", num(&app["tasksStaged"])));
    }
    out
}

/// Why a waiting app gets no instances, from the launch queue: `offers refused: InsufficientCpus`.
fn queue_hint(queue: &Value, id: &str) -> Option<String> {
    let item = queue["queue"]
        .as_array()?
        .iter()
        .find(|i| i["app"]["id"] == id)?;
    let delay = item["delay"]["timeLeftSeconds"].as_i64().unwrap_or(0);
    if delay > 0 {
        return Some(format!("launch delayed {delay} s after failures"));
    }
    let mut reasons: Vec<(u64, String)> = item["processedOffersSummary"]["rejectSummaryLastOffers"]
        .as_array()?
        .iter()
        .filter_map(|r| {
            r["declined"]
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| (n, s(&r["reason"])))
        })
        .collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
    (!reasons.is_empty()).then(|| {
        format!(
            "offers refused: {}",
            reasons
                .iter()
                .map(|r| r.1.clone())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

async fn status_line(api: &Api, d: &Value, apps: &HashMap<String, Value>, slow: bool) -> String {
    let affected: Vec<String> = d["affectedApps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    let actions: Vec<String> = d["currentActions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| s(&a["action"]))
        .collect();
    let stopping = !actions.is_empty() && actions.iter().all(|a| a == "StopApplication");
    let mut tasks: Option<Value> = None;
    let mut queue: Option<Value> = None;
    let mut parts = Vec::new();
    let mut hints = Vec::new();
    for id in &affected {
        match apps.get(id) {
            Some(a) => {
                let behind =
                    a["tasksRunning"].as_u64().unwrap_or(0) < a["instances"].as_u64().unwrap_or(0);
                if behind && slow {
                    if queue.is_none() {
                        queue = api.get("/v2/queue").await.ok();
                    }
                    if let Some(h) = queue.as_ref().and_then(|q| queue_hint(q, id)) {
                        hints.push(if affected.len() == 1 {
                            h
                        } else {
                            format!("{id}: {h}")
                        });
                    }
                }
                parts.push((id.clone(), counts(a)));
            }
            None => {
                if tasks.is_none() {
                    tasks = api.get("/v2/tasks").await.ok();
                }
                let left = tasks
                    .as_ref()
                    .and_then(|t| t["tasks"].as_array())
                    .map(|t| t.iter().filter(|x| x["appId"] == id.as_str()).count())
                    .unwrap_or(0);
                parts.push((id.clone(), format!("{left} task(s) left")));
            }
        }
    }
    let mut dedup = actions.clone();
    dedup.dedup();
    let step = format!(
        "step {}/{} ({})",
        num(&d["currentStep"]),
        num(&d["totalSteps"]),
        dedup.join(", ")
    );
    let verb = if stopping { "removing" } else { "deploying" };
    let body = parts
        .iter()
        .map(|(id, p)| format!("{id}: {p}"))
        .collect::<Vec<_>>()
        .join("; ");
    let hint = if hints.is_empty() {
        String::new()
    } else {
        format!(" — {}", hints.join("; "))
    };
    format!("{verb} {body}, {step}{hint}")
}

/// The end state of a deployment's apps, for its success line.
fn summary(w: &Watched, apps: &HashMap<String, Value>) -> String {
    let parts: Vec<String> = w
        .apps
        .iter()
        .map(|id| match apps.get(id) {
            Some(a) => format!("{id} {}: {}", w.done_verb, counts(a)),
            None => format!("{id} removed"),
        })
        .collect();
    if parts.is_empty() {
        format!("deployment {} done", w.id)
    } else {
        parts.join("; ")
    }
}

async fn apps_by_id(api: &Api) -> Result<HashMap<String, Value>> {
    let v = api.get("/v2/apps").await?;
    Ok(v["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| (s(&a["id"]), a.clone()))
        .collect())
}

/// Wait until every watched deployment ends. People get a live line per deployment (a spinner on
/// a terminal, plain lines when it changes otherwise, both on stderr) and a success line on
/// stdout; `show == false` prints nothing. Fails if one fails or the timeout passes.
async fn wait_for(
    api: &Api,
    feed: &EventFeed,
    mut watched: Vec<Watched>,
    timeout: Duration,
    show: bool,
) -> Result<Vec<String>> {
    let start = Instant::now();
    let tty = show && std::io::stderr().is_terminal();
    let multi = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
    if tty {
        let style = indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {wide_msg}")
            .map_err(|e| anyhow!("progress style: {e}"))?;
        for w in watched.iter_mut() {
            let bar = multi.add(indicatif::ProgressBar::new_spinner().with_style(style.clone()));
            bar.set_message(format!("deployment {}", w.id));
            bar.enable_steady_tick(Duration::from_millis(120));
            w.bar = Some(bar);
        }
    }
    loop {
        let deps = api.get("/v2/deployments").await?;
        let deps = deps.as_array().cloned().unwrap_or_default();
        let apps = apps_by_id(api).await?;
        let slow = start.elapsed() > Duration::from_secs(3);
        let mut ended = Vec::new();
        for (i, w) in watched
            .iter_mut()
            .enumerate()
            .filter(|(_, w)| w.result.is_none())
        {
            if let Some(o) = feed.outcome(&w.id) {
                w.result = Some(o);
                ended.push(i);
                continue;
            }
            match deps.iter().find(|d| d["id"] == w.id.as_str()) {
                Some(d) => {
                    w.gone_since = None;
                    let affected: Vec<String> = d["affectedApps"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(s)
                        .collect();
                    if !affected.is_empty() {
                        w.apps = affected;
                    }
                    let line = status_line(api, d, &apps, slow).await;
                    if line != w.line {
                        match &w.bar {
                            Some(b) => b.set_message(line.clone()),
                            None if show => eprintln!("{line}"),
                            None => {}
                        }
                        w.line = line;
                    }
                }
                None => {
                    // Gone from the list: its event tells how it ended; without the stream, done.
                    let since = *w.gone_since.get_or_insert_with(Instant::now);
                    if !feed.live() || since.elapsed() > Duration::from_secs(2) {
                        w.result = Some(Ok(()));
                        ended.push(i);
                    }
                }
            }
        }
        if !ended.is_empty() {
            let apps = apps_by_id(api).await.unwrap_or(apps);
            for i in ended {
                let w = &mut watched[i];
                if let Some(b) = w.bar.take() {
                    b.finish_and_clear();
                }
                if show {
                    // Failures end the command with an error below.
                    if let Some(Ok(())) = &w.result {
                        outln!(
                            "✔ {} (deployment {}, {:.1} s)",
                            summary(w, &apps),
                            w.id,
                            start.elapsed().as_secs_f64()
                        );
                    }
                }
            }
        }
        if watched.iter().all(|w| w.result.is_some()) {
            break;
        }
        if start.elapsed() >= timeout {
            for w in watched.iter_mut() {
                if let Some(b) = w.bar.take() {
                    b.finish_and_clear();
                }
            }
            let open: Vec<&Watched> = watched.iter().filter(|w| w.result.is_none()).collect();
            let mut msg = format!(
                "timed out after {:.0} s waiting for deployment",
                timeout.as_secs_f64()
            );
            for w in &open {
                msg.push_str(&format!(
                    "\n  {}: {}",
                    w.id,
                    if w.line.is_empty() {
                        "no progress seen"
                    } else {
                        &w.line
                    }
                ));
            }
            let first = &open[0].id;
            if let Some(app) = open
                .iter()
                .find(|w| w.line.contains("offers refused"))
                .and_then(|w| w.apps.first())
            {
                msg.push_str(&format!(
                    "\nwhy its instances do not start: `drover app why {app}`"
                ));
            }
            msg.push_str(&format!(
                "\nit goes on in Marathon: follow it with `drover deployment watch {first}`, or undo it with `drover deployment rollback {first}`"
            ));
            bail!(msg);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let failed: Vec<String> = watched
        .iter()
        .filter_map(|w| match &w.result {
            Some(Err(r)) => Some(format!(
                "deployment {} of {} failed: {r}",
                w.id,
                w.apps.join(", ")
            )),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        bail!(failed.join("\n"));
    }
    Ok(watched.into_iter().map(|w| w.id).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn settings_parse_as_json_or_strings_and_dotted_keys_merge_into_the_current_object() {
        let current = json!({"id": "/web", "env": {"A": "1"}, "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}});
        let p = parse_settings(
            &args(&[
                "instances=3",
                "cmd=sleep 10",
                "env.FOO=bar",
                "env.N=1.0",
                "upgradeStrategy.minimumHealthCapacity=0.5",
                "requirePorts=true",
            ]),
            &current,
        )
        .unwrap();
        assert_eq!(
            p,
            json!({"instances": 3, "cmd": "sleep 10", "env": {"A": "1", "FOO": "bar", "N": "1.0"},
                   "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 1}, "requirePorts": true})
        );
        let p = parse_settings(
            &args(&[
                "labels.team=a=b",
                "constraints=[[\"hostname\",\"UNIQUE\"]]",
                "container.docker.image=nginx",
            ]),
            &json!({}),
        )
        .unwrap();
        assert_eq!(
            p,
            json!({"labels": {"team": "a=b"}, "constraints": [["hostname", "UNIQUE"]], "container": {"docker": {"image": "nginx"}}})
        );
    }

    #[test]
    fn malformed_settings_say_what_is_wrong() {
        let current = json!({"cmd": "x"});
        for bad in ["instances", "=3", "env..X=1", ".a=1", "env.=1"] {
            let e = parse_settings(&args(&[bad]), &current)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("malformed setting") && e.contains("key=value"),
                "{bad}: {e}"
            );
        }
        let e = parse_settings(&args(&["instance=3"]), &current)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a field") && e.contains("instances"), "{e}");
        let e = parse_settings(&args(&["cmd.x=1"]), &current)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a string"), "{e}");
        let e = parse_settings(&args(&["env.A=1", "env=2"]), &current)
            .unwrap_err()
            .to_string();
        assert!(e.contains("set twice"), "{e}");
    }

    #[test]
    fn refusals_read_well() {
        let body = json!({"message": "Object is not valid", "details": [{"path": "/cpus", "errors": ["got -1, expected 0 or more"]}, {"path": "/id", "errors": ["bad", "worse"]}]});
        let e = refusal(StatusCode::UNPROCESSABLE_ENTITY, &body).to_string();
        assert_eq!(e, "Marathon refused it (422 Object is not valid):\n  /cpus: got -1, expected 0 or more\n  /id: bad\n  /id: worse");
        let e = refusal(
            StatusCode::CONFLICT,
            &json!({"message": "locked", "deployments": [{"id": "d1"}]}),
        )
        .to_string();
        assert!(e.contains("deployment d1") && e.contains("--force"), "{e}");
    }

    #[test]
    fn sse_blocks_give_deployment_outcomes() {
        assert_eq!(parse_sse("event: deployment_success\ndata: {\"id\":\"d1\",\"eventType\":\"deployment_success\"}\n\n"), Some(("d1".into(), Ok(()))));
        assert_eq!(
            parse_sse("event: deployment_failed\ndata: {\"plan\":{\"id\":\"d2\"},\"reason\":\"superseded or cancelled\"}\n\n"),
            Some(("d2".into(), Err("superseded or cancelled".into())))
        );
        assert_eq!(parse_sse(": keep-alive\n\n"), None);
    }

    #[test]
    fn version_changes_name_the_fields() {
        let old = json!({"instances": 2, "cmd": "sleep 600", "env": {}, "version": "a"});
        let new = json!({"instances": 3, "cmd": "sleep 600", "env": {"A": "1"}, "version": "b"});
        assert_eq!(changes(&new, &old), "env, instances 2→3");
    }

    #[test]
    fn queue_hints_name_the_refusals() {
        let q = json!({"queue": [{"app": {"id": "/big"}, "delay": {"timeLeftSeconds": 0},
            "processedOffersSummary": {"rejectSummaryLastOffers": [{"reason": "InsufficientCpus", "declined": 4}, {"reason": "InsufficientMemory", "declined": 0}]}}]});
        assert_eq!(
            queue_hint(&q, "/big").unwrap(),
            "offers refused: InsufficientCpus"
        );
        assert_eq!(queue_hint(&q, "/other"), None);
    }
}
