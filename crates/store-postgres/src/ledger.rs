//! The CME ledger and certificates part of the PostgreSQL store.

use chrono::NaiveDate;
use mamis_domain::{FiscalYear, HalfUnits, LedgerEntry, Programme, Source, Timestamp};
use mamis_store::*;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::PgTx;
use crate::certificates::{counted, revocation};
use crate::convert::*;
use crate::store::BULK_ROWS;

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

// Entries travel as one array per column: the statement has 16 parameters whatever the chunk's
// size, so every chunk runs the same prepared statement, with no per-row placeholder to parse.
const ENTRY_ROWS: usize = 10_000;

/// One chunk of entries as column arrays, in `entry_cols!` order.
#[derive(Default)]
struct EntryColumns<'a> {
    id: Vec<Uuid>,
    doctor: Vec<Uuid>,
    programme: Vec<&'static str>,
    fiscal_year: Vec<i32>,
    date: Vec<NaiveDate>,
    source: Vec<&'static str>,
    catalogue_version: Vec<&'a str>,
    code: Vec<i32>,
    half_units: Vec<i64>,
    origin_key: Vec<&'a str>,
    generation: Vec<i32>,
    reverses: Vec<Option<Uuid>>,
    rules_version: Vec<&'a str>,
    created_by: Vec<&'a str>,
    created_at: Vec<Timestamp>,
    note: Vec<Option<&'a str>>,
}

impl<'a> EntryColumns<'a> {
    fn of(chunk: &'a [LedgerEntry]) -> Self {
        let mut c = Self::default();
        for e in chunk {
            c.id.push(e.id);
            c.doctor.push(e.doctor);
            c.programme.push(e.programme.as_str());
            c.fiscal_year.push(e.fiscal_year.year());
            c.date.push(e.date);
            c.source.push(e.source.as_str());
            c.catalogue_version.push(&e.catalogue_version);
            c.code.push(i32::from(e.code));
            c.half_units.push(e.half_units.get());
            c.origin_key.push(&e.origin_key);
            c.generation.push(e.generation);
            c.reverses.push(e.reverses);
            c.rules_version.push(&e.rules_version);
            c.created_by.push(&e.created_by);
            c.created_at.push(e.created_at);
            c.note.push(e.note.as_deref());
        }
        c
    }
}

pub(crate) fn fiscal_year(r: &PgRow, name: &'static str) -> StoreResult<FiscalYear> {
    FiscalYear::new(col(r, name)?).map_err(corrupt(name))
}

pub(crate) fn entry_row(r: &PgRow) -> StoreResult<LedgerEntry> {
    Ok(LedgerEntry {
        id: col(r, "id")?,
        doctor: col(r, "doctor_id")?,
        programme: Programme::parse(col::<&str>(r, "programme")?).map_err(corrupt("programme"))?,
        fiscal_year: fiscal_year(r, "fiscal_year")?,
        date: col(r, "entry_date")?,
        source: Source::parse(col::<&str>(r, "source")?).map_err(corrupt("ledger source"))?,
        catalogue_version: col(r, "catalogue_version")?,
        code: u16::try_from(col::<i32>(r, "code")?).map_err(corrupt("code number"))?,
        half_units: HalfUnits::new(col(r, "half_units")?),
        origin_key: col(r, "origin_key")?,
        generation: col(r, "generation")?,
        reverses: col(r, "reverses_entry")?,
        rules_version: col(r, "rules_version")?,
        created_by: col(r, "created_by")?,
        created_at: col(r, "created_at")?,
        note: col(r, "note")?,
    })
}

pub(crate) fn certificate_row(r: &PgRow) -> StoreResult<CertificateRecord> {
    Ok(CertificateRecord {
        id: col(r, "id")?,
        number: col(r, "number")?,
        doctor: col(r, "doctor_id")?,
        programme: Programme::parse(col::<&str>(r, "programme")?).map_err(corrupt("programme"))?,
        from_fy: fiscal_year(r, "from_fy")?,
        to_fy: fiscal_year(r, "to_fy")?,
        issued_on: col(r, "issued_on")?,
        origin: col(r, "origin")?,
        created_at: col(r, "created_at")?,
        verification_code: col(r, "verification_code")?,
        valid_until: col(r, "valid_until")?,
        counted: counted(r)?,
        revocation: revocation(r)?,
    })
}

impl LedgerStore for PgTx {
    async fn insert_ledger_entries(&mut self, entries: &[LedgerEntry]) -> StoreResult<()> {
        for chunk in entries.chunks(ENTRY_ROWS) {
            let c = EntryColumns::of(chunk);
            sqlx::query(concat!(
                "INSERT INTO ledger_entries (",
                entry_cols!(),
                ") SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::integer[], \
                 $5::date[], $6::text[], $7::text[], $8::integer[], $9::bigint[], $10::text[], \
                 $11::integer[], $12::uuid[], $13::text[], $14::text[], $15::timestamptz[], \
                 $16::text[])"
            ))
            .bind(c.id)
            .bind(c.doctor)
            .bind(c.programme)
            .bind(c.fiscal_year)
            .bind(c.date)
            .bind(c.source)
            .bind(c.catalogue_version)
            .bind(c.code)
            .bind(c.half_units)
            .bind(c.origin_key)
            .bind(c.generation)
            .bind(c.reverses)
            .bind(c.rules_version)
            .bind(c.created_by)
            .bind(c.created_at)
            .bind(c.note)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn ledger_entry(&mut self, id: Uuid) -> StoreResult<Option<LedgerEntry>> {
        sqlx::query(concat!(
            "SELECT ",
            entry_cols!(),
            " FROM ledger_entries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(entry_row)
        .transpose()
    }

    async fn lock_ledger_of(&mut self, doctor: Uuid) -> StoreResult<()> {
        // READ COMMITTED lets two transactions read the same nets; the row lock queues the
        // second behind the first, which then sees what the first wrote.
        sqlx::query("SELECT 1 FROM doctors WHERE id = $1 FOR UPDATE")
            .bind(doctor)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
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
        .bind(doctor)
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
        // One array parameter, however many keys: no chunking, and the result is in one order.
        // A scalar subquery (at most one row, by ledger_reverses_key) is probed per entry through
        // the small partial index; an EXISTS may be planned as a hash of every entry's column.
        sqlx::query(concat!(
            "SELECT ",
            entry_cols!(),
            ", (SELECT r.id FROM ledger_entries r WHERE r.reverses_entry = e.id) IS NOT NULL \
             AS reversed \
             FROM ledger_entries e WHERE e.programme = $1 AND e.origin_key = ANY($2::text[]) \
             ORDER BY e.origin_key, e.generation"
        ))
        .bind(programme.as_str())
        .bind(keys)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(OriginEntry {
                entry: entry_row(r)?,
                reversed: col(r, "reversed")?,
            })
        })
        .collect()
    }

    async fn count_ledger_entries(&mut self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_entries")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err)?;
        u64::try_from(n).map_err(corrupt("entry count"))
    }

    async fn insert_certificates(&mut self, certificates: &[CertificateRecord]) -> StoreResult<()> {
        for chunk in certificates.chunks(BULK_ROWS) {
            let mut q = QueryBuilder::<Postgres>::new(concat!(
                "INSERT INTO certificates (",
                certificate_cols!(),
                ") "
            ));
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.id)
                    .push_bind(c.number.as_str())
                    .push_bind(c.doctor)
                    .push_bind(c.programme.as_str())
                    .push_bind(c.from_fy.year())
                    .push_bind(c.to_fy.year())
                    .push_bind(c.issued_on)
                    .push_bind(c.origin.as_str())
                    .push_bind(c.created_at)
                    .push_bind(c.verification_code.as_deref())
                    .push_bind(c.valid_until)
                    .push_bind(c.counted.map(|(units, _)| units.get()))
                    // int8 into the integer column: an assignment cast, checked by the server.
                    .push_bind(c.counted.map(|(_, codes)| i64::from(codes)))
                    .push_bind(c.revocation.as_ref().map(|v| v.at))
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
        .bind(doctor)
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
