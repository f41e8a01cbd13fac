//! The prefecture's approval of outside organisers' sessions.

use askama::Template;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use mamis_app::training;
use mamis_store::{Organiser, Store, StoredItem, TrainingSession, TrainingStore, Tx};
use serde::Deserialize;
use uuid::Uuid;

use super::list::{ItemRow, programme_rows};
use super::{
    approval_prefectures, fail, organiser_label, param, render, session_id, store_error,
    venue_text, when,
};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult};
use crate::shell::confirm::{Confirm, is_confirmed};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::{Fmt, query_pairs};
use crate::shell::i18n::Lang;

/// One session awaiting approval.
struct ApprovalRow {
    id: String,
    href: String,
    approve_action: String,
    title: String,
    organiser: String,
    when: String,
    venue: String,
    headcount: String,
    items: Vec<ItemRow>,
    total_units: String,
}

/// A prefecture's queue.
struct PrefectureBlock {
    label: String,
    sessions: Vec<ApprovalRow>,
}

#[derive(Template)]
#[template(path = "training/approvals.html")]
struct ApprovalsView<'a> {
    c: Chrome<'a>,
    blocks: Vec<PrefectureBlock>,
    done: Option<String>,
}

/// The stored programme of a session the approver may see (the queue lists only its own
/// prefecture's sessions).
async fn programme_of<S: Store>(st: &WebState<S>, id: Uuid) -> Result<Vec<StoredItem>, PageError> {
    let mut tx = st.app.store.read().await.map_err(store_error)?;
    let items = tx.programme_items(id).await.map_err(store_error)?;
    tx.rollback().await.map_err(store_error)?;
    Ok(items)
}

async fn approval_row<S: Store>(
    st: &WebState<S>,
    f: &Fmt<'_>,
    lang: Lang,
    s: &TrainingSession,
) -> Result<ApprovalRow, PageError> {
    let (items, total_units) = programme_rows(f, lang, &programme_of(st, s.id).await?)?;
    Ok(ApprovalRow {
        id: s.id.to_string(),
        href: format!("/office/training/{}", s.id),
        approve_action: format!("/office/training/{}/approve", s.id),
        title: s.title.clone(),
        organiser: organiser_label(st, &s.organiser, lang).await?,
        when: when(f, s.start, s.end),
        venue: venue_text(f, &s.venue),
        headcount: s
            .expected_headcount
            .map(|n| n.to_string())
            .unwrap_or_default(),
        items,
        total_units,
    })
}

/// Whether `s` looks like an approval number (`P13-2026-00001`), so only those are echoed.
fn is_approval_number(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 14
        && b.len() <= 20
        && b[0] == b'P'
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b'-'
        && b[4..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..].iter().all(u8::is_ascii_digit)
}

/// `/office/training/approvals`: outside sessions awaiting approval in the staff member's
/// prefectures, each with its programme and units.
pub async fn approvals<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RawQuery(q): RawQuery,
) -> PageResult {
    let prefectures = approval_prefectures(&staff);
    if prefectures.is_empty() {
        return Err(PageError(Failure::Forbidden));
    }
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let mut blocks = Vec::new();
    for p in prefectures {
        let waiting = training::awaiting_approval(&st.app, &staff, &p)
            .await
            .map_err(fail)?;
        if waiting.is_empty() {
            continue;
        }
        let mut sessions = Vec::new();
        for s in &waiting {
            sessions.push(approval_row(&st, &f, ctx.lang, s).await?);
        }
        blocks.push(PrefectureBlock {
            label: organiser_label(&st, &Organiser::Association(p), ctx.lang).await?,
            sessions,
        });
    }
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let done = Some(param(&pairs, "approved"))
        .filter(|n| is_approval_number(n))
        .map(|n| f.t("training-office-approved-notice", &[("number", n)]));
    let view = ApprovalsView {
        c: ctx.chrome(cat),
        blocks,
        done,
    };
    render(view.render(), StatusCode::OK)
}

/// Whether the session waits in one of `staff`'s approval queues.
async fn awaits_me<S: Store>(
    st: &WebState<S>,
    staff: &mamis_domain::Principal,
    id: Uuid,
) -> Result<bool, PageError> {
    for p in approval_prefectures(staff) {
        let queue = training::awaiting_approval(&st.app, staff, &p)
            .await
            .map_err(fail)?;
        if queue.iter().any(|s| s.id == id) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The approval form: only the confirmation mark (the CSRF token is checked by the middleware).
#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    /// `1` on the confirmation step.
    #[serde(default)]
    confirmed: Option<String>,
}

/// Approves an outside session (the app checks the prefecture) and shows the issued number;
/// the first post asks, naming the session and what approval does.
pub async fn approve<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    Form(form): Form<ApproveForm>,
) -> PageResult {
    let id = session_id(&id)?;
    // only a session in one of this staff member's approval queues is asked about; any other
    // cannot be approved, and approve() below refuses it with the reason (403 outside the
    // prefecture, 409 once it no longer waits)
    if !is_confirmed(form.confirmed.as_deref()) && awaits_me(&st, &staff, id).await? {
        let v = training::view(&st.app, &staff, id, origin.client_addr)
            .await
            .map_err(fail)?;
        let cat = &st.shared.catalogues;
        let f = Fmt::new(cat, ctx.lang);
        let t = |k: &str| f.t(k, &[]);
        let s = &v.session;
        let (_, total_units) = programme_rows(&f, ctx.lang, &v.items)?;
        return Confirm {
            c: ctx.chrome(cat),
            title: t("training-approve-confirm-title"),
            lead: vec![t("training-approve-confirm-lead")],
            facts: vec![
                (t("training-office-col-title"), s.title.clone()),
                (
                    t("training-office-organiser"),
                    organiser_label(&st, &s.organiser, ctx.lang).await?,
                ),
                (t("training-office-col-when"), when(&f, s.start, s.end)),
                (t("training-office-total-units"), total_units),
            ],
            action: format!("/office/training/{id}/approve"),
            fields: Vec::new(),
            submit: t("training-approve-confirm-submit"),
            cancel: ("/office/training/approvals".to_owned(), t("confirm-cancel")),
            possible: !training::credits_now(s),
        }
        .respond();
    }
    let a = training::approve(&st.app, &staff, id, origin.client_addr)
        .await
        .map_err(fail)?;
    let to = format!(
        "/office/training/approvals?approved={}",
        url::form_urlencoded::byte_serialize(a.number.as_bytes()).collect::<String>()
    );
    Ok(Redirect::to(&to).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_approval_numbers_are_echoed() {
        assert!(is_approval_number("P13-2026-00001"));
        for s in ["", "P13-2026", "X13-2026-00001", "P13-2026-0000<"] {
            assert!(!is_approval_number(s), "{s}");
        }
    }
}
