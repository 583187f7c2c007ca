//! RESERVE, UNRESERVE, CREATE and DESTROY: what each operation turns into what (a
//! [`Conversion`]), checked with Mesos' rules, and applying one to an agent — its total, its
//! checkpointed reservations and volumes (sent to it whole after each change), and the
//! allocator.
//!
//! Mesos 1.11 without operation feedback: an invalid operation is dropped (logged), the rest of
//! the ACCEPT goes on with what the valid ones made.

use super::Master;
use drover_allocator::Conversion;
use drover_api::agent_protocol::ToAgent;
use drover_api::*;

/// Why an operation is dropped.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OperationInvalid {
    #[error("the operation has no '{0}'")]
    Missing(&'static str),
    #[error("'{field}' is not a list of resources: {error}")]
    Unreadable { field: &'static str, error: String },
    #[error("Invalid reservation: resource {0} has no reservation")]
    NotReserved(String),
    #[error("Invalid reservation: the reservation's role '{reserved}' is not the offer's allocation role '{allocated}'")]
    WrongRole { reserved: String, allocated: String },
    #[error("Invalid reservation: role '*' cannot be reserved for")]
    StarReservation,
    #[error(
        "Invalid reservation: only a DYNAMIC reservation can be made or removed by an operation"
    )]
    NotDynamic,
    #[error("Invalid reservation: its principal '{given}' is not the framework's '{framework}'")]
    WrongPrincipal { given: String, framework: String },
    #[error("Invalid resource: {0} is a persistent volume; DESTROY it before UNRESERVE")]
    VolumeUnreserved(String),
    #[error("Invalid volume: {0} is not a disk resource with 'persistence.id'")]
    NotAVolume(String),
    #[error("Invalid volume: persistent volumes must be on reserved disk ({0})")]
    UnreservedVolume(String),
    #[error("Invalid volume: container_path '{0}' must be a relative path inside the sandbox")]
    BadContainerPath(String),
    #[error("Invalid volume: a volume with persistence id '{id}' already exists for role '{role}' on this agent")]
    DuplicateVolume { role: String, id: String },
    #[error("Invalid volume: volume '{0}' is in use by a task")]
    VolumeInUse(String),
    #[error("Invalid resources: {0}")]
    BadRole(String),
    #[error("A reserve operation was attempted with an allocated resource, but the operator API only allows reservations to be made to unallocated resources")]
    AllocatedByOperator,
    #[error("Persistent volumes not found: the agent does not hold {0}")]
    VolumeNotFound(String),
    #[error("Insufficient resources: the offers do not hold {0}")]
    NotOffered(String),
    /// `Reserve.source` or `Reserve.resources` with more than one reservation stack.
    #[error("Invalid {field}: Mixed reservations are not supported: {resources}")]
    MixedReservations {
        field: &'static str,
        resources: String,
    },
    #[error("Source and target resources should refer to identical resource quantities: {from} vs. {target}")]
    SourceMismatch { from: String, target: String },
    #[error("Dynamically reserved resource {0} cannot be created from revocable resources")]
    RevocableReservation(String),
}

fn parse(
    v: Option<&serde_json::Value>,
    outer: &'static str,
    field: &'static str,
) -> Result<Vec<Resource>, OperationInvalid> {
    let list = v
        .and_then(|o| o.get(field))
        .ok_or(OperationInvalid::Missing(outer))?;
    let rs: Vec<Resource> =
        serde_json::from_value(list.clone()).map_err(|e| OperationInvalid::Unreadable {
            field,
            error: e.to_string(),
        })?;
    Ok(rs.into_iter().map(Resource::upgraded).collect())
}

fn text(r: &Resource) -> String {
    super::resources_text(&Resources::from_list(std::slice::from_ref(r)))
}

/// `r` with its last reservation removed (unreserved when it had one).
fn popped(r: &Resource) -> Resource {
    let mut r = r.clone();
    r.reservations.pop();
    r.allocation_info = None;
    r
}

/// `r` without its persistent volume: the plain reserved disk it was made on.
fn plain_disk(r: &Resource) -> Resource {
    let mut r = r.clone();
    r.disk = None;
    r.allocation_info = None;
    r
}

/// `r` without any reservation: what it is a quantity of.
fn unreserved(r: &Resource) -> Resource {
    let mut r = r.clone();
    r.reservations.clear();
    r.allocation_info = None;
    r
}

/// Mesos: the resources of a re-reservation (`Reserve.source` and its target) each carry one
/// reservation stack.
fn one_stack(rs: &[Resource], field: &'static str) -> Result<(), OperationInvalid> {
    let first = rs.first().map(|r| &r.reservations);
    if rs.iter().any(|r| Some(&r.reservations) != first) {
        return Err(OperationInvalid::MixedReservations {
            field,
            resources: super::resources_text(&Resources::from_list(rs)),
        });
    }
    Ok(())
}

/// The source of a re-reservation, when the RESERVE has one.
pub(super) fn reserve_source(op: &Operation) -> Result<Option<Vec<Resource>>, OperationInvalid> {
    let given = op
        .reserve
        .as_ref()
        .and_then(|b| b.get("source"))
        .and_then(|s| s.as_array())
        .is_some_and(|s| !s.is_empty());
    if !given {
        return Ok(None);
    }
    parse(op.reserve.as_ref(), "reserve", "source").map(Some)
}

fn is_volume(r: &Resource) -> bool {
    r.persistence_id().is_some()
}

/// Who asks, for the checks: the role its offers were allocated to and its principal.
pub struct Asker<'a> {
    pub role: &'a str,
    pub principal: Option<&'a str>,
}

/// What `op` (one of RESERVE, UNRESERVE, CREATE, DESTROY) turns into what.
pub fn conversion(op: &Operation, who: &Asker<'_>) -> Result<Conversion, OperationInvalid> {
    let from_list = |rs: &[Resource]| Resources::from_list(rs);
    match op.kind {
        OperationType::RESERVE => {
            let rs = parse(op.reserve.as_ref(), "reserve", "resources")?;
            // Re-reserving (Mesos 1.11's `Reserve.source`): reserved resources move to another
            // reservation in one step, the same quantities on both sides; checked first, as
            // Mesos does.
            let source = reserve_source(op)?;
            if let Some(source) = &source {
                one_stack(source, "source")?;
                one_stack(&rs, "resources")?;
                let plain =
                    |rs: &[Resource]| from_list(&rs.iter().map(unreserved).collect::<Vec<_>>());
                if plain(source) != plain(&rs) {
                    return Err(OperationInvalid::SourceMismatch {
                        from: super::resources_text(&plain(source)),
                        target: super::resources_text(&plain(&rs)),
                    });
                }
                if source.iter().any(is_volume) {
                    return Err(OperationInvalid::VolumeUnreserved(super::resources_text(
                        &from_list(source),
                    )));
                }
            }
            for r in &rs {
                if r.revocable.is_some() {
                    return Err(OperationInvalid::RevocableReservation(text(r)));
                }
                let Some(top) = r.reservations.last() else {
                    return Err(OperationInvalid::NotReserved(text(r)));
                };
                let role = top.role.as_deref().unwrap_or("*");
                if role == "*" {
                    return Err(OperationInvalid::StarReservation);
                }
                if top.kind != Some(ReservationType::DYNAMIC) {
                    return Err(OperationInvalid::NotDynamic);
                }
                if role != who.role {
                    return Err(OperationInvalid::WrongRole {
                        reserved: role.to_string(),
                        allocated: who.role.to_string(),
                    });
                }
                check_principal(top.principal.as_deref(), who)?;
            }
            if let Some(source) = source {
                return Ok(Conversion {
                    consumed: from_list(&source),
                    converted: from_list(&rs),
                });
            }
            Ok(Conversion {
                consumed: from_list(&rs.iter().map(popped).collect::<Vec<_>>()),
                converted: from_list(&rs),
            })
        }
        OperationType::UNRESERVE => {
            let rs = parse(op.unreserve.as_ref(), "unreserve", "resources")?;
            for r in &rs {
                let Some(top) = r.reservations.last() else {
                    return Err(OperationInvalid::NotReserved(text(r)));
                };
                if top.kind != Some(ReservationType::DYNAMIC) {
                    return Err(OperationInvalid::NotDynamic);
                }
                if is_volume(r) {
                    return Err(OperationInvalid::VolumeUnreserved(text(r)));
                }
            }
            Ok(Conversion {
                consumed: from_list(&rs),
                converted: from_list(&rs.iter().map(popped).collect::<Vec<_>>()),
            })
        }
        OperationType::CREATE => {
            let rs = parse(op.create.as_ref(), "create", "volumes")?;
            for r in &rs {
                check_volume(r)?;
                let principal = r
                    .disk
                    .as_ref()
                    .and_then(|d| d.get("persistence"))
                    .and_then(|p| p.get("principal"))
                    .and_then(|p| p.as_str());
                check_principal(principal, who)?;
            }
            Ok(Conversion {
                consumed: from_list(&rs.iter().map(plain_disk).collect::<Vec<_>>()),
                converted: from_list(&rs),
            })
        }
        OperationType::DESTROY => {
            let rs = parse(op.destroy.as_ref(), "destroy", "volumes")?;
            for r in &rs {
                check_volume(r)?;
            }
            Ok(Conversion {
                consumed: from_list(&rs),
                converted: from_list(&rs.iter().map(plain_disk).collect::<Vec<_>>()),
            })
        }
        _ => Err(OperationInvalid::Missing(
            "reserve, unreserve, create or destroy",
        )),
    }
}

fn check_principal(given: Option<&str>, who: &Asker<'_>) -> Result<(), OperationInvalid> {
    match (given, who.principal) {
        (Some(g), Some(f)) if g != f => Err(OperationInvalid::WrongPrincipal {
            given: g.to_string(),
            framework: f.to_string(),
        }),
        _ => Ok(()),
    }
}

fn check_volume(r: &Resource) -> Result<(), OperationInvalid> {
    if r.name != "disk" || !is_volume(r) {
        return Err(OperationInvalid::NotAVolume(text(r)));
    }
    if r.reservations.is_empty() {
        return Err(OperationInvalid::UnreservedVolume(text(r)));
    }
    let path = r.volume_container_path().unwrap_or_default();
    if !drover_api::resources::inside_sandbox(path) {
        return Err(OperationInvalid::BadContainerPath(path.to_string()));
    }
    Ok(())
}

/// An agent's total from its static resources and its checkpointed reservations and volumes:
/// each checkpointed resource replaces what it was made from (a volume its plain reserved
/// disk, a dynamic reservation its unreserved resources).
pub fn total_with(static_total: &Resources, checkpointed: &[Resource]) -> Resources {
    let mut total = static_total.clone();
    for c in checkpointed {
        let mut base = plain_disk(&c.clone().upgraded());
        while base
            .reservations
            .last()
            .is_some_and(|r| r.kind == Some(ReservationType::DYNAMIC))
        {
            base.reservations.pop();
        }
        total.subtract(&base);
        total.add(c);
    }
    total
}

/// The reservations and volumes an operation leaves on an agent, from `checkpointed`: the
/// dynamic reservations and volumes of the agent's new `total`.
pub(super) fn checkpointed_of(total: &Resources) -> Vec<Resource> {
    total
        .iter()
        .filter(|r| {
            is_volume(r)
                || r.reservations
                    .iter()
                    .any(|x| x.kind == Some(ReservationType::DYNAMIC))
        })
        .cloned()
        .collect()
}

impl Master {
    /// Apply a conversion to an agent the framework holds offered resources on: the allocator's
    /// books, the agent's total, its checkpoint (sent to it). Volume checks that need the
    /// agent (unique ids, not in use) are made here.
    pub(super) fn apply_operation(
        &mut self,
        agent_id: &AgentID,
        framework: Option<(&FrameworkID, &str)>,
        conv: &Conversion,
    ) -> Result<(), OperationInvalid> {
        let Some(agent) = self.agents.get(agent_id) else {
            return Err(OperationInvalid::NotOffered(super::resources_text(
                &conv.consumed,
            )));
        };
        for v in conv.converted.iter().filter(|r| is_volume(r)) {
            let id = volume_id(v);
            let exists = agent.total.iter().any(|r| {
                is_volume(r) && volume_id(r) == id && r.reservation_role() == v.reservation_role()
            });
            if exists
                && !conv
                    .consumed
                    .iter()
                    .any(|c| is_volume(c) && volume_id(c) == id)
            {
                return Err(OperationInvalid::DuplicateVolume {
                    role: v.reservation_role().to_string(),
                    id,
                });
            }
        }
        for v in conv.consumed.iter().filter(|r| is_volume(r)) {
            if self.volume_in_use(agent_id, v) {
                return Err(OperationInvalid::VolumeInUse(volume_id(v)));
            }
        }
        let allocator = match framework {
            Some((fid, role)) => self.allocator.update_allocation(
                &agent_id.value,
                &fid.value,
                role,
                std::slice::from_ref(conv),
            ),
            None => self
                .allocator
                .update_available(&agent_id.value, std::slice::from_ref(conv)),
        };
        if allocator.is_err() {
            return Err(OperationInvalid::NotOffered(super::resources_text(
                &conv.consumed,
            )));
        }
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return Ok(());
        };
        agent.total.subtract_all(&conv.consumed);
        agent.total.add_all(&conv.converted);
        let checkpointed = checkpointed_of(&agent.total);
        agent.send(&ToAgent::CheckpointResources {
            resources: checkpointed,
        });
        Ok(())
    }

    fn volume_in_use(&self, agent_id: &AgentID, v: &Resource) -> bool {
        let id = volume_id(v);
        let Some(agent) = self.agents.get(agent_id) else {
            return false;
        };
        agent.tasks.to_vec().iter().any(|(fid, tid)| {
            self.frameworks
                .get(&FrameworkID::new(&**fid))
                .and_then(|f| f.tasks.get(tid))
                .is_some_and(|t| {
                    !t.state.is_terminal()
                        && t.resources()
                            .iter()
                            .any(|r| is_volume(r) && volume_id(r) == id)
                })
        })
    }
}

fn volume_id(r: &Resource) -> String {
    r.persistence_id().unwrap_or_default().to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::harness::*;
    use super::*;
    use serde_json::json;

    fn reserved(name: &str, v: f64, role: &str) -> serde_json::Value {
        json!({"name": name, "type": "SCALAR", "scalar": {"value": v},
               "reservations": [{"type": "DYNAMIC", "role": role, "principal": "ops"}]})
    }

    fn volume(v: f64, role: &str, id: &str) -> serde_json::Value {
        let mut r = reserved("disk", v, role);
        r["disk"] = json!({"persistence": {"id": id, "principal": "ops"},
                           "volume": {"container_path": "data", "mode": "RW"}});
        r
    }

    fn op(v: serde_json::Value) -> Operation {
        serde_json::from_value(v).unwrap()
    }

    fn web() -> FrameworkInfo {
        let mut info = mock_framework("web", &["RESERVATION_REFINEMENT"]);
        info.role = Some("web".into());
        info.principal = Some("ops".into());
        info
    }

    fn checkpoints(msgs: &[ToAgent]) -> Vec<Resources> {
        msgs.iter()
            .filter_map(|m| match m {
                ToAgent::CheckpointResources { resources } => Some(Resources::from_list(resources)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_framework_reserves_creates_a_volume_and_launches_on_it() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(web());
        let mut reg = mock_agent(4.0, 1024.0, (31000, 31009));
        reg.agent_info
            .resources
            .push(Resource::scalar("disk", 1000.0));
        let mut ag = h.register(reg);
        let offer = h.offer(&mut fw);
        let mut t = task("t1", &ag.id, 1.0, 64.0);
        t.resources = serde_json::from_value(json!([
            reserved("cpus", 1.0, "web"),
            volume(100.0, "web", "v1")
        ]))
        .unwrap();
        h.accept_ops(
            &fw,
            &[&offer],
            vec![
                op(json!({"type": "RESERVE", "reserve": {"resources": [
                    reserved("cpus", 2.0, "web"), reserved("disk", 500.0, "web")]}})),
                op(json!({"type": "CREATE", "create": {"volumes": [volume(100.0, "web", "v1")]}})),
                Operation::launch(vec![t]),
            ],
        );
        let msgs = ag.messages();
        let cps = checkpoints(&msgs);
        assert_eq!(cps.len(), 2, "{msgs:?}");
        let last = &cps[1];
        assert_eq!(last.scalar("cpus"), 2.0);
        assert_eq!(last.scalar("disk"), 500.0);
        assert_eq!(
            last.iter().filter(|r| r.disk.is_some()).count(),
            1,
            "{last:?}"
        );
        assert!(
            msgs.iter().any(|m| matches!(m, ToAgent::RunTasks { .. })),
            "the task runs on the reserved cpus and the volume: {msgs:?}"
        );
        let total = &h.m.agents[&ag.id].total;
        assert_eq!(total.usable_by("*").scalar("cpus"), 2.0);
        assert_eq!(total.scalar("cpus"), 4.0);

        // The agent restarts: it reports its checkpoint, and the master's view is the same.
        let before = h.m.agents[&ag.id].total.clone();
        let mut reg = mock_agent(4.0, 1024.0, (31000, 31009));
        reg.agent_info
            .resources
            .push(Resource::scalar("disk", 1000.0));
        reg.agent_id = Some(ag.id.clone());
        reg.checkpointed_resources = last.to_vec();
        let mut ag2 = h.register(reg);
        assert_eq!(h.m.agents[&ag2.id].total, before);

        // The task ends; the volume is destroyed and everything unreserved, in one ACCEPT.
        h.update(&ag2, &fw.id, "t1", TaskState::TASK_FINISHED);
        fw.events();
        let offer = h.offer(&mut fw);
        assert!(
            offer.resources.iter().any(|r| r.disk.is_some()),
            "{offer:?}"
        );
        h.accept_ops(
            &fw,
            &[&offer],
            vec![
                op(json!({"type": "DESTROY", "destroy": {"volumes": [volume(100.0, "web", "v1")]}})),
                op(json!({"type": "UNRESERVE", "unreserve": {"resources": [
                    reserved("cpus", 2.0, "web"), reserved("disk", 500.0, "web")]}})),
            ],
        );
        let cps = checkpoints(&ag2.messages());
        assert_eq!(cps.len(), 2, "{cps:?}");
        assert!(cps[1].is_empty(), "{cps:?}");
        assert_eq!(h.m.agents[&ag2.id].total.usable_by("*").scalar("cpus"), 4.0);
    }

    #[test]
    fn invalid_operations_are_dropped_and_the_rest_goes_on() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(web());
        let mut ag = h.register(mock_agent(4.0, 1024.0, (31000, 31009)));
        let offer = h.offer(&mut fw);
        let cases = [
            // Another role than the offer's.
            json!({"type": "RESERVE", "reserve": {"resources": [reserved("cpus", 1.0, "db")]}}),
            // More than offered.
            json!({"type": "RESERVE", "reserve": {"resources": [reserved("cpus", 9.0, "web")]}}),
            // Unreserving what is not reserved.
            json!({"type": "UNRESERVE", "unreserve": {"resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}]}}),
            // A volume on unreserved disk, and one leaving the sandbox.
            json!({"type": "CREATE", "create": {"volumes": [{"name": "disk", "type": "SCALAR",
                "scalar": {"value": 1}, "disk": {"persistence": {"id": "x"}}}]}}),
        ];
        let who = Asker {
            role: "web",
            principal: Some("ops"),
        };
        let why: Vec<String> = cases
            .iter()
            .filter_map(|c| conversion(&op(c.clone()), &who).err())
            .map(|e| e.to_string())
            .collect();
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].contains("'db' is not the offer's allocation role 'web'"));
        let mut bad_path = volume(1.0, "web", "v");
        bad_path["disk"]["volume"]["container_path"] = json!("../x");
        let err = conversion(
            &op(json!({"type": "CREATE", "create": {"volumes": [bad_path]}})),
            &who,
        );
        assert!(
            matches!(err, Err(OperationInvalid::BadContainerPath(_))),
            "{err:?}"
        );
        let mut ops: Vec<Operation> = cases.into_iter().map(op).collect();
        ops.push(op(json!({"type": "RESERVE", "reserve": {"resources": [
            reserved("cpus", 1.0, "web")]}})));
        h.accept_ops(&fw, &[&offer], ops);
        let cps = checkpoints(&ag.messages());
        assert_eq!(cps.len(), 1, "only the valid one: {cps:?}");
        assert_eq!(cps[0].scalar("cpus"), 1.0);
    }

    #[test]
    fn frameworks_without_refinement_see_reservations_in_the_old_form() {
        let mut h = Harness::new();
        let mut info = web();
        info.capabilities.clear();
        let mut fw = h.subscribe(info);
        let mut reg = mock_agent(1.0, 256.0, (31000, 31000));
        reg.agent_info
            .resources
            .extend(Resources::parse("cpus(web):2").unwrap().to_vec());
        h.register(reg);
        let offer = h.offer(&mut fw);
        let r = offer
            .resources
            .iter()
            .find(|r| r.name == "cpus" && r.role.as_deref() == Some("web"))
            .expect("the reserved cpus, as role 'web'");
        assert!(r.reservations.is_empty(), "{r:?}");
        assert!(
            offer.resources.iter().all(|r| r.role.is_some()),
            "{offer:?}"
        );
    }

    #[test]
    fn an_agent_that_missed_a_checkpoint_is_sent_this_masters_view_when_it_comes_back() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(web());
        let ag = h.register(mock_agent(4.0, 1024.0, (31000, 31009)));
        let offer = h.offer(&mut fw);
        h.accept_ops(
            &fw,
            &[&offer],
            vec![op(json!({"type": "RESERVE", "reserve": {"resources": [
                reserved("cpus", 2.0, "web")]}}))],
        );
        let view = h.m.agents[&ag.id].total.clone();
        // It comes back reporting no checkpoint (it never got the message).
        let mut reg = mock_agent(4.0, 1024.0, (31000, 31009));
        reg.agent_id = Some(ag.id.clone());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        h.m.register_agent(reg, "10.0.0.7".into(), tx, h.now)
            .unwrap();
        let sent: Vec<ToAgent> = drain(&mut rx);
        assert_eq!(h.m.agents[&ag.id].total, view);
        let cps = checkpoints(&sent);
        assert_eq!(cps.len(), 1, "{sent:?}");
        assert_eq!(cps[0].scalar("cpus"), 2.0);
    }

    #[test]
    fn a_refinement_pushes_and_pops_one_level() {
        let stack = |roles: &[&str]| -> serde_json::Value {
            let rs: Vec<serde_json::Value> = roles
                .iter()
                .map(|r| json!({"type": "DYNAMIC", "role": r, "principal": "ops"}))
                .collect();
            json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "reservations": rs})
        };
        let who = Asker {
            role: "eng/web",
            principal: Some("ops"),
        };
        let push = conversion(
            &op(json!({"type": "RESERVE", "reserve": {"resources": [stack(&["eng", "eng/web"])]}})),
            &who,
        )
        .unwrap();
        let level = |r: &Resources| r.iter().next().map(|x| x.reservations.len()).unwrap();
        assert_eq!((level(&push.consumed), level(&push.converted)), (1, 2));
        assert_eq!(
            push.consumed.iter().next().unwrap().reservation_role(),
            "eng"
        );
        let pop = conversion(
            &op(json!({"type": "UNRESERVE", "unreserve": {"resources": [stack(&["eng", "eng/web"])]}})),
            &who,
        )
        .unwrap();
        assert_eq!((level(&pop.consumed), level(&pop.converted)), (2, 1));
        // Refining for a role other than the offer's is refused.
        let other = Asker {
            role: "eng",
            principal: Some("ops"),
        };
        assert!(conversion(
            &op(json!({"type": "RESERVE", "reserve": {"resources": [stack(&["eng", "eng/web"])]}})),
            &other
        )
        .is_err());
    }
}
