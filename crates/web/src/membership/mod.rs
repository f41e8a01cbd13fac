//! Membership procedures (入会・異動・退会): in the back office the queue of the staff member's
//! associations and one procedure with its history and the forms of the action due; on My Page
//! the doctor's own procedures with the answer, drop and withdraw buttons.

mod mypage;
mod office;

use axum::Router;
use axum::routing::{get, post};
use mamis_store::Store;

use crate::WebState;

/// The routes of the membership capability.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/office/membership", get(office::queue::<S>))
        .route("/office/membership/{id}", get(office::procedure::<S>))
        .route("/office/membership/{id}/act", post(office::act::<S>))
        .route("/mypage/membership", get(mypage::mine::<S>))
        .route("/mypage/membership/{id}/act", post(mypage::act::<S>))
}
