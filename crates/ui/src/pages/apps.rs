//! Apps (Marathon): the apps table grouped by folder, an app's page with its actions, tasks, last failure and why it is not running.

use crate::Ui;
use axum::Router;
use std::sync::Arc;

/// This area's routes.
pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
}
