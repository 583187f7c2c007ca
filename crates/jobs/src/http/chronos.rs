//! Chronos' REST API (`/v1/scheduler/…` and `/scheduler/…`).

use crate::Shared;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
}
