//! Membership procedures (入会, 異動, class change, name change, 退会): the vocabulary the store
//! keeps beside each procedure, and the pure state machines that decide what happens to the
//! register (PRODUCT §3, domain-research §1.1 and §4).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Which procedure a row holds; the store keeps it beside the state for queues and locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureKind {
    /// 入会.
    Join,
    /// 異動 to another county (and maybe prefecture).
    Transfer,
    /// A change of class at one or more levels.
    ClassChange,
    /// 改姓 and other name changes, with evidence.
    NameChange,
    /// 退会 from a level and everything above it.
    Withdrawal,
}

impl ProcedureKind {
    /// Every kind, for parsing and forms.
    pub const ALL: [Self; 5] = [
        Self::Join,
        Self::Transfer,
        Self::ClassChange,
        Self::NameChange,
        Self::Withdrawal,
    ];

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Join => "join",
            Self::Transfer => "transfer",
            Self::ClassChange => "class_change",
            Self::NameChange => "name_change",
            Self::Withdrawal => "withdrawal",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::Procedure(format!("kind {s}")))
    }
}

/// Whether a procedure still waits for someone; only open ones appear in queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureStatus {
    /// Someone still has to act.
    Open,
    /// Every level decided; the register was written.
    Completed,
    /// Withdrawn by the doctor (or dropped to nothing); the register was not touched.
    Cancelled,
}

impl ProcedureStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "open" => Ok(Self::Open),
            "completed" => Ok(Self::Completed),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(DomainError::Procedure(format!("status {other}"))),
        }
    }
}

/// What an association has to do next on a procedure; it decides which queue shows the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueAction {
    /// Approve or return with a reason.
    Approve,
    /// Take note of a member leaving by transfer (lapses by itself after N days).
    Acknowledge,
    /// Route a 「わからない」 join to one of the prefecture's counties.
    Route,
}

impl DueAction {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Acknowledge => "acknowledge",
            Self::Route => "route",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "approve" => Ok(Self::Approve),
            "acknowledge" => Ok(Self::Acknowledge),
            "route" => Ok(Self::Route),
            other => Err(DomainError::Procedure(format!("due action {other}"))),
        }
    }
}

/// When an association lets its memberships start or end after the final approval; the
/// procedure takes the latest date any involved association requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectiveRule {
    /// The first day of the month after the final approval (the default).
    #[default]
    FirstOfNextMonth,
    /// The day after the final approval.
    NextDay,
    /// The next 1 April (associations that only change membership with the fiscal year).
    FirstOfNextFiscalYear,
}

impl EffectiveRule {
    /// Every rule, for parsing and forms.
    pub const ALL: [Self; 3] = [
        Self::FirstOfNextMonth,
        Self::NextDay,
        Self::FirstOfNextFiscalYear,
    ];

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstOfNextMonth => "first_of_next_month",
            Self::NextDay => "next_day",
            Self::FirstOfNextFiscalYear => "first_of_next_fiscal_year",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| DomainError::Procedure(format!("effective rule {s}")))
    }

    /// The earliest date this rule allows after a final approval on `approved` (Japan date).
    pub fn earliest(self, approved: NaiveDate) -> NaiveDate {
        let first_of = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(approved);
        match self {
            Self::NextDay => approved.succ_opt().unwrap_or(approved),
            Self::FirstOfNextMonth => {
                if approved.month() == 12 {
                    first_of(approved.year() + 1, 1)
                } else {
                    first_of(approved.year(), approved.month() + 1)
                }
            }
            Self::FirstOfNextFiscalYear => {
                if approved.month() >= 4 {
                    first_of(approved.year() + 1, 4)
                } else {
                    first_of(approved.year(), 4)
                }
            }
        }
    }
}

mod machine;
mod timeline;

pub use machine::*;
pub use timeline::*;

#[cfg(test)]
mod tests;
