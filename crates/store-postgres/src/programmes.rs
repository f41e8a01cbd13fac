//! The certified-doctor programmes part of the PostgreSQL store.

use chrono::NaiveDate;
use mamis_domain::programmes::{CertifiedProgramme, ProgrammeEntry};
use mamis_domain::{AssociationCode, HalfUnits, Source, Timestamp};
use mamis_store::programmes::*;
use mamis_store::{StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::PgTx;
use crate::convert::*;

macro_rules! entry_cols {
    () => {
        "id, doctor_id, programme, category, entry_date, half_units, web_session, \
     lecture, source, origin_key, generation, reverses_entry, rules_version, created_by, \
     created_at, note"
    };
}

macro_rules! application_cols {
    () => {
        "id, doctor_id, programme, kind, status, route, step, acting, \
     renews, evidence, declared_activity, practical_approved, fee, return_reason, certificate_id, \
     created_at, updated_at"
    };
}

macro_rules! certificate_cols {
    () => {
        "c.id, c.number, c.doctor_id, c.programme, c.valid_from, \
     c.valid_until, c.issued_on, c.application_id, c.verification_code, c.created_at, c.revoked_at"
    };
}

// 16 parameters a row keeps a chunk below the 65,535 bound parameters of a statement.
const ENTRY_ROWS: usize = 1_000;
const KEY_CHUNK: usize = 1_000;

fn programme(s: &str) -> StoreResult<CertifiedProgramme> {
    CertifiedProgramme::parse(s).map_err(corrupt("programme"))
}

fn entry_row(r: &PgRow) -> StoreResult<ProgrammeEntry> {
    Ok(ProgrammeEntry {
        id: col(r, "id")?,
        doctor: col(r, "doctor_id")?,
        programme: programme(col(r, "programme")?)?,
        category: col(r, "category")?,
        date: col(r, "entry_date")?,
        half_units: HalfUnits::new(col(r, "half_units")?),
        web_session: col(r, "web_session")?,
        lecture: col(r, "lecture")?,
        source: Source::parse(col::<&str>(r, "source")?).map_err(corrupt("source"))?,
        origin_key: col(r, "origin_key")?,
        generation: col(r, "generation")?,
        reverses: col(r, "reverses_entry")?,
        rules_version: col(r, "rules_version")?,
        created_by: col(r, "created_by")?,
        created_at: col(r, "created_at")?,
        note: col(r, "note")?,
    })
}

fn application_row(r: &PgRow) -> StoreResult<ApplicationRecord> {
    let route = col::<&str>(r, "route")?
        .split(',')
        .map(|c| AssociationCode::parse(c).map_err(corrupt("route")))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(ApplicationRecord {
        id: col(r, "id")?,
        doctor: col(r, "doctor_id")?,
        programme: programme(col(r, "programme")?)?,
        kind: ApplicationKind::parse(col(r, "kind")?).ok_or_else(|| bad("application kind"))?,
        status: ApplicationStatus::parse(col(r, "status")?)
            .ok_or_else(|| bad("application status"))?,
        route,
        step: u32::try_from(col::<i32>(r, "step")?).map_err(corrupt("step"))?,
        renews: col(r, "renews")?,
        evidence: col(r, "evidence")?,
        declared_activity: col(r, "declared_activity")?,
        practical_approved: col(r, "practical_approved")?,
        fee: match col::<Option<&str>>(r, "fee")? {
            None => None,
            Some(f) => Some(Fee::parse(f).ok_or_else(|| bad("fee"))?),
        },
        return_reason: col(r, "return_reason")?,
        certificate: col(r, "certificate_id")?,
        created_at: col(r, "created_at")?,
        updated_at: col(r, "updated_at")?,
    })
}

fn bad(what: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what}"))
}

fn certificate_row(r: &PgRow) -> StoreResult<ProgrammeCertificate> {
    Ok(ProgrammeCertificate {
        id: col(r, "id")?,
        number: col(r, "number")?,
        doctor: col(r, "doctor_id")?,
        programme: programme(col(r, "programme")?)?,
        valid_from: col(r, "valid_from")?,
        valid_until: col(r, "valid_until")?,
        issued_on: col(r, "issued_on")?,
        application: col(r, "application_id")?,
        verification_code: col(r, "verification_code")?,
        created_at: col(r, "created_at")?,
        revoked_at: col(r, "revoked_at")?,
    })
}

fn route_text(route: &[AssociationCode]) -> String {
    route
        .iter()
        .map(AssociationCode::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn certificates(rows: &[PgRow]) -> StoreResult<Vec<ProgrammeCertificate>> {
    rows.iter().map(certificate_row).collect()
}

impl ProgrammeStore for PgTx {
    async fn insert_programme_entries(&mut self, entries: &[ProgrammeEntry]) -> StoreResult<()> {
        for chunk in entries.chunks(ENTRY_ROWS) {
            let mut q = QueryBuilder::<Postgres>::new(concat!(
                "INSERT INTO programme_entries (",
                entry_cols!(),
                ") "
            ));
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.id)
                    .push_bind(e.doctor)
                    .push_bind(e.programme.as_str())
                    .push_bind(e.category.as_str())
                    .push_bind(e.date)
                    .push_bind(e.half_units.get())
                    .push_bind(e.web_session)
                    .push_bind(e.lecture.as_deref())
                    .push_bind(e.source.as_str())
                    .push_bind(e.origin_key.as_str())
                    .push_bind(e.generation)
                    .push_bind(e.reverses)
                    .push_bind(e.rules_version.as_str())
                    .push_bind(e.created_by.as_str())
                    .push_bind(e.created_at)
                    .push_bind(e.note.as_deref());
            });
            q.build().execute(&mut *self.tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn programme_entries_of(&mut self, doctor: Uuid) -> StoreResult<Vec<ProgrammeEntry>> {
        sqlx::query(concat!(
            "SELECT ",
            entry_cols!(),
            " FROM programme_entries WHERE doctor_id = $1 \
             ORDER BY programme, entry_date, created_at, id"
        ))
        .bind(doctor)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(entry_row)
        .collect()
    }

    async fn programme_entries_by_origin(
        &mut self,
        programme: CertifiedProgramme,
        keys: &[String],
    ) -> StoreResult<Vec<ProgrammeOriginEntry>> {
        let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut found = Vec::new();
        for chunk in keys.chunks(KEY_CHUNK) {
            let mut q = QueryBuilder::<Postgres>::new(concat!(
                "SELECT ",
                entry_cols!(),
                ", EXISTS (SELECT 1 FROM programme_entries r \
                 WHERE r.reverses_entry = e.id) AS reversed FROM programme_entries e \
                 WHERE e.programme = "
            ));
            q.push_bind(programme.as_str())
                .push(" AND e.origin_key IN (");
            let mut sep = q.separated(", ");
            for k in chunk {
                sep.push_bind(*k);
            }
            q.push(") ORDER BY e.origin_key, e.generation");
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                found.push(ProgrammeOriginEntry {
                    entry: entry_row(&r)?,
                    reversed: col(&r, "reversed")?,
                });
            }
        }
        Ok(found)
    }

    async fn replace_item_programmes(
        &mut self,
        session: Uuid,
        parts: &[ItemProgramme],
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM training_item_programmes WHERE session_id = $1")
            .bind(session)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        for p in parts {
            sqlx::query(
                "INSERT INTO training_item_programmes (session_id, item_id, programme, category, \
                 web_session, lecture) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(session)
            .bind(p.item)
            .bind(p.programme.as_str())
            .bind(&p.category)
            .bind(p.web_session)
            .bind(p.lecture.as_deref())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn item_programmes(&mut self, session: Uuid) -> StoreResult<Vec<ItemProgramme>> {
        sqlx::query(
            "SELECT session_id, item_id, programme, category, web_session, lecture \
             FROM training_item_programmes WHERE session_id = $1 ORDER BY item_id, programme",
        )
        .bind(session)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(ItemProgramme {
                session: col(r, "session_id")?,
                item: col(r, "item_id")?,
                programme: programme(col(r, "programme")?)?,
                category: col(r, "category")?,
                web_session: col(r, "web_session")?,
                lecture: col(r, "lecture")?,
            })
        })
        .collect()
    }

    async fn put_designated_lecture(&mut self, l: &DesignatedLecture) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO designated_lectures (key, title, group_no, retired, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO UPDATE SET title = excluded.title, \
             group_no = excluded.group_no, retired = excluded.retired, \
             updated_at = excluded.updated_at",
        )
        .bind(&l.key)
        .bind(&l.title)
        .bind(l.group.map(i32::from))
        .bind(l.retired)
        .bind(l.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn designated_lectures(&mut self) -> StoreResult<Vec<DesignatedLecture>> {
        sqlx::query(
            "SELECT key, title, group_no, retired, updated_at FROM designated_lectures ORDER BY key",
        )
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(DesignatedLecture {
                key: col(r, "key")?,
                title: col(r, "title")?,
                group: col::<Option<i32>>(r, "group_no")?
                    .map(u8::try_from)
                    .transpose()
                    .map_err(corrupt("group"))?,
                retired: col(r, "retired")?,
                updated_at: col(r, "updated_at")?,
            })
        })
        .collect()
    }

    async fn insert_application(&mut self, a: &ApplicationRecord) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO programme_applications (",
            application_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, \
             $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        ))
        .bind(a.id)
        .bind(a.doctor)
        .bind(a.programme.as_str())
        .bind(a.kind.as_str())
        .bind(a.status.as_str())
        .bind(route_text(&a.route))
        .bind(i32::try_from(a.step).unwrap_or(i32::MAX))
        .bind(a.acting().map(|c| c.as_str().to_owned()))
        .bind(a.renews)
        .bind(a.evidence.as_deref())
        .bind(a.declared_activity)
        .bind(a.practical_approved)
        .bind(a.fee.map(Fee::as_str))
        .bind(a.return_reason.as_deref())
        .bind(a.certificate)
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn update_application(
        &mut self,
        a: &ApplicationRecord,
        seen: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE programme_applications SET status = $2, step = $3, acting = $4, \
             evidence = $5, declared_activity = $6, practical_approved = $7, fee = $8, \
             return_reason = $9, certificate_id = $10, updated_at = $11 \
             WHERE id = $1 AND updated_at = $12",
        )
        .bind(a.id)
        .bind(a.status.as_str())
        .bind(i32::try_from(a.step).unwrap_or(i32::MAX))
        .bind(a.acting().map(|c| c.as_str().to_owned()))
        .bind(a.evidence.as_deref())
        .bind(a.declared_activity)
        .bind(a.practical_approved)
        .bind(a.fee.map(Fee::as_str))
        .bind(a.return_reason.as_deref())
        .bind(a.certificate)
        .bind(a.updated_at)
        .bind(seen)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn application(&mut self, id: Uuid) -> StoreResult<Option<ApplicationRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            application_cols!(),
            " FROM programme_applications WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(application_row)
        .transpose()
    }

    async fn applications_of(&mut self, doctor: Uuid) -> StoreResult<Vec<ApplicationRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            application_cols!(),
            " FROM programme_applications WHERE doctor_id = $1 \
             ORDER BY created_at DESC, id"
        ))
        .bind(doctor)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(application_row)
        .collect()
    }

    async fn applications_acting_in(
        &mut self,
        scope: &AssociationCode,
    ) -> StoreResult<Vec<ApplicationRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            application_cols!(),
            " FROM programme_applications WHERE status = 'open' \
             AND ($1 = 'JMA' OR acting = $1 OR acting LIKE ($1 || '-%')) \
             ORDER BY created_at, id"
        ))
        .bind(scope.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(application_row)
        .collect()
    }

    async fn insert_programme_certificate(&mut self, c: &ProgrammeCertificate) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO programme_certificates (id, number, doctor_id, programme, valid_from, \
             valid_until, issued_on, application_id, verification_code, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(c.id)
        .bind(&c.number)
        .bind(c.doctor)
        .bind(c.programme.as_str())
        .bind(c.valid_from)
        .bind(c.valid_until)
        .bind(c.issued_on)
        .bind(c.application)
        .bind(&c.verification_code)
        .bind(c.created_at)
        .bind(c.revoked_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn programme_certificates_of(
        &mut self,
        doctor: Uuid,
    ) -> StoreResult<Vec<ProgrammeCertificate>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            certificate_cols!(),
            " FROM programme_certificates c WHERE c.doctor_id = $1 \
             ORDER BY c.programme, c.valid_from"
        ))
        .bind(doctor)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        certificates(&rows)
    }

    async fn programme_certificate_by_number(
        &mut self,
        number: &str,
    ) -> StoreResult<Option<ProgrammeCertificate>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            certificate_cols!(),
            " FROM programme_certificates c WHERE c.number = $1"
        ))
        .bind(number)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(certificates(&rows)?.into_iter().next())
    }

    async fn programme_certificates_expiring(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<ProgrammeCertificate>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            certificate_cols!(),
            " FROM programme_certificates c WHERE c.revoked_at IS NULL \
             AND c.valid_until BETWEEN $1 AND $2 ORDER BY c.valid_until, c.id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        certificates(&rows)
    }

    async fn insert_application_file(&mut self, e: &mamis_store::Evidence) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO programme_application_files (id, application_id, file_name, \
             content_type, size, sha256, storage_key, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(e.id)
        .bind(e.procedure_id)
        .bind(&e.file_name)
        .bind(&e.content_type)
        .bind(e.size)
        .bind(&e.sha256)
        .bind(&e.storage_key)
        .bind(e.uploaded_by)
        .bind(e.uploaded_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn application_files(
        &mut self,
        application: Uuid,
    ) -> StoreResult<Vec<mamis_store::Evidence>> {
        sqlx::query(
            "SELECT id, application_id AS procedure_id, file_name, content_type, size, sha256, \
             storage_key, uploaded_by, uploaded_at FROM programme_application_files \
             WHERE application_id = $1 ORDER BY uploaded_at, id",
        )
        .bind(application)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(crate::membership::evidence_row)
        .collect()
    }

    async fn programme_roster(
        &mut self,
        programme: CertifiedProgramme,
        scope: &AssociationCode,
    ) -> StoreResult<Vec<RosterLine>> {
        let sql = concat!(
            "SELECT ",
            certificate_cols!(),
            ", d.iseki_number, d.family_name || ' ' || d.given_name AS name \
             FROM programme_certificates c JOIN doctors d ON d.id = c.doctor_id \
             WHERE c.programme = $1 AND c.revoked_at IS NULL AND ($2 = 'JMA' \
               OR d.home_prefecture = $2 \
               OR EXISTS (SELECT 1 FROM memberships m WHERE m.doctor_id = c.doctor_id \
                 AND m.left_on IS NULL AND (m.association_code = $2 \
                 OR m.association_code LIKE ($2 || '-%')))) \
             ORDER BY c.valid_until, c.number"
        );
        sqlx::query(sql)
            .bind(programme.as_str())
            .bind(scope.as_str())
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(RosterLine {
                    certificate: certificate_row(r)?,
                    iseki: col(r, "iseki_number")?,
                    name: col(r, "name")?,
                })
            })
            .collect()
    }
}
