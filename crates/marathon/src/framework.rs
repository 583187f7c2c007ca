//! Marathon as a framework on the master's public v1 scheduler API (named `marathon`): what it
//! subscribes with (its stored framework id after a restart, the roles of its apps), what it
//! makes of the master's events, and starting over when torn down. The link itself
//! (subscription, re-subscribing, posting calls) is `drover_framework::Link`.

use crate::Shared;
use drover_api::scheduler::{Call, CallType, Event, EventType};
use drover_api::{Capability, FrameworkInfo};
use std::sync::Arc;

/// What Marathon subscribes with, but its id and roles (the core adds those: the roles of its
/// apps change, see `core/roles.rs`).
pub(crate) fn framework_template(cfg: &crate::MarathonConfig) -> FrameworkInfo {
    FrameworkInfo {
        user: cfg.user.clone(),
        name: cfg.framework_name.clone(),
        id: None,
        failover_timeout: Some(cfg.failover_timeout_secs),
        checkpoint: Some(true),
        role: None,
        roles: vec![cfg.role.clone()],
        hostname: Some(cfg.hostname.clone()),
        principal: None,
        webui_url: Some(format!("http://{}", cfg.advertise)),
        capabilities: [
            "MULTI_ROLE",
            "PARTITION_AWARE",
            "TASK_KILLING_STATE",
            // Offered only to apps labelled DROVER_REVOCABLE=true (core/task.rs).
            "REVOCABLE_RESOURCES",
        ]
        .iter()
        .map(|c| Capability {
            kind: c.to_string(),
        })
        .collect(),
        labels: None,
        offer_filters: None,
    }
}

/// Marathon as the link sees it.
pub(crate) struct Framework(pub(crate) Arc<Shared>);

impl drover_framework::Scheduler for Framework {
    /// The template with the stored id and the roles in use (its own and its apps').
    fn framework_info(&self) -> FrameworkInfo {
        self.0.lock().framework_info()
    }

    fn on_event(&self, ev: Event) -> Vec<Call> {
        self.0.on_event(ev)
    }

    fn on_disconnected(&self) {
        self.0.lock().connected = false;
    }

    /// Torn down by an operator: start over as a new framework; our tasks are gone.
    fn on_removed(&self) {
        let mut m = self.0.lock();
        m.framework_id = None;
        m.forget_instances();
        let _ = m.store.delete("marathon/framework_id");
        if let Ok(rows) = m.store.scan("marathon/instances/") {
            let ops = rows
                .into_iter()
                .map(|(k, _)| drover_store::Op::Delete(k))
                .collect();
            let _ = m.store.apply(ops);
        }
    }
}

impl Shared {
    fn on_event(&self, ev: Event) -> Vec<Call> {
        let now = crate::driver::unix_now();
        let mut m = self.lock();
        match ev.kind {
            EventType::SUBSCRIBED => {
                let Some(sub) = ev.subscribed else {
                    return vec![];
                };
                tracing::info!(framework_id = %sub.framework_id, "marathon subscribed");
                m.set_framework_id(sub.framework_id);
                m.connected = true;
                m.suppressed = false;
                let mut calls = m.reconcile_after_subscribing(now);
                calls.push(Call::new(CallType::REVIVE, None));
                calls.extend(m.reconcile_plans(now));
                calls
            }
            EventType::OFFERS => m.offers(ev.offers.map(|o| o.offers).unwrap_or_default(), now),
            EventType::INVERSE_OFFERS => m.inverse_offers(
                ev.inverse_offers
                    .map(|o| o.inverse_offers)
                    .unwrap_or_default(),
                now,
            ),
            EventType::RESCIND_INVERSE_OFFER => match ev.rescind_inverse_offer {
                Some(r) => m.rescind_inverse_offer(&r.inverse_offer_id, now),
                None => vec![],
            },
            EventType::UPDATE => match ev.update {
                Some(u) => m.update(&u.status, now),
                None => vec![],
            },
            EventType::ERROR => {
                tracing::error!(
                    "master says: {}",
                    ev.error.map(|e| e.message).unwrap_or_default()
                );
                vec![]
            }
            _ => vec![],
        }
    }
}
