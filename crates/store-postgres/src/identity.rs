//! The identity part of the PostgreSQL store: passwords, bindings, claims, single-use links,
//! sessions, throttles, second factors and legacy CME credentials.
//!
//! Every instant is a bound parameter. Throttle keys are serialised across servers by locking
//! their row (`SELECT ... FOR UPDATE`), which READ COMMITTED transactions need and SQLite's
//! single writer does not.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use mamis_domain::identity::Throttle;
use mamis_domain::{AssociationCode, IsekiNumber, KanaName, MemberId, Sex, Timestamp};
use mamis_store::*;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::PgTx;
use crate::convert::*;
use crate::store::{BULK_ROWS, subtree_pattern};

/// The columns [`account_row`] reads.
macro_rules! account_cols {
    () => {
        "id, email, display_name, kind, status, password_hash, doctor_id, verification, \
         totp_secret, totp_last_step, created_at"
    };
}
pub(crate) use account_cols;

macro_rules! claim_cols {
    () => {
        "account_id, iseki_number, family_name, given_name, family_kana, given_kana, birth_date, \
         sex, association, member, failed_matches, review_node, review_reason, submitted_at"
    };
}

macro_rules! email_token_cols {
    () => {
        "token_hash, purpose, account_id, email, expires_at, used_at, created_at"
    };
}

macro_rules! session_cols {
    () => {
        "id_hash, account_id, created_at, last_seen_at, client_addr, user_agent, revoked_at"
    };
}

macro_rules! legacy_cols {
    () => {
        "member_id, birth_date, password_hash, retired_at, imported_at"
    };
}

pub(crate) fn account_row(r: &PgRow) -> StoreResult<Account> {
    let kind: &str = col(r, "kind")?;
    let status: &str = col(r, "status")?;
    let verification: &str = col(r, "verification")?;
    Ok(Account {
        id: col(r, "id")?,
        email: col(r, "email")?,
        display_name: col(r, "display_name")?,
        kind: AccountKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("account kind {kind}")))?,
        status: AccountStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("account status {status}")))?,
        password_hash: col(r, "password_hash")?,
        doctor_id: col(r, "doctor_id")?,
        verification: Verification::parse(verification)
            .ok_or_else(|| StoreError::Corrupt(format!("verification {verification}")))?,
        totp_secret: col(r, "totp_secret")?,
        totp_last_step: col(r, "totp_last_step")?,
        created_at: col(r, "created_at")?,
    })
}

fn claim_row(r: &PgRow) -> StoreResult<IdentityClaim> {
    Ok(IdentityClaim {
        account_id: col(r, "account_id")?,
        iseki: IsekiNumber::parse(col::<&str>(r, "iseki_number")?).map_err(corrupt("iseki"))?,
        family_name: col(r, "family_name")?,
        given_name: col(r, "given_name")?,
        family_kana: KanaName::normalise(col::<&str>(r, "family_kana")?)
            .map_err(corrupt("kana"))?,
        given_kana: KanaName::normalise(col::<&str>(r, "given_kana")?).map_err(corrupt("kana"))?,
        birth_date: col(r, "birth_date")?,
        sex: Sex::parse(col::<&str>(r, "sex")?).map_err(corrupt("sex"))?,
        association: AssociationCode::parse(col::<&str>(r, "association")?)
            .map_err(corrupt("association"))?,
        member: col(r, "member")?,
        failed_matches: col(r, "failed_matches")?,
        review_node: col::<Option<&str>>(r, "review_node")?
            .map(AssociationCode::parse)
            .transpose()
            .map_err(corrupt("review node"))?,
        review_reason: col(r, "review_reason")?,
        submitted_at: col(r, "submitted_at")?,
    })
}

fn email_token_row(r: &PgRow) -> StoreResult<EmailToken> {
    let purpose: &str = col(r, "purpose")?;
    Ok(EmailToken {
        token_hash: col(r, "token_hash")?,
        purpose: TokenPurpose::parse(purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("token purpose {purpose}")))?,
        account_id: col(r, "account_id")?,
        email: col(r, "email")?,
        expires_at: col(r, "expires_at")?,
        used_at: col(r, "used_at")?,
        created_at: col(r, "created_at")?,
    })
}

fn session_row(r: &PgRow) -> StoreResult<Session> {
    Ok(Session {
        id_hash: col(r, "id_hash")?,
        account_id: col(r, "account_id")?,
        created_at: col(r, "created_at")?,
        last_seen_at: col(r, "last_seen_at")?,
        client_addr: col(r, "client_addr")?,
        user_agent: col(r, "user_agent")?,
        revoked_at: col(r, "revoked_at")?,
    })
}

fn portal_row(r: &PgRow) -> StoreResult<PortalSession> {
    let kind: &str = col(r, "kind")?;
    let subject: &str = col(r, "subject")?;
    let subject = match kind {
        "mamis" => PortalSubject::Mamis(Uuid::parse_str(subject).map_err(corrupt("subject"))?),
        _ => PortalSubject::Legacy(MemberId::parse(subject).map_err(corrupt("member id"))?),
    };
    Ok(PortalSession {
        id_hash: col(r, "id_hash")?,
        subject,
        created_at: col(r, "created_at")?,
        last_seen_at: col(r, "last_seen_at")?,
        revoked_at: col(r, "revoked_at")?,
    })
}

fn legacy_row(r: &PgRow) -> StoreResult<LegacyCredential> {
    Ok(LegacyCredential {
        member_id: MemberId::parse(col::<&str>(r, "member_id")?).map_err(corrupt("member id"))?,
        birth_date: col(r, "birth_date")?,
        password_hash: col(r, "password_hash")?,
        retired_at: col(r, "retired_at")?,
        imported_at: col(r, "imported_at")?,
    })
}

impl IdentityStore for PgTx {
    async fn account_by_email(&mut self, email: &str) -> StoreResult<Option<Account>> {
        sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            " FROM accounts WHERE email = $1"
        ))
        .bind(email.to_lowercase())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(account_row)
        .transpose()
    }

    async fn set_password_hash(&mut self, id: Uuid, hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(hash)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_account_status(&mut self, id: Uuid, status: AccountStatus) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET status = $2 WHERE id = $1")
            .bind(id)
            .bind(status.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_binding(
        &mut self,
        id: Uuid,
        doctor: Option<Uuid>,
        v: Verification,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET doctor_id = $2, verification = $3 WHERE id = $1")
            .bind(id)
            .bind(doctor)
            .bind(v.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn holder_addresses(&mut self, doctors: &[Uuid]) -> StoreResult<Vec<(Uuid, String)>> {
        let rows = sqlx::query(
            "SELECT d.id, COALESCE((SELECT a.email FROM accounts a \
             WHERE a.doctor_id = d.id AND a.verification = 'verified'), d.contact_email) AS addr \
             FROM doctors d WHERE d.id = ANY($1)",
        )
        .bind(doctors)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        let mut out = Vec::new();
        for r in &rows {
            if let Some(addr) = col::<Option<String>>(r, "addr")? {
                out.push((col(r, "id")?, addr));
            }
        }
        Ok(out)
    }

    async fn verified_account_of(&mut self, doctor: Uuid) -> StoreResult<Option<Account>> {
        sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            " FROM accounts WHERE doctor_id = $1 AND verification = 'verified'"
        ))
        .bind(doctor)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(account_row)
        .transpose()
    }

    async fn set_email(&mut self, id: Uuid, email: &str) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET email = $2 WHERE id = $1")
            .bind(id)
            .bind(email.to_lowercase())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_totp_secret(&mut self, id: Uuid, secret: Option<&str>) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET totp_secret = $2, totp_last_step = NULL WHERE id = $1")
            .bind(id)
            .bind(secret)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn advance_totp_step(&mut self, id: Uuid, step: i64) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE accounts SET totp_last_step = $2 \
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(id)
        .bind(step)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn replace_recovery_codes(&mut self, id: Uuid, hashes: &[String]) -> StoreResult<()> {
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        for chunk in hashes.chunks(BULK_ROWS) {
            let mut q = QueryBuilder::<Postgres>::new(
                "INSERT INTO recovery_codes (account_id, code_hash) ",
            );
            q.push_values(chunk, |mut b, h| {
                b.push_bind(id).push_bind(h.as_str());
            });
            q.build().execute(&mut *self.tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn use_recovery_code(
        &mut self,
        id: Uuid,
        hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn recovery_codes_left(&mut self, id: Uuid) -> StoreResult<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL",
        )
        .bind(id)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    async fn put_claim(&mut self, c: &IdentityClaim) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO identity_claims (",
            claim_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (account_id) DO UPDATE SET iseki_number = excluded.iseki_number, \
             family_name = excluded.family_name, given_name = excluded.given_name, \
             family_kana = excluded.family_kana, given_kana = excluded.given_kana, \
             birth_date = excluded.birth_date, sex = excluded.sex, association = excluded.association, \
             member = excluded.member, failed_matches = excluded.failed_matches, \
             review_node = excluded.review_node, review_reason = excluded.review_reason, \
             submitted_at = excluded.submitted_at"
        ))
        .bind(c.account_id)
        .bind(c.iseki.as_str())
        .bind(&c.family_name)
        .bind(&c.given_name)
        .bind(c.family_kana.as_str())
        .bind(c.given_kana.as_str())
        .bind(c.birth_date)
        .bind(c.sex.as_str())
        .bind(c.association.as_str())
        .bind(c.member)
        .bind(c.failed_matches)
        .bind(c.review_node.as_ref().map(|n| n.as_str()))
        .bind(&c.review_reason)
        .bind(c.submitted_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn claim_of(&mut self, account: Uuid) -> StoreResult<Option<IdentityClaim>> {
        sqlx::query(concat!(
            "SELECT ",
            claim_cols!(),
            " FROM identity_claims WHERE account_id = $1"
        ))
        .bind(account)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(claim_row)
        .transpose()
    }

    async fn claims_in_review(
        &mut self,
        node: &AssociationCode,
        limit: u32,
    ) -> StoreResult<Vec<IdentityClaim>> {
        // review_node is "C"-collated: LIKE 'P13-%' matches byte for byte, as on SQLite.
        sqlx::query(concat!(
            "SELECT ",
            claim_cols!(),
            " FROM identity_claims WHERE review_node = $1 OR review_node LIKE $2 \
             ORDER BY submitted_at, account_id LIMIT $3"
        ))
        .bind(node.as_str())
        .bind(subtree_pattern(node))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(claim_row)
        .collect()
    }

    async fn bump_match_failures(
        &mut self,
        iseki: &IsekiNumber,
        day: NaiveDate,
    ) -> StoreResult<i64> {
        sqlx::query_scalar(
            "INSERT INTO match_failures (iseki_number, day, failures) VALUES ($1, $2, 1) \
             ON CONFLICT (iseki_number, day) DO UPDATE SET failures = match_failures.failures + 1 \
             RETURNING failures",
        )
        .bind(iseki.as_str())
        .bind(day)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)
    }

    async fn insert_email_token(&mut self, t: &EmailToken) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO email_tokens (",
            email_token_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&t.token_hash)
        .bind(t.purpose.as_str())
        .bind(t.account_id)
        .bind(&t.email)
        .bind(t.expires_at)
        .bind(t.used_at)
        .bind(t.created_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn use_email_token(
        &mut self,
        hash: &str,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> StoreResult<Option<EmailToken>> {
        // One statement: of two concurrent uses, the second waits on the row lock, re-checks
        // `used_at IS NULL` against the committed row and updates nothing.
        sqlx::query(concat!(
            "UPDATE email_tokens SET used_at = $3 \
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
             RETURNING ",
            email_token_cols!()
        ))
        .bind(hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(email_token_row)
        .transpose()
    }

    async fn insert_session(&mut self, s: &Session) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO sessions (",
            session_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&s.id_hash)
        .bind(s.account_id)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(&s.client_addr)
        .bind(&s.user_agent)
        .bind(s.revoked_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn session(&mut self, id_hash: &str) -> StoreResult<Option<Session>> {
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM sessions WHERE id_hash = $1"
        ))
        .bind(id_hash)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(session_row)
        .transpose()
    }

    async fn touch_session(&mut self, id_hash: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2",
        )
        .bind(id_hash)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_session(&mut self, id_hash: &str, now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL",
        )
        .bind(id_hash)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_sessions_of(
        &mut self,
        account: Uuid,
        keep: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        // `IS DISTINCT FROM` with a NULL `keep` spares nothing.
        let r = sqlx::query(
            "UPDATE sessions SET revoked_at = $3 \
             WHERE account_id = $1 AND revoked_at IS NULL AND id_hash IS DISTINCT FROM $2",
        )
        .bind(account)
        .bind(keep)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn sessions_of(&mut self, account: Uuid) -> StoreResult<Vec<Session>> {
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM sessions WHERE account_id = $1 AND revoked_at IS NULL \
             ORDER BY created_at DESC, id_hash"
        ))
        .bind(account)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(session_row)
        .collect()
    }

    async fn insert_portal_session(&mut self, s: &PortalSession) -> StoreResult<()> {
        let (kind, subject) = match &s.subject {
            PortalSubject::Mamis(id) => ("mamis", id.to_string()),
            PortalSubject::Legacy(m) => ("legacy", m.to_string()),
        };
        sqlx::query(
            "INSERT INTO portal_sessions (id_hash, kind, subject, created_at, last_seen_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id_hash)
        .bind(kind)
        .bind(subject)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.revoked_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn portal_session(&mut self, id_hash: &str) -> StoreResult<Option<PortalSession>> {
        sqlx::query(
            "SELECT id_hash, kind, subject, created_at, last_seen_at, revoked_at \
             FROM portal_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(portal_row)
        .transpose()
    }

    async fn touch_portal_session(&mut self, id_hash: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE portal_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2",
        )
        .bind(id_hash)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn portal_rp_state(&mut self, id_hash: &str) -> StoreResult<Option<String>> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT rp_state FROM portal_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(db_err)?;
        Ok(v.flatten())
    }

    async fn set_portal_rp_state(&mut self, id_hash: &str, state: &str) -> StoreResult<()> {
        sqlx::query("UPDATE portal_sessions SET rp_state = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(state)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_portal_session(&mut self, id_hash: &str, now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE portal_sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL",
        )
        .bind(id_hash)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn lock_throttle(&mut self, key: &str, now: Timestamp) -> StoreResult<Throttle> {
        // One statement: creates the key or, on conflict, "updates" it to itself — which takes
        // the row lock until commit, so attempts on one key from every server queue here — and
        // returns the stored state either way.
        let r = sqlx::query(
            "INSERT INTO throttles (key, failures, window_start) VALUES ($1, 0, $2) \
             ON CONFLICT (key) DO UPDATE SET failures = throttles.failures \
             RETURNING failures, window_start, blocked_until",
        )
        .bind(key)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(Throttle {
            failures: u32::try_from(col::<i64>(&r, "failures")?).unwrap_or(0),
            window_start: col(&r, "window_start")?,
            blocked_until: col(&r, "blocked_until")?,
        })
    }

    async fn put_throttle(&mut self, key: &str, t: &Throttle) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO throttles (key, failures, window_start, blocked_until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
             window_start = excluded.window_start, blocked_until = excluded.blocked_until",
        )
        .bind(key)
        .bind(i64::from(t.failures))
        .bind(t.window_start)
        .bind(t.blocked_until)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn clear_throttle(&mut self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM throttles WHERE key = $1")
            .bind(key)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn lock_throttles(
        &mut self,
        keys: &[&str],
        now: Timestamp,
    ) -> StoreResult<Vec<Throttle>> {
        distinct_keys(keys.iter().copied())?;
        // As lock_throttle, for all keys in one statement; rows are inserted (and so locked) in
        // the order given.
        let rows = sqlx::query(
            "INSERT INTO throttles (key, failures, window_start) \
             SELECT k, 0, $2 FROM unnest($1::text[]) WITH ORDINALITY AS u(k, i) ORDER BY i \
             ON CONFLICT (key) DO UPDATE SET failures = throttles.failures \
             RETURNING key, failures, window_start, blocked_until",
        )
        .bind(keys)
        .bind(now)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        let mut found = HashMap::with_capacity(rows.len());
        for r in &rows {
            let t = Throttle {
                failures: u32::try_from(col::<i64>(r, "failures")?).unwrap_or(0),
                window_start: col(r, "window_start")?,
                blocked_until: col(r, "blocked_until")?,
            };
            found.insert(col::<String>(r, "key")?, t);
        }
        keys.iter()
            .map(|k| {
                found
                    .remove(*k)
                    .ok_or_else(|| StoreError::Other(format!("throttle {k} not returned")))
            })
            .collect()
    }

    async fn put_throttles(&mut self, states: &[(&str, Throttle)]) -> StoreResult<()> {
        distinct_keys(states.iter().map(|(k, _)| *k))?;
        let keys: Vec<&str> = states.iter().map(|(k, _)| *k).collect();
        let failures: Vec<i64> = states.iter().map(|(_, t)| i64::from(t.failures)).collect();
        let starts: Vec<Timestamp> = states.iter().map(|(_, t)| t.window_start).collect();
        let blocked: Vec<Option<Timestamp>> = states.iter().map(|(_, t)| t.blocked_until).collect();
        sqlx::query(
            "INSERT INTO throttles (key, failures, window_start, blocked_until) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::timestamptz[]) \
             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
             window_start = excluded.window_start, blocked_until = excluded.blocked_until",
        )
        .bind(keys)
        .bind(failures)
        .bind(starts)
        .bind(blocked)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn forgive_throttles(&mut self, clear: &str, take_back: Option<&str>) -> StoreResult<()> {
        sqlx::query(
            "WITH gone AS (DELETE FROM throttles WHERE key = $1) \
             UPDATE throttles SET failures = GREATEST(failures - 1, 0) WHERE key = $2 AND key <> $1",
        )
        .bind(clear)
        .bind(take_back)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn upsert_legacy_credentials(&mut self, cs: &[LegacyCredential]) -> StoreResult<()> {
        // PostgreSQL refuses to update one row twice in a statement, where SQLite applies the
        // rows in order: a repeated member ID starts a new statement, so the outcome is SQLite's.
        let mut start = 0;
        while start < cs.len() {
            let mut seen = HashSet::new();
            let rest = cs.get(start..).unwrap_or_default();
            let len = rest
                .iter()
                .take(BULK_ROWS)
                .take_while(|c| seen.insert(c.member_id.as_str()))
                .count();
            let batch = rest.get(..len).unwrap_or_default();
            let mut q = QueryBuilder::<Postgres>::new(concat!(
                "INSERT INTO legacy_credentials (",
                legacy_cols!(),
                ") "
            ));
            q.push_values(batch, |mut b, c| {
                b.push_bind(c.member_id.as_str())
                    .push_bind(c.birth_date)
                    .push_bind(c.password_hash.as_deref())
                    .push_bind(c.retired_at)
                    .push_bind(c.imported_at);
            });
            // A re-import updates what the old system knows, but never revives a retired
            // credential.
            q.push(
                " ON CONFLICT (member_id) DO UPDATE SET birth_date = excluded.birth_date, \
                 password_hash = excluded.password_hash, imported_at = excluded.imported_at",
            );
            q.build().execute(&mut *self.tx).await.map_err(db_err)?;
            start += len;
        }
        Ok(())
    }

    async fn legacy_credential(
        &mut self,
        member: &MemberId,
    ) -> StoreResult<Option<LegacyCredential>> {
        sqlx::query(concat!(
            "SELECT ",
            legacy_cols!(),
            " FROM legacy_credentials WHERE member_id = $1"
        ))
        .bind(member.as_str())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(legacy_row)
        .transpose()
    }

    async fn retire_legacy_credential(
        &mut self,
        member: &MemberId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE legacy_credentials SET retired_at = $2 WHERE member_id = $1 AND retired_at IS NULL",
        )
        .bind(member.as_str())
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }
}
