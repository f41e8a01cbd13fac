//! Certificate numbers, printed documents, decision runs, revocations and review items: the
//! certificate part of the PostgreSQL store.

use mamis_domain::{FiscalYear, HalfUnits, LedgerEntry, LedgerSums, Programme, Source, Timestamp};
use mamis_store::*;
use sqlx::postgres::PgRow;
use std::ops::RangeInclusive;
use uuid::Uuid;

use crate::PgTx;
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

// Doctor ids in one array parameter: ~90 entries each, so a chunk reads ~90,000 rows.
const DOCTOR_CHUNK: usize = 1_000;

/// The units and codes counted at decision: both columns set, or neither.
pub(crate) fn counted(r: &PgRow) -> StoreResult<Option<(HalfUnits, u32)>> {
    match (
        col::<Option<i64>>(r, "counted_half_units")?,
        col::<Option<i32>>(r, "counted_codes")?,
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
pub(crate) fn revocation(r: &PgRow) -> StoreResult<Option<Revocation>> {
    match (
        col::<Option<Timestamp>>(r, "revoked_at")?,
        col::<Option<String>>(r, "revoked_category")?,
        col::<Option<String>>(r, "revoked_reason")?,
        col::<Option<String>>(r, "revoked_by")?,
    ) {
        (None, None, None, None) => Ok(None),
        (Some(at), Some(category), Some(reason), Some(by)) => Ok(Some(Revocation {
            at,
            category,
            reason,
            by,
        })),
        _ => Err(StoreError::Corrupt("a partly recorded revocation".into())),
    }
}

fn document_row(r: &PgRow) -> StoreResult<DocumentRecord> {
    Ok(DocumentRecord {
        id: col(r, "id")?,
        number: col(r, "number")?,
        kind: col(r, "kind")?,
        doctor: col(r, "doctor_id")?,
        programme: Programme::parse(col::<&str>(r, "programme")?).map_err(corrupt("programme"))?,
        content: col(r, "content")?,
        content_key: col(r, "content_key")?,
        verification_code: col(r, "verification_code")?,
        issued_on: col(r, "issued_on")?,
        revocation: revocation(r)?,
        created_at: col(r, "created_at")?,
    })
}

fn run_row(r: &PgRow) -> StoreResult<CertificateRun> {
    Ok(CertificateRun {
        programme: Programme::parse(col::<&str>(r, "programme")?).map_err(corrupt("programme"))?,
        fiscal_year: fiscal_year(r, "fiscal_year")?,
        started_at: col(r, "started_at")?,
        completed_at: col(r, "completed_at")?,
        issued: u64::try_from(col::<i64>(r, "issued")?).map_err(corrupt("issued count"))?,
    })
}

fn review_row(r: &PgRow) -> StoreResult<CertificateReview> {
    Ok(CertificateReview {
        id: col(r, "id")?,
        certificate: col(r, "certificate_id")?,
        number: col(r, "number")?,
        doctor: col(r, "doctor_id")?,
        opened_at: col(r, "opened_at")?,
        reason: col(r, "reason")?,
        resolved_at: col(r, "resolved_at")?,
    })
}

/// The ids sorted and deduplicated: the chunks' results then follow one another in doctor order.
fn sorted_ids(doctors: &[Uuid]) -> Vec<Uuid> {
    let mut ids = doctors.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl CertificateStore for PgTx {
    async fn lock_number_series(&mut self, series: &str, year: i32) -> StoreResult<i64> {
        // Creates the series if absent, without aborting on a concurrent creation (a second
        // inserter waits for the first to end, then does nothing). FOR UPDATE then locks the row
        // until commit, so every server numbering this series queues here and reads the number
        // its predecessor stored.
        sqlx::query(
            "INSERT INTO number_series (series, year, next) VALUES ($1, $2, 1) \
             ON CONFLICT (series, year) DO NOTHING",
        )
        .bind(series)
        .bind(year)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        sqlx::query_scalar(
            "SELECT next FROM number_series WHERE series = $1 AND year = $2 FOR UPDATE",
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
        let mut found = Vec::new();
        for chunk in sorted_ids(doctors).chunks(DOCTOR_CHUNK) {
            // An array on the leading column of ledger_entries_doctor_idx: the index scan visits
            // the doctors in order, so only (created_at, id) within a date is left to sort.
            let rows = sqlx::query(concat!(
                "SELECT ",
                entry_cols!(),
                " FROM ledger_entries WHERE doctor_id = ANY($1::uuid[]) AND programme = $2 \
                 ORDER BY doctor_id, entry_date, created_at, id"
            ))
            .bind(chunk)
            .bind(programme.as_str())
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?;
            for r in &rows {
                found.push(entry_row(r)?);
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
            let rows = sqlx::query(
                "SELECT doctor_id, \
                   CASE WHEN fiscal_year BETWEEN $3 AND $4 THEN fiscal_year END AS k_fiscal_year, \
                   CASE WHEN fiscal_year BETWEEN $3 AND $4 THEN source END AS k_source, \
                   CASE WHEN fiscal_year BETWEEN $3 AND $4 THEN code END AS k_code, \
                   SUM(half_units)::int8 AS half \
                 FROM ledger_entries WHERE doctor_id = ANY($1::uuid[]) AND programme = $2 \
                 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            )
            .bind(chunk)
            .bind(programme.as_str())
            .bind(lo)
            .bind(hi)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?;
            for r in &rows {
                let key = match col::<Option<i32>>(r, "k_fiscal_year")? {
                    None => None,
                    Some(fy) => Some((
                        FiscalYear::new(fy).map_err(corrupt("fiscal year"))?,
                        Source::parse(col::<Option<&str>>(r, "k_source")?.unwrap_or(""))
                            .map_err(corrupt("ledger source"))?,
                        u16::try_from(col::<Option<i32>>(r, "k_code")?.unwrap_or(-1))
                            .map_err(corrupt("code number"))?,
                    )),
                };
                out.add(col(r, "doctor_id")?, key, col(r, "half")?);
            }
        }
        Ok(out)
    }

    async fn certificates_of_doctors(
        &mut self,
        programme: Programme,
        doctors: &[Uuid],
    ) -> StoreResult<Vec<CertificateRecord>> {
        let mut found = Vec::new();
        for chunk in sorted_ids(doctors).chunks(DOCTOR_CHUNK) {
            // certificates_window_key (doctor_id, programme, from_fy) gives the order.
            let rows = sqlx::query(concat!(
                "SELECT ",
                certificate_cols!(),
                " FROM certificates WHERE doctor_id = ANY($1::uuid[]) AND programme = $2 \
                 ORDER BY doctor_id, from_fy"
            ))
            .bind(chunk)
            .bind(programme.as_str())
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?;
            for r in &rows {
                found.push(certificate_row(r)?);
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
        .bind(v.at)
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
        .bind(d.id)
        .bind(d.number.as_str())
        .bind(d.kind.as_str())
        .bind(d.doctor)
        .bind(d.programme.as_str())
        .bind(d.content.as_str())
        .bind(d.content_key.as_str())
        .bind(d.verification_code.as_str())
        .bind(d.issued_on)
        .bind(v.map(|v| v.at))
        .bind(v.map(|v| v.category.as_str()))
        .bind(v.map(|v| v.reason.as_str()))
        .bind(v.map(|v| v.by.as_str()))
        .bind(d.created_at)
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
        .bind(doctor)
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
        .bind(doctor)
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
        .bind(v.at)
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
        .bind(run.started_at)
        .bind(run.completed_at)
        .bind(issued)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn decided_years(&mut self, programme: Programme) -> StoreResult<Vec<FiscalYear>> {
        let years: Vec<i32> = sqlx::query_scalar(
            "SELECT fiscal_year FROM certificate_runs \
             WHERE programme = $1 AND completed_at IS NOT NULL ORDER BY fiscal_year",
        )
        .bind(programme.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        years
            .into_iter()
            .map(|y| FiscalYear::new(y).map_err(corrupt("fiscal year")))
            .collect()
    }

    async fn put_cme_decisions(&mut self, decisions: &[CmeDecision]) -> StoreResult<()> {
        for chunk in decisions.chunks(500) {
            let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
                "INSERT INTO cme_decisions (programme, doctor_id, fiscal_year, from_fy, outcome, \
                 total_half, decided_at) ",
            );
            q.push_values(chunk, |mut b, d| {
                b.push_bind(d.programme.as_str())
                    .push_bind(d.doctor)
                    .push_bind(d.fiscal_year.year())
                    .push_bind(d.from_fy.year())
                    .push_bind(d.outcome.as_str())
                    .push_bind(d.total_half)
                    .push_bind(d.decided_at);
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
        .bind(doctor)
        .bind(programme.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let year = |name| {
                    col::<i32>(r, name)
                        .and_then(|y| FiscalYear::new(y).map_err(corrupt("fiscal year")))
                };
                Ok(CmeDecision {
                    programme: Programme::parse(&col::<String>(r, "programme")?)
                        .map_err(corrupt("programme"))?,
                    doctor: col(r, "doctor_id")?,
                    fiscal_year: year("fiscal_year")?,
                    from_fy: year("from_fy")?,
                    outcome: col(r, "outcome")?,
                    total_half: col(r, "total_half")?,
                    decided_at: col(r, "decided_at")?,
                })
            })
            .collect()
    }

    async fn open_certificate_review(&mut self, review: &CertificateReview) -> StoreResult<bool> {
        // ON CONFLICT names the partial index, so only a clash with an open item is skipped, and
        // as a skipped row rather than an error: the transaction stays usable.
        let done = sqlx::query(concat!(
            "INSERT INTO certificate_reviews (",
            review_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (certificate_id) WHERE resolved_at IS NULL DO NOTHING"
        ))
        .bind(review.id)
        .bind(review.certificate)
        .bind(review.number.as_str())
        .bind(review.doctor)
        .bind(review.opened_at)
        .bind(review.reason.as_str())
        .bind(review.resolved_at)
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
