//! Authored learning, quiz answers, e-learning attempts, slide files and the session calendar:
//! the learning part of the PostgreSQL store.

use mamis_store::*;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::PgTx;
use crate::convert::*;

macro_rules! version_cols {
    () => {
        "item_id, version, kind, issue, title, body, published_on, deadline, \
                            answers_on, saved_by, saved_at"
    };
}

fn version_row(r: &PgRow) -> StoreResult<LearningVersion> {
    Ok(LearningVersion {
        item_id: col(r, "item_id")?,
        version: col(r, "version")?,
        kind: LearningKind::parse(col(r, "kind")?)?,
        issue: col(r, "issue")?,
        title: col(r, "title")?,
        body: col(r, "body")?,
        published_on: col(r, "published_on")?,
        deadline: col(r, "deadline")?,
        answers_on: col(r, "answers_on")?,
        saved_by: col(r, "saved_by")?,
        saved_at: col(r, "saved_at")?,
    })
}

macro_rules! answer_cols {
    () => {
        "set_id, doctor_id, channel, answers, answered_on, recorded_by, recorded_at"
    };
}

fn answer_row(r: &PgRow) -> StoreResult<QuizAnswerRow> {
    Ok(QuizAnswerRow {
        set_id: col(r, "set_id")?,
        doctor_id: col(r, "doctor_id")?,
        channel: AnswerChannel::parse(col(r, "channel")?)?,
        answers: col(r, "answers")?,
        answered_on: col(r, "answered_on")?,
        recorded_by: col(r, "recorded_by")?,
        recorded_at: col(r, "recorded_at")?,
    })
}

macro_rules! attempt_cols {
    () => {
        "id, content_id, version, doctor_id, correct, total, passed, answered_on, at"
    };
}

fn attempt_row(r: &PgRow) -> StoreResult<AttemptRow> {
    let count = |c: &'static str| u32::try_from(col::<i32>(r, c)?).map_err(corrupt(c));
    Ok(AttemptRow {
        id: col(r, "id")?,
        content_id: col(r, "content_id")?,
        version: col(r, "version")?,
        doctor_id: col(r, "doctor_id")?,
        correct: count("correct")?,
        total: count("total")?,
        passed: col(r, "passed")?,
        answered_on: col(r, "answered_on")?,
        at: col(r, "at")?,
    })
}

/// The calendar's WHERE clause, shared by both backends' query texts in spirit: credit-awarding
/// sessions (an association's, or an approved outside one) with at least one code part.
fn calendar_filters(b: &mut QueryBuilder<Postgres>, q: &CalendarQuery) {
    // every filter is written so an index can drive it: codes through the parts' code index,
    // prefecture and organiser name through the small association and organisation tables and
    // the sessions' organiser indexes, dates through the start index
    b.push(" WHERE (s.organiser_association IS NOT NULL OR s.approval_number IS NOT NULL)");
    if q.codes.is_empty() {
        b.push(
            " AND EXISTS (SELECT 1 FROM training_items i JOIN training_item_parts p \
             ON p.item_id = i.id WHERE i.session_id = s.id)",
        );
    } else {
        b.push(
            " AND s.id IN (SELECT i.session_id FROM training_item_parts p \
             JOIN training_items i ON i.id = p.item_id WHERE p.code IN (",
        );
        let mut sep = b.separated(", ");
        for c in &q.codes {
            sep.push_bind(i32::from(*c));
        }
        b.push("))");
    }
    if let Some(f) = q.from {
        b.push(" AND s.start_at >= ").push_bind(f);
    }
    if let Some(t) = q.to {
        b.push(" AND s.start_at < ").push_bind(t);
    }
    if let Some(p) = &q.prefecture {
        let p = p.as_str().to_owned();
        b.push(
            " AND (s.organiser_association IN (SELECT x.code FROM associations x \
             WHERE x.code = ",
        )
        .push_bind(p.clone())
        .push(" OR x.parent_code = ")
        .push_bind(p.clone())
        .push(
            ") OR s.organiser_organisation IN (SELECT y.id FROM organisations y \
             WHERE y.prefecture_code = ",
        )
        .push_bind(p)
        .push("))");
    }
    match q.online {
        Some(true) => {
            b.push(" AND s.venue_kind IN ('online', 'hybrid')");
        }
        Some(false) => {
            b.push(" AND s.venue_kind IN ('in_person', 'hybrid')");
        }
        None => {}
    }
    if let Some(o) = q.organiser.as_deref().filter(|o| !o.is_empty()) {
        b.push(
            " AND (s.organiser_association IN (SELECT x.code FROM associations x \
             WHERE strpos(x.name_ja, ",
        )
        .push_bind(o.to_owned())
        .push(
            ") > 0) OR s.organiser_organisation IN (SELECT y.id FROM organisations y \
             WHERE strpos(y.name, ",
        )
        .push_bind(o.to_owned())
        .push(") > 0))");
    }
}

impl LearningStore for PgTx {
    async fn insert_learning_version(&mut self, v: &LearningVersion) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO learning_versions (item_id, version, kind, issue, title, body, \
             published_on, deadline, answers_on, saved_by, saved_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(v.item_id)
        .bind(v.version)
        .bind(v.kind.as_str())
        .bind(v.issue.as_deref())
        .bind(&v.title)
        .bind(&v.body)
        .bind(v.published_on)
        .bind(v.deadline)
        .bind(v.answers_on)
        .bind(&v.saved_by)
        .bind(v.saved_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn learning_item(&mut self, id: Uuid) -> StoreResult<Option<LearningVersion>> {
        sqlx::query(concat!(
            "SELECT ",
            version_cols!(),
            " FROM learning_versions WHERE item_id = $1 \
             ORDER BY version DESC LIMIT 1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(version_row)
        .transpose()
    }

    async fn learning_versions(&mut self, id: Uuid) -> StoreResult<Vec<LearningVersion>> {
        sqlx::query(concat!(
            "SELECT ",
            version_cols!(),
            " FROM learning_versions WHERE item_id = $1 ORDER BY version"
        ))
        .bind(id)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(version_row)
        .collect()
    }

    async fn learning_items(&mut self, kind: LearningKind) -> StoreResult<Vec<LearningVersion>> {
        sqlx::query(concat!(
            "SELECT ",
            version_cols!(),
            " FROM learning_versions v WHERE kind = $1 \
             AND version = (SELECT max(w.version) FROM learning_versions w \
                            WHERE w.item_id = v.item_id) \
             ORDER BY issue DESC, title, item_id"
        ))
        .bind(kind.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(version_row)
        .collect()
    }

    async fn insert_quiz_answer(&mut self, a: &QuizAnswerRow) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO quiz_answers (set_id, doctor_id, channel, answers, answered_on, \
             recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT DO NOTHING",
        )
        .bind(a.set_id)
        .bind(a.doctor_id)
        .bind(a.channel.as_str())
        .bind(&a.answers)
        .bind(a.answered_on)
        .bind(&a.recorded_by)
        .bind(a.recorded_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn quiz_answers_of_set(&mut self, set: Uuid) -> StoreResult<Vec<QuizAnswerRow>> {
        sqlx::query(concat!(
            "SELECT ",
            answer_cols!(),
            " FROM quiz_answers WHERE set_id = $1 ORDER BY doctor_id"
        ))
        .bind(set)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(answer_row)
        .collect()
    }

    async fn quiz_answers_of_doctor(&mut self, doctor: Uuid) -> StoreResult<Vec<QuizAnswerRow>> {
        sqlx::query(concat!(
            "SELECT ",
            answer_cols!(),
            " FROM quiz_answers WHERE doctor_id = $1 ORDER BY set_id"
        ))
        .bind(doctor)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(answer_row)
        .collect()
    }

    async fn insert_attempt(&mut self, a: &AttemptRow) -> StoreResult<bool> {
        let count = |v: u32| i32::try_from(v).map_err(corrupt("count"));
        let done = sqlx::query(
            "INSERT INTO elearning_attempts (id, content_id, version, doctor_id, correct, total, \
             passed, answered_on, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT DO NOTHING",
        )
        .bind(a.id)
        .bind(a.content_id)
        .bind(a.version)
        .bind(a.doctor_id)
        .bind(count(a.correct)?)
        .bind(count(a.total)?)
        .bind(a.passed)
        .bind(a.answered_on)
        .bind(a.at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn attempt(&mut self, id: Uuid) -> StoreResult<Option<AttemptRow>> {
        sqlx::query(concat!(
            "SELECT ",
            attempt_cols!(),
            " FROM elearning_attempts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(attempt_row)
        .transpose()
    }

    async fn attempts_of(&mut self, doctor: Uuid) -> StoreResult<Vec<AttemptRow>> {
        sqlx::query(concat!(
            "SELECT ",
            attempt_cols!(),
            " FROM elearning_attempts WHERE doctor_id = $1 ORDER BY at, id"
        ))
        .bind(doctor)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(attempt_row)
        .collect()
    }

    async fn put_learning_file(
        &mut self,
        sha256: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO learning_files (sha256, content_type, bytes) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(sha256)
        .bind(content_type)
        .bind(bytes)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn learning_file(&mut self, sha256: &str) -> StoreResult<Option<(String, Vec<u8>)>> {
        sqlx::query("SELECT content_type, bytes FROM learning_files WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .map(|r| Ok((col(&r, "content_type")?, col(&r, "bytes")?)))
            .transpose()
    }

    async fn calendar_search(&mut self, q: &CalendarQuery) -> StoreResult<Vec<CalendarRow>> {
        let mut b = QueryBuilder::<Postgres>::new(
            "SELECT s.id, s.title, COALESCE(a.name_ja, o.name) AS organiser_name, \
             COALESCE(o.prefecture_code, CASE WHEN s.organiser_association = 'JMA' THEN NULL \
             ELSE substr(s.organiser_association, 1, 3) END) AS prefecture, \
             s.venue_kind, s.place, s.start_at, s.end_at FROM training_sessions s \
             LEFT JOIN associations a ON a.code = s.organiser_association \
             LEFT JOIN organisations o ON o.id = s.organiser_organisation",
        );
        calendar_filters(&mut b, q);
        b.push(" ORDER BY s.start_at, s.id LIMIT ")
            .push_bind(i64::from(q.limit))
            .push(" OFFSET ")
            .push_bind(i64::from(q.offset));
        b.build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(CalendarRow {
                    session: col(r, "id")?,
                    title: col(r, "title")?,
                    organiser: col(r, "organiser_name")?,
                    prefecture: col(r, "prefecture")?,
                    venue_kind: col(r, "venue_kind")?,
                    place: col(r, "place")?,
                    start: col(r, "start_at")?,
                    end: col(r, "end_at")?,
                })
            })
            .collect()
    }

    async fn calendar_parts(&mut self, sessions: &[Uuid]) -> StoreResult<Vec<CalendarPart>> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let mut b = QueryBuilder::<Postgres>::new(
            "SELECT i.session_id, p.code, p.minutes FROM training_items i \
             JOIN training_item_parts p ON p.item_id = i.id WHERE i.session_id IN (",
        );
        let mut sep = b.separated(", ");
        for s in sessions {
            sep.push_bind(*s);
        }
        b.push(") ORDER BY i.session_id, i.position, p.part");
        b.build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok((
                    col(r, "session_id")?,
                    u16::try_from(col::<i32>(r, "code")?).map_err(corrupt("code"))?,
                    u32::try_from(col::<i32>(r, "minutes")?).map_err(corrupt("minutes"))?,
                ))
            })
            .collect()
    }
}
