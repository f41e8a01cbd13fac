//! Uploaded attendee lists between their preview and the organiser's confirmation.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use axum::body::Bytes;
use chrono::Duration;
use mamis_app::training::attendees;
use mamis_domain::Timestamp;
use uuid::Uuid;

/// Total bytes of previewed uploads kept at once (ten full-size files); the oldest go first.
const STAGING_MAX_BYTES: usize = 10 * attendees::MAX_BYTES;

/// How long a previewed upload waits for its confirmation.
const STAGING_MINUTES: i64 = 30;

struct Staged {
    session: Uuid,
    account: Uuid,
    bytes: Bytes,
    at: Timestamp,
}

/// Uploaded attendee lists between their preview and the organiser's confirmation, per server
/// process (a restart only means uploading again). Timed by the app clock, so tests can move it.
#[derive(Default)]
pub(crate) struct Staging {
    files: Mutex<HashMap<Uuid, Staged>>,
}

impl Staging {
    /// Keeps `bytes` for `account`'s confirmation on `session`; returns the staging id.
    pub(super) fn put(&self, session: Uuid, account: Uuid, bytes: Bytes, now: Timestamp) -> Uuid {
        let mut m = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let ttl = Duration::minutes(STAGING_MINUTES);
        m.retain(|_, s| now - s.at < ttl);
        let mut total: usize = m.values().map(|s| s.bytes.len()).sum();
        while total + bytes.len() > STAGING_MAX_BYTES {
            let Some(oldest) = m.iter().min_by_key(|(_, s)| s.at).map(|(k, _)| *k) else {
                break;
            };
            if let Some(s) = m.remove(&oldest) {
                total -= s.bytes.len();
            }
        }
        let id = Uuid::new_v4();
        m.insert(
            id,
            Staged {
                session,
                account,
                bytes,
                at: now,
            },
        );
        id
    }

    /// Takes the staged file once: `None` when unknown, consumed, expired, or someone else's.
    pub(super) fn take(
        &self,
        id: Uuid,
        session: Uuid,
        account: Uuid,
        now: Timestamp,
    ) -> Option<Bytes> {
        let mut m = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = m
            .get(&id)
            .is_some_and(|s| s.session == session && s.account == account);
        if !mine {
            return None;
        }
        let s = m.remove(&id)?;
        (now - s.at < Duration::minutes(STAGING_MINUTES)).then_some(s.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_are_taken_once_by_their_owner_within_30_minutes() {
        let s = Staging::default();
        let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let (session, me, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let id = s.put(session, me, Bytes::from_static(b"x"), now);
        assert_eq!(s.take(id, session, other, now), None, "someone else's");
        assert_eq!(s.take(id, Uuid::new_v4(), me, now), None, "another session");
        assert_eq!(s.take(id, session, me, now), Some(Bytes::from_static(b"x")));
        assert_eq!(s.take(id, session, me, now), None, "consumed");
        let id = s.put(session, me, Bytes::from_static(b"y"), now);
        let later = now + Duration::minutes(31);
        assert_eq!(s.take(id, session, me, later), None, "expired");
    }

    #[test]
    fn staging_keeps_its_byte_budget_by_dropping_the_oldest() {
        let s = Staging::default();
        let t0 = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let big = Bytes::from(vec![0u8; attendees::MAX_BYTES]);
        let (session, me) = (Uuid::new_v4(), Uuid::new_v4());
        let first = s.put(session, me, big.clone(), t0);
        for i in 1..=10 {
            s.put(session, me, big.clone(), t0 + Duration::seconds(i));
        }
        assert_eq!(s.take(first, session, me, t0), None, "the oldest went");
        let total: usize = s
            .files
            .lock()
            .unwrap()
            .values()
            .map(|f| f.bytes.len())
            .sum();
        assert!(total <= STAGING_MAX_BYTES);
    }
}
