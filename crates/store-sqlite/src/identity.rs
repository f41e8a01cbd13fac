//! The identity part of the SQLite store.

use chrono::NaiveDate;
use mamis_domain::identity::Throttle;
use mamis_domain::{AssociationCode, IsekiNumber, KanaName, MemberId, Sex, Timestamp};
use mamis_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::SqliteTx;
use crate::convert::*;

pub(crate) fn account_row(r: &SqliteRow) -> StoreResult<Account> {
    let kind: &str = r.get("kind");
    let status: &str = r.get("status");
    let verification: &str = r.get("verification");
    Ok(Account {
        id: uuid(r.get("id"))?,
        email: r.get("email"),
        display_name: r.get("display_name"),
        kind: AccountKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("account kind {kind}")))?,
        status: AccountStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("account status {status}")))?,
        password_hash: r.get("password_hash"),
        doctor_id: r
            .get::<Option<&str>, _>("doctor_id")
            .map(uuid)
            .transpose()?,
        verification: Verification::parse(verification)
            .ok_or_else(|| StoreError::Corrupt(format!("verification {verification}")))?,
        totp_secret: r.get("totp_secret"),
        totp_last_step: r.get("totp_last_step"),
        created_at: from_micros(r.get("created_at"))?,
    })
}

fn claim_row(r: &SqliteRow) -> StoreResult<IdentityClaim> {
    Ok(IdentityClaim {
        account_id: uuid(r.get("account_id"))?,
        iseki: IsekiNumber::parse(r.get::<&str, _>("iseki_number")).map_err(corrupt("iseki"))?,
        family_name: r.get("family_name"),
        given_name: r.get("given_name"),
        family_kana: KanaName::normalise(r.get::<&str, _>("family_kana"))
            .map_err(corrupt("kana"))?,
        given_kana: KanaName::normalise(r.get::<&str, _>("given_kana")).map_err(corrupt("kana"))?,
        birth_date: date(r.get("birth_date"))?,
        sex: Sex::parse(r.get::<&str, _>("sex")).map_err(corrupt("sex"))?,
        association: AssociationCode::parse(r.get::<&str, _>("association"))
            .map_err(corrupt("association"))?,
        member: r.get::<i64, _>("member") == 1,
        failed_matches: r.get("failed_matches"),
        review_node: r
            .get::<Option<&str>, _>("review_node")
            .map(AssociationCode::parse)
            .transpose()
            .map_err(corrupt("review node"))?,
        review_reason: r.get("review_reason"),
        submitted_at: from_micros(r.get("submitted_at"))?,
    })
}

fn token_row(r: &SqliteRow) -> StoreResult<EmailToken> {
    let purpose: &str = r.get("purpose");
    Ok(EmailToken {
        token_hash: r.get("token_hash"),
        purpose: TokenPurpose::parse(purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("token purpose {purpose}")))?,
        account_id: r
            .get::<Option<&str>, _>("account_id")
            .map(uuid)
            .transpose()?,
        email: r.get("email"),
        expires_at: from_micros(r.get("expires_at"))?,
        used_at: opt_from_micros(r.get("used_at"))?,
        created_at: from_micros(r.get("created_at"))?,
    })
}

fn session_row(r: &SqliteRow) -> StoreResult<Session> {
    Ok(Session {
        id_hash: r.get("id_hash"),
        account_id: uuid(r.get("account_id"))?,
        created_at: from_micros(r.get("created_at"))?,
        last_seen_at: from_micros(r.get("last_seen_at"))?,
        client_addr: r.get("client_addr"),
        user_agent: r.get("user_agent"),
        revoked_at: opt_from_micros(r.get("revoked_at"))?,
    })
}

fn portal_row(r: &SqliteRow) -> StoreResult<PortalSession> {
    let kind: &str = r.get("kind");
    let subject: &str = r.get("subject");
    let subject = match kind {
        "mamis" => PortalSubject::Mamis(uuid(subject)?),
        _ => PortalSubject::Legacy(MemberId::parse(subject).map_err(corrupt("member id"))?),
    };
    Ok(PortalSession {
        id_hash: r.get("id_hash"),
        subject,
        created_at: from_micros(r.get("created_at"))?,
        last_seen_at: from_micros(r.get("last_seen_at"))?,
        revoked_at: opt_from_micros(r.get("revoked_at"))?,
    })
}

fn legacy_row(r: &SqliteRow) -> StoreResult<LegacyCredential> {
    Ok(LegacyCredential {
        member_id: MemberId::parse(r.get::<&str, _>("member_id")).map_err(corrupt("member id"))?,
        birth_date: date(r.get("birth_date"))?,
        password_hash: r.get("password_hash"),
        retired_at: opt_from_micros(r.get("retired_at"))?,
        imported_at: from_micros(r.get("imported_at"))?,
    })
}

fn subtree_pattern(code: &AssociationCode) -> String {
    match code.level() {
        mamis_domain::AssociationLevel::Jma => "%".into(),
        _ => format!("{code}-%"),
    }
}

impl IdentityStore for SqliteTx {
    async fn account_by_email(&mut self, email: &str) -> StoreResult<Option<Account>> {
        sqlx::query("SELECT * FROM accounts WHERE email = $1")
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
            .bind(id.to_string())
            .bind(hash)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_account_status(&mut self, id: Uuid, status: AccountStatus) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET status = $2 WHERE id = $1")
            .bind(id.to_string())
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
            .bind(id.to_string())
            .bind(doctor.map(|d| d.to_string()))
            .bind(v.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn holder_addresses(&mut self, doctors: &[Uuid]) -> StoreResult<Vec<(Uuid, String)>> {
        let mut out = Vec::new();
        for chunk in doctors.chunks(500) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "SELECT d.id, COALESCE((SELECT a.email FROM accounts a \
                 WHERE a.doctor_id = d.id AND a.verification = 'verified'), d.contact_email) AS addr \
                 FROM doctors d WHERE d.id IN (",
            );
            let mut sep = q.separated(", ");
            for d in chunk {
                sep.push_bind(d.to_string());
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                if let Some(addr) = r.get::<Option<String>, _>("addr") {
                    out.push((uuid(r.get("id"))?, addr));
                }
            }
        }
        Ok(out)
    }

    async fn verified_account_of(&mut self, doctor: Uuid) -> StoreResult<Option<Account>> {
        sqlx::query("SELECT * FROM accounts WHERE doctor_id = $1 AND verification = 'verified'")
            .bind(doctor.to_string())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(account_row)
            .transpose()
    }

    async fn set_email(&mut self, id: Uuid, email: &str) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET email = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(email.to_lowercase())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_totp_secret(&mut self, id: Uuid, secret: Option<&str>) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET totp_secret = $2, totp_last_step = NULL WHERE id = $1")
            .bind(id.to_string())
            .bind(secret)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn advance_totp_step(&mut self, id: Uuid, step: i64) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE accounts SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(id.to_string())
        .bind(step)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn replace_recovery_codes(&mut self, id: Uuid, hashes: &[String]) -> StoreResult<()> {
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(id.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        if hashes.is_empty() {
            return Ok(());
        }
        let mut q =
            QueryBuilder::<Sqlite>::new("INSERT INTO recovery_codes (account_id, code_hash) ");
        q.push_values(hashes, |mut b, h| {
            b.push_bind(id.to_string()).push_bind(h.clone());
        });
        q.build().execute(&mut *self.tx).await.map_err(db_err)?;
        Ok(())
    }

    async fn use_recovery_code(
        &mut self,
        id: Uuid,
        hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(id.to_string())
        .bind(hash)
        .bind(micros(now))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn recovery_codes_left(&mut self, id: Uuid) -> StoreResult<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    async fn put_claim(&mut self, c: &IdentityClaim) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO identity_claims (account_id, iseki_number, family_name, given_name, family_kana, given_kana, \
             birth_date, sex, association, member, failed_matches, review_node, review_reason, submitted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (account_id) DO UPDATE SET iseki_number = excluded.iseki_number, \
             family_name = excluded.family_name, given_name = excluded.given_name, family_kana = excluded.family_kana, \
             given_kana = excluded.given_kana, birth_date = excluded.birth_date, sex = excluded.sex, \
             association = excluded.association, member = excluded.member, failed_matches = excluded.failed_matches, \
             review_node = excluded.review_node, review_reason = excluded.review_reason, submitted_at = excluded.submitted_at",
        )
        .bind(c.account_id.to_string())
        .bind(c.iseki.as_str())
        .bind(&c.family_name)
        .bind(&c.given_name)
        .bind(c.family_kana.as_str())
        .bind(c.given_kana.as_str())
        .bind(c.birth_date.to_string())
        .bind(c.sex.as_str())
        .bind(c.association.as_str())
        .bind(i64::from(c.member))
        .bind(c.failed_matches)
        .bind(c.review_node.as_ref().map(|n| n.to_string()))
        .bind(&c.review_reason)
        .bind(micros(c.submitted_at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn claim_of(&mut self, account: Uuid) -> StoreResult<Option<IdentityClaim>> {
        sqlx::query("SELECT * FROM identity_claims WHERE account_id = $1")
            .bind(account.to_string())
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
        sqlx::query(
            "SELECT * FROM identity_claims WHERE review_node = $1 OR review_node LIKE $2 \
             ORDER BY submitted_at, account_id LIMIT $3",
        )
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
             ON CONFLICT (iseki_number, day) DO UPDATE SET failures = failures + 1 RETURNING failures",
        )
        .bind(iseki.as_str())
        .bind(day.to_string())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)
    }

    async fn insert_email_token(&mut self, t: &EmailToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, purpose, account_id, email, expires_at, used_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.token_hash)
        .bind(t.purpose.as_str())
        .bind(t.account_id.map(|a| a.to_string()))
        .bind(&t.email)
        .bind(micros(t.expires_at))
        .bind(t.used_at.map(micros))
        .bind(micros(t.created_at))
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
        sqlx::query(
            "UPDATE email_tokens SET used_at = $3 \
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 RETURNING *",
        )
        .bind(hash)
        .bind(purpose.as_str())
        .bind(micros(now))
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(token_row)
        .transpose()
    }

    async fn insert_session(&mut self, s: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, account_id, created_at, last_seen_at, client_addr, user_agent, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id_hash)
        .bind(s.account_id.to_string())
        .bind(micros(s.created_at))
        .bind(micros(s.last_seen_at))
        .bind(&s.client_addr)
        .bind(&s.user_agent)
        .bind(s.revoked_at.map(micros))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn session(&mut self, id_hash: &str) -> StoreResult<Option<Session>> {
        sqlx::query("SELECT * FROM sessions WHERE id_hash = $1")
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
        .bind(micros(now))
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
        .bind(micros(now))
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
        let r = sqlx::query(
            "UPDATE sessions SET revoked_at = $3 WHERE account_id = $1 AND revoked_at IS NULL AND id_hash <> $2",
        )
        .bind(account.to_string())
        .bind(keep.unwrap_or(""))
        .bind(micros(now))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn sessions_of(&mut self, account: Uuid) -> StoreResult<Vec<Session>> {
        sqlx::query("SELECT * FROM sessions WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id_hash")
            .bind(account.to_string())
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
        .bind(micros(s.created_at))
        .bind(micros(s.last_seen_at))
        .bind(s.revoked_at.map(micros))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn portal_session(&mut self, id_hash: &str) -> StoreResult<Option<PortalSession>> {
        sqlx::query("SELECT * FROM portal_sessions WHERE id_hash = $1")
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
        .bind(micros(now))
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
        .bind(micros(now))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn lock_throttle(&mut self, key: &str, now: Timestamp) -> StoreResult<Throttle> {
        // The write transaction (BEGIN IMMEDIATE) already serialises every attempt; one statement
        // creates the key if needed and returns its state.
        let r = sqlx::query(
            "INSERT INTO throttles (key, failures, window_start) VALUES ($1, 0, $2) \
             ON CONFLICT (key) DO UPDATE SET failures = throttles.failures \
             RETURNING failures, window_start, blocked_until",
        )
        .bind(key)
        .bind(micros(now))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(Throttle {
            failures: u32::try_from(r.get::<i64, _>("failures")).unwrap_or(0),
            window_start: from_micros(r.get("window_start"))?,
            blocked_until: opt_from_micros(r.get("blocked_until"))?,
        })
    }

    async fn put_throttle(&mut self, key: &str, t: &Throttle) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO throttles (key, failures, window_start, blocked_until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, \
             blocked_until = excluded.blocked_until",
        )
        .bind(key)
        .bind(i64::from(t.failures))
        .bind(micros(t.window_start))
        .bind(t.blocked_until.map(micros))
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
        // In-process statements cost no round trip; the write transaction already serialises.
        distinct_keys(keys.iter().copied())?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.lock_throttle(k, now).await?);
        }
        Ok(out)
    }

    async fn put_throttles(&mut self, states: &[(&str, Throttle)]) -> StoreResult<()> {
        distinct_keys(states.iter().map(|(k, _)| *k))?;
        for (k, t) in states {
            self.put_throttle(k, t).await?;
        }
        Ok(())
    }

    async fn forgive_throttles(&mut self, clear: &str, take_back: Option<&str>) -> StoreResult<()> {
        self.clear_throttle(clear).await?;
        if let Some(k) = take_back.filter(|k| *k != clear) {
            sqlx::query("UPDATE throttles SET failures = MAX(failures - 1, 0) WHERE key = $1")
                .bind(k)
                .execute(&mut *self.tx)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn upsert_legacy_credentials(&mut self, cs: &[LegacyCredential]) -> StoreResult<()> {
        for chunk in cs.chunks(1_000) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO legacy_credentials (member_id, birth_date, password_hash, retired_at, imported_at) ",
            );
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.member_id.as_str().to_owned())
                    .push_bind(c.birth_date.to_string())
                    .push_bind(c.password_hash.clone())
                    .push_bind(c.retired_at.map(micros))
                    .push_bind(micros(c.imported_at));
            });
            // A re-import updates what the old system knows, but never revives a retired credential.
            q.push(
                " ON CONFLICT (member_id) DO UPDATE SET birth_date = excluded.birth_date, \
                 password_hash = excluded.password_hash, imported_at = excluded.imported_at",
            );
            q.build().execute(&mut *self.tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn legacy_credential(
        &mut self,
        member: &MemberId,
    ) -> StoreResult<Option<LegacyCredential>> {
        sqlx::query("SELECT * FROM legacy_credentials WHERE member_id = $1")
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
        let r = sqlx::query("UPDATE legacy_credentials SET retired_at = $2 WHERE member_id = $1 AND retired_at IS NULL")
            .bind(member.as_str())
            .bind(micros(now))
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }
}
