//! Progress per programme: what a doctor holds, until when, and what is missing by category.

use chrono::{Months, NaiveDate};
use mamis_domain::programmes::{Assessment, CertifiedProgramme, Facts, Requirement, assess};
use mamis_domain::time::japan_date;
use mamis_domain::{Principal, Programme};
use mamis_store::programmes::{
    ApplicationKind, ApplicationRecord, ApplicationStatus, ProgrammeCertificate,
};
use mamis_store::{Doctor, RegistryStore, Store, Tx};

use super::{Affiliation, ProgrammeResult, lectures};
use crate::{App, AppError};

/// Where a doctor's certificate of a programme stands today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No certificate.
    None,
    /// Valid until the day, with no reminder due yet.
    Valid(NaiveDate),
    /// Valid until the day, which is within the first reminder's months: renew now.
    RenewalDue(NaiveDate),
    /// Expired on the day: only a new application is possible.
    Expired(NaiveDate),
}

/// One programme's picture for a doctor.
#[derive(Debug, Clone)]
pub struct ProgrammeProgress {
    /// The programme.
    pub programme: CertifiedProgramme,
    /// The latest certificate not revoked.
    pub certificate: Option<ProgrammeCertificate>,
    /// Where it stands.
    pub standing: Standing,
    /// What the next application would be.
    pub target: ApplicationKind,
    /// The requirement of that application, judged now.
    pub assessment: Assessment,
    /// The latest application.
    pub application: Option<ApplicationRecord>,
    /// The doctor has anything in this programme (units, certificate or application).
    pub active: bool,
}

impl ProgrammeProgress {
    /// Whether an application can be filed now (met, none open).
    pub fn can_apply(&self) -> bool {
        self.assessment.met && !self.open()
    }

    /// Whether an application is open.
    pub fn open(&self) -> bool {
        self.application
            .as_ref()
            .is_some_and(|a| a.status == ApplicationStatus::Open)
    }
}

/// Everything the engine needs of one doctor, read in one transaction.
pub(crate) struct DoctorData {
    pub affiliation: Affiliation,
    pub entries: Vec<mamis_domain::programmes::ProgrammeEntry>,
    pub cme: Vec<mamis_domain::LedgerEntry>,
    pub cme_until: Vec<(NaiveDate, NaiveDate)>,
    pub certificates: Vec<ProgrammeCertificate>,
    pub applications: Vec<ApplicationRecord>,
    pub lectures: Vec<mamis_domain::programmes::Lecture>,
}

pub(crate) async fn doctor_data<T: Tx>(
    tx: &mut T,
    doctor: &Doctor,
    today: NaiveDate,
) -> Result<DoctorData, AppError> {
    let memberships = tx.memberships_of(doctor.id).await?;
    let affiliation = Affiliation::of(&memberships, doctor.home_prefecture.as_ref(), today);
    let entries = tx.programme_entries_of(doctor.id).await?;
    let cme = tx.ledger_of(doctor.id, Programme::JmaCme).await?;
    let cme_until = tx
        .certificates_of(doctor.id, Programme::JmaCme)
        .await?
        .into_iter()
        .filter(|c| c.revocation.is_none())
        .filter_map(|c| c.valid_until.map(|u| (c.issued_on, u)))
        .collect();
    let certificates = tx.programme_certificates_of(doctor.id).await?;
    let applications = tx.applications_of(doctor.id).await?;
    let lectures = lectures(tx).await?;
    Ok(DoctorData {
        affiliation,
        entries,
        cme,
        cme_until,
        certificates,
        applications,
        lectures,
    })
}

/// The picture of one programme from a doctor's data. `declared`/`approved` stand for what an
/// application declares or a reviewer confirms; without an application they come from the open
/// one, if any.
pub(crate) fn picture(
    data: &DoctorData,
    programme: CertifiedProgramme,
    today: NaiveDate,
    declared: Option<bool>,
    approved: Option<bool>,
) -> ProgrammeProgress {
    let rules = programme.rules();
    let certificate = data
        .certificates
        .iter()
        .filter(|c| c.programme == programme && c.revoked_at.is_none())
        .max_by_key(|c| c.valid_from)
        .cloned();
    let first_reminder = rules.reminder_months.iter().copied().max().unwrap_or(0);
    let standing = match &certificate {
        None => Standing::None,
        Some(c) if c.valid_until < today => Standing::Expired(c.valid_until),
        Some(c)
            if today
                .checked_add_months(Months::new(first_reminder))
                .is_some_and(|d| d >= c.valid_until) =>
        {
            Standing::RenewalDue(c.valid_until)
        }
        Some(c) => Standing::Valid(c.valid_until),
    };
    let renewing =
        matches!(standing, Standing::Valid(_) | Standing::RenewalDue(_)) && rules.renewal.is_some();
    let (target, req, end): (ApplicationKind, &Requirement, NaiveDate) =
        match (&certificate, &rules.renewal) {
            (Some(c), Some(r)) if renewing => (ApplicationKind::Renewal, r, c.valid_until),
            _ => (ApplicationKind::New, &rules.new, today),
        };
    let application = data
        .applications
        .iter()
        .filter(|a| a.programme == programme)
        .max_by_key(|a| a.created_at)
        .cloned();
    let open = application
        .as_ref()
        .filter(|a| a.status == ApplicationStatus::Open);
    let entries: Vec<_> = data
        .entries
        .iter()
        .filter(|e| e.programme == programme)
        .cloned()
        .collect();
    let cme_until = data
        .cme_until
        .iter()
        .filter(|(issued, until)| *issued <= end && end <= *until)
        .map(|(_, u)| *u)
        .max();
    let facts = Facts {
        window_end: Some(end),
        cme_certificate_until: cme_until,
        cme_entries: &data.cme,
        declared_activity: declared.unwrap_or(open.is_some_and(|a| a.declared_activity)),
        practical_approved: approved.unwrap_or(open.is_some_and(|a| a.practical_approved)),
        prefecture: data.affiliation.prefecture.as_ref().map(|c| c.as_str()),
        lectures: &data.lectures,
    };
    let assessment = assess(req, &entries, &facts);
    let active = !entries.is_empty() || certificate.is_some() || application.is_some();
    ProgrammeProgress {
        programme,
        certificate,
        standing,
        target,
        assessment,
        application,
        active,
    }
}

/// The signed-in doctor's programmes, every programme in display order.
pub async fn mine<S: Store>(
    app: &App<S>,
    who: &Principal,
) -> ProgrammeResult<Vec<ProgrammeProgress>> {
    let Principal::Doctor {
        doctor_id: Some(doctor),
        ..
    } = who
    else {
        return Err(AppError::Forbidden.into());
    };
    let today = japan_date(app.now());
    let mut tx = app.store.read().await?;
    let d = tx.doctor(*doctor).await?.ok_or(AppError::NotFound)?;
    let data = doctor_data(&mut tx, &d, today).await?;
    tx.rollback().await?;
    Ok(CertifiedProgramme::ALL
        .into_iter()
        .map(|p| picture(&data, p, today, None, None))
        .collect())
}
