//! Programme credits: what a training session's items credit in the certified-doctor programmes,
//! written once per origin key beside the CME credits, and the 研修手帳 units staff enter.

use chrono::{Duration, NaiveDate};
use mamis_domain::programmes::{CertifiedProgramme, ProgrammeEntry};
use mamis_domain::time::japan_date;
use mamis_domain::training::{Presence, ProgrammeItem};
use mamis_domain::{HalfUnits, Principal, Source, Timestamp};
use mamis_store::programmes::{ItemProgramme, ProgrammeOriginEntry};
use mamis_store::{ProgrammeStore, Store, TrainingSession, TrainingStore, Tx};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

use super::{ProgrammeError, ProgrammeResult};
use crate::audit::Entry;
use crate::{App, AppError};

/// What one programme part of an item names, as the organiser enters it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInput {
    /// The item (must be one of the session's).
    pub item: Uuid,
    /// The programme credited.
    pub programme: CertifiedProgramme,
    /// Its category (a key of the programme's rules file).
    pub category: String,
    /// The item is an individual web session.
    pub web_session: bool,
    /// The designated lecture it is, for かかりつけ医.
    pub lecture: Option<String>,
}

/// The origin key of a programme credit earned at an item: the item, the programme and the
/// doctor, whichever channel captured the presence, so one attendance credits a programme once.
pub fn origin_key(item: Uuid, programme: CertifiedProgramme, doctor: Uuid) -> String {
    format!("training:{item}:{programme}:{doctor}")
}

/// Checks a part against its programme's rules file.
pub fn check_part(p: &PartInput) -> ProgrammeResult<()> {
    if p.programme.rules().category(&p.category).is_none() {
        return Err(ProgrammeError::UnknownCategory(p.category.clone()));
    }
    if p.lecture
        .as_ref()
        .is_some_and(|l| l.trim().is_empty() || l.chars().count() > 32)
    {
        return Err(ProgrammeError::LectureKey);
    }
    Ok(())
}

/// Sets what a session's items credit in the programmes (audited). The session's organiser
/// staff only; a closed session's parts are fixed like its programme.
pub async fn set_item_programmes<S: Store>(
    app: &App<S>,
    who: &Principal,
    session: Uuid,
    parts: Vec<PartInput>,
    client_addr: Option<String>,
) -> ProgrammeResult<()> {
    for p in &parts {
        check_part(p)?;
    }
    let mut seen = BTreeSet::new();
    for p in &parts {
        if !seen.insert((p.item, p.programme)) {
            return Err(ProgrammeError::DuplicatePart);
        }
    }
    let mut tx = app.store.write().await?;
    let s = super::managed_session(&mut tx, who, session).await?;
    if s.closed_at.is_some() {
        return Err(ProgrammeError::SessionClosed);
    }
    let items: BTreeSet<Uuid> = tx
        .programme_items(session)
        .await?
        .iter()
        .map(|i| i.id)
        .collect();
    if parts.iter().any(|p| !items.contains(&p.item)) {
        return Err(AppError::NotFound.into());
    }
    let stored: Vec<ItemProgramme> = parts
        .into_iter()
        .map(|p| ItemProgramme {
            session,
            item: p.item,
            programme: p.programme,
            category: p.category,
            web_session: p.web_session,
            lecture: p.lecture.map(|l| l.trim().to_owned()),
        })
        .collect();
    tx.replace_item_programmes(session, &stored).await?;
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "programmes.session_parts",
            format!("training_session:{session}"),
        )
        .from(client_addr)
        .details(json!({ "parts": stored.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What settling wrote in the programmes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgrammeSettled {
    /// Credits written.
    pub written: u64,
    /// Credits reversed (presence withdrawn).
    pub reversed: u64,
}

/// Credits the programme parts of a session's items from the doctors' presence, inside the
/// caller's settle transaction: each (item, programme, doctor) once; a credit whose presence
/// was withdrawn is reversed, and re-earned later with the next generation.
pub async fn settle_session<T: Tx>(
    tx: &mut T,
    session: &TrainingSession,
    items: &[ProgrammeItem],
    presence: &BTreeMap<Uuid, Presence>,
    grace: Duration,
    created_by: &str,
    now: Timestamp,
) -> Result<ProgrammeSettled, AppError> {
    let parts = tx.item_programmes(session.id).await?;
    if parts.is_empty() || presence.is_empty() {
        return Ok(ProgrammeSettled::default());
    }
    let by_item: HashMap<Uuid, &ProgrammeItem> = items.iter().map(|i| (i.id(), i)).collect();
    let mut done = ProgrammeSettled::default();
    for programme in CertifiedProgramme::ALL {
        let rules = programme.rules();
        let mine: Vec<&ItemProgramme> = parts.iter().filter(|p| p.programme == programme).collect();
        if mine.is_empty() {
            continue;
        }
        let keys: Vec<String> = presence
            .keys()
            .flat_map(|d| mine.iter().map(move |p| origin_key(p.item, programme, *d)))
            .collect();
        let mut known: HashMap<String, Vec<ProgrammeOriginEntry>> = HashMap::new();
        for chunk in keys.chunks(500) {
            for k in tx.programme_entries_by_origin(programme, chunk).await? {
                known.entry(k.entry.origin_key.clone()).or_default().push(k);
            }
        }
        let mut writes = Vec::new();
        for (doctor, p) in presence {
            let covered: BTreeSet<Uuid> = p
                .credited_items(items, grace)
                .iter()
                .map(|i| i.id())
                .collect();
            for part in &mine {
                let Some(item) = by_item.get(&part.item) else {
                    continue;
                };
                let key = origin_key(part.item, programme, *doctor);
                let history = known.get(&key).map(Vec::as_slice).unwrap_or(&[]);
                let standing = history
                    .iter()
                    .find(|k| !k.reversed && !k.entry.is_reversal());
                let half = rules.half_units_for_minutes(item.minutes());
                let earned = covered.contains(&part.item) && half.is_positive();
                match (earned, standing) {
                    (true, Some(_)) | (false, None) => {}
                    (true, None) => {
                        let generation = history
                            .iter()
                            .map(|k| k.entry.generation + 1)
                            .max()
                            .unwrap_or(0);
                        writes.push(ProgrammeEntry {
                            id: Uuid::new_v4(),
                            doctor: *doctor,
                            programme,
                            category: part.category.clone(),
                            date: japan_date(item.start()),
                            half_units: half,
                            web_session: part.web_session,
                            lecture: part.lecture.clone(),
                            source: Source::Training,
                            origin_key: key,
                            generation,
                            reverses: None,
                            rules_version: rules.version.clone(),
                            created_by: created_by.to_owned(),
                            created_at: now,
                            note: Some(format!("{} — {}", session.title, item.title())),
                        });
                        done.written += 1;
                    }
                    (false, Some(k)) => {
                        writes.push(k.entry.reversal(Uuid::new_v4(), created_by.to_owned(), now));
                        done.reversed += 1;
                    }
                }
            }
        }
        tx.insert_programme_entries(&writes).await?;
    }
    Ok(done)
}

/// Units from the paper 研修手帳 (before April 2025), as reviewing staff enter them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperUnits {
    /// The category.
    pub category: String,
    /// Units (half-units).
    pub half_units: HalfUnits,
    /// The day of the training as stamped.
    pub date: NaiveDate,
    /// 研修手帳 page.
    pub page: String,
    /// The stamp (seal) read on the page.
    pub stamp: String,
}

/// Checks paper units: a known category, a positive multiple of the unit step, a date before
/// April 2025 (later units are in MAMIS), page and stamp noted.
pub fn check_paper(programme: CertifiedProgramme, p: &PaperUnits) -> ProgrammeResult<()> {
    if programme.rules().category(&p.category).is_none() {
        return Err(ProgrammeError::UnknownCategory(p.category.clone()));
    }
    if !p.half_units.is_positive() || p.half_units.get() > 200 {
        return Err(ProgrammeError::PaperUnits);
    }
    if p.date >= super::PAPER_UNTIL {
        return Err(ProgrammeError::PaperDate);
    }
    let ok = |s: &str| !s.trim().is_empty() && s.chars().count() <= 100;
    if !ok(&p.page) || !ok(&p.stamp) {
        return Err(ProgrammeError::PaperPageStamp);
    }
    Ok(())
}

/// The ledger entry of paper units entered on an application.
pub fn paper_entry(
    doctor: Uuid,
    programme: CertifiedProgramme,
    application: Uuid,
    p: &PaperUnits,
    created_by: String,
    now: Timestamp,
) -> ProgrammeEntry {
    let id = Uuid::new_v4();
    ProgrammeEntry {
        id,
        doctor,
        programme,
        category: p.category.clone(),
        date: p.date,
        half_units: p.half_units,
        web_session: false,
        lecture: None,
        source: Source::PriorSystem,
        origin_key: format!("paper:{application}:{id}"),
        generation: 0,
        reverses: None,
        rules_version: programme.rules().version.clone(),
        created_by,
        created_at: now,
        note: Some(format!(
            "研修手帳 p.{} 印 {}",
            p.page.trim(),
            p.stamp.trim()
        )),
    }
}

/// A designated lecture as JMA staff enter it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LectureInput {
    /// Its key (1–32 characters: letters, digits, `-`).
    pub key: String,
    /// Its title (1–200 characters).
    pub title: String,
    /// Its group number (1–99), if the prefectures' group rules use one.
    pub group: Option<u8>,
    /// No longer designated.
    pub retired: bool,
}

/// Adds or changes a designated lecture of the かかりつけ医 応用研修 (JMA staff; audited).
pub async fn put_lecture<S: Store>(
    app: &App<S>,
    who: &Principal,
    l: LectureInput,
    client_addr: Option<String>,
) -> ProgrammeResult<()> {
    crate::authz::require(
        who,
        mamis_domain::Action::EditCatalogue,
        &mamis_domain::Target::System,
    )?;
    let key = l.key.trim().to_owned();
    if key.is_empty()
        || key.chars().count() > 32
        || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ProgrammeError::LectureKey);
    }
    let title = l.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ProgrammeError::LectureTitle);
    }
    if l.group.is_some_and(|g| g == 0 || g > 99) {
        return Err(ProgrammeError::LectureGroup);
    }
    let mut tx = app.store.write().await?;
    tx.put_designated_lecture(&mamis_store::programmes::DesignatedLecture {
        key: key.clone(),
        title,
        group: l.group,
        retired: l.retired,
        updated_at: app.now(),
    })
    .await?;
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "programmes.lecture",
            format!("designated_lecture:{key}"),
        )
        .from(client_addr)
        .details(json!({ "group": l.group, "retired": l.retired })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every designated lecture, for JMA staff.
pub async fn lectures<S: Store>(
    app: &App<S>,
    who: &Principal,
) -> ProgrammeResult<Vec<mamis_store::programmes::DesignatedLecture>> {
    crate::authz::require(
        who,
        mamis_domain::Action::EditCatalogue,
        &mamis_domain::Target::System,
    )?;
    let mut tx = app.store.read().await?;
    let v = tx.designated_lectures().await?;
    tx.rollback().await?;
    Ok(v)
}

/// A session's items and what they credit in the programmes, for its organiser's page.
pub async fn session_parts<S: Store>(
    app: &App<S>,
    who: &Principal,
    session: Uuid,
) -> ProgrammeResult<(
    TrainingSession,
    Vec<mamis_store::StoredItem>,
    Vec<ItemProgramme>,
)> {
    let mut tx = app.store.read().await?;
    let s = super::managed_session(&mut tx, who, session).await?;
    let items = tx.programme_items(session).await?;
    let parts = tx.item_programmes(session).await?;
    tx.rollback().await?;
    Ok((s, items, parts))
}
