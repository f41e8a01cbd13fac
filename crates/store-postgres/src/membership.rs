//! Doctor profiles, per-association classes and rules, member IDs and membership procedures:
//! the membership part of the PostgreSQL store.

use chrono::NaiveDate;
use mamis_domain::procedure::{DueAction, EffectiveRule, ProcedureKind, ProcedureStatus};
use mamis_domain::{AssociationCode, ClassCode, MemberId, Timestamp};
use mamis_store::*;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::PgTx;
use crate::convert::*;

macro_rules! procedure_cols {
    () => {
        "p.id, p.doctor_id, p.applicant_account, p.kind, p.status, p.state, p.filed_by, \
         p.filed_at, p.updated_at, p.effective_on"
    };
}

/// The advisory-lock key that serialises member-ID allocation across servers until commit.
const MEMBER_ID_LOCK: i64 = 0x4D41_4D49_5349_4431;

fn codes(associations: &[AssociationCode]) -> Vec<String> {
    associations.iter().map(|a| a.as_str().to_owned()).collect()
}

pub(crate) fn profile_row(r: &PgRow) -> StoreResult<DoctorProfile> {
    Ok(DoctorProfile {
        doctor_id: col(r, "doctor_id")?,
        workplace_name: col(r, "workplace_name")?,
        workplace_address: col(r, "workplace_address")?,
        workplace_municipality: col(r, "workplace_municipality")?,
        home_address: col(r, "home_address")?,
        phone: col(r, "phone")?,
        graduation_year: col(r, "graduation_year")?,
        resident: col(r, "resident")?,
        updated_at: col(r, "updated_at")?,
    })
}

fn class_row(r: &PgRow) -> StoreResult<AssociationClass> {
    Ok(AssociationClass {
        association: AssociationCode::parse(col::<&str>(r, "association_code")?)
            .map_err(corrupt("association code"))?,
        code: ClassCode::parse(col::<&str>(r, "code")?).map_err(corrupt("class code"))?,
        name_ja: col(r, "name_ja")?,
        name_en: col(r, "name_en")?,
        position: col(r, "position")?,
        retired: col(r, "retired")?,
    })
}

fn procedure_row(r: &PgRow) -> StoreResult<ProcedureRow> {
    Ok(ProcedureRow {
        id: col(r, "id")?,
        doctor_id: col(r, "doctor_id")?,
        applicant: col(r, "applicant_account")?,
        kind: ProcedureKind::parse(col(r, "kind")?).map_err(corrupt("procedure kind"))?,
        status: ProcedureStatus::parse(col(r, "status")?).map_err(corrupt("procedure status"))?,
        state: col(r, "state")?,
        filed_by: col(r, "filed_by")?,
        filed_at: col(r, "filed_at")?,
        updated_at: col(r, "updated_at")?,
        effective_on: col(r, "effective_on")?,
        due: Vec::new(),
        parties: Vec::new(),
    })
}

fn event_row(r: &PgRow) -> StoreResult<ProcedureEvent> {
    Ok(ProcedureEvent {
        procedure_id: col(r, "procedure_id")?,
        seq: col(r, "seq")?,
        at: col(r, "at")?,
        actor: col(r, "actor")?,
        event: col(r, "event")?,
    })
}

pub(crate) fn evidence_row(r: &PgRow) -> StoreResult<Evidence> {
    Ok(Evidence {
        id: col(r, "id")?,
        procedure_id: col(r, "procedure_id")?,
        file_name: col(r, "file_name")?,
        content_type: col(r, "content_type")?,
        size: col(r, "size")?,
        sha256: col(r, "sha256")?,
        storage_key: col(r, "storage_key")?,
        uploaded_by: col(r, "uploaded_by")?,
        uploaded_at: col(r, "uploaded_at")?,
    })
}

impl PgTx {
    /// Fills in the due actions and parties of procedures read without them.
    async fn complete_procedures(
        &mut self,
        rows: Vec<ProcedureRow>,
    ) -> StoreResult<Vec<ProcedureRow>> {
        let mut out = Vec::with_capacity(rows.len());
        for mut p in rows {
            p.due = sqlx::query(
                "SELECT association_code, action, since FROM procedure_due \
                 WHERE procedure_id = $1 ORDER BY since, association_code",
            )
            .bind(p.id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(ProcedureDue {
                    association: AssociationCode::parse(col::<&str>(r, "association_code")?)
                        .map_err(corrupt("association code"))?,
                    action: DueAction::parse(col(r, "action")?).map_err(corrupt("due action"))?,
                    since: col(r, "since")?,
                })
            })
            .collect::<StoreResult<_>>()?;
            p.parties = sqlx::query(
                "SELECT association_code FROM procedure_parties WHERE procedure_id = $1 \
                 ORDER BY association_code",
            )
            .bind(p.id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                AssociationCode::parse(col::<&str>(r, "association_code")?)
                    .map_err(corrupt("association code"))
            })
            .collect::<StoreResult<_>>()?;
            out.push(p);
        }
        Ok(out)
    }

    /// Replaces the due actions and parties of a procedure.
    async fn write_procedure_extras(&mut self, p: &ProcedureRow) -> StoreResult<()> {
        // a reminder already sent stays noted while the same action keeps waiting
        let reminded: Vec<(String, Timestamp, Option<Timestamp>)> = sqlx::query_as(
            "SELECT association_code, since, reminded_at FROM procedure_due WHERE procedure_id = $1",
        )
        .bind(p.id)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        for sql in [
            "DELETE FROM procedure_due WHERE procedure_id = $1",
            "DELETE FROM procedure_parties WHERE procedure_id = $1",
        ] {
            sqlx::query(sql)
                .bind(p.id)
                .execute(&mut *self.tx)
                .await
                .map_err(db_err)?;
        }
        for d in &p.due {
            let kept = reminded
                .iter()
                .find(|(a, since, _)| a == d.association.as_str() && *since == d.since)
                .and_then(|(_, _, r)| *r);
            sqlx::query(
                "INSERT INTO procedure_due (procedure_id, association_code, action, since, \
                 reminded_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(p.id)
            .bind(d.association.as_str())
            .bind(d.action.as_str())
            .bind(d.since)
            .bind(kept)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        }
        for a in &p.parties {
            sqlx::query(
                "INSERT INTO procedure_parties (procedure_id, association_code) VALUES ($1, $2)",
            )
            .bind(p.id)
            .bind(a.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn procedures_where(
        &mut self,
        sql: &'static str,
        bind: impl FnOnce(
            sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        )
            -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> StoreResult<Vec<ProcedureRow>> {
        let rows = bind(sqlx::query(sql))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(procedure_row)
            .collect::<StoreResult<Vec<_>>>()?;
        self.complete_procedures(rows).await
    }
}

impl MembershipStore for PgTx {
    async fn doctor_profile(&mut self, doctor: Uuid) -> StoreResult<Option<DoctorProfile>> {
        sqlx::query("SELECT * FROM doctor_profiles WHERE doctor_id = $1")
            .bind(doctor)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(profile_row)
            .transpose()
    }

    async fn upsert_doctor_profile(&mut self, p: &DoctorProfile) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO doctor_profiles (doctor_id, workplace_name, workplace_address, \
             workplace_municipality, home_address, phone, graduation_year, resident, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (doctor_id) DO UPDATE SET workplace_name = excluded.workplace_name, \
             workplace_address = excluded.workplace_address, \
             workplace_municipality = excluded.workplace_municipality, \
             home_address = excluded.home_address, phone = excluded.phone, \
             graduation_year = excluded.graduation_year, resident = excluded.resident, \
             updated_at = excluded.updated_at",
        )
        .bind(p.doctor_id)
        .bind(&p.workplace_name)
        .bind(&p.workplace_address)
        .bind(&p.workplace_municipality)
        .bind(&p.home_address)
        .bind(&p.phone)
        .bind(p.graduation_year)
        .bind(p.resident)
        .bind(p.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn rename_doctor(&mut self, doctor: Uuid, n: &DoctorNames) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE doctors SET family_name = $2, given_name = $3, family_kana = $4, \
             given_kana = $5, name_fold = $6, kana_fold = $7 WHERE id = $1",
        )
        .bind(doctor)
        .bind(&n.family_name)
        .bind(&n.given_name)
        .bind(n.family_kana.as_str())
        .bind(n.given_kana.as_str())
        .bind(mamis_domain::names::search_key(&[
            &n.family_name,
            &n.given_name,
        ]))
        .bind(mamis_domain::names::search_key(&[
            n.family_kana.as_str(),
            n.given_kana.as_str(),
        ]))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn association_classes(
        &mut self,
        association: &AssociationCode,
    ) -> StoreResult<Vec<AssociationClass>> {
        sqlx::query(
            "SELECT * FROM association_classes WHERE association_code = $1 \
             ORDER BY position, code",
        )
        .bind(association.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(class_row)
        .collect()
    }

    async fn upsert_association_class(&mut self, c: &AssociationClass) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO association_classes (association_code, code, name_ja, name_en, position, \
             retired) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (association_code, code) DO UPDATE SET name_ja = excluded.name_ja, \
             name_en = excluded.name_en, position = excluded.position, retired = excluded.retired",
        )
        .bind(c.association.as_str())
        .bind(c.code.as_str())
        .bind(&c.name_ja)
        .bind(&c.name_en)
        .bind(c.position)
        .bind(c.retired)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn effective_rules(
        &mut self,
        associations: &[AssociationCode],
    ) -> StoreResult<Vec<(AssociationCode, EffectiveRule)>> {
        sqlx::query(
            "SELECT association_code, effective_rule FROM membership_rules \
             WHERE association_code = ANY($1::text[]) ORDER BY association_code",
        )
        .bind(codes(associations))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok((
                AssociationCode::parse(col::<&str>(r, "association_code")?)
                    .map_err(corrupt("association code"))?,
                EffectiveRule::parse(col(r, "effective_rule")?)
                    .map_err(corrupt("effective rule"))?,
            ))
        })
        .collect()
    }

    async fn set_effective_rule(
        &mut self,
        association: &AssociationCode,
        rule: EffectiveRule,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO membership_rules (association_code, effective_rule) VALUES ($1, $2) \
             ON CONFLICT (association_code) DO UPDATE SET effective_rule = excluded.effective_rule",
        )
        .bind(association.as_str())
        .bind(rule.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn next_member_id(
        &mut self,
        first: &MemberId,
        last: &MemberId,
    ) -> StoreResult<Option<MemberId>> {
        // Two servers approving at once would read the same maximum: the transaction-scoped
        // advisory lock makes the second wait until the first has committed its number.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MEMBER_ID_LOCK)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        let max: Option<String> = sqlx::query_scalar(
            "SELECT MAX(member_id) FROM doctors WHERE member_id BETWEEN $1 AND $2",
        )
        .bind(first.as_str())
        .bind(last.as_str())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)?;
        let max = max
            .as_deref()
            .map(MemberId::parse)
            .transpose()
            .map_err(corrupt("member id"))?;
        Ok(MemberId::next_in_range(max.as_ref(), first, last))
    }

    async fn set_member_id(&mut self, doctor: Uuid, member: &MemberId) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE doctors SET member_id = $2 WHERE id = $1 AND member_id IS NULL")
                .bind(doctor)
                .bind(member.as_str())
                .execute(&mut *self.tx)
                .await
                .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_membership(
        &mut self,
        doctor: Uuid,
        association: &AssociationCode,
        joined_on: NaiveDate,
        left_on: NaiveDate,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE memberships SET left_on = $4 WHERE doctor_id = $1 AND association_code = $2 \
             AND joined_on = $3 AND (left_on IS NULL OR left_on > $4)",
        )
        .bind(doctor)
        .bind(association.as_str())
        .bind(joined_on)
        .bind(left_on)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_procedure(&mut self, p: &ProcedureRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO membership_procedures (id, doctor_id, applicant_account, kind, status, \
             state, filed_by, filed_at, updated_at, effective_on) \
             VALUES ($1, $2, $10, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(p.id)
        .bind(p.doctor_id)
        .bind(p.kind.as_str())
        .bind(p.status.as_str())
        .bind(&p.state)
        .bind(p.filed_by)
        .bind(p.filed_at)
        .bind(p.updated_at)
        .bind(p.effective_on)
        .bind(p.applicant)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        self.write_procedure_extras(p).await
    }

    async fn update_procedure(&mut self, p: &ProcedureRow) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE membership_procedures SET status = $2, state = $3, updated_at = $4, \
             effective_on = $5, doctor_id = COALESCE(doctor_id, $6) WHERE id = $1",
        )
        .bind(p.id)
        .bind(p.status.as_str())
        .bind(&p.state)
        .bind(p.updated_at)
        .bind(p.effective_on)
        .bind(p.doctor_id)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        self.write_procedure_extras(p).await?;
        Ok(true)
    }

    async fn procedure(&mut self, id: Uuid) -> StoreResult<Option<ProcedureRow>> {
        Ok(self
            .procedures_where(
                concat!(
                    "SELECT ",
                    procedure_cols!(),
                    " FROM membership_procedures p WHERE p.id = $1"
                ),
                |q| q.bind(id),
            )
            .await?
            .pop())
    }

    async fn procedures_of_doctor(&mut self, doctor: Uuid) -> StoreResult<Vec<ProcedureRow>> {
        self.procedures_where(
            concat!(
                "SELECT ",
                procedure_cols!(),
                " FROM membership_procedures p WHERE p.doctor_id = $1 \
                 ORDER BY p.filed_at DESC, p.id"
            ),
            |q| q.bind(doctor),
        )
        .await
    }

    async fn procedures_of_applicant(&mut self, account: Uuid) -> StoreResult<Vec<ProcedureRow>> {
        self.procedures_where(
            concat!(
                "SELECT ",
                procedure_cols!(),
                " FROM membership_procedures p WHERE p.applicant_account = $1 \
                 ORDER BY p.filed_at DESC, p.id"
            ),
            |q| q.bind(account),
        )
        .await
    }

    async fn procedure_queue(
        &mut self,
        associations: &[AssociationCode],
        limit: u32,
    ) -> StoreResult<Vec<ProcedureRow>> {
        let codes = codes(associations);
        self.procedures_where(
            concat!(
                "SELECT ",
                procedure_cols!(),
                ", MIN(d.since) AS waiting FROM membership_procedures p \
                 JOIN procedure_due d ON d.procedure_id = p.id \
                 WHERE p.status = 'open' AND d.association_code = ANY($1::text[]) \
                 GROUP BY p.id ORDER BY waiting, p.id LIMIT $2"
            ),
            |q| q.bind(codes).bind(i64::from(limit)),
        )
        .await
    }

    async fn lapsed_acknowledgements(
        &mut self,
        cutoff: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ProcedureRow>> {
        self.procedures_where(
            concat!(
                "SELECT ",
                procedure_cols!(),
                ", MIN(d.since) AS waiting FROM membership_procedures p \
                 JOIN procedure_due d ON d.procedure_id = p.id \
                 WHERE p.status = 'open' AND d.action = 'acknowledge' AND d.since <= $1 \
                 GROUP BY p.id ORDER BY waiting, p.id LIMIT $2"
            ),
            |q| q.bind(cutoff).bind(i64::from(limit)),
        )
        .await
    }

    async fn doctor_has_party(
        &mut self,
        doctor: Uuid,
        associations: &[AssociationCode],
    ) -> StoreResult<bool> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM membership_procedures p \
             JOIN procedure_parties x ON x.procedure_id = p.id \
             WHERE p.doctor_id = $1 AND x.association_code = ANY($2::text[]))",
        )
        .bind(doctor)
        .bind(codes(associations))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)
    }

    async fn append_procedure_event(&mut self, e: &ProcedureEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO procedure_events (procedure_id, seq, at, actor, event) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(e.procedure_id)
        .bind(e.seq)
        .bind(e.at)
        .bind(e.actor)
        .bind(&e.event)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn procedure_events(&mut self, procedure: Uuid) -> StoreResult<Vec<ProcedureEvent>> {
        sqlx::query("SELECT * FROM procedure_events WHERE procedure_id = $1 ORDER BY seq")
            .bind(procedure)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(event_row)
            .collect()
    }

    async fn insert_evidence(&mut self, e: &Evidence) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO procedure_evidence (id, procedure_id, file_name, content_type, size, \
             sha256, storage_key, uploaded_by, uploaded_at) \
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

    async fn evidence_of(&mut self, procedure: Uuid) -> StoreResult<Vec<Evidence>> {
        sqlx::query(
            "SELECT * FROM procedure_evidence WHERE procedure_id = $1 ORDER BY uploaded_at, id",
        )
        .bind(procedure)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(evidence_row)
        .collect()
    }

    async fn county_municipalities(
        &mut self,
        prefecture: &AssociationCode,
    ) -> StoreResult<Vec<(AssociationCode, String)>> {
        sqlx::query(
            "SELECT a.code, COALESCE(m.municipality, '') AS municipality FROM associations a \
             LEFT JOIN association_municipalities m ON m.association_code = a.code \
             WHERE a.parent_code = $1 AND a.level = 'county' \
             ORDER BY a.code, municipality COLLATE \"C\"",
        )
        .bind(prefecture.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok((
                AssociationCode::parse(r.get::<&str, _>("code"))
                    .map_err(corrupt("association code"))?,
                r.get("municipality"),
            ))
        })
        .collect()
    }

    async fn set_county_municipalities(
        &mut self,
        county: &AssociationCode,
        names: &[String],
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM association_municipalities WHERE association_code = $1")
            .bind(county.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO association_municipalities (association_code, municipality) \
             SELECT $1, n FROM UNNEST($2::text[]) AS n ON CONFLICT DO NOTHING",
        )
        .bind(county.as_str())
        .bind(names)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn procedure_due_count(&mut self, associations: &[AssociationCode]) -> StoreResult<u64> {
        let codes: Vec<&str> = associations.iter().map(AssociationCode::as_str).collect();
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT d.procedure_id) FROM procedure_due d \
             JOIN membership_procedures p ON p.id = d.procedure_id \
             WHERE p.status = 'open' AND d.association_code = ANY($1)",
        )
        .bind(&codes)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)?;
        u64::try_from(n).map_err(corrupt("count"))
    }

    async fn reminders_due(
        &mut self,
        first_before: Timestamp,
        again_before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, AssociationCode, Timestamp)>> {
        sqlx::query(
            "SELECT d.procedure_id, d.association_code, d.since FROM procedure_due d \
             JOIN membership_procedures p ON p.id = d.procedure_id \
             WHERE p.status = 'open' AND d.since <= $1 \
               AND (d.reminded_at IS NULL OR d.reminded_at <= $2) \
             ORDER BY d.since, d.procedure_id, d.association_code LIMIT $3",
        )
        .bind(first_before)
        .bind(again_before)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok((
                r.get("procedure_id"),
                AssociationCode::parse(r.get::<&str, _>("association_code"))
                    .map_err(corrupt("association code"))?,
                r.get("since"),
            ))
        })
        .collect()
    }

    async fn mark_reminded(
        &mut self,
        procedure: Uuid,
        association: &AssociationCode,
        at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE procedure_due SET reminded_at = $3 \
             WHERE procedure_id = $1 AND association_code = $2",
        )
        .bind(procedure)
        .bind(association.as_str())
        .bind(at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
