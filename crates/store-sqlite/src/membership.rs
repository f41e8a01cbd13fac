//! Doctor profiles, per-association classes and rules, member IDs and membership procedures:
//! the membership part of the SQLite store.

use chrono::NaiveDate;
use mamis_domain::procedure::{DueAction, EffectiveRule, ProcedureKind, ProcedureStatus};
use mamis_domain::{AssociationCode, ClassCode, MemberId, Timestamp};
use mamis_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::SqliteTx;
use crate::convert::*;

macro_rules! procedure_cols {
    () => {
        "p.id, p.doctor_id, p.applicant_account, p.kind, p.status, p.state, p.filed_by, \
         p.filed_at, p.updated_at, p.effective_on"
    };
}

pub(crate) fn profile_row(r: &SqliteRow) -> StoreResult<DoctorProfile> {
    Ok(DoctorProfile {
        doctor_id: uuid(r.get("doctor_id"))?,
        workplace_name: r.get("workplace_name"),
        workplace_address: r.get("workplace_address"),
        workplace_municipality: r.get("workplace_municipality"),
        home_address: r.get("home_address"),
        phone: r.get("phone"),
        graduation_year: r
            .get::<Option<i64>, _>("graduation_year")
            .map(i32::try_from)
            .transpose()
            .map_err(corrupt("graduation year"))?,
        resident: r.get::<i64, _>("resident") == 1,
        updated_at: from_micros(r.get("updated_at"))?,
    })
}

fn class_row(r: &SqliteRow) -> StoreResult<AssociationClass> {
    Ok(AssociationClass {
        association: AssociationCode::parse(r.get::<&str, _>("association_code"))
            .map_err(corrupt("association code"))?,
        code: ClassCode::parse(r.get::<&str, _>("code")).map_err(corrupt("class code"))?,
        name_ja: r.get("name_ja"),
        name_en: r.get("name_en"),
        position: i32::try_from(r.get::<i64, _>("position")).map_err(corrupt("position"))?,
        retired: r.get::<i64, _>("retired") == 1,
    })
}

fn procedure_row(r: &SqliteRow) -> StoreResult<ProcedureRow> {
    Ok(ProcedureRow {
        id: uuid(r.get("id"))?,
        doctor_id: r
            .get::<Option<&str>, _>("doctor_id")
            .map(uuid)
            .transpose()?,
        applicant: r
            .get::<Option<&str>, _>("applicant_account")
            .map(uuid)
            .transpose()?,
        kind: ProcedureKind::parse(r.get("kind")).map_err(corrupt("procedure kind"))?,
        status: ProcedureStatus::parse(r.get("status")).map_err(corrupt("procedure status"))?,
        state: r.get("state"),
        filed_by: uuid(r.get("filed_by"))?,
        filed_at: from_micros(r.get("filed_at"))?,
        updated_at: from_micros(r.get("updated_at"))?,
        effective_on: r
            .get::<Option<&str>, _>("effective_on")
            .map(date)
            .transpose()?,
        due: Vec::new(),
        parties: Vec::new(),
    })
}

fn event_row(r: &SqliteRow) -> StoreResult<ProcedureEvent> {
    Ok(ProcedureEvent {
        procedure_id: uuid(r.get("procedure_id"))?,
        seq: i32::try_from(r.get::<i64, _>("seq")).map_err(corrupt("event seq"))?,
        at: from_micros(r.get("at"))?,
        actor: r.get::<Option<&str>, _>("actor").map(uuid).transpose()?,
        event: r.get("event"),
    })
}

pub(crate) fn evidence_row(r: &SqliteRow) -> StoreResult<Evidence> {
    Ok(Evidence {
        id: uuid(r.get("id"))?,
        procedure_id: uuid(r.get("procedure_id"))?,
        file_name: r.get("file_name"),
        content_type: r.get("content_type"),
        size: r.get("size"),
        sha256: r.get("sha256"),
        storage_key: r.get("storage_key"),
        uploaded_by: uuid(r.get("uploaded_by"))?,
        uploaded_at: from_micros(r.get("uploaded_at"))?,
    })
}

impl SqliteTx {
    /// Fills in the due actions and parties of procedures read without them.
    async fn complete_procedures(
        &mut self,
        rows: Vec<ProcedureRow>,
    ) -> StoreResult<Vec<ProcedureRow>> {
        let mut out = Vec::with_capacity(rows.len());
        for mut p in rows {
            let id = p.id.to_string();
            p.due = sqlx::query(
                "SELECT association_code, action, since FROM procedure_due \
                 WHERE procedure_id = $1 ORDER BY since, association_code",
            )
            .bind(&id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(ProcedureDue {
                    association: AssociationCode::parse(r.get::<&str, _>("association_code"))
                        .map_err(corrupt("association code"))?,
                    action: DueAction::parse(r.get("action")).map_err(corrupt("due action"))?,
                    since: from_micros(r.get("since"))?,
                })
            })
            .collect::<StoreResult<_>>()?;
            p.parties = sqlx::query(
                "SELECT association_code FROM procedure_parties WHERE procedure_id = $1 \
                 ORDER BY association_code",
            )
            .bind(&id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                AssociationCode::parse(r.get::<&str, _>("association_code"))
                    .map_err(corrupt("association code"))
            })
            .collect::<StoreResult<_>>()?;
            out.push(p);
        }
        Ok(out)
    }

    /// Replaces the due actions and parties of a procedure.
    async fn write_procedure_extras(&mut self, p: &ProcedureRow) -> StoreResult<()> {
        let id = p.id.to_string();
        // a reminder already sent stays noted while the same action keeps waiting
        let reminded: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT association_code, since, reminded_at FROM procedure_due WHERE procedure_id = $1",
        )
        .bind(&id)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        for sql in [
            "DELETE FROM procedure_due WHERE procedure_id = $1",
            "DELETE FROM procedure_parties WHERE procedure_id = $1",
        ] {
            sqlx::query(sql)
                .bind(&id)
                .execute(&mut *self.tx)
                .await
                .map_err(db_err)?;
        }
        for d in &p.due {
            let kept = reminded
                .iter()
                .find(|(a, since, _)| a == d.association.as_str() && *since == micros(d.since))
                .and_then(|(_, _, r)| *r);
            sqlx::query(
                "INSERT INTO procedure_due (procedure_id, association_code, action, since, \
                 reminded_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(d.association.as_str())
            .bind(d.action.as_str())
            .bind(micros(d.since))
            .bind(kept)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        }
        for a in &p.parties {
            sqlx::query(
                "INSERT INTO procedure_parties (procedure_id, association_code) VALUES ($1, $2)",
            )
            .bind(&id)
            .bind(a.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }
}

impl MembershipStore for SqliteTx {
    async fn doctor_profile(&mut self, doctor: Uuid) -> StoreResult<Option<DoctorProfile>> {
        sqlx::query("SELECT * FROM doctor_profiles WHERE doctor_id = $1")
            .bind(doctor.to_string())
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
        .bind(p.doctor_id.to_string())
        .bind(&p.workplace_name)
        .bind(&p.workplace_address)
        .bind(&p.workplace_municipality)
        .bind(&p.home_address)
        .bind(&p.phone)
        .bind(p.graduation_year.map(i64::from))
        .bind(i64::from(p.resident))
        .bind(micros(p.updated_at))
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
        .bind(doctor.to_string())
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
        .bind(i64::from(c.position))
        .bind(i64::from(c.retired))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn effective_rules(
        &mut self,
        associations: &[AssociationCode],
    ) -> StoreResult<Vec<(AssociationCode, EffectiveRule)>> {
        if associations.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT association_code, effective_rule FROM membership_rules \
             WHERE association_code IN (",
        );
        let mut sep = q.separated(", ");
        for a in associations {
            sep.push_bind(a.as_str().to_owned());
        }
        q.push(") ORDER BY association_code");
        q.build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok((
                    AssociationCode::parse(r.get::<&str, _>("association_code"))
                        .map_err(corrupt("association code"))?,
                    EffectiveRule::parse(r.get("effective_rule"))
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
        // Writers are serialised by BEGIN IMMEDIATE, so the maximum cannot move under us.
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
                .bind(doctor.to_string())
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
        .bind(doctor.to_string())
        .bind(association.as_str())
        .bind(joined_on.to_string())
        .bind(left_on.to_string())
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
        .bind(p.id.to_string())
        .bind(p.doctor_id.map(|d| d.to_string()))
        .bind(p.kind.as_str())
        .bind(p.status.as_str())
        .bind(&p.state)
        .bind(p.filed_by.to_string())
        .bind(micros(p.filed_at))
        .bind(micros(p.updated_at))
        .bind(p.effective_on.map(|d| d.to_string()))
        .bind(p.applicant.map(|a| a.to_string()))
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
        .bind(p.id.to_string())
        .bind(p.status.as_str())
        .bind(&p.state)
        .bind(micros(p.updated_at))
        .bind(p.effective_on.map(|d| d.to_string()))
        .bind(p.doctor_id.map(|d| d.to_string()))
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
        let row = sqlx::query(concat!(
            "SELECT ",
            procedure_cols!(),
            " FROM membership_procedures p WHERE p.id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(procedure_row)
        .transpose()?;
        match row {
            Some(p) => Ok(self.complete_procedures(vec![p]).await?.pop()),
            None => Ok(None),
        }
    }

    async fn procedures_of_doctor(&mut self, doctor: Uuid) -> StoreResult<Vec<ProcedureRow>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            procedure_cols!(),
            " FROM membership_procedures p WHERE p.doctor_id = $1 ORDER BY p.filed_at DESC, p.id"
        ))
        .bind(doctor.to_string())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(procedure_row)
        .collect::<StoreResult<Vec<_>>>()?;
        self.complete_procedures(rows).await
    }

    async fn procedures_of_applicant(&mut self, account: Uuid) -> StoreResult<Vec<ProcedureRow>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            procedure_cols!(),
            " FROM membership_procedures p WHERE p.applicant_account = $1 \
             ORDER BY p.filed_at DESC, p.id"
        ))
        .bind(account.to_string())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(procedure_row)
        .collect::<StoreResult<Vec<_>>>()?;
        self.complete_procedures(rows).await
    }

    async fn procedure_queue(
        &mut self,
        associations: &[AssociationCode],
        limit: u32,
    ) -> StoreResult<Vec<ProcedureRow>> {
        if associations.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            procedure_cols!(),
            ", MIN(d.since) AS waiting FROM membership_procedures p \
             JOIN procedure_due d ON d.procedure_id = p.id \
             WHERE p.status = 'open' AND d.association_code IN ("
        ));
        let mut sep = q.separated(", ");
        for a in associations {
            sep.push_bind(a.as_str().to_owned());
        }
        q.push(") GROUP BY p.id ORDER BY waiting, p.id LIMIT ");
        q.push_bind(i64::from(limit));
        let rows = q
            .build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(procedure_row)
            .collect::<StoreResult<Vec<_>>>()?;
        self.complete_procedures(rows).await
    }

    async fn lapsed_acknowledgements(
        &mut self,
        cutoff: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ProcedureRow>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            procedure_cols!(),
            ", MIN(d.since) AS waiting FROM membership_procedures p \
             JOIN procedure_due d ON d.procedure_id = p.id \
             WHERE p.status = 'open' AND d.action = 'acknowledge' AND d.since <= $1 \
             GROUP BY p.id ORDER BY waiting, p.id LIMIT $2"
        ))
        .bind(micros(cutoff))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(procedure_row)
        .collect::<StoreResult<Vec<_>>>()?;
        self.complete_procedures(rows).await
    }

    async fn doctor_has_party(
        &mut self,
        doctor: Uuid,
        associations: &[AssociationCode],
    ) -> StoreResult<bool> {
        if associations.is_empty() {
            return Ok(false);
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT EXISTS (SELECT 1 FROM membership_procedures p \
             JOIN procedure_parties x ON x.procedure_id = p.id WHERE p.doctor_id = ",
        );
        q.push_bind(doctor.to_string());
        q.push(" AND x.association_code IN (");
        let mut sep = q.separated(", ");
        for a in associations {
            sep.push_bind(a.as_str().to_owned());
        }
        q.push("))");
        let found: i64 = q
            .build_query_scalar()
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(found == 1)
    }

    async fn append_procedure_event(&mut self, e: &ProcedureEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO procedure_events (procedure_id, seq, at, actor, event) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(e.procedure_id.to_string())
        .bind(i64::from(e.seq))
        .bind(micros(e.at))
        .bind(e.actor.map(|a| a.to_string()))
        .bind(&e.event)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn procedure_events(&mut self, procedure: Uuid) -> StoreResult<Vec<ProcedureEvent>> {
        sqlx::query("SELECT * FROM procedure_events WHERE procedure_id = $1 ORDER BY seq")
            .bind(procedure.to_string())
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
        .bind(e.id.to_string())
        .bind(e.procedure_id.to_string())
        .bind(&e.file_name)
        .bind(&e.content_type)
        .bind(e.size)
        .bind(&e.sha256)
        .bind(&e.storage_key)
        .bind(e.uploaded_by.to_string())
        .bind(micros(e.uploaded_at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn evidence_of(&mut self, procedure: Uuid) -> StoreResult<Vec<Evidence>> {
        sqlx::query(
            "SELECT * FROM procedure_evidence WHERE procedure_id = $1 ORDER BY uploaded_at, id",
        )
        .bind(procedure.to_string())
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
             WHERE a.parent_code = $1 AND a.level = 'county' ORDER BY a.code, municipality",
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
        for n in names {
            sqlx::query(
                "INSERT INTO association_municipalities (association_code, municipality) \
                 VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(county.as_str())
            .bind(n)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn procedure_due_count(&mut self, associations: &[AssociationCode]) -> StoreResult<u64> {
        if associations.is_empty() {
            return Ok(0);
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT COUNT(DISTINCT d.procedure_id) FROM procedure_due d \
             JOIN membership_procedures p ON p.id = d.procedure_id \
             WHERE p.status = 'open' AND d.association_code IN (",
        );
        let mut sep = q.separated(", ");
        for a in associations {
            sep.push_bind(a.as_str().to_owned());
        }
        q.push(")");
        let n: i64 = q
            .build_query_scalar()
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
        .bind(micros(first_before))
        .bind(micros(again_before))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok((
                uuid(r.get("procedure_id"))?,
                AssociationCode::parse(r.get::<&str, _>("association_code"))
                    .map_err(corrupt("association code"))?,
                from_micros(r.get("since"))?,
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
        .bind(procedure.to_string())
        .bind(association.as_str())
        .bind(micros(at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
