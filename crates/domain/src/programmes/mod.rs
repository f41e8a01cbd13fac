//! 認定医・研修制度 — the certified-doctor programmes that share the ledger discipline with CME
//! (日医認定産業医, 日医認定健康スポーツ医, the かかりつけ医 trainings): their rules files, their
//! unit categories, and the pure engine that says what a doctor holds and what is missing.

mod engine;
#[cfg(test)]
mod tests;

pub use engine::{Assessment, Facts, Lecture, Line, LineKey, LineMeasure, assess, renewal_window};

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use uuid::Uuid;

use crate::{DomainError, HalfUnits, Source, Timestamp};

/// A certified-doctor programme: each has its own rules file beside `jma_cme.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertifiedProgramme {
    /// 日本医師会認定産業医.
    Sangyoui,
    /// 日本医師会認定健康スポーツ医.
    SportsDoctor,
    /// 日医かかりつけ医機能研修制度.
    Kakaritsuke,
    /// かかりつけ医機能報告制度にかかる研修.
    KakaritsukeReport,
}

impl CertifiedProgramme {
    /// Every programme, in display order.
    pub const ALL: [Self; 4] = [
        Self::Sangyoui,
        Self::SportsDoctor,
        Self::Kakaritsuke,
        Self::KakaritsukeReport,
    ];

    /// The stored, URL and rules-file form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sangyoui => "sangyoui",
            Self::SportsDoctor => "sports_doctor",
            Self::Kakaritsuke => "kakaritsuke",
            Self::KakaritsukeReport => "kakaritsuke_report",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| DomainError::UnknownProgramme(s.to_owned()))
    }

    /// The rules file shipped in the binary.
    pub fn rules(self) -> &'static ProgrammeRules {
        static CELLS: [OnceLock<ProgrammeRules>; 4] = [
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
        ];
        let (i, text) = match self {
            Self::Sangyoui => (0, include_str!("../../rules/sangyoui.toml")),
            Self::SportsDoctor => (1, include_str!("../../rules/sports_doctor.toml")),
            Self::Kakaritsuke => (2, include_str!("../../rules/kakaritsuke.toml")),
            Self::KakaritsukeReport => (3, include_str!("../../rules/kakaritsuke_report.toml")),
        };
        CELLS[i].get_or_init(|| {
            // The files are part of the binary and parsed by a test; failing here is a build defect.
            #[allow(clippy::expect_used)]
            ProgrammeRules::from_toml(text).expect("embedded programme rules file is valid")
        })
    }
}

impl fmt::Display for CertifiedProgramme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One programme credit. Append-only like the CME ledger: a correction is a reversing entry.
/// Unlike a CME entry it carries a category instead of a curriculum code, so one unit sits in
/// exactly one category of one programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeEntry {
    /// Identity of the line (reversals point at it).
    pub id: Uuid,
    /// The doctor credited.
    pub doctor: Uuid,
    /// The programme whose rules count the line.
    pub programme: CertifiedProgramme,
    /// The unit category of the programme (a key of its rules file).
    pub category: String,
    /// The day the learning happened (Japan date).
    pub date: NaiveDate,
    /// Signed: positive credits, negative reversals.
    pub half_units: HalfUnits,
    /// Earned in an individual web session (産業医: at most 5 renewal units, 更新/専門 only).
    pub web_session: bool,
    /// The designated lecture attended (かかりつけ医 応用研修), if any.
    pub lecture: Option<String>,
    /// The channel that captured the credit (`prior_system` for the paper 研修手帳).
    pub source: Source,
    /// What the credit is for, so one learning is credited once per programme.
    pub origin_key: String,
    /// 0 for the first credit of an origin key; re-crediting after a reversal takes the next.
    pub generation: i32,
    /// The entry this one cancels, if it is a reversal.
    pub reverses: Option<Uuid>,
    /// The rules file version in force when the entry was written.
    pub rules_version: String,
    /// Who or what wrote it (`account:…`, `job:…`, `import:…`).
    pub created_by: String,
    /// When it was written.
    pub created_at: Timestamp,
    /// Session title, or the 研修手帳 page and stamp for paper units.
    pub note: Option<String>,
}

impl ProgrammeEntry {
    /// Whether this entry cancels another.
    pub fn is_reversal(&self) -> bool {
        self.reverses.is_some()
    }

    /// The reversal of this entry: same programme, category and day, negated units.
    pub fn reversal(&self, id: Uuid, created_by: String, created_at: Timestamp) -> Self {
        Self {
            id,
            half_units: -self.half_units,
            origin_key: format!("reverse:{}", self.id),
            generation: 0,
            reverses: Some(self.id),
            created_by,
            created_at,
            ..self.clone()
        }
    }
}

/// A unit category of a programme, with its names for pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// The stored key.
    pub key: String,
    /// Japanese name.
    pub ja: String,
    /// English name.
    pub en: String,
}

/// An association tier an application passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 郡市区医師会.
    County,
    /// 都道府県医師会.
    Prefecture,
    /// 日本医師会.
    Jma,
}

impl Tier {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::County => "county",
            Self::Prefecture => "prefecture",
            Self::Jma => "jma",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "county" => Ok(Self::County),
            "prefecture" => Ok(Self::Prefecture),
            "jma" => Ok(Self::Jma),
            other => Err(DomainError::Rules(format!("unknown tier {other}"))),
        }
    }
}

/// What a new certificate or a renewal asks for: one of the rule kinds a rules file declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Requirement {
    /// Units per category and in total, over all time (new 産業医).
    CategoryThresholds {
        /// Units needed over the counted categories.
        total: u32,
        /// The categories counted towards the total.
        categories: Vec<String>,
        /// Units needed per category.
        minimum: BTreeMap<String, u32>,
    },
    /// Units within the years ending on the expiry date (産業医 and 健康スポーツ医 renewal).
    DatedWindow {
        /// Years of the window ending on the expiry date.
        window_years: u32,
        /// Units needed over the counted categories.
        total: u32,
        /// The categories counted towards the total.
        categories: Vec<String>,
        /// Units needed per category.
        minimum: BTreeMap<String, u32>,
        /// At most this many units from individual web sessions.
        #[serde(default)]
        web_session_cap: Option<u32>,
        /// The only categories web-session units may count in (empty: any counted category).
        #[serde(default)]
        web_session_categories: Vec<String>,
        /// The applicant must declare a practical activity (健康スポーツ医).
        #[serde(default)]
        requires_declaration: bool,
    },
    /// Completed courses: units per course category (new 健康スポーツ医).
    CourseCompletion {
        /// Course category → units that complete it.
        courses: BTreeMap<String, u32>,
    },
    /// A valid CME certificate, designated lectures and practical activities (かかりつけ医).
    PrerequisiteUnits {
        /// A 日医生涯教育認定証 within its period is required.
        cme_certificate: bool,
        /// Years of the window ending on the evaluation (or expiry) date.
        window_years: u32,
        /// The category lectures are credited in.
        lecture_category: String,
        /// Units of designated lectures needed.
        lecture_units: u32,
        /// The same lecture counts at most this often.
        lecture_repeat_cap: u32,
        /// The category practical activities are credited in.
        practical_category: String,
        /// Activities needed.
        practical_activities: u32,
        /// Units an activity must be worth to count.
        practical_units_each: u32,
        /// Prefecture code → lecture groups of which each must be attended.
        #[serde(default)]
        prefecture_groups: BTreeMap<String, Vec<u8>>,
    },
    /// CME units only (no codes) plus a practical part approved by an association's president.
    CmeUnitsApproval {
        /// CME units needed.
        cme_units: u32,
        /// Years of the window ending on the evaluation date.
        window_years: u32,
    },
}

impl Requirement {
    /// The categories the requirement names, to check them against the file's list.
    fn named_categories(&self) -> Vec<&str> {
        match self {
            Self::CategoryThresholds {
                categories,
                minimum,
                ..
            }
            | Self::DatedWindow {
                categories,
                minimum,
                ..
            } => categories
                .iter()
                .map(String::as_str)
                .chain(minimum.keys().map(String::as_str))
                .collect(),
            Self::CourseCompletion { courses } => courses.keys().map(String::as_str).collect(),
            Self::PrerequisiteUnits {
                lecture_category,
                practical_category,
                ..
            } => vec![lecture_category.as_str(), practical_category.as_str()],
            Self::CmeUnitsApproval { .. } => Vec::new(),
        }
    }
}

/// A programme's rules, as read from its rules file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeRules {
    /// The programme the file governs.
    pub programme: CertifiedProgramme,
    /// Recorded on every entry, so a later rule change can be traced.
    pub version: String,
    /// One half-unit per full step of this many minutes (30: 1 h = 1 unit, 30 min = 0.5).
    pub unit_minutes: u32,
    /// Years a certificate is valid.
    pub validity_years: u32,
    /// The JMA issues paper; MAMIS's PDF is then only a record of certification.
    pub paper_certificate: bool,
    /// Prefix of the programme's certificate numbers.
    pub number_prefix: String,
    /// Fee in yen, recorded as paid or waived (none when the sources name none).
    #[serde(default)]
    pub fee_yen: Option<u32>,
    /// Months before expiry when a reminder is mailed.
    pub reminder_months: Vec<u32>,
    /// Tiers a member's application passes, in order.
    pub route_members: Vec<Tier>,
    /// Tiers a non-member's application passes, in order.
    pub route_non_members: Vec<Tier>,
    /// The unit categories.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// What a new certificate needs.
    pub new: Requirement,
    /// What a renewal needs; none means a new certificate is earned again.
    #[serde(default)]
    pub renewal: Option<Requirement>,
}

impl ProgrammeRules {
    /// Reads and checks a rules file.
    pub fn from_toml(text: &str) -> Result<Self, DomainError> {
        let r: Self = toml::from_str(text).map_err(|e| DomainError::Rules(e.to_string()))?;
        let bad = |m: String| Err(DomainError::Rules(m));
        if r.version.trim().is_empty() {
            return bad("version is empty".into());
        }
        if r.unit_minutes == 0 || r.validity_years == 0 {
            return bad("unit_minutes and validity_years must be above zero".into());
        }
        if r.route_members.is_empty() || r.route_non_members.is_empty() {
            return bad("a route needs at least one tier".into());
        }
        for (i, c) in r.categories.iter().enumerate() {
            if r.categories[..i].iter().any(|d| d.key == c.key) {
                return bad(format!("category {} is listed twice", c.key));
            }
        }
        for req in std::iter::once(&r.new).chain(r.renewal.as_ref()) {
            for name in req.named_categories() {
                if r.category(name).is_none() {
                    return bad(format!("category {name} is not declared"));
                }
            }
            if let Requirement::CategoryThresholds {
                categories,
                minimum,
                ..
            }
            | Requirement::DatedWindow {
                categories,
                minimum,
                ..
            } = req
                && let Some(k) = minimum.keys().find(|k| !categories.contains(k))
            {
                return bad(format!("minimum names {k}, which the total does not count"));
            }
            if let Requirement::DatedWindow { window_years, .. }
            | Requirement::PrerequisiteUnits { window_years, .. }
            | Requirement::CmeUnitsApproval { window_years, .. } = req
                && *window_years == 0
            {
                return bad("window_years must be above zero".into());
            }
        }
        Ok(r)
    }

    /// A category by key.
    pub fn category(&self, key: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.key == key)
    }

    /// Units for `minutes` of training: one half-unit per full step, rounded down.
    pub fn half_units_for_minutes(&self, minutes: u32) -> HalfUnits {
        HalfUnits::new(i64::from(minutes / self.unit_minutes))
    }

    /// The last day of a certificate valid from `from`: the day before the anniversary.
    pub fn valid_until(&self, from: NaiveDate) -> NaiveDate {
        from.checked_add_months(Months::new(12 * self.validity_years))
            .and_then(|d| d.pred_opt())
            .unwrap_or(NaiveDate::MAX)
    }

    /// The route an application follows.
    pub fn route(&self, member: bool) -> &[Tier] {
        if member {
            &self.route_members
        } else {
            &self.route_non_members
        }
    }
}
