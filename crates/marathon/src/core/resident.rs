//! Resident apps: each instance's reservation on one agent (cpus, mem, disk reserved for
//! Marathon's role and labelled with the framework and reservation ids, and its persistent
//! volumes). A new instance RESERVEs, CREATEs its volumes and LAUNCHes in one ACCEPT; when its
//! task ends (or the app scales down) the reservation is kept and the instance waits for an
//! offer carrying it (on that agent) to launch again with the same volumes. Only instances
//! beyond the reservations an app holds make new ones. When the app is deleted, its
//! reservations are released: DESTROY of the volumes and UNRESERVE of everything, on the next
//! offer carrying them once their task has ended. Reserved resources of Marathon's that no
//! reservation here knows (a crash between ACCEPT and store) are released the same way.

use super::{Marathon, NoFit};
use crate::constraints::AgentFacts;
use crate::resident;
use crate::validate::task_prefix;
use drover_api::marathon::App;
use drover_api::{AllocationInfo, Offer, Operation, OperationType, Resource, Resources, TaskInfo};
use drover_store::Op;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// One resident instance's reservation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Reservation {
    /// The `marathon_task_id` label of its resources.
    pub id: String,
    pub app_id: String,
    pub agent_id: String,
    pub host: String,
    /// The task running on it; none while the instance waits for its resources ("Reserved").
    #[serde(default)]
    pub task: Option<String>,
    /// Its resources were seen: a task on it ran, or an offer carried them. One never seen
    /// (the ACCEPT that made it failed) is forgotten when its task ends.
    #[serde(default)]
    pub confirmed: bool,
    /// The app is gone: release it (DESTROY, UNRESERVE) once its task has ended.
    #[serde(default)]
    pub releasing: bool,
    /// The role it is reserved for (offers of that role carry it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A resident launch out of one offer: the task, the resources it used, its ports, the
/// reservation it runs on and the RESERVE/CREATE operations that go before the LAUNCH (none
/// when it launches on a reservation it has).
pub(super) struct ResidentLaunch {
    pub task: TaskInfo,
    pub used: Resources,
    pub ports: Vec<u32>,
    pub reservation: String,
    pub ops: Vec<Operation>,
}

pub(super) const PREFIX: &str = "marathon/reservations/";

fn op(kind: OperationType, field: &str, list: Vec<Resource>) -> Operation {
    let mut o = Operation::launch(vec![]);
    o.kind = kind;
    o.launch = None;
    let body = Some(json!({ field: list }));
    match kind {
        OperationType::RESERVE => o.reserve = body,
        OperationType::UNRESERVE => o.unreserve = body,
        OperationType::CREATE => o.create = body,
        _ => o.destroy = body,
    }
    o
}

impl Marathon {
    fn fw(&self) -> String {
        self.framework_id
            .as_ref()
            .map(|f| f.value.clone())
            .unwrap_or_default()
    }

    fn persist_reservation(&mut self, id: &str) {
        let op = match self.reservations.get(id) {
            Some(r) => match serde_json::to_vec(r) {
                Ok(v) => Op::Put(format!("{PREFIX}{id}"), v),
                Err(_) => return,
            },
            None => Op::Delete(format!("{PREFIX}{id}")),
        };
        self.write(vec![op]);
    }

    /// Reservations of `app_id` a launch will use (kept, not being released): waiting, or
    /// with their task being killed (the planner already wants its replacement, which must
    /// wait for this reservation rather than make another).
    pub(super) fn spare_reservations(&self, app_id: &str) -> usize {
        self.reservations
            .values()
            .filter(|r| r.app_id == app_id && !r.releasing)
            .filter(|r| {
                r.task
                    .as_ref()
                    .and_then(|t| self.instances.get(t))
                    .is_none_or(|i| i.killing)
            })
            .count()
    }

    /// Reservations whose app is gone (deleted, also with no instance left) are released.
    pub(super) fn release_orphan_reservations(&mut self) {
        let gone: Vec<String> = self
            .reservations
            .values()
            .filter(|r| !r.releasing && !self.apps.contains_key(&r.app_id))
            .map(|r| r.app_id.clone())
            .collect();
        for app in gone {
            self.release_reservations(&app);
        }
    }

    /// Whether offers are needed to release reservations of deleted apps.
    pub(super) fn releases_pending(&self) -> bool {
        self.reservations
            .values()
            .any(|r| r.releasing && r.task.is_none())
    }

    /// The task of reservation `rid` ended (or its instance was forgotten): the reservation
    /// waits for the next launch; one never confirmed is forgotten.
    pub(super) fn reservation_freed(&mut self, rid: &str) {
        let Some(r) = self.reservations.get_mut(rid) else {
            return;
        };
        r.task = None;
        if !r.confirmed {
            self.reservations.remove(rid);
        }
        self.persist_reservation(rid);
    }

    /// The task on reservation `rid` runs: its resources exist.
    pub(super) fn reservation_confirmed(&mut self, rid: &str) {
        if let Some(r) = self.reservations.get_mut(rid) {
            if !r.confirmed {
                r.confirmed = true;
                self.persist_reservation(rid);
            }
        }
    }

    /// The app `app_id` is gone: release its reservations.
    pub(super) fn release_reservations(&mut self, app_id: &str) {
        let ids: Vec<String> = self
            .reservations
            .values()
            .filter(|r| r.app_id == app_id && !r.releasing)
            .map(|r| r.id.clone())
            .collect();
        for id in ids {
            if let Some(r) = self.reservations.get_mut(&id) {
                r.releasing = true;
            }
            self.persist_reservation(&id);
        }
    }

    /// Take Marathon's reserved resources out of `remaining` (no other app may use them),
    /// grouped by reservation, and the operations releasing those that must go (of a deleted
    /// app, or unknown), in order: DESTROY, then UNRESERVE.
    pub(super) fn take_reserved(
        &mut self,
        remaining: &mut Resources,
    ) -> (BTreeMap<String, Vec<Resource>>, Vec<Operation>) {
        let fw = self.fw();
        let mut held: BTreeMap<String, Vec<Resource>> = BTreeMap::new();
        for r in remaining.iter() {
            if let Some((f, rid)) = resident::owner(r) {
                if f == fw {
                    held.entry(rid).or_default().push(r.clone());
                }
            }
        }
        let (mut destroy, mut unreserve) = (Vec::new(), Vec::new());
        let mut released = Vec::new();
        for (rid, rs) in &held {
            for r in rs {
                remaining.subtract(r);
            }
            let release = match self.reservations.get_mut(rid) {
                None => true,
                Some(res) => {
                    res.confirmed = true;
                    res.releasing && res.task.is_none()
                }
            };
            if release {
                for r in rs {
                    if r.persistence_id().is_some() {
                        destroy.push(r.clone());
                    }
                    unreserve.push(resident::plain(r));
                }
                released.push(rid.clone());
            }
        }
        for rid in &released {
            held.remove(rid);
            if self.reservations.remove(rid).is_some() {
                self.persist_reservation(rid);
            }
        }
        let mut ops = Vec::new();
        if !destroy.is_empty() {
            ops.push(op(OperationType::DESTROY, "volumes", destroy));
        }
        if !unreserve.is_empty() {
            ops.push(op(OperationType::UNRESERVE, "resources", unreserve));
        }
        (held, ops)
    }

    /// One instance of resident `app` from this offer: on a reservation of its waiting here,
    /// or (when it wants more instances than it holds reservations) on a new one made of
    /// unreserved resources.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn resident_task(
        &mut self,
        app: &App,
        want: usize,
        offer: &Offer,
        facts: &AgentFacts,
        remaining: &Resources,
        held: &mut BTreeMap<String, Vec<Resource>>,
        pending: &[TaskInfo],
    ) -> Result<ResidentLaunch, NoFit> {
        // Reservations are matched by their labels, not by the app's accepted roles.
        let mut plain_app = app.clone();
        plain_app.accepted_resource_roles = None;
        let ports_of = |rs: &Resources| {
            Resources::from_list(
                &rs.iter()
                    .filter(|r| r.name == "ports" && r.reservation_role() == "*")
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        };
        let waiting = self
            .reservations
            .values()
            .find(|r| {
                r.app_id == app.id
                    && r.task.is_none()
                    && !r.releasing
                    && r.agent_id == offer.agent_id.value
                    && held.contains_key(&r.id)
            })
            .map(|r| r.id.clone());
        if let Some(rid) = waiting {
            let rs = held.get(&rid).cloned().unwrap_or_default();
            let (volumes, rest): (Vec<Resource>, Vec<Resource>) =
                rs.into_iter().partition(|r| r.persistence_id().is_some());
            let mut pool = Resources::from_list(&rest);
            pool.add_all(&ports_of(remaining));
            let (mut task, used, ports) =
                self.build_task(&plain_app, offer, facts, &pool, pending)?;
            let role = self.offer_role(offer);
            task.resources.extend(volumes.into_iter().map(|mut v| {
                v.allocation_info = Some(AllocationInfo {
                    role: Some(role.clone()),
                });
                v
            }));
            held.remove(&rid);
            if let Some(r) = self.reservations.get_mut(&rid) {
                r.task = Some(task.task_id.value.clone());
            }
            self.persist_reservation(&rid);
            return Ok(ResidentLaunch {
                task,
                used,
                ports,
                reservation: rid,
                ops: vec![],
            });
        }
        if want <= self.spare_reservations(&app.id) {
            // Its instances wait for their reservations, elsewhere.
            return Err(NoFit::NoCorrespondingReservationFound);
        }
        let role = self.offer_role(offer);
        if role == "*" {
            return Err(NoFit::UnfulfilledRole);
        }
        let unreserved = Resources::from_list(
            &remaining
                .iter()
                // Revocable resources cannot be reserved.
                .filter(|r| r.reservation_role() == "*" && r.revocable.is_none())
                .cloned()
                .collect::<Vec<_>>(),
        );
        let need = resident::unreserved_need(app);
        for (name, reason) in [
            ("cpus", NoFit::InsufficientCpus),
            ("mem", NoFit::InsufficientMemory),
            ("disk", NoFit::InsufficientDisk),
        ] {
            if drover_api::resources::to_fixed(unreserved.scalar(name))
                < drover_api::resources::to_fixed(need.scalar(name))
            {
                return Err(reason);
            }
        }
        let rid = format!("{}.{}", task_prefix(&app.id), self.ids.next_id());
        let new = resident::reservation(app, &self.fw(), &rid, &role);
        let mut pool = Resources::from_list(&new.reserve);
        // The volumes' disks are not the task's own disk.
        for v in &new.create {
            pool.subtract(&resident::plain(v));
        }
        pool.add_all(&ports_of(remaining));
        let (mut task, mut used, ports) =
            self.build_task(&plain_app, offer, facts, &pool, pending)?;
        task.resources.extend(new.create.iter().cloned());
        // What leaves the offer: the unreserved quantities reserved, and the ports.
        used.add_all(&need);
        self.reservations.insert(
            rid.clone(),
            Reservation {
                id: rid.clone(),
                app_id: app.id.clone(),
                agent_id: offer.agent_id.value.clone(),
                host: offer.hostname.clone(),
                task: Some(task.task_id.value.clone()),
                confirmed: false,
                releasing: false,
                role: Some(role.clone()),
            },
        );
        self.persist_reservation(&rid);
        Ok(ResidentLaunch {
            task,
            used,
            ports,
            reservation: rid,
            ops: vec![
                op(OperationType::RESERVE, "resources", new.reserve),
                op(OperationType::CREATE, "volumes", new.create),
            ],
        })
    }
}

/// A kill with `wipe=true` (`DELETE /v2/apps/{id}/tasks[/{task}]`, `POST /v2/tasks/delete`):
/// the tasks are killed and the reservations of resident ones released (their volumes
/// destroyed) once their tasks end, so their replacements reserve anew, anywhere. The way out
/// for an instance whose agent is gone for good. Not with `scale` (Marathon's 400).
#[derive(Clone, Debug)]
pub struct WipeCommand(pub super::KillCommand);

impl super::Command for WipeCommand {
    type Output = super::Killed;
    fn run(
        self,
        m: &mut Marathon,
        now: f64,
        calls: &mut super::Calls,
    ) -> Result<super::Killed, crate::MarathonError> {
        let scale = match &self.0 {
            super::KillCommand::AppTasks { scale, .. }
            | super::KillCommand::AppTask { scale, .. }
            | super::KillCommand::Tasks { scale, .. } => *scale,
        };
        if scale {
            return Err(crate::MarathonError::ScaleAndWipe);
        }
        let killed = self.0.run(m, now, calls)?;
        for rid in killed.tasks.iter().filter_map(|i| i.reservation.clone()) {
            if let Some(r) = m.reservations.get_mut(&rid) {
                r.releasing = true;
                m.persist_reservation(&rid);
            }
        }
        Ok(killed)
    }
}
