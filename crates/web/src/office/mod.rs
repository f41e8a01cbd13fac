//! The back office (事務局) home and its identity review queue, the migration dashboard, and the
//! JMA admins' OpenID client pages.

mod clients;
mod migration;
mod queue;

use axum::Router;
use axum::routing::{get, post};
use mamis_store::Store;

use crate::WebState;

/// The routes of the back office home, the queue, the migration dashboard and the clients.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/office", get(queue::office::<S>))
        .route(
            "/office/identity/{account}/verify",
            post(queue::verify::<S>),
        )
        .route(
            "/office/identity/{account}/forward",
            post(queue::forward::<S>),
        )
        .route(
            "/office/accounts/{account}/suspend",
            post(queue::suspend::<S>),
        )
        .route(
            "/office/accounts/{account}/unsuspend",
            post(queue::unsuspend::<S>),
        )
        .merge(clients::routes())
        .merge(migration::routes())
}
