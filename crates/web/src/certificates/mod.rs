//! My Page ⑤ (the printable PDFs: 日医生涯教育認定証, 学習単位取得証, 受講証明書), the public
//! verification page `/verify` (no login), and the back office's revocation form with the list
//! of open review items (JMA staff). Handlers extract, call one use case of
//! [`mamis_app::cme::certificates`] or [`mamis_app::cme::documents`], and render.
//!
//! Rate limit of `/verify`: an in-memory token bucket per client address (IPv6 per /64) in the
//! web state, 30 lookups refilled at 30 a minute. The login throttle (`lock_throttle`) does not
//! fit: it counts failures with doubling waits and costs a store write per attempt, which would
//! turn a public page into a write amplifier. The bucket is per server process; what keeps the
//! register from being walked is the 80-bit code, the limit only keeps guessing expensive.

mod documents;
mod office;
mod verify;

use axum::Router;
use axum::routing::{get, post};
use mamis_store::Store;

use crate::WebState;

/// The routes of My Page ⑤, the verification page and the office's certificate page.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/mypage/cme/documents", get(documents::documents_page::<S>))
        .route(
            "/mypage/cme/documents/certificate/{file}",
            get(documents::certificate_pdf::<S>),
        )
        .route(
            "/mypage/cme/documents/annual/{file}",
            get(documents::annual_pdf::<S>),
        )
        .route(
            "/mypage/cme/documents/attendance.pdf",
            post(documents::attendance_pdf::<S>),
        )
        .route("/verify", get(verify::verify_form::<S>))
        .route("/verify/{number}", get(verify::verify::<S>))
        .route("/office/certificates", get(office::office_page::<S>))
        .route(
            "/office/certificates/revoke",
            post(office::office_revoke::<S>),
        )
}
