//! Training sessions, programme items, presence and pending attendance: the training part of
//! the SQLite store.

use mamis_domain::training::{CodePart, ItemKind, NonCreditKind, Venue};
use mamis_domain::{AssociationCode, IsekiNumber, Timestamp};
use mamis_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::SqliteTx;
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

/// Ids bound per `IN (…)` list, well below SQLite's limit on bound parameters.
const ID_CHUNK: usize = 500;

/// Rows per multi-row INSERT: at 12 columns, 12,000 bound parameters, under SQLite's 32,766.
const ROW_CHUNK: usize = 1_000;

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

fn session_row(r: &SqliteRow) -> StoreResult<TrainingSession> {
    let organiser = match (
        r.get::<Option<&str>, _>("organiser_association"),
        r.get::<Option<&str>, _>("organiser_organisation"),
    ) {
        (Some(code), None) => Organiser::Association(
            AssociationCode::parse(code).map_err(corrupt("organiser association"))?,
        ),
        (None, Some(id)) => Organiser::Organisation(uuid(id)?),
        _ => return Err(StoreError::Corrupt("session organiser".into())),
    };
    let approval = match (
        r.get::<Option<String>, _>("approval_number"),
        r.get::<Option<i64>, _>("approved_at"),
        r.get::<Option<String>, _>("approved_by"),
    ) {
        (None, None, None) => None,
        (Some(number), Some(at), Some(by)) => Some(SessionApproval {
            number,
            at: from_micros(at)?,
            by,
        }),
        _ => return Err(StoreError::Corrupt("a partly recorded approval".into())),
    };
    Ok(TrainingSession {
        id: uuid(r.get("id"))?,
        organiser,
        title: r.get("title"),
        venue: venue(r.get("venue_kind"), r.get("place"))?,
        start: from_micros(r.get("start_at"))?,
        end: from_micros(r.get("end_at"))?,
        expected_headcount: r
            .get::<Option<i64>, _>("expected_headcount")
            .map(u32::try_from)
            .transpose()
            .map_err(corrupt("expected headcount"))?,
        created_at: from_micros(r.get("created_at"))?,
        approval,
        closed_at: opt_from_micros(r.get("closed_at"))?,
        desk_scan_only: match r.get::<i64, _>("desk_scan_only") {
            0 => false,
            1 => true,
            v => return Err(StoreError::Corrupt(format!("desk_scan_only {v}"))),
        },
        grace_minutes: u32::try_from(r.get::<i64, _>("grace_minutes"))
            .map_err(corrupt("grace minutes"))?,
    })
}

fn presence_row(r: &SqliteRow) -> StoreResult<PresenceRow> {
    let subject = match (
        r.get::<Option<&str>, _>("doctor_id"),
        r.get::<Option<&str>, _>("pending_iseki"),
    ) {
        (Some(d), None) => PresenceSubject::Doctor(uuid(d)?),
        (None, Some(i)) => {
            PresenceSubject::Pending(IsekiNumber::parse(i).map_err(corrupt("pending iseki"))?)
        }
        _ => return Err(StoreError::Corrupt("presence subject".into())),
    };
    let channel: &str = r.get("channel");
    Ok(PresenceRow {
        id: uuid(r.get("id"))?,
        session: uuid(r.get("session_id"))?,
        subject,
        in_at: from_micros(r.get("in_at"))?,
        out_at: opt_from_micros(r.get("out_at"))?,
        left_at_end: r.get::<i64, _>("left_at_end") != 0,
        channel: PresenceChannel::parse(channel)
            .ok_or_else(|| StoreError::Corrupt(format!("presence channel {channel}")))?,
        device: r.get("device_id"),
        client_addr: r.get("client_addr"),
        created_at: from_micros(r.get("created_at"))?,
        removed_at: opt_from_micros(r.get("removed_at"))?,
    })
}

fn pending_row(r: &SqliteRow) -> StoreResult<PendingAttendance> {
    let credited = match (
        r.get::<Option<&str>, _>("credited_doctor_id"),
        r.get::<Option<i64>, _>("credited_at"),
    ) {
        (None, None) => None,
        (Some(d), Some(at)) => Some((uuid(d)?, from_micros(at)?)),
        _ => return Err(StoreError::Corrupt("a partly recorded credit".into())),
    };
    Ok(PendingAttendance {
        id: uuid(r.get("id"))?,
        session: uuid(r.get("session_id"))?,
        iseki: IsekiNumber::parse(r.get::<&str, _>("iseki_number"))
            .map_err(corrupt("pending iseki"))?,
        family_kana: r.get("family_kana"),
        given_kana: r.get("given_kana"),
        birth_date: r
            .get::<Option<&str>, _>("birth_date")
            .map(date)
            .transpose()?,
        created_at: from_micros(r.get("created_at"))?,
        credited,
    })
}

/// The subject's (doctor, pending number) columns.
fn subject_cols(s: &PresenceSubject) -> (Option<String>, Option<&str>) {
    match s {
        PresenceSubject::Doctor(d) => (Some(d.to_string()), None),
        PresenceSubject::Pending(i) => (None, Some(i.as_str())),
    }
}

impl TrainingStore for SqliteTx {
    async fn insert_training_session(&mut self, s: &TrainingSession) -> StoreResult<()> {
        let (assoc, org) = match &s.organiser {
            Organiser::Association(c) => (Some(c.as_str().to_owned()), None),
            Organiser::Organisation(o) => (None, Some(o.to_string())),
        };
        let (kind, place) = venue_cols(&s.venue);
        sqlx::query(
            "INSERT INTO training_sessions (id, organiser_association, organiser_organisation, \
             title, venue_kind, place, start_at, end_at, expected_headcount, created_at, \
             approval_number, approved_at, approved_by, closed_at, desk_scan_only, grace_minutes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(s.id.to_string())
        .bind(assoc)
        .bind(org)
        .bind(&s.title)
        .bind(kind)
        .bind(place)
        .bind(micros(s.start))
        .bind(micros(s.end))
        .bind(s.expected_headcount.map(i64::from))
        .bind(micros(s.created_at))
        .bind(s.approval.as_ref().map(|a| a.number.as_str()))
        .bind(s.approval.as_ref().map(|a| micros(a.at)))
        .bind(s.approval.as_ref().map(|a| a.by.as_str()))
        .bind(s.closed_at.map(micros))
        .bind(i64::from(s.desk_scan_only))
        .bind(i64::from(s.grace_minutes))
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
        .bind(id.to_string())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(session_row)
        .transpose()
    }

    async fn insert_upload_preview(&mut self, p: &UploadPreview) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO upload_previews (id, session_id, account_id, owner, content, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(p.id.to_string())
        .bind(p.session.to_string())
        .bind(p.account.to_string())
        .bind(&p.owner)
        .bind(&p.content)
        .bind(micros(p.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn purge_upload_previews(&mut self, before: Timestamp) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM upload_previews WHERE created_at < $1")
            .bind(micros(before))
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
        let ids = |rows: Vec<String>| {
            rows.iter()
                .map(|r| uuid(r))
                .collect::<StoreResult<Vec<_>>>()
        };
        let mine: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM upload_previews WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account.to_string())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        let theirs: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM upload_previews WHERE owner = $1 ORDER BY created_at, id",
        )
        .bind(owner)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok((ids(mine)?, ids(theirs)?))
    }

    async fn delete_upload_preview(&mut self, id: Uuid) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM upload_previews WHERE id = $1")
            .bind(id.to_string())
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
        .bind(id.to_string())
        .bind(session.to_string())
        .bind(account.to_string())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(UploadPreview {
                id: uuid(r.get("id"))?,
                session: uuid(r.get("session_id"))?,
                account: uuid(r.get("account_id"))?,
                owner: r.get("owner"),
                content: r.get("content"),
                created_at: from_micros(r.get("created_at"))?,
            })
        })
        .transpose()
    }

    async fn lock_training_session(&mut self, id: Uuid) -> StoreResult<Option<TrainingSession>> {
        // Writers hold SQLite's single write lock (BEGIN IMMEDIATE): nothing else to take.
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM training_sessions s WHERE s.id = $1"
        ))
        .bind(id.to_string())
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
        let mut ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(concat!(
                "SELECT ",
                session_cols!(),
                " FROM training_sessions s WHERE s.id IN ("
            ));
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                found.push(session_row(&r)?);
            }
        }
        // Chunks each come back in any order; lowercase text ids sort as the UUIDs do.
        found.sort_by_key(|s| (s.start, s.id));
        Ok(found)
    }

    async fn training_sessions_of(
        &mut self,
        organiser: &Organiser,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<TrainingSession>> {
        let (column, key) = match organiser {
            Organiser::Association(c) => ("s.organiser_association", c.as_str().to_owned()),
            Organiser::Organisation(o) => ("s.organiser_organisation", o.to_string()),
        };
        let mut q = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            session_cols!(),
            " FROM training_sessions s WHERE "
        ));
        q.push(column)
            .push(" = ")
            .push_bind(key)
            .push(" ORDER BY s.start_at DESC, s.id LIMIT ")
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
        .bind(id.to_string())
        .bind(&approval.number)
        .bind(micros(approval.at))
        .bind(&approval.by)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn close_training_session(&mut self, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE training_sessions SET closed_at = $2 WHERE id = $1 AND closed_at IS NULL",
        )
        .bind(id.to_string())
        .bind(micros(at))
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
        let sid = session.to_string();
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM training_sessions WHERE id = $1 AND closed_at IS NULL",
        )
        .bind(&sid)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?;
        if open.is_none() {
            return Ok(false);
        }
        // Parts go with their items (ON DELETE CASCADE).
        sqlx::query("DELETE FROM training_items WHERE session_id = $1")
            .bind(&sid)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        for (position, item) in items.iter().enumerate() {
            let position = i64::try_from(position).map_err(|e| StoreError::Other(e.to_string()))?;
            let (kind, parts): (&str, &[CodePart]) = match &item.kind {
                ItemKind::Credit { parts } => ("credit", parts),
                ItemKind::NonCredit(k) => (k.as_str(), &[]),
            };
            let id = item.id.to_string();
            sqlx::query(
                "INSERT INTO training_items (id, session_id, position, title, start_at, minutes, \
                 kind, catalogue_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(&sid)
            .bind(position)
            .bind(&item.title)
            .bind(micros(item.start))
            .bind(i64::from(item.minutes))
            .bind(kind)
            .bind(&item.catalogue_version)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
            for (part, p) in parts.iter().enumerate() {
                let part = i64::try_from(part).map_err(|e| StoreError::Other(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO training_item_parts (item_id, part, catalogue_version, code, \
                     minutes) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&id)
                .bind(part)
                .bind(&item.catalogue_version)
                .bind(i64::from(p.code))
                .bind(i64::from(p.minutes))
                .execute(&mut *self.tx)
                .await
                .map_err(db_err)?;
            }
        }
        Ok(true)
    }

    async fn programme_items(&mut self, session: Uuid) -> StoreResult<Vec<StoredItem>> {
        let sid = session.to_string();
        let parts = sqlx::query(
            "SELECT p.item_id, p.code, p.minutes FROM training_item_parts p \
             JOIN training_items i ON i.id = p.item_id WHERE i.session_id = $1 \
             ORDER BY p.item_id, p.part",
        )
        .bind(&sid)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        let mut by_item: std::collections::HashMap<String, Vec<CodePart>> =
            std::collections::HashMap::new();
        for r in &parts {
            by_item.entry(r.get("item_id")).or_default().push(CodePart {
                code: u16::try_from(r.get::<i64, _>("code")).map_err(corrupt("part code"))?,
                minutes: u32::try_from(r.get::<i64, _>("minutes"))
                    .map_err(corrupt("part minutes"))?,
            });
        }
        let rows = sqlx::query(
            "SELECT id, title, start_at, minutes, kind, catalogue_version FROM training_items \
             WHERE session_id = $1 ORDER BY position",
        )
        .bind(&sid)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let id: String = r.get("id");
                let kind = match r.get::<&str, _>("kind") {
                    "credit" => ItemKind::Credit {
                        parts: by_item.remove(&id).unwrap_or_default(),
                    },
                    k => {
                        ItemKind::NonCredit(NonCreditKind::parse(k).map_err(corrupt("item kind"))?)
                    }
                };
                Ok(StoredItem {
                    id: uuid(&id)?,
                    title: r.get("title"),
                    start: from_micros(r.get("start_at"))?,
                    minutes: u32::try_from(r.get::<i64, _>("minutes"))
                        .map_err(corrupt("item minutes"))?,
                    kind,
                    catalogue_version: r.get("catalogue_version"),
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
        .bind(row.id.to_string())
        .bind(row.session.to_string())
        .bind(doctor)
        .bind(pending)
        .bind(micros(row.in_at))
        .bind(row.out_at.map(micros))
        .bind(i64::from(row.left_at_end))
        .bind(row.channel.as_str())
        .bind(row.device.as_deref())
        .bind(row.client_addr.as_deref())
        .bind(micros(row.created_at))
        .bind(row.removed_at.map(micros))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_presences(&mut self, rows: &[PresenceRow]) -> StoreResult<()> {
        for chunk in rows.chunks(ROW_CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(concat!(
                "INSERT INTO training_presence (",
                presence_cols!(),
                ") "
            ));
            q.push_values(chunk, |mut b, row| {
                let (doctor, pending) = subject_cols(&row.subject);
                b.push_bind(row.id.to_string())
                    .push_bind(row.session.to_string())
                    .push_bind(doctor)
                    .push_bind(pending.map(str::to_owned))
                    .push_bind(micros(row.in_at))
                    .push_bind(row.out_at.map(micros))
                    .push_bind(i64::from(row.left_at_end))
                    .push_bind(row.channel.as_str())
                    .push_bind(row.device.clone())
                    .push_bind(row.client_addr.clone())
                    .push_bind(micros(row.created_at))
                    .push_bind(row.removed_at.map(micros));
            });
            q.build().execute(&mut *self.tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn presence_of(&mut self, session: Uuid) -> StoreResult<Vec<PresenceRow>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            presence_cols!(),
            " FROM training_presence WHERE session_id = $1 AND removed_at IS NULL \
             ORDER BY doctor_id IS NULL, doctor_id, pending_iseki, in_at, id"
        ))
        .bind(session.to_string())
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
        .bind(doctor.to_string())
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
        .bind(session.to_string())
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
        sqlx::query(concat!(
            "SELECT ",
            presence_cols!(),
            " FROM training_presence WHERE session_id = $1 \
             AND coalesce(doctor_id, pending_iseki) = coalesce($2, $3) \
             AND out_at IS NULL AND removed_at IS NULL"
        ))
        .bind(session.to_string())
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
        .bind(id.to_string())
        .bind(micros(out_at))
        .bind(i64::from(left_at_end))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn remove_presence(&mut self, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE training_presence SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL",
        )
        .bind(id.to_string())
        .bind(micros(at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn remove_presences(&mut self, ids: &[Uuid], at: Timestamp) -> StoreResult<u64> {
        let mut n = 0;
        for chunk in ids.chunks(ID_CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new("UPDATE training_presence SET removed_at = ");
            q.push_bind(micros(at))
                .push(" WHERE removed_at IS NULL AND id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.to_string());
            }
            q.push(")");
            n += q
                .build()
                .execute(&mut *self.tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        Ok(n)
    }

    async fn insert_pending_attendance(&mut self, p: &PendingAttendance) -> StoreResult<bool> {
        let r = sqlx::query(
            "INSERT INTO pending_attendance (id, session_id, iseki_number, family_kana, \
             given_kana, birth_date, created_at, credited_doctor_id, credited_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (session_id, iseki_number) DO NOTHING",
        )
        .bind(p.id.to_string())
        .bind(p.session.to_string())
        .bind(p.iseki.as_str())
        .bind(p.family_kana.as_deref())
        .bind(p.given_kana.as_deref())
        .bind(p.birth_date.map(|d| d.to_string()))
        .bind(micros(p.created_at))
        .bind(p.credited.map(|(d, _)| d.to_string()))
        .bind(p.credited.map(|(_, at)| micros(at)))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_pending_attendances(&mut self, ps: &[PendingAttendance]) -> StoreResult<u64> {
        let mut n = 0;
        for chunk in ps.chunks(ROW_CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(concat!(
                "INSERT INTO pending_attendance (",
                pending_cols!(),
                ") "
            ));
            q.push_values(chunk, |mut b, p| {
                b.push_bind(p.id.to_string())
                    .push_bind(p.session.to_string())
                    .push_bind(p.iseki.as_str().to_owned())
                    .push_bind(p.family_kana.clone())
                    .push_bind(p.given_kana.clone())
                    .push_bind(p.birth_date.map(|d| d.to_string()))
                    .push_bind(micros(p.created_at))
                    .push_bind(p.credited.map(|(d, _)| d.to_string()))
                    .push_bind(p.credited.map(|(_, at)| micros(at)));
            });
            q.push(" ON CONFLICT (session_id, iseki_number) DO NOTHING");
            n += q
                .build()
                .execute(&mut *self.tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        Ok(n)
    }

    async fn doctors_by_ids(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Doctor>> {
        let mut ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(concat!(
                "SELECT ",
                doctor_cols!(),
                " FROM doctors WHERE id IN ("
            ));
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                found.push(doctor_row(&r)?);
            }
        }
        found.sort_by_key(|d| d.id);
        Ok(found)
    }

    async fn register_matches(
        &mut self,
        numbers: &[IsekiNumber],
    ) -> StoreResult<Vec<RegisterMatch>> {
        let mut numbers: Vec<&str> = numbers.iter().map(IsekiNumber::as_str).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let mut found = Vec::with_capacity(numbers.len());
        for chunk in numbers.chunks(ID_CHUNK) {
            // The correlated lookup uses the partial index `accounts_verified_doctor_key`.
            let mut q = QueryBuilder::<Sqlite>::new(concat!(
                "SELECT ",
                doctor_cols!(),
                ", (SELECT a.id FROM accounts a WHERE a.doctor_id = doctors.id \
                 AND a.verification = 'verified') AS verified_account \
                 FROM doctors WHERE iseki_number IN ("
            ));
            let mut list = q.separated(", ");
            for n in chunk {
                list.push_bind(*n);
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                found.push(RegisterMatch {
                    doctor: doctor_row(&r)?,
                    verified_account: r
                        .get::<Option<&str>, _>("verified_account")
                        .map(uuid)
                        .transpose()?,
                });
            }
        }
        found.sort_by(|a, b| a.doctor.iseki.cmp(&b.doctor.iseki));
        Ok(found)
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
        .bind(session.to_string())
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
        let mut n = 0;
        for id in ids {
            n += sqlx::query(
                "UPDATE pending_attendance SET credited_doctor_id = $2, credited_at = $3 \
                 WHERE id = $1 AND credited_at IS NULL",
            )
            .bind(id.to_string())
            .bind(doctor.to_string())
            .bind(micros(at))
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        }
        Ok(n)
    }
}
