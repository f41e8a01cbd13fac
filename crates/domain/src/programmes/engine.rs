//! The programme engine: from entries and facts to what counts, per category, and what is missing.
//! Pure; the same function serves My Page progress, the application check and staff review.

use chrono::{Months, NaiveDate};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

use super::{ProgrammeEntry, Requirement};
use crate::{HalfUnits, LedgerEntry};

/// A designated lecture (かかりつけ医 応用研修), maintained by JMA staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lecture {
    /// The lecture's key, as entries name it.
    pub key: String,
    /// Its group number (Mie's ①–⑥), if it has one.
    pub group: Option<u8>,
}

/// What the engine needs besides the programme's own entries.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// The day judged (Japan date): today for a new certificate, the expiry date for a renewal.
    pub window_end: Option<NaiveDate>,
    /// The last day of the doctor's 日医生涯教育認定証 valid on `window_end`, if any.
    pub cme_certificate_until: Option<NaiveDate>,
    /// The doctor's CME ledger (units only are used).
    pub cme_entries: &'a [LedgerEntry],
    /// The applicant declared the practical activity (健康スポーツ医 renewal).
    pub declared_activity: bool,
    /// An association's president approved the practical part (かかりつけ医機能報告制度).
    pub practical_approved: bool,
    /// The prefecture whose group rules apply (`P24` …).
    pub prefecture: Option<&'a str>,
    /// The designated lectures.
    pub lectures: &'a [Lecture],
}

/// What a line of the picture measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineMeasure {
    /// `have`/`need` are half-units.
    HalfUnits,
    /// `have`/`need` are counts (activities, lecture groups).
    Count,
    /// `have`/`need` are 0 or 1.
    Flag,
}

/// Which requirement a line shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "line", content = "key")]
pub enum LineKey {
    /// Units over all counted categories.
    Total,
    /// Units of one category.
    Category(String),
    /// A course completed.
    Course(String),
    /// A 日医生涯教育認定証 within its period.
    CmeCertificate,
    /// Units of designated lectures.
    Lectures,
    /// A lecture group attended.
    LectureGroup(u8),
    /// Practical activities worth enough units.
    Activities,
    /// The declared practical activity.
    Declaration,
    /// The president's approval of the practical part.
    PresidentApproval,
    /// CME units (codes are not used).
    CmeUnits,
}

/// One line of the progress picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// What it shows.
    pub key: LineKey,
    /// What is held.
    pub have: i64,
    /// What is needed.
    pub need: i64,
    /// How to read the numbers.
    pub measure: LineMeasure,
}

impl Line {
    /// Whether the line is met.
    pub fn met(&self) -> bool {
        self.have >= self.need
    }

    /// What is still missing (zero when met).
    pub fn missing(&self) -> i64 {
        (self.need - self.have).max(0)
    }
}

/// The engine's answer: met or not, line by line, and which entries counted for how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// Every line met.
    pub met: bool,
    /// The lines, in the rules file's order.
    pub lines: Vec<Line>,
    /// The first and last day counted, if the requirement has a window.
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// Entry → the half-units of it that counted (each entry sits in one category).
    pub counted: BTreeMap<Uuid, HalfUnits>,
}

/// The renewal window: the `years` ending on `expiry` inclusive (Japan dates).
pub fn renewal_window(expiry: NaiveDate, years: u32) -> (NaiveDate, NaiveDate) {
    let start = expiry
        .succ_opt()
        .and_then(|d| d.checked_sub_months(Months::new(12 * years)))
        .unwrap_or(NaiveDate::MIN);
    (start, expiry)
}

/// The entries that stand: credits not reversed. A reversal negates its target fully, so the
/// net of a credit and its reversal is nothing and the credit is simply dropped.
fn standing(entries: &[ProgrammeEntry]) -> Vec<&ProgrammeEntry> {
    let reversed: BTreeSet<Uuid> = entries.iter().filter_map(|e| e.reverses).collect();
    let mut v: Vec<&ProgrammeEntry> = entries
        .iter()
        .filter(|e| e.reverses.is_none() && !reversed.contains(&e.id) && e.half_units.is_positive())
        .collect();
    v.sort_by_key(|e| (e.date, e.id));
    v
}

fn within(window: Option<(NaiveDate, NaiveDate)>, d: NaiveDate) -> bool {
    window.is_none_or(|(a, b)| a <= d && d <= b)
}

fn units(u: u32) -> i64 {
    i64::from(u) * 2
}

/// Judges `entries` (one doctor, one programme) against a requirement.
pub fn assess(req: &Requirement, entries: &[ProgrammeEntry], facts: &Facts<'_>) -> Assessment {
    let live = standing(entries);
    let mut counted = BTreeMap::new();
    let mut lines = Vec::new();
    let mut window = None;
    match req {
        Requirement::CategoryThresholds {
            total,
            categories,
            minimum,
        } => {
            category_lines(
                &live,
                None,
                categories,
                minimum,
                *total,
                None,
                &[],
                &mut counted,
                &mut lines,
            );
        }
        Requirement::DatedWindow {
            window_years,
            total,
            categories,
            minimum,
            web_session_cap,
            web_session_categories,
            requires_declaration,
        } => {
            let end = facts.window_end.unwrap_or(NaiveDate::MAX);
            window = Some(renewal_window(end, *window_years));
            category_lines(
                &live,
                window,
                categories,
                minimum,
                *total,
                *web_session_cap,
                web_session_categories,
                &mut counted,
                &mut lines,
            );
            if *requires_declaration {
                lines.push(flag(LineKey::Declaration, facts.declared_activity));
            }
        }
        Requirement::CourseCompletion { courses } => {
            for (course, need) in courses {
                let have: HalfUnits = live
                    .iter()
                    .filter(|e| &e.category == course)
                    .inspect(|e| {
                        counted.insert(e.id, e.half_units);
                    })
                    .map(|e| e.half_units)
                    .sum();
                lines.push(Line {
                    key: LineKey::Course(course.clone()),
                    have: have.get(),
                    need: units(*need),
                    measure: LineMeasure::HalfUnits,
                });
            }
        }
        Requirement::PrerequisiteUnits {
            cme_certificate,
            window_years,
            lecture_category,
            lecture_units,
            lecture_repeat_cap,
            practical_category,
            practical_activities,
            practical_units_each,
            prefecture_groups,
        } => {
            let end = facts.window_end.unwrap_or(NaiveDate::MAX);
            window = Some(renewal_window(end, *window_years));
            if *cme_certificate {
                let ok = facts.cme_certificate_until.is_some_and(|u| u >= end);
                lines.push(flag(LineKey::CmeCertificate, ok));
            }
            let designated: BTreeMap<&str, Option<u8>> = facts
                .lectures
                .iter()
                .map(|l| (l.key.as_str(), l.group))
                .collect();
            let mut per_lecture: BTreeMap<&str, u32> = BTreeMap::new();
            let mut groups = BTreeSet::new();
            let mut lecture_have = HalfUnits::ZERO;
            for e in live
                .iter()
                .filter(|e| &e.category == lecture_category && within(window, e.date))
            {
                let Some(key) = e.lecture.as_deref() else {
                    continue;
                };
                let Some(group) = designated.get(key) else {
                    continue;
                };
                let seen = per_lecture.entry(key).or_default();
                if *seen >= *lecture_repeat_cap {
                    continue;
                }
                *seen += 1;
                groups.extend(*group);
                lecture_have = lecture_have + e.half_units;
                counted.insert(e.id, e.half_units);
            }
            lines.push(Line {
                key: LineKey::Lectures,
                have: lecture_have.get(),
                need: units(*lecture_units),
                measure: LineMeasure::HalfUnits,
            });
            if let Some(required) = facts.prefecture.and_then(|p| prefecture_groups.get(p)) {
                for g in required {
                    lines.push(flag(LineKey::LectureGroup(*g), groups.contains(g)));
                }
            }
            let each = HalfUnits::new(units(*practical_units_each));
            let mut activities = 0;
            for e in live.iter().filter(|e| {
                &e.category == practical_category && within(window, e.date) && e.half_units >= each
            }) {
                activities += 1;
                counted.insert(e.id, e.half_units);
            }
            lines.push(Line {
                key: LineKey::Activities,
                have: activities,
                need: i64::from(*practical_activities),
                measure: LineMeasure::Count,
            });
        }
        Requirement::CmeUnitsApproval {
            cme_units,
            window_years,
        } => {
            let end = facts.window_end.unwrap_or(NaiveDate::MAX);
            window = Some(renewal_window(end, *window_years));
            let have: HalfUnits = facts
                .cme_entries
                .iter()
                .filter(|e| within(window, e.date))
                .map(|e| e.half_units)
                .sum();
            lines.push(Line {
                key: LineKey::CmeUnits,
                have: have.get().max(0),
                need: units(*cme_units),
                measure: LineMeasure::HalfUnits,
            });
            lines.push(flag(LineKey::PresidentApproval, facts.practical_approved));
        }
    }
    Assessment {
        met: lines.iter().all(Line::met),
        lines,
        window,
        counted,
    }
}

fn flag(key: LineKey, ok: bool) -> Line {
    Line {
        key,
        have: i64::from(ok),
        need: 1,
        measure: LineMeasure::Flag,
    }
}

/// Sums units per category (in date order), with the web-session cap and categories applied,
/// and pushes the total line then one line per category minimum.
#[allow(clippy::too_many_arguments)]
fn category_lines(
    live: &[&ProgrammeEntry],
    window: Option<(NaiveDate, NaiveDate)>,
    categories: &[String],
    minimum: &BTreeMap<String, u32>,
    total: u32,
    web_cap: Option<u32>,
    web_categories: &[String],
    counted: &mut BTreeMap<Uuid, HalfUnits>,
    lines: &mut Vec<Line>,
) {
    let mut per: BTreeMap<&str, HalfUnits> = BTreeMap::new();
    let mut web_left = web_cap.map(|c| HalfUnits::new(units(c)));
    for e in live
        .iter()
        .filter(|e| categories.contains(&e.category) && within(window, e.date))
    {
        let mut take = e.half_units;
        if e.web_session && web_cap.is_some() {
            if !web_categories.is_empty() && !web_categories.contains(&e.category) {
                continue;
            }
            if let Some(left) = web_left.as_mut() {
                take = take.min(*left);
                *left = *left - take;
            }
        }
        if !take.is_positive() {
            continue;
        }
        counted.insert(e.id, take);
        let slot = per.entry(e.category.as_str()).or_default();
        *slot = *slot + take;
    }
    let sum: HalfUnits = per.values().copied().sum();
    lines.push(Line {
        key: LineKey::Total,
        have: sum.get(),
        need: units(total),
        measure: LineMeasure::HalfUnits,
    });
    for cat in categories {
        let Some(need) = minimum.get(cat) else {
            continue;
        };
        lines.push(Line {
            key: LineKey::Category(cat.clone()),
            have: per.get(cat.as_str()).copied().unwrap_or_default().get(),
            need: units(*need),
            measure: LineMeasure::HalfUnits,
        });
    }
}
