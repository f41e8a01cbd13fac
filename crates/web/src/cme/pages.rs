//! My Page ① credit status, ③ e-learning and journal quiz units, and ④ every record.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use mamis_app::cme::{LedgerFilter, Summary};
use mamis_domain::curriculum::Catalogue;
use mamis_domain::rules::{Explanation, WhatIf, WindowStatus, year_totals};
use mamis_domain::{FiscalYear, HalfUnits, LedgerEntry, Source};
use mamis_store::Store;

use super::{
    Cell, EntryRow, YearRow, entry_rows, grid, grid_caption, half, parse_filter, sum, year_rows,
};
use crate::WebState;
use crate::shell::auth::CurrentUser;
use crate::shell::chrome::{Chrome, NavItem, PageCtx, PageResult, html, nav, page, unverified};
use crate::shell::fmt::{Fmt, query_pairs};
use crate::shell::i18n::{Arg, Catalogues, Lang};

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

/// An amount of units as a message argument: whole numbers are counts (plural rules select
/// `unit`/`units` on them), halves are shown as written (always plural in English).
fn amount(text: &str, h: HalfUnits) -> Arg<'_> {
    if h.get() % 2 == 0 {
        Arg::Count(h.get() / 2)
    } else {
        Arg::Text(text)
    }
}

/// The cheapest way to reach the threshold, in words: 0.5 unit in each of so many codes not yet
/// earned (each adds 1.5), plus units in earned codes when that is cheaper, or only the latter.
pub(crate) fn what_if_text(cat: &Catalogues, lang: Lang, w: &WhatIf, threshold: u32) -> String {
    let (total, extra, only) = (
        w.total.to_string(),
        w.extra_in_earned_codes.to_string(),
        w.only_earned_codes.to_string(),
    );
    let key = match (w.new_codes, w.extra_in_earned_codes == HalfUnits::ZERO) {
        (0, _) => "mycme-what-if-earned",
        (_, true) => "mycme-what-if-new",
        (_, false) => "mycme-what-if-new-extra",
    };
    cat.message(
        lang,
        key,
        &[
            ("codes", Arg::Count(i64::from(w.new_codes))),
            ("units", amount(&total, w.total)),
            ("extra", amount(&extra, w.extra_in_earned_codes)),
            ("only", amount(&only, w.only_earned_codes)),
            ("threshold", Arg::Count(i64::from(threshold))),
        ],
    )
}

fn next_view(f: &Fmt<'_>, cat: &Catalogues, lang: Lang, x: &Explanation) -> NextView {
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
    let what_if = x
        .what_if
        .as_ref()
        .map(|w| what_if_text(cat, lang, w, x.threshold));
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

#[derive(Template)]
#[template(path = "cme/status.html")]
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
    /// Where missing codes are taught (rendered by the learning capability).
    suggestions: String,
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
    let Some(s) = mamis_app::cme::own_summary(&st.app, &u).await? else {
        return unverified(&st, &ctx);
    };
    let cat = &st.shared.catalogues;
    let mut view = status_view(ctx.chrome(cat), &Fmt::new(cat, ctx.lang), cat, ctx.lang, &s);
    view.suggestions = crate::learning::suggest::card(&st, &ctx, &s).await?;
    html(page(view.render()))
}

fn status_view<'a>(
    c: Chrome<'a>,
    f: &Fmt<'_>,
    cat: &Catalogues,
    lang: Lang,
    s: &Summary,
) -> StatusView<'a> {
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
                let (status, class) = if w.prior_system {
                    (f.t("mycme-window-prior-system", &[]), "prior-system")
                } else {
                    f.status(w.status)
                };
                // Years the prior system judged: their totals, year by year, instead of a date.
                let decision = if w.prior_system {
                    s.standing
                        .years
                        .range(w.from..=w.to)
                        .map(|(fy, y)| {
                            f.t(
                                "mycme-prior-year-total",
                                &[
                                    ("year", &f.fy(*fy)),
                                    (
                                        "total",
                                        &half(y.half_units.get() + 2 * y.per_code.len() as i64),
                                    ),
                                ],
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(&f.t("mycme-list-separator", &[]))
                } else {
                    f.date(w.decision_date)
                };
                WindowRow {
                    range: if w.from == w.to {
                        f.fy(w.from)
                    } else {
                        f.range(w.from, w.to)
                    },
                    status,
                    class,
                    units: w.half_units.to_string(),
                    codes: w.codes.len(),
                    total: half(w.total_half()),
                    decision,
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
            .map(|w| next_view(f, cat, lang, &w.explain(s.rules))),
        achieved: s
            .standing
            .achieved_uncertified()
            .map(|w| f.t("mycme-achieved-line", &[("range", &f.range(w.from, w.to))]))
            .collect(),
        cells: grid(f, s),
        grid_caption: grid_caption(f, s),
        suggestions: String::new(),
    }
}

/// One year of the members-only methods.
struct LearningYear {
    fy: String,
    e_learning: String,
    journal_quiz: String,
}

#[derive(Template)]
#[template(path = "cme/learning.html")]
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
    let Some(mut s) = mamis_app::cme::own_summary(&st.app, &u).await? else {
        return unverified(&st, &ctx);
    };
    let cat = &st.shared.catalogues;
    // e-learning credits that also count as 専門医共通講習 say so
    let flagged = mamis_app::learning::specialist_contents(&st.app).await?;
    let tag = cat.text(ctx.lang, "learning-specialist", &[]);
    for e in &mut s.entries {
        if mamis_app::learning::is_specialist_key(&e.origin_key, &flagged) {
            e.note = Some(format!("{} [{tag}]", e.note.as_deref().unwrap_or_default()));
        }
    }
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
#[template(path = "cme/records.html")]
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
    let Some(s) = mamis_app::cme::own_summary(&st.app, &u).await? else {
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
