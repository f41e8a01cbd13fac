//! The CME portal (日本医師会生涯教育 on-line): the public page about the CME system with its
//! news and the ways to log in, and the legacy login (10-digit member ID + password) until the
//! cut-over. From the cut-over on, every legacy attempt gets one and the same page.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use mamis_app::identity::{self as id, IdentityError, legacy, sessions};
use mamis_domain::identity::LegacyCutover;
use mamis_store::{PortalSubject, Store};

use crate::WebState;
use crate::shell::auth::{RequestOrigin, clear_cookie, portal_cookie, set_cookie};
use crate::shell::chrome::{Chrome, Notice, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::Fmt;
use crate::shell::middleware::cookie;

/// The routes of the CME portal.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/cme", get(cme::<S>))
        .route(
            "/cme/login/legacy",
            get(legacy_page::<S>).post(legacy_submit::<S>),
        )
        .route("/cme/logout", post(logout::<S>))
        .route("/cme/login", get(mamis_login::<S>))
        .route("/cme/callback", get(mamis_callback::<S>))
        .route("/cme/members/{area}", get(members_area::<S>))
}

/// Maps what cannot be shown on a form to an error page.
fn fail(e: IdentityError) -> PageError {
    match e {
        IdentityError::App(a) => PageError(a.into()),
        IdentityError::State(_) => PageError(Failure::Conflict),
        _ => PageError(Failure::BadRequest("invalid-value")),
    }
}

fn legacy_open<S: Store>(st: &WebState<S>) -> bool {
    LegacyCutover(st.app.config.legacy_until).accepts(st.app.now())
}

/// The cut-over instant as pages show it (Japan time).
fn cutover_text<S: Store>(st: &WebState<S>, ctx: &PageCtx) -> String {
    st.shared.catalogues.text(
        ctx.lang,
        "cme-japan-time",
        &[("time", &id::jst(st.app.config.legacy_until))],
    )
}

/// A legacy portal session as the CME page shows it.
pub struct LegacySession {
    member_id: String,
    countdown: String,
}

#[derive(Template)]
#[template(path = "portal/cme.html")]
struct CmeView<'a> {
    c: Chrome<'a>,
    legacy_open: bool,
    cutover: String,
    legacy: Option<LegacySession>,
    mamis: bool,
    /// The news item on the one login, dated from the configuration, in the clock's tense.
    news: String,
}

/// Whole days and hours from `now` to `until` (zero once passed).
fn days_hours(now: mamis_domain::Timestamp, until: mamis_domain::Timestamp) -> (i64, i64) {
    let left = (until - now).num_seconds().max(0);
    (left / 86_400, left % 86_400 / 3_600)
}

/// The CME portal: what the CME system is, news, and how to log in; the portal session if any.
pub async fn cme<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
) -> PageResult {
    let https = st.shared.https;
    let presented = cookie(&headers, portal_cookie(https));
    let session = match &presented {
        Some(c) => sessions::current_portal(&st.app, c).await.map_err(fail)?,
        None => None,
    };
    let cat = &st.shared.catalogues;
    let legacy = match session.as_ref().map(|s| &s.subject) {
        Some(PortalSubject::Legacy(m)) => {
            let (days, hours) = days_hours(st.app.now(), st.app.config.legacy_until);
            let countdown = cat.text(
                ctx.lang,
                "cme-countdown",
                &[("days", &days.to_string()), ("hours", &hours.to_string())],
            );
            Some(LegacySession {
                member_id: m.as_str().to_owned(),
                countdown,
            })
        }
        _ => None,
    };
    let view = CmeView {
        c: ctx.chrome(cat),
        legacy_open: legacy_open(&st),
        cutover: cutover_text(&st, &ctx),
        news: cat.text(
            ctx.lang,
            "cme-news-unify-body",
            &[
                (
                    "date",
                    &Fmt::new(cat, ctx.lang)
                        .date(mamis_domain::time::japan_date(st.app.config.legacy_until)),
                ),
                ("ended", if legacy_open(&st) { "no" } else { "yes" }),
            ],
        ),
        legacy,
        mamis: matches!(
            session.as_ref().map(|s| &s.subject),
            Some(PortalSubject::Mamis(_))
        ),
    };
    let mut r = html(page(view.render()))?;
    // a cookie whose session ended (logout, idle, the cut-over) is dropped
    if presented.is_some() && session.is_none() {
        clear_cookie(&mut r, https, portal_cookie(https));
    }
    Ok(r)
}

#[derive(Template)]
#[template(path = "portal/legacy.html")]
struct LegacyFormView<'a> {
    c: Chrome<'a>,
    cutover: String,
    member_id: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/ended.html")]
struct EndedView<'a> {
    c: Chrome<'a>,
}

/// The refusal after the cut-over: the same page for every request, whatever was typed.
fn ended<S: Store>(st: &WebState<S>, ctx: &PageCtx) -> PageResult {
    let mut r = html(page(
        EndedView {
            c: ctx.chrome(&st.shared.catalogues),
        }
        .render(),
    ))?;
    *r.status_mut() = StatusCode::GONE;
    Ok(r)
}

/// The legacy login form until the cut-over; the refusal page from then on.
pub async fn legacy_page<S: Store>(State(st): State<WebState<S>>, ctx: PageCtx) -> PageResult {
    if !legacy_open(&st) {
        return ended(&st, &ctx);
    }
    let view = LegacyFormView {
        c: ctx.chrome(&st.shared.catalogues),
        cutover: cutover_text(&st, &ctx),
        member_id: String::new(),
        error: None,
    };
    html(page(view.render()))
}

/// The first value of `name` in a form body; absent or undecodable fields are empty, so no
/// input is ever refused before the use case has answered.
fn field(body: &[u8], name: &str) -> String {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Logs in with the legacy member ID and password. After the cut-over the use case answers
/// before looking at anything, and so does this page: the input is neither parsed for errors
/// nor echoed.
pub async fn legacy_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    RequestOrigin(origin): RequestOrigin,
    body: Bytes,
) -> PageResult {
    let member_id = field(&body, "member_id");
    let password = field(&body, "password");
    let https = st.shared.https;
    match legacy::login(&st.app, &member_id, &password, &origin).await {
        Ok(login) => {
            let mut r = Redirect::to("/cme").into_response();
            set_cookie(&mut r, https, portal_cookie(https), &login.cookie, None);
            Ok(r)
        }
        Err(IdentityError::LegacyEnded) => ended(&st, &ctx),
        Err(IdentityError::LoginFailed) => {
            let cat = &st.shared.catalogues;
            let view = LegacyFormView {
                c: ctx.chrome(cat),
                cutover: cutover_text(&st, &ctx),
                member_id: member_id.chars().take(20).collect(),
                error: Some(cat.text(ctx.lang, "cme-legacy-failed", &[])),
            };
            let mut r = html(page(view.render()))?;
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(r)
        }
        Err(e) => Err(fail(e)),
    }
}

/// Ends the portal session.
pub async fn logout<S: Store>(State(st): State<WebState<S>>, headers: HeaderMap) -> PageResult {
    let https = st.shared.https;
    if let Some(c) = cookie(&headers, portal_cookie(https)) {
        sessions::close_portal(&st.app, &c).await.map_err(fail)?;
    }
    let mut r = Redirect::to("/cme").into_response();
    clear_cookie(&mut r, https, portal_cookie(https));
    Ok(r)
}

// ------------------------------------------------------------------- MAMIS_ID login (OIDC RP)

/// The cookie carrying the portal's pending login (state, nonce, PKCE verifier), sealed.
fn flow_cookie(https: bool) -> &'static str {
    if https {
        "__Host-mamis_cme_flow"
    } else {
        "mamis_cme_flow"
    }
}

/// `?next=` for the portal login.
#[derive(Debug, serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /cme/login`: starts the authorization-code flow against the MAMIS provider.
pub async fn mamis_login<S: Store>(
    State(st): State<WebState<S>>,
    axum::extract::Query(q): axum::extract::Query<NextQuery>,
) -> PageResult {
    let next = crate::shell::auth::safe_next(q.next.as_deref(), "/cme");
    let (url, flow) =
        mamis_app::portal::rp::start(&st.app, &next).map_err(|e| PageError(e.into()))?;
    let https = st.shared.https;
    let mut r = axum::response::Redirect::to(&url).into_response();
    crate::shell::auth::set_cookie(&mut r, https, flow_cookie(https), &flow, Some(600));
    Ok(r)
}

/// `GET /cme/callback`: finishes the flow and opens a `PortalSession::Mamis`.
pub async fn mamis_callback<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> PageResult {
    let https = st.shared.https;
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let flow = cookie(&headers, flow_cookie(https)).unwrap_or_default();
    match mamis_app::portal::rp::finish(&st.app, &st.shared.http, &flow, &params).await {
        Ok((session, next)) => {
            let mut r = axum::response::Redirect::to(&next).into_response();
            crate::shell::auth::set_cookie(&mut r, https, portal_cookie(https), &session, None);
            clear_cookie(&mut r, https, flow_cookie(https));
            Ok(r)
        }
        Err(e) => {
            tracing::warn!(error = %e, "CME portal login failed");
            let cat = &st.shared.catalogues;
            let view = Notice {
                c: ctx.chrome(cat),
                title: cat.text(ctx.lang, "cme-login-failed", &[]),
                body: vec![],
                link: Some((
                    "/cme/login".into(),
                    cat.text(ctx.lang, "cme-login-again", &[]),
                )),
            };
            let mut r = html(page(view.render()))?;
            *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            clear_cookie(&mut r, https, flow_cookie(https));
            Ok(r)
        }
    }
}

#[derive(Template)]
#[template(path = "portal/members.html")]
struct MembersView<'a> {
    c: Chrome<'a>,
    title: String,
    allowed: bool,
    items: Vec<String>,
    reason: String,
    action_href: String,
    action_text: String,
}

/// `GET /cme/members/{area}`: members-only, checked on every request.
pub async fn members_area<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    axum::extract::Path(area): axum::extract::Path<String>,
) -> PageResult {
    use mamis_app::portal::rp::{self, Access};
    let (title_key, item_key) = match area.as_str() {
        "quiz" => ("cme-area-quiz", "cme-quiz-1"),
        "elearning" => ("cme-area-elearning", "cme-elearning-1"),
        "journal" => ("cme-area-journal", "cme-journal-1"),
        _ => return Err(PageError(Failure::NotFound)),
    };
    let https = st.shared.https;
    let here = format!("/cme/members/{area}");
    let login = || {
        axum::response::Redirect::to(&format!(
            "/cme/login?next={}",
            url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
        ))
        .into_response()
    };
    let Some(presented) = cookie(&headers, portal_cookie(https)) else {
        return Ok(login());
    };
    let Some(session) = sessions::current_portal(&st.app, &presented)
        .await
        .map_err(fail)?
    else {
        let mut r = login();
        clear_cookie(&mut r, https, portal_cookie(https));
        return Ok(r);
    };
    let access = rp::access(&st.app, &st.shared.http, &presented, &session)
        .await
        .map_err(|e| PageError(e.into()))?;
    if access == Access::LoginAgain {
        sessions::close_portal(&st.app, &presented)
            .await
            .map_err(fail)?;
        let mut r = login();
        clear_cookie(&mut r, https, portal_cookie(https));
        return Ok(r);
    }
    let cat = &st.shared.catalogues;
    let (reason, href, text) = match access {
        Access::Unverified => (
            "cme-members-unverified",
            "/mypage/identity",
            "cme-members-verify",
        ),
        _ => ("cme-members-not-member", "/mypage", "cme-members-join"),
    };
    let view = MembersView {
        c: ctx.chrome(cat),
        title: cat.text(ctx.lang, title_key, &[]),
        allowed: access == Access::Member,
        items: vec![cat.text(ctx.lang, item_key, &[])],
        reason: cat.text(ctx.lang, reason, &[]),
        action_href: href.into(),
        action_text: cat.text(ctx.lang, text, &[]),
    };
    let mut r = html(page(view.render()))?;
    if access != Access::Member {
        *r.status_mut() = axum::http::StatusCode::FORBIDDEN;
    }
    Ok(r)
}
