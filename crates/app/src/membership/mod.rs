//! Membership procedures (issue 18): filing by the doctor on My Page or by county staff from a
//! paper form, each level's decision from its queue, the register changes of completion, profile
//! changes, and death. Authorization is scoped here: staff see a procedure or a doctor only
//! through an association of their subtree that the doctor belongs to or that has a part in one
//! of the doctor's procedures (an incoming transfer, a routed or forwarded join).

pub mod demo;
mod evidence;
pub mod reminders;
pub mod settings;

pub use evidence::{EvidenceStore, MAX_BYTES, NewEvidence, sniff};
pub use reminders::RemindJob;

use std::path::PathBuf;

use chrono::Duration;
use mamis_domain::procedure::{
    Action as Step, Change, Ctx, DueAction, Effects, Procedure, ProcedureError, ProcedureStatus,
    Request, death_changes,
};
use mamis_domain::time::japan_date;
use mamis_domain::{
    Action, AssociationCode, MemberId, Principal, Scope, Target, Timestamp, authz::grant_permits,
    scope_nodes,
};
use mamis_store::{
    AccessStore, AccountStatus, Doctor, DoctorNames, DoctorProfile, IdentityStore, Job, JobStore,
    MembershipStore, NewJob, ProcedureDue, ProcedureEvent, ProcedureRow, RegistryStore, Store,
    TrainingStore, Tx, Verification,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::Entry;
use crate::authz::require;
use crate::jobs::{BoxFuture, JobHandler};
use crate::mail::{self, Outgoing};
use crate::{App, AppError};

/// How membership procedures are run here (configuration; defaults below).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The range new JMA member IDs are taken from, in order (first, last).
    pub member_ids: (MemberId, MemberId),
    /// Days after which a sending association's acknowledgement of a transfer lapses.
    pub acknowledge_days: i64,
    /// Days an item waits in a queue before its staff are reminded (then weekly).
    pub remind_days: i64,
    /// Where evidence files are kept on disk.
    pub evidence_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        // MemberId::parse cannot fail on these literals; the fallback keeps start-up panic-free
        let id = |s: &str| MemberId::parse(s).ok();
        let (first, last) = match (id("9000000000"), id("9999999999")) {
            (Some(f), Some(l)) => (f, l),
            _ => unreachable_ids(),
        };
        Self {
            member_ids: (first, last),
            acknowledge_days: 14,
            remind_days: 7,
            evidence_dir: PathBuf::from("mamis-evidence"),
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_ids() -> (MemberId, MemberId) {
    panic!("built-in member ID range does not parse")
}

/// What a staff member does to a procedure due at their association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffAct {
    /// Approve.
    Approve,
    /// Return with a reason the doctor sees.
    Return(String),
    /// Route a 「わからない」 join to a county of the prefecture.
    Route(AssociationCode),
    /// Forward a misrouted join to another county of the prefecture.
    Forward(AssociationCode),
    /// Take note of a member leaving by transfer.
    Acknowledge,
}

/// What the doctor does to their own procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoctorAct {
    /// Answer a return.
    Answer(String),
    /// Drop the level that returned a join (and those above it).
    DropLevel,
    /// Withdraw the application.
    Cancel,
}

/// A procedure as its viewers see it.
#[derive(Debug, Clone)]
pub struct ProcedureView {
    /// The stored row (status, due actions, parties, dates).
    pub row: ProcedureRow,
    /// The state machine.
    pub procedure: Procedure,
    /// Its history, in order.
    pub events: Vec<ProcedureEvent>,
}

/// The refusal as `procedure-<code>: <text>`: pages show the code's message, logs the text.
fn to_app(e: ProcedureError) -> AppError {
    AppError::Conflict(format!("procedure-{}: {e}", e.code()))
}

fn parse(row: &ProcedureRow) -> Result<Procedure, AppError> {
    serde_json::from_str(&row.state)
        .map_err(|e| AppError::Internal(format!("procedure state: {e}")))
}

fn state_json(p: &Procedure) -> Result<String, AppError> {
    serde_json::to_string(p).map_err(|e| AppError::Internal(format!("procedure state: {e}")))
}

/// The due actions of a procedure, keeping the waiting time of those already due.
fn due_rows(p: &Procedure, old: &[ProcedureDue], now: Timestamp) -> Vec<ProcedureDue> {
    p.due()
        .into_iter()
        .map(|(association, action)| {
            let since = old
                .iter()
                .find(|d| d.association == association && d.action == action)
                .map_or(now, |d| d.since);
            ProcedureDue {
                association,
                action,
                since,
            }
        })
        .collect()
}

/// The association grants of a staff principal (exact nodes: queues and decisions belong to
/// the association whose action is due, not to the nodes above it).
pub fn staff_nodes(actor: &Principal) -> Vec<AssociationCode> {
    match actor {
        Principal::Staff { grants, .. } => grants
            .iter()
            .filter_map(|g| match g.scope() {
                Scope::Association(a) => Some(a.clone()),
                Scope::Organisation(_) => None,
            })
            .collect(),
        Principal::ApiToken { grant, .. } => match grant.scope() {
            Scope::Association(a) => vec![a.clone()],
            Scope::Organisation(_) => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Whether staff may see a doctor: through the doctor's current memberships (or home
/// prefecture), or through a party of one of the doctor's procedures inside their subtree.
async fn staff_sees_doctor<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    doctor: &Doctor,
    today: chrono::NaiveDate,
) -> Result<bool, AppError> {
    let ms = tx.memberships_of(doctor.id).await?;
    let nodes = scope_nodes(&ms, doctor.home_prefecture.as_ref(), today);
    if actor.permits(Action::ViewDoctors, &Target::Doctor(&nodes)) {
        return Ok(true);
    }
    let parties: Vec<AssociationCode> = tx
        .procedures_of_doctor(doctor.id)
        .await?
        .into_iter()
        .flat_map(|p| p.parties)
        .collect();
    Ok(parties
        .iter()
        .any(|p| actor.permits(Action::ViewDoctors, &Target::Association(p))))
}

/// The doctor a My Page principal speaks for, only once its account's binding is verified (an
/// account still in review names a record it has not proven to be).
async fn verified_self<T: Tx>(tx: &mut T, actor: &Principal) -> Result<Option<Uuid>, AppError> {
    let Principal::Doctor { account_id, .. } = actor else {
        return Ok(None);
    };
    Ok(tx.account(*account_id).await?.and_then(|a| {
        (a.verification == Verification::Verified && a.status == AccountStatus::Active)
            .then_some(a.doctor_id)
            .flatten()
    }))
}

/// Whether a principal may see a procedure: the doctor it concerns (`me`, verified), or staff
/// whose subtree holds one of its parties.
fn sees_procedure(actor: &Principal, me: Option<Uuid>, row: &ProcedureRow) -> bool {
    match actor {
        Principal::Doctor { account_id, .. } => {
            (me.is_some() && me == row.doctor_id) || row.applicant == Some(*account_id)
        }
        Principal::Job { .. } => true,
        _ => row
            .parties
            .iter()
            .any(|p| actor.permits(Action::ViewDoctors, &Target::Association(p))),
    }
}

/// The association where a request is filed: the one whose staff may type it in from paper.
fn filing_node(
    request: &Request,
    ms: &[mamis_domain::Membership],
    today: chrono::NaiveDate,
) -> Option<AssociationCode> {
    match request {
        Request::Join {
            prefecture, county, ..
        } => mamis_domain::procedure::held_at(ms, mamis_domain::AssociationLevel::County, today)
            .map(|m| m.association.clone())
            .or_else(|| county.clone())
            .or_else(|| Some(prefecture.clone())),
        Request::Transfer { to_county, .. } => Some(to_county.clone()),
        _ => mamis_domain::procedure::held_at(ms, mamis_domain::AssociationLevel::County, today)
            .map(|m| m.association.clone()),
    }
}

/// The (association, class) pairs a request asks for at county and prefectural level; a routed
/// join's county class is checked when it is routed (the county is not known before).
fn requested_classes(r: &Request) -> Vec<(AssociationCode, mamis_domain::ClassCode)> {
    match r {
        Request::Join {
            prefecture,
            county,
            classes,
        } => county
            .iter()
            .zip(classes.county.iter())
            .map(|(a, c)| (a.clone(), c.clone()))
            .chain(
                classes
                    .prefecture
                    .iter()
                    .map(|c| (prefecture.clone(), c.clone())),
            )
            .collect(),
        Request::Transfer {
            to_county,
            county_class,
            prefecture_class,
            ..
        } => std::iter::once((to_county.clone(), county_class.clone()))
            .chain(
                prefecture_class
                    .iter()
                    .filter_map(|c| to_county.prefecture_code().map(|p| (p, c.clone()))),
            )
            .collect(),
        Request::ClassChange { changes } => changes
            .iter()
            .filter(|(a, _)| a.level() != mamis_domain::AssociationLevel::Jma)
            .cloned()
            .collect(),
        Request::NameChange(_) | Request::Withdrawal { .. } => Vec::new(),
    }
}

/// Refuses a class the association does not offer (unknown or retired); the JMA's five are
/// checked by the state machine.
async fn offered<T: Tx>(
    tx: &mut T,
    association: &AssociationCode,
    class: &mamis_domain::ClassCode,
) -> Result<(), AppError> {
    let ok = tx
        .association_classes(association)
        .await?
        .iter()
        .any(|c| &c.code == class && !c.retired);
    if ok {
        Ok(())
    } else {
        Err(AppError::Conflict(format!(
            "class-not-offered: {association} {class}"
        )))
    }
}

/// Mails the staff of the associations that now have something to do.
async fn notify_due<T: Tx>(
    tx: &mut T,
    now: Timestamp,
    remind_days: i64,
    id: Uuid,
    due: &[ProcedureDue],
    old: &[ProcedureDue],
) -> Result<(), AppError> {
    let new: Vec<AssociationCode> = due
        .iter()
        .filter(|d| {
            !old.iter()
                .any(|o| o.association == d.association && o.action == d.action)
        })
        .map(|d| d.association.clone())
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    for a in &new {
        reminders::schedule(tx, now, now + Duration::days(remind_days), id, a).await?;
    }
    for to in tx.staff_emails(&new).await? {
        mail::queue(
            tx,
            now,
            Outgoing {
                to,
                subject: "【MAMIS】会員手続きが届きました / A membership procedure arrived".into(),
                body_text: format!(
                    "会員手続き {id} の処理をお願いします。MAMIS の事務局画面の手続き一覧から開いてください。\n\n\
                     Membership procedure {id} waits for your association. Open it from the \
                     procedures queue in the MAMIS office pages.\n"
                ),
            },
        )
        .await?;
    }
    Ok(())
}

/// Files a procedure for a doctor: by the doctor (My Page) or by staff of the association it is
/// filed with (paper form). Evidence files are stored first and recorded in the same transaction.
#[allow(clippy::too_many_arguments)]
pub async fn file<S: Store>(
    app: &App<S>,
    actor: &Principal,
    doctor_id: Uuid,
    request: Request,
    wished_on: Option<chrono::NaiveDate>,
    evidence: Vec<NewEvidence>,
    client_addr: Option<String>,
) -> Result<Uuid, AppError> {
    let now = app.now();
    let today = japan_date(now);
    let mut tx = app.store.write().await?;
    let filed_by = match actor {
        Principal::Doctor { account_id, .. }
            if verified_self(&mut tx, actor).await? == Some(doctor_id) =>
        {
            *account_id
        }
        Principal::Staff { account_id, .. } => *account_id,
        Principal::Doctor { .. } => return Err(AppError::NotFound),
        _ => return Err(AppError::Forbidden),
    };
    let doctor = tx.doctor(doctor_id).await?.ok_or(AppError::NotFound)?;
    let register = tx.memberships_of(doctor_id).await?;
    if matches!(actor, Principal::Staff { .. }) {
        let node = filing_node(&request, &register, today).ok_or(AppError::NotFound)?;
        if !staff_sees_doctor(&mut tx, actor, &doctor, today).await?
            && !actor.permits(Action::FileMembership, &Target::Association(&node))
        {
            return Err(AppError::NotFound);
        }
        require(actor, Action::FileMembership, &Target::Association(&node))?;
    }
    let filing = Filing {
        filed_by,
        doctor_id: Some(doctor_id),
        applicant: None,
        register,
        request,
        wished_on,
        evidence,
        client_addr,
    };
    file_in(app, tx, actor, filing).await
}

/// A doctor who is not in the register yet (a new resident) applies to join with their
/// MAMIS_ID: the identity data they gave at registration and a copy of their licence stand
/// for the record until the county's approval verifies them, creates (or finds) the record and
/// binds the account.
pub async fn apply_unregistered<S: Store>(
    app: &App<S>,
    actor: &Principal,
    request: Request,
    wished_on: Option<chrono::NaiveDate>,
    evidence: Vec<NewEvidence>,
    client_addr: Option<String>,
) -> Result<Uuid, AppError> {
    let Principal::Doctor { account_id, .. } = actor else {
        return Err(AppError::Forbidden);
    };
    let mut tx = app.store.write().await?;
    let acc = tx.account(*account_id).await?.ok_or(AppError::NotFound)?;
    if acc.status != AccountStatus::Active || acc.verification == Verification::Verified {
        return Err(AppError::NotFound);
    }
    // a claim on a record someone else holds is for staff to judge, not for a join to settle
    if acc.doctor_id.is_some() {
        return Err(AppError::Conflict("applicant-claims-a-record".into()));
    }
    if tx.claim_of(*account_id).await?.is_none() {
        return Err(AppError::Conflict("applicant-identity-first".into()));
    }
    if !matches!(request, Request::Join { .. }) {
        return Err(AppError::NotFound);
    }
    if evidence.is_empty() {
        return Err(AppError::Conflict("evidence-required".into()));
    }
    let filing = Filing {
        filed_by: *account_id,
        doctor_id: None,
        applicant: Some(*account_id),
        register: Vec::new(),
        request,
        wished_on,
        evidence,
        client_addr,
    };
    file_in(app, tx, actor, filing).await
}

/// What a filing writes, once its filer and subject are established.
struct Filing {
    filed_by: Uuid,
    doctor_id: Option<Uuid>,
    applicant: Option<Uuid>,
    register: Vec<mamis_domain::Membership>,
    request: Request,
    wished_on: Option<chrono::NaiveDate>,
    evidence: Vec<NewEvidence>,
    client_addr: Option<String>,
}

async fn file_in<S: Store>(
    app: &App<S>,
    mut tx: S::Tx,
    actor: &Principal,
    f: Filing,
) -> Result<Uuid, AppError> {
    let now = app.now();
    let today = japan_date(now);
    let Filing {
        filed_by,
        doctor_id,
        applicant,
        register,
        request,
        wished_on,
        evidence,
        client_addr,
    } = f;
    let ctx = Ctx {
        today,
        register: &register,
        rules: &[],
    };
    // a name change is proven by a document (戸籍抄本 or the like), never by the form alone
    if matches!(request, Request::NameChange(_)) && evidence.is_empty() {
        return Err(AppError::Conflict("evidence-required".into()));
    }
    let procedure = Procedure::file(request, wished_on, &ctx).map_err(to_app)?;
    for (association, class) in requested_classes(&procedure.request) {
        offered(&mut tx, &association, &class).await?;
    }
    let id = Uuid::now_v7();
    let due = due_rows(&procedure, &[], now);
    let row = ProcedureRow {
        id,
        doctor_id,
        applicant,
        kind: procedure.request.kind(),
        status: ProcedureStatus::Open,
        state: state_json(&procedure)?,
        filed_by,
        filed_at: now,
        updated_at: now,
        effective_on: None,
        due: due.clone(),
        parties: procedure.parties.clone(),
    };
    tx.insert_procedure(&row).await?;
    tx.append_procedure_event(&ProcedureEvent {
        procedure_id: id,
        seq: 1,
        at: now,
        actor: Some(filed_by),
        event: json!({ "filed": procedure.request, "wished_on": wished_on }).to_string(),
    })
    .await?;
    let store = EvidenceStore::new(&app.config.membership.evidence_dir);
    let mut written = Vec::new();
    for e in evidence {
        match store.save(id, filed_by, now, e).await {
            Ok(rec) => {
                written.push(rec.storage_key.clone());
                if let Err(err) = tx.insert_evidence(&rec).await {
                    store.remove(&written).await;
                    return Err(err.into());
                }
            }
            Err(err) => {
                store.remove(&written).await;
                return Err(err);
            }
        }
    }
    notify_due(
        &mut tx,
        now,
        app.config.membership.remind_days,
        id,
        &due,
        &[],
    )
    .await?;
    if due.iter().any(|d| d.action == DueAction::Acknowledge) {
        // the sending side's silence counts as acknowledgement after N days
        tx.enqueue_job(
            &NewJob {
                id: Uuid::now_v7(),
                kind: LAPSE_KIND.into(),
                payload: json!({ "procedure": id }),
                idempotency_key: Some(format!("{LAPSE_KIND}:{id}")),
                run_at: now + Duration::days(app.config.membership.acknowledge_days),
                max_attempts: 10,
            },
            now,
        )
        .await?;
    }
    let target = match (doctor_id, applicant) {
        (Some(d), _) => format!("doctor:{d}"),
        (None, Some(a)) => format!("account:{a}"),
        (None, None) => format!("procedure:{id}"),
    };
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "membership.file",
            target,
            client_addr,
            details: json!({ "procedure": id, "kind": row.kind.as_str(), "evidence": written.len() }),
        },
    )
    .await?;
    if let Err(e) = tx.commit().await {
        store.remove(&written).await;
        return Err(e.into());
    }
    Ok(id)
}

/// A staff member acts on a procedure due at their association. Staff who cannot see the
/// procedure get not-found; staff who see it but have nothing due get forbidden.
pub async fn act<S: Store>(
    app: &App<S>,
    actor: &Principal,
    id: Uuid,
    act: StaffAct,
    client_addr: Option<String>,
) -> Result<ProcedureView, AppError> {
    let mut tx = app.store.write().await?;
    let row = tx.procedure(id).await?.ok_or(AppError::NotFound)?;
    if !sees_procedure(actor, None, &row) || matches!(actor, Principal::Doctor { .. }) {
        return Err(AppError::NotFound);
    }
    let wanted = match act {
        StaffAct::Approve | StaffAct::Return(_) | StaffAct::Forward(_) => DueAction::Approve,
        StaffAct::Route(_) => DueAction::Route,
        StaffAct::Acknowledge => DueAction::Acknowledge,
    };
    let mine = staff_nodes(actor);
    let by = row
        .due
        .iter()
        .find(|d| d.action == wanted && mine.contains(&d.association))
        .map(|d| d.association.clone())
        .ok_or(AppError::Forbidden)?;
    require(actor, Action::DecideMembership, &Target::Association(&by))?;
    let mut row = row;
    if row.doctor_id.is_none()
        && matches!(act, StaffAct::Approve)
        && by.level() == mamis_domain::AssociationLevel::County
    {
        row.doctor_id = Some(bind_applicant(app, &mut tx, actor, &row).await?);
    }
    let step = match act {
        StaffAct::Approve => Step::Approve { by },
        StaffAct::Return(reason) => Step::Return { by, reason },
        StaffAct::Route(to) => Step::Route { by, to },
        StaffAct::Forward(to) => Step::Forward { by, to },
        StaffAct::Acknowledge => Step::Acknowledge { by },
    };
    let view = advance(app, &mut tx, actor, row, step, client_addr).await?;
    tx.commit().await?;
    Ok(view)
}

/// The doctor answers, drops a level of, or cancels their own procedure.
pub async fn doctor_act<S: Store>(
    app: &App<S>,
    actor: &Principal,
    id: Uuid,
    act: DoctorAct,
    client_addr: Option<String>,
) -> Result<ProcedureView, AppError> {
    let mut tx = app.store.write().await?;
    let row = tx.procedure(id).await?.ok_or(AppError::NotFound)?;
    let me = verified_self(&mut tx, actor).await?;
    if !matches!(actor, Principal::Doctor { .. }) || !sees_procedure(actor, me, &row) {
        return Err(AppError::NotFound);
    }
    let step = match act {
        DoctorAct::Answer(reply) => Step::Answer { reply },
        DoctorAct::DropLevel => Step::DropLevel,
        DoctorAct::Cancel => Step::Cancel,
    };
    let view = advance(app, &mut tx, actor, row, step, client_addr).await?;
    tx.commit().await?;
    Ok(view)
}

/// The job kind that lets a transfer's waiting acknowledgements lapse.
pub const LAPSE_KIND: &str = "membership.lapse";

/// Runs [`lapse_acknowledgements`] when a transfer's acknowledgement period has passed (queued
/// at filing for then; it lapses every acknowledgement due by that time).
#[derive(Debug, Clone, Copy, Default)]
pub struct LapseJob;

impl<S: Store> JobHandler<S> for LapseJob {
    fn kind(&self) -> &'static str {
        LAPSE_KIND
    }

    fn run<'a>(&'a self, app: &'a App<S>, _job: &'a Job) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            lapse_acknowledgements(app)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// Lets every acknowledgement that has waited the configured days lapse (the job runs it
/// daily); returns how many procedures moved.
pub async fn lapse_acknowledgements<S: Store>(app: &App<S>) -> Result<usize, AppError> {
    let now = app.now();
    let cutoff = now - Duration::days(app.config.membership.acknowledge_days);
    let actor = Principal::Job {
        kind: "membership.lapse".into(),
    };
    let mut moved = 0;
    loop {
        let mut tx = app.store.write().await?;
        let Some(row) = tx.lapsed_acknowledgements(cutoff, 1).await?.pop() else {
            tx.rollback().await?;
            return Ok(moved);
        };
        advance(app, &mut tx, &actor, row, Step::Lapse, None).await?;
        tx.commit().await?;
        moved += 1;
    }
}

/// Applies one step inside the caller's transaction: the state machine decides, the register
/// is written on completion, the row, history, audit and mail follow.
async fn advance<S: Store>(
    app: &App<S>,
    tx: &mut S::Tx,
    actor: &Principal,
    row: ProcedureRow,
    step: Step,
    client_addr: Option<String>,
) -> Result<ProcedureView, AppError> {
    let now = app.now();
    let today = japan_date(now);
    let mut procedure = parse(&row)?;
    let register = match row.doctor_id {
        Some(d) => tx.memberships_of(d).await?,
        None => Vec::new(),
    };
    let mut involved = procedure.parties.clone();
    if let Step::Route { to, .. } | Step::Forward { to, .. } = &step {
        involved.push(to.clone());
        // the class asked for must be one the county it now goes to offers
        if let Request::Join {
            classes:
                mamis_domain::procedure::JoinClasses {
                    county: Some(class),
                    ..
                },
            ..
        } = &procedure.request
        {
            offered(tx, to, class).await?;
        }
    }
    let rules = tx.effective_rules(&involved).await?;
    let ctx = Ctx {
        today,
        register: &register,
        rules: &rules,
    };
    let effects = procedure.apply(&step, &ctx).map_err(to_app)?;
    match row.doctor_id {
        Some(d) => write_effects(app, tx, actor, d, &effects, now).await?,
        // only the county's approval completes anything, and it binds the applicant first
        None if effects != Effects::default() => {
            return Err(AppError::Internal(
                "an applicant's procedure changed the register before binding".into(),
            ));
        }
        None => {}
    }
    let due = due_rows(&procedure, &row.due, now);
    let updated = ProcedureRow {
        status: procedure.status,
        state: state_json(&procedure)?,
        updated_at: now,
        effective_on: procedure.effective_on,
        due: due.clone(),
        parties: procedure.parties.clone(),
        ..row.clone()
    };
    if !tx.update_procedure(&updated).await? {
        return Err(AppError::NotFound);
    }
    let seq = i32::try_from(tx.procedure_events(row.id).await?.len() + 1)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let account = match actor {
        Principal::Doctor { account_id, .. } | Principal::Staff { account_id, .. } => {
            Some(*account_id)
        }
        _ => None,
    };
    tx.append_procedure_event(&ProcedureEvent {
        procedure_id: row.id,
        seq,
        at: now,
        actor: account,
        event: json!({ "action": step, "effects": effects }).to_string(),
    })
    .await?;
    notify_due(
        tx,
        now,
        app.config.membership.remind_days,
        row.id,
        &due,
        &row.due,
    )
    .await?;
    app.audit(
        tx,
        Entry {
            actor,
            action: "membership.step",
            target: format!("procedure:{}", row.id),
            client_addr,
            details: json!({ "doctor": row.doctor_id, "step": step, "status": procedure.status.as_str(),
                             "effective_on": procedure.effective_on }),
        },
    )
    .await?;
    let events = tx.procedure_events(row.id).await?;
    Ok(ProcedureView {
        row: updated,
        procedure,
        events,
    })
}

/// Writes a completion's effects: membership rows, the member ID of a first JMA admission
/// (a rejoiner keeps theirs), a new name, and the JMA's notice of a transfer.
async fn write_effects<S: Store>(
    app: &App<S>,
    tx: &mut S::Tx,
    actor: &Principal,
    doctor: Uuid,
    fx: &Effects,
    now: Timestamp,
) -> Result<(), AppError> {
    write_changes(tx, doctor, &fx.changes).await?;
    if fx.assign_member_id {
        let d = tx.doctor(doctor).await?.ok_or(AppError::NotFound)?;
        if d.member_id.is_none() {
            let (first, last) = &app.config.membership.member_ids;
            let id = tx
                .next_member_id(first, last)
                .await?
                .ok_or_else(|| AppError::Conflict("member-id-range-exhausted".into()))?;
            tx.set_member_id(doctor, &id).await?;
            app.audit(
                tx,
                Entry {
                    actor,
                    action: "membership.member_id_assign",
                    target: format!("doctor:{doctor}"),
                    client_addr: None,
                    details: json!({ "member_id": id.as_str() }),
                },
            )
            .await?;
        }
    }
    if let Some(n) = &fx.rename {
        let names = DoctorNames {
            family_name: n.family_name.clone(),
            given_name: n.given_name.clone(),
            family_kana: n.family_kana.clone(),
            given_kana: n.given_kana.clone(),
        };
        if !tx.rename_doctor(doctor, &names).await? {
            return Err(AppError::NotFound);
        }
    }
    if fx.notify_jma {
        for to in tx.staff_emails(&[AssociationCode::jma()]).await? {
            mail::queue(
                tx,
                now,
                Outgoing {
                    to,
                    subject: "【MAMIS】会員の異動 / A member transferred".into(),
                    body_text: format!(
                        "会員 {doctor} の所属が異動しました。日医会員資格と会員IDは変わりません。\n\n\
                         Member {doctor} moved to another association; the JMA membership and \
                         member ID are unchanged.\n"
                    ),
                },
            )
            .await?;
        }
    }
    Ok(())
}

async fn write_changes<T: Tx>(
    tx: &mut T,
    doctor: Uuid,
    changes: &[Change],
) -> Result<(), AppError> {
    // ends first: a new row of the same level may only open once the old one is closed
    for c in changes {
        if let Change::End {
            association,
            joined_on,
            left_on,
        } = c
            && !tx
                .end_membership(doctor, association, *joined_on, *left_on)
                .await?
        {
            return Err(AppError::Conflict("membership-changed-meanwhile".into()));
        }
    }
    for c in changes {
        if let Change::Start(m) = c {
            tx.insert_membership(doctor, m).await?;
        }
    }
    Ok(())
}

/// The staff member's queue: open procedures due at their associations, oldest wait first,
/// each with the name of the doctor (or new resident) it concerns — the queue is how staff
/// find their work, so it names who is waiting.
pub async fn queue<S: Store>(
    app: &App<S>,
    actor: &Principal,
    limit: u32,
) -> Result<Vec<(ProcedureRow, String)>, AppError> {
    let nodes = staff_nodes(actor);
    if nodes.is_empty() {
        return Err(AppError::Forbidden);
    }
    for n in &nodes {
        require(actor, Action::DecideMembership, &Target::Association(n))?;
    }
    let mut tx = app.store.read().await?;
    let rows = tx.procedure_queue(&nodes, limit.min(500)).await?;
    let ids: Vec<Uuid> = rows.iter().filter_map(|r| r.doctor_id).collect();
    let doctors = tx.doctors_by_ids(&ids).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let name = match (r.doctor_id, r.applicant) {
            (Some(d), _) => doctors
                .iter()
                .find(|x| x.id == d)
                .map(|x| format!("{} {}", x.family_name, x.given_name))
                .unwrap_or_default(),
            (None, Some(a)) => tx
                .claim_of(a)
                .await?
                .map(|c| format!("{} {}", c.family_name, c.given_name))
                .unwrap_or_default(),
            (None, None) => String::new(),
        };
        out.push((r, name));
    }
    tx.rollback().await?;
    Ok(out)
}

/// One procedure with its history, for the doctor it concerns or staff of a party's subtree
/// (anyone else: not found). Staff views are audited.
pub async fn procedure<S: Store>(
    app: &App<S>,
    actor: &Principal,
    id: Uuid,
    client_addr: Option<String>,
) -> Result<ProcedureView, AppError> {
    let mut tx = app.store.write().await?;
    let row = tx.procedure(id).await?.ok_or(AppError::NotFound)?;
    let me = verified_self(&mut tx, actor).await?;
    if !sees_procedure(actor, me, &row) {
        return Err(AppError::NotFound);
    }
    let procedure = parse(&row)?;
    let events = tx.procedure_events(id).await?;
    if !matches!(actor, Principal::Doctor { .. }) {
        app.audit(
            &mut tx,
            Entry {
                actor,
                action: "membership.view",
                target: format!("procedure:{id}"),
                client_addr,
                details: json!({ "doctor": row.doctor_id }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(ProcedureView {
        row,
        procedure,
        events,
    })
}

/// The doctor's own procedures, newest first (My Page): those of their verified record and
/// those they filed before they had one (a new resident's join); none for anyone else.
pub async fn my_procedures<S: Store>(
    app: &App<S>,
    actor: &Principal,
) -> Result<Vec<ProcedureView>, AppError> {
    let Principal::Doctor { account_id, .. } = actor else {
        return Err(AppError::NotFound);
    };
    let mut tx = app.store.read().await?;
    let mut rows = match verified_self(&mut tx, actor).await? {
        Some(me) => tx.procedures_of_doctor(me).await?,
        None => Vec::new(),
    };
    for r in tx.procedures_of_applicant(*account_id).await? {
        if !rows.iter().any(|x| x.id == r.id) {
            rows.push(r);
        }
    }
    rows.sort_by(|a, b| b.filed_at.cmp(&a.filed_at).then(a.id.cmp(&b.id)));
    let mut out = Vec::new();
    for row in rows {
        let procedure = parse(&row)?;
        let events = tx.procedure_events(row.id).await?;
        out.push(ProcedureView {
            row,
            procedure,
            events,
        });
    }
    tx.rollback().await?;
    Ok(out)
}

/// A doctor's record as the procedures need it (memberships and profile), for the doctor or
/// staff who may see them (see the module note); staff views are audited.
pub async fn member<S: Store>(
    app: &App<S>,
    actor: &Principal,
    doctor_id: Uuid,
    client_addr: Option<String>,
) -> Result<(Doctor, Vec<mamis_domain::Membership>, Option<DoctorProfile>), AppError> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let doctor = tx.doctor(doctor_id).await?.ok_or(AppError::NotFound)?;
    let own = verified_self(&mut tx, actor).await? == Some(doctor_id);
    if !own && !staff_sees_doctor(&mut tx, actor, &doctor, japan_date(now)).await? {
        return Err(AppError::NotFound);
    }
    let ms = tx.memberships_of(doctor_id).await?;
    let profile = tx.doctor_profile(doctor_id).await?;
    if !own {
        app.audit(
            &mut tx,
            Entry {
                actor,
                action: "doctor.view",
                target: format!("doctor:{doctor_id}"),
                client_addr,
                details: json!({ "via": "membership" }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok((doctor, ms, profile))
}

/// Workplace, address, phone, graduation year and resident flag: changed at once by the doctor
/// or staff who may edit the doctor, audited with the fields before and after.
pub async fn update_profile<S: Store>(
    app: &App<S>,
    actor: &Principal,
    mut profile: DoctorProfile,
    client_addr: Option<String>,
) -> Result<(), AppError> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let doctor = tx
        .doctor(profile.doctor_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let own = verified_self(&mut tx, actor).await? == Some(doctor.id);
    if !own {
        let ms = tx.memberships_of(doctor.id).await?;
        let nodes = scope_nodes(&ms, doctor.home_prefecture.as_ref(), japan_date(now));
        if !staff_sees_doctor(&mut tx, actor, &doctor, japan_date(now)).await? {
            return Err(AppError::NotFound);
        }
        require(actor, Action::EditDoctors, &Target::Doctor(&nodes))?;
    }
    if profile
        .graduation_year
        .is_some_and(|y| !(1900..=9999).contains(&y))
    {
        return Err(AppError::Conflict("graduation-year".into()));
    }
    profile.updated_at = now;
    let before = tx.doctor_profile(doctor.id).await?;
    tx.upsert_doctor_profile(&profile).await?;
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "doctor.profile_update",
            target: format!("doctor:{}", doctor.id),
            client_addr,
            details: json!({ "before": before, "after": profile }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Staff record a death: memberships end the day after, open procedures are cancelled, the
/// MAMIS_ID is suspended; the ledger and certificates stay.
pub async fn record_death<S: Store>(
    app: &App<S>,
    actor: &Principal,
    doctor_id: Uuid,
    died_on: chrono::NaiveDate,
    client_addr: Option<String>,
) -> Result<(), AppError> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let doctor = tx.doctor(doctor_id).await?.ok_or(AppError::NotFound)?;
    let ms = tx.memberships_of(doctor_id).await?;
    let nodes = scope_nodes(&ms, doctor.home_prefecture.as_ref(), japan_date(now));
    if !staff_sees_doctor(&mut tx, actor, &doctor, japan_date(now)).await? {
        return Err(AppError::NotFound);
    }
    require(actor, Action::EditDoctors, &Target::Doctor(&nodes))?;
    let changes =
        death_changes(&ms, died_on).map_err(|e| AppError::Conflict(format!("death: {e}")))?;
    mamis_domain::procedure::apply_changes(&ms, &changes)
        .map_err(|e| AppError::Conflict(format!("death: {e}")))?;
    write_changes(&mut tx, doctor_id, &changes).await?;
    for row in tx.procedures_of_doctor(doctor_id).await? {
        if row.status == ProcedureStatus::Open {
            advance(app, &mut tx, actor, row, Step::Cancel, None).await?;
        }
    }
    if let Some(acc) = tx.verified_account_of(doctor_id).await? {
        tx.set_account_status(acc.id, AccountStatus::Suspended)
            .await?;
    }
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "doctor.death_record",
            target: format!("doctor:{doctor_id}"),
            client_addr,
            details: json!({ "died_on": died_on, "ended": changes.len() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether a principal's grants would let them act for `node` (used by pages to show buttons).
pub fn can_decide(actor: &Principal, node: &AssociationCode) -> bool {
    match actor {
        Principal::Staff { grants, .. } => grants.iter().any(|g| {
            matches!(g.scope(), Scope::Association(a) if a == node)
                && grant_permits(g, Action::DecideMembership, &Target::Association(node))
        }),
        _ => false,
    }
}

/// How many open procedures wait for the staff member's associations (the navigation's count);
/// `None` for anyone without an association grant that decides procedures.
pub async fn waiting_count<S: Store>(
    app: &App<S>,
    actor: &Principal,
) -> Result<Option<u64>, AppError> {
    let nodes: Vec<AssociationCode> = staff_nodes(actor)
        .into_iter()
        .filter(|n| actor.permits(Action::DecideMembership, &Target::Association(n)))
        .collect();
    if nodes.is_empty() {
        return Ok(None);
    }
    let mut tx = app.store.read().await?;
    let n = tx.procedure_due_count(&nodes).await?;
    tx.rollback().await?;
    Ok(Some(n))
}

/// A procedure's evidence files (names, types, sizes), for those who may see the procedure.
pub async fn evidence_list<S: Store>(
    app: &App<S>,
    actor: &Principal,
    id: Uuid,
) -> Result<Vec<mamis_store::Evidence>, AppError> {
    let mut tx = app.store.read().await?;
    let row = tx.procedure(id).await?.ok_or(AppError::NotFound)?;
    let me = verified_self(&mut tx, actor).await?;
    if !sees_procedure(actor, me, &row) {
        return Err(AppError::NotFound);
    }
    let v = tx.evidence_of(id).await?;
    tx.rollback().await?;
    Ok(v)
}

/// One evidence file's bytes, for staff who may see the procedure (or its doctor); every
/// staff view is an audit record naming the viewer.
pub async fn evidence_file<S: Store>(
    app: &App<S>,
    actor: &Principal,
    id: Uuid,
    evidence: Uuid,
    client_addr: Option<String>,
) -> Result<(mamis_store::Evidence, Vec<u8>), AppError> {
    let mut tx = app.store.write().await?;
    let row = tx.procedure(id).await?.ok_or(AppError::NotFound)?;
    let me = verified_self(&mut tx, actor).await?;
    if !sees_procedure(actor, me, &row) {
        return Err(AppError::NotFound);
    }
    let e = tx
        .evidence_of(id)
        .await?
        .into_iter()
        .find(|e| e.id == evidence)
        .ok_or(AppError::NotFound)?;
    let bytes = EvidenceStore::new(&app.config.membership.evidence_dir)
        .read(&e)
        .await?;
    if !matches!(actor, Principal::Doctor { .. }) {
        app.audit(
            &mut tx,
            Entry {
                actor,
                action: "membership.evidence_view",
                target: format!("procedure:{id}"),
                client_addr,
                details: json!({ "doctor": row.doctor_id, "evidence": evidence, "sha256": e.sha256 }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok((e, bytes))
}

/// At the county's approval of a new resident's join: the licence copy was checked, so the
/// identity data stand. The record with that 医籍登録番号 is used when birth date and kana
/// agree and no other MAMIS_ID holds it (otherwise the approval is refused with the reason);
/// without one a record is created. The account is bound as verification by staff would bind
/// it: held credits are written, the doctor is told, and it is audited.
async fn bind_applicant<S: Store>(
    app: &App<S>,
    tx: &mut S::Tx,
    actor: &Principal,
    row: &ProcedureRow,
) -> Result<Uuid, AppError> {
    let now = app.now();
    let account_id = row
        .applicant
        .ok_or_else(|| AppError::Internal("procedure without doctor or applicant".into()))?;
    let acc = tx.account(account_id).await?.ok_or(AppError::NotFound)?;
    let mut claim = tx
        .claim_of(account_id)
        .await?
        .ok_or_else(|| AppError::Conflict("applicant-identity-first".into()))?;
    let prefecture = match &parse(row)?.request {
        Request::Join { prefecture, .. } => prefecture.clone(),
        _ => return Err(AppError::Internal("an applicant files joins only".into())),
    };
    let doctor = match tx.doctor_by_iseki(&claim.iseki).await? {
        Some(d) => {
            let same = d.birth_date == claim.birth_date
                && mamis_domain::names::same_kana(
                    &format!("{}{}", d.family_kana.as_str(), d.given_kana.as_str()),
                    &format!(
                        "{}{}",
                        claim.family_kana.as_str(),
                        claim.given_kana.as_str()
                    ),
                );
            if !same {
                return Err(AppError::Conflict("applicant-record-differs".into()));
            }
            if tx
                .verified_account_of(d.id)
                .await?
                .is_some_and(|h| h.id != account_id)
            {
                return Err(AppError::Conflict("applicant-record-bound".into()));
            }
            d
        }
        None => {
            let d = Doctor {
                id: Uuid::now_v7(),
                iseki: claim.iseki.clone(),
                family_name: claim.family_name.clone(),
                given_name: claim.given_name.clone(),
                family_kana: claim.family_kana.clone(),
                given_kana: claim.given_kana.clone(),
                birth_date: claim.birth_date,
                sex: claim.sex,
                contact_email: Some(acc.email.clone()),
                member_id: None,
                home_prefecture: Some(prefecture),
                created_at: now,
            };
            tx.insert_doctor(&d).await?;
            d
        }
    };
    tx.set_binding(account_id, Some(doctor.id), Verification::Verified)
        .await?;
    crate::training::credit_pending(tx, &doctor, now).await?;
    claim.review_node = None;
    claim.review_reason = None;
    tx.put_claim(&claim).await?;
    app.audit(
        tx,
        Entry {
            actor,
            action: "identity.verify",
            target: format!("account:{account_id}"),
            client_addr: None,
            details: json!({ "doctor": doctor.id, "evidence": format!("licence copy of join application {}", row.id), "via": "membership" }),
        },
    )
    .await?;
    mail::queue(
        tx,
        now,
        Outgoing {
            to: acc.email.clone(),
            subject: "【MAMIS】本人確認が完了しました / Your MAMIS_ID is verified".into(),
            body_text: "郡市区医師会が入会申込みの医師免許証で本人確認を行い、あなたの MAMIS_ID を医籍情報と結び付けました。\n\n\
                        Your county association verified your identity with the licence copy of your join application and linked your MAMIS_ID to your record.\n"
                .into(),
        },
    )
    .await?;
    Ok(doctor.id)
}

/// The identity data a new resident's join stands on (their registration's), for staff who
/// may see the procedure; every view is audited.
pub async fn applicant_claim<S: Store>(
    app: &App<S>,
    actor: &Principal,
    id: Uuid,
    client_addr: Option<String>,
) -> Result<Option<mamis_store::IdentityClaim>, AppError> {
    let mut tx = app.store.write().await?;
    let row = tx.procedure(id).await?.ok_or(AppError::NotFound)?;
    if matches!(actor, Principal::Doctor { .. }) || !sees_procedure(actor, None, &row) {
        return Err(AppError::NotFound);
    }
    let Some(account) = row.applicant else {
        tx.rollback().await?;
        return Ok(None);
    };
    let claim = tx.claim_of(account).await?;
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "membership.applicant_view",
            target: format!("account:{account}"),
            client_addr,
            details: json!({ "procedure": id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(claim)
}

/// The doctor a paper form names, for staff typing it in: found by 医籍登録番号 and birth date
/// together (both are on every form; either wrong gives the same not-found, so the page is no
/// oracle for numbers), for staff who may file at one of their associations. Audited.
pub async fn paper_subject<S: Store>(
    app: &App<S>,
    actor: &Principal,
    iseki: &mamis_domain::IsekiNumber,
    birth_date: chrono::NaiveDate,
    client_addr: Option<String>,
) -> Result<(Doctor, Vec<mamis_domain::Membership>), AppError> {
    let nodes = staff_nodes(actor);
    if !nodes
        .iter()
        .any(|n| actor.permits(Action::FileMembership, &Target::Association(n)))
    {
        return Err(AppError::Forbidden);
    }
    let mut tx = app.store.write().await?;
    let doctor = tx
        .doctor_by_iseki(iseki)
        .await?
        .filter(|d| d.birth_date == birth_date)
        .ok_or(AppError::NotFound)?;
    let ms = tx.memberships_of(doctor.id).await?;
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "doctor.view",
            target: format!("doctor:{}", doctor.id),
            client_addr,
            details: json!({ "via": "paper-filing" }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((doctor, ms))
}
