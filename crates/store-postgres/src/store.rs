use std::time::Duration;

use chrono::NaiveDate;
use mamis_domain::curriculum::CatalogueEntry;
use mamis_domain::names::search_key;
use mamis_domain::{
    Association, AssociationCode, ClassCode, IsekiNumber, KanaName, MemberId, Membership,
    Organisation, Role, RoleGrant, Scope, Sex, Timestamp,
};
use mamis_store::*;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use crate::convert::*;

/// The PostgreSQL store: a connection pool shared by every request and worker of one server.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Userinfo's reads, gathered while PostgreSQL is busy.
    bearers: crate::batch::BearerBatches,
}

/// A transaction on the PostgreSQL store.
pub struct PgTx {
    pub(crate) tx: Conn,
}

/// A transaction, or (for [`Store::snapshot`]) a connection outside any: every statement is
/// then its own snapshot, as it is under READ COMMITTED anyway, without the two round trips of
/// `BEGIN` and `ROLLBACK`.
pub(crate) enum Conn {
    Tx(Transaction<'static, Postgres>),
    Auto(PoolConnection<Postgres>),
}

impl std::ops::Deref for Conn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match self {
            Conn::Tx(t) => t,
            Conn::Auto(c) => c,
        }
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Conn::Tx(t) => t,
            Conn::Auto(c) => c,
        }
    }
}

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl PgStore {
    /// Connects a pool to `url` (`postgres://user@host:port/database`).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(30))
            // No ping per checkout (a round trip per transaction): a connection the server has
            // closed fails its first statement and is discarded, and the next checkout is fresh.
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", redact(url))))?;
        let bearers = crate::batch::BearerBatches::start(pool.clone());
        Ok(Self { pool, bearers })
    }

    /// Applies pending migrations (sqlx takes an advisory lock, so servers starting together
    /// migrate once).
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration: {e}")))?;
        crate::members::fill_search_keys(&self.pool).await?;
        Ok(())
    }

    /// The pool, for tests that must reach under the store (e.g. to tamper with audit rows).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection, waiting for checked-out ones to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The URL without its password, for error messages and logs.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Store for PgStore {
    type Tx = PgTx;

    async fn write(&self) -> StoreResult<PgTx> {
        let tx = self.pool.begin().await.map_err(db_err)?;
        Ok(PgTx { tx: Conn::Tx(tx) })
    }

    async fn read(&self) -> StoreResult<PgTx> {
        let tx = self.pool.begin().await.map_err(db_err)?;
        Ok(PgTx { tx: Conn::Tx(tx) })
    }

    async fn snapshot(&self) -> StoreResult<PgTx> {
        let c = self.pool.acquire().await.map_err(db_err)?;
        Ok(PgTx { tx: Conn::Auto(c) })
    }

    async fn write_single(&self) -> StoreResult<PgTx> {
        let c = self.pool.acquire().await.map_err(db_err)?;
        Ok(PgTx { tx: Conn::Auto(c) })
    }

    async fn bearer(&self, hash: &str) -> StoreResult<Option<Bearer>> {
        if let Some(answer) = self.bearers.bearer(hash).await {
            return answer;
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
        Backend::Postgres
    }
}

impl Tx for PgTx {
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

fn association_row(r: &PgRow) -> StoreResult<Association> {
    Ok(Association {
        code: AssociationCode::parse(col::<&str>(r, "code")?)
            .map_err(corrupt("association code"))?,
        name_ja: col(r, "name_ja")?,
        name_en: col(r, "name_en")?,
    })
}

macro_rules! doctor_cols {
    () => {
        "id, iseki_number, family_name, given_name, family_kana, given_kana, birth_date, sex, \
         contact_email, member_id, home_prefecture, created_at"
    };
}
pub(crate) use doctor_cols;

fn organisation_row(r: &PgRow) -> StoreResult<Organisation> {
    Ok(Organisation {
        id: col(r, "id")?,
        name: col(r, "name")?,
        prefecture: AssociationCode::parse(col::<&str>(r, "prefecture_code")?)
            .map_err(corrupt("prefecture"))?,
    })
}

pub(crate) fn doctor_row(r: &PgRow) -> StoreResult<Doctor> {
    Ok(Doctor {
        id: col(r, "id")?,
        iseki: IsekiNumber::parse(col::<&str>(r, "iseki_number")?).map_err(corrupt("iseki"))?,
        family_name: col(r, "family_name")?,
        given_name: col(r, "given_name")?,
        family_kana: KanaName::normalise(col::<&str>(r, "family_kana")?)
            .map_err(corrupt("kana"))?,
        given_kana: KanaName::normalise(col::<&str>(r, "given_kana")?).map_err(corrupt("kana"))?,
        birth_date: col(r, "birth_date")?,
        sex: Sex::parse(col::<&str>(r, "sex")?).map_err(corrupt("sex"))?,
        contact_email: col(r, "contact_email")?,
        member_id: col::<Option<&str>>(r, "member_id")?
            .map(MemberId::parse)
            .transpose()
            .map_err(corrupt("member id"))?,
        home_prefecture: col::<Option<&str>>(r, "home_prefecture")?
            .map(AssociationCode::parse)
            .transpose()
            .map_err(corrupt("home prefecture"))?,
        created_at: col(r, "created_at")?,
    })
}

pub(crate) fn membership_row(r: &PgRow) -> StoreResult<(Uuid, Membership)> {
    Ok((
        col(r, "doctor_id")?,
        Membership {
            association: AssociationCode::parse(col::<&str>(r, "association_code")?)
                .map_err(corrupt("association code"))?,
            class: ClassCode::parse(col::<&str>(r, "class")?).map_err(corrupt("class"))?,
            joined_on: col(r, "joined_on")?,
            left_on: col(r, "left_on")?,
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
        _ => Scope::Organisation(Uuid::parse_str(id).map_err(corrupt("scope"))?),
    };
    RoleGrant::new(role, scope).map_err(corrupt("grant"))
}

fn grant_row(r: &PgRow) -> StoreResult<RoleGrant> {
    grant_from(col(r, "role")?, col(r, "scope_kind")?, col(r, "scope_id")?)
}

macro_rules! token_cols {
    () => {
        "id, name, role, scope_kind, scope_id, token_hash, created_at, revoked_at"
    };
}

fn token_row(r: &PgRow) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: col(r, "id")?,
        name: col(r, "name")?,
        grant: grant_row(r)?,
        token_hash: col(r, "token_hash")?,
        created_at: col(r, "created_at")?,
        revoked_at: col(r, "revoked_at")?,
    })
}

// The payload is jsonb; it travels as text so the driver needs no JSON feature.
macro_rules! job_cols {
    () => {
        "id, kind, payload::text AS payload, idempotency_key, status, attempts, max_attempts, \
         run_at, locked_until, lease, last_error, created_at"
    };
}

fn job_row(r: &PgRow) -> StoreResult<Job> {
    let status: &str = col(r, "status")?;
    Ok(Job {
        id: col(r, "id")?,
        kind: col(r, "kind")?,
        payload: serde_json::from_str(col(r, "payload")?).map_err(corrupt("job payload"))?,
        idempotency_key: col(r, "idempotency_key")?,
        status: JobStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("job status {status}")))?,
        attempts: col(r, "attempts")?,
        max_attempts: col(r, "max_attempts")?,
        run_at: col(r, "run_at")?,
        locked_until: col(r, "locked_until")?,
        lease: col(r, "lease")?,
        last_error: col(r, "last_error")?,
        created_at: col(r, "created_at")?,
    })
}

macro_rules! mail_cols {
    () => {
        "id, to_addr, subject, body_text, status, attempts, last_error, created_at, sent_at"
    };
}

fn mail_row(r: &PgRow) -> StoreResult<OutboxMail> {
    let status: &str = col(r, "status")?;
    Ok(OutboxMail {
        id: col(r, "id")?,
        to_addr: col(r, "to_addr")?,
        subject: col(r, "subject")?,
        body_text: col(r, "body_text")?,
        status: MailStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("mail status {status}")))?,
        attempts: col(r, "attempts")?,
        last_error: col(r, "last_error")?,
        created_at: col(r, "created_at")?,
        sent_at: col(r, "sent_at")?,
    })
}

macro_rules! audit_cols {
    () => {
        "seq, at, actor, action, target, client_addr, details, prev_mac, mac"
    };
}

fn audit_row(r: &PgRow) -> StoreResult<AuditRow> {
    Ok(AuditRow {
        seq: col(r, "seq")?,
        at: col(r, "at")?,
        actor: col(r, "actor")?,
        action: col(r, "action")?,
        target: col(r, "target")?,
        client_addr: col(r, "client_addr")?,
        details: col(r, "details")?,
        prev_mac: col(r, "prev_mac")?,
        mac: col(r, "mac")?,
    })
}

pub(crate) fn subtree_pattern(code: &AssociationCode) -> String {
    match code.level() {
        mamis_domain::AssociationLevel::Jma => "%".into(),
        _ => format!("{code}-%"),
    }
}

/// Rows per multi-row INSERT: 2,000 doctors bind 28,000 parameters, well under PostgreSQL's
/// limit of 65,535 per statement.
pub(crate) const BULK_ROWS: usize = 2_000;

impl RegistryStore for PgTx {
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
            .bind(o.id)
            .bind(&o.name)
            .bind(o.prefecture.as_str())
            .bind(now)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn organisation(&mut self, id: Uuid) -> StoreResult<Option<Organisation>> {
        sqlx::query("SELECT id, name, prefecture_code FROM organisations WHERE id = $1")
            .bind(id)
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
        // "C" collation: byte order, as SQLite sorts, whatever the database locale.
        let rows = sqlx::query("SELECT id, name, prefecture_code FROM organisations WHERE prefecture_code = $1 ORDER BY name COLLATE \"C\", id")
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
            let mut q = QueryBuilder::<Postgres>::new(concat!(
                "INSERT INTO doctors (",
                doctor_cols!(),
                ", name_fold, kana_fold) "
            ));
            q.push_values(chunk, |mut b, d| {
                b.push_bind(d.id)
                    .push_bind(d.iseki.as_str())
                    .push_bind(d.family_name.as_str())
                    .push_bind(d.given_name.as_str())
                    .push_bind(d.family_kana.as_str())
                    .push_bind(d.given_kana.as_str())
                    .push_bind(d.birth_date)
                    .push_bind(d.sex.as_str())
                    .push_bind(d.contact_email.as_deref())
                    .push_bind(d.member_id.as_ref().map(|m| m.as_str()))
                    .push_bind(d.home_prefecture.as_ref().map(|p| p.as_str()))
                    .push_bind(d.created_at)
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
        .bind(id)
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
        let rows = match after {
            Some(after) => sqlx::query(concat!(
                "SELECT ",
                doctor_cols!(),
                " FROM doctors WHERE id > $1 ORDER BY id LIMIT $2"
            ))
            .bind(after)
            .bind(i64::from(limit)),
            None => sqlx::query(concat!(
                "SELECT ",
                doctor_cols!(),
                " FROM doctors ORDER BY id LIMIT $1"
            ))
            .bind(i64::from(limit)),
        }
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        rows.iter().map(doctor_row).collect()
    }

    async fn set_licence_date(
        &mut self,
        doctor: Uuid,
        licensed_on: Option<NaiveDate>,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE doctors SET licensed_on = $2 WHERE id = $1")
            .bind(doctor)
            .bind(licensed_on)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn licence_dates(&mut self, doctors: &[Uuid]) -> StoreResult<Vec<(Uuid, NaiveDate)>> {
        let mut ids = doctors.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let rows = sqlx::query(
            "SELECT id, licensed_on FROM doctors \
             WHERE id = ANY($1::uuid[]) AND licensed_on IS NOT NULL ORDER BY id",
        )
        .bind(&ids)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok((col(r, "id")?, col(r, "licensed_on")?)))
            .collect()
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
            let mut q = QueryBuilder::<Postgres>::new(
                "INSERT INTO memberships (doctor_id, association_code, class, joined_on, left_on) ",
            );
            q.push_values(chunk, |mut b, (d, m)| {
                b.push_bind(*d)
                    .push_bind(m.association.as_str())
                    .push_bind(m.class.as_str())
                    .push_bind(m.joined_on)
                    .push_bind(m.left_on);
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
        .bind(doctor)
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
        // uuid order is byte order, which is the lowercase-hex order SQLite uses; the
        // association code is "C"-collated, so the whole key sorts as on SQLite.
        let rows = match after {
            Some((d, a, j)) => sqlx::query(
                "SELECT doctor_id, association_code, class, joined_on, left_on FROM memberships \
                 WHERE (doctor_id, association_code, joined_on) > ($1, $2, $3) \
                 ORDER BY doctor_id, association_code, joined_on LIMIT $4",
            )
            .bind(d)
            .bind(a)
            .bind(j)
            .bind(i64::from(limit)),
            None => sqlx::query(
                "SELECT doctor_id, association_code, class, joined_on, left_on FROM memberships \
                 ORDER BY doctor_id, association_code, joined_on LIMIT $1",
            )
            .bind(i64::from(limit)),
        }
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        rows.iter().map(membership_row).collect()
    }

    async fn members_of(
        &mut self,
        association: &AssociationCode,
        day: NaiveDate,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<Doctor>> {
        sqlx::query(
            "SELECT d.id, d.iseki_number, d.family_name, d.given_name, d.family_kana, d.given_kana, \
             d.birth_date, d.sex, d.contact_email, d.member_id, d.home_prefecture, d.created_at \
             FROM doctors d JOIN memberships m ON m.doctor_id = d.id \
             WHERE m.association_code = $1 AND m.joined_on <= $2 AND (m.left_on IS NULL OR m.left_on > $2) \
             ORDER BY length(d.iseki_number), d.iseki_number LIMIT $3 OFFSET $4",
        )
        .bind(association.as_str())
        .bind(day)
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
               COUNT(*) FILTER (WHERE verified) AS verified, \
               COUNT(*) FILTER (WHERE NOT verified AND legacy) AS legacy_only, \
               COUNT(*) FILTER (WHERE NOT verified AND NOT legacy) AS neither \
             FROM placed GROUP BY county ORDER BY county"
        ))
        .bind(day)
        .bind(node.as_str())
        .bind(subtree_pattern(node))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            let county = AssociationCode::parse(col::<&str>(r, "county")?)
                .map_err(corrupt("county code"))?;
            let count = |c: &'static str| {
                col::<i64>(r, c).map(|n| u64::try_from(n).unwrap_or(0))
            };
            Ok(MigrationCounts {
                prefecture: county
                    .prefecture_code()
                    .ok_or_else(|| StoreError::Corrupt(format!("county code {county}")))?,
                verified: count("verified")?,
                legacy_only: count("legacy_only")?,
                neither: count("neither")?,
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
             WHERE (m.county = $2 OR m.county LIKE $3) AND ($4::uuid IS NULL OR m.id > $4) \
               AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.doctor_id = m.id AND a.verification = 'verified') \
             ORDER BY m.id LIMIT $5"
        ))
        .bind(day)
        .bind(node.as_str())
        .bind(subtree_pattern(node))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(UnmovedMember {
                doctor_id: col(r, "id")?,
                member_id: col::<Option<&str>>(r, "member_id")?
                    .map(MemberId::parse)
                    .transpose()
                    .map_err(corrupt("member id"))?,
                family_name: col(r, "family_name")?,
                given_name: col(r, "given_name")?,
                contact_email: col(r, "contact_email")?,
                county: AssociationCode::parse(col::<&str>(r, "county")?)
                    .map_err(corrupt("county code"))?,
                legacy: col(r, "legacy")?,
            })
        })
        .collect()
    }
}

impl AccessStore for PgTx {
    async fn insert_account(&mut self, a: &Account) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO accounts (id, email, display_name, created_at, kind, status, password_hash, doctor_id, \
             verification, totp_secret, totp_last_step) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(a.id)
        .bind(a.email.to_lowercase())
        .bind(&a.display_name)
        .bind(a.created_at)
        .bind(a.kind.as_str())
        .bind(a.status.as_str())
        .bind(&a.password_hash)
        .bind(a.doctor_id)
        .bind(a.verification.as_str())
        .bind(&a.totp_secret)
        .bind(a.totp_last_step)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn account(&mut self, id: Uuid) -> StoreResult<Option<Account>> {
        sqlx::query(concat!(
            "SELECT ",
            crate::identity::account_cols!(),
            " FROM accounts WHERE id = $1"
        ))
        .bind(id)
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
        .bind(account)
        .bind(g.role().as_str())
        .bind(kind)
        .bind(id)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn grants_of(&mut self, account: Uuid) -> StoreResult<Vec<RoleGrant>> {
        sqlx::query("SELECT role, scope_kind, scope_id FROM role_grants WHERE account_id = $1 ORDER BY granted_at, role")
            .bind(account)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(grant_row)
            .collect()
    }

    async fn staff_emails(&mut self, nodes: &[AssociationCode]) -> StoreResult<Vec<String>> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT DISTINCT a.email FROM accounts a JOIN role_grants g ON g.account_id = a.id \
             WHERE a.status = 'active' AND g.scope_kind = 'association' AND g.scope_id IN (",
        );
        let mut sep = q.separated(", ");
        for n in nodes {
            sep.push_bind(n.as_str().to_owned());
        }
        q.push(") ORDER BY a.email");
        let rows = q.build().fetch_all(&mut *self.tx).await.map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| sqlx::Row::get::<String, _>(r, "email"))
            .collect())
    }

    async fn insert_api_token(&mut self, t: &ApiToken) -> StoreResult<()> {
        let (kind, id) = scope_parts(t.grant.scope());
        sqlx::query(concat!(
            "INSERT INTO api_tokens (",
            token_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(t.id)
        .bind(&t.name)
        .bind(t.grant.role().as_str())
        .bind(kind)
        .bind(id)
        .bind(&t.token_hash)
        .bind(t.created_at)
        .bind(t.revoked_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn api_token_by_hash(&mut self, hash: &str) -> StoreResult<Option<ApiToken>> {
        sqlx::query(concat!(
            "SELECT ",
            token_cols!(),
            " FROM api_tokens WHERE token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(token_row)
        .transpose()
    }

    async fn api_tokens(&mut self) -> StoreResult<Vec<ApiToken>> {
        sqlx::query(concat!(
            "SELECT ",
            token_cols!(),
            " FROM api_tokens ORDER BY created_at DESC, id"
        ))
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
        .bind(id)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }
}

impl JobStore for PgTx {
    async fn enqueue_job(&mut self, job: &NewJob, now: Timestamp) -> StoreResult<Enqueued> {
        // A concurrent enqueue with the same key waits for the first to commit, then does
        // nothing; the follow-up SELECT (a new READ COMMITTED snapshot) sees the winner.
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO jobs (id, kind, payload, idempotency_key, status, attempts, max_attempts, run_at, created_at) \
             VALUES ($1, $2, $3::jsonb, $4, 'queued', 0, $5, $6, $7) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(job.id)
        .bind(&job.kind)
        .bind(job.payload.to_string())
        .bind(&job.idempotency_key)
        .bind(job.max_attempts)
        .bind(job.run_at)
        .bind(now)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?;
        match inserted {
            Some(id) => Ok(Enqueued::Created(id)),
            None => {
                let id: Uuid = sqlx::query_scalar("SELECT id FROM jobs WHERE idempotency_key = $1")
                    .bind(&job.idempotency_key)
                    .fetch_one(&mut *self.tx)
                    .await
                    .map_err(db_err)?;
                Ok(Enqueued::Duplicate(id))
            }
        }
    }

    async fn claim_job(
        &mut self,
        now: Timestamp,
        lease: chrono::Duration,
    ) -> StoreResult<Option<Job>> {
        // SKIP LOCKED: servers claiming at once each take a different job instead of queueing
        // on the same row; a row changed meanwhile is re-checked against the WHERE clause.
        sqlx::query(concat!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $1, lease = $2 \
             WHERE id = (SELECT id FROM jobs \
                         WHERE (status = 'queued' AND run_at <= $3) OR (status = 'running' AND locked_until <= $3) \
                         ORDER BY run_at, created_at, id LIMIT 1 \
                         FOR UPDATE SKIP LOCKED) \
             RETURNING ",
            job_cols!()
        ))
        .bind(now + lease)
        .bind(Uuid::new_v4())
        .bind(now)
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
        .bind(id)
        .bind(lease)
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
            "UPDATE jobs SET status = CASE WHEN $3::timestamptz IS NULL THEN 'dead' ELSE 'queued' END, \
             run_at = COALESCE($3::timestamptz, run_at), locked_until = NULL, lease = NULL, last_error = $4 \
             WHERE id = $1 AND lease = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(lease)
        .bind(retry_at)
        .bind(error)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn job(&mut self, id: Uuid) -> StoreResult<Option<Job>> {
        sqlx::query(concat!("SELECT ", job_cols!(), " FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(job_row)
            .transpose()
    }

    async fn jobs_with_status(&mut self, status: JobStatus, limit: u32) -> StoreResult<Vec<Job>> {
        sqlx::query(concat!(
            "SELECT ",
            job_cols!(),
            " FROM jobs WHERE status = $1 ORDER BY created_at, id LIMIT $2"
        ))
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

impl OutboxStore for PgTx {
    async fn insert_mail(&mut self, m: &OutboxMail) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO outbox_mail (",
            mail_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(m.id)
        .bind(&m.to_addr)
        .bind(&m.subject)
        .bind(&m.body_text)
        .bind(m.status.as_str())
        .bind(m.attempts)
        .bind(&m.last_error)
        .bind(m.created_at)
        .bind(m.sent_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn mail(&mut self, id: Uuid) -> StoreResult<Option<OutboxMail>> {
        sqlx::query(concat!(
            "SELECT ",
            mail_cols!(),
            " FROM outbox_mail WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(mail_row)
        .transpose()
    }

    async fn mails(&mut self, limit: u32) -> StoreResult<Vec<OutboxMail>> {
        sqlx::query(concat!(
            "SELECT ",
            mail_cols!(),
            " FROM outbox_mail ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
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
            .bind(id)
            .bind(now)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn mark_mail_failed(&mut self, id: Uuid, error: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox_mail SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

impl AuditStore for PgTx {
    async fn lock_audit_head(&mut self) -> StoreResult<AuditHead> {
        // The row lock is held until commit or rollback: appends from every server queue here.
        let r = sqlx::query("SELECT seq, mac FROM audit_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(AuditHead {
            seq: col(&r, "seq")?,
            mac: col(&r, "mac")?,
        })
    }

    async fn append_audit(&mut self, row: &AuditRow) -> StoreResult<()> {
        // One statement: the head moves only from the row before this one, and the row is
        // written only if it did (a round trip fewer on every audited change).
        let written = sqlx::query(concat!(
            "WITH moved AS (UPDATE audit_head SET seq = $1, mac = $9 \
             WHERE id = 1 AND seq = $1 - 1 RETURNING seq) \
             INSERT INTO audit_log (",
            audit_cols!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM moved"
        ))
        .bind(row.seq)
        .bind(row.at)
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
        if written.rows_affected() != 1 {
            return Err(StoreError::Conflict {
                constraint: "audit_head_seq".into(),
            });
        }
        Ok(())
    }

    async fn audit_rows(&mut self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRow>> {
        sqlx::query(concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
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

impl CatalogueStore for PgTx {
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
                    version: col(r, "version")?,
                    number: u16::try_from(col::<i32>(r, "number")?)
                        .map_err(corrupt("code number"))?,
                    name_ja: col(r, "name_ja")?,
                    name_en: col(r, "name_en")?,
                    source_status: col(r, "source_status")?,
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
            .bind(i32::from(number))
            .bind(name_ja)
            .bind(name_en)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }
}
