//! The OpenID Provider part of the PostgreSQL store.

use mamis_domain::Timestamp;
use mamis_store::*;
use sqlx::Row;

use crate::PgTx;
use crate::convert::*;

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
}
