//! 研修管理 — training sessions (研修会) and the attendance that credits the CME ledger by
//! itself: organisers register sessions and their programme, outside organisers' sessions are
//! approved by their prefecture, presence arrives from four channels ([`capture`], [`import`]),
//! and [`settle`] turns presence into ledger entries once per origin key, reversing what a
//! withdrawn attendance no longer earns. Numbers without a verified MAMIS_ID wait as pending
//! attendance until [`credit_pending`] runs at verification.

pub mod attendees;
pub mod capture;
pub mod import;
pub mod previews;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Duration;
use mamis_domain::rules::Rules;
use mamis_domain::time::japan_date;
use mamis_domain::training::{
    ItemKind, Presence, ProgrammeItem, Session, Venue, credits_for, origin_key,
};
use mamis_domain::{
    Action, AssociationCode, DomainError, FiscalYear, IsekiNumber, Principal, Role, Scope, Source,
    Target, Timestamp,
};
use mamis_store::{
    CertificateStore, Doctor, LedgerStore, Organiser, PendingAttendance, PresenceChannel,
    PresenceRow, PresenceSubject, RegistryStore, SessionApproval, Store, StoreError, StoredItem,
    TrainingSession, TrainingStore, Tx,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::Entry;
use crate::authz::require;
use crate::cme::{self, NewCredit, PROGRAMME, certificates};
use crate::{App, AppError};

/// Whether a staff member may use the training pages at all (the office home offers them): a
/// grant that may manage or approve training somewhere, or an outside organiser's grant.
pub fn can_use_training(p: &Principal) -> bool {
    let Principal::Staff { grants, .. } = p else {
        return false;
    };
    grants.iter().any(|g| match g.scope() {
        Scope::Association(code) => [Action::ManageTraining, Action::ApproveTraining]
            .into_iter()
            .any(|a| require(p, a, &Target::Association(code)).is_ok()),
        Scope::Organisation(_) => g.role() == Role::Organiser,
    })
}

/// Minutes of an item's start and end a doctor may miss and still be credited, unless the
/// organiser sets another value: late trains and the queue at the desk are not absences.
pub const DEFAULT_GRACE_MINUTES: u32 = 5;

/// The longest grace an organiser may set; more would credit talks the doctor mostly missed.
pub const MAX_GRACE_MINUTES: u32 = 30;

/// Doctors settled per batch: bounds the keys and entries held at once.
const SETTLE_BATCH: usize = 5_000;

/// Most programme items one session may have (a full-day congress fits easily).
pub const MAX_ITEMS: usize = 100;

/// Failures of training use cases the user can act on, besides the general ones.
#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    /// Authorization, storage, invalid domain input and the rest.
    #[error(transparent)]
    App(#[from] AppError),
    /// The organiser closed the session; nothing more is captured or changed.
    #[error("the session is closed")]
    Closed,
    /// The programme is fixed once the session has begun, since credits name its items.
    #[error("the programme cannot change once the session has begun")]
    ProgrammeFixed,
    /// A grace outside 0–30 minutes.
    #[error("the grace must be 0 to 30 minutes")]
    Grace,
    /// Too many programme items.
    #[error("a session has at most 100 programme items")]
    TooManyItems,
    /// The session takes desk scans only; the venue code is not shown or accepted.
    #[error("this session records attendance at the desk only")]
    DeskOnly,
    /// The venue code is forged, malformed or older than 30 seconds.
    #[error("the venue code has expired: scan the code on the screen again")]
    VenueCodeExpired,
    /// The pending check-in is older than 10 minutes, or belongs to another session.
    #[error("the check-in was not completed within 10 minutes: scan the code again")]
    CheckInExpired,
    /// The doctor's MAMIS_ID is not verified, so there is no register entry to credit.
    #[error("your MAMIS_ID is not verified yet")]
    NotVerified,
    /// The open check-in was made from another browser or at the desk.
    #[error("check out with the browser you checked in with, or at the desk")]
    OtherBrowser,
    /// A personal code that is forged, malformed or expired.
    #[error("the personal code is invalid or expired: ask the doctor to reload it")]
    PersonalCodeInvalid,
    /// The session is an association's own or already approved.
    #[error("the session is not awaiting approval")]
    NotAwaitingApproval,
    /// Captures are taken from an hour before the start to an hour after the end.
    #[error("attendance is recorded from an hour before the start to an hour after the end")]
    OutsideHours,
    /// The association already has as many previewed lists waiting as allowed.
    #[error("too many previewed lists are waiting: confirm or let one expire first")]
    TooManyPreviews,
}

impl From<StoreError> for TrainingError {
    fn from(e: StoreError) -> Self {
        Self::App(e.into())
    }
}

impl From<DomainError> for TrainingError {
    fn from(e: DomainError) -> Self {
        Self::App(AppError::Invalid(e))
    }
}

/// Result of training use cases.
pub type TrainingResult<T> = Result<T, TrainingError>;

/// One programme item as the organiser enters it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemInput {
    /// Keeps an existing item's id (and so its credits' origin keys); `None` for a new item.
    pub id: Option<Uuid>,
    /// 演題名.
    pub title: String,
    /// When it starts.
    pub start: Timestamp,
    /// Its length.
    pub minutes: u32,
    /// Credit under one or more codes, or a non-credit slot.
    pub kind: ItemKind,
}

/// A session as the organiser registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInput {
    /// Who organises it (checked against the caller's grants).
    pub organiser: Organiser,
    /// 研修会名.
    pub title: String,
    /// Place, or online.
    pub venue: Venue,
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
    /// Expected headcount, when known.
    pub expected_headcount: Option<u32>,
    /// Refuse venue-QR self check-in.
    pub desk_scan_only: bool,
    /// Grace in minutes (0–30).
    pub grace_minutes: u32,
    /// The programme.
    pub items: Vec<ItemInput>,
}

/// Whether a session's presence is turned into credits: an association's own session always,
/// an outside organisation's once its prefecture has approved it.
pub fn credits_now(s: &TrainingSession) -> bool {
    match s.organiser {
        Organiser::Association(_) => true,
        Organiser::Organisation(_) => s.approval.is_some(),
    }
}

/// The grace of a session as a duration.
pub fn grace(s: &TrainingSession) -> Duration {
    Duration::minutes(i64::from(s.grace_minutes))
}

/// Checks `who` may do `action` for `organiser`: association nodes by subtree, organisations
/// by their own grant or the staff of the prefecture they are registered under.
async fn require_organiser<T: Tx>(
    tx: &mut T,
    who: &Principal,
    organiser: &Organiser,
    action: Action,
) -> Result<(), AppError> {
    match organiser {
        Organiser::Association(code) => require(who, action, &Target::Association(code)),
        Organiser::Organisation(id) => {
            let o = tx.organisation(*id).await?.ok_or(AppError::NotFound)?;
            require(
                who,
                action,
                &Target::Organisation {
                    id: *id,
                    prefecture: &o.prefecture,
                },
            )
        }
    }
}

/// Loads a session and checks `who` may manage it. An unknown id and a session of another
/// organiser both answer `NotFound`, so ids cannot be probed.
async fn managed_session<T: Tx>(
    tx: &mut T,
    who: &Principal,
    id: Uuid,
) -> TrainingResult<TrainingSession> {
    let s = tx.training_session(id).await?.ok_or(AppError::NotFound)?;
    match require_organiser(tx, who, &s.organiser, Action::ManageTraining).await {
        Ok(()) => Ok(s),
        Err(AppError::Forbidden) => Err(AppError::NotFound.into()),
        Err(e) => Err(e.into()),
    }
}

/// Builds the checked programme from the organiser's input against the session.
fn checked_programme(
    session: &Session,
    items: &[ItemInput],
    rules: &Rules,
) -> TrainingResult<Vec<ProgrammeItem>> {
    if items.len() > MAX_ITEMS {
        return Err(TrainingError::TooManyItems);
    }
    let checked = items
        .iter()
        .map(|i| {
            ProgrammeItem::new(
                i.id.unwrap_or_else(Uuid::new_v4),
                &i.title,
                i.start,
                i.minutes,
                i.kind.clone(),
                rules,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    session.check_programme(&checked)?;
    Ok(checked)
}

fn stored_items(items: &[ProgrammeItem]) -> Vec<StoredItem> {
    items
        .iter()
        .map(|i| StoredItem {
            id: i.id(),
            title: i.title().to_owned(),
            start: i.start(),
            minutes: i.minutes(),
            kind: i.kind().clone(),
            catalogue_version: i.catalogue_version().to_owned(),
        })
        .collect()
}

/// Rebuilds the checked programme of a stored session (the rules may have changed since).
pub fn programme(items: &[StoredItem], rules: &Rules) -> Result<Vec<ProgrammeItem>, AppError> {
    items
        .iter()
        .map(|i| ProgrammeItem::new(i.id, &i.title, i.start, i.minutes, i.kind.clone(), rules))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::Internal(format!("stored programme item: {e}")))
}

fn domain_session(id: Uuid, input: &SessionInput) -> Result<Session, DomainError> {
    let organiser = match &input.organiser {
        Organiser::Organisation(o) => *o,
        Organiser::Association(_) => Uuid::nil(),
    };
    Session::new(
        id,
        organiser,
        &input.title,
        input.venue.clone(),
        input.start,
        input.end,
        input.expected_headcount,
    )
}

/// A refused session input, with the programme item at fault where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Index (from 0) of the item at fault in `SessionInput::items`, so a form can show the
    /// message on that row.
    pub item: Option<usize>,
    /// What is wrong.
    pub error: DomainError,
}

/// Checks a session's input as [`create`] does, naming the programme item at fault.
pub fn check_input(input: &SessionInput) -> Result<(), InputError> {
    let rules = Rules::embedded(PROGRAMME);
    let whole = |error| InputError { item: None, error };
    let session = domain_session(Uuid::nil(), input).map_err(whole)?;
    let items = input
        .items
        .iter()
        .enumerate()
        .map(|(k, i)| {
            ProgrammeItem::new(
                Uuid::nil(),
                &i.title,
                i.start,
                i.minutes,
                i.kind.clone(),
                rules,
            )
            .map_err(|error| InputError {
                item: Some(k),
                error,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    session.check_programme(&items).map_err(|error| {
        // the domain numbers items from 1; the later of two overlapping items is the one to move
        let item = match &error {
            DomainError::ItemOutsideSession { item } => item.checked_sub(1),
            DomainError::ItemsOverlap { second, .. } => second.checked_sub(1),
            _ => None,
        };
        InputError { item, error }
    })
}

/// Registers a session with its programme (audited).
pub async fn create<S: Store>(
    app: &App<S>,
    who: &Principal,
    input: SessionInput,
    client_addr: Option<String>,
) -> TrainingResult<TrainingSession> {
    create_with_id(app, who, Uuid::new_v4(), input, client_addr).await
}

/// [`create`] with a chosen id, for data that must be the same on every run (the demo).
pub async fn create_with_id<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
    input: SessionInput,
    client_addr: Option<String>,
) -> TrainingResult<TrainingSession> {
    let now = app.now();
    let rules = Rules::embedded(PROGRAMME);
    if input.grace_minutes > MAX_GRACE_MINUTES {
        return Err(TrainingError::Grace);
    }
    let session = domain_session(id, &input)?;
    let items = checked_programme(&session, &input.items, rules)?;
    let mut tx = app.store.write().await?;
    require_organiser(&mut tx, who, &input.organiser, Action::ManageTraining).await?;
    let stored = TrainingSession {
        id,
        organiser: input.organiser.clone(),
        title: session.title().to_owned(),
        venue: session.venue().clone(),
        start: input.start,
        end: input.end,
        expected_headcount: input.expected_headcount,
        created_at: now,
        approval: None,
        closed_at: None,
        desk_scan_only: input.desk_scan_only,
        grace_minutes: input.grace_minutes,
    };
    tx.insert_training_session(&stored).await?;
    tx.replace_programme_items(id, &stored_items(&items))
        .await?;
    app.audit(
        &mut tx,
        Entry::new(who, "training.create", format!("training_session:{id}"))
            .from(client_addr)
            .details(json!({ "title": stored.title, "items": items.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// Replaces the programme of a session that has not begun (audited).
pub async fn replace_programme<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
    items: Vec<ItemInput>,
    client_addr: Option<String>,
) -> TrainingResult<Vec<ProgrammeItem>> {
    let now = app.now();
    let rules = Rules::embedded(PROGRAMME);
    let mut tx = app.store.write().await?;
    let s = managed_session(&mut tx, who, id).await?;
    if s.closed_at.is_some() {
        return Err(TrainingError::Closed);
    }
    if now >= s.start {
        return Err(TrainingError::ProgrammeFixed);
    }
    let session = Session::new(
        s.id,
        Uuid::nil(),
        &s.title,
        s.venue.clone(),
        s.start,
        s.end,
        s.expected_headcount,
    )?;
    let checked = checked_programme(&session, &items, rules)?;
    tx.replace_programme_items(id, &stored_items(&checked))
        .await?;
    app.audit(
        &mut tx,
        Entry::new(who, "training.programme", format!("training_session:{id}"))
            .from(client_addr)
            .details(json!({ "items": checked.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok(checked)
}

/// An organiser's sessions, latest first, one page.
pub async fn sessions_of<S: Store>(
    app: &App<S>,
    who: &Principal,
    organiser: &Organiser,
    limit: u32,
    offset: u32,
) -> TrainingResult<Vec<TrainingSession>> {
    let mut tx = app.store.read().await?;
    require_organiser(&mut tx, who, organiser, Action::ManageTraining).await?;
    let out = tx
        .training_sessions_of(organiser, limit.clamp(1, 200), offset)
        .await?;
    tx.rollback().await?;
    Ok(out)
}

/// One attendee as the organiser's list shows them: name, kana and 医籍登録番号 only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    /// 医籍登録番号.
    pub iseki: IsekiNumber,
    /// 氏名 from the register; empty for a number not (yet) credited to a doctor.
    pub name: String,
    /// 氏名カナ from the register, else as given on the list.
    pub kana: String,
    /// Attendance waiting for a verified MAMIS_ID.
    pub pending: bool,
    /// Its intervals (removed ones left out), by arrival.
    pub intervals: Vec<PresenceRow>,
    /// Still in without a check-out.
    pub open: bool,
    /// Checked in, but no interval was closed by the doctor (only by the session closing).
    pub no_checkout: bool,
    /// A device or address this attendee's own venue-code captures share with another attendee.
    pub shared_device: bool,
}

/// Everything the organiser's session page shows.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// The session.
    pub session: TrainingSession,
    /// Its programme.
    pub items: Vec<StoredItem>,
    /// Attendees by 医籍登録番号.
    pub attendees: Vec<Attendee>,
    /// Attendees in now.
    pub live: u64,
    /// Devices or addresses used for more than one attendee, with how many.
    pub shared: Vec<(String, usize)>,
}

/// The session page for its organiser: programme and attendees with their flags (a
/// personal-data view, audited).
pub async fn view<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
    client_addr: Option<String>,
) -> TrainingResult<SessionView> {
    let mut tx = app.store.write().await?;
    let session = managed_session(&mut tx, who, id).await?;
    let items = tx.programme_items(id).await?;
    let rows = tx.presence_of(id).await?;
    let pending = tx.pending_of_session(id).await?;
    let ids: Vec<Uuid> = rows
        .iter()
        .filter_map(|r| match r.subject {
            PresenceSubject::Doctor(d) => Some(d),
            PresenceSubject::Pending(_) => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut doctors: HashMap<Uuid, Doctor> = HashMap::new();
    for chunk in ids.chunks(1_000) {
        for d in tx.doctors_by_ids(chunk).await? {
            doctors.insert(d.id, d);
        }
    }
    let view = build_view(session, items, rows, &pending, &doctors);
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "training.attendees.view",
            format!("training_session:{id}"),
        )
        .from(client_addr)
        .details(json!({ "attendees": view.attendees.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

fn build_view(
    session: TrainingSession,
    items: Vec<StoredItem>,
    rows: Vec<PresenceRow>,
    pending: &[PendingAttendance],
    doctors: &HashMap<Uuid, Doctor>,
) -> SessionView {
    let mut by_subject: BTreeMap<PresenceSubject, Vec<PresenceRow>> = BTreeMap::new();
    for r in rows {
        by_subject.entry(r.subject.clone()).or_default().push(r);
    }
    // device or address → the subjects that used it
    let mut users: BTreeMap<String, BTreeSet<PresenceSubject>> = BTreeMap::new();
    // only self-service captures: a desk tablet and its address scan everyone by design
    for (subject, rs) in &by_subject {
        for r in rs.iter().filter(|r| r.channel == PresenceChannel::VenueQr) {
            if let Some(d) = &r.device {
                users
                    .entry(format!("device:{d}"))
                    .or_default()
                    .insert(subject.clone());
            }
            if let Some(a) = &r.client_addr {
                users
                    .entry(format!("addr:{a}"))
                    .or_default()
                    .insert(subject.clone());
            }
        }
    }
    let shared: Vec<(String, usize)> = users
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(k, s)| (k.clone(), s.len()))
        .collect();
    let flagged: BTreeSet<&PresenceSubject> = users
        .values()
        .filter(|s| s.len() > 1)
        .flat_map(|s| s.iter())
        .collect();
    let pending_by: HashMap<&str, &PendingAttendance> =
        pending.iter().map(|p| (p.iseki.as_str(), p)).collect();
    let mut live = 0;
    let mut attendees: Vec<Attendee> = by_subject
        .iter()
        .filter_map(|(subject, rs)| {
            let open = rs.iter().any(|r| r.out_at.is_none());
            live += u64::from(open);
            let no_checkout = !open && rs.iter().all(|r| r.left_at_end);
            let (iseki, name, kana, is_pending) = match subject {
                // doctors are never deleted, so the lookup only fails on a data defect
                PresenceSubject::Doctor(id) => doctors.get(id).map(|d| {
                    (
                        d.iseki.clone(),
                        format!("{} {}", d.family_name, d.given_name),
                        format!("{} {}", d.family_kana.as_str(), d.given_kana.as_str()),
                        false,
                    )
                })?,
                PresenceSubject::Pending(n) => {
                    let kana = pending_by
                        .get(n.as_str())
                        .map(|p| {
                            [p.family_kana.as_deref(), p.given_kana.as_deref()]
                                .into_iter()
                                .flatten()
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default();
                    let credited = pending_by
                        .get(n.as_str())
                        .is_some_and(|p| p.credited.is_some());
                    (n.clone(), String::new(), kana, !credited)
                }
            };
            Some(Attendee {
                iseki,
                name,
                kana,
                pending: is_pending,
                intervals: rs.clone(),
                open,
                no_checkout,
                shared_device: flagged.contains(subject),
            })
        })
        .collect();
    attendees.sort_by(|a, b| a.iseki.as_str().cmp(b.iseki.as_str()));
    SessionView {
        session,
        items,
        attendees,
        live,
        shared,
    }
}

/// Outside sessions in `prefecture` awaiting approval.
pub async fn awaiting_approval<S: Store>(
    app: &App<S>,
    who: &Principal,
    prefecture: &AssociationCode,
) -> TrainingResult<Vec<TrainingSession>> {
    require(
        who,
        Action::ApproveTraining,
        &Target::Association(prefecture),
    )?;
    let mut tx = app.store.read().await?;
    let out = tx.sessions_awaiting_approval(prefecture).await?;
    tx.rollback().await?;
    Ok(out)
}

/// Approves an outside organisation's session with the next approval number of its prefecture
/// (`P13-2026-00001`), and credits the attendance captured so far (audited).
pub async fn approve<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
    client_addr: Option<String>,
) -> TrainingResult<SessionApproval> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let s = tx.training_session(id).await?.ok_or(AppError::NotFound)?;
    let Organiser::Organisation(org) = s.organiser else {
        return Err(TrainingError::NotAwaitingApproval);
    };
    let o = tx.organisation(org).await?.ok_or(AppError::NotFound)?;
    require(
        who,
        Action::ApproveTraining,
        &Target::Organisation {
            id: org,
            prefecture: &o.prefecture,
        },
    )?;
    if s.approval.is_some() {
        return Err(TrainingError::NotAwaitingApproval);
    }
    let fy = FiscalYear::of_instant(now).year();
    let series = format!("training-approval-{}", o.prefecture.as_str());
    let n = tx.lock_number_series(&series, fy).await?;
    let approval = SessionApproval {
        number: format!("{}-{fy}-{n:05}", o.prefecture.as_str()),
        at: now,
        by: who.audit_name(),
    };
    if !tx.approve_training_session(id, &approval).await? {
        return Err(TrainingError::NotAwaitingApproval);
    }
    tx.set_next_number(&series, fy, n + 1).await?;
    let approved = TrainingSession {
        approval: Some(approval.clone()),
        ..s
    };
    let settled = settle(&mut tx, &approved, None, &who.audit_name(), now).await?;
    app.audit(
        &mut tx,
        Entry::new(who, "training.approve", format!("training_session:{id}"))
            .from(client_addr)
            .details(json!({ "number": approval.number, "credited": settled.written })),
    )
    .await?;
    tx.commit().await?;
    Ok(approval)
}

/// Closes a session: still-open intervals end then and are marked "left at end" (each one
/// named in the audit record), and credits are settled.
pub async fn close<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
    client_addr: Option<String>,
) -> TrainingResult<Settled> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let s = managed_session(&mut tx, who, id).await?;
    if !tx.close_training_session(id, now).await? {
        return Err(TrainingError::Closed);
    }
    let end = now.min(s.end);
    let mut left = Vec::new();
    for r in tx.presence_of(id).await? {
        if r.out_at.is_none() {
            tx.set_presence_out(r.id, end.max(r.in_at), true).await?;
            left.push(r.id);
        }
    }
    let closed = TrainingSession {
        closed_at: Some(now),
        ..s
    };
    let settled = settle(&mut tx, &closed, None, &who.audit_name(), now).await?;
    app.audit(
        &mut tx,
        Entry::new(who, "training.close", format!("training_session:{id}"))
            .from(client_addr)
            .details(json!({ "left_at_end": left, "credited": settled.written,
                             "reversed": settled.reversed })),
    )
    .await?;
    tx.commit().await?;
    Ok(settled)
}

/// What [`settle`] changed in the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Credits written.
    pub written: u64,
    /// Credits reversed because the presence that earned them was withdrawn.
    pub reversed: u64,
}

/// Every origin key a doctor could earn at a session: each part of each credit item.
fn session_keys(items: &[ProgrammeItem], doctor: Uuid) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item.kind() {
            ItemKind::Credit { parts } => Some((item.id(), parts.len())),
            ItemKind::NonCredit(_) => None,
        })
        .flat_map(|(item, parts)| (0..parts).map(move |part| origin_key(item, part, doctor)))
        .collect()
}

/// The doctors whose verified MAMIS_ID now holds one of these pending numbers (numbers without
/// one stay pending and are left out).
async fn verified_holders<T: Tx>(
    tx: &mut T,
    numbers: &BTreeSet<&IsekiNumber>,
) -> Result<HashMap<IsekiNumber, Uuid>, StoreError> {
    if numbers.is_empty() {
        return Ok(HashMap::new());
    }
    let numbers: Vec<IsekiNumber> = numbers.iter().map(|n| (*n).clone()).collect();
    Ok(tx
        .register_matches(&numbers)
        .await?
        .into_iter()
        .filter(|m| m.verified_account.is_some())
        .map(|m| (m.doctor.iseki, m.doctor.id))
        .collect())
}

/// Writes the difference between what the session's presence earns and what the ledger holds
/// for it: credits once per origin key, reversals of credits no longer earned (and a
/// certificate review where that lowers a total). `only` limits it to the doctors of some
/// subjects; `None` settles everyone. Does nothing before an outside session is approved.
pub async fn settle<T: Tx>(
    tx: &mut T,
    session: &TrainingSession,
    only: Option<&[PresenceSubject]>,
    created_by: &str,
    now: Timestamp,
) -> Result<Settled, AppError> {
    if !credits_now(session) {
        return Ok(Settled::default());
    }
    let rules = Rules::embedded(PROGRAMME);
    let items = programme(&tx.programme_items(session.id).await?, rules)?;
    let rows = tx.presence_of(session.id).await?;
    // subjects named by `only` may have no row left (all withdrawn): their credits still go
    let numbers: BTreeSet<&IsekiNumber> = rows
        .iter()
        .map(|r| &r.subject)
        .chain(only.into_iter().flatten())
        .filter_map(|s| match s {
            PresenceSubject::Pending(n) => Some(n),
            PresenceSubject::Doctor(_) => None,
        })
        .collect();
    let holders = verified_holders(tx, &numbers).await?;
    drop(numbers);
    // the doctor a subject's presence is credited to, if any yet
    let doctor_of = |s: &PresenceSubject| match s {
        PresenceSubject::Doctor(d) => Some(*d),
        PresenceSubject::Pending(n) => holders.get(n).copied(),
    };
    let wanted: Option<BTreeSet<Uuid>> =
        only.map(|only| only.iter().filter_map(doctor_of).collect());
    // closed intervals per credited doctor, from every channel and subject
    let mut presence: BTreeMap<Uuid, Presence> = BTreeMap::new();
    for r in &rows {
        let Some(d) = doctor_of(&r.subject) else {
            continue;
        };
        if wanted.as_ref().is_some_and(|w| !w.contains(&d)) {
            continue;
        }
        let p = presence.entry(d).or_default();
        if let Some(out) = r.out_at {
            p.add_interval(r.in_at, out);
        }
    }
    if let Some(w) = &wanted {
        // a doctor whose every row was withdrawn still needs their credits reversed
        for d in w {
            presence.entry(*d).or_default();
        }
    }
    drop(rows);
    let grace = grace(session);
    let doctors: Vec<(&Uuid, &Presence)> = presence.iter().collect();
    // What the ledger holds for every key these doctors could earn here, read before anything
    // is written: PostgreSQL keeps the plan it made for a lookup while the table was small, and
    // lookups between inserts of one long transaction then scan the growing table each time
    // (a 100,000-row list took six minutes that way).
    let mut known: HashMap<Uuid, Vec<mamis_store::OriginEntry>> = HashMap::new();
    for batch in doctors.chunks(SETTLE_BATCH) {
        let keys: Vec<String> = batch
            .iter()
            .flat_map(|&(&doctor, _)| session_keys(&items, doctor))
            .collect();
        for chunk in keys.chunks(500) {
            for k in tx.ledger_by_origin(PROGRAMME, chunk).await? {
                known.entry(k.entry.doctor).or_default().push(k);
            }
        }
    }
    // then the writes, in batches of doctors, so a congress holds one batch of entries at once
    let mut settled = Settled::default();
    let mut reversed_doctors = BTreeSet::new();
    for batch in doctors.chunks(SETTLE_BATCH) {
        let mut earned: Vec<NewCredit> = Vec::new();
        let mut batch_known: Vec<mamis_store::OriginEntry> = Vec::new();
        for &(&doctor, p) in batch {
            for c in credits_for(doctor, p, &items, rules, grace) {
                earned.push(NewCredit {
                    doctor,
                    date: c.date,
                    source: Source::Training,
                    code: c.code,
                    half_units: c.half_units,
                    origin_key: c.origin_key,
                    note: Some(session.title.clone()),
                });
            }
            batch_known.extend(known.remove(&doctor).unwrap_or_default());
        }
        let earned_keys: BTreeSet<&str> = earned.iter().map(|c| c.origin_key.as_str()).collect();
        let reversals: Vec<_> = batch_known
            .iter()
            .filter(|k| {
                !k.reversed
                    && !k.entry.is_reversal()
                    && !earned_keys.contains(k.entry.origin_key.as_str())
            })
            .map(|k| {
                reversed_doctors.insert(k.entry.doctor);
                k.entry.reversal(
                    Uuid::new_v4(),
                    japan_date(now),
                    created_by.to_owned(),
                    now,
                    Some(format!("{}: attendance withdrawn", session.title)),
                )
            })
            .collect();
        tx.insert_ledger_entries(&reversals).await?;
        let credited = cme::credit_known(tx, &earned, &batch_known, created_by, now).await?;
        settled.written += credited.written;
        settled.reversed += reversals.len() as u64;
    }
    // the certified-doctor programmes the items name (issue 20), from the same presence
    let p = crate::programmes::credit::settle_session(
        tx, session, &items, &presence, grace, created_by, now,
    )
    .await?;
    settled.written += p.written;
    settled.reversed += p.reversed;
    // pending numbers now held by a verified MAMIS_ID are no longer pending at this session
    let resolved: HashMap<&str, Uuid> = holders
        .iter()
        .filter(|(_, d)| wanted.as_ref().is_none_or(|w| w.contains(d)))
        .map(|(n, d)| (n.as_str(), *d))
        .collect();
    if !resolved.is_empty() {
        let mut by_doctor: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
        for p in tx.pending_of_session(session.id).await? {
            if p.credited.is_none()
                && let Some(d) = resolved.get(p.iseki.as_str())
            {
                by_doctor.entry(*d).or_default().push(p.id);
            }
        }
        for (d, ids) in by_doctor {
            tx.mark_pending_credited(&ids, d, now).await?;
        }
    }
    for d in reversed_doctors {
        certificates::review_after_change(tx, d, now).await?;
    }
    Ok(settled)
}

/// Credits the pending attendance of a number once a MAMIS_ID is verified for it, inside the
/// verification's transaction: credits carry the sessions' original dates and fiscal years.
/// Returns how many sessions' attendances were credited.
pub async fn credit_pending<T: Tx>(
    tx: &mut T,
    doctor: &Doctor,
    now: Timestamp,
) -> Result<u64, AppError> {
    let pending = tx.pending_for_iseki(&doctor.iseki).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let subject = [PresenceSubject::Pending(doctor.iseki.clone())];
    let mut done = 0;
    for p in &pending {
        let Some(s) = tx.training_session(p.session).await? else {
            continue;
        };
        // an unapproved session keeps the attendance pending; approval settles it later
        if !credits_now(&s) {
            continue;
        }
        // settling marks the attendance credited
        settle(tx, &s, Some(&subject), "job:training.pending", now).await?;
        done += 1;
    }
    Ok(done)
}

/// One attendance on My Page ②: the session, the doctor's intervals there and what it earned.
#[derive(Debug, Clone)]
pub struct MyAttendance {
    /// The session.
    pub session: TrainingSession,
    /// The doctor's intervals, by arrival.
    pub intervals: Vec<PresenceRow>,
    /// Units the ledger holds for the session's items (reversed credits left out).
    pub credited: mamis_domain::HalfUnits,
}

/// A verified doctor's own attendances, latest session first (My Page ②).
pub async fn my_attendance<S: Store>(
    app: &App<S>,
    doctor: &Doctor,
) -> TrainingResult<Vec<MyAttendance>> {
    let mut tx = app.store.read().await?;
    let rows = tx.presence_of_doctor(doctor.id, &doctor.iseki).await?;
    let ids: Vec<Uuid> = rows
        .iter()
        .map(|r| r.session)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let sessions = tx.training_sessions_by_ids(&ids).await?;
    // the session of each programme item, to add up the ledger's training credits by session
    let mut session_of_item: HashMap<String, Uuid> = HashMap::new();
    for s in &sessions {
        for item in tx.programme_items(s.id).await? {
            session_of_item.insert(item.id.to_string(), s.id);
        }
    }
    let entries = if sessions.is_empty() {
        Vec::new()
    } else {
        tx.ledger_of(doctor.id, PROGRAMME).await?
    };
    tx.rollback().await?;
    let reversed: BTreeSet<Uuid> = entries.iter().filter_map(|e| e.reverses).collect();
    let mut credited: HashMap<Uuid, i64> = HashMap::new();
    for e in &entries {
        if e.source != Source::Training || e.reverses.is_some() || reversed.contains(&e.id) {
            continue;
        }
        // origin key: training:{item}:{part}:{doctor}
        let item = e.origin_key.split(':').nth(1).unwrap_or_default();
        if let Some(s) = session_of_item.get(item) {
            *credited.entry(*s).or_insert(0) += e.half_units.get();
        }
    }
    let mut by_session: HashMap<Uuid, Vec<PresenceRow>> = HashMap::new();
    for r in rows {
        by_session.entry(r.session).or_default().push(r);
    }
    let mut out: Vec<MyAttendance> = sessions
        .into_iter()
        .map(|s| MyAttendance {
            intervals: by_session.remove(&s.id).unwrap_or_default(),
            credited: mamis_domain::HalfUnits::new(credited.get(&s.id).copied().unwrap_or(0)),
            session: s,
        })
        .collect();
    out.sort_by_key(|a| std::cmp::Reverse(a.session.start));
    Ok(out)
}
