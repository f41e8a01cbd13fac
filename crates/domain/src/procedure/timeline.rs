//! The register over time: the rules every instant must satisfy, and the changes procedures
//! make to it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::association::{AssociationCode, AssociationLevel};
use crate::membership::{ClassCode, Membership, check_nesting};

/// One change a completed procedure makes to a doctor's memberships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A new membership row from its `joined_on`.
    Start(Membership),
    /// The membership of `association` that started on `joined_on` ends before `left_on`.
    End {
        /// The association left.
        association: AssociationCode,
        /// Identifies the row (with the association).
        joined_on: NaiveDate,
        /// The first day without it.
        left_on: NaiveDate,
    },
}

/// Why a set of memberships cannot stand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum TimelineError {
    /// On this day the memberships would not nest county ⊂ prefecture ⊂ JMA, or one level
    /// would be held twice.
    #[error("on {0} the memberships would not nest county, prefecture, JMA")]
    Nesting(NaiveDate),
    /// A change ends a membership the doctor does not hold open past that day.
    #[error("no membership of {0} to end")]
    NothingToEnd(AssociationCode),
    /// The membership is already due to end (an approved withdrawal or transfer); a change
    /// cannot carry it past that end.
    #[error("the membership of {0} already ends")]
    AlreadyEnding(AssociationCode),
    /// A membership would end on or before the day it starts.
    #[error("a membership of {0} would end before it starts")]
    EndsBeforeStart(AssociationCode),
}

/// Checks every instant: nesting and one membership per level hold on every day. Memberships
/// change only on their start and end days, so checking those days checks all of them.
pub fn check_timeline(ms: &[Membership]) -> Result<(), TimelineError> {
    for m in ms {
        if m.left_on.is_some_and(|l| l <= m.joined_on) {
            return Err(TimelineError::EndsBeforeStart(m.association.clone()));
        }
    }
    let mut days: Vec<NaiveDate> = ms
        .iter()
        .flat_map(|m| std::iter::once(m.joined_on).chain(m.left_on))
        .collect();
    days.sort();
    days.dedup();
    for d in days {
        check_nesting(ms, d).map_err(|_| TimelineError::Nesting(d))?;
    }
    Ok(())
}

/// Applies changes to a copy of the memberships and checks the result at every instant; the
/// caller writes nothing unless this succeeds.
pub fn apply_changes(
    current: &[Membership],
    changes: &[Change],
) -> Result<Vec<Membership>, TimelineError> {
    let mut ms = current.to_vec();
    for c in changes {
        match c {
            Change::Start(m) => ms.push(m.clone()),
            Change::End {
                association,
                joined_on,
                left_on,
            } => {
                let row = ms
                    .iter_mut()
                    .find(|m| {
                        &m.association == association
                            && m.joined_on == *joined_on
                            && m.left_on.is_none_or(|l| l > *left_on)
                    })
                    .ok_or_else(|| TimelineError::NothingToEnd(association.clone()))?;
                row.left_on = Some(*left_on);
            }
        }
    }
    check_timeline(&ms)?;
    Ok(ms)
}

/// The membership of a level that holds on `day` or starts later and is still open then: the
/// one a procedure effective on `day` acts on.
pub fn held_at(ms: &[Membership], level: AssociationLevel, day: NaiveDate) -> Option<&Membership> {
    ms.iter()
        .filter(|m| m.level() == level && m.left_on.is_none_or(|l| l > day))
        .min_by_key(|m| m.joined_on)
}

/// Ends a membership on `on` and starts a new row on the same day: the register's form of a
/// change of association or class, leaving neither a gap nor an overlap.
pub fn replace(
    m: &Membership,
    association: AssociationCode,
    class: ClassCode,
    on: NaiveDate,
) -> [Change; 2] {
    [
        Change::End {
            association: m.association.clone(),
            joined_on: m.joined_on,
            left_on: on,
        },
        Change::Start(Membership {
            association,
            class,
            joined_on: on,
            left_on: None,
        }),
    ]
}

/// What staff recording a death change: every membership still held after the day of death ends
/// the day after it. One that would only start later cannot be ended and is reported.
pub fn death_changes(ms: &[Membership], died_on: NaiveDate) -> Result<Vec<Change>, TimelineError> {
    let end = died_on.succ_opt().unwrap_or(died_on);
    let mut out = Vec::new();
    for m in ms.iter().filter(|m| m.left_on.is_none_or(|l| l > end)) {
        if m.joined_on >= end {
            return Err(TimelineError::EndsBeforeStart(m.association.clone()));
        }
        out.push(Change::End {
            association: m.association.clone(),
            joined_on: m.joined_on,
            left_on: end,
        });
    }
    Ok(out)
}
