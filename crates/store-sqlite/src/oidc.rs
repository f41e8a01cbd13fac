//! The OpenID Provider part of the SQLite store.

use mamis_domain::Timestamp;
use mamis_store::*;
use sqlx::Row;

use crate::SqliteTx;
use crate::convert::*;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

fn list(s: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(s).map_err(corrupt("json list"))
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn client_row(r: &SqliteRow) -> StoreResult<OidcClient> {
    Ok(OidcClient {
        id: r.get("id"),
        name: r.get("name"),
        secret_hash: r.get("secret_hash"),
        redirect_uris: list(r.get("redirect_uris"))?,
        post_logout_redirect_uris: list(r.get("post_logout_redirect_uris"))?,
        first_party: r.get::<i64, _>("first_party") == 1,
        scopes: list(r.get("scopes"))?,
        allow_iseki: r.get::<i64, _>("allow_iseki") == 1,
        id_token_alg: r.get("id_token_alg"),
        disabled: r.get::<i64, _>("disabled") == 1,
        created_at: from_micros(r.get("created_at"))?,
    })
}

fn code_row(r: &SqliteRow) -> StoreResult<AuthCode> {
    Ok(AuthCode {
        code_hash: r.get("code_hash"),
        client_id: r.get("client_id"),
        account_id: uuid(r.get("account_id"))?,
        redirect_uri: r.get("redirect_uri"),
        code_challenge: r.get("code_challenge"),
        nonce: r.get("nonce"),
        scope: r.get("scope"),
        auth_time: from_micros(r.get("auth_time"))?,
        amr: r.get("amr"),
        expires_at: from_micros(r.get("expires_at"))?,
        used_at: opt_from_micros(r.get("used_at"))?,
        created_at: from_micros(r.get("created_at"))?,
    })
}

fn token_row(r: &SqliteRow) -> StoreResult<OidcToken> {
    let kind: &str = r.get("kind");
    Ok(OidcToken {
        token_hash: r.get("token_hash"),
        kind: TokenKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("token kind {kind}")))?,
        client_id: r.get("client_id"),
        account_id: uuid(r.get("account_id"))?,
        scope: r.get("scope"),
        code_hash: r.get("code_hash"),
        family: uuid(r.get("family"))?,
        expires_at: from_micros(r.get("expires_at"))?,
        family_expires_at: from_micros(r.get("family_expires_at"))?,
        auth_time: from_micros(r.get("auth_time"))?,
        amr: r.get("amr"),
        used_at: opt_from_micros(r.get("used_at"))?,
        revoked_at: opt_from_micros(r.get("revoked_at"))?,
        created_at: from_micros(r.get("created_at"))?,
    })
}

impl OidcStore for SqliteTx {
    async fn insert_signing_key(&mut self, k: &SigningKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.private_key)
        .bind(&k.public_jwk)
        .bind(micros(k.created_at))
        .bind(k.retired_at.map(micros))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn signing_keys(&mut self) -> StoreResult<Vec<SigningKey>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created_at DESC, kid")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(SigningKey {
                    kid: r.get("kid"),
                    alg: r.get("alg"),
                    private_key: r.get("private_key"),
                    public_jwk: r.get("public_jwk"),
                    created_at: from_micros(r.get("created_at"))?,
                    retired_at: opt_from_micros(r.get("retired_at"))?,
                })
            })
            .collect()
    }

    async fn retire_signing_key(&mut self, kid: &str, at: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL",
        )
        .bind(kid)
        .bind(micros(at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_client(&mut self, c: &OidcClient) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oidc_clients (id, name, secret_hash, redirect_uris, post_logout_redirect_uris, first_party, \
             scopes, allow_iseki, id_token_alg, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(json_list(&c.redirect_uris))
        .bind(json_list(&c.post_logout_redirect_uris))
        .bind(i64::from(c.first_party))
        .bind(json_list(&c.scopes))
        .bind(i64::from(c.allow_iseki))
        .bind(&c.id_token_alg)
        .bind(i64::from(c.disabled))
        .bind(micros(c.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn client(&mut self, id: &str) -> StoreResult<Option<OidcClient>> {
        sqlx::query("SELECT * FROM oidc_clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(client_row)
            .transpose()
    }

    async fn clients(&mut self) -> StoreResult<Vec<OidcClient>> {
        sqlx::query("SELECT * FROM oidc_clients ORDER BY name, id")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(client_row)
            .collect()
    }

    async fn update_client(&mut self, c: &OidcClient) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE oidc_clients SET name = $2, secret_hash = $3, redirect_uris = $4, post_logout_redirect_uris = $5, \
             first_party = $6, scopes = $7, allow_iseki = $8, id_token_alg = $9, disabled = $10 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(json_list(&c.redirect_uris))
        .bind(json_list(&c.post_logout_redirect_uris))
        .bind(i64::from(c.first_party))
        .bind(json_list(&c.scopes))
        .bind(i64::from(c.allow_iseki))
        .bind(&c.id_token_alg)
        .bind(i64::from(c.disabled))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_code(&mut self, c: &AuthCode) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oidc_codes (code_hash, client_id, account_id, redirect_uri, code_challenge, nonce, scope, \
             auth_time, amr, expires_at, used_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(c.account_id.to_string())
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(&c.nonce)
        .bind(&c.scope)
        .bind(micros(c.auth_time))
        .bind(&c.amr)
        .bind(micros(c.expires_at))
        .bind(c.used_at.map(micros))
        .bind(micros(c.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn take_code(&mut self, hash: &str, now: Timestamp) -> StoreResult<Option<AuthCode>> {
        let found = sqlx::query("SELECT * FROM oidc_codes WHERE code_hash = $1")
            .bind(hash)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(code_row)
            .transpose()?;
        if found.as_ref().is_some_and(|c| c.used_at.is_none()) {
            sqlx::query(
                "UPDATE oidc_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL",
            )
            .bind(hash)
            .bind(micros(now))
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        }
        Ok(found)
    }

    async fn insert_token(&mut self, t: &OidcToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oidc_tokens (token_hash, kind, client_id, account_id, scope, code_hash, family, expires_at, \
             family_expires_at, auth_time, amr, used_at, revoked_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&t.token_hash)
        .bind(t.kind.as_str())
        .bind(&t.client_id)
        .bind(t.account_id.to_string())
        .bind(&t.scope)
        .bind(&t.code_hash)
        .bind(t.family.to_string())
        .bind(micros(t.expires_at))
        .bind(micros(t.family_expires_at))
        .bind(micros(t.auth_time))
        .bind(&t.amr)
        .bind(t.used_at.map(micros))
        .bind(t.revoked_at.map(micros))
        .bind(micros(t.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn token(&mut self, hash: &str) -> StoreResult<Option<OidcToken>> {
        sqlx::query("SELECT * FROM oidc_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(token_row)
            .transpose()
    }

    async fn bearer(&mut self, hash: &str) -> StoreResult<Option<Bearer>> {
        let row = sqlx::query(BEARER_SQL)
            .bind(hash)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db_err)?;
        row.map(|r| {
            BearerRow {
                kind: r.get("kind"),
                scope: r.get("scope"),
                expires_at: r.get("expires_at"),
                revoked_at: r.get("revoked_at"),
                client_live: r.get("c_live"),
                client_allow_iseki: r.get("c_allow_iseki"),
                account_id: r.get("a_id"),
                email: r.get("email"),
                display_name: r.get("display_name"),
                status: r.get("status"),
                verification: r.get("verification"),
                iseki_number: r.get("iseki_number"),
                family_name: r.get("family_name"),
                given_name: r.get("given_name"),
                family_kana: r.get("family_kana"),
                given_kana: r.get("given_kana"),
                home_prefecture: r.get("home_prefecture"),
                memberships: r.get("m_json"),
            }
            .assemble()
        })
        .transpose()
    }

    async fn rotate_refresh(&mut self, x: &Rotation) -> StoreResult<Option<Rotated>> {
        // Two statements sent to the connection's thread as one: the old token is marked used
        // only if the client is enabled and its secret (if it has one) matches, and the token
        // is live, of this client and of an active account, and the new tokens are
        // copied from it only if that update changed a row. The write transaction holds
        // SQLite's write lock, so nothing comes between them.
        let rows = sqlx::query(
            "UPDATE oidc_tokens AS o SET used_at = $3 \
             WHERE o.token_hash = $1 AND o.kind = 'refresh' AND o.client_id = $2 \
               AND o.used_at IS NULL AND o.revoked_at IS NULL \
               AND $3 < o.expires_at AND $3 < o.family_expires_at \
               AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = o.account_id AND a.status = 'active') \
               AND EXISTS (SELECT 1 FROM oidc_clients c WHERE c.id = $2 AND c.disabled = 0 \
                           AND (c.secret_hash IS NULL OR c.secret_hash = $8)) \
             RETURNING token_hash, kind, client_id, account_id, scope, code_hash, family, expires_at, \
                       family_expires_at, auth_time, amr, NULL AS used_at, revoked_at, created_at, \
                       (SELECT first_party FROM oidc_clients WHERE id = $2) AS c_first_party; \
             INSERT INTO oidc_tokens (token_hash, kind, client_id, account_id, scope, code_hash, family, \
                 expires_at, family_expires_at, auth_time, amr, used_at, revoked_at, created_at) \
             SELECT $4, 'access', client_id, account_id, scope, NULL, family, $5, family_expires_at, \
                    auth_time, amr, NULL, NULL, $3 \
             FROM oidc_tokens WHERE token_hash = $1 AND used_at = $3 AND changes() = 1 \
             UNION ALL \
             SELECT $6, 'refresh', client_id, account_id, scope, NULL, family, \
                    MIN($7, family_expires_at), family_expires_at, auth_time, amr, NULL, NULL, $3 \
             FROM oidc_tokens WHERE token_hash = $1 AND used_at = $3 AND changes() = 1 \
               AND ((SELECT first_party FROM oidc_clients WHERE id = $2) = 1 \
                    OR instr(' ' || scope || ' ', ' offline_access ') > 0)",
        )
        .bind(&x.presented)
        .bind(&x.client_id)
        .bind(micros(x.now))
        .bind(&x.access_hash)
        .bind(micros(x.access_expires_at))
        .bind(&x.refresh_hash)
        .bind(micros(x.refresh_idle_until))
        .bind(&x.client_secret)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let old = token_row(r)?;
        let refreshed = wants_refresh(r.get::<i64, _>("c_first_party") == 1, &old.scope);
        Ok(Some(Rotated { old, refreshed }))
    }

    async fn use_refresh_token(&mut self, hash: &str, now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE oidc_tokens SET used_at = $2 WHERE token_hash = $1 AND kind = 'refresh' AND used_at IS NULL",
        )
        .bind(hash)
        .bind(micros(now))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_family(&mut self, family: Uuid, now: Timestamp) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE oidc_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
        )
        .bind(family.to_string())
        .bind(micros(now))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn revoke_by_code(&mut self, code_hash: &str, now: Timestamp) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE oidc_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND family IN \
             (SELECT family FROM oidc_tokens WHERE code_hash = $1)",
        )
        .bind(code_hash)
        .bind(micros(now))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn revoke_tokens_of(
        &mut self,
        account: Uuid,
        kind: Option<TokenKind>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE oidc_tokens SET revoked_at = $3 WHERE account_id = $1 AND revoked_at IS NULL \
             AND ($2 IS NULL OR kind = $2)",
        )
        .bind(account.to_string())
        .bind(kind.map(TokenKind::as_str))
        .bind(micros(now))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn consent(&mut self, account: Uuid, client: &str) -> StoreResult<Option<Consent>> {
        let row =
            sqlx::query("SELECT * FROM oidc_consents WHERE account_id = $1 AND client_id = $2")
                .bind(account.to_string())
                .bind(client)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(db_err)?;
        row.map(|r| {
            Ok(Consent {
                account_id: uuid(r.get("account_id"))?,
                client_id: r.get("client_id"),
                scope: r.get("scope"),
                granted_at: from_micros(r.get("granted_at"))?,
            })
        })
        .transpose()
    }

    async fn put_consent(&mut self, c: &Consent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oidc_consents (account_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(c.account_id.to_string())
        .bind(&c.client_id)
        .bind(&c.scope)
        .bind(micros(c.granted_at))
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

/// Userinfo's one statement: only the columns the claims need (as on PostgreSQL). Read through
/// the pool ([`OidcStore::bearer`]) or directly ([`crate::direct`]), decoded alike.
pub(crate) const BEARER_SQL: &str = "SELECT t.kind, t.scope, t.expires_at, t.revoked_at, \
        (c.id IS NOT NULL AND c.disabled = 0) AS c_live, \
        COALESCE(c.allow_iseki, 0) AS c_allow_iseki, \
        a.id AS a_id, a.email, a.display_name, a.status, a.verification, \
        d.iseki_number, d.family_name, d.given_name, d.family_kana, d.given_kana, \
        d.home_prefecture, \
        (SELECT json_group_array(json_array(m.association_code, m.class, m.joined_on, m.left_on)) \
           FROM memberships m WHERE m.doctor_id = d.id) AS m_json \
 FROM oidc_tokens t \
 LEFT JOIN oidc_clients c ON c.id = t.client_id \
 LEFT JOIN accounts a ON a.id = t.account_id \
 LEFT JOIN doctors d ON d.id = a.doctor_id \
 WHERE t.token_hash = $1";

/// [`BEARER_SQL`]'s row as SQLite stores it, in column order; either driver fills it.
#[derive(Debug)]
pub(crate) struct BearerRow {
    pub kind: String,
    pub scope: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub client_live: i64,
    pub client_allow_iseki: i64,
    pub account_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub status: Option<String>,
    pub verification: Option<String>,
    pub iseki_number: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub family_kana: Option<String>,
    pub given_kana: Option<String>,
    pub home_prefecture: Option<String>,
    pub memberships: Option<String>,
}

impl BearerRow {
    /// The domain value; a missing column of a joined row that exists is corrupt data.
    pub fn assemble(self) -> StoreResult<Bearer> {
        fn need(v: Option<String>, what: &str) -> StoreResult<String> {
            v.ok_or_else(|| StoreError::Corrupt(format!("bearer: {what} missing")))
        }
        let account = match self.account_id {
            Some(id) => Some(BearerAccount::from_stored(
                uuid(&id)?,
                need(self.email, "email")?,
                need(self.display_name, "display_name")?,
                &need(self.status, "status")?,
                &need(self.verification, "verification")?,
            )?),
            None => None,
        };
        let doctor = match self.iseki_number {
            Some(iseki) => Some(BearerDoctor::from_stored(
                &iseki,
                need(self.family_name, "family_name")?,
                need(self.given_name, "given_name")?,
                &need(self.family_kana, "family_kana")?,
                &need(self.given_kana, "given_kana")?,
                self.home_prefecture.as_deref(),
            )?),
            None => None,
        };
        let memberships = match self.memberships {
            Some(j) => memberships_from_json(&j)?,
            None => Vec::new(),
        };
        Ok(Bearer {
            token: BearerToken::from_stored(
                &self.kind,
                self.scope,
                from_micros(self.expires_at)?,
                opt_from_micros(self.revoked_at)?,
            )?,
            client_live: self.client_live == 1,
            client_allow_iseki: self.client_allow_iseki == 1,
            account,
            doctor,
            memberships,
        })
    }
}
