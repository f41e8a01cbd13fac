//! The CME ledger and certificates part of the SQLite store.

use mamis_domain::{FiscalYear, HalfUnits, LedgerEntry, Programme, Source};
use mamis_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::SqliteTx;
use crate::certificates::{counted, revocation};
use crate::convert::*;

macro_rules! entry_cols {
    () => {
        "id, doctor_id, programme, fiscal_year, entry_date, source, catalogue_version, code, \
         half_units, origin_key, generation, reverses_entry, rules_version, created_by, created_at, \
         note"
    };
}
pub(crate) use entry_cols;

macro_rules! certificate_cols {
    () => {
        "id, number, doctor_id, programme, from_fy, to_fy, issued_on, origin, created_at, \
         verification_code, valid_until, counted_half_units, counted_codes, revoked_at, \
         revoked_category, revoked_reason, revoked_by"
    };
}
pub(crate) use certificate_cols;

// 16 parameters a row: 2,000 rows stay below SQLite's 32,766 bound parameters a statement, and
// every full chunk reuses one cached prepared statement.
const ENTRY_ROWS: usize = 2_000;

// Origin keys bound into one `IN (...)` list.
const KEY_CHUNK: usize = 1_000;

// 17 parameters a row: 1,900 rows stay below SQLite's 32,766 bound parameters a statement.
const CERTIFICATE_ROWS: usize = 1_900;

pub(crate) fn fiscal_year(v: i64) -> StoreResult<FiscalYear> {
    let year = i32::try_from(v).map_err(corrupt("fiscal year"))?;
    FiscalYear::new(year).map_err(corrupt("fiscal year"))
}

pub(crate) fn entry_row(r: &SqliteRow) -> StoreResult<LedgerEntry> {
    Ok(LedgerEntry {
        id: uuid(r.get("id"))?,
        doctor: uuid(r.get("doctor_id"))?,
        programme: Programme::parse(r.get::<&str, _>("programme")).map_err(corrupt("programme"))?,
        fiscal_year: fiscal_year(r.get("fiscal_year"))?,
        date: date(r.get("entry_date"))?,
        source: Source::parse(r.get::<&str, _>("source")).map_err(corrupt("ledger source"))?,
        catalogue_version: r.get("catalogue_version"),
        code: u16::try_from(r.get::<i64, _>("code")).map_err(corrupt("code number"))?,
        half_units: HalfUnits::new(r.get("half_units")),
        origin_key: r.get("origin_key"),
        generation: i32::try_from(r.get::<i64, _>("generation")).map_err(corrupt("generation"))?,
        reverses: r
            .get::<Option<&str>, _>("reverses_entry")
            .map(uuid)
            .transpose()?,
        rules_version: r.get("rules_version"),
        created_by: r.get("created_by"),
        created_at: from_micros(r.get("created_at"))?,
        note: r.get("note"),
    })
}

pub(crate) fn certificate_row(r: &SqliteRow) -> StoreResult<CertificateRecord> {
    Ok(CertificateRecord {
        id: uuid(r.get("id"))?,
        number: r.get("number"),
        doctor: uuid(r.get("doctor_id"))?,
        programme: Programme::parse(r.get::<&str, _>("programme")).map_err(corrupt("programme"))?,
        from_fy: fiscal_year(r.get("from_fy"))?,
        to_fy: fiscal_year(r.get("to_fy"))?,
        issued_on: date(r.get("issued_on"))?,
        origin: r.get("origin"),
        created_at: from_micros(r.get("created_at"))?,
        verification_code: r.get("verification_code"),
        valid_until: r
            .get::<Option<&str>, _>("valid_until")
            .map(date)
            .transpose()?,
        counted: counted(r)?,
        revocation: revocation(r)?,
    })
}

impl LedgerStore for SqliteTx {
    async fn insert_ledger_entries(&mut self, entries: &[LedgerEntry]) -> StoreResult<()> {
        for chunk in entries.chunks(ENTRY_ROWS) {
            let mut q = QueryBuilder::<Sqlite>::new(concat!(
                "INSERT INTO ledger_entries (",
                entry_cols!(),
                ") "
            ));
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.id.to_string())
                    .push_bind(e.doctor.to_string())
                    .push_bind(e.programme.as_str())
                    .push_bind(e.fiscal_year.year())
                    .push_bind(e.date.to_string())
                    .push_bind(e.source.as_str())
                    .push_bind(e.catalogue_version.as_str())
                    .push_bind(i64::from(e.code))
                    .push_bind(e.half_units.get())
                    .push_bind(e.origin_key.as_str())
                    .push_bind(e.generation)
                    .push_bind(e.reverses.map(|r| r.to_string()))
                    .push_bind(e.rules_version.as_str())
                    .push_bind(e.created_by.as_str())
                    .push_bind(micros(e.created_at))
                    .push_bind(e.note.as_deref());
            });
            q.build().execute(&mut *self.tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn ledger_entry(&mut self, id: Uuid) -> StoreResult<Option<LedgerEntry>> {
        sqlx::query(concat!(
            "SELECT ",
            entry_cols!(),
            " FROM ledger_entries WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(entry_row)
        .transpose()
    }

    async fn lock_ledger_of(&mut self, _doctor: Uuid) -> StoreResult<()> {
        // Write transactions begin IMMEDIATE: this one already holds the only write lock.
        Ok(())
    }

    async fn ledger_of(
        &mut self,
        doctor: Uuid,
        programme: Programme,
    ) -> StoreResult<Vec<LedgerEntry>> {
        sqlx::query(concat!(
            "SELECT ",
            entry_cols!(),
            " FROM ledger_entries WHERE doctor_id = $1 AND programme = $2 \
             ORDER BY entry_date, created_at, id"
        ))
        .bind(doctor.to_string())
        .bind(programme.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(entry_row)
        .collect()
    }

    async fn ledger_by_origin(
        &mut self,
        programme: Programme,
        keys: &[String],
    ) -> StoreResult<Vec<OriginEntry>> {
        // Sorted and deduplicated, the chunks' results follow one another in key order.
        let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut found = Vec::new();
        for chunk in keys.chunks(KEY_CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(concat!(
                "SELECT ",
                entry_cols!(),
                ", EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses_entry = e.id) AS reversed \
                 FROM ledger_entries e WHERE e.programme = "
            ));
            q.push_bind(programme.as_str())
                .push(" AND e.origin_key IN (");
            let mut keys = q.separated(", ");
            for k in chunk {
                keys.push_bind(*k);
            }
            q.push(") ORDER BY e.origin_key, e.generation");
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                found.push(OriginEntry {
                    entry: entry_row(&r)?,
                    reversed: r.get::<i64, _>("reversed") != 0,
                });
            }
        }
        Ok(found)
    }

    async fn count_ledger_entries(&mut self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_entries")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err)?;
        u64::try_from(n).map_err(corrupt("entry count"))
    }

    async fn insert_certificates(&mut self, certificates: &[CertificateRecord]) -> StoreResult<()> {
        for chunk in certificates.chunks(CERTIFICATE_ROWS) {
            let mut q = QueryBuilder::<Sqlite>::new(concat!(
                "INSERT INTO certificates (",
                certificate_cols!(),
                ") "
            ));
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.id.to_string())
                    .push_bind(c.number.as_str())
                    .push_bind(c.doctor.to_string())
                    .push_bind(c.programme.as_str())
                    .push_bind(c.from_fy.year())
                    .push_bind(c.to_fy.year())
                    .push_bind(c.issued_on.to_string())
                    .push_bind(c.origin.as_str())
                    .push_bind(micros(c.created_at))
                    .push_bind(c.verification_code.as_deref())
                    .push_bind(c.valid_until.map(|d| d.to_string()))
                    .push_bind(c.counted.map(|(units, _)| units.get()))
                    .push_bind(c.counted.map(|(_, codes)| i64::from(codes)))
                    .push_bind(c.revocation.as_ref().map(|v| micros(v.at)))
                    .push_bind(c.revocation.as_ref().map(|v| v.category.as_str()))
                    .push_bind(c.revocation.as_ref().map(|v| v.reason.as_str()))
                    .push_bind(c.revocation.as_ref().map(|v| v.by.as_str()));
            });
            q.build().execute(&mut *self.tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn certificates_of(
        &mut self,
        doctor: Uuid,
        programme: Programme,
    ) -> StoreResult<Vec<CertificateRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            certificate_cols!(),
            " FROM certificates WHERE doctor_id = $1 AND programme = $2 ORDER BY from_fy"
        ))
        .bind(doctor.to_string())
        .bind(programme.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(certificate_row)
        .collect()
    }

    async fn certificate_by_number(
        &mut self,
        number: &str,
    ) -> StoreResult<Option<CertificateRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            certificate_cols!(),
            " FROM certificates WHERE number = $1"
        ))
        .bind(number)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(certificate_row)
        .transpose()
    }
}
