//! Applications for a programme certificate or its renewal, along the programme's route:
//! filed by the doctor when the rules are met (or when staff will add 研修手帳 units), approved
//! step by step or returned with a reason; the last approval issues the certificate.

use mamis_domain::Timestamp;
use mamis_domain::authz::{Action, Target};
use mamis_domain::programmes::CertifiedProgramme;
use mamis_domain::time::japan_date;
use mamis_domain::{AssociationCode, Principal};
use mamis_store::programmes::*;
use mamis_store::{Doctor, ProgrammeStore, RegistryStore, Store, Tx};
use serde_json::json;
use uuid::Uuid;

use super::credit::{PaperUnits, check_paper, paper_entry};
use super::progress::{ProgrammeProgress, doctor_data, picture};
use super::{ProgrammeError, ProgrammeResult, certificates};
use crate::audit::Entry;
use crate::authz::require;
use crate::membership::{EvidenceStore, NewEvidence};
use crate::{App, AppError};

/// What a doctor files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyInput {
    /// Evidence in words (研修手帳 posted to the prefecture, activity report …).
    pub evidence: Option<String>,
    /// The practical activity is declared (健康スポーツ医 renewal).
    pub declared_activity: bool,
    /// Units from the paper 研修手帳 will be added by the reviewing staff.
    pub paper_units_pending: bool,
    /// Files attached: scans or photos of the 研修手帳 pages, an activity report.
    pub files: Vec<NewEvidence>,
}

const EVIDENCE_MAX: usize = 2_000;

/// The most files one application carries (each up to the membership evidence limit).
pub const MAX_FILES: usize = 5;

/// Files an application of the signed-in doctor (audited).
pub async fn apply<S: Store>(
    app: &App<S>,
    who: &Principal,
    programme: CertifiedProgramme,
    input: ApplyInput,
    client_addr: Option<String>,
) -> ProgrammeResult<ApplicationRecord> {
    let Principal::Doctor {
        account_id: account,
        doctor_id: Some(doctor),
    } = who
    else {
        return Err(AppError::Forbidden.into());
    };
    let account = *account;
    let evidence = input
        .evidence
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty());
    if evidence
        .as_ref()
        .is_some_and(|e| e.chars().count() > EVIDENCE_MAX)
    {
        return Err(ProgrammeError::EvidenceTooLong);
    }
    if input.files.len() > MAX_FILES || input.files.iter().any(|f| f.check().is_err()) {
        return Err(ProgrammeError::EvidenceFile);
    }
    let now = app.now();
    let today = japan_date(now);
    let mut tx = app.store.write().await?;
    let d = tx.doctor(*doctor).await?.ok_or(AppError::NotFound)?;
    let data = doctor_data(&mut tx, &d, today).await?;
    let p = picture(&data, programme, today, Some(input.declared_activity), None);
    if p.open() {
        return Err(ProgrammeError::AlreadyOpen);
    }
    // The reporting-scheme training's practical part is approved by the reviewing president:
    // the doctor may file once the rest is met.
    let met_but_approval = p
        .assessment
        .lines
        .iter()
        .all(|l| l.met() || l.key == mamis_domain::programmes::LineKey::PresidentApproval);
    let has_evidence = evidence.is_some() || !input.files.is_empty();
    if !(p.assessment.met || met_but_approval || input.paper_units_pending && has_evidence) {
        return Err(ProgrammeError::NotMet);
    }
    let route = data
        .affiliation
        .route(programme)
        .ok_or(ProgrammeError::NoRoute)?;
    let a = ApplicationRecord {
        id: Uuid::new_v4(),
        doctor: *doctor,
        programme,
        kind: p.target,
        status: ApplicationStatus::Open,
        route,
        step: 0,
        renews: match p.target {
            ApplicationKind::Renewal => p.certificate.as_ref().map(|c| c.id),
            ApplicationKind::New => None,
        },
        evidence,
        declared_activity: input.declared_activity,
        practical_approved: false,
        fee: None,
        return_reason: None,
        certificate: None,
        created_at: now,
        updated_at: now,
    };
    match tx.insert_application(&a).await {
        Err(mamis_store::StoreError::Conflict { constraint })
            if constraint == "programme_applications_open_key" =>
        {
            return Err(ProgrammeError::AlreadyOpen);
        }
        other => other?,
    }
    let files = EvidenceStore::new(&app.config.membership.evidence_dir);
    let mut written = Vec::new();
    let saved = async {
        for f in input.files {
            let rec = files
                .save(a.id, account, now, f)
                .await
                .map_err(|e| match e {
                    AppError::Conflict(_) => ProgrammeError::EvidenceFile,
                    e => e.into(),
                })?;
            written.push(rec.storage_key.clone());
            tx.insert_application_file(&rec).await?;
        }
        app.audit(
            &mut tx,
            Entry::new(
                who,
                "programmes.apply",
                format!("programme_application:{}", a.id),
            )
            .from(client_addr)
            .details(json!({
                "programme": programme.as_str(),
                "kind": a.kind.as_str(),
                "files": written.len(),
            })),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, ProgrammeError>(())
    }
    .await;
    if let Err(e) = saved {
        // nothing half-written: the rows went with the transaction, the files go here
        files.remove(&written).await;
        return Err(e);
    }
    Ok(a)
}

/// An application's evidence files (names, types, sizes) for its doctor or the association
/// acting on it now.
pub async fn files<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
) -> ProgrammeResult<Vec<mamis_store::Evidence>> {
    let mut tx = app.store.read().await?;
    let a = tx.application(id).await?.ok_or(AppError::NotFound)?;
    may_see(who, &a)?;
    let v = tx.application_files(id).await?;
    tx.rollback().await?;
    Ok(v)
}

/// One evidence file's bytes for the application's doctor or the acting association's staff;
/// a staff view is an audit record naming the viewer.
pub async fn file<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
    file: Uuid,
    client_addr: Option<String>,
) -> ProgrammeResult<(mamis_store::Evidence, Vec<u8>)> {
    let mut tx = app.store.write().await?;
    let a = tx.application(id).await?.ok_or(AppError::NotFound)?;
    may_see(who, &a)?;
    let e = tx
        .application_files(id)
        .await?
        .into_iter()
        .find(|e| e.id == file)
        .ok_or(AppError::NotFound)?;
    let bytes = EvidenceStore::new(&app.config.membership.evidence_dir)
        .read(&e)
        .await?;
    if !matches!(who, Principal::Doctor { .. }) {
        app.audit(
            &mut tx,
            Entry::new(
                who,
                "programmes.evidence_view",
                format!("programme_application:{id}"),
            )
            .from(client_addr)
            .details(json!({ "doctor": a.doctor, "file": file, "sha256": e.sha256 })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok((e, bytes))
}

/// The application's own doctor, or staff of the association acting on it now; anyone else
/// gets `NotFound`.
fn may_see(who: &Principal, a: &ApplicationRecord) -> Result<(), AppError> {
    match who {
        Principal::Doctor {
            doctor_id: Some(d), ..
        } if *d == a.doctor => Ok(()),
        Principal::Doctor { .. } => Err(AppError::NotFound),
        _ => acting_check(who, a).map(|_| ()),
    }
}

/// A reviewer's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Approve this step; at the last step the certificate is issued.
    Approve {
        /// The fee, paid or waived (required at the last step when the programme has a fee).
        fee: Option<Fee>,
        /// The president approved the practical part (かかりつけ医機能報告制度).
        practical_approved: bool,
    },
    /// Return to the doctor with a reason.
    Return {
        /// Why.
        reason: String,
    },
}

/// What a reviewer sees: the application, its doctor and the programme's picture.
#[derive(Debug, Clone)]
pub struct Review {
    /// The application.
    pub application: ApplicationRecord,
    /// The applicant.
    pub doctor: Doctor,
    /// The programme judged with the application's declarations.
    pub progress: ProgrammeProgress,
    /// The entries of the programme, for the reviewer's list.
    pub entries: Vec<mamis_domain::programmes::ProgrammeEntry>,
    /// The evidence files attached, oldest first.
    pub files: Vec<mamis_store::Evidence>,
}

/// The application if `who` may act on it now (its acting association in their scope), else
/// `NotFound`, so other associations' applications cannot be probed.
fn acting_check(who: &Principal, a: &ApplicationRecord) -> Result<AssociationCode, AppError> {
    let acting = a.route.get(a.step as usize).ok_or(AppError::NotFound)?;
    match require(who, Action::DecideProgrammes, &Target::Association(acting)) {
        Ok(()) => Ok(acting.clone()),
        Err(AppError::Forbidden) => Err(AppError::NotFound),
        Err(e) => Err(e),
    }
}

/// One application for its reviewer (a personal-data view, audited).
pub async fn review<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
    client_addr: Option<String>,
) -> ProgrammeResult<Review> {
    let today = japan_date(app.now());
    let mut tx = app.store.write().await?;
    let a = tx.application(id).await?.ok_or(AppError::NotFound)?;
    acting_check(who, &a)?;
    let d = tx.doctor(a.doctor).await?.ok_or(AppError::NotFound)?;
    let data = doctor_data(&mut tx, &d, today).await?;
    let progress = picture(
        &data,
        a.programme,
        today,
        Some(a.declared_activity),
        Some(a.practical_approved),
    );
    let entries = data
        .entries
        .iter()
        .filter(|e| e.programme == a.programme)
        .cloned()
        .collect();
    let files = tx.application_files(id).await?;
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "programmes.review_view",
            format!("programme_application:{id}"),
        )
        .from(client_addr),
    )
    .await?;
    tx.commit().await?;
    Ok(Review {
        application: a,
        doctor: d,
        progress,
        entries,
        files,
    })
}

/// Open applications acting in the staff member's association subtree, oldest first.
pub async fn queue<S: Store>(
    app: &App<S>,
    who: &Principal,
    scope: &AssociationCode,
) -> ProgrammeResult<Vec<(ApplicationRecord, Doctor)>> {
    require(who, Action::DecideProgrammes, &Target::Association(scope)).map_err(|e| match e {
        AppError::Forbidden => AppError::NotFound,
        e => e,
    })?;
    let mut tx = app.store.read().await?;
    let apps = tx.applications_acting_in(scope).await?;
    let mut out = Vec::with_capacity(apps.len());
    for a in apps {
        if let Some(d) = tx.doctor(a.doctor).await? {
            out.push((a, d));
        }
    }
    tx.rollback().await?;
    Ok(out)
}

/// Approves or returns an application acting at the reviewer's association (audited). `seen`
/// is the application's last change as the reviewer saw it: a second reviewer's stale decision
/// is refused.
pub async fn decide<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
    seen: Timestamp,
    decision: Decision,
    client_addr: Option<String>,
) -> ProgrammeResult<ApplicationRecord> {
    let now = app.now();
    let today = japan_date(now);
    let mut tx = app.store.write().await?;
    let before = tx.application(id).await?.ok_or(AppError::NotFound)?;
    if before.status != ApplicationStatus::Open {
        acting_check(who, &before)?;
        return Err(ProgrammeError::NotOpen);
    }
    let acting = acting_check(who, &before)?;
    if before.updated_at != seen {
        return Err(ProgrammeError::Stale);
    }
    let mut a = before.clone();
    // every write moves the stamp, so a stale decision is refused even within one microsecond
    a.updated_at = now.max(before.updated_at + chrono::Duration::microseconds(1));
    let what;
    match decision {
        Decision::Return { reason } => {
            let reason = reason.trim().to_owned();
            if reason.is_empty() || reason.chars().count() > 500 {
                return Err(ProgrammeError::ReasonRequired);
            }
            a.status = ApplicationStatus::Returned;
            a.return_reason = Some(reason);
            what = "returned";
        }
        Decision::Approve {
            fee,
            practical_approved,
        } => {
            a.practical_approved = a.practical_approved || practical_approved;
            if fee.is_some() {
                a.fee = fee;
            }
            let last = a.step as usize + 1 >= a.route.len();
            if last {
                let rules = a.programme.rules();
                if rules.fee_yen.is_some() && a.fee.is_none() {
                    return Err(ProgrammeError::FeeRequired);
                }
                let d = tx.doctor(a.doctor).await?.ok_or(AppError::NotFound)?;
                let data = doctor_data(&mut tx, &d, today).await?;
                let p = picture(
                    &data,
                    a.programme,
                    today,
                    Some(a.declared_activity),
                    Some(a.practical_approved),
                );
                // A renewal keeps being judged against the certificate it renews, even when
                // approved after that certificate's expiry.
                let met = match (a.kind, p.target) {
                    (ApplicationKind::Renewal, ApplicationKind::New) => {
                        certificates::renewal_met(&data, &a, today)
                    }
                    _ => p.assessment.met,
                };
                if !met {
                    return Err(ProgrammeError::NotMet);
                }
                let c = certificates::issue(&mut tx, &a, &data.certificates, today, now).await?;
                a.status = ApplicationStatus::Approved;
                a.certificate = Some(c.id);
                what = "approved";
            } else {
                a.step += 1;
                what = "forwarded";
            }
        }
    }
    if !tx.update_application(&a, seen).await? {
        return Err(ProgrammeError::Stale);
    }
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "programmes.decide",
            format!("programme_application:{id}"),
        )
        .from(client_addr)
        .details(json!({ "at": acting.as_str(), "outcome": what })),
    )
    .await?;
    tx.commit().await?;
    Ok(a)
}

/// Adds units from the paper 研修手帳 to an open application's doctor (audited): the reviewer
/// notes the page and the stamp.
pub async fn add_paper_units<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
    units: PaperUnits,
    client_addr: Option<String>,
) -> ProgrammeResult<()> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let a = tx.application(id).await?.ok_or(AppError::NotFound)?;
    acting_check(who, &a)?;
    if a.status != ApplicationStatus::Open {
        return Err(ProgrammeError::NotOpen);
    }
    check_paper(a.programme, &units)?;
    let e = paper_entry(a.doctor, a.programme, a.id, &units, who.audit_name(), now);
    tx.insert_programme_entries(std::slice::from_ref(&e))
        .await?;
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "programmes.paper_units",
            format!("programme_application:{id}"),
        )
        .from(client_addr)
        .details(
            json!({ "entry": e.id, "category": e.category, "half_units": e.half_units.get() }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
