//! The CME rules engine: pure functions from ledger entries and issued certificates to totals,
//! certificate windows and explanations, driven by a versioned rules file embedded in the binary
//! (`rules/jma_cme.toml`), so thresholds and windows are data, not code.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::sync::OnceLock;

use crate::curriculum::Catalogue;
use crate::{CreditSum, DomainError, FiscalYear, HalfUnits, LedgerEntry, Programme, Source};

const JMA_CME_TOML: &str = include_str!("../rules/jma_cme.toml");

/// A programme's rules, as read from its rules file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rules {
    /// The programme the file governs.
    pub programme: Programme,
    /// Recorded on every ledger entry, so a later rule change can be traced.
    pub version: String,
    /// The curriculum catalogue version whose codes the programme counts.
    pub catalogue_version: String,
    /// One half-unit per full step of this many minutes.
    pub unit_minutes: u32,
    /// First fiscal year recorded in MAMIS; earlier windows were decided by the prior system.
    pub mamis_start: FiscalYear,
    /// The certificate rule.
    pub certificate: CertificateRule,
    /// The learning methods, by ledger source.
    pub methods: Vec<MethodRule>,
}

/// 日医生涯教育認定証: when a window of consecutive fiscal years earns a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateRule {
    /// Units + distinct codes needed over the window.
    pub threshold: u32,
    /// Consecutive fiscal years per window.
    pub window_years: u8,
    /// Month of calendar year N + 1 on which the window ending in FY N is decided.
    pub evaluation_month: u32,
    /// Day of that month.
    pub evaluation_day: u32,
    /// Years a certificate stays valid after its issue date.
    pub validity_years: u32,
}

/// A learning method's rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodRule {
    /// The ledger source that records the method.
    pub source: Source,
    /// Open to JMA members only (journal quiz, e-learning).
    pub members_only: bool,
    /// At most this many half-units of the method count per fiscal year.
    pub cap_per_year: Option<HalfUnits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    programme: String,
    version: String,
    catalogue_version: String,
    unit_minutes: u32,
    mamis_start_fiscal_year: i32,
    certificate: RawCertificate,
    methods: Vec<RawMethod>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCertificate {
    threshold: u32,
    window_years: u8,
    evaluation_month: u32,
    evaluation_day: u32,
    validity_years: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMethod {
    source: String,
    members_only: bool,
    cap_units_per_year: Option<f64>,
}

impl Rules {
    /// Reads and checks a rules file.
    pub fn from_toml(text: &str) -> Result<Self, DomainError> {
        let raw: RawRules = toml::from_str(text).map_err(|e| DomainError::Rules(e.to_string()))?;
        let bad = |m: &str| DomainError::Rules(m.to_owned());
        if raw.version.trim().is_empty() {
            return Err(bad("version is empty"));
        }
        if raw.unit_minutes == 0 {
            return Err(bad("unit_minutes must be above zero"));
        }
        let c = raw.certificate;
        if c.window_years == 0 || c.threshold == 0 {
            return Err(bad(
                "certificate threshold and window_years must be above zero",
            ));
        }
        if NaiveDate::from_ymd_opt(2001, c.evaluation_month, c.evaluation_day).is_none() {
            return Err(bad(
                "certificate evaluation_month/evaluation_day is not a date",
            ));
        }
        Catalogue::embedded()
            .entries(&raw.catalogue_version)
            .next()
            .ok_or_else(|| bad("catalogue_version is not a shipped catalogue"))?;
        let mut methods = Vec::new();
        for m in raw.methods {
            let source = Source::parse(&m.source)?;
            if methods.iter().any(|x: &MethodRule| x.source == source) {
                return Err(DomainError::Rules(format!(
                    "method {source} is listed twice"
                )));
            }
            let cap_per_year = match m.cap_units_per_year {
                None => None,
                Some(u) if u >= 0.0 && (u * 2.0).fract() == 0.0 && u < 1e9 => {
                    Some(HalfUnits::new((u * 2.0) as i64))
                }
                Some(_) => {
                    return Err(DomainError::Rules(format!(
                        "method {source}: cap_units_per_year must be a non-negative multiple of 0.5"
                    )));
                }
            };
            methods.push(MethodRule {
                source,
                members_only: m.members_only,
                cap_per_year,
            });
        }
        if let Some(missing) = Source::ALL
            .into_iter()
            .find(|s| !methods.iter().any(|m| m.source == *s))
        {
            return Err(DomainError::Rules(format!("method {missing} has no rule")));
        }
        Ok(Self {
            programme: Programme::parse(&raw.programme)?,
            version: raw.version,
            catalogue_version: raw.catalogue_version,
            unit_minutes: raw.unit_minutes,
            mamis_start: FiscalYear::new(raw.mamis_start_fiscal_year)?,
            certificate: CertificateRule {
                threshold: c.threshold,
                window_years: c.window_years,
                evaluation_month: c.evaluation_month,
                evaluation_day: c.evaluation_day,
                validity_years: c.validity_years,
            },
            methods,
        })
    }

    /// The rules file shipped in the binary for a programme.
    pub fn embedded(programme: Programme) -> &'static Rules {
        static JMA: OnceLock<Rules> = OnceLock::new();
        match programme {
            Programme::JmaCme => JMA.get_or_init(|| {
                // The file is part of the binary and checked by a test; failing here is a build defect.
                #[allow(clippy::expect_used)]
                Rules::from_toml(JMA_CME_TOML).expect("embedded rules/jma_cme.toml is valid")
            }),
        }
    }

    /// Units for a talk of `minutes`: one half-unit per full step, rounded down.
    pub fn half_units_for_minutes(&self, minutes: u32) -> HalfUnits {
        HalfUnits::new(i64::from(minutes / self.unit_minutes))
    }

    /// The rule of a learning method.
    pub fn method(&self, source: Source) -> Option<&MethodRule> {
        self.methods.iter().find(|m| m.source == source)
    }

    /// Whether only JMA members may earn credit by this method.
    pub fn members_only(&self, source: Source) -> bool {
        self.method(source).is_some_and(|m| m.members_only)
    }

    /// The day the window ending in `last` is decided (Japan date).
    pub fn evaluation_date(&self, last: FiscalYear) -> NaiveDate {
        NaiveDate::from_ymd_opt(
            last.year() + 1,
            self.certificate.evaluation_month,
            self.certificate.evaluation_day,
        )
        .unwrap_or(NaiveDate::MAX)
    }

    /// The fiscal years whose totals decide every window up to `decided_through`: from the
    /// first year of the first MAMIS window. Earlier years only show as prior-system lines and
    /// later ones only in pending windows, so the decision run reads no other year.
    pub fn judged_years(&self, decided_through: FiscalYear) -> RangeInclusive<FiscalYear> {
        let span = i32::from(self.certificate.window_years) - 1;
        year(self.mamis_start.year() - span)..=decided_through
    }

    /// The last fiscal year whose window has been decided by `today`.
    pub fn decided_through(&self, today: NaiveDate) -> FiscalYear {
        let mut n = today.year() - 1;
        while NaiveDate::from_ymd_opt(
            n + 1,
            self.certificate.evaluation_month,
            self.certificate.evaluation_day,
        )
        .is_some_and(|d| d > today)
        {
            n -= 1;
        }
        FiscalYear::of_date(NaiveDate::from_ymd_opt(n, 4, 1).unwrap_or(today))
    }

    /// The threshold in half-points (units and codes both doubled), so half units compare exactly.
    fn threshold_half(&self) -> i64 {
        i64::from(self.certificate.threshold) * 2
    }
}

fn year(y: i32) -> FiscalYear {
    FiscalYear::of_date(NaiveDate::from_ymd_opt(y, 4, 1).unwrap_or(NaiveDate::MIN))
}

/// One fiscal year's totals: what the 学習単位取得証 shows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct YearTotals {
    /// Units counted for the year (net per code above zero, after method caps).
    pub half_units: HalfUnits,
    /// Net half-units per code, only the codes above zero (the earned codes).
    pub per_code: BTreeMap<u16, HalfUnits>,
    /// Net half-units per source (before caps), for the breakdown by method.
    pub per_source: BTreeMap<Source, HalfUnits>,
    /// Half-units the method caps removed.
    pub capped: HalfUnits,
}

impl YearTotals {
    /// The distinct codes earned in the year.
    pub fn codes(&self) -> impl Iterator<Item = u16> + '_ {
        self.per_code.keys().copied()
    }
}

/// Per fiscal year totals of a doctor's entries under `rules`. Order of entries is irrelevant.
pub fn year_totals(rules: &Rules, entries: &[LedgerEntry]) -> BTreeMap<FiscalYear, YearTotals> {
    totals_of(
        rules,
        entries
            .iter()
            .filter(|e| e.programme == rules.programme)
            .map(|e| (e.fiscal_year, e.source, e.code, e.half_units.get())),
    )
}

/// [`year_totals`] from net sums per (fiscal year, source, code) of one doctor in the rules'
/// programme: the same totals as from the lines they sum.
pub fn year_totals_of_sums<'a>(
    rules: &Rules,
    sums: impl IntoIterator<Item = &'a CreditSum>,
) -> BTreeMap<FiscalYear, YearTotals> {
    totals_of(
        rules,
        sums.into_iter()
            .map(|s| (s.fiscal_year, s.source, s.code, s.half_units.get())),
    )
}

/// The counting rule over (fiscal year, source, code, half-units) lines in any grouping: nets
/// per code, caps per channel on the channel's positive nets.
fn totals_of(
    rules: &Rules,
    lines: impl Iterator<Item = (FiscalYear, Source, u16, i64)>,
) -> BTreeMap<FiscalYear, YearTotals> {
    let mut net: BTreeMap<(FiscalYear, u16), i64> = BTreeMap::new();
    let mut by_source_code: BTreeMap<(FiscalYear, Source, u16), i64> = BTreeMap::new();
    for (fy, source, code, half) in lines {
        *net.entry((fy, code)).or_default() += half;
        *by_source_code.entry((fy, source, code)).or_default() += half;
    }
    let mut out: BTreeMap<FiscalYear, YearTotals> = BTreeMap::new();
    for ((fy, code), n) in net {
        let y = out.entry(fy).or_default();
        if n > 0 {
            y.per_code.insert(code, HalfUnits::new(n));
            y.half_units = y.half_units + HalfUnits::new(n);
        }
    }
    let mut positive_by_source: BTreeMap<(FiscalYear, Source), i64> = BTreeMap::new();
    for ((fy, source, _), n) in by_source_code {
        let y = out.entry(fy).or_default();
        let s = y.per_source.entry(source).or_default();
        *s = *s + HalfUnits::new(n);
        *positive_by_source.entry((fy, source)).or_default() += n.max(0);
    }
    for ((fy, source), total) in positive_by_source {
        if let Some(cap) = rules.method(source).and_then(|m| m.cap_per_year)
            && total > cap.get()
            && let Some(y) = out.get_mut(&fy)
        {
            let excess = HalfUnits::new(total - cap.get()).min(y.half_units);
            y.capped = y.capped + excess;
            y.half_units = y.half_units - excess;
        }
    }
    out
}

/// Where a window stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStatus {
    /// A certificate was issued (or imported) for these years; they are consumed.
    Certified,
    /// Decided and reached the threshold: a certificate is due and consumes the years.
    Achieved,
    /// Decided and fell short; the next decision judges the window one year later.
    FellShort,
    /// Not yet decided: it ends in the current year, a year awaiting its decision date, or later.
    Pending,
}

/// One window of consecutive fiscal years and what it counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// First fiscal year.
    pub from: FiscalYear,
    /// Last fiscal year.
    pub to: FiscalYear,
    /// Units counted over the window.
    pub half_units: HalfUnits,
    /// Distinct codes earned over the window.
    pub codes: BTreeSet<u16>,
    /// Where it stands.
    pub status: WindowStatus,
    /// The day it is (or was) decided.
    pub decision_date: NaiveDate,
    /// Years before MAMIS not covered by a certificate: the prior system judged them
    /// (「旧制度で判定」); `status` is then `FellShort` and means nothing more.
    pub prior_system: bool,
}

impl Window {
    /// Units + distinct codes, in half-points (×2, so that 60.5 is 121).
    pub fn total_half(&self) -> i64 {
        self.half_units.get() + 2 * self.codes.len() as i64
    }

    /// Whether the window reaches the threshold.
    pub fn reaches(&self, rules: &Rules) -> bool {
        self.total_half() >= rules.threshold_half()
    }

    /// What the doctor is told about this window.
    pub fn explain(&self, rules: &Rules) -> Explanation {
        let shortfall_half = (rules.threshold_half() - self.total_half()).max(0);
        let missing_codes: Vec<u16> = Catalogue::embedded()
            .entries(&rules.catalogue_version)
            .map(|e| e.number)
            .filter(|n| !self.codes.contains(n))
            .collect();
        let what_if = (shortfall_half > 0)
            .then(|| {
                WhatIf::cheapest(
                    shortfall_half,
                    missing_codes.len() as i64,
                    !self.codes.is_empty(),
                )
            })
            .flatten();
        Explanation {
            from: self.from,
            to: self.to,
            half_units: self.half_units,
            codes: self.codes.len() as u32,
            total_half: self.total_half(),
            threshold: rules.certificate.threshold,
            shortfall_half,
            missing_codes,
            what_if,
            status: self.status,
            decision_date: self.decision_date,
        }
    }
}

/// Why a window stands where it does, in numbers the pages turn into words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// First fiscal year.
    pub from: FiscalYear,
    /// Last fiscal year.
    pub to: FiscalYear,
    /// Units counted.
    pub half_units: HalfUnits,
    /// Distinct codes earned.
    pub codes: u32,
    /// Units + codes in half-points.
    pub total_half: i64,
    /// The threshold (units + codes).
    pub threshold: u32,
    /// Half-points still missing (0 when reached).
    pub shortfall_half: i64,
    /// Codes of the current catalogue not yet earned in the window.
    pub missing_codes: Vec<u16>,
    /// The cheapest way to close the gap, when there is one.
    pub what_if: Option<WhatIf>,
    /// The window's status.
    pub status: WindowStatus,
    /// The day the window is (or was) decided.
    pub decision_date: NaiveDate,
}

/// The least learning that closes a shortfall: a code not yet earned adds its units plus one
/// point for the code (0.5 unit there adds 1.5 points), a code already earned only its units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhatIf {
    /// The least units to add in all (the sum of the two parts below).
    pub total: HalfUnits,
    /// 0.5 unit in each of this many codes not yet earned…
    pub new_codes: u32,
    /// …plus these units in codes already earned (or any code), when the new codes are not enough.
    pub extra_in_earned_codes: HalfUnits,
    /// Or: this many units in codes already earned only.
    pub only_earned_codes: HalfUnits,
}

impl WhatIf {
    /// The cheapest plan for `shortfall_half` half-points with `missing` codes not yet earned;
    /// `any_earned` says whether "codes already earned only" is a way at all. Of plans adding
    /// the same units, the one with fewer new codes is chosen. `None` when nothing can close it.
    pub fn cheapest(shortfall_half: i64, missing: i64, any_earned: bool) -> Option<Self> {
        if shortfall_half <= 0 {
            return None;
        }
        // k new codes at 0.5 unit each and r more half-units: adds (k + r) + 2k half-points.
        // The least k + r for a given k is max(0, s − 3k) + k.
        let mut best: Option<(i64, i64)> = None;
        for k in 0..=missing.min(shortfall_half) {
            if k == 0 && !any_earned {
                continue;
            }
            let total = k + (shortfall_half - 3 * k).max(0);
            if best.is_none_or(|(t, _)| total < t) {
                best = Some((total, k));
            }
        }
        best.map(|(total, k)| Self {
            total: HalfUnits::new(total),
            new_codes: k as u32,
            extra_in_earned_codes: HalfUnits::new(total - k),
            only_earned_codes: HalfUnits::new(shortfall_half),
        })
    }
}

/// One decision of the rule: the window ending in `fiscal_year` and its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// [N−2, N] reached the threshold: a certificate consumes it.
    Achieved,
    /// [N−2, N] fell short.
    FellShort,
    /// A year of [N−2, N] is already consumed by a certificate: nothing to judge.
    Consumed,
    /// [N−2, N] starts before the fiscal year of the doctor's licence: no window.
    BeforeLicence,
}

impl Decision {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Achieved => "achieved",
            Self::FellShort => "fell_short",
            Self::Consumed => "consumed",
            Self::BeforeLicence => "before_licence",
        }
    }
}

/// A doctor's standing in a programme on a given day: per-year totals, the sequence of windows
/// as the rules decide them, and the next certificate's window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing {
    /// The day the standing is computed for.
    pub today: NaiveDate,
    /// The fiscal year `today` falls in.
    pub current_fy: FiscalYear,
    /// The last fiscal year whose window has been decided by `today`.
    pub decided_through: FiscalYear,
    /// Totals per fiscal year, oldest first.
    pub years: BTreeMap<FiscalYear, YearTotals>,
    /// Windows in order of their last year: prior-system years, certified, achieved and
    /// fell-short ones, then the pending ones.
    pub windows: Vec<Window>,
    /// Every decision from the first MAMIS year to `decided_through`, by its last year.
    pub decisions: BTreeMap<FiscalYear, Decision>,
    /// The rules' threshold (units + codes) the windows were judged against.
    pub threshold: u32,
}

impl Standing {
    /// Evaluates the ledger. `issued` lists the (from, to) years of certificates already issued
    /// or imported; they stay consumed whatever the entries now say.
    pub fn compute(
        rules: &Rules,
        entries: &[LedgerEntry],
        issued: &[(FiscalYear, FiscalYear)],
        today: NaiveDate,
    ) -> Self {
        Self::evaluate(
            rules,
            entries,
            issued,
            None,
            today,
            rules.decided_through(today),
        )
    }

    /// As [`Standing::compute`], with windows ending up to `decided_through` decided whatever
    /// the date: an operator's decision run for a closed fiscal year before its decision date.
    pub fn compute_as_of(
        rules: &Rules,
        entries: &[LedgerEntry],
        issued: &[(FiscalYear, FiscalYear)],
        today: NaiveDate,
        decided_through: FiscalYear,
    ) -> Self {
        Self::evaluate(rules, entries, issued, None, today, decided_through)
    }

    /// The rule itself. The decision for FY N (N from the first MAMIS year to
    /// `decided_through`, in order) judges [N−2, N] unless one of its years is consumed by a
    /// certificate (issued, imported, or achieved by an earlier decision) or it starts before
    /// `licence` (the fiscal year of the doctor's 医籍登録; `None`: unknown, no restriction).
    pub fn evaluate(
        rules: &Rules,
        entries: &[LedgerEntry],
        issued: &[(FiscalYear, FiscalYear)],
        licence: Option<FiscalYear>,
        today: NaiveDate,
        decided_through: FiscalYear,
    ) -> Self {
        Self::of_totals(
            rules,
            year_totals(rules, entries),
            issued,
            licence,
            today,
            decided_through,
        )
    }

    /// [`Standing::evaluate`] from per-year totals already counted (the decision run counts
    /// them from net sums). Decisions up to `decided_through` read only the totals of the years
    /// from `mamis_start − (window_years − 1)` to `decided_through`.
    pub fn of_totals(
        rules: &Rules,
        years: BTreeMap<FiscalYear, YearTotals>,
        issued: &[(FiscalYear, FiscalYear)],
        licence: Option<FiscalYear>,
        today: NaiveDate,
        decided_through: FiscalYear,
    ) -> Self {
        let current_fy = FiscalYear::of_date(today);
        let decided_through = decided_through.min(current_fy.prev());
        let span = i32::from(rules.certificate.window_years) - 1;
        let mut consumed: Vec<(FiscalYear, FiscalYear)> = issued.to_vec();
        consumed.sort();
        let overlaps = |c: &[(FiscalYear, FiscalYear)], from: FiscalYear, to: FiscalYear| {
            c.iter().any(|&(cf, ct)| cf <= to && from <= ct)
        };
        let window = |from: FiscalYear, to: FiscalYear, status: WindowStatus| {
            let mut half_units = HalfUnits::ZERO;
            let mut codes = BTreeSet::new();
            for (_, y) in years.range(from..=to) {
                half_units = half_units + y.half_units;
                codes.extend(y.codes());
            }
            Window {
                from,
                to,
                half_units,
                codes,
                status,
                decision_date: rules.evaluation_date(to),
                prior_system: false,
            }
        };

        let mut windows: Vec<Window> = consumed
            .iter()
            .map(|&(f, t)| window(f, t, WindowStatus::Certified))
            .collect();
        // Years before MAMIS outside every certificate: one line per run of years with entries.
        let mut run: Option<(FiscalYear, FiscalYear)> = None;
        let mut prior = Vec::new();
        for &y in years.keys().filter(|y| **y < rules.mamis_start) {
            if overlaps(&consumed, y, y) {
                prior.extend(run.take());
                continue;
            }
            run = match run {
                Some((f, t)) if t.next() == y => Some((f, y)),
                other => {
                    prior.extend(other);
                    Some((y, y))
                }
            };
        }
        prior.extend(run);
        for (f, t) in prior {
            let mut w = window(f, t, WindowStatus::FellShort);
            w.prior_system = true;
            windows.push(w);
        }

        let allowed = |from: FiscalYear| licence.is_none_or(|l| from >= l);
        let mut decisions = BTreeMap::new();
        let mut n = rules.mamis_start;
        while n <= decided_through {
            let from = year(n.year() - span);
            let d = if issued.contains(&(from, n)) {
                // The certificate this very decision issued (listed as certified above).
                Decision::Achieved
            } else if overlaps(&consumed, from, n) {
                Decision::Consumed
            } else if !allowed(from) {
                Decision::BeforeLicence
            } else {
                let mut w = window(from, n, WindowStatus::FellShort);
                let d = if w.reaches(rules) {
                    w.status = WindowStatus::Achieved;
                    consumed.push((from, n));
                    Decision::Achieved
                } else {
                    Decision::FellShort
                };
                windows.push(w);
                d
            };
            decisions.insert(n, d);
            n = n.next();
        }
        // Pending decisions: up to the one ending in the current year (or the first one the
        // licence allows), stopping at one that already reaches.
        let mut n = decided_through
            .max(year(rules.mamis_start.year() - 1))
            .next();
        let last = year(current_fy.year() + span + 1);
        while n <= last {
            let from = year(n.year() - span);
            if !overlaps(&consumed, from, n) && allowed(from) {
                let w = window(from, n, WindowStatus::Pending);
                let stop = w.reaches(rules) || n >= current_fy;
                windows.push(w);
                if stop {
                    break;
                }
            }
            n = n.next();
        }
        windows.sort_by_key(|w| (w.to, w.from));
        Self {
            today,
            current_fy,
            decided_through,
            years,
            windows,
            decisions,
            threshold: rules.certificate.threshold,
        }
    }

    /// The window the next certificate will come from: the first pending window that already
    /// reaches the threshold (it only awaits its decision date), otherwise the last pending one,
    /// which holds the current fiscal year and is the one the doctor can still work on.
    pub fn next_window(&self) -> Option<&Window> {
        self.pending()
            .find(|w| w.total_half() >= 2 * i64::from(self.threshold))
            .or_else(|| self.pending().last())
    }

    /// The pending windows, in decision order.
    pub fn pending(&self) -> impl Iterator<Item = &Window> {
        self.windows
            .iter()
            .filter(|w| w.status == WindowStatus::Pending)
    }

    /// Windows decided as achieved whose certificate is not recorded yet (the issuing job's work).
    pub fn achieved_uncertified(&self) -> impl Iterator<Item = &Window> {
        self.windows
            .iter()
            .filter(|w| w.status == WindowStatus::Achieved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;
    use uuid::Uuid;

    fn rules() -> &'static Rules {
        Rules::embedded(Programme::JmaCme)
    }

    fn fy(y: i32) -> FiscalYear {
        year(y)
    }

    fn entry(n: u128, fy_: i32, code: u16, half: i64, source: Source) -> LedgerEntry {
        LedgerEntry {
            id: Uuid::from_u128(n),
            doctor: Uuid::from_u128(1),
            programme: Programme::JmaCme,
            fiscal_year: fy(fy_),
            date: fy(fy_).first_day(),
            source,
            catalogue_version: rules().catalogue_version.clone(),
            code,
            half_units: HalfUnits::new(half),
            origin_key: format!("k{n}"),
            generation: 0,
            reverses: None,
            rules_version: rules().version.clone(),
            created_by: "test".into(),
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            note: None,
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn embedded_rules_parse_and_cover_every_source() {
        let r = rules();
        assert_eq!(r.certificate.threshold, 60);
        assert_eq!(r.certificate.window_years, 3);
        assert!(r.members_only(Source::JournalQuiz));
        assert!(r.members_only(Source::ELearning));
        assert!(!r.members_only(Source::Training));
        for s in Source::ALL {
            assert!(r.method(s).is_some(), "{s}");
        }
    }

    #[test]
    fn malformed_rules_files_are_refused_with_a_reason() {
        let cases = [
            (JMA_CME_TOML.replace("threshold = 60", "threshold = 0"), "threshold"),
            (JMA_CME_TOML.replace("unit_minutes = 30", "unit_minutes = 0"), "unit_minutes"),
            (JMA_CME_TOML.replace("evaluation_day = 1", "evaluation_day = 31\nextra = 1"), "extra"),
            (JMA_CME_TOML.replace("evaluation_month = 12", "evaluation_month = 2\n").replace("evaluation_day = 1", "evaluation_day = 30"), "not a date"),
            (JMA_CME_TOML.replace("source = \"prior_system\"", "source = \"training\""), "twice"),
            (JMA_CME_TOML.replace("2016-2022.04", "1999"), "catalogue"),
            (JMA_CME_TOML.replace("members_only = true\n\n[[methods]]\nsource = \"e_learning\"", "members_only = true\ncap_units_per_year = 0.3\n\n[[methods]]\nsource = \"e_learning\""), "multiple of 0.5"),
        ];
        for (text, needle) in cases {
            let err = Rules::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    /// Worked example (Fukuoka): 60 min CC74 + 60 min CC76 + 30 min CC80 → 1.0, 1.0, 0.5.
    #[test]
    fn session_of_three_talks() {
        let r = rules();
        let got: Vec<String> = [60, 60, 30]
            .into_iter()
            .map(|m| r.half_units_for_minutes(m).to_string())
            .collect();
        assert_eq!(got, ["1", "1", "0.5"]);
        let es = [
            entry(
                1,
                2025,
                74,
                r.half_units_for_minutes(60).get(),
                Source::Training,
            ),
            entry(
                2,
                2025,
                76,
                r.half_units_for_minutes(60).get(),
                Source::Training,
            ),
            entry(
                3,
                2025,
                80,
                r.half_units_for_minutes(30).get(),
                Source::Training,
            ),
        ];
        let y = &year_totals(r, &es)[&fy(2025)];
        assert_eq!(y.half_units.to_string(), "2.5");
        assert_eq!(y.codes().collect::<Vec<_>>(), [74, 76, 80]);
    }

    /// Table of the certificate examples: (units per code, codes) → total, reached.
    #[test]
    fn certificate_threshold_table() {
        // (half-units per code list, expected total half-points, reached)
        type Case = (Vec<(u16, i64)>, i64, bool);
        let cases: Vec<Case> = vec![
            // 45 units over 20 distinct codes → 65 → achieved.
            (
                (0..20).map(|c| (c, if c < 5 { 6 } else { 4 })).collect(),
                130,
                true,
            ),
            // 58 units all in one code → 59 → not.
            (vec![(76, 116)], 118, false),
            // 50.5 units + 10 codes → 60.5 → achieved.
            (
                (0..10).map(|c| (c, if c == 0 { 20 } else { 9 })).collect(),
                121,
                true,
            ),
            // exactly 60: 50 units + 10 codes.
            ((0..10).map(|c| (c, 10)).collect(), 120, true),
            // 49.5 + 10 = 59.5 → not.
            (
                (0..10).map(|c| (c, if c == 0 { 9 } else { 10 })).collect(),
                119,
                false,
            ),
        ];
        for (i, (codes, total, reached)) in cases.into_iter().enumerate() {
            let es: Vec<LedgerEntry> = codes
                .iter()
                .enumerate()
                .map(|(n, &(c, h))| entry(n as u128, 2023 + (n % 3) as i32, c, h, Source::Training))
                .collect();
            let s = Standing::compute(rules(), &es, &[], day(2026, 12, 1));
            let w = s.windows.iter().find(|w| !w.prior_system).unwrap();
            assert_eq!((w.from, w.to), (fy(2023), fy(2025)), "case {i}");
            assert_eq!(w.total_half(), total, "case {i}");
            assert_eq!(w.reaches(rules()), reached, "case {i}");
            let expected = if reached {
                WindowStatus::Achieved
            } else {
                WindowStatus::FellShort
            };
            assert_eq!(w.status, expected, "case {i}");
        }
    }

    /// Seven fiscal years under the trailing rule: each decision judges [N−2, N]; the one that
    /// reaches consumes its years, and later windows may not touch them.
    #[test]
    fn trailing_windows_over_seven_years() {
        let mut es = Vec::new();
        let mut n = 0;
        let mut add = |fy_: i32, codes: std::ops::Range<u16>, half: i64| {
            for c in codes {
                n += 1;
                es.push(entry(n, fy_, c, half, Source::Training));
            }
        };
        add(2025, 0..10, 2);
        add(2026, 10..20, 2);
        add(2028, 20..30, 2);
        add(2029, 30..40, 2);
        add(2030, 40..60, 2);
        add(2031, 60..70, 2);
        let s = Standing::compute(rules(), &es, &[], day(2032, 1, 15));
        assert_eq!(s.decided_through, fy(2030));
        let got: Vec<(i32, i32, WindowStatus, i64)> = s
            .windows
            .iter()
            .map(|w| (w.from.year(), w.to.year(), w.status, w.total_half() / 2))
            .collect();
        use WindowStatus::*;
        assert_eq!(
            got,
            [
                (2023, 2025, FellShort, 20),
                (2024, 2026, FellShort, 40),
                (2025, 2027, FellShort, 40),
                (2026, 2028, FellShort, 40),
                (2027, 2029, FellShort, 40),
                (2028, 2030, Achieved, 80),
                (2031, 2033, Pending, 20),
            ]
        );
        // With 2028–30 already certified, the decisions of 2028–2030 have nothing to judge.
        let s2 = Standing::compute(rules(), &es, &[(fy(2028), fy(2030))], day(2032, 1, 15));
        let got2: Vec<(i32, WindowStatus)> = s2
            .windows
            .iter()
            .map(|w| (w.from.year(), w.status))
            .collect();
        assert_eq!(
            got2,
            [
                (2023, FellShort),
                (2024, FellShort),
                (2025, FellShort),
                (2028, Certified),
                (2031, Pending)
            ]
        );
        assert_eq!(s2.decisions[&fy(2029)], Decision::Consumed);
        // Before 1 December 2031 the window ending 2030 is not yet decided.
        let s3 = Standing::compute(rules(), &es, &[], day(2031, 11, 30));
        assert_eq!(s3.decided_through, fy(2029));
        assert_eq!(
            s3.next_window().map(|w| (w.from, w.status)),
            Some((fy(2028), Pending))
        );
        assert_eq!(
            s3.windows.len(),
            6,
            "the achieving pending window ends the list"
        );
    }

    fn decided(es: &[LedgerEntry], licence: Option<i32>, today: NaiveDate) -> Standing {
        Standing::evaluate(
            rules(),
            es,
            &[],
            licence.map(fy),
            today,
            rules().decided_through(today),
        )
    }

    fn spread(first: u128, fy_: i32, codes: std::ops::Range<u16>, half: i64) -> Vec<LedgerEntry> {
        codes
            .enumerate()
            .map(|(i, c)| entry(first + i as u128, fy_, c, half, Source::Training))
            .collect()
    }

    /// Issue 15's table: the decision for N judges [N−2, N] whatever the first ledger year.
    #[test]
    fn decision_tables_of_the_rule() {
        let dec1 = day(2026, 12, 1);
        // Credits only in N−1 and N reaching exactly 60 (40 units + 20 codes): [N−2, N].
        let mut es = spread(1, 2024, 0..10, 4);
        es.extend(spread(100, 2025, 10..20, 4));
        let s = decided(&es, None, dec1);
        assert_eq!(s.decisions[&fy(2025)], Decision::Achieved);
        let w = s.achieved_uncertified().next().unwrap();
        assert_eq!((w.from, w.to, w.total_half()), (fy(2023), fy(2025), 120));
        // 65 in N alone (licence long ago): [N−2, N].
        let es = spread(1, 2025, 0..13, 8); // 52 units + 13 codes = 65
        let s = decided(&es, Some(1990), dec1);
        assert_eq!(s.decisions[&fy(2025)], Decision::Achieved);
        let w = s.achieved_uncertified().next().unwrap();
        assert_eq!((w.from, w.to, w.total_half()), (fy(2023), fy(2025), 130));
        // Licence in N−1: no window starts before N−1, however much is earned.
        let es: Vec<LedgerEntry> = (2025..2029)
            .flat_map(|y| spread(y as u128 * 1000, y, 0..13, 8))
            .collect();
        let s = decided(&es, Some(2026), day(2029, 12, 1));
        assert_eq!(s.decisions[&fy(2025)], Decision::BeforeLicence);
        assert_eq!(s.decisions[&fy(2026)], Decision::BeforeLicence);
        assert_eq!(s.decisions[&fy(2027)], Decision::BeforeLicence);
        assert_eq!(s.decisions[&fy(2028)], Decision::Achieved);
        assert!(
            s.windows
                .iter()
                .filter(|w| !w.prior_system)
                .all(|w| w.from >= fy(2026))
        );
        // Unknown licence: no restriction.
        let s = decided(&es, None, day(2029, 12, 1));
        assert_eq!(s.decisions[&fy(2025)], Decision::Achieved);
        // A credit in 2016, or a net-zero reversal in N−2, changes nothing.
        let mut es = spread(1, 2024, 0..10, 4);
        es.extend(spread(100, 2025, 10..20, 3)); // 35 units + 20 codes = 55: short
        let base = decided(&es, None, dec1);
        assert_eq!(base.decisions[&fy(2025)], Decision::FellShort);
        let mut with_old = es.clone();
        with_old.push(entry(900, 2016, 50, 1, Source::PriorSystem));
        let mut with_reversal = es.clone();
        let e = entry(901, 2023, 60, 10, Source::Training);
        with_reversal.push(e.reversal(
            Uuid::from_u128(902),
            day(2024, 1, 1),
            "t".into(),
            e.created_at,
            None,
        ));
        with_reversal.push(e);
        for other in [with_old, with_reversal] {
            let s = decided(&other, None, dec1);
            assert_eq!(s.decisions, base.decisions);
            assert_eq!(
                s.windows
                    .iter()
                    .filter(|w| !w.prior_system)
                    .collect::<Vec<_>>(),
                base.windows
                    .iter()
                    .filter(|w| !w.prior_system)
                    .collect::<Vec<_>>()
            );
        }
    }

    /// The rule as the issue states it, written as plainly as possible: for N = 2025, 2026, …
    /// in order, judge [N−2, N] unless a year of it is consumed or it starts before the licence
    /// year; units are the positive nets per (year, code), codes the distinct codes with a
    /// positive net in some year of the window; reaching 60 consumes the three years.
    fn naive_decisions(
        es: &[LedgerEntry],
        imported: &[(i32, i32)],
        licence: Option<i32>,
        last: i32,
    ) -> BTreeMap<i32, &'static str> {
        let mut consumed: BTreeSet<i32> = BTreeSet::new();
        for &(f, t) in imported {
            for y in f..=t {
                consumed.insert(y);
            }
        }
        let mut out = BTreeMap::new();
        for n in 2025..=last {
            let years: Vec<i32> = vec![n - 2, n - 1, n];
            let outcome = if years.iter().any(|y| consumed.contains(y)) {
                "consumed"
            } else if licence.is_some_and(|l| n - 2 < l) {
                "before_licence"
            } else {
                let mut units = 0i64;
                let mut codes = BTreeSet::new();
                for y in &years {
                    for c in 0u16..84 {
                        let net: i64 = es
                            .iter()
                            .filter(|e| e.fiscal_year.year() == *y && e.code == c)
                            .map(|e| e.half_units.get())
                            .sum();
                        if net > 0 {
                            units += net;
                            codes.insert(c);
                        }
                    }
                }
                if units + 2 * codes.len() as i64 >= 2 * 60 {
                    for y in &years {
                        consumed.insert(*y);
                    }
                    "achieved"
                } else {
                    "fell_short"
                }
            };
            out.insert(n, outcome);
        }
        out
    }

    type Ledger = (Vec<LedgerEntry>, Vec<(i32, i32)>, Option<i32>);

    fn arb_case() -> impl Strategy<Value = Ledger> {
        let credits = prop::collection::vec(
            (2016i32..=2032, 0u16..40, 1i64..12, 0usize..6, any::<bool>()),
            0..120,
        );
        // certificates imported from before MAMIS: three consecutive years ending ≤ 2024,
        // kept only when they do not overlap an earlier one
        let certs = prop::collection::vec(2012i32..=2022, 0..3).prop_map(|starts| {
            let mut taken: Vec<(i32, i32)> = Vec::new();
            for f in starts {
                if taken.iter().all(|&(a, b)| f + 2 < a || b < f) {
                    taken.push((f, f + 2));
                }
            }
            taken
        });
        let licence = prop::option::of(2010i32..=2033);
        (credits, certs, licence).prop_map(|(credits, certs, licence)| {
            let mut es = Vec::new();
            for (n, (y, c, h, s, reverse)) in credits.into_iter().enumerate() {
                let e = entry(n as u128 * 2 + 10, y, c, h, Source::ALL[s]);
                if reverse {
                    es.push(e.reversal(
                        Uuid::from_u128(n as u128 * 2 + 11),
                        e.date,
                        "t".into(),
                        e.created_at,
                        None,
                    ));
                }
                es.push(e);
            }
            (es, certs, licence)
        })
    }

    #[test]
    fn certificates_stay_consumed_whatever_the_ledger_says() {
        // An imported certificate for 2021–2023 over an empty ledger; entries only from 2024.
        let es = vec![entry(1, 2024, 1, 40, Source::PriorSystem)];
        let s = Standing::compute(rules(), &es, &[(fy(2021), fy(2023))], day(2026, 11, 30));
        assert_eq!(s.windows[0].status, WindowStatus::Certified);
        assert_eq!((s.windows[0].from, s.windows[0].to), (fy(2021), fy(2023)));
        let next = s.next_window().unwrap();
        assert_eq!((next.from, next.to), (fy(2024), fy(2026)));
    }

    #[test]
    fn prior_system_windows_are_never_achieved_by_mamis() {
        // 100 units in FY2020 (prior system): the window 2020–22 was the prior system's to decide.
        let es = vec![entry(1, 2020, 1, 200, Source::PriorSystem)];
        let s = Standing::compute(rules(), &es, &[], day(2026, 12, 1));
        assert!(s.windows[0].prior_system);
        assert_eq!((s.windows[0].from, s.windows[0].to), (fy(2020), fy(2020)));
        assert_eq!(s.decisions[&fy(2025)], Decision::FellShort);
        assert_eq!(s.achieved_uncertified().count(), 0);
    }

    /// Entries dated on the fiscal-year boundary in Japan time count in the right year.
    #[test]
    fn fiscal_year_boundary_in_japan_time() {
        use crate::time::japan_date;
        // 2026-03-31 15:00 UTC is 2026-04-01 00:00 JST: FY2026. 14:59:59 UTC is still FY2025.
        let after = Utc.with_ymd_and_hms(2026, 3, 31, 15, 0, 0).unwrap();
        let before = Utc.with_ymd_and_hms(2026, 3, 31, 14, 59, 59).unwrap();
        assert_eq!(FiscalYear::of_date(japan_date(after)), fy(2026));
        assert_eq!(FiscalYear::of_date(japan_date(before)), fy(2025));
        let es = [
            entry(
                1,
                FiscalYear::of_instant(before).year(),
                5,
                2,
                Source::Training,
            ),
            entry(
                2,
                FiscalYear::of_instant(after).year(),
                6,
                2,
                Source::Training,
            ),
        ];
        let t = year_totals(rules(), &es);
        assert_eq!(t[&fy(2025)].codes().collect::<Vec<_>>(), [5]);
        assert_eq!(t[&fy(2026)].codes().collect::<Vec<_>>(), [6]);
    }

    #[test]
    fn decision_dates_follow_the_rules_file() {
        let r = rules();
        assert_eq!(r.decided_through(day(2026, 11, 30)), fy(2024));
        assert_eq!(r.decided_through(day(2026, 12, 1)), fy(2025));
        assert_eq!(r.decided_through(day(2027, 3, 31)), fy(2025));
        assert_eq!(r.decided_through(day(2027, 4, 1)), fy(2025));
        assert_eq!(r.evaluation_date(fy(2025)), day(2026, 12, 1));
    }

    #[test]
    fn a_reversed_code_no_longer_counts() {
        let e = entry(1, 2025, 12, 2, Source::Training);
        let rev = e.reversal(
            Uuid::from_u128(2),
            day(2025, 6, 1),
            "test".into(),
            e.created_at,
            None,
        );
        let t = year_totals(rules(), &[e.clone(), rev]);
        assert_eq!(t[&fy(2025)].codes().count(), 0);
        assert_eq!(t[&fy(2025)].half_units, HalfUnits::ZERO);
        let s = Standing::compute(rules(), &[e], &[], day(2025, 6, 1));
        assert!(s.windows[0].codes.contains(&12));
    }

    #[test]
    fn explanation_and_what_if() {
        // 48 units in 8 codes = 56 → 4 short (8 half-points): 0.5 unit in each of 3 new codes
        // (1.5 units + 3 codes = 4.5), or 4 units in earned codes.
        let es: Vec<LedgerEntry> = (0..8)
            .map(|c| entry(u128::from(c), 2025, c, 12, Source::Training))
            .collect();
        let s = Standing::compute(rules(), &es, &[], day(2026, 11, 30));
        let x = s.next_window().unwrap().explain(rules());
        assert_eq!((x.total_half, x.shortfall_half), (112, 8));
        assert_eq!(x.missing_codes.len(), 84 - 8);
        assert!(!x.missing_codes.contains(&3));
        let w = x.what_if.unwrap();
        assert_eq!((w.new_codes, w.extra_in_earned_codes), (3, HalfUnits::ZERO));
        assert_eq!(w.total.to_string(), "1.5");
        assert_eq!(w.only_earned_codes.to_string(), "4");
        // A 0.5-point shortfall: 0.5 unit in a code already earned.
        let mut es2 = es.clone();
        es2.push(entry(99, 2025, 8, 5, Source::Training)); // 2.5 units + 1 code = 3.5 more
        let s2 = Standing::compute(rules(), &es2, &[], day(2026, 11, 30));
        let x2 = s2.next_window().unwrap().explain(rules());
        assert_eq!(x2.shortfall_half, 1);
        let w2 = x2.what_if.unwrap();
        assert_eq!((w2.new_codes, w2.total), (0, HalfUnits::new(1)));
    }

    #[test]
    fn method_caps_limit_a_years_count() {
        let text = JMA_CME_TOML.replace(
            "source = \"journal_quiz\"\nmembers_only = true",
            "source = \"journal_quiz\"\nmembers_only = true\ncap_units_per_year = 5",
        );
        let r = Rules::from_toml(&text).unwrap();
        let es = [
            entry(1, 2025, 1, 8, Source::JournalQuiz),
            entry(2, 2025, 2, 8, Source::JournalQuiz),
            entry(3, 2025, 3, 4, Source::Training),
        ];
        let y = &year_totals(&r, &es)[&fy(2025)];
        // quiz 8 units capped at 5, training 2 → 7; codes still 3.
        assert_eq!(y.half_units.to_string(), "7");
        assert_eq!(y.capped.to_string(), "3");
        assert_eq!(y.codes().count(), 3);
    }

    fn arb_entries() -> impl Strategy<Value = Vec<LedgerEntry>> {
        prop::collection::vec((2020i32..2027, 0u16..84, 1i64..20, 0usize..6), 0..60).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(n, (y, c, h, s))| entry(n as u128 + 10, y, c, h, Source::ALL[s]))
                .collect()
        })
    }

    fn summary(es: &[LedgerEntry]) -> (BTreeMap<FiscalYear, YearTotals>, Vec<Window>) {
        let s = Standing::compute(rules(), es, &[], day(2027, 12, 1));
        (s.years, s.windows)
    }

    proptest! {
        #[test]
        fn totals_equal_the_net_sum_of_entries(es in arb_entries()) {
            let t = year_totals(rules(), &es);
            for (fy_, y) in &t {
                let sum: i64 = es.iter().filter(|e| e.fiscal_year == *fy_).map(|e| e.half_units.get()).sum();
                prop_assert_eq!(y.half_units.get(), sum);
                let codes: BTreeSet<u16> = es.iter().filter(|e| e.fiscal_year == *fy_).map(|e| e.code).collect();
                prop_assert_eq!(y.codes().collect::<BTreeSet<_>>(), codes);
            }
        }

        #[test]
        fn order_of_entries_changes_nothing(es in arb_entries(), seed in any::<u64>()) {
            let mut shuffled = es.clone();
            // deterministic Fisher–Yates from the seed
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(summary(&es), summary(&shuffled));
        }

        #[test]
        fn adding_a_credit_never_lowers_a_total(es in arb_entries(), y in 2020i32..2027, c in 0u16..84, h in 1i64..10) {
            let (before, wb) = summary(&es);
            let mut more = es.clone();
            more.push(entry(9_999, y, c, h, Source::Training));
            let (after, wa) = summary(&more);
            for (fy_, t) in &before {
                prop_assert!(after[fy_].half_units >= t.half_units);
                prop_assert!(after[fy_].per_code.len() >= t.per_code.len());
            }
            // the first window, when it is the same window (same years), never counts less; a
            // credit before FY2025 may put a prior-system window first instead
            if let (Some(b), Some(a)) = (wb.first(), wa.first()) && (a.from, a.to) == (b.from, b.to) {
                prop_assert!(a.total_half() >= b.total_half());
            }
        }

        #[test]
        fn a_reversal_gives_the_totals_without_the_entry(es in arb_entries(), pick in any::<prop::sample::Index>()) {
            prop_assume!(!es.is_empty());
            let target = pick.get(&es).clone();
            let mut with_rev = es.clone();
            with_rev.push(target.reversal(Uuid::from_u128(77_777), target.date, "t".into(), target.created_at, None));
            let without: Vec<LedgerEntry> = es.iter().filter(|e| e.id != target.id).cloned().collect();
            let (a, _) = summary(&with_rev);
            let (b, _) = summary(&without);
            for (fy_, t) in &a {
                let empty = YearTotals::default();
                let u = b.get(fy_).unwrap_or(&empty);
                prop_assert_eq!(&t.per_code, &u.per_code);
                prop_assert_eq!(t.half_units, u.half_units);
            }
        }

        /// Issue 17's shortcut: the decision run counts net sums per (doctor, year, source,
        /// code) of the judged years only. Its decisions and due windows equal the engine's over
        /// every line, the sums made here the naive way (one entry per key, summed in a map).
        #[test]
        fn decisions_from_judged_sums_equal_those_from_every_line(
            (es, imported, licence) in arb_case(),
            through in 2024i32..=2032,
        ) {
            let today = day(2033, 12, 1);
            let issued: Vec<(FiscalYear, FiscalYear)> =
                imported.iter().map(|&(f, t)| (fy(f), fy(t))).collect();
            let licence = licence.map(fy);
            let full = Standing::evaluate(rules(), &es, &issued, licence, today, fy(through));
            let judged = rules().judged_years(fy(through));
            let mut naive: BTreeMap<(i32, &str, u16), i64> = BTreeMap::new();
            for e in es.iter().filter(|e| judged.contains(&e.fiscal_year)) {
                *naive.entry((e.fiscal_year.year(), e.source.as_str(), e.code)).or_default() +=
                    e.half_units.get();
            }
            let sums: Vec<CreditSum> = naive
                .into_iter()
                .map(|((y, s, code), h)| CreditSum {
                    doctor: Uuid::from_u128(1),
                    fiscal_year: fy(y),
                    source: Source::parse(s).unwrap(),
                    code,
                    half_units: HalfUnits::new(h),
                })
                .collect();
            let short = Standing::of_totals(
                rules(), year_totals_of_sums(rules(), &sums), &issued, licence, today, fy(through),
            );
            prop_assert_eq!(&short.decisions, &full.decisions);
            let due = |s: &Standing| -> Vec<(FiscalYear, FiscalYear, HalfUnits, usize)> {
                s.achieved_uncertified()
                    .filter(|w| w.to <= fy(through))
                    .map(|w| (w.from, w.to, w.half_units, w.codes.len()))
                    .collect()
            };
            prop_assert_eq!(due(&short), due(&full));
            for y in judged.start().year()..=through {
                prop_assert_eq!(short.years.get(&fy(y)), full.years.get(&fy(y)));
            }
        }

        /// Issue 15's property: on random ledgers (FY2016–2032, reversals), imported
        /// certificates ending ≤ FY2024 and licence years, with a fixed clock, the engine
        /// decides exactly as the naive reading of the rule.
        #[test]
        fn decisions_equal_the_naive_rule((es, imported, licence) in arb_case()) {
            let today = day(2033, 12, 1);
            let issued: Vec<(FiscalYear, FiscalYear)> =
                imported.iter().map(|&(f, t)| (fy(f), fy(t))).collect();
            let s = Standing::evaluate(
                rules(), &es, &issued, licence.map(fy), today, rules().decided_through(today),
            );
            let got: BTreeMap<i32, &str> =
                s.decisions.iter().map(|(n, d)| (n.year(), d.as_str())).collect();
            prop_assert_eq!(got, naive_decisions(&es, &imported, licence, 2032));
            for w in s.achieved_uncertified() {
                prop_assert_eq!(w.to.year() - w.from.year(), 2);
                prop_assert_eq!(s.decisions[&w.to], Decision::Achieved);
            }
            // certified windows are exactly the imported ones
            let certified: Vec<(i32, i32)> = s.windows.iter()
                .filter(|w| w.status == WindowStatus::Certified)
                .map(|w| (w.from.year(), w.to.year())).collect();
            let mut expected = imported.clone();
            expected.sort();
            prop_assert_eq!(certified, expected);
        }
    }
}
