//! A task's sandbox: browse its files and tail its logs, through the agent's files API.

use crate::Ui;
use axum::Router;
use std::sync::Arc;

/// This area's routes.
pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
}
