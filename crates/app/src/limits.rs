//! Rate limits shared by every server. Counters live in the store's throttle rows (the same
//! table, lock and transaction the login throttle uses), so N servers behind one address allow
//! together the configured rate, not N times it.

use chrono::Duration;
use mamis_domain::Timestamp;
use mamis_domain::identity::{Admission, Throttle, ThrottlePolicy};
use mamis_store::{IdentityStore, Store, Tx};

use crate::{App, AppError};

/// At most `max` requests per `per`, counted in fixed windows that start with a window's first
/// request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed per window.
    pub max: u32,
    /// The window's length.
    pub per: Duration,
}

/// The configured limits (`MAMIS_*` settings; benchmarks and multi-server tests set their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `/verify` lookups per client address.
    pub verify_per_address: Limit,
    /// Reset and registration mails asked for from one client address.
    pub mail_per_address: Limit,
    /// Reset and registration mails to one destination e-mail.
    pub mail_per_recipient: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            verify_per_address: Limit {
                max: 30,
                per: Duration::minutes(1),
            },
            mail_per_address: Limit {
                max: 20,
                per: Duration::hours(1),
            },
            mail_per_recipient: Limit {
                max: 5,
                per: Duration::hours(1),
            },
        }
    }
}

/// Counts one request of `key` against `limit` in a stored counter; `Err(until)` when the window
/// is full (nothing is counted then).
pub fn count(t: Throttle, limit: Limit, now: Timestamp) -> (Throttle, Result<(), Timestamp>) {
    let mut t = t;
    if now - t.window_start >= limit.per || now < t.window_start {
        t = Throttle::new(now);
    }
    if t.failures >= limit.max {
        return (t, Err(t.window_start + limit.per));
    }
    t.failures += 1;
    (t, Ok(()))
}

/// Takes one request of every key from its limit, all or nothing, in one write transaction:
/// `Err(until)` names when the fullest window reopens.
pub async fn take<S: Store>(
    app: &App<S>,
    keys: &[(String, Limit)],
) -> Result<Result<(), Timestamp>, AppError> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let mut refused: Option<Timestamp> = None;
    let mut counted = Vec::with_capacity(keys.len());
    for (key, limit) in keys {
        let before = tx.lock_throttle(key, now).await?;
        match count(before, *limit, now) {
            (after, Ok(())) => counted.push((key, after)),
            (_, Err(until)) => refused = Some(refused.map_or(until, |r| r.max(until))),
        }
    }
    if let Some(until) = refused {
        tx.rollback().await?;
        return Ok(Err(until));
    }
    for (key, after) in counted {
        tx.put_throttle(key, &after).await?;
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// Admits a check of an account's current password (address and password changes): the login's
/// rule (5 free failures, then doubling waits), counted per account so a stolen session cannot
/// try passwords faster than the login page allows. `Err(until)` while the account must wait.
pub async fn admit_password_check<S: Store>(
    app: &App<S>,
    account: uuid::Uuid,
) -> Result<Result<(), Timestamp>, AppError> {
    let now = app.now();
    let key = password_key(account);
    let mut tx = app.store.write().await?;
    let before = tx.lock_throttle(&key, now).await?;
    let (after, adm) = before.admit(&ThrottlePolicy::per_name(), now);
    tx.put_throttle(&key, &after).await?;
    tx.commit().await?;
    Ok(match adm {
        Admission::Admitted => Ok(()),
        Admission::Wait(until) => Err(until),
    })
}

/// Clears an account's password-check counter after a right password.
pub async fn password_check_passed<S: Store>(
    app: &App<S>,
    account: uuid::Uuid,
) -> Result<(), AppError> {
    let mut tx = app.store.write().await?;
    tx.clear_throttle(&password_key(account)).await?;
    tx.commit().await?;
    Ok(())
}

fn password_key(account: uuid::Uuid) -> String {
    format!("password-check:{account}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_window_admits_its_maximum_then_refuses_until_it_ends() {
        let limit = Limit {
            max: 3,
            per: Duration::minutes(1),
        };
        let mut t = Throttle::new(at(0));
        for s in [0, 10, 20] {
            let (n, r) = count(t, limit, at(s));
            assert_eq!(r, Ok(()), "{s}");
            t = n;
        }
        let (same, r) = count(t, limit, at(30));
        assert_eq!(r, Err(at(60)));
        assert_eq!(same, t, "a refused request is not counted");
        let (t, r) = count(t, limit, at(60));
        assert_eq!(r, Ok(()), "a new window");
        assert_eq!(t.failures, 1);
    }
}
