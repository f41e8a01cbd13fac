//! `/office/members/import`: an association's existing register by CSV, all or nothing, with
//! the line report in the page's language.

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use mamis_app::AppError;
use mamis_app::members::import::{RegisterReport, import_register};
use mamis_domain::{Action, AssociationCode, Principal, Target};
use mamis_store::Store;

use super::pick;
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::error::PageError;
use crate::shell::i18n::{Catalogues, Lang};

struct ProblemRow {
    line: u64,
    column: String,
    message: String,
}

struct Outcome {
    encoding: String,
    rows: u64,
    created: u64,
    updated: u64,
    joined: u64,
    ended: u64,
    unchanged: u64,
    applied: bool,
    total_problems: u64,
    problems: Vec<ProblemRow>,
}

#[derive(Template)]
#[template(path = "members/import.html")]
struct ImportView<'a> {
    c: Chrome<'a>,
    choices: Vec<(String, String)>,
    selected: String,
    error: Option<String>,
    outcome: Option<Outcome>,
}

/// The associations whose register the staff member may import, as (code, label).
async fn choices<S: Store>(
    st: &WebState<S>,
    lang: Lang,
    staff: &Principal,
) -> Result<Vec<(String, String)>, PageError> {
    Ok(mamis_app::registry::public_tree(&st.app)
        .await?
        .into_iter()
        .filter(|a| staff.permits(Action::EditDoctors, &Target::Association(&a.code)))
        .map(|a| {
            (
                a.code.to_string(),
                format!("{}（{}）", pick(lang, &a.name_ja, &a.name_en), a.code),
            )
        })
        .collect())
}

/// A problem in the page's language.
pub(crate) fn problem_text(
    cat: &Catalogues,
    lang: Lang,
    p: &mamis_app::members::import::Problem,
) -> String {
    let value = p.value.clone().unwrap_or_default();
    let register = p.register.clone().unwrap_or_default();
    let column = p.column.clone().unwrap_or_default();
    cat.text(
        lang,
        p.key,
        &[
            ("value", &value),
            ("register", &register),
            ("column", &column),
        ],
    )
}

fn outcome(cat: &Catalogues, lang: Lang, r: &RegisterReport) -> Outcome {
    Outcome {
        encoding: r.encoding.to_owned(),
        rows: r.rows,
        created: r.created,
        updated: r.updated,
        joined: r.joined,
        ended: r.ended,
        unchanged: r.unchanged,
        applied: r.applied(),
        total_problems: r.total_problems,
        problems: r
            .problems
            .iter()
            .map(|p| ProblemRow {
                line: p.line,
                column: p.column.clone().unwrap_or_default(),
                message: problem_text(cat, lang, p),
            })
            .collect(),
    }
}

/// The upload form.
pub async fn form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let choices = choices(&st, ctx.lang, &staff).await?;
    let view = ImportView {
        c: ctx.chrome(cat),
        selected: choices.first().map(|c| c.0.clone()).unwrap_or_default(),
        choices,
        error: None,
        outcome: None,
    };
    html(page(view.render()))
}

/// Reads the posted register and shows what was done, or every line that stopped it.
pub async fn upload<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    mut mp: Multipart,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let mut association = String::new();
    let mut file: Option<Vec<u8>> = None;
    while let Ok(Some(field)) = mp.next_field().await {
        match field.name() {
            Some("association") => association = field.text().await.unwrap_or_default(),
            Some("file") => file = field.bytes().await.ok().map(|b| b.to_vec()),
            _ => {}
        }
    }
    let choices = choices(&st, ctx.lang, &staff).await?;
    let mut view = ImportView {
        c: ctx.chrome(cat),
        choices,
        selected: association.clone(),
        error: None,
        outcome: None,
    };
    let fail = |mut view: ImportView<'_>, key: &str, status: StatusCode| -> PageResult {
        view.error = Some(cat.text(ctx.lang, key, &[]));
        let mut r = html(page(view.render()))?;
        *r.status_mut() = status;
        Ok(r)
    };
    let Ok(code) = AssociationCode::parse(association.trim()) else {
        return fail(view, "members-import-choose", StatusCode::BAD_REQUEST);
    };
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return fail(view, "members-import-no-file", StatusCode::BAD_REQUEST);
    };
    match import_register(&st.app, &staff, &code, &bytes, origin.client_addr).await {
        Ok(report) => {
            let status = if report.applied() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            view.outcome = Some(outcome(cat, ctx.lang, &report));
            let mut r = html(page(view.render()))?;
            *r.status_mut() = status;
            Ok(r)
        }
        Err(AppError::NotFound | AppError::Forbidden) => {
            fail(view, "members-import-not-yours", StatusCode::NOT_FOUND)
        }
        Err(e) => Err(e.into()),
    }
}
