//! Certificate numbers, printed documents, decision runs, revocations and review items: the
//! certificate part of the SQLite store.

use mamis_domain::{FiscalYear, HalfUnits, LedgerEntry, LedgerSums, Programme, Source};
use mamis_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::ops::RangeInclusive;
use uuid::Uuid;

use crate::SqliteTx;
use crate::convert::*;
use crate::ledger::{certificate_cols, certificate_row, entry_cols, entry_row, fiscal_year};

macro_rules! document_cols {
    () => {
        "id, number, kind, doctor_id, programme, content, content_key, verification_code, \
         issued_on, revoked_at, revoked_category, revoked_reason, revoked_by, created_at"
    };
}

macro_rules! review_cols {
    () => {
        "id, certificate_id, number, doctor_id, opened_at, reason, resolved_at"
    };
}

// Doctor ids bound into one `IN (...)` list: ~90 entries each, so a chunk reads ~90,000 rows.
const DOCTOR_CHUNK: usize = 1_000;

/// The units and codes counted at decision: both columns set, or neither.
pub(crate) fn counted(r: &SqliteRow) -> StoreResult<Option<(HalfUnits, u32)>> {
    match (
        r.get::<Option<i64>, _>("counted_half_units"),
        r.get::<Option<i64>, _>("counted_codes"),
    ) {
        (None, None) => Ok(None),
        (Some(units), Some(codes)) => Ok(Some((
            HalfUnits::new(units),
            u32::try_from(codes).map_err(corrupt("counted codes"))?,
        ))),
        _ => Err(StoreError::Corrupt(
            "counted units without codes, or codes without units".into(),
        )),
    }
}

/// The four `revoked_*` columns: all set, or none.
pub(crate) fn revocation(r: &SqliteRow) -> StoreResult<Option<Revocation>> {
    match (
        r.get::<Option<i64>, _>("revoked_at"),
        r.get::<Option<String>, _>("revoked_category"),
        r.get::<Option<String>, _>("revoked_reason"),
        r.get::<Option<String>, _>("revoked_by"),
    ) {
        (None, None, None, None) => Ok(None),
        (Some(at), Some(category), Some(reason), Some(by)) => Ok(Some(Revocation {
            at: from_micros(at)?,
            category,
            reason,
            by,
        })),
        _ => Err(StoreError::Corrupt("a partly recorded revocation".into())),
    }
}

fn document_row(r: &SqliteRow) -> StoreResult<DocumentRecord> {
    Ok(DocumentRecord {
        id: uuid(r.get("id"))?,
        number: r.get("number"),
        kind: r.get("kind"),
        doctor: uuid(r.get("doctor_id"))?,
        programme: Programme::parse(r.get::<&str, _>("programme")).map_err(corrupt("programme"))?,
        content: r.get("content"),
        content_key: r.get("content_key"),
        verification_code: r.get("verification_code"),
        issued_on: date(r.get("issued_on"))?,
        revocation: revocation(r)?,
        created_at: from_micros(r.get("created_at"))?,
    })
}

fn run_row(r: &SqliteRow) -> StoreResult<CertificateRun> {
    Ok(CertificateRun {
        programme: Programme::parse(r.get::<&str, _>("programme")).map_err(corrupt("programme"))?,
        fiscal_year: fiscal_year(r.get("fiscal_year"))?,
        started_at: from_micros(r.get("started_at"))?,
        completed_at: opt_from_micros(r.get("completed_at"))?,
        issued: u64::try_from(r.get::<i64, _>("issued")).map_err(corrupt("issued count"))?,
    })
}

fn review_row(r: &SqliteRow) -> StoreResult<CertificateReview> {
    Ok(CertificateReview {
        id: uuid(r.get("id"))?,
        certificate: uuid(r.get("certificate_id"))?,
        number: r.get("number"),
        doctor: uuid(r.get("doctor_id"))?,
        opened_at: from_micros(r.get("opened_at"))?,
        reason: r.get("reason"),
        resolved_at: opt_from_micros(r.get("resolved_at"))?,
    })
}

/// The ids sorted and deduplicated as stored text, which sorts as the uuids do: the chunks'
/// results then follow one another in doctor order.
fn sorted_ids(doctors: &[Uuid]) -> Vec<String> {
    let mut ids = doctors.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids.iter().map(Uuid::to_string).collect()
}

/// `SELECT {cols} FROM {table} WHERE programme = ? AND doctor_id IN (chunk) ORDER BY {order}`.
fn by_doctors(
    select: &'static str,
    programme: Programme,
    chunk: &[String],
    order: &'static str,
) -> QueryBuilder<Sqlite> {
    let mut q = QueryBuilder::<Sqlite>::new(select);
    q.push(" WHERE programme = ")
        .push_bind(programme.as_str())
        .push(" AND doctor_id IN (");
    let mut ids = q.separated(", ");
    for id in chunk {
        ids.push_bind(id.as_str());
    }
    q.push(") ORDER BY ").push(order);
    q
}

impl CertificateStore for SqliteTx {
    async fn lock_number_series(&mut self, series: &str, year: i32) -> StoreResult<i64> {
        // The write transaction (BEGIN IMMEDIATE) already holds SQLite's single write lock until
        // it ends; one statement creates the series if needed and returns its next number.
        sqlx::query_scalar(
            "INSERT INTO number_series (series, year, next) VALUES ($1, $2, 1) \
             ON CONFLICT (series, year) DO UPDATE SET next = number_series.next \
             RETURNING next",
        )
        .bind(series)
        .bind(year)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)
    }

    async fn set_next_number(&mut self, series: &str, year: i32, next: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO number_series (series, year, next) VALUES ($1, $2, $3) \
             ON CONFLICT (series, year) DO UPDATE SET next = excluded.next",
        )
        .bind(series)
        .bind(year)
        .bind(next)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn ledger_of_doctors(
        &mut self,
        programme: Programme,
        doctors: &[Uuid],
    ) -> StoreResult<Vec<LedgerEntry>> {
        let ids = sorted_ids(doctors);
        let mut found = Vec::new();
        for chunk in ids.chunks(DOCTOR_CHUNK) {
            // ledger_entries_doctor_idx: one index range per doctor, read in doctor order.
            let mut q = by_doctors(
                concat!("SELECT ", entry_cols!(), " FROM ledger_entries"),
                programme,
                chunk,
                "doctor_id, entry_date, created_at, id",
            );
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                found.push(entry_row(&r)?);
            }
        }
        Ok(found)
    }

    async fn ledger_sums_of_doctors(
        &mut self,
        programme: Programme,
        doctors: &[Uuid],
        years: RangeInclusive<FiscalYear>,
    ) -> StoreResult<LedgerSums> {
        let (lo, hi) = (years.start().year(), years.end().year());
        let mut out = LedgerSums::default();
        for chunk in sorted_ids(doctors).chunks(DOCTOR_CHUNK) {
            // One pass over ledger_entries_doctor_idx's doctors: lines outside `years` fall into
            // one (doctor, NULL, NULL, NULL) group that only says the doctor has lines.
            let mut q = QueryBuilder::<Sqlite>::new("SELECT doctor_id, ");
            for col in ["fiscal_year", "source", "code"] {
                q.push("CASE WHEN fiscal_year BETWEEN ")
                    .push_bind(lo)
                    .push(" AND ")
                    .push_bind(hi)
                    .push(format_args!(" THEN {col} END AS k_{col}, "));
            }
            q.push("SUM(half_units) AS half FROM ledger_entries WHERE programme = ")
                .push_bind(programme.as_str())
                .push(" AND doctor_id IN (");
            let mut ids = q.separated(", ");
            for id in chunk {
                ids.push_bind(id.as_str());
            }
            q.push(
                ") GROUP BY doctor_id, k_fiscal_year, k_source, k_code \
                 ORDER BY doctor_id, k_fiscal_year, k_source, k_code",
            );
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                let key = match r.get::<Option<i64>, _>("k_fiscal_year") {
                    None => None,
                    Some(fy) => Some((
                        fiscal_year(fy)?,
                        Source::parse(r.get::<Option<&str>, _>("k_source").unwrap_or(""))
                            .map_err(corrupt("ledger source"))?,
                        u16::try_from(r.get::<Option<i64>, _>("k_code").unwrap_or(-1))
                            .map_err(corrupt("code number"))?,
                    )),
                };
                out.add(uuid(r.get("doctor_id"))?, key, r.get("half"));
            }
        }
        Ok(out)
    }

    async fn certificates_of_doctors(
        &mut self,
        programme: Programme,
        doctors: &[Uuid],
    ) -> StoreResult<Vec<CertificateRecord>> {
        let ids = sorted_ids(doctors);
        let mut found = Vec::new();
        for chunk in ids.chunks(DOCTOR_CHUNK) {
            // certificates_window_key (doctor_id, programme, from_fy) gives the order.
            let mut q = by_doctors(
                concat!("SELECT ", certificate_cols!(), " FROM certificates"),
                programme,
                chunk,
                "doctor_id, from_fy",
            );
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                found.push(certificate_row(&r)?);
            }
        }
        Ok(found)
    }

    async fn revoke_certificate(&mut self, number: &str, v: &Revocation) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE certificates SET revoked_at = $2, revoked_category = $3, revoked_reason = $4, \
             revoked_by = $5 WHERE number = $1 AND revoked_at IS NULL",
        )
        .bind(number)
        .bind(micros(v.at))
        .bind(v.category.as_str())
        .bind(v.reason.as_str())
        .bind(v.by.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_document(&mut self, d: &DocumentRecord) -> StoreResult<()> {
        let v = d.revocation.as_ref();
        sqlx::query(concat!(
            "INSERT INTO cme_documents (",
            document_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(d.id.to_string())
        .bind(d.number.as_str())
        .bind(d.kind.as_str())
        .bind(d.doctor.to_string())
        .bind(d.programme.as_str())
        .bind(d.content.as_str())
        .bind(d.content_key.as_str())
        .bind(d.verification_code.as_str())
        .bind(d.issued_on.to_string())
        .bind(v.map(|v| micros(v.at)))
        .bind(v.map(|v| v.category.as_str()))
        .bind(v.map(|v| v.reason.as_str()))
        .bind(v.map(|v| v.by.as_str()))
        .bind(micros(d.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn document_by_number(&mut self, number: &str) -> StoreResult<Option<DocumentRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            document_cols!(),
            " FROM cme_documents WHERE number = $1"
        ))
        .bind(number)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(document_row)
        .transpose()
    }

    async fn document_by_key(
        &mut self,
        doctor: Uuid,
        kind: &str,
        content_key: &str,
    ) -> StoreResult<Option<DocumentRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            document_cols!(),
            " FROM cme_documents WHERE doctor_id = $1 AND kind = $2 AND content_key = $3"
        ))
        .bind(doctor.to_string())
        .bind(kind)
        .bind(content_key)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(document_row)
        .transpose()
    }

    async fn documents_of(&mut self, doctor: Uuid) -> StoreResult<Vec<DocumentRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            document_cols!(),
            " FROM cme_documents WHERE doctor_id = $1 ORDER BY created_at DESC, number DESC"
        ))
        .bind(doctor.to_string())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(document_row)
        .collect()
    }

    async fn revoke_document(&mut self, number: &str, v: &Revocation) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE cme_documents SET revoked_at = $2, revoked_category = $3, revoked_reason = $4, \
             revoked_by = $5 WHERE number = $1 AND revoked_at IS NULL",
        )
        .bind(number)
        .bind(micros(v.at))
        .bind(v.category.as_str())
        .bind(v.reason.as_str())
        .bind(v.by.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn certificate_run(
        &mut self,
        programme: Programme,
        fiscal_year: FiscalYear,
    ) -> StoreResult<Option<CertificateRun>> {
        sqlx::query(
            "SELECT programme, fiscal_year, started_at, completed_at, issued \
             FROM certificate_runs WHERE programme = $1 AND fiscal_year = $2",
        )
        .bind(programme.as_str())
        .bind(fiscal_year.year())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(run_row)
        .transpose()
    }

    async fn put_certificate_run(&mut self, run: &CertificateRun) -> StoreResult<()> {
        let issued = i64::try_from(run.issued)
            .map_err(|_| StoreError::Other(format!("issued count {} too large", run.issued)))?;
        sqlx::query(
            "INSERT INTO certificate_runs (programme, fiscal_year, started_at, completed_at, issued) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (programme, fiscal_year) DO UPDATE SET started_at = excluded.started_at, \
             completed_at = excluded.completed_at, issued = excluded.issued",
        )
        .bind(run.programme.as_str())
        .bind(run.fiscal_year.year())
        .bind(micros(run.started_at))
        .bind(run.completed_at.map(micros))
        .bind(issued)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn decided_years(&mut self, programme: Programme) -> StoreResult<Vec<FiscalYear>> {
        let years: Vec<i64> = sqlx::query_scalar(
            "SELECT fiscal_year FROM certificate_runs \
             WHERE programme = $1 AND completed_at IS NOT NULL ORDER BY fiscal_year",
        )
        .bind(programme.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        years.into_iter().map(fiscal_year).collect()
    }

    async fn put_cme_decisions(&mut self, decisions: &[CmeDecision]) -> StoreResult<()> {
        for chunk in decisions.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO cme_decisions (programme, doctor_id, fiscal_year, from_fy, outcome, \
                 total_half, decided_at) ",
            );
            q.push_values(chunk, |mut b, d| {
                b.push_bind(d.programme.as_str())
                    .push_bind(d.doctor.to_string())
                    .push_bind(d.fiscal_year.year())
                    .push_bind(d.from_fy.year())
                    .push_bind(d.outcome.as_str())
                    .push_bind(d.total_half)
                    .push_bind(micros(d.decided_at));
            });
            q.push(
                " ON CONFLICT (programme, doctor_id, fiscal_year) DO UPDATE SET \
                 from_fy = excluded.from_fy, outcome = excluded.outcome, \
                 total_half = excluded.total_half, decided_at = excluded.decided_at",
            );
            q.build().execute(&mut *self.tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn cme_decisions_of(
        &mut self,
        doctor: Uuid,
        programme: Programme,
    ) -> StoreResult<Vec<CmeDecision>> {
        let rows = sqlx::query(
            "SELECT programme, doctor_id, fiscal_year, from_fy, outcome, total_half, decided_at \
             FROM cme_decisions WHERE doctor_id = $1 AND programme = $2 ORDER BY fiscal_year",
        )
        .bind(doctor.to_string())
        .bind(programme.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(CmeDecision {
                    programme: Programme::parse(r.get::<&str, _>("programme"))
                        .map_err(corrupt("programme"))?,
                    doctor: uuid(r.get("doctor_id"))?,
                    fiscal_year: fiscal_year(r.get("fiscal_year"))?,
                    from_fy: fiscal_year(r.get("from_fy"))?,
                    outcome: r.get("outcome"),
                    total_half: r.get("total_half"),
                    decided_at: from_micros(r.get("decided_at"))?,
                })
            })
            .collect()
    }

    async fn open_certificate_review(&mut self, review: &CertificateReview) -> StoreResult<bool> {
        // Only a clash with certificate_reviews_open_key is skipped (not OR IGNORE, which would
        // also swallow NOT NULL and CHECK failures); the statement, not the transaction, ends.
        let done = sqlx::query(concat!(
            "INSERT INTO certificate_reviews (",
            review_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (certificate_id) WHERE resolved_at IS NULL DO NOTHING"
        ))
        .bind(review.id.to_string())
        .bind(review.certificate.to_string())
        .bind(review.number.as_str())
        .bind(review.doctor.to_string())
        .bind(micros(review.opened_at))
        .bind(review.reason.as_str())
        .bind(review.resolved_at.map(micros))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn open_certificate_reviews(
        &mut self,
        limit: u32,
    ) -> StoreResult<Vec<CertificateReview>> {
        sqlx::query(concat!(
            "SELECT ",
            review_cols!(),
            " FROM certificate_reviews WHERE resolved_at IS NULL ORDER BY opened_at, id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(review_row)
        .collect()
    }
}
