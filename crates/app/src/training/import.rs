//! Attendee lists (出席者名簿): an uploaded file is the complete list of its session for the
//! list channel, so importing it means computing the difference from what is recorded, showing
//! it, and on confirmation applying exactly that difference — adding intervals, withdrawing
//! (and reversing the credits of) those that disappeared. The same file again changes nothing.
//! A file is refused whole for a malformed row or a row contradicting the register.

use std::collections::hash_map::Entry as Slot;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use mamis_domain::{IsekiNumber, Principal, Timestamp, names};
use mamis_store::{
    PendingAttendance, PresenceChannel, PresenceRow, PresenceSubject, Store, TrainingStore, Tx,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::attendees::{self, AttendeeList, Problem, ProblemKind};
use super::{Settled, TrainingResult, managed_session, settle};
use crate::App;
use crate::audit::Entry;

/// Lines of each side of the difference kept for display; the counts cover everything.
pub const MAX_SHOWN: usize = 1_000;

/// One interval of the difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// 医籍登録番号.
    pub iseki: IsekiNumber,
    /// Arrival.
    pub in_at: Timestamp,
    /// Departure.
    pub out_at: Timestamp,
    /// The number has no verified MAMIS_ID: kept as pending attendance.
    pub pending: bool,
    /// The name beside the number: the register's (kanji) when the number is registered,
    /// else the kana the list gives.
    pub name: Option<String>,
}

/// What an upload would change (preview) or changed (applied); with problems, nothing.
#[derive(Debug, Clone, Default)]
pub struct ImportPlan {
    /// The parsed file with its line report (its rows are let go once applied, to free memory).
    pub list: AttendeeList,
    /// Intervals to add, and the first [`MAX_SHOWN`] of them.
    pub added: u64,
    /// See `added`.
    pub added_lines: Vec<DiffLine>,
    /// Recorded intervals missing from the file, to withdraw (their credits reversed).
    pub removed: u64,
    /// See `removed`.
    pub removed_lines: Vec<DiffLine>,
    /// Intervals already recorded as in the file.
    pub unchanged: u64,
    /// Lines of other channels' captures (会場QR, 受付, 個人QR) matching what is recorded:
    /// ignored, as a list neither edits nor withdraws them.
    pub captures_unchanged: u64,
    /// Distinct numbers in the file.
    pub attendees: u64,
    /// Of those, numbers without a verified MAMIS_ID (credited once one is verified).
    pub pending: u64,
    /// Whether the difference was written.
    pub applied: bool,
    /// Credits written and reversed when applied.
    pub settled: Settled,
}

impl ImportPlan {
    /// Whether the file may be applied (no problem).
    pub fn ok(&self) -> bool {
        self.list.ok()
    }

    /// Whether applying would change nothing.
    pub fn is_noop(&self) -> bool {
        self.added == 0 && self.removed == 0
    }
}

fn add_problem(list: &mut AttendeeList, p: Problem) {
    list.total_problems += 1;
    if list.problems.len() < attendees::MAX_REPORTED {
        list.problems.push(p);
    }
}

type Key = (PresenceSubject, Timestamp, Timestamp);

/// A capture as the export shows it: subject, channel, in and out to the second.
type CaptureKey = (PresenceSubject, &'static str, i64, Option<i64>);

/// An instant to the second, as the export writes it.
fn seconds(t: Timestamp) -> i64 {
    t.timestamp()
}

/// 氏名 as registered, family and given name separated by a space.
fn full_name(d: &mamis_store::Doctor) -> String {
    format!("{} {}", d.family_name, d.given_name)
}

/// The kana a row gives, for the preview of a number the register does not know.
fn kana_of(r: &attendees::AttendeeRow) -> Option<String> {
    match (&r.family_kana, &r.given_kana) {
        (None, None) => None,
        (f, g) => Some(
            [f.as_deref(), g.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

/// Whether a row's kana agree with the register's, through the one name normaliser: the whole
/// name compared whole (so カトウユウト matches カトウ ユウト), a family or given name alone
/// compared with that part (a lone 氏名カナ word may also be the whole name).
fn kana_agrees(r: &attendees::AttendeeRow, d: &mamis_store::Doctor) -> bool {
    let (fam, giv) = (d.family_kana.as_str(), d.given_kana.as_str());
    match (&r.family_kana, &r.given_kana) {
        (None, None) => true,
        (Some(f), Some(g)) => names::same_kana(&format!("{f}{g}"), &format!("{fam}{giv}")),
        (Some(f), None) => names::same_kana(f, fam) || names::same_kana(f, &format!("{fam}{giv}")),
        (None, Some(g)) => names::same_kana(g, giv),
    }
}

/// Reads an attendee list for a session and shows the difference (`apply` false) or writes it
/// (`apply` true, audited). The caller shows `list.problems` when `ok()` is false.
pub async fn import<S: Store>(
    app: &App<S>,
    who: &Principal,
    session: Uuid,
    bytes: &[u8],
    apply: bool,
    client_addr: Option<String>,
) -> TrainingResult<ImportPlan> {
    let now = app.now();
    // check access before reading a possibly large file
    let mut tx = app.store.read().await?;
    let s = managed_session(&mut tx, who, session).await?;
    tx.rollback().await?;
    let mut plan = ImportPlan::default();
    // A list records who came: before the session begins nobody has.
    if now < s.start {
        plan.list.add(0, None, ProblemKind::NotBegun);
        return Ok(plan);
    }
    plan.list = attendees::parse(bytes, s.start, s.end);
    if !plan.list.ok() {
        return Ok(plan);
    }
    let mut tx = if apply {
        let mut tx = app.store.write().await?;
        // Applies to one session run one after the other (a row lock on PostgreSQL), so the
        // second computes its difference from what the first wrote.
        tx.lock_training_session(session).await?;
        tx
    } else {
        app.store.read().await?
    };
    let s = managed_session(&mut tx, who, session).await?;
    let numbers: Vec<IsekiNumber> = plan
        .list
        .entries
        .iter()
        .map(|r| r.iseki.clone())
        .chain(plan.list.captures.iter().map(|c| c.iseki.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut register = HashMap::new();
    for chunk in numbers.chunks(1_000) {
        for m in tx.register_matches(chunk).await? {
            register.insert(m.doctor.iseki.clone(), m);
        }
    }
    // rows contradicting the register refuse the file: a wrong number would credit someone else
    let mut problems = Vec::new();
    for r in &plan.list.entries {
        let Some(m) = register.get(&r.iseki) else {
            continue;
        };
        let d = &m.doctor;
        if r.birth_date.is_some_and(|b| b != d.birth_date) {
            problems.push((r.line, "birth_date", None));
        }
        if !kana_agrees(r, d) {
            let register = format!("{} {}", d.family_kana.as_str(), d.given_kana.as_str());
            problems.push((r.line, "name_kana", Some(register)));
        }
    }
    if !problems.is_empty() {
        tx.rollback().await?;
        for (line, column, register) in problems {
            add_problem(
                &mut plan.list,
                Problem {
                    line,
                    column: Some(column.to_owned()),
                    kind: ProblemKind::RegisterMismatch { register },
                },
            );
        }
        plan.list.problems.sort_by_key(|p| p.line);
        return Ok(plan);
    }
    let subject_of = |n: &IsekiNumber| match register.get(n) {
        Some(m) if m.verified_account.is_some() => PresenceSubject::Doctor(m.doctor.id),
        _ => PresenceSubject::Pending(n.clone()),
    };
    // each key once, with the first line that gives it
    let mut wanted: BTreeMap<Key, &attendees::AttendeeRow> = BTreeMap::new();
    for r in &plan.list.entries {
        wanted
            .entry((subject_of(&r.iseki), r.in_at, r.out_at))
            .or_insert(r);
    }
    plan.attendees = numbers.len() as u64;
    plan.pending = numbers
        .iter()
        .filter(|n| matches!(subject_of(n), PresenceSubject::Pending(_)))
        .count() as u64;
    // The list's own rows by key: the first row's id, and any duplicates' (rare). Only ids are
    // kept (not the rows) because a large session holds 100,000 of them.
    let mut recorded: HashMap<Key, (Uuid, Vec<Uuid>)> = HashMap::new();
    // Other channels' captures, by what the export shows of them (times to the second).
    let mut captured: BTreeSet<CaptureKey> = BTreeSet::new();
    for r in tx.presence_of(s.id).await? {
        if r.removed_at.is_some() {
            continue;
        }
        if r.channel != PresenceChannel::List {
            captured.insert((
                r.subject.clone(),
                r.channel.as_str(),
                seconds(r.in_at),
                r.out_at.map(seconds),
            ));
        } else if let Some(out) = r.out_at {
            match recorded.entry((r.subject, r.in_at, out)) {
                Slot::Occupied(mut e) => e.get_mut().1.push(r.id),
                Slot::Vacant(e) => {
                    e.insert((r.id, Vec::new()));
                }
            }
        }
    }
    // A capture line must be one of them as exported: a list neither adds nor edits captures.
    // A line still open in the file matches the capture whatever its check-out since (the
    // doctor may have left after the export was downloaded).
    let mut changed = Vec::new();
    let mut matched: BTreeSet<(PresenceSubject, &'static str, i64)> = BTreeSet::new();
    let mut latest: Option<i64> = None;
    for c in &plan.list.captures {
        let (subject, channel, in_s) = (subject_of(&c.iseki), c.channel.as_str(), seconds(c.in_at));
        let found = match c.out_at {
            Some(out) => captured.contains(&(subject.clone(), channel, in_s, Some(seconds(out)))),
            None => captured
                .range((subject.clone(), channel, in_s, None)..)
                .next()
                .is_some_and(|k| k.0 == subject && k.1 == channel && k.2 == in_s),
        };
        if found {
            plan.captures_unchanged += 1;
            matched.insert((subject, channel, in_s));
            latest = latest.max(Some(in_s));
        } else {
            changed.push(c.line);
        }
    }
    // A capture recorded before the file's latest capture line but absent from the file was
    // deleted from it: a list cannot withdraw it either. (Captures made after the export was
    // downloaded come later, and are not expected in it.)
    let mut missing: Vec<(PresenceSubject, Timestamp)> = Vec::new();
    if let Some(latest) = latest {
        for (subject, channel, in_s, _) in &captured {
            if *in_s <= latest && !matched.contains(&(subject.clone(), *channel, *in_s)) {
                missing.push((
                    subject.clone(),
                    chrono::DateTime::from_timestamp(*in_s, 0).unwrap_or_default(),
                ));
            }
        }
    }
    if !changed.is_empty() || !missing.is_empty() {
        let ids: Vec<Uuid> = missing
            .iter()
            .filter_map(|(s, _)| match s {
                PresenceSubject::Doctor(d) => Some(*d),
                PresenceSubject::Pending(_) => None,
            })
            .collect();
        let numbers: HashMap<Uuid, IsekiNumber> = tx
            .doctors_by_ids(&ids)
            .await?
            .into_iter()
            .map(|d| (d.id, d.iseki))
            .collect();
        tx.rollback().await?;
        for line in changed {
            add_problem(
                &mut plan.list,
                Problem {
                    line,
                    column: None,
                    kind: ProblemKind::CaptureChanged,
                },
            );
        }
        for (subject, in_at) in missing {
            let iseki = match &subject {
                PresenceSubject::Doctor(d) => numbers.get(d).map(ToString::to_string),
                PresenceSubject::Pending(n) => Some(n.to_string()),
            };
            add_problem(
                &mut plan.list,
                Problem {
                    line: 0,
                    column: None,
                    kind: ProblemKind::CaptureMissing {
                        iseki: iseki.unwrap_or_default(),
                        at: mamis_domain::time::to_japan(in_at)
                            .format("%Y-%m-%d %H:%M:%S")
                            .to_string(),
                    },
                },
            );
        }
        plan.list.problems.sort_by_key(|p| p.line);
        plan.captures_unchanged = 0;
        return Ok(plan);
    }
    // the numbers of recorded doctors, to show what disappears
    let mut iseki_of_doctor: HashMap<uuid::Uuid, (IsekiNumber, String)> = register
        .values()
        .map(|m| (m.doctor.id, (m.doctor.iseki.clone(), full_name(&m.doctor))))
        .collect();
    let mut to_add = Vec::new();
    let mut pending_new: Vec<PendingAttendance> = Vec::new();
    let mut pending_seen: BTreeSet<IsekiNumber> = BTreeSet::new();
    let mut affected: BTreeSet<PresenceSubject> = BTreeSet::new();
    for (key, row) in &wanted {
        if recorded.contains_key(key) {
            plan.unchanged += 1;
            continue;
        }
        let (subject, in_at, out_at) = key.clone();
        plan.added += 1;
        if plan.added_lines.len() < MAX_SHOWN {
            plan.added_lines.push(DiffLine {
                iseki: row.iseki.clone(),
                in_at,
                out_at,
                pending: matches!(subject, PresenceSubject::Pending(_)),
                name: match register.get(&row.iseki) {
                    Some(m) => Some(full_name(&m.doctor)),
                    None => kana_of(row),
                },
            });
        }
        if let PresenceSubject::Pending(n) = &subject
            && pending_seen.insert(n.clone())
        {
            pending_new.push(PendingAttendance {
                id: Uuid::new_v4(),
                session: s.id,
                iseki: n.clone(),
                family_kana: row.family_kana.clone(),
                given_kana: row.given_kana.clone(),
                birth_date: row.birth_date,
                created_at: now,
                credited: None,
            });
        }
        affected.insert(subject.clone());
        to_add.push(PresenceRow {
            id: Uuid::new_v4(),
            session: s.id,
            subject,
            in_at,
            out_at: Some(out_at),
            left_at_end: false,
            channel: PresenceChannel::List,
            device: None,
            client_addr: client_addr.clone(),
            created_at: now,
            removed_at: None,
        });
    }
    let mut to_remove = Vec::new();
    let mut removed_doctors = Vec::new();
    for (key, (first, more)) in &recorded {
        // a key in the file keeps one recorded row; duplicates and absent keys go
        let keep = usize::from(wanted.contains_key(key));
        let (subject, in_at, out_at) = key;
        for id in std::iter::once(first).chain(more).skip(keep) {
            plan.removed += 1;
            to_remove.push(*id);
            affected.insert(subject.clone());
            match subject {
                PresenceSubject::Pending(n) => {
                    if plan.removed_lines.len() < MAX_SHOWN {
                        plan.removed_lines.push(DiffLine {
                            iseki: n.clone(),
                            in_at: *in_at,
                            out_at: *out_at,
                            pending: true,
                            name: None,
                        });
                    }
                }
                PresenceSubject::Doctor(d) => removed_doctors.push((*d, *in_at, *out_at)),
            }
        }
    }
    // the numbers of dropped doctors not in this file, in one read
    let room = MAX_SHOWN.saturating_sub(plan.removed_lines.len());
    removed_doctors.truncate(room);
    let unnamed: Vec<Uuid> = removed_doctors
        .iter()
        .map(|(d, _, _)| *d)
        .filter(|d| !iseki_of_doctor.contains_key(d))
        .collect();
    for doc in tx.doctors_by_ids(&unnamed).await? {
        let name = full_name(&doc);
        iseki_of_doctor.insert(doc.id, (doc.iseki, name));
    }
    for (d, in_at, out_at) in removed_doctors {
        if let Some((iseki, name)) = iseki_of_doctor.get(&d) {
            plan.removed_lines.push(DiffLine {
                iseki: iseki.clone(),
                in_at,
                out_at,
                pending: false,
                name: Some(name.clone()),
            });
        }
    }
    plan.added_lines
        .sort_by(|a, b| (a.iseki.as_str(), a.in_at).cmp(&(b.iseki.as_str(), b.in_at)));
    plan.removed_lines
        .sort_by(|a, b| (a.iseki.as_str(), a.in_at).cmp(&(b.iseki.as_str(), b.in_at)));
    if !apply {
        tx.rollback().await?;
        return Ok(plan);
    }
    // what the difference was computed from is no longer needed: free it before settling,
    // which reads the session's whole presence again
    drop((wanted, recorded, iseki_of_doctor, register));
    tx.insert_pending_attendances(&pending_new).await?;
    drop(pending_new);
    for chunk in to_add.chunks(1_000) {
        tx.insert_presences(chunk).await?;
    }
    drop(to_add);
    for chunk in to_remove.chunks(1_000) {
        tx.remove_presences(chunk, now).await?;
    }
    // the rows are not returned: the plan reports counts, lines and problems
    plan.list.entries = Vec::new();
    let affected: Vec<PresenceSubject> = affected.into_iter().collect();
    plan.settled = if plan.is_noop() {
        Settled::default()
    } else {
        settle(&mut tx, &s, Some(&affected), &who.audit_name(), now).await?
    };
    plan.applied = true;
    app.audit(
        &mut tx,
        Entry::new(
            who,
            "training.attendees.import",
            format!("training_session:{}", s.id),
        )
        .from(client_addr)
        .details(json!({
            "sha256": hex_digest(bytes),
            "rows": plan.list.rows,
            "added": plan.added,
            "removed": plan.removed,
            "unchanged": plan.unchanged,
            "captures_unchanged": plan.captures_unchanged,
            "ignored_columns": plan.list.ignored_columns,
            "pending": plan.pending,
            "credited": plan.settled.written,
            "reversed": plan.settled.reversed,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(plan)
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
