//! The doctor's CME record on My Page — ① credit status with the progress gauge, the
//! explanation and the grid of curriculum codes; ② training attendance with the personal QR
//! code; ③ e-learning and journal quiz units (members only); ④ every record with totals per year
//! and code, filterable — and the CME ledger in the JSON API. Verified doctors only; the pages
//! read one use case, [`mamis_app::cme::summary`], and render it.

pub(crate) mod api;
mod pages;
mod training;

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::get;
use mamis_app::cme::{self, LedgerFilter, Summary};
use mamis_domain::curriculum::Catalogue;
use mamis_domain::{FiscalYear, HalfUnits, LedgerEntry, Source};
use mamis_store::Store;

use crate::WebState;
use crate::shell::fmt::Fmt;

/// The routes of My Page ①–④ and of the CME API.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/mypage/cme", get(pages::status::<S>))
        .route("/mypage/cme/training", get(training::training::<S>))
        .route("/mypage/cme/training/qr", get(training::personal_qr::<S>))
        .route("/mypage/cme/learning", get(pages::learning::<S>))
        .route("/mypage/cme/records", get(pages::records::<S>))
        .merge(api::routes())
}

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

/// Units and units + codes are counted in half-points; shown as `2.5`.
fn half(n: i64) -> String {
    HalfUnits::new(n).to_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::fmt::query_pairs;

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
