//! The migration dashboard of the back office: staff see, for the subtree of their grants, how
//! far current JMA members have moved from the legacy CME login to MAMIS_ID (per prefecture and
//! county), download those not yet moved as CSV, and send them the reminder mail.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use mamis_app::AppError;
use mamis_app::migration::{self, Dashboard, Progress};
use mamis_domain::{AssociationCode, Principal, Scope};
use mamis_store::Store;
use serde::Deserialize;

use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, association_options, bracketed, page};
use crate::shell::confirm::{Confirm, is_confirmed};
use crate::shell::error::{Failure, PageError};
use crate::shell::i18n::Lang;

/// The routes of this module.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/office/migration", get(dashboard::<S>))
        .route("/office/migration.csv", get(export::<S>))
        .route("/office/migration/remind", post(remind::<S>))
}

/// One line of a table: counts with their shares, already formatted.
struct Row {
    code: String,
    name: String,
    verified: u64,
    verified_pct: String,
    legacy: u64,
    legacy_pct: String,
    neither: u64,
    neither_pct: String,
    total: u64,
}

impl Row {
    fn new(code: String, name: String, p: &Progress) -> Self {
        Self {
            code,
            name,
            verified: p.verified,
            verified_pct: p.percent(p.verified),
            legacy: p.legacy_only,
            legacy_pct: p.percent(p.legacy_only),
            neither: p.neither,
            neither_pct: p.percent(p.neither),
            total: p.total(),
        }
    }
}

/// One prefecture: its counties and its total line.
struct Table {
    total: Row,
    counties: Vec<Row>,
}

/// The dashboard as the page shows it.
struct DashView {
    code: String,
    name: String,
    day: String,
    tables: Vec<Table>,
    total: Row,
}

/// A link to one of the staff member's own nodes.
struct GrantNode {
    code: String,
    name: String,
}

#[derive(Template)]
#[template(path = "office/migration.html")]
struct MigrationView<'a> {
    c: Chrome<'a>,
    node_input: String,
    /// The associations within the staff member's grants, to choose from: (code, name（code）).
    choices: Vec<(String, String)>,
    grant_nodes: Vec<GrantNode>,
    dash: Option<DashView>,
    /// A reminder run was just queued.
    queued: bool,
    error: Option<String>,
}

/// The association nodes of the staff member's grants, widest first (the default view).
fn grant_nodes(p: &Principal) -> Vec<AssociationCode> {
    let Principal::Staff { grants, .. } = p else {
        return Vec::new();
    };
    let mut codes: Vec<AssociationCode> = grants
        .iter()
        .filter_map(|g| match g.scope() {
            Scope::Association(c) => Some(c.clone()),
            Scope::Organisation(_) => None,
        })
        .collect();
    codes.sort_by(|a, b| (a.level(), a.as_str()).cmp(&(b.level(), b.as_str())));
    codes.dedup();
    codes
}

/// The `?node=` of a page.
#[derive(Debug, Deserialize)]
pub struct NodeQuery {
    #[serde(default)]
    node: Option<String>,
}

/// The remind form as posted.
#[derive(Debug, Deserialize)]
pub struct RemindForm {
    #[serde(default)]
    node: String,
    /// `1` on the confirmation step.
    #[serde(default)]
    confirmed: Option<String>,
}

/// Why the requested node cannot be shown, as a message key and status.
struct BadNode {
    key: &'static str,
    status: StatusCode,
}

/// The node asked for, or the staff member's widest grant node when none was given.
fn requested(staff: &Principal, raw: Option<&str>) -> Result<AssociationCode, PageError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => AssociationCode::parse(s)
            .map_err(|_| PageError(Failure::BadRequest("invalid-association-code"))),
        // staff without any association grant see nothing here
        None => grant_nodes(staff)
            .into_iter()
            .next()
            .ok_or(PageError(Failure::Forbidden)),
    }
}

fn pick(lang: Lang, ja: &str, en: &str) -> String {
    match lang {
        Lang::Ja => ja.to_owned(),
        Lang::En => en.to_owned(),
    }
}

fn dash_view(lang: Lang, d: &Dashboard, node_name: String) -> DashView {
    let tables = d
        .prefectures
        .iter()
        .map(|p| Table {
            total: Row::new(
                p.code.to_string(),
                pick(lang, &p.name_ja, &p.name_en),
                &p.progress,
            ),
            counties: p
                .counties
                .iter()
                .map(|c| {
                    Row::new(
                        c.code.to_string(),
                        pick(lang, &c.name_ja, &c.name_en),
                        &c.progress,
                    )
                })
                .collect(),
        })
        .collect();
    DashView {
        code: d.node.to_string(),
        name: node_name,
        day: d.day.format("%Y-%m-%d").to_string(),
        total: Row::new(d.node.to_string(), String::new(), &d.total),
        tables,
    }
}

/// The public names of the association tree in the page's language.
async fn tree_names<S: Store>(
    st: &WebState<S>,
    lang: Lang,
) -> Result<std::collections::HashMap<String, String>, PageError> {
    Ok(mamis_app::registry::public_tree(&st.app)
        .await
        .map_err(PageError::from)?
        .into_iter()
        .map(|a| (a.code.to_string(), pick(lang, &a.name_ja, &a.name_en)))
        .collect())
}

/// Renders the page for `node` (with the reminder result, or with a message about the node).
async fn render<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    staff: &Principal,
    node: Result<AssociationCode, BadNode>,
    node_input: String,
    queued: bool,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let names = tree_names(st, ctx.lang).await?;
    let scope = grant_nodes(staff);
    let choices = association_options(ctx.lang, &names, |code| {
        AssociationCode::parse(code).is_ok_and(|c| scope.iter().any(|g| g.contains(&c)))
    });
    let grant_nodes = scope
        .into_iter()
        .map(|c| GrantNode {
            name: names.get(c.as_str()).cloned().unwrap_or_default(),
            code: c.to_string(),
        })
        .collect();
    let (dash, bad) = match node {
        Ok(node) => match migration::dashboard(&st.app, staff, &node).await {
            Ok(d) => {
                let name = names.get(node.as_str()).cloned().unwrap_or_default();
                (Some(dash_view(ctx.lang, &d, name)), None)
            }
            Err(AppError::NotFound) => (
                None,
                Some(BadNode {
                    key: "migration-error-unknown-node",
                    status: StatusCode::NOT_FOUND,
                }),
            ),
            Err(e) => return Err(e.into()),
        },
        Err(b) => (None, Some(b)),
    };
    let view = MigrationView {
        c: ctx.chrome(cat),
        node_input,
        choices,
        grant_nodes,
        dash,
        queued,
        error: bad.as_ref().map(|b| cat.text(ctx.lang, b.key, &[])),
    };
    let mut r = page(view.render()).map(Html::into_response)?;
    if let Some(b) = bad {
        *r.status_mut() = b.status;
    }
    Ok(r)
}

/// Parses a typed node for a page that shows the problem in place (400 for a malformed code).
fn typed(
    staff: &Principal,
    raw: Option<&str>,
) -> Result<Result<AssociationCode, BadNode>, PageError> {
    match requested(staff, raw) {
        Ok(c) => Ok(Ok(c)),
        Err(PageError(Failure::BadRequest(key))) => Ok(Err(BadNode {
            key,
            status: StatusCode::BAD_REQUEST,
        })),
        Err(e) => Err(e),
    }
}

/// The dashboard of `?node=` (default: the staff member's widest grant node).
pub async fn dashboard<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    Query(q): Query<NodeQuery>,
) -> PageResult {
    let node = typed(&staff, q.node.as_deref())?;
    let input = match &node {
        Ok(c) => c.to_string(),
        Err(_) => q.node.clone().unwrap_or_default(),
    };
    render(&st, &ctx, &staff, node, input, false).await
}

/// The members not yet moved under `?node=` as a CSV download (audited by the use case).
pub async fn export<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Query(q): Query<NodeQuery>,
) -> PageResult {
    let node = requested(&staff, q.node.as_deref())?;
    let csv = match migration::export_csv(&st.app, &staff, &node, origin.client_addr).await {
        Ok(csv) => csv,
        Err(AppError::NotFound) => {
            return Err(PageError(Failure::BadRequest(
                "migration-error-unknown-node",
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let day = mamis_domain::time::japan_date(st.app.now()).format("%Y%m%d");
    let mut r = csv.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    // personal data: never kept by caches along the way
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The code is ASCII by construction (`AssociationCode`), so the value is always valid.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"mamis-migration-{node}-{day}.csv\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// Queues the reminder run for the posted node (a worker mails the members not yet moved) and
/// shows the dashboard saying so. Asking again is harmless: nobody is mailed twice.
pub async fn remind<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<RemindForm>,
) -> PageResult {
    let node = match typed(&staff, Some(&f.node))? {
        Ok(node) => node,
        Err(bad) => return render(&st, &ctx, &staff, Err(bad), f.node, false).await,
    };
    if !is_confirmed(f.confirmed.as_deref()) {
        match migration::dashboard(&st.app, &staff, &node).await {
            Ok(d) => {
                let names = tree_names(&st, ctx.lang).await?;
                let cat = &st.shared.catalogues;
                let t = |k: &str| cat.text(ctx.lang, k, &[]);
                let waiting = (d.total.legacy_only + d.total.neither).to_string();
                let name = names.get(node.as_str()).cloned().unwrap_or_default();
                return Confirm {
                    c: ctx.chrome(cat),
                    title: t("migration-remind-confirm-title"),
                    lead: vec![t("migration-remind-confirm-lead")],
                    facts: vec![
                        (
                            t("migration-remind-confirm-node"),
                            bracketed(ctx.lang, &name, node.as_str()),
                        ),
                        (t("migration-remind-confirm-waiting"), waiting),
                    ],
                    action: "/office/migration/remind".to_owned(),
                    fields: vec![("node".to_owned(), node.to_string())],
                    submit: t("migration-remind-submit"),
                    cancel: (
                        format!("/office/migration?node={node}"),
                        t("confirm-cancel"),
                    ),
                    possible: true,
                }
                .respond();
            }
            // the page says the node is unknown, as the dashboard does
            Err(AppError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let queued = match migration::request_remind(&st.app, &staff, &node, origin.client_addr).await {
        Ok(()) => true,
        // the page says the node is unknown, as the dashboard does
        Err(AppError::NotFound) => false,
        Err(e) => return Err(e.into()),
    };
    render(
        &st,
        &ctx,
        &staff,
        Ok(node.clone()),
        node.to_string(),
        queued,
    )
    .await
}
