//! Presence capture at the venue: the rotating venue QR code a doctor scans with their own
//! phone, the doctor's personal QR code staff scan at the desk, and numbers typed at the desk.
//! Every capture records the device and the client address, so the organiser's list can flag a
//! device used for several doctors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use hmac::{Hmac, Mac};
use mamis_domain::training::{
    self, Interval, VENUE_STEPS_BACK, check_venue_token, venue_step, venue_token,
};
use mamis_domain::{IsekiNumber, Principal, Timestamp};
use mamis_store::{
    Doctor, IdentityStore, PendingAttendance, PresenceChannel, PresenceRow, PresenceSubject,
    RegistryStore, Store, TrainingSession, TrainingStore, Tx, Verification,
};
use serde_json::json;
use sha2::Sha256;
use uuid::Uuid;

use super::{TrainingError, TrainingResult, managed_session, settle};
use crate::audit::Entry;
use crate::{App, AppError};

/// How long a doctor has, after opening the venue link, to log in and complete the check-in.
pub const CHECK_IN_WINDOW_MINUTES: i64 = 10;

/// How long a personal QR code shown on My Page stays valid: long enough to walk to the desk,
/// too short for a screenshot passed around to be useful.
pub const PERSONAL_CODE_SECONDS: i64 = 120;

/// Captures are accepted from this long before the start until this long after the end.
const CAPTURE_MARGIN_MINUTES: i64 = 60;

const TICKET_CONTEXT: &[u8] = b"mamis-venue-ticket-v1";
const PERSONAL_CONTEXT: &[u8] = b"mamis-personal-qr-v1";
const TAG_LEN: usize = 16;

fn tag(key: &[u8], context: &[u8], parts: &[&[u8]]) -> Option<[u8; TAG_LEN]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(context);
    for p in parts {
        mac.update(&(p.len() as u64).to_be_bytes());
        mac.update(p);
    }
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(full.get(..TAG_LEN)?);
    Some(out)
}

fn tags_equal(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

fn check_open(s: &TrainingSession, now: Timestamp) -> TrainingResult<()> {
    if s.closed_at.is_some() {
        return Err(TrainingError::Closed);
    }
    let margin = Duration::minutes(CAPTURE_MARGIN_MINUTES);
    if now < s.start - margin || now > s.end + margin {
        return Err(TrainingError::OutsideHours);
    }
    Ok(())
}

/// The venue code the organiser's screen shows now, and when it is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueCode {
    /// The signed token the QR code's link carries.
    pub token: String,
    /// When the next token replaces it.
    pub next_at: Timestamp,
}

/// The current venue code of a session, for its organiser's screen.
pub async fn venue_code<S: Store>(
    app: &App<S>,
    who: &Principal,
    session: Uuid,
) -> TrainingResult<VenueCode> {
    let now = app.now();
    let mut tx = app.store.read().await?;
    let s = managed_session(&mut tx, who, session).await?;
    tx.rollback().await?;
    if s.desk_scan_only {
        return Err(TrainingError::DeskOnly);
    }
    check_open(&s, now)?;
    let step = venue_step(now);
    let next = (step + 1) * mamis_domain::training::VENUE_STEP_SECONDS;
    Ok(VenueCode {
        token: venue_token(app.config.secret_key.expose(), session, step),
        next_at: chrono::DateTime::from_timestamp(next, 0).unwrap_or(now),
    })
}

/// A check-in started by opening the venue link: bound to the browser that opened it (its
/// device id), to be completed there within [`CHECK_IN_WINDOW_MINUTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueTicket {
    /// The session.
    pub session: Uuid,
    /// When the link was opened: the doctor was at the venue then.
    pub opened_at: Timestamp,
}

/// Checks a venue token just opened by a browser and returns its sealed ticket (to keep in
/// that browser) with the session's title. Refuses a token older than 30 seconds.
pub async fn open_venue_link<S: Store>(
    app: &App<S>,
    token: &str,
    device: &str,
) -> TrainingResult<(String, TrainingSession)> {
    let now = app.now();
    let key = app.config.secret_key.expose();
    let (session, _) = check_venue_token(key, token, venue_step(now), VENUE_STEPS_BACK)
        .ok_or(TrainingError::VenueCodeExpired)?;
    let mut tx = app.store.read().await?;
    let s = tx
        .training_session(session)
        .await?
        .ok_or(TrainingError::VenueCodeExpired)?;
    tx.rollback().await?;
    if s.desk_scan_only {
        return Err(TrainingError::DeskOnly);
    }
    check_open(&s, now)?;
    let ticket = VenueTicket {
        session,
        opened_at: now,
    };
    Ok((seal_ticket(key, &ticket, device), s))
}

/// Seals a ticket for the browser with `device` (base64url; only this server can make one).
pub fn seal_ticket(key: &[u8], t: &VenueTicket, device: &str) -> String {
    let micros = t.opened_at.timestamp_micros().to_be_bytes();
    let Some(tag) = tag(
        key,
        TICKET_CONTEXT,
        &[t.session.as_bytes(), &micros, device.as_bytes()],
    ) else {
        return String::new();
    };
    let mut bytes = Vec::with_capacity(16 + 8 + TAG_LEN);
    bytes.extend_from_slice(t.session.as_bytes());
    bytes.extend_from_slice(&micros);
    bytes.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Opens a sealed ticket presented by the browser with `device`; `None` when forged, from
/// another browser, or older than the check-in window at `now`.
pub fn open_ticket(key: &[u8], sealed: &str, device: &str, now: Timestamp) -> Option<VenueTicket> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed.trim()).ok()?;
    if bytes.len() != 16 + 8 + TAG_LEN {
        return None;
    }
    let (id, rest) = bytes.split_at(16);
    let (micros, got) = rest.split_at(8);
    let expected = tag(key, TICKET_CONTEXT, &[id, micros, device.as_bytes()])?;
    if !tags_equal(&expected, got) {
        return None;
    }
    let session = Uuid::from_slice(id).ok()?;
    let opened_at =
        chrono::DateTime::from_timestamp_micros(i64::from_be_bytes(micros.try_into().ok()?))?;
    let age = now - opened_at;
    (age >= Duration::zero() && age <= Duration::minutes(CHECK_IN_WINDOW_MINUTES))
        .then_some(VenueTicket { session, opened_at })
}

/// What a capture did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Captured {
    /// The attendee was checked in.
    CheckedIn,
    /// The attendee's open interval was closed (credits settled).
    CheckedOut,
}

/// Where a capture came from, for the evidence it leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The browser's or scanner's device id.
    pub device: Option<String>,
    /// The client's network address.
    pub client_addr: Option<String>,
}

async fn verified_doctor<T: Tx>(tx: &mut T, who: &Principal) -> TrainingResult<Doctor> {
    let Principal::Doctor { account_id, .. } = who else {
        return Err(AppError::Forbidden.into());
    };
    let acc = tx.account(*account_id).await?.ok_or(AppError::Forbidden)?;
    match (acc.verification, acc.doctor_id) {
        (Verification::Verified, Some(d)) => {
            Ok(tx.doctor(d).await?.ok_or(TrainingError::NotVerified)?)
        }
        _ => Err(TrainingError::NotVerified),
    }
}

/// Completes a venue check-in (or check-out) in the browser that opened the link: the doctor
/// is logged in, the ticket is that browser's and fresh. A check-out must come from the browser
/// that checked in. Audited.
pub async fn complete_venue<S: Store>(
    app: &App<S>,
    who: &Principal,
    sealed: &str,
    origin: Origin,
) -> TrainingResult<(Captured, TrainingSession)> {
    let now = app.now();
    let device = origin.device.clone().unwrap_or_default();
    let ticket = open_ticket(app.config.secret_key.expose(), sealed, &device, now)
        .ok_or(TrainingError::CheckInExpired)?;
    let mut tx = app.store.write().await?;
    let doctor = verified_doctor(&mut tx, who).await?;
    let s = tx
        .training_session(ticket.session)
        .await?
        .ok_or(AppError::NotFound)?;
    if s.desk_scan_only {
        return Err(TrainingError::DeskOnly);
    }
    check_open(&s, now)?;
    let subject = PresenceSubject::Doctor(doctor.id);
    let outcome = match tx.open_presence(s.id, &subject).await? {
        None => {
            insert_open(
                &mut tx,
                &s,
                subject.clone(),
                ticket.opened_at,
                PresenceChannel::VenueQr,
                &origin,
                now,
            )
            .await?;
            Captured::CheckedIn
        }
        Some(open)
            if open.channel == PresenceChannel::VenueQr
                && open.device.as_deref() == Some(device.as_str()) =>
        {
            tx.set_presence_out(open.id, ticket.opened_at.max(open.in_at), false)
                .await?;
            settle(&mut tx, &s, Some(&[subject]), &who.audit_name(), now).await?;
            Captured::CheckedOut
        }
        Some(_) => return Err(TrainingError::OtherBrowser),
    };
    app.audit(
        &mut tx,
        Entry::new(who, "training.venue", format!("training_session:{}", s.id))
            .from(origin.client_addr.clone())
            .details(
                json!({ "doctor": doctor.id, "checked_in": outcome == Captured::CheckedIn,
                             "device": origin.device }),
            ),
    )
    .await?;
    tx.commit().await?;
    Ok((outcome, s))
}

async fn insert_open<T: Tx>(
    tx: &mut T,
    s: &TrainingSession,
    subject: PresenceSubject,
    in_at: Timestamp,
    channel: PresenceChannel,
    origin: &Origin,
    now: Timestamp,
) -> TrainingResult<()> {
    let row = PresenceRow {
        id: Uuid::new_v4(),
        session: s.id,
        subject,
        in_at,
        out_at: None,
        left_at_end: false,
        channel,
        device: origin.device.clone(),
        client_addr: origin.client_addr.clone(),
        created_at: now,
        removed_at: None,
    };
    match tx.insert_presence(&row).await {
        // a concurrent scan opened one first: the doctor is in, which is what was asked
        Err(e) if e.is_conflict_on("presence_open_key") => Ok(()),
        r => Ok(r?),
    }
}

/// The doctor's personal QR code for desk scans: signed, valid [`PERSONAL_CODE_SECONDS`].
pub async fn personal_code<S: Store>(app: &App<S>, who: &Principal) -> TrainingResult<String> {
    let now = app.now();
    let mut tx = app.store.read().await?;
    let doctor = verified_doctor(&mut tx, who).await?;
    tx.rollback().await?;
    Ok(seal_personal(
        app.config.secret_key.expose(),
        doctor.id,
        now + Duration::seconds(PERSONAL_CODE_SECONDS),
    ))
}

/// Seals a personal code for `doctor` expiring at `expires`.
pub fn seal_personal(key: &[u8], doctor: Uuid, expires: Timestamp) -> String {
    let exp = expires.timestamp().to_be_bytes();
    let Some(tag) = tag(key, PERSONAL_CONTEXT, &[doctor.as_bytes(), &exp]) else {
        return String::new();
    };
    let mut bytes = Vec::with_capacity(16 + 8 + TAG_LEN);
    bytes.extend_from_slice(doctor.as_bytes());
    bytes.extend_from_slice(&exp);
    bytes.extend_from_slice(&tag);
    format!("MAMIS-P1.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The doctor of a genuine, unexpired personal code.
pub fn open_personal(key: &[u8], code: &str, now: Timestamp) -> Option<Uuid> {
    let b64 = code.trim().strip_prefix("MAMIS-P1.")?;
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    if bytes.len() != 16 + 8 + TAG_LEN {
        return None;
    }
    let (id, rest) = bytes.split_at(16);
    let (exp, got) = rest.split_at(8);
    let expected = tag(key, PERSONAL_CONTEXT, &[id, exp])?;
    if !tags_equal(&expected, got) {
        return None;
    }
    let exp = i64::from_be_bytes(exp.try_into().ok()?);
    (now.timestamp() <= exp).then(|| Uuid::from_slice(id).ok())?
}

/// What desk staff entered: a scanned personal code, or a 医籍登録番号 typed by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskInput {
    /// A personal QR code's text (camera or USB scanner).
    Code(String),
    /// A number typed by hand; without a verified MAMIS_ID it is kept as pending attendance.
    Iseki(IsekiNumber),
}

/// What a desk scan did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskCaptured {
    /// The attendee was checked in.
    CheckedIn,
    /// The attendee's open interval was closed (credits settled).
    CheckedOut,
    /// 「記録済み」: the desk captured the attendee at most
    /// [`DESK_REPEAT_SECONDS`](mamis_domain::training::DESK_REPEAT_SECONDS) ago, so the scan
    /// is taken for the same one repeated and nothing changed.
    AlreadyRecorded,
}

/// Why a desk capture is kept as pending attendance instead of crediting a MAMIS_ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// The number is in the register, but no MAMIS_ID is verified for it yet.
    Unverified,
    /// The number is not in the register (a typo, or a doctor the register does not hold yet):
    /// recorded all the same, and credited if a MAMIS_ID is ever verified for it.
    NotInRegister,
}

/// What the desk screen shows after a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskResult {
    /// Checked in, out, or already recorded.
    pub captured: DeskCaptured,
    /// 氏名 from the register, empty for a pending number.
    pub name: String,
    /// 医籍登録番号.
    pub iseki: IsekiNumber,
    /// Kept as pending attendance, and why; `None` for a verified MAMIS_ID.
    pub pending: Option<Pending>,
    /// The attendee's last desk capture when the scan was already recorded.
    pub recorded_at: Option<Timestamp>,
    /// Attendees in the room after the scan (open intervals): the desk's live count.
    pub live: u64,
    /// The session's expected headcount, shown beside the live count.
    pub expected: Option<u32>,
}

/// The attendee's last desk capture at the session (personal QR or typed number), from the
/// rows not withdrawn.
async fn last_desk_capture<T: Tx>(
    tx: &mut T,
    session: Uuid,
    subject: &PresenceSubject,
) -> TrainingResult<Option<Timestamp>> {
    let rows = tx.presence_of(session).await?;
    let desk: Vec<Interval> = rows
        .iter()
        .filter(|r| &r.subject == subject)
        .filter(|r| {
            matches!(
                r.channel,
                PresenceChannel::PersonalQr | PresenceChannel::Desk
            )
        })
        .map(|r| Interval {
            in_at: r.in_at,
            out_at: r.out_at,
            left_at_end: r.left_at_end,
        })
        .collect();
    Ok(training::last_desk_capture(&desk))
}

/// A desk scan: the first scan of an attendee checks them in, the next checks them out
/// (credits settled); a scan within [`training::DESK_REPEAT_SECONDS`] of the attendee's last
/// desk capture changes nothing and answers [`DeskCaptured::AlreadyRecorded`]. A number
/// without a verified MAMIS_ID, in the register or not, is kept as pending attendance. Each
/// change is audited.
pub async fn desk_scan<S: Store>(
    app: &App<S>,
    who: &Principal,
    session: Uuid,
    input: DeskInput,
    origin: Origin,
) -> TrainingResult<DeskResult> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let s = managed_session(&mut tx, who, session).await?;
    check_open(&s, now)?;
    let (subject, channel, name, iseki, pending) = match input {
        DeskInput::Code(code) => {
            let id = open_personal(app.config.secret_key.expose(), &code, now)
                .ok_or(TrainingError::PersonalCodeInvalid)?;
            let d = tx
                .doctor(id)
                .await?
                .ok_or(TrainingError::PersonalCodeInvalid)?;
            let name = format!("{} {}", d.family_name, d.given_name);
            (
                PresenceSubject::Doctor(d.id),
                PresenceChannel::PersonalQr,
                name,
                d.iseki,
                None,
            )
        }
        DeskInput::Iseki(n) => {
            let (verified, pending) = match tx.doctor_by_iseki(&n).await? {
                Some(d) if tx.verified_account_of(d.id).await?.is_some() => (Some(d), None),
                Some(_) => (None, Some(Pending::Unverified)),
                None => (None, Some(Pending::NotInRegister)),
            };
            match verified {
                Some(d) => {
                    let name = format!("{} {}", d.family_name, d.given_name);
                    (
                        PresenceSubject::Doctor(d.id),
                        PresenceChannel::Desk,
                        name,
                        d.iseki,
                        None,
                    )
                }
                None => (
                    PresenceSubject::Pending(n.clone()),
                    PresenceChannel::Desk,
                    String::new(),
                    n,
                    pending,
                ),
            }
        }
    };
    let last = last_desk_capture(&mut tx, s.id, &subject).await?;
    if training::desk_scan_repeats(last, now) {
        // the same scan again: nothing is written, not even the audit record of a change
        let live = tx.open_presence_count(s.id).await?;
        tx.rollback().await?;
        return Ok(DeskResult {
            captured: DeskCaptured::AlreadyRecorded,
            name,
            iseki,
            pending,
            recorded_at: last,
            live,
            expected: s.expected_headcount,
        });
    }
    if let PresenceSubject::Pending(n) = &subject {
        tx.insert_pending_attendance(&PendingAttendance {
            id: Uuid::new_v4(),
            session: s.id,
            iseki: n.clone(),
            family_kana: None,
            given_kana: None,
            birth_date: None,
            created_at: now,
            credited: None,
        })
        .await?;
    }
    let captured = match tx.open_presence(s.id, &subject).await? {
        None => {
            insert_open(&mut tx, &s, subject.clone(), now, channel, &origin, now).await?;
            DeskCaptured::CheckedIn
        }
        Some(open) => {
            tx.set_presence_out(open.id, now.max(open.in_at), false)
                .await?;
            settle(
                &mut tx,
                &s,
                Some(std::slice::from_ref(&subject)),
                &who.audit_name(),
                now,
            )
            .await?;
            DeskCaptured::CheckedOut
        }
    };
    app.audit(
        &mut tx,
        Entry::new(who, "training.desk", format!("training_session:{}", s.id))
            .from(origin.client_addr.clone())
            .details(json!({
                "iseki": iseki.as_str(),
                "checked_in": captured == DeskCaptured::CheckedIn,
                "channel": channel.as_str(),
                "device": origin.device,
                "pending": pending.map(|p| match p {
                    Pending::Unverified => "unverified",
                    Pending::NotInRegister => "not_in_register",
                }),
            })),
    )
    .await?;
    let live = tx.open_presence_count(s.id).await?;
    tx.commit().await?;
    Ok(DeskResult {
        captured,
        name,
        iseki,
        pending,
        recorded_at: None,
        live,
        expected: s.expected_headcount,
    })
}

/// Longest removal reason kept.
const MAX_REASON_CHARS: usize = 500;

/// Withdraws one presence interval (a wrong scan, a doctor who left at once) and reverses what
/// it earned. Audited with the reason given, if any.
pub async fn remove<S: Store>(
    app: &App<S>,
    who: &Principal,
    session: Uuid,
    presence: Uuid,
    reason: Option<&str>,
    client_addr: Option<String>,
) -> TrainingResult<()> {
    let reason: Option<String> = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(MAX_REASON_CHARS).collect());
    let now = app.now();
    let mut tx = app.store.write().await?;
    let s = managed_session(&mut tx, who, session).await?;
    let row = tx
        .presence_of(s.id)
        .await?
        .into_iter()
        .find(|r| r.id == presence)
        .ok_or(AppError::NotFound)?;
    if !tx.remove_presence(row.id, now).await? {
        return Err(AppError::NotFound.into());
    }
    let settled = settle(
        &mut tx,
        &s,
        Some(std::slice::from_ref(&row.subject)),
        &who.audit_name(),
        now,
    )
    .await?;
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "training.presence.remove",
            format!("training_session:{}", s.id),
        )
        .from(client_addr)
        .details(json!({ "presence": row.id, "reversed": settled.reversed, "reason": reason })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
