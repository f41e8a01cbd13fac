//! Test support (compiled always, used only by test harnesses): a throw-away, migrated
//! PostgreSQL database per test, cloned from a template so each test pays for a
//! `CREATE DATABASE … TEMPLATE` rather than for running every migration.
//!
//! The server is `MAMIS_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! which must allow `CREATE DATABASE`. Unreachable, the tests are skipped loudly on a developer
//! machine and fail under `CI=true`.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

use crate::store::{MIGRATOR, PgStore, redact};

/// Environment variable naming the server (and an administrative database) for test databases.
pub const URL_ENV: &str = "MAMIS_TEST_POSTGRES_URL";

/// Used when [`URL_ENV`] is unset: the local server with trust authentication.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Advisory-lock key serialising template builds across concurrent test processes ("MAMISTPL").
const TEMPLATE_LOCK: i64 = 0x4d41_4d49_5354_504c;

/// How long to wait for the server before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The administrative URL test databases are created and dropped through.
pub fn admin_url() -> String {
    std::env::var(URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_owned())
}

/// A fresh, migrated database, dropped (with any connection still open to it) when this value is
/// dropped or on [`TestDatabase::drop_now`].
pub struct TestDatabase {
    /// URL of the test database, for code under test that connects by itself.
    pub url: String,
    /// A store connected to the test database.
    pub store: PgStore,
    name: String,
    admin: String,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// Creates a database cloned from the migrated template (building the template first if
    /// needed). `Ok(None)` means PostgreSQL is unreachable and the test should be skipped (a
    /// line says so on stderr); under `CI=true` that is an `Err` instead, so CI cannot pass
    /// without having run the PostgreSQL tests.
    pub async fn create() -> Result<Option<TestDatabase>, String> {
        let admin = admin_url();
        let mut conn = match connect(&admin).await {
            Ok(c) => c,
            Err(reason) => {
                let shown = redact(&admin);
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    return Err(format!(
                        "PostgreSQL unreachable at {shown}: {reason} — CI=true, so the PostgreSQL \
                         tests must run; set {URL_ENV} or start PostgreSQL"
                    ));
                }
                // Straight to the process's stderr: the test harness captures `eprintln!`, and
                // a skip must be seen.
                let line = format!(
                    "SKIPPED (PostgreSQL unreachable at {shown}: {reason}) — set {URL_ENV} or \
                     start PostgreSQL\n"
                );
                let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
                return Ok(None);
            }
        };
        let created = async {
            let template = ensure_template(&mut conn, &admin).await?;
            let name = format!("mamis_test_{}", Uuid::new_v4().simple());
            clone_template(&mut conn, &name, &template).await?;
            Ok::<_, String>(name)
        }
        .await;
        let _ = conn.close().await;
        let name = created?;
        let url = with_database(&admin, &name);
        match PgStore::connect(&url).await {
            Ok(store) => Ok(Some(TestDatabase {
                url,
                store,
                name,
                admin,
            })),
            Err(e) => {
                let _ = drop_database(&admin, &name).await;
                Err(format!("connecting to test database {name}: {e}"))
            }
        }
    }

    /// The database's name (`mamis_test_<hex>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the store's connections and drops the database now, reporting a failure on
    /// stderr (as `Drop` does, which then has nothing left to do).
    pub async fn drop_now(mut self) {
        self.store.close().await;
        let name = std::mem::take(&mut self.name);
        if let Err(e) = drop_database(&self.admin, &name).await {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let name = std::mem::take(&mut self.name);
        let admin = self.admin.clone();
        // Drop may run inside an async runtime, where blocking on a future is not allowed: the
        // drop runs on its own thread with its own small runtime, and this thread waits for it.
        let worker = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("runtime: {e}"))?;
            rt.block_on(drop_database(&admin, &name))
        });
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database: {e}"),
            Err(_) => eprintln!("could not drop test database: the dropping thread panicked"),
        }
    }
}

async fn connect(url: &str) -> Result<PgConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())),
    }
}

/// Runs one statement built from names this module generated (hex and fixed prefixes only),
/// which cannot be bound as parameters.
async fn exec(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

/// `mamis_tpl_` and the first 12 hex digits of the SHA-256 of every migration: a changed
/// migration gets a new template, never a stale one.
pub fn template_name() -> String {
    let mut h = Sha256::new();
    for m in MIGRATOR.iter() {
        h.update(m.version.to_le_bytes());
        h.update(m.sql.as_str().as_bytes());
    }
    let digest = hex::encode(h.finalize());
    format!("mamis_tpl_{}", digest.get(..12).unwrap_or(&digest))
}

/// Makes sure the template exists, building it under the advisory lock so concurrent test
/// processes build it once. It is built under a scratch name and renamed when complete, so a
/// run that died half-way never leaves a broken template behind.
async fn ensure_template(conn: &mut PgConnection, admin: &str) -> Result<String, String> {
    let template = template_name();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(|e| format!("taking the template lock: {e}"))?;
    let built = build_template_locked(conn, admin, &template).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(|e| format!("releasing the template lock: {e}"));
    built?;
    unlocked?;
    Ok(template)
}

async fn build_template_locked(
    conn: &mut PgConnection,
    admin: &str,
    template: &str,
) -> Result<(), String> {
    if database_exists(conn, template).await? {
        return Ok(());
    }
    // Leftovers of builds that died half-way (nobody else is building: we hold the lock).
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'mamis\\_build\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| format!("listing stale template builds: {e}"))?;
    for name in stale {
        exec(
            conn,
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        )
        .await
        .map_err(|e| format!("dropping stale build {name}: {e}"))?;
    }
    let suffix = template.trim_start_matches("mamis_tpl_");
    let build = format!("mamis_build_{suffix}");
    exec(
        conn,
        format!("CREATE DATABASE \"{build}\" TEMPLATE template0 ENCODING 'UTF8'"),
    )
    .await
    .map_err(|e| format!("creating {build}: {e}"))?;
    let migrated = async {
        let store = PgStore::connect(&with_database(admin, &build))
            .await
            .map_err(|e| e.to_string())?;
        let result = store.migrate().await.map_err(|e| e.to_string());
        // A template must have no connection open when it is cloned or renamed.
        store.close().await;
        result
    }
    .await;
    if let Err(e) = migrated {
        let _ = exec(
            conn,
            format!("DROP DATABASE IF EXISTS \"{build}\" WITH (FORCE)"),
        )
        .await;
        return Err(format!("migrating the template {build}: {e}"));
    }
    exec(
        conn,
        format!("ALTER DATABASE \"{build}\" RENAME TO \"{template}\""),
    )
    .await
    .map_err(|e| format!("renaming {build} to {template}: {e}"))?;
    // Nobody may connect to the template, so nothing can make it busy while it is cloned.
    exec(
        conn,
        format!("ALTER DATABASE \"{template}\" ALLOW_CONNECTIONS false"),
    )
    .await
    .map_err(|e| format!("closing {template} to connections: {e}"))?;
    // Templates of older migration sets are no longer cloned by this code: drop them (best
    // effort — one still being cloned by an older checkout's run stays until next time).
    let old: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'mamis\\_tpl\\_%' AND datname <> $1",
    )
    .bind(template)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| format!("listing old templates: {e}"))?;
    for name in old {
        let _ = exec(conn, format!("DROP DATABASE IF EXISTS \"{name}\"")).await;
    }
    Ok(())
}

async fn database_exists(conn: &mut PgConnection, name: &str) -> Result<bool, String> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| format!("looking up database {name}: {e}"))
}

/// `CREATE DATABASE … TEMPLATE`, retried while the template is briefly in use (SQLSTATE 55006).
async fn clone_template(conn: &mut PgConnection, name: &str, template: &str) -> Result<(), String> {
    const ATTEMPTS: u32 = 8;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
        match exec(conn, sql).await {
            Ok(()) => return Ok(()),
            Err(sqlx::Error::Database(d))
                if d.code().as_deref() == Some("55006") && attempt < ATTEMPTS =>
            {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(e) => return Err(format!("creating {name} from {template}: {e}")),
        }
    }
}

/// Drops a database, ending any connection still open to it.
async fn drop_database(admin: &str, name: &str) -> Result<(), String> {
    let mut conn = connect(admin).await?;
    let dropped = exec(
        &mut conn,
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .await
    .map_err(|e| format!("dropping {name}: {e}"));
    let _ = conn.close().await;
    dropped
}

/// `url` with its database (path) replaced by `database`, keeping any query parameters.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base
        .get(authority..)
        .and_then(|rest| rest.find('/'))
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{database}", base.get(..path).unwrap_or(base));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql:///db?host=/run/postgresql", "x"),
            "postgresql:///x?host=/run/postgresql"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn template_name_fits_an_identifier() {
        let t = template_name();
        assert_eq!(t.len(), "mamis_tpl_".len() + 12);
        assert!(t.len() < 63);
    }
}
