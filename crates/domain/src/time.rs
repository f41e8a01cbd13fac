//! Instants, the injected clock, Japan time and the fiscal year (年度).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A UTC instant: everything stored or compared is one of these, never a local time.
pub type Timestamp = DateTime<Utc>;

/// Japan Standard Time. Japan has kept UTC+9 without daylight saving since 1951, so a fixed
/// offset is exact for every date MAMIS handles and needs no time-zone database.
pub fn japan() -> FixedOffset {
    // 9 h is always in range (`east_opt` refuses only offsets beyond ±24 h).
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| Utc.fix())
}

/// Shows an instant as Japan time, for pages and mail.
pub fn to_japan(t: Timestamp) -> DateTime<FixedOffset> {
    t.with_timezone(&japan())
}

/// The civil date in Japan of an instant: rules about days (fiscal years, windows) use this.
pub fn japan_date(t: Timestamp) -> NaiveDate {
    to_japan(t).date_naive()
}

/// The source of "now", injected everywhere so tests can set time and no rule calls the OS clock.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The real clock, the only one the `mamis` binary can construct.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Utc::now()
    }
}

#[cfg(feature = "fake-clock")]
pub use fake::FakeClock;

#[cfg(feature = "fake-clock")]
mod fake {
    use super::{Clock, Timestamp};
    use std::sync::{Arc, Mutex};

    /// A clock tests set and advance while a server runs; compiled only with the `fake-clock`
    /// feature, which release builds of the binary never enable.
    #[derive(Debug, Clone)]
    pub struct FakeClock(Arc<Mutex<Timestamp>>);

    impl FakeClock {
        /// A clock stopped at `t`.
        pub fn new(t: Timestamp) -> Self {
            Self(Arc::new(Mutex::new(t)))
        }
        /// Moves the clock to `t` (backwards too: tests of expiry need both directions).
        pub fn set(&self, t: Timestamp) {
            if let Ok(mut g) = self.0.lock() {
                *g = t;
            }
        }
        /// Moves the clock forward.
        pub fn advance(&self, d: chrono::Duration) {
            if let Ok(mut g) = self.0.lock() {
                *g += d;
            }
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Timestamp {
            self.0
                .lock()
                .map(|g| *g)
                .unwrap_or_else(|p| *p.into_inner())
        }
    }
}

/// 年度 — the Japanese fiscal year, 1 April to 31 March, named by the calendar year it starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FiscalYear(i32);

impl FiscalYear {
    /// The fiscal year a Japan civil date falls in (domain-research §8.1).
    pub fn of_date(d: NaiveDate) -> Self {
        if d.month() >= 4 {
            Self(d.year())
        } else {
            Self(d.year() - 1)
        }
    }

    /// The fiscal year an instant falls in, judged by Japan time.
    pub fn of_instant(t: Timestamp) -> Self {
        Self::of_date(japan_date(t))
    }

    /// A fiscal year from its number; years outside 1900–9998 are refused as typing errors.
    pub fn new(year: i32) -> Result<Self, crate::DomainError> {
        if (1900..=9998).contains(&year) {
            Ok(Self(year))
        } else {
            Err(crate::DomainError::FiscalYearOutOfRange(year))
        }
    }

    /// The year number (2026 for 2026年度).
    pub fn year(self) -> i32 {
        self.0
    }

    /// 1 April of this fiscal year.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.0, 4, 1).unwrap_or(NaiveDate::MIN)
    }

    /// 31 March of the next calendar year.
    pub fn last_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.0 + 1, 3, 31).unwrap_or(NaiveDate::MAX)
    }

    /// The first instant of the fiscal year (00:00 Japan time on 1 April).
    pub fn start_instant(self) -> Timestamp {
        let local = self.first_day().and_hms_opt(0, 0, 0).unwrap_or_default();
        japan()
            .from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// The following fiscal year.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// The preceding fiscal year.
    pub fn prev(self) -> Self {
        Self(self.0 - 1)
    }
}

impl fmt::Display for FiscalYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FY{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn jst(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn boundary_examples_from_the_spec() {
        let cases = [
            ("2026-03-31T23:59:59+09:00", 2025),
            ("2026-04-01T00:00:00+09:00", 2026),
            // the same instants written in UTC
            ("2026-03-31T14:59:59Z", 2025),
            ("2026-03-31T15:00:00Z", 2026),
            ("2025-04-01T00:00:00+09:00", 2025),
            ("2027-03-31T23:59:59.999+09:00", 2026),
            ("2026-01-01T00:00:00+09:00", 2025),
        ];
        for (s, fy) in cases {
            assert_eq!(FiscalYear::of_instant(jst(s)).year(), fy, "{s}");
        }
    }

    #[test]
    fn start_instant_is_midnight_in_tokyo() {
        assert_eq!(
            FiscalYear::new(2026).unwrap().start_instant(),
            jst("2026-03-31T15:00:00Z")
        );
    }

    #[test]
    fn out_of_range_years_are_refused() {
        assert!(FiscalYear::new(1899).is_err());
        assert!(FiscalYear::new(20260).is_err());
    }

    proptest! {
        #[test]
        fn instant_belongs_to_the_year_whose_bounds_contain_it(secs in 0i64..4_102_444_800) {
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            let fy = FiscalYear::of_instant(t);
            prop_assert!(fy.start_instant() <= t);
            prop_assert!(t < fy.next().start_instant());
        }

        #[test]
        fn one_second_before_april_is_the_previous_year(year in 1950i32..3000) {
            let fy = FiscalYear::new(year).unwrap();
            let start = fy.start_instant();
            prop_assert_eq!(FiscalYear::of_instant(start), fy);
            prop_assert_eq!(FiscalYear::of_instant(start - chrono::Duration::seconds(1)), fy.prev());
        }

        #[test]
        fn date_and_instant_agree(days in 0i64..60_000) {
            let d = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days);
            let noon = japan().from_local_datetime(&d.and_hms_opt(12, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
            prop_assert_eq!(FiscalYear::of_date(d), FiscalYear::of_instant(noon));
            prop_assert!(FiscalYear::of_date(d).first_day() <= d && d <= FiscalYear::of_date(d).last_day());
        }
    }

    #[cfg(feature = "fake-clock")]
    #[test]
    fn fake_clock_moves() {
        let c = FakeClock::new(jst("2026-01-01T00:00:00Z"));
        c.advance(chrono::Duration::hours(1));
        assert_eq!(c.now(), jst("2026-01-01T01:00:00Z"));
    }
}
