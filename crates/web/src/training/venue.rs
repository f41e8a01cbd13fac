//! The venue screen: the rotating QR code doctors scan on arrival and departure.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mamis_app::training::TrainingError;
use mamis_app::training::capture;
use mamis_domain::Principal;
use mamis_store::Store;
use uuid::Uuid;

use super::{fail, refusal_key, render, session_id, stored_session};
use crate::WebState;
use crate::shell::auth::StaffUser;
use crate::shell::chrome::{Chrome, PageCtx, PageResult};
use crate::shell::error::{Failure, PageError};
use crate::shell::i18n::{Catalogues, Lang};
use crate::shell::qr;

#[derive(Template)]
#[template(path = "training/venue.html")]
struct VenueView<'a> {
    c: Chrome<'a>,
    id: String,
    title: String,
    url: String,
    svg: String,
    next_at: String,
    message: Option<String>,
}

/// The absolute link a venue code's QR carries.
fn venue_url<S: Store>(st: &WebState<S>, token: &str) -> String {
    format!(
        "{}/t/{token}",
        st.app.config.base_url.as_str().trim_end_matches('/')
    )
}

/// The venue's current code: the link, its QR and when it is replaced; or why none is shown
/// (desk scans only, outside the capture hours, closed).
async fn current_code<S: Store>(
    st: &WebState<S>,
    staff: &Principal,
    id: Uuid,
) -> Result<Result<(String, String, String), &'static str>, PageError> {
    match capture::venue_code(&st.app, staff, id).await {
        Ok(c) => {
            let url = venue_url(st, &c.token);
            let svg = qr::svg(&url, 480)?;
            Ok(Ok((url, svg, c.next_at.to_rfc3339())))
        }
        Err(
            e @ (TrainingError::DeskOnly | TrainingError::OutsideHours | TrainingError::Closed),
        ) => Ok(Err(refusal_key(&e).unwrap_or("training-office-failed"))),
        Err(e) => Err(fail(e)),
    }
}

/// `/office/training/{id}/venue`: the screen at the venue, a large QR code of the venue link
/// that `venue.js` replaces as the code rotates.
pub async fn venue<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    Path(id): Path<String>,
) -> PageResult {
    let id = session_id(&id)?;
    let code = current_code(&st, &staff, id).await?;
    // the use case authorised the caller; the title comes from the stored session
    let s = stored_session(&st, id).await?;
    let cat = &st.shared.catalogues;
    let (url, svg, next_at, message) = match code {
        Ok((url, svg, next_at)) => (url, svg, next_at, None),
        Err(key) => (
            String::new(),
            String::new(),
            String::new(),
            Some(cat.text(ctx.lang, key, &[])),
        ),
    };
    let view = VenueView {
        c: ctx.chrome(cat),
        id: id.to_string(),
        title: s.title,
        url,
        svg,
        next_at,
        message,
    };
    let mut r = render(view.render(), StatusCode::OK)?;
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// A JSON answer that is never cached.
pub(super) fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// What a failure says, in the page language, for JSON answers.
pub(super) fn failure_text(cat: &Catalogues, lang: Lang, f: &Failure) -> String {
    match f {
        Failure::BadRequest(k) | Failure::Unprocessable(k) | Failure::Because(_, k) => {
            cat.text(lang, k, &[])
        }
        Failure::NotFound => cat.text(lang, "training-office-not-found", &[]),
        Failure::Forbidden | Failure::Csrf => cat.text(lang, "training-office-forbidden", &[]),
        Failure::Busy => cat.text(lang, "error-busy-body", &[]),
        _ => cat.text(lang, "training-office-failed", &[]),
    }
}

/// The status of a failure, for JSON answers.
pub(super) fn failure_status(f: &Failure) -> StatusCode {
    match f {
        Failure::NotFound => StatusCode::NOT_FOUND,
        Failure::Forbidden | Failure::Csrf => StatusCode::FORBIDDEN,
        Failure::Unauthenticated => StatusCode::UNAUTHORIZED,
        Failure::BadRequest(_) | Failure::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Failure::Conflict => StatusCode::CONFLICT,
        Failure::Unavailable | Failure::Busy => StatusCode::SERVICE_UNAVAILABLE,
        Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Failure::Because(inner, _) => failure_status(inner),
    }
}

pub(super) fn json_failure(cat: &Catalogues, lang: Lang, f: &Failure) -> Response {
    json_response(
        failure_status(f),
        serde_json::json!({ "error": failure_text(cat, lang, f) }),
    )
}

/// `venue.json`: the current link and QR code for the screen's polling, or why none is shown.
pub async fn venue_json<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    Path(id): Path<String>,
) -> Response {
    let cat = &st.shared.catalogues;
    let code = match session_id(&id) {
        Ok(id) => current_code(&st, &staff, id).await,
        Err(e) => Err(e),
    };
    match code {
        Ok(Ok((url, svg, next_at))) => json_response(
            StatusCode::OK,
            serde_json::json!({ "url": url, "svg": svg, "next_at": next_at }),
        ),
        Ok(Err(key)) => json_response(
            StatusCode::CONFLICT,
            serde_json::json!({ "error": cat.text(ctx.lang, key, &[]) }),
        ),
        Err(PageError(f)) => json_failure(cat, ctx.lang, &f),
    }
}
