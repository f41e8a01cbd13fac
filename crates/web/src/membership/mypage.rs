//! The doctor's side on My Page: their procedures, where each stands, a return's reason, and the
//! answer, drop-the-level and withdraw buttons.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use mamis_app::identity::jst;
use mamis_app::membership::{self, DoctorAct};
use mamis_domain::AssociationLevel;
use mamis_domain::procedure::{ProcedureStatus, Request};
use mamis_store::Store;
use serde::Deserialize;
use uuid::Uuid;

use super::office::{kind_key, status_key};
use crate::WebState;
use crate::shell::auth::{CurrentUser, RequestOrigin};
use crate::shell::chrome::{Chrome, PageCtx, page};
use crate::shell::error::{Failure, PageError};

/// One procedure as the doctor sees it.
pub struct MyRow {
    id: String,
    kind: String,
    status: String,
    filed: String,
    effective: String,
    waiting_at: String,
    returned: Option<(String, String)>,
    can_drop: bool,
    open: bool,
}

#[derive(Template)]
#[template(path = "membership/mypage.html")]
struct MyView<'a> {
    c: Chrome<'a>,
    rows: Vec<MyRow>,
    filed: bool,
    has_county: bool,
    held_any: bool,
    all_held: bool,
    verified: bool,
}

/// `filed=1` after a filing form succeeded.
#[derive(Debug, Default, Deserialize)]
pub struct MineQuery {
    #[serde(default)]
    filed: Option<String>,
}

/// `GET /mypage/membership`: the doctor's procedures, newest first.
pub async fn mine<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    axum::extract::Query(q): axum::extract::Query<MineQuery>,
) -> Result<Response, PageError> {
    let cat = &st.shared.catalogues;
    let today = mamis_domain::time::japan_date(st.app.now());
    let verified = cur.account.verification == mamis_store::Verification::Verified;
    let held: Vec<AssociationLevel> = match cur.account.doctor_id.filter(|_| verified) {
        Some(d) => {
            let (_, ms, _) = membership::member(&st.app, &cur.doctor_principal(), d, None).await?;
            [
                AssociationLevel::County,
                AssociationLevel::Prefecture,
                AssociationLevel::Jma,
            ]
            .into_iter()
            .filter(|l| mamis_domain::procedure::held_at(&ms, *l, today).is_some())
            .collect()
        }
        None => Vec::new(),
    };
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    let rows = membership::my_procedures(&st.app, &cur.doctor_principal())
        .await?
        .into_iter()
        .map(|v| {
            let returned = v.procedure.returned().map(|(s, r)| {
                (
                    s.association
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    r.to_owned(),
                )
            });
            let can_drop = matches!(v.procedure.request, Request::Join { .. })
                && v.procedure
                    .returned()
                    .is_some_and(|(s, _)| s.level != AssociationLevel::County);
            MyRow {
                id: v.row.id.to_string(),
                kind: t(kind_key(v.row.kind)),
                status: t(status_key(v.row.status)),
                filed: jst(v.row.filed_at),
                effective: v
                    .row
                    .effective_on
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                waiting_at: v
                    .row
                    .due
                    .iter()
                    .map(|d| d.association.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                returned,
                can_drop,
                open: v.row.status == ProcedureStatus::Open,
            }
        })
        .collect();
    Ok(page(
        MyView {
            c: ctx.chrome(cat),
            rows,
            filed: q.filed.is_some(),
            has_county: held.contains(&AssociationLevel::County),
            held_any: !held.is_empty(),
            all_held: held.len() == 3,
            verified: cur.account.verification == mamis_store::Verification::Verified,
        }
        .render(),
    )?
    .into_response())
}

/// The doctor's form: which button, and the answer to a return.
#[derive(Debug, Deserialize)]
pub struct MyActForm {
    action: String,
    #[serde(default)]
    reply: String,
}

/// `POST /mypage/membership/{id}/act`: answer a return, drop the returned level, or withdraw.
pub async fn act<S: Store>(
    State(st): State<WebState<S>>,
    CurrentUser(cur): CurrentUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<Uuid>,
    Form(f): Form<MyActForm>,
) -> Result<Response, PageError> {
    let act = match f.action.as_str() {
        "answer" if !f.reply.trim().is_empty() => DoctorAct::Answer(f.reply.trim().to_owned()),
        "answer" => return Err(PageError(Failure::BadRequest("membership-error-reply"))),
        "drop" => DoctorAct::DropLevel,
        "cancel" => DoctorAct::Cancel,
        _ => return Err(PageError(Failure::BadRequest("invalid-value"))),
    };
    membership::doctor_act(
        &st.app,
        &cur.doctor_principal(),
        id,
        act,
        origin.client_addr,
    )
    .await?;
    Ok(Redirect::to("/mypage/membership").into_response())
}
