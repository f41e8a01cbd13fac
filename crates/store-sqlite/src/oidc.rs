//! The OpenID Provider part of the SQLite store.

use mamis_domain::Timestamp;
use mamis_store::*;
use sqlx::Row;

use crate::SqliteTx;
use crate::convert::*;

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
}
