//! Resident apps (Marathon's local persistent volumes): the volumes an app asks for
//! (`container.volumes[]` with `persistent`), their validation with Marathon's messages, and
//! the Mesos resources of one instance's reservation: cpus, mem and disk reserved dynamically
//! for Marathon's role, labelled `marathon_framework_id` / `marathon_task_id`, plus one
//! persistent volume per volume asked for. Pure: the core decides when to reserve, relaunch on
//! or release a reservation (`core::resident`).

use drover_api::marathon::App;
use drover_api::{
    AllocationInfo, Label, Labels, ReservationInfo, ReservationType, Resource, Resources,
};
use serde_json::{json, Value};

pub const FRAMEWORK_LABEL: &str = "marathon_framework_id";
pub const TASK_LABEL: &str = "marathon_task_id";

/// One persistent volume of a resident app.
#[derive(Clone, Debug, PartialEq)]
pub struct PersistentVolume {
    /// Relative to the sandbox, one level (`data`).
    pub container_path: String,
    /// MiB.
    pub size: f64,
}

/// The persistent volumes `app` asks for (none: not resident). Read from a validated app.
pub fn volumes(app: &App) -> Vec<PersistentVolume> {
    app.container
        .as_ref()
        .and_then(|c| c.get("volumes"))
        .and_then(|v| v.as_array())
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    let p = v.get("persistent")?;
                    Some(PersistentVolume {
                        container_path: v.get("containerPath")?.as_str()?.to_string(),
                        size: p.get("size")?.as_f64()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Marathon's checks of a resident app, as (path, message): each persistent volume's
/// `containerPath` (one level, relative), `mode` (RW), `persistent.type` and `size` (> 0);
/// `unreachableStrategy` disabled, `upgradeStrategy.maximumOverCapacity` 0 and
/// `acceptedResourceRoles` `["*"]`. Nothing for an app without persistent volumes.
pub fn check(app: &App) -> Vec<(String, String)> {
    let mut e = Vec::new();
    let Some(vs) = app
        .container
        .as_ref()
        .and_then(|c| c.get("volumes"))
        .and_then(|v| v.as_array())
    else {
        return e;
    };
    let mut resident = false;
    for (i, v) in vs.iter().enumerate() {
        let Some(p) = v.get("persistent") else {
            continue;
        };
        resident = true;
        let at = |f: &str| format!("/container/volumes({i}){f}");
        match v.get("containerPath").and_then(|c| c.as_str()) {
            None | Some("") => e.push((at("/containerPath"), "must not be empty".into())),
            Some("." | "..") => e.push((at("/containerPath"), "is not an allowed value".into())),
            Some(c) if c.contains('/') => {
                e.push((at("/containerPath"), "value must not contain \"/\"".into()))
            }
            Some(_) => {}
        }
        match v.get("mode").and_then(|m| m.as_str()).unwrap_or("RW") {
            "RW" => {}
            other => e.push((at("/mode"), format!("got {other}, expected RW"))),
        }
        match p.get("type").and_then(|t| t.as_str()).unwrap_or("root") {
            "root" => {}
            "path" | "mount" => e.push((
                at("/persistent/type"),
                "only root disks are offered by Drover agents (path and mount disks are not)"
                    .into(),
            )),
            other => e.push((
                at("/persistent/type"),
                format!("got {other}, expected one of root, path, mount"),
            )),
        }
        match p.get("size").and_then(Value::as_f64) {
            Some(s) if s > 0.0 => {}
            Some(s) => e.push((
                at("/persistent/size"),
                format!("got {s}, expected more than 0"),
            )),
            None => e.push((at("/persistent/size"), "must be a number of MiB".into())),
        }
        if p.get("constraints")
            .and_then(|c| c.as_array())
            .is_some_and(|c| !c.is_empty())
        {
            e.push((
                at("/persistent"),
                "Constraints on root volumes are not supported".into(),
            ));
        }
        if p.get("maxSize").is_some() {
            e.push((
                at("/persistent"),
                "Only mount volumes can have maxSize".into(),
            ));
        }
    }
    if !resident {
        return e;
    }
    if app
        .unreachable_strategy
        .as_ref()
        .is_some_and(|s| s.as_str() != Some("disabled"))
    {
        e.push((
            "/".into(),
            "unreachableStrategy must be disabled for resident tasks".into(),
        ));
    }
    let over = app.upgrade_strategy.maximum_over_capacity;
    if over != 0.0 {
        e.push((
            "/upgradeStrategy/maximumOverCapacity".into(),
            format!("got {over:?}, expected 0.0"),
        ));
    }
    if let Some(roles) = &app.accepted_resource_roles {
        if roles.as_slice() != ["*"] {
            e.push((
                "/acceptedResourceRoles".into(),
                "A resident app must have `acceptedResourceRoles = [\"*\"]`.".into(),
            ));
        }
    }
    e
}

const RESOURCES_CHANGED: &str = "Services with persistent volumes configured may not change resource requirements. If you need to make this change, please create a new service.";

/// Marathon's checks of a resident app against its role and the definition it replaces
/// (`prev`), as (path, message): not the role `*`; the same persistent volumes and the same
/// cpus, mem, disk, gpus and requirePorts (the reservations hold them); the same role unless
/// forced.
pub fn check_update(prev: Option<&App>, app: &App, force: bool) -> Vec<(String, String)> {
    let mut e = Vec::new();
    let resident = !volumes(app).is_empty();
    if resident && app.role.as_deref() == Some("*") {
        e.push((
            "/role".into(),
            "Resident apps cannot have the role *".into(),
        ));
    }
    if resident && crate::core::wants_revocable(app) {
        e.push((
            format!("/labels/{}", crate::core::REVOCABLE_LABEL),
            "Resident apps cannot run on revocable resources".into(),
        ));
    }
    let Some(prev) = prev else {
        return e;
    };
    if !resident && volumes(prev).is_empty() {
        return e;
    }
    if volumes(prev) != volumes(app) {
        e.push(("/".into(), "Persistent volumes can not be changed!".into()));
    }
    for (path, before, after) in [
        ("/cpus", prev.cpus, app.cpus),
        ("/mem", prev.mem, app.mem),
        ("/disk", prev.disk, app.disk),
        ("/gpus", f64::from(prev.gpus), f64::from(app.gpus)),
    ] {
        if before != after {
            e.push((path.into(), RESOURCES_CHANGED.into()));
        }
    }
    if prev.require_ports != app.require_ports {
        e.push(("/requirePorts".into(), RESOURCES_CHANGED.into()));
    }
    if let (Some(was), Some(now)) = (&prev.role, &app.role) {
        if was != now && !force {
            e.push((
                "/role".into(),
                format!("It is not possible to change the role for existing reservations. If you proceed with this change, all existing instances will continue to run under the previous role, {was}. Only new instances will be allocated with the new role, {now}. In order to continue, retry your request with ?force=true"),
            ));
        }
    }
    e
}

/// The labels of reservation `rid` of framework `fw`.
pub fn labels(fw: &str, rid: &str) -> Labels {
    Labels {
        labels: vec![
            Label {
                key: FRAMEWORK_LABEL.into(),
                value: Some(fw.into()),
            },
            Label {
                key: TASK_LABEL.into(),
                value: Some(rid.into()),
            },
        ],
    }
}

/// The (framework id, reservation id) a resource is reserved under, when it is one of
/// Marathon's dynamic reservations.
pub fn owner(r: &Resource) -> Option<(String, String)> {
    let r = r.clone().upgraded();
    let labels = r.reservations.last()?.labels.as_ref()?;
    let get = |k: &str| {
        labels
            .labels
            .iter()
            .find(|l| l.key == k)
            .and_then(|l| l.value.clone())
    };
    Some((get(FRAMEWORK_LABEL)?, get(TASK_LABEL)?))
}

/// The reservation of one new instance: the resources to RESERVE (plain scalars: cpus, mem,
/// the app's disk and each volume's disk) and the volumes to CREATE on them, for `role`.
pub struct NewReservation {
    pub reserve: Vec<Resource>,
    pub create: Vec<Resource>,
}

/// What one instance of `app` reserves, labelled for reservation `rid` of framework `fw`; the
/// volumes' persistence ids are `<rid>#<containerPath>`.
pub fn reservation(app: &App, fw: &str, rid: &str, role: &str) -> NewReservation {
    let info = ReservationInfo {
        kind: Some(ReservationType::DYNAMIC),
        role: Some(role.into()),
        principal: None,
        labels: Some(labels(fw, rid)),
    };
    let reserved = |name: &str, v: f64| {
        let mut r = Resource::scalar(name, v);
        r.reservations = vec![info.clone()];
        r.allocation_info = Some(AllocationInfo {
            role: Some(role.into()),
        });
        r
    };
    let mut reserve = vec![reserved("cpus", app.cpus), reserved("mem", app.mem)];
    if app.disk > 0.0 {
        reserve.push(reserved("disk", app.disk));
    }
    let mut create = Vec::new();
    for v in volumes(app) {
        let plain = reserved("disk", v.size);
        let mut vol = plain.clone();
        vol.disk = Some(json!({
            "persistence": {"id": format!("{rid}#{}", v.container_path)},
            "volume": {"container_path": v.container_path, "mode": "RW"},
        }));
        reserve.push(plain);
        create.push(vol);
    }
    NewReservation { reserve, create }
}

/// The unreserved quantities a new reservation of `app` takes from an offer: cpus, mem and
/// disk (the app's plus its volumes').
pub fn unreserved_need(app: &App) -> Resources {
    let disk = app.disk + volumes(app).iter().map(|v| v.size).sum::<f64>();
    Resources::from_list(&[
        Resource::scalar("cpus", app.cpus),
        Resource::scalar("mem", app.mem),
        Resource::scalar("disk", disk),
    ])
}

/// The resources of `offered` reserved under reservation `rid` of framework `fw`.
pub fn held_by(offered: &Resources, fw: &str, rid: &str) -> Vec<Resource> {
    offered
        .iter()
        .filter(|r| owner(r).is_some_and(|(f, t)| f == fw && t == rid))
        .cloned()
        .collect()
}

/// A volume as the plain reserved disk it was created on (what UNRESERVE takes after
/// DESTROY).
pub fn plain(r: &Resource) -> Resource {
    let mut r = r.clone();
    r.disk = None;
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn app(v: Value) -> App {
        serde_json::from_value(v).unwrap()
    }

    fn resident(volume: Value, extra: Value) -> App {
        let mut v = json!({"id": "/db", "cmd": "x", "cpus": 0.5, "mem": 64, "disk": 10,
            "unreachableStrategy": "disabled",
            "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
            "container": {"type": "MESOS", "volumes": [volume]}});
        if let (Some(o), Some(x)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        app(v)
    }

    #[test]
    fn marathons_rules_for_resident_apps() {
        let good = json!({"containerPath": "data", "mode": "RW", "persistent": {"type": "root", "size": 100}});
        assert!(check(&resident(good.clone(), json!({}))).is_empty());
        // (volume, app fields, path, message)
        let cases = [
            (
                json!({"containerPath": "/data", "mode": "RW", "persistent": {"size": 1}}),
                json!({}),
                "/container/volumes(0)/containerPath",
                "value must not contain \"/\"",
            ),
            (
                json!({"containerPath": "a/b", "persistent": {"size": 1}}),
                json!({}),
                "/container/volumes(0)/containerPath",
                "value must not contain \"/\"",
            ),
            (
                json!({"containerPath": "data", "persistent": {"size": 0}}),
                json!({}),
                "/container/volumes(0)/persistent/size",
                "got 0, expected more than 0",
            ),
            (
                json!({"containerPath": "data", "mode": "RO", "persistent": {"size": 1}}),
                json!({}),
                "/container/volumes(0)/mode",
                "got RO, expected RW",
            ),
            (
                good.clone(),
                json!({"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 1}}),
                "/upgradeStrategy/maximumOverCapacity",
                "got 1.0, expected 0.0",
            ),
            (
                good.clone(),
                json!({"unreachableStrategy": {"inactiveAfterSeconds": 1, "expungeAfterSeconds": 2}}),
                "/",
                "unreachableStrategy must be disabled for resident tasks",
            ),
            (
                good.clone(),
                json!({"acceptedResourceRoles": ["marathon"]}),
                "/acceptedResourceRoles",
                "A resident app must have `acceptedResourceRoles = [\"*\"]`.",
            ),
        ];
        for (vol, extra, path, msg) in cases {
            let e = check(&resident(vol.clone(), extra.clone()));
            assert!(
                e.iter().any(|(p, m)| p == path && m == msg),
                "{vol} {extra}: {e:?}"
            );
        }
        // Host volumes alone: not resident, none of these rules.
        let host = app(
            json!({"id": "/h", "cmd": "x", "upgradeStrategy": {"maximumOverCapacity": 1},
            "container": {"type": "MESOS", "volumes": [{"containerPath": "/x", "hostPath": "/tmp", "mode": "RW"}]}}),
        );
        assert!(check(&host).is_empty());
        assert!(volumes(&host).is_empty());
    }

    #[test]
    fn a_resident_app_keeps_its_role_resources_and_volumes() {
        let good = json!({"containerPath": "data", "mode": "RW", "persistent": {"type": "root", "size": 100}});
        let mut a = resident(good, json!({"role": "marathon"}));
        assert!(check_update(None, &a, false).is_empty());
        assert!(check_update(Some(&a), &a, false).is_empty());
        let mut star = a.clone();
        star.role = Some("*".into());
        assert!(check_update(None, &star, false).contains(&(
            "/role".into(),
            "Resident apps cannot have the role *".into()
        )));
        let mut more = a.clone();
        more.cpus = 2.0;
        more.instances = 5;
        let e = check_update(Some(&a), &more, false);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "/cpus");
        assert!(e[0].1.starts_with(
            "Services with persistent volumes configured may not change resource requirements"
        ));
        let mut other_role = a.clone();
        other_role.role = Some("db".into());
        assert_eq!(check_update(Some(&a), &other_role, false)[0].0, "/role");
        assert!(check_update(Some(&a), &other_role, true).is_empty());
        let before = a.clone();
        a.container = Some(
            json!({"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"type": "root", "size": 200}}]}),
        );
        assert!(check_update(Some(&before), &a, false)
            .contains(&("/".into(), "Persistent volumes can not be changed!".into())));
        // Scaling alone is fine.
        let mut scaled = before.clone();
        scaled.instances = 3;
        assert!(check_update(Some(&before), &scaled, false).is_empty());
        // Its reservations are not revocable: a resident app may not opt in.
        let mut revocable = before.clone();
        revocable
            .labels
            .insert(crate::core::REVOCABLE_LABEL.into(), "true".into());
        assert!(check_update(None, &revocable, false).contains(&(
            "/labels/DROVER_REVOCABLE".into(),
            "Resident apps cannot run on revocable resources".into()
        )));
    }

    #[test]
    fn a_reservation_reserves_labelled_resources_and_creates_its_volumes() {
        let good = json!({"containerPath": "data", "mode": "RW", "persistent": {"type": "root", "size": 100}});
        let a = resident(good, json!({}));
        let r = reservation(&a, "fw", "db.1", "marathon");
        let names: Vec<(&str, f64)> = r
            .reserve
            .iter()
            .map(|x| (x.name.as_str(), x.scalar.unwrap().value))
            .collect();
        assert_eq!(
            names,
            vec![
                ("cpus", 0.5),
                ("mem", 64.0),
                ("disk", 10.0),
                ("disk", 100.0)
            ]
        );
        for x in r.reserve.iter().chain(&r.create) {
            assert_eq!(owner(x), Some(("fw".into(), "db.1".into())));
            assert_eq!(x.reservation_role(), "marathon");
        }
        assert_eq!(r.create.len(), 1);
        assert_eq!(r.create[0].persistence_id(), Some("db.1#data"));
        assert_eq!(r.create[0].volume_container_path(), Some("data"));
        assert_eq!(plain(&r.create[0]), r.reserve[3]);
        let need = unreserved_need(&a);
        assert_eq!(need.scalar("disk"), 110.0);
        // After the CREATE, the volume's plain disk is the volume.
        let offered = Resources::from_list(&[r.reserve[..3].to_vec(), r.create.clone()].concat());
        assert_eq!(held_by(&offered, "fw", "db.1").len(), 4);
        assert!(held_by(&offered, "fw", "db.2").is_empty());
        assert!(held_by(&offered, "other", "db.1").is_empty());
    }
}
