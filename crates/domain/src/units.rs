//! 単位 — CME units, held as a signed integer count of half-units.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Neg, Sub};

/// Half-units (0.5 単位 steps). Signed because reversals are negative ledger entries; integer so
/// that totals never drift the way decimal fractions would.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct HalfUnits(i64);

impl HalfUnits {
    /// Zero units.
    pub const ZERO: Self = Self(0);

    /// From a raw count of half-units.
    pub const fn new(half_units: i64) -> Self {
        Self(half_units)
    }

    /// Units earned by a talk of `minutes`: 30 minutes = 0.5 unit, rounded down, so less than
    /// 30 minutes earns nothing (JMA rule, domain-research §2.3 / §8.2).
    pub fn from_minutes(minutes: u32) -> Self {
        Self(i64::from(minutes / 30))
    }

    /// The raw count.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// Whether the amount is above zero.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl Add for HalfUnits {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }
}

impl Sub for HalfUnits {
    type Output = Self;
    fn sub(self, rhs: Self) -> Self {
        Self(self.0.saturating_sub(rhs.0))
    }
}

impl Neg for HalfUnits {
    type Output = Self;
    fn neg(self) -> Self {
        Self(self.0.saturating_neg())
    }
}

impl std::iter::Sum for HalfUnits {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, |a, b| a + b)
    }
}

/// Shown as units with one decimal when needed: `3`, `2.5`, `-0.5`.
impl fmt::Display for HalfUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        if abs.is_multiple_of(2) {
            write!(f, "{sign}{}", abs / 2)
        } else {
            write!(f, "{sign}{}.5", abs / 2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn minutes_table() {
        for (min, half) in [
            (0, 0),
            (29, 0),
            (30, 1),
            (59, 1),
            (60, 2),
            (89, 2),
            (90, 3),
            (120, 4),
        ] {
            assert_eq!(HalfUnits::from_minutes(min).get(), half, "{min} minutes");
        }
    }

    #[test]
    fn display() {
        assert_eq!(HalfUnits::new(5).to_string(), "2.5");
        assert_eq!(HalfUnits::new(4).to_string(), "2");
        assert_eq!(HalfUnits::new(-1).to_string(), "-0.5");
    }

    proptest! {
        #[test]
        fn rounding_never_exceeds_the_time(min in 0u32..100_000) {
            let h = HalfUnits::from_minutes(min).get();
            prop_assert!(h * 30 <= i64::from(min));
            prop_assert!(i64::from(min) < (h + 1) * 30);
        }

        #[test]
        fn reversal_cancels(n in -1_000_000i64..1_000_000) {
            prop_assert_eq!(HalfUnits::new(n) + -HalfUnits::new(n), HalfUnits::ZERO);
        }
    }
}
