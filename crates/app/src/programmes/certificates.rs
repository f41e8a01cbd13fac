//! Programme certificates: numbered per programme, valid from–until; renewals start the day
//! after the old expiry; `/verify` answers for them; reminders are mailed before expiry, once
//! each whatever the number of servers; rosters per association with CSV export.

use chrono::{Datelike, Months, NaiveDate, TimeZone, Utc};
use mamis_domain::authz::{Action, Target};
use mamis_domain::programmes::{CertifiedProgramme, Facts, assess};
use mamis_domain::time::{japan, japan_date};
use mamis_domain::{AssociationCode, Principal, Timestamp};
use mamis_store::programmes::*;
use mamis_store::{JobStore, NewJob, ProgrammeStore, RegistryStore, Store, StoreError, Tx};
use serde_json::json;
use uuid::Uuid;

use super::progress::DoctorData;
use super::{ProgrammeError, ProgrammeResult};
use crate::audit::Entry;
use crate::authz::require;
use crate::cme::certificates::new_verification_code;
use crate::jobs::{BoxFuture, JobHandler};
use crate::mail::{self, Outgoing};
use crate::{App, AppError};

/// The number printed on a programme certificate: prefix, calendar year, six-digit sequence.
pub fn format_number(prefix: &str, year: i32, n: i64) -> String {
    format!("{prefix}-{year}-{n:06}")
}

/// Issues the certificate of an approved application inside the approval's transaction, under
/// the programme's number-series lock (gap-free across servers). A renewal is valid from the
/// day after the renewed certificate's expiry, whatever the approval date.
pub(crate) async fn issue<T: Tx>(
    tx: &mut T,
    a: &ApplicationRecord,
    held: &[ProgrammeCertificate],
    today: NaiveDate,
    now: Timestamp,
) -> Result<ProgrammeCertificate, AppError> {
    let rules = a.programme.rules();
    let valid_from = match (a.kind, a.renews) {
        (ApplicationKind::Renewal, Some(old)) => held
            .iter()
            .find(|c| c.id == old)
            .and_then(|c| c.valid_until.succ_opt())
            .ok_or(AppError::NotFound)?,
        _ => today,
    };
    let series = format!("programme:{}", rules.number_prefix);
    let year = today.year();
    let n = tx.lock_number_series(&series, year).await?;
    tx.set_next_number(&series, year, n + 1).await?;
    let c = ProgrammeCertificate {
        id: Uuid::new_v4(),
        number: format_number(&rules.number_prefix, year, n),
        doctor: a.doctor,
        programme: a.programme,
        valid_from,
        valid_until: rules.valid_until(valid_from),
        issued_on: today,
        application: Some(a.id),
        verification_code: new_verification_code(),
        created_at: now,
        revoked_at: None,
    };
    tx.insert_programme_certificate(&c).await?;
    Ok(c)
}

/// Whether a renewal application is met against the certificate it renews (used when the
/// certificate expired while the application was under review).
pub(crate) fn renewal_met(data: &DoctorData, a: &ApplicationRecord, _today: NaiveDate) -> bool {
    let rules = a.programme.rules();
    let (Some(req), Some(old)) = (
        rules.renewal.as_ref(),
        data.certificates.iter().find(|c| Some(c.id) == a.renews),
    ) else {
        return false;
    };
    let end = old.valid_until;
    let entries: Vec<_> = data
        .entries
        .iter()
        .filter(|e| e.programme == a.programme)
        .cloned()
        .collect();
    let facts = Facts {
        window_end: Some(end),
        cme_certificate_until: data
            .cme_until
            .iter()
            .filter(|(i, u)| *i <= end && end <= *u)
            .map(|(_, u)| *u)
            .max(),
        cme_entries: &data.cme,
        declared_activity: a.declared_activity,
        practical_approved: a.practical_approved,
        prefecture: data.affiliation.prefecture.as_ref().map(|c| c.as_str()),
        lectures: &data.lectures,
    };
    assess(req, &entries, &facts).met
}

/// What `/verify` shows of a programme certificate: its programme, period and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The holder.
    pub doctor: Uuid,
    /// The programme.
    pub programme: CertifiedProgramme,
    /// Issue date.
    pub issued_on: NaiveDate,
    /// Valid from.
    pub valid_from: NaiveDate,
    /// Valid until.
    pub valid_until: NaiveDate,
    /// Revoked at.
    pub revoked_at: Option<Timestamp>,
}

/// Looks a programme certificate up by number and code for `/verify`; `None` for an unknown
/// number or a wrong code alike.
pub async fn lookup<T: Tx>(
    tx: &mut T,
    number: &str,
    code_ok: impl Fn(&str) -> bool,
) -> Result<Option<Found>, StoreError> {
    let Some(c) = tx.programme_certificate_by_number(number).await? else {
        return Ok(None);
    };
    if !code_ok(&c.verification_code) {
        return Ok(None);
    }
    Ok(Some(Found {
        doctor: c.doctor,
        programme: c.programme,
        issued_on: c.issued_on,
        valid_from: c.valid_from,
        valid_until: c.valid_until,
        revoked_at: c.revoked_at,
    }))
}

/// The signed-in doctor's certificate by number (for the record PDF and My Page).
pub async fn my_certificate<S: Store>(
    app: &App<S>,
    who: &Principal,
    number: &str,
) -> ProgrammeResult<(ProgrammeCertificate, mamis_store::Doctor)> {
    let Principal::Doctor {
        doctor_id: Some(doctor),
        ..
    } = who
    else {
        return Err(AppError::Forbidden.into());
    };
    let mut tx = app.store.read().await?;
    let c = tx
        .programme_certificate_by_number(number)
        .await?
        .filter(|c| c.doctor == *doctor)
        .ok_or(AppError::NotFound)?;
    let d = tx.doctor(*doctor).await?.ok_or(AppError::NotFound)?;
    tx.rollback().await?;
    Ok((c, d))
}

/// Job kind of the daily reminder scan.
pub const SCAN_KIND: &str = "programmes.reminders";
/// Job kind of one reminder mail.
pub const REMIND_KIND: &str = "programmes.remind";

fn japan_midnight(d: NaiveDate) -> Timestamp {
    japan()
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

async fn enqueue_scan<T: JobStore + Send>(
    tx: &mut T,
    day: NaiveDate,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.enqueue_job(
        &NewJob {
            id: Uuid::now_v7(),
            kind: SCAN_KIND.into(),
            payload: json!({ "day": day.to_string() }),
            idempotency_key: Some(format!("{SCAN_KIND}:{day}")),
            run_at: japan_midnight(day).max(now),
            max_attempts: crate::jobs::DEFAULT_MAX_ATTEMPTS,
        },
        now,
    )
    .await
    .map(|_| ())
}

/// Queues today's reminder scan; every server calls it at start, the idempotency key keeps one.
pub async fn schedule<S: Store>(app: &App<S>) -> Result<(), AppError> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    enqueue_scan(&mut tx, japan_date(now), now).await?;
    tx.commit().await?;
    Ok(())
}

/// The reminders due on `today`: for each configured month count m (largest first), the
/// certificates whose last day falls after the next smaller count's horizon and no later than
/// `today` + m months. Each (certificate, m) becomes one job with its own idempotency key, so a
/// reminder is mailed once however many scans and servers see it.
pub async fn scan<S: Store>(app: &App<S>, today: NaiveDate) -> Result<u64, AppError> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let horizon = |m: u32| today.checked_add_months(Months::new(m)).unwrap_or(today);
    let mut queued = 0;
    for programme in CertifiedProgramme::ALL {
        let mut months = programme.rules().reminder_months.clone();
        months.sort_unstable();
        months.dedup();
        for (i, m) in months.iter().enumerate() {
            let from = match i {
                0 => today,
                _ => horizon(months[i - 1]).succ_opt().unwrap_or(today),
            };
            for c in tx
                .programme_certificates_expiring(from, horizon(*m))
                .await?
            {
                if c.programme != programme {
                    continue;
                }
                let q = tx
                    .enqueue_job(
                        &NewJob {
                            id: Uuid::now_v7(),
                            kind: REMIND_KIND.into(),
                            payload: json!({ "certificate": c.id, "number": c.number, "months": m }),
                            idempotency_key: Some(format!("{REMIND_KIND}:{}:{m}", c.id)),
                            run_at: now,
                            max_attempts: crate::jobs::DEFAULT_MAX_ATTEMPTS,
                        },
                        now,
                    )
                    .await?;
                if matches!(q, mamis_store::Enqueued::Created(_)) {
                    queued += 1;
                }
            }
        }
    }
    if let Some(tomorrow) = today.succ_opt() {
        enqueue_scan(&mut tx, tomorrow, now).await?;
    }
    tx.commit().await?;
    Ok(queued)
}

fn programme_name_ja(p: CertifiedProgramme) -> &'static str {
    match p {
        CertifiedProgramme::Sangyoui => "日本医師会認定産業医",
        CertifiedProgramme::SportsDoctor => "日本医師会認定健康スポーツ医",
        CertifiedProgramme::Kakaritsuke => "日医かかりつけ医機能研修制度 修了証",
        CertifiedProgramme::KakaritsukeReport => "かかりつけ医機能報告制度にかかる研修 修了証",
    }
}

/// Writes one reminder mail, unless the certificate was renewed (a later one exists) or
/// revoked, or the doctor has no contact address.
pub async fn remind<S: Store>(app: &App<S>, number: &str, months: u32) -> Result<bool, AppError> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let Some(c) = tx.programme_certificate_by_number(number).await? else {
        return Ok(false);
    };
    let renewed = tx
        .programme_certificates_of(c.doctor)
        .await?
        .iter()
        .any(|o| {
            o.programme == c.programme && o.valid_from > c.valid_until && o.revoked_at.is_none()
        });
    let d = tx.doctor(c.doctor).await?.ok_or(AppError::NotFound)?;
    let Some(to) = d
        .contact_email
        .clone()
        .filter(|_| !renewed && c.revoked_at.is_none())
    else {
        tx.rollback().await?;
        return Ok(false);
    };
    let name = programme_name_ja(c.programme);
    let link = app
        .config
        .base_url
        .join("mypage/programmes")
        .map(|u| u.to_string())
        .unwrap_or_default();
    mail::queue(
        &mut tx,
        now,
        Outgoing {
            to,
            subject: format!("【MAMIS】{name}の有効期限が近づいています({months}か月前)"),
            body_text: format!(
                "{family} {given} 様\n\n{name}(番号 {number})の有効期限は {until} です。\n\
                 更新の申請は MAMIS のマイページから行えます: {link}\n\n\
                 Your {en} (No. {number}) expires on {until}. Renew it from My Page: {link}\n",
                family = d.family_name,
                given = d.given_name,
                until = c.valid_until,
                en = c.programme.as_str(),
            ),
        },
    )
    .await?;
    let job = Principal::Job {
        kind: REMIND_KIND.into(),
    };
    crate::audit::record(
        &mut tx,
        &app.config.audit_key,
        now,
        Entry::new(
            &job,
            "programmes.remind",
            format!("programme_certificate:{}", c.id),
        )
        .details(json!({ "months": months })),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Runs the daily scan.
pub struct ScanJob;

impl<S: Store> JobHandler<S> for ScanJob {
    fn kind(&self) -> &'static str {
        SCAN_KIND
    }

    fn run<'a>(
        &'a self,
        app: &'a App<S>,
        job: &'a mamis_store::Job,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let day = job
                .payload
                .get("day")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<NaiveDate>().ok())
                .ok_or("payload without a day")?;
            // a scan that ran late judges the day it runs
            let today = japan_date(app.now()).max(day);
            scan(app, today).await.map_err(|e| e.to_string())?;
            Ok(())
        })
    }
}

/// Mails one reminder.
pub struct RemindJob;

impl<S: Store> JobHandler<S> for RemindJob {
    fn kind(&self) -> &'static str {
        REMIND_KIND
    }

    fn run<'a>(
        &'a self,
        app: &'a App<S>,
        job: &'a mamis_store::Job,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let number = job
                .payload
                .get("number")
                .and_then(|v| v.as_str())
                .ok_or("payload without a number")?;
            let months = job
                .payload
                .get("months")
                .and_then(|v| v.as_u64())
                .and_then(|m| u32::try_from(m).ok())
                .ok_or("payload without months")?;
            remind(app, number, months)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    }
}

/// An association's roster of a programme (a personal-data view, audited).
pub async fn roster<S: Store>(
    app: &App<S>,
    who: &Principal,
    programme: CertifiedProgramme,
    scope: &AssociationCode,
    client_addr: Option<String>,
) -> ProgrammeResult<Vec<RosterLine>> {
    require(who, Action::DecideProgrammes, &Target::Association(scope)).map_err(|e| match e {
        AppError::Forbidden => ProgrammeError::App(AppError::NotFound),
        e => ProgrammeError::App(e),
    })?;
    let mut tx = app.store.write().await?;
    let lines = tx.programme_roster(programme, scope).await?;
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "programmes.roster_view",
            format!("association:{}", scope.as_str()),
        )
        .from(client_addr)
        .details(json!({ "programme": programme.as_str(), "lines": lines.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok(lines)
}

/// The roster as CSV (UTF-8 with BOM, for spreadsheets): number, 医籍登録番号, name, valid
/// from, valid until, state on `today`.
pub fn roster_csv(lines: &[RosterLine], today: NaiveDate) -> String {
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let _ = w.write_record([
        "number",
        "iseki",
        "name",
        "valid_from",
        "valid_until",
        "state",
    ]);
    for l in lines {
        let c = &l.certificate;
        let state = if c.valid_until < today {
            "expired"
        } else {
            "valid"
        };
        let _ = w.write_record([
            c.number.as_str(),
            l.iseki.as_str(),
            l.name.as_str(),
            &c.valid_from.to_string(),
            &c.valid_until.to_string(),
            state,
        ]);
    }
    w.into_inner()
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

/// The title printed on a programme's document: the record of certification where the JMA
/// issues paper, the certificate (修了証) otherwise.
pub fn document_title(p: CertifiedProgramme) -> String {
    let name = programme_name_ja(p);
    if p.rules().paper_certificate {
        format!("{name} 認定の記録")
    } else {
        name.to_owned()
    }
}

/// The signed-in doctor's programme document as PDF: `(file name, bytes)`.
pub async fn record_pdf<S: Store>(
    app: &App<S>,
    who: &Principal,
    number: &str,
) -> ProgrammeResult<(String, Vec<u8>)> {
    let (c, d) = my_certificate(app, who, number).await?;
    if c.revoked_at.is_some() {
        return Err(AppError::NotFound.into());
    }
    let name = match c.programme {
        CertifiedProgramme::Sangyoui => "日本医師会認定産業医",
        CertifiedProgramme::SportsDoctor => "日本医師会認定健康スポーツ医",
        CertifiedProgramme::Kakaritsuke => "日医かかりつけ医機能研修制度",
        CertifiedProgramme::KakaritsukeReport => "かかりつけ医機能報告制度にかかる研修",
    };
    let pdf = mamis_pdf::render(&mamis_pdf::Certificate {
        number: c.number.clone(),
        issued_on: c.issued_on,
        issuer: crate::cme::documents::ISSUER.into(),
        verify_url: crate::cme::documents::verify_url(
            &app.config.base_url,
            &c.number,
            &c.verification_code,
        ),
        holder: mamis_pdf::Holder {
            name: format!("{} {}", d.family_name, d.given_name),
            kana: format!("{} {}", d.family_kana, d.given_kana),
            iseki: d.iseki.to_string(),
        },
        document: mamis_pdf::Document::ProgrammeRecord {
            title: document_title(c.programme),
            programme: name.into(),
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            record_only: c.programme.rules().paper_certificate,
        },
    })
    .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok((format!("{}.pdf", c.number), pdf))
}
