//! 生涯教育の記録 — the CME ledger's vocabulary: append-only credit entries per programme.
//! Corrections are reversing entries, never edits; the rules engine ([`crate::rules`]) reads them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

use crate::{DomainError, FiscalYear, HalfUnits, Timestamp};

/// A credit programme. The ledger is per programme so that 認定産業医 and the others can share
/// it later with their own rules files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Programme {
    /// 日本医師会生涯教育制度.
    JmaCme,
}

impl Programme {
    /// The stored and API form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JmaCme => "jma_cme",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "jma_cme" => Ok(Self::JmaCme),
            other => Err(DomainError::UnknownProgramme(other.to_owned())),
        }
    }
}

impl fmt::Display for Programme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a credit reached the ledger (the learning method's channel), shown to the doctor and used
/// for the members-only flag and the optional caps of the rules file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Attendance at a training session (研修会), captured by MAMIS.
    Training,
    /// 日医e-ラーニング.
    ELearning,
    /// 日本医師会雑誌 quiz (問題解答).
    JournalQuiz,
    /// An approved line of the annual declaration (申告).
    Declaration,
    /// A correction typed in by association or JMA staff.
    StaffAdjustment,
    /// Imported history from the system before MAMIS.
    PriorSystem,
}

impl Source {
    /// Every source, in display order.
    pub const ALL: [Source; 6] = [
        Self::Training,
        Self::ELearning,
        Self::JournalQuiz,
        Self::Declaration,
        Self::StaffAdjustment,
        Self::PriorSystem,
    ];

    /// The stored, API and rules-file form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Training => "training",
            Self::ELearning => "e_learning",
            Self::JournalQuiz => "journal_quiz",
            Self::Declaration => "declaration",
            Self::StaffAdjustment => "staff_adjustment",
            Self::PriorSystem => "prior_system",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| DomainError::UnknownSource(s.to_owned()))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The net credit of one doctor in one (fiscal year, channel, code): the decision run reads
/// these sums, not every line, because the rules count nothing finer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditSum {
    /// The doctor credited.
    pub doctor: Uuid,
    /// The fiscal year the credits count in.
    pub fiscal_year: FiscalYear,
    /// The channel, for the per-channel yearly caps.
    pub source: Source,
    /// The curriculum-code number.
    pub code: u16,
    /// The signed sum of the lines' half-units (reversals included).
    pub half_units: HalfUnits,
}

/// A page of doctors' net credits for a range of fiscal years.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerSums {
    /// Sums in the years asked for, in (doctor, fiscal year, source, code) order.
    pub sums: Vec<CreditSum>,
    /// Every doctor of the page with at least one line in any year: a decision is recorded
    /// for them even when their lines all fall outside the range.
    pub with_entries: Vec<Uuid>,
}

impl LedgerSums {
    /// Takes one row of a store's grouped read, rows in doctor order: a doctor is listed once,
    /// and a row without a key (the doctor's lines outside the years asked) adds no sum.
    pub fn add(&mut self, doctor: Uuid, key: Option<(FiscalYear, Source, u16)>, half: i64) {
        if self.with_entries.last() != Some(&doctor) {
            self.with_entries.push(doctor);
        }
        if let Some((fiscal_year, source, code)) = key {
            self.sums.push(CreditSum {
                doctor,
                fiscal_year,
                source,
                code,
                half_units: HalfUnits::new(half),
            });
        }
    }
}

/// One ledger line. Never updated or deleted: a correction is a new entry whose `reverses` names
/// the entry it cancels, with the same fiscal year and code and negated half-units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Identity of the line (reversals point at it).
    pub id: Uuid,
    /// The doctor credited.
    pub doctor: Uuid,
    /// The programme whose rules count the line.
    pub programme: Programme,
    /// The fiscal year the credit counts in (a reversal copies its target's).
    pub fiscal_year: FiscalYear,
    /// The day the learning happened (Japan date).
    pub date: NaiveDate,
    /// The channel that captured the credit.
    pub source: Source,
    /// The catalogue version the code belongs to.
    pub catalogue_version: String,
    /// The curriculum-code number.
    pub code: u16,
    /// Signed: positive credits, negative reversals.
    pub half_units: HalfUnits,
    /// What the credit is for, whichever channel captured it (a training credit's key is its
    /// programme item, code part and doctor), so one learning is credited once.
    pub origin_key: String,
    /// 0 for the first credit of an origin key; re-crediting after a reversal takes the next.
    pub generation: i32,
    /// The entry this one cancels, if it is a reversal.
    pub reverses: Option<Uuid>,
    /// The rules file version in force when the entry was written.
    pub rules_version: String,
    /// Who or what wrote it (`account:…`, `api_token:…`, `job:…`, `import:…`).
    pub created_by: String,
    /// When it was written.
    pub created_at: Timestamp,
    /// A title or reason shown with the line (session title, adjustment reason).
    pub note: Option<String>,
}

impl LedgerEntry {
    /// Whether this entry cancels another.
    pub fn is_reversal(&self) -> bool {
        self.reverses.is_some()
    }

    /// The reversal of this entry: same programme, fiscal year, code and origin, negated units.
    /// It takes its own origin key (`reverse:<id>`), so the UNIQUE(programme, origin key,
    /// generation) rule stays simple and UNIQUE(reverses) keeps it single.
    pub fn reversal(
        &self,
        id: Uuid,
        date: NaiveDate,
        created_by: String,
        created_at: Timestamp,
        note: Option<String>,
    ) -> LedgerEntry {
        LedgerEntry {
            id,
            doctor: self.doctor,
            programme: self.programme,
            fiscal_year: self.fiscal_year,
            date,
            source: self.source,
            catalogue_version: self.catalogue_version.clone(),
            code: self.code,
            half_units: -self.half_units,
            origin_key: format!("reverse:{}", self.id),
            generation: 0,
            reverses: Some(self.id),
            rules_version: self.rules_version.clone(),
            created_by,
            created_at,
            note,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_round_trip() {
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Ok(s));
        }
        assert!(Source::parse("lecture").is_err());
        assert_eq!(Programme::parse("jma_cme"), Ok(Programme::JmaCme));
        assert!(Programme::parse("sangyoui").is_err());
    }
}
