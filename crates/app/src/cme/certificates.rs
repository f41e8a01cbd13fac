//! 日医生涯教育認定証: deciding windows strictly in order (a job on the rules file's decision date,
//! or an operator's run), gap-free numbers per calendar year, the 80-bit verification code, the
//! public verification answer, revocation, and review items when later ledger changes would
//! push an issued window below the threshold (the certificate itself never changes).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;

use chrono::{Months, NaiveDate, TimeZone, Utc};
use mamis_domain::identity::totp::base32;
use mamis_domain::rules::{Rules, Standing, YearTotals, year_totals, year_totals_of_sums};
use mamis_domain::time::{japan, japan_date};
use mamis_domain::{Action, CreditSum, FiscalYear, Principal, Target, Timestamp};
use mamis_store::{
    CertificateRecord, CertificateReview, CertificateRun, CertificateStore, CmeDecision,
    IdentityStore, LedgerStore, NewJob, RegistryStore, Revocation, Store, StoreError, Tx,
};
use rand::RngCore;
use serde_json::json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::PROGRAMME;
use crate::audit::Entry;
use crate::authz::require;
use crate::jobs::{BoxFuture, JobHandler};
use crate::mail::{self, Outgoing};
use crate::{App, AppError};

/// Job kind of a decision run.
pub const DECIDE_KIND: &str = "certificates.decide";
/// Number series of the 認定証: `N2026-000001`.
pub const SERIES: &str = "N";
/// Doctors read per page of a run (one read, one write transaction each).
const PAGE: u32 = 1_000;

/// The printed number: series, calendar year of issue, six-digit sequence.
pub fn format_number(series: &str, year: i32, n: i64) -> String {
    format!("{series}{year}-{n:06}")
}

/// A fresh 80-bit verification code, 16 base32 characters.
pub fn new_verification_code() -> String {
    let mut b = [0u8; 10];
    rand::rng().fill_bytes(&mut b);
    base32(&b)
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Doctors looked at.
    pub doctors: u64,
    /// Certificates issued by this run.
    pub issued: u64,
    /// Whether the run went through every doctor (false when stopped midway).
    pub completed: bool,
    /// The ledger was empty: nothing was decided and the year stays undecided.
    pub empty_ledger: bool,
}

fn conflict(m: impl Into<String>) -> AppError {
    AppError::Conflict(m.into())
}

/// The first instant of a Japan date.
fn japan_midnight(d: NaiveDate) -> Timestamp {
    japan()
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Decides the windows ending in `fiscal_year` (and any earlier achieved window not yet
/// certified), issuing one certificate per achieved window and recording each doctor's decision.
/// Safe to re-run and to run on several servers at once: each window is issued exactly once,
/// numbers stay gap-free. An empty ledger decides nothing (the run is not recorded, so history
/// imported later is decided by it). `progress` gets (doctors done, doctors in all) after each
/// page and may stop the run.
pub async fn decide<S: Store>(
    app: &App<S>,
    who: &Principal,
    fiscal_year: FiscalYear,
    progress: impl FnMut(u64, u64) -> ControlFlow<()>,
) -> Result<RunReport, AppError> {
    decide_paged(app, who, fiscal_year, PAGE, progress).await
}

/// One window due for a certificate: (doctor, from, to, units, codes).
type Due = (Uuid, FiscalYear, FiscalYear, mamis_domain::HalfUnits, u32);

/// What the store holds of one doctor, as a decision reads it.
struct Record<'a> {
    doctor: Uuid,
    /// Totals of (at least) the judged years.
    years: BTreeMap<FiscalYear, YearTotals>,
    /// Whether the doctor has any ledger line, in any year.
    has_entries: bool,
    certs: &'a [CertificateRecord],
    licensed_on: Option<NaiveDate>,
}

/// What the rule decides for one doctor, given what the store holds: the windows now due and
/// the decisions of `years` to record (none for a doctor without entries or certificates).
fn judge(
    rules: &Rules,
    record: Record<'_>,
    today: NaiveDate,
    decided_through: FiscalYear,
    years: &[FiscalYear],
    now: Timestamp,
) -> (Vec<Due>, Vec<CmeDecision>) {
    let Record {
        doctor,
        years: totals,
        has_entries,
        certs,
        licensed_on,
    } = record;
    if !has_entries && certs.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let issued: Vec<(FiscalYear, FiscalYear)> =
        certs.iter().map(|c| (c.from_fy, c.to_fy)).collect();
    let s = Standing::of_totals(
        rules,
        totals,
        &issued,
        licensed_on.map(FiscalYear::of_date),
        today,
        decided_through,
    );
    let due = s
        .achieved_uncertified()
        .filter(|w| w.to <= decided_through)
        .map(|w| (doctor, w.from, w.to, w.half_units, w.codes.len() as u32))
        .collect();
    let span = i32::from(rules.certificate.window_years) - 1;
    let decisions = years
        .iter()
        .filter_map(|n| {
            let d = s.decisions.get(n)?;
            let from = FiscalYear::new(n.year() - span).ok()?;
            let total_half = s
                .years
                .range(from..=*n)
                .map(|(_, y)| y.half_units.get())
                .sum::<i64>()
                + 2 * s
                    .years
                    .range(from..=*n)
                    .flat_map(|(_, y)| y.codes())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len() as i64;
            Some(CmeDecision {
                programme: PROGRAMME,
                doctor,
                fiscal_year: *n,
                from_fy: from,
                outcome: d.as_str().to_owned(),
                total_half,
                decided_at: now,
            })
        })
        .collect();
    (due, decisions)
}

/// [`decide`] with a chosen page size (tests stop a run between pages to stand for a crash).
pub async fn decide_paged<S: Store>(
    app: &App<S>,
    who: &Principal,
    fiscal_year: FiscalYear,
    page_size: u32,
    mut progress: impl FnMut(u64, u64) -> ControlFlow<()>,
) -> Result<RunReport, AppError> {
    require(who, Action::ManageCertificates, &Target::System)?;
    let rules = Rules::embedded(PROGRAMME);
    let now = app.now();
    let today = japan_date(now);
    if fiscal_year >= FiscalYear::of_date(today) {
        return Err(conflict(format!(
            "FY{} has not ended yet; its windows can be decided from {}",
            fiscal_year.year(),
            fiscal_year.next().first_day()
        )));
    }
    if fiscal_year < rules.mamis_start {
        return Err(conflict(format!(
            "windows ending before FY{} were decided by the prior system",
            rules.mamis_start.year()
        )));
    }
    let mut tx = app.store.write().await?;
    let prev = fiscal_year.prev();
    if prev >= rules.mamis_start
        && tx
            .certificate_run(PROGRAMME, prev)
            .await?
            .is_none_or(|r| r.completed_at.is_none())
    {
        return Err(conflict(format!(
            "decide the windows ending in FY{} first: windows are decided strictly in order",
            prev.year()
        )));
    }
    if tx.count_ledger_entries().await? == 0 {
        // Nothing to judge yet: recording the year as decided would leave history imported
        // later undecided.
        tx.rollback().await?;
        return Ok(RunReport {
            empty_ledger: true,
            ..RunReport::default()
        });
    }
    let mut run = match tx.certificate_run(PROGRAMME, fiscal_year).await? {
        Some(r) => r,
        None => CertificateRun {
            programme: PROGRAMME,
            fiscal_year,
            started_at: now,
            completed_at: None,
            issued: 0,
        },
    };
    tx.put_certificate_run(&run).await?;
    let total = tx.count_doctors().await?;
    tx.commit().await?;

    let mut report = RunReport::default();
    let mut after = None;
    loop {
        let mut tx = app.store.read().await?;
        let page = tx.doctors_page(after, page_size.max(1)).await?;
        let ids: Vec<Uuid> = page.iter().map(|d| d.id).collect();
        let sums = tx
            .ledger_sums_of_doctors(PROGRAMME, &ids, rules.judged_years(fiscal_year))
            .await?;
        let certs = tx.certificates_of_doctors(PROGRAMME, &ids).await?;
        let licences: HashMap<Uuid, NaiveDate> =
            tx.licence_dates(&ids).await?.into_iter().collect();
        tx.rollback().await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        report.doctors += page.len() as u64;

        // The sums come in doctor order: one slice per doctor.
        let by_doctor: HashMap<Uuid, &[CreditSum]> = sums
            .sums
            .chunk_by(|a, b| a.doctor == b.doctor)
            .map(|c| (c[0].doctor, c))
            .collect();
        let with_entries: HashSet<Uuid> = sums.with_entries.iter().copied().collect();
        let mut certs_of: HashMap<Uuid, Vec<CertificateRecord>> = HashMap::new();
        for c in certs {
            certs_of.entry(c.doctor).or_default().push(c);
        }
        let mut due = Vec::new();
        let mut decisions = Vec::new();
        for id in &ids {
            let certs = certs_of.remove(id).unwrap_or_default();
            let record = Record {
                doctor: *id,
                years: year_totals_of_sums(rules, by_doctor.get(id).copied().unwrap_or_default()),
                has_entries: with_entries.contains(id),
                certs: &certs,
                licensed_on: licences.get(id).copied(),
            };
            let (d, r) = judge(rules, record, today, fiscal_year, &[fiscal_year], now);
            due.extend(d);
            decisions.extend(r);
        }
        if !due.is_empty() || !decisions.is_empty() {
            report.issued += issue(app, who, &due, &decisions, fiscal_year, now).await?;
        }
        if progress(report.doctors, total).is_break() {
            return Ok(report);
        }
    }

    let mut tx = app.store.write().await?;
    if let Some(r) = tx.certificate_run(PROGRAMME, fiscal_year).await? {
        run = r;
    }
    run.completed_at = Some(now);
    run.issued += report.issued;
    tx.put_certificate_run(&run).await?;
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "certificates.decide",
            format!("fiscal_year:{}", fiscal_year.year()),
        )
        .details(json!({ "doctors": report.doctors, "issued": report.issued })),
    )
    .await?;
    schedule_year(&mut tx, rules, fiscal_year.next(), now).await?;
    tx.commit().await?;
    report.completed = true;
    Ok(report)
}

/// Issues the due windows under the series lock and records the decisions, in one
/// transaction: windows already certified (by a concurrent or earlier run, on any server) are
/// skipped, the rest numbered consecutively in the series of the issue date's year. Every
/// holder is mailed and the audit record names them, whether the regular run or a re-decision
/// after a late change issued the certificate.
async fn issue<S: Store>(
    app: &App<S>,
    who: &Principal,
    due: &[Due],
    decisions: &[CmeDecision],
    fiscal_year: FiscalYear,
    now: Timestamp,
) -> Result<u64, AppError> {
    let rules = Rules::embedded(PROGRAMME);
    let today = japan_date(now);
    let year = chrono::Datelike::year(&today);
    let valid_until = today
        .checked_add_months(Months::new(12 * rules.certificate.validity_years))
        .and_then(|d| d.pred_opt())
        .unwrap_or(today);
    let mut tx = app.store.write().await?;
    let first = tx.lock_number_series(SERIES, year).await?;
    let doctors: Vec<Uuid> = due.iter().map(|d| d.0).collect();
    let existing = if doctors.is_empty() {
        Vec::new()
    } else {
        tx.certificates_of_doctors(PROGRAMME, &doctors).await?
    };
    let mut next = first;
    let mut records = Vec::new();
    for &(doctor, from, to, half_units, codes) in due {
        let taken = existing
            .iter()
            .chain(records.iter())
            .any(|c: &CertificateRecord| c.doctor == doctor && c.from_fy <= to && from <= c.to_fy);
        if taken {
            continue;
        }
        records.push(CertificateRecord {
            id: Uuid::new_v4(),
            number: format_number(SERIES, year, next),
            doctor,
            programme: PROGRAMME,
            from_fy: from,
            to_fy: to,
            issued_on: today,
            origin: "mamis".into(),
            created_at: now,
            verification_code: Some(new_verification_code()),
            valid_until: Some(valid_until),
            counted: Some((half_units, codes)),
            revocation: None,
        });
        next += 1;
    }
    tx.put_cme_decisions(decisions).await?;
    if records.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    tx.insert_certificates(&records).await?;
    tx.set_next_number(SERIES, year, next).await?;
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "certificates.issue",
            format!("fiscal_year:{}", fiscal_year.year()),
        )
        .details(json!({
            "count": records.len(),
            "first": records.first().map(|r| r.number.clone()),
            "last": records.last().map(|r| r.number.clone()),
            "doctors": records.iter().map(|r| r.doctor).collect::<Vec<_>>(),
        })),
    )
    .await?;
    let holders: Vec<Uuid> = records.iter().map(|r| r.doctor).collect();
    let addresses: HashMap<Uuid, String> =
        tx.holder_addresses(&holders).await?.into_iter().collect();
    for r in &records {
        if let Some(to) = addresses.get(&r.doctor) {
            tell_holder(&mut tx, r, to.clone(), now).await?;
        }
    }
    tx.commit().await?;
    Ok(records.len() as u64)
}

/// Mails the holder of a newly issued certificate at `to` (their verified account's MAMIS_ID,
/// else the register's contact address), inside the issuing transaction.
async fn tell_holder<T: Tx>(
    tx: &mut T,
    c: &CertificateRecord,
    to: String,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (from, until) = (c.from_fy.year(), c.to_fy.year());
    mail::queue(
        tx,
        now,
        Outgoing {
            to,
            subject:
                "【MAMIS】日医生涯教育認定証が発行されました / Your JMA CME certificate was issued"
                    .into(),
            body_text: format!(
                "{from}年度〜{until}年度の生涯教育の記録が認定の基準に達したため、\
                 日医生涯教育認定証（証書番号 {number}）を {issued} に発行しました。\
                 マイページからダウンロードできます。\n\n\
                 Your CME record for FY{from}–FY{until} reached the threshold, so JMA CME \
                 certificate {number} was issued on {issued}. You can download it from My Page.\n",
                number = c.number,
                issued = c.issued_on,
            ),
        },
    )
    .await
    .map(|_| ())
}

/// Enqueues the decision run for windows ending in `fiscal_year` on its decision date, once.
async fn schedule_year<T: Tx>(
    tx: &mut T,
    rules: &Rules,
    fiscal_year: FiscalYear,
    now: Timestamp,
) -> Result<(), StoreError> {
    let run_at = japan_midnight(rules.evaluation_date(fiscal_year)).max(now);
    tx.enqueue_job(
        &NewJob {
            id: Uuid::now_v7(),
            kind: DECIDE_KIND.into(),
            payload: json!({ "fiscal_year": fiscal_year.year() }),
            idempotency_key: Some(format!(
                "{DECIDE_KIND}:{}:{}",
                PROGRAMME.as_str(),
                fiscal_year.year()
            )),
            run_at,
            max_attempts: crate::jobs::DEFAULT_MAX_ATTEMPTS,
        },
        now,
    )
    .await
    .map(|_| ())
}

/// At start-up: makes sure every year from the first MAMIS year to the last closed one has its
/// decision run queued (on its decision date; idempotent, so every server may call it).
pub async fn schedule<S: Store>(app: &App<S>) -> Result<(), AppError> {
    let rules = Rules::embedded(PROGRAMME);
    let now = app.now();
    let last_closed = FiscalYear::of_date(japan_date(now)).prev();
    let mut tx = app.store.write().await?;
    let mut fy = rules.mamis_start;
    while fy <= last_closed {
        if tx
            .certificate_run(PROGRAMME, fy)
            .await?
            .is_none_or(|r| r.completed_at.is_none())
        {
            schedule_year(&mut tx, rules, fy, now).await?;
        }
        fy = fy.next();
    }
    tx.commit().await?;
    Ok(())
}

/// Enqueues a decision run for `fiscal_year` now, under a key of its own (`tag`): a retry after
/// an empty ledger, or history arriving for a year whose decision date has passed.
async fn schedule_again<T: mamis_store::JobStore + Send>(
    tx: &mut T,
    fiscal_year: FiscalYear,
    run_at: Timestamp,
    tag: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.enqueue_job(
        &NewJob {
            id: Uuid::now_v7(),
            kind: DECIDE_KIND.into(),
            payload: json!({ "fiscal_year": fiscal_year.year() }),
            idempotency_key: Some(format!(
                "{DECIDE_KIND}:{}:{}:{tag}",
                PROGRAMME.as_str(),
                fiscal_year.year()
            )),
            run_at,
            max_attempts: crate::jobs::DEFAULT_MAX_ATTEMPTS,
        },
        now,
    )
    .await
    .map(|_| ())
}

/// The decision job: runs [`decide`] for its fiscal year (fails, and is retried, while the year
/// before is not decided). On an empty ledger it records nothing and tries again the next day.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecideJob;

impl<S: Store> JobHandler<S> for DecideJob {
    fn kind(&self) -> &'static str {
        DECIDE_KIND
    }

    fn run<'a>(
        &'a self,
        app: &'a App<S>,
        job: &'a mamis_store::Job,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let fy = job
                .payload
                .get("fiscal_year")
                .and_then(|v| v.as_i64())
                .and_then(|y| i32::try_from(y).ok())
                .and_then(|y| FiscalYear::new(y).ok())
                .ok_or("payload without a fiscal year")?;
            let who = Principal::Job {
                kind: DECIDE_KIND.into(),
            };
            let report = decide(app, &who, fy, |_, _| ControlFlow::Continue(()))
                .await
                .map_err(|e| e.to_string())?;
            if report.empty_ledger {
                let now = app.now();
                let tomorrow = japan_date(now).succ_opt().unwrap_or(japan_date(now));
                let mut tx = app.store.write().await.map_err(|e| e.to_string())?;
                schedule_again(
                    &mut tx,
                    fy,
                    japan_midnight(tomorrow),
                    &tomorrow.to_string(),
                    now,
                )
                .await
                .map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }
}

/// Job kind of a re-decision after a late change.
pub const REDECIDE_KIND: &str = "certificates.redecide";

/// Call after writing ledger entries (or anything that changes a doctor's windows) dated in
/// `changes` (doctor, fiscal year), inside the same transaction. For each doctor with a change
/// inside an already decided window, a re-decision job is queued; a change in a window whose
/// decision date has passed but whose run has not yet completed queues that run.
pub async fn late_change<T: CertificateStore + mamis_store::JobStore + Send>(
    tx: &mut T,
    changes: &[(Uuid, FiscalYear)],
    now: Timestamp,
) -> Result<u32, StoreError> {
    if changes.is_empty() {
        return Ok(0);
    }
    let rules = Rules::embedded(PROGRAMME);
    let span = i32::from(rules.certificate.window_years) - 1;
    let decided = tx.decided_years(PROGRAMME).await?;
    let inside = |y: FiscalYear, n: FiscalYear| n.year() - span <= y.year() && y <= n;
    let mut doctors: std::collections::BTreeMap<Uuid, std::collections::BTreeSet<i32>> =
        Default::default();
    for &(doctor, y) in changes {
        if decided.iter().any(|&n| inside(y, n)) {
            doctors.entry(doctor).or_default().insert(y.year());
        }
    }
    // A decision date passed without a completed run (an empty ledger then): run it now.
    let today = japan_date(now);
    let n = decided.last().map_or(rules.mamis_start, |l| l.next());
    if rules.evaluation_date(n) <= today && changes.iter().any(|&(_, y)| y <= n) {
        schedule_again(tx, n, now, &now.timestamp_micros().to_string(), now).await?;
    }
    for (doctor, years) in &doctors {
        tx.enqueue_job(
            &NewJob {
                id: Uuid::now_v7(),
                kind: REDECIDE_KIND.into(),
                payload: json!({ "doctor": doctor, "years": years }),
                idempotency_key: Some(format!(
                    "{REDECIDE_KIND}:{doctor}:{}",
                    now.timestamp_micros()
                )),
                run_at: now,
                max_attempts: crate::jobs::DEFAULT_MAX_ATTEMPTS,
            },
            now,
        )
        .await?;
    }
    Ok(doctors.len() as u32)
}

/// Re-decides, in order, a doctor's decided windows after a late change: each decision sees the
/// certificates issued by the one before; a window that now reaches, none of its years consumed,
/// is certified today (numbered in today's year's series, mailed and audited); a certified
/// window that no longer reaches opens a review item. Returns the certificates issued.
pub async fn redecide<S: Store>(app: &App<S>, doctor: Uuid) -> Result<u64, AppError> {
    let rules = Rules::embedded(PROGRAMME);
    let now = app.now();
    let today = japan_date(now);
    let who = Principal::Job {
        kind: REDECIDE_KIND.into(),
    };
    let mut tx = app.store.read().await?;
    let decided = tx.decided_years(PROGRAMME).await?;
    let entries = tx.ledger_of(doctor, PROGRAMME).await?;
    let certs = tx.certificates_of(doctor, PROGRAMME).await?;
    let licence = tx.licence_dates(&[doctor]).await?.first().map(|l| l.1);
    tx.rollback().await?;
    let Some(&last) = decided.last() else {
        return Ok(0);
    };
    let record = Record {
        doctor,
        years: year_totals(rules, &entries),
        has_entries: !entries.is_empty(),
        certs: &certs,
        licensed_on: licence,
    };
    let (due, decisions) = judge(rules, record, today, last, &decided, now);
    let issued = issue(app, &who, &due, &decisions, last, now).await?;
    let mut tx = app.store.write().await?;
    open_reviews(&mut tx, doctor, now).await?;
    tx.commit().await?;
    Ok(issued)
}

/// The re-decision job queued by [`late_change`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RedecideJob;

impl<S: Store> JobHandler<S> for RedecideJob {
    fn kind(&self) -> &'static str {
        REDECIDE_KIND
    }

    fn run<'a>(
        &'a self,
        app: &'a App<S>,
        job: &'a mamis_store::Job,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let doctor = job
                .payload
                .get("doctor")
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or("payload without a doctor")?;
            redecide(app, doctor)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// Opens a review item for each issued certificate of `doctor` whose window, counted from the
/// ledger as it now stands in `tx`, falls below the threshold, and queues a re-decision of the
/// doctor's decided windows. Call after writing entries that can lower a total (reversals,
/// negative adjustments, withdrawn attendance).
pub async fn review_after_change<T: Tx>(
    tx: &mut T,
    doctor: Uuid,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let years: Vec<(Uuid, FiscalYear)> = tx
        .decided_years(PROGRAMME)
        .await?
        .last()
        .map(|&n| vec![(doctor, n)])
        .unwrap_or_default();
    late_change(tx, &years, now).await?;
    open_reviews(tx, doctor, now).await
}

/// The review part of [`review_after_change`], for callers that queue the re-decision
/// themselves with the exact years changed.
pub(crate) async fn open_reviews<T: Tx>(
    tx: &mut T,
    doctor: Uuid,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let rules = Rules::embedded(PROGRAMME);
    let certs: Vec<CertificateRecord> = tx
        .certificates_of(doctor, PROGRAMME)
        .await?
        .into_iter()
        .filter(|c| c.origin == "mamis" && c.revocation.is_none())
        .collect();
    if certs.is_empty() {
        return Ok(0);
    }
    let years = year_totals(rules, &tx.ledger_of(doctor, PROGRAMME).await?);
    let mut opened = 0;
    for c in certs {
        let mut half = 0i64;
        let mut codes = std::collections::BTreeSet::new();
        for (_, y) in years.range(c.from_fy..=c.to_fy) {
            half += y.half_units.get();
            codes.extend(y.codes());
        }
        let total = half + 2 * codes.len() as i64;
        if total >= 2 * i64::from(rules.certificate.threshold) {
            continue;
        }
        let at_issue = c
            .counted
            .map(|(h, n)| (h.get() + 2 * i64::from(n)) as f64 / 2.0)
            .unwrap_or_default();
        let review = CertificateReview {
            id: Uuid::new_v4(),
            certificate: c.id,
            number: c.number.clone(),
            doctor,
            opened_at: now,
            reason: format!(
                "FY{}–FY{}: units + codes now {} (below {}); {} when issued",
                c.from_fy.year(),
                c.to_fy.year(),
                total as f64 / 2.0,
                rules.certificate.threshold,
                at_issue
            ),
            resolved_at: None,
        };
        if tx.open_certificate_review(&review).await? {
            opened += 1;
        }
    }
    Ok(opened)
}

/// Public reason categories of a revocation.
pub const REVOKE_CATEGORIES: [&str; 4] = ["error", "fraud", "holder_request", "other"];

/// Revokes a certificate or document by number (JMA staff; audited); the holder is told by mail.
pub async fn revoke<S: Store>(
    app: &App<S>,
    who: &Principal,
    number: &str,
    category: &str,
    reason: &str,
    client_addr: Option<String>,
) -> Result<(), AppError> {
    require(who, Action::ManageCertificates, &Target::System)?;
    if !REVOKE_CATEGORIES.contains(&category) {
        return Err(conflict("unknown reason category"));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(conflict("a reason of 1–500 characters is required"));
    }
    let now = app.now();
    let rev = Revocation {
        at: now,
        category: category.to_owned(),
        reason: reason.to_owned(),
        by: who.audit_name(),
    };
    let mut tx = app.store.write().await?;
    let doctor = if let Some(c) = tx.certificate_by_number(number).await? {
        if !tx.revoke_certificate(number, &rev).await? {
            return Err(conflict("this certificate is already revoked"));
        }
        c.doctor
    } else if let Some(d) = tx.document_by_number(number).await? {
        if !tx.revoke_document(number, &rev).await? {
            return Err(conflict("this certificate is already revoked"));
        }
        d.doctor
    } else {
        return Err(AppError::NotFound);
    };
    app.audit(
        &mut tx,
        Entry::new(who, "certificate.revoke", format!("certificate:{number}"))
            .from(client_addr)
            .details(json!({ "doctor": doctor, "category": category, "reason": reason })),
    )
    .await?;
    let to = match tx.verified_account_of(doctor).await? {
        Some(a) => Some(a.email),
        None => tx.doctor(doctor).await?.and_then(|d| d.contact_email),
    };
    if let Some(to) = to {
        mail::queue(
            &mut tx,
            now,
            Outgoing {
                to,
                subject: "【MAMIS】証明書が取り消されました / A certificate was revoked".into(),
                body_text: format!(
                    "証明書番号 {number} は {} に取り消されました。\n理由: {reason}\n\
                     ご不明な点は所属の医師会へお問い合わせください。\n\n\
                     Certificate {number} was revoked on {}.\nReason: {reason}\n\
                     Please contact your medical association with any questions.\n",
                    japan_date(now),
                    japan_date(now)
                ),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What the revocation's confirmation step shows of the number typed, so staff see whose
/// certificate they are about to revoke before anything changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationPreview {
    /// The number as stored.
    pub number: String,
    /// `cme_certificate`, `annual_units` or `attendance`.
    pub kind: String,
    /// The holder's full name (the confirmation is a personal-data view, and audited).
    pub holder: String,
    /// The holder's 医籍登録番号, to tell namesakes apart.
    pub iseki: String,
    /// Issue date.
    pub issued_on: NaiveDate,
    /// The period it covers.
    pub period: Period,
    /// Already revoked (the confirmation says so instead of offering the button).
    pub revoked: bool,
}

/// Looks a number up for the revocation's confirmation step (JMA staff; audited as a view of
/// the holder's data). `NotFound` for an unknown number.
pub async fn revocation_preview<S: Store>(
    app: &App<S>,
    who: &Principal,
    number: &str,
    client_addr: Option<String>,
) -> Result<RevocationPreview, AppError> {
    require(who, Action::ManageCertificates, &Target::System)?;
    let mut tx = app.store.write().await?;
    let (doctor, kind, issued_on, period, revoked) =
        if let Some(c) = tx.certificate_by_number(number).await? {
            (
                c.doctor,
                "cme_certificate".to_owned(),
                c.issued_on,
                Period::Years(c.from_fy, c.to_fy),
                c.revocation.is_some(),
            )
        } else if let Some(d) = tx.document_by_number(number).await? {
            let content: serde_json::Value = serde_json::from_str(&d.content).unwrap_or_default();
            let period = super::documents::period_of(&d.kind, &content)
                .ok_or_else(|| AppError::Internal(format!("document {number}: bad content")))?;
            (
                d.doctor,
                d.kind.clone(),
                d.issued_on,
                period,
                d.revocation.is_some(),
            )
        } else {
            tx.rollback().await?;
            return Err(AppError::NotFound);
        };
    let d = tx.doctor(doctor).await?.ok_or(AppError::NotFound)?;
    app.audit(
        &mut tx,
        Entry::new(who, "certificate.view", format!("certificate:{number}"))
            .from(client_addr)
            .details(json!({ "doctor": doctor, "purpose": "revocation_confirmation" })),
    )
    .await?;
    tx.commit().await?;
    Ok(RevocationPreview {
        number: number.to_owned(),
        kind,
        holder: format!("{} {}", d.family_name, d.given_name),
        iseki: d.iseki.to_string(),
        issued_on,
        period,
        revoked,
    })
}

/// Where a certificate stands for someone checking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validity {
    /// Valid (until the date, for certificates that expire).
    Valid(Option<NaiveDate>),
    /// Its validity ended on this day.
    Expired(NaiveDate),
    /// Revoked on this day, for this reason category.
    Revoked(NaiveDate, String),
}

/// What the public verification page shows: nothing that identifies the holder beyond the
/// first character of each name part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The number asked for.
    pub number: String,
    /// `cme_certificate`, `annual_units` or `attendance`.
    pub kind: String,
    /// Where it stands.
    pub validity: Validity,
    /// Issue date.
    pub issued_on: NaiveDate,
    /// The period it covers, in words the page formats: fiscal years or dates.
    pub period: Period,
    /// 山○ 太○.
    pub holder: String,
}

/// The period a certificate or document covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Period {
    /// Fiscal years from–to (one year for the 学習単位取得証).
    Years(FiscalYear, FiscalYear),
    /// Dates from–to (受講証明書).
    Dates(NaiveDate, NaiveDate),
}

/// The first character of each name part followed by ○.
pub fn mask_name(family: &str, given: &str) -> String {
    let m = |s: &str| {
        s.chars()
            .next()
            .map(|c| format!("{c}○"))
            .unwrap_or_default()
    };
    format!("{} {}", m(family), m(given)).trim().to_owned()
}

fn code_matches(stored: &str, given: &str) -> bool {
    let given: String = given
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .flat_map(char::to_uppercase)
        .collect();
    stored.len() == given.len() && bool::from(stored.as_bytes().ct_eq(given.as_bytes()))
}

/// Looks a number up for the public page. `None` for an unknown number and for a wrong or
/// missing code alike, so the register cannot be walked.
pub async fn verify<S: Store>(
    app: &App<S>,
    number: &str,
    code: &str,
) -> Result<Option<Verification>, AppError> {
    let today = japan_date(app.now());
    let mut tx = app.store.read().await?;
    let found = if let Some(c) = tx.certificate_by_number(number).await? {
        match &c.verification_code {
            Some(stored) if code_matches(stored, code) => Some((
                c.doctor,
                "cme_certificate".to_owned(),
                c.issued_on,
                Period::Years(c.from_fy, c.to_fy),
                c.valid_until,
                c.revocation.clone(),
            )),
            _ => None,
        }
    } else if let Some(d) = tx.document_by_number(number).await? {
        if code_matches(&d.verification_code, code) {
            let content: serde_json::Value = serde_json::from_str(&d.content).unwrap_or_default();
            let period = super::documents::period_of(&d.kind, &content)
                .ok_or_else(|| AppError::Internal(format!("document {number}: bad content")))?;
            Some((
                d.doctor,
                d.kind.clone(),
                d.issued_on,
                period,
                None,
                d.revocation.clone(),
            ))
        } else {
            None
        }
    } else {
        // the certified-doctor programmes' certificates (issue 20)
        crate::programmes::certificates::lookup(&mut tx, number, |s| code_matches(s, code))
            .await?
            .map(|p| {
                (
                    p.doctor,
                    p.programme.as_str().to_owned(),
                    p.issued_on,
                    Period::Dates(p.valid_from, p.valid_until),
                    Some(p.valid_until),
                    p.revoked_at.map(|at| Revocation {
                        at,
                        category: "other".into(),
                        reason: String::new(),
                        by: String::new(),
                    }),
                )
            })
    };
    let Some((doctor, kind, issued_on, period, valid_until, revocation)) = found else {
        tx.rollback().await?;
        return Ok(None);
    };
    let d = tx.doctor(doctor).await?.ok_or(AppError::NotFound)?;
    tx.rollback().await?;
    let validity = match (revocation, valid_until) {
        (Some(r), _) => Validity::Revoked(japan_date(r.at), r.category),
        (None, Some(u)) if u < today => Validity::Expired(u),
        (None, u) => Validity::Valid(u),
    };
    Ok(Some(Verification {
        number: number.to_owned(),
        kind,
        validity,
        issued_on,
        period,
        holder: mask_name(&d.family_name, &d.given_name),
    }))
}

/// Open review items for JMA staff.
pub async fn reviews<S: Store>(
    app: &App<S>,
    who: &Principal,
    limit: u32,
) -> Result<Vec<CertificateReview>, AppError> {
    require(who, Action::ManageCertificates, &Target::System)?;
    let mut tx = app.store.read().await?;
    let v = tx.open_certificate_reviews(limit).await?;
    tx.rollback().await?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_each_name_part() {
        assert_eq!(mask_name("山田", "太郎"), "山○ 太○");
        assert_eq!(mask_name("林", "一"), "林○ 一○");
        assert_eq!(mask_name("𠮷田", "花子"), "𠮷○ 花○");
    }

    #[test]
    fn codes_are_80_bits_and_compare_leniently() {
        let c = new_verification_code();
        assert_eq!(c.len(), 16);
        assert_ne!(c, new_verification_code());
        let spaced = format!("{}-{} ", &c[..8], &c[8..]).to_lowercase();
        assert!(code_matches(&c, &spaced));
        assert!(!code_matches(&c, &c[..15]));
        assert!(!code_matches(&c, ""));
    }

    #[test]
    fn numbers_are_fixed_width() {
        assert_eq!(format_number(SERIES, 2026, 7), "N2026-000007");
    }
}
