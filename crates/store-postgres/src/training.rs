//! Training sessions, programme items, presence and pending attendance: the training part of
//! the PostgreSQL store.

use mamis_domain::training::{CodePart, ItemKind, NonCreditKind, Venue};
use mamis_domain::{AssociationCode, IsekiNumber, Timestamp};
use mamis_store::*;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};
use std::collections::HashMap;
use uuid::Uuid;

use crate::PgTx;
use crate::convert::*;
use crate::store::{doctor_cols, doctor_row};

macro_rules! session_cols {
    () => {
        "s.id, s.organiser_association, s.organiser_organisation, s.title, s.venue_kind, s.place, \
         s.start_at, s.end_at, s.expected_headcount, s.created_at, s.approval_number, \
         s.approved_at, s.approved_by, s.closed_at, s.desk_scan_only, s.grace_minutes"
    };
}

macro_rules! presence_cols {
    () => {
        "id, session_id, doctor_id, pending_iseki, in_at, out_at, left_at_end, channel, device_id, \
         client_addr, created_at, removed_at"
    };
}

macro_rules! pending_cols {
    () => {
        "id, session_id, iseki_number, family_kana, given_kana, birth_date, created_at, \
         credited_doctor_id, credited_at"
    };
}

/// The stored venue kind and place.
fn venue_cols(v: &Venue) -> (&'static str, Option<&str>) {
    match v {
        Venue::InPerson(p) => ("in_person", Some(p)),
        Venue::Online => ("online", None),
        Venue::Hybrid(p) => ("hybrid", Some(p)),
    }
}

fn venue(kind: &str, place: Option<String>) -> StoreResult<Venue> {
    match (kind, place) {
        ("in_person", Some(p)) => Ok(Venue::InPerson(p)),
        ("online", None) => Ok(Venue::Online),
        ("hybrid", Some(p)) => Ok(Venue::Hybrid(p)),
        (k, _) => Err(StoreError::Corrupt(format!("venue {k}"))),
    }
}

fn session_row(r: &PgRow) -> StoreResult<TrainingSession> {
    let organiser = match (
        col::<Option<&str>>(r, "organiser_association")?,
        col::<Option<Uuid>>(r, "organiser_organisation")?,
    ) {
        (Some(code), None) => Organiser::Association(
            AssociationCode::parse(code).map_err(corrupt("organiser association"))?,
        ),
        (None, Some(id)) => Organiser::Organisation(id),
        _ => return Err(StoreError::Corrupt("session organiser".into())),
    };
    let approval = match (
        col::<Option<String>>(r, "approval_number")?,
        col::<Option<Timestamp>>(r, "approved_at")?,
        col::<Option<String>>(r, "approved_by")?,
    ) {
        (None, None, None) => None,
        (Some(number), Some(at), Some(by)) => Some(SessionApproval { number, at, by }),
        _ => return Err(StoreError::Corrupt("a partly recorded approval".into())),
    };
    Ok(TrainingSession {
        id: col(r, "id")?,
        organiser,
        title: col(r, "title")?,
        venue: venue(col(r, "venue_kind")?, col(r, "place")?)?,
        start: col(r, "start_at")?,
        end: col(r, "end_at")?,
        expected_headcount: col::<Option<i32>>(r, "expected_headcount")?
            .map(u32::try_from)
            .transpose()
            .map_err(corrupt("expected headcount"))?,
        created_at: col(r, "created_at")?,
        approval,
        closed_at: col(r, "closed_at")?,
        desk_scan_only: col(r, "desk_scan_only")?,
        grace_minutes: u32::try_from(col::<i32>(r, "grace_minutes")?)
            .map_err(corrupt("grace minutes"))?,
    })
}

fn presence_row(r: &PgRow) -> StoreResult<PresenceRow> {
    let subject = match (
        col::<Option<Uuid>>(r, "doctor_id")?,
        col::<Option<&str>>(r, "pending_iseki")?,
    ) {
        (Some(d), None) => PresenceSubject::Doctor(d),
        (None, Some(i)) => {
            PresenceSubject::Pending(IsekiNumber::parse(i).map_err(corrupt("pending iseki"))?)
        }
        _ => return Err(StoreError::Corrupt("presence subject".into())),
    };
    let channel: &str = col(r, "channel")?;
    Ok(PresenceRow {
        id: col(r, "id")?,
        session: col(r, "session_id")?,
        subject,
        in_at: col(r, "in_at")?,
        out_at: col(r, "out_at")?,
        left_at_end: col(r, "left_at_end")?,
        channel: PresenceChannel::parse(channel)
            .ok_or_else(|| StoreError::Corrupt(format!("presence channel {channel}")))?,
        device: col(r, "device_id")?,
        client_addr: col(r, "client_addr")?,
        created_at: col(r, "created_at")?,
        removed_at: col(r, "removed_at")?,
    })
}

fn pending_row(r: &PgRow) -> StoreResult<PendingAttendance> {
    let credited = match (
        col::<Option<Uuid>>(r, "credited_doctor_id")?,
        col::<Option<Timestamp>>(r, "credited_at")?,
    ) {
        (None, None) => None,
        (Some(d), Some(at)) => Some((d, at)),
        _ => return Err(StoreError::Corrupt("a partly recorded credit".into())),
    };
    Ok(PendingAttendance {
        id: col(r, "id")?,
        session: col(r, "session_id")?,
        iseki: IsekiNumber::parse(col::<&str>(r, "iseki_number")?)
            .map_err(corrupt("pending iseki"))?,
        family_kana: col(r, "family_kana")?,
        given_kana: col(r, "given_kana")?,
        birth_date: col(r, "birth_date")?,
        created_at: col(r, "created_at")?,
        credited,
    })
}

/// The subject's (doctor, pending number) columns.
fn subject_cols(s: &PresenceSubject) -> (Option<Uuid>, Option<&str>) {
    match s {
        PresenceSubject::Doctor(d) => (Some(*d), None),
        PresenceSubject::Pending(i) => (None, Some(i.as_str())),
    }
}

fn small(v: u32, what: &'static str) -> StoreResult<i32> {
    i32::try_from(v).map_err(|_| StoreError::Other(format!("{what} {v} out of range")))
}

impl TrainingStore for PgTx {
    async fn insert_training_session(&mut self, s: &TrainingSession) -> StoreResult<()> {
        let (assoc, org) = match &s.organiser {
            Organiser::Association(c) => (Some(c.as_str()), None),
            Organiser::Organisation(o) => (None, Some(*o)),
        };
        let (kind, place) = venue_cols(&s.venue);
        let headcount = s
            .expected_headcount
            .map(|h| small(h, "expected headcount"))
            .transpose()?;
        let grace = small(s.grace_minutes, "grace minutes")?;
        sqlx::query(
            "INSERT INTO training_sessions (id, organiser_association, organiser_organisation, \
             title, venue_kind, place, start_at, end_at, expected_headcount, created_at, \
             approval_number, approved_at, approved_by, closed_at, desk_scan_only, grace_minutes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(s.id)
        .bind(assoc)
        .bind(org)
        .bind(&s.title)
        .bind(kind)
        .bind(place)
        .bind(s.start)
        .bind(s.end)
        .bind(headcount)
        .bind(s.created_at)
        .bind(s.approval.as_ref().map(|a| a.number.as_str()))
        .bind(s.approval.as_ref().map(|a| a.at))
        .bind(s.approval.as_ref().map(|a| a.by.as_str()))
        .bind(s.closed_at)
        .bind(s.desk_scan_only)
        .bind(grace)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn training_session(&mut self, id: Uuid) -> StoreResult<Option<TrainingSession>> {
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM training_sessions s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(session_row)
        .transpose()
    }

    async fn lock_training_session(&mut self, id: Uuid) -> StoreResult<Option<TrainingSession>> {
        // A row lock: a second apply of the same session waits here for the first to commit.
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM training_sessions s WHERE s.id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(session_row)
        .transpose()
    }

    async fn training_sessions_by_ids(
        &mut self,
        ids: &[Uuid],
    ) -> StoreResult<Vec<TrainingSession>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM training_sessions s WHERE s.id = ANY($1) ORDER BY s.start_at, s.id"
        ))
        .bind(ids)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(session_row)
        .collect()
    }

    async fn training_sessions_of(
        &mut self,
        organiser: &Organiser,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<TrainingSession>> {
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            session_cols!(),
            " FROM training_sessions s WHERE "
        ));
        match organiser {
            Organiser::Association(c) => q
                .push("s.organiser_association = ")
                .push_bind(c.as_str().to_owned()),
            Organiser::Organisation(o) => q.push("s.organiser_organisation = ").push_bind(*o),
        };
        q.push(" ORDER BY s.start_at DESC, s.id LIMIT ")
            .push_bind(i64::from(limit))
            .push(" OFFSET ")
            .push_bind(i64::from(offset));
        q.build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(session_row)
            .collect()
    }

    async fn sessions_awaiting_approval(
        &mut self,
        prefecture: &AssociationCode,
    ) -> StoreResult<Vec<TrainingSession>> {
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM training_sessions s JOIN organisations o ON o.id = s.organiser_organisation \
             WHERE o.prefecture_code = $1 AND s.approval_number IS NULL \
             ORDER BY s.start_at, s.id"
        ))
        .bind(prefecture.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(session_row)
        .collect()
    }

    async fn approve_training_session(
        &mut self,
        id: Uuid,
        approval: &SessionApproval,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE training_sessions SET approval_number = $2, approved_at = $3, approved_by = $4 \
             WHERE id = $1 AND organiser_organisation IS NOT NULL AND approval_number IS NULL",
        )
        .bind(id)
        .bind(&approval.number)
        .bind(approval.at)
        .bind(&approval.by)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_upload_preview(&mut self, p: &UploadPreview) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO upload_previews (id, session_id, account_id, owner, content, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(p.id)
        .bind(p.session)
        .bind(p.account)
        .bind(&p.owner)
        .bind(&p.content)
        .bind(p.created_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn purge_upload_previews(&mut self, before: Timestamp) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM upload_previews WHERE created_at < $1")
            .bind(before)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn upload_previews_of(
        &mut self,
        account: Uuid,
        owner: &str,
    ) -> StoreResult<(Vec<Uuid>, Vec<Uuid>)> {
        let mine: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM upload_previews WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        let theirs: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM upload_previews WHERE owner = $1 ORDER BY created_at, id",
        )
        .bind(owner)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok((mine, theirs))
    }

    async fn delete_upload_preview(&mut self, id: Uuid) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM upload_previews WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn take_upload_preview(
        &mut self,
        id: Uuid,
        session: Uuid,
        account: Uuid,
    ) -> StoreResult<Option<UploadPreview>> {
        let row = sqlx::query(
            "DELETE FROM upload_previews WHERE id = $1 AND session_id = $2 AND account_id = $3 \
             RETURNING id, session_id, account_id, owner, content, created_at",
        )
        .bind(id)
        .bind(session)
        .bind(account)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(UploadPreview {
                id: col(&r, "id")?,
                session: col(&r, "session_id")?,
                account: col(&r, "account_id")?,
                owner: col(&r, "owner")?,
                content: col(&r, "content")?,
                created_at: col(&r, "created_at")?,
            })
        })
        .transpose()
    }

    async fn close_training_session(&mut self, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE training_sessions SET closed_at = $2 WHERE id = $1 AND closed_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn replace_programme_items(
        &mut self,
        session: Uuid,
        items: &[StoredItem],
    ) -> StoreResult<bool> {
        // FOR UPDATE: a concurrent close waits, so a closed session's programme never changes.
        let open: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM training_sessions WHERE id = $1 AND closed_at IS NULL FOR UPDATE",
        )
        .bind(session)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?;
        if open.is_none() {
            return Ok(false);
        }
        // Parts go with their items (ON DELETE CASCADE).
        sqlx::query("DELETE FROM training_items WHERE session_id = $1")
            .bind(session)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        for (position, item) in items.iter().enumerate() {
            let position = i32::try_from(position).map_err(|e| StoreError::Other(e.to_string()))?;
            let (kind, parts): (&str, &[CodePart]) = match &item.kind {
                ItemKind::Credit { parts } => ("credit", parts),
                ItemKind::NonCredit(k) => (k.as_str(), &[]),
            };
            sqlx::query(
                "INSERT INTO training_items (id, session_id, position, title, start_at, minutes, \
                 kind, catalogue_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(item.id)
            .bind(session)
            .bind(position)
            .bind(&item.title)
            .bind(item.start)
            .bind(small(item.minutes, "item minutes")?)
            .bind(kind)
            .bind(&item.catalogue_version)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
            for (part, p) in parts.iter().enumerate() {
                let part = i32::try_from(part).map_err(|e| StoreError::Other(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO training_item_parts (item_id, part, catalogue_version, code, \
                     minutes) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(item.id)
                .bind(part)
                .bind(&item.catalogue_version)
                .bind(i32::from(p.code))
                .bind(small(p.minutes, "part minutes")?)
                .execute(&mut *self.tx)
                .await
                .map_err(db_err)?;
            }
        }
        Ok(true)
    }

    async fn programme_items(&mut self, session: Uuid) -> StoreResult<Vec<StoredItem>> {
        let parts = sqlx::query(
            "SELECT p.item_id, p.code, p.minutes FROM training_item_parts p \
             JOIN training_items i ON i.id = p.item_id WHERE i.session_id = $1 \
             ORDER BY p.item_id, p.part",
        )
        .bind(session)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        let mut by_item: HashMap<Uuid, Vec<CodePart>> = HashMap::new();
        for r in &parts {
            by_item
                .entry(col(r, "item_id")?)
                .or_default()
                .push(CodePart {
                    code: u16::try_from(col::<i32>(r, "code")?).map_err(corrupt("part code"))?,
                    minutes: u32::try_from(col::<i32>(r, "minutes")?)
                        .map_err(corrupt("part minutes"))?,
                });
        }
        let rows = sqlx::query(
            "SELECT id, title, start_at, minutes, kind, catalogue_version FROM training_items \
             WHERE session_id = $1 ORDER BY position",
        )
        .bind(session)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let id: Uuid = col(r, "id")?;
                let kind = match col::<&str>(r, "kind")? {
                    "credit" => ItemKind::Credit {
                        parts: by_item.remove(&id).unwrap_or_default(),
                    },
                    k => {
                        ItemKind::NonCredit(NonCreditKind::parse(k).map_err(corrupt("item kind"))?)
                    }
                };
                Ok(StoredItem {
                    id,
                    title: col(r, "title")?,
                    start: col(r, "start_at")?,
                    minutes: u32::try_from(col::<i32>(r, "minutes")?)
                        .map_err(corrupt("item minutes"))?,
                    kind,
                    catalogue_version: col(r, "catalogue_version")?,
                })
            })
            .collect()
    }

    async fn insert_presence(&mut self, row: &PresenceRow) -> StoreResult<()> {
        let (doctor, pending) = subject_cols(&row.subject);
        sqlx::query(
            "INSERT INTO training_presence (id, session_id, doctor_id, pending_iseki, in_at, \
             out_at, left_at_end, channel, device_id, client_addr, created_at, removed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(row.id)
        .bind(row.session)
        .bind(doctor)
        .bind(pending)
        .bind(row.in_at)
        .bind(row.out_at)
        .bind(row.left_at_end)
        .bind(row.channel.as_str())
        .bind(row.device.as_deref())
        .bind(row.client_addr.as_deref())
        .bind(row.created_at)
        .bind(row.removed_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_presences(&mut self, rows: &[PresenceRow]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // One statement whatever the count: a column array per parameter, zipped by UNNEST.
        let mut doctors = Vec::with_capacity(rows.len());
        let mut pendings = Vec::with_capacity(rows.len());
        for row in rows {
            let (doctor, pending) = subject_cols(&row.subject);
            doctors.push(doctor);
            pendings.push(pending);
        }
        sqlx::query(concat!(
            "INSERT INTO training_presence (",
            presence_cols!(),
            ") SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], \
             $5::timestamptz[], $6::timestamptz[], $7::boolean[], $8::text[], $9::text[], \
             $10::text[], $11::timestamptz[], $12::timestamptz[])"
        ))
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.session).collect::<Vec<_>>())
        .bind(doctors)
        .bind(pendings)
        .bind(rows.iter().map(|r| r.in_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.out_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.left_at_end).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.channel.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.device.as_deref()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.client_addr.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.removed_at).collect::<Vec<_>>())
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn presence_of(&mut self, session: Uuid) -> StoreResult<Vec<PresenceRow>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            presence_cols!(),
            " FROM training_presence WHERE session_id = $1 AND removed_at IS NULL \
             ORDER BY doctor_id IS NULL, doctor_id, pending_iseki, in_at, id"
        ))
        .bind(session)
        .fetch(&mut *self.tx);
        decode_each(rows, presence_row).await
    }

    async fn presence_of_doctor(
        &mut self,
        doctor: Uuid,
        iseki: &IsekiNumber,
    ) -> StoreResult<Vec<PresenceRow>> {
        sqlx::query(concat!(
            "SELECT ",
            presence_cols!(),
            " FROM training_presence WHERE (doctor_id = $1 OR pending_iseki = $2) \
             AND removed_at IS NULL ORDER BY in_at, id"
        ))
        .bind(doctor)
        .bind(iseki.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(presence_row)
        .collect()
    }

    async fn open_presence_count(&mut self, session: Uuid) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM training_presence \
             WHERE session_id = $1 AND out_at IS NULL AND removed_at IS NULL",
        )
        .bind(session)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)?;
        u64::try_from(n).map_err(corrupt("open presence count"))
    }

    async fn open_presence(
        &mut self,
        session: Uuid,
        subject: &PresenceSubject,
    ) -> StoreResult<Option<PresenceRow>> {
        let (doctor, pending) = subject_cols(subject);
        // The same expression as `presence_open_key`, so the index answers.
        sqlx::query(concat!(
            "SELECT ",
            presence_cols!(),
            " FROM training_presence WHERE session_id = $1 \
             AND coalesce(doctor_id::text, pending_iseki) = coalesce($2::uuid::text, $3::text) \
             AND out_at IS NULL AND removed_at IS NULL"
        ))
        .bind(session)
        .bind(doctor)
        .bind(pending)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(presence_row)
        .transpose()
    }

    async fn set_presence_out(
        &mut self,
        id: Uuid,
        out_at: Timestamp,
        left_at_end: bool,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE training_presence SET out_at = $2, left_at_end = $3 \
             WHERE id = $1 AND out_at IS NULL AND removed_at IS NULL AND in_at <= $2",
        )
        .bind(id)
        .bind(out_at)
        .bind(left_at_end)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn remove_presence(&mut self, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE training_presence SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn remove_presences(&mut self, ids: &[Uuid], at: Timestamp) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let r = sqlx::query(
            "UPDATE training_presence SET removed_at = $2 \
             WHERE id = ANY($1) AND removed_at IS NULL",
        )
        .bind(ids)
        .bind(at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn insert_pending_attendance(&mut self, p: &PendingAttendance) -> StoreResult<bool> {
        let r = sqlx::query(
            "INSERT INTO pending_attendance (id, session_id, iseki_number, family_kana, \
             given_kana, birth_date, created_at, credited_doctor_id, credited_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (session_id, iseki_number) DO NOTHING",
        )
        .bind(p.id)
        .bind(p.session)
        .bind(p.iseki.as_str())
        .bind(p.family_kana.as_deref())
        .bind(p.given_kana.as_deref())
        .bind(p.birth_date)
        .bind(p.created_at)
        .bind(p.credited.map(|(d, _)| d))
        .bind(p.credited.map(|(_, at)| at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_pending_attendances(&mut self, ps: &[PendingAttendance]) -> StoreResult<u64> {
        if ps.is_empty() {
            return Ok(0);
        }
        let r = sqlx::query(concat!(
            "INSERT INTO pending_attendance (",
            pending_cols!(),
            ") SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
             $6::date[], $7::timestamptz[], $8::uuid[], $9::timestamptz[]) \
             ON CONFLICT (session_id, iseki_number) DO NOTHING"
        ))
        .bind(ps.iter().map(|p| p.id).collect::<Vec<_>>())
        .bind(ps.iter().map(|p| p.session).collect::<Vec<_>>())
        .bind(ps.iter().map(|p| p.iseki.as_str()).collect::<Vec<_>>())
        .bind(
            ps.iter()
                .map(|p| p.family_kana.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            ps.iter()
                .map(|p| p.given_kana.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(ps.iter().map(|p| p.birth_date).collect::<Vec<_>>())
        .bind(ps.iter().map(|p| p.created_at).collect::<Vec<_>>())
        .bind(
            ps.iter()
                .map(|p| p.credited.map(|(d, _)| d))
                .collect::<Vec<_>>(),
        )
        .bind(
            ps.iter()
                .map(|p| p.credited.map(|(_, at)| at))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn doctors_by_ids(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Doctor>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query(concat!(
            "SELECT ",
            doctor_cols!(),
            " FROM doctors WHERE id = ANY($1) ORDER BY id"
        ))
        .bind(ids)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(doctor_row)
        .collect()
    }

    async fn register_matches(
        &mut self,
        numbers: &[IsekiNumber],
    ) -> StoreResult<Vec<RegisterMatch>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let mut numbers: Vec<&str> = numbers.iter().map(IsekiNumber::as_str).collect();
        numbers.sort_unstable();
        numbers.dedup();
        // The correlated lookup uses the partial index `accounts_verified_doctor_key`; "C"
        // collation orders by bytes, as IsekiNumber and SQLite do.
        sqlx::query(concat!(
            "SELECT ",
            doctor_cols!(),
            ", (SELECT a.id FROM accounts a WHERE a.doctor_id = doctors.id \
             AND a.verification = 'verified') AS verified_account \
             FROM doctors WHERE iseki_number = ANY($1) ORDER BY iseki_number COLLATE \"C\""
        ))
        .bind(numbers)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(RegisterMatch {
                doctor: doctor_row(r)?,
                verified_account: col(r, "verified_account")?,
            })
        })
        .collect()
    }

    async fn pending_for_iseki(
        &mut self,
        iseki: &IsekiNumber,
    ) -> StoreResult<Vec<PendingAttendance>> {
        sqlx::query(concat!(
            "SELECT ",
            pending_cols!(),
            " FROM pending_attendance WHERE iseki_number = $1 AND credited_at IS NULL \
             ORDER BY created_at, id"
        ))
        .bind(iseki.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(pending_row)
        .collect()
    }

    async fn pending_of_session(&mut self, session: Uuid) -> StoreResult<Vec<PendingAttendance>> {
        sqlx::query(concat!(
            "SELECT ",
            pending_cols!(),
            " FROM pending_attendance WHERE session_id = $1 ORDER BY iseki_number, id"
        ))
        .bind(session)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(pending_row)
        .collect()
    }

    async fn mark_pending_credited(
        &mut self,
        ids: &[Uuid],
        doctor: Uuid,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE pending_attendance SET credited_doctor_id = $2, credited_at = $3 \
             WHERE id = ANY($1) AND credited_at IS NULL",
        )
        .bind(ids)
        .bind(doctor)
        .bind(at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }
}
