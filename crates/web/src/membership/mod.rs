//! Membership procedures (入会・異動・種別変更・改姓・退会): in the back office the queue of the
//! staff member's associations, one procedure with its request, evidence, history and the forms
//! of the action due, and each association's settings; on My Page the doctor's own procedures
//! with the answer, drop and withdraw buttons, the filing forms and the doctor's record.

mod filing;
mod join;
mod mypage;
mod office;
mod paper;
mod profile;
mod settings;
pub(crate) mod upload;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use mamis_store::Store;

use crate::WebState;

/// The largest form with a document (a name change, a new resident's join): one evidence
/// file (10 MB) and the fields.
const NAME_FORM_LIMIT: usize = 11 * 1024 * 1024;

/// The routes of the membership capability.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/office/membership", get(office::queue::<S>))
        .route("/office/membership/settings", get(settings::show::<S>))
        .route(
            "/office/membership/settings/class",
            post(settings::save_class::<S>),
        )
        .route(
            "/office/membership/settings/rule",
            post(settings::set_rule::<S>),
        )
        .route(
            "/office/membership/settings/municipalities",
            post(settings::set_municipalities::<S>),
        )
        .route(
            "/office/membership/paper",
            get(paper::show::<S>).post(paper::file::<S>),
        )
        .route("/office/membership/paper/death", post(paper::death::<S>))
        .route("/office/membership/{id}", get(office::procedure::<S>))
        .route("/office/membership/{id}/act", post(office::act::<S>))
        .route(
            "/office/membership/{id}/evidence/{evidence}",
            get(office::evidence::<S>),
        )
        .route("/mypage/membership", get(mypage::mine::<S>))
        .route(
            "/mypage/membership/join",
            get(join::join_form::<S>).post(join::join::<S>),
        )
        .route(
            "/mypage/membership/apply",
            post(join::apply::<S>).layer(DefaultBodyLimit::max(NAME_FORM_LIMIT)),
        )
        .route(
            "/mypage/membership/transfer",
            get(filing::transfer_form::<S>).post(filing::transfer::<S>),
        )
        .route(
            "/mypage/membership/class",
            get(filing::class_form::<S>).post(filing::class_change::<S>),
        )
        .route(
            "/mypage/membership/withdraw",
            get(filing::withdraw_form::<S>).post(filing::withdraw::<S>),
        )
        .route(
            "/mypage/membership/name",
            get(profile::name_form::<S>)
                .post(profile::name_change::<S>)
                .layer(DefaultBodyLimit::max(NAME_FORM_LIMIT)),
        )
        .route("/mypage/membership/{id}/act", post(mypage::act::<S>))
        .route(
            "/mypage/profile",
            get(profile::profile_form::<S>).post(profile::profile::<S>),
        )
}
