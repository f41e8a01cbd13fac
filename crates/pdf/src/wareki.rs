//! How dates, fiscal years and units read on a document: 西暦 first, 和暦 in parentheses.

use chrono::{Datelike, NaiveDate};

/// A Japanese era: its name and first day (year, month, day).
struct Era {
    name: &'static str,
    start: (i32, u32, u32),
}

/// Newest first. Earlier dates print without 和暦: no CME record predates Shōwa.
const ERAS: [Era; 3] = [
    Era {
        name: "令和",
        start: (2019, 5, 1),
    },
    Era {
        name: "平成",
        start: (1989, 1, 8),
    },
    Era {
        name: "昭和",
        start: (1926, 12, 25),
    },
];

/// The era in force on `(year, month, day)` and the year within it (1 = 元年).
fn era_at(year: i32, month: u32, day: u32) -> Option<(&'static str, i32)> {
    ERAS.iter()
        .find(|e| (year, month, day) >= e.start)
        .map(|e| (e.name, year - e.start.0 + 1))
}

fn era_year(name: &str, n: i32) -> String {
    if n == 1 {
        format!("{name}元")
    } else {
        format!("{name}{n}")
    }
}

/// The era name and year of a date, e.g. ("令和", 8) for 2026-12-01; `None` before Shōwa.
pub(crate) fn era_of(d: NaiveDate) -> Option<(&'static str, i32)> {
    era_at(d.year(), d.month(), d.day())
}

/// "2026年12月1日" — the short form used in tables.
pub(crate) fn date_short(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// "2026年12月1日（令和8年12月1日）", with 元年 for an era's first year; printed dates use it.
pub fn date_ja(d: NaiveDate) -> String {
    match era_of(d) {
        Some((name, n)) => format!(
            "{}（{}年{}月{}日）",
            date_short(d),
            era_year(name, n),
            d.month(),
            d.day()
        ),
        None => date_short(d),
    }
}

/// "2025年度（令和7年度）": a fiscal year takes the era in force at the end of its starting
/// calendar year, as in official usage (fiscal 2019 is 令和元年度, fiscal 1989 平成元年度).
pub fn fiscal_year_ja(fy: i32) -> String {
    match era_at(fy, 12, 31) {
        Some((name, n)) => format!("{fy}年度（{}年度）", era_year(name, n)),
        None => format!("{fy}年度"),
    }
}

/// Half units as a decimal with one place: 121 → "60.5", 120 → "60.0" (the ledger counts
/// half units, JMA: 30 minutes = 0.5 unit).
pub fn units_text(half_units: i64) -> String {
    let sign = if half_units < 0 { "-" } else { "" };
    let a = half_units.unsigned_abs();
    format!("{sign}{}.{}", a / 2, if a % 2 == 1 { 5 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn era_boundaries() {
        let table = [
            (d(2026, 12, 1), "2026年12月1日（令和8年12月1日）"),
            (d(2019, 5, 1), "2019年5月1日（令和元年5月1日）"),
            (d(2019, 4, 30), "2019年4月30日（平成31年4月30日）"),
            (d(2020, 1, 1), "2020年1月1日（令和2年1月1日）"),
            (d(1989, 1, 8), "1989年1月8日（平成元年1月8日）"),
            (d(1989, 1, 7), "1989年1月7日（昭和64年1月7日）"),
            (d(1926, 12, 25), "1926年12月25日（昭和元年12月25日）"),
            (d(1926, 12, 24), "1926年12月24日"),
        ];
        for (date, want) in table {
            assert_eq!(date_ja(date), want, "{date}");
        }
    }

    #[test]
    fn fiscal_years() {
        assert_eq!(fiscal_year_ja(2025), "2025年度（令和7年度）");
        assert_eq!(fiscal_year_ja(2019), "2019年度（令和元年度）");
        assert_eq!(fiscal_year_ja(2018), "2018年度（平成30年度）");
        assert_eq!(fiscal_year_ja(1989), "1989年度（平成元年度）");
        assert_eq!(fiscal_year_ja(1988), "1988年度（昭和63年度）");
        assert_eq!(fiscal_year_ja(1900), "1900年度");
    }

    #[test]
    fn units() {
        assert_eq!(units_text(121), "60.5");
        assert_eq!(units_text(120), "60.0");
        assert_eq!(units_text(1), "0.5");
        assert_eq!(units_text(0), "0.0");
        assert_eq!(units_text(-3), "-1.5");
    }

    proptest! {
        /// The era year plus the era's first year minus one is always the Gregorian year, the
        /// era year is at least 1, and a later day never falls in an earlier era.
        #[test]
        fn era_year_is_consistent(days in 0i64..60_000, step in 0i64..4_000) {
            let base = d(1926, 12, 25);
            let a = base + chrono::Duration::days(days);
            let b = a + chrono::Duration::days(step);
            let (na, ya) = era_of(a).unwrap();
            let (nb, _) = era_of(b).unwrap();
            let era = ERAS.iter().position(|e| e.name == na).unwrap();
            prop_assert_eq!(ya + ERAS[era].start.0 - 1, a.year());
            prop_assert!(ya >= 1);
            prop_assert!(ERAS.iter().position(|e| e.name == nb).unwrap() <= era);
        }

        /// Units text parses back to half the half units.
        #[test]
        fn units_round_trip(h in -10_000i64..10_000) {
            let v: f64 = units_text(h).parse().unwrap();
            prop_assert_eq!(v * 2.0, h as f64);
        }
    }
}
