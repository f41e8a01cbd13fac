//! Rows and operations of the certified-doctor programmes (産業医, 健康スポーツ医, かかりつけ医):
//! their ledger, the programme parts of training items, designated lectures, applications and
//! certificates.

use chrono::NaiveDate;
use mamis_domain::programmes::{CertifiedProgramme, ProgrammeEntry};
use mamis_domain::{AssociationCode, Timestamp};
use std::future::Future;
use uuid::Uuid;

use crate::StoreResult;

/// What a training item credits in a programme besides (or instead of) its CME codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemProgramme {
    /// The session the item belongs to.
    pub session: Uuid,
    /// The item.
    pub item: Uuid,
    /// The programme credited.
    pub programme: CertifiedProgramme,
    /// The category of the programme.
    pub category: String,
    /// The item is an individual web session (産業医 renewal cap).
    pub web_session: bool,
    /// The designated lecture it is (かかりつけ医), if any.
    pub lecture: Option<String>,
}

/// A programme entry with whether a reversal cancels it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeOriginEntry {
    /// The entry.
    pub entry: ProgrammeEntry,
    /// A reversal names it.
    pub reversed: bool,
}

/// A designated lecture of the かかりつけ医 応用研修.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesignatedLecture {
    /// The key entries name.
    pub key: String,
    /// The title.
    pub title: String,
    /// Its group (Mie's ①–⑥), if any.
    pub group: Option<u8>,
    /// No longer designated (kept for the entries that name it).
    pub retired: bool,
    /// When staff last changed it.
    pub updated_at: Timestamp,
}

/// New certificate or renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationKind {
    /// A first certificate (or a new one after expiry).
    New,
    /// A renewal of a certificate not yet expired.
    Renewal,
}

impl ApplicationKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Renewal => "renewal",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "new" => Some(Self::New),
            "renewal" => Some(Self::Renewal),
            _ => None,
        }
    }
}

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationStatus {
    /// Waiting for the acting association.
    Open,
    /// Approved at the last step; a certificate was issued.
    Approved,
    /// Returned with a reason; the doctor may apply again.
    Returned,
}

impl ApplicationStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Approved => "approved",
            Self::Returned => "returned",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "approved" => Some(Self::Approved),
            "returned" => Some(Self::Returned),
            _ => None,
        }
    }
}

/// How the fee was settled (no payment is processed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fee {
    /// Paid outside MAMIS.
    Paid,
    /// Waived.
    Waived,
}

impl Fee {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Waived => "waived",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "paid" => Some(Self::Paid),
            "waived" => Some(Self::Waived),
            _ => None,
        }
    }
}

/// An application for a programme certificate, moving along its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    /// Identity.
    pub id: Uuid,
    /// The applicant.
    pub doctor: Uuid,
    /// The programme.
    pub programme: CertifiedProgramme,
    /// New or renewal.
    pub kind: ApplicationKind,
    /// Where it stands.
    pub status: ApplicationStatus,
    /// The associations it passes, in order.
    pub route: Vec<AssociationCode>,
    /// Index in `route` of the association acting now.
    pub step: u32,
    /// The certificate a renewal renews.
    pub renews: Option<Uuid>,
    /// What the doctor attached or wrote (研修手帳 sent by post, activity report …).
    pub evidence: Option<String>,
    /// The declared practical activity (健康スポーツ医 renewal).
    pub declared_activity: bool,
    /// A president's approval of the practical part (かかりつけ医機能報告制度).
    pub practical_approved: bool,
    /// The fee, once settled.
    pub fee: Option<Fee>,
    /// Why it was returned.
    pub return_reason: Option<String>,
    /// The certificate issued on approval.
    pub certificate: Option<Uuid>,
    /// When it was filed.
    pub created_at: Timestamp,
    /// When it last moved.
    pub updated_at: Timestamp,
}

impl ApplicationRecord {
    /// The association acting now, while open.
    pub fn acting(&self) -> Option<&AssociationCode> {
        (self.status == ApplicationStatus::Open)
            .then(|| self.route.get(self.step as usize))
            .flatten()
    }
}

/// A programme certificate: numbered per programme, valid from–until.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeCertificate {
    /// Identity.
    pub id: Uuid,
    /// Its number (`SAN-2026-000001`).
    pub number: String,
    /// The holder.
    pub doctor: Uuid,
    /// The programme.
    pub programme: CertifiedProgramme,
    /// First day of validity.
    pub valid_from: NaiveDate,
    /// Last day of validity.
    pub valid_until: NaiveDate,
    /// The day it was issued.
    pub issued_on: NaiveDate,
    /// The application approved, if issued by MAMIS.
    pub application: Option<Uuid>,
    /// The code `/verify` asks for.
    pub verification_code: String,
    /// When it was written.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// A roster line: a certificate with its holder's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterLine {
    /// The certificate.
    pub certificate: ProgrammeCertificate,
    /// The holder's 医籍登録番号.
    pub iseki: String,
    /// The holder's name.
    pub name: String,
}

/// The programmes' ledger, training parts, lectures, applications and certificates.
pub trait ProgrammeStore {
    /// Appends entries. A second entry with the same (programme, origin key, generation), or a
    /// second reversal of one entry, is a `Conflict` and nothing of the call is kept.
    fn insert_programme_entries(
        &mut self,
        entries: &[ProgrammeEntry],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A doctor's entries of every programme, by (programme, date, created_at, id).
    fn programme_entries_of(
        &mut self,
        doctor: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<ProgrammeEntry>>> + Send;
    /// Every generation of the entries with these origin keys, with whether each is reversed.
    fn programme_entries_by_origin(
        &mut self,
        programme: CertifiedProgramme,
        keys: &[String],
    ) -> impl Future<Output = StoreResult<Vec<ProgrammeOriginEntry>>> + Send;
    /// Replaces a session's programme parts.
    fn replace_item_programmes(
        &mut self,
        session: Uuid,
        parts: &[ItemProgramme],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A session's programme parts, by (item, programme).
    fn item_programmes(
        &mut self,
        session: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<ItemProgramme>>> + Send;
    /// Adds or replaces a designated lecture.
    fn put_designated_lecture(
        &mut self,
        l: &DesignatedLecture,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Every designated lecture, by key.
    fn designated_lectures(
        &mut self,
    ) -> impl Future<Output = StoreResult<Vec<DesignatedLecture>>> + Send;
    /// Files an application; a second open one of a doctor and programme is a `Conflict`
    /// (`programme_applications_open_key`).
    fn insert_application(
        &mut self,
        a: &ApplicationRecord,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Writes an application's new state if it was last changed at `seen` (optimistic: two
    /// reviewers cannot both move it); false when it moved meanwhile or does not exist.
    fn update_application(
        &mut self,
        a: &ApplicationRecord,
        seen: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// One application.
    fn application(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<ApplicationRecord>>> + Send;
    /// A doctor's applications, newest first.
    fn applications_of(
        &mut self,
        doctor: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<ApplicationRecord>>> + Send;
    /// Open applications whose acting association is `scope` or below it, oldest first.
    fn applications_acting_in(
        &mut self,
        scope: &AssociationCode,
    ) -> impl Future<Output = StoreResult<Vec<ApplicationRecord>>> + Send;
    /// Records an evidence file of an application (its `procedure_id` names the application:
    /// the row has the shape of a membership procedure's evidence and shares its directory).
    fn insert_application_file(
        &mut self,
        e: &crate::Evidence,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// An application's evidence files, oldest first (`procedure_id` names the application).
    fn application_files(
        &mut self,
        application: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<crate::Evidence>>> + Send;
    /// Records a certificate; a duplicate number or period start is a `Conflict`.
    fn insert_programme_certificate(
        &mut self,
        c: &ProgrammeCertificate,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A doctor's certificates, by (programme, valid_from).
    fn programme_certificates_of(
        &mut self,
        doctor: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<ProgrammeCertificate>>> + Send;
    /// The certificate with this number.
    fn programme_certificate_by_number(
        &mut self,
        number: &str,
    ) -> impl Future<Output = StoreResult<Option<ProgrammeCertificate>>> + Send;
    /// Certificates not revoked whose last day is in [from, to], by (valid_until, id).
    fn programme_certificates_expiring(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Future<Output = StoreResult<Vec<ProgrammeCertificate>>> + Send;
    /// Certificates of a programme held by doctors with an open membership at `scope` or below
    /// it, or whose home prefecture is `scope`, by (valid_until, number).
    fn programme_roster(
        &mut self,
        programme: CertifiedProgramme,
        scope: &AssociationCode,
    ) -> impl Future<Output = StoreResult<Vec<RosterLine>>> + Send;
}
