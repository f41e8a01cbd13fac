//! 認定医・研修制度 — the certified-doctor programmes (日医認定産業医, 日医認定健康スポーツ医, the
//! かかりつけ医 trainings) on the same ledger discipline as CME: credits from training sessions and
//! the paper 研修手帳, progress, applications along configured routes, certificates with expiry,
//! renewal reminders and rosters.

pub mod applications;
pub mod certificates;
pub mod credit;
pub(crate) mod demo;
pub mod history;
pub mod progress;

use chrono::NaiveDate;
use mamis_domain::authz::{Action, Target};
use mamis_domain::programmes::{CertifiedProgramme, Lecture, Tier};
use mamis_domain::{AssociationCode, AssociationLevel, Membership, Principal};
use mamis_store::{Organiser, TrainingSession, Tx};
use uuid::Uuid;

use crate::AppError;
use crate::authz::require;

/// Units earned before this day were kept in the paper 研修手帳 (abolished from April 2025).
pub const PAPER_UNTIL: NaiveDate = match NaiveDate::from_ymd_opt(2025, 4, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// Why a programme use case refused; each variant has its own message key.
#[derive(Debug, thiserror::Error)]
pub enum ProgrammeError {
    /// Authorization, storage and the other shared refusals.
    #[error(transparent)]
    App(#[from] AppError),
    /// The category is not one of the programme's.
    #[error("unknown category {0}")]
    UnknownCategory(String),
    /// A lecture key is empty, longer than 32 characters, or not letters, digits and `-`.
    #[error("lecture key must be 1–32 letters, digits or -")]
    LectureKey,
    /// A lecture title is empty or longer than 200 characters.
    #[error("lecture title must be 1–200 characters")]
    LectureTitle,
    /// A lecture group is outside 1–99.
    #[error("lecture group must be 1–99")]
    LectureGroup,
    /// The same item names the same programme twice.
    #[error("an item names a programme twice")]
    DuplicatePart,
    /// The session is closed: its parts are fixed.
    #[error("the session is closed")]
    SessionClosed,
    /// Paper units must be a positive multiple of 0.5, at most 100.
    #[error("paper units out of range")]
    PaperUnits,
    /// Paper units are for days before April 2025.
    #[error("paper units are for days before 1 April 2025")]
    PaperDate,
    /// The 研修手帳 page and stamp must be noted (1–100 characters each).
    #[error("note the page and the stamp")]
    PaperPageStamp,
    /// The rules are not met (and no paper units were announced).
    #[error("the requirements are not met yet")]
    NotMet,
    /// An application of this programme is already open.
    #[error("an application is already open")]
    AlreadyOpen,
    /// The doctor has no association on the programme's route (e.g. no county membership and
    /// no home prefecture).
    #[error("no association on the route")]
    NoRoute,
    /// A return needs a reason (1–500 characters).
    #[error("give a reason for returning the application")]
    ReasonRequired,
    /// The application moved since the reviewer opened it.
    #[error("the application changed meanwhile")]
    Stale,
    /// The application is not open any more.
    #[error("the application is not open")]
    NotOpen,
    /// The fee must be recorded as paid or waived before the final approval.
    #[error("record the fee as paid or waived")]
    FeeRequired,
    /// The evidence text is longer than 2,000 characters.
    #[error("evidence text too long")]
    EvidenceTooLong,
    /// An evidence file is not a PDF, JPEG or PNG of at most 10 MB with a name, or more than
    /// [`applications::MAX_FILES`] were attached.
    #[error("evidence files must be PDF, JPEG or PNG, at most 10 MB, five at most")]
    EvidenceFile,
}

impl From<mamis_store::StoreError> for ProgrammeError {
    fn from(e: mamis_store::StoreError) -> Self {
        Self::App(e.into())
    }
}

impl From<mamis_domain::DomainError> for ProgrammeError {
    fn from(e: mamis_domain::DomainError) -> Self {
        Self::App(e.into())
    }
}

/// Result of programme use cases.
pub type ProgrammeResult<T> = Result<T, ProgrammeError>;

/// Loads a session and checks `who` manages it; another organiser's session is `NotFound`.
pub(crate) async fn managed_session<T: Tx>(
    tx: &mut T,
    who: &Principal,
    id: Uuid,
) -> Result<TrainingSession, AppError> {
    let s = tx.training_session(id).await?.ok_or(AppError::NotFound)?;
    let allowed = match &s.organiser {
        Organiser::Association(code) => {
            require(who, Action::ManageTraining, &Target::Association(code))
        }
        Organiser::Organisation(oid) => {
            let o = tx.organisation(*oid).await?.ok_or(AppError::NotFound)?;
            require(
                who,
                Action::ManageTraining,
                &Target::Organisation {
                    id: *oid,
                    prefecture: &o.prefecture,
                },
            )
        }
    };
    match allowed {
        Ok(()) => Ok(s),
        Err(AppError::Forbidden) => Err(AppError::NotFound),
        Err(e) => Err(e),
    }
}

/// The associations of a doctor that matter to the programmes: open memberships on `today`
/// and the home prefecture of a non-member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Affiliation {
    /// The county association of an open membership.
    pub county: Option<AssociationCode>,
    /// The prefecture: of the open membership, else the county's, else the home prefecture.
    pub prefecture: Option<AssociationCode>,
    /// Whether the doctor is a member (an open county membership).
    pub member: bool,
}

impl Affiliation {
    /// Reads it from memberships and the home prefecture.
    pub fn of(
        memberships: &[Membership],
        home: Option<&AssociationCode>,
        today: NaiveDate,
    ) -> Self {
        let open = |m: &&Membership| m.joined_on <= today && m.left_on.is_none_or(|l| today < l);
        let at = |level: AssociationLevel| {
            memberships
                .iter()
                .filter(open)
                .find(|m| m.association.level() == level)
                .map(|m| m.association.clone())
        };
        let county = at(AssociationLevel::County);
        let prefecture = at(AssociationLevel::Prefecture)
            .or_else(|| county.as_ref().and_then(AssociationCode::prefecture_code))
            .or_else(|| home.cloned());
        Self {
            member: county.is_some(),
            county,
            prefecture,
        }
    }

    /// The association codes of the programme's route, or `None` when a tier has no association
    /// for this doctor.
    pub fn route(&self, programme: CertifiedProgramme) -> Option<Vec<AssociationCode>> {
        programme
            .rules()
            .route(self.member)
            .iter()
            .map(|t| match t {
                Tier::County => self.county.clone(),
                Tier::Prefecture => self.prefecture.clone(),
                Tier::Jma => AssociationCode::parse("JMA").ok(),
            })
            .collect()
    }
}

/// The designated lectures in force, for the engine.
pub(crate) async fn lectures<T: Tx>(tx: &mut T) -> Result<Vec<Lecture>, AppError> {
    Ok(tx
        .designated_lectures()
        .await?
        .into_iter()
        .filter(|l| !l.retired)
        .map(|l| Lecture {
            key: l.key,
            group: l.group,
        })
        .collect())
}
