//! Reading typed columns and mapping driver errors to [`StoreError`].

use mamis_store::StoreError;
use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};

/// Reads a column, reporting a type or decoding mismatch as corrupt data instead of panicking.
pub fn col<'r, T>(r: &'r PgRow, name: &'static str) -> Result<T, StoreError>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    r.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// Turns a parse failure of a stored value into [`StoreError::Corrupt`] naming `what`.
pub fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

/// SQLSTATEs meaning the server cannot serve us right now (connection exceptions, shutdown,
/// too many connections, cannot connect now).
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "53300"
}

/// Maps a driver error. Unique (23505) and foreign-key (23503) violations become conflicts named
/// by their constraint — the schema gives them the same names as the SQLite backend reports.
pub fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.as_str() {
                "23505" => StoreError::Conflict {
                    constraint: d.constraint().unwrap_or("unique").to_owned(),
                },
                // SQLite cannot name the foreign key it refused; both backends say `foreign_key`.
                "23503" => StoreError::Conflict {
                    constraint: "foreign_key".to_owned(),
                },
                c if is_unavailable_code(c) => StoreError::Unavailable(d.message().to_owned()),
                _ => StoreError::Other(d.to_string()),
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        other => StoreError::Other(other.to_string()),
    }
}

/// Decodes rows as they arrive and drops each, instead of `fetch_all` holding every row first:
/// a session of 100,000 presences would otherwise keep every row's copied values (about 80 MB
/// on SQLite) alongside the decoded ones.
pub async fn decode_each<T>(
    mut rows: impl futures_util::Stream<Item = Result<sqlx::postgres::PgRow, sqlx::Error>> + Unpin,
    decode: impl Fn(&sqlx::postgres::PgRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    use futures_util::TryStreamExt;
    let mut out = Vec::new();
    while let Some(r) = rows.try_next().await.map_err(db_err)? {
        out.push(decode(&r)?);
    }
    Ok(out)
}
