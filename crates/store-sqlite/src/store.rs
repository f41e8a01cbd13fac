use mamis_domain::names::search_key;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use mamis_domain::curriculum::CatalogueEntry;
use mamis_domain::{
    Association, AssociationCode, ClassCode, IsekiNumber, KanaName, MemberId, Membership,
    Organisation, Role, RoleGrant, Scope, Sex, Timestamp,
};
use mamis_store::*;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::convert::*;

/// The SQLite store: a connection pool on one database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection for writes (SQLite has one writer at a time anyway): a writer never
    /// waits for a connection behind readers while it holds the queue below.
    writes: SqlitePool,
    /// This process's writers queue here, first come first served, before `BEGIN IMMEDIATE`:
    /// SQLite's own busy handler makes a waiting writer sleep and poll (1 ms, 2 ms, … 100 ms),
    /// which under a burst of small writes (token rotations) left the database idle between them.
    writer: Arc<tokio::sync::Mutex<()>>,
    busy: Duration,
    /// Userinfo's read on the calling thread (a file database only).
    direct: Option<Arc<crate::direct::DirectReads>>,
}

/// A transaction on the SQLite store.
pub struct SqliteTx {
    pub(crate) tx: Conn,
    /// Held by a write transaction until it ends; declared after `tx` so it is released after
    /// the transaction is dropped.
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// How long a write waits for another writer by default.
pub const DEFAULT_BUSY: Duration = Duration::from_secs(30);

/// A transaction, or (for [`Store::snapshot`]) a connection outside any, where each statement
/// is its own read transaction and no `BEGIN`/`ROLLBACK` goes to the connection's thread.
pub(crate) enum Conn {
    Tx(Transaction<'static, Sqlite>),
    Auto(PoolConnection<Sqlite>),
}

impl std::ops::Deref for Conn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        match self {
            Conn::Tx(t) => t,
            Conn::Auto(c) => c,
        }
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Conn::Tx(t) => t,
            Conn::Auto(c) => c,
        }
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or `sqlite::memory:`);
    /// a writer waits up to [`DEFAULT_BUSY`] for another writer before giving up.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with_busy(url, DEFAULT_BUSY).await
    }

    /// The same with the busy timeout given: how long a write waits while another writer (a
    /// bulk import or apply) holds the database, before it fails with `StoreError::Busy`.
    pub async fn connect_with_busy(url: &str, busy: Duration) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("{url}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(busy);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            // A file database does not drop connections; a ping per checkout is pure overhead.
            .test_before_acquire(false)
            .connect_with(opts.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("{url}: {e}")))?;
        // An in-memory database exists once per connection: there, writes share the pool.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let direct = (!in_memory).then(|| {
            Arc::new(crate::direct::DirectReads::new(
                opts.get_filename().to_owned(),
            ))
        });
        let writes = if in_memory {
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(busy)
                .test_before_acquire(false)
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Unavailable(format!("{url}: {e}")))?
        };
        Ok(Self {
            pool,
            writes,
            writer: Arc::new(tokio::sync::Mutex::new(())),
            busy,
            direct,
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration: {e}")))?;
        crate::members::fill_search_keys(&self.pool).await?;
        Ok(())
    }

    /// The pool, for tests that must reach under the store (e.g. to tamper with audit rows).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.writes.close().await;
        self.pool.close().await;
    }
}

impl Store for SqliteStore {
    type Tx = SqliteTx;

    async fn write(&self) -> StoreResult<SqliteTx> {
        // The same patience as SQLite's busy timeout: a bulk import holding the queue makes
        // other writers fail with `Busy` after it, as they would on the file lock.
        let writer = tokio::time::timeout(self.busy, self.writer.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Busy("another write holds the database".into()))?;
        let tx = self
            .writes
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        Ok(SqliteTx {
            tx: Conn::Tx(tx),
            _writer: Some(writer),
        })
    }

    async fn read(&self) -> StoreResult<SqliteTx> {
        let tx = self.pool.begin().await.map_err(db_err)?;
        Ok(SqliteTx {
            tx: Conn::Tx(tx),
            _writer: None,
        })
    }

    async fn snapshot(&self) -> StoreResult<SqliteTx> {
        let c = self.pool.acquire().await.map_err(db_err)?;
        Ok(SqliteTx {
            tx: Conn::Auto(c),
            _writer: None,
        })
    }

    async fn bearer(&self, hash: &str) -> StoreResult<Option<Bearer>> {
        if let Some(d) = &self.direct {
            match d.bearer(hash) {
                Ok(row) => return row.map(crate::oidc::BearerRow::assemble).transpose(),
                Err(e) => tracing::debug!(error = %e, "direct bearer read failed; using the pool"),
            }
        }
        bearer_on_snapshot(self, hash).await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)
            .map(|_| ())
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
}

impl Tx for SqliteTx {
    async fn commit(self) -> StoreResult<()> {
        match self.tx {
            Conn::Tx(t) => t.commit().await.map_err(db_err),
            Conn::Auto(_) => Ok(()),
        }
    }
    async fn rollback(self) -> StoreResult<()> {
        match self.tx {
            Conn::Tx(t) => t.rollback().await.map_err(db_err),
            Conn::Auto(_) => Ok(()),
        }
    }
}

fn association_row(r: &SqliteRow) -> StoreResult<Association> {
    Ok(Association {
        code: AssociationCode::parse(r.get::<&str, _>("code"))
            .map_err(corrupt("association code"))?,
        name_ja: r.get("name_ja"),
        name_en: r.get("name_en"),
    })
}

macro_rules! doctor_cols {
    () => {
        "id, iseki_number, family_name, given_name, family_kana, given_kana, birth_date, sex, \
         contact_email, member_id, home_prefecture, created_at"
    };
}
pub(crate) use doctor_cols;

fn organisation_row(r: &SqliteRow) -> StoreResult<Organisation> {
    Ok(Organisation {
        id: uuid(r.get("id"))?,
        name: r.get("name"),
        prefecture: AssociationCode::parse(r.get::<&str, _>("prefecture_code"))
            .map_err(corrupt("prefecture"))?,
    })
}

pub(crate) fn doctor_row(r: &SqliteRow) -> StoreResult<Doctor> {
    Ok(Doctor {
        id: uuid(r.get("id"))?,
        iseki: IsekiNumber::parse(r.get::<&str, _>("iseki_number")).map_err(corrupt("iseki"))?,
        family_name: r.get("family_name"),
        given_name: r.get("given_name"),
        family_kana: KanaName::normalise(r.get::<&str, _>("family_kana"))
            .map_err(corrupt("kana"))?,
        given_kana: KanaName::normalise(r.get::<&str, _>("given_kana")).map_err(corrupt("kana"))?,
        birth_date: date(r.get("birth_date"))?,
        sex: Sex::parse(r.get::<&str, _>("sex")).map_err(corrupt("sex"))?,
        contact_email: r.get("contact_email"),
        member_id: r
            .get::<Option<&str>, _>("member_id")
            .map(MemberId::parse)
            .transpose()
            .map_err(corrupt("member id"))?,
        home_prefecture: r
            .get::<Option<&str>, _>("home_prefecture")
            .map(AssociationCode::parse)
            .transpose()
            .map_err(corrupt("home prefecture"))?,
        created_at: from_micros(r.get("created_at"))?,
    })
}

pub(crate) fn membership_row(r: &SqliteRow) -> StoreResult<(Uuid, Membership)> {
    Ok((
        uuid(r.get("doctor_id"))?,
        Membership {
            association: AssociationCode::parse(r.get::<&str, _>("association_code"))
                .map_err(corrupt("association code"))?,
            class: ClassCode::parse(r.get::<&str, _>("class")).map_err(corrupt("class"))?,
            joined_on: date(r.get("joined_on"))?,
            left_on: r.get::<Option<&str>, _>("left_on").map(date).transpose()?,
        },
    ))
}

fn scope_parts(s: &Scope) -> (&'static str, String) {
    match s {
        Scope::Association(c) => ("association", c.to_string()),
        Scope::Organisation(id) => ("organisation", id.to_string()),
    }
}

fn grant_from(role: &str, kind: &str, id: &str) -> StoreResult<RoleGrant> {
    let role = Role::parse(role).map_err(corrupt("role"))?;
    let scope = match kind {
        "association" => Scope::Association(AssociationCode::parse(id).map_err(corrupt("scope"))?),
        _ => Scope::Organisation(uuid(id)?),
    };
    RoleGrant::new(role, scope).map_err(corrupt("grant"))
}

fn token_row(r: &SqliteRow) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: uuid(r.get("id"))?,
        name: r.get("name"),
        grant: grant_from(r.get("role"), r.get("scope_kind"), r.get("scope_id"))?,
        token_hash: r.get("token_hash"),
        created_at: from_micros(r.get("created_at"))?,
        revoked_at: opt_from_micros(r.get("revoked_at"))?,
    })
}

fn job_row(r: &SqliteRow) -> StoreResult<Job> {
    let status: &str = r.get("status");
    Ok(Job {
        id: uuid(r.get("id"))?,
        kind: r.get("kind"),
        payload: serde_json::from_str(r.get("payload")).map_err(corrupt("job payload"))?,
        idempotency_key: r.get("idempotency_key"),
        status: JobStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("job status {status}")))?,
        attempts: r.get("attempts"),
        max_attempts: r.get("max_attempts"),
        run_at: from_micros(r.get("run_at"))?,
        locked_until: opt_from_micros(r.get("locked_until"))?,
        lease: r.get::<Option<&str>, _>("lease").map(uuid).transpose()?,
        last_error: r.get("last_error"),
        created_at: from_micros(r.get("created_at"))?,
    })
}

fn mail_row(r: &SqliteRow) -> StoreResult<OutboxMail> {
    let status: &str = r.get("status");
    Ok(OutboxMail {
        id: uuid(r.get("id"))?,
        to_addr: r.get("to_addr"),
        subject: r.get("subject"),
        body_text: r.get("body_text"),
        status: MailStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("mail status {status}")))?,
        attempts: r.get("attempts"),
        last_error: r.get("last_error"),
        created_at: from_micros(r.get("created_at"))?,
        sent_at: opt_from_micros(r.get("sent_at"))?,
    })
}

fn audit_row(r: &SqliteRow) -> StoreResult<AuditRow> {
    Ok(AuditRow {
        seq: r.get("seq"),
        at: from_micros(r.get("at"))?,
        actor: r.get("actor"),
        action: r.get("action"),
        target: r.get("target"),
        client_addr: r.get("client_addr"),
        details: r.get("details"),
        prev_mac: r.get("prev_mac"),
        mac: r.get("mac"),
    })
}

fn subtree_pattern(code: &AssociationCode) -> String {
    match code.level() {
        mamis_domain::AssociationLevel::Jma => "%".into(),
        _ => format!("{code}-%"),
    }
}

// Keeps each multi-row INSERT well below SQLite's limit of bound parameters.
const BULK_ROWS: usize = 1_000;

impl RegistryStore for SqliteTx {
    async fn upsert_association(&mut self, a: &Association) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO associations (code, parent_code, level, name_ja, name_en) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (code) DO UPDATE SET name_ja = excluded.name_ja, name_en = excluded.name_en",
        )
        .bind(a.code.as_str())
        .bind(a.code.parent().map(|p| p.to_string()))
        .bind(a.level().as_str())
        .bind(&a.name_ja)
        .bind(&a.name_en)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn association(&mut self, code: &AssociationCode) -> StoreResult<Option<Association>> {
        sqlx::query("SELECT code, name_ja, name_en FROM associations WHERE code = $1")
            .bind(code.as_str())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(association_row)
            .transpose()
    }

    async fn associations_under(
        &mut self,
        code: &AssociationCode,
    ) -> StoreResult<Vec<Association>> {
        sqlx::query("SELECT code, name_ja, name_en FROM associations WHERE code = $1 OR code LIKE $2 ORDER BY code")
            .bind(code.as_str())
            .bind(subtree_pattern(code))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(association_row)
            .collect()
    }

    async fn insert_organisation(&mut self, o: &Organisation, now: Timestamp) -> StoreResult<()> {
        sqlx::query("INSERT INTO organisations (id, name, prefecture_code, created_at) VALUES ($1, $2, $3, $4)")
            .bind(o.id.to_string())
            .bind(&o.name)
            .bind(o.prefecture.as_str())
            .bind(micros(now))
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn organisation(&mut self, id: Uuid) -> StoreResult<Option<Organisation>> {
        sqlx::query("SELECT id, name, prefecture_code FROM organisations WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(organisation_row)
            .transpose()
    }

    async fn organisations_in(
        &mut self,
        prefecture: &AssociationCode,
    ) -> StoreResult<Vec<Organisation>> {
        let rows = sqlx::query("SELECT id, name, prefecture_code FROM organisations WHERE prefecture_code = $1 ORDER BY name, id")
            .bind(prefecture.as_str())
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?;
        rows.iter().map(organisation_row).collect()
    }

    async fn insert_doctor(&mut self, d: &Doctor) -> StoreResult<()> {
        self.insert_doctors(std::slice::from_ref(d)).await
    }

    async fn insert_doctors(&mut self, ds: &[Doctor]) -> StoreResult<()> {
        for chunk in ds.chunks(BULK_ROWS) {
            let mut q = QueryBuilder::<Sqlite>::new(concat!(
                "INSERT INTO doctors (",
                doctor_cols!(),
                ", name_fold, kana_fold) "
            ));
            q.push_values(chunk, |mut b, d| {
                b.push_bind(d.id.to_string())
                    .push_bind(d.iseki.as_str().to_owned())
                    .push_bind(d.family_name.clone())
                    .push_bind(d.given_name.clone())
                    .push_bind(d.family_kana.as_str().to_owned())
                    .push_bind(d.given_kana.as_str().to_owned())
                    .push_bind(d.birth_date.to_string())
                    .push_bind(d.sex.as_str())
                    .push_bind(d.contact_email.clone())
                    .push_bind(d.member_id.as_ref().map(|m| m.as_str().to_owned()))
                    .push_bind(d.home_prefecture.as_ref().map(|p| p.as_str().to_owned()))
                    .push_bind(micros(d.created_at))
                    .push_bind(search_key(&[&d.family_name, &d.given_name]))
                    .push_bind(search_key(&[d.family_kana.as_str(), d.given_kana.as_str()]));
            });
            q.build().execute(&mut *self.tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn doctor(&mut self, id: Uuid) -> StoreResult<Option<Doctor>> {
        sqlx::query(concat!(
            "SELECT ",
            doctor_cols!(),
            " FROM doctors WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(doctor_row)
        .transpose()
    }

    async fn doctor_by_member_id(&mut self, member: &MemberId) -> StoreResult<Option<Doctor>> {
        sqlx::query(concat!(
            "SELECT ",
            doctor_cols!(),
            " FROM doctors WHERE member_id = $1"
        ))
        .bind(member.as_str())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(doctor_row)
        .transpose()
    }

    async fn doctor_by_iseki(&mut self, iseki: &IsekiNumber) -> StoreResult<Option<Doctor>> {
        sqlx::query(concat!(
            "SELECT ",
            doctor_cols!(),
            " FROM doctors WHERE iseki_number = $1"
        ))
        .bind(iseki.as_str())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(doctor_row)
        .transpose()
    }

    async fn doctors_page(&mut self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<Doctor>> {
        sqlx::query(concat!(
            "SELECT ",
            doctor_cols!(),
            " FROM doctors WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(doctor_row)
        .collect()
    }

    async fn set_licence_date(
        &mut self,
        doctor: Uuid,
        licensed_on: Option<NaiveDate>,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE doctors SET licensed_on = $2 WHERE id = $1")
            .bind(doctor.to_string())
            .bind(licensed_on.map(|d| d.to_string()))
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn licence_dates(&mut self, doctors: &[Uuid]) -> StoreResult<Vec<(Uuid, NaiveDate)>> {
        let mut ids: Vec<String> = doctors.iter().map(Uuid::to_string).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::new();
        for chunk in ids.chunks(BULK_ROWS) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT id, licensed_on FROM doctors WHERE licensed_on IS NOT NULL AND id IN (",
            );
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(id.as_str());
            }
            q.push(") ORDER BY id");
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                out.push((uuid(r.get("id"))?, date(r.get("licensed_on"))?));
            }
        }
        Ok(out)
    }

    async fn count_doctors(&mut self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM doctors")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn insert_membership(&mut self, doctor: Uuid, m: &Membership) -> StoreResult<()> {
        self.insert_memberships(&[(doctor, m.clone())]).await
    }

    async fn insert_memberships(&mut self, ms: &[(Uuid, Membership)]) -> StoreResult<()> {
        for chunk in ms.chunks(BULK_ROWS) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO memberships (doctor_id, association_code, class, joined_on, left_on) ",
            );
            q.push_values(chunk, |mut b, (d, m)| {
                b.push_bind(d.to_string())
                    .push_bind(m.association.as_str().to_owned())
                    .push_bind(m.class.as_str())
                    .push_bind(m.joined_on.to_string())
                    .push_bind(m.left_on.map(|l| l.to_string()));
            });
            q.build().execute(&mut *self.tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn memberships_of(&mut self, doctor: Uuid) -> StoreResult<Vec<Membership>> {
        sqlx::query(
            "SELECT doctor_id, association_code, class, joined_on, left_on FROM memberships \
             WHERE doctor_id = $1 ORDER BY joined_on, association_code",
        )
        .bind(doctor.to_string())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| membership_row(r).map(|(_, m)| m))
        .collect()
    }

    async fn memberships_page(
        &mut self,
        after: Option<(Uuid, String, NaiveDate)>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, Membership)>> {
        let (d, a, j) = after
            .map(|(d, a, j)| (d.to_string(), a, j.to_string()))
            .unwrap_or_default();
        sqlx::query(
            "SELECT doctor_id, association_code, class, joined_on, left_on FROM memberships \
             WHERE (doctor_id, association_code, joined_on) > ($1, $2, $3) \
             ORDER BY doctor_id, association_code, joined_on LIMIT $4",
        )
        .bind(d)
        .bind(a)
        .bind(j)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(membership_row)
        .collect()
    }

    async fn members_of(
        &mut self,
        association: &AssociationCode,
        day: NaiveDate,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<Doctor>> {
        sqlx::query(
            "SELECT d.* FROM doctors d JOIN memberships m ON m.doctor_id = d.id \
             WHERE m.association_code = $1 AND m.joined_on <= $2 AND (m.left_on IS NULL OR m.left_on > $2) \
             ORDER BY length(d.iseki_number), d.iseki_number LIMIT $3 OFFSET $4"
        )
        .bind(association.as_str())
        .bind(day.to_string())
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(doctor_row)
        .collect()
    }

    async fn migration_progress(
        &mut self,
        node: &AssociationCode,
        day: NaiveDate,
    ) -> StoreResult<Vec<MigrationCounts>> {
        // Current JMA members, each placed by its (first) county membership active on the day;
        // a verified MAMIS_ID wins over a legacy credential.
        sqlx::query(concat!(
            "WITH members AS (SELECT d.id, d.member_id, d.family_name, d.given_name, d.contact_email, \
               (SELECT MIN(c.association_code) FROM memberships c WHERE c.doctor_id = d.id \
                 AND length(c.association_code) = 8 AND c.joined_on <= $1 \
                 AND (c.left_on IS NULL OR c.left_on > $1)) AS county \
             FROM doctors d WHERE EXISTS (SELECT 1 FROM memberships j WHERE j.doctor_id = d.id \
               AND j.association_code = 'JMA' AND j.joined_on <= $1 \
               AND (j.left_on IS NULL OR j.left_on > $1)))",
            ", placed AS (SELECT m.county, \
               EXISTS (SELECT 1 FROM accounts a WHERE a.doctor_id = m.id AND a.verification = 'verified') AS verified, \
               EXISTS (SELECT 1 FROM legacy_credentials l WHERE l.member_id = m.member_id AND l.retired_at IS NULL) AS legacy \
               FROM members m WHERE m.county = $2 OR m.county LIKE $3) \
             SELECT county, \
               SUM(CASE WHEN verified THEN 1 ELSE 0 END) AS verified, \
               SUM(CASE WHEN NOT verified AND legacy THEN 1 ELSE 0 END) AS legacy_only, \
               SUM(CASE WHEN NOT verified AND NOT legacy THEN 1 ELSE 0 END) AS neither \
             FROM placed GROUP BY county ORDER BY county"
        ))
        .bind(day.to_string())
        .bind(node.as_str())
        .bind(subtree_pattern(node))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            let county = AssociationCode::parse(r.get::<&str, _>("county"))
                .map_err(corrupt("county code"))?;
            let count = |c: &str| u64::try_from(r.get::<i64, _>(c)).unwrap_or(0);
            Ok(MigrationCounts {
                prefecture: county
                    .prefecture_code()
                    .ok_or_else(|| StoreError::Corrupt(format!("county code {county}")))?,
                verified: count("verified"),
                legacy_only: count("legacy_only"),
                neither: count("neither"),
                county,
            })
        })
        .collect()
    }

    async fn unmoved_members(
        &mut self,
        node: &AssociationCode,
        day: NaiveDate,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<UnmovedMember>> {
        sqlx::query(concat!(
            "WITH members AS (SELECT d.id, d.member_id, d.family_name, d.given_name, d.contact_email, \
               (SELECT MIN(c.association_code) FROM memberships c WHERE c.doctor_id = d.id \
                 AND length(c.association_code) = 8 AND c.joined_on <= $1 \
                 AND (c.left_on IS NULL OR c.left_on > $1)) AS county \
             FROM doctors d WHERE EXISTS (SELECT 1 FROM memberships j WHERE j.doctor_id = d.id \
               AND j.association_code = 'JMA' AND j.joined_on <= $1 \
               AND (j.left_on IS NULL OR j.left_on > $1)))",
            " SELECT m.id, m.member_id, m.family_name, m.given_name, m.contact_email, m.county, \
               EXISTS (SELECT 1 FROM legacy_credentials l WHERE l.member_id = m.member_id AND l.retired_at IS NULL) AS legacy \
             FROM members m \
             WHERE (m.county = $2 OR m.county LIKE $3) AND m.id > $4 \
               AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.doctor_id = m.id AND a.verification = 'verified') \
             ORDER BY m.id LIMIT $5"
        ))
        .bind(day.to_string())
        .bind(node.as_str())
        .bind(subtree_pattern(node))
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(UnmovedMember {
                doctor_id: uuid(r.get("id"))?,
                member_id: r
                    .get::<Option<&str>, _>("member_id")
                    .map(MemberId::parse)
                    .transpose()
                    .map_err(corrupt("member id"))?,
                family_name: r.get("family_name"),
                given_name: r.get("given_name"),
                contact_email: r.get("contact_email"),
                county: AssociationCode::parse(r.get::<&str, _>("county"))
                    .map_err(corrupt("county code"))?,
                legacy: r.get::<i64, _>("legacy") != 0,
            })
        })
        .collect()
    }
}

impl AccessStore for SqliteTx {
    async fn insert_account(&mut self, a: &Account) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO accounts (id, email, display_name, created_at, kind, status, password_hash, doctor_id, \
             verification, totp_secret, totp_last_step) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(a.id.to_string())
        .bind(a.email.to_lowercase())
        .bind(&a.display_name)
        .bind(micros(a.created_at))
        .bind(a.kind.as_str())
        .bind(a.status.as_str())
        .bind(&a.password_hash)
        .bind(a.doctor_id.map(|d| d.to_string()))
        .bind(a.verification.as_str())
        .bind(&a.totp_secret)
        .bind(a.totp_last_step)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn account(&mut self, id: Uuid) -> StoreResult<Option<Account>> {
        sqlx::query("SELECT * FROM accounts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(crate::identity::account_row)
            .transpose()
    }

    async fn insert_role_grant(
        &mut self,
        account: Uuid,
        g: &RoleGrant,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (kind, id) = scope_parts(g.scope());
        sqlx::query(
            "INSERT INTO role_grants (account_id, role, scope_kind, scope_id, granted_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account.to_string())
        .bind(g.role().as_str())
        .bind(kind)
        .bind(id)
        .bind(micros(now))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn grants_of(&mut self, account: Uuid) -> StoreResult<Vec<RoleGrant>> {
        sqlx::query("SELECT role, scope_kind, scope_id FROM role_grants WHERE account_id = $1 ORDER BY granted_at, role")
            .bind(account.to_string())
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| grant_from(r.get("role"), r.get("scope_kind"), r.get("scope_id")))
            .collect()
    }

    async fn staff_emails(&mut self, nodes: &[AssociationCode]) -> StoreResult<Vec<String>> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT DISTINCT a.email FROM accounts a JOIN role_grants g ON g.account_id = a.id \
             WHERE a.status = 'active' AND g.scope_kind = 'association' AND g.scope_id IN (",
        );
        let mut sep = q.separated(", ");
        for n in nodes {
            sep.push_bind(n.as_str().to_owned());
        }
        q.push(") ORDER BY a.email");
        let rows = q.build().fetch_all(&mut *self.tx).await.map_err(db_err)?;
        Ok(rows.iter().map(|r| r.get::<String, _>("email")).collect())
    }

    async fn insert_api_token(&mut self, t: &ApiToken) -> StoreResult<()> {
        let (kind, id) = scope_parts(t.grant.scope());
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, scope_kind, scope_id, token_hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(t.id.to_string())
        .bind(&t.name)
        .bind(t.grant.role().as_str())
        .bind(kind)
        .bind(id)
        .bind(&t.token_hash)
        .bind(micros(t.created_at))
        .bind(t.revoked_at.map(micros))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn api_token_by_hash(&mut self, hash: &str) -> StoreResult<Option<ApiToken>> {
        sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(token_row)
            .transpose()
    }

    async fn api_tokens(&mut self) -> StoreResult<Vec<ApiToken>> {
        sqlx::query("SELECT * FROM api_tokens ORDER BY created_at DESC, id")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(token_row)
            .collect()
    }

    async fn revoke_api_token(&mut self, id: Uuid, now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id.to_string())
        .bind(micros(now))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }
}

impl JobStore for SqliteTx {
    async fn enqueue_job(&mut self, job: &NewJob, now: Timestamp) -> StoreResult<Enqueued> {
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO jobs (id, kind, payload, idempotency_key, status, attempts, max_attempts, run_at, created_at) \
             VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(job.id.to_string())
        .bind(&job.kind)
        .bind(job.payload.to_string())
        .bind(&job.idempotency_key)
        .bind(job.max_attempts)
        .bind(micros(job.run_at))
        .bind(micros(now))
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?;
        match inserted {
            Some(id) => Ok(Enqueued::Created(uuid(&id)?)),
            None => {
                let id: String =
                    sqlx::query_scalar("SELECT id FROM jobs WHERE idempotency_key = $1")
                        .bind(&job.idempotency_key)
                        .fetch_one(&mut *self.tx)
                        .await
                        .map_err(db_err)?;
                Ok(Enqueued::Duplicate(uuid(&id)?))
            }
        }
    }

    async fn claim_job(
        &mut self,
        now: Timestamp,
        lease: chrono::Duration,
    ) -> StoreResult<Option<Job>> {
        // The surrounding BEGIN IMMEDIATE transaction makes select-then-update atomic.
        sqlx::query(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $1, lease = $2 \
             WHERE id = (SELECT id FROM jobs \
                         WHERE (status = 'queued' AND run_at <= $3) OR (status = 'running' AND locked_until <= $3) \
                         ORDER BY run_at, created_at, id LIMIT 1) \
             RETURNING *",
        )
        .bind(micros(now + lease))
        .bind(Uuid::new_v4().to_string())
        .bind(micros(now))
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(job_row)
        .transpose()
    }

    async fn complete_job(&mut self, id: Uuid, lease: Uuid, _now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET status = 'done', locked_until = NULL, lease = NULL, last_error = NULL \
             WHERE id = $1 AND lease = $2 AND status = 'running'",
        )
        .bind(id.to_string())
        .bind(lease.to_string())
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn fail_job(
        &mut self,
        id: Uuid,
        lease: Uuid,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET status = CASE WHEN $3 IS NULL THEN 'dead' ELSE 'queued' END, \
             run_at = COALESCE($3, run_at), locked_until = NULL, lease = NULL, last_error = $4 \
             WHERE id = $1 AND lease = $2 AND status = 'running'",
        )
        .bind(id.to_string())
        .bind(lease.to_string())
        .bind(retry_at.map(micros))
        .bind(error)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn job(&mut self, id: Uuid) -> StoreResult<Option<Job>> {
        sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(job_row)
            .transpose()
    }

    async fn jobs_with_status(&mut self, status: JobStatus, limit: u32) -> StoreResult<Vec<Job>> {
        sqlx::query("SELECT * FROM jobs WHERE status = $1 ORDER BY created_at, id LIMIT $2")
            .bind(status.as_str())
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(job_row)
            .collect()
    }
}

impl OutboxStore for SqliteTx {
    async fn insert_mail(&mut self, m: &OutboxMail) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO outbox_mail (id, to_addr, subject, body_text, status, attempts, last_error, created_at, sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(m.id.to_string())
        .bind(&m.to_addr)
        .bind(&m.subject)
        .bind(&m.body_text)
        .bind(m.status.as_str())
        .bind(m.attempts)
        .bind(&m.last_error)
        .bind(micros(m.created_at))
        .bind(m.sent_at.map(micros))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn mail(&mut self, id: Uuid) -> StoreResult<Option<OutboxMail>> {
        sqlx::query("SELECT * FROM outbox_mail WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(mail_row)
            .transpose()
    }

    async fn mails(&mut self, limit: u32) -> StoreResult<Vec<OutboxMail>> {
        sqlx::query("SELECT * FROM outbox_mail ORDER BY created_at DESC, id DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(mail_row)
            .collect()
    }

    async fn mark_mail_sent(&mut self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE outbox_mail SET status = 'sent', sent_at = $2, attempts = attempts + 1 WHERE id = $1")
            .bind(id.to_string())
            .bind(micros(now))
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn mark_mail_failed(&mut self, id: Uuid, error: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox_mail SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(error)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

impl AuditStore for SqliteTx {
    async fn lock_audit_head(&mut self) -> StoreResult<AuditHead> {
        // Writers already hold SQLite's single write lock (BEGIN IMMEDIATE).
        let r = sqlx::query("SELECT seq, mac FROM audit_head WHERE id = 1")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(AuditHead {
            seq: r.get("seq"),
            mac: r.get("mac"),
        })
    }

    async fn append_audit(&mut self, row: &AuditRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, target, client_addr, details, prev_mac, mac) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(row.seq)
        .bind(micros(row.at))
        .bind(&row.actor)
        .bind(&row.action)
        .bind(&row.target)
        .bind(&row.client_addr)
        .bind(&row.details)
        .bind(&row.prev_mac)
        .bind(&row.mac)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        let moved =
            sqlx::query("UPDATE audit_head SET seq = $1, mac = $2 WHERE id = 1 AND seq = $1 - 1")
                .bind(row.seq)
                .bind(&row.mac)
                .execute(&mut *self.tx)
                .await
                .map_err(db_err)?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::Conflict {
                constraint: "audit_head_seq".into(),
            });
        }
        Ok(())
    }

    async fn audit_rows(&mut self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRow>> {
        sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(audit_row)
            .collect()
    }
}

impl CatalogueStore for SqliteTx {
    async fn curriculum_entries(&mut self, version: &str) -> StoreResult<Vec<CatalogueEntry>> {
        let rows = sqlx::query(
            "SELECT version, number, name_ja, name_en, source_status FROM curriculum_codes WHERE version = $1 ORDER BY number",
        )
        .bind(version)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(CatalogueEntry {
                    version: r.get("version"),
                    number: u16::try_from(r.get::<i64, _>("number"))
                        .map_err(corrupt("code number"))?,
                    name_ja: r.get("name_ja"),
                    name_en: r.get("name_en"),
                    source_status: r.get("source_status"),
                })
            })
            .collect()
    }

    async fn rename_curriculum_code(
        &mut self,
        version: &str,
        number: u16,
        name_ja: &str,
        name_en: &str,
    ) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE curriculum_codes SET name_ja = $3, name_en = $4 WHERE version = $1 AND number = $2")
            .bind(version)
            .bind(i64::from(number))
            .bind(name_ja)
            .bind(name_en)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }
}
