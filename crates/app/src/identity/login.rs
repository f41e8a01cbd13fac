//! Password login (and the second factor), throttled per login name — existing or not — and per
//! client address before any hashing; one message for every kind of failure.

use mamis_domain::identity::{Admission, Email, MAX_PASSWORD_BYTES, ThrottlePolicy};
use mamis_domain::{Principal, Timestamp};
use mamis_store::{AccessStore, Account, AccountStatus, IdentityStore, Store, Tx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::crypto::{open as unseal, seal, sha256_hex};
use super::passwords::Checked;
use super::sessions::{self, Origin};
use super::{IdResult, IdentityError, jst};
use crate::App;
use crate::audit::Entry;
use crate::mail::{self, Outgoing};

/// How long a correct password waits for its second factor.
const MFA_WINDOW: chrono::Duration = chrono::Duration::minutes(5);

/// What a successful first step leads to.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// Logged in.
    LoggedIn {
        /// The session cookie value (shown to the browser once, stored hashed).
        cookie: String,
        /// Whose session it is.
        account: Account,
    },
    /// The password was right; a TOTP or recovery code is needed.
    SecondFactor {
        /// Sealed proof of the first step, kept in a short-lived cookie.
        pending: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Pending {
    account: Uuid,
    until: i64,
}

/// Throttle keys for a login name and a client address.
fn name_key(email: &str) -> String {
    format!("login:{}", sha256_hex(&email.to_lowercase()))
}

fn addr_key(origin: &Origin) -> Option<String> {
    origin.client_addr.as_ref().map(|a| format!("addr:{a}"))
}

/// Asks the throttles whether an attempt on `name` from `origin` may proceed, counting it. Runs
/// in its own write transaction, before any hashing, so concurrent attempts are serialised.
pub(crate) async fn admit<S: Store>(
    app: &App<S>,
    name: &str,
    origin: &Origin,
    notify: Option<&str>,
) -> IdResult<bool> {
    let mut tx = app.store.write().await?;
    let ok = admit_in(&mut tx, name, origin, notify, app.now()).await?;
    tx.commit().await?;
    Ok(ok)
}

/// [`admit`] inside the caller's write transaction.
async fn admit_in<T: IdentityStore + mamis_store::OutboxStore + mamis_store::JobStore + Send>(
    tx: &mut T,
    name: &str,
    origin: &Origin,
    notify: Option<&str>,
    now: Timestamp,
) -> IdResult<bool> {
    // The name and the address are counted together: one locking read and one write.
    let addr = addr_key(origin);
    let keys: Vec<&str> = std::iter::once(name).chain(addr.as_deref()).collect();
    let states = tx.lock_throttles(&keys, now).await?;
    let (Some(before), addr_before) = (states.first().copied(), states.get(1).copied()) else {
        return Err(mamis_store::StoreError::Other("throttle not read".into()).into());
    };
    let (after, adm) = before.admit(&ThrottlePolicy::per_name(), now);
    let mut ok = adm == Admission::Admitted;
    let mut next = vec![(name, after)];
    if let (Some(key), Some(b)) = (addr.as_deref(), addr_before) {
        let (a, adm2) = b.admit(&ThrottlePolicy::per_address(), now);
        next.push((key, a));
        ok = ok && adm2 == Admission::Admitted;
    }
    tx.put_throttles(&next).await?;
    if mamis_domain::identity::Throttle::waits_began(&before, &after)
        && let (Some(to), Some(until)) = (notify, after.blocked_until)
    {
        mail::queue(tx, now, wait_notice(to, until)).await?;
    }
    Ok(ok)
}

fn wait_notice(to: &str, until: Timestamp) -> Outgoing {
    Outgoing {
        to: to.to_owned(),
        subject: "【MAMIS】ログインの試行が続いています / Repeated login attempts".into(),
        body_text: format!(
            "お使いの MAMIS_ID で、誤ったパスワードによるログインが続けて試されました。\n\
             安全のため、{} まで新しいログインをお待ちいただきます（時間が過ぎると自動で解除されます）。\n\
             お心当たりがない場合は、パスワードの再設定をおすすめします。\n\n\
             Several logins with a wrong password were tried on your MAMIS_ID. New attempts wait until {} \
             (Japan time); the wait ends by itself. If this was not you, consider resetting your password.\n",
            jst(until),
            jst(until)
        ),
    }
}

/// After a success: forgets the name's failures, and takes back the one attempt counted against
/// the client address (so a hospital's shared address is limited by failures, not by logins).
pub(crate) async fn forgive<S: Store>(app: &App<S>, key: &str, origin: &Origin) -> IdResult<()> {
    let mut tx = app.store.write().await?;
    forgive_in(&mut tx, key, origin).await?;
    tx.commit().await?;
    Ok(())
}

/// [`forgive`] inside the caller's transaction.
async fn forgive_in<T: IdentityStore + Send>(
    tx: &mut T,
    key: &str,
    origin: &Origin,
) -> IdResult<()> {
    tx.forgive_throttles(key, addr_key(origin).as_deref())
        .await?;
    Ok(())
}

/// Step one: e-mail and password.
pub async fn password<S: Store>(
    app: &App<S>,
    email: &str,
    password: &str,
    origin: &Origin,
) -> IdResult<LoginOutcome> {
    let email = Email::parse(email)?;
    if password.len() > MAX_PASSWORD_BYTES || password.is_empty() {
        return Err(IdentityError::LoginFailed);
    }
    let key = name_key(email.as_str());
    // One write transaction reads the account and counts the attempt, before any hashing.
    let now = app.now();
    let mut tx = app.store.write().await?;
    let account = tx.account_by_email(email.as_str()).await?;
    let admitted = admit_in(
        &mut tx,
        &key,
        origin,
        account.as_ref().map(|a| a.email.as_str()),
        now,
    )
    .await?;
    tx.commit().await?;
    if !admitted {
        return Err(IdentityError::LoginFailed);
    }
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    let checked = app.hasher.verify(stored, password.to_owned()).await?;
    let (Checked::Match { rehash }, Some(account)) = (checked, account) else {
        return Err(IdentityError::LoginFailed);
    };
    if account.status == AccountStatus::Suspended {
        forgive(app, &key, origin).await?;
        return Err(IdentityError::Suspended);
    }
    if rehash {
        let new_hash = app.hasher.hash(password.to_owned()).await?;
        let mut tx = app.store.write().await?;
        tx.set_password_hash(account.id, &new_hash).await?;
        tx.commit().await?;
    }
    if account.totp_secret.is_some() {
        let p = Pending {
            account: account.id,
            until: (app.now() + MFA_WINDOW).timestamp(),
        };
        let json = serde_json::to_vec(&p).map_err(|e| crate::AppError::Internal(e.to_string()))?;
        forgive(app, &key, origin).await?;
        return Ok(LoginOutcome::SecondFactor {
            pending: seal(&app.config.secret_key, "mfa-pending", &json)?,
        });
    }
    // The session, the audit record and the forgiven failure commit together.
    finish(app, account, origin, "password", &key).await
}

/// Step two: a TOTP code or a recovery code for the pending login.
pub async fn second_factor<S: Store>(
    app: &App<S>,
    pending: &str,
    code: &str,
    origin: &Origin,
) -> IdResult<LoginOutcome> {
    let raw = unseal(&app.config.secret_key, "mfa-pending", pending)
        .map_err(|_| IdentityError::LinkInvalid)?;
    let p: Pending = serde_json::from_slice(&raw).map_err(|_| IdentityError::LinkInvalid)?;
    if app.now().timestamp() > p.until {
        return Err(IdentityError::LinkInvalid);
    }
    let mut tx = app.store.read().await?;
    let account = tx
        .account(p.account)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    tx.rollback().await?;
    let key = format!("mfa:{}", account.id);
    if !admit(app, &key, origin, Some(&account.email)).await? {
        return Err(IdentityError::SecondFactorFailed);
    }
    if !super::totp::check(app, &account, code).await? {
        return Err(IdentityError::SecondFactorFailed);
    }
    finish(app, account, origin, "password+totp", &key).await
}

async fn finish<S: Store>(
    app: &App<S>,
    account: Account,
    origin: &Origin,
    method: &str,
    throttle_key: &str,
) -> IdResult<LoginOutcome> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    forgive_in(&mut tx, throttle_key, origin).await?;
    let cookie = sessions::open(&mut tx, account.id, origin, now).await?;
    let who = Principal::Doctor {
        account_id: account.id,
        doctor_id: account.doctor_id,
    };
    app.audit(
        &mut tx,
        Entry::new(&who, "session.login", format!("account:{}", account.id))
            .from(origin.client_addr.clone())
            .details(serde_json::json!({ "method": method })),
    )
    .await?;
    tx.commit().await?;
    Ok(LoginOutcome::LoggedIn { cookie, account })
}
