//! migration pages (routes merged into the main router).

use axum::Router;
use mamis_store::Store;

use crate::WebState;

/// The routes of this module.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
}
