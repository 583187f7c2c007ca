//! Deployments: the running ones with their steps, live; roll back.

use crate::Ui;
use axum::Router;
use std::sync::Arc;

/// This area's routes.
pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
}
