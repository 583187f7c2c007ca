//! `drover deployment ...`: Marathon's running deployments — list them, follow one (or all)
//! until it ends, roll one back or cancel it. The waiting itself, shared with the app commands
//! that start deployments, is in [`wait`].

pub(crate) mod wait;

use crate::app::finish;
use crate::args::{secs, MarathonArgs, WaitArgs};
use crate::client::Client;
use crate::error::{Error, Server};
use crate::render::{outln, print_json, table};
use crate::views::{Deployment, DeploymentStarted, Received};
use clap::Subcommand;
use comfy_table::Table;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use wait::{wait_for, EventFeed, Watched};

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

/// `deployment watch --json`: each deployment waited for, and how it ended.
#[derive(Serialize)]
struct Outcome<'a> {
    id: &'a str,
    result: &'static str,
}

/// `deployment rollback --force --json`: the deployment cancelled.
#[derive(Serialize)]
struct Cancelled<'a> {
    cancelled: &'a str,
}

pub async fn deployment(cmd: DeploymentCmd, c: MarathonArgs) -> Result<(), Error> {
    let api = Client::new(Server::Marathon, &c.marathon)?;
    match cmd {
        DeploymentCmd::List => {
            let list: Vec<Received<Deployment>> = api.get("/v2/deployments").await?;
            if c.json {
                print_json(&list);
                return Ok(());
            }
            outln!("{}", deployments_table(list.iter().map(|d| &d.view)));
            if list.is_empty() {
                outln!("no deployment is running");
            }
            Ok(())
        }
        DeploymentCmd::Watch { id, timeout } => {
            let timeout = secs(timeout)?;
            let feed = EventFeed::subscribe(&api).await;
            let list: Vec<Deployment> = api.get("/v2/deployments").await?;
            let chosen: Vec<Deployment> = match id {
                Some(p) => vec![resolve(&list, &p)?.clone()],
                None => list,
            };
            if chosen.is_empty() {
                if c.json {
                    print_json(&Vec::<Outcome>::new());
                    return Ok(());
                }
                outln!("no deployment is running");
                return Ok(());
            }
            let watched = chosen
                .into_iter()
                .map(|d| Watched::new(d.id, d.affected_apps, "deployed"))
                .collect();
            let ended = wait_for(&api, &feed, watched, timeout, !c.json).await?;
            if c.json {
                let outcomes: Vec<Outcome> = ended
                    .iter()
                    .map(|id| Outcome {
                        id,
                        result: "success",
                    })
                    .collect();
                print_json(&outcomes);
            }
            Ok(())
        }
        DeploymentCmd::Rollback { id, force, wait } => {
            let list: Vec<Deployment> = api.get("/v2/deployments").await?;
            let d = resolve(&list, &id)?;
            let did = d.id.as_str();
            let apps = d.affected_apps.clone();
            let feed = if wait.no_wait || force {
                EventFeed::none()
            } else {
                EventFeed::subscribe(&api).await
            };
            let query: &[(&str, &str)] = if force { &[("force", "true")] } else { &[] };
            let a = api
                .send(
                    Method::DELETE,
                    &format!("/v2/deployments/{did}"),
                    query,
                    None,
                )
                .await?;
            match a.status {
                StatusCode::NOT_FOUND => {
                    return Err(Error::not_found(
                        format!("deployment {did} has already ended"),
                        None,
                    ))
                }
                s if !s.is_success() => return Err(api.refused(a)),
                _ => {}
            }
            let started: Option<Received<DeploymentStarted>> = api.decode(a)?;
            if c.json {
                match &started {
                    Some(s) => print_json(s),
                    None => print_json(&Cancelled { cancelled: did }),
                }
            }
            let new = started
                .as_ref()
                .and_then(|s| s.deployment_id.clone())
                .unwrap_or_default();
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

fn deployments_table<'a>(list: impl Iterator<Item = &'a Deployment>) -> Table {
    let mut t = table(&["ID", "APPS", "STEP", "CURRENT ACTIONS", "VERSION"]);
    for d in list {
        let actions: Vec<String> = d
            .current_actions
            .iter()
            .map(|a| format!("{} {}", a.action, a.app))
            .collect();
        t.add_row(vec![
            d.id.clone(),
            d.affected_apps.join(", "),
            format!("{}/{}", d.current_step, d.total_steps),
            actions.join(", "),
            d.version.clone(),
        ]);
    }
    t
}

/// A deployment by id or unique id prefix.
fn resolve<'a>(list: &'a [Deployment], p: &str) -> Result<&'a Deployment, Error> {
    if let Some(d) = list.iter().find(|d| d.id == p) {
        return Ok(d);
    }
    let m: Vec<&Deployment> = list.iter().filter(|d| d.id.starts_with(p)).collect();
    let ids = |l: &mut dyn Iterator<Item = &Deployment>| {
        l.map(|d| d.id.as_str()).collect::<Vec<_>>().join(", ")
    };
    match m.as_slice() {
        [one] => Ok(one),
        [] if list.is_empty() => Err(Error::not_found(
            format!("no deployment matches '{p}': none is running"),
            None,
        )),
        [] => Err(Error::not_found(
            format!(
                "no deployment matches '{p}' (running: {})",
                ids(&mut list.iter())
            ),
            None,
        )),
        many => Err(Error::Usage {
            message: format!(
                "'{p}' matches several deployments: {}",
                ids(&mut many.iter().copied())
            ),
            hint: Some("give more of the deployment id".into()),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;
    use serde_json::json;

    fn deployments() -> Vec<Deployment> {
        serde_json::from_value(json!([
            {"id": "abc-1", "version": "v1", "affectedApps": ["/web"], "currentStep": 1, "totalSteps": 2,
             "currentActions": [{"action": "ScaleApplication", "app": "/web"}]},
            {"id": "abd-2", "version": "v2", "affectedApps": ["/a", "/b"], "currentStep": 1, "totalSteps": 1,
             "currentActions": [{"action": "StartApplication", "app": "/a"}, {"action": "StartApplication", "app": "/b"}]}
        ]))
        .unwrap()
    }

    #[test]
    fn the_deployments_table_shows_apps_step_and_actions() {
        let list = deployments();
        let t = deployments_table(list.iter());
        assert_eq!(
            cells(&t),
            [
                ["abc-1", "/web", "1/2", "ScaleApplication /web", "v1"],
                [
                    "abd-2",
                    "/a, /b",
                    "1/1",
                    "StartApplication /a, StartApplication /b",
                    "v2"
                ],
            ]
        );
    }

    #[test]
    fn deployments_resolve_by_id_or_unique_prefix() {
        let list = deployments();
        assert_eq!(resolve(&list, "abd").unwrap().id, "abd-2");
        assert_eq!(resolve(&list, "abc-1").unwrap().id, "abc-1");
        let e = resolve(&list, "ab").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("abc-1, abd-2"), "{e}");
        let e = resolve(&list, "zz").unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("running: abc-1, abd-2"), "{e}");
        assert!(resolve(&[], "x")
            .unwrap_err()
            .to_string()
            .contains("none is running"));
    }
}
