//! The CME ledger's use cases: a doctor's standing (totals, windows, explanations), the ledger
//! itself, staff adjustments and reversals, and the one crediting path every channel uses so a
//! learning is credited once. Rules come from the embedded rules file ([`mamis_domain::rules`]).

pub mod certificates;
pub mod documents;
pub mod history;

use chrono::NaiveDate;
use mamis_domain::curriculum::Catalogue;
use mamis_domain::rules::{Rules, Standing};
use mamis_domain::time::japan_date;
use mamis_domain::{
    Action, AssociationLevel, FiscalYear, HalfUnits, LedgerEntry, Principal, Programme, Source,
    Target, scope_nodes,
};
use mamis_store::{CertificateRecord, Doctor, LedgerStore, RegistryStore, Store, Tx, Verification};
use serde_json::json;
use uuid::Uuid;

use crate::audit::Entry;
use crate::authz::require;
use crate::{App, AppError};

/// The programme My Page and the API show today.
pub const PROGRAMME: Programme = Programme::JmaCme;

/// Longest reason accepted on an adjustment or reversal.
const MAX_REASON: usize = 500;

/// Everything My Page ①–④ and the summary API show for one doctor.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The doctor.
    pub doctor: Doctor,
    /// Totals, windows and the next certificate's window as of today.
    pub standing: Standing,
    /// Certificates issued or imported, oldest first.
    pub certificates: Vec<CertificateRecord>,
    /// Every ledger entry, in date order.
    pub entries: Vec<LedgerEntry>,
    /// Whether the doctor holds an active JMA membership today (③ is members-only).
    pub jma_member: bool,
    /// The rules applied.
    pub rules: &'static Rules,
    /// 医籍登録年月日, when known: no window starts before its fiscal year.
    pub licensed_on: Option<NaiveDate>,
}

/// Which entries a ledger listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerFilter {
    /// Only this fiscal year.
    pub fiscal_year: Option<FiscalYear>,
    /// Only this curriculum code.
    pub code: Option<u16>,
    /// Only this source.
    pub source: Option<Source>,
}

impl LedgerFilter {
    /// Whether an entry passes the filter.
    pub fn matches(&self, e: &LedgerEntry) -> bool {
        self.fiscal_year.is_none_or(|y| e.fiscal_year == y)
            && self.code.is_none_or(|c| e.code == c)
            && self.source.is_none_or(|s| e.source == s)
    }
}

/// The doctor with this 医籍登録番号 (API paths name doctors by it). An unknown number is
/// `NotFound` only for callers with national reach; others get `Forbidden`, exactly as for a
/// doctor outside their scope, so a county token cannot probe which numbers exist.
pub async fn doctor_by_iseki<S: Store>(
    app: &App<S>,
    who: &Principal,
    iseki: &mamis_domain::IsekiNumber,
) -> Result<Uuid, AppError> {
    let mut tx = app.store.read().await?;
    let d = tx.doctor_by_iseki(iseki).await?;
    tx.rollback().await?;
    match d {
        Some(d) => Ok(d.id),
        None if who.permits(Action::ViewDoctors, &Target::Doctor(&[])) => Err(AppError::NotFound),
        None => Err(AppError::Forbidden),
    }
}

/// Checks `who` may act on `doctor`: the doctor's own verified session, or staff (or a token)
/// whose grant covers the doctor's associations. Returns whether it was a staff view.
async fn authorize<T: Tx>(
    tx: &mut T,
    who: &Principal,
    doctor: &Doctor,
    action: Action,
    today: NaiveDate,
) -> Result<bool, AppError> {
    if let Principal::Doctor { account_id, .. } = who {
        let acc = tx.account(*account_id).await?;
        let own = acc.is_some_and(|a| {
            a.verification == Verification::Verified && a.doctor_id == Some(doctor.id)
        });
        // A doctor may read their own record, never change it.
        return if own && action == Action::ViewDoctors {
            Ok(false)
        } else {
            Err(AppError::Forbidden)
        };
    }
    let memberships = tx.memberships_of(doctor.id).await?;
    let nodes = scope_nodes(&memberships, doctor.home_prefecture.as_ref(), today);
    require(who, action, &Target::Doctor(&nodes))?;
    Ok(true)
}

/// The standing of a My Page session's own doctor, which every CME page and the My Page card
/// start from; `None` when the account is not a verified doctor's (the page says why instead).
pub async fn own_summary<S: Store>(
    app: &App<S>,
    current: &crate::identity::sessions::Current,
) -> Result<Option<Summary>, AppError> {
    let Some(doctor) = current.verified_doctor() else {
        return Ok(None);
    };
    summary(app, &current.doctor_principal(), doctor, None)
        .await
        .map(Some)
}

/// A doctor's standing and ledger. Staff and token views are personal-data views and audited.
pub async fn summary<S: Store>(
    app: &App<S>,
    who: &Principal,
    doctor: Uuid,
    client_addr: Option<String>,
) -> Result<Summary, AppError> {
    let now = app.now();
    let today = japan_date(now);
    let rules = Rules::embedded(PROGRAMME);
    let mut tx = app.store.read().await?;
    let d = tx.doctor(doctor).await?.ok_or(AppError::NotFound)?;
    let staff_view = authorize(&mut tx, who, &d, Action::ViewDoctors, today).await?;
    let memberships = tx.memberships_of(doctor).await?;
    let entries = tx.ledger_of(doctor, PROGRAMME).await?;
    let certificates = tx.certificates_of(doctor, PROGRAMME).await?;
    let licensed_on = tx.licence_dates(&[doctor]).await?.first().map(|l| l.1);
    tx.rollback().await?;
    if staff_view {
        let mut tx = app.store.write().await?;
        app.audit(
            &mut tx,
            Entry::new(who, "cme.view", format!("doctor:{doctor}")).from(client_addr),
        )
        .await?;
        tx.commit().await?;
    }
    let issued: Vec<(FiscalYear, FiscalYear)> =
        certificates.iter().map(|c| (c.from_fy, c.to_fy)).collect();
    let standing = Standing::evaluate(
        rules,
        &entries,
        &issued,
        licensed_on.map(FiscalYear::of_date),
        today,
        rules.decided_through(today),
    );
    let jma_member = memberships
        .iter()
        .any(|m| m.level() == AssociationLevel::Jma && m.active_on(today));
    Ok(Summary {
        doctor: d,
        standing,
        certificates,
        entries,
        jma_member,
        rules,
        licensed_on,
    })
}

/// A staff correction: a signed amount for one fiscal year and code, with its reason.
#[derive(Debug, Clone)]
pub struct Adjustment {
    /// The day the corrected learning happened; its fiscal year is the one credited.
    pub date: NaiveDate,
    /// The curriculum code.
    pub code: u16,
    /// Signed amount; zero is refused.
    pub half_units: HalfUnits,
    /// Why (shown to the doctor and kept in the audit record).
    pub reason: String,
}

/// Why an adjustment or reversal input is refused; each maps to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CreditInputError {
    /// The amount is zero.
    #[error("the amount must not be zero")]
    ZeroAmount,
    /// The amount is not a multiple of 0.5 or is out of range.
    #[error("the amount must be a multiple of 0.5 between -100 and 100")]
    BadAmount,
    /// The code is not in the current catalogue.
    #[error("unknown curriculum code")]
    UnknownCode,
    /// The reason is missing or longer than 500 characters.
    #[error("a reason of 1–500 characters is required")]
    BadReason,
    /// The date lies in the future.
    #[error("the date must not be in the future")]
    FutureDate,
    /// The entry is itself a reversal.
    #[error("a reversal cannot be reversed; add a new credit instead")]
    ReversalOfReversal,
    /// The entry is already reversed.
    #[error("this entry is already reversed")]
    AlreadyReversed,
}

/// Failures of ledger changes: the input, or the general use-case errors.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// The input is refused; tell the user which field.
    #[error(transparent)]
    Input(#[from] CreditInputError),
    /// Authorization, storage and the rest.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<mamis_store::StoreError> for CreditError {
    fn from(e: mamis_store::StoreError) -> Self {
        Self::App(e.into())
    }
}

/// An adjustment refused because the net of its (doctor, fiscal year, code) would fall below
/// zero: a negative amount where the code holds less. Cancelling an entry uses the reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegativeNet {
    /// The fiscal year adjusted.
    pub fiscal_year: FiscalYear,
    /// The curriculum code adjusted.
    pub code: u16,
    /// The amount asked for.
    pub requested: HalfUnits,
    /// The net of the (doctor, year, code) before the adjustment.
    pub net: HalfUnits,
    /// That net by source (sources with entries only), in display order.
    pub by_source: Vec<(Source, HalfUnits)>,
}

/// Failures of a staff adjustment: those of any ledger change, or a net that would go negative.
#[derive(Debug, thiserror::Error)]
pub enum AdjustError {
    /// Input, authorization, storage.
    #[error(transparent)]
    Credit(#[from] CreditError),
    /// The net of the (doctor, year, code) would fall below zero; nothing was written.
    #[error("the net of FY{} code {} would fall below zero", .0.fiscal_year.year(), .0.code)]
    NegativeNet(NegativeNet),
}

impl From<AppError> for AdjustError {
    fn from(e: AppError) -> Self {
        Self::Credit(e.into())
    }
}

impl From<CreditInputError> for AdjustError {
    fn from(e: CreditInputError) -> Self {
        Self::Credit(e.into())
    }
}

impl From<mamis_store::StoreError> for AdjustError {
    fn from(e: mamis_store::StoreError) -> Self {
        Self::Credit(e.into())
    }
}

fn check_reason(reason: &str) -> Result<String, CreditInputError> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > MAX_REASON {
        return Err(CreditInputError::BadReason);
    }
    Ok(r.to_owned())
}

/// Writes a staff adjustment for a doctor (audited with the amount and reason), accepted only
/// while the net of its (doctor, fiscal year, code) stays at zero or above.
pub async fn adjust<S: Store>(
    app: &App<S>,
    who: &Principal,
    doctor: Uuid,
    input: Adjustment,
    client_addr: Option<String>,
) -> Result<LedgerEntry, AdjustError> {
    let now = app.now();
    let today = japan_date(now);
    let rules = Rules::embedded(PROGRAMME);
    if input.half_units == HalfUnits::ZERO {
        return Err(CreditInputError::ZeroAmount.into());
    }
    if input.half_units.get().abs() > 200 {
        return Err(CreditInputError::BadAmount.into());
    }
    if Catalogue::embedded()
        .parse(&rules.catalogue_version, i64::from(input.code))
        .is_err()
    {
        return Err(CreditInputError::UnknownCode.into());
    }
    if input.date > today {
        return Err(CreditInputError::FutureDate.into());
    }
    let reason = check_reason(&input.reason)?;
    let mut tx = app.store.write().await?;
    let d = tx.doctor(doctor).await?.ok_or(AppError::NotFound)?;
    authorize(&mut tx, who, &d, Action::EditCredits, today).await?;
    // the nets below stay as read until commit: a concurrent adjustment or reversal of the
    // same doctor waits here, then sees this one's entry
    tx.lock_ledger_of(doctor).await?;
    let fiscal_year = FiscalYear::of_date(input.date);
    let mut by_source: std::collections::BTreeMap<Source, i64> = Default::default();
    for e in tx.ledger_of(doctor, PROGRAMME).await? {
        if e.fiscal_year == fiscal_year && e.code == input.code {
            *by_source.entry(e.source).or_default() += e.half_units.get();
        }
    }
    let net: i64 = by_source.values().sum();
    if net + input.half_units.get() < 0 {
        tx.rollback().await?;
        return Err(AdjustError::NegativeNet(NegativeNet {
            fiscal_year,
            code: input.code,
            requested: input.half_units,
            net: HalfUnits::new(net),
            by_source: by_source
                .into_iter()
                .map(|(s, n)| (s, HalfUnits::new(n)))
                .collect(),
        }));
    }
    let id = Uuid::new_v4();
    let entry = LedgerEntry {
        id,
        doctor,
        programme: PROGRAMME,
        fiscal_year: FiscalYear::of_date(input.date),
        date: input.date,
        source: Source::StaffAdjustment,
        catalogue_version: rules.catalogue_version.clone(),
        code: input.code,
        half_units: input.half_units,
        origin_key: format!("adjust:{id}"),
        generation: 0,
        reverses: None,
        rules_version: rules.version.clone(),
        created_by: who.audit_name(),
        created_at: now,
        note: Some(reason.clone()),
    };
    tx.insert_ledger_entries(std::slice::from_ref(&entry))
        .await?;
    certificates::late_change(&mut tx, &[(doctor, entry.fiscal_year)], now).await?;
    if !entry.half_units.is_positive() {
        certificates::open_reviews(&mut tx, doctor, now).await?;
    }
    app.audit(
        &mut tx,
        Entry::new(who, "cme.adjust", format!("doctor:{doctor}"))
            .from(client_addr)
            .details(json!({
                "entry": id, "fiscal_year": entry.fiscal_year.year(), "code": entry.code,
                "half_units": entry.half_units.get(), "reason": reason,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(entry)
}

/// Reverses one entry (audited); the reversal copies its fiscal year and code.
pub async fn reverse<S: Store>(
    app: &App<S>,
    who: &Principal,
    entry: Uuid,
    reason: &str,
    client_addr: Option<String>,
) -> Result<LedgerEntry, CreditError> {
    let now = app.now();
    let today = japan_date(now);
    let reason = check_reason(reason)?;
    let mut tx = app.store.write().await?;
    let target = tx.ledger_entry(entry).await?.ok_or(AppError::NotFound)?;
    let d = tx.doctor(target.doctor).await?.ok_or(AppError::NotFound)?;
    authorize(&mut tx, who, &d, Action::EditCredits, today).await?;
    // queued behind (or ahead of) a concurrent adjustment's check of the same doctor's nets
    tx.lock_ledger_of(d.id).await?;
    if target.is_reversal() {
        return Err(CreditInputError::ReversalOfReversal.into());
    }
    let rev = target.reversal(
        Uuid::new_v4(),
        today,
        who.audit_name(),
        now,
        Some(reason.clone()),
    );
    match tx.insert_ledger_entries(std::slice::from_ref(&rev)).await {
        Err(e)
            if e.is_conflict_on("ledger_reverses_key") || e.is_conflict_on("ledger_origin_key") =>
        {
            return Err(CreditInputError::AlreadyReversed.into());
        }
        r => r?,
    }
    certificates::late_change(&mut tx, &[(d.id, rev.fiscal_year)], now).await?;
    certificates::open_reviews(&mut tx, d.id, now).await?;
    app.audit(
        &mut tx,
        Entry::new(who, "cme.reverse", format!("doctor:{}", d.id))
            .from(client_addr)
            .details(json!({ "entry": entry, "reversal": rev.id, "reason": reason })),
    )
    .await?;
    tx.commit().await?;
    Ok(rev)
}

/// A credit a channel wants written: what it is for (`origin_key`) and what it is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredit {
    /// The doctor.
    pub doctor: Uuid,
    /// The day of the learning; its fiscal year is the one credited.
    pub date: NaiveDate,
    /// The channel.
    pub source: Source,
    /// The curriculum code.
    pub code: u16,
    /// Positive amount.
    pub half_units: HalfUnits,
    /// What is credited: the same key from any channel means the same learning.
    pub origin_key: String,
    /// Shown with the line (session or content title).
    pub note: Option<String>,
}

/// What [`credit`] did with each credit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Credited {
    /// Entries written (first credits and re-credits after a reversal).
    pub written: u64,
    /// Credits skipped because their origin key is already credited and not reversed.
    pub already: u64,
}

/// Writes credits once per origin key inside the caller's transaction: a key already credited
/// (and not reversed) is skipped; a reversed key is credited again with the next generation.
pub async fn credit<
    T: LedgerStore + mamis_store::CertificateStore + mamis_store::JobStore + Send,
>(
    tx: &mut T,
    credits: &[NewCredit],
    created_by: &str,
    now: mamis_domain::Timestamp,
) -> Result<Credited, mamis_store::StoreError> {
    let mut out = Credited::default();
    for chunk in credits.chunks(500) {
        let keys: Vec<String> = chunk.iter().map(|c| c.origin_key.clone()).collect();
        let known = tx.ledger_by_origin(PROGRAMME, &keys).await?;
        let done = credit_known(tx, chunk, &known, created_by, now).await?;
        out.written += done.written;
        out.already += done.already;
    }
    Ok(out)
}

/// [`credit`] for a caller that has already read every generation of the credits' origin
/// keys (`known`, as [`LedgerStore::ledger_by_origin`] returns them) in this transaction:
/// a large batch then costs no second lookup.
pub async fn credit_known<
    T: LedgerStore + mamis_store::CertificateStore + mamis_store::JobStore + Send,
>(
    tx: &mut T,
    credits: &[NewCredit],
    known: &[mamis_store::OriginEntry],
    created_by: &str,
    now: mamis_domain::Timestamp,
) -> Result<Credited, mamis_store::StoreError> {
    let rules = Rules::embedded(PROGRAMME);
    let mut out = Credited::default();
    // (key → next generation, or None when the latest generation stands).
    let mut next: std::collections::HashMap<&str, Option<i32>> = std::collections::HashMap::new();
    for k in known {
        let slot = next.entry(k.entry.origin_key.as_str()).or_insert(Some(0));
        // rows come in generation order; the last one decides
        *slot = if k.reversed {
            Some(k.entry.generation + 1)
        } else {
            None
        };
    }
    let mut fresh = Vec::new();
    for c in credits {
        let generation = match next.get(c.origin_key.as_str()) {
            Some(None) => {
                out.already += 1;
                continue;
            }
            Some(Some(g)) => *g,
            None => 0,
        };
        // a key repeated inside the batch counts once
        next.insert(c.origin_key.as_str(), None);
        fresh.push(LedgerEntry {
            id: Uuid::new_v4(),
            doctor: c.doctor,
            programme: PROGRAMME,
            fiscal_year: FiscalYear::of_date(c.date),
            date: c.date,
            source: c.source,
            catalogue_version: rules.catalogue_version.clone(),
            code: c.code,
            half_units: c.half_units,
            origin_key: c.origin_key.clone(),
            generation,
            reverses: None,
            rules_version: rules.version.clone(),
            created_by: created_by.to_owned(),
            created_at: now,
            note: c.note.clone(),
        });
    }
    out.written = fresh.len() as u64;
    // the store splits the batch into statements of its own size
    tx.insert_ledger_entries(&fresh).await?;
    let mut changed: Vec<(Uuid, FiscalYear)> =
        fresh.iter().map(|e| (e.doctor, e.fiscal_year)).collect();
    changed.sort();
    changed.dedup();
    certificates::late_change(tx, &changed, now).await?;
    Ok(out)
}
