//! The OpenID Provider part of the PostgreSQL store.

use std::collections::HashMap;

use mamis_domain::{AssociationCode, ClassCode, Membership, Timestamp};
use mamis_store::*;
use sqlx::Row;

use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::PgTx;
use crate::convert::*;

// The list-valued client settings are jsonb arrays; they travel as text so the driver needs no
// JSON feature (as job payloads do).
macro_rules! client_cols {
    () => {
        "id, name, secret_hash, redirect_uris::text AS redirect_uris, \
         post_logout_redirect_uris::text AS post_logout_redirect_uris, first_party, \
         scopes::text AS scopes, allow_iseki, id_token_alg, disabled, created_at"
    };
}

macro_rules! code_cols {
    () => {
        "code_hash, client_id, account_id, redirect_uri, code_challenge, nonce, scope, auth_time, \
         amr, expires_at, used_at, created_at"
    };
}

macro_rules! token_cols {
    () => {
        "token_hash, kind, client_id, account_id, scope, code_hash, family, expires_at, \
         family_expires_at, auth_time, amr, used_at, revoked_at, created_at"
    };
}

/// Decodes a jsonb array of strings (read as text), keeping its order.
fn list(r: &PgRow, name: &'static str) -> StoreResult<Vec<String>> {
    serde_json::from_str(col(r, name)?).map_err(corrupt(name))
}

/// Encodes a list as a JSON array for a `$n::jsonb` parameter.
fn json_list(v: &[String]) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Other(format!("encoding a list: {e}")))
}

fn client_row(r: &PgRow) -> StoreResult<OidcClient> {
    Ok(OidcClient {
        id: col(r, "id")?,
        name: col(r, "name")?,
        secret_hash: col(r, "secret_hash")?,
        redirect_uris: list(r, "redirect_uris")?,
        post_logout_redirect_uris: list(r, "post_logout_redirect_uris")?,
        first_party: col(r, "first_party")?,
        scopes: list(r, "scopes")?,
        allow_iseki: col(r, "allow_iseki")?,
        id_token_alg: col(r, "id_token_alg")?,
        disabled: col(r, "disabled")?,
        created_at: col(r, "created_at")?,
    })
}

fn code_row(r: &PgRow) -> StoreResult<AuthCode> {
    Ok(AuthCode {
        code_hash: col(r, "code_hash")?,
        client_id: col(r, "client_id")?,
        account_id: col(r, "account_id")?,
        redirect_uri: col(r, "redirect_uri")?,
        code_challenge: col(r, "code_challenge")?,
        nonce: col(r, "nonce")?,
        scope: col(r, "scope")?,
        auth_time: col(r, "auth_time")?,
        amr: col(r, "amr")?,
        expires_at: col(r, "expires_at")?,
        used_at: col(r, "used_at")?,
        created_at: col(r, "created_at")?,
    })
}

fn token_row(r: &PgRow) -> StoreResult<OidcToken> {
    let kind: &str = col(r, "kind")?;
    Ok(OidcToken {
        token_hash: col(r, "token_hash")?,
        kind: TokenKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("token kind {kind}")))?,
        client_id: col(r, "client_id")?,
        account_id: col(r, "account_id")?,
        scope: col(r, "scope")?,
        code_hash: col(r, "code_hash")?,
        family: col(r, "family")?,
        expires_at: col(r, "expires_at")?,
        family_expires_at: col(r, "family_expires_at")?,
        auth_time: col(r, "auth_time")?,
        amr: col(r, "amr")?,
        used_at: col(r, "used_at")?,
        revoked_at: col(r, "revoked_at")?,
        created_at: col(r, "created_at")?,
    })
}

impl OidcStore for PgTx {
    async fn insert_signing_key(&mut self, k: &SigningKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.private_key)
        .bind(&k.public_jwk)
        .bind(k.created_at)
        .bind(k.retired_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn signing_keys(&mut self) -> StoreResult<Vec<SigningKey>> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_key, public_jwk, created_at, retired_at FROM signing_keys \
             ORDER BY created_at DESC, kid",
        )
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(SigningKey {
                    kid: r.try_get("kid").map_err(db_err)?,
                    alg: r.try_get("alg").map_err(db_err)?,
                    private_key: r.try_get("private_key").map_err(db_err)?,
                    public_jwk: r.try_get("public_jwk").map_err(db_err)?,
                    created_at: r.try_get("created_at").map_err(db_err)?,
                    retired_at: r.try_get("retired_at").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn retire_signing_key(&mut self, kid: &str, at: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL",
        )
        .bind(kid)
        .bind(at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_client(&mut self, c: &OidcClient) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oidc_clients (id, name, secret_hash, redirect_uris, \
             post_logout_redirect_uris, first_party, scopes, allow_iseki, id_token_alg, disabled, \
             created_at) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7::jsonb, $8, $9, $10, $11)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(json_list(&c.redirect_uris)?)
        .bind(json_list(&c.post_logout_redirect_uris)?)
        .bind(c.first_party)
        .bind(json_list(&c.scopes)?)
        .bind(c.allow_iseki)
        .bind(&c.id_token_alg)
        .bind(c.disabled)
        .bind(c.created_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn client(&mut self, id: &str) -> StoreResult<Option<OidcClient>> {
        sqlx::query(concat!(
            "SELECT ",
            client_cols!(),
            " FROM oidc_clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(client_row)
        .transpose()
    }

    async fn clients(&mut self) -> StoreResult<Vec<OidcClient>> {
        // "C": byte order whatever the database's locale, as SQLite's BINARY.
        sqlx::query(concat!(
            "SELECT ",
            client_cols!(),
            " FROM oidc_clients ORDER BY name COLLATE \"C\", id COLLATE \"C\""
        ))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(client_row)
        .collect()
    }

    async fn update_client(&mut self, c: &OidcClient) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE oidc_clients SET name = $2, secret_hash = $3, redirect_uris = $4::jsonb, \
             post_logout_redirect_uris = $5::jsonb, first_party = $6, scopes = $7::jsonb, \
             allow_iseki = $8, id_token_alg = $9, disabled = $10 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(json_list(&c.redirect_uris)?)
        .bind(json_list(&c.post_logout_redirect_uris)?)
        .bind(c.first_party)
        .bind(json_list(&c.scopes)?)
        .bind(c.allow_iseki)
        .bind(&c.id_token_alg)
        .bind(c.disabled)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_code(&mut self, c: &AuthCode) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO oidc_codes (",
            code_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(c.account_id)
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(&c.nonce)
        .bind(&c.scope)
        .bind(c.auth_time)
        .bind(&c.amr)
        .bind(c.expires_at)
        .bind(c.used_at)
        .bind(c.created_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn take_code(&mut self, hash: &str, now: Timestamp) -> StoreResult<Option<AuthCode>> {
        // The row lock makes a concurrent take of the same code wait for this transaction and
        // then read the code as this one left it (used), so only one taker ever sees it unused.
        let found = sqlx::query(concat!(
            "SELECT ",
            code_cols!(),
            " FROM oidc_codes WHERE code_hash = $1 FOR UPDATE"
        ))
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
            .bind(now)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        }
        Ok(found)
    }

    async fn insert_token(&mut self, t: &OidcToken) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO oidc_tokens (",
            token_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&t.token_hash)
        .bind(t.kind.as_str())
        .bind(&t.client_id)
        .bind(t.account_id)
        .bind(&t.scope)
        .bind(&t.code_hash)
        .bind(t.family)
        .bind(t.expires_at)
        .bind(t.family_expires_at)
        .bind(t.auth_time)
        .bind(&t.amr)
        .bind(t.used_at)
        .bind(t.revoked_at)
        .bind(t.created_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn token(&mut self, hash: &str) -> StoreResult<Option<OidcToken>> {
        sqlx::query(concat!(
            "SELECT ",
            token_cols!(),
            " FROM oidc_tokens WHERE token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(token_row)
        .transpose()
    }

    async fn bearer(&mut self, hash: &str) -> StoreResult<Option<Bearer>> {
        read_bearers(&mut self.tx, &[hash])
            .await?
            .remove(hash)
            .transpose()
    }

    async fn rotate_refresh(&mut self, x: &Rotation) -> StoreResult<Option<Rotated>> {
        // One statement: the old token is marked used only if the client is enabled and its
        // secret (if it has one) matches, and the token is live, of this client and of an
        // active account; the new tokens are copied from it in the same statement.
        let row = sqlx::query(
            "WITH old AS ( \
             UPDATE oidc_tokens o SET used_at = $3 \
             WHERE o.token_hash = $1 AND o.kind = 'refresh' AND o.client_id = $2 \
             AND o.used_at IS NULL AND o.revoked_at IS NULL \
             AND $3 < o.expires_at AND $3 < o.family_expires_at \
             AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = o.account_id AND a.status = 'active') \
             AND EXISTS (SELECT 1 FROM oidc_clients c WHERE c.id = $2 AND NOT c.disabled \
             AND (c.secret_hash IS NULL OR c.secret_hash = $8)) \
             RETURNING o.token_hash, o.kind, o.client_id, o.account_id, o.scope, o.code_hash, o.family, \
             o.expires_at, o.family_expires_at, o.auth_time, o.amr, o.revoked_at, o.created_at \
             ), fresh AS ( \
             INSERT INTO oidc_tokens (token_hash, kind, client_id, account_id, scope, code_hash, family, \
             expires_at, family_expires_at, auth_time, amr, used_at, revoked_at, created_at) \
             SELECT $4, 'access', client_id, account_id, scope, NULL::text, family, $5, family_expires_at, \
             auth_time, amr, NULL::timestamptz, NULL::timestamptz, $3 FROM old \
             UNION ALL \
             SELECT $6, 'refresh', client_id, account_id, scope, NULL, family, \
             LEAST($7, family_expires_at), family_expires_at, auth_time, amr, NULL::timestamptz, \
             NULL::timestamptz, $3 \
             FROM old WHERE (SELECT first_party FROM oidc_clients WHERE id = $2) \
             OR position(' offline_access ' IN ' ' || scope || ' ') > 0 \
             RETURNING kind \
             ) \
             SELECT old.*, NULL::timestamptz AS used_at, \
             EXISTS (SELECT 1 FROM fresh WHERE kind = 'refresh') AS refreshed \
             FROM old",
        )
        .bind(&x.presented)
        .bind(&x.client_id)
        .bind(x.now)
        .bind(&x.access_hash)
        .bind(x.access_expires_at)
        .bind(&x.refresh_hash)
        .bind(x.refresh_idle_until)
        .bind(&x.client_secret)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(Rotated {
                old: token_row(&r)?,
                refreshed: col(&r, "refreshed")?,
            })
        })
        .transpose()
    }

    async fn use_refresh_token(&mut self, hash: &str, now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE oidc_tokens SET used_at = $2 \
             WHERE token_hash = $1 AND kind = 'refresh' AND used_at IS NULL",
        )
        .bind(hash)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_family(&mut self, family: Uuid, now: Timestamp) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE oidc_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
        )
        .bind(family)
        .bind(now)
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
        .bind(now)
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
             AND ($2::text IS NULL OR kind = $2::text)",
        )
        .bind(account)
        .bind(kind.map(TokenKind::as_str))
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn consent(&mut self, account: Uuid, client: &str) -> StoreResult<Option<Consent>> {
        let row = sqlx::query(
            "SELECT account_id, client_id, scope, granted_at FROM oidc_consents \
             WHERE account_id = $1 AND client_id = $2",
        )
        .bind(account)
        .bind(client)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(Consent {
                account_id: col(&r, "account_id")?,
                client_id: col(&r, "client_id")?,
                scope: col(&r, "scope")?,
                granted_at: col(&r, "granted_at")?,
            })
        })
        .transpose()
    }

    async fn put_consent(&mut self, c: &Consent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oidc_consents (account_id, client_id, scope, granted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, client_id) \
             DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(c.account_id)
        .bind(&c.client_id)
        .bind(&c.scope)
        .bind(c.granted_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

/// Userinfo's read of one or more bearer tokens in one statement, by token hash (the same hash
/// may be asked more than once); a token whose rows no longer parse fails alone. Only the
/// columns the claims need, and the memberships as joined rows (one per membership) rather than
/// an aggregate: every plan node and column costs PostgreSQL executor set-up on the busiest read
/// there is.
pub(crate) async fn read_bearers(
    conn: &mut sqlx::PgConnection,
    hashes: &[&str],
) -> StoreResult<HashMap<String, StoreResult<Bearer>>> {
    let rows = sqlx::query(
        "SELECT t.token_hash, t.kind, t.scope, t.expires_at, t.revoked_at, \
         c.id IS NOT NULL AND NOT c.disabled AS c_live, \
         COALESCE(c.allow_iseki, false) AS c_allow_iseki, \
         a.id AS a_id, a.email, a.display_name, a.status, a.verification, \
         d.iseki_number, d.family_name, d.given_name, d.family_kana, d.given_kana, \
         d.home_prefecture, m.association_code, m.class, m.joined_on, m.left_on \
         FROM oidc_tokens t \
         LEFT JOIN oidc_clients c ON c.id = t.client_id \
         LEFT JOIN accounts a ON a.id = t.account_id \
         LEFT JOIN doctors d ON d.id = a.doctor_id \
         LEFT JOIN memberships m ON m.doctor_id = d.id \
         WHERE t.token_hash = ANY($1)",
    )
    .bind(hashes)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut of_token: HashMap<&str, Vec<&PgRow>> = HashMap::new();
    for r in &rows {
        of_token.entry(col(r, "token_hash")?).or_default().push(r);
    }
    Ok(of_token
        .into_iter()
        .map(|(hash, rows)| (hash.to_owned(), bearer_of(&rows)))
        .collect())
}

/// One token's rows (one per membership, at least one) as the claims' inputs.
fn bearer_of(rows: &[&PgRow]) -> StoreResult<Bearer> {
    let Some(r) = rows.first() else {
        return Err(StoreError::Other("bearer: no row".into()));
    };
    let account = match col::<Option<Uuid>>(r, "a_id")? {
        Some(id) => Some(BearerAccount::from_stored(
            id,
            col(r, "email")?,
            col(r, "display_name")?,
            col(r, "status")?,
            col(r, "verification")?,
        )?),
        None => None,
    };
    let doctor = match col::<Option<&str>>(r, "iseki_number")? {
        Some(iseki) => Some(BearerDoctor::from_stored(
            iseki,
            col(r, "family_name")?,
            col(r, "given_name")?,
            col(r, "family_kana")?,
            col(r, "given_kana")?,
            col(r, "home_prefecture")?,
        )?),
        None => None,
    };
    let mut memberships = Vec::new();
    for m in rows {
        if let Some(code) = col::<Option<&str>>(m, "association_code")? {
            memberships.push(Membership {
                association: AssociationCode::parse(code)
                    .map_err(|e| StoreError::Corrupt(format!("association code: {e}")))?,
                class: ClassCode::parse(col::<&str>(m, "class")?)
                    .map_err(|e| StoreError::Corrupt(format!("class: {e}")))?,
                joined_on: col(m, "joined_on")?,
                left_on: col(m, "left_on")?,
            });
        }
    }
    sort_memberships(&mut memberships);
    Ok(Bearer {
        token: BearerToken::from_stored(
            col(r, "kind")?,
            col(r, "scope")?,
            col(r, "expires_at")?,
            col(r, "revoked_at")?,
        )?,
        client_live: col(r, "c_live")?,
        client_allow_iseki: col(r, "c_allow_iseki")?,
        account,
        doctor,
        memberships,
    })
}
