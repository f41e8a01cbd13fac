//! Staff pages: application queues per association, one application with its picture, the
//! decision and 研修手帳 forms, and rosters with CSV export. Scope is the use cases': another
//! association's application or roster is a 404 here as it is there.

use askama::Template;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use mamis_app::identity::jst;
use mamis_app::programmes::applications::{self, Decision};
use mamis_app::programmes::certificates;
use mamis_app::programmes::credit::PaperUnits;
use mamis_domain::programmes::CertifiedProgramme;
use mamis_domain::time::japan_date;
use mamis_domain::{AssociationCode, HalfUnits, Principal, Scope};
use mamis_store::Store;
use mamis_store::programmes::{ApplicationKind, Fee};
use serde::Deserialize;
use uuid::Uuid;

use super::{LineRow, category_name, line_rows, programme_name};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::{Fmt, query_pairs};

/// The association nodes of a staff member's grants.
fn scopes(who: &Principal) -> Vec<AssociationCode> {
    match who {
        Principal::Staff { grants, .. } => grants
            .iter()
            .filter_map(|g| match g.scope() {
                Scope::Association(c) => Some(c.clone()),
                Scope::Organisation(_) => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One queue line.
pub struct QueueRow {
    id: String,
    programme: String,
    kind: String,
    doctor: String,
    filed: String,
    acting: String,
}

#[derive(Template)]
#[template(path = "programmes/queue.html")]
struct QueueView<'a> {
    c: Chrome<'a>,
    rows: Vec<QueueRow>,
    scopes: Vec<String>,
    programmes: Vec<(String, String)>,
}

fn kind_words(f: &Fmt<'_>, k: ApplicationKind) -> String {
    f.t(
        match k {
            ApplicationKind::New => "programmes-target-new",
            ApplicationKind::Renewal => "programmes-target-renewal",
        },
        &[],
    )
}

/// `GET /office/programmes`: the applications waiting at the staff member's associations.
pub async fn queue<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
) -> Result<Response, PageError> {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let nodes = scopes(&who);
    let mut rows = Vec::new();
    for node in &nodes {
        let Ok(list) = applications::queue(&st.app, &who, node).await else {
            continue;
        };
        for (a, d) in list {
            if rows.iter().any(|r: &QueueRow| r.id == a.id.to_string()) {
                continue;
            }
            rows.push(QueueRow {
                id: a.id.to_string(),
                programme: programme_name(&f, a.programme),
                kind: kind_words(&f, a.kind),
                doctor: format!("{} {} ({})", d.family_name, d.given_name, d.iseki),
                filed: jst(a.created_at),
                acting: a.acting().map(ToString::to_string).unwrap_or_default(),
            });
        }
    }
    Ok(page(
        QueueView {
            c: ctx.chrome(cat),
            rows,
            scopes: nodes.iter().map(ToString::to_string).collect(),
            programmes: CertifiedProgramme::ALL
                .iter()
                .map(|p| (p.as_str().to_owned(), programme_name(&f, *p)))
                .collect(),
        }
        .render(),
    )?
    .into_response())
}

/// One ledger line on the review page.
pub struct EntryRow {
    date: String,
    category: String,
    units: String,
    source: String,
    note: String,
}

#[derive(Template)]
#[template(path = "programmes/application.html")]
struct ApplicationView<'a> {
    c: Chrome<'a>,
    id: String,
    seen: String,
    programme: String,
    kind: String,
    doctor: String,
    filed: String,
    route: String,
    evidence: String,
    /// (download path, name, size) per evidence file.
    files: Vec<(String, String, String)>,
    lines: Vec<LineRow>,
    met: bool,
    entries: Vec<EntryRow>,
    categories: Vec<(String, String)>,
    last_step: bool,
    fee: Option<String>,
    asks_approval: bool,
}

/// `GET /office/programmes/applications/{id}`: one application to review (audited view).
pub async fn application<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let r = applications::review(&st.app, &who, id, origin.client_addr).await?;
    let a = &r.application;
    let rules = a.programme.rules();
    let entries = r
        .entries
        .iter()
        .map(|e| EntryRow {
            date: f.date(e.date),
            category: category_name(ctx.lang, a.programme, &e.category),
            units: e.half_units.to_string(),
            source: f.source(e.source),
            note: e.note.clone().unwrap_or_default(),
        })
        .collect();
    let view = ApplicationView {
        c: ctx.chrome(cat),
        id: id.to_string(),
        seen: a
            .updated_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        programme: programme_name(&f, a.programme),
        kind: kind_words(&f, a.kind),
        doctor: format!(
            "{} {} ({})",
            r.doctor.family_name, r.doctor.given_name, r.doctor.iseki
        ),
        filed: jst(a.created_at),
        route: a
            .route
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == a.step as usize {
                    format!("[{c}]")
                } else {
                    c.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" → "),
        evidence: a.evidence.clone().unwrap_or_default(),
        files: r
            .files
            .iter()
            .map(|e| {
                (
                    format!("/office/programmes/applications/{id}/files/{}", e.id),
                    e.file_name.clone(),
                    format!("{} KB", (e.size + 1023) / 1024),
                )
            })
            .collect(),
        lines: line_rows(&f, ctx.lang, a.programme, &r.progress.assessment.lines),
        met: r.progress.assessment.met,
        entries,
        categories: rules
            .categories
            .iter()
            .map(|c| (c.key.clone(), category_name(ctx.lang, a.programme, &c.key)))
            .collect(),
        last_step: a.step as usize + 1 >= a.route.len(),
        fee: rules.fee_yen.map(|y| y.to_string()),
        asks_approval: matches!(
            rules.new,
            mamis_domain::programmes::Requirement::CmeUnitsApproval { .. }
        ),
    };
    Ok(page(view.render())?.into_response())
}

/// The decision form.
#[derive(Debug, Deserialize)]
pub struct DecideForm {
    action: String,
    seen: String,
    #[serde(default)]
    fee: String,
    #[serde(default)]
    approved: Option<String>,
    #[serde(default)]
    reason: String,
}

fn seen_of(s: &str) -> Result<DateTime<Utc>, PageError> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| PageError(Failure::BadRequest("invalid-value")))
}

/// `POST /office/programmes/applications/{id}/decide`: approve (forward or issue) or return.
pub async fn decide<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, who): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<Uuid>,
    Form(f): Form<DecideForm>,
) -> Result<Response, PageError> {
    let seen = seen_of(&f.seen)?;
    let decision = match f.action.as_str() {
        "approve" => Decision::Approve {
            fee: match f.fee.as_str() {
                "" => None,
                other => {
                    Some(Fee::parse(other).ok_or(PageError(Failure::BadRequest("invalid-value")))?)
                }
            },
            practical_approved: f.approved.is_some(),
        },
        "return" => Decision::Return { reason: f.reason },
        _ => return Err(PageError(Failure::BadRequest("invalid-value"))),
    };
    let a = applications::decide(&st.app, &who, id, seen, decision, origin.client_addr).await?;
    // once it moved on, the reviewer may no longer see it: back to the queue
    let _ = a;
    Ok(Redirect::to("/office/programmes").into_response())
}

/// The 研修手帳 form.
#[derive(Debug, Deserialize)]
pub struct PaperForm {
    category: String,
    units: String,
    date: String,
    page: String,
    stamp: String,
}

/// `POST /office/programmes/applications/{id}/paper`: adds units from the paper 研修手帳.
pub async fn paper<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, who): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<Uuid>,
    Form(f): Form<PaperForm>,
) -> Result<Response, PageError> {
    let units: f64 = f
        .units
        .trim()
        .parse()
        .map_err(|_| PageError(Failure::Unprocessable("programmes-error-paper-units")))?;
    if !(units * 2.0).is_finite() || (units * 2.0).fract() != 0.0 || !(0.0..=100.0).contains(&units)
    {
        return Err(PageError(Failure::Unprocessable(
            "programmes-error-paper-units",
        )));
    }
    let date = mamis_domain::dates::parse_date(&f.date)
        .map_err(|_| PageError(Failure::Unprocessable("programmes-error-paper-date")))?;
    applications::add_paper_units(
        &st.app,
        &who,
        id,
        PaperUnits {
            category: f.category,
            half_units: HalfUnits::new((units * 2.0) as i64),
            date,
            page: f.page,
            stamp: f.stamp,
        },
        origin.client_addr,
    )
    .await?;
    Ok(Redirect::to(&format!("/office/programmes/applications/{id}")).into_response())
}

/// One roster line.
pub struct RosterRow {
    number: String,
    iseki: String,
    name: String,
    from: String,
    until: String,
    expired: bool,
}

#[derive(Template)]
#[template(path = "programmes/roster.html")]
struct RosterView<'a> {
    c: Chrome<'a>,
    programme: String,
    programme_key: String,
    scope: String,
    rows: Vec<RosterRow>,
}

/// `GET /office/programmes/roster?programme=…&scope=…[&format=csv]`: who holds what until when
/// at an association (audited view), as a page or CSV.
pub async fn roster<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let pairs = query_pairs(q.as_deref()).ok_or(PageError(Failure::BadRequest("invalid-value")))?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let programme = CertifiedProgramme::parse(get("programme"))
        .map_err(|_| PageError(Failure::BadRequest("programmes-error-programme")))?;
    let scope = AssociationCode::parse(get("scope"))
        .map_err(|_| PageError(Failure::BadRequest("programmes-error-scope")))?;
    let lines = certificates::roster(&st.app, &who, programme, &scope, origin.client_addr).await?;
    let today: NaiveDate = japan_date(st.app.now());
    if get("format") == "csv" {
        let body = certificates::roster_csv(&lines, today);
        let name = format!(
            "attachment; filename=\"roster-{}-{}.csv\"",
            programme.as_str(),
            scope.as_str()
        );
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            body,
        )
            .into_response());
    }
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let rows = lines
        .iter()
        .map(|l| RosterRow {
            number: l.certificate.number.clone(),
            iseki: l.iseki.clone(),
            name: l.name.clone(),
            from: f.date(l.certificate.valid_from),
            until: f.date(l.certificate.valid_until),
            expired: l.certificate.valid_until < today,
        })
        .collect();
    Ok(page(
        RosterView {
            c: ctx.chrome(cat),
            programme: programme_name(&f, programme),
            programme_key: programme.as_str().to_owned(),
            scope: scope.to_string(),
            rows,
        }
        .render(),
    )?
    .into_response())
}
