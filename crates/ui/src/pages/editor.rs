//! The spec editor: create an app or edit one as a form or as JSON, sending back exactly what was there plus what changed; versions with a diff, and applying an old one.

use crate::Ui;
use axum::Router;
use std::sync::Arc;

/// This area's routes.
pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
}
