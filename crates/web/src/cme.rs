//! My Page ①–④ of the CME ledger (生涯教育の記録): ① credit status with the progress gauge, the
//! explanation and the grid of curriculum codes; ② training attendance; ③ e-learning and journal
//! quiz units (members only); ④ every record with totals per year and code, filterable. Verified
//! doctors only; the pages read one use case, [`mamis_app::cme::summary`], and render it.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use mamis_app::cme::{self, LedgerFilter, Summary};
use mamis_app::identity::sessions::Current;
use mamis_domain::curriculum::Catalogue;
use mamis_domain::rules::{Explanation, WindowStatus, year_totals};
use mamis_domain::{FiscalYear, HalfUnits, LedgerEntry, Principal, Source};
use mamis_store::Store;

use crate::WebState;
use crate::auth::CurrentUser;
use crate::error::PageError;
use crate::i18n::{Catalogues, Lang};
use crate::pages::{Chrome, PageCtx, page};

type PageResult = Result<Response, PageError>;

/// The routes of My Page ①–④.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/mypage/cme", get(status::<S>))
        .route("/mypage/cme/training", get(training::<S>))
        .route("/mypage/cme/learning", get(learning::<S>))
        .route("/mypage/cme/records", get(records::<S>))
}

// ---------------------------------------------------------------- shared with the API

/// Reads `?fy=&code=&source=` (empty values mean "any"); the error is the message key naming
/// the bad parameter. Unknown parameters are refused, as everywhere in the API.
pub(crate) fn parse_filter(pairs: &[(String, String)]) -> Result<LedgerFilter, &'static str> {
    let rules = mamis_domain::rules::Rules::embedded(cme::PROGRAMME);
    let mut f = LedgerFilter::default();
    for (k, v) in pairs {
        let v = v.trim();
        match k.as_str() {
            "fy" | "code" | "source" if v.is_empty() => {}
            "fy" => {
                f.fiscal_year = Some(
                    v.parse::<i32>()
                        .ok()
                        .and_then(|y| FiscalYear::new(y).ok())
                        .ok_or("mycme-filter-bad-fy")?,
                )
            }
            "code" => {
                let n: i64 = v.parse().map_err(|_| "mycme-filter-bad-code")?;
                let c = Catalogue::embedded()
                    .parse(&rules.catalogue_version, n)
                    .map_err(|_| "mycme-filter-bad-code")?;
                f.code = Some(c.number());
            }
            "source" => f.source = Some(Source::parse(v).map_err(|_| "mycme-filter-bad-source")?),
            _ => return Err("mycme-filter-unknown"),
        }
    }
    Ok(f)
}

/// The pairs of a raw query string; `None` when a pair has no name.
pub(crate) fn query_pairs(q: Option<&str>) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    (!pairs.iter().any(|(k, _)| k.is_empty())).then_some(pairs)
}

/// The principal of a My Page session (the use cases check it is a verified doctor's).
pub(crate) fn doctor_principal(u: &Current) -> Principal {
    Principal::Doctor {
        account_id: u.account.id,
        doctor_id: u.account.doctor_id,
    }
}

/// The register entry the session's account speaks for once verified, from the account the
/// session lookup already read; `None` otherwise. (The use cases check it again.)
pub(crate) fn own_doctor(u: &Current) -> Option<uuid::Uuid> {
    (u.account.verification == mamis_store::Verification::Verified)
        .then_some(u.account.doctor_id)
        .flatten()
}

/// The summary of the session's own doctor; `None` when the account is not a verified doctor's.
pub(crate) async fn own_summary<S: Store>(
    st: &WebState<S>,
    u: &Current,
) -> Result<Option<Summary>, mamis_app::AppError> {
    let who = doctor_principal(u);
    let Some(doctor) = own_doctor(u) else {
        return Ok(None);
    };
    cme::summary(&st.app, &who, doctor, None).await.map(Some)
}

// ---------------------------------------------------------------- formatting

/// Words and numbers of one page language.
pub(crate) struct Fmt<'a> {
    cat: &'a Catalogues,
    lang: Lang,
    names: HashMap<(String, u16), (String, String)>,
}

impl<'a> Fmt<'a> {
    pub(crate) fn new(cat: &'a Catalogues, lang: Lang) -> Self {
        let names = Catalogue::embedded()
            .all_entries()
            .map(|e| {
                (
                    (e.version.clone(), e.number),
                    (e.name_ja.clone(), e.name_en.clone()),
                )
            })
            .collect();
        Self { cat, lang, names }
    }

    pub(crate) fn t(&self, key: &str, args: &[(&str, &str)]) -> String {
        self.cat.text(self.lang, key, args)
    }

    pub(crate) fn fy(&self, fy: FiscalYear) -> String {
        self.t("mycme-fy", &[("year", &fy.year().to_string())])
    }

    pub(crate) fn range(&self, from: FiscalYear, to: FiscalYear) -> String {
        self.t(
            "mycme-fy-range",
            &[
                ("from", &from.year().to_string()),
                ("to", &to.year().to_string()),
            ],
        )
    }

    /// Japan format in Japanese (2026年12月1日), month name in English.
    pub(crate) fn date(&self, d: NaiveDate) -> String {
        match self.lang {
            Lang::Ja => d.format("%Y年%-m月%-d日").to_string(),
            Lang::En => d.format("%B %-d, %Y").to_string(),
        }
    }

    fn source(&self, s: Source) -> String {
        self.t(
            &format!("mycme-source-{}", s.as_str().replace('_', "-")),
            &[],
        )
    }

    fn status(&self, s: WindowStatus) -> (String, &'static str) {
        let (key, class) = match s {
            WindowStatus::Certified => ("mycme-window-certified", "certified"),
            WindowStatus::Achieved => ("mycme-window-achieved", "achieved"),
            WindowStatus::FellShort => ("mycme-window-fell-short", "fell-short"),
            WindowStatus::Pending => ("mycme-window-pending", "pending"),
        };
        (self.t(key, &[]), class)
    }

    /// The code's name in the page language, from the catalogue version the entry names.
    fn code_name(&self, version: &str, number: u16) -> String {
        self.names
            .get(&(version.to_owned(), number))
            .map(|(ja, en)| match self.lang {
                Lang::Ja => ja.clone(),
                Lang::En => en.clone(),
            })
            .unwrap_or_default()
    }
}

/// Units and units + codes are counted in half-points; shown as `2.5`.
fn half(n: i64) -> String {
    HalfUnits::new(n).to_string()
}

// ---------------------------------------------------------------- views

/// A link of the navigation between ①–⑤.
pub(crate) struct NavItem {
    pub(crate) href: &'static str,
    pub(crate) label: String,
    pub(crate) current: bool,
}

pub(crate) fn nav(f: &Fmt<'_>, current: &str) -> Vec<NavItem> {
    [
        ("/mypage/cme", "mycme-status-title"),
        ("/mypage/cme/training", "mycme-training-title"),
        ("/mypage/cme/learning", "mycme-learning-title"),
        ("/mypage/cme/records", "mycme-records-title"),
        ("/mypage/cme/documents", "certificates-documents-title"),
    ]
    .into_iter()
    .map(|(href, key)| NavItem {
        href,
        label: f.t(key, &[]),
        current: href == current,
    })
    .collect()
}

/// One cell of the grid of curriculum codes.
struct Cell {
    number: u16,
    name: String,
    earned: bool,
}

/// The grid of the current catalogue, marking the codes earned in the next certificate's window.
fn grid(f: &Fmt<'_>, s: &Summary) -> Vec<Cell> {
    let earned = s.standing.next_window().map(|w| &w.codes);
    Catalogue::embedded()
        .entries(&s.rules.catalogue_version)
        .map(|e| Cell {
            number: e.number,
            name: f.code_name(&e.version, e.number),
            earned: earned.is_some_and(|c| c.contains(&e.number)),
        })
        .collect()
}

/// The grid's heading, naming the window it shows.
fn grid_caption(f: &Fmt<'_>, s: &Summary) -> String {
    match s.standing.next_window() {
        Some(w) => f.t(
            "mycme-grid-caption",
            &[
                ("range", &f.range(w.from, w.to)),
                ("codes", &w.codes.len().to_string()),
            ],
        ),
        None => f.t("mycme-grid-caption-none", &[]),
    }
}

/// One fiscal year's line.
struct YearRow {
    fy: String,
    units: String,
    codes: usize,
    total: String,
    by_source: Vec<(String, String)>,
    capped: Option<String>,
}

fn year_rows(
    f: &Fmt<'_>,
    years: &BTreeMap<FiscalYear, mamis_domain::rules::YearTotals>,
) -> Vec<YearRow> {
    years
        .iter()
        .rev()
        .map(|(fy, y)| YearRow {
            fy: f.fy(*fy),
            units: y.half_units.to_string(),
            codes: y.per_code.len(),
            total: half(y.half_units.get() + 2 * y.per_code.len() as i64),
            by_source: y
                .per_source
                .iter()
                .map(|(s, u)| (f.source(*s), u.to_string()))
                .collect(),
            capped: (y.capped != HalfUnits::ZERO).then(|| y.capped.to_string()),
        })
        .collect()
}

/// One window's line.
struct WindowRow {
    range: String,
    status: String,
    class: &'static str,
    units: String,
    codes: usize,
    total: String,
    decision: String,
}

/// One certificate's line.
struct CertRow {
    number: String,
    range: String,
    issued: String,
}

/// The next certificate's window: gauge and words.
struct NextView {
    range: String,
    /// Share of the threshold reached, 0–100 (the arc stops at 100).
    pct: i64,
    total: String,
    threshold: u32,
    gauge_label: String,
    explanation: String,
    what_if: Option<String>,
}

fn next_view(f: &Fmt<'_>, x: &Explanation) -> NextView {
    let range = f.range(x.from, x.to);
    let total = half(x.total_half);
    let threshold = x.threshold.to_string();
    let threshold_half = 2 * i64::from(x.threshold);
    let pct = if threshold_half > 0 {
        (x.total_half.max(0) * 100 / threshold_half).min(100)
    } else {
        100
    };
    let mut explanation = f.t(
        "mycme-explain-window",
        &[
            ("range", &range),
            ("units", &x.half_units.to_string()),
            ("codes", &x.codes.to_string()),
            ("total", &total),
        ],
    );
    explanation.push_str(&if x.shortfall_half > 0 {
        f.t(
            "mycme-explain-short",
            &[("shortfall", &half(x.shortfall_half))],
        )
    } else if x.status == WindowStatus::Achieved {
        f.t("mycme-explain-achieved", &[])
    } else {
        f.t(
            "mycme-explain-reached",
            &[
                ("threshold", &threshold),
                ("date", &f.date(x.decision_date)),
            ],
        )
    });
    let what_if = x.what_if.as_ref().map(|w| {
        let only = w.only_earned_codes.to_string();
        if w.extra_in_earned_codes == HalfUnits::ZERO {
            f.t(
                "mycme-what-if",
                &[
                    ("units", &w.new_codes.to_string()),
                    ("threshold", &threshold),
                    ("only", &only),
                ],
            )
        } else {
            f.t(
                "mycme-what-if-extra",
                &[
                    ("codes", &w.new_codes.to_string()),
                    ("extra", &w.extra_in_earned_codes.to_string()),
                    ("threshold", &threshold),
                    ("only", &only),
                ],
            )
        }
    });
    NextView {
        gauge_label: f.t(
            "mycme-gauge-label",
            &[
                ("total", &total),
                ("threshold", &threshold),
                ("pct", &pct.to_string()),
            ],
        ),
        range,
        pct,
        total,
        threshold: x.threshold,
        explanation,
        what_if,
    }
}

/// One ledger entry's line.
struct EntryRow {
    date: String,
    fy: String,
    source: String,
    code: u16,
    code_name: String,
    units: String,
    note: Option<String>,
    /// It cancels another entry (取消).
    reversal: bool,
    /// Another entry cancels it.
    reversed: bool,
}

/// Lines of `entries`, newest first.
fn entry_rows<'e>(
    f: &Fmt<'_>,
    all: &[LedgerEntry],
    entries: impl DoubleEndedIterator<Item = &'e LedgerEntry>,
) -> Vec<EntryRow> {
    let reversed: std::collections::HashSet<uuid::Uuid> =
        all.iter().filter_map(|e| e.reverses).collect();
    entries
        .rev()
        .map(|e| EntryRow {
            date: f.date(e.date),
            fy: f.fy(e.fiscal_year),
            source: f.source(e.source),
            code: e.code,
            code_name: f.code_name(&e.catalogue_version, e.code),
            units: e.half_units.to_string(),
            note: e.note.clone(),
            reversal: e.is_reversal(),
            reversed: reversed.contains(&e.id),
        })
        .collect()
}

/// Sum of the entries' signed units.
fn sum(entries: &[&LedgerEntry]) -> String {
    entries
        .iter()
        .map(|e| e.half_units)
        .sum::<HalfUnits>()
        .to_string()
}

// ---------------------------------------------------------------- the pages

pub(crate) fn html(r: Result<Html<String>, PageError>) -> PageResult {
    r.map(IntoResponse::into_response)
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticeView<'a> {
    c: Chrome<'a>,
    title: String,
    body: Vec<String>,
    link: Option<(String, String)>,
}

/// Accounts that are not a verified doctor's see why, not data.
pub(crate) fn unverified<S: Store>(st: &WebState<S>, ctx: &PageCtx) -> PageResult {
    let cat = &st.shared.catalogues;
    let view = NoticeView {
        c: ctx.chrome(cat),
        title: cat.text(ctx.lang, "mycme-unverified-title", &[]),
        body: vec![cat.text(ctx.lang, "mycme-unverified-body", &[])],
        link: Some((
            "/mypage".to_owned(),
            cat.text(ctx.lang, "mycme-back-to-mypage", &[]),
        )),
    };
    let mut r = html(page(view.render()))?;
    *r.status_mut() = StatusCode::FORBIDDEN;
    Ok(r)
}

#[derive(Template)]
#[template(path = "mycme_status.html")]
struct StatusView<'a> {
    c: Chrome<'a>,
    nav: Vec<NavItem>,
    doctor: String,
    as_of: String,
    years: Vec<YearRow>,
    windows: Vec<WindowRow>,
    certificates: Vec<CertRow>,
    next: Option<NextView>,
    achieved: Vec<String>,
    cells: Vec<Cell>,
    grid_caption: String,
}

fn doctor_line(f: &Fmt<'_>, s: &Summary) -> String {
    f.t(
        "mycme-doctor",
        &[
            (
                "name",
                &format!("{} {}", s.doctor.family_name, s.doctor.given_name),
            ),
            ("iseki", s.doctor.iseki.as_str()),
        ],
    )
}

/// ① credit status: years, certificates, windows, the next window's gauge and explanation, and
/// the grid of codes.
pub async fn status<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    let Some(s) = own_summary(&st, &u).await? else {
        return unverified(&st, &ctx);
    };
    let cat = &st.shared.catalogues;
    let view = status_view(ctx.chrome(cat), &Fmt::new(cat, ctx.lang), &s);
    html(page(view.render()))
}

fn status_view<'a>(c: Chrome<'a>, f: &Fmt<'_>, s: &Summary) -> StatusView<'a> {
    StatusView {
        c,
        nav: nav(f, "/mypage/cme"),
        doctor: doctor_line(f, s),
        as_of: f.t("mycme-as-of", &[("date", &f.date(s.standing.today))]),
        years: year_rows(f, &s.standing.years),
        windows: s
            .standing
            .windows
            .iter()
            .map(|w| {
                let (status, class) = f.status(w.status);
                WindowRow {
                    range: f.range(w.from, w.to),
                    status,
                    class,
                    units: w.half_units.to_string(),
                    codes: w.codes.len(),
                    total: half(w.total_half()),
                    decision: f.date(w.decision_date),
                }
            })
            .collect(),
        certificates: s
            .certificates
            .iter()
            .map(|c| CertRow {
                number: c.number.clone(),
                range: f.range(c.from_fy, c.to_fy),
                issued: f.date(c.issued_on),
            })
            .collect(),
        next: s
            .standing
            .next_window()
            .map(|w| next_view(f, &w.explain(s.rules))),
        achieved: s
            .standing
            .achieved_uncertified()
            .map(|w| f.t("mycme-achieved-line", &[("range", &f.range(w.from, w.to))]))
            .collect(),
        cells: grid(f, s),
        grid_caption: grid_caption(f, s),
    }
}

#[derive(Template)]
#[template(path = "mycme_training.html")]
struct TrainingView<'a> {
    c: Chrome<'a>,
    nav: Vec<NavItem>,
    attendances: Vec<crate::training_doctor::AttendanceRow>,
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
    let Some(s) = own_summary(&st, &u).await? else {
        return unverified(&st, &ctx);
    };
    let attended = mamis_app::training::my_attendance(&st.app, &s.doctor)
        .await
        .map_err(crate::training_doctor::page_error)?;
    let f = Fmt::new(&st.shared.catalogues, ctx.lang);
    let view = TrainingView {
        nav: nav(&f, "/mypage/cme/training"),
        attendances: crate::training_doctor::attendance_rows(&f, &attended),
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

/// One year of the members-only methods.
struct LearningYear {
    fy: String,
    e_learning: String,
    journal_quiz: String,
}

#[derive(Template)]
#[template(path = "mycme_learning.html")]
struct LearningView<'a> {
    c: Chrome<'a>,
    nav: Vec<NavItem>,
    member: bool,
    table_id: &'static str,
    entries: Vec<EntryRow>,
    years: Vec<LearningYear>,
}

/// ③ e-learning and journal-quiz units. These methods are for JMA members: a non-member is told
/// so, and sees no data here.
pub async fn learning<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    let Some(s) = own_summary(&st, &u).await? else {
        return unverified(&st, &ctx);
    };
    let cat = &st.shared.catalogues;
    let view = learning_view(ctx.chrome(cat), &Fmt::new(cat, ctx.lang), &s);
    html(page(view.render()))
}

fn learning_view<'a>(c: Chrome<'a>, f: &Fmt<'_>, s: &Summary) -> LearningView<'a> {
    let mut view = LearningView {
        c,
        nav: nav(f, "/mypage/cme/learning"),
        member: s.jma_member,
        table_id: "cme-learning",
        entries: Vec::new(),
        years: Vec::new(),
    };
    if !s.jma_member {
        return view;
    }
    let online = |e: &&LedgerEntry| matches!(e.source, Source::ELearning | Source::JournalQuiz);
    view.entries = entry_rows(f, &s.entries, s.entries.iter().filter(online));
    view.years = s
        .standing
        .years
        .iter()
        .rev()
        .filter_map(|(fy, y)| {
            let el = y.per_source.get(&Source::ELearning).copied();
            let jq = y.per_source.get(&Source::JournalQuiz).copied();
            (el.is_some() || jq.is_some()).then(|| LearningYear {
                fy: f.fy(*fy),
                e_learning: el.unwrap_or_default().to_string(),
                journal_quiz: jq.unwrap_or_default().to_string(),
            })
        })
        .collect();
    view
}

/// One code's totals over the records shown.
struct CodeRow {
    code: u16,
    name: String,
    units: String,
    years: String,
}

/// An option of a filter's select.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "mycme_records.html")]
struct RecordsView<'a> {
    c: Chrome<'a>,
    nav: Vec<NavItem>,
    error: Option<String>,
    fy_choices: Vec<Choice>,
    code_choices: Vec<Choice>,
    source_choices: Vec<Choice>,
    filtered: bool,
    table_id: &'static str,
    entries: Vec<EntryRow>,
    shown_total: String,
    years: Vec<YearRow>,
    codes: Vec<CodeRow>,
    cells: Vec<Cell>,
    grid_caption: String,
}

fn choices(
    values: impl Iterator<Item = (String, String)>,
    picked: Option<String>,
    any: String,
) -> Vec<Choice> {
    let mut out = vec![Choice {
        value: String::new(),
        label: any,
        selected: picked.is_none(),
    }];
    out.extend(values.map(|(value, label)| Choice {
        selected: picked.as_deref() == Some(value.as_str()),
        value,
        label,
    }));
    out
}

/// ④ every record with unit and code totals per year and per code, filtered by `?fy=&code=&source=`;
/// a bad filter is explained on the page (400).
pub async fn records<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
    RawQuery(q): RawQuery,
) -> PageResult {
    let Some(s) = own_summary(&st, &u).await? else {
        return unverified(&st, &ctx);
    };
    let filter = query_pairs(q.as_deref())
        .ok_or("mycme-filter-unknown")
        .and_then(|p| parse_filter(&p));
    let cat = &st.shared.catalogues;
    let view = records_view(ctx.chrome(cat), &Fmt::new(cat, ctx.lang), &s, filter);
    let bad = view.error.is_some();
    let mut r = html(page(view.render()))?;
    if bad {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(r)
}

/// Totals per code over `totals`: units summed over the years, and the years it was earned in.
fn code_rows(
    f: &Fmt<'_>,
    version: &str,
    totals: &BTreeMap<FiscalYear, mamis_domain::rules::YearTotals>,
) -> Vec<CodeRow> {
    let mut per_code: BTreeMap<u16, (HalfUnits, Vec<String>)> = BTreeMap::new();
    for (fy, y) in totals {
        for (code, units) in &y.per_code {
            let slot = per_code.entry(*code).or_default();
            slot.0 = slot.0 + *units;
            slot.1.push(f.fy(*fy));
        }
    }
    let sep = f.t("mycme-list-separator", &[]);
    per_code
        .into_iter()
        .map(|(code, (units, years))| CodeRow {
            code,
            name: f.code_name(version, code),
            units: units.to_string(),
            years: years.join(&sep),
        })
        .collect()
}

/// ④ for a parsed filter, or for a bad one (its message, and no records).
fn records_view<'a>(
    c: Chrome<'a>,
    f: &Fmt<'_>,
    s: &Summary,
    filter: Result<LedgerFilter, &'static str>,
) -> RecordsView<'a> {
    let (filter, error) = match filter {
        Ok(filter) => (filter, None),
        Err(key) => (LedgerFilter::default(), Some(f.t(key, &[]))),
    };
    let shown: Vec<&LedgerEntry> = if error.is_some() {
        Vec::new()
    } else {
        s.entries.iter().filter(|e| filter.matches(e)).collect()
    };
    // the rules engine's own totals over the records shown (with no filter: the official ones)
    let owned: Vec<LedgerEntry> = shown.iter().map(|e| (*e).clone()).collect();
    let totals = year_totals(s.rules, &owned);
    let fys: std::collections::BTreeSet<FiscalYear> =
        s.entries.iter().map(|e| e.fiscal_year).collect();
    let version = &s.rules.catalogue_version;
    RecordsView {
        c,
        nav: nav(f, "/mypage/cme/records"),
        fy_choices: choices(
            fys.iter().rev().map(|y| (y.year().to_string(), f.fy(*y))),
            filter.fiscal_year.map(|y| y.year().to_string()),
            f.t("mycme-filter-any", &[]),
        ),
        code_choices: choices(
            Catalogue::embedded().entries(version).map(|e| {
                (
                    e.number.to_string(),
                    format!("{} {}", e.number, f.code_name(&e.version, e.number)),
                )
            }),
            filter.code.map(|c| c.to_string()),
            f.t("mycme-filter-any", &[]),
        ),
        source_choices: choices(
            Source::ALL
                .into_iter()
                .map(|s| (s.as_str().to_owned(), f.source(s))),
            filter.source.map(|s| s.as_str().to_owned()),
            f.t("mycme-filter-any", &[]),
        ),
        filtered: filter != LedgerFilter::default(),
        table_id: "cme-records",
        entries: entry_rows(f, &s.entries, shown.iter().copied()),
        shown_total: sum(&shown),
        years: year_rows(f, &totals),
        codes: code_rows(f, version, &totals),
        cells: grid(f, s),
        grid_caption: grid_caption(f, s),
        error,
    }
}

// ---------------------------------------------------------------- My Page card

/// The CME card of My Page: where the next certificate's window stands.
pub(crate) struct CmeCard {
    /// One sentence: the window, its total and the threshold.
    pub line: String,
}

/// The card for the session's account; `None` when it is not a verified doctor's.
pub(crate) async fn mypage_card<S: Store>(
    st: &WebState<S>,
    lang: Lang,
    u: &Current,
) -> Result<Option<CmeCard>, PageError> {
    let Some(s) = own_summary(st, u).await? else {
        return Ok(None);
    };
    let f = Fmt::new(&st.shared.catalogues, lang);
    let line = match s.standing.next_window() {
        Some(w) => f.t(
            "mycme-card-line",
            &[
                ("range", &f.range(w.from, w.to)),
                ("total", &half(w.total_half())),
                ("threshold", &s.standing.threshold.to_string()),
            ],
        ),
        None => f.t("mycme-grid-caption-none", &[]),
    };
    Ok(Some(CmeCard { line }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        query_pairs(Some(q)).unwrap()
    }

    #[test]
    fn filters_parse_or_name_the_bad_parameter() {
        let f = parse_filter(&pairs("fy=2025&code=12&source=training")).unwrap();
        assert_eq!(f.fiscal_year.map(|y| y.year()), Some(2025));
        assert_eq!(f.code, Some(12));
        assert_eq!(f.source, Some(Source::Training));
        assert_eq!(
            parse_filter(&pairs("fy=&code=&source=")).unwrap(),
            LedgerFilter::default()
        );
        for (q, key) in [
            ("fy=abc", "mycme-filter-bad-fy"),
            ("fy=20250", "mycme-filter-bad-fy"),
            ("code=84", "mycme-filter-bad-code"),
            ("code=-1", "mycme-filter-bad-code"),
            ("source=lecture", "mycme-filter-bad-source"),
            ("year=2025", "mycme-filter-unknown"),
        ] {
            assert_eq!(parse_filter(&pairs(q)), Err(key), "{q}");
        }
        assert!(query_pairs(Some("=1")).is_none());
    }
}
