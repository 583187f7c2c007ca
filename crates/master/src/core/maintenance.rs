//! Maintenance: the cluster's schedule (machines going DRAINING with an unavailability),
//! `/machine/down` and `/machine/up`, the unavailability carried by offers, and inverse offers
//! to the frameworks that run something on a draining machine, with their answers.
//!
//! As in Mesos 1.11: a `POST` replaces the whole schedule, a DOWN machine must stay in it,
//! machines go DOWN only from DRAINING and UP only from DOWN, and an agent on a DOWN machine
//! is removed (its tasks end as TASK_GONE_BY_OPERATOR, or TASK_LOST) and may not register
//! until its machine is up again. Inverse offers are advisory: a framework's answer is kept
//! and shown in `/maintenance/status`; a declined one is offered again after its filter.

use super::{Master, RegistryOp, DEFAULT_REFUSE_SECS};
use crate::ApiError;
use drover_api::maintenance::{
    ClusterStatus, DrainingMachine, InverseOffer, InverseOfferStatus, InverseOfferStatusKind,
    MachineID, Schedule, Unavailability,
};
use drover_api::scheduler::Event;
use drover_api::*;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Why a schedule or a list of machines is refused (Mesos' words; 400).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MaintenanceError {
    #[error("List of machines in the maintenance window is empty")]
    EmptyWindow,
    #[error("Unavailability 'duration' is negative")]
    NegativeDuration,
    #[error("List of machines is empty")]
    NoMachines,
    #[error("Both 'hostname' and 'ip' for a machine are empty")]
    EmptyMachine,
    #[error("Failed to parse IP address '{0}'")]
    BadIp(String),
    #[error("Machine '{0}' appears more than once in the schedule")]
    Duplicate(String),
    #[error("Machine '{0}' is deactivated and cannot be removed from the schedule")]
    DownRemoved(String),
    #[error("Machine '{0}' is not part of a maintenance schedule")]
    NotScheduled(String),
    #[error("Machine '{0}' is not in DRAINING mode and cannot be brought down")]
    NotDraining(String),
    #[error("Machine '{0}' is not in DOWN mode and cannot be brought up")]
    NotDown(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Draining,
    Down,
}

/// A machine in the schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    pub mode: Mode,
    pub unavailability: Unavailability,
}

/// One framework's inverse offer for one agent.
#[derive(Clone, Debug)]
pub struct Inverse {
    /// The inverse offer it has not answered yet.
    pub outstanding: Option<OfferID>,
    pub status: InverseOfferStatusKind,
    /// Unix seconds of the last answer (or of the first inverse offer).
    pub timestamp: f64,
    /// A declined inverse offer is made again from then (its filter's refuse_seconds).
    pub again_at: f64,
}

/// What the master keeps of maintenance.
#[derive(Clone, Debug, Default)]
pub struct Maintenance {
    pub schedule: Schedule,
    pub machines: BTreeMap<MachineID, Machine>,
    pub inverse: HashMap<(AgentID, FrameworkID), Inverse>,
}

/// What the registry keeps: the schedule and the machines that are DOWN.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
pub struct StoredMaintenance {
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub down: Vec<MachineID>,
}

impl Maintenance {
    pub fn recover(stored: StoredMaintenance) -> Self {
        let down: HashSet<MachineID> = stored.down.into_iter().collect();
        let mut machines = BTreeMap::new();
        for w in &stored.schedule.windows {
            for id in &w.machine_ids {
                let mode = if down.contains(id) {
                    Mode::Down
                } else {
                    Mode::Draining
                };
                machines.insert(
                    id.clone(),
                    Machine {
                        mode,
                        unavailability: w.unavailability,
                    },
                );
            }
        }
        Maintenance {
            schedule: stored.schedule,
            machines,
            inverse: HashMap::new(),
        }
    }

    fn stored(&self) -> StoredMaintenance {
        StoredMaintenance {
            schedule: self.schedule.clone(),
            down: self
                .machines
                .iter()
                .filter(|(_, m)| m.mode == Mode::Down)
                .map(|(id, _)| id.clone())
                .collect(),
        }
    }

    /// The scheduled machine an agent on `hostname` at `ip` is on.
    pub fn machine_of(&self, hostname: &str, ip: &str) -> Option<(&MachineID, &Machine)> {
        self.machines
            .iter()
            .find(|(id, _)| id.matches(hostname, ip))
    }
}

/// The IP of an agent's pid (`slave(1)@10.0.0.7:5051`).
pub fn pid_ip(pid: &str) -> &str {
    let addr = pid.rsplit('@').next().unwrap_or("");
    addr.rsplit_once(':').map(|(ip, _)| ip).unwrap_or(addr)
}

fn check_machine(id: &MachineID) -> Result<(), MaintenanceError> {
    if id.is_empty() {
        return Err(MaintenanceError::EmptyMachine);
    }
    if let Some(ip) = id.ip.as_deref().filter(|i| !i.is_empty()) {
        if ip.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(MaintenanceError::BadIp(ip.to_string()));
        }
    }
    Ok(())
}

/// Mesos' `maintenance::validation::machines`.
pub fn check_machines(ids: &[MachineID]) -> Result<(), MaintenanceError> {
    if ids.is_empty() {
        return Err(MaintenanceError::NoMachines);
    }
    let mut seen = HashSet::new();
    for id in ids {
        check_machine(id)?;
        if !seen.insert(id) {
            return Err(MaintenanceError::Duplicate(id.to_json()));
        }
    }
    Ok(())
}

/// Mesos' `maintenance::validation::schedule`: windows with machines, durations not negative,
/// each machine once, and no DOWN machine left out.
pub fn check_schedule(
    schedule: &Schedule,
    machines: &BTreeMap<MachineID, Machine>,
) -> Result<(), MaintenanceError> {
    let mut seen = HashSet::new();
    for w in &schedule.windows {
        if w.machine_ids.is_empty() {
            return Err(MaintenanceError::EmptyWindow);
        }
        if w.unavailability.duration.is_some_and(|d| d.nanoseconds < 0) {
            return Err(MaintenanceError::NegativeDuration);
        }
        for id in &w.machine_ids {
            check_machine(id)?;
            if !seen.insert(id) {
                return Err(MaintenanceError::Duplicate(id.to_json()));
            }
        }
    }
    for (id, m) in machines {
        if m.mode == Mode::Down && !seen.contains(id) {
            return Err(MaintenanceError::DownRemoved(id.to_json()));
        }
    }
    Ok(())
}

impl Master {
    /// The machine (in the schedule) agent `id` is on.
    fn agent_machine(&self, id: &AgentID) -> Option<(&MachineID, &Machine)> {
        let a = self.agents.get(id)?;
        self.maintenance
            .machine_of(&a.info.hostname, pid_ip(&a.pid))
    }

    /// When agent `id` will be unavailable, if its machine is scheduled (offers carry it).
    pub fn unavailability_of(&self, id: &AgentID) -> Option<Unavailability> {
        self.agent_machine(id).map(|(_, m)| m.unavailability)
    }

    /// Whether an agent registering from `hostname` at `ip` is on a DOWN machine.
    pub fn machine_down(&self, hostname: &str, ip: &str) -> bool {
        self.maintenance
            .machine_of(hostname, ip)
            .is_some_and(|(_, m)| m.mode == Mode::Down)
    }

    /// Agents on machine `id`.
    fn agents_on(&self, id: &MachineID) -> Vec<AgentID> {
        self.agents
            .values()
            .filter(|a| !a.unreachable && id.matches(&a.info.hostname, pid_ip(&a.pid)))
            .map(|a| a.id.clone())
            .collect()
    }

    /// `POST /maintenance/schedule`, `UPDATE_MAINTENANCE_SCHEDULE`: replace the schedule.
    /// Machines that leave it are UP again, new ones go DRAINING; the offers of every agent
    /// whose unavailability changed are rescinded (the next ones carry it) and its inverse
    /// offers made again.
    pub fn update_maintenance_schedule(
        &mut self,
        schedule: Schedule,
        now: f64,
    ) -> Result<(), ApiError> {
        check_schedule(&schedule, &self.maintenance.machines)?;
        let before: HashMap<AgentID, Option<Unavailability>> = self
            .agents
            .keys()
            .map(|id| (id.clone(), self.unavailability_of(id)))
            .collect();
        let mut machines = BTreeMap::new();
        for w in &schedule.windows {
            for id in &w.machine_ids {
                let mode = match self.maintenance.machines.get(id) {
                    Some(m) if m.mode == Mode::Down => Mode::Down,
                    _ => Mode::Draining,
                };
                machines.insert(
                    id.clone(),
                    Machine {
                        mode,
                        unavailability: w.unavailability,
                    },
                );
            }
        }
        self.maintenance.machines = machines;
        self.maintenance.schedule = schedule;
        self.record(RegistryOp::PutMaintenance(self.maintenance.stored()));
        for (id, was) in before {
            if self.unavailability_of(&id) != was {
                self.rescind_offers_of(&id, now);
                self.rescind_inverse_offers_of(&id);
            }
        }
        self.allocation_wanted = true;
        self.send_inverse_offers(now);
        Ok(())
    }

    /// `POST /machine/down`, `START_MAINTENANCE`: DRAINING machines go DOWN; their agents are
    /// told to shut down and removed.
    pub fn start_maintenance(&mut self, ids: &[MachineID], now: f64) -> Result<(), ApiError> {
        check_machines(ids)?;
        for id in ids {
            match self.maintenance.machines.get(id) {
                None => return Err(MaintenanceError::NotScheduled(id.to_json()).into()),
                Some(m) if m.mode != Mode::Draining => {
                    return Err(MaintenanceError::NotDraining(id.to_json()).into())
                }
                Some(_) => {}
            }
        }
        for id in ids {
            if let Some(m) = self.maintenance.machines.get_mut(id) {
                m.mode = Mode::Down;
            }
        }
        self.record(RegistryOp::PutMaintenance(self.maintenance.stored()));
        for id in ids {
            for agent in self.agents_on(id) {
                tracing::warn!(agent_id = %agent, machine = %id.to_json(), "machine DOWN: removing its agent");
                let why = "Operator initiated 'Machine DOWN'";
                self.remove_agent_by_operator(&agent, why, why, now);
                self.record(RegistryOp::RemoveAgent(agent));
            }
        }
        Ok(())
    }

    /// `POST /machine/up`, `STOP_MAINTENANCE`: DOWN machines are UP and leave the schedule.
    pub fn stop_maintenance(&mut self, ids: &[MachineID]) -> Result<(), ApiError> {
        check_machines(ids)?;
        for id in ids {
            match self.maintenance.machines.get(id) {
                None => return Err(MaintenanceError::NotScheduled(id.to_json()).into()),
                Some(m) if m.mode != Mode::Down => {
                    return Err(MaintenanceError::NotDown(id.to_json()).into())
                }
                Some(_) => {}
            }
        }
        let up: HashSet<&MachineID> = ids.iter().collect();
        for w in &mut self.maintenance.schedule.windows {
            w.machine_ids.retain(|m| !up.contains(m));
        }
        self.maintenance
            .schedule
            .windows
            .retain(|w| !w.machine_ids.is_empty());
        for id in ids {
            self.maintenance.machines.remove(id);
        }
        self.record(RegistryOp::PutMaintenance(self.maintenance.stored()));
        Ok(())
    }

    /// `/maintenance/status`: DRAINING machines with the frameworks' answers, DOWN machines.
    pub fn maintenance_status(&self) -> ClusterStatus {
        let mut status = ClusterStatus::default();
        for (id, m) in &self.maintenance.machines {
            match m.mode {
                Mode::Down => status.down_machines.push(id.clone()),
                Mode::Draining => {
                    let agents: HashSet<AgentID> = self.agents_on(id).into_iter().collect();
                    let mut statuses: Vec<InverseOfferStatus> = self
                        .maintenance
                        .inverse
                        .iter()
                        .filter(|((a, _), _)| agents.contains(a))
                        .map(|((_, f), inv)| InverseOfferStatus {
                            status: inv.status,
                            framework_id: f.clone(),
                            timestamp: TimeInfo {
                                nanoseconds: (inv.timestamp * 1e9) as i64,
                            },
                        })
                        .collect();
                    statuses.sort_by(|a, b| a.framework_id.value.cmp(&b.framework_id.value));
                    status.draining_machines.push(DrainingMachine {
                        id: id.clone(),
                        statuses,
                    });
                }
            }
        }
        status
    }

    /// Make an inverse offer to every framework that runs something on an agent of a DRAINING
    /// machine and has none outstanding (a declined one waits for its filter; an accepted one
    /// is not made again while the unavailability stays the same).
    pub fn send_inverse_offers(&mut self, now: f64) {
        if self.maintenance.machines.is_empty() {
            return;
        }
        let unix = self.unix(now);
        let mut due: Vec<(AgentID, FrameworkID, Unavailability)> = Vec::new();
        for a in self.agents.values() {
            if a.unreachable {
                continue;
            }
            let Some((_, m)) = self
                .maintenance
                .machine_of(&a.info.hostname, pid_ip(&a.pid))
            else {
                continue;
            };
            if m.mode != Mode::Draining {
                continue;
            }
            let fids: HashSet<FrameworkID> = a
                .tasks
                .to_vec()
                .into_iter()
                .map(|(f, _)| FrameworkID::new(&*f))
                .collect();
            for fid in fids {
                let wanted = match self.maintenance.inverse.get(&(a.id.clone(), fid.clone())) {
                    None => true,
                    Some(inv) => {
                        inv.outstanding.is_none()
                            && inv.status == InverseOfferStatusKind::DECLINE
                            && now >= inv.again_at
                    }
                };
                if wanted {
                    due.push((a.id.clone(), fid, m.unavailability));
                }
            }
        }
        let mut by_fw: HashMap<FrameworkID, Vec<InverseOffer>> = HashMap::new();
        for (aid, fid, unavailability) in due {
            if !self.frameworks.get(&fid).is_some_and(|f| f.connected()) {
                continue;
            }
            let n = self.next();
            let id = OfferID::new(format!("{}-IO{n}", self.info.id));
            let entry = self
                .maintenance
                .inverse
                .entry((aid.clone(), fid.clone()))
                .or_insert(Inverse {
                    outstanding: None,
                    status: InverseOfferStatusKind::UNKNOWN,
                    timestamp: unix,
                    again_at: now,
                });
            entry.outstanding = Some(id.clone());
            by_fw.entry(fid.clone()).or_default().push(InverseOffer {
                id,
                url: None,
                framework_id: fid,
                agent_id: Some(aid),
                unavailability,
                resources: vec![],
            });
        }
        for (fid, offers) in by_fw {
            self.send_to_framework(&fid, &Event::inverse_offers(offers));
        }
    }

    /// Forget the inverse offers of agent `id` (its unavailability changed or it went away),
    /// rescinding the outstanding ones.
    pub(super) fn rescind_inverse_offers_of(&mut self, id: &AgentID) {
        let keys: Vec<(AgentID, FrameworkID)> = self
            .maintenance
            .inverse
            .keys()
            .filter(|(a, _)| a == id)
            .cloned()
            .collect();
        for k in keys {
            if let Some(inv) = self.maintenance.inverse.remove(&k) {
                if let Some(oid) = inv.outstanding {
                    self.send_to_framework(&k.1, &Event::rescind_inverse_offer(oid));
                }
            }
        }
    }

    /// ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS: the framework's answer is kept; ids it
    /// does not hold are ignored (as Mesos does, logging them).
    pub(super) fn answer_inverse_offers(
        &mut self,
        fid: &FrameworkID,
        ids: &[OfferID],
        accept: bool,
        filters: Option<&Filters>,
        now: f64,
    ) {
        let unix = self.unix(now);
        let refuse = filters
            .and_then(|f| f.refuse_seconds)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(DEFAULT_REFUSE_SECS);
        for oid in ids {
            let hit = self
                .maintenance
                .inverse
                .iter_mut()
                .find(|((_, f), inv)| f == fid && inv.outstanding.as_ref() == Some(oid));
            match hit {
                Some((_, inv)) => {
                    inv.outstanding = None;
                    inv.status = if accept {
                        InverseOfferStatusKind::ACCEPT
                    } else {
                        InverseOfferStatusKind::DECLINE
                    };
                    inv.timestamp = unix;
                    inv.again_at = now + refuse;
                }
                None => {
                    tracing::warn!(framework_id = %fid, inverse_offer_id = %oid.value, "ignoring an answer to an unknown inverse offer")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
