//! The operator's reservations and volumes (`RESERVE_RESOURCES`, `UNRESERVE_RESOURCES`,
//! `CREATE_VOLUMES`, `DESTROY_VOLUMES` and the old `/reserve`, `/unreserve`,
//! `/create-volumes`, `/destroy-volumes`): an operation on an agent's unallocated resources,
//! checked as Mesos 1.11 checks an operator's, made with [`conversion`] and applied with
//! [`Master::apply_operation`] without a framework. As Mesos' `_operation`, when the resources
//! are not unallocated the agent's outstanding offers that hold them are rescinded and the
//! operation is tried once more.

use super::operations::{conversion, Asker, OperationInvalid};
use super::quota::role_problem;
use super::{resources_text, Master};
use crate::ApiError;
use drover_allocator::Conversion;
use drover_api::*;

/// The field of each operation that holds its list of resources.
fn list_field(kind: OperationType) -> Option<(&'static str, &'static str)> {
    match kind {
        OperationType::RESERVE => Some(("reserve", "resources")),
        OperationType::UNRESERVE => Some(("unreserve", "resources")),
        OperationType::CREATE => Some(("create", "volumes")),
        OperationType::DESTROY => Some(("destroy", "volumes")),
        _ => None,
    }
}

/// An operation of `kind` on `resources` (each a v1 `Resource` as JSON).
pub fn operation(kind: OperationType, resources: Vec<serde_json::Value>) -> Operation {
    let body = list_field(kind).map(|(_, field)| serde_json::json!({ field: resources }));
    Operation {
        kind,
        id: None,
        launch: None,
        launch_group: None,
        reserve: body.clone().filter(|_| kind == OperationType::RESERVE),
        unreserve: body.clone().filter(|_| kind == OperationType::UNRESERVE),
        create: body.clone().filter(|_| kind == OperationType::CREATE),
        destroy: body.filter(|_| kind == OperationType::DESTROY),
    }
}

fn invalid(kind: OperationType, agent: &AgentID, why: OperationInvalid) -> ApiError {
    ApiError::InvalidOperation {
        kind,
        agent: agent.clone(),
        why,
    }
}

impl Master {
    /// An operator's RESERVE, UNRESERVE, CREATE or DESTROY on `agent_id`'s unallocated
    /// resources, all or nothing. Refused: an unknown agent, `Reserve.source`, an invalid
    /// operation (400), resources that are neither unallocated nor in outstanding offers (409).
    pub fn operator_operation(
        &mut self,
        agent_id: &AgentID,
        op: &Operation,
        now: f64,
    ) -> Result<(), ApiError> {
        let kind = op.kind;
        if self.agents.get(agent_id).is_none_or(|a| a.unreachable) {
            return Err(ApiError::NoAgentWithId);
        }
        let Some((outer, field)) = list_field(kind) else {
            return Err(invalid(
                kind,
                agent_id,
                OperationInvalid::Missing("reserve, unreserve, create or destroy"),
            ));
        };
        let body = match kind {
            OperationType::RESERVE => op.reserve.as_ref(),
            OperationType::UNRESERVE => op.unreserve.as_ref(),
            OperationType::CREATE => op.create.as_ref(),
            _ => op.destroy.as_ref(),
        };
        let source =
            super::operations::reserve_source(op).map_err(|why| invalid(kind, agent_id, why))?;
        let values = body
            .and_then(|b| b.get(field))
            .ok_or(OperationInvalid::Missing(outer))
            .and_then(|v| {
                v.as_array()
                    .cloned()
                    .ok_or_else(|| OperationInvalid::Unreadable {
                        field,
                        error: "not a list".into(),
                    })
            })
            .map_err(|why| invalid(kind, agent_id, why))?;
        let conv = match source {
            Some(source) => Self::operator_re_reservation(op, &source, &values),
            None => self.operator_conversion(kind, field, values),
        }
        .map_err(|why| invalid(kind, agent_id, why))?;
        if kind == OperationType::DESTROY {
            let found = self
                .agents
                .get(agent_id)
                .is_some_and(|a| a.total.contains(&conv.consumed));
            if !found {
                return Err(invalid(
                    kind,
                    agent_id,
                    OperationInvalid::VolumeNotFound(resources_text(&conv.consumed)),
                ));
            }
        }
        match self.apply_operation(agent_id, None, &conv) {
            Err(OperationInvalid::NotOffered(_)) => {}
            other => return other.map_err(|why| invalid(kind, agent_id, why)),
        }
        self.rescind_offers_holding(agent_id, &conv.consumed, now);
        match self.apply_operation(agent_id, None, &conv) {
            Err(OperationInvalid::NotOffered(_)) => Err(ApiError::ResourcesUnavailable {
                agent: agent_id.clone(),
                wanted: resources_text(&conv.consumed),
                available: self
                    .allocator
                    .agent_available(&agent_id.value)
                    .map(|a| resources_text(&a))
                    .unwrap_or_default(),
            }),
            other => other.map_err(|why| invalid(kind, agent_id, why)),
        }
    }

    /// Each resource checked as Mesos checks an operator's (a valid role in every
    /// reservation; not allocated: the operator reserves from unallocated resources; no
    /// principal to match), then [`conversion`] with the resource's own role as the asker's,
    /// so one call may reserve for several roles.
    fn operator_conversion(
        &self,
        kind: OperationType,
        field: &'static str,
        values: Vec<serde_json::Value>,
    ) -> Result<Conversion, OperationInvalid> {
        let mut all = Conversion {
            consumed: Resources::new(),
            converted: Resources::new(),
        };
        let mut ids = std::collections::HashSet::new();
        for v in values {
            let r: Resource = serde_json::from_value::<Resource>(v.clone())
                .map_err(|e| OperationInvalid::Unreadable {
                    field,
                    error: e.to_string(),
                })?
                .upgraded();
            for role in r.reservations.iter().filter_map(|x| x.role.as_deref()) {
                if let Some(why) = role_problem(role) {
                    return Err(OperationInvalid::BadRole(why.to_string()));
                }
            }
            if kind == OperationType::RESERVE && r.allocation_info.is_some() {
                return Err(OperationInvalid::AllocatedByOperator);
            }
            if kind == OperationType::CREATE {
                let id = r
                    .persistence_id()
                    .map(|i| (r.reservation_role().to_string(), i.to_string()));
                if let Some((role, id)) = id {
                    if !ids.insert((role.clone(), id.clone())) {
                        return Err(OperationInvalid::DuplicateVolume { role, id });
                    }
                }
            }
            let who = Asker {
                role: r.reservation_role(),
                principal: None,
            };
            let c = conversion(&operation(kind, vec![v]), &who)?;
            all.consumed.add_all(&c.consumed);
            all.converted.add_all(&c.converted);
        }
        Ok(all)
    }

    /// An operator's RESERVE with a `source`: every role valid, nothing allocated, then
    /// [`conversion`] as the target's role.
    fn operator_re_reservation(
        op: &Operation,
        source: &[Resource],
        values: &[serde_json::Value],
    ) -> Result<Conversion, OperationInvalid> {
        let mut target = Vec::with_capacity(values.len());
        for v in values {
            let r = serde_json::from_value::<Resource>(v.clone())
                .map_err(|e| OperationInvalid::Unreadable {
                    field: "resources",
                    error: e.to_string(),
                })?
                .upgraded();
            target.push(r);
        }
        for r in source.iter().chain(&target) {
            for role in r.reservations.iter().filter_map(|x| x.role.as_deref()) {
                if let Some(why) = role_problem(role) {
                    return Err(OperationInvalid::BadRole(why.to_string()));
                }
            }
            if r.allocation_info.is_some() {
                return Err(OperationInvalid::AllocatedByOperator);
            }
        }
        let who = Asker {
            role: target.first().map(|r| r.reservation_role()).unwrap_or("*"),
            principal: None,
        };
        conversion(op, &who)
    }

    /// Rescind `agent_id`'s outstanding offers, one at a time, until what they gave back
    /// covers `wanted`; offers holding none of it are left alone (Mesos' `_operation`).
    fn rescind_offers_holding(&mut self, agent_id: &AgentID, wanted: &Resources, now: f64) {
        let mut offers: Vec<(OfferID, Resources)> = self
            .offers
            .iter()
            .filter(|(_, o)| &o.offer.agent_id == agent_id)
            .map(|(id, o)| (id.clone(), o.resources.clone()))
            .collect();
        offers.sort_by(|a, b| a.0.value.cmp(&b.0.value));
        let mut required = wanted.clone();
        let mut recovered = Resources::new();
        for (oid, resources) in offers {
            let mut rest = required.clone();
            rest.subtract_all(&resources);
            if rest == required {
                continue;
            }
            self.rescind_offer(&oid, now);
            recovered.add_all(&resources);
            required = rest;
            if recovered.contains(wanted) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests;
