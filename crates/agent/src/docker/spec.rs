//! What to create for a task: its `TaskInfo` and container info (read as the typed
//! `drover_api::ContainerInfo`) → the Engine's container config, checked (pure: no Engine, no
//! I/O).

use super::error::SpecError;
use super::SANDBOX_IN_CONTAINER;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, PortBinding};
use drover_api::*;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Docker's smallest memory limit.
const MIN_MEMORY_BYTES: i64 = 6 << 20;

/// Where a container comes from and how it is made.
#[derive(Debug)]
pub(crate) struct Spec {
    pub image: String,
    pub force_pull: bool,
    pub body: ContainerCreateBody,
}

fn parse_bool(key: &str, v: &str) -> Result<bool, SpecError> {
    match v.trim() {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(SpecError::NotABool {
            key: key.to_string(),
            value: other.to_string(),
        }),
    }
}

/// Build the container for task `t` in `sandbox` (its host path). `env` is what the agent gives
/// command tasks; `labels` identify the container.
pub(crate) fn build_spec(
    t: &TaskInfo,
    env: &[(String, String)],
    sandbox: &Path,
    work_dir: &Path,
    labels: HashMap<String, String>,
    allow_privileged: bool,
) -> Result<Spec, SpecError> {
    let c = t
        .container_info()
        .map_err(SpecError::UnreadableContainerInfo)?
        .unwrap_or_default();
    let d = c.docker.ok_or(SpecError::NoDocker)?;
    let image = d.image.as_deref().unwrap_or_default().trim().to_string();
    let port_mappings = d.port_mappings.unwrap_or_default();
    if image.is_empty() {
        return Err(SpecError::NoImage);
    }
    let mut labels = labels;
    let mut env_extra: Vec<(String, String)> = Vec::new();
    let mut hostname = c.hostname.clone().filter(|h| !h.is_empty());
    let mut user = None;
    let mut workdir = None;
    let mut entrypoint = None;
    let mut host = HostConfig::default();
    let mut privileged = d.privileged.unwrap_or(false);
    let push =
        |v: &mut Option<Vec<String>>, s: &str| v.get_or_insert_with(Vec::new).push(s.to_string());
    for p in d.parameters.iter().flatten() {
        let key = p.key.trim().trim_start_matches('-');
        let value = p.value.as_str();
        match key {
            "label" | "l" => {
                let (k, v) = value.split_once('=').unwrap_or((value, ""));
                if k.starts_with("drover.") {
                    return Err(SpecError::ReservedLabel {
                        label: k.to_string(),
                    });
                }
                labels.insert(k.to_string(), v.to_string());
            }
            "env" | "e" => {
                let (k, v) = value.split_once('=').ok_or_else(|| SpecError::BadEnv {
                    value: value.to_string(),
                })?;
                env_extra.push((k.to_string(), v.to_string()));
            }
            "hostname" | "h" => hostname = Some(value.to_string()),
            "user" | "u" => user = Some(value.to_string()),
            "workdir" | "w" => workdir = Some(value.to_string()),
            "entrypoint" => {
                entrypoint = Some(if value.is_empty() {
                    vec![]
                } else {
                    vec![value.to_string()]
                })
            }
            "add-host" => push(&mut host.extra_hosts, value),
            "cap-add" => push(&mut host.cap_add, value),
            "cap-drop" => push(&mut host.cap_drop, value),
            "dns" => push(&mut host.dns, value),
            "init" => host.init = Some(parse_bool(key, value)?),
            "read-only" => host.readonly_rootfs = Some(parse_bool(key, value)?),
            "privileged" => privileged = parse_bool(key, value)?,
            other => {
                return Err(SpecError::UnsupportedParameter {
                    key: other.to_string(),
                })
            }
        }
    }
    if privileged && !allow_privileged {
        return Err(SpecError::PrivilegedNotAllowed);
    }
    if privileged {
        host.privileged = Some(true);
    }

    // Network and ports.
    let network = d.network.as_deref().unwrap_or("HOST").to_ascii_uppercase();
    host.network_mode = Some(match network.as_str() {
        "HOST" => "host".to_string(),
        "BRIDGE" => "bridge".to_string(),
        "NONE" => "none".to_string(),
        "USER" => c
            .network_infos
            .iter()
            .flatten()
            .find_map(|n| n.name.clone().filter(|n| !n.is_empty()))
            .ok_or(SpecError::UserNetworkWithoutName)?,
        other => {
            return Err(SpecError::UnknownNetwork {
                network: other.to_string(),
            })
        }
    });
    let mut exposed: Vec<String> = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    if !port_mappings.is_empty() && matches!(network.as_str(), "HOST" | "NONE") {
        return Err(SpecError::PortMappingsNeedBridge { network });
    }
    let ports = Resources::from_list(&t.resources).ranges("ports");
    for m in &port_mappings {
        let protocols = m
            .protocol
            .clone()
            .unwrap_or_else(|| "tcp".into())
            .to_ascii_lowercase();
        if !ports
            .iter()
            .any(|r| r.begin <= m.host_port && m.host_port <= r.end)
        {
            return Err(SpecError::HostPortNotOffered {
                host_port: m.host_port,
                container_port: m.container_port,
                protocol: protocols,
                offered: ports,
            });
        }
        if m.container_port == 0 || m.container_port > 65535 {
            return Err(SpecError::ContainerPortOutOfRange {
                host_port: m.host_port,
                container_port: m.container_port,
            });
        }
        for proto in protocols.split(',').map(str::trim) {
            if !matches!(proto, "tcp" | "udp" | "sctp") {
                return Err(SpecError::UnknownProtocol {
                    host_port: m.host_port,
                    container_port: m.container_port,
                    protocol: proto.to_string(),
                });
            }
            let key = format!("{}/{proto}", m.container_port);
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: None,
                    host_port: Some(m.host_port.to_string()),
                });
        }
    }
    if !bindings.is_empty() {
        host.port_bindings = Some(bindings);
    }

    // Volumes: the sandbox, then the task's.
    let in_container = |p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{SANDBOX_IN_CONTAINER}/{p}")
        }
    };
    let mut binds = vec![format!("{}:{SANDBOX_IN_CONTAINER}:rw", sandbox.display())];
    let mut anonymous = Vec::new();
    for v in c.volumes.iter().flatten() {
        if v.source.is_some() || v.image.is_some() {
            return Err(SpecError::UnsupportedVolume {
                container_path: v.container_path.clone(),
            });
        }
        if v.container_path.is_empty() {
            return Err(SpecError::VolumeWithoutPath);
        }
        let mode = match v.mode.as_deref().unwrap_or("RW") {
            "RW" => "rw",
            "RO" => "ro",
            m => {
                return Err(SpecError::BadVolumeMode {
                    container_path: v.container_path.clone(),
                    mode: m.to_string(),
                })
            }
        };
        let target = in_container(&v.container_path);
        match v.host_path.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => {
                let src = if h.starts_with('/') {
                    PathBuf::from(h)
                } else {
                    sandbox.join(h)
                };
                if src.display().to_string().contains(':') || target.contains(':') {
                    return Err(SpecError::ColonInVolumePath {
                        container_path: v.container_path.clone(),
                    });
                }
                binds.push(format!("{}:{target}:{mode}", src.display()));
            }
            None => anonymous.push(target),
        }
    }
    // Persistent volumes, at their container path in the sandbox (as Mesos mounts them).
    for (v, host_path) in crate::volumes::of_task(work_dir, t) {
        let cp = v.container_path.unwrap_or_default();
        if !drover_api::resources::inside_sandbox(&cp)
            || host_path.display().to_string().contains(':')
        {
            return Err(SpecError::BadPersistentVolume {
                id: v.id,
                container_path: cp,
            });
        }
        let mode = if v.read_only { "ro" } else { "rw" };
        binds.push(format!(
            "{}:{}:{mode}",
            host_path.display(),
            in_container(&cp)
        ));
    }
    host.binds = Some(binds);

    // Limits from the task's resources.
    let r = Resources::from_list(&t.resources);
    let cpus = r.scalar("cpus");
    if cpus > 0.0 {
        host.cpu_shares = Some(((cpus * 1024.0) as i64).max(2));
        host.cpu_period = Some(100_000);
        host.cpu_quota = Some(((cpus * 100_000.0) as i64).max(1000));
    }
    let mem = r.scalar("mem");
    if mem > 0.0 {
        let bytes = ((mem * 1048576.0) as i64).max(MIN_MEMORY_BYTES);
        host.memory = Some(bytes);
        host.memory_swap = Some(bytes); // no swap on top
    }
    // The agent copies the output from the Engine's json-file log.
    host.log_config = Some(HostConfigLogConfig {
        typ: Some("json-file".into()),
        config: Some(HashMap::from([
            ("max-size".to_string(), "64m".to_string()),
            ("max-file".to_string(), "2".to_string()),
        ])),
    });

    // Environment: the agent's, as seen from inside (the image keeps its PATH and HOME).
    let own: HashSet<&str> = t
        .command
        .iter()
        .filter_map(|c| c.environment.as_ref())
        .flat_map(|e| &e.variables)
        .map(|v| v.name.as_str())
        .collect();
    let mut vars: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| {
            own.contains(k.as_str())
                || !matches!(k.as_str(), "PATH" | "HOME" | "LANG" | "LC_ALL" | "TZ")
        })
        .map(|(k, v)| match k.as_str() {
            "MESOS_SANDBOX" | "MESOS_DIRECTORY" if !own.contains(k.as_str()) => {
                (k.clone(), SANDBOX_IN_CONTAINER.to_string())
            }
            _ => (k.clone(), v.clone()),
        })
        .collect();
    for (k, v) in env_extra {
        vars.retain(|(x, _)| x != &k);
        vars.push((k, v));
    }

    // The command.
    let cmd = t.command.clone().unwrap_or_default();
    let command = if cmd.shell.unwrap_or(true) {
        cmd.value
            .filter(|v| !v.trim().is_empty())
            .map(|v| vec!["/bin/sh".to_string(), "-c".to_string(), v])
    } else {
        let mut a: Vec<String> = cmd.value.into_iter().filter(|v| !v.is_empty()).collect();
        a.extend(cmd.arguments);
        Some(a).filter(|a| !a.is_empty())
    };

    let body = ContainerCreateBody {
        image: Some(image.clone()),
        cmd: command,
        entrypoint,
        env: Some(vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        hostname,
        user,
        working_dir: Some(workdir.unwrap_or_else(|| SANDBOX_IN_CONTAINER.to_string())),
        exposed_ports: Some(exposed).filter(|e| !e.is_empty()),
        volumes: Some(anonymous).filter(|a| !a.is_empty()),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        tty: Some(false),
        open_stdin: Some(false),
        host_config: Some(host),
        ..Default::default()
    };
    Ok(Spec {
        image,
        force_pull: d.force_pull_image.unwrap_or(false),
        body,
    })
}

/// `busybox` → (`busybox`, `latest`); `reg:5000/a/b:1` → (`reg:5000/a/b`, `1`); digests stay whole.
pub(super) fn split_image(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => (
            image[..image.len() - tag.len() - 1].to_string(),
            tag.to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::LABEL_TASK;
    use serde_json::{json, Value};

    fn task(container: Value, cmd: Option<CommandInfo>) -> TaskInfo {
        TaskInfo {
            name: "t".into(),
            task_id: TaskID::new("t1"),
            agent_id: AgentID::new("a"),
            resources: vec![Resource::scalar("cpus", 0.5), Resource::scalar("mem", 64.0)]
                .into_iter()
                .chain(Resources::parse("ports:[31000-31001]").unwrap().to_vec())
                .collect(),
            executor: None,
            command: cmd,
            container: Some(container),
            health_check: None,
            check: None,
            kill_policy: None,
            data: None,
            labels: None,
            discovery: None,
            max_completion_time: None,
        }
    }

    fn build(t: &TaskInfo) -> Result<Spec, SpecError> {
        let env = vec![
            ("PATH".to_string(), "/host/bin".to_string()),
            ("HOME".to_string(), "/host/sandbox".to_string()),
            ("MESOS_SANDBOX".to_string(), "/host/sandbox".to_string()),
            ("MESOS_TASK_ID".to_string(), "t1".to_string()),
        ];
        build_spec(
            t,
            &env,
            Path::new("/work/sb"),
            Path::new("/work"),
            HashMap::from([(LABEL_TASK.to_string(), "t1".to_string())]),
            false,
        )
    }

    #[test]
    fn a_shell_command_runs_under_sh_with_limits_sandbox_and_env() {
        let cmd = CommandInfo {
            value: Some("echo hi".into()),
            ..Default::default()
        };
        let s = build(&task(
            json!({"type": "DOCKER", "docker": {"image": "busybox"}}),
            Some(cmd),
        ))
        .unwrap();
        assert_eq!(s.image, "busybox");
        let b = s.body;
        assert_eq!(b.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(b.entrypoint, None);
        let h = b.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("host"));
        assert_eq!(h.cpu_shares, Some(512));
        assert_eq!(h.cpu_quota, Some(50_000));
        assert_eq!(h.memory, Some(64 << 20));
        assert_eq!(h.memory_swap, Some(64 << 20));
        assert_eq!(
            h.binds.unwrap(),
            vec![format!("/work/sb:{SANDBOX_IN_CONTAINER}:rw")]
        );
        let env = b.env.unwrap();
        assert!(env.contains(&format!("MESOS_SANDBOX={SANDBOX_IN_CONTAINER}")));
        assert!(env.contains(&"MESOS_TASK_ID=t1".to_string()));
        assert!(
            !env.iter()
                .any(|e| e.starts_with("PATH=") || e.starts_with("HOME=")),
            "{env:?}"
        );
        assert_eq!(b.working_dir.as_deref(), Some(SANDBOX_IN_CONTAINER));
    }

    #[test]
    fn without_shell_the_value_and_arguments_follow_the_entrypoint() {
        let cmd = CommandInfo {
            shell: Some(false),
            arguments: vec!["-c".into(), "3".into()],
            ..Default::default()
        };
        let s = build(&task(
            json!({"type": "DOCKER", "docker": {"image": "x:1"}}),
            Some(cmd),
        ))
        .unwrap();
        assert_eq!(s.body.cmd.unwrap(), vec!["-c", "3"]);
        let s = build(&task(
            json!({"type": "DOCKER", "docker": {"image": "x:1"}}),
            None,
        ))
        .unwrap();
        assert_eq!(s.body.cmd, None, "no command: the image's default");
    }

    #[test]
    fn bridge_port_mappings_must_use_the_tasks_ports() {
        let ok = json!({"type": "DOCKER", "docker": {"image": "x", "network": "BRIDGE",
            "port_mappings": [{"host_port": 31001, "container_port": 80, "protocol": "tcp"}]}});
        let s = build(&task(ok, None)).unwrap();
        let h = s.body.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("bridge"));
        let b = h.port_bindings.unwrap();
        assert_eq!(
            b["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("31001")
        );
        assert_eq!(s.body.exposed_ports.unwrap(), vec!["80/tcp"]);
        let bad = json!({"type": "DOCKER", "docker": {"image": "x", "network": "BRIDGE",
            "port_mappings": [{"host_port": 32000, "container_port": 80}]}});
        let e = build(&task(bad, None)).unwrap_err().to_string();
        assert!(
            e.contains("host port 32000") && e.contains("[31000-31001]"),
            "{e}"
        );
        let host = json!({"type": "DOCKER", "docker": {"image": "x", "network": "HOST",
            "port_mappings": [{"host_port": 31000, "container_port": 80}]}});
        assert!(build(&task(host, None))
            .unwrap_err()
            .to_string()
            .contains("BRIDGE or USER"));
    }

    #[test]
    fn a_persistent_volume_is_bound_at_its_path_in_the_sandbox() {
        let volume = |path: &str| -> Resource {
            serde_json::from_value(json!({"name": "disk", "type": "SCALAR",
                "scalar": {"value": 64}, "reservations": [{"type": "DYNAMIC", "role": "db"}],
                "disk": {"persistence": {"id": "v1"},
                         "volume": {"container_path": path, "mode": "RW"}}}))
            .unwrap()
        };
        let mut t = task(json!({"type": "DOCKER", "docker": {"image": "x"}}), None);
        t.resources.push(volume("data"));
        let binds = build(&t).unwrap().body.host_config.unwrap().binds.unwrap();
        assert!(
            binds.contains(&"/work/volumes/roles/db/v1:/mnt/mesos/sandbox/data:rw".to_string()),
            "{binds:?}"
        );
        t.resources.pop();
        t.resources.push(volume("../etc"));
        assert!(build(&t)
            .unwrap_err()
            .to_string()
            .contains("must be a relative path inside the sandbox"));
    }

    #[test]
    fn parameters_volumes_user_networks_and_privilege() {
        let c = json!({"type": "DOCKER", "network_infos": [{"name": "mynet"}], "volumes": [
                {"container_path": "/data", "host_path": "/srv/data", "mode": "RO"},
                {"container_path": "cache", "host_path": "c"},
                {"container_path": "/scratch"}],
            "docker": {"image": "x", "network": "USER", "parameters": [
                {"key": "label", "value": "team=a"}, {"key": "env", "value": "A=1"}, {"key": "user", "value": "nobody"},
                {"key": "hostname", "value": "h1"}, {"key": "workdir", "value": "/w"}, {"key": "entrypoint", "value": "/bin/env"}]}});
        let s = build(&task(c, None)).unwrap();
        let b = s.body;
        assert_eq!(b.labels.as_ref().unwrap()["team"], "a");
        assert!(b.env.unwrap().contains(&"A=1".to_string()));
        assert_eq!(b.user.as_deref(), Some("nobody"));
        assert_eq!(b.hostname.as_deref(), Some("h1"));
        assert_eq!(b.working_dir.as_deref(), Some("/w"));
        assert_eq!(b.entrypoint.unwrap(), vec!["/bin/env"]);
        assert_eq!(b.volumes.unwrap(), vec!["/scratch"]);
        let h = b.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("mynet"));
        let binds = h.binds.unwrap();
        assert!(
            binds.contains(&"/srv/data:/data:ro".to_string()),
            "{binds:?}"
        );
        assert!(
            binds.contains(&format!("/work/sb/c:{SANDBOX_IN_CONTAINER}/cache:rw")),
            "{binds:?}"
        );

        let unknown = json!({"type": "DOCKER", "docker": {"image": "x", "parameters": [{"key": "volumes-from", "value": "y"}]}});
        assert!(build(&task(unknown, None))
            .unwrap_err()
            .to_string()
            .contains("unsupported docker parameter 'volumes-from'"));
        let spoof = json!({"type": "DOCKER", "docker": {"image": "x", "parameters": [{"key": "label", "value": "drover.task_id=z"}]}});
        assert!(build(&task(spoof, None))
            .unwrap_err()
            .to_string()
            .contains("reserved"));
        let privileged = json!({"type": "DOCKER", "docker": {"image": "x", "privileged": true}});
        assert!(build(&task(privileged.clone(), None))
            .unwrap_err()
            .to_string()
            .contains("--docker-allow-privileged"));
        let s = build_spec(
            &task(privileged, None),
            &[],
            Path::new("/s"),
            Path::new("/w"),
            HashMap::new(),
            true,
        )
        .unwrap();
        assert_eq!(s.body.host_config.unwrap().privileged, Some(true));
        let user_without_name =
            json!({"type": "DOCKER", "docker": {"image": "x", "network": "USER"}});
        assert!(build(&task(user_without_name, None))
            .unwrap_err()
            .to_string()
            .contains("network_infos"));
    }

    /// Each refusal names what was wrong, in the words a framework reads in `TASK_FAILED`.
    #[test]
    fn each_refusal_names_the_field_and_value_in_the_words_frameworks_read() {
        let docker = |d: Value| json!({"type": "DOCKER", "docker": d});
        let param = |k: &str, v: &str| {
            docker(json!({"image": "x", "parameters": [{"key": k, "value": v}]}))
        };
        let bridge =
            |m: Value| docker(json!({"image": "x", "network": "BRIDGE", "port_mappings": [m]}));
        let volume = |v: Value| json!({"type": "DOCKER", "docker": {"image": "x"}, "volumes": [v]});
        type Case = (Value, fn(&SpecError) -> bool, &'static str);
        let cases: Vec<Case> = vec![
            (
                json!({"type": "DOCKER"}),
                |e| matches!(e, SpecError::NoDocker),
                "container.docker is missing (a DOCKER container needs at least docker.image)",
            ),
            (
                docker(json!({"image": " "})),
                |e| matches!(e, SpecError::NoImage),
                "container.docker.image is empty",
            ),
            (
                param("label", "drover.task_id=z"),
                |e| matches!(e, SpecError::ReservedLabel { label } if label == "drover.task_id"),
                "label 'drover.task_id' is reserved for the agent",
            ),
            (
                param("e", "NOVALUE"),
                |e| matches!(e, SpecError::BadEnv { value } if value == "NOVALUE"),
                "docker parameter env must be NAME=value, not 'NOVALUE'",
            ),
            (
                param("--init", " yes "),
                |e| matches!(e, SpecError::NotABool { key, value } if key == "init" && value == "yes"),
                "docker parameter 'init' takes true or false, not 'yes'",
            ),
            (
                param("volumes-from", "y"),
                |e| matches!(e, SpecError::UnsupportedParameter { key } if key == "volumes-from"),
                "unsupported docker parameter 'volumes-from' (supported: label, env, hostname, user, workdir, entrypoint, add-host, cap-add, cap-drop, dns, init, read-only, privileged)",
            ),
            (
                param("privileged", "true"),
                |e| matches!(e, SpecError::PrivilegedNotAllowed),
                "privileged containers are not allowed on this agent (it runs without --docker-allow-privileged)",
            ),
            (
                docker(json!({"image": "x", "network": "User"})),
                |e| matches!(e, SpecError::UserNetworkWithoutName),
                "network USER needs the network's name in container.network_infos[0].name",
            ),
            (
                docker(json!({"image": "x", "network": "overlay"})),
                |e| matches!(e, SpecError::UnknownNetwork { network } if network == "OVERLAY"),
                "unknown docker network 'OVERLAY' (HOST, BRIDGE, USER or NONE)",
            ),
            (
                docker(json!({"image": "x", "network": "none",
                    "port_mappings": [{"host_port": 31000, "container_port": 80}]})),
                |e| matches!(e, SpecError::PortMappingsNeedBridge { network } if network == "NONE"),
                "port mappings need network BRIDGE or USER, not NONE",
            ),
            (
                bridge(json!({"host_port": 32000, "container_port": 80, "protocol": "UDP,tcp"})),
                |e| matches!(e, SpecError::HostPortNotOffered { host_port: 32000, container_port: 80, protocol, offered }
                    if protocol == "udp,tcp" && offered == &[Range { begin: 31000, end: 31001 }]),
                "port mapping 32000:80/udp,tcp: host port 32000 is not among the task's port resources ([31000-31001])",
            ),
            (
                bridge(json!({"host_port": 31000, "container_port": 0})),
                |e| matches!(e, SpecError::ContainerPortOutOfRange { host_port: 31000, container_port: 0 }),
                "port mapping 31000:0: container port out of range",
            ),
            (
                bridge(json!({"host_port": 31001, "container_port": 53, "protocol": "udp, icmp"})),
                |e| matches!(e, SpecError::UnknownProtocol { host_port: 31001, container_port: 53, protocol } if protocol == "icmp"),
                "port mapping 31001:53: unknown protocol 'icmp' (tcp, udp or sctp)",
            ),
            (
                volume(json!({"container_path": "/d", "source": {"type": "SANDBOX_PATH"}})),
                |e| matches!(e, SpecError::UnsupportedVolume { container_path } if container_path == "/d"),
                "volume /d: only host_path volumes are supported",
            ),
            (
                volume(json!({"container_path": "", "host_path": "/srv"})),
                |e| matches!(e, SpecError::VolumeWithoutPath),
                "a volume needs a container_path",
            ),
            (
                volume(json!({"container_path": "/d", "host_path": "/srv", "mode": "rw"})),
                |e| matches!(e, SpecError::BadVolumeMode { container_path, mode } if container_path == "/d" && mode == "rw"),
                "volume /d: mode must be RW or RO, not 'rw'",
            ),
            (
                volume(json!({"container_path": "/d", "host_path": "/srv/a:b"})),
                |e| matches!(e, SpecError::ColonInVolumePath { container_path } if container_path == "/d"),
                "volume /d: paths must not contain ':'",
            ),
        ];
        for (container, is, text) in cases {
            let e = build(&task(container.clone(), None)).unwrap_err();
            assert!(is(&e), "{container}: {e:?}");
            assert_eq!(e.to_string(), text, "{container}");
        }

        // No ports at all: the refusal says none.
        let mut t = task(
            bridge(json!({"host_port": 31000, "container_port": 80})),
            None,
        );
        t.resources.retain(|r| r.name != "ports");
        assert_eq!(
            build(&t).unwrap_err().to_string(),
            "port mapping 31000:80/tcp: host port 31000 is not among the task's port resources (none)"
        );
        // Unreadable container info keeps serde's reason as its source.
        let e = build(&task(docker(json!({"image": 5})), None)).unwrap_err();
        assert!(matches!(e, SpecError::UnreadableContainerInfo(_)), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("unreadable container info: invalid type: integer `5`"),
            "{e}"
        );
        assert!(std::error::Error::source(&e).is_some());
        // What the launch fails with: the task's TASK_FAILED message.
        let e = build(&task(param("read-only", "no"), None)).unwrap_err();
        assert_eq!(
            crate::containerizer::LaunchError::from(e).to_string(),
            "Invalid docker container: docker parameter 'read-only' takes true or false, not 'no'"
        );
    }

    #[test]
    fn image_references_get_a_tag() {
        assert_eq!(split_image("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(
            split_image("busybox:1.36"),
            ("busybox".into(), "1.36".into())
        );
        assert_eq!(
            split_image("reg:5000/a/b"),
            ("reg:5000/a/b".into(), "latest".into())
        );
        assert_eq!(
            split_image("reg:5000/a/b:2"),
            ("reg:5000/a/b".into(), "2".into())
        );
        assert_eq!(split_image("a@sha256:ff").1, "");
    }
}
