//! Roles, as Marathon 1.9 (`MULTI_ROLE`) has them: which role an app may have (Marathon's own,
//! `--mesos_role`, or its top-level group's: `/dev/web` may have `dev`; an app keeps the role
//! it has), its `acceptedResourceRoles` only `*` and that role (as Marathon 1.10+, whose
//! version Drover reports; 1.9 dropped the others by default), the roles Marathon is subscribed
//! with (its own, its apps' and those of reservations not yet released) and the
//! `UPDATE_FRAMEWORK` that follows a change of them, and the role an offer is allocated to.

use super::{Calls, Marathon};
use drover_api::marathon::{App, ValidationDetail};
use drover_api::scheduler::{Call, CallType, UpdateFramework};
use drover_api::{FrameworkInfo, Offer};
use std::collections::BTreeSet;

impl Marathon {
    /// The roles app `app_id` may have, in Marathon's order: its own role at the root;
    /// Marathon's role and the top-level group's below it, plus the role the app has now
    /// (Marathon's `RoleSettings.forService`, groups not enforcing their role).
    pub fn valid_roles(&self, app_id: &str) -> Vec<String> {
        let segments: Vec<&str> = app_id
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let mut roles = vec![self.role.clone()];
        if segments.len() < 2 {
            return roles;
        }
        let existing = self.apps.get(app_id).and_then(|a| a.role.clone());
        for r in std::iter::once(segments[0].to_string()).chain(existing) {
            if !roles.contains(&r) {
                roles.push(r);
            }
        }
        roles
    }

    /// Give `app` its role (Marathon's when it has none) and check it is one it may have and
    /// that `acceptedResourceRoles` names only `*` and that role: Marathon's messages ("got x,
    /// expected one of: [*, dev]" at `/role`, "acceptedResourceRoles can only contain * and
    /// dev" at `/acceptedResourceRoles`).
    pub(super) fn settle_role(&self, app: &mut App) -> Vec<ValidationDetail> {
        let role = app.role.get_or_insert_with(|| self.role.clone()).clone();
        let mut errors = Vec::new();
        if let Some(accepted) = &app.accepted_resource_roles {
            let allowed = |r: &String| r == "*" || *r == role;
            let distinct: BTreeSet<&String> = accepted.iter().collect();
            if !accepted.iter().all(allowed) || distinct.len() > 2 {
                let only = if role == "*" {
                    "*".to_string()
                } else {
                    format!("* and {role}")
                };
                errors.push(ValidationDetail {
                    path: "/acceptedResourceRoles".into(),
                    errors: vec![format!("acceptedResourceRoles can only contain {only}")],
                });
            }
        }
        let valid = self.valid_roles(&app.id);
        if !valid.contains(&role) {
            errors.push(ValidationDetail {
                path: "/role".into(),
                errors: vec![format!(
                    "got {role}, expected one of: [{}]",
                    valid.join(", ")
                )],
            });
        }
        errors
    }

    /// The roles Marathon subscribes with: its own, every app's, and those of reservations
    /// still held (so offers carrying them come to release them after their app is gone).
    pub fn roles_in_use(&self) -> Vec<String> {
        let mut roles: BTreeSet<String> = BTreeSet::new();
        roles.insert(self.role.clone());
        for app in self.apps.values() {
            roles.insert(app.role.clone().unwrap_or_else(|| self.role.clone()));
        }
        for r in self.reservations.values() {
            if let Some(role) = &r.role {
                roles.insert(role.clone());
            }
        }
        roles.into_iter().collect()
    }

    /// What Marathon subscribes (or updates its framework) with: the driver's
    /// [`Marathon::framework_template`] with the framework id and the roles in use. It
    /// remembers the roles as subscribed.
    pub fn framework_info(&mut self) -> FrameworkInfo {
        let roles = self.roles_in_use();
        self.subscribed_roles = roles.clone();
        FrameworkInfo {
            id: self.framework_id.clone(),
            role: None,
            roles,
            ..self.framework_template.clone()
        }
    }

    /// An `UPDATE_FRAMEWORK` with the roles in use when they are not those subscribed with
    /// (an app of a new role, the last app of a role gone), keeping offers suppressed if they
    /// are.
    pub(super) fn update_roles(&mut self) -> Calls {
        if !self.connected || self.framework_id.is_none() {
            return vec![];
        }
        if self.roles_in_use() == self.subscribed_roles {
            return vec![];
        }
        let info = self.framework_info();
        tracing::info!(roles = ?info.roles, "marathon: the roles in use changed; updating the framework");
        let suppressed_roles = if self.suppressed {
            info.roles.clone()
        } else {
            vec![]
        };
        let mut c = Call::new(CallType::UPDATE_FRAMEWORK, self.framework_id.clone());
        c.update_framework = Some(UpdateFramework {
            framework_info: info,
            suppressed_roles,
        });
        vec![c]
    }

    /// The role `offer` is allocated to: its `allocation_info`, else its resources' (an offer
    /// is allocated to one role), else Marathon's own.
    pub(super) fn offer_role(&self, offer: &Offer) -> String {
        offer
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.clone())
            .or_else(|| {
                offer
                    .resources
                    .iter()
                    .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
            })
            .unwrap_or_else(|| self.role.clone())
    }
}
