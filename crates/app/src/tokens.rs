//! API tokens for associations' systems: a random secret shown once, stored only as SHA-256,
//! carrying one role grant checked through the same rule table as staff.

use base64::Engine;
use mamis_domain::{Action, Principal, RoleGrant, Target};
use mamis_store::{AccessStore, ApiToken, Store, Tx};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::authz::require;
use crate::{App, AppError};

/// Prefix that makes leaked tokens recognisable to secret scanners.
pub const PREFIX: &str = "mamis_";

/// The SHA-256 (hex) under which a token is stored. Tokens carry 256 random bits, so a fast
/// hash is enough: there is nothing to brute-force.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A token just created; `secret` is shown once and never stored.
#[derive(Debug, Clone)]
pub struct Created {
    /// The token's id, not secret: `mamis token list` shows it and `mamis token revoke` takes it.
    pub id: Uuid,
    /// The bearer secret (`mamis_…`); hand it over now, since only its SHA-256 is kept.
    pub secret: String,
}

/// Creates a token with a fresh random secret.
pub async fn create<S: Store>(
    app: &App<S>,
    actor: &Principal,
    name: &str,
    grant: RoleGrant,
) -> Result<Created, AppError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    create_with_secret(app, actor, name, grant, secret).await
}

/// Creates a token with a given secret (deterministic demo data only).
pub async fn create_with_secret<S: Store>(
    app: &App<S>,
    actor: &Principal,
    name: &str,
    grant: RoleGrant,
    secret: String,
) -> Result<Created, AppError> {
    require(actor, Action::ManageApiTokens, &Target::System)?;
    let now = app.now();
    let token = ApiToken {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        grant: grant.clone(),
        token_hash: hash(&secret),
        created_at: now,
        revoked_at: None,
    };
    let mut tx = app.store.write().await?;
    tx.insert_api_token(&token).await?;
    let entry = Entry {
        actor,
        action: "api_token.create",
        target: format!("api_token:{}", token.id),
        client_addr: None,
        details: serde_json::json!({ "name": name, "role": grant.role().as_str(), "scope": grant.scope() }),
    };
    audit::record_and_commit(tx, &app.config.audit_key, now, entry).await?;
    Ok(Created {
        id: token.id,
        secret,
    })
}

/// Revokes a token at once.
pub async fn revoke<S: Store>(app: &App<S>, actor: &Principal, id: Uuid) -> Result<(), AppError> {
    require(actor, Action::ManageApiTokens, &Target::System)?;
    let now = app.now();
    let mut tx = app.store.write().await?;
    if !tx.revoke_api_token(id, now).await? {
        return Err(AppError::NotFound);
    }
    let entry = Entry {
        actor,
        action: "api_token.revoke",
        target: format!("api_token:{id}"),
        client_addr: None,
        details: serde_json::json!({}),
    };
    audit::record_and_commit(tx, &app.config.audit_key, now, entry).await
}

/// Every token, newest first (secrets are not stored, so none is shown).
pub async fn list<S: Store>(app: &App<S>, actor: &Principal) -> Result<Vec<ApiToken>, AppError> {
    require(actor, Action::ManageApiTokens, &Target::System)?;
    let mut tx = app.store.read().await?;
    let v = tx.api_tokens().await?;
    tx.rollback().await?;
    Ok(v)
}

/// Turns a presented bearer secret into a principal; unknown and revoked tokens are the same
/// `Unauthenticated` so a caller learns nothing about which tokens exist.
pub async fn authenticate<S: Store>(app: &App<S>, secret: &str) -> Result<Principal, AppError> {
    if !secret.starts_with(PREFIX) || secret.len() > 200 {
        return Err(AppError::Unauthenticated);
    }
    let mut tx = app.store.read().await?;
    let token = tx.api_token_by_hash(&hash(secret)).await?;
    tx.rollback().await?;
    match token {
        Some(t) if t.revoked_at.is_none() => Ok(Principal::ApiToken {
            token_id: t.id,
            grant: t.grant,
        }),
        _ => Err(AppError::Unauthenticated),
    }
}
