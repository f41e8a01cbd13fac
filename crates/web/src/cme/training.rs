//! My Page ②: the sessions the doctor attended with their in–out times and what each earned, the
//! credits captured from training sessions, and the personal QR code desk staff scan.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use chrono::Duration;
use mamis_app::training::capture::{self, PERSONAL_CODE_SECONDS};
use mamis_app::training::{MyAttendance, TrainingError, credits_now};
use mamis_domain::Source;
use mamis_domain::time::{japan_date, to_japan};
use mamis_domain::training::Venue;
use mamis_store::Store;

use super::{EntryRow, entry_rows};
use crate::WebState;
use crate::shell::auth::CurrentUser;
use crate::shell::chrome::{Chrome, NavItem, PageCtx, PageResult, html, nav, page, unverified};
use crate::shell::error::training_page_error;
use crate::shell::fmt::{Fmt, hm};
use crate::shell::qr;

#[derive(Template)]
#[template(path = "cme/training.html")]
struct TrainingView<'a> {
    c: Chrome<'a>,
    nav: Vec<NavItem>,
    attendances: Vec<AttendanceRow>,
    table_id: &'static str,
    entries: Vec<EntryRow>,
}

/// ② training attendance: the sessions attended with their in–out times and what each earned,
/// then the credits captured from training sessions, newest first.
pub async fn training<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    let Some(s) = mamis_app::cme::own_summary(&st.app, &u).await? else {
        return unverified(&st, &ctx);
    };
    let attended = mamis_app::training::my_attendance(&st.app, &s.doctor)
        .await
        .map_err(crate::shell::error::training_page_error)?;
    let f = Fmt::new(&st.shared.catalogues, ctx.lang);
    let view = TrainingView {
        nav: nav(&f, "/mypage/cme/training"),
        attendances: attendance_rows(&f, &attended),
        table_id: "cme-training",
        entries: entry_rows(
            &f,
            &s.entries,
            s.entries.iter().filter(|e| e.source == Source::Training),
        ),
        c: ctx.chrome(&st.shared.catalogues),
    };
    html(page(view.render()))
}

// ---------------------------------------------------------------- the personal QR code

#[derive(Template)]
#[template(path = "cme/personal_qr.html")]
struct PersonalQrView<'a> {
    c: Chrome<'a>,
    nav: Vec<NavItem>,
    svg: String,
    code: String,
    expiry: String,
}

/// Seconds after which the page reloads itself with a new code, before the old one expires.
const RENEW_SECONDS: i64 = 100;

/// `GET /mypage/cme/training/qr`: the code desk staff scan, valid two minutes; the page renews
/// itself (a `Refresh` header, no script) and is never cached.
pub async fn personal_qr<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    if u.verified_doctor().is_none() {
        return unverified(&st, &ctx);
    }
    let code = match capture::personal_code(&st.app, &u.doctor_principal()).await {
        Ok(c) => c,
        Err(TrainingError::NotVerified) => return unverified(&st, &ctx),
        Err(e) => return Err(training_page_error(e)),
    };
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let expires = st.app.now() + Duration::seconds(PERSONAL_CODE_SECONDS);
    let view = PersonalQrView {
        nav: nav(&f, "/mypage/cme/training"),
        svg: qr::svg(&code, 240)?,
        expiry: f.t(
            "personal-qr-expiry",
            &[
                ("date", &to_japan(expires).format("%H:%M:%S").to_string()),
                ("seconds", &PERSONAL_CODE_SECONDS.to_string()),
            ],
        ),
        code,
        c: ctx.chrome(cat),
    };
    let mut r = html(page(view.render()))?;
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&RENEW_SECONDS.to_string()) {
        h.insert(header::REFRESH, v);
    }
    Ok(r)
}

// ---------------------------------------------------------------- attendance lines

/// One in–out interval of an attendance.
pub(crate) struct IntervalRow {
    pub(crate) in_at: String,
    /// Empty while the doctor is still in.
    pub(crate) out_at: String,
    /// Closed by the organiser closing the session (閉会時退室), not by the doctor.
    pub(crate) left_at_end: bool,
}

/// One session the doctor attended, as My Page ② lists it.
pub(crate) struct AttendanceRow {
    pub(crate) date: String,
    pub(crate) title: String,
    pub(crate) venue: String,
    pub(crate) intervals: Vec<IntervalRow>,
    pub(crate) status: String,
    pub(crate) status_class: &'static str,
}

/// The attendance lines of My Page ②, latest session first, with what each earned.
pub(crate) fn attendance_rows(f: &Fmt<'_>, list: &[MyAttendance]) -> Vec<AttendanceRow> {
    list.iter()
        .map(|a| {
            let session = &a.session;
            let units = a.credited;
            let open = a.intervals.iter().any(|i| i.out_at.is_none());
            let (status, status_class) = if open {
                (f.t("training-my-status-open", &[]), "open")
            } else if !credits_now(session) {
                (f.t("training-my-status-awaiting", &[]), "awaiting")
            } else if units.is_positive() {
                (
                    f.t(
                        "training-my-status-credited",
                        &[("units", &units.to_string())],
                    ),
                    "credited",
                )
            } else {
                (f.t("training-my-status-none", &[]), "none")
            };
            AttendanceRow {
                date: f.date(japan_date(session.start)),
                title: session.title.clone(),
                venue: match &session.venue {
                    Venue::InPerson(p) => p.clone(),
                    Venue::Online => f.t("training-my-online", &[]),
                    Venue::Hybrid(p) => f.t("training-my-hybrid", &[("name", p)]),
                },
                intervals: a
                    .intervals
                    .iter()
                    .map(|i| IntervalRow {
                        in_at: hm(i.in_at),
                        out_at: i.out_at.map(hm).unwrap_or_default(),
                        left_at_end: i.left_at_end,
                    })
                    .collect(),
                status,
                status_class,
            }
        })
        .collect()
}
