//! `drover app ...`: Marathon's apps through its REST v2 API — list, show, add, update, scale,
//! restart, remove, versions, why. A change that starts a deployment waits for it by default
//! (`crate::deployment::wait`); `add`, `update` and `scale` can instead show the deployment
//! they would start (`--dry-run`, in [`dry_run`]).

mod dry_run;
mod settings;
mod show;
mod versions;
mod why;

use crate::args::{MarathonArgs, WaitArgs};
use crate::client::{Answer, Client};
use crate::deployment::wait::{wait_for, EventFeed, Watched};
use crate::error::{Error, Server};
use crate::render::{num, outln, print_json, short, table, truncate};
use crate::views::{AppEnvelope, AppStatus, Apps, DeploymentStarted, Received};
use clap::Subcommand;
use comfy_table::Table;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};

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
        /// Print the deployment Marathon would start (its steps, the tasks it would launch and
        /// kill), and change nothing.
        #[arg(long)]
        dry_run: bool,
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
        /// Print the deployment Marathon would start (its steps, the tasks it would launch and
        /// kill), and change nothing.
        #[arg(long)]
        dry_run: bool,
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
        /// Print the deployment Marathon would start (the tasks it would launch or kill), and
        /// change nothing.
        #[arg(long)]
        dry_run: bool,
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

/// `web` → `/web`, `/prod/web/` → `/prod/web`.
fn app_id(id: &str) -> String {
    format!("/{}", id.trim_matches('/'))
}

/// A call on an app's path: a 404 means the app does not exist.
pub(crate) async fn app_call<T: DeserializeOwned>(
    api: &Client,
    id: &str,
    method: Method,
    sub: &str,
    query: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<T, Error> {
    api.decode(app_send(api, id, method, sub, query, body).await?)
}

/// [`app_call`]'s request and error mapping; the successful answer as it came.
async fn app_send(
    api: &Client,
    id: &str,
    method: Method,
    sub: &str,
    query: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Answer, Error> {
    let a = api
        .send(method, &format!("/v2/apps{id}{sub}"), query, body)
        .await?;
    match a.status {
        s if s.is_success() => Ok(a),
        StatusCode::NOT_FOUND => Err(Error::not_found(
            format!("no app {id} in Marathon at {}", api.addr()),
            Some("`drover app list` shows the apps".into()),
        )),
        _ => Err(api.refused(a)),
    }
}

pub(crate) fn has_health_checks(app: &AppStatus) -> bool {
    !app.def.health_checks.is_empty()
}

/// What an app runs: its cmd, else its args, else its image.
pub(crate) fn command_of(app: &AppStatus) -> String {
    if let Some(c) = &app.def.cmd {
        return c.clone();
    }
    if let Some(a) = &app.def.args {
        return a.join(" ");
    }
    match app
        .container
        .as_ref()
        .and_then(|c| c.docker.as_ref())
        .and_then(|d| d.image.as_deref())
    {
        Some(img) => format!("(image {img})"),
        None => String::new(),
    }
}

pub async fn app(cmd: AppCmd, c: MarathonArgs) -> Result<(), Error> {
    let api = Client::new(Server::Marathon, &c.marathon)?;
    match cmd {
        AppCmd::List => list(&api, &c).await,
        AppCmd::Show { id } => show::show(&api, &c, &app_id(&id)).await,
        AppCmd::Add {
            file,
            dry_run,
            wait,
        } => add(&api, &c, &file, dry_run, &wait).await,
        AppCmd::Update {
            id,
            settings,
            force,
            dry_run,
            wait,
        } => {
            let id = app_id(&id);
            let current: AppEnvelope = app_call(&api, &id, Method::GET, "", &[], None).await?;
            let patch = settings::parse_settings(&settings, &current.app.raw)?;
            let change = Change {
                method: Method::PUT,
                sub: "",
                force,
                body: Some(patch),
                done: "updated",
                dry_run: dry_run.then_some("updating"),
            };
            change.send(&api, &c, &id, &wait).await
        }
        AppCmd::Scale {
            id,
            instances,
            force,
            dry_run,
            wait,
        } => {
            // PUT would create a missing app: make sure it exists.
            let id = app_id(&id);
            app_call::<AppEnvelope>(&api, &id, Method::GET, "", &[], None).await?;
            let change = Change {
                method: Method::PUT,
                sub: "",
                force,
                // A partial definition: only the field that changes.
                body: Some(serde_json::json!({ "instances": instances })),
                done: "scaled",
                dry_run: dry_run.then_some("scaling"),
            };
            change.send(&api, &c, &id, &wait).await
        }
        AppCmd::Restart { id, force, wait } => {
            let change = Change {
                method: Method::POST,
                sub: "/restart",
                force,
                body: None,
                done: "restarted",
                // Marathon has no dry run of a restart.
                dry_run: None,
            };
            change.send(&api, &c, &app_id(&id), &wait).await
        }
        AppCmd::Remove { id, force, wait } => {
            let change = Change {
                method: Method::DELETE,
                sub: "",
                force,
                body: None,
                done: "removed",
                // Marathon has no dry run of a removal.
                dry_run: None,
            };
            change.send(&api, &c, &app_id(&id), &wait).await
        }
        AppCmd::Versions { id } => versions::versions(&api, &c, &app_id(&id)).await,
        AppCmd::Why { id } => why::why(&api, &c, &app_id(&id)).await,
    }
}

async fn list(api: &Client, c: &MarathonArgs) -> Result<(), Error> {
    let v: Apps = api.get("/v2/apps").await?;
    let mut apps = v.apps;
    apps.sort_by(|a, b| a.def.id.cmp(&b.def.id));
    if c.json {
        print_json(&apps);
        return Ok(());
    }
    outln!("{}", apps_table(apps.iter().map(|a| &a.view)));
    if apps.is_empty() {
        outln!("no apps (add one with `drover app add app.json`)");
    }
    Ok(())
}

fn apps_table<'a>(apps: impl Iterator<Item = &'a AppStatus>) -> Table {
    let mut t = table(&[
        "ID",
        "INSTANCES",
        "HEALTH",
        "CPUS",
        "MEM (MiB)",
        "DEPLOYMENTS",
        "CMD",
    ]);
    for a in apps {
        let health = if has_health_checks(a) {
            format!("{} ok, {} bad", a.tasks_healthy, a.tasks_unhealthy)
        } else {
            "-".into()
        };
        let deps: Vec<&str> = a.deployments.iter().map(|d| short(&d.id)).collect();
        t.add_row(vec![
            a.def.id.clone(),
            format!("{}/{}", a.tasks_running, a.def.instances),
            health,
            num(a.def.cpus),
            num(a.def.mem),
            if deps.is_empty() {
                "-".into()
            } else {
                deps.join(",")
            },
            truncate(&command_of(a), 40),
        ]);
    }
    t
}

async fn add(
    api: &Client,
    c: &MarathonArgs,
    file: &Path,
    dry_run: bool,
    wait: &WaitArgs,
) -> Result<(), Error> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| Error::usage(format!("cannot read the app definition from stdin: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| Error::usage(format!("cannot read {}: {e}", file.display())))?
    };
    // Sent as written; read here only to refuse what cannot be an app definition.
    let def: Value = serde_json::from_str(&text)
        .map_err(|e| Error::usage(format!("{} is not valid JSON: {e}", file.display())))?;
    if !def.is_object() {
        return Err(Error::usage(format!(
            "{} must hold one app definition (a JSON object with id, cmd, instances, ...)",
            file.display()
        )));
    }
    if dry_run {
        let a = api
            .send_ok(
                Method::POST,
                "/v2/apps",
                &[("dryRun", "true")],
                Some(text.into_bytes()),
            )
            .await?;
        return dry_run::print_plan(api, c, "adding", a);
    }
    let feed = if wait.no_wait {
        EventFeed::none()
    } else {
        EventFeed::subscribe(api).await
    };
    let created: Received<AppStatus> = api
        .call(Method::POST, "/v2/apps", &[], Some(text.into_bytes()))
        .await?;
    let id = created.def.id.clone();
    let dep = created
        .deployments
        .first()
        .map(|d| d.id.clone())
        .unwrap_or_default();
    if c.json {
        print_json(&created);
    } else {
        outln!("created {id}: deployment {dep}");
    }
    finish(api, c, &feed, wait, &dep, vec![id], "deployed").await
}

/// A change that starts a deployment: sent, its id printed, waited for unless --no-wait.
struct Change {
    method: Method,
    sub: &'static str,
    force: bool,
    body: Option<Value>,
    /// The success line's verb: `/web updated: 3/3 running`.
    done: &'static str,
    /// Send it as a dry run (only PUT has one) and print the plan, its summary saying
    /// `updating /web`: nothing changes and nothing is waited for.
    dry_run: Option<&'static str>,
}

impl Change {
    async fn send(
        self,
        api: &Client,
        c: &MarathonArgs,
        id: &str,
        wait: &WaitArgs,
    ) -> Result<(), Error> {
        let mut query = vec![];
        if self.force {
            query.push(("force", "true"));
        }
        let body = self.body.map(|b| b.to_string().into_bytes());
        if let Some(doing) = self.dry_run {
            query.push(("dryRun", "true"));
            let a = app_send(api, id, self.method, self.sub, &query, body).await?;
            return dry_run::print_plan(api, c, doing, a);
        }
        let query = &query[..];
        let feed = if wait.no_wait {
            EventFeed::none()
        } else {
            EventFeed::subscribe(api).await
        };
        let started: Option<Received<DeploymentStarted>> =
            app_call(api, id, self.method, self.sub, query, body).await?;
        let dep = started
            .as_ref()
            .and_then(|s| s.deployment_id.clone())
            .unwrap_or_default();
        if c.json {
            print_json(&started);
        } else {
            outln!("{id}: deployment {dep}");
        }
        finish(api, c, &feed, wait, &dep, vec![id.to_string()], self.done).await
    }
}

/// Wait for the deployment `dep` a change started, unless told not to.
pub(crate) async fn finish(
    api: &Client,
    c: &MarathonArgs,
    feed: &EventFeed,
    wait: &WaitArgs,
    dep: &str,
    apps: Vec<String>,
    done: &str,
) -> Result<(), Error> {
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
    wait_for(
        api,
        feed,
        vec![w],
        crate::args::secs(wait.timeout)?,
        !c.json,
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;
    use serde_json::json;

    #[test]
    fn the_apps_table_shows_counts_health_deployments_and_command() {
        let v: Apps = serde_json::from_value(json!({"apps": [
            {"id": "/web", "cmd": "python3 -m http.server $PORT0 --bind 0.0.0.0 --directory /srv/www", "instances": 3,
             "cpus": 0.1, "mem": 64, "tasksRunning": 2, "tasksHealthy": 1, "tasksUnhealthy": 1,
             "healthChecks": [{"protocol": "HTTP", "path": "/"}], "deployments": [{"id": "0123456789abcdef"}]},
            {"id": "/img", "instances": 1, "cpus": 1, "mem": 128, "tasksRunning": 1,
             "container": {"type": "DOCKER", "docker": {"image": "nginx:1"}}}
        ]}))
        .unwrap();
        let t = apps_table(v.apps.iter().map(|a| &a.view));
        assert_eq!(
            cells(&t),
            [
                [
                    "/web",
                    "2/3",
                    "1 ok, 1 bad",
                    "0.10",
                    "64",
                    "01234567",
                    "python3 -m http.server $PORT0 --bind 0.…"
                ],
                ["/img", "1/1", "-", "1", "128", "-", "(image nginx:1)"],
            ]
        );
    }

    #[test]
    fn app_ids_get_one_leading_slash() {
        assert_eq!(app_id("web"), "/web");
        assert_eq!(app_id("/prod/web/"), "/prod/web");
    }
}
