//! Attendee lists: upload, the preview of their difference, and confirmation.

use askama::Template;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Form, FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use mamis_app::training::attendees::Problem;
use mamis_app::training::import::{self, DiffLine, ImportPlan};
use mamis_app::training::{TrainingError, previews};
use mamis_store::Store;
use serde::Deserialize;
use uuid::Uuid;

use super::session::too_large_text;
use super::{DIFF_SHOWN, DRAIN_LIMIT, UPLOAD_LIMIT, fail, jst, render, session_id};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult};
use crate::shell::error::{Failure, PageError};
use crate::shell::i18n::{Arg, Catalogues, Lang};

/// One interval of the difference.
struct DiffView {
    iseki: String,
    /// The register's name (or the list's kana for an unknown number), beside the number.
    name: String,
    span: String,
    pending: bool,
}

/// One problem of the file.
struct ProblemView {
    line: String,
    column: String,
    message: String,
}

/// The counts of a difference.
struct Counts {
    added: u64,
    removed: u64,
    unchanged: u64,
    captures_unchanged: u64,
    attendees: u64,
    pending: u64,
}

#[derive(Template)]
#[template(path = "training/upload.html")]
struct UploadView<'a> {
    c: Chrome<'a>,
    id: String,
    heading: String,
    message: Option<String>,
    encoding: String,
    rows: u64,
    /// Header names that are no column of the list, ignored (e.g. 備考), comma-separated.
    ignored_columns: String,
    counts: Option<Counts>,
    added_lines: Vec<DiffView>,
    added_more: u64,
    removed_lines: Vec<DiffView>,
    removed_more: u64,
    problems: Vec<ProblemView>,
    total_problems: u64,
    more_problems: u64,
    staging: Option<String>,
    noop: bool,
    applied: bool,
    credited: u64,
    reversed: u64,
}

impl<'a> UploadView<'a> {
    fn empty(c: Chrome<'a>, id: Uuid, heading: String) -> Self {
        Self {
            c,
            id: id.to_string(),
            heading,
            message: None,
            encoding: String::new(),
            rows: 0,
            ignored_columns: String::new(),
            counts: None,
            added_lines: Vec::new(),
            added_more: 0,
            removed_lines: Vec::new(),
            removed_more: 0,
            problems: Vec::new(),
            total_problems: 0,
            more_problems: 0,
            staging: None,
            noop: false,
            applied: false,
            credited: 0,
            reversed: 0,
        }
    }
}

fn diff_views(lines: &[DiffLine]) -> Vec<DiffView> {
    lines
        .iter()
        .take(DIFF_SHOWN)
        .map(|l| DiffView {
            iseki: l.iseki.as_str().to_owned(),
            name: l.name.clone().unwrap_or_default(),
            span: format!("{} – {}", jst(l.in_at), jst(l.out_at)),
            pending: l.pending,
        })
        .collect()
}

fn problem_view(cat: &Catalogues, lang: Lang, p: &Problem) -> ProblemView {
    let args = p.args();
    let args: Vec<(&str, Arg<'_>)> = args
        .iter()
        .map(|(k, v)| (*k, super::api::problem_arg(k, v)))
        .collect();
    ProblemView {
        line: if p.line == 0 {
            cat.text(lang, "training-office-upload-whole-file", &[])
        } else {
            p.line.to_string()
        },
        column: p.column.clone().unwrap_or_default(),
        message: cat.message(lang, p.message_id(), &args),
    }
}

/// The page for a read file: its problems (nothing written), or its difference, previewed with
/// the staging id to confirm, or applied.
fn plan_page(
    cat: &Catalogues,
    ctx: &PageCtx,
    id: Uuid,
    plan: &ImportPlan,
    staging: Option<Uuid>,
) -> PageResult {
    let lang = ctx.lang;
    let heading = match (plan.ok(), plan.applied) {
        (false, _) => "training-office-upload-problems-title",
        (true, true) => "training-office-upload-applied-title",
        (true, false) => "training-office-upload-preview-title",
    };
    let mut view = UploadView::empty(ctx.chrome(cat), id, cat.text(lang, heading, &[]));
    view.encoding = plan.list.encoding.to_owned();
    view.rows = plan.list.rows;
    view.ignored_columns = plan.list.ignored_columns.join(", ");
    if !plan.ok() {
        view.problems = plan
            .list
            .problems
            .iter()
            .map(|p| problem_view(cat, lang, p))
            .collect();
        view.total_problems = plan.list.total_problems;
        view.more_problems = plan
            .list
            .total_problems
            .saturating_sub(view.problems.len() as u64);
        return render(view.render(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    view.counts = Some(Counts {
        added: plan.added,
        removed: plan.removed,
        unchanged: plan.unchanged,
        captures_unchanged: plan.captures_unchanged,
        attendees: plan.attendees,
        pending: plan.pending,
    });
    view.added_lines = diff_views(&plan.added_lines);
    view.added_more = plan.added.saturating_sub(view.added_lines.len() as u64);
    view.removed_lines = diff_views(&plan.removed_lines);
    view.removed_more = plan.removed.saturating_sub(view.removed_lines.len() as u64);
    view.staging = staging.map(|s| s.to_string());
    view.noop = plan.is_noop();
    view.applied = plan.applied;
    view.credited = plan.settled.written;
    view.reversed = plan.settled.reversed;
    render(view.render(), StatusCode::OK)
}

/// A page of the upload flow with only a message (too large, unreadable form, expired).
fn upload_message(
    cat: &Catalogues,
    ctx: &PageCtx,
    id: Uuid,
    message: String,
    status: StatusCode,
) -> PageResult {
    let mut view = UploadView::empty(
        ctx.chrome(cat),
        id,
        cat.text(ctx.lang, "training-office-upload-title", &[]),
    );
    view.message = Some(message);
    render(view.render(), status)
}

/// Why an upload's body could not be read.
enum BodyFail {
    /// Larger than [`UPLOAD_LIMIT`] (read and discarded up to [`DRAIN_LIMIT`]).
    TooLarge,
    /// The connection failed mid-way.
    Broken,
}

/// Reads a request body up to [`UPLOAD_LIMIT`]; a larger one is drained, not kept, so the
/// client reads the answer instead of a reset connection.
async fn read_capped(body: Body) -> Result<Bytes, BodyFail> {
    let mut body = std::pin::pin!(body);
    let mut buf: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(data) = frame.map_err(|_| BodyFail::Broken)?.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > DRAIN_LIMIT {
            return Err(BodyFail::TooLarge);
        }
        if total <= UPLOAD_LIMIT {
            buf.extend_from_slice(&data);
        } else if !buf.is_empty() {
            buf = Vec::new();
        }
    }
    if total > UPLOAD_LIMIT {
        return Err(BodyFail::TooLarge);
    }
    Ok(Bytes::from(buf))
}

/// The `file` part of a multipart body already read into memory; `None` when there is none.
async fn file_part(parts: axum::http::request::Parts, body: Bytes) -> Option<Bytes> {
    let req = Request::from_parts(parts, Body::from(body));
    let mut mp = Multipart::from_request(req, &()).await.ok()?;
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() == Some("file") {
            return field.bytes().await.ok();
        }
    }
    None
}

/// Reads an uploaded attendee list and previews its difference; nothing is written. A file
/// without problems that changes something waits in staging for the confirmation.
pub async fn upload<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(who, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    req: Request,
) -> PageResult {
    let id = session_id(&id)?;
    let cat = &st.shared.catalogues;
    let (parts, body) = req.into_parts();
    let bytes = match read_capped(body).await {
        Ok(b) => b,
        Err(BodyFail::TooLarge) => {
            let m = too_large_text(cat, ctx.lang);
            return upload_message(cat, &ctx, id, m, StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(BodyFail::Broken) => return Err(PageError(Failure::BadRequest("invalid-value"))),
    };
    let Some(file) = file_part(parts, bytes).await else {
        let m = cat.text(ctx.lang, "training-office-upload-no-file", &[]);
        return upload_message(cat, &ctx, id, m, StatusCode::BAD_REQUEST);
    };
    let plan = import::import(&st.app, &staff, id, &file, false, origin.client_addr)
        .await
        .map_err(fail)?;
    let staging = if plan.ok() && !plan.is_noop() {
        match previews::keep(&st.app, &staff, who.account.id, id, file.to_vec()).await {
            Ok(staged) => Some(staged),
            Err(TrainingError::TooManyPreviews) => {
                let minutes = st.app.config.previews.minutes.to_string();
                let m = cat.text(
                    ctx.lang,
                    "training-office-upload-too-many",
                    &[("minutes", &minutes)],
                );
                return upload_message(cat, &ctx, id, m, StatusCode::TOO_MANY_REQUESTS);
            }
            Err(e) => return Err(fail(e)),
        }
    } else {
        None
    };
    plan_page(cat, &ctx, id, &plan, staging)
}

/// The confirmation form.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    staging: String,
}

/// Applies the previewed file: exactly its difference is written and settled. A staging id
/// already used, expired or unknown asks for the file again.
pub async fn confirm<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(who, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    Form(f): Form<ConfirmForm>,
) -> PageResult {
    let id = session_id(&id)?;
    let cat = &st.shared.catalogues;
    let staged = match Uuid::parse_str(f.staging.trim()) {
        Ok(s) => previews::take(&st.app, who.account.id, id, s)
            .await
            .map_err(fail)?,
        Err(_) => None,
    };
    let Some(bytes) = staged else {
        let m = cat.text(ctx.lang, "training-office-upload-expired", &[]);
        return upload_message(cat, &ctx, id, m, StatusCode::GONE);
    };
    let plan = import::import(&st.app, &staff, id, &bytes, true, origin.client_addr)
        .await
        .map_err(fail)?;
    plan_page(cat, &ctx, id, &plan, None)
}
