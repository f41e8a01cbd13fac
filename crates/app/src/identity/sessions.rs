//! Server-side sessions behind an opaque cookie: only the SHA-256 of the cookie is stored, the
//! id changes at every login, and idle and absolute timeouts end a session by themselves.

use mamis_domain::Principal;
use mamis_store::{
    AccessStore, Account, AccountStatus, IdentityStore, PortalSession, PortalSubject, Session,
    Store, Tx, Verification,
};
use uuid::Uuid;

use super::crypto::{new_secret, sha256_hex};
use super::{IdResult, IdentityError};
use crate::App;

/// Touching a session more often than this would turn every page view into a write.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// Where a login came from, for the session list and the audit log.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The client address (right-most untrusted hop).
    pub client_addr: Option<String>,
    /// The browser's User-Agent, shortened.
    pub user_agent: Option<String>,
}

/// Opens a session for `account` inside the caller's transaction; returns the cookie value.
pub async fn open<T: IdentityStore + Send>(
    tx: &mut T,
    account: Uuid,
    origin: &Origin,
    now: mamis_domain::Timestamp,
) -> IdResult<String> {
    let (secret, hash) = new_secret();
    tx.insert_session(&Session {
        id_hash: hash,
        account_id: account,
        created_at: now,
        last_seen_at: now,
        client_addr: origin.client_addr.clone(),
        user_agent: origin
            .user_agent
            .as_ref()
            .map(|u| u.chars().take(200).collect()),
        revoked_at: None,
    })
    .await?;
    Ok(secret)
}

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct Current {
    /// The session row.
    pub session: Session,
    /// Its account.
    pub account: Account,
}

impl Current {
    /// The principal of a My Page session acting for its doctor; the use cases check that the
    /// account is a verified doctor's, so an unverified one is refused there, not here.
    pub fn doctor_principal(&self) -> Principal {
        Principal::Doctor {
            account_id: self.account.id,
            doctor_id: self.account.doctor_id,
        }
    }

    /// The register entry the account speaks for once verified, read from the account the
    /// session lookup already holds; `None` otherwise (the use cases check it again).
    pub fn verified_doctor(&self) -> Option<Uuid> {
        (self.account.verification == Verification::Verified)
            .then_some(self.account.doctor_id)
            .flatten()
    }
}

/// Resolves a cookie to a live session of an active account, or `None`.
pub async fn current<S: Store>(app: &App<S>, cookie: &str) -> IdResult<Option<Current>> {
    if cookie.len() != 43 {
        return Ok(None);
    }
    let now = app.now();
    let hash = sha256_hex(cookie);
    let mut tx = app.store.read().await?;
    let Some(session) = tx.session(&hash).await? else {
        return Ok(None);
    };
    let account = tx.account(session.account_id).await?;
    tx.rollback().await?;
    let Some(account) = account else {
        return Ok(None);
    };
    let ends = app
        .config
        .sessions
        .ends_at(session.created_at, session.last_seen_at);
    if session.revoked_at.is_some() || now >= ends || account.status != AccountStatus::Active {
        return Ok(None);
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        // the touch only extends the idle timeout: while a bulk import holds the database the
        // page is still served, and the next request touches instead
        match touch(app, &hash, now).await {
            Err(mamis_store::StoreError::Busy(m)) => {
                tracing::warn!(error = %m, "session touch skipped: database busy");
            }
            other => other?,
        }
    }
    Ok(Some(Current { session, account }))
}

async fn touch<S: Store>(
    app: &App<S>,
    hash: &str,
    now: mamis_domain::Timestamp,
) -> Result<(), mamis_store::StoreError> {
    let mut tx = app.store.write().await?;
    tx.touch_session(hash, now).await?;
    tx.commit().await
}

/// Ends the session behind a cookie (logout).
pub async fn close<S: Store>(app: &App<S>, cookie: &str) -> IdResult<()> {
    let mut tx = app.store.write().await?;
    tx.revoke_session(&sha256_hex(cookie), app.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// The account's live sessions, for My Page.
pub async fn list<S: Store>(app: &App<S>, account: Uuid) -> IdResult<Vec<Session>> {
    let now = app.now();
    let mut tx = app.store.read().await?;
    let v = tx.sessions_of(account).await?;
    tx.rollback().await?;
    Ok(v.into_iter()
        .filter(|s| now < app.config.sessions.ends_at(s.created_at, s.last_seen_at))
        .collect())
}

/// Revokes one of the account's own sessions (by its stored hash).
pub async fn revoke_own<S: Store>(app: &App<S>, account: Uuid, id_hash: &str) -> IdResult<()> {
    let mut tx = app.store.write().await?;
    match tx.session(id_hash).await? {
        Some(s) if s.account_id == account => {
            tx.revoke_session(id_hash, app.now()).await?;
            tx.commit().await?;
            Ok(())
        }
        _ => Err(IdentityError::State("no such session")),
    }
}

/// Opens a CME-portal session (own cookie and table); returns the cookie value.
pub async fn open_portal<T: IdentityStore + Send>(
    tx: &mut T,
    subject: PortalSubject,
    now: mamis_domain::Timestamp,
) -> IdResult<String> {
    let (secret, hash) = new_secret();
    tx.insert_portal_session(&PortalSession {
        id_hash: hash,
        subject,
        created_at: now,
        last_seen_at: now,
        revoked_at: None,
    })
    .await?;
    Ok(secret)
}

/// Resolves a portal cookie. A legacy session also ends at the cut-over and when its credential
/// is retired (a verified MAMIS_ID of the same member retires it at once).
pub async fn current_portal<S: Store>(
    app: &App<S>,
    cookie: &str,
) -> IdResult<Option<PortalSession>> {
    if cookie.len() != 43 {
        return Ok(None);
    }
    let now = app.now();
    let hash = sha256_hex(cookie);
    let mut tx = app.store.read().await?;
    let Some(s) = tx.portal_session(&hash).await? else {
        return Ok(None);
    };
    let alive = match &s.subject {
        PortalSubject::Legacy(m) => {
            let cred = tx.legacy_credential(m).await?;
            now < app.config.legacy_until && cred.is_some_and(|c| c.retired_at.is_none())
        }
        PortalSubject::Mamis(a) => tx
            .account(*a)
            .await?
            .is_some_and(|a| a.status == AccountStatus::Active),
    };
    tx.rollback().await?;
    let ends = app.config.sessions.ends_at(s.created_at, s.last_seen_at);
    if !alive || s.revoked_at.is_some() || now >= ends {
        return Ok(None);
    }
    if now - s.last_seen_at >= TOUCH_EVERY {
        let mut tx = app.store.write().await?;
        tx.touch_portal_session(&hash, now).await?;
        tx.commit().await?;
    }
    Ok(Some(s))
}

/// Ends a portal session.
pub async fn close_portal<S: Store>(app: &App<S>, cookie: &str) -> IdResult<()> {
    let mut tx = app.store.write().await?;
    tx.revoke_portal_session(&sha256_hex(cookie), app.now())
        .await?;
    tx.commit().await?;
    Ok(())
}
