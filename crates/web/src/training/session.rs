//! A session's page: programme, live count, attendees with their flags, removal, closing, and the CSV export.

use askama::Template;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use chrono::NaiveDate;
use mamis_app::training::attendees::{self, ExportRow};
use mamis_app::training::capture;
use mamis_app::training::{self, SessionView};
use mamis_domain::Timestamp;
use mamis_domain::time::japan_date;
use mamis_store::{PresenceChannel, Store};
use serde::Deserialize;

use super::list::{ItemRow, programme_rows};
use super::{
    approval_text, fail, jst, organiser_label, param, render, session_id, venue_text, when,
};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult};
use crate::shell::confirm::{Confirm, is_confirmed};
use crate::shell::fmt::{Fmt, hm, query_pairs};
use crate::shell::i18n::{Catalogues, Lang};
use crate::shell::middleware::lang_of;

/// A label with a class, for flags.
struct Flag {
    class: &'static str,
    label: String,
}

/// One presence interval of an attendee.
struct IntervalRow {
    remove_action: String,
    span: String,
    channel: String,
    left_at_end: bool,
}

/// One attendee of the list.
struct AttendeeView {
    iseki: String,
    name: String,
    kana: String,
    intervals: Vec<IntervalRow>,
    flags: Vec<Flag>,
}

#[derive(Template)]
#[template(path = "training/session.html")]
struct SessionPage<'a> {
    c: Chrome<'a>,
    id: String,
    title: String,
    organiser: String,
    when: String,
    venue: String,
    headcount: String,
    grace: String,
    desk_only: bool,
    approval: String,
    approval_class: &'static str,
    unapproved: bool,
    closed: Option<String>,
    live: String,
    items: Vec<ItemRow>,
    total_units: String,
    attendees: Vec<AttendeeView>,
    notice: Option<String>,
    max_bytes: usize,
    too_large: String,
}

fn channel_label(f: &Fmt<'_>, c: PresenceChannel) -> String {
    f.t(
        &format!("training-office-channel-{}", c.as_str().replace('_', "-")),
        &[],
    )
}

/// A time on the session's day as `HH:MM`, another day in full.
fn time_on(day: NaiveDate, t: Timestamp) -> String {
    if japan_date(t) == day { hm(t) } else { jst(t) }
}

fn attendee_views(f: &Fmt<'_>, v: &SessionView) -> Vec<AttendeeView> {
    let day = japan_date(v.session.start);
    v.attendees
        .iter()
        .map(|a| {
            let mut flags = Vec::new();
            let mut flag = |on: bool, class: &'static str, key: &str| {
                if on {
                    flags.push(Flag {
                        class,
                        label: f.t(key, &[]),
                    });
                }
            };
            flag(a.open, "flag-open", "training-office-flag-open");
            flag(
                a.shared_device,
                "flag-shared",
                "training-office-flag-shared",
            );
            flag(
                a.no_checkout,
                "flag-no-checkout",
                "training-office-flag-no-checkout",
            );
            flag(a.pending, "flag-pending", "training-office-flag-pending");
            AttendeeView {
                iseki: a.iseki.as_str().to_owned(),
                name: a.name.clone(),
                kana: a.kana.clone(),
                intervals: a
                    .intervals
                    .iter()
                    .map(|r| IntervalRow {
                        remove_action: format!(
                            "/office/training/{}/presence/{}/remove",
                            v.session.id, r.id
                        ),
                        span: match r.out_at {
                            Some(out) => {
                                format!("{} – {}", time_on(day, r.in_at), time_on(day, out))
                            }
                            None => f.t(
                                "training-office-interval-open",
                                &[("from", &time_on(day, r.in_at))],
                            ),
                        },
                        channel: f.t(
                            "training-office-channel",
                            &[("channel", &channel_label(f, r.channel))],
                        ),
                        left_at_end: r.left_at_end,
                    })
                    .collect(),
                flags,
            }
        })
        .collect()
}

/// The notice after closing or removing, from the redirect's query.
fn session_notice(f: &Fmt<'_>, pairs: &[(String, String)]) -> Option<String> {
    let n = |k: &str| param(pairs, k).parse::<u64>().ok();
    if let (Some(c), Some(r)) = (n("credited"), n("reversed")) {
        return Some(f.t(
            "training-office-closed-notice",
            &[("credited", &c.to_string()), ("reversed", &r.to_string())],
        ));
    }
    (param(pairs, "removed") == "1").then(|| f.t("training-office-removed-notice", &[]))
}

/// `/office/training/{id}`: details, programme with units, live count and the attendee list
/// (an audited personal-data view).
pub async fn session_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> PageResult {
    let id = session_id(&id)?;
    let v = training::view(&st.app, &staff, id, origin.client_addr)
        .await
        .map_err(fail)?;
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let s = &v.session;
    let (items, total_units) = programme_rows(&f, ctx.lang, &v.items)?;
    let (approval, approval_class) = approval_text(&f, s);
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let view = SessionPage {
        c: ctx.chrome(cat),
        id: s.id.to_string(),
        title: s.title.clone(),
        organiser: organiser_label(&st, &s.organiser, ctx.lang).await?,
        when: when(&f, s.start, s.end),
        venue: venue_text(&f, &s.venue),
        headcount: s
            .expected_headcount
            .map(|n| n.to_string())
            .unwrap_or_default(),
        grace: f.t(
            "training-office-minutes",
            &[("minutes", &s.grace_minutes.to_string())],
        ),
        desk_only: s.desk_scan_only,
        approval,
        approval_class,
        unapproved: !training::credits_now(s),
        closed: s.closed_at.map(jst),
        live: match s.expected_headcount {
            Some(e) => f.t(
                "training-office-live-of",
                &[("live", &v.live.to_string()), ("expected", &e.to_string())],
            ),
            None => f.t("training-office-live", &[("live", &v.live.to_string())]),
        },
        items,
        total_units,
        attendees: attendee_views(&f, &v),
        notice: session_notice(&f, &pairs),
        max_bytes: attendees::MAX_BYTES,
        too_large: too_large_text(cat, ctx.lang),
    };
    render(view.render(), StatusCode::OK)
}

pub(super) fn too_large_text(cat: &Catalogues, lang: Lang) -> String {
    let mb = (attendees::MAX_BYTES >> 20).to_string();
    cat.text(lang, "attendees-problem-too-large", &[("max_mb", &mb)])
}

/// Closes the session (open intervals end then, credits are settled) and returns to its page.
pub async fn close<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> PageResult {
    let id = session_id(&id)?;
    if !is_confirmed(form.confirmed.as_deref()) {
        let v = training::view(&st.app, &staff, id, origin.client_addr)
            .await
            .map_err(fail)?;
        let cat = &st.shared.catalogues;
        let f = Fmt::new(cat, ctx.lang);
        let t = |k: &str| f.t(k, &[]);
        let live = v.live.to_string();
        return Confirm {
            c: ctx.chrome(cat),
            title: t("training-close-confirm-title"),
            lead: vec![
                cat.message(
                    ctx.lang,
                    "training-close-confirm-lead",
                    &[(
                        "live",
                        crate::shell::i18n::Arg::Count(i64::try_from(v.live).unwrap_or(i64::MAX)),
                    )],
                ),
                t("training-close-confirm-final"),
            ],
            facts: vec![
                (t("training-office-col-title"), v.session.title.clone()),
                (
                    t("training-office-col-when"),
                    when(&f, v.session.start, v.session.end),
                ),
                (
                    t("training-close-confirm-attendees"),
                    v.attendees.len().to_string(),
                ),
                (t("training-close-confirm-live"), live.clone()),
            ],
            action: format!("/office/training/{id}/close"),
            fields: Vec::new(),
            submit: t("training-office-close-submit"),
            cancel: (format!("/office/training/{id}"), t("confirm-cancel")),
            possible: v.session.closed_at.is_none(),
        }
        .respond();
    }
    let settled = training::close(&st.app, &staff, id, origin.client_addr)
        .await
        .map_err(fail)?;
    let to = format!(
        "/office/training/{id}?credited={}&reversed={}",
        settled.written, settled.reversed
    );
    Ok(Redirect::to(&to).into_response())
}

/// A form whose only field is the confirmation mark (the CSRF token is checked by the middleware).
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    /// `1` on the confirmation step.
    #[serde(default)]
    confirmed: Option<String>,
}

/// The removal form: the CSRF token (checked by the middleware) and an optional reason.
#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    /// Why the interval is withdrawn, kept in the audit record.
    #[serde(default)]
    reason: Option<String>,
    /// `1` on the confirmation step.
    #[serde(default)]
    confirmed: Option<String>,
}

/// Withdraws one presence interval (its credits are reversed) and returns to the page; the
/// first post asks, naming the attendee and the interval.
pub async fn remove<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path((id, presence)): Path<(String, String)>,
    Form(form): Form<RemoveForm>,
) -> PageResult {
    let id = session_id(&id)?;
    let presence = session_id(&presence)?;
    if !is_confirmed(form.confirmed.as_deref()) {
        let v = training::view(&st.app, &staff, id, origin.client_addr)
            .await
            .map_err(fail)?;
        let cat = &st.shared.catalogues;
        let f = Fmt::new(cat, ctx.lang);
        let t = |k: &str| f.t(k, &[]);
        let views = attendee_views(&f, &v);
        let action = format!("/office/training/{id}/presence/{presence}/remove");
        let (who, interval) = views
            .iter()
            .find_map(|a| {
                a.intervals
                    .iter()
                    .find(|r| r.remove_action == action)
                    .map(|r| (a, r))
            })
            .ok_or(crate::shell::error::PageError(
                crate::shell::error::Failure::NotFound,
            ))?;
        let reason = form.reason.unwrap_or_default();
        return Confirm {
            c: ctx.chrome(cat),
            title: t("training-remove-confirm-title"),
            lead: vec![t("training-remove-confirm-lead")],
            facts: vec![
                (t("training-office-col-title"), v.session.title.clone()),
                (t("training-office-col-name"), who.name.clone()),
                (t("training-office-col-iseki"), who.iseki.clone()),
                (
                    t("training-office-col-intervals"),
                    format!("{} {}", interval.span, interval.channel),
                ),
                (t("training-office-remove-reason"), reason.clone()),
            ],
            action,
            fields: vec![("reason".to_owned(), reason)],
            submit: t("training-office-remove"),
            cancel: (format!("/office/training/{id}"), t("confirm-cancel")),
            possible: true,
        }
        .respond();
    }
    capture::remove(
        &st.app,
        &staff,
        id,
        presence,
        form.reason.as_deref(),
        origin.client_addr,
    )
    .await
    .map_err(fail)?;
    Ok(Redirect::to(&format!("/office/training/{id}?removed=1")).into_response())
}

// ---------------------------------------------------------------- 4. the CSV export

/// The attendee list as CSV (Japanese headers on a Japanese page), every interval a line, in a
/// form the upload reads back.
pub async fn export<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> PageResult {
    let id = session_id(&id)?;
    let v = training::view(&st.app, &staff, id, origin.client_addr)
        .await
        .map_err(fail)?;
    let rows: Vec<ExportRow> = v
        .attendees
        .iter()
        .flat_map(|a| {
            a.intervals.iter().map(|r| ExportRow {
                iseki: a.iseki.as_str().to_owned(),
                name: a.name.clone(),
                kana: a.kana.clone(),
                in_at: r.in_at,
                out_at: r.out_at,
                left_at_end: r.left_at_end,
                channel: r.channel.as_str(),
                device: r.device.clone(),
                client_addr: r.client_addr.clone(),
                pending: a.pending,
            })
        })
        .collect();
    let body = attendees::export_csv(&rows, lang_of(&headers) == Lang::Ja);
    let name = format!(
        "attendees-{}-{}.csv",
        japan_date(v.session.start).format("%Y%m%d"),
        &id.simple().to_string()[..8]
    );
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
