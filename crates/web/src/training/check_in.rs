//! The doctor's side of a session: the venue link's check-in and check-out.
//!
//! The venue screen's QR code encodes `{base_url}/t/{token}`. Opening it checks the token (30 s)
//! and leaves a sealed ticket, bound to this browser's device id, in a short-lived cookie; after
//! a login if needed, one button completes the check-in (or, the second time, the check-out) in
//! that same browser within 10 minutes. The ticket cookie also carries the session's title for
//! the confirmation page; only the sealed part is trusted.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mamis_app::training::TrainingError;
use mamis_app::training::capture::{self, Captured, Origin};
use mamis_domain::Timestamp;
use mamis_store::{Store, TrainingSession};

use crate::WebState;
use crate::shell::auth::{CurrentUser, clear_cookie, set_cookie};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::client_addr::ClientAddr;
use crate::shell::device::{device_id, remember};
use crate::shell::error::{PageError, training_page_error as page_error};
use crate::shell::fmt::hm;
use crate::shell::middleware::cookie;

/// The routes of this module.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route(CHECK_IN, get(check_in_page::<S>).post(check_in::<S>))
        .route("/t/{token}", get(open_link::<S>))
}

/// Where the venue link sends the browser to complete the capture.
const CHECK_IN: &str = "/t/check-in";

// ---------------------------------------------------------------- the ticket cookie

/// The ticket cookie's name (`__Host-` pins it to this origin over https).
fn ticket_cookie(https: bool) -> &'static str {
    if https {
        "__Host-mamis_venue"
    } else {
        "mamis_venue"
    }
}

/// The ticket lives as long as the app accepts it: the check-in window.
const TICKET_MAX_AGE: i64 = capture::CHECK_IN_WINDOW_MINUTES * 60;

/// The sealed ticket, a dot, and the session's title for the page (base64url; the sealed
/// ticket is base64url too, so it never contains the dot).
fn ticket_value(sealed: &str, title: &str) -> String {
    format!("{sealed}.{}", URL_SAFE_NO_PAD.encode(title))
}

/// The sealed ticket and the title shown with it, from the request's cookie.
fn read_ticket(headers: &HeaderMap, https: bool) -> Option<(String, String)> {
    let v = cookie(headers, ticket_cookie(https))?;
    let (sealed, title) = v.split_once('.').unwrap_or((v.as_str(), ""));
    let title = URL_SAFE_NO_PAD
        .decode(title)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    (!sealed.is_empty()).then(|| (sealed.to_owned(), title))
}

/// Why a capture could not be made, as the doctor is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// The venue code is older than 30 s (or not a venue code at all).
    Expired,
    /// No ticket, an old one, or one from another browser.
    Ticket,
    /// The session takes desk scans only.
    Desk,
    /// The session is closed.
    Closed,
    /// Too long before the start or after the end.
    Hours,
    /// The MAMIS_ID is not verified.
    Verify,
    /// The open check-in belongs to another browser or the desk.
    Browser,
}

impl Refused {
    /// The refusal of a capture failure; the general failures stay error pages.
    fn of(e: TrainingError) -> Result<Self, PageError> {
        Ok(match e {
            TrainingError::VenueCodeExpired => Self::Expired,
            TrainingError::CheckInExpired => Self::Ticket,
            TrainingError::DeskOnly => Self::Desk,
            TrainingError::Closed => Self::Closed,
            TrainingError::OutsideHours => Self::Hours,
            TrainingError::NotVerified => Self::Verify,
            TrainingError::OtherBrowser => Self::Browser,
            other => return Err(page_error(other)),
        })
    }

    /// Reason (for tests and support), title and text keys, status, and the link onwards.
    fn words(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        StatusCode,
        &'static str,
        &'static str,
    ) {
        match self {
            Self::Expired => (
                "expired",
                "checkin-refused-expired-title",
                "checkin-refused-expired",
                StatusCode::GONE,
                "/mypage",
                "checkin-to-mypage",
            ),
            Self::Ticket => (
                "ticket",
                "checkin-refused-ticket-title",
                "checkin-refused-ticket",
                StatusCode::GONE,
                "/mypage",
                "checkin-to-mypage",
            ),
            Self::Desk => (
                "desk-only",
                "checkin-refused-desk-title",
                "checkin-refused-desk",
                StatusCode::CONFLICT,
                "/mypage/cme/training/qr",
                "training-my-qr-link",
            ),
            Self::Closed => (
                "closed",
                "checkin-refused-closed-title",
                "checkin-refused-closed",
                StatusCode::CONFLICT,
                "/mypage/cme/training",
                "checkin-to-my-training",
            ),
            Self::Hours => (
                "outside-hours",
                "checkin-refused-hours-title",
                "checkin-refused-hours",
                StatusCode::CONFLICT,
                "/mypage",
                "checkin-to-mypage",
            ),
            Self::Verify => (
                "not-verified",
                "checkin-refused-verify-title",
                "checkin-refused-verify",
                StatusCode::FORBIDDEN,
                "/mypage/identity",
                "checkin-refused-verify-link",
            ),
            Self::Browser => (
                "other-browser",
                "checkin-refused-browser-title",
                "checkin-refused-browser",
                StatusCode::CONFLICT,
                "/mypage/cme/training",
                "checkin-to-my-training",
            ),
        }
    }
}

#[derive(Template)]
#[template(path = "training/check_in_notice.html")]
struct NoticeView<'a> {
    c: Chrome<'a>,
    reason: &'static str,
    title: String,
    body: String,
    href: &'static str,
    link: String,
}

/// What the doctor reads when the capture is refused, and what to do instead.
fn refused<S: Store>(st: &WebState<S>, ctx: &PageCtx, why: Refused) -> PageResult {
    let cat = &st.shared.catalogues;
    let (reason, title, body, status, href, link) = why.words();
    let view = NoticeView {
        c: ctx.chrome(cat),
        reason,
        title: cat.text(ctx.lang, title, &[]),
        body: cat.text(ctx.lang, body, &[]),
        href,
        link: cat.text(ctx.lang, link, &[]),
    };
    let mut r = html(page(view.render()))?;
    *r.status_mut() = status;
    Ok(r)
}

// ---------------------------------------------------------------- the venue link

/// `GET /t/{token}`: the venue QR code's link. Checks the token, keeps the ticket in this
/// browser and goes on to the check-in button (through the login page when needed).
pub async fn open_link<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> PageResult {
    let https = st.shared.https;
    let (device, new) = device_id(&headers, https);
    let mut r = match capture::open_venue_link(&st.app, &token, &device).await {
        Ok((sealed, s)) => {
            let to = match ctx.user {
                Some(_) => CHECK_IN.to_owned(),
                None => format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(CHECK_IN.as_bytes()).collect::<String>()
                ),
            };
            let mut r = Redirect::to(&to).into_response();
            set_cookie(
                &mut r,
                https,
                ticket_cookie(https),
                &ticket_value(&sealed, &s.title),
                Some(TICKET_MAX_AGE),
            );
            r
        }
        Err(e) => refused(&st, &ctx, Refused::of(e)?)?,
    };
    remember(&mut r, https, &device, new);
    Ok(r)
}

#[derive(Template)]
#[template(path = "training/check_in.html")]
struct CheckInView<'a> {
    c: Chrome<'a>,
    session_title: String,
}

/// `GET /t/check-in`: the session's title and one button; an unverified account is told why
/// its attendance cannot be recorded yet.
pub async fn check_in_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
    headers: HeaderMap,
) -> PageResult {
    if u.verified_doctor().is_none() {
        return refused(&st, &ctx, Refused::Verify);
    }
    let Some((_, session_title)) = read_ticket(&headers, st.shared.https) else {
        return refused(&st, &ctx, Refused::Ticket);
    };
    let view = CheckInView {
        c: ctx.chrome(&st.shared.catalogues),
        session_title,
    };
    html(page(view.render()))
}

#[derive(Template)]
#[template(path = "training/check_in_result.html")]
struct ResultView<'a> {
    c: Chrome<'a>,
    result: &'static str,
    heading: String,
    body: Vec<String>,
    how_to_leave: Option<String>,
}

/// `POST /t/check-in`: completes the check-in or check-out with this browser's ticket, then
/// forgets the ticket (it is single use).
pub async fn check_in<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
    headers: HeaderMap,
    axum::Extension(ClientAddr(ip)): axum::Extension<ClientAddr>,
) -> PageResult {
    let https = st.shared.https;
    let Some((sealed, _)) = read_ticket(&headers, https) else {
        return refused(&st, &ctx, Refused::Ticket);
    };
    let (device, new) = device_id(&headers, https);
    // the instant recorded is when the link was opened (the doctor was at the venue then)
    let now = st.app.now();
    let at = capture::open_ticket(st.app.config.secret_key.expose(), &sealed, &device, now)
        .map_or(now, |t| t.opened_at);
    let origin = Origin {
        device: Some(device.clone()),
        client_addr: Some(ip.to_string()),
    };
    let mut r = match capture::complete_venue(&st.app, &u.doctor_principal(), &sealed, origin).await
    {
        Ok((captured, s)) => result_page(&st, &ctx, captured, &s, at)?,
        Err(e) => refused(&st, &ctx, Refused::of(e)?)?,
    };
    clear_cookie(&mut r, https, ticket_cookie(https));
    remember(&mut r, https, &device, new);
    Ok(r)
}

fn result_page<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    captured: Captured,
    s: &TrainingSession,
    at: Timestamp,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let t = |k: &str, args: &[(&str, &str)]| cat.text(ctx.lang, k, args);
    let time = hm(at);
    let view = match captured {
        Captured::CheckedIn => ResultView {
            c: ctx.chrome(cat),
            result: "checked-in",
            heading: t("checkin-in", &[("date", &time)]),
            body: vec![t("checkin-in-body", &[("name", &s.title)])],
            how_to_leave: Some(t("checkin-in-how-to-leave", &[])),
        },
        Captured::CheckedOut => ResultView {
            c: ctx.chrome(cat),
            result: "checked-out",
            heading: t("checkin-out", &[("date", &time)]),
            body: vec![t("checkin-out-body", &[("name", &s.title)])],
            how_to_leave: None,
        },
    };
    html(page(view.render()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, header};

    #[test]
    fn the_ticket_cookie_carries_the_title_beside_the_sealed_ticket() {
        let v = ticket_value("AbC-_09", "学術講演会「感染症」");
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("mamis_venue={v}")).unwrap(),
        );
        assert_eq!(
            read_ticket(&h, false),
            Some(("AbC-_09".to_owned(), "学術講演会「感染症」".to_owned()))
        );
        assert_eq!(read_ticket(&h, true), None, "other name over https");
        h.insert(header::COOKIE, HeaderValue::from_static("mamis_venue=.x"));
        assert_eq!(read_ticket(&h, false), None);
    }

    #[test]
    fn every_capture_refusal_has_a_page() {
        for e in [
            TrainingError::VenueCodeExpired,
            TrainingError::CheckInExpired,
            TrainingError::DeskOnly,
            TrainingError::Closed,
            TrainingError::OutsideHours,
            TrainingError::NotVerified,
            TrainingError::OtherBrowser,
        ] {
            assert!(Refused::of(e).is_ok());
        }
        assert!(Refused::of(TrainingError::Grace).is_err());
    }
}
