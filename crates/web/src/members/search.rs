//! `/office/members`: the search form, the counted and paged results, and the export (a report
//! page with the 〓 count, then the file).

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use mamis_app::members::export::{self, Column, Encoding, ExportFile};
use mamis_app::members::{self, FieldError, Found, SearchError, SearchInput};
use mamis_store::Store;

use super::{search_input, search_query, status_key};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, ErrorSummary, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::query_pairs;
use crate::shell::i18n::{Catalogues, Lang};

/// One result line.
struct HitRow {
    id: String,
    name: String,
    kana: String,
    iseki: String,
    member_id: String,
    workplace: String,
    associations: String,
    status: String,
}

/// A sortable column header: its label, the link that sorts by it, and its `aria-sort`.
struct SortLink {
    label: String,
    href: String,
    aria: &'static str,
}

/// A column to tick for the export.
struct ColumnChoice {
    value: &'static str,
    label: String,
    checked: bool,
}

/// One field of the search form: a text input, or a select when it has options.
struct FormField {
    name: &'static str,
    id: String,
    label: String,
    value: String,
    error: Option<String>,
    options: Vec<(String, String)>,
    hint: String,
}

#[derive(Template)]
#[template(path = "members/search.html")]
struct SearchView<'a> {
    c: Chrome<'a>,
    input: SearchInput,
    summary: Option<ErrorSummary>,
    fields: Vec<FormField>,
    searched: bool,
    total: u64,
    range: String,
    hits: Vec<HitRow>,
    sorts: Vec<SortLink>,
    prev: Option<String>,
    next: Option<String>,
    query: String,
    columns: Vec<ColumnChoice>,
}

impl SearchView<'_> {
    /// The search's fields as hidden inputs of the export form.
    fn input_pairs(&self) -> Vec<(&'static str, String)> {
        let i = &self.input;
        [
            ("q", &i.q),
            ("workplace", &i.workplace),
            ("municipality", &i.municipality),
            ("level", &i.level),
            ("class", &i.class),
            ("status", &i.status),
            ("joined_from", &i.joined_from),
            ("joined_to", &i.joined_to),
            ("sort", &i.sort),
            ("dir", &i.dir),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect()
    }
}

/// The form's fields with the values typed and the problems found.
fn form_fields(
    cat: &Catalogues,
    lang: Lang,
    i: &SearchInput,
    errors: &[(&'static str, String)],
) -> Vec<FormField> {
    let t = |k: &str| cat.text(lang, k, &[]);
    let opts = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut o = vec![(String::new(), t("members-any"))];
        o.extend(v.iter().map(|(a, k)| ((*a).to_owned(), t(k))));
        o
    };
    [
        ("q", &i.q, Vec::new(), "members-hint-q"),
        ("workplace", &i.workplace, Vec::new(), ""),
        ("municipality", &i.municipality, Vec::new(), ""),
        (
            "level",
            &i.level,
            opts(&[
                ("county", "members-level-county"),
                ("prefecture", "members-level-prefecture"),
                ("jma", "members-level-jma"),
            ]),
            "",
        ),
        ("class", &i.class, Vec::new(), "members-hint-class"),
        (
            "status",
            &i.status,
            opts(&[
                ("member", "members-status-member"),
                ("former", "members-status-former"),
                ("in_procedure", "members-status-in-procedure"),
            ]),
            "",
        ),
        (
            "joined_from",
            &i.joined_from,
            Vec::new(),
            "members-hint-date",
        ),
        ("joined_to", &i.joined_to, Vec::new(), "members-hint-date"),
    ]
    .into_iter()
    .map(|(name, value, options, hint)| FormField {
        name,
        id: format!("members-{}", name.replace('_', "-")),
        label: t(&format!("members-field-{}", name.replace('_', "-"))),
        value: value.clone(),
        error: errors
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, m)| m.clone()),
        options,
        hint: if hint.is_empty() {
            String::new()
        } else {
            t(hint)
        },
    })
    .collect()
}

fn column_label(c: Column) -> String {
    c.header().to_owned()
}

fn choices(selected: &[Column]) -> Vec<ColumnChoice> {
    Column::ALL
        .into_iter()
        .map(|c| ColumnChoice {
            value: c.as_str(),
            label: column_label(c),
            checked: selected.is_empty() || selected.contains(&c),
        })
        .collect()
}

/// The field errors as the page shows them.
fn field_errors(
    cat: &Catalogues,
    lang: Lang,
    errors: &[FieldError],
) -> (Option<ErrorSummary>, Vec<(&'static str, String)>) {
    let items = errors
        .iter()
        .map(|e| {
            (
                format!("members-{}", e.field.replace('_', "-")),
                cat.text(
                    lang,
                    &format!("members-field-{}", e.field.replace('_', "-")),
                    &[],
                ),
                cat.text(lang, e.key, &[]),
            )
        })
        .collect();
    let list = errors
        .iter()
        .map(|e| (e.field, cat.text(lang, e.key, &[])))
        .collect();
    (ErrorSummary::of(cat, lang, items), list)
}

fn sort_links(input: &SearchInput, lang_cat: (&Catalogues, Lang)) -> Vec<SortLink> {
    let (cat, lang) = lang_cat;
    [
        ("kana", "members-col-name"),
        ("iseki", "members-col-iseki"),
        ("member_id", "members-col-member-id"),
    ]
    .into_iter()
    .map(|(key, label)| {
        let current = input.sort == key || (input.sort.is_empty() && key == "kana");
        let desc = current && input.dir != "desc";
        let mut i = input.clone();
        i.sort = key.into();
        i.dir = if desc { "desc".into() } else { String::new() };
        SortLink {
            label: cat.text(lang, label, &[]),
            href: format!("/office/members?{}", search_query(&i)),
            aria: match (current, input.dir == "desc") {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            },
        }
    })
    .collect()
}

fn rows(cat: &Catalogues, lang: Lang, found: &Found) -> Vec<HitRow> {
    found
        .page
        .hits
        .iter()
        .map(|h| {
            let d = &h.doctor;
            let ms: Vec<_> = found
                .memberships
                .iter()
                .filter(|(id, _)| *id == d.id)
                .map(|(_, m)| m.clone())
                .collect();
            let status = members::standing(&ms, found.query.scope.as_deref(), found.query.today)
                .map(|s| cat.text(lang, status_key(s), &[]))
                .unwrap_or_default();
            let today = found.query.today;
            let associations = ms
                .iter()
                .filter(|m| m.joined_on <= today && m.left_on.is_none_or(|l| l > today))
                .map(|m| format!("{} {}", m.association, m.class))
                .collect::<Vec<_>>()
                .join(", ");
            HitRow {
                id: d.id.to_string(),
                name: format!("{} {}", d.family_name, d.given_name),
                kana: format!("{} {}", d.family_kana, d.given_kana),
                iseki: d.iseki.to_string(),
                member_id: d
                    .member_id
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                workplace: h.workplace.clone().unwrap_or_default(),
                associations,
                status,
            }
        })
        .collect()
}

/// The search page: form, results, export form; the first visit (no query) shows the form only.
/// Unreadable fields come back named (400).
pub async fn search<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    RawQuery(q): RawQuery,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let pairs = query_pairs(q.as_deref()).ok_or(PageError(Failure::BadRequest("invalid-query")))?;
    let (input, _, bad_number) = search_input(&pairs);
    let mut view = SearchView {
        c: ctx.chrome(cat),
        query: search_query(&input),
        fields: form_fields(cat, ctx.lang, &input, &[]),
        input,
        summary: None,
        searched: false,
        total: 0,
        range: String::new(),
        hits: Vec::new(),
        sorts: Vec::new(),
        prev: None,
        next: None,
        columns: choices(&[]),
    };
    // the first visit shows the form only: listing a national register unasked helps nobody
    if pairs.is_empty() {
        return html(page(view.render()));
    }
    let result = if bad_number {
        Err(SearchError::Fields(vec![FieldError {
            field: "page",
            key: "members-error-page",
        }]))
    } else {
        members::search(&st.app, &staff, &view.input, origin.client_addr).await
    };
    match result {
        Ok(found) => {
            let q = &found.query;
            let first = q.offset + 1;
            let last = q.offset + found.page.hits.len() as u64;
            let total = found.page.total.to_string();
            view.range = if found.page.hits.is_empty() {
                String::new()
            } else {
                cat.text(
                    ctx.lang,
                    "members-range",
                    &[
                        ("from", &first.to_string()),
                        ("to", &last.to_string()),
                        ("total", &total),
                    ],
                )
            };
            view.total = found.page.total;
            view.searched = true;
            let page_no = q.offset / u64::from(q.limit) + 1;
            let link = |p: u64| {
                format!(
                    "/office/members?{}&page={p}&per_page={}",
                    view.query, q.limit
                )
            };
            view.prev = (page_no > 1).then(|| link(page_no - 1));
            view.next = (last < found.page.total).then(|| link(page_no + 1));
            view.hits = rows(cat, ctx.lang, &found);
            view.sorts = sort_links(&view.input, (cat, ctx.lang));
            html(page(view.render()))
        }
        Err(SearchError::Fields(errors)) => {
            let (summary, list) = field_errors(cat, ctx.lang, &errors);
            view.summary = summary;
            view.fields = form_fields(cat, ctx.lang, &view.input, &list);
            let mut r = html(page(view.render()))?;
            *r.status_mut() = StatusCode::BAD_REQUEST;
            Ok(r)
        }
        Err(SearchError::App(e)) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "members/export.html")]
struct ExportView<'a> {
    c: Chrome<'a>,
    rows: u64,
    encoding: String,
    replaced: u64,
    replaced_lines: Vec<(u64, String)>,
    download: String,
    back: String,
    columns: String,
}

/// What an export request asks for: encoding and columns, checked.
fn export_request(
    pairs: &[(String, String)],
) -> Result<(SearchInput, Vec<Column>, Encoding), PageError> {
    let (input, cols, bad_number) = search_input(pairs);
    if bad_number {
        return Err(PageError(Failure::BadRequest("members-error-page")));
    }
    let encoding = pairs
        .iter()
        .find(|(k, _)| k == "encoding")
        .map_or(Some(Encoding::Utf8Bom), |(_, v)| Encoding::parse(v))
        .ok_or(PageError(Failure::BadRequest("members-error-encoding")))?;
    let mut columns = Vec::new();
    for c in &cols {
        let c = Column::parse(c).ok_or(PageError(Failure::BadRequest("members-error-columns")))?;
        if !columns.contains(&c) {
            columns.push(c);
        }
    }
    if columns.is_empty() {
        return Err(PageError(Failure::BadRequest("members-error-columns")));
    }
    Ok((input, columns, encoding))
}

async fn run_export<S: Store>(
    st: &WebState<S>,
    staff: &mamis_domain::Principal,
    q: Option<&str>,
    client_addr: Option<String>,
) -> Result<(ExportFile, String, Vec<Column>), PageError> {
    let pairs = query_pairs(q).ok_or(PageError(Failure::BadRequest("invalid-query")))?;
    let (input, columns, encoding) = export_request(&pairs)?;
    match export::export(&st.app, staff, &input, &columns, encoding, client_addr).await {
        Ok(f) => Ok((f, search_query(&input), columns)),
        Err(SearchError::Fields(e)) => Err(PageError(Failure::BadRequest(
            e.first().map_or("invalid-query", |e| e.key),
        ))),
        Err(SearchError::App(e)) => Err(e.into()),
    }
}

/// The export's report: rows, encoding and how many characters became 〓 (on which lines),
/// with the download link. Audited like the download.
pub async fn export_report<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    RawQuery(q): RawQuery,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let (file, query, columns) = run_export(&st, &staff, q.as_deref(), origin.client_addr).await?;
    let mut dl = url::form_urlencoded::Serializer::new(String::new());
    dl.append_pair("encoding", file.encoding.as_str());
    for c in &columns {
        dl.append_pair("cols", c.as_str());
    }
    let view = ExportView {
        c: ctx.chrome(cat),
        rows: file.rows,
        encoding: match file.encoding {
            Encoding::Utf8Bom => "UTF-8 (BOM)".into(),
            Encoding::Cp932 => "CP932 (Shift_JIS)".into(),
        },
        replaced: file.replaced,
        replaced_lines: file.replaced_lines,
        download: format!("/office/members/export.csv?{query}&{}", dl.finish()),
        back: format!("/office/members?{query}"),
        columns: columns
            .iter()
            .map(|c| column_label(*c))
            .collect::<Vec<_>>()
            .join("、"),
    };
    html(page(view.render()))
}

/// The export file itself; the 〓 count also travels in `X-Mamis-Replaced-Characters`.
pub async fn export_file<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    RawQuery(q): RawQuery,
) -> PageResult {
    let (file, _, _) = run_export(&st, &staff, q.as_deref(), origin.client_addr).await?;
    let day = mamis_domain::time::japan_date(st.app.now()).format("%Y%m%d");
    let charset = file.encoding.charset();
    let suffix = file.encoding.as_str();
    let mut r = file.bytes.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("text/csv; charset={charset}")) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&file.replaced.to_string()) {
        h.insert("x-mamis-replaced-characters", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"mamis-members-{day}-{suffix}.csv\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
