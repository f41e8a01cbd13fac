//! Staff pages of the membership procedures: extract, call one `mamis_app::membership` use
//! case with the staff principal, render. Scope is the use case's: another county's procedure
//! is a 404 here as it is there.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use mamis_app::identity::jst;
use mamis_app::membership::{self, StaffAct};
use mamis_domain::AssociationCode;
use mamis_domain::procedure::{
    DueAction, ProcedureKind, ProcedureStatus, Request, StepRole, StepState,
};
use mamis_store::Store;
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, association_options, bracketed, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::i18n::Lang;

pub(super) fn kind_key(k: ProcedureKind) -> &'static str {
    match k {
        ProcedureKind::Join => "membership-kind-join",
        ProcedureKind::Transfer => "membership-kind-transfer",
        ProcedureKind::ClassChange => "membership-kind-class-change",
        ProcedureKind::NameChange => "membership-kind-name-change",
        ProcedureKind::Withdrawal => "membership-kind-withdrawal",
    }
}

pub(super) fn status_key(s: ProcedureStatus) -> &'static str {
    match s {
        ProcedureStatus::Open => "membership-status-open",
        ProcedureStatus::Completed => "membership-status-completed",
        ProcedureStatus::Cancelled => "membership-status-cancelled",
    }
}

fn due_key(a: DueAction) -> &'static str {
    match a {
        DueAction::Approve => "membership-due-approve",
        DueAction::Acknowledge => "membership-due-acknowledge",
        DueAction::Route => "membership-due-route",
    }
}

/// One queue line.
pub struct QueueRow {
    id: String,
    who: String,
    kind: String,
    filed: String,
    waiting: String,
    due: String,
}

#[derive(Template)]
#[template(path = "membership/queue.html")]
struct QueueView<'a> {
    c: Chrome<'a>,
    rows: Vec<QueueRow>,
}

/// `GET /office/membership`: the procedures waiting for the staff member's associations.
pub async fn queue<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
) -> Result<Response, PageError> {
    let cat = &st.shared.catalogues;
    let names = association_names(&st, ctx.lang).await?;
    let rows = membership::queue(&st.app, &who, 200)
        .await?
        .into_iter()
        .map(|(p, who)| QueueRow {
            id: p.id.to_string(),
            who,
            kind: cat.text(ctx.lang, kind_key(p.kind), &[]),
            filed: jst(p.filed_at),
            waiting: p.due.iter().map(|d| jst(d.since)).min().unwrap_or_default(),
            due: p
                .due
                .iter()
                .map(|d| {
                    format!(
                        "{} {}",
                        names
                            .get(d.association.as_str())
                            .cloned()
                            .unwrap_or_else(|| d.association.to_string()),
                        cat.text(ctx.lang, due_key(d.action), &[])
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    Ok(page(
        QueueView {
            c: ctx.chrome(cat),
            rows,
        }
        .render(),
    )?
    .into_response())
}

/// One level's part as the page shows it.
pub struct StepRow {
    association: String,
    role: String,
    state: String,
    reason: String,
}

/// One history line.
pub struct EventRow {
    at: String,
    what: String,
}

#[derive(Template)]
#[template(path = "membership/procedure.html")]
struct ProcedureView<'a> {
    c: Chrome<'a>,
    id: String,
    kind: String,
    status: String,
    doctor: String,
    filed: String,
    effective: String,
    steps: Vec<StepRow>,
    events: Vec<EventRow>,
    /// What was asked for, as label and value.
    request: Vec<(String, String)>,
    /// The evidence files: id, name, size in KB.
    evidence: Vec<(String, String, String)>,
    /// The counties a join may be routed or forwarded to (the prefecture's).
    counties: Vec<(String, String)>,
    /// The actions the staff member may take now (approve, route or acknowledge).
    can_approve: bool,
    can_route: bool,
    can_acknowledge: bool,
}

/// `GET /office/membership/{id}`: the procedure, its levels and history (viewing is audited).
pub async fn procedure<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let cat = &st.shared.catalogues;
    let v = membership::procedure(&st.app, &who, id, origin.client_addr.clone()).await?;
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    // a new resident's join names their registration's identity data until the county binds it
    let mut applicant: Vec<(String, String)> = Vec::new();
    let doctor = match v.row.doctor_id {
        Some(d) => {
            let (doctor, _, _) =
                membership::member(&st.app, &who, d, origin.client_addr.clone()).await?;
            format!(
                "{} {} ({})",
                doctor.family_name, doctor.given_name, doctor.iseki
            )
        }
        None => match membership::applicant_claim(&st.app, &who, id, origin.client_addr.clone())
            .await?
        {
            Some(c) => {
                applicant = vec![
                    (t("membership-applicant"), t("membership-applicant-note")),
                    (
                        t("membership-applicant-kana"),
                        format!("{} {}", c.family_kana.as_str(), c.given_kana.as_str()),
                    ),
                    (t("membership-applicant-birth"), c.birth_date.to_string()),
                ];
                format!("{} {} ({})", c.family_name, c.given_name, c.iseki)
            }
            None => String::new(),
        },
    };
    let names = association_names(&st, ctx.lang).await?;
    let name = |a: &AssociationCode| {
        names
            .get(a.as_str())
            .map_or_else(|| a.to_string(), |n| bracketed(ctx.lang, n, a.as_str()))
    };
    let evidence = membership::evidence_list(&st.app, &who, id)
        .await?
        .into_iter()
        .map(|e| {
            (
                e.id.to_string(),
                e.file_name,
                format!("{} KB", (e.size + 1023) / 1024),
            )
        })
        .collect();
    let mut request = applicant;
    request.extend(request_facts(cat, ctx.lang, &v.procedure.request, &name));
    let counties = match &v.procedure.request {
        Request::Join { prefecture, .. } => association_options(ctx.lang, &names, |code| {
            AssociationCode::parse(code).is_ok_and(|c| {
                c.level() == mamis_domain::AssociationLevel::County && prefecture.contains(&c)
            })
        }),
        _ => Vec::new(),
    };
    let mine = |a: DueAction| {
        v.row
            .due
            .iter()
            .any(|d| d.action == a && membership::can_decide(&who, &d.association))
    };
    let steps = v
        .procedure
        .steps
        .iter()
        .map(|s| {
            let (state, reason) = match &s.state {
                StepState::Waiting => (t("membership-step-waiting"), String::new()),
                StepState::Approved(d) => (
                    format!("{} {d}", t("membership-step-approved")),
                    String::new(),
                ),
                StepState::Returned(r) => (t("membership-step-returned"), r.clone()),
                StepState::Acknowledged { on, lapsed } => (
                    format!(
                        "{} {on}{}",
                        t("membership-step-acknowledged"),
                        if *lapsed {
                            t("membership-step-lapsed")
                        } else {
                            String::new()
                        }
                    ),
                    String::new(),
                ),
                StepState::Dropped => (t("membership-step-dropped"), String::new()),
            };
            StepRow {
                association: s
                    .association
                    .as_ref()
                    .map_or_else(|| t("membership-unknown-county"), &name),
                role: t(match s.role {
                    StepRole::Approve => "membership-role-approve",
                    StepRole::Acknowledge => "membership-role-acknowledge",
                }),
                state,
                reason,
            }
        })
        .collect();
    let events = v
        .events
        .iter()
        .map(|e| EventRow {
            at: jst(e.at),
            what: serde_json::from_str::<serde_json::Value>(&e.event)
                .ok()
                .and_then(|j| {
                    j.get("action")
                        .and_then(|a| {
                            a.as_object()
                                .and_then(|o| o.keys().next().cloned())
                                .or_else(|| a.as_str().map(str::to_owned))
                        })
                        .or_else(|| j.get("filed").map(|_| "Filed".to_owned()))
                })
                .unwrap_or_default(),
        })
        .collect();
    Ok(page(
        ProcedureView {
            c: ctx.chrome(cat),
            id: id.to_string(),
            kind: t(kind_key(v.row.kind)),
            status: t(status_key(v.row.status)),
            doctor,
            filed: jst(v.row.filed_at),
            effective: v
                .row
                .effective_on
                .map(|d| d.to_string())
                .unwrap_or_default(),
            steps,
            events,
            request,
            evidence,
            counties,
            can_approve: mine(DueAction::Approve),
            can_route: mine(DueAction::Route),
            can_acknowledge: mine(DueAction::Acknowledge),
        }
        .render(),
    )?
    .into_response())
}

/// The one form of the procedure page: which button, and the reason or county it needs.
#[derive(Debug, Deserialize)]
pub struct ActForm {
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    county: String,
}

/// `POST /office/membership/{id}/act`: approve, return, route, forward or acknowledge.
pub async fn act<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, who): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<Uuid>,
    Form(f): Form<ActForm>,
) -> Result<Response, PageError> {
    let county = || {
        AssociationCode::parse(f.county.trim())
            .map_err(|_| PageError(Failure::BadRequest("membership-error-county")))
    };
    let act = match f.action.as_str() {
        "approve" => StaffAct::Approve,
        "return" if !f.reason.trim().is_empty() => StaffAct::Return(f.reason.trim().to_owned()),
        "return" => return Err(PageError(Failure::BadRequest("membership-error-reason"))),
        "route" => StaffAct::Route(county()?),
        "forward" => StaffAct::Forward(county()?),
        "acknowledge" => StaffAct::Acknowledge,
        _ => return Err(PageError(Failure::BadRequest("invalid-value"))),
    };
    match membership::act(&st.app, &who, id, act, origin.client_addr).await {
        Ok(_) => Ok(Redirect::to(&format!("/office/membership/{id}")).into_response()),
        Err(e) => match super::filing::refusal_key(&e) {
            Some(key) => Err(PageError(Failure::Because(
                Box::new(Failure::Conflict),
                key,
            ))),
            None => Err(e.into()),
        },
    }
}

/// What a procedure asks for, as the staff page lists it.
fn request_facts(
    cat: &crate::shell::i18n::Catalogues,
    lang: Lang,
    r: &Request,
    name: &dyn Fn(&AssociationCode) -> String,
) -> Vec<(String, String)> {
    let t = |k: &str| cat.text(lang, k, &[]);
    let class = |c: &dyn std::fmt::Display| c.to_string();
    match r {
        Request::Join {
            prefecture,
            county,
            classes,
        } => {
            let mut v = vec![
                (t("membership-join-prefecture"), name(prefecture)),
                (
                    t("membership-join-county"),
                    county
                        .as_ref()
                        .map_or_else(|| t("membership-unknown-county"), name),
                ),
            ];
            for (k, c) in [
                (
                    "membership-class-county",
                    classes.county.as_ref().map(|c| class(c)),
                ),
                (
                    "membership-class-prefecture",
                    classes.prefecture.as_ref().map(|c| class(c)),
                ),
                (
                    "membership-class-jma",
                    classes.jma.map(|c| c.as_str().to_owned()),
                ),
            ] {
                if let Some(c) = c {
                    v.push((t(k), c));
                }
            }
            v
        }
        Request::Transfer {
            from_county,
            to_county,
            county_class,
            prefecture_class,
        } => {
            let mut v = vec![
                (t("membership-transfer-from"), name(from_county)),
                (t("membership-transfer-to"), name(to_county)),
                (t("membership-class-county"), class(county_class)),
            ];
            if let Some(c) = prefecture_class {
                v.push((t("membership-class-prefecture"), class(c)));
            }
            v
        }
        Request::ClassChange { changes } => {
            changes.iter().map(|(a, c)| (name(a), class(c))).collect()
        }
        Request::NameChange(n) => vec![(
            t("membership-name-new"),
            format!(
                "{} {}（{} {}）",
                n.family_name,
                n.given_name,
                n.family_kana.as_str(),
                n.given_kana.as_str()
            ),
        )],
        Request::Withdrawal { from } => vec![(
            t("membership-withdraw-from"),
            t(match from {
                mamis_domain::AssociationLevel::County => "membership-withdraw-from-county",
                mamis_domain::AssociationLevel::Prefecture => "membership-withdraw-from-prefecture",
                mamis_domain::AssociationLevel::Jma => "membership-withdraw-from-jma",
            }),
        )],
    }
}

/// `GET /office/membership/{id}/evidence/{evidence}`: the file as uploaded (audited); served
/// as an attachment so nothing in it runs in the page's origin.
pub async fn evidence<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, who): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path((id, evidence)): Path<(Uuid, Uuid)>,
) -> Result<Response, PageError> {
    let (e, bytes) =
        membership::evidence_file(&st.app, &who, id, evidence, origin.client_addr).await?;
    Ok(super::upload::attachment(&e, bytes))
}

/// Every association's name in the page's language, by code.
async fn association_names<S: Store>(
    st: &WebState<S>,
    lang: Lang,
) -> Result<std::collections::HashMap<String, String>, PageError> {
    Ok(mamis_app::registry::public_tree(&st.app)
        .await?
        .into_iter()
        .map(|a| {
            let n = match lang {
                Lang::Ja => a.name_ja,
                Lang::En => a.name_en,
            };
            (a.code.to_string(), n)
        })
        .collect())
}
