//! Task building: one Mesos `TaskInfo` of an app from what is left of an offer, or the reason
//! it does not fit (Marathon's names: roles, resources, constraints, ports): resources, dynamic
//! ports picked from the offer, Marathon's environment, fetch URIs, labels, discovery, the
//! Docker container and the Mesos health check the agent runs.

use super::Marathon;
use crate::constraints::{self, AgentFacts};
use crate::validate::{hostname_of, task_prefix};
use drover_api::container::{DockerInfo, Extra, NetworkInfo, PortMapping, Volume};
use drover_api::marathon::App;
use drover_api::*;
use serde_json::{json, Value};

/// Why an offer (or what is left of it) cannot take one more task of an app: Marathon's names
/// for the reasons, as `/v2/queue` shows them with the offers an app did not use.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NoFit {
    #[error("UnfulfilledRole")]
    UnfulfilledRole,
    #[error("InsufficientCpus")]
    InsufficientCpus,
    #[error("InsufficientMemory")]
    InsufficientMemory,
    #[error("InsufficientDisk")]
    InsufficientDisk,
    #[error("InsufficientGpus")]
    InsufficientGpus,
    #[error("UnfulfilledConstraint: {0}")]
    UnfulfilledConstraint(#[from] constraints::Unmet),
    #[error("InsufficientPorts")]
    InsufficientPorts,
    #[error("InsufficientResources")]
    InsufficientResources,
    /// A resident app's instances wait for offers carrying their reservations.
    #[error("NoCorrespondingReservationFound")]
    NoCorrespondingReservationFound,
}

impl Marathon {
    /// The agents an app's live instances run on (with repeats): what its constraints see.
    pub(super) fn placed(&self, app_id: &str) -> Vec<AgentFacts> {
        self.app_instances(app_id)
            .into_iter()
            .filter(|i| !i.state.is_terminal() && !i.killing)
            .map(|i| {
                self.agents.get(&i.agent_id).cloned().unwrap_or(AgentFacts {
                    agent_id: i.agent_id.clone(),
                    hostname: i.host.clone(),
                    attributes: vec![],
                })
            })
            .collect()
    }

    /// One task of `app` from what is left of an offer, or why not (Marathon's reason names).
    pub(super) fn build_task(
        &self,
        app: &App,
        offer: &Offer,
        facts: &AgentFacts,
        remaining: &Resources,
        pending: &[TaskInfo],
    ) -> Result<(TaskInfo, Resources, Vec<u32>), NoFit> {
        // The offer is allocated to the app's role (`launch.rs` sees to it). Marathon matches
        // resources by their reservation role: only those of an accepted role are used (all
        // of them when the app names none).
        let role = self.offer_role(offer);
        let pool = accepted(remaining, app.accepted_resource_roles.as_deref());
        // Revocable resources only for apps that opted in, and then for cpus and mem only.
        let pool = by_revocability(&pool, wants_revocable(app));
        if pool.is_empty() {
            return Err(NoFit::UnfulfilledRole);
        }
        let remaining = &pool;
        for (name, need, reason) in [
            ("cpus", app.cpus, NoFit::InsufficientCpus),
            ("mem", app.mem, NoFit::InsufficientMemory),
            ("disk", app.disk, NoFit::InsufficientDisk),
            ("gpus", f64::from(app.gpus), NoFit::InsufficientGpus),
        ] {
            if need > 0.0 && resources::to_fixed(remaining.scalar(name)) < resources::to_fixed(need)
            {
                return Err(reason);
            }
        }
        // Constraints see the app's live instances plus what this offer already got.
        let mut placed = self.placed(&app.id);
        let prefix = format!("{}.", task_prefix(&app.id));
        for _ in pending
            .iter()
            .filter(|t| t.task_id.value.starts_with(&prefix))
        {
            placed.push(facts.clone());
        }
        let refs: Vec<&AgentFacts> = placed.iter().collect();
        constraints::check(&app.constraints, facts, &refs)?;
        // Ports.
        let defs = app.host_ports();
        let mut free = remaining.ranges("ports");
        let mut ports = Vec::new();
        // Dynamic ports are drawn at random from what is offered (as Marathon does), so tasks
        // sharing a host do not all fight over the first port of the range.
        let task_uuid = self.ids.next_id();
        let mut seed = u64::from_le_bytes(task_uuid.as_bytes()[..8].try_into().unwrap_or([7; 8]));
        for d in &defs {
            let want = if d.port != 0 && app.require_ports {
                Some(d.port as u64)
            } else {
                None
            };
            let pick = match want {
                Some(p) => free.iter().any(|r| r.begin <= p && p <= r.end).then_some(p),
                None => {
                    let total = resources::ranges_len(&free);
                    (total > 0).then(|| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        nth_port(&free, (seed >> 33) % total)
                    })
                }
            };
            let Some(p) = pick else {
                return Err(NoFit::InsufficientPorts);
            };
            free = resources::subtract_ranges(&free, &[Range { begin: p, end: p }]);
            ports.push(p as u32);
        }
        let mut res = Vec::new();
        for (name, need) in [
            ("cpus", app.cpus),
            ("mem", app.mem),
            ("disk", app.disk),
            ("gpus", f64::from(app.gpus)),
        ] {
            if need > 0.0 || name == "cpus" || name == "mem" {
                res.extend(take_scalar(remaining, name, need));
            }
        }
        res.extend(take_ports(remaining, &ports));
        let mut used = Resources::new();
        for r in &mut res {
            r.allocation_info = Some(AllocationInfo {
                role: Some(role.clone()),
            });
            used.add(r);
        }
        if !remaining.contains(&used) {
            return Err(NoFit::InsufficientResources);
        }
        let task_id = format!("{}.{}", task_prefix(&app.id), task_uuid);
        let mut env: Vec<Variable> = Vec::new();
        let mut put = |k: String, v: String| {
            env.push(Variable {
                name: k,
                kind: None,
                value: v,
            })
        };
        for (k, v) in &app.env {
            if let Some(s) = v.as_str() {
                put(k.clone(), s.to_string());
            }
        }
        put("MARATHON_APP_ID".into(), app.id.clone());
        put(
            "MARATHON_APP_VERSION".into(),
            app.version.clone().unwrap_or_default(),
        );
        put("MARATHON_APP_RESOURCE_CPUS".into(), app.cpus.to_string());
        put("MARATHON_APP_RESOURCE_MEM".into(), app.mem.to_string());
        put("MARATHON_APP_RESOURCE_DISK".into(), app.disk.to_string());
        put("MARATHON_APP_RESOURCE_GPUS".into(), app.gpus.to_string());
        put(
            "MARATHON_APP_LABELS".into(),
            app.labels
                .keys()
                .map(|k| k.to_uppercase())
                .collect::<Vec<_>>()
                .join(" "),
        );
        for (k, v) in &app.labels {
            let key: String = k
                .to_uppercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            put(format!("MARATHON_APP_LABEL_{key}"), v.clone());
        }
        if let Some(img) = app
            .container
            .as_ref()
            .and_then(|c| c.get("docker"))
            .and_then(|d| d.get("image"))
            .and_then(|i| i.as_str())
        {
            put("MARATHON_APP_DOCKER_IMAGE".into(), img.to_string());
        }
        put("MESOS_TASK_ID".into(), task_id.clone());
        put("HOST".into(), offer.hostname.clone());
        for (i, p) in ports.iter().enumerate() {
            put(format!("PORT{i}"), p.to_string());
            if let Some(n) = &defs[i].name {
                put(
                    format!("PORT_{}", n.to_uppercase().replace('-', "_")),
                    p.to_string(),
                );
            }
            if defs[i].port != 0 {
                put(format!("PORT_{}", defs[i].port), p.to_string());
            }
        }
        if let Some(p) = ports.first() {
            put("PORT".into(), p.to_string());
        }
        put(
            "PORTS".into(),
            ports
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        let mut uris: Vec<CommandURI> = app
            .fetch
            .iter()
            .map(|f| CommandURI {
                value: f.uri.clone(),
                executable: Some(f.executable),
                extract: Some(f.extract),
                cache: Some(f.cache),
                output_file: f.dest_path.clone(),
            })
            .collect();
        uris.extend(app.uris.iter().map(|u| CommandURI {
            value: u.clone(),
            executable: None,
            extract: Some(true),
            cache: None,
            output_file: None,
        }));
        let command = match (&app.cmd, &app.args) {
            (Some(cmd), _) => CommandInfo {
                value: Some(cmd.clone()),
                shell: Some(true),
                ..Default::default()
            },
            (None, Some(args)) => CommandInfo {
                shell: Some(false),
                value: args.first().cloned(),
                arguments: args.clone(),
                ..Default::default()
            },
            (None, None) => CommandInfo {
                shell: Some(false),
                ..Default::default()
            },
        };
        let command = CommandInfo {
            uris,
            environment: Some(Environment { variables: env }),
            user: app.user.clone(),
            ..command
        };
        let labels: Vec<Label> = app
            .labels
            .iter()
            .map(|(k, v)| Label {
                key: k.clone(),
                value: Some(v.clone()),
            })
            .collect();
        let discovery = json!({
            "visibility": "FRAMEWORK", "name": hostname_of(&app.id),
            "ports": {"ports": defs.iter().zip(&ports).map(|(d, p)| {
                let mut v = json!({"number": p, "protocol": d.protocol});
                if let Some(n) = &d.name { v["name"] = json!(n); }
                v
            }).collect::<Vec<_>>()},
        });
        let task = TaskInfo {
            name: hostname_of(&app.id),
            task_id: TaskID::new(task_id),
            agent_id: offer.agent_id.clone(),
            resources: res,
            executor: None,
            command: Some(command),
            container: mesos_container(app, &ports),
            health_check: app
                .health_checks
                .first()
                .and_then(|hc| mesos_health_check(hc, &ports)),
            check: None,
            kill_policy: app.task_kill_grace_period_seconds.map(|g| KillPolicy {
                grace_period: Some(DurationInfo {
                    nanoseconds: u64::from(g) * 1_000_000_000,
                }),
            }),
            data: None,
            labels: if labels.is_empty() {
                None
            } else {
                Some(Labels { labels })
            },
            discovery: Some(discovery),
            max_completion_time: None,
        };
        Ok((task, used, ports))
    }
}

/// Marathon's `container` as the Mesos `ContainerInfo` the agent runs: a Docker image with its
/// network, port mappings onto the ports taken from the offer, volumes and parameters.
fn mesos_container(app: &App, ports: &[u32]) -> Option<Value> {
    let c = app.container.as_ref()?;
    if !app.is_docker() {
        return Some(
            ContainerInfo {
                kind: Some(ContainerType::MESOS),
                ..Default::default()
            }
            .into(),
        );
    }
    let d = c.get("docker").cloned().unwrap_or(json!({}));
    let network = app.docker_network();
    let port_mappings: Vec<PortMapping> = if network == "HOST" {
        vec![]
    } else {
        app.port_mappings()
            .iter()
            .zip(ports)
            .map(|(m, host)| PortMapping {
                host_port: u64::from(*host),
                container_port: m
                    .get("containerPort")
                    .and_then(|p| p.as_u64())
                    .filter(|p| *p != 0)
                    .unwrap_or(u64::from(*host)),
                protocol: Some(
                    m.get("protocol")
                        .and_then(|p| p.as_str())
                        .unwrap_or("tcp")
                        .into(),
                ),
                extra: Extra::new(),
            })
            .collect()
    };
    let volumes: Vec<Volume> = c
        .get("volumes")
        .and_then(|v| v.as_array())
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    let mut extra = Extra::new();
                    let container_path =
                        typed(&mut extra, "container_path", v.get("containerPath")?);
                    let host_path = typed(&mut extra, "host_path", v.get("hostPath")?);
                    Some(Volume {
                        container_path: container_path.unwrap_or_default(),
                        host_path,
                        mode: Some(
                            v.get("mode")
                                .and_then(|m| m.as_str())
                                .unwrap_or("RW")
                                .into(),
                        ),
                        extra,
                        ..Default::default()
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    // Marathon passes on what it does not check as it is; the agent refuses what it cannot use.
    let mut extra = Extra::new();
    let field = |marathon: &str, default: Value| d.get(marathon).cloned().unwrap_or(default);
    let (image, privileged, force_pull, parameters) = (
        field("image", Value::Null),
        field("privileged", json!(false)),
        field("forcePullImage", json!(false)),
        field("parameters", json!([])),
    );
    let docker = DockerInfo {
        image: typed(&mut extra, "image", &image),
        network: Some(network.clone()),
        port_mappings: Some(port_mappings),
        privileged: typed(&mut extra, "privileged", &privileged),
        parameters: typed(&mut extra, "parameters", &parameters),
        force_pull_image: typed(&mut extra, "force_pull_image", &force_pull),
        extra,
    };
    let network_infos = (network == "USER")
        .then(|| {
            app.networks
                .as_ref()
                .and_then(|n| n.get(0))
                .and_then(|n| n.get("name"))
                .and_then(|n| n.as_str())
                .map(|name| {
                    vec![NetworkInfo {
                        name: Some(name.into()),
                        extra: Extra::new(),
                    }]
                })
        })
        .flatten();
    Some(
        ContainerInfo {
            kind: Some(ContainerType::DOCKER),
            docker: Some(docker),
            volumes: Some(volumes),
            network_infos,
            ..Default::default()
        }
        .into(),
    )
}

/// `v` as a `T`; a value of another shape is kept as it is in `extra` under `key` (where it is
/// written in the field's place: `extra` is written last, and `Value::from` keeps the last).
fn typed<T: serde::de::DeserializeOwned>(extra: &mut Extra, key: &str, v: &Value) -> Option<T> {
    match serde_json::from_value(v.clone()) {
        Ok(t) => Some(t),
        Err(_) => {
            extra.insert(key.into(), v.clone());
            None
        }
    }
}

/// Marathon's MESOS_HTTP / MESOS_HTTPS / MESOS_TCP / COMMAND checks, as the Mesos `HealthCheck`
/// the agent runs next to the task (so they scale with the cluster, not with Marathon).
fn mesos_health_check(hc: &drover_api::marathon::HealthCheck, ports: &[u32]) -> Option<Value> {
    let port = hc
        .port
        .or_else(|| ports.get(hc.port_index.unwrap_or(0) as usize).copied());
    let mut v = json!({
        "delay_seconds": hc.delay_seconds, "interval_seconds": hc.interval_seconds,
        "timeout_seconds": hc.timeout_seconds, "consecutive_failures": hc.max_consecutive_failures,
        "grace_period_seconds": hc.grace_period_seconds,
    });
    match hc.protocol.as_str() {
        "MESOS_HTTP" | "MESOS_HTTPS" => {
            v["type"] = json!("HTTP");
            v["http"] = json!({"port": port?, "path": hc.path.clone().unwrap_or_else(|| "/".into()),
                               "scheme": if hc.protocol == "MESOS_HTTPS" { "https" } else { "http" }});
        }
        "MESOS_TCP" => {
            v["type"] = json!("TCP");
            v["tcp"] = json!({"port": port?});
        }
        "COMMAND" => {
            v["type"] = json!("COMMAND");
            let cmd = hc.command.as_ref()?;
            v["command"] = match cmd.get("value") {
                Some(_) => json!({"value": cmd["value"], "shell": true}),
                None => json!({"value": cmd, "shell": true}),
            };
        }
        _ => return None,
    }
    Some(v)
}

/// The `n`th port of a coalesced range list.
fn nth_port(ranges: &[Range], mut n: u64) -> u64 {
    for r in ranges {
        let len = r.end - r.begin + 1;
        if n < len {
            return r.begin + n;
        }
        n -= len;
    }
    ranges.last().map(|r| r.end).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn container(app: Value, ports: &[u32]) -> Option<Value> {
        mesos_container(&serde_json::from_value(app).unwrap(), ports)
    }

    #[test]
    fn a_docker_app_becomes_the_container_info_the_agent_runs() {
        let app = json!({"id": "/web", "container": {"type": "DOCKER",
            "docker": {"image": "nginx:1", "network": "BRIDGE", "privileged": true,
                "parameters": [{"key": "label", "value": "team=a"}],
                "portMappings": [{"containerPort": 80, "hostPort": 0}, {"containerPort": 0, "protocol": "udp"}]},
            "volumes": [{"containerPath": "/data", "hostPath": "/srv", "mode": "RO"},
                        {"containerPath": "cache", "hostPath": "c"}, {"containerPath": "/no-host"}]}});
        assert_eq!(
            container(app, &[31000, 31001]),
            Some(json!({"type": "DOCKER",
                "docker": {"image": "nginx:1", "network": "BRIDGE", "privileged": true,
                    "force_pull_image": false, "parameters": [{"key": "label", "value": "team=a"}],
                    "port_mappings": [{"host_port": 31000, "container_port": 80, "protocol": "tcp"},
                                      {"host_port": 31001, "container_port": 31001, "protocol": "udp"}]},
                "volumes": [{"container_path": "/data", "host_path": "/srv", "mode": "RO"},
                            {"container_path": "cache", "host_path": "c", "mode": "RW"}]}))
        );
        let user = json!({"id": "/u", "container": {"type": "DOCKER", "docker": {"image": "x"}},
            "networks": [{"mode": "container", "name": "mynet"}]});
        assert_eq!(
            container(user, &[]),
            Some(json!({"type": "DOCKER",
                "docker": {"image": "x", "network": "USER", "privileged": false,
                    "force_pull_image": false, "parameters": [], "port_mappings": []},
                "volumes": [], "network_infos": [{"name": "mynet"}]}))
        );
        assert_eq!(
            container(json!({"id": "/m", "container": {"type": "MESOS"}}), &[]),
            Some(json!({"type": "MESOS"}))
        );
        assert_eq!(container(json!({"id": "/p"}), &[]), None);
    }

    #[test]
    fn what_marathon_does_not_check_is_passed_on_as_it_is() {
        let odd = json!({"id": "/o", "container": {"type": "DOCKER",
            "docker": {"image": "x", "privileged": "yes", "parameters": [{"key": 1}]}}});
        let c = container(odd, &[]).unwrap();
        assert_eq!(c["docker"]["privileged"], "yes");
        assert_eq!(c["docker"]["parameters"], json!([{"key": 1}]));
    }
}

/// The label an app opts in to revocable resources with (Drover's: Marathon has none).
pub const REVOCABLE_LABEL: &str = "DROVER_REVOCABLE";

/// Whether `app` runs on revocable cpus and mem (oversubscribed slack the agent may take back,
/// ending the task with REASON_CONTAINER_PREEMPTED).
pub fn wants_revocable(app: &App) -> bool {
    app.labels
        .get(REVOCABLE_LABEL)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// What of `offered` an app may use: an app on revocable resources takes its cpus and mem only
/// from revocable ones (the rest from the others); any other app never takes revocable ones.
fn by_revocability(offered: &Resources, revocable: bool) -> Resources {
    let list: Vec<Resource> = offered
        .iter()
        .filter(|r| {
            let slack = matches!(r.name.as_str(), "cpus" | "mem");
            r.revocable.is_some() == (revocable && slack)
        })
        .cloned()
        .collect();
    Resources::from_list(&list)
}

/// The resources of `offered` whose reservation role is accepted (`*` is unreserved); all of them
/// when no roles are given.
fn accepted(offered: &Resources, roles: Option<&[String]>) -> Resources {
    let Some(roles) = roles else {
        return offered.clone();
    };
    let list: Vec<Resource> = offered
        .iter()
        .filter(|r| roles.iter().any(|a| a == r.reservation_role()))
        .cloned()
        .collect();
    Resources::from_list(&list)
}

/// `need` of scalar `name` from `pool`, reserved resources first (as Marathon's resource
/// matcher does), each part keeping its reservation. The caller checks that it all fits.
fn take_scalar(pool: &Resources, name: &str, need: f64) -> Vec<Resource> {
    let mut left = resources::to_fixed(need);
    let mut have: Vec<&Resource> = pool
        .iter()
        .filter(|r| r.name == name && r.scalar.is_some())
        .collect();
    have.sort_by_key(|r| r.reservation_role() == "*");
    let mut out = Vec::new();
    for r in have {
        if left <= 0 {
            break;
        }
        let v = r
            .scalar
            .map_or(0, |s| resources::to_fixed(s.value))
            .min(left);
        if v <= 0 {
            continue;
        }
        let mut part = r.clone();
        part.scalar = Some(drover_api::Scalar {
            value: resources::from_fixed(v),
        });
        out.push(part);
        left -= v;
    }
    if left > 0 || out.is_empty() {
        // Not enough: the rest as plain unreserved, so that `contains` says no (or, for a need
        // of 0, an empty cpus/mem as before).
        out.push(Resource::scalar(name, resources::from_fixed(left.max(0))));
    }
    out
}

/// The `ports` resources holding `ports`, each part under the reservation it was offered with.
fn take_ports(pool: &Resources, ports: &[u32]) -> Vec<Resource> {
    if ports.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Resource> = Vec::new();
    let mut rest: Vec<Range> = Vec::new();
    for &p in ports {
        let p = u64::from(p);
        let one = Range { begin: p, end: p };
        let holder = pool.iter().find(|r| {
            r.name == "ports"
                && r.ranges
                    .as_ref()
                    .is_some_and(|x| x.range.iter().any(|q| q.begin <= p && p <= q.end))
        });
        match holder {
            Some(h) => match out.iter_mut().find(|o| {
                o.reservation_role() == h.reservation_role() && o.reservations == h.reservations
            }) {
                Some(o) => {
                    if let Some(x) = o.ranges.as_mut() {
                        x.range = resources::coalesce([x.range.clone(), vec![one]].concat());
                    }
                }
                None => {
                    let mut part = h.clone();
                    part.ranges = Some(drover_api::Ranges { range: vec![one] });
                    out.push(part);
                }
            },
            None => rest.push(one),
        }
    }
    if !rest.is_empty() {
        out.push(Resource::ranges("ports", resources::coalesce(rest)));
    }
    out
}
