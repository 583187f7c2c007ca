//! Packages: the catalogue (search, describe), install with a form from the package's config schema, the installed ones, uninstall — through Cosmos.

use crate::Ui;
use axum::Router;
use std::sync::Arc;

/// This area's routes.
pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
}
