//! The desk scanner: personal QR codes, USB scanners and numbers typed by hand.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use mamis_app::training;
use mamis_app::training::capture::{self, DeskCaptured, DeskInput, DeskResult, Origin, Pending};
use mamis_domain::time::to_japan;
use mamis_domain::{IsekiNumber, Principal};
use mamis_store::Store;
use serde::Deserialize;
use uuid::Uuid;

use super::venue::{failure_status, failure_text, json_failure, json_response};
use super::{fail, failure, render, session_id};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult};
use crate::shell::device::{device_id, remember};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::Fmt;
use crate::shell::i18n::{Catalogues, Lang, domain_error_key};

/// The result of a scan as the desk shows it: the message and its colour (`desk-ok` green,
/// `desk-same` blue for 「記録済み」, `desk-warn` amber for pending attendance, `desk-ng` red).
struct DeskOutcome {
    class: &'static str,
    message: String,
}

#[derive(Template)]
#[template(path = "training/desk.html")]
struct DeskView<'a> {
    c: Chrome<'a>,
    id: String,
    title: String,
    live: String,
    outcome: Option<DeskOutcome>,
}

/// The camera may be used on the desk page only (the middleware denies it everywhere else).
const DESK_PERMISSIONS: &str = "camera=(self), microphone=(), geolocation=()";

/// The desk page's response: its own camera policy, never cached, and the device cookie.
fn desk_response<S: Store>(
    st: &WebState<S>,
    mut r: Response,
    device: &str,
    new_device: bool,
) -> Response {
    let h = r.headers_mut();
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(DESK_PERMISSIONS),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    remember(&mut r, st.shared.https, device, new_device);
    r
}

async fn render_desk<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    staff: &Principal,
    id: Uuid,
    client_addr: Option<String>,
    outcome: Option<DeskOutcome>,
    status: StatusCode,
) -> PageResult {
    let v = training::view(&st.app, staff, id, client_addr)
        .await
        .map_err(fail)?;
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let view = DeskView {
        c: ctx.chrome(cat),
        id: id.to_string(),
        title: v.session.title.clone(),
        live: live_text(&f, v.live, v.session.expected_headcount),
        outcome,
    };
    render(view.render(), status)
}

/// 「在室 N 名」, with the expected headcount when the organiser gave one.
fn live_text(f: &Fmt<'_>, live: u64, expected: Option<u32>) -> String {
    let live = live.to_string();
    match expected {
        Some(e) => f.t(
            "training-office-live-of",
            &[("live", &live), ("expected", &e.to_string())],
        ),
        None => f.t("training-office-live", &[("live", &live)]),
    }
}

/// `/office/training/{id}/desk`: the desk scanner (camera, USB scanner field, typed number).
pub async fn desk_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> PageResult {
    let id = session_id(&id)?;
    let (device, new_device) = device_id(&headers, st.shared.https);
    let r = render_desk(
        &st,
        &ctx,
        &staff,
        id,
        origin.client_addr,
        None,
        StatusCode::OK,
    )
    .await?;
    Ok(desk_response(&st, r, &device, new_device))
}

/// A desk scan as posted: a scanned personal code (the code form), or a typed 医籍登録番号
/// (the number form). Each form sends only its own field, so an empty one can be named.
#[derive(Debug, Deserialize)]
pub struct DeskForm {
    code: Option<String>,
    iseki: Option<String>,
}

/// The scan's input, or the message key saying what is missing.
fn desk_input(f: &DeskForm) -> Result<DeskInput, Failure> {
    let code = f.code.as_deref().map(str::trim).unwrap_or_default();
    if !code.is_empty() {
        return Ok(DeskInput::Code(code.to_owned()));
    }
    match f.iseki.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => IsekiNumber::parse(n)
            .map(DeskInput::Iseki)
            .map_err(|e| Failure::BadRequest(domain_error_key(&e))),
        Some(_) => Err(Failure::BadRequest("training-office-desk-empty-iseki")),
        None if f.code.is_some() => Err(Failure::BadRequest("training-office-desk-empty-code")),
        None => Err(Failure::BadRequest("training-office-desk-empty")),
    }
}

/// The message key of a scan's result.
fn desk_key(r: &DeskResult) -> &'static str {
    match (r.captured, r.pending) {
        (DeskCaptured::AlreadyRecorded, None) => "training-office-desk-same",
        (DeskCaptured::AlreadyRecorded, Some(_)) => "training-office-desk-same-pending",
        (DeskCaptured::CheckedIn, None) => "training-office-desk-in",
        (DeskCaptured::CheckedIn, Some(Pending::Unverified)) => "training-office-desk-in-pending",
        (DeskCaptured::CheckedIn, Some(Pending::NotInRegister)) => {
            "training-office-desk-in-unknown"
        }
        (DeskCaptured::CheckedOut, None) => "training-office-desk-out",
        (DeskCaptured::CheckedOut, Some(Pending::Unverified)) => "training-office-desk-out-pending",
        (DeskCaptured::CheckedOut, Some(Pending::NotInRegister)) => {
            "training-office-desk-out-unknown"
        }
    }
}

/// The result's colour: 「記録済み」 apart, pending attendance amber, the rest green.
fn desk_class(r: &DeskResult) -> &'static str {
    match (r.captured, r.pending) {
        (DeskCaptured::AlreadyRecorded, _) => "desk-same",
        (_, Some(_)) => "desk-warn",
        (_, None) => "desk-ok",
    }
}

fn desk_message(f: &Fmt<'_>, r: &DeskResult) -> String {
    let at = r
        .recorded_at
        .map(|t| to_japan(t).format("%H:%M:%S").to_string())
        .unwrap_or_default();
    f.t(
        desk_key(r),
        &[
            ("name", &r.name),
            ("iseki", r.iseki.as_str()),
            ("date", &at),
        ],
    )
}

/// The scan's answer to `desk.js`.
fn desk_json(cat: &Catalogues, lang: Lang, result: Result<DeskResult, Failure>) -> Response {
    let r = match result {
        Ok(r) => r,
        Err(e) => return json_failure(cat, lang, &e),
    };
    let f = Fmt::new(cat, lang);
    json_response(
        StatusCode::OK,
        serde_json::json!({
            "result": match r.captured {
                DeskCaptured::CheckedIn => "checked_in",
                DeskCaptured::CheckedOut => "checked_out",
                DeskCaptured::AlreadyRecorded => "already_recorded",
            },
            "name": r.name,
            "iseki": r.iseki.as_str(),
            "pending": r.pending.is_some(),
            "in_register": r.pending != Some(Pending::NotInRegister),
            "class": desk_class(&r),
            "message": desk_message(&f, &r),
            "live": live_text(&f, r.live, r.expected),
        }),
    )
}

/// The scan's result for the page without JavaScript; a session the staff member may not
/// scan for is an error page, not a red banner.
fn desk_outcome(
    cat: &Catalogues,
    lang: Lang,
    result: Result<DeskResult, Failure>,
) -> Result<(DeskOutcome, StatusCode), PageError> {
    match result {
        Ok(r) => Ok((
            DeskOutcome {
                class: desk_class(&r),
                message: desk_message(&Fmt::new(cat, lang), &r),
            },
            StatusCode::OK,
        )),
        Err(e @ (Failure::NotFound | Failure::Forbidden)) => Err(PageError(e)),
        Err(e) => Ok((
            DeskOutcome {
                class: "desk-ng",
                message: failure_text(cat, lang, &e),
            },
            failure_status(&e),
        )),
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A desk scan: checks the attendee in, or out on the next scan. Answers JSON to `desk.js`
/// (`Accept: application/json`), else the page again with the result.
pub async fn desk_post<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    Form(form): Form<DeskForm>,
) -> PageResult {
    let id = session_id(&id)?;
    let (device, new_device) = device_id(&headers, st.shared.https);
    let scan = Origin {
        device: Some(device.clone()),
        client_addr: origin.client_addr.clone(),
    };
    let result = match desk_input(&form) {
        Ok(input) => capture::desk_scan(&st.app, &staff, id, input, scan)
            .await
            .map_err(failure),
        Err(f) => Err(f),
    };
    let r = if wants_json(&headers) {
        desk_json(&st.shared.catalogues, ctx.lang, result)
    } else {
        let (outcome, status) = desk_outcome(&st.shared.catalogues, ctx.lang, result)?;
        let client = origin.client_addr;
        render_desk(&st, &ctx, &staff, id, client, Some(outcome), status).await?
    };
    Ok(desk_response(&st, r, &device, new_device))
}
