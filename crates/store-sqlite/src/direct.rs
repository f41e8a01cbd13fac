//! Userinfo's read without the connection thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every statement and row
//! across channels. For userinfo, the hottest read, `perf` showed those hand-offs (futex wakes
//! and context switches between the runtime and the connection threads) costing about four
//! times what SQLite spent executing the statement. This reads the same statement
//! ([`BEARER_SQL`]) on the calling thread through connections of its own, opened query-only.
//!
//! It blocks the calling runtime thread for one indexed point read. In WAL mode a reader never
//! waits for the writer; the busy timeout is zero, and anything unusual (busy, an error) is
//! reported to the caller, which reads through the pool instead.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::oidc::{BEARER_SQL, BearerRow};

/// Connections kept for reuse; more than the runtime's threads are never busy at once.
const MAX_IDLE: usize = 8;

/// The database file and the idle connections on it.
#[derive(Debug)]
pub(crate) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl DirectReads {
    /// Opens nothing yet: connections come on first use.
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn checkout(&self) -> rusqlite::Result<Connection> {
        if let Some(c) = self.idle.lock().ok().and_then(|mut v| v.pop()) {
            return Ok(c);
        }
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        c.busy_timeout(Duration::ZERO)?;
        c.pragma_update(None, "query_only", true)?;
        Ok(c)
    }

    fn give_back(&self, c: Connection) {
        if let Ok(mut v) = self.idle.lock()
            && v.len() < MAX_IDLE
        {
            v.push(c);
        }
    }

    /// [`BEARER_SQL`] for the token hash, on this thread.
    pub(crate) fn bearer(&self, hash: &str) -> rusqlite::Result<Option<BearerRow>> {
        let c = self.checkout()?;
        let found = {
            let mut st = c.prepare_cached(BEARER_SQL)?;
            st.query_row([hash], |r| {
                Ok(BearerRow {
                    kind: r.get(0)?,
                    scope: r.get(1)?,
                    expires_at: r.get(2)?,
                    revoked_at: r.get(3)?,
                    client_live: r.get(4)?,
                    client_allow_iseki: r.get(5)?,
                    account_id: r.get(6)?,
                    email: r.get(7)?,
                    display_name: r.get(8)?,
                    status: r.get(9)?,
                    verification: r.get(10)?,
                    iseki_number: r.get(11)?,
                    family_name: r.get(12)?,
                    given_name: r.get(13)?,
                    family_kana: r.get(14)?,
                    given_kana: r.get(15)?,
                    home_prefecture: r.get(16)?,
                    memberships: r.get(17)?,
                })
            })
            .optional()
        };
        // A connection that failed is dropped rather than kept.
        if found.is_ok() {
            self.give_back(c);
        }
        found
    }
}
